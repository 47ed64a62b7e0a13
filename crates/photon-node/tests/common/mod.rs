//! Helpers shared by the tests that run nodes inside the test process (`api.rs`, `p2p.rs`,
//! `ui.rs`).
//! Tests that run `photon` processes use `photon_testkit::nodes`.

#![allow(dead_code)] // each test file uses its own part

use serde_json::{json, Value};

/// The settings of a node in these tests: the dev chain's deployment, no confirmations, a fast
/// poll, the default protocol parameters (a test changes what it needs with `..settings(net)`).
pub(crate) fn settings(net: &photon_testkit::devnet::DevNet) -> photon_node::runtime::NodeSettings {
    photon_node::runtime::NodeSettings {
        deployment: net.deployment.clone(),
        confirmations: 0,
        poll_interval: std::time::Duration::from_millis(40),
        snapshot_every: 25,
        history_retention: None,
        protocol: photon_state::Config::default(),
        payment_timeout: std::time::Duration::from_secs(20),
        settle_timeout: photon_primitives::SettleTimeout(100),
        p2p_addresses: Vec::new(),
        monitor: None,
        pfs: None,
        max_gas_price: None,
    }
}

/// Calls an API and returns the status and the body (JSON, or the text as a JSON string).
pub(crate) async fn call(
    method: reqwest::Method, url: String, body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the node answers");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A request that must answer 200; its body.
pub(crate) async fn ok(method: reqwest::Method, url: String, body: Value) -> Value {
    let what = format!("{method} {url}");
    let (status, body) = call(method, url, Some(body)).await;
    assert_eq!(status, 200, "{what}: {body}");
    body
}

/// The node at `url` pays `target` (`body`: amount and options); must succeed.
pub(crate) async fn pay(url: &str, token: &str, target: &str, body: Value) -> Value {
    ok(reqwest::Method::POST, format!("{url}/api/v1/payments/{token}/{target}"), body).await
}

/// The node at `url` changes its channel with `partner` (`body`: deposit, withdraw or state);
/// must succeed.
pub(crate) async fn change(url: &str, token: &str, partner: &str, body: Value) -> Value {
    ok(reqwest::Method::PATCH, format!("{url}/api/v1/channels/{token}/{partner}"), body).await
}

/// GET that must answer 200.
pub(crate) async fn get(url: String) -> Value {
    let (status, body) = call(reqwest::Method::GET, url, None).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls `probe` until it returns `Some` (the testkit's one polling loop, with its patience).
pub(crate) async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    mut probe: impl FnMut() -> F,
) -> T {
    photon_testkit::poll::eventually("a condition of the test", async || Ok(probe().await))
        .await
        .expect("the condition holds in time")
}

/// Polls `probe` until it is true.
pub(crate) async fn until(mut probe: impl AsyncFnMut() -> bool) {
    photon_testkit::poll::until("a condition of the test", async || Ok(probe().await))
        .await
        .expect("the condition holds in time")
}

/// The channel of the node at `url` with `partner`, if it has one.
pub(crate) async fn channel(url: &str, token: &str, partner: &str) -> Option<Value> {
    let (status, body) =
        call(reqwest::Method::GET, format!("{url}/api/v1/channels/{token}/{partner}"), None).await;
    (status == 200).then_some(body)
}

/// (our balance, partner's balance) of the node at `url` in its channel with `partner`.
pub(crate) async fn balances(url: &str, token: &str, partner: &str) -> Option<(String, String)> {
    let c = channel(url, token, partner).await?;
    Some((c["balance"].as_str()?.to_string(), c["partner_balance"].as_str()?.to_string()))
}

/// The node at `url` opens a channel with `partner`, depositing `deposit` (a JSON amount).
pub(crate) async fn open(url: &str, token: &str, partner: &str, deposit: Value) {
    let body = json!({ "token": token, "partner": partner, "deposit": deposit });
    let (status, body) =
        call(reqwest::Method::PUT, format!("{url}/api/v1/channels"), Some(body)).await;
    assert_eq!(status, 201, "{body}");
}

/// A node running in the test process with its API on 127.0.0.1.
pub(crate) struct TestNode {
    pub(crate) handle: photon_node::NodeHandle,
    pub(crate) url: String,
    task: tokio::task::JoinHandle<Result<(), photon_node::NodeError>>,
    server: tokio::task::JoinHandle<()>,
}

impl TestNode {
    /// Stops the node and its API.
    pub(crate) async fn stop(self) {
        self.handle.shutdown();
        let _ = self.task.await;
        self.server.abort();
    }

    /// The typed client of its API.
    pub(crate) fn client(&self) -> photon_api::Client {
        photon_api::Client::new(&self.url, None)
    }
}

/// Starts dev account `i` of `net` as a node in `dir` on `network`, its API without a token.
pub(crate) async fn start_node(
    net: &photon_testkit::devnet::DevNet, i: usize, network: &photon_node::transport::LocalNetwork,
    dir: &std::path::Path, settings: photon_node::runtime::NodeSettings,
) -> TestNode {
    let signer = net.accounts[i].clone();
    let provider =
        photon_node::provider(net.chain.endpoint(), &signer, net.deployment.chain_id).unwrap();
    let (node, handle) = photon_node::Node::start(
        signer,
        provider,
        dir,
        settings,
        std::sync::Arc::new(network.clone()),
    )
    .await
    .unwrap();
    network.join(handle.address, handle.inbox());
    let task = tokio::spawn(node.run());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = photon_node::api::router(handle.clone(), None);
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestNode { handle, url, task, server }
}
