//! How messages reach other nodes: [`P2pNetwork`] over libp2p between processes and machines,
//! [`LocalNetwork`] between nodes of one process (tests, the in-process demo).

use crate::runtime::Input;
use photon_primitives::messages::Message;
use photon_primitives::Address;
use photon_transport::Delivery;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Delivers messages to peers. Delivery is asynchronous; the protocol acknowledges.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Queues `message` from `from` to `to`. With a `tag` (its outbox id), the sender's node
    /// is told once the message reached the peer (`Input::Delivered`).
    fn send(&self, from: Address, to: Address, message: Message, tag: Option<u64>);

    /// How many peers other than `me` it can reach now.
    fn peers(&self, me: Address) -> usize;

    /// How `peer` is connected now, if it is.
    fn connection(&self, me: Address, peer: Address) -> Option<photon_api::Connection>;

    /// The peer-to-peer network's state (reachability, relays, peers), when it has one.
    fn network(&self) -> Option<photon_api::NetworkStatus> {
        None
    }

    /// Peers connecting and disconnecting, when the transport tells.
    fn connectivity(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<photon_transport::PeerChange>> {
        None
    }
}

/// The first pause before a message a peer answered "not yet" (or could not take) is
/// delivered again; it doubles up to [`LOCAL_RETRY_MAX`].
const LOCAL_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// The longest such pause.
const LOCAL_RETRY_MAX: std::time::Duration = std::time::Duration::from_millis(500);

/// Tells the sending node what became of its outbox message `tag`.
fn report(sender: Option<&mpsc::Sender<Input>>, tag: Option<u64>, refused: Option<String>) {
    if let (Some(tag), Some(sender)) = (tag, sender) {
        let _ = sender.try_send(Input::Delivered(tag, refused));
    }
}

/// A message on its way from one node to another, with its outbox id.
type Queued = (Message, Option<u64>);

/// Each (sender, receiver) pair's queue.
type Lanes = HashMap<(Address, Address), mpsc::UnboundedSender<Queued>>;

/// Nodes of one process, delivering to each other's inboxes. As the libp2p transport does,
/// each (sender, receiver) pair is a queue with one message in flight: the receiver's answer
/// tells the sender what became of it, and a "not yet" — or a receiver not running — is
/// tried again (with a growing pause) before anything after it.
#[derive(Debug, Default, Clone)]
pub struct LocalNetwork {
    peers: Arc<Mutex<HashMap<Address, mpsc::Sender<Input>>>>,
    lanes: Arc<Mutex<Lanes>>,
}

impl LocalNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Connects a node's inbox.
    pub fn join(&self, address: Address, inbox: mpsc::Sender<Input>) {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).insert(address, inbox);
    }

    fn inbox(&self, address: &Address) -> Option<mpsc::Sender<Input>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner()).get(address).cloned()
    }

    /// Delivers the queue from `from` to `to`, one message at a time, for as long as the
    /// runtime runs.
    async fn deliver(self, from: Address, to: Address, mut queue: mpsc::UnboundedReceiver<Queued>) {
        while let Some((message, tag)) = queue.recv().await {
            let mut pause = LOCAL_RETRY;
            loop {
                let Some(inbox) = self.inbox(&to).filter(|i| !i.is_closed()) else {
                    // the peer is not running: tried again until it is (as the peer-to-peer
                    // transport does), so nothing behind it goes out of order
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(LOCAL_RETRY_MAX);
                    continue;
                };
                let (respond, answer) = oneshot::channel();
                let input = Input::Message {
                    sender: from,
                    message: message.clone(),
                    respond: Some(respond),
                };
                let answer = match inbox.try_send(input) {
                    Ok(()) => answer.await.ok(),
                    Err(_) => Some(Delivery::Retry), // full: again in a moment
                };
                match answer {
                    Some(Delivery::Retry) => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(LOCAL_RETRY_MAX);
                    }
                    Some(Delivery::Ack) => {
                        report(self.inbox(&from).as_ref(), tag, None);
                        break;
                    }
                    Some(Delivery::Reject(reason)) => {
                        report(self.inbox(&from).as_ref(), tag, Some(reason));
                        break;
                    }
                    // the peer stopped before answering: tried again once it runs (it may have
                    // taken the message; a repeat gets its stored acknowledgement)
                    None => {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(LOCAL_RETRY_MAX);
                    }
                }
            }
        }
    }
}

impl Transport for LocalNetwork {
    fn send(&self, from: Address, to: Address, message: Message, tag: Option<u64>) {
        // acknowledgements travel as the peer's answers, as over libp2p
        if matches!(message, Message::Processed(_)) {
            return;
        }
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let lane = lanes.entry((from, to)).or_insert_with(|| {
            let (queue, queued) = mpsc::unbounded_channel();
            tokio::spawn(self.clone().deliver(from, to, queued));
            queue
        });
        let _ = lane.send((message, tag));
    }

    fn peers(&self, me: Address) -> usize {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.iter().filter(|(a, inbox)| **a != me && !inbox.is_closed()).count()
    }

    fn connection(&self, me: Address, peer: Address) -> Option<photon_api::Connection> {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let open = peer != me && peers.get(&peer).is_some_and(|inbox| !inbox.is_closed());
        open.then_some(photon_api::Connection::Direct)
    }
}

/// The libp2p transport as the node uses it. Acknowledgements travel as the transport's
/// answers, authenticated by the session, so the protocol's `Processed` messages stay local.
#[derive(Debug, Clone)]
pub struct P2pNetwork(pub photon_transport::P2pTransport);

impl Transport for P2pNetwork {
    fn send(&self, _from: Address, to: Address, message: Message, tag: Option<u64>) {
        match (message, tag) {
            (Message::Processed(_), _) => {}
            (message, Some(tag)) => self.0.send_tagged(to, &message, tag),
            (message, None) => self.0.send(to, &message),
        }
    }

    fn peers(&self, _me: Address) -> usize {
        self.0.peers()
    }

    fn connection(&self, _me: Address, peer: Address) -> Option<photon_api::Connection> {
        self.0.status().peers.into_iter().find(|p| p.address == peer).map(|p| p.connection)
    }

    fn network(&self) -> Option<photon_api::NetworkStatus> {
        Some(self.0.status())
    }

    fn connectivity(
        &self,
    ) -> Option<tokio::sync::broadcast::Receiver<photon_transport::PeerChange>> {
        Some(self.0.subscribe_peers())
    }
}

/// Forwards what the libp2p transport receives into a node's inbox, with the way to answer,
/// and the delivery reports of the node's own messages.
pub fn forward_incoming(
    mut incoming: mpsc::Receiver<photon_transport::Incoming>,
    mut delivered: mpsc::UnboundedReceiver<photon_transport::DeliveryReport>,
    inbox: mpsc::Sender<Input>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let input = tokio::select! {
                i = incoming.recv() => match i {
                    Some(i) => Input::Message { sender: i.sender, message: i.message, respond: Some(i.respond) },
                    None => break,
                },
                Some(report) = delivered.recv() => Input::Delivered(report.tag, report.refused),
            };
            if inbox.send(input).await.is_err() {
                break; // the node stopped; unanswered messages are retried by their senders
            }
        }
    })
}
