//! How messages reach other nodes. The peer-to-peer transport (libp2p) comes later; the
//! in-process [`LocalNetwork`] connects nodes that run in one process (tests, the demo's
//! single-process mode).

use crate::runtime::Input;
use photon_primitives::messages::Message;
use photon_primitives::Address;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Delivers messages to peers. Delivery is asynchronous; the protocol acknowledges.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Queues `message` from `from` to `to`.
    fn send(&self, from: Address, to: Address, message: Message);

    /// How many peers other than `me` it can reach now.
    fn peers(&self, me: Address) -> usize;
}

/// Nodes of one process, delivering to each other's inboxes.
#[derive(Debug, Default, Clone)]
pub struct LocalNetwork {
    peers: Arc<Mutex<HashMap<Address, mpsc::Sender<Input>>>>,
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
}

impl Transport for LocalNetwork {
    fn send(&self, from: Address, to: Address, message: Message) {
        let peer = self.peers.lock().unwrap_or_else(|e| e.into_inner()).get(&to).cloned();
        match peer {
            Some(inbox) => {
                if inbox.try_send(Input::Message { sender: from, message }).is_err() {
                    tracing::warn!(%to, "peer inbox full or closed; message dropped (the sender retries)");
                }
            }
            None => tracing::warn!(%to, "no route to peer"),
        }
    }

    fn peers(&self, me: Address) -> usize {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.iter().filter(|(a, inbox)| **a != me && !inbox.is_closed()).count()
    }
}
