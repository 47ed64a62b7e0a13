//! Random sequences of payments, deliveries (reordered, duplicated, replayed, forged, held for
//! longer than a lock lives while a partner is away) and blocks (each node's confirmed block
//! lagging by its own, changing amount) over a small network; the protocol's invariants hold
//! after every step, and at the end no honest message was refused for good (no lane stalls),
//! every lock is resolved, both ends of every channel agree, every payment reported sent was
//! received, and every node's worth moved by exactly its payments.

use crate::harness::*;
use photon_primitives::messages::Message;
use photon_primitives::TokenAmount;
use photon_primitives::{ChannelId, LocalSigner};
use photon_primitives::{Epoch, Nonce};
use photon_state::changes::{Event, StateChange};
use photon_state::{Config, Task};
use proptest::prelude::*;
use std::collections::BTreeMap;

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
const D: usize = 3;

const CHANNELS: [(usize, usize, u128, u128); 5] =
    [(A, B, 100, 50), (B, C, 80, 80), (A, D, 60, 0), (D, C, 70, 30), (B, D, 40, 40)];

const PATHS: [&[usize]; 8] = [
    &[A, B, C],
    &[A, D, C],
    &[C, B, A],
    &[C, D, A],
    &[A, B, D, C],
    &[D, B, A],
    &[C, D, B],
    &[B, D, C],
];

#[derive(Clone, Debug)]
enum Action {
    Direct {
        channel: usize,
        reverse: bool,
        amount: u128,
    },
    Mediated {
        path: usize,
        amount: u128,
    },
    Deliver {
        count: usize,
    },
    Reorder {
        distance: usize,
    },
    Duplicate {
        pick: usize,
    },
    Forge {
        pick: usize,
        field: u8,
    },
    Mine {
        blocks: u64,
    },
    /// A node's confirmed block lags the chain's by this much from now on.
    Lag {
        node: usize,
        blocks: u64,
    },
    /// A node goes away (its messages wait) or comes back.
    Away {
        node: usize,
        away: bool,
    },
    /// A node's user cancels one of its payments in flight (refused once its secret is out).
    Cancel {
        node: usize,
        pick: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..CHANNELS.len(), any::<bool>(), 1..60u128)
            .prop_map(|(channel, reverse, amount)| Action::Direct { channel, reverse, amount }),
        3 => (0..PATHS.len(), 1..40u128).prop_map(|(path, amount)| Action::Mediated { path, amount }),
        4 => (1..6usize).prop_map(|count| Action::Deliver { count }),
        1 => (1..4usize).prop_map(|distance| Action::Reorder { distance }),
        1 => any::<usize>().prop_map(|pick| Action::Duplicate { pick }),
        1 => (any::<usize>(), 0..4u8).prop_map(|(pick, field)| Action::Forge { pick, field }),
        1 => (1..8u64).prop_map(|blocks| Action::Mine { blocks }),
        // longer than a lock lives
        1 => Just(Action::Mine { blocks: Config::default().lock_timeout + 5 }),
        1 => (0..4usize, 0..7u64).prop_map(|(node, blocks)| Action::Lag { node, blocks }),
        1 => (0..4usize, any::<bool>()).prop_map(|(node, away)| Action::Away { node, away }),
        1 => (0..4usize, any::<usize>()).prop_map(|(node, pick)| Action::Cancel { node, pick }),
    ]
}

/// Delivers the next message; a message that arrived too early (a gap in nonces, or a reply
/// to something not yet seen) goes back to the end of the queue, as the transport retries
/// unacknowledged messages.
fn deliver_with_retry(net: &mut Net, retries: &mut usize) -> bool {
    let Some(env) = net.inflight.pop_front() else { return false };
    if net.away[env.to] {
        net.inflight.push_back(env); // the transport keeps it for later
        return true;
    }
    let sender = net.addr(env.from);
    let before = format!("{:?}", net.nodes[env.to].state);
    match net.apply(env.to, StateChange::Receive { sender, message: env.message.clone() }) {
        Ok(()) => net.delivered.push(env),
        Err(rejection) => {
            assert_eq!(
                before,
                format!("{:?}", net.nodes[env.to].state),
                "refused input changed state"
            );
            // "not yet" (a gap in nonces, a reply to something not yet seen, a removal of a
            // lock not expired by the receiver's lagging clock): the transport tries again
            if rejection.is_transient() && *retries < 10_000 {
                *retries += 1;
                net.inflight.push_back(env);
            } else if env.message.balance_proof().is_some() {
                // refused for good: the sender's later proofs could never be taken (a stall)
                net.nodes[env.to].rejections.push(rejection);
            }
            // a refused request or reveal about a payment that changed (a reroute) is
            // harmless: it carries no balance proof and holds up nothing
        }
    }
    true
}

fn run_with_retry(net: &mut Net) {
    let mut retries = 0;
    while deliver_with_retry(net, &mut retries) {}
}

/// One block on the chain; each node sees its confirmed block, `lag` behind.
fn mine_one(net: &mut Net) {
    net.block += 1;
    for i in 0..4 {
        let seen = net.block.saturating_sub(net.lag[i]);
        net.apply(i, StateChange::Block(seen)).unwrap();
    }
}

/// Per node, per channel end: the last nonce and (transferred, locksroot) seen.
type Seen =
    BTreeMap<(usize, ChannelId, bool), (Epoch, Nonce, TokenAmount, Vec<photon_primitives::Lock>)>;

fn check_invariants(net: &Net, seen: &mut Seen) -> Result<(), TestCaseError> {
    for (i, node) in net.nodes.iter().enumerate() {
        for channel in node.state.channels.values() {
            // nobody committed more than it owns
            for (end, other) in [(&channel.ours, &channel.theirs), (&channel.theirs, &channel.ours)]
            {
                prop_assert!(
                    end.transferred + end.locked() <= end.deposit + other.transferred,
                    "node {i}: an end committed more than it owns"
                );
            }
            // nonces never go back within an epoch, and every change has a new nonce
            for (is_ours, end) in [(true, &channel.ours), (false, &channel.theirs)] {
                let key = (i, channel.id, is_ours);
                let now = (channel.epoch, end.nonce, end.transferred, end.locks.clone());
                if let Some(prev) = seen.get(&key) {
                    if prev.0 == now.0 {
                        prop_assert!(now.1 >= prev.1, "node {i}: nonce went back");
                        if now.1 == prev.1 {
                            prop_assert_eq!(
                                (&now.2, &now.3),
                                (&prev.2, &prev.3),
                                "node {}: change without a new nonce",
                                i
                            );
                        } else {
                            prop_assert!(now.2 >= prev.2, "node {i}: transferred amount went down");
                        }
                    }
                }
                seen.insert(key, now);
            }
        }
    }
    Ok(())
}

/// What each node gained through payments, according to its own events.
fn payment_gains(net: &Net) -> Vec<i128> {
    net.nodes
        .iter()
        .map(|n| {
            n.log
                .iter()
                .map(|e| match e {
                    Event::PaymentReceived { amount, .. } => amount.0 as i128,
                    Event::PaymentSent { amount, fee, .. } => -((*amount + *fee).0 as i128),
                    Event::PaymentMediated { fee, .. } => fee.0 as i128,
                    _ => 0,
                })
                .sum()
        })
        .collect()
}

fn worth(net: &Net, i: usize) -> i128 {
    net.nodes[i].state.channels.values().map(|c| c.our_balance().0 as i128).sum()
}

fn run_case(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let mut net = Net::with_config(4, Config { punish_blocks: PUNISH_BLOCKS, ..Config::default() });
    for (a, b, da, db) in CHANNELS {
        net.open_channel(a, b, da, db);
    }
    let start: Vec<i128> = (0..4).map(|i| worth(&net, i)).collect();
    let mut seen = Seen::new();
    let mut retries = 0;
    let mut next_payment = 0u64;
    let mut cancelled = std::collections::BTreeSet::new();
    for action in actions {
        match action {
            Action::Direct { channel, reverse, amount } => {
                let (a, b, _, _) = CHANNELS[channel];
                let (from, to) = if reverse { (b, a) } else { (a, b) };
                let channel_id = net.channel_id(from, to);
                let before = format!("{:?}", net.nodes[from].state);
                next_payment += 1;
                let payment_id = next_payment;
                if net
                    .apply(
                        from,
                        StateChange::SendDirect {
                            channel_id,
                            payment_id,
                            amount: TokenAmount(amount),
                            data: payment_data(payment_id),
                        },
                    )
                    .is_err()
                {
                    prop_assert_eq!(before, format!("{:?}", net.nodes[from].state));
                }
            }
            Action::Mediated { path, amount } => {
                let path = PATHS[path];
                let (from, to) = (path[0], path[path.len() - 1]);
                let secret = net.next_secret();
                let routes = vec![photon_state::Route {
                    path: path.iter().map(|&i| net.addr(i)).collect(),
                    fee: TokenAmount(0),
                }];
                next_payment += 1;
                let change = StateChange::SendMediated {
                    token: net.token,
                    payment_id: next_payment,
                    target: net.addr(to),
                    amount: TokenAmount(amount),
                    secret: Some(secret),
                    secrethash: secret.hash(),
                    routes,
                    fee_limit: TokenAmount(0),
                    data: payment_data(next_payment),
                };
                let before = format!("{:?}", net.nodes[from].state);
                if net.apply(from, change).is_err() {
                    prop_assert_eq!(before, format!("{:?}", net.nodes[from].state));
                }
            }
            Action::Deliver { count } => {
                for _ in 0..count {
                    deliver_with_retry(&mut net, &mut retries);
                }
            }
            Action::Reorder { distance } => {
                if net.inflight.len() > distance {
                    let env = net.inflight.pop_front().unwrap();
                    net.inflight.insert(distance, env);
                }
            }
            Action::Duplicate { pick } => {
                if !net.delivered.is_empty() {
                    let env = net.delivered[pick % net.delivered.len()].clone();
                    let before = format!("{:?}", net.nodes[env.to].state);
                    let sender = net.addr(env.from);
                    // a replay is refused, or (for idempotent non-channel messages) harmless
                    if net
                        .apply(
                            env.to,
                            StateChange::Receive { sender, message: env.message.clone() },
                        )
                        .is_err()
                    {
                        prop_assert_eq!(before, format!("{:?}", net.nodes[env.to].state));
                    }
                }
            }
            Action::Forge { pick, field } => {
                let candidates: Vec<_> = net
                    .delivered
                    .iter()
                    .filter(|e| e.message.balance_proof().is_some())
                    .cloned()
                    .collect();
                if !candidates.is_empty() {
                    let env = candidates[pick % candidates.len()].clone();
                    let mut message = env.message.clone();
                    forge(&mut message, field);
                    // re-signed by its sender's key: only the semantic checks can catch it
                    let signer: LocalSigner = net.nodes[env.from].signer.clone();
                    message.sign(&net.domain, &signer).unwrap();
                    let before = format!("{:?}", net.nodes[env.to].state);
                    let sender = net.addr(env.from);
                    let result = net.apply(env.to, StateChange::Receive { sender, message });
                    prop_assert!(result.is_err(), "a forged message was accepted");
                    prop_assert_eq!(before, format!("{:?}", net.nodes[env.to].state));
                }
            }
            Action::Mine { blocks } => {
                for _ in 0..blocks {
                    mine_one(&mut net);
                }
            }
            Action::Lag { node, blocks } => net.lag[node] = blocks,
            Action::Away { node, away } => net.away[node] = away,
            Action::Cancel { node, pick } => {
                let ids: Vec<u64> = net.nodes[node]
                    .state
                    .tasks
                    .values()
                    .filter_map(|t| match t {
                        Task::Initiator(t) => Some(t.payment_id),
                        _ => None,
                    })
                    .collect();
                if !ids.is_empty() {
                    let payment_id = ids[pick % ids.len()];
                    let before = format!("{:?}", net.nodes[node].state);
                    match net.apply(node, StateChange::CancelPayment { payment_id }) {
                        Ok(()) => {
                            cancelled.insert(payment_id);
                        }
                        Err(_) => {
                            prop_assert_eq!(before, format!("{:?}", net.nodes[node].state))
                        }
                    }
                }
            }
        }
        check_invariants(&net, &mut seen)?;
    }
    // Let everything finish: everyone back and caught up, deliver, then mine past every
    // lock's expiry (and its removal margin).
    net.away = vec![false; 4];
    net.lag = vec![0; 4];
    mine_one(&mut net);
    run_with_retry(&mut net);
    let config = Config::default();
    for _ in 0..config.lock_timeout + config.expiry_margin + 2 {
        mine_one(&mut net);
        run_with_retry(&mut net);
        check_invariants(&net, &mut seen)?;
    }
    // no lane stalled: nothing waits, and no honest message was refused for good
    prop_assert!(net.inflight.is_empty(), "messages still waiting: {}", net.inflight.len());
    for (i, node) in net.nodes.iter().enumerate() {
        prop_assert!(node.rejections.is_empty(), "node {i} refused {:?}", node.rejections);
    }
    // every payment reported sent was received
    let received: std::collections::BTreeSet<u64> = net
        .nodes
        .iter()
        .flat_map(|n| &n.log)
        .filter_map(|e| match e {
            Event::PaymentReceived { payment_id, .. } => Some(*payment_id),
            _ => None,
        })
        .collect();
    for (i, node) in net.nodes.iter().enumerate() {
        for e in &node.log {
            if let Event::PaymentSent { payment_id, .. } = e {
                prop_assert!(
                    received.contains(payment_id),
                    "node {i}: payment {payment_id} sent, never received"
                );
            }
        }
    }
    // every payment received carries the data its payer sent, whatever the route and delays
    for (i, node) in net.nodes.iter().enumerate() {
        for e in &node.log {
            if let Event::PaymentReceived { payment_id, data, .. } = e {
                prop_assert_eq!(
                    data,
                    &payment_data(*payment_id),
                    "node {}: payment {} arrived with other data",
                    i,
                    payment_id
                );
            }
        }
    }
    // a cancelled payment is never paid
    for (i, node) in net.nodes.iter().enumerate() {
        for e in &node.log {
            if let Event::PaymentSent { payment_id, .. }
            | Event::PaymentReceived { payment_id, .. } = e
            {
                prop_assert!(
                    !cancelled.contains(payment_id),
                    "node {i}: payment {payment_id} was cancelled, yet paid"
                );
            }
        }
    }
    // every lock is completed, removed, or registered on chain in time
    for (i, node) in net.nodes.iter().enumerate() {
        for c in node.state.channels.values() {
            for lock in c.ours.locks.iter().chain(&c.theirs.locks) {
                prop_assert!(
                    node.state.registered_in_time(lock),
                    "node {i}: unresolved lock {lock:?}"
                );
            }
        }
    }
    // both ends agree
    for (a, b, _, _) in CHANNELS {
        let id = net.channel_id(a, b);
        let (ca, cb) = (&net.nodes[a].state.channels[&id], &net.nodes[b].state.channels[&id]);
        prop_assert_eq!(
            (ca.ours.nonce, ca.ours.transferred, &ca.ours.locks),
            (cb.theirs.nonce, cb.theirs.transferred, &cb.theirs.locks)
        );
        prop_assert_eq!(
            (ca.theirs.nonce, ca.theirs.transferred, &ca.theirs.locks),
            (cb.ours.nonce, cb.ours.transferred, &cb.ours.locks)
        );
    }
    // no token created or destroyed, and each node's worth moved by exactly its payments
    let total: i128 = (0..4).map(|i| worth(&net, i)).sum();
    prop_assert_eq!(total, start.iter().sum::<i128>());
    if net.registered.is_empty() {
        let gains = payment_gains(&net);
        for i in 0..4 {
            prop_assert_eq!(
                worth(&net, i) - start[i],
                gains[i],
                "node {}'s worth vs its payments",
                i
            );
        }
    }
    Ok(())
}

/// Changes one field of a balance-proof message so it no longer follows from the last state.
fn forge(message: &mut Message, field: u8) {
    let bp = match message {
        Message::DirectTransfer(m) => &mut m.balance_proof,
        Message::MediatedTransfer(m) => &mut m.balance_proof,
        Message::Unlock(m) => &mut m.balance_proof,
        Message::RemoveExpiredLock(m) => &mut m.balance_proof,
        Message::AnnounceDisposedResponse(m) => &mut m.balance_proof,
        _ => return,
    };
    match field {
        0 => bp.transferred_amount += TokenAmount(1),
        1 => bp.nonce.0 += 1,
        2 => bp.locked_amount += TokenAmount(1),
        _ => bp.epoch.0 += 1,
    }
}

proptest! {
    // PHOTON_PROPTEST_CASES raises the count for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PHOTON_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn invariants_hold_under_random_traffic(actions in prop::collection::vec(action(), 1..40)) {
        run_case(actions)?;
    }
}

/// The data payment `id` carries: none for some, up to the most a transfer may carry.
fn payment_data(id: u64) -> Vec<u8> {
    let len = (id as usize * 37) % (photon_primitives::messages::MAX_DATA_LEN + 1);
    vec![id as u8; len]
}
