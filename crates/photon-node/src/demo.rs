//! `photon demo`: the whitepaper's worked example, end to end, on a local dev chain.
//!
//! Starts anvil, deploys the contracts and a test token, starts Alice's, Bob's and Charlie's
//! nodes as separate `photon run` processes on 127.0.0.1 (each with its own database, REST API
//! and libp2p transport; Alice and Charlie bootstrap from Bob), and walks through §2.1 by
//! calling their APIs: open, deposit 100 and 80, Alice→Bob 30 directly, Alice→Charlie 20
//! through Bob, close, update, settle. Balances are printed after each step and checked; any
//! mismatch is an error. Every process it started is stopped, whatever happens.

use crate::testnet::{await_balances, channel, p2p_addresses, request, start_node, NodeProcess};
use anyhow::{ensure, Context, Result};
use photon_chain::devnet::DevNet;
use photon_chain::DeployParams;
use photon_primitives::Address;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const NAMES: [&str; 3] = ["Alice", "Bob", "Charlie"];
const FUNDS: u128 = 1_000;

async fn print_channel(
    out: &mut dyn Write,
    a: &NodeProcess,
    b: &NodeProcess,
    token: Address,
) -> Result<(u128, u128)> {
    let c = channel(a, token, b.address)
        .await?
        .with_context(|| format!("no channel {}–{}", a.name, b.name))?;
    let ours: u128 = c["balance"].as_str().unwrap_or("0").parse()?;
    let theirs: u128 = c["partner_balance"].as_str().unwrap_or("0").parse()?;
    let (l1, l2) =
        (c["locked"].as_str().unwrap_or("?"), c["partner_locked"].as_str().unwrap_or("?"));
    writeln!(
        out,
        "    {}–{}: {} {ours:>4} | {} {theirs:>4}   (locked {l1} / {l2})",
        a.name, b.name, a.name, b.name
    )?;
    Ok((ours, theirs))
}

/// Runs the demo with the `photon` executable at `photon`, writing its story to `out`.
pub async fn run(out: &mut dyn Write, photon: &Path) -> Result<()> {
    writeln!(out, "Photon Network demo: the whitepaper's §2.1 on a local dev chain")?;
    let params = DeployParams { punish_blocks: 5, min_settle_timeout: 5, max_settle_timeout: 1000 };
    let net =
        DevNet::start_with(&params).await.context("starting anvil and deploying the contracts")?;
    let token = *net.token.address();
    writeln!(out, "  chain {} at {}", net.deployment.chain_id, net.chain.endpoint())?;
    writeln!(
        out,
        "  TokensNetwork {}  SecretRegistry {}",
        net.deployment.tokens_network, net.deployment.secret_registry
    )?;
    writeln!(out, "  token {token}")?;
    let dir = tempfile_dir()?;
    let deployment = dir.join("deployment.json");
    net.deployment.save(&deployment)?;
    // Bob first: Alice and Charlie find the network through him
    let bob = start_node(photon, &net, 1, NAMES[1], &dir, &deployment, &[]).await?;
    let bootstrap = p2p_addresses(&bob).await?;
    let alice = start_node(photon, &net, 0, NAMES[0], &dir, &deployment, &bootstrap).await?;
    let charlie = start_node(photon, &net, 2, NAMES[2], &dir, &deployment, &bootstrap).await?;
    let nodes = [alice, bob, charlie];
    for node in &nodes {
        net.mint(node.address, FUNDS).await?;
        writeln!(
            out,
            "  {:<8} {}  API {}  (process {}, {FUNDS} tokens on chain)",
            node.name,
            node.address,
            node.url,
            node.child.id()
        )?;
    }
    let (alice, bob, charlie) = (&nodes[0], &nodes[1], &nodes[2]);
    let put = reqwest::Method::PUT;
    let patch = reqwest::Method::PATCH;
    let post = reqwest::Method::POST;

    writeln!(out, "\n1. Alice opens a channel with Bob; Bob opens one with Charlie")?;
    request(
        put.clone(),
        format!("{}/api/v1/channels", alice.url),
        Some(json!({ "token": token, "partner": bob.address })),
    )
    .await?;
    request(
        put,
        format!("{}/api/v1/channels", bob.url),
        Some(json!({ "token": token, "partner": charlie.address })),
    )
    .await?;
    await_balances(alice, token, bob.address, (0, 0)).await?;
    await_balances(bob, token, charlie.address, (0, 0)).await?;
    print_channel(out, alice, bob, token).await?;
    print_channel(out, bob, charlie, token).await?;

    writeln!(out, "\n2. Alice deposits 100 into Alice–Bob; Bob deposits 80 into Bob–Charlie")?;
    request(
        patch.clone(),
        format!("{}/api/v1/channels/{token:?}/{:?}", alice.url, bob.address),
        Some(json!({ "deposit": "100" })),
    )
    .await?;
    request(
        patch.clone(),
        format!("{}/api/v1/channels/{token:?}/{:?}", bob.url, charlie.address),
        Some(json!({ "deposit": "80" })),
    )
    .await?;
    // each node acts on the chain's events on its own: wait until all three have seen them
    await_balances(alice, token, bob.address, (100, 0)).await?;
    await_balances(bob, token, alice.address, (0, 100)).await?;
    await_balances(bob, token, charlie.address, (80, 0)).await?;
    await_balances(charlie, token, bob.address, (0, 80)).await?;
    print_channel(out, alice, bob, token).await?;
    print_channel(out, bob, charlie, token).await?;

    writeln!(out, "\n3a. Alice pays Bob 30 directly")?;
    request(
        post.clone(),
        format!("{}/api/v1/payments/{token:?}/{:?}", alice.url, bob.address),
        Some(json!({ "amount": "30" })),
    )
    .await?;
    await_balances(bob, token, alice.address, (30, 70)).await?;
    ensure!(
        print_channel(out, alice, bob, token).await? == (70, 30),
        "Alice–Bob should be 70 / 30"
    );

    writeln!(out, "\n3b. Alice pays Charlie 20 through Bob (no direct channel)")?;
    // Alice's node routes over the channels it has seen on chain: let it catch up first
    let head = net.block_number().await?;
    for _ in 0..600 {
        let status =
            request(reqwest::Method::GET, format!("{}/api/v1/status", alice.url), None).await?;
        if status["block"].as_u64().is_some_and(|b| b >= head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paid = request(
        post,
        format!("{}/api/v1/payments/{token:?}/{:?}", alice.url, charlie.address),
        Some(json!({ "amount": "20" })),
    )
    .await?;
    writeln!(out, "    hash-locked payment {} done", paid["secrethash"].as_str().unwrap_or("?"))?;
    await_balances(charlie, token, bob.address, (20, 60)).await?;
    await_balances(bob, token, alice.address, (50, 50)).await?;
    ensure!(
        print_channel(out, alice, bob, token).await? == (50, 50),
        "Alice–Bob should be 50 / 50"
    );
    ensure!(
        print_channel(out, bob, charlie, token).await? == (60, 20),
        "Bob–Charlie should be 60 / 20"
    );

    writeln!(out, "\n4. Alice closes Alice–Bob unilaterally")?;
    let before = (net.balance(alice.address).await?, net.balance(bob.address).await?);
    request(
        patch,
        format!("{}/api/v1/channels/{token:?}/{:?}", alice.url, bob.address),
        Some(json!({ "state": "closed" })),
    )
    .await?;
    for _ in 0..200 {
        if channel(bob, token, alice.address).await?.is_some_and(|c| c["state"] == "closed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    writeln!(out, "    closed on chain; Bob's node submits Alice's latest balance proof (update)")?;

    writeln!(out, "\n5-6. The settle window and the punish window pass; the nodes settle")?;
    let mut settled = false;
    // most of the 100-block settle window at once, then block by block
    net.mine(80).await?;
    for _ in 0..60 {
        net.mine(1).await?;
        tokio::time::sleep(Duration::from_millis(60)).await;
        if channel(alice, token, bob.address).await?.is_none()
            && channel(bob, token, alice.address).await?.is_none()
        {
            settled = true;
            break;
        }
    }
    ensure!(settled, "the channel did not settle");
    let after = (net.balance(alice.address).await?, net.balance(bob.address).await?);
    let got = (after.0 - before.0, after.1 - before.1);
    writeln!(
        out,
        "    settled: Alice received {} and Bob {} on chain; the channel is gone",
        got.0, got.1
    )?;
    ensure!(got == (50, 50), "settlement should pay Alice 50 and Bob 50");
    writeln!(out, "\nOn-chain token balances")?;
    for node in &nodes {
        writeln!(out, "    {:<8} {:>5}", node.name, net.balance(node.address).await?)?;
    }
    writeln!(out, "    (Bob–Charlie stays open: Bob 60 / Charlie 20 off chain)")?;
    ensure!(net.balance(alice.address).await? == FUNDS - 100 + 50, "Alice's on-chain balance");
    ensure!(net.balance(bob.address).await? == FUNDS - 80 + 50, "Bob's on-chain balance");
    writeln!(out, "\nEvery number matches the whitepaper.")?;
    drop(nodes); // stops the three processes
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("photon-demo-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
