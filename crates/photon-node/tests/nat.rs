//! `photon run` processes on a simulated internet ([`photon_testkit::netns::Internet`]):
//! Carol is public (she runs `--relay-service` next to the chain's endpoint), Alice and Bob
//! are at home behind NAT routers (Bob's maps ports at random: no hole punching), so
//! Alice's and Bob's nodes reach each other only through Carol's relay.
//!
//! ```text
//!  Alice 192.168.1.2 ─ NAT (cone) 11.0.0.1 ─────┐
//!                                              ├─ internet ── Carol 11.0.0.10 (relay, chain)
//!  Bob   192.168.2.2 ─ NAT (symmetric) 11.0.0.2 ─┘
//! ```
//!
//! Needs root, iproute2 and nftables; `PHOTON_SKIP_NETNS=1` skips it.

use anyhow::Result;
use photon_testkit::netns::{self, Host, Internet, NatKind};
use photon_testkit::nodes::NodeProcess;
use photon_testkit::poll::{eventually_within, until};
use photon_testkit::World;
use serde_json::Value;
use std::time::Duration;

const PHOTON: &str = env!("CARGO_BIN_EXE_photon");
const CHAIN: &str = "http://11.0.0.10:8545";

/// Runs a `photon` client command on `host` against `node`'s API: (success, stdout, stderr).
fn client(net: &Internet, host: Host, node: &NodeProcess, args: &[&str]) -> (bool, String, String) {
    let output = net.command(host, PHOTON).args(args).args(["--api", &node.url, "--raw"]).output();
    let output = output.expect("run photon");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.success(), text(&output.stdout), text(&output.stderr))
}

fn status(net: &Internet, host: Host, node: &NodeProcess) -> Value {
    let (_, out, _) = client(net, host, node, &["status"]);
    serde_json::from_str(&out).unwrap_or(Value::Null)
}

/// `node`'s (balance, partner balance) in its channel with `partner`, from `photon channels`.
fn balances(net: &Internet, host: Host, node: &NodeProcess, partner: &str) -> Option<(u64, u64)> {
    let (_, table, _) = client(net, host, node, &["channels"]);
    let row: Vec<String> = table
        .lines()
        .find(|l| l.to_lowercase().contains(&partner.to_lowercase()))?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Some((row.get(3)?.parse().ok()?, row.get(4)?.parse().ok()?))
}

async fn expect_balances(
    net: &Internet, host: Host, node: &NodeProcess, partner: &str, want: (u64, u64),
) -> Result<()> {
    let what = format!("{}'s balances {want:?} with {partner}", node.name);
    let mut last = None;
    let seen = until(&what, async || {
        last = balances(net, host, node, partner);
        Ok(last == Some(want))
    })
    .await;
    seen.map_err(|e| anyhow::anyhow!("{e}; last seen {last:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_behind_nat_pay_through_a_relay_and_a_relay_hub_mediates() -> Result<()> {
    if netns::skip() {
        return Ok(());
    }
    let mut w = World::build(PHOTON, &["Carol", "Alice", "Bob"]).funds(1_000).start().await?;
    let (carol, alice, bob) = (0, 1, 2);
    w.open_channels(&[(alice, bob, 100), (alice, carol, 200), (carol, bob, 200)]).await?;
    for i in [carol, alice, bob] {
        w.kill(i)?;
    }

    let net = Internet::create("e2e", 1, &[NatKind::Cone, NatKind::Symmetric])
        .expect("a simulated internet in namespaces");
    let port = w.net.chain.endpoint().port().expect("anvil's port");
    let chain = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    net.expose(Host::Public(0), 8545, chain).await.expect("the chain reachable on the internet");
    let (carol_host, alice_host, bob_host) = (Host::Public(0), Host::Home(0), Host::Home(1));
    let relay_service = ["--relay-service"];
    let launch = w.launch(carol, Vec::new());
    let mut carol_node = launch.start_on_internet(&net, carol_host, CHAIN, &relay_service).await?;
    let carol_status = status(&net, carol_host, &carol_node);
    let relay_addrs: Vec<String> = carol_status["network"]["listen_addresses"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).filter(|a| a.contains("11.0.0.10")))
        .into_iter()
        .flatten()
        .map(str::to_string)
        .collect();
    assert_eq!(relay_addrs.len(), 2, "TCP and QUIC: {carol_status}");
    let launch = w.launch(alice, relay_addrs.clone());
    let alice_node = launch.start_on_internet(&net, alice_host, CHAIN, &[]).await?;
    let launch = w.launch(bob, relay_addrs.clone());
    let bob_node = launch.start_on_internet(&net, bob_host, CHAIN, &[]).await?;

    // both learn they are not reachable and take reservations on Carol's relay
    for (host, node) in [(alice_host, &alice_node), (bob_host, &bob_node)] {
        let what = format!("{} private, reachable through Carol's relay", node.name);
        eventually_within(Duration::from_secs(90), &what, async || {
            let s = status(&net, host, node);
            let relayed =
                s["network"]["relayed_addresses"].as_array().is_some_and(|a| !a.is_empty());
            Ok((s["network"]["reachability"] == "private" && relayed).then_some(()))
        })
        .await?;
    }
    let relay = &carol_status["network"]["relay_service"];
    assert!(relay.is_object(), "Carol offers the relay service: {carol_status}");

    let token = format!("{:?}", w.token);
    let (a, b, c) = (
        format!("{:?}", w.addr(alice)),
        format!("{:?}", w.addr(bob)),
        format!("{:?}", w.addr(carol)),
    );
    // Alice pays Bob and Bob pays Alice in their own channel, through the relay
    let (ok, out, err) = client(&net, alice_host, &alice_node, &["pay", &token, &b, "10"]);
    assert!(ok, "{out}{err}");
    let (ok, out, err) = client(&net, bob_host, &bob_node, &["pay", &token, &a, "4"]);
    assert!(ok, "{out}{err}");
    expect_balances(&net, alice_host, &alice_node, &b, (94, 6)).await?;
    expect_balances(&net, bob_host, &bob_node, &a, (6, 94)).await?;
    let bob_view = status(&net, bob_host, &bob_node);
    let peer = bob_view["network"]["peers"].as_array().and_then(|p| {
        p.iter()
            .find(|p| p["address"].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&a)))
            .cloned()
    });
    assert_eq!(peer.map(|p| p["connection"].clone()), Some("relayed".into()), "{bob_view}");

    // more than the direct channel holds: mediated by Carol, the relay hub
    let (ok, out, err) = client(&net, alice_host, &alice_node, &["pay", &token, &b, "120"]);
    assert!(ok, "{out}{err}");
    expect_balances(&net, bob_host, &bob_node, &c, (120, 80)).await?;

    // Carol's node (the relay) dies with a payment on its way, and comes back
    carol_node.kill()?;
    let mut pay = net.command(alice_host, PHOTON);
    pay.args(["pay", &token, &b, "5", "--raw", "--api", &alice_node.url]);
    let paying = tokio::task::spawn_blocking(move || pay.output());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let launch = w.launch(carol, Vec::new());
    let _carol_again = launch.start_on_internet(&net, carol_host, CHAIN, &relay_service).await?;
    let paid = paying.await?.expect("run photon pay");
    assert!(paid.status.success(), "{}", String::from_utf8_lossy(&paid.stderr));
    // exactly once: 100 − 10 + 4 − 5 on Alice's side, 10 − 4 + 5 on Bob's
    expect_balances(&net, alice_host, &alice_node, &b, (89, 11)).await?;
    expect_balances(&net, bob_host, &bob_node, &a, (11, 89)).await?;
    expect_balances(&net, bob_host, &bob_node, &c, (120, 80)).await?;
    Ok(())
}
