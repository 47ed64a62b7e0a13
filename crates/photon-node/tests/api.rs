//! Nodes in one process against a real anvil, driven through their REST APIs.

mod common;

use common::{balances, call, change, channel, eventually, get, ok, open, pay, settings};
use photon_node::api::router;
use photon_node::runtime::NodeSettings;
use photon_node::transport::LocalNetwork;
use photon_node::{Node, NodeHandle};
use photon_primitives::Signer;
use photon_state::Config;
use photon_testkit::devnet::DevNet;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const ALICE: usize = 1;
const BOB: usize = 2;
const CHARLIE: usize = 3;

struct TestNode {
    handle: NodeHandle,
    url: String,
    task: tokio::task::JoinHandle<Result<(), photon_node::NodeError>>,
    server: tokio::task::JoinHandle<()>,
}

impl TestNode {
    async fn stop(self) {
        self.handle.shutdown();
        let _ = self.task.await;
        self.server.abort();
    }
}

async fn start(
    net: &DevNet, i: usize, network: &LocalNetwork, dir: &Path, token: Option<String>,
) -> TestNode {
    start_via(net, net.chain.endpoint(), i, network, dir, token).await
}

async fn start_via(
    net: &DevNet, rpc: reqwest::Url, i: usize, network: &LocalNetwork, dir: &Path,
    token: Option<String>,
) -> TestNode {
    start_with(net, rpc, i, network, dir, token, settings(net)).await
}

async fn start_with(
    net: &DevNet, rpc: reqwest::Url, i: usize, network: &LocalNetwork, dir: &Path,
    token: Option<String>, settings: NodeSettings,
) -> TestNode {
    let signer = net.accounts[i].clone();
    let provider = photon_node::provider(rpc, &signer, net.deployment.chain_id).unwrap();
    let (node, handle) =
        Node::start(signer, provider, dir, settings, Arc::new(network.clone())).await.unwrap();
    network.join(handle.address, handle.inbox());
    let task = tokio::spawn(node.run());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(handle.clone(), token);
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestNode { handle, url, task, server }
}

/// A dev chain with Alice funded (1,000 tokens), a network in this process and data
/// directories for `nodes` nodes: what most tests here start from.
struct Lab {
    net: DevNet,
    network: LocalNetwork,
    dir: Vec<PathBuf>,
    _root: tempfile::TempDir,
}

async fn lab(nodes: usize) -> Lab {
    let net = DevNet::start().await.unwrap();
    net.mint(net.address(ALICE), 1_000).await.unwrap();
    let (_root, dir) = dirs(nodes);
    Lab { net, network: LocalNetwork::new(), dir, _root }
}

fn dirs(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
    let root = tempfile::tempdir().unwrap();
    let dirs = (0..n).map(|i| root.path().join(format!("node{i}"))).collect();
    (root, dirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_pay_restart_close_settle_through_the_api() {
    let net = DevNet::start().await.unwrap();
    for who in [ALICE, BOB, CHARLIE] {
        net.mint(net.address(who), 1_000_000).await.unwrap();
    }
    let (_root, dir) = dirs(3);
    let network = LocalNetwork::new();
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    let charlie = start(&net, CHARLIE, &network, &dir[2], None).await;
    let token = format!("{:?}", net.token.address());
    let (a, b, c) = (
        format!("{:?}", net.address(ALICE)),
        format!("{:?}", net.address(BOB)),
        format!("{:?}", net.address(CHARLIE)),
    );

    let address = get(format!("{}/api/v1/address", alice.url)).await;
    assert_eq!(address["our_address"].as_str().unwrap().to_lowercase(), a.to_lowercase());

    // open with deposit: Alice–Bob (100), Bob–Charlie (80)
    open(&alice.url, &token, &b, json!("100")).await;
    open(&bob.url, &token, &c, json!(80)).await;
    eventually(|| async { balances(&alice.url, &token, &b).await.filter(|x| x.0 == "100") }).await;
    eventually(|| async { balances(&charlie.url, &token, &b).await.filter(|x| x.1 == "80") }).await;
    // the mediator too: Bob forwards only over a deposit his own node has seen
    eventually(|| async { balances(&bob.url, &token, &c).await.filter(|x| x.0 == "80") }).await;

    // Alice's node has followed the chain up to here (so its graph knows Bob–Charlie)
    let head = net.block_number().await.unwrap();
    eventually(|| async {
        get(format!("{}/api/v1/status", alice.url)).await["block"].as_u64().filter(|b| *b >= head)
    })
    .await;

    // Bob's app listens to his event stream
    let mut stream =
        reqwest::Client::new().get(format!("{}/api/v1/events", bob.url)).send().await.unwrap();
    assert_eq!(stream.status().as_u16(), 200);

    // Alice pays Bob 30 directly, then Charlie 20 through Bob
    pay(&alice.url, &token, &b, json!({ "amount": "30" })).await;
    let url = format!("{}/api/v1/payments/{token}/{c}", alice.url);
    let body = ok(reqwest::Method::POST, url, json!({ "amount": 20 })).await;
    assert!(body["secrethash"].is_string());
    eventually(|| async {
        balances(&alice.url, &token, &b).await.filter(|x| x == &("50".into(), "50".into()))
    })
    .await;
    eventually(|| async {
        balances(&bob.url, &token, &c).await.filter(|x| x == &("60".into(), "20".into()))
    })
    .await;
    eventually(|| async {
        balances(&charlie.url, &token, &b).await.filter(|x| x == &("20".into(), "60".into()))
    })
    .await;
    // the stream told Bob about the 30 without polling
    let mut seen = String::new();
    while !seen.contains("payment_received") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"amount\":\"30\""), "{seen}");
    let history = get(format!("{}/api/v1/payments?direction=received", charlie.url)).await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    assert_eq!(history[0]["amount"], json!("20"), "amounts are decimal strings");

    // Bob restarts; his channels and balances are intact and usable
    let bob_address = bob.handle.address;
    bob.stop().await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    assert_eq!(bob.handle.address, bob_address);
    assert_eq!(balances(&bob.url, &token, &a).await.unwrap(), ("50".into(), "50".into()));
    pay(&bob.url, &token, &a, json!({ "amount": "5" })).await;
    eventually(|| async { balances(&alice.url, &token, &b).await.filter(|x| x.0 == "55") }).await;

    // Alice closes; Bob's node updates; the windows pass; the channel settles on chain
    let before = on_chain(&net).await;
    change(&alice.url, &token, &b, json!({ "state": "closed" })).await;
    let closed = eventually(|| async {
        channel(&bob.url, &token, &a).await.filter(|c| c["state"] == "closed")
    })
    .await;
    // the view tells when the channel closed and from when it can be settled
    let closed_block = closed["closed_block"].as_u64().expect("a close block");
    let punish = net.deployment.params.punish_blocks;
    assert_eq!(closed["settle_block"].as_u64(), Some(closed_block + 100 + punish + 1), "{closed}");
    mine_until_settled(&net, &alice, &token, &b).await;
    let after = on_chain(&net).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (55, 45));

    alice.stop().await;
    bob.stop().await;
    charlie.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_change_nothing() {
    let Lab { net, network, dir, _root } = lab(2).await;
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let token = format!("{:?}", net.token.address());
    let b = format!("{:?}", net.address(BOB));
    let cases: Vec<(reqwest::Method, String, Option<Value>, u16, &str)> = vec![
        (reqwest::Method::GET, "/api/v1/channels/0x1234/0x12".into(), None, 400, "bad_request"),
        (reqwest::Method::GET, format!("/api/v1/channels/{token}/{b}"), None, 404, "not_found"),
        (
            reqwest::Method::PUT,
            "/api/v1/channels".into(),
            Some(json!({ "token": token })),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/channels".into(),
            Some(json!({ "token": token, "partner": b, "deposit": "ten" })),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/channels".into(),
            Some(json!({ "token": token, "partner": b, "surprise": 1 })),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/channels".into(),
            Some(json!({ "token": token, "partner": b, "settle_timeout": 1 })),
            409,
            "refused",
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/payments/{token}/{b}"),
            Some(json!({ "amount": "0" })),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/payments/{token}/{b}"),
            Some(json!({ "amount": "5" })),
            404,
            "not_found",
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/channels/{token}/{b}"),
            Some(json!({ "deposit": "1", "state": "closed" })),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/channels/{token}/{b}"),
            Some(json!({ "state": "open" })),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/payments?direction=sideways".into(),
            None,
            400,
            "bad_request",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/secrets".into(),
            Some(json!({ "secret": "0x00" })),
            400,
            "bad_request",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, response) = call(method.clone(), format!("{}{}", alice.url, path), body).await;
        assert_eq!(got, status, "{method} {path}: {response}");
        assert_eq!(response["error"]["code"], code, "{method} {path}: {response}");
        assert!(response["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // every documented route is served (with placeholder parameters and no body: a JSON answer,
    // never the router's bare 404/405)
    for (method, path) in photon_node::api::ROUTES {
        if *path == "/api/v1/events" || *path == "/api/v1/shutdown" {
            continue; // a stream that does not end
        }
        let path = path.replace("{token}", &token).replace("{partner}", &b).replace("{target}", &b);
        let method: reqwest::Method = method.to_uppercase().parse().unwrap();
        let response = reqwest::Client::new()
            .request(method.clone(), format!("{}{}", alice.url, path))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}");
        assert!(serde_json::from_str::<Value>(&text).is_ok(), "{method} {path}: {status} {text}");
    }
    // nothing moved on chain or off chain
    assert_eq!(get(format!("{}/api/v1/channels", alice.url)).await, json!([]));
    assert_eq!(net.balance(net.address(ALICE)).await.unwrap(), 1_000);
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_token_is_required_when_set_and_a_data_directory_runs_one_node() {
    let net = DevNet::start().await.unwrap();
    let (_root, dir) = dirs(1);
    let network = LocalNetwork::new();
    let alice = start(&net, ALICE, &network, &dir[0], Some("s3cret".into())).await;
    let (status, body) =
        call(reqwest::Method::GET, format!("{}/api/v1/status", alice.url), None).await;
    assert_eq!((status, body["error"]["code"].clone()), (401, json!("unauthorized")));
    let client = reqwest::Client::new();
    let ok = client
        .get(format!("{}/api/v1/status", alice.url))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let status: Value = ok.json().await.unwrap();
    assert_eq!(status["chain_id"], json!(net.deployment.chain_id));
    // a second node on the same data directory is refused
    let signer = net.accounts[ALICE].clone();
    let provider =
        photon_node::provider(net.chain.endpoint(), &signer, net.deployment.chain_id).unwrap();
    let second =
        Node::start(signer, provider, &dir[0], settings(&net), Arc::new(network.clone())).await;
    let err = second.map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("in use by another process"), "{err}");
    let _ = net.accounts[ALICE].address();
    alice.stop().await;
}

/// A TCP relay in front of the dev chain, to make the RPC endpoint go away and come back.
struct Relay {
    task: Option<tokio::task::JoinHandle<()>>,
    port: u16,
    upstream: String,
}

impl Relay {
    /// A relay on a free port of 127.0.0.1, passing connections on to `net`'s chain.
    async fn in_front_of(net: &DevNet) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let upstream = net.chain.endpoint().authority().to_string();
        let mut relay = Self { task: None, port, upstream };
        relay.resume().await;
        relay
    }

    /// The endpoint nodes are given.
    fn url(&self) -> reqwest::Url {
        format!("http://127.0.0.1:{}", self.port).parse().unwrap()
    }

    /// Drops every connection and stops accepting: the endpoint is gone.
    async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// The endpoint is back, on the same port.
    async fn resume(&mut self) {
        self.listen(true).await;
    }

    /// The endpoint takes connections and never answers (packets lost upstream).
    async fn hang(&mut self) {
        self.stop().await;
        self.listen(false).await;
    }

    async fn listen(&mut self, forward: bool) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        let upstream = self.upstream.clone();
        self.task = Some(tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if !forward {
                        std::future::pending::<()>().await;
                    }
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

/// Mines until `node` no longer has its channel with `partner` (it settled).
async fn mine_until_settled(net: &DevNet, node: &TestNode, token: &str, partner: &str) {
    // five blocks at a time through the 100-block window (nothing is left to unlock here)
    for _ in 0..60 {
        net.mine(5).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        if channel(&node.url, token, partner).await.is_none() {
            return;
        }
    }
    eventually(|| async { channel(&node.url, token, partner).await.is_none().then_some(()) }).await;
}

/// Alice → Bob → Charlie on a dev chain: three nodes (Bob's with the settings `bob` gives,
/// Bob funded too), channels Alice–Bob and Bob–Charlie with 100 each, every node seeing them
/// and Alice's node knowing the route to Charlie.
struct Line {
    net: DevNet,
    network: LocalNetwork,
    dir: Vec<PathBuf>,
    _root: tempfile::TempDir,
    alice: TestNode,
    bob: TestNode,
    charlie: TestNode,
    token: String,
    a: String,
    b: String,
    c: String,
}

async fn line(bob: impl FnOnce(&DevNet) -> NodeSettings) -> Line {
    let Lab { net, network, dir, _root } = lab(3).await;
    net.mint(net.address(BOB), 1_000).await.unwrap();
    let rpc = net.chain.endpoint();
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let bob = start_with(&net, rpc, BOB, &network, &dir[1], None, bob(&net)).await;
    let charlie = start(&net, CHARLIE, &network, &dir[2], None).await;
    let token = format!("{:?}", net.token.address());
    let (a, b, c) = (
        format!("{:?}", net.address(ALICE)),
        format!("{:?}", net.address(BOB)),
        format!("{:?}", net.address(CHARLIE)),
    );
    open(&alice.url, &token, &b, json!("100")).await;
    open(&bob.url, &token, &c, json!("100")).await;
    eventually(|| async { channel(&charlie.url, &token, &b).await }).await;
    eventually(|| async { channel(&bob.url, &token, &a).await }).await;
    route_known(&alice.url, &token, &c).await;
    Line { net, network, dir, _root, alice, bob, charlie, token, a, b, c }
}

/// Waits until the node at `url` knows a route to `target` (its chain events come at its next
/// poll).
async fn route_known(url: &str, token: &str, target: &str) {
    eventually(|| async {
        let routes = get(format!("{url}/api/v1/paths/{token}/{target}?amount=1")).await;
        routes.as_array().is_some_and(|r| !r.is_empty()).then_some(())
    })
    .await;
}

/// Alice's and Bob's token balances on chain.
async fn on_chain(net: &DevNet) -> (u128, u128) {
    (net.balance(net.address(ALICE)).await.unwrap(), net.balance(net.address(BOB)).await.unwrap())
}

/// Alice closes while her RPC endpoint is down: the close transaction cannot be sent. She stops
/// and restarts; once the endpoint is back, the persisted close goes out and the channel closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_transaction_survives_an_outage_and_a_restart() {
    let Lab { net, network, dir, _root } = lab(2).await;
    let mut relay = Relay::in_front_of(&net).await;
    let rpc = relay.url();
    let alice = start_via(&net, rpc.clone(), ALICE, &network, &dir[0], None).await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    let token = format!("{:?}", net.token.address());
    let b = format!("{:?}", net.address(BOB));
    let a = format!("{:?}", net.address(ALICE));
    open(&alice.url, &token, &b, json!("100")).await;
    eventually(|| async { balances(&alice.url, &token, &b).await.filter(|x| x.0 == "100") }).await;

    relay.stop().await;
    change(&alice.url, &token, &b, json!({ "state": "closed" })).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        net.state_of_channel(ALICE, BOB).await,
        1,
        "not closed on chain: the endpoint is down"
    );
    alice.stop().await;

    relay.resume().await;
    let alice = start_via(&net, rpc, ALICE, &network, &dir[0], None).await;
    eventually(|| async { (net.state_of_channel(ALICE, BOB).await == 2).then_some(()) }).await;
    eventually(|| async { channel(&bob.url, &token, &a).await.filter(|c| c["state"] == "closed") })
        .await;
    alice.stop().await;
    bob.stop().await;
}

/// No chain for a while (a mesh network without internet, an RPC provider down): Alice and
/// Bob, whose channel is open, restart while their RPC endpoint is unreachable. Their nodes
/// start from the stored state, report the chain unreachable, and pay each other in the
/// channel. A node with no state cannot start so. When the chain is back the nodes catch up,
/// and closing pays out on chain what was paid offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_go_on_while_the_chain_is_unreachable() {
    let Lab { net, network, dir, _root } = lab(3).await;
    let mut relay = Relay::in_front_of(&net).await;
    let rpc = relay.url();
    let alice = start_via(&net, rpc.clone(), ALICE, &network, &dir[0], None).await;
    let bob = start_via(&net, rpc.clone(), BOB, &network, &dir[1], None).await;
    let token = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(ALICE)), format!("{:?}", net.address(BOB)));
    open(&alice.url, &token, &b, json!("100")).await;
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.1 == "100") }).await;

    // the chain goes away; both nodes restart without it
    relay.stop().await;
    alice.stop().await;
    bob.stop().await;
    let alice = start_via(&net, rpc.clone(), ALICE, &network, &dir[0], None).await;
    let bob = start_via(&net, rpc.clone(), BOB, &network, &dir[1], None).await;
    let status = get(format!("{}/api/v1/status", alice.url)).await;
    assert_eq!(status["chain_reachable"], json!(false), "{status}");
    for (from, to, amount) in [(&alice, &b, "30"), (&bob, &a, "5"), (&alice, &b, "10")] {
        pay(&from.url, &token, to, json!({ "amount": amount })).await;
    }
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.0 == "35") }).await;
    assert_eq!(balances(&alice.url, &token, &b).await.unwrap(), ("65".into(), "35".into()));
    // a node that never saw its chain does not start without it
    let signer = net.accounts[CHARLIE].clone();
    let provider = photon_node::provider(rpc.clone(), &signer, net.deployment.chain_id).unwrap();
    let refused = Node::start(signer, provider, &dir[2], settings(&net), Arc::new(network.clone()))
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(refused.to_string().contains("must reach its chain once"), "{refused}");

    // the chain is back: the nodes see it, and the offline payments are paid out on chain
    relay.resume().await;
    eventually(|| async {
        let status = get(format!("{}/api/v1/status", alice.url)).await;
        (status["chain_reachable"] == json!(true)).then_some(())
    })
    .await;
    let before = on_chain(&net).await;
    change(&bob.url, &token, &a, json!({ "state": "closed" })).await;
    mine_until_settled(&net, &alice, &token, &b).await;
    let after = on_chain(&net).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (65, 35));
    alice.stop().await;
    bob.stop().await;
}

/// The RPC endpoint takes connections and never answers (its upstream lost): the node's
/// chain poll waits, but payments in its channels go on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_does_not_hold_up_payments() {
    let Lab { net, network, dir, _root } = lab(2).await;
    let mut relay = Relay::in_front_of(&net).await;
    let alice = start_via(&net, relay.url(), ALICE, &network, &dir[0], None).await;
    let bob = start_via(&net, relay.url(), BOB, &network, &dir[1], None).await;
    let token = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(ALICE)), format!("{:?}", net.address(BOB)));
    open(&alice.url, &token, &b, json!("100")).await;
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.1 == "100") }).await;
    relay.hang().await;
    tokio::time::sleep(Duration::from_millis(300)).await; // both nodes are now stuck polling
    for amount in ["10", "15"] {
        pay(&alice.url, &token, &b, json!({ "amount": amount })).await;
    }
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.0 == "25") }).await;
    alice.stop().await;
    bob.stop().await;
}

trait ChannelState {
    async fn state_of_channel(&self, a: usize, b: usize) -> u8;
}

impl ChannelState for DevNet {
    async fn state_of_channel(&self, a: usize, b: usize) -> u8 {
        self.network
            .getChannelInfo(*self.token.address(), self.address(a), self.address(b))
            .call()
            .await
            .unwrap()
            .state
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fee_policies_through_the_api() {
    let Lab { net, network, dir, _root } = lab(1).await;
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let token = format!("{:?}", net.token.address());
    let b = format!("{:?}", net.address(BOB));
    open(&alice.url, &token, &b, json!("10")).await;
    eventually(|| async { channel(&alice.url, &token, &b).await }).await;
    let put =
        |body: Value| call(reqwest::Method::PUT, format!("{}/api/v1/fees", alice.url), Some(body));
    assert_eq!(put(json!({ "flat": "1", "proportional_ppm": 100 })).await.0, 200);
    assert_eq!(put(json!({ "token": token, "flat": 2, "proportional_ppm": 0 })).await.0, 200);
    assert_eq!(
        put(json!({ "token": token, "partner": b, "flat": "3", "proportional_ppm": 0 })).await.0,
        200
    );
    let (status, body) = put(json!({ "flat": "1", "proportional_ppm": 2_000_000 })).await;
    assert_eq!((status, body["error"]["code"].clone()), (400, json!("bad_request")));
    let (status, _) = put(json!({ "partner": b, "flat": "1", "proportional_ppm": 0 })).await;
    assert_eq!(status, 400);
    let (status, _) =
        put(json!({ "token": token, "partner": format!("{:?}", net.address(CHARLIE)), "flat": "1", "proportional_ppm": 0 }))
            .await;
    assert_eq!(status, 404);
    let fees = get(format!("{}/api/v1/fees", alice.url)).await;
    assert_eq!(
        fees["default"],
        json!({ "flat": "1", "proportional_ppm": 100, "imbalance_ppm": 0 })
    );
    assert_eq!(fees["tokens"].as_object().unwrap().len(), 1);
    assert_eq!(fees["channels"].as_object().unwrap().values().next().unwrap()["flat"], "3");
    // a swap leg: Bob holds a secret; Alice pays against its hash only
    let bob = start(&net, BOB, &network, &dir_b(&_root), None).await;
    // Bob's node has just started: it must have read the channel's opening from the chain
    // before Alice's transfer arrives (the in-process network does not deliver again)
    let a = format!("{:?}", net.address(ALICE));
    eventually(|| async { channel(&bob.url, &token, &a).await }).await;
    let secret = format!("0x{}", "ab".repeat(32));
    let url = format!("{}/api/v1/known_secrets", bob.url);
    let body = ok(reqwest::Method::POST, url, json!({ "secret": secret })).await;
    let hash = body["secrethash"].as_str().unwrap().to_string();
    let (status, body) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/payments/{token}/{b}", alice.url),
        Some(json!({ "amount": "4", "secret_hash": hash, "secret": format!("0x{}", "cd".repeat(32)) })),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("refused")),
        "mismatched secret"
    );
    let body = pay(&alice.url, &token, &b, json!({ "amount": "4", "secret_hash": hash })).await;
    assert_eq!(body["secrethash"], json!(hash));
    eventually(|| async { balances(&alice.url, &token, &b).await.filter(|x| x.0 == "6") }).await;
    bob.stop().await;
    let status = get(format!("{}/api/v1/status", alice.url)).await;
    assert!(status["chain_head"].as_u64().is_some());
    assert_eq!(status["syncing"], json!(false));
    assert_eq!(status["peers"], json!(0), "Bob left");
    alice.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposit_withdraw_and_cooperative_settle_through_the_api() {
    let net = DevNet::start().await.unwrap();
    net.mint(net.address(ALICE), 1_000).await.unwrap();
    net.mint(net.address(BOB), 1_000).await.unwrap();
    let (_root, dir) = dirs(2);
    let network = LocalNetwork::new();
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    let token = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(ALICE)), format!("{:?}", net.address(BOB)));
    let patch = |node: &TestNode, partner: &str, body: Value| {
        call(
            reqwest::Method::PATCH,
            format!("{}/api/v1/channels/{token}/{partner}", node.url),
            Some(body),
        )
    };
    open(&alice.url, &token, &b, json!("100")).await;
    eventually(|| async { channel(&bob.url, &token, &a).await }).await;
    // deposits by both sides
    let (status, body) = patch(&alice, &b, json!({ "deposit": "20" })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = patch(&bob, &a, json!({ "deposit": 50 })).await;
    assert_eq!(status, 200, "{body}");
    eventually(|| async {
        balances(&alice.url, &token, &b).await.filter(|x| x == &("120".into(), "50".into()))
    })
    .await;
    pay(&alice.url, &token, &b, json!({ "amount": "30" })).await;
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.0 == "80") }).await;
    // Bob withdraws 25 of his 80 without closing: a new epoch with deposits 90 / 55
    let epoch = channel(&bob.url, &token, &a).await.unwrap()["epoch"].as_u64().unwrap();
    let bob_before = net.balance(net.address(BOB)).await.unwrap();
    let (status, body) = patch(&bob, &a, json!({ "withdraw": "25" })).await;
    assert_eq!(status, 200, "{body}");
    let c = eventually(|| async {
        channel(&bob.url, &token, &a)
            .await
            .filter(|c| c["epoch"].as_u64() != Some(epoch) && c["state"] == "open")
    })
    .await;
    assert_eq!((c["deposit"].as_str(), c["partner_deposit"].as_str()), (Some("55"), Some("90")));
    assert_eq!(net.balance(net.address(BOB)).await.unwrap() - bob_before, 25);
    // payments go on in the new epoch, then Alice settles cooperatively
    pay(&bob.url, &token, &a, json!({ "amount": "5" })).await;
    eventually(|| async { balances(&alice.url, &token, &b).await.filter(|x| x.0 == "95") }).await;
    let before = on_chain(&net).await;
    let (status, body) = patch(&alice, &b, json!({ "state": "settled" })).await;
    assert_eq!(status, 200, "{body}");
    eventually(|| async { channel(&alice.url, &token, &b).await.is_none().then_some(()) }).await;
    eventually(|| async { channel(&bob.url, &token, &a).await.is_none().then_some(()) }).await;
    let after = on_chain(&net).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (95, 50));
    // acting on a channel that is gone: a clear 404
    let (status, body) = patch(&alice, &b, json!({ "state": "closed" })).await;
    assert_eq!((status, body["error"]["code"].clone()), (404, json!("not_found")));
    alice.stop().await;
    bob.stop().await;
}

fn dir_b(root: &tempfile::TempDir) -> PathBuf {
    root.path().join("bob")
}

/// A channel the partner opened with a settle window this node does not accept (finding 4 and
/// 11 of the fund-safety review: the opener alone picks the timeout): the node refuses to
/// deposit into it, with the reason, and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_opened_channel_outside_the_accepted_window_gets_no_deposit() {
    use photon_testkit::devnet::send;
    let Lab { net, network, dir, _root } = lab(1).await;
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let token = format!("{:?}", net.token.address());
    let b = format!("{:?}", net.address(BOB));
    // Bob opens with a 20-block window (the contract allows 5 and up; the node wants 60)
    let short = net.network.openChannel(*net.token.address(), net.address(ALICE), 20);
    send(short.from(net.address(BOB))).await.unwrap();
    eventually(|| async { channel(&alice.url, &token, &b).await }).await;
    let (status, body) = call(
        reqwest::Method::PATCH,
        format!("{}/api/v1/channels/{token}/{b}", alice.url),
        Some(json!({ "deposit": "10" })),
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("refused")), "{body}");
    assert!(body.to_string().contains("outside the range this node accepts"), "{body}");
    assert_eq!(net.balance(net.address(ALICE)).await.unwrap(), 1_000, "nothing deposited");
    alice.stop().await;
}

/// A retried payment request (the same `payment_id`: after a timeout, a crash of the app, or
/// a restart of the node) answers the first one's outcome and never pays twice; the id with
/// other terms is refused; a new id pays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_payment_never_pays_twice() {
    let Lab { net, network, dir, _root } = lab(2).await;
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    let token = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(ALICE)), format!("{:?}", net.address(BOB)));
    open(&alice.url, &token, &b, json!("100")).await;
    eventually(|| async { balances(&alice.url, &token, &b).await.filter(|x| x.0 == "100") }).await;
    eventually(|| async { channel(&bob.url, &token, &a).await }).await;
    let pay_as = |url: String, id: u64, amount: &'static str| {
        let url = format!("{url}/api/v1/payments/{token}/{b}");
        async move {
            call(reqwest::Method::POST, url, Some(json!({ "amount": amount, "payment_id": id })))
                .await
        }
    };
    let (status, first) = pay_as(alice.url.clone(), 42, "7").await;
    assert_eq!(status, 200, "{first}");
    for _ in 0..3 {
        let (status, again) = pay_as(alice.url.clone(), 42, "7").await;
        assert_eq!(status, 200, "{again}");
        assert_eq!((&again["payment_id"], &again["amount"]), (&json!(42), &json!("7")));
    }
    let (status, other) = pay_as(alice.url.clone(), 42, "8").await;
    assert_eq!((status, other["error"]["code"].clone()), (409, json!("refused")), "{other}");
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.0 == "7") }).await;
    assert_eq!(balances(&alice.url, &token, &b).await.unwrap(), ("93".into(), "7".into()));

    // the node restarts: the id is remembered (from its history)
    alice.stop().await;
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let (status, again) = pay_as(alice.url.clone(), 42, "7").await;
    assert_eq!(status, 200, "{again}");
    let (status, _) = pay_as(alice.url.clone(), 43, "1").await;
    assert_eq!(status, 200);
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.0 == "8") }).await;
    assert_eq!(balances(&alice.url, &token, &b).await.unwrap(), ("92".into(), "8".into()));
    let history = get(format!("{}/api/v1/payments?direction=sent", alice.url)).await;
    let ids: Vec<u64> =
        history.as_array().unwrap().iter().map(|p| p["payment_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![43, 42], "one record per payment");
    alice.stop().await;
    bob.stop().await;
}

/// A deposit path the token does not have is the caller's mistake: a 4xx that says so, and
/// nothing opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_path_the_token_lacks_is_refused_with_its_reason() {
    let Lab { net, network, dir, _root } = lab(1).await;
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let token = format!("{:?}", net.token.address());
    let b = format!("{:?}", net.address(BOB));
    for (via, says) in [("approve_and_call", "approveAndCall"), ("erc223", "ERC223")] {
        let (status, body) = call(
            reqwest::Method::PUT,
            format!("{}/api/v1/channels", alice.url),
            Some(json!({ "token": token, "partner": b, "deposit": "10", "via": via })),
        )
        .await;
        assert_eq!((status, &body["error"]["code"]), (409, &json!("chain_refused")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{body}");
    }
    assert_eq!(channel(&alice.url, &token, &b).await, None, "nothing opened");
    assert_eq!(net.balance(net.address(ALICE)).await.unwrap(), 1_000, "no token moved");
    alice.stop().await;
}

/// A payment as a resource: `"wait": false` answers 202 at once with the payment's id; its
/// state is followed by polling `GET /payments/{id}` and by the event stream; an unknown id is
/// a 404 and a malformed one a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asynchronous_payment_is_followed_by_polling_and_by_events() {
    let Lab { net, network, dir, _root } = lab(2).await;
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    let token = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(ALICE)), format!("{:?}", net.address(BOB)));
    open(&alice.url, &token, &b, json!("100")).await;
    eventually(|| async { balances(&alice.url, &token, &b).await.filter(|x| x.0 == "100") }).await;
    eventually(|| async { channel(&bob.url, &token, &a).await }).await;
    let mut stream =
        reqwest::Client::new().get(format!("{}/api/v1/events", alice.url)).send().await.unwrap();

    let url = format!("{}/api/v1/payments/{token}/{b}", alice.url);
    let (status, started) =
        call(reqwest::Method::POST, url, Some(json!({ "amount": "9", "wait": false }))).await;
    assert_eq!(status, 202, "{started}");
    let id = started["payment_id"].as_u64().expect("an id");
    assert!(id < (1 << 53), "a chosen id is exact in every JSON client");
    assert_eq!((&started["target"], &started["amount"]), (&json!(b), &json!("9")));
    let done = eventually(|| async {
        let status = get(format!("{}/api/v1/payments/{id}", alice.url)).await;
        (status["state"] == "succeeded").then_some(status)
    })
    .await;
    assert_eq!((&done["fee"], &done["route"]), (&json!("0"), &json!([a, b])), "{done}");
    assert_eq!(done["cancellable"], json!(false));
    // the stream told it too
    let mut seen = String::new();
    while !seen.contains(&format!("\"payment_id\":{id}")) || !seen.contains("payment_sent") {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.0 == "9") }).await;

    // a payment the node refuses at once answers its error, not 202
    let url = format!("{}/api/v1/payments/{token}/{b}", alice.url);
    let (status, body) =
        call(reqwest::Method::POST, url, Some(json!({ "amount": "1000", "wait": false }))).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")), "{body}");
    for (path, expected) in
        [("12345", 404), ("x1", 400), ("-1", 400), ("18446744073709551616", 400)]
    {
        let (status, body) =
            call(reqwest::Method::GET, format!("{}/api/v1/payments/{path}", alice.url), None).await;
        assert_eq!(status, expected, "{path}: {body}");
        let (status, body) =
            call(reqwest::Method::DELETE, format!("{}/api/v1/payments/{path}", alice.url), None)
                .await;
        assert_eq!(status, expected, "DELETE {path}: {body}");
    }
    // over: not cancellable
    let (status, body) =
        call(reqwest::Method::DELETE, format!("{}/api/v1/payments/{id}", alice.url), None).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("rejected")), "{body}");
    alice.stop().await;
    bob.stop().await;
}

/// Alice pays Charlie through Bob while Charlie is away: the payment waits for his secret
/// request, and Alice cancels it. It fails at once; when Charlie comes back and asks for the
/// secret he gets nothing; the lock expires and is removed, and nobody lost or gained a
/// token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_cancelled_before_its_secret_is_revealed_moves_nothing() {
    let Line { net, network, dir, _root, alice, bob, charlie, token, a, b, c } =
        line(settings).await;
    // Charlie goes away
    charlie.stop().await;

    let url = format!("{}/api/v1/payments/{token}/{c}", alice.url);
    let (status, started) =
        call(reqwest::Method::POST, url, Some(json!({ "amount": "20", "wait": false }))).await;
    assert_eq!(status, 202, "{started}");
    let id = started["payment_id"].as_u64().unwrap();
    assert_eq!((&started["state"], &started["cancellable"]), (&json!("pending"), &json!(true)));
    // the lock reached Bob, who offers it on to the absent Charlie
    eventually(|| async {
        let c = channel(&bob.url, &token, &c).await?;
        (c["locked"] == "20").then_some(())
    })
    .await;
    let cancelled =
        ok(reqwest::Method::DELETE, format!("{}/api/v1/payments/{id}", alice.url), json!(null))
            .await;
    assert_eq!((&cancelled["state"], &cancelled["cancellable"]), (&json!("failed"), &json!(false)));
    assert!(cancelled["reason"].as_str().unwrap().contains("cancel"), "{cancelled}");
    let (status, again) =
        call(reqwest::Method::DELETE, format!("{}/api/v1/payments/{id}", alice.url), None).await;
    assert_eq!(status, 409, "{again}");

    // Charlie comes back (and Bob, whose outbox sends again on a start): Bob's lock reaches
    // him, he asks Alice for the secret in vain
    let charlie = start(&net, CHARLIE, &network, &dir[2], None).await;
    bob.stop().await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    eventually(|| async {
        let ch = channel(&charlie.url, &token, &b).await?;
        (ch["partner_locked"] == "20").then_some(())
    })
    .await;
    assert_eq!(balances(&charlie.url, &token, &b).await.unwrap(), ("0".into(), "100".into()));
    // past the lock's expiry every lock goes, and no token moved
    let lock_timeout = Config::default().lock_timeout + Config::default().expiry_margin;
    net.mine(lock_timeout + 2).await.unwrap();
    for (url, partner, expected) in [
        (&alice.url, &b, ("100", "0")),
        (&bob.url, &a, ("0", "100")),
        (&bob.url, &c, ("100", "0")),
        (&charlie.url, &b, ("0", "100")),
    ] {
        eventually(|| async {
            let ch = channel(url, &token, partner).await?;
            (ch["locked"] == "0" && ch["partner_locked"] == "0").then_some(())
        })
        .await;
        let got = balances(url, &token, partner).await.unwrap();
        assert_eq!(got, (expected.0.into(), expected.1.into()), "{url} with {partner}");
    }
    let history = get(format!("{}/api/v1/payments?direction=received", charlie.url)).await;
    assert_eq!(history, json!([]), "Charlie received nothing");
    for node in [alice, bob, charlie] {
        node.stop().await;
    }
}

/// The OpenAPI document says exactly what the server takes and answers: schemathesis (pinned,
/// installed into `.venv` by `make schemathesis`) runs every check and every phase, stateful
/// included, against a node on anvil with a channel, its API behind a bearer token, and finds
/// nothing. Its JUnit report lands in the test's temporary directory and its findings in the
/// failure message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_the_openapi_document_does_not_say() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let fuzzer = std::env::var_os("PHOTON_SCHEMATHESIS")
        .map_or_else(|| root.join(".venv/bin/schemathesis"), PathBuf::from);
    assert!(
        fuzzer.exists(),
        "{} is missing: `make schemathesis` installs the pinned schemathesis",
        fuzzer.display()
    );
    let Lab { net, network, dir, _root } = lab(2).await;
    let token = "fuzz-token".to_string();
    let alice = start(&net, ALICE, &network, &dir[0], Some(token.clone())).await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    let erc20 = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(ALICE)), format!("{:?}", net.address(BOB)));
    let authed = |method: reqwest::Method, url: String, body: Option<Value>| {
        let mut request = reqwest::Client::new().request(method, url).bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let open = json!({ "token": erc20, "partner": b, "deposit": "100" });
    assert_eq!(
        authed(reqwest::Method::PUT, format!("{}/api/v1/channels", alice.url), Some(open)).await,
        201
    );
    eventually(|| async { channel(&bob.url, &erc20, &a).await }).await;

    let report = _root.path().join("schemathesis.xml");
    let output = tokio::process::Command::new(&fuzzer)
        .args(["--no-color", "--config-file"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", alice.url))
        .args(["--checks", "all", "--header", &format!("Authorization: Bearer {token}")])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&report)
        .current_dir(_root.path())
        .output()
        .await
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("Stateful"), "the stateful phase ran:\n{text}");
    // the node is whole: the channel is as it was, the node answers
    assert_eq!(balances_authed(&alice.url, &token, &erc20, &b).await, ("100".into(), "0".into()));
    alice.stop().await;
    bob.stop().await;
}

/// (our balance, the partner's) of the channel, through an API behind `token`.
async fn balances_authed(url: &str, token: &str, erc20: &str, partner: &str) -> (String, String) {
    let c: Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/channels/{erc20}/{partner}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (c["balance"].as_str().unwrap().into(), c["partner_balance"].as_str().unwrap().into())
}

/// `POST /shutdown` with a payment in flight: the node answers 202 and stops; started again it
/// still has the payment, which completes once its target is back. `GET /peers/{address}`
/// tells who is connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_shut_down_through_the_api_loses_no_payment_in_flight() {
    let Line { net, network, dir, _root, alice, bob, charlie, token, b, c, .. } =
        line(settings).await;
    charlie.stop().await;
    let peer = get(format!("{}/api/v1/peers/{b}", alice.url)).await;
    assert_eq!((&peer["connected"], &peer["connection"]), (&json!(true), &json!("direct")));
    let peer = get(format!("{}/api/v1/peers/{c}", alice.url)).await;
    assert_eq!((&peer["connected"], peer.get("connection")), (&json!(false), None), "{peer}");
    let (status, _) =
        call(reqwest::Method::GET, format!("{}/api/v1/peers/0x12", alice.url), None).await;
    assert_eq!(status, 400);

    // a payment to the absent Charlie waits; Alice is shut down through her API
    let url = format!("{}/api/v1/payments/{token}/{c}", alice.url);
    let (status, started) =
        call(reqwest::Method::POST, url, Some(json!({ "amount": "20", "wait": false }))).await;
    assert_eq!(status, 202, "{started}");
    let id = started["payment_id"].as_u64().unwrap();
    let (status, body) =
        call(reqwest::Method::POST, format!("{}/api/v1/shutdown", alice.url), None).await;
    assert_eq!((status, &body["accepted"]), (202, &json!(true)));
    let ended = tokio::time::timeout(Duration::from_secs(20), alice.task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "the node stopped cleanly: {ended:?}");
    alice.server.abort();

    // everyone back: the payment completes
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let status = get(format!("{}/api/v1/payments/{id}", alice.url)).await;
    assert_eq!(status["state"], json!("pending"), "kept across the shutdown: {status}");
    let charlie = start(&net, CHARLIE, &network, &dir[2], None).await;
    bob.stop().await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    eventually(|| async {
        let status = get(format!("{}/api/v1/payments/{id}", alice.url)).await;
        (status["state"] == "succeeded").then_some(())
    })
    .await;
    eventually(|| async { balances(&charlie.url, &token, &b).await.filter(|x| x.0 == "20") }).await;
    for node in [alice, bob, charlie] {
        node.stop().await;
    }
}

/// Bob runs without mediation: Alice's payment to Charlie through him fails, his deposits
/// untouched. Started again with mediation (a logged change of his parameters), he forwards
/// the next one. Parameters that cannot secure payments stop a node from starting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_run_without_mediation_forwards_nothing_until_it_mediates_again() {
    let no_mediation = |net: &DevNet| NodeSettings {
        protocol: Config { mediate: false, ..Config::default() },
        ..settings(net)
    };
    let Line { net, network, dir, _root, alice, bob, charlie, token, b, c, .. } =
        line(no_mediation).await;
    let rpc = net.chain.endpoint();
    let url = format!("{}/api/v1/payments/{token}/{c}", alice.url);
    let (status, body) =
        call(reqwest::Method::POST, url.clone(), Some(json!({ "amount": "20" }))).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("payment_failed")), "{body}");
    eventually(|| async { balances(&alice.url, &token, &b).await.filter(|x| x.0 == "100") }).await;
    assert_eq!(balances(&bob.url, &token, &c).await.unwrap(), ("100".into(), "0".into()));

    bob.stop().await;
    let broken = NodeSettings {
        protocol: Config { reveal_timeout: 0, ..Config::default() },
        ..settings(&net)
    };
    let signer = net.accounts[BOB].clone();
    let provider = photon_node::provider(rpc.clone(), &signer, net.deployment.chain_id).unwrap();
    let refused = Node::start(signer, provider, &dir[1], broken, Arc::new(network.clone())).await;
    assert!(
        matches!(&refused, Err(e) if e.to_string().contains("reveal timeout")),
        "{:?}",
        refused.map(|_| ())
    );
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    let (status, body) = call(reqwest::Method::POST, url, Some(json!({ "amount": "20" }))).await;
    assert_eq!(status, 200, "{body}");
    eventually(|| async { balances(&charlie.url, &token, &b).await.filter(|x| x.0 == "20") }).await;
    for node in [alice, bob, charlie] {
        node.stop().await;
    }
}

/// Units: `GET /tokens` lists the tokens with their symbol and decimals (a token that has
/// none shows none), channel views carry them, and the command line takes and shows amounts
/// in the display unit (or `--raw` smallest units), names a token by its symbol, takes the
/// API as `host:port`, and shows times as local dates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_show_their_units_and_the_command_line_speaks_them() {
    let Lab { net, network, dir, _root } = lab(2).await;
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let bob = start(&net, BOB, &network, &dir[1], None).await;
    let token = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(ALICE)), format!("{:?}", net.address(BOB)));
    open(&alice.url, &token, &b, json!("100")).await;
    // a "token" without code: no symbol, no decimals
    let bare = "0x00000000000000000000000000000000000000aa";
    let (status, body) = call(
        reqwest::Method::PUT,
        format!("{}/api/v1/channels", alice.url),
        Some(json!({ "token": bare, "partner": b })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    eventually(|| async { channel(&bob.url, &token, &a).await }).await;
    // both channels seen by Alice's node (the chain's events come at its next poll)
    let tokens = eventually(|| async {
        let tokens = get(format!("{}/api/v1/tokens", alice.url)).await;
        (tokens.as_array()?.iter().filter(|t| t["channels"] == json!(1)).count() == 2)
            .then_some(tokens)
    })
    .await;
    let listed = |address: &str| {
        tokens.as_array().unwrap().iter().find(|t| t["address"] == address).cloned().unwrap()
    };
    let ptt = listed(&token);
    assert_eq!(
        (&ptt["symbol"], &ptt["decimals"], &ptt["channels"]),
        (&json!("PTT"), &json!(18), &json!(1))
    );
    let none = listed(&format!("{:?}", bare.parse::<photon_primitives::Address>().unwrap()));
    assert_eq!((none.get("symbol"), none.get("decimals")), (None, None), "{none}");
    let view = channel(&alice.url, &token, &b).await.unwrap();
    assert_eq!((&view["symbol"], &view["decimals"]), (&json!("PTT"), &json!(18)));

    let api = alice.url.trim_start_matches("http://").to_string();
    let photon = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_photon"))
            .args(args)
            .args(["--api", &api])
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    // 5 smallest units of an 18-decimal token, by symbol (any case)
    let (ok, _, err) =
        tokio::task::block_in_place(|| photon(&["pay", "ptt", &b, "0.000000000000000005"]));
    assert!(ok, "{err}");
    let (ok, _, err) = tokio::task::block_in_place(|| photon(&["pay", &token, &b, "3", "--raw"]));
    assert!(ok, "{err}");
    eventually(|| async { balances(&bob.url, &token, &a).await.filter(|x| x.0 == "8") }).await;
    let (ok, out, err) = tokio::task::block_in_place(|| photon(&["channels"]));
    assert!(ok, "{err}");
    assert!(out.contains("0.000000000000000092 PTT"), "{out}");
    let (ok, out, _) = tokio::task::block_in_place(|| photon(&["channels", "--raw"]));
    assert!(ok && out.contains(" 92 ") && !out.contains("PTT"), "{out}");
    // the history's rows carry the token's units too
    let history = get(format!("{}/api/v1/payments?direction=sent", alice.url)).await;
    assert_eq!((&history[0]["symbol"], &history[0]["decimals"]), (&json!("PTT"), &json!(18)));
    let (ok, out, err) = tokio::task::block_in_place(|| photon(&["payments"]));
    assert!(ok, "{err}");
    let year = out.lines().nth(1).unwrap_or_default().split('-').next().unwrap_or_default();
    assert!(year.parse::<u32>().is_ok_and(|y| y >= 2024), "a local date: {out}");
    let (ok, out, _) = tokio::task::block_in_place(|| photon(&["tokens"]));
    assert!(ok && out.contains("PTT") && out.contains("18"), "{out}");
    // finer than the token's smallest unit, a fraction of raw units, an unknown symbol
    for (args, says) in [
        (vec!["pay", "PTT", b.as_str(), "0.0000000000000000001"], "18 decimals"),
        (vec!["pay", "PTT", b.as_str(), "1.5", "--raw"], "not an amount"),
        (vec!["pay", "NOPE", b.as_str(), "1"], "neither an address nor the symbol"),
        (vec!["pay", bare, b.as_str(), "0.5"], "does not say its decimals"),
    ] {
        let (ok, _, err) = tokio::task::block_in_place(|| photon(&args));
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(balances(&bob.url, &token, &a).await.unwrap().0, "8", "nothing more paid");
    // `photon shutdown` stops the node
    let (ok, out, err) = tokio::task::block_in_place(|| photon(&["shutdown"]));
    assert!(ok && out.contains("stopping"), "{out}{err}");
    let ended = tokio::time::timeout(Duration::from_secs(20), alice.task).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    alice.server.abort();
    bob.stop().await;
}

/// `GET /transactions` journals the node's transactions, those requests ask for and those
/// the protocol does, with their state and hash; a gas price cap refuses a request's
/// transaction while gas costs more, and sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_are_journaled_and_a_gas_cap_holds_requests_back() {
    let Lab { net, network, dir, _root } = lab(2).await;
    net.mint(net.address(BOB), 1_000).await.unwrap();
    let alice = start(&net, ALICE, &network, &dir[0], None).await;
    let capped = NodeSettings { max_gas_price: Some(1), ..settings(&net) };
    let bob = start_with(&net, net.chain.endpoint(), BOB, &network, &dir[1], None, capped).await;
    let token = format!("{:?}", net.token.address());
    let (a, b) = (format!("{:?}", net.address(ALICE)), format!("{:?}", net.address(BOB)));
    open(&alice.url, &token, &b, json!("100")).await;
    let journal = get(format!("{}/api/v1/transactions", alice.url)).await;
    let entries = journal.as_array().unwrap();
    assert!(!entries.is_empty(), "{journal}");
    for entry in entries {
        assert_eq!(
            (&entry["state"], &entry["protocol"]),
            (&json!("mined"), &json!(false)),
            "{entry}"
        );
        assert!(entry["hash"].as_str().is_some_and(|h| h.len() == 66), "{entry}");
    }
    let ids: Vec<u64> = entries.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    // the protocol's close shows as the protocol's
    eventually(|| async { channel(&bob.url, &token, &a).await }).await;
    change(&alice.url, &token, &b, json!({ "state": "closed" })).await;
    eventually(|| async {
        let journal = get(format!("{}/api/v1/transactions", alice.url)).await;
        let newest = journal.as_array()?.first()?.clone();
        (newest["protocol"] == json!(true) && newest["state"] == json!("mined")).then_some(())
    })
    .await;

    // Bob's cap (1 wei) is below anvil's gas price: his open is refused, nothing is sent
    let before = net.balance(net.address(BOB)).await.unwrap();
    let (status, body) = call(
        reqwest::Method::PUT,
        format!("{}/api/v1/channels", bob.url),
        Some(json!({ "token": token, "partner": a, "deposit": "10" })),
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("refused")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("cap"), "{body}");
    assert_eq!(get(format!("{}/api/v1/transactions", bob.url)).await, json!([]));
    assert_eq!(net.balance(net.address(BOB)).await.unwrap(), before);
    alice.stop().await;
    bob.stop().await;
}

/// A database written before the node logged its parameters (its log does not begin with
/// them) replays under what that build ran with — it mediated — and only then takes today's:
/// Bob, who mediated a payment under the old build, starts with `--no-mediation` (no replay
/// error, nothing lost) and forwards nothing more until he mediates again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_from_before_parameters_were_logged_replays_as_its_build_ran() {
    // no snapshot: the whole log replays at each start
    let whole = |net: &DevNet| NodeSettings { snapshot_every: 1_000_000, ..settings(net) };
    let Line { net, network, dir, _root, alice, bob, charlie, token, a, b, c } = line(whole).await;
    let (rpc, whole_log) = (net.chain.endpoint(), whole(&net));
    let url = format!("{}/api/v1/payments/{token}/{c}", alice.url);
    pay(&alice.url, &token, &c, json!({ "amount": "20" })).await;
    eventually(|| async { balances(&charlie.url, &token, &b).await.filter(|x| x.0 == "20") }).await;
    bob.stop().await;

    // as the previous build left it: no parameters record first
    let db = rusqlite::Connection::open(dir[1].join("photon.db")).unwrap();
    let snapshots: i64 = db.query_row("SELECT COUNT(*) FROM snapshots", [], |r| r.get(0)).unwrap();
    assert_eq!(snapshots, 0, "the whole log replays");
    let removed = db
        .execute("DELETE FROM state_changes WHERE id = (SELECT MIN(id) FROM state_changes)", [])
        .unwrap();
    assert_eq!(removed, 1);
    drop(db);

    let no_mediation = NodeSettings {
        protocol: Config { mediate: false, ..Config::default() },
        ..whole_log.clone()
    };
    let bob = start_with(&net, rpc.clone(), BOB, &network, &dir[1], None, no_mediation).await;
    assert_eq!(balances(&bob.url, &token, &a).await.unwrap(), ("20".into(), "80".into()));
    assert_eq!(balances(&bob.url, &token, &c).await.unwrap(), ("80".into(), "20".into()));
    let (status, body) =
        call(reqwest::Method::POST, url.clone(), Some(json!({ "amount": "5" }))).await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("payment_failed")), "{body}");
    bob.stop().await;
    let bob = start_with(&net, rpc, BOB, &network, &dir[1], None, whole_log).await;
    pay(&alice.url, &token, &c, json!({ "amount": "5" })).await;
    eventually(|| async { balances(&charlie.url, &token, &b).await.filter(|x| x.0 == "25") }).await;
    for node in [alice, bob, charlie] {
        node.stop().await;
    }
}

/// A payment's data reaches its target through a mediator: in the target's event stream, in
/// its history, still there after a restart; data the API cannot carry is refused and moves
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_sent_with_a_payment_reaches_the_target() {
    let Line { net, network, dir, _root, alice, bob, charlie, token, a, b, c } =
        line(settings).await;
    let mut stream =
        reqwest::Client::new().get(format!("{}/api/v1/events", charlie.url)).send().await.unwrap();
    let memo = format!("0x{}", hex_of(b"order #42: two coffees"));
    let paid = pay(&alice.url, &token, &c, json!({ "amount": "20", "data": memo })).await;
    let id = paid["payment_id"].as_u64().expect("an id");
    let mut seen = String::new();
    while !seen.contains(&format!("\"payment_id\":{id}")) {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.chunk())
            .await
            .expect("an event in time")
            .unwrap()
            .expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("payment_received") && seen.contains(&format!("\"data\":\"{memo}\"")),
        "{seen}"
    );
    let history = |url: String| async move {
        let rows = get(format!("{url}/api/v1/payments?direction=received")).await;
        rows.as_array().unwrap().iter().find(|p| p["payment_id"] == json!(id)).cloned()
    };
    let row = eventually(|| history(charlie.url.clone())).await;
    assert_eq!((&row["data"], &row["counterparty"]), (&json!(memo), &json!(a)), "{row}");
    // a payment without data shows none
    pay(&alice.url, &token, &b, json!({ "amount": "1" })).await;
    let plain = eventually(|| async {
        let rows = get(format!("{}/api/v1/payments?direction=received", bob.url)).await;
        rows.as_array().unwrap().first().cloned()
    })
    .await;
    assert!(plain.get("data").is_none(), "{plain}");

    // bad data: refused, nothing moves
    let before = balances(&alice.url, &token, &b).await;
    let url = format!("{}/api/v1/payments/{token}/{c}", alice.url);
    for bad in [
        json!("0x123"),
        json!("abcd"),
        json!(format!("0x{}", "00".repeat(257))),
        json!(null),
        json!([1]),
    ] {
        let (status, body) =
            call(reqwest::Method::POST, url.clone(), Some(json!({ "amount": "1", "data": bad })))
                .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    assert_eq!(balances(&alice.url, &token, &b).await, before);

    // the command line sends text and shows it in the target's history
    let photon = |api: &str, args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_photon"))
            .args(args)
            .args(["--api", api.trim_start_matches("http://")])
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, _, err) = tokio::task::block_in_place(|| {
        photon(&alice.url, &["pay", &token, &c, "2", "--raw", "--memo", "table 7 ☕"])
    });
    assert!(ok, "{err}");
    let listed = eventually(|| async {
        let (ok, out, _) =
            tokio::task::block_in_place(|| photon(&charlie.url, &["payments", "--raw"]));
        (ok && out.contains("with data \"table 7 ☕\"")).then_some(out)
    })
    .await;
    assert!(listed.contains("with data \"order #42: two coffees\""), "{listed}");
    let long = "x".repeat(257);
    let (ok, _, err) = tokio::task::block_in_place(|| {
        photon(&alice.url, &["pay", &token, &c, "2", "--raw", "--memo", &long])
    });
    assert!(!ok && err.contains("257 bytes"), "{err}");

    // the history keeps it across a restart
    charlie.stop().await;
    let charlie = start(&net, CHARLIE, &network, &dir[2], None).await;
    let row = eventually(|| history(charlie.url.clone())).await;
    assert_eq!(row["data"], json!(memo));
    for node in [alice, bob, charlie] {
        node.stop().await;
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
