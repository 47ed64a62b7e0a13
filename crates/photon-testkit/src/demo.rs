//! `make demo` (the `photon-demo` binary): the whitepaper's worked example, end to end, on a local dev chain.
//!
//! Starts anvil, deploys the contracts and a test token, starts Alice's, Bob's and Charlie's
//! nodes as separate `photon run` processes on 127.0.0.1 (each with its own database, REST API
//! and libp2p transport; Alice and Charlie bootstrap from Bob), and walks through §2.1 by
//! calling their APIs: open, deposit 100 and 80, Alice→Bob 30 directly, Alice→Charlie 20
//! through Bob, close, update, settle. Balances are printed after each step and checked; any
//! mismatch is an error. Every process it started is stopped, whatever happens.

use crate::nodes::NodeProcess;
use crate::World;
use anyhow::{ensure, Context, Result};
use photon_chain::DeployParams;
use photon_primitives::Address;
use std::io::Write;
use std::path::Path;

const NAMES: [&str; 3] = ["Alice", "Bob", "Charlie"];
const FUNDS: u128 = 1_000;

async fn print_channel(
    out: &mut dyn Write, a: &NodeProcess, b: &NodeProcess, token: Address,
) -> Result<(u128, u128)> {
    let c = a
        .channel(token, b.address)
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
    // Bob first: Alice and Charlie find the network through him
    let w = World::build(photon, &NAMES).hub(1).funds(FUNDS).params(params).start().await?;
    let (net, token) = (&w.net, w.token);
    writeln!(out, "  chain {} at {}", net.deployment.chain_id, net.chain.endpoint())?;
    writeln!(
        out,
        "  TokensNetwork {}  SecretRegistry {}",
        net.deployment.tokens_network, net.deployment.secret_registry
    )?;
    writeln!(out, "  token {token}")?;
    for node in &w.nodes {
        writeln!(
            out,
            "  {:<8} {}  API {}  (process {}, {FUNDS} tokens on chain)",
            node.name,
            node.address,
            node.url,
            node.child.id()
        )?;
    }
    let (a, b, c) = (0, 1, 2);
    let (alice, bob, charlie) = (&w.nodes[a], &w.nodes[b], &w.nodes[c]);

    writeln!(out, "\n1. Alice opens a channel with Bob; Bob opens one with Charlie")?;
    w.open(a, b, None).await?;
    w.open(b, c, None).await?;
    alice.await_balances(token, bob.address, (0, 0)).await?;
    bob.await_balances(token, charlie.address, (0, 0)).await?;
    print_channel(out, alice, bob, token).await?;
    print_channel(out, bob, charlie, token).await?;

    writeln!(out, "\n2. Alice deposits 100 into Alice–Bob; Bob deposits 80 into Bob–Charlie")?;
    w.deposit(a, b, 100).await?;
    w.deposit(b, c, 80).await?;
    // each node acts on the chain's events on its own: wait until all three have seen them
    w.balances(a, b, (100, 0)).await?;
    w.balances(b, c, (80, 0)).await?;
    print_channel(out, alice, bob, token).await?;
    print_channel(out, bob, charlie, token).await?;

    writeln!(out, "\n3a. Alice pays Bob 30 directly")?;
    w.pay(a, b, 30, None).await?;
    bob.await_balances(token, alice.address, (30, 70)).await?;
    ensure!(
        print_channel(out, alice, bob, token).await? == (70, 30),
        "Alice–Bob should be 70 / 30"
    );

    writeln!(out, "\n3b. Alice pays Charlie 20 through Bob (no direct channel)")?;
    // Alice's node routes over the channels it has seen on chain: let it catch up first
    w.synced(a).await?;
    let paid = w.pay(a, c, 20, None).await?;
    writeln!(out, "    hash-locked payment {} done", paid["secrethash"].as_str().unwrap_or("?"))?;
    charlie.await_balances(token, bob.address, (20, 60)).await?;
    bob.await_balances(token, alice.address, (50, 50)).await?;
    ensure!(
        print_channel(out, alice, bob, token).await? == (50, 50),
        "Alice–Bob should be 50 / 50"
    );
    ensure!(
        print_channel(out, bob, charlie, token).await? == (60, 20),
        "Bob–Charlie should be 60 / 20"
    );

    writeln!(out, "\n4. Alice closes Alice–Bob unilaterally")?;
    let before = w.on_chain(a, b).await?;
    w.close(a, b).await?;
    w.await_state(b, a, "closed").await?;
    writeln!(out, "    closed on chain; Bob's node submits Alice's latest balance proof (update)")?;

    writeln!(out, "\n5-6. The settle window and the punish window pass; the nodes settle")?;
    // most of the 100-block settle window at once, then block by block
    w.mine_until(80, "the channel settled", async || {
        Ok(w.channel(a, b).await?.is_none() && w.channel(b, a).await?.is_none())
    })
    .await?;
    let after = w.on_chain(a, b).await?;
    let got = (after.0 - before.0, after.1 - before.1);
    writeln!(
        out,
        "    settled: Alice received {} and Bob {} on chain; the channel is gone",
        got.0, got.1
    )?;
    ensure!(got == (50, 50), "settlement should pay Alice 50 and Bob 50");
    writeln!(out, "\nOn-chain token balances")?;
    for node in &w.nodes {
        writeln!(out, "    {:<8} {:>5}", node.name, net.balance(node.address).await?)?;
    }
    writeln!(out, "    (Bob–Charlie stays open: Bob 60 / Charlie 20 off chain)")?;
    ensure!(net.balance(alice.address).await? == FUNDS - 100 + 50, "Alice's on-chain balance");
    ensure!(net.balance(bob.address).await? == FUNDS - 80 + 50, "Bob's on-chain balance");
    writeln!(out, "\nEvery number matches the whitepaper.")?;
    Ok(()) // dropping the world stops the three processes and removes their files
}
