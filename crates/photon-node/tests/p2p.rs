//! Three nodes talking over libp2p on 127.0.0.1 (one process, real sessions), driven through
//! their REST APIs on a real anvil.

mod common;

use common::{balances, call, get, open, pay, until};
use photon_node::api::router;
use photon_node::runtime::NodeSettings;
use photon_node::transport::{forward_incoming, P2pNetwork};
use photon_node::{Node, NodeHandle};
use photon_testkit::devnet::DevNet;
use photon_transport::{Multiaddr, P2pConfig};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

struct P2pNode {
    handle: NodeHandle,
    url: String,
    listen: Vec<Multiaddr>,
    task: tokio::task::JoinHandle<Result<(), photon_node::NodeError>>,
}

async fn start(
    net: &DevNet, i: usize, dir: &std::path::Path, bootstrap: Vec<Multiaddr>,
) -> P2pNode {
    let signer = net.accounts[i].clone();
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let (delivered_tx, delivered) = tokio::sync::mpsc::unbounded_channel();
    let config =
        P2pConfig { bootstrap, request_timeout: Duration::from_secs(3), ..P2pConfig::default() };
    let transport =
        photon_transport::start(&signer.to_bytes(), config, tx, Some(delivered_tx)).await.unwrap();
    let listen = transport.listen_addrs().await;
    let provider =
        photon_node::provider(net.chain.endpoint(), &signer, net.deployment.chain_id).unwrap();
    let settings = NodeSettings {
        snapshot_every: 50,
        payment_timeout: Duration::from_secs(30),
        ..common::settings(net)
    };
    let (node, handle) =
        Node::start(signer, provider, dir, settings, Arc::new(P2pNetwork(transport)))
            .await
            .unwrap();
    forward_incoming(rx, delivered, handle.inbox());
    let task = tokio::spawn(node.run());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(handle.clone(), None);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    P2pNode { handle, url, listen, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whitepaper_payments_over_libp2p() {
    let net = DevNet::start().await.unwrap();
    for i in 1..=3 {
        net.mint(net.address(i), 1_000).await.unwrap();
    }
    let root = tempfile::tempdir().unwrap();
    let bob = start(&net, 2, &root.path().join("bob"), vec![]).await;
    let alice = start(&net, 1, &root.path().join("alice"), bob.listen.clone()).await;
    let charlie = start(&net, 3, &root.path().join("charlie"), bob.listen.clone()).await;
    let token = format!("{:?}", net.token.address());
    let (a, b, c) = (
        format!("{:?}", net.address(1)),
        format!("{:?}", net.address(2)),
        format!("{:?}", net.address(3)),
    );
    open(&alice.url, &token, &b, json!("100")).await;
    open(&bob.url, &token, &c, json!("80")).await;
    until(async || balances(&bob.url, &token, &a).await == Some(("0".into(), "100".into()))).await;
    until(async || balances(&charlie.url, &token, &b).await == Some(("0".into(), "80".into())))
        .await;
    let head = net.block_number().await.unwrap();
    until(async || {
        let (_, s) = call(reqwest::Method::GET, format!("{}/api/v1/status", alice.url), None).await;
        s["block"].as_u64().is_some_and(|x| x >= head)
            && s["peers"].as_u64().is_some_and(|p| p >= 1)
    })
    .await;

    pay(&alice.url, &token, &b, json!({ "amount": "30" })).await;
    until(async || balances(&bob.url, &token, &a).await == Some(("30".into(), "70".into()))).await;
    // Alice and Charlie never met: Alice's secret reaches Charlie through the DHT
    pay(&alice.url, &token, &c, json!({ "amount": "20" })).await;
    until(async || balances(&alice.url, &token, &b).await == Some(("50".into(), "50".into())))
        .await;
    until(async || balances(&bob.url, &token, &c).await == Some(("60".into(), "20".into()))).await;
    until(async || balances(&charlie.url, &token, &b).await == Some(("20".into(), "60".into())))
        .await;
    for node in [alice, bob, charlie] {
        node.handle.shutdown();
        let _ = node.task.await;
    }
}

/// Alice pays Bob while Bob is offline, then Alice restarts too. The payment message waits in
/// Alice's durable outbox and reaches Bob when he is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_survives_the_senders_restart_and_reaches_a_peer_that_was_offline() {
    let net = DevNet::start().await.unwrap();
    net.mint(net.address(1), 1_000).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let (alice_dir, bob_dir) = (root.path().join("alice"), root.path().join("bob"));
    let bob = start(&net, 2, &bob_dir, vec![]).await;
    let alice = start(&net, 1, &alice_dir, bob.listen.clone()).await;
    let token = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(1)), format!("{:?}", net.address(2)));
    open(&alice.url, &token, &b, json!("100")).await;
    until(async || balances(&bob.url, &token, &a).await == Some(("0".into(), "100".into()))).await;
    until(async || balances(&alice.url, &token, &b).await == Some(("100".into(), "0".into())))
        .await;

    // Bob goes offline; Alice pays him anyway: the payment is hers to make (her balance moves
    // at once) but it has not succeeded until Bob has it, so the request waits
    bob.handle.shutdown();
    let _ = bob.task.await;
    let url = format!("{}/api/v1/payments/{token}/{b}", alice.url);
    let request = reqwest::Client::new().post(url).json(&json!({ "amount": "10" }));
    let pending = tokio::spawn(request.send());
    until(async || balances(&alice.url, &token, &b).await == Some(("90".into(), "10".into())))
        .await;
    assert!(!pending.is_finished(), "not reported succeeded while Bob does not have it");
    // ... and restarts before Bob is back (the request ends without an answer)
    alice.handle.shutdown();
    let _ = alice.task.await;
    let alice = start(&net, 1, &alice_dir, vec![]).await;
    assert_eq!(balances(&alice.url, &token, &b).await, Some(("90".into(), "10".into())));
    // Bob comes back (elsewhere), finds Alice, and gets the payment
    let bob = start(&net, 2, &bob_dir, alice.listen.clone()).await;
    until(async || balances(&bob.url, &token, &a).await == Some(("10".into(), "90".into()))).await;
    // the channel is in sync: the next payment is accepted normally
    pay(&bob.url, &token, &a, json!({ "amount": "3" })).await;
    until(async || balances(&alice.url, &token, &b).await == Some(("93".into(), "7".into()))).await;
    for node in [alice, bob] {
        node.handle.shutdown();
        let _ = node.task.await;
    }
}

/// A partner that refuses our payment for good (a broken or dishonest peer: here a bare
/// transport answering "reject" to everything). The payment is reported disputed, not
/// failed (the partner holds its signed proof and can be paid on chain), the channel says why
/// it needs attention, and the node closes it rather than queue behind the refused proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_refusing_a_payment_gets_the_channel_closed_and_the_payment_disputed() {
    use photon_transport::Delivery;
    let net = DevNet::start().await.unwrap();
    net.mint(net.address(1), 1_000).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    // Bob: a bare transport with Bob's key that refuses every message
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let bob_key = net.accounts[2].to_bytes();
    let bob = photon_transport::start(&bob_key, P2pConfig::default(), tx, None).await.unwrap();
    tokio::spawn(async move {
        while let Some(incoming) = rx.recv().await {
            let _ = incoming.respond.send(Delivery::Reject("no, thanks".into()));
        }
    });
    let alice = start(&net, 1, &root.path().join("alice"), bob.listen_addrs().await).await;
    let token = format!("{:?}", net.token.address());
    let b = format!("{:?}", net.address(2));
    open(&alice.url, &token, &b, json!("100")).await;
    until(async || balances(&alice.url, &token, &b).await == Some(("100".into(), "0".into())))
        .await;
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/payments/{token}/{b}", alice.url),
        Some(json!({ "amount": "10" })),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("payment_disputed")), "{body}");
    let channels = get(format!("{}/api/v1/channels", alice.url)).await;
    let channel = &channels.as_array().unwrap()[0];
    assert!(channel["attention"].as_str().is_some_and(|a| a.contains("no, thanks")), "{channel}");
    until(async || {
        let channels = get(format!("{}/api/v1/channels", alice.url)).await;
        channels[0]["state"] == "closed"
    })
    .await;
    let history = get(format!("{}/api/v1/payments", alice.url)).await;
    let sent = &history.as_array().unwrap()[0];
    assert_eq!(
        (sent["direction"].as_str(), sent["pending"].as_bool()),
        (Some("sent"), Some(false))
    );
    assert!(sent["reason"].as_str().is_some_and(|r| r.starts_with("disputed")), "{sent}");
    alice.handle.shutdown();
    let _ = alice.task.await;
}
