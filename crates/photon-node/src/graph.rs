//! Routes over the public channel graph: every open channel the chain has shown the node
//! (`ChainState::network`, kept in the state so a restart keeps it), until a pathfinding
//! service is used.

use photon_primitives::{Address, ChannelId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The open channels by id: (token, participant1, participant2).
pub type Channels = BTreeMap<ChannelId, (Address, Address, Address)>;

fn neighbours(channels: &Channels, token: Address, node: Address) -> Vec<Address> {
    channels
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
    channels: &Channels, token: Address, from: Address, to: Address, k: usize, max_hops: usize,
) -> Vec<Vec<Address>> {
    let mut out = Vec::new();
    let mut first_hops: BTreeSet<Address> = BTreeSet::new();
    for first in neighbours(channels, token, from) {
        if let Some(mut rest) =
            shortest(channels, token, first, to, max_hops.saturating_sub(1), from)
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
    channels: &Channels, token: Address, from: Address, to: Address, max_hops: usize,
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
        for next in neighbours(channels, token, node) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_shortest_routes_by_distinct_first_hops() {
        let t = Address::repeat_byte(0x70);
        let a = |n: u8| Address::repeat_byte(n);
        let mut g = Channels::new();
        for (n, x, y) in [(1, 1, 2), (2, 2, 3), (3, 1, 4), (4, 4, 5), (5, 5, 3)] {
            g.insert(ChannelId::repeat_byte(n), (t, a(x), a(y)));
        }
        assert_eq!(
            routes(&g, t, a(1), a(3), 3, 6),
            vec![vec![a(1), a(2), a(3)], vec![a(1), a(4), a(5), a(3)]]
        );
        assert_eq!(routes(&g, t, a(1), a(3), 3, 2).len(), 1, "hop limit");
        g.remove(&ChannelId::repeat_byte(2));
        assert_eq!(routes(&g, t, a(1), a(3), 3, 6), vec![vec![a(1), a(4), a(5), a(3)]]);
        assert!(routes(&g, Address::repeat_byte(9), a(1), a(3), 3, 6).is_empty(), "other token");
    }
}
