//! Routing with a pathfinding service, end to end: six `photon run` processes and a
//! `photon pfs` on anvil. Payments that need a mediator find their route and fee without
//! hand-given routes, a drained channel is routed around, a route the service got wrong is
//! given back and the next one tried, an offline node is avoided, and the service stopped
//! mid-run leaves the nodes routing on their own graphs.

use anyhow::{ensure, Result};
use photon_pfs::api::PathView;
use photon_pfs::ChannelUpdate;
use photon_primitives::eip712::Domain;
use photon_primitives::{Address, TokenAmount};
use photon_state::FeePolicy;
use photon_testkit::nodes::{get, request};
use photon_testkit::poll::until;
use photon_testkit::World;
use serde_json::{json, Value};

const PHOTON: &str = env!("CARGO_BIN_EXE_photon");

/// The service's paths for `amount` from `from` to `to` (empty: none).
async fn pfs_paths(
    pfs: &str, w: &World, from: usize, to: usize, amount: u128,
) -> Result<Vec<PathView>> {
    let url = format!(
        "{pfs}/api/v1/paths?token={:?}&from={:?}&to={:?}&amount={amount}&max_paths=3",
        w.token,
        w.addr(from),
        w.addr(to)
    );
    match get(&url).await {
        Ok(v) => Ok(serde_json::from_value(v["paths"].clone())?),
        Err(_) => Ok(Vec::new()),
    }
}

fn through(path: &[Address], who: Address) -> bool {
    path[1..path.len() - 1].contains(&who)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_find_routes_and_fees_through_a_pathfinding_service() -> Result<()> {
    let names = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Frank"];
    let (alice, bob, charlie, dave, eve, frank) = (0, 1, 2, 3, 4, 5);
    // a service started before the nodes, which all use it; 6 s without a word: offline
    let mut w = World::build(PHOTON, &names).funds(1_000).pfs(6).start().await?;
    let url = w.pfs.as_ref().map(|p| p.url.clone()).expect("the world has a service");
    w.open_channels(&[
        (alice, bob, 300),
        (bob, charlie, 300),
        (alice, dave, 300),
        (dave, charlie, 300),
        (alice, eve, 300),
        (eve, frank, 300),
        (frank, charlie, 300),
    ])
    .await?;
    // Bob 5 flat; Dave 1 + 1 %; Eve and Frank 1 each
    for (who, flat, ppm) in [(bob, "5", 0), (dave, "1", 10_000), (eve, "1", 0), (frank, "1", 0)] {
        let fee = json!({ "flat": flat, "proportional_ppm": ppm });
        w.call(who, reqwest::Method::PUT, "/api/v1/fees", Some(fee)).await?;
    }
    let (a, c) = (w.addr(alice), w.addr(charlie));
    until("the service to know every route", async || {
        let paths = pfs_paths(&url, &w, alice, charlie, 100).await?;
        Ok(paths.len() == 3 && paths[0].fee.0 == 2)
    })
    .await?;

    // the node shows the routes it would use: Dave's first (2 = 1 + 1 % of 102)
    let routes = w.get(alice, &format!("/api/v1/paths/{:?}/{c:?}?amount=100", w.token)).await?;
    assert_eq!(routes[0]["source"], "pfs");
    assert_eq!(routes[0]["fee"], "2");
    assert_eq!(routes[0]["path"], json!([a, w.addr(dave), c]));
    let cli = w.cli(alice, &["route", &format!("{:?}", w.token), &format!("{c:?}"), "100"])?;
    let dave_hex = format!("{:?}", w.addr(dave)).to_lowercase();
    ensure!(cli.contains("pfs") && cli.to_lowercase().contains(&dave_hex), "{cli}");

    // pay without routes: through Dave at the quoted fee; Charlie gets exactly 100
    let outcome = w.pay(alice, charlie, 100, None).await?;
    assert_eq!(outcome["fee"], "2");
    w.balances(alice, dave, (198, 102)).await?;
    w.balances(dave, charlie, (200, 100)).await?;
    let history = w.get(alice, "/api/v1/payments?direction=sent").await?;
    assert_eq!(history[0]["fee"], "2", "the history shows the fee paid");

    // Dave–Charlie holds 200 on Dave's side: 250 goes around it, through Eve and Frank
    until("the service to learn Dave's capacity", async || {
        let paths = pfs_paths(&url, &w, alice, charlie, 250).await?;
        Ok(!paths.is_empty() && paths.iter().all(|p| !through(&p.path, w.addr(dave))))
    })
    .await?;
    let outcome = w.pay(alice, charlie, 250, None).await?;
    assert_eq!(outcome["fee"], "2");
    w.balances(frank, charlie, (50, 250)).await?;
    w.balances(dave, charlie, (200, 100)).await?;

    // the service gets Bob wrong (an update of Bob's saying he forwards for nothing, as a
    // lost update would leave it): his route comes first, Bob gives the lock back, and the
    // payment goes through Dave (1 + 1 % of 11 = 1)
    let domain = Domain::new(w.net.deployment.chain_id, w.net.deployment.tokens_network);
    let bob_key = &w.net.accounts[bob + 1];
    let bob_charlie = w.channel(bob, charlie).await?.expect("Bob has a channel with Charlie");
    let channel_id = serde_json::from_value(bob_charlie["channel_id"].clone())?;
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let wrong = ChannelUpdate::signed(
        &domain,
        bob_key,
        w.token,
        channel_id,
        nonce as u64,
        TokenAmount(300),
        FeePolicy::FREE,
        false,
    )?;
    let answer = request(
        reqwest::Method::POST,
        format!("{url}/api/v1/updates"),
        Some(json!({ "updates": [wrong] })),
    )
    .await?;
    assert_eq!(answer["accepted"], 1, "{answer}");
    let paths = pfs_paths(&url, &w, alice, charlie, 10).await?;
    ensure!(through(&paths[0].path, w.addr(bob)) && paths[0].fee.0 == 0, "{paths:?}");
    let outcome = w.pay(alice, charlie, 10, None).await?;
    assert_eq!(outcome["fee"], "1", "{outcome}");
    w.balances(bob, charlie, (300, 0)).await?;
    w.balances(alice, bob, (300, 0)).await?;
    w.balances(dave, charlie, (190, 110)).await?;

    // Frank goes offline: after the service's window, no route goes through him
    w.kill(frank)?;
    until("the service to route around Frank", async || {
        let paths = pfs_paths(&url, &w, alice, charlie, 20).await?;
        Ok(!paths.is_empty() && paths.iter().all(|p| !through(&p.path, w.addr(frank))))
    })
    .await?;

    // the service stops: Alice routes on her own graph (with the fees it quoted) and pays on
    drop(w.pfs.take());
    let outcome = w.pay(alice, charlie, 20, None).await?;
    ensure!(outcome["fee"] == "1", "through Dave, 1 + 1 % of 21: {outcome}");
    w.balances(dave, charlie, (170, 130)).await?;
    let status: Value = w.get(alice, "/api/v1/status").await?;
    ensure!(status["address"] == json!(a), "{status}");
    Ok(())
}
