//! The channel graph of one token and the route search the service, the node's local
//! routing and `photon-bench route` share.
//!
//! **Graph.** Nodes are indices; each keeps its channels as (neighbour, channel) pairs, so a
//! search step looks only at the channels of the node it visits. A channel has two
//! directions; the direction a→b is usable when a told its capacity toward b and its fee
//! (a signed update, or the node's own state), has not disabled it, and a is online. What a
//! search reads per direction (capacity, flat fee, proportional rate with the imbalance
//! component applied, usable) sits in one compact array; the rest apart.
//!
//! **Pricing.** A route is priced from the target backwards: the target must receive
//! `amount`; the hop before it must send that much over their channel (its capacity must
//! hold it); a mediator must receive what its fee needs to forward exactly that
//! ([`receive_at_rate`]). What a mediator must receive never decreases with what it must
//! forward, and a channel that cannot carry an amount cannot carry more, so Dijkstra's
//! algorithm over "amount that must arrive here", run from the target, finds the cheapest
//! route exactly ([`TokenGraph::cheapest_exact`], the reference).
//!
//! **Search** (`search.rs`): the same backward search, met halfway by a forward search from
//! the payer whose costs are lower bounds (each mediator's fee on the amount itself, which is
//! at most what it forwards); where they meet the joined route is priced exactly, and the
//! backward search then finishes with every node pruned whose exact label plus a lower bound
//! of its prefix reaches that price: the result is exact. [`TokenGraph::paths`] gives up to
//! k loop-free routes cheapest first (Yen's algorithm over that search), first with only
//! relays (nodes with [`RELAY_DEGREE`] channels or more) as mediators, then, when they give
//! fewer than k routes, with every node.

use photon_primitives::{Address, ChannelId, TokenAmount};
use photon_state::fees::receive_at_rate;
use photon_state::FeePolicy;
use std::collections::HashMap;

mod search;

pub use search::Scratch;

/// One direction of a channel: what its sender can send and charges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Direction {
    /// What the sender can send now (net of its pending locks).
    pub capacity: TokenAmount,
    /// Its fee for forwarding over this channel.
    pub fee: FeePolicy,
    /// The sender does not forward over this channel.
    pub disabled: bool,
    /// The sender told us (otherwise the direction is not used).
    pub known: bool,
}

/// What a search reads of one direction.
#[derive(Clone, Copy, Debug, Default)]
struct Hot {
    capacity: u128,
    flat: u128,
    /// Proportional rate with the imbalance component applied (millionths).
    rate: u32,
    /// Known and not disabled.
    usable: bool,
}

impl Hot {
    /// What the sender must receive to forward `out` over this direction as a mediator.
    fn receive_for(&self, out: u128) -> Option<u128> {
        receive_at_rate(TokenAmount(self.flat), self.rate, TokenAmount(out)).map(|a| a.0)
    }

    /// A lower bound of the sender's fee as a mediator of a payment of `amount`.
    fn least_fee(&self, amount: u128) -> u128 {
        let policy = FeePolicy { flat: TokenAmount(self.flat), ..FeePolicy::FREE };
        policy.fee_at_rate(TokenAmount(amount), self.rate).0
    }
}

/// Nodes with at least this many channels are *relays*: the first search considers only
/// them as mediators (a node with a handful of channels is a wallet, rarely on a cheapest
/// route); when it finds fewer routes than asked for, every node is considered.
pub const RELAY_DEGREE: usize = 4;

#[derive(Clone, Debug)]
struct Edge {
    id: ChannelId,
    ends: [u32; 2],
    total: TokenAmount,
    dirs: [Direction; 2],
}

/// One hop of a route: the channel and the lock its sender puts on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The channel.
    pub channel_id: ChannelId,
    /// Who sends over it.
    pub from: Address,
    /// Who receives.
    pub to: Address,
    /// The lock's amount on this channel.
    pub amount: TokenAmount,
    /// What `from` keeps as a mediator (zero for the payer).
    pub fee: TokenAmount,
    /// `from`'s fee policy over this channel.
    pub policy: FeePolicy,
}

/// A route that carries the amount: the payer sends `hops[0].amount`, the target receives
/// the amount asked for, each mediator keeps its fee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The hops from payer to target.
    pub hops: Vec<Hop>,
    /// All the mediators' fees.
    pub fee: TokenAmount,
}

impl Route {
    /// Payer, mediators, target.
    pub fn nodes(&self) -> Vec<Address> {
        let mut nodes: Vec<Address> = self.hops.iter().map(|h| h.from).collect();
        nodes.extend(self.hops.last().map(|h| h.to));
        nodes
    }
}

/// Errors of graph updates.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// No open channel with that id.
    #[error("no open channel {0}")]
    UnknownChannel(ChannelId),
    /// The sender is not a participant.
    #[error("{0} is not a participant of channel {1}")]
    NotParticipant(Address, ChannelId),
}

/// The open channels of one token.
#[derive(Clone, Debug, Default)]
pub struct TokenGraph {
    index: HashMap<Address, u32>,
    addresses: Vec<Address>,
    /// Per node: (neighbour, the direction from the node to it: `2·slot + side`).
    adjacency: Vec<Vec<(u32, u32)>>,
    /// Per node: how many of its first adjacency entries lead to relays (the rest do not).
    relays: Vec<u32>,
    online: Vec<bool>,
    edges: Vec<Edge>,
    /// Per channel slot and side (`2·slot + side`).
    hot: Vec<Hot>,
    free: Vec<u32>,
    by_id: HashMap<ChannelId, u32>,
    /// Nodes are online until told otherwise (local routing, benchmarks); else offline until
    /// a heartbeat.
    assume_online: bool,
    /// Nodes with at least this many channels are relays ([`RELAY_DEGREE`]; tests vary it).
    relay_degree: usize,
}

impl TokenGraph {
    /// An empty graph; nodes count as online from the start when `assume_online`.
    pub fn new(assume_online: bool) -> Self {
        Self { assume_online, relay_degree: RELAY_DEGREE, ..Self::default() }
    }

    /// Room for `nodes` nodes and `channels` channels.
    pub fn with_capacity(assume_online: bool, nodes: usize, channels: usize) -> Self {
        Self {
            index: HashMap::with_capacity(nodes),
            addresses: Vec::with_capacity(nodes),
            adjacency: Vec::with_capacity(nodes),
            online: Vec::with_capacity(nodes),
            edges: Vec::with_capacity(channels),
            hot: Vec::with_capacity(2 * channels),
            by_id: HashMap::with_capacity(channels),
            assume_online,
            relay_degree: RELAY_DEGREE,
            ..Self::default()
        }
    }

    fn node(&mut self, address: Address) -> u32 {
        if let Some(i) = self.index.get(&address) {
            return *i;
        }
        let i = self.addresses.len() as u32;
        self.addresses.push(address);
        self.adjacency.push(Vec::new());
        self.relays.push(0);
        self.online.push(self.assume_online);
        self.index.insert(address, i);
        i
    }

    /// Whether `address` has (or had) a channel in this graph.
    pub fn contains(&self, address: Address) -> bool {
        self.index.contains_key(&address)
    }

    /// Number of nodes with (or once with) a channel.
    pub fn node_count(&self) -> usize {
        self.addresses.len()
    }

    /// Number of open channels.
    pub fn channel_count(&self) -> usize {
        self.by_id.len()
    }

    fn refresh_hot(&mut self, slot: u32) {
        let edge = &self.edges[slot as usize];
        for side in 0..2 {
            let d = &edge.dirs[side];
            self.hot[2 * slot as usize + side] = Hot {
                capacity: d.capacity.0,
                flat: d.fee.flat.0,
                rate: d.fee.rate(d.capacity, edge.total),
                usable: d.known && !d.disabled,
            };
        }
    }

    /// Whether `node` is a relay (enough channels to be considered a mediator first).
    pub(super) fn is_relay(&self, node: u32) -> bool {
        self.adjacency[node as usize].len() >= self.relay_degree
    }

    /// `node`'s adjacency entries that lead to relays.
    pub(super) fn relay_neighbours(&self, node: u32) -> &[(u32, u32)] {
        &self.adjacency[node as usize][..self.relays[node as usize] as usize]
    }

    /// Whether every node's adjacency starts with exactly its entries that lead to relays
    /// (the invariant the searches rely on; tests and benchmarks check it).
    pub fn relays_consistent(&self) -> bool {
        (0..self.node_count()).all(|v| {
            let (r, list) = (self.relays[v] as usize, &self.adjacency[v]);
            list[..r].iter().all(|(n, _)| self.is_relay(*n))
                && list[r..].iter().all(|(n, _)| !self.is_relay(*n))
        })
    }

    /// A graph whose relays have at least `degree` channels (tests).
    #[cfg(test)]
    pub(super) fn relay_degree(mut self, degree: usize) -> Self {
        self.relay_degree = degree;
        self
    }

    /// Adds `entry` to `node`'s adjacency, among the relay entries if it leads to a relay.
    fn add_entry(&mut self, node: u32, entry: (u32, u32)) {
        let relay = self.is_relay(entry.0);
        let (list, relays) = (&mut self.adjacency[node as usize], &mut self.relays[node as usize]);
        list.push(entry);
        if relay {
            let last = list.len() - 1;
            list.swap(*relays as usize, last);
            *relays += 1;
        }
    }

    /// Removes the entries of channel `slot` from `node`'s adjacency.
    fn remove_entry(&mut self, node: u32, slot: u32) {
        let (list, relays) = (&mut self.adjacency[node as usize], &mut self.relays[node as usize]);
        while let Some(mut at) = list.iter().position(|(_, d)| d >> 1 == slot) {
            if at < *relays as usize {
                list.swap(at, *relays as usize - 1);
                *relays -= 1;
                at = *relays as usize;
            }
            list.swap_remove(at);
        }
    }

    /// `node` became a relay or stopped being one (`was`): its neighbours' adjacency entries
    /// to it move across their relay boundary.
    fn reclassify(&mut self, node: u32, was: bool) {
        let now = self.is_relay(node);
        if now == was {
            return;
        }
        let neighbours: Vec<u32> = self.adjacency[node as usize].iter().map(|(n, _)| *n).collect();
        for m in neighbours {
            let (list, relays) = (&mut self.adjacency[m as usize], &mut self.relays[m as usize]);
            // (every entry: two nodes may share more than one channel in tests)
            loop {
                let r = *relays as usize;
                let wrong = if now {
                    list[r..].iter().position(|(n, _)| *n == node).map(|at| at + r)
                } else {
                    list[..r].iter().position(|(n, _)| *n == node)
                };
                let Some(at) = wrong else { break };
                if now {
                    list.swap(at, r);
                    *relays += 1;
                } else {
                    list.swap(at, r - 1);
                    *relays -= 1;
                }
            }
        }
    }

    /// A channel opened between `a` and `b` holding `total` (both deposits). Opening one
    /// that is open already only sets its total.
    pub fn open(&mut self, id: ChannelId, a: Address, b: Address, total: TokenAmount) {
        if let Some(&slot) = self.by_id.get(&id) {
            self.edges[slot as usize].total = total;
            self.refresh_hot(slot);
            return;
        }
        let ends = [self.node(a), self.node(b)];
        let edge = Edge { id, ends, total, dirs: [Direction::default(); 2] };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.edges[slot as usize] = edge;
                slot
            }
            None => {
                self.edges.push(edge);
                self.hot.extend([Hot::default(); 2]);
                (self.edges.len() - 1) as u32
            }
        };
        self.refresh_hot(slot);
        self.by_id.insert(id, slot);
        let was = ends.map(|n| self.is_relay(n));
        self.add_entry(ends[0], (ends[1], 2 * slot));
        self.add_entry(ends[1], (ends[0], 2 * slot + 1));
        for (node, was) in ends.into_iter().zip(was) {
            self.reclassify(node, was);
        }
    }

    /// The deposits of a channel changed (deposit, withdrawal).
    pub fn set_total(&mut self, id: ChannelId, total: TokenAmount) -> Result<(), GraphError> {
        let slot = *self.by_id.get(&id).ok_or(GraphError::UnknownChannel(id))?;
        self.edges[slot as usize].total = total;
        self.refresh_hot(slot);
        Ok(())
    }

    /// The channel closed: no route uses it any more.
    pub fn close(&mut self, id: ChannelId) {
        let Some(slot) = self.by_id.remove(&id) else { return };
        self.edges[slot as usize].dirs = [Direction::default(); 2];
        self.refresh_hot(slot);
        let ends = self.edges[slot as usize].ends;
        let was = ends.map(|n| self.is_relay(n));
        for end in ends {
            self.remove_entry(end, slot);
        }
        for (node, was) in ends.into_iter().zip(was) {
            self.reclassify(node, was);
        }
        self.free.push(slot);
    }

    /// The participants of an open channel.
    pub fn participants(&self, id: ChannelId) -> Option<(Address, Address)> {
        let edge = &self.edges[*self.by_id.get(&id)? as usize];
        Some((self.addresses[edge.ends[0] as usize], self.addresses[edge.ends[1] as usize]))
    }

    /// What `from` told about its direction of channel `id`.
    pub fn set_direction(
        &mut self, id: ChannelId, from: Address, direction: Direction,
    ) -> Result<(), GraphError> {
        let slot = *self.by_id.get(&id).ok_or(GraphError::UnknownChannel(id))?;
        let edge = &mut self.edges[slot as usize];
        let side = self
            .index
            .get(&from)
            .and_then(|n| edge.ends.iter().position(|e| e == n))
            .ok_or(GraphError::NotParticipant(from, id))?;
        edge.dirs[side] = Direction { known: true, ..direction };
        self.refresh_hot(slot);
        Ok(())
    }

    /// What `from` told about its direction of channel `id`, if anything.
    pub fn direction(&self, id: ChannelId, from: Address) -> Option<Direction> {
        let edge = &self.edges[*self.by_id.get(&id)? as usize];
        let n = self.index.get(&from)?;
        let side = edge.ends.iter().position(|e| e == n)?;
        Some(edge.dirs[side]).filter(|d| d.known)
    }

    /// Whether a node is routed through (it sent a heartbeat lately).
    pub fn set_online(&mut self, address: Address, online: bool) {
        if let Some(i) = self.index.get(&address) {
            self.online[*i as usize] = online;
        }
    }

    /// Sets every node online or not by `online`.
    pub fn refresh_online(&mut self, online: impl Fn(&Address) -> bool) {
        for (i, address) in self.addresses.iter().enumerate() {
            self.online[i] = online(address);
        }
    }

    /// The side of `from` in channel `slot`.
    fn side(&self, slot: u32, from: u32) -> usize {
        usize::from(self.edges[slot as usize].ends[1] == from)
    }

    /// Prices a route given as node indices and channel slots: each hop's lock and fee,
    /// backwards from the target; `None` when a hop cannot carry its lock (or its sender,
    /// not the payer, is offline).
    fn price(&self, nodes: &[u32], slots: &[u32], amount: u128) -> Option<Route> {
        let mut hops = Vec::with_capacity(slots.len());
        let mut need = amount;
        for i in (0..slots.len()).rev() {
            let (from, slot) = (nodes[i], slots[i]);
            let edge = &self.edges[slot as usize];
            let side = edge.ends.iter().position(|e| *e == from)?;
            let hot = &self.hot[2 * slot as usize + side];
            if !hot.usable || hot.capacity < need || (i != 0 && !self.online[from as usize]) {
                return None;
            }
            let receives = if i == 0 { need } else { hot.receive_for(need)? };
            hops.push(Hop {
                channel_id: edge.id,
                from: self.addresses[from as usize],
                to: self.addresses[nodes[i + 1] as usize],
                amount: TokenAmount(need),
                fee: TokenAmount(receives - need),
                policy: edge.dirs[side].fee,
            });
            need = receives;
        }
        hops.reverse();
        let fee = TokenAmount(hops.first()?.amount.0 - amount);
        Some(Route { hops, fee })
    }

    fn endpoints(&self, from: Address, to: Address, amount: TokenAmount) -> Option<(u32, u32)> {
        let (s, t) = (*self.index.get(&from)?, *self.index.get(&to)?);
        (s != t && amount.0 > 0).then_some((s, t))
    }

    /// The cheapest route from `from` to `to` carrying `amount` (at most `max_hops`
    /// channels), by the meet-halfway search.
    pub fn cheapest(
        &self, scratch: &mut Scratch, from: Address, to: Address, amount: TokenAmount,
        max_hops: usize,
    ) -> Option<Route> {
        let (s, t) = self.endpoints(from, to, amount)?;
        // relays as mediators first, then every node
        let (nodes, slots) = [true, false].into_iter().find_map(|relays_only| {
            scratch.search(self, (s, true), t, amount.0, (max_hops, relays_only), (&[], &[]))
        })?;
        self.price(&nodes, &slots, amount.0)
    }

    /// The cheapest route by the exact backward search alone (the reference the benchmark
    /// and the tests hold the faster search to).
    pub fn cheapest_exact(
        &self, scratch: &mut Scratch, from: Address, to: Address, amount: TokenAmount,
        max_hops: usize,
    ) -> Option<Route> {
        let (s, t) = self.endpoints(from, to, amount)?;
        let (nodes, slots) = scratch.exact(self, s, t, amount.0, max_hops)?;
        self.price(&nodes, &slots, amount.0)
    }

    /// Up to `k` loop-free routes from `from` to `to` that carry `amount`, cheapest first
    /// (Yen's algorithm; at most `max_hops` channels each).
    pub fn paths(
        &self, scratch: &mut Scratch, from: Address, to: Address, amount: TokenAmount, k: usize,
        max_hops: usize,
    ) -> Vec<Route> {
        let Some((s, t)) = self.endpoints(from, to, amount) else { return Vec::new() };
        if k == 0 {
            return Vec::new();
        }
        // relays as mediators first; every node when they give fewer than k routes (and
        // not because a spur search was cut short)
        let (mut found, cut) = scratch.yen(self, s, t, amount.0, k, (max_hops, true));
        if found.len() < k && !cut {
            found = scratch.yen(self, s, t, amount.0, k, (max_hops, false)).0;
        }
        found.iter().filter_map(|(nodes, slots)| self.price(nodes, slots, amount.0)).collect()
    }
}

#[cfg(test)]
mod tests;
