//! The searches over a [`TokenGraph`]: the exact backward search, the meet-halfway search
//! built on it, and Yen's k paths. All work in a reusable [`Scratch`]: labels are stamped
//! with a generation number instead of being cleared, so a query allocates nothing once the
//! buffers are grown.

use super::TokenGraph;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A path as node indices and channel slots.
pub(super) type RawPath = (Vec<u32>, Vec<u32>);

/// Heap entries: (label, hops, node).
type Heap = BinaryHeap<Reverse<(u128, u8, u32)>>;

/// One node's label in one search.
#[derive(Clone, Copy, Default)]
struct Label {
    /// What the search minimises (see the searches).
    label: u128,
    /// Forward: (previous node, slot); backward: (next node, slot).
    link: (u32, u32),
    /// Labelled in this generation.
    stamp: u32,
    /// Settled (the label is final) in this generation.
    done: u32,
    hops: u8,
}

/// One direction's labels (one array of records: one cache line per node touched).
#[derive(Default)]
struct Side {
    at: Vec<Label>,
    heap: Heap,
    /// Nodes labelled in this search.
    labelled: usize,
}

impl Side {
    fn grow(&mut self, n: usize) {
        if self.at.len() < n {
            self.at.resize(n, Label::default());
        }
        self.heap.clear();
        self.labelled = 0;
    }

    fn has(&self, node: u32, generation: u32) -> bool {
        self.at[node as usize].stamp == generation
    }

    /// Labels `node` if the label is better (smaller, or as small with fewer hops).
    fn offer(
        &mut self, node: u32, label: u128, hops: u8, link: (u32, u32), generation: u32,
    ) -> bool {
        let i = node as usize;
        let better = self.at[i].stamp != generation
            || label < self.at[i].label
            || (label == self.at[i].label && hops < self.at[i].hops);
        if better {
            self.labelled += usize::from(self.at[i].stamp != generation);
            self.at[i].stamp = generation;
            self.at[i].label = label;
            self.at[i].hops = hops;
            self.at[i].link = link;
            self.heap.push(Reverse((label, hops, node)));
        }
        better
    }

    fn top(&self) -> Option<u128> {
        self.heap.peek().map(|Reverse((label, _, _))| *label)
    }
}

/// What `s` must receive (as a mediator) or send (as the payer) beyond `amount` for the
/// route `path` to deliver `amount`: the label the searches minimise.
fn cost(g: &TokenGraph, path: &RawPath, amount: u128, payer: bool) -> Option<u128> {
    let route = g.price(&path.0, &path.1, amount)?;
    if payer {
        return Some(route.fee.0);
    }
    let (s, slot) = (path.0[0], path.1[0]);
    let hot = &g.hot[2 * slot as usize + g.side(slot, s)];
    if !g.online[s as usize] {
        return None;
    }
    Some(hot.receive_for(route.hops[0].amount.0)? - amount)
}

/// Reusable buffers of the searches (one per thread).
pub struct Scratch {
    generation: u32,
    forward: Side,
    backward: Side,
    banned: Vec<u32>,
    /// Nodes the last step labelled that the other search had labelled too.
    touched: Vec<u32>,
    /// The backward labels of the search Yen's spurs are looked up in, and its generation.
    tree: Vec<Label>,
    tree_generation: u32,
    /// Nodes settled and searches run, over the scratch's life (benchmarks).
    settled: u64,
    searches: u64,
    relaxed: u64,
    /// Channels the current search may look at before it gives up (bounded query cost).
    budget: u64,
    /// ... and has looked at.
    spent: u64,
    /// A search gave up on its budget since this was last cleared.
    gave_up: bool,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            generation: 0,
            forward: Side::default(),
            backward: Side::default(),
            banned: Vec::new(),
            touched: Vec::new(),
            tree: Vec::new(),
            tree_generation: 0,
            settled: 0,
            searches: 0,
            relaxed: 0,
            budget: u64::MAX,
            spent: 0,
            gave_up: false,
        }
    }
}

/// Fewest channels a spur search may look at, whatever the first search cost.
const MIN_SPUR_BUDGET: u64 = 10_000;

/// What a search may use: not the banned nodes and directions (`2·slot + side`) of Yen's
/// spur searches; as mediators only relays, or every node.
#[derive(Clone, Copy)]
struct Bans<'a> {
    edges: &'a [u32],
    generation: u32,
    relays_only: bool,
}

impl Scratch {
    /// (searches run, nodes settled) since the scratch was made.
    pub fn work(&self) -> (u64, u64, u64) {
        (self.searches, self.settled, self.relaxed)
    }

    fn reset(&mut self, n: usize, banned_nodes: &[u32]) -> u32 {
        self.searches += 1;
        self.spent = 0;
        self.forward.grow(n);
        self.backward.grow(n);
        if self.banned.len() < n {
            self.banned.resize(n, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            for side in [&mut self.forward, &mut self.backward] {
                side.at.iter_mut().for_each(|l| *l = Label::default());
            }
            self.tree.iter_mut().for_each(|l| *l = Label::default());
            self.banned.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
        for n in banned_nodes {
            self.banned[*n as usize] = self.generation;
        }
        self.generation
    }

    /// The path from `s` to `t` through the backward tree from `u`, after the forward tree
    /// to `u`; `None` if the two trees cross (a loop).
    fn join(&self, s: u32, u: u32, t: u32) -> Option<RawPath> {
        let (mut nodes, mut slots) = (vec![u], Vec::new());
        let mut at = u;
        while at != s {
            let (prev, slot) = self.forward.at[at as usize].link;
            nodes.push(prev);
            slots.push(slot);
            at = prev;
        }
        nodes.reverse();
        slots.reverse();
        let mut at = u;
        while at != t {
            let (next, slot) = self.backward.at[at as usize].link;
            if nodes.contains(&next) {
                return None;
            }
            nodes.push(next);
            slots.push(slot);
            at = next;
        }
        Some((nodes, slots))
    }

    /// The exact cheapest route (backward search alone, to completion at `s`).
    pub(super) fn exact(
        &mut self, g: &TokenGraph, s: u32, t: u32, amount: u128, max_hops: usize,
    ) -> Option<RawPath> {
        let generation = self.reset(g.node_count(), &[]);
        let bans = Bans { edges: &[], generation, relays_only: false };
        self.backward.offer(t, amount, 0, (t, 0), generation);
        while let Some(v) = self.step_backward(g, (s, true), max_hops, &bans, amount, None) {
            if v == s {
                self.forward.at[s as usize].stamp = generation;
                return self.join(s, s, t);
            }
        }
        None
    }

    /// A lower bound of the fees paid to the mediators between `s` and `v`: the forward
    /// label once final, else the forward search's radius.
    fn prefix_bound(&self, v: u32, radius: u128) -> u128 {
        if self.forward.at[v as usize].done == self.generation {
            self.forward.at[v as usize].label
        } else {
            radius
        }
    }

    /// Settles the next node of the backward search and relaxes its channels; the node, or
    /// `None` when the search is over. With `prune` = (fee of a route known, forward radius),
    /// nodes that cannot be on a cheaper route are left out.
    fn step_backward(
        &mut self, g: &TokenGraph, (s, payer): (u32, bool), max_hops: usize, bans: &Bans<'_>,
        amount: u128, prune: Option<(u128, u128)>,
    ) -> Option<u32> {
        loop {
            let Reverse((key, hops, v)) = self.backward.heap.pop()?;
            let i = v as usize;
            if key != self.backward.at[i].label || hops != self.backward.at[i].hops {
                continue; // stale
            }
            self.backward.at[i].done = bans.generation;
            self.settled += 1;
            if v == s || usize::from(hops) >= max_hops {
                return Some(v);
            }
            if let Some((known, radius)) = prune {
                if (key - amount).saturating_add(self.prefix_bound(v, radius)) >= known {
                    continue;
                }
            }
            if bans.relays_only {
                // relays, and the payer (not a relay: a handful of channels) if it has a
                // channel to v
                let relays = g.relay_neighbours(v);
                self.relaxed += relays.len() as u64;
                self.spent += relays.len() as u64;
                for &entry in relays {
                    self.relax_backward(g, v, entry, (s, payer), bans, amount, prune);
                }
                if !g.is_relay(s) {
                    for &(w, out) in &g.adjacency[s as usize] {
                        if w == v {
                            self.relax_backward(
                                g,
                                v,
                                (s, out ^ 1),
                                (s, payer),
                                bans,
                                amount,
                                prune,
                            );
                        }
                    }
                }
            } else {
                self.relaxed += g.adjacency[i].len() as u64;
                self.spent += g.adjacency[i].len() as u64;
                for &entry in &g.adjacency[i] {
                    self.relax_backward(g, v, entry, (s, payer), bans, amount, prune);
                }
            }
            return Some(v);
        }
    }

    /// Offers `u` (the neighbour in `v`'s adjacency entry) what it must receive (or send, as
    /// the payer) to get `v`'s label to `v`.
    #[allow(clippy::too_many_arguments)]
    fn relax_backward(
        &mut self, g: &TokenGraph, v: u32, (u, out): (u32, u32), (s, payer): (u32, bool),
        bans: &Bans<'_>, amount: u128, prune: Option<(u128, u128)>,
    ) {
        let generation = bans.generation;
        let (need, hops) = (self.backward.at[v as usize].label, self.backward.at[v as usize].hops);
        let dir = out ^ 1; // u → v
        let hot = &g.hot[dir as usize];
        let pays = u == s && payer;
        if !hot.usable
            || hot.capacity < need
            || self.banned[u as usize] == generation
            || (!pays && !g.online[u as usize])
            || (u != s && g.adjacency[u as usize].len() < 2) // cannot mediate
            || bans.edges.contains(&dir)
        {
            return;
        }
        let u_needs = if pays { Some(need) } else { hot.receive_for(need) };
        let pruned = |u_needs: u128| {
            prune.is_some_and(|(known, radius)| {
                (u_needs - amount).saturating_add(self.prefix_bound(u, radius)) >= known
            })
        };
        if let Some(u_needs) = u_needs.filter(|n| !pruned(*n)) {
            if self.backward.offer(u, u_needs, hops + 1, (v, dir >> 1), generation)
                && self.forward.has(u, generation)
            {
                self.touched.push(u);
            }
        }
    }

    /// The cheapest route from `s` (the payer, or a mediator in a spur search) to `t`,
    /// avoiding `banned_nodes` and `banned_edges`: a backward search from `t` with exact
    /// labels met by a forward search from `s` with lower-bound labels (each mediator's fee
    /// on the amount itself). Where they meet, the joined route is priced exactly; the
    /// search stops when the radii add up to the cheapest such price, or when the backward
    /// search reaches `s` (its label is then exact).
    pub(super) fn search(
        &mut self, g: &TokenGraph, (s, payer): (u32, bool), t: u32, amount: u128,
        (max_hops, relays_only): (usize, bool), (banned_nodes, banned_edges): (&[u32], &[u32]),
    ) -> Option<RawPath> {
        let generation = self.reset(g.node_count(), banned_nodes);
        let bans = Bans { edges: banned_edges, generation, relays_only };
        self.backward.offer(t, amount, 0, (t, 0), generation);
        self.forward.offer(s, 0, 0, (s, 0), generation);
        let mut best: Option<(u128, RawPath)> = None;
        loop {
            if self.spent > self.budget {
                self.gave_up = true;
                return None;
            }
            let rf = self.forward.top();
            let rb = self.backward.top().map(|n| n - amount);
            if rf.is_none() && rb.is_none() {
                break;
            }
            // a side that is done having labelled only its own end: nothing can meet it (the
            // payer cannot send, or nobody can deliver to the target)
            let stuck = |top: Option<u128>, side: &Side| top.is_none() && side.labelled == 1;
            if best.is_none() && (stuck(rf, &self.forward) || stuck(rb, &self.backward)) {
                break;
            }
            let radii = rf.unwrap_or(u128::MAX).saturating_add(rb.unwrap_or(u128::MAX));
            if best.as_ref().is_some_and(|(fee, _)| radii >= *fee) {
                break;
            }
            self.touched.clear();
            let forward = rb.is_none()
                || (rf.is_some() && self.forward.heap.len() < self.backward.heap.len());
            // once a route is known, nodes that cannot be on a cheaper one are left out
            let known = best.as_ref().map(|(fee, _)| *fee);
            if forward {
                let prune = known.map(|k| (k, rb.unwrap_or(u128::MAX)));
                self.step_forward(g, (s, payer), t, amount, max_hops, &bans, prune);
            } else if self.step_backward(
                g,
                (s, payer),
                max_hops,
                &bans,
                amount,
                known.map(|k| (k, rf.unwrap_or(u128::MAX))),
            ) == Some(s)
            {
                // exact: nothing joined elsewhere can be cheaper
                self.forward.at[s as usize].stamp = generation;
                self.forward.at[s as usize].label = 0;
                self.forward.at[s as usize].hops = 0;
                self.touched.clear();
                self.touched.push(s);
                let touched = std::mem::take(&mut self.touched);
                self.met(g, &touched, (s, t, payer), amount, max_hops, &mut best, true);
                self.touched = touched;
                break;
            }
            let touched = std::mem::take(&mut self.touched);
            self.met(g, &touched, (s, t, payer), amount, max_hops, &mut best, false);
            self.touched = touched;
        }
        if let Some((known, _)) = &best {
            self.finish(g, (s, payer), t, amount, max_hops, &bans, *known, &mut best);
        }
        best.map(|(_, path)| path)
    }

    /// Makes the route found where the searches met exact: it was priced exactly, but
    /// joined to the forward search's cheapest prefix by lower bounds, which may not be the
    /// cheapest prefix at the real amounts (or may not carry them). The backward search goes
    /// on, leaving out every node whose exact label plus a lower bound of its prefix reaches
    /// the route known; if it still reaches `s`, its route is the cheaper one. Either way the
    /// result is the exact cheapest route.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self, g: &TokenGraph, (s, payer): (u32, bool), t: u32, amount: u128, max_hops: usize,
        bans: &Bans<'_>, known: u128, best: &mut Option<(u128, RawPath)>,
    ) {
        let radius = self.forward.top().unwrap_or(u128::MAX);
        let prune = Some((known, radius));
        // the labels in the heap were offered unpruned; popping prunes them
        while let Some(v) = self.step_backward(g, (s, payer), max_hops, bans, amount, prune) {
            if self.spent > self.budget {
                // the route known stands (priced exactly), if not proven the cheapest
                self.gave_up = true;
                return;
            }
            if v == s {
                let generation = self.generation;
                self.forward.at[s as usize].stamp = generation;
                self.forward.at[s as usize].label = 0;
                self.forward.at[s as usize].hops = 0;
                self.forward.at[s as usize].link = (s, 0);
                if let Some(path) = self.join(s, s, t) {
                    if let Some(fee) = cost(g, &path, amount, payer) {
                        if fee < known {
                            *best = Some((fee, path));
                        }
                    }
                }
                return;
            }
        }
    }

    /// For each node labelled by both searches, the joined route through it is priced
    /// exactly and kept when it is the cheapest so far (`exact`: whatever its bound).
    #[allow(clippy::too_many_arguments)]
    fn met(
        &self, g: &TokenGraph, nodes: &[u32], (s, t, payer): (u32, u32, bool), amount: u128,
        max_hops: usize, best: &mut Option<(u128, RawPath)>, exact: bool,
    ) {
        for &u in nodes {
            let i = u as usize;
            if usize::from(self.forward.at[i].hops) + usize::from(self.backward.at[i].hops)
                > max_hops
            {
                continue;
            }
            let bound = self.forward.at[i].label.saturating_add(self.backward.at[i].label - amount);
            if !exact && best.as_ref().is_some_and(|(fee, _)| bound >= *fee) {
                continue;
            }
            let Some(path) = self.join(s, u, t) else { continue };
            if let Some(fee) = cost(g, &path, amount, payer) {
                if best.as_ref().is_none_or(|(known, _)| fee < *known) {
                    *best = Some((fee, path));
                }
            }
        }
    }

    /// Settles the next node of the forward search and relaxes its channels (labels: lower
    /// bounds of the fees paid to the mediators so far).
    #[allow(clippy::too_many_arguments)]
    fn step_forward(
        &mut self, g: &TokenGraph, (s, payer): (u32, bool), t: u32, amount: u128, max_hops: usize,
        bans: &Bans<'_>, prune: Option<(u128, u128)>,
    ) -> Option<u32> {
        let generation = bans.generation;
        loop {
            let Reverse((key, hops, u)) = self.forward.heap.pop()?;
            let i = u as usize;
            if key != self.forward.at[i].label || hops != self.forward.at[i].hops {
                continue;
            }
            self.forward.at[i].done = generation;
            self.settled += 1;
            if usize::from(hops) >= max_hops {
                return Some(u);
            }
            let pays = u == s && payer;
            if !pays && !g.online[i] {
                return Some(u);
            }
            // (the target need not be reached: the backward search labelled its neighbours)
            let entries =
                if bans.relays_only { g.relay_neighbours(u) } else { &g.adjacency[i][..] };
            self.relaxed += entries.len() as u64;
            self.spent += entries.len() as u64;
            for &entry in entries {
                self.relax_forward(g, u, entry, pays, t, amount, bans, prune);
            }
            return Some(u);
        }
    }

    /// Offers `w` (the neighbour in `u`'s adjacency entry) `u`'s label plus `u`'s least fee
    /// (none if `u` pays).
    #[allow(clippy::too_many_arguments)]
    fn relax_forward(
        &mut self, g: &TokenGraph, u: u32, (w, dir): (u32, u32), pays: bool, t: u32, amount: u128,
        bans: &Bans<'_>, prune: Option<(u128, u128)>,
    ) {
        let generation = bans.generation;
        let hot = &g.hot[dir as usize];
        if !hot.usable
            || hot.capacity < amount
            || self.banned[w as usize] == generation
            || (w != t && g.adjacency[w as usize].len() < 2) // a dead end
            || bans.edges.contains(&dir)
        {
            return;
        }
        let (fees, hops) = (self.forward.at[u as usize].label, self.forward.at[u as usize].hops);
        let fee = if pays { 0 } else { hot.least_fee(amount) };
        let label = fees.saturating_add(fee);
        // a route through w costs at least this plus what w's suffix costs: the backward
        // label once final, else at least the backward radius
        if let Some((known, radius)) = prune {
            let suffix = if self.backward.at[w as usize].done == generation {
                self.backward.at[w as usize].label - amount
            } else {
                radius
            };
            if label.saturating_add(suffix) >= known {
                return;
            }
        }
        if self.forward.offer(w, label, hops + 1, (u, dir >> 1), generation)
            && self.backward.has(w, generation)
        {
            self.touched.push(w);
        }
    }

    /// Up to `k` cheapest loop-free routes (Yen): each next one is the cheapest deviation
    /// from a route found, at one of its nodes (the spur), avoiding the part before the spur
    /// and the channels the routes found take from it.
    /// Also whether a spur search gave up on its budget (then fewer than k routes do not
    /// mean fewer exist).
    pub(super) fn yen(
        &mut self, g: &TokenGraph, s: u32, t: u32, amount: u128, k: usize,
        (max_hops, relays_only): (usize, bool),
    ) -> (Vec<RawPath>, bool) {
        self.budget = u64::MAX;
        self.gave_up = false;
        let first = self.search(g, (s, true), t, amount, (max_hops, relays_only), (&[], &[]));
        let Some(first) = first else {
            return (Vec::new(), false);
        };
        // each spur search may cost what the first one did (bounded query cost): one that
        // would cost more is skipped, and fewer than k routes come back
        self.budget = self.spent.max(MIN_SPUR_BUDGET);
        // the first search's backward tree: each settled node's way on to t, used to price
        // spur routes without searching again
        // (the labels move to the tree's buffer and the old tree's to the search: no copy)
        std::mem::swap(&mut self.tree, &mut self.backward.at);
        self.tree_generation = self.generation;
        let mut found: Vec<RawPath> = vec![first];
        // (fee, hops, path, index of the spur it left its parent at)
        let mut candidates: BinaryHeap<Reverse<(u128, usize, RawPath, usize)>> = BinaryHeap::new();
        let mut deviation = 0;
        while found.len() < k {
            let (last_nodes, last_slots) = found[found.len() - 1].clone();
            // spurs before where the last route left its parent give what they gave for the
            // parent (Lawler); the others from the target's end, where the tree reaches, until
            // there are enough candidates for k routes
            for i in (deviation..last_slots.len()).rev() {
                if found.len() + candidates.len() >= k {
                    break;
                }
                let spur = last_nodes[i];
                let root = &last_nodes[..=i];
                let mut banned_edges = Vec::new();
                for (nodes, slots) in &found {
                    // the same root: the same nodes over the same channels
                    if nodes.len() > i + 1 && nodes[..=i] == *root && slots[..i] == last_slots[..i]
                    {
                        banned_edges.push(2 * slots[i] + g.side(slots[i], spur) as u32);
                    }
                }
                // the cheapest way on from the spur node (as a mediator unless it is the
                // payer); the whole route is priced again below
                let hops_left = max_hops.saturating_sub(i);
                let banned_nodes = &root[..i];
                let limits = (hops_left, relays_only);
                let bans = (banned_nodes, &banned_edges[..]);
                let whole = |(spur_nodes, spur_slots): RawPath| -> RawPath {
                    let mut nodes = root[..i].to_vec();
                    nodes.extend(spur_nodes);
                    let mut slots = last_slots[..i].to_vec();
                    slots.extend(spur_slots);
                    (nodes, slots)
                };
                // a way on along the tree, if the whole route it makes can carry the payment;
                // else the spur is searched (the tree's way may take a channel too thin, or a
                // fee too high, for what the root must carry)
                let tree = Tree { at: &self.tree, generation: self.tree_generation };
                let along_tree = tree
                    .spur(g, (spur, i == 0), t, amount, limits, bans)
                    .map(whole)
                    .and_then(|path| Some((g.price(&path.0, &path.1, amount)?.fee.0, path)));
                let priced = match along_tree {
                    Some(priced) => Some(priced),
                    None => {
                        let path = self.search(g, (spur, i == 0), t, amount, limits, bans);
                        // this search's tree reaches further toward the payer's side
                        std::mem::swap(&mut self.tree, &mut self.backward.at);
                        self.tree_generation = self.generation;
                        path.map(whole)
                            .and_then(|path| Some((g.price(&path.0, &path.1, amount)?.fee.0, path)))
                    }
                };
                let Some((fee, path)) = priced else { continue };
                let known = found.contains(&path)
                    || candidates.iter().any(|Reverse((_, _, p, _))| *p == path);
                if !known {
                    candidates.push(Reverse((fee, path.1.len(), path, i)));
                }
            }
            let Some(Reverse((_, _, path, at))) = candidates.pop() else { break };
            found.push(path);
            deviation = at;
        }
        // spurs priced along the tree are good, not always the cheapest: in fee order (the
        // first stays first: it is the cheapest there is)
        let mut priced: Vec<(u128, usize, RawPath)> = found
            .into_iter()
            .filter_map(|p| Some((g.price(&p.0, &p.1, amount)?.fee.0, p.1.len(), p)))
            .collect();
        priced.sort_by_key(|(fee, hops, _)| (*fee, *hops));
        self.budget = u64::MAX;
        (priced.into_iter().map(|(_, _, p)| p).collect(), self.gave_up)
    }
}

/// A backward search's tree: for each node it settled, its label (what must arrive there
/// for the target to get the amount) and its next hop toward the target.
struct Tree<'a> {
    at: &'a [Label],
    generation: u32,
}

impl Tree<'_> {
    /// A way on from `spur` (the payer, or a mediator) to `t` through one of its channels
    /// and then the tree, avoiding `banned` nodes and directions: the cheapest first hop
    /// whose tree path is loop-free and clear of the bans. `None` when there is none (the
    /// spur is then searched). The tree was grown for the whole route, so the way found is a
    /// good one, not always the cheapest deviation.
    fn spur(
        &self, g: &TokenGraph, (spur, payer): (u32, bool), t: u32, amount: u128,
        (max_hops, relays_only): (usize, bool), (banned_nodes, banned_edges): (&[u32], &[u32]),
    ) -> Option<RawPath> {
        if !payer && !g.online[spur as usize] {
            return None;
        }
        let settled = |n: u32| n == t || self.at[n as usize].done == self.generation;
        let need = |n: u32| if n == t { amount } else { self.at[n as usize].label };
        let mut options: Vec<(u128, u32, u32)> = Vec::new();
        let mut consider = |w: u32, dir: u32| {
            let hot = &g.hot[dir as usize];
            if w == spur
                || !settled(w)
                || !hot.usable
                || hot.capacity < need(w)
                || banned_nodes.contains(&w)
                || banned_edges.contains(&dir)
            {
                return;
            }
            let receives = if payer { Some(need(w)) } else { hot.receive_for(need(w)) };
            if let Some(r) = receives {
                options.push((r, w, dir));
            }
        };
        if relays_only {
            for &(w, dir) in g.relay_neighbours(spur) {
                consider(w, dir);
            }
            for &(w, dir) in &g.adjacency[t as usize] {
                if w == spur {
                    consider(t, dir ^ 1);
                }
            }
        } else {
            for &(w, dir) in &g.adjacency[spur as usize] {
                consider(w, dir);
            }
        }
        // cheapest first; most spurs take the first or second (no need to sort them all; after
        // 64 that loop back or hit a ban, the spur is searched)
        let mut tries = 0;
        'option: while let Some(best) =
            (0..options.len()).min_by_key(|&i| (options[i].0, options[i].1, options[i].2))
        {
            tries += 1;
            if tries > 64 {
                break;
            }
            let (_, w, dir) = options.swap_remove(best);
            let (mut nodes, mut slots) = (vec![spur, w], vec![dir >> 1]);
            let mut at = w;
            while at != t {
                let (next, slot) = self.at[at as usize].link;
                let clear = settled(next)
                    && !nodes.contains(&next)
                    && !banned_nodes.contains(&next)
                    && !banned_edges.contains(&(2 * slot + g.side(slot, at) as u32));
                if !clear || slots.len() >= max_hops {
                    continue 'option;
                }
                nodes.push(next);
                slots.push(slot);
                at = next;
            }
            return Some((nodes, slots));
        }
        None
    }
}
