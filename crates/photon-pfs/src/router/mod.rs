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
//! **Search** ([`search`]): the same backward search, met halfway by a forward search from
//! the payer whose costs are lower bounds (each mediator's fee on the amount itself, which is
//! at most what it forwards); the two stop when their radii add up to the cheapest exact
//! route found where they met. On a network with hubs the two meet after a few thousand
//! steps instead of covering the graph. [`TokenGraph::paths`] gives up to k loop-free routes
//! cheapest first (Yen's algorithm over that search).

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

/// Nodes with more channels than this are expanded lazily by the searches: their channels
/// are kept sorted by flat fee, and a search walks them in that order only as far as its
/// radius reaches (a hub's thousands of channels are rarely all needed).
pub(super) const LAZY: usize = 48;

/// A hub's channels (adjacency entries) sorted by the flat fee of the direction out of it
/// (`out`) and into it (`inn`), ties by direction.
#[derive(Clone, Debug, Default)]
pub(super) struct Sorted {
    pub(super) out: Vec<(u32, u32)>,
    pub(super) inn: Vec<(u32, u32)>,
}

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
    /// Per node with more than [`LAZY`] channels, an index into `sorted`.
    sorted_of: HashMap<u32, usize>,
    sorted: Vec<Sorted>,
    online: Vec<bool>,
    edges: Vec<Edge>,
    /// Per channel slot and side (`2·slot + side`).
    hot: Vec<Hot>,
    free: Vec<u32>,
    by_id: HashMap<ChannelId, u32>,
    /// Nodes are online until told otherwise (local routing, benchmarks); else offline until
    /// a heartbeat.
    assume_online: bool,
    /// Nodes with more channels are expanded lazily ([`LAZY`]; lower in tests).
    lazy_above: usize,
}

impl TokenGraph {
    /// An empty graph; nodes count as online from the start when `assume_online`.
    pub fn new(assume_online: bool) -> Self {
        Self { assume_online, lazy_above: LAZY, ..Self::default() }
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
            lazy_above: LAZY,
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
        self.online.push(self.assume_online);
        self.index.insert(address, i);
        i
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
        let ends = edge.ends;
        let mut moved = Vec::new();
        for side in 0..2 {
            let d = &edge.dirs[side];
            let dir = 2 * slot as usize + side;
            let hot = Hot {
                capacity: d.capacity.0,
                flat: d.fee.flat.0,
                rate: d.fee.rate(d.capacity, edge.total),
                usable: d.known && !d.disabled,
            };
            if hot.flat != self.hot[dir].flat {
                moved.push((side, dir as u32));
            }
            self.hot[dir] = hot;
        }
        // hubs keep their channels sorted by flat fee
        for (side, dir) in moved {
            let (owner, other) = (ends[side], ends[1 - side]);
            if let Some(&i) = self.sorted_of.get(&owner) {
                let list = std::mem::take(&mut self.sorted[i].out);
                self.sorted[i].out = self.resorted(list, (other, dir), dir);
            }
            if let Some(&i) = self.sorted_of.get(&other) {
                let list = std::mem::take(&mut self.sorted[i].inn);
                self.sorted[i].inn = self.resorted(list, (owner, dir ^ 1), dir);
            }
        }
    }

    /// `list` with `entry` (whose key is the flat fee of direction `key`) moved to its place.
    fn resorted(&self, mut list: Vec<(u32, u32)>, entry: (u32, u32), key: u32) -> Vec<(u32, u32)> {
        if let Some(at) = list.iter().position(|e| *e == entry) {
            list.remove(at);
        }
        let k = (self.hot[key as usize].flat, entry.1);
        let at = list.partition_point(|e| {
            let d = if key == entry.1 { e.1 } else { e.1 ^ 1 };
            (self.hot[d as usize].flat, e.1) < k
        });
        list.insert(at, entry);
        list
    }

    /// Sorts a node's channels once it has more than [`LAZY`] (tests: `lazy_above`).
    fn sort_channels(&mut self, node: u32) {
        let adjacency = &self.adjacency[node as usize];
        if adjacency.len() <= self.lazy_above {
            return;
        }
        let mut out = adjacency.clone();
        out.sort_by_key(|e| (self.hot[e.1 as usize].flat, e.1));
        let mut inn = adjacency.clone();
        inn.sort_by_key(|e| (self.hot[(e.1 ^ 1) as usize].flat, e.1));
        match self.sorted_of.get(&node) {
            Some(&i) => self.sorted[i] = Sorted { out, inn },
            None => {
                self.sorted_of.insert(node, self.sorted.len());
                self.sorted.push(Sorted { out, inn });
            }
        }
    }

    /// A graph whose nodes with more than `above` channels are expanded lazily (tests
    /// exercise the lazy expansion on small graphs).
    #[cfg(test)]
    pub(super) fn lazy_above(mut self, above: usize) -> Self {
        self.lazy_above = above;
        self
    }

    /// A hub's sorted channels.
    pub(super) fn sorted(&self, node: u32) -> Option<&Sorted> {
        self.sorted_of.get(&node).map(|i| &self.sorted[*i])
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
        self.adjacency[ends[0] as usize].push((ends[1], 2 * slot));
        self.adjacency[ends[1] as usize].push((ends[0], 2 * slot + 1));
        for (side, node) in ends.into_iter().enumerate() {
            let (other, dir) = (ends[1 - side], 2 * slot + side as u32);
            match self.sorted_of.get(&node) {
                Some(&i) => {
                    let list = std::mem::take(&mut self.sorted[i].out);
                    self.sorted[i].out = self.resorted(list, (other, dir), dir);
                    let list = std::mem::take(&mut self.sorted[i].inn);
                    self.sorted[i].inn = self.resorted(list, (other, dir), dir ^ 1);
                }
                None => self.sort_channels(node),
            }
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
        for end in self.edges[slot as usize].ends {
            self.adjacency[end as usize].retain(|(_, d)| d >> 1 != slot);
            if let Some(&i) = self.sorted_of.get(&end) {
                self.sorted[i].out.retain(|(_, d)| d >> 1 != slot);
                self.sorted[i].inn.retain(|(_, d)| d >> 1 != slot);
            }
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
        let (nodes, slots) = scratch.search(self, (s, true), t, amount.0, max_hops, &[], &[])?;
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
        scratch
            .yen(self, s, t, amount.0, k, max_hops)
            .iter()
            .filter_map(|(nodes, slots)| self.price(nodes, slots, amount.0))
            .collect()
    }
}

#[cfg(test)]
mod tests;
