//! The swarm task: sessions, per-(peer, channel) queues, discovery.

use crate::codec::{Codec, MAX_BATCH, PROTOCOL};
use crate::identity::{address_of, keypair};
use crate::TransportError;
use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use libp2p::kad::{self, GetProvidersOk, QueryResult, RecordKey};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::{behaviour::toggle::Toggle, NetworkBehaviour, SwarmEvent};
use libp2p::{
    identify, mdns, multiaddr::Protocol, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol,
    Swarm,
};
use photon_primitives::messages::Message;
use photon_primitives::{Address, ChannelId};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

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
    /// Where to listen, e.g. `/ip4/127.0.0.1/tcp/0`.
    pub listen: Multiaddr,
    /// Peers to connect to first (with their `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// How long to wait for a peer's answer before trying again.
    pub request_timeout: Duration,
    /// Find peers on the local network by multicast DNS (off by default: it announces the
    /// node to everyone on the link).
    pub mdns: bool,
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self {
            listen: "/ip4/127.0.0.1/tcp/0".parse().expect("valid multiaddr"),
            bootstrap: Vec::new(),
            request_timeout: Duration::from_secs(10),
            mdns: false,
        }
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    messages: request_response::Behaviour<Codec>,
    identify: identify::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    mdns: Toggle<mdns::tokio::Behaviour>,
}

/// The messages of one channel with one peer (or, for `None`, the peer's messages about no
/// channel) form a lane: they leave in order, one request in flight; lanes do not wait for
/// each other.
type Lane = (Address, Option<ChannelId>);

enum Command {
    Send(Lane, Vec<u8>, Option<u64>),
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
}

impl P2pTransport {
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
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| TransportError::Setup(Box::new(e)))?
        .with_behaviour(|key| {
            let local = key.public().to_peer_id();
            let mut kad = kad::Behaviour::with_config(
                local,
                kad::store::MemoryStore::new(local),
                kad::Config::new(StreamProtocol::new("/photon/kad/1")),
            );
            // a node serves the DHT even before it knows an external address (e.g. loopback)
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
            Ok(Behaviour {
                messages: request_response::Behaviour::new(
                    [(PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default().with_request_timeout(timeout),
                ),
                identify: identify::Behaviour::new(identify::Config::new(
                    "/photon/id/1".into(),
                    key.public(),
                )),
                kad,
                mdns: mdns.into(),
            })
        })
        .map_err(|e| TransportError::Setup(Box::new(e)))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3_600)))
        .build();
    swarm.listen_on(config.listen.clone()).map_err(|e| TransportError::Address {
        address: config.listen.to_string(),
        reason: e.to_string(),
    })?;
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
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (listening_tx, listening) = watch::channel(Vec::new());
    let peers = Arc::new(AtomicUsize::new(0));
    let task = Task {
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
        listen_addrs: Arc::new(Mutex::new(Vec::new())),
        delivered,
    };
    tokio::spawn(task.run());
    Ok(P2pTransport { commands, peer_id, address, peers, listening })
}

struct Task {
    swarm: Swarm<Behaviour>,
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
    listen_addrs: Arc<Mutex<Vec<Multiaddr>>>,
    delivered: Option<mpsc::UnboundedSender<DeliveryReport>>,
}

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
                    None => break, // every handle dropped: the node stopped
                },
                Some((channel, answer)) = self.answers.next() => {
                    let _ = self.swarm.behaviour_mut().messages.send_response(channel, answer);
                }
                _ = tick.tick() => {
                    let due: Vec<Lane> = self.outboxes.keys().copied().collect();
                    for lane in due {
                        self.pump(lane);
                    }
                }
            }
        }
    }

    /// Sends the head of a lane's queue if nothing is in flight and it is due; forgets the
    /// lane once it is empty.
    fn pump(&mut self, lane: Lane) {
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
            None => {
                let due = self.lookups.get(&to).is_none_or(|at| now >= *at);
                if due {
                    self.lookups.insert(to, now + LOOKUP_INTERVAL);
                    self.swarm.behaviour_mut().kad.get_providers(key_of(&to));
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
        self.pump_peer(address);
    }

    fn on_swarm(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut addrs = self.listen_addrs.lock().unwrap_or_else(|e| e.into_inner());
                addrs.push(address);
                let _ = self.listening.send(addrs.clone());
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                if endpoint.is_dialer() {
                    let remote = endpoint.get_remote_address().clone();
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, remote);
                }
                if address_of(&peer_id).is_some() {
                    if num_established.get() == 1 {
                        self.peers.fetch_add(1, Ordering::Relaxed);
                    }
                    // announce ourselves to the better-connected DHT
                    let own = key_of(&self.address);
                    let _ = self.swarm.behaviour_mut().kad.start_providing(own);
                    self.found(peer_id, None);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. }
                if address_of(&peer_id).is_some() =>
            {
                self.peers.fetch_sub(1, Ordering::Relaxed);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                for addr in info.listen_addrs {
                    self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                    self.swarm.add_peer_address(peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result:
                    QueryResult::GetProviders(Ok(GetProvidersOk::FoundProviders { key, providers })),
                ..
            })) => {
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
                if let Some(outbox) = self.outboxes.get_mut(&lane) {
                    outbox.retry_later();
                }
            }
            _ => {}
        }
    }
}
