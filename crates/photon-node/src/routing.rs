//! How the node finds routes: from its pathfinding service when it has one and it answers,
//! and always also from its own graph, so that a payment goes on when the service is away
//! or wrong.
//!
//! The node's own graph ([`LocalRouter`]) is the public channel graph the chain showed it
//! (`ChainState::network`, kept in the state so a restart keeps it) in the same
//! [`TokenGraph`] the service searches: its own channels with their exact capacities (a
//! channel that cannot carry the amount is skipped), the others' capacities unknown (taken
//! as enough), and the fees the service quoted for them in earlier answers (none before).
//! A route whose mediator turns out to charge more, or to lack the capacity, is given back
//! by that mediator; the payment then tries the next one.

use photon_pfs::api::PathView;
use photon_pfs::router::{Direction, Scratch, TokenGraph};
use photon_primitives::messages::MAX_PATH_LEN;
use photon_primitives::{Address, ChannelId, TokenAmount};
use photon_state::{ChainState, FeePolicy, Route};
use std::collections::HashMap;

/// What is assumed of a channel whose capacity nobody told us.
const UNKNOWN_CAPACITY: TokenAmount = TokenAmount(u128::MAX / 4);

/// The node's own route search.
#[derive(Default)]
pub struct LocalRouter {
    /// Per token, the graph built from the network at `built`.
    graphs: HashMap<Address, TokenGraph>,
    built: Option<u64>,
    /// Fees the pathfinding service quoted, per (channel, sender).
    fees: HashMap<(ChannelId, Address), FeePolicy>,
    scratch: Scratch,
}

impl std::fmt::Debug for LocalRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalRouter").field("built", &self.built).finish()
    }
}

impl LocalRouter {
    /// Keeps the fee of each hop of a service's (checked) paths for later local searches.
    pub fn learn<'a>(&mut self, paths: impl IntoIterator<Item = &'a PathView>) {
        // bounded: a service cannot make the node keep more than this
        if self.fees.len() > 100_000 {
            self.fees.clear();
            self.built = None;
        }
        for hop in paths.into_iter().flat_map(|p| &p.hops) {
            let policy = photon_pfs::hop_policy(hop);
            if !policy.is_valid() {
                continue;
            }
            if self.fees.insert((hop.channel_id, hop.from), policy) != Some(policy) {
                // a rebuild picks the new fee up
                self.built = None;
            }
        }
    }

    /// Up to `k` routes from us to `target` for `amount`, cheapest by the fees we know;
    /// `version` changes whenever the network changed (the graph is rebuilt then).
    pub fn routes(
        &mut self, state: &ChainState, version: u64, token: Address, target: Address,
        amount: TokenAmount, k: usize,
    ) -> Vec<Route> {
        if self.built != Some(version) {
            self.rebuild(state);
            self.built = Some(version);
        }
        let Some(graph) = self.graphs.get_mut(&token) else { return Vec::new() };
        // our own channels exactly as they are now
        for channel in state.channels.values().filter(|c| c.token == token) {
            let direction = Direction {
                capacity: channel.our_capacity(),
                fee: FeePolicy::FREE,
                disabled: !channel.usable()
                    || !state.config.accepts_settle_timeout(channel.settle_timeout),
                known: true,
            };
            let _ = graph.set_direction(channel.id, state.address, direction);
        }
        let found =
            graph.paths(&mut self.scratch, state.address, target, amount, k, MAX_PATH_LEN - 1);
        found.iter().map(|r| Route { path: r.nodes(), fee: r.fee }).collect()
    }

    fn rebuild(&mut self, state: &ChainState) {
        self.graphs.clear();
        for (id, (token, a, b)) in &state.network {
            let graph = self.graphs.entry(*token).or_insert_with(|| TokenGraph::new(true));
            graph.open(*id, *a, *b, TokenAmount::ZERO);
            for from in [*a, *b] {
                let fee = self.fees.get(&(*id, from)).copied().unwrap_or(FeePolicy::FREE);
                let direction =
                    Direction { capacity: UNKNOWN_CAPACITY, fee, disabled: false, known: true };
                let _ = graph.set_direction(*id, from, direction);
            }
        }
    }
}

/// Whether a service's path is what it claims: from us to `target`, hop by hop along its
/// nodes, delivering `amount`, each mediator's fee the difference of the locks around it,
/// the total fee their sum, every fee policy possible.
pub fn consistent(path: &PathView, me: Address, target: Address, amount: TokenAmount) -> bool {
    let (nodes, hops) = (&path.path, &path.hops);
    let Some(first) = hops.first() else { return false };
    let along = nodes.len() == hops.len() + 1
        && hops.iter().enumerate().all(|(i, h)| h.from == nodes[i] && h.to == nodes[i + 1]);
    let fees =
        hops.windows(2).all(|w| w[0].amount.0.checked_sub(w[1].amount.0) == Some(w[1].fee.0));
    along
        && fees
        && nodes.first() == Some(&me)
        && nodes.last() == Some(&target)
        && hops.last().is_some_and(|h| h.amount.0 == amount.0)
        && first.fee.0 == 0
        && first.amount.0.checked_sub(amount.0) == Some(path.fee.0)
        && hops.iter().all(|h| photon_pfs::hop_policy(h).is_valid())
}

/// Whether our channel to a service path's first hop can carry its first lock.
pub fn first_hop_carries(state: &ChainState, token: Address, path: &PathView) -> bool {
    let (Some(first), Some(next)) = (path.hops.first(), path.path.get(1)) else { return false };
    state
        .channel_with(token, *next)
        .is_some_and(|c| c.usable() && c.our_capacity() >= TokenAmount(first.amount.0))
}

/// The most fee a payment pays when its request names no limit: 5 % of the amount plus 100
/// of the token's smallest units (a route quoted dearer is not tried).
pub fn default_fee_limit(amount: TokenAmount) -> TokenAmount {
    TokenAmount(amount.0 / 20).saturating_add(TokenAmount(100))
}

#[cfg(test)]
mod tests {
    use super::*;
    use photon_primitives::eip712::Domain;
    use photon_primitives::{Epoch, SettleTimeout};
    use photon_state::changes::ChainEvent;
    use photon_state::{transition, Config, StateChange};

    #[test]
    fn local_routes_use_quoted_fees_and_skip_our_drained_channels() {
        let a = |n: u8| Address::repeat_byte(n);
        let token = Address::repeat_byte(0x70);
        let contract = Address::repeat_byte(0x77);
        let signer = photon_primitives::LocalSigner::from_bytes(&[7; 32]).unwrap();
        let me = photon_primitives::Signer::address(&signer);
        let mut state = ChainState::new(me, Domain::new(1, contract), 1, Config::default());
        let open =
            |x, y| ChainEvent::opened((x, y), (token, contract), SettleTimeout(100), Epoch(1));
        for (x, y) in [(me, a(2)), (a(2), a(3)), (me, a(4)), (a(4), a(3))] {
            transition(&mut state, StateChange::Chain(open(x, y)), &signer).unwrap();
        }
        let mut router = LocalRouter::default();
        // our channels hold nothing yet: no route
        assert!(router.routes(&state, 1, token, a(3), TokenAmount(10), 3).is_empty());
        // deposits on both of ours
        for partner in [a(2), a(4)] {
            let id = state.channel_with(token, partner).unwrap().id;
            let deposit =
                ChainEvent::Deposit { channel_id: id, participant: me, total: TokenAmount(50) };
            transition(&mut state, StateChange::Chain(deposit), &signer).unwrap();
        }
        let routes = router.routes(&state, 1, token, a(3), TokenAmount(10), 3);
        assert_eq!(routes.len(), 2);
        assert!(routes.iter().all(|r| r.fee == TokenAmount::ZERO), "no fee known: none assumed");
        // the service quoted 2's fee: the route through 4 comes first, 2's carries the fee
        let via2 = state
            .network
            .iter()
            .find(|(_, (_, x, y))| [*x, *y] == [a(2), a(3)] || [*x, *y] == [a(3), a(2)])
            .unwrap()
            .0;
        let hop = photon_pfs::api::HopView {
            channel_id: *via2,
            from: a(2),
            to: a(3),
            amount: photon_api::Amount(10),
            fee: photon_api::Amount(5),
            fee_flat: photon_api::Amount(5),
            fee_ppm: 0,
            imbalance_ppm: 0,
        };
        let quoted =
            PathView { path: vec![me, a(2), a(3)], fee: photon_api::Amount(5), hops: vec![hop] };
        router.learn(&[quoted]);
        let routes = router.routes(&state, 1, token, a(3), TokenAmount(10), 3);
        assert_eq!(routes[0].path, vec![me, a(4), a(3)]);
        assert_eq!(routes[1].path, vec![me, a(2), a(3)]);
        assert_eq!(routes[1].fee, TokenAmount(5));
        // 48 and 2's fee is more than our channel to 2 holds: only through 4
        let routes = router.routes(&state, 1, token, a(3), TokenAmount(48), 3);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].path, vec![me, a(4), a(3)]);
        assert!(router.routes(&state, 1, token, a(3), TokenAmount(51), 3).is_empty());
    }

    #[test]
    fn a_service_path_is_used_only_if_it_is_what_it_claims() {
        let a = |n: u8| Address::repeat_byte(n);
        let hop = |from: u8, to: u8, amount: u128, fee: u128| photon_pfs::api::HopView {
            channel_id: ChannelId::repeat_byte(from),
            from: a(from),
            to: a(to),
            amount: photon_api::Amount(amount),
            fee: photon_api::Amount(fee),
            fee_flat: photon_api::Amount(fee),
            fee_ppm: 0,
            imbalance_ppm: 0,
        };
        let good = PathView {
            path: vec![a(1), a(2), a(3)],
            fee: photon_api::Amount(5),
            hops: vec![hop(1, 2, 105, 0), hop(2, 3, 100, 5)],
        };
        let amount = TokenAmount(100);
        assert!(consistent(&good, a(1), a(3), amount));
        assert!(!consistent(&good, a(9), a(3), amount), "not from us");
        assert!(!consistent(&good, a(1), a(9), amount), "not to the target");
        assert!(!consistent(&good, a(1), a(3), TokenAmount(99)), "another amount");
        let mut dear = good.clone();
        dear.hops[0].amount = photon_api::Amount(1_000); // locks far more than the fee it states
        assert!(!consistent(&dear, a(1), a(3), amount));
        let mut understated = good.clone();
        understated.fee = photon_api::Amount(1);
        assert!(!consistent(&understated, a(1), a(3), amount));
        let mut detour = good.clone();
        detour.path = vec![a(1), a(4), a(3)];
        assert!(!consistent(&detour, a(1), a(3), amount), "hops along other nodes");
        let mut greedy = good;
        greedy.hops[1].fee_ppm = 2_000_000;
        assert!(!consistent(&greedy, a(1), a(3), amount), "an impossible policy");
        let empty = PathView { path: vec![a(1)], fee: photon_api::Amount(0), hops: vec![] };
        assert!(!consistent(&empty, a(1), a(1), amount));
        assert_eq!(default_fee_limit(TokenAmount(1_000)), TokenAmount(150));
    }
}
