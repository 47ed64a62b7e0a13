//! What the service knows, in memory: the graph of every token (from the chain), each
//! participant's latest update per channel, and who is online. The store keeps the same
//! facts on disk; [`Book`] is rebuilt from it at start.

use crate::router::{Direction, GraphError, Route, Scratch, TokenGraph};
use crate::update::{ChannelUpdate, Heartbeat, UpdateError};
use photon_primitives::eip712::Domain;
use photon_primitives::{Address, ChannelId, TokenAmount};
use photon_state::ChainEvent;
use std::collections::HashMap;

/// How far (seconds) a signed nonce — milliseconds since 1970 — may be from the service's
/// clock when it arrives: further back is an old message replayed (after its channel closed
/// and opened again, or to another service), further ahead a clock that is off.
pub const FRESHNESS: u64 = 300;

fn fresh(nonce: u64, now: u64) -> Result<(), UpdateError> {
    let (lo, hi) = (now.saturating_sub(FRESHNESS) * 1000, (now + FRESHNESS) * 1000);
    if (lo..=hi).contains(&nonce) {
        Ok(())
    } else {
        Err(UpdateError::NotFresh { nonce, now: now * 1000, window: FRESHNESS })
    }
}

/// An open channel as the chain showed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelInfo {
    /// Its token.
    pub token: Address,
    /// Participants, lower address first.
    pub participants: (Address, Address),
    /// Their deposits (in the current epoch).
    pub deposits: (TokenAmount, TokenAmount),
}

impl ChannelInfo {
    fn total(&self) -> TokenAmount {
        self.deposits.0.saturating_add(self.deposits.1)
    }
}

/// A participant's latest update of one channel, as taken (and stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    /// Who sent it.
    pub sender: Address,
    /// The update.
    pub update: ChannelUpdate,
}

/// The service's knowledge.
#[derive(Debug)]
pub struct Book {
    domain: Domain,
    graphs: HashMap<Address, TokenGraph>,
    channels: HashMap<ChannelId, ChannelInfo>,
    nonces: HashMap<(ChannelId, Address), u64>,
    /// Per node: last heartbeat nonce, and when (seconds since 1970) it was last heard of.
    presence: HashMap<Address, (u64, u64)>,
    offline_after: u64,
}

impl Book {
    /// An empty book for a deployment; nodes silent for `offline_after` seconds are routed
    /// around.
    pub fn new(domain: Domain, offline_after: u64) -> Self {
        Self {
            domain,
            graphs: HashMap::new(),
            channels: HashMap::new(),
            nonces: HashMap::new(),
            presence: HashMap::new(),
            offline_after,
        }
    }

    /// The deployment's domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// Seconds of silence before a node is routed around.
    pub fn offline_after(&self) -> u64 {
        self.offline_after
    }

    /// Open channels.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// An open channel.
    pub fn channel(&self, id: &ChannelId) -> Option<&ChannelInfo> {
        self.channels.get(id)
    }

    fn online_at(&self, node: &Address, now: u64) -> bool {
        self.presence
            .get(node)
            .is_some_and(|(_, seen)| now.saturating_sub(*seen) < self.offline_after)
    }

    /// Nodes heard of within the window.
    pub fn online_count(&self, now: u64) -> usize {
        self.presence.keys().filter(|n| self.online_at(n, now)).count()
    }

    /// A channel as the chain shows it (at start, from the store; then from chain events).
    pub fn put_channel(&mut self, id: ChannelId, info: ChannelInfo, now: u64) {
        let online =
            [info.participants.0, info.participants.1].map(|p| (p, self.online_at(&p, now)));
        let graph = self.graphs.entry(info.token).or_insert_with(|| TokenGraph::new(false));
        graph.open(id, info.participants.0, info.participants.1, info.total());
        for (p, online) in online {
            graph.set_online(p, online);
        }
        self.channels.insert(id, info);
    }

    fn forget_channel(&mut self, id: ChannelId) {
        if let Some(info) = self.channels.remove(&id) {
            if let Some(g) = self.graphs.get_mut(&info.token) {
                g.close(id);
            }
            self.nonces.remove(&(id, info.participants.0));
            self.nonces.remove(&(id, info.participants.1));
        }
    }

    /// A confirmed chain event: the channel it changes, as now known (`None`: gone), or
    /// nothing when the event changes no channel.
    pub fn chain(
        &mut self, event: &ChainEvent, now: u64,
    ) -> Option<(ChannelId, Option<ChannelInfo>)> {
        match *event {
            ChainEvent::ChannelOpened { channel_id, token, participant1, participant2, .. } => {
                let info = ChannelInfo {
                    token,
                    participants: (participant1, participant2),
                    deposits: (TokenAmount::ZERO, TokenAmount::ZERO),
                };
                self.put_channel(channel_id, info, now);
                Some((channel_id, Some(info)))
            }
            ChainEvent::Deposit { channel_id, participant, total } => {
                let mut info = *self.channels.get(&channel_id)?;
                if participant == info.participants.0 {
                    info.deposits.0 = total;
                } else if participant == info.participants.1 {
                    info.deposits.1 = total;
                } else {
                    return None;
                }
                self.put_channel(channel_id, info, now);
                Some((channel_id, Some(info)))
            }
            ChainEvent::Withdrawn { channel_id, deposit1, deposit2, .. } => {
                let mut info = *self.channels.get(&channel_id)?;
                info.deposits = (deposit1, deposit2);
                self.put_channel(channel_id, info, now);
                Some((channel_id, Some(info)))
            }
            // (told even when not known: a close read again after a failed write is stored)
            ChainEvent::ChannelClosed { channel_id, .. }
            | ChainEvent::ChannelSettled { channel_id } => {
                self.forget_channel(channel_id);
                Some((channel_id, None))
            }
            ChainEvent::ChannelUnlocked { .. } | ChainEvent::SecretRegistered { .. } => None,
        }
    }

    /// Checks and takes a signed update (it also counts as a heartbeat of its sender).
    pub fn update(&mut self, update: &ChannelUpdate, now: u64) -> Result<Taken, UpdateError> {
        let sender = update.signer(&self.domain)?;
        self.take(sender, update, now)?;
        Ok(Taken { sender, update: update.clone() })
    }

    /// Takes a just-received update of `sender`'s (its signature checked): it must be fresh
    /// ([`FRESHNESS`]) and then pass [`Book::apply`].
    pub fn take(
        &mut self, sender: Address, update: &ChannelUpdate, now: u64,
    ) -> Result<(), UpdateError> {
        fresh(update.nonce, now)?;
        self.apply(sender, update, now)
    }

    /// Takes an update whose signature and freshness were checked (at start: from the store).
    pub fn apply(
        &mut self, sender: Address, update: &ChannelUpdate, now: u64,
    ) -> Result<(), UpdateError> {
        let fee = update.fee();
        if !fee.is_valid() {
            return Err(UpdateError::InvalidFee);
        }
        let id = update.channel_id;
        let info = self
            .channels
            .get(&id)
            .filter(|i| i.token == update.token)
            .ok_or(UpdateError::UnknownChannel(id))?;
        if sender != info.participants.0 && sender != info.participants.1 {
            return Err(UpdateError::NotParticipant(sender, id));
        }
        if let Some(&last) = self.nonces.get(&(id, sender)) {
            if update.nonce <= last {
                return Err(UpdateError::StaleNonce { nonce: update.nonce, last });
            }
        }
        let direction = Direction {
            capacity: TokenAmount(update.capacity.0),
            fee,
            disabled: update.disabled,
            known: true,
        };
        let graph = self.graphs.get_mut(&info.token).ok_or(UpdateError::UnknownChannel(id))?;
        graph.set_direction(id, sender, direction).map_err(|e| match e {
            GraphError::UnknownChannel(id) => UpdateError::UnknownChannel(id),
            GraphError::NotParticipant(a, id) => UpdateError::NotParticipant(a, id),
        })?;
        self.nonces.insert((id, sender), update.nonce);
        self.seen(sender, None, now);
        Ok(())
    }

    /// Checks and takes a heartbeat.
    pub fn heartbeat(&mut self, heartbeat: &Heartbeat, now: u64) -> Result<(), UpdateError> {
        heartbeat.check(&self.domain)?;
        fresh(heartbeat.nonce, now)?;
        if !self.graphs.values().any(|g| g.contains(heartbeat.address)) {
            return Err(UpdateError::NoChannel(heartbeat.address));
        }
        let last = self.presence.get(&heartbeat.address).map_or(0, |(n, _)| *n);
        if heartbeat.nonce <= last {
            return Err(UpdateError::StaleNonce { nonce: heartbeat.nonce, last });
        }
        self.seen(heartbeat.address, Some(heartbeat.nonce), now);
        Ok(())
    }

    /// A node was heard of at `now` (with a heartbeat nonce, or by an update).
    pub fn seen(&mut self, node: Address, nonce: Option<u64>, now: u64) {
        let entry = self.presence.entry(node).or_insert((0, 0));
        if let Some(nonce) = nonce {
            entry.0 = nonce;
        }
        entry.1 = entry.1.max(now);
        for g in self.graphs.values_mut() {
            g.set_online(node, true);
        }
    }

    /// A node's presence: (last heartbeat nonce, last heard of).
    pub fn presence_of(&self, node: Address) -> Option<(u64, u64)> {
        self.presence.get(&node).copied()
    }

    /// Every node's presence: (address, heartbeat nonce, last heard of).
    pub fn presence(&self) -> impl Iterator<Item = (Address, u64, u64)> + '_ {
        self.presence.iter().map(|(a, (n, s))| (*a, *n, *s))
    }

    /// Marks nodes silent for too long as offline (run every second or so).
    pub fn sweep(&mut self, now: u64) {
        let (presence, window) = (&self.presence, self.offline_after);
        for g in self.graphs.values_mut() {
            g.refresh_online(|node| {
                presence.get(node).is_some_and(|(_, seen)| now.saturating_sub(*seen) < window)
            });
        }
    }

    /// Replaces what is known of presence (at start, from the store).
    pub fn reset_presence(&mut self, entries: Vec<(Address, u64, u64)>, now: u64) {
        self.presence = entries.into_iter().map(|(a, n, s)| (a, (n, s))).collect();
        self.sweep(now);
    }

    /// Up to `k` paths for `amount` of `token` from `from` to `to`, cheapest first.
    pub fn paths(
        &self, scratch: &mut Scratch, token: Address, from: Address, to: Address,
        amount: TokenAmount, k: usize,
    ) -> Vec<Route> {
        let max_hops = photon_primitives::messages::MAX_PATH_LEN - 1;
        self.graphs
            .get(&token)
            .map_or_else(Vec::new, |g| g.paths(scratch, from, to, amount, k, max_hops))
    }
}
