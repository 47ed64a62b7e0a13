//! `launch`, as the CLI and the embedded library start a node: stopping it ends the REST
//! API's event streams (a listening client does not hold the stop up) and frees the data
//! directory and ports for the next start.

use photon_node::launch::{launch, LaunchConfig};
use photon_node::runtime::NodeSettings;
use photon_state::Config;
use photon_testkit::devnet::DevNet;
use std::time::Duration;

fn config(net: &DevNet, dir: &std::path::Path) -> LaunchConfig {
    LaunchConfig {
        key: net.accounts[1].clone(),
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
        },
        p2p: photon_transport::P2pConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("a multiaddr")],
            ..photon_transport::P2pConfig::default()
        },
        api: Some(("127.0.0.1:0".parse().expect("an address"), None)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_ends_the_event_streams_and_frees_the_data_directory() {
    let net = DevNet::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let running = launch(config(&net, dir.path())).await.unwrap();
    let api = running.api_addr.expect("an API");
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
    // and the same data directory starts again at once
    let again = launch(config(&net, dir.path())).await.unwrap();
    again.stop().await.unwrap();
}
