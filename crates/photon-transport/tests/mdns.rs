//! mDNS discovery on a local network: two nodes, each in a network namespace of its own
//! joined by a veth pair (a two-host LAN made by the test), know nothing of each other but
//! their Ethereum addresses, find each other by multicast DNS and exchange a message.
//!
//! Multicast never leaves the namespaces. Creating them needs root and iproute2; set
//! `PHOTON_SKIP_NETNS=1` to skip the test on a machine without them.

use photon_primitives::messages::{Message, Processed};
use photon_primitives::{LocalSigner, Signer};
use photon_testkit::netns::{self, Lan};
use photon_transport::{start, Delivery, P2pConfig};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const TEST: &str = "two_nodes_on_a_local_network_find_each_other_by_mdns";
/// Set in the child processes: which of the two nodes this one is (1 or 2).
const ROLE: &str = "PHOTON_MDNS_ROLE";

fn key(role: u8) -> [u8; 32] {
    [0x40 + role; 32]
}

fn address(role: u8) -> photon_primitives::Address {
    LocalSigner::from_bytes(&key(role)).expect("valid key").address()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_a_local_network_find_each_other_by_mdns() {
    if let Ok(role) = std::env::var(ROLE) {
        let role: u8 = role.parse().expect("role 1 or 2");
        return node(role).await;
    }
    if netns::skip() {
        return;
    }
    let lan = Lan::create("mdns").expect("a local network in namespaces");
    let exe = std::env::current_exe().expect("the test binary");
    let children: Vec<_> = [1u8, 2]
        .iter()
        .map(|role| {
            lan.command(usize::from(*role) - 1, &exe)
                .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
                .env(ROLE, role.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a node in its namespace")
        })
        .collect();
    let outputs: Vec<Output> = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|c| c.wait_with_output().expect("wait")).collect()
    })
    .await
    .expect("join");
    for (i, output) in outputs.iter().enumerate() {
        assert!(
            output.status.success(),
            "node {} failed:\n{}\n{}",
            i + 1,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// One node: no bootstrap peer, no DHT record of the other; only mDNS can find it.
async fn node(role: u8) {
    let other = 3 - role;
    let (incoming_tx, mut incoming) = mpsc::channel(16);
    let (delivered_tx, mut delivered) = mpsc::unbounded_channel();
    let config = P2pConfig {
        listen: vec!["/ip4/0.0.0.0/tcp/0".parse().expect("multiaddr")],
        request_timeout: Duration::from_secs(2),
        mdns: true,
        ..P2pConfig::default()
    };
    let me = start(&key(role), config, incoming_tx, Some(delivered_tx)).await.expect("start");
    me.send_tagged(address(other), &Message::Processed(Processed { message_id: role.into() }), 7);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut received, mut acknowledged) = (false, false);
    while !(received && acknowledged) {
        let left = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            message = incoming.recv() => {
                let message = message.expect("transport running");
                assert_eq!(message.sender, address(other), "the session proves the sender");
                assert_eq!(message.message.message_id(), u64::from(other));
                let _ = message.respond.send(Delivery::Ack);
                received = true;
            }
            tag = delivered.recv() => {
                assert_eq!(tag.map(|r| (r.tag, r.refused)), Some((7, None)));
                acknowledged = true;
            }
            _ = tokio::time::sleep(left) => {
                panic!("node {role}: no peer found by mDNS in 60 s (received {received}, acknowledged {acknowledged})")
            }
        }
    }
    // stay a moment so that our answer reaches the other node before we go
    tokio::time::sleep(Duration::from_secs(2)).await;
}
