//! Reaching nodes behind NAT: what the node learns of its own reachability (AutoNAT), the
//! reservations it holds on relays (circuit relay v2), and the relay service it may offer.
//!
//! ```text
//!   Alice (home NAT) ──dial──> relay R <──reservation── Bob (home NAT)
//!        └────── /…/p2p/R/p2p-circuit/p2p/Bob ──────────────┘
//!        └────── DCUtR: both dial at once, the NATs let the packets in ──┘ direct
//! ```
//!
//! A node starts as [`Reachability::Unknown`]. Relay nodes also answer AutoNAT probes: they
//! dial the addresses a node was seen at back, from a port of their own. One success makes
//! the node [`Reachability::Public`]; [`PRIVATE_AFTER`] failures with no success make it
//! [`Reachability::Private`], and a private node then keeps reservations on up to
//! [`MAX_RELAYS`] relays (those among its peers that speak the relay protocol, else relays
//! found in the DHT under [`relay_key`]), asks again with backoff when one is refused or lost,
//! and serves the DHT as a client only (others cannot dial it for queries).

use libp2p::core::transport::ListenerId;
use libp2p::kad::RecordKey;
use libp2p::multiaddr::Protocol;
use libp2p::{relay, Multiaddr, PeerId};
use photon_api::{Reachability, RelayState, RelayView};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failed reachability probes (and none succeeded) before a node counts as private. A
/// failure is the server's word that it dialled the address and could not connect (a probe
/// that times out, as a TCP dial into a NAT that drops it does, says nothing: see
/// [`UNKNOWN_GRACE`]).
pub const PRIVATE_AFTER: u32 = 1;
/// How long a node that has met a relay stays without reservations while its reachability
/// is still unknown (its probes keep timing out) before it takes them anyway: a reservation
/// costs little, being unreachable costs payments.
pub const UNKNOWN_GRACE: Duration = Duration::from_secs(30);
/// Relays a private node keeps reservations on.
pub const MAX_RELAYS: usize = 2;
/// First wait before asking a relay again after a refusal or a lost reservation.
const MIN_RETRY: Duration = Duration::from_secs(1);
/// Longest such wait.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// The DHT key under which relay nodes announce themselves.
pub fn relay_key() -> RecordKey {
    RecordKey::new(&b"/photon/relay/1")
}

/// Limits of the relay service a public node offers (`photon run --relay-service`).
///
/// A Photon relay carries payments, not only the first handshake: a node behind a symmetric
/// NAT stays relayed for good. The defaults allow a circuit 64 MiB and 30 minutes (libp2p's
/// are 128 KiB and 2 minutes, made for signalling); a closed circuit is reopened at the next
/// message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayLimits {
    /// Reservations held at once, over all peers.
    pub max_reservations: usize,
    /// Reservations one peer may hold at once.
    pub max_reservations_per_peer: usize,
    /// How long a reservation lasts (the holder renews it before it ends).
    pub reservation_duration: Duration,
    /// Circuits open at once, over all peers.
    pub max_circuits: usize,
    /// Circuits open at once from or to one peer.
    pub max_circuits_per_peer: usize,
    /// How long a circuit may stay open.
    pub max_circuit_duration: Duration,
    /// Bytes a circuit may carry, both directions together (0: unlimited).
    pub max_circuit_bytes: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_reservations: 512,
            max_reservations_per_peer: 2,
            reservation_duration: Duration::from_secs(3_600),
            max_circuits: 256,
            max_circuits_per_peer: 8,
            max_circuit_duration: Duration::from_secs(30 * 60),
            max_circuit_bytes: 64 << 20,
        }
    }
}

impl RelayLimits {
    /// libp2p's relay configuration for these limits.
    pub(crate) fn config(&self) -> relay::Config {
        relay::Config {
            max_reservations: self.max_reservations,
            // libp2p refuses only when a peer already holds *more* than its cap
            max_reservations_per_peer: self.max_reservations_per_peer.saturating_sub(1),
            reservation_duration: self.reservation_duration,
            max_circuits: self.max_circuits,
            max_circuits_per_peer: self.max_circuits_per_peer.saturating_sub(1),
            max_circuit_duration: self.max_circuit_duration,
            max_circuit_bytes: self.max_circuit_bytes,
            ..relay::Config::default()
        }
    }
}

/// Whether `addr` goes through a relay.
pub(crate) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

/// Whether `addr` is on the loopback interface.
pub(crate) fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}

/// How far an address reaches: a host's loopback, a private network (RFC 1918, carrier-grade
/// NAT's 100.64/10, link-local, IPv6 unique-local), or everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Loopback,
    Private,
    Global,
}

fn scope(addr: &Multiaddr) -> Scope {
    for p in addr.iter() {
        match p {
            Protocol::Ip4(ip) if ip.is_loopback() => return Scope::Loopback,
            Protocol::Ip4(ip) => {
                let [a, b, ..] = ip.octets();
                let cgnat = a == 100 && (64..128).contains(&b);
                return if ip.is_private() || ip.is_link_local() || cgnat {
                    Scope::Private
                } else {
                    Scope::Global
                };
            }
            Protocol::Ip6(ip) if ip.is_loopback() => return Scope::Loopback,
            Protocol::Ip6(ip) => {
                let first = ip.segments()[0];
                let local = (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80;
                return if local { Scope::Private } else { Scope::Global };
            }
            _ => {}
        }
    }
    Scope::Global // DNS names, relayed addresses without an IP
}

/// Whether a peer's advertised address `addr` is worth dialling for a node that met the
/// peer at `via`: a loopback address only from the same host, a private one only from a
/// private network. Dialling another home's 192.168.1.2 or 127.0.0.1 reaches someone else
/// (our own listener, a neighbour), and a wrong peer at one address fails the whole dial,
/// the relayed address with it. Relayed addresses are always worth it.
pub(crate) fn worth_dialling(addr: &Multiaddr, via: &Multiaddr) -> bool {
    is_relayed(addr) || scope(addr) >= scope(via)
}

/// The relay of a circuit listen address `…/p2p/<relay>/p2p-circuit`: its peer id and its
/// address without the peer id.
pub(crate) fn circuit_relay(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut before = Multiaddr::empty();
    let mut relay = None;
    for p in addr.iter() {
        match p {
            Protocol::P2pCircuit => return relay.map(|r| (r, before)),
            Protocol::P2p(peer) => relay = Some(peer),
            other => {
                if relay.is_some() {
                    return None; // a /p2p/ in the middle
                }
                before.push(other)
            }
        }
    }
    None
}

/// What a node has learnt of its own reachability.
#[derive(Debug, Default)]
pub(crate) struct Nat {
    /// Direct addresses probes reached.
    pub confirmed: Vec<Multiaddr>,
    failures: u32,
}

impl Nat {
    /// What the probes say.
    pub(crate) fn reachability(&self) -> Reachability {
        if !self.confirmed.is_empty() {
            Reachability::Public
        } else if self.failures >= PRIVATE_AFTER {
            Reachability::Private
        } else {
            Reachability::Unknown
        }
    }

    /// A probe failed to reach us at an address.
    pub(crate) fn failed(&mut self) {
        self.failures = self.failures.saturating_add(1);
    }

    /// A direct address was confirmed (by a probe) or expired.
    pub(crate) fn external(&mut self, addr: &Multiaddr, confirmed: bool) {
        if is_relayed(addr) {
            return;
        }
        self.confirmed.retain(|a| a != addr);
        if confirmed {
            self.confirmed.push(addr.clone());
        }
    }
}

/// One relay the node holds, or asks, a reservation from.
#[derive(Debug)]
struct Slot {
    address: Multiaddr,
    state: RelayState,
    listener: Option<ListenerId>,
    /// The relayed address it gave us, once reserved.
    relayed: Vec<Multiaddr>,
    error: Option<String>,
    retry_at: Instant,
    backoff: Duration,
    /// Configured (a `…/p2p-circuit` listen address): kept whatever the reachability.
    pinned: bool,
}

/// The node's relays: reservations held or asked for, relay nodes seen.
#[derive(Debug, Default)]
pub(crate) struct Relays {
    slots: HashMap<PeerId, Slot>,
    /// Connected peers that offer the relay service, with an address to reach them at.
    candidates: HashMap<PeerId, Multiaddr>,
    /// When the first relay node was met.
    first_met: Option<Instant>,
}

impl Relays {
    /// Keeps a reservation on `relay` at `address` whatever the reachability.
    pub(crate) fn pin(&mut self, relay: PeerId, address: Multiaddr) {
        let slot = Self::slot(address, true);
        self.slots.insert(relay, slot);
    }

    fn slot(address: Multiaddr, pinned: bool) -> Slot {
        Slot {
            address,
            state: RelayState::Waiting,
            listener: None,
            relayed: Vec::new(),
            error: None,
            retry_at: Instant::now(),
            backoff: MIN_RETRY,
            pinned,
        }
    }

    /// `peer` offers the relay service and is reachable at `address`.
    pub(crate) fn candidate(&mut self, peer: PeerId, address: Multiaddr) {
        self.candidates.insert(peer, address);
        self.first_met.get_or_insert_with(Instant::now);
    }

    /// How many relays to hold for a node whose probes say `reachability`.
    pub(crate) fn wanted(&self, reachability: Reachability) -> usize {
        let waited = self.first_met.is_some_and(|at| at.elapsed() >= UNKNOWN_GRACE);
        match reachability {
            Reachability::Private => MAX_RELAYS,
            Reachability::Unknown if waited => MAX_RELAYS,
            Reachability::Public | Reachability::Unknown => 0,
        }
    }

    /// Whether a relay node is known to take a reservation from.
    pub(crate) fn has_candidates(&self) -> bool {
        self.candidates.keys().any(|p| !self.slots.contains_key(p))
    }

    /// Reservations to ask for now: fills the automatic slots up to `wanted` (dropping them
    /// all when `wanted` is 0), and returns the circuit addresses due for a (new) request
    /// with their relay, and the listeners to close.
    pub(crate) fn due(&mut self, wanted: usize) -> (Vec<(PeerId, Multiaddr)>, Vec<ListenerId>) {
        let mut close = Vec::new();
        if wanted == 0 {
            self.slots.retain(|_, s| {
                if !s.pinned {
                    close.extend(s.listener);
                }
                s.pinned
            });
        }
        let automatic = self.slots.values().filter(|s| !s.pinned).count();
        let mut spare: Vec<(PeerId, Multiaddr)> = self
            .candidates
            .iter()
            .filter(|(p, _)| !self.slots.contains_key(p))
            .map(|(p, a)| (*p, a.clone()))
            .collect();
        spare.sort_by_key(|(p, _)| p.to_bytes());
        for (peer, address) in spare.into_iter().take(wanted.saturating_sub(automatic)) {
            self.slots.insert(peer, Self::slot(address, false));
        }
        let now = Instant::now();
        let due = self
            .slots
            .iter()
            .filter(|(_, s)| s.state == RelayState::Waiting && s.retry_at <= now)
            .map(|(peer, s)| {
                (*peer, s.address.clone().with(Protocol::P2p(*peer)).with(Protocol::P2pCircuit))
            })
            .collect();
        (due, close)
    }

    /// A reservation was asked for on `relay` by `listener`.
    pub(crate) fn asking(&mut self, relay: PeerId, listener: ListenerId) {
        if let Some(slot) = self.slots.get_mut(&relay) {
            slot.state = RelayState::Reserving;
            slot.listener = Some(listener);
        }
    }

    /// A reservation could not even be asked for.
    pub(crate) fn not_asked(&mut self, relay: PeerId, error: String) {
        if let Some(slot) = self.slots.get_mut(&relay) {
            Self::wait(slot, error);
        }
    }

    fn wait(slot: &mut Slot, error: String) {
        slot.state = RelayState::Waiting;
        slot.listener = None;
        slot.relayed.clear();
        slot.error = Some(error);
        slot.retry_at = Instant::now() + slot.backoff;
        slot.backoff = (slot.backoff * 2).min(MAX_RETRY);
    }

    /// Whether `listener` is one of the reservations.
    pub(crate) fn owns(&self, listener: ListenerId) -> bool {
        self.slots.values().any(|s| s.listener == Some(listener))
    }

    /// The relay gave us `address` (a reservation's listener reported it).
    pub(crate) fn listening(&mut self, listener: ListenerId, address: Multiaddr) {
        if let Some(slot) = self.slots.values_mut().find(|s| s.listener == Some(listener)) {
            slot.state = RelayState::Reserved;
            slot.error = None;
            slot.backoff = MIN_RETRY;
            if !slot.relayed.contains(&address) {
                slot.relayed.push(address);
            }
        }
    }

    /// The relay accepted (or renewed) our reservation.
    pub(crate) fn accepted(&mut self, relay: PeerId) {
        if let Some(slot) = self.slots.get_mut(&relay) {
            slot.state = RelayState::Reserved;
            slot.error = None;
            slot.backoff = MIN_RETRY;
        }
    }

    /// A reservation's listener closed: refused (`Err`) or its connection lost (`Ok`). Returns
    /// the relay.
    pub(crate) fn closed(&mut self, listener: ListenerId, error: Option<String>) -> Option<PeerId> {
        let (peer, slot) = self.slots.iter_mut().find(|(_, s)| s.listener == Some(listener))?;
        let reason = error.unwrap_or_else(|| "the connection to the relay closed".into());
        Self::wait(slot, reason);
        Some(*peer)
    }

    /// The node went offline: every reservation is given up (their listeners returned, to
    /// close) and asked for again at once when it is back; relay nodes met are forgotten.
    pub(crate) fn reset(&mut self) -> Vec<ListenerId> {
        self.candidates.clear();
        self.first_met = None;
        self.slots.retain(|_, s| s.pinned);
        let mut close = Vec::new();
        for slot in self.slots.values_mut() {
            close.extend(slot.listener.take());
            slot.state = RelayState::Waiting;
            slot.relayed.clear();
            slot.error = None;
            slot.retry_at = Instant::now();
            slot.backoff = MIN_RETRY;
        }
        close
    }

    /// A peer went away: it is no longer a relay to pick (a held slot retries on its own).
    pub(crate) fn gone(&mut self, peer: &PeerId) {
        self.candidates.remove(peer);
    }

    /// The relayed addresses held now.
    pub(crate) fn relayed_addresses(&self) -> impl Iterator<Item = &Multiaddr> {
        self.slots.values().flat_map(|s| s.relayed.iter())
    }

    /// The API's view of the relays.
    pub(crate) fn views(&self) -> Vec<RelayView> {
        let mut views: Vec<RelayView> = self
            .slots
            .iter()
            .map(|(peer, s)| RelayView {
                peer_id: peer.to_string(),
                address: s.address.to_string(),
                state: s.state,
                error: s.error.clone(),
            })
            .collect();
        views.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        views
    }
}

/// Says in words why a relay refused or dropped a reservation, from the error a circuit
/// listener closed with.
pub(crate) fn reservation_error(error: &std::io::Error) -> String {
    use relay::outbound::hop::ReserveError;
    let mut cause: Option<&(dyn std::error::Error + 'static)> = error.get_ref().map(|e| e as _);
    while let Some(e) = cause {
        if let Some(reserve) = e.downcast_ref::<ReserveError>() {
            return match reserve {
                ReserveError::ResourceLimitExceeded => {
                    "the relay refused the reservation: its limits are reached".into()
                }
                ReserveError::Refused => "the relay refused the reservation".into(),
                ReserveError::Unsupported => "the peer offers no relay service".into(),
                ReserveError::Io(e) => format!("reservation failed: {e}"),
                ReserveError::Protocol(e) => format!("the relay broke the protocol: {e}"),
            };
        }
        cause = e.source();
    }
    format!("reservation failed: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_circuit_address_names_its_relay() {
        let relay = PeerId::random();
        let addr: Multiaddr =
            format!("/ip4/11.0.0.10/tcp/4001/p2p/{relay}/p2p-circuit").parse().expect("multiaddr");
        let (peer, plain) = circuit_relay(&addr).expect("a circuit address");
        assert_eq!(peer, relay);
        assert_eq!(plain, "/ip4/11.0.0.10/tcp/4001".parse::<Multiaddr>().expect("multiaddr"));
        assert!(is_relayed(&addr));
        assert!(circuit_relay(&"/ip4/1.2.3.4/tcp/1".parse().expect("multiaddr")).is_none());
        // a circuit without its relay's id is no use
        assert!(circuit_relay(&"/ip4/1.2.3.4/tcp/1/p2p-circuit".parse().expect("ma")).is_none());
    }

    #[test]
    fn only_addresses_that_reach_the_peer_from_where_we_met_it_are_dialled() {
        let ma = |s: &str| s.parse::<Multiaddr>().expect("multiaddr");
        let relayed = ma(&format!("/ip4/11.0.0.10/tcp/1/p2p/{}/p2p-circuit", PeerId::random()));
        let (lo, lan, cgnat, public) = (
            ma("/ip4/127.0.0.1/udp/4001/quic-v1"),
            ma("/ip4/192.168.2.2/tcp/4001"),
            ma("/ip4/100.70.1.2/tcp/4001"),
            ma("/ip4/11.0.0.2/tcp/4001"),
        );
        // met through a relay or at a public address: neither its loopback nor its LAN
        for via in [&relayed, &public] {
            assert!(!worth_dialling(&lo, via));
            assert!(!worth_dialling(&lan, via));
            assert!(!worth_dialling(&cgnat, via));
            assert!(worth_dialling(&public, via));
            assert!(worth_dialling(&relayed, via));
        }
        // on the same LAN: its LAN and public addresses, not its loopback
        assert!(worth_dialling(&lan, &ma("/ip4/192.168.2.3/tcp/1")));
        assert!(!worth_dialling(&lo, &ma("/ip4/192.168.2.3/tcp/1")));
        // on the same host: everything
        assert!(worth_dialling(&lo, &ma("/ip4/127.0.0.1/tcp/1")));
        assert!(worth_dialling(&ma("/ip6/fe80::1/tcp/1"), &ma("/ip6/::1/tcp/1")));
        assert!(!worth_dialling(&ma("/ip6/fd00::1/tcp/1"), &ma("/ip6/2001:db8::1/tcp/1")));
    }

    #[test]
    fn reachability_needs_a_success_or_repeated_failures() {
        let mut nat = Nat::default();
        assert_eq!(nat.reachability(), Reachability::Unknown);
        nat.failed();
        assert_eq!(nat.reachability(), Reachability::Private);
        let relayed: Multiaddr =
            format!("/ip4/1.2.3.4/tcp/1/p2p/{}/p2p-circuit", PeerId::random()).parse().expect("");
        nat.external(&relayed, true);
        assert_eq!(nat.reachability(), Reachability::Private, "a relayed address is no proof");
        let direct: Multiaddr = "/ip4/1.2.3.4/tcp/1".parse().expect("multiaddr");
        nat.external(&direct, true);
        assert_eq!(nat.reachability(), Reachability::Public);
        nat.external(&direct, false);
        assert_eq!(nat.reachability(), Reachability::Private);
    }

    #[test]
    fn a_private_node_fills_its_relay_slots_and_retries_with_backoff() {
        let mut relays = Relays::default();
        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        for (i, p) in peers.iter().enumerate() {
            relays.candidate(*p, format!("/ip4/11.0.0.{}/tcp/1", i + 1).parse().expect("ma"));
        }
        assert_eq!(relays.due(0).0.len(), 0, "a public node asks no relay");
        let (due, _) = relays.due(MAX_RELAYS);
        assert_eq!(due.len(), MAX_RELAYS);
        let listeners: Vec<ListenerId> = due.iter().map(|_| ListenerId::next()).collect();
        for ((peer, _), l) in due.iter().zip(&listeners) {
            relays.asking(*peer, *l);
        }
        assert!(relays.due(MAX_RELAYS).0.is_empty(), "asked once, not again while waiting");
        let refused = relays.closed(listeners[0], Some("limits".into())).expect("a slot");
        assert_eq!(refused, due[0].0);
        assert!(relays.due(MAX_RELAYS).0.is_empty(), "not again before the backoff");
        assert_eq!(relays.views().iter().filter(|v| v.error.is_some()).count(), 1);
        std::thread::sleep(MIN_RETRY);
        let (again, _) = relays.due(MAX_RELAYS);
        assert_eq!(again.iter().map(|(p, _)| *p).collect::<Vec<_>>(), vec![refused]);
        // once public, the automatic reservations are given up
        relays.listening(listeners[1], "/ip4/11.0.0.2/tcp/1/p2p-circuit".parse().expect("ma"));
        let (_, close) = relays.due(0);
        assert_eq!(close, vec![listeners[1]]);
        assert!(relays.views().is_empty());
    }
}
