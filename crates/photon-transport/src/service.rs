//! The swarm task: sessions, per-(peer, channel) queues, discovery.

use crate::codec::{Codec, MAX_BATCH, PROTOCOL};
use crate::identity::{address_of, keypair};
use crate::nat::{self, Nat, RelayLimits, Relays};
use crate::TransportError;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use libp2p::core::transport::ListenerId;
use libp2p::kad::{self, GetProvidersOk, QueryResult, RecordKey};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{behaviour::toggle::Toggle, ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{
    autonat, dcutr, identify, mdns, multiaddr::Protocol, noise, relay, tcp, yamux, Multiaddr,
    PeerId, StreamProtocol, Swarm,
};
use photon_api::{Connection, NetworkStatus, PeerView, Reachability, RelayServiceView};
use photon_primitives::messages::Message;
use photon_primitives::{Address, ChannelId};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// How a receiver answered a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Processed (or a duplicate of something processed): the sender moves on.
    Ack,
    /// Not yet: it came before something it depends on; the sender tries again later.
    Retry,
    /// Never acceptable (malformed, forged, stale): the sender drops it.
    Reject(String),
}

/// A message for the node, with the way to answer it.
#[derive(Debug)]
pub struct Incoming {
    /// The sender's Ethereum address, proven by the session.
    pub sender: Address,
    /// The message.
    pub message: Message,
    /// Answer here once the message is processed (durably) or refused.
    pub respond: oneshot::Sender<Delivery>,
}

/// Settings of the transport.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// Where to listen: TCP (`/ip4/0.0.0.0/tcp/40001`), QUIC (`/ip4/0.0.0.0/udp/40001/quic-v1`),
    /// or through a relay (`<relay address>/p2p/<relay id>/p2p-circuit`: a reservation kept on
    /// that relay whatever the node's reachability).
    pub listen: Vec<Multiaddr>,
    /// Peers to connect to first (with their `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// How long to wait for a peer's answer before trying again.
    pub request_timeout: Duration,
    /// Find peers on the local network by multicast DNS (off by default: it announces the
    /// node to everyone on the link).
    pub mdns: bool,
    /// Offer the relay service to other nodes (and answer their reachability probes), with
    /// these limits: for publicly reachable nodes.
    pub relay_service: Option<RelayLimits>,
    /// Addresses where other nodes reach this one, when known beforehand (a public IP, a
    /// forwarded port). A relay node without any announces its listen addresses (those
    /// other than loopback, when it has some).
    pub external: Vec<Multiaddr>,
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr")],
            bootstrap: Vec::new(),
            request_timeout: Duration::from_secs(10),
            mdns: false,
            relay_service: None,
            external: Vec::new(),
        }
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    messages: request_response::Behaviour<Codec>,
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    mdns: Toggle<mdns::tokio::Behaviour>,
    relay_client: relay::client::Behaviour,
    relay: Toggle<relay::Behaviour>,
    dcutr: dcutr::Behaviour,
    autonat: autonat::v2::client::Behaviour,
    autonat_server: Toggle<autonat::v2::server::Behaviour>,
}

/// The protocol of the Photon DHT.
const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/photon/kad/1");

/// The messages of one channel with one peer (or, for `None`, the peer's messages about no
/// channel) form a lane: they leave in order, one request in flight; lanes do not wait for
/// each other.
type Lane = (Address, Option<ChannelId>);

enum Command {
    Send(Lane, Vec<u8>, Option<u64>),
    /// Close every socket and send nothing until [`Command::Online`].
    Offline,
    /// Listen again, dial the bootstrap peers, ask for reservations and send what waits, now.
    Online,
}

/// A Photon peer connected (its first connection opened) or disconnected (its last closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerChange {
    /// The peer.
    pub peer: Address,
    /// Whether it is connected now.
    pub connected: bool,
}

/// A running transport; cheap to clone.
#[derive(Clone, Debug)]
pub struct P2pTransport {
    commands: mpsc::UnboundedSender<Command>,
    /// Our peer id.
    pub peer_id: PeerId,
    /// Our Ethereum address.
    pub address: Address,
    peers: Arc<AtomicUsize>,
    listening: watch::Receiver<Vec<Multiaddr>>,
    status: Arc<Mutex<NetworkStatus>>,
    connectivity: broadcast::Sender<PeerChange>,
}

impl P2pTransport {
    /// Goes offline (a phone's network is down, or the app is in the background): every
    /// listener and connection is closed and nothing is sent or looked up; messages queue up,
    /// in order, until [`P2pTransport::online`].
    pub fn offline(&self) {
        let _ = self.commands.send(Command::Offline);
    }

    /// Comes back: listens again (retrying while a port is still taken), dials the bootstrap
    /// peers, asks its relays for reservations again and sends what waits, at once. Probes
    /// find the reachability anew (the network may be another one).
    pub fn online(&self) {
        let _ = self.commands.send(Command::Online);
    }

    /// The device moved to another network (Wi-Fi to cellular): connections over the old one
    /// are dropped and made again over the new one.
    pub fn network_changed(&self) {
        self.offline();
        self.online();
    }

    /// Photon peers connecting and disconnecting, from now on.
    pub fn subscribe_peers(&self) -> broadcast::Receiver<PeerChange> {
        self.connectivity.subscribe()
    }

    /// Queues `message` for `to`; delivered in order with the other messages to `to` about
    /// the same channel.
    pub fn send(&self, to: Address, message: &Message) {
        let lane = (to, message.channel_id());
        let _ = self.commands.send(Command::Send(lane, message.encode(), None));
    }

    /// [`P2pTransport::send`], reporting `tag` on the `delivered` channel given to [`start`]
    /// once the peer acknowledged or refused the message for good.
    pub fn send_tagged(&self, to: Address, message: &Message, tag: u64) {
        let lane = (to, message.channel_id());
        let _ = self.commands.send(Command::Send(lane, message.encode(), Some(tag)));
    }

    /// Photon peers connected now.
    pub fn peers(&self) -> usize {
        self.peers.load(Ordering::Relaxed)
    }

    /// The network as the transport sees it now: reachability, relays, connected peers.
    pub fn status(&self) -> NetworkStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Our listen addresses (with `/p2p/<peer id>`), once listening.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let mut rx = self.listening.clone();
        let _ = rx.wait_for(|a| !a.is_empty()).await;
        let me = self.peer_id;
        let addrs: Vec<Multiaddr> =
            rx.borrow().iter().map(|a| a.clone().with(Protocol::P2p(me))).collect();
        addrs
    }
}

fn key_of(address: &Address) -> RecordKey {
    RecordKey::new(&address.as_slice())
}

struct Outbox {
    queue: VecDeque<(Vec<u8>, Option<u64>)>,
    /// The request carrying the head of the queue, and how many messages it carries.
    in_flight: Option<(OutboundRequestId, usize)>,
    not_before: Instant,
    backoff: Duration,
}

impl Outbox {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            in_flight: None,
            not_before: Instant::now(),
            backoff: MIN_BACKOFF,
        }
    }

    fn retry_later(&mut self) {
        self.in_flight = None;
        self.not_before = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Most peers remembered from local-network announcements we did not ask for.
const MAX_KNOWN: usize = 4_096;
/// How often the DHT is asked for a peer we have messages for but no address.
const LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

type Answer = Pin<Box<dyn Future<Output = (ResponseChannel<Vec<Delivery>>, Vec<Delivery>)> + Send>>;

/// What became of a tagged message (see [`P2pTransport::send_tagged`]): the peer took it, or
/// refused it for good (with its reason); either way it is not sent again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The tag given to `send_tagged`.
    pub tag: u64,
    /// `None`: acknowledged; `Some(reason)`: refused for good.
    pub refused: Option<String>,
}

/// Starts the transport with the node's Ethereum private key; messages for the node arrive
/// on `incoming`, and the reports of tagged messages (see [`P2pTransport::send_tagged`]) on
/// `delivered`.
pub async fn start(
    private_key: &[u8; 32], config: P2pConfig, incoming: mpsc::Sender<Incoming>,
    delivered: Option<mpsc::UnboundedSender<DeliveryReport>>,
) -> Result<P2pTransport, TransportError> {
    let keypair = keypair(private_key)?;
    let peer_id = keypair.public().to_peer_id();
    let address =
        address_of(&peer_id).ok_or_else(|| TransportError::Key("not a secp256k1 key".into()))?;
    let timeout = config.request_timeout;
    let mdns_on = config.mdns;
    let relay_config = config.relay_service.as_ref().map(RelayLimits::config);
    let setup = |e: &dyn std::fmt::Display| TransportError::Setup(e.to_string().into());
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| setup(&e))?
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(|e| setup(&e))?
        .with_behaviour(|key, relay_client| {
            let local = key.public().to_peer_id();
            let mut kad = kad::Behaviour::with_config(
                local,
                kad::store::MemoryStore::new(local),
                kad::Config::new(KAD_PROTOCOL),
            );
            // a node serves the DHT even before it knows an external address (e.g. loopback);
            // it becomes a client only once probes find it unreachable
            kad.set_mode(Some(kad::Mode::Server));
            let mdns = if mdns_on {
                // ask the link every 20 s (libp2p's default is 5 min): a peer whose first
                // answers were missed (it started a moment later, a busy host) is found soon
                let config =
                    mdns::Config { query_interval: Duration::from_secs(20), ..Default::default() };
                Some(mdns::tokio::Behaviour::new(config, local)?)
            } else {
                None
            };
            let serving = relay_config.is_some();
            Ok(Behaviour {
                messages: request_response::Behaviour::new(
                    [(PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(timeout),
                ),
                // listen addresses are pushed to peers as they change: a new reservation's
                // relayed address is known at once. No cache of peers' addresses: the task
                // keeps those worth dialling (see `nat::worth_dialling`)
                identify: identify::Behaviour::new(
                    identify::Config::new("/photon/id/1".into(), key.public())
                        .with_push_listen_addr_updates(true)
                        .with_cache_size(0),
                ),
                kad,
                mdns: mdns.into(),
                relay_client,
                relay: relay_config.map(|c| relay::Behaviour::new(local, c)).into(),
                dcutr: dcutr::Behaviour::new(local),
                autonat: autonat::v2::client::Behaviour::default(),
                autonat_server: serving.then(autonat::v2::server::Behaviour::default).into(),
            })
        })
        .map_err(|e| setup(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3_600)))
        .build();
    let mut relays = Relays::default();
    let mut listeners = Vec::new();
    for addr in &config.listen {
        let refused =
            |reason: String| TransportError::Address { address: addr.to_string(), reason };
        if nat::is_relayed(addr) {
            let (relay, plain) = nat::circuit_relay(addr)
                .ok_or_else(|| refused("a relayed address needs its relay's /p2p/<id>".into()))?;
            swarm.add_peer_address(relay, plain.clone());
            relays.pin(relay, plain);
        } else {
            let id = swarm.listen_on(addr.clone()).map_err(|e| refused(error_chain(&e)))?;
            listeners.push(id);
        }
    }
    for addr in &config.external {
        swarm.add_external_address(addr.clone());
    }
    for addr in &config.bootstrap {
        if let Some(Protocol::P2p(peer)) = addr.iter().last() {
            let plain: Multiaddr = addr.iter().filter(|p| !matches!(p, Protocol::P2p(_))).collect();
            swarm.behaviour_mut().kad.add_address(&peer, plain.clone());
            swarm.add_peer_address(peer, plain);
        }
        swarm.dial(addr.clone()).map_err(|e| TransportError::Address {
            address: addr.to_string(),
            reason: e.to_string(),
        })?;
    }
    let _ = swarm.behaviour_mut().kad.start_providing(key_of(&address));
    if config.relay_service.is_some() {
        let _ = swarm.behaviour_mut().kad.start_providing(nat::relay_key());
    }
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (listening_tx, listening) = watch::channel(Vec::new());
    let peers = Arc::new(AtomicUsize::new(0));
    let status = Arc::new(Mutex::new(NetworkStatus::default()));
    let (connectivity, _) = broadcast::channel(256);
    let task = Task {
        listen: config.listen.iter().filter(|a| !nat::is_relayed(a)).cloned().collect(),
        listeners,
        to_listen: Vec::new(),
        bootstrap: config.bootstrap.clone(),
        offline: false,
        connectivity: connectivity.clone(),
        swarm,
        incoming,
        commands: command_rx,
        listening: listening_tx,
        peers: peers.clone(),
        known: HashMap::new(),
        outboxes: HashMap::new(),
        lookups: HashMap::new(),
        in_flight: HashMap::new(),
        answers: FuturesUnordered::new(),
        address,
        listen_addrs: Vec::new(),
        delivered,
        nat: Nat::default(),
        relays,
        connections: HashMap::new(),
        relay_service: config.relay_service.is_some().then(RelayServiceView::default),
        announce_listen: config.relay_service.is_some() && config.external.is_empty(),
        status: status.clone(),
        dirty: true,
        next_relay_lookup: Instant::now(),
    };
    tokio::spawn(task.run());
    Ok(P2pTransport { commands, peer_id, address, peers, listening, status, connectivity })
}

struct Task {
    swarm: Swarm<Behaviour>,
    /// Where to listen (direct addresses; relayed ones are the relays' business).
    listen: Vec<Multiaddr>,
    /// The listeners on them.
    listeners: Vec<ListenerId>,
    /// Addresses to listen on again once their port is free (after coming back online).
    to_listen: Vec<Multiaddr>,
    bootstrap: Vec<Multiaddr>,
    /// Told to keep off the network (see [`P2pTransport::offline`]).
    offline: bool,
    connectivity: broadcast::Sender<PeerChange>,
    incoming: mpsc::Sender<Incoming>,
    commands: mpsc::UnboundedReceiver<Command>,
    listening: watch::Sender<Vec<Multiaddr>>,
    peers: Arc<AtomicUsize>,
    known: HashMap<Address, PeerId>,
    outboxes: HashMap<Lane, Outbox>,
    /// When the DHT may next be asked for a peer's address.
    lookups: HashMap<Address, Instant>,
    in_flight: HashMap<OutboundRequestId, Lane>,
    answers: FuturesUnordered<Answer>,
    address: Address,
    listen_addrs: Vec<Multiaddr>,
    delivered: Option<mpsc::UnboundedSender<DeliveryReport>>,
    nat: Nat,
    relays: Relays,
    /// Every open connection: its peer, whether it runs through a relay, and the peer's
    /// address on it.
    connections: HashMap<ConnectionId, (PeerId, bool, Multiaddr)>,
    /// The relay service's counters, when the node offers it.
    relay_service: Option<RelayServiceView>,
    /// A relay node without configured external addresses announces its listen addresses.
    announce_listen: bool,
    status: Arc<Mutex<NetworkStatus>>,
    /// Whether `status` is out of date.
    dirty: bool,
    /// When the DHT may next be asked for relay nodes.
    next_relay_lookup: Instant,
}

/// How often a private node without relays asks the DHT for some.
const RELAY_LOOKUP_INTERVAL: Duration = Duration::from_secs(10);

impl Task {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm(event),
                command = self.commands.recv() => match command {
                    Some(Command::Send(lane, bytes, tag)) => {
                        self.outboxes.entry(lane).or_insert_with(Outbox::new).queue.push_back((bytes, tag));
                        self.pump(lane);
                    }
                    Some(Command::Offline) => self.go_offline(),
                    Some(Command::Online) => self.go_online(),
                    None => break, // every handle dropped: the node stopped
                },
                Some((channel, answer)) = self.answers.next() => {
                    let _ = self.swarm.behaviour_mut().messages.send_response(channel, answer);
                }
                _ = tick.tick() => {
                    if self.offline {
                        continue;
                    }
                    self.listen_again();
                    let due: Vec<Lane> = self.outboxes.keys().copied().collect();
                    for lane in due {
                        self.pump(lane);
                    }
                    self.manage_relays();
                    if self.dirty {
                        self.publish_status();
                    }
                }
            }
        }
    }

    /// Sends the head of a lane's queue if nothing is in flight and it is due; forgets the
    /// lane once it is empty.
    fn pump(&mut self, lane: Lane) {
        if self.offline {
            return;
        }
        let Some(outbox) = self.outboxes.get_mut(&lane) else { return };
        let now = Instant::now();
        if outbox.in_flight.is_some() || now < outbox.not_before {
            return;
        }
        if outbox.queue.is_empty() {
            self.outboxes.remove(&lane);
            return;
        }
        let to = lane.0;
        match self.known.get(&to) {
            Some(peer) => {
                // everything queued in this lane (up to a batch) in one request, in order
                let batch: Vec<Vec<u8>> =
                    outbox.queue.iter().take(MAX_BATCH).map(|(bytes, _)| bytes.clone()).collect();
                let n = batch.len();
                let id = self.swarm.behaviour_mut().messages.send_request(peer, batch);
                outbox.in_flight = Some((id, n));
                self.in_flight.insert(id, lane);
            }
            None => self.look_up(to),
        }
    }

    /// Asks the DHT where `to` is, at most once per [`LOOKUP_INTERVAL`].
    fn look_up(&mut self, to: Address) {
        if self.offline {
            return;
        }
        let now = Instant::now();
        let due = self.lookups.get(&to).is_none_or(|at| now >= *at);
        if due {
            self.lookups.insert(to, now + LOOKUP_INTERVAL);
            self.swarm.behaviour_mut().kad.get_providers(key_of(&to));
        }
    }

    /// Closes every listener (direct and relayed) and connection; nothing goes out until
    /// [`Task::go_online`].
    fn go_offline(&mut self) {
        tracing::info!("going offline: closing every listener and connection");
        self.offline = true;
        for listener in self.listeners.drain(..).chain(self.relays.reset()) {
            self.swarm.remove_listener(listener);
        }
        self.to_listen.clear();
        let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
        for peer in peers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        self.dirty = true;
    }

    /// Back on a network (maybe another one): listen, dial the bootstrap peers, look for
    /// relays and send what waits, now; reachability is probed anew.
    fn go_online(&mut self) {
        tracing::info!("going online");
        if self.offline {
            self.offline = false;
            self.to_listen = self.listen.clone();
            self.listen_again();
        }
        self.nat = Nat::default();
        self.on_reachability();
        self.next_relay_lookup = Instant::now();
        for addr in self.bootstrap.clone() {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, error = %e, "bootstrap peer not dialled");
            }
        }
        self.lookups.clear();
        let now = Instant::now();
        for outbox in self.outboxes.values_mut() {
            outbox.not_before = now;
            outbox.backoff = MIN_BACKOFF;
        }
        let due: Vec<Lane> = self.outboxes.keys().copied().collect();
        for lane in due {
            self.pump(lane);
        }
        self.dirty = true;
    }

    /// Listens on the addresses waiting for it; one whose port is still held by a closing
    /// listener is tried again on the next tick.
    fn listen_again(&mut self) {
        for addr in std::mem::take(&mut self.to_listen) {
            match self.swarm.listen_on(addr.clone()) {
                Ok(id) => self.listeners.push(id),
                Err(e) => {
                    tracing::debug!(%addr, error = %error_chain(&e), "cannot listen yet; retrying");
                    self.to_listen.push(addr);
                }
            }
        }
    }

    /// Pumps every lane to `to`.
    fn pump_peer(&mut self, to: Address) {
        let lanes: Vec<Lane> = self.outboxes.keys().filter(|l| l.0 == to).copied().collect();
        for lane in lanes {
            self.pump(lane);
        }
    }

    /// A peer whose key is `peer` was found at `addr`: remember it and send what waits for it.
    fn found(&mut self, peer: PeerId, addr: Option<Multiaddr>) {
        let Some(address) = address_of(&peer) else { return };
        if let Some(addr) = addr {
            self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            self.swarm.add_peer_address(peer, addr);
        }
        self.known.insert(address, peer);
        self.lookups.remove(&address);
        // send now: a DHT query's addresses for the peer are only known while it runs
        for (lane, outbox) in self.outboxes.iter_mut() {
            if lane.0 == address && outbox.in_flight.is_none() {
                outbox.not_before = Instant::now();
            }
        }
        self.pump_peer(address);
    }

    /// Keeps reservations on relays while the node is private (and on configured relays
    /// always), and looks for relay nodes in the DHT when it knows none.
    fn manage_relays(&mut self) {
        let wanted = self.relays.wanted(self.nat.reachability());
        let (due, close) = self.relays.due(wanted);
        for listener in close {
            self.swarm.remove_listener(listener);
        }
        for (relay, circuit) in due {
            match self.swarm.listen_on(circuit.clone()) {
                Ok(listener) => {
                    tracing::info!(%circuit, "asking the relay for a reservation");
                    self.relays.asking(relay, listener);
                }
                Err(e) => self.relays.not_asked(relay, e.to_string()),
            }
            self.dirty = true;
        }
        let now = Instant::now();
        let private = self.nat.reachability() == Reachability::Private;
        if private && !self.relays.has_candidates() && now >= self.next_relay_lookup {
            self.next_relay_lookup = now + RELAY_LOOKUP_INTERVAL;
            self.swarm.behaviour_mut().kad.get_providers(nat::relay_key());
        }
    }

    /// Rebuilds what [`P2pTransport::status`] shows.
    fn publish_status(&mut self) {
        self.dirty = false;
        let me = self.swarm.local_peer_id().to_owned();
        let mut direct: HashMap<PeerId, bool> = HashMap::new();
        for (peer, relayed, _) in self.connections.values() {
            *direct.entry(*peer).or_default() |= !relayed;
        }
        let mut peers: Vec<PeerView> = direct
            .into_iter()
            .filter_map(|(peer, direct)| {
                Some(PeerView {
                    address: address_of(&peer)?,
                    connection: if direct { Connection::Direct } else { Connection::Relayed },
                })
            })
            .collect();
        peers.sort_by_key(|p| p.address);
        let with_id = |a: &Multiaddr| a.clone().with(Protocol::P2p(me)).to_string();
        let status = NetworkStatus {
            reachability: self.nat.reachability(),
            public_addresses: self.nat.confirmed.iter().map(with_id).collect(),
            relayed_addresses: self.relays.relayed_addresses().map(with_id).collect(),
            listen_addresses: self
                .listen_addrs
                .iter()
                .filter(|a| !nat::is_relayed(a))
                .map(with_id)
                .collect(),
            relays: self.relays.views(),
            peers,
            relay_service: self.relay_service.clone(),
        };
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// A relay node without configured external addresses announces its listen addresses:
    /// those other than loopback, or loopback when it has nothing else (a test on one host).
    fn announce_listen_addresses(&mut self) {
        let direct: Vec<Multiaddr> =
            self.listen_addrs.iter().filter(|a| !nat::is_relayed(a)).cloned().collect();
        let outside = direct.iter().any(|a| !nat::is_loopback(a));
        for addr in direct {
            if outside && nat::is_loopback(&addr) {
                self.swarm.remove_external_address(&addr);
            } else {
                self.swarm.add_external_address(addr);
            }
        }
    }

    /// After the probes changed their minds: a private node serves the DHT as a client only
    /// (nobody can dial it for queries) and takes reservations on relays (see
    /// [`Task::manage_relays`]); a public one serves it.
    fn on_reachability(&mut self) {
        let mode = match self.nat.reachability() {
            Reachability::Private => kad::Mode::Client,
            Reachability::Public | Reachability::Unknown => kad::Mode::Server,
        };
        if self.swarm.behaviour().kad.mode() != mode {
            tracing::info!(reachability = %self.nat.reachability(), "reachability changed");
            self.swarm.behaviour_mut().kad.set_mode(Some(mode));
        }
    }

    /// Counts what the relay service does for others.
    fn on_relay_service(&mut self, event: relay::Event) {
        let Some(view) = self.relay_service.as_mut() else { return };
        match event {
            relay::Event::ReservationReqAccepted { src_peer_id, renewed: false } => {
                tracing::debug!(peer = %src_peer_id, "relay: reservation accepted");
                view.reservations += 1;
            }
            relay::Event::ReservationReqDenied { src_peer_id, status } => {
                tracing::info!(peer = %src_peer_id, ?status, "relay: reservation refused");
                view.reservations_refused += 1;
            }
            relay::Event::ReservationClosed { .. } | relay::Event::ReservationTimedOut { .. } => {
                view.reservations = view.reservations.saturating_sub(1);
            }
            relay::Event::CircuitReqAccepted { src_peer_id, dst_peer_id } => {
                tracing::debug!(src = %src_peer_id, dst = %dst_peer_id, "relay: circuit opened");
                view.circuits += 1;
                view.circuits_total += 1;
            }
            relay::Event::CircuitReqDenied { src_peer_id, dst_peer_id, status } => {
                tracing::info!(src = %src_peer_id, dst = %dst_peer_id, ?status, "relay: circuit refused");
                view.circuits_refused += 1;
            }
            relay::Event::CircuitClosed { .. } => {
                view.circuits = view.circuits.saturating_sub(1);
            }
            _ => {}
        }
    }

    /// Closes the relayed connections to `peer`: a direct one carries its traffic now.
    fn drop_relayed(&mut self, peer: PeerId) {
        let relayed: Vec<ConnectionId> = self
            .connections
            .iter()
            .filter(|(_, (p, relayed, _))| *p == peer && *relayed)
            .map(|(id, _)| *id)
            .collect();
        for id in relayed {
            tracing::debug!(%peer, "direct connection up; closing the relayed one");
            self.swarm.close_connection(id);
        }
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        if !matches!(event, SwarmEvent::Behaviour(BehaviourEvent::Messages(_))) {
            self.dirty = true;
        }
        match event {
            SwarmEvent::NewListenAddr { listener_id, address } => {
                if self.relays.owns(listener_id) {
                    tracing::info!(%address, "reachable through a relay");
                    self.relays.listening(listener_id, address.clone());
                }
                self.listen_addrs.push(address);
                let _ = self.listening.send(self.listen_addrs.clone());
                if self.announce_listen {
                    self.announce_listen_addresses();
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ListenerClosed { listener_id, addresses, reason } => {
                self.listen_addrs.retain(|a| !addresses.contains(a));
                let error = reason.err().map(|e| nat::reservation_error(&e));
                if let Some(relay) = self.relays.closed(listener_id, error.clone()) {
                    match error {
                        Some(error) => tracing::warn!(%relay, %error, "relay reservation refused"),
                        None => tracing::info!(%relay, "relay reservation lost; asking again"),
                    }
                }
            }
            SwarmEvent::ExternalAddrConfirmed { address } => {
                tracing::info!(%address, "external address confirmed");
                self.nat.external(&address, true);
                self.on_reachability();
            }
            SwarmEvent::ExternalAddrExpired { address } => {
                self.nat.external(&address, false);
                self.on_reachability();
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.offline {
                    // a DHT or probe dial that was under way: the node keeps off the network
                    self.swarm.close_connection(connection_id);
                    return;
                }
                let relayed = endpoint.is_relayed();
                let remote = endpoint.get_remote_address().clone();
                self.connections.insert(connection_id, (peer_id, relayed, remote));
                if endpoint.is_dialer() && !relayed {
                    let remote = endpoint.get_remote_address().clone();
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, remote);
                }
                if !relayed {
                    self.drop_relayed(peer_id);
                }
                if address_of(&peer_id).is_some() {
                    if num_established.get() == 1 {
                        self.peers.fetch_add(1, Ordering::Relaxed);
                        if let Some(peer) = address_of(&peer_id) {
                            let change = PeerChange { peer, connected: true };
                            let _ = self.connectivity.send(change);
                        }
                    }
                    // announce ourselves to the better-connected DHT
                    let own = key_of(&self.address);
                    let _ = self.swarm.behaviour_mut().kad.start_providing(own);
                    self.found(peer_id, None);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, connection_id, num_established, .. } => {
                if self.connections.remove(&connection_id).is_none() {
                    return; // closed as it opened, while offline: never counted
                }
                if num_established == 0 {
                    self.relays.gone(&peer_id);
                    if let Some(peer) = address_of(&peer_id) {
                        self.peers.fetch_sub(1, Ordering::Relaxed);
                        let _ = self.connectivity.send(PeerChange { peer, connected: false });
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                connection_id,
                info,
                ..
            })) => {
                // the DHT learns only addresses of DHT servers, and no relayed ones (a query
                // through a relay would spend the circuit); messages may use any
                let dht_server = info.protocols.contains(&KAD_PROTOCOL);
                let Some((_, on_relay, via)) = self.connections.get(&connection_id).cloned() else {
                    return;
                };
                for addr in info.listen_addrs.iter().filter(|a| nat::worth_dialling(a, &via)) {
                    if dht_server && !nat::is_relayed(addr) {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                    }
                    self.swarm.add_peer_address(peer_id, addr.clone());
                }
                if info.protocols.contains(&relay::HOP_PROTOCOL_NAME) {
                    // a relay met over a direct connection, at an address it listens on
                    let at = info.listen_addrs.iter().find(|a| {
                        !nat::is_relayed(a) && !nat::is_loopback(a) && nat::worth_dialling(a, &via)
                    });
                    let at = at.or_else(|| {
                        info.listen_addrs
                            .iter()
                            .find(|a| !nat::is_relayed(a) && nat::worth_dialling(a, &via))
                    });
                    if let (false, Some(at)) = (on_relay, at) {
                        self.relays.candidate(peer_id, at.clone());
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(event)) => match event.result {
                Ok(()) => tracing::debug!(address = %event.tested_addr, "reachable there"),
                Err(e) => {
                    tracing::debug!(address = %event.tested_addr, error = %e, "not reachable there");
                    self.nat.failed();
                    self.on_reachability();
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::RelayClient(event)) => match event {
                relay::client::Event::ReservationReqAccepted { relay_peer_id, .. } => {
                    self.relays.accepted(relay_peer_id);
                    // re-announce: the DHT record now carries the relayed address
                    let own = key_of(&self.address);
                    let _ = self.swarm.behaviour_mut().kad.start_providing(own);
                }
                other => tracing::debug!(?other, "relay circuit"),
            },
            SwarmEvent::Behaviour(BehaviourEvent::Relay(event)) => self.on_relay_service(event),
            SwarmEvent::Behaviour(BehaviourEvent::Dcutr(dcutr::Event {
                remote_peer_id,
                result,
            })) => match result {
                Ok(_) => {
                    tracing::info!(peer = %remote_peer_id, "hole punched: direct connection");
                    self.drop_relayed(remote_peer_id);
                }
                Err(e) => {
                    tracing::info!(peer = %remote_peer_id, error = %e, "no hole punched; staying relayed")
                }
            },
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result:
                    QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { key, providers })),
                ..
            })) => {
                if key == nat::relay_key() {
                    // relay nodes: meet them; identify tells whether they really relay
                    for peer in providers {
                        if peer != *self.swarm.local_peer_id() && !self.swarm.is_connected(&peer) {
                            let _ = self.swarm.dial(peer);
                        }
                    }
                    return;
                }
                if key.as_ref().len() != 20 {
                    return;
                }
                let wanted = Address::from_slice(key.as_ref());
                // believe only the provider whose key is the address's key
                if let Some(peer) = providers.into_iter().find(|p| address_of(p) == Some(wanted)) {
                    self.found(peer, None);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(list))) => {
                // believed like a DHT record: the session will prove the key behind the peer id.
                // Anyone on the link can announce peer ids: past a bound, only those we have
                // messages for are remembered.
                for (peer, addr) in list {
                    let wanted = address_of(&peer)
                        .is_some_and(|a| self.outboxes.keys().any(|lane| lane.0 == a));
                    if self.known.len() < MAX_KNOWN || wanted {
                        tracing::debug!(%peer, %addr, "found on the local network");
                        self.found(peer, Some(addr));
                        // meet it now: a neighbour on the link is cheap to keep, and a payment
                        // over it should not wait for a DHT refresh to bring the two together
                        // (the first dial of a peer that was still starting may have failed)
                        if peer != *self.swarm.local_peer_id() && !self.swarm.is_connected(&peer) {
                            let _ = self.swarm.dial(peer);
                        }
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Messages(event)) => self.on_message_event(event),
            _ => {}
        }
    }

    fn on_message_event(&mut self, event: request_response::Event<Vec<Vec<u8>>, Vec<Delivery>>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => {
                    let Some(sender) = address_of(&peer) else {
                        let answers =
                            vec![Delivery::Reject("not a Photon identity".into()); request.len()];
                        self.answers.push(Box::pin(async move { (channel, answers) }));
                        return;
                    };
                    // each message to the node in order; the answers in the same order
                    let mut pending: Vec<Result<oneshot::Receiver<Delivery>, Delivery>> =
                        Vec::new();
                    let mut full = false;
                    for bytes in request {
                        // once one waits, so does everything after it: the node must never see
                        // a message of this lane before one that came earlier
                        if full {
                            pending.push(Err(Delivery::Retry));
                            continue;
                        }
                        let message = match Message::decode(&bytes) {
                            Ok(m) => m,
                            Err(e) => {
                                pending
                                    .push(Err(Delivery::Reject(format!("malformed message: {e}"))));
                                continue;
                            }
                        };
                        let (respond, rx) = oneshot::channel();
                        if self.incoming.try_send(Incoming { sender, message, respond }).is_err() {
                            full = true;
                            pending.push(Err(Delivery::Retry)); // node busy or stopped
                        } else {
                            pending.push(Ok(rx));
                        }
                    }
                    self.answers.push(Box::pin(async move {
                        let mut answers = Vec::with_capacity(pending.len());
                        for p in pending {
                            answers.push(match p {
                                Ok(rx) => rx.await.unwrap_or(Delivery::Retry),
                                Err(d) => d,
                            });
                        }
                        (channel, answers)
                    }));
                }
                request_response::Message::Response { request_id, response } => {
                    let Some(lane) = self.in_flight.remove(&request_id) else { return };
                    let Some(outbox) = self.outboxes.get_mut(&lane) else { return };
                    let to = lane.0;
                    let sent = outbox.in_flight.take().map_or(0, |(_, n)| n);
                    let mut done = 0;
                    for answer in response.into_iter().take(sent) {
                        let refused = match answer {
                            Delivery::Ack => None,
                            Delivery::Reject(reason) => {
                                tracing::warn!(%to, %reason, "peer rejected a message; dropped");
                                Some(reason)
                            }
                            Delivery::Retry => break, // this one and the rest go again later
                        };
                        if let Some((_, Some(tag))) = outbox.queue.pop_front() {
                            if let Some(delivered) = &self.delivered {
                                let _ = delivered.send(DeliveryReport { tag, refused });
                            }
                        }
                        done += 1;
                    }
                    if done < sent {
                        outbox.retry_later();
                    } else {
                        outbox.backoff = MIN_BACKOFF;
                    }
                    self.pump(lane);
                }
            },
            request_response::Event::OutboundFailure { request_id, error, .. } => {
                let Some(lane) = self.in_flight.remove(&request_id) else { return };
                tracing::debug!(to = %lane.0, %error, "delivery failed; will retry");
                if matches!(error, request_response::OutboundFailure::DialFailure) {
                    // its addresses failed (and were forgotten): where is it now? (a node
                    // behind NAT is at a new relayed address after its relay restarted)
                    self.look_up(lane.0);
                }
                if let Some(outbox) = self.outboxes.get_mut(&lane) {
                    outbox.retry_later();
                }
            }
            _ => {}
        }
    }
}

/// An error with its sources, `a: b: c`, skipping empty messages (some transport errors
/// only say something in their source).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut next = Some(error);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p: &String| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}
