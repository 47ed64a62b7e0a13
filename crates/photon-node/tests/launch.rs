//! `launch`, as the CLI and the embedded library start a node: stopping it ends the REST
//! API's event streams (a listening client does not hold the stop up) and frees the data
//! directory and ports for the next start; the metrics address serves `/health` and
//! `/metrics`, which show the payments made; the payment webhook reports payments received.

use photon_node::launch::{launch, LaunchConfig};
use photon_node::runtime::NodeSettings;
use photon_state::Config;
use photon_testkit::devnet::DevNet;
use std::time::Duration;

fn config(net: &DevNet, dir: &std::path::Path) -> LaunchConfig {
    config_of(net, 1, dir, Vec::new())
}

fn config_of(
    net: &DevNet, account: usize, dir: &std::path::Path, bootstrap: Vec<String>,
) -> LaunchConfig {
    LaunchConfig {
        key: net.accounts[account].clone(),
        rpc_url: net.chain.endpoint(),
        data_dir: dir.to_path_buf(),
        settings: NodeSettings {
            deployment: net.deployment.clone(),
            confirmations: 0,
            poll_interval: Duration::from_millis(40),
            snapshot_every: 1_000,
            history_retention: None,
            protocol: Config::default(),
            payment_timeout: Duration::from_secs(20),
            settle_timeout: photon_primitives::SettleTimeout(100),
            p2p_addresses: Vec::new(),
            monitor: None,
            pfs: None,
            max_gas_price: None,
        },
        p2p: photon_transport::P2pConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a multiaddr")],
            bootstrap: bootstrap.iter().map(|a| a.parse().expect("a multiaddr")).collect(),
            ..photon_transport::P2pConfig::default()
        },
        api: Some(("127.0.0.1:0".parse().expect("an address"), None)),
        ui: true,
        metrics: Some("127.0.0.1:0".parse().expect("an address")),
        webhook: None,
    }
}

/// A webhook receiver that refuses its first report (a 503: the node tries again) and keeps
/// the bodies of the others.
async fn webhook_receiver(
) -> (reqwest::Url, tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>) {
    let (seen, reports) = tokio::sync::mpsc::unbounded_channel();
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let app = axum::Router::new().route(
        "/paid",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let (seen, refused) = (seen.clone(), refused.clone());
            async move {
                if !refused.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let _ = seen.send(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/paid", listener.local_addr().unwrap()).parse().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, reports)
}

async fn text(url: String) -> (u16, String) {
    let response = reqwest::get(url).await.expect("answers");
    (response.status().as_u16(), response.text().await.expect("a body"))
}

/// The sample of `name` (with its labels) in a scrape.
fn value(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_the_event_streams_and_frees_the_data_directory() {
    let net = DevNet::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let running = launch(config(&net, dir.path())).await.unwrap();
    let api = running.api_addr.expect("an API");
    let metrics = running.metrics_addr.expect("metrics");
    let (status, health) = text(format!("http://{metrics}/health")).await;
    assert_eq!(status, 200, "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    let (status, scrape) = text(format!("http://{metrics}/metrics")).await;
    assert_eq!(status, 200);
    assert_eq!(value(&scrape, "photon_payments_total{outcome=\"sent\"}"), Some(0.0), "{scrape}");
    assert_eq!(value(&scrape, "photon_chain_reachable"), Some(1.0), "{scrape}");
    // the dashboard on the API address, asked for in the configuration
    let (status, page) = text(format!("http://{api}/ui/")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>Photon node</title>"), "{page}");
    let mut events = reqwest::get(format!("http://{api}/api/v1/events")).await.unwrap();
    assert!(events.status().is_success());
    running.stop().await.unwrap();
    // the stream ends cleanly: the server closed it rather than the stop giving up on it
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match events.chunk().await {
                Ok(Some(_)) => continue, // a keep-alive or an event sent before the stop
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    assert!(matches!(ended, Ok(Ok(()))), "the event stream did not end: {ended:?}");
    assert!(reqwest::get(format!("http://{metrics}/health")).await.is_err(), "metrics closed");
    // and the same data directory starts again at once
    let again = launch(config(&net, dir.path())).await.unwrap();
    again.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_payments_made_and_received() {
    let net = DevNet::start().await.unwrap();
    let (alice_key, bob_key) = (net.accounts[1].clone(), net.accounts[2].clone());
    use photon_primitives::Signer;
    net.mint(alice_key.address(), 1_000).await.unwrap();
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (webhook, mut reports) = webhook_receiver().await;
    let bob_config = config_of(&net, 2, dirs.1.path(), Vec::new());
    let bob = launch(LaunchConfig { webhook: Some(webhook), ..bob_config }).await.unwrap();
    let boot = bob.handle.status().await.unwrap().p2p_addresses;
    let alice = launch(config_of(&net, 1, dirs.0.path(), boot)).await.unwrap();
    let token = *net.token.address();
    let open = photon_api::OpenChannel {
        token,
        partner: bob_key.address(),
        settle_timeout: None,
        deposit: Some(photon_api::Amount(100)),
        via: photon_api::Via::Approve,
    };
    alice.handle.open_channel(open).await.unwrap();
    photon_testkit::poll::eventually("both see the deposit", async || {
        let a = alice.handle.channels().await?;
        let b = bob.handle.channels().await?;
        Ok((a.first().is_some_and(|c| c.deposit.0 == 100)
            && b.first().is_some_and(|c| c.partner_deposit.0 == 100))
        .then_some(()))
    })
    .await
    .unwrap();
    let pay = photon_api::Pay {
        amount: photon_api::Amount(5),
        payment_id: Some(1),
        ..photon_api::Pay::default()
    };
    alice.handle.pay(token, bob_key.address(), pay).await.unwrap();
    let scrape_of = |node: &photon_node::launch::RunningNode| {
        format!("http://{}/metrics", node.metrics_addr.expect("metrics"))
    };
    let (alice_url, bob_url) = (scrape_of(&alice), scrape_of(&bob));
    let (_, scrape) = text(alice_url).await;
    assert_eq!(value(&scrape, "photon_payments_total{outcome=\"sent\"}"), Some(1.0), "{scrape}");
    assert_eq!(value(&scrape, "photon_payment_duration_seconds_count"), Some(1.0), "{scrape}");
    assert_eq!(value(&scrape, "photon_payment_duration_seconds_bucket{le=\"+Inf\"}"), Some(1.0));
    let token_label = format!("{{token=\"{token:#x}\"}}");
    assert_eq!(value(&scrape, &format!("photon_balance_tokens{token_label}")), Some(95.0));
    assert_eq!(value(&scrape, &format!("photon_deposit_tokens{token_label}")), Some(100.0));
    let open_label = format!("photon_channels{{token=\"{token:#x}\",state=\"open\"}}");
    assert_eq!(value(&scrape, &open_label), Some(1.0), "{scrape}");
    photon_testkit::poll::eventually("Bob counts it", async || {
        let (_, scrape) = text(bob_url.clone()).await;
        Ok((value(&scrape, "photon_payments_total{outcome=\"received\"}") == Some(1.0))
            .then_some(()))
    })
    .await
    .unwrap();
    // Bob's webhook got the payment, on the second try
    let report = tokio::time::timeout(Duration::from_secs(20), reports.recv())
        .await
        .expect("a report in time")
        .expect("the receiver runs");
    assert_eq!(report["type"], "payment_received", "{report}");
    assert_eq!(
        (&report["payment_id"], &report["amount"]),
        (&serde_json::json!(1), &serde_json::json!("5"))
    );
    assert_eq!(report["initiator"], serde_json::json!(format!("{:#x}", alice_key.address())));
    alice.stop().await.unwrap();
    bob.stop().await.unwrap();
}
