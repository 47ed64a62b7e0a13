//! Nodes behind NAT on a simulated internet made of network namespaces
//! ([`photon_testkit::netns::Internet`]): a public relay node, and homes behind NAT routers
//! (nftables masquerade, dropping whatever is not an answer), so that no home can dial
//! another. Each node runs on a thread inside its host's namespace.
//!
//! ```text
//!  Alice 192.168.1.2 ─ NAT 11.0.0.1 ─┐
//!                                    ├─ internet ── relay 11.0.0.10 (--relay-service)
//!  Bob   192.168.2.2 ─ NAT 11.0.0.2 ─┘
//! ```
//!
//! Needs root, iproute2 and nftables; `PHOTON_SKIP_NETNS=1` skips these tests.

use photon_primitives::messages::{Message, Processed};
use photon_primitives::Address;
use photon_testkit::netns::{self, Host, Internet, NatKind};
use photon_transport::{
    start, Connection, Delivery, DeliveryReport, Multiaddr, NetworkStatus, P2pConfig, P2pTransport,
    Reachability, RelayLimits,
};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

const RELAY: u8 = 0x71;
const ALICE: u8 = 0x72;
const BOB: u8 = 0x73;
const PORT: u16 = 4001;

fn key(n: u8) -> [u8; 32] {
    [n; 32]
}

fn peer_id(n: u8) -> String {
    photon_transport::identity::keypair(&key(n))
        .expect("valid key")
        .public()
        .to_peer_id()
        .to_string()
}

/// The relay's addresses, TCP and QUIC, as bootstrap peers give them.
fn relay_addrs() -> Vec<Multiaddr> {
    let id = peer_id(RELAY);
    [
        format!("/ip4/11.0.0.10/tcp/{PORT}/p2p/{id}"),
        format!("/ip4/11.0.0.10/udp/{PORT}/quic-v1/p2p/{id}"),
    ]
    .iter()
    .map(|a| a.parse().expect("multiaddr"))
    .collect()
}

fn listen_all() -> Vec<Multiaddr> {
    [format!("/ip4/0.0.0.0/tcp/{PORT}"), format!("/ip4/0.0.0.0/udp/{PORT}/quic-v1")]
        .iter()
        .map(|a| a.parse().expect("multiaddr"))
        .collect()
}

/// A node running on a host of the simulated internet; it acknowledges every message and
/// remembers their ids in the order they came.
struct Node {
    transport: P2pTransport,
    received: Arc<Mutex<Vec<u64>>>,
    delivered: mpsc::UnboundedReceiver<DeliveryReport>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Node {
    fn start(net: &Internet, host: Host, n: u8, config: P2pConfig) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        let thread = net.spawn(host, move || async move {
            let (incoming_tx, mut incoming) = mpsc::channel(1024);
            let (delivered_tx, delivered) = mpsc::unbounded_channel();
            let transport = start(&key(n), config, incoming_tx, Some(delivered_tx)).await;
            let ok = transport.is_ok();
            let _ = ready_tx.send(transport.map(|t| (t, delivered)));
            if !ok {
                return;
            }
            loop {
                tokio::select! {
                    message = incoming.recv() => {
                        let Some(message) = message else { break };
                        seen.lock().expect("lock").push(message.message.message_id());
                        let _ = message.respond.send(Delivery::Ack);
                    }
                    _ = &mut stopped => break,
                }
            }
        });
        let (transport, delivered) = ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the node thread answers")
            .expect("the transport starts");
        Self { transport, received, delivered, stop: Some(stop), thread: Some(thread) }
    }

    fn address(&self) -> Address {
        self.transport.address
    }

    fn status(&self) -> NetworkStatus {
        self.transport.status()
    }

    /// Sends messages `ids` to `to` (tagged with their ids).
    fn send(&self, to: Address, ids: std::ops::Range<u64>) {
        for id in ids {
            let message = Message::Processed(Processed { message_id: id });
            self.transport.send_tagged(to, &message, id);
        }
    }

    /// Waits until the messages tagged `ids` are acknowledged, each reported once.
    async fn delivered(&mut self, ids: std::ops::Range<u64>, within: Duration) {
        let mut left: BTreeSet<u64> = ids.collect();
        let deadline = Instant::now() + within;
        while !left.is_empty() {
            let report = tokio::time::timeout_at(deadline.into(), self.delivered.recv())
                .await
                .unwrap_or_else(|_| panic!("{} messages not delivered in {within:?}", left.len()))
                .expect("transport running");
            assert_eq!(report.refused, None);
            assert!(left.remove(&report.tag), "message {} reported twice", report.tag);
        }
    }

    fn received(&self) -> Vec<u64> {
        self.received.lock().expect("lock").clone()
    }

    /// Stops the node: its sockets close as if the process died.
    fn kill(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `node`'s status satisfies `ok`, or fails saying `what` with the status.
async fn until(node: &Node, what: &str, within: Duration, ok: impl Fn(&NetworkStatus) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let status = node.status();
        if ok(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} not within {within:?}; status: {status:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn relay(net: &Internet, limits: RelayLimits) -> Node {
    let config = P2pConfig {
        listen: listen_all(),
        relay_service: Some(limits),
        request_timeout: Duration::from_secs(3),
        ..P2pConfig::default()
    };
    Node::start(net, Host::Public(0), RELAY, config)
}

fn home(net: &Internet, i: usize, n: u8) -> Node {
    let config = P2pConfig {
        listen: listen_all(),
        bootstrap: relay_addrs(),
        request_timeout: Duration::from_secs(3),
        ..P2pConfig::default()
    };
    Node::start(net, Host::Home(i), n, config)
}

fn connection(node: &Node, peer: Address) -> Option<Connection> {
    node.status().peers.iter().find(|p| p.address == peer).map(|p| p.connection)
}

/// Waits until a home node found itself private and holds a reservation on the relay.
async fn reserved(node: &Node) {
    until(node, "private, with a relay reservation", Duration::from_secs(60), |s| {
        s.reachability == Reachability::Private && !s.relayed_addresses.is_empty()
    })
    .await;
}

fn internet(tag: &str, homes: &[NatKind]) -> Option<Internet> {
    if netns::skip() {
        return None;
    }
    // RUST_LOG=photon_transport=debug,libp2p_autonat=debug … shows what the nodes do
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Some(Internet::create(tag, 1, homes).expect("a simulated internet in namespaces"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_cone_nats_messages_go_through_the_relay_then_straight_after_hole_punching() {
    let Some(net) = internet("cone", &[NatKind::Cone, NatKind::Cone]) else { return };
    let relay = relay(&net, RelayLimits::default());
    let mut alice = home(&net, 0, ALICE);
    let mut bob = home(&net, 1, BOB);
    reserved(&alice).await;
    reserved(&bob).await;
    until(&relay, "the relay's answer to probes", Duration::from_secs(5), |s| {
        s.relay_service.as_ref().is_some_and(|r| r.reservations == 2)
    })
    .await;

    // neither can dial the other: the first messages find the peer in the DHT at its
    // relayed address
    alice.send(bob.address(), 0..20);
    bob.send(alice.address(), 100..120);
    alice.delivered(0..20, Duration::from_secs(60)).await;
    bob.delivered(100..120, Duration::from_secs(60)).await;
    // (the relay counts a circuit once its task has seen it: a moment after it carried them)
    until(&relay, "the first messages went through the relay", Duration::from_secs(10), |s| {
        s.relay_service.as_ref().is_some_and(|r| r.circuits_total >= 1)
    })
    .await;

    // both NATs keep a port's mapping for every destination: DCUtR punches a hole, and the
    // relayed connection is closed
    until(&alice, "a direct connection to Bob", Duration::from_secs(60), |s| {
        s.peers.iter().any(|p| p.address == bob.address() && p.connection == Connection::Direct)
    })
    .await;
    until(&relay, "no circuit left", Duration::from_secs(30), |s| {
        s.relay_service.as_ref().is_some_and(|r| r.circuits == 0)
    })
    .await;
    let before = relay.status().relay_service.expect("a relay");

    alice.send(bob.address(), 20..60);
    bob.send(alice.address(), 120..160);
    alice.delivered(20..60, Duration::from_secs(30)).await;
    bob.delivered(120..160, Duration::from_secs(30)).await;
    let after = relay.status().relay_service.expect("a relay");
    assert_eq!(after.circuits_total, before.circuits_total, "the relay carries no more traffic");
    assert_eq!(after.circuits, 0);
    assert_eq!(connection(&bob, alice.address()).map(|c| c.as_str()), Some("direct"));
    // in order, and everything arrived
    let got: Vec<u64> = bob.received().into_iter().collect::<BTreeSet<_>>().into_iter().collect();
    assert_eq!(got, (0..60).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_symmetric_nat_messages_keep_going_over_the_relay() {
    let Some(net) = internet("sym", &[NatKind::Cone, NatKind::Symmetric]) else { return };
    let relay = relay(&net, RelayLimits::default());
    let mut alice = home(&net, 0, ALICE);
    let mut bob = home(&net, 1, BOB);
    reserved(&alice).await;
    reserved(&bob).await;
    alice.send(bob.address(), 0..20);
    bob.send(alice.address(), 100..120);
    alice.delivered(0..20, Duration::from_secs(60)).await;
    bob.delivered(100..120, Duration::from_secs(60)).await;
    // hole punching had its chances (three attempts) and failed: still relayed
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(connection(&alice, bob.address()).map(|c| c.as_str()), Some("relayed"));
    assert_eq!(connection(&bob, alice.address()).map(|c| c.as_str()), Some("relayed"));
    alice.send(bob.address(), 20..40);
    bob.send(alice.address(), 120..140);
    alice.delivered(20..40, Duration::from_secs(30)).await;
    bob.delivered(120..140, Duration::from_secs(30)).await;
    let service = relay.status().relay_service.expect("a relay");
    assert!(service.circuits >= 1, "a circuit carries the traffic: {service:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_restart_loses_no_message_and_reservations_come_back() {
    let Some(net) = internet("rst", &[NatKind::Symmetric, NatKind::Symmetric]) else { return };
    let mut relay_node = relay(&net, RelayLimits::default());
    let mut alice = home(&net, 0, ALICE);
    let bob = home(&net, 1, BOB);
    reserved(&alice).await;
    reserved(&bob).await;
    alice.send(bob.address(), 0..10);
    alice.delivered(0..10, Duration::from_secs(60)).await;

    // the relay dies with messages on their way; more are sent while it is down
    alice.send(bob.address(), 10..30);
    relay_node.kill();
    alice.send(bob.address(), 30..50);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let relay_node = relay(&net, RelayLimits::default());
    // the reservations are asked for again, and everything gets through, in order
    reserved(&bob).await;
    alice.delivered(10..50, Duration::from_secs(90)).await;
    let received = bob.received();
    let mut first_seen = Vec::new();
    for id in received {
        if !first_seen.contains(&id) {
            first_seen.push(id);
        }
    }
    assert_eq!(first_seen, (0..50).collect::<Vec<_>>(), "every message, in order");
    assert!(relay_node.status().relay_service.is_some_and(|r| r.reservations >= 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_at_its_limits_refuses_a_reservation_with_a_clear_error() {
    let Some(net) = internet("lim", &[NatKind::Cone, NatKind::Cone]) else { return };
    let limits = RelayLimits { max_reservations: 1, ..RelayLimits::default() };
    let relay = relay(&net, limits);
    let alice = home(&net, 0, ALICE);
    reserved(&alice).await;
    let bob = home(&net, 1, BOB);
    until(&bob, "a refused reservation", Duration::from_secs(60), |s| {
        s.reachability == Reachability::Private
            && s.relays.iter().any(|r| r.error.as_deref().is_some_and(|e| e.contains("limits")))
    })
    .await;
    let service = relay.status().relay_service.expect("a relay");
    assert!(service.reservations_refused >= 1);
    assert_eq!(service.reservations, 1);
    assert!(bob.status().relayed_addresses.is_empty());
}
