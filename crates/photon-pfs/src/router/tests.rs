use super::*;
use proptest::prelude::*;

fn a(n: u8) -> Address {
    Address::repeat_byte(n)
}

fn id(n: u8) -> ChannelId {
    ChannelId::repeat_byte(n)
}

fn fee(flat: u128, ppm: u32) -> FeePolicy {
    FeePolicy { flat: TokenAmount(flat), proportional_ppm: ppm, imbalance_ppm: 0 }
}

/// A channel `n` between `x` and `y` with `cap` each way and these fees (x's, y's).
fn channel(g: &mut TokenGraph, n: u8, (x, y): (u8, u8), cap: u128, fees: (FeePolicy, FeePolicy)) {
    g.open(id(n), a(x), a(y), TokenAmount(2 * cap));
    let dir = |fee| Direction { capacity: TokenAmount(cap), fee, disabled: false, known: true };
    g.set_direction(id(n), a(x), dir(fees.0)).unwrap();
    g.set_direction(id(n), a(y), dir(fees.1)).unwrap();
}

/// 1 ─ 2 ─ 3 and 1 ─ 4 ─ 5 ─ 3: the short way charges more.
fn diamond() -> TokenGraph {
    let mut g = TokenGraph::new(true);
    let free = fee(0, 0);
    channel(&mut g, 1, (1, 2), 1_000, (free, free));
    channel(&mut g, 2, (2, 3), 1_000, (fee(10, 10_000), free));
    channel(&mut g, 3, (1, 4), 1_000, (free, free));
    channel(&mut g, 4, (4, 5), 1_000, (fee(1, 0), free));
    channel(&mut g, 5, (5, 3), 1_000, (fee(2, 0), free));
    g
}

#[test]
fn fees_are_deducted_along_the_way_to_the_unit() {
    let g = diamond();
    let mut s = Scratch::default();
    let routes = g.paths(&mut s, a(1), a(3), TokenAmount(100), 3, 8);
    assert_eq!(routes.len(), 2);
    let cheap = &routes[0];
    assert_eq!(cheap.nodes(), vec![a(1), a(4), a(5), a(3)]);
    // 5 forwards 100 to 3 keeping 2: receives 102; 4 keeps 1: receives 103
    let amounts: Vec<u128> = cheap.hops.iter().map(|h| h.amount.0).collect();
    assert_eq!(amounts, vec![103, 102, 100]);
    let fees: Vec<u128> = cheap.hops.iter().map(|h| h.fee.0).collect();
    assert_eq!(fees, vec![0, 1, 2]);
    assert_eq!(cheap.fee, TokenAmount(3));
    // 2 keeps 10 + 1 % of what it receives: 111 → 10 + 1 = 11, forwards 100
    let dear = &routes[1];
    assert_eq!(dear.nodes(), vec![a(1), a(2), a(3)]);
    assert_eq!(dear.hops[0].amount, TokenAmount(111));
    assert_eq!(dear.fee, TokenAmount(11));
    // each mediator's fee is what its policy charges on what it receives
    for route in &routes {
        for pair in route.hops.windows(2) {
            let (into, out) = (&pair[0], &pair[1]);
            assert_eq!(into.amount.0 - out.policy.fee(into.amount).0, out.amount.0);
        }
    }
}

#[test]
fn capacity_disabled_offline_and_hop_limit_are_respected() {
    let mut g = diamond();
    let mut s = Scratch::default();
    // 4 → 5 cannot carry the 102 that 5 needs
    let drained = Direction { capacity: TokenAmount(101), fee: fee(1, 0), ..Direction::default() };
    g.set_direction(id(4), a(4), drained).unwrap();
    let routes = g.paths(&mut s, a(1), a(3), TokenAmount(100), 3, 8);
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].nodes(), vec![a(1), a(2), a(3)]);
    // but it carries a smaller payment
    assert_eq!(g.cheapest(&mut s, a(1), a(3), TokenAmount(99), 8).unwrap().fee, TokenAmount(3));
    // 2 goes offline: nothing left for 100
    g.set_online(a(2), false);
    assert!(g.paths(&mut s, a(1), a(3), TokenAmount(100), 3, 8).is_empty());
    g.set_online(a(2), true);
    let off = Direction { disabled: true, ..drained };
    g.set_direction(id(2), a(2), Direction { capacity: TokenAmount(1_000), ..off }).unwrap();
    assert!(g.paths(&mut s, a(1), a(3), TokenAmount(100), 3, 8).is_empty(), "disabled");
    // a payer need not be online; the hop limit holds
    let mut g = diamond();
    g.set_online(a(1), false);
    assert_eq!(g.paths(&mut s, a(1), a(3), TokenAmount(100), 3, 8).len(), 2);
    assert_eq!(g.paths(&mut s, a(1), a(3), TokenAmount(100), 3, 2).len(), 1);
    // closing removes the channel
    g.close(id(2));
    assert_eq!(g.paths(&mut s, a(1), a(3), TokenAmount(100), 3, 8).len(), 1);
    assert_eq!(g.channel_count(), 4);
    // unknown direction (no update) is not used
    g.open(id(9), a(1), a(3), TokenAmount(10_000));
    assert_eq!(g.paths(&mut s, a(1), a(3), TokenAmount(100), 3, 8).len(), 1);
}

#[test]
fn updates_name_a_participant_of_an_open_channel() {
    let mut g = diamond();
    let d = Direction::default();
    assert_eq!(g.set_direction(id(1), a(3), d), Err(GraphError::NotParticipant(a(3), id(1))));
    assert_eq!(g.set_direction(id(1), a(99), d), Err(GraphError::NotParticipant(a(99), id(1))));
    assert_eq!(g.set_direction(id(77), a(1), d), Err(GraphError::UnknownChannel(id(77))));
}

#[test]
fn imbalance_fee_prices_as_the_mediator_charges() {
    let mut g = TokenGraph::new(true);
    let free = fee(0, 0);
    let skewed =
        FeePolicy { flat: TokenAmount(0), proportional_ppm: 10_000, imbalance_ppm: 10_000 };
    channel(&mut g, 1, (1, 2), 10_000, (free, free));
    // 2 holds 9,000 of 10,000 toward 3: forwarding rebalances, rate 10,000 − 8,000
    g.open(id(2), a(2), a(3), TokenAmount(10_000));
    let dir = Direction { capacity: TokenAmount(9_000), fee: skewed, ..Direction::default() };
    g.set_direction(id(2), a(2), dir).unwrap();
    let route = g.cheapest(&mut Scratch::default(), a(1), a(3), TokenAmount(1_000), 8).unwrap();
    let into = route.hops[0].amount;
    assert_eq!(skewed.rate(TokenAmount(9_000), TokenAmount(10_000)), 2_000);
    assert_eq!(into.0 - skewed.fee_at(into, TokenAmount(9_000), TokenAmount(10_000)).0, 1_000);
    assert_eq!(route.fee, TokenAmount(2), "0.2 % of 1,002, rounded down");
}

/// Every simple path from `s` to `t`, by brute force.
fn all_paths(g: &TokenGraph, s: u32, t: u32) -> Vec<(Vec<u32>, Vec<u32>)> {
    fn walk(
        g: &TokenGraph, at: u32, t: u32, nodes: &mut Vec<u32>, slots: &mut Vec<u32>,
        out: &mut Vec<(Vec<u32>, Vec<u32>)>,
    ) {
        if at == t {
            out.push((nodes.clone(), slots.clone()));
            return;
        }
        for &(next, dir) in &g.adjacency[at as usize] {
            let slot = dir >> 1;
            if nodes.contains(&next) {
                continue;
            }
            nodes.push(next);
            slots.push(slot);
            walk(g, next, t, nodes, slots, out);
            nodes.pop();
            slots.pop();
        }
    }
    let mut out = Vec::new();
    walk(g, s, t, &mut vec![s], &mut Vec::new(), &mut out);
    out
}

fn arb_graph() -> impl Strategy<Value = TokenGraph> {
    let dir = (0u128..400, 0u128..20, 0u32..200_000, 0u32..300_000, prop::bool::weighted(0.1));
    let chans = prop::collection::vec((0u8..7, 0u8..7, dir.clone(), dir), 4..16);
    let closes = prop::collection::vec(0u8..16, 0..3);
    (chans, 2usize..6, prop::collection::vec((0u8..16, 0u128..20), 0..6), closes).prop_map(
        |(chans, relay, refees, closes)| {
            // nodes with `relay` channels or more are relays (searched first)
            let mut g = TokenGraph::new(true).relay_degree(relay);
            for (n, (x, y, d1, d2)) in chans.into_iter().enumerate() {
                if x == y {
                    continue;
                }
                let cid = ChannelId::repeat_byte(n as u8 + 1);
                let total = TokenAmount(d1.0 + d2.0);
                g.open(cid, a(x), a(y), total);
                for (who, (cap, flat, ppm, imbalance, disabled)) in [(x, d1), (y, d2)] {
                    let fee = FeePolicy {
                        flat: TokenAmount(flat),
                        proportional_ppm: ppm,
                        imbalance_ppm: imbalance,
                    };
                    let d = Direction { capacity: TokenAmount(cap), fee, disabled, known: true };
                    g.set_direction(cid, a(who), d).unwrap();
                }
            }
            // fees changed afterwards: the hubs' sorted channels follow
            for (n, flat) in refees {
                let cid = ChannelId::repeat_byte(n + 1);
                if let Some((x, _)) = g.participants(cid) {
                    let mut d = g.direction(cid, x).unwrap();
                    d.fee.flat = TokenAmount(flat);
                    g.set_direction(cid, x, d).unwrap();
                }
            }
            // some close: nodes stop being relays, and their neighbours' lists follow
            for n in closes {
                g.close(ChannelId::repeat_byte(n + 1));
            }
            g
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    /// The search finds the cheapest route there is (checked against every simple path),
    /// and every route it gives is valid, loop-free, distinct and in order.
    #[test]
    fn routes_are_optimal_valid_and_distinct(g in arb_graph(), amount in 1u128..300, k in 1usize..5) {
        prop_assert!(g.relays_consistent());
        let mut s = Scratch::default();
        let (from, to) = (a(0), a(6));
        let (Some(&si), Some(&ti)) = (g.index.get(&from), g.index.get(&to)) else {
            return Ok(());
        };
        let best = all_paths(&g, si, ti)
            .iter()
            .filter_map(|(n, sl)| g.price(n, sl, amount))
            .map(|r| r.fee.0)
            .min();
        let routes = g.paths(&mut s, from, to, TokenAmount(amount), k, 32);
        // the exact search finds the cheapest; so does `paths` when every node with two
        // channels is a relay (else a relays-only route may come first: never a cheaper one)
        let exact = g.cheapest_exact(&mut s, from, to, TokenAmount(amount), 32);
        prop_assert_eq!(exact.map(|r| r.fee.0), best);
        if g.relay_degree <= 2 {
            prop_assert_eq!(routes.first().map(|r| r.fee.0), best);
        } else {
            prop_assert!(routes.first().map(|r| r.fee.0) >= best);
        }
        prop_assert!(routes.len() <= k);
        for (i, r) in routes.iter().enumerate() {
            let nodes = r.nodes();
            prop_assert_eq!(nodes[0], from);
            prop_assert_eq!(*nodes.last().unwrap(), to);
            for (j, n) in nodes.iter().enumerate() {
                prop_assert!(!nodes[..j].contains(n), "loop in {:?}", nodes);
            }
            prop_assert_eq!(r.hops.last().unwrap().amount.0, amount);
            for pair in r.hops.windows(2) {
                let (into, out) = (&pair[0], &pair[1]);
                prop_assert_eq!(into.amount.0 - out.fee.0, out.amount.0);
            }
            prop_assert_eq!(r.fee.0, r.hops.iter().map(|h| h.fee.0).sum::<u128>());
            if i > 0 {
                prop_assert!(routes[i - 1].fee <= r.fee);
                prop_assert!(routes[..i].iter().all(|p| p.hops != r.hops));
            }
        }
        // as many routes as exist, up to k
        let valid = all_paths(&g, si, ti).iter().filter(|(n, sl)| g.price(n, sl, amount).is_some()).count();
        prop_assert_eq!(routes.len(), valid.min(k));
    }
}
