//! The web dashboard in a real browser: three nodes in this process on a real anvil, each
//! serving the dashboard on its API address (Charlie's behind an API token), and Playwright
//! (`tests/ui/dashboard.spec.mjs`, the pinned `@playwright/test` in ./node_modules) driving the
//! system's Chromium through it. `make test-ui` runs this test alone; it needs `make toolchain`
//! (Playwright) and Debian's `chromium` (which `make test` installs when it is missing).
//! Screenshots of every page go to `$PHOTON_UI_SCREENSHOTS` (default: a temporary directory;
//! `make ui-screenshots` refreshes the ones in docs/ui/).

mod common;

use photon_node::runtime::NodeSettings;
use photon_node::transport::LocalNetwork;
use photon_node::{Node, NodeHandle};
use photon_testkit::devnet::DevNet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const ALICE: usize = 1;
const BOB: usize = 2;
const CHARLIE: usize = 3;
/// One token of the dev chain's (18 decimals).
const PTT: u128 = 1_000_000_000_000_000_000;

struct UiNode {
    handle: NodeHandle,
    url: String,
    task: tokio::task::JoinHandle<Result<(), photon_node::NodeError>>,
    server: tokio::task::JoinHandle<()>,
}

async fn start(
    net: &DevNet, i: usize, network: &LocalNetwork, dir: &Path, token: Option<String>,
) -> UiNode {
    let settings = NodeSettings {
        poll_interval: Duration::from_millis(100),
        snapshot_every: 100,
        payment_timeout: Duration::from_secs(30),
        ..common::settings(net)
    };
    let signer = net.accounts[i].clone();
    let provider =
        photon_node::provider(net.chain.endpoint(), &signer, net.deployment.chain_id).unwrap();
    let (node, handle) =
        Node::start(signer, provider, dir, settings, Arc::new(network.clone())).await.unwrap();
    network.join(handle.address, handle.inbox());
    let task = tokio::spawn(node.run());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = photon_node::api::app(handle.clone(), token, true);
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    UiNode { handle, url, task, server }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    let chromium = std::env::var("PHOTON_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: `make test` installs Debian's `chromium` (or set PHOTON_CHROMIUM)"
    );
    let playwright = repo().join("node_modules/.bin/playwright");
    assert!(playwright.exists(), "no Playwright: run `make toolchain`");

    let net = DevNet::start().await.unwrap();
    for who in [ALICE, BOB] {
        net.mint(net.address(who), 1_000 * PTT).await.unwrap();
    }
    let root = tempfile::tempdir().unwrap();
    let network = LocalNetwork::new();
    let charlie_token = "charlie's secret token".to_string();
    let alice = start(&net, ALICE, &network, &root.path().join("alice"), None).await;
    let bob = start(&net, BOB, &network, &root.path().join("bob"), None).await;
    let charlie =
        start(&net, CHARLIE, &network, &root.path().join("charlie"), Some(charlie_token.clone()))
            .await;
    // Bob's channel with Charlie: the network page draws it two hops from Alice
    let client = reqwest::Client::new();
    let token = format!("{:?}", net.token.address());
    let opened = client
        .put(format!("{}/api/v1/channels", bob.url))
        .json(&serde_json::json!({
            "token": token,
            "partner": format!("{:?}", net.address(CHARLIE)),
            "deposit": (10 * PTT).to_string(),
        }))
        .send()
        .await
        .unwrap();
    assert!(opened.status().is_success(), "{}", opened.text().await.unwrap_or_default());
    // Alice's node knows that channel before the browser looks
    let mut known = false;
    for _ in 0..200 {
        let network: serde_json::Value = client
            .get(format!("{}/api/v1/network", alice.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if network.as_array().is_some_and(|n| !n.is_empty()) {
            known = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(known, "Alice's node never saw Bob's channel with Charlie");

    let screenshots = std::env::var_os("PHOTON_UI_SCREENSHOTS")
        .map_or_else(|| root.path().join("screenshots"), PathBuf::from);
    let results = root.path().join("results");
    let ui = repo().join("crates/photon-node/tests/ui");
    let out = tokio::process::Command::new(&playwright)
        .arg("test")
        .arg("--config")
        .arg(ui.join("playwright.config.mjs"))
        .current_dir(&ui)
        .env("CI", "1")
        .env("PHOTON_CHROMIUM", &chromium)
        .env("PHOTON_UI_ALICE", &alice.url)
        .env("PHOTON_UI_BOB", &bob.url)
        .env("PHOTON_UI_CHARLIE", &charlie.url)
        .env("PHOTON_UI_CHARLIE_TOKEN", &charlie_token)
        .env("PHOTON_UI_BOB_ADDRESS", format!("{:?}", net.address(BOB)))
        .env("PHOTON_UI_TOKEN", &token)
        .env("PHOTON_UI_SCREENSHOTS", &screenshots)
        .env("PHOTON_UI_RESULTS", &results)
        .output()
        .await
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    println!("{}", text(&out.stdout));
    if !out.status.success() {
        // what Playwright saw (each failed test's page and error context) outlives the test
        let kept = std::env::temp_dir().join(format!("photon-ui-failure-{}", std::process::id()));
        let _ = std::process::Command::new("cp").arg("-r").arg(&results).arg(&kept).status();
        panic!(
            "the dashboard test failed (its pages kept in {}):\n{}\n{}",
            kept.display(),
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    for page in ["overview", "channels", "pay", "payments", "swaps", "network", "phone-channels"] {
        assert!(screenshots.join(format!("{page}.png")).exists(), "no screenshot of {page}");
    }
    for node in [alice, bob, charlie] {
        node.handle.shutdown();
        let _ = node.task.await;
        node.server.abort();
    }
}
