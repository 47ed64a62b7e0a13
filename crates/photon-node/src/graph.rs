//! The public channel graph, from the chain's events, for finding routes until a pathfinding
//! service is used: which addresses share an open channel of which token.

use photon_primitives::{Address, ChannelId};
use photon_state::changes::ChainEvent;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Open channels by id: (token, participant1, participant2).
#[derive(Debug, Default, Clone)]
pub struct Graph {
    channels: BTreeMap<ChannelId, (Address, Address, Address)>,
}

impl Graph {
    /// Follows one chain event.
    pub fn apply(&mut self, event: &ChainEvent) {
        match event {
            ChainEvent::ChannelOpened { channel_id, token, participant1, participant2, .. } => {
                self.channels.insert(*channel_id, (*token, *participant1, *participant2));
            }
            ChainEvent::ChannelClosed { channel_id, .. }
            | ChainEvent::ChannelSettled { channel_id } => {
                self.channels.remove(channel_id);
            }
            _ => {}
        }
    }

    fn neighbours(&self, token: Address, node: Address) -> Vec<Address> {
        self.channels
            .values()
            .filter(|(t, _, _)| *t == token)
            .filter_map(|(_, a, b)| {
                if *a == node {
                    Some(*b)
                } else if *b == node {
                    Some(*a)
                } else {
                    None
                }
            })
            .collect()
    }

    /// Up to `k` shortest loop-free paths from `from` to `to` (fewest hops first; at most
    /// `max_hops` channels), each starting with a different first hop.
    pub fn routes(
        &self,
        token: Address,
        from: Address,
        to: Address,
        k: usize,
        max_hops: usize,
    ) -> Vec<Vec<Address>> {
        let mut out = Vec::new();
        let mut first_hops: BTreeSet<Address> = BTreeSet::new();
        for first in self.neighbours(token, from) {
            if let Some(mut rest) =
                self.shortest(token, first, to, max_hops.saturating_sub(1), from)
            {
                let mut path = vec![from];
                path.append(&mut rest);
                if first_hops.insert(first) {
                    out.push(path);
                }
            }
        }
        out.sort_by_key(Vec::len);
        out.truncate(k);
        out
    }

    /// Breadth-first shortest path avoiding `avoid`.
    fn shortest(
        &self,
        token: Address,
        from: Address,
        to: Address,
        max_hops: usize,
        avoid: Address,
    ) -> Option<Vec<Address>> {
        if from == to {
            return Some(vec![to]);
        }
        let mut previous: BTreeMap<Address, Address> = BTreeMap::new();
        let mut queue = VecDeque::from([(from, 0usize)]);
        let mut seen = BTreeSet::from([from, avoid]);
        while let Some((node, depth)) = queue.pop_front() {
            if depth >= max_hops {
                continue;
            }
            for next in self.neighbours(token, node) {
                if !seen.insert(next) {
                    continue;
                }
                previous.insert(next, node);
                if next == to {
                    let mut path = vec![to];
                    let mut at = to;
                    while let Some(p) = previous.get(&at) {
                        path.push(*p);
                        at = *p;
                    }
                    path.reverse();
                    return Some(path);
                }
                queue.push_back((next, depth + 1));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(g: &mut Graph, n: u8, a: u8, b: u8) {
        g.apply(&ChainEvent::ChannelOpened {
            channel_id: ChannelId::repeat_byte(n),
            token: Address::repeat_byte(0x70),
            participant1: Address::repeat_byte(a),
            participant2: Address::repeat_byte(b),
            settle_timeout: 10,
            block: 1,
        });
    }

    #[test]
    fn finds_shortest_routes_by_distinct_first_hops() {
        let mut g = Graph::default();
        let t = Address::repeat_byte(0x70);
        let a = |n: u8| Address::repeat_byte(n);
        open(&mut g, 1, 1, 2); // A-B
        open(&mut g, 2, 2, 3); // B-C
        open(&mut g, 3, 1, 4); // A-D
        open(&mut g, 4, 4, 5); // D-E
        open(&mut g, 5, 5, 3); // E-C
        let routes = g.routes(t, a(1), a(3), 3, 6);
        assert_eq!(routes, vec![vec![a(1), a(2), a(3)], vec![a(1), a(4), a(5), a(3)]]);
        assert!(g.routes(t, a(1), a(3), 3, 2).len() == 1, "hop limit");
        g.apply(&ChainEvent::ChannelSettled { channel_id: ChannelId::repeat_byte(2) });
        assert_eq!(g.routes(t, a(1), a(3), 3, 6), vec![vec![a(1), a(4), a(5), a(3)]]);
        assert!(g.routes(Address::repeat_byte(9), a(1), a(3), 3, 6).is_empty(), "other token");
    }
}
