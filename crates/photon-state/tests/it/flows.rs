//! Every flow of the whitepaper, end to end through the state machines.

use crate::harness::*;
use photon_primitives::messages::Message;
use photon_primitives::Nonce;
use photon_primitives::TokenAmount;
use photon_primitives::U256;
use photon_state::changes::{ChainEvent, Event, PaymentFailure, StateChange};
use photon_state::{Config, FeePolicy, OurDisposal, Rejection, Route, Task, UnlockState};

const ALICE: usize = 0;
const BOB: usize = 1;
const CHARLIE: usize = 2;
const DAVE: usize = 3;

fn received(net: &Net, node: usize) -> Vec<u128> {
    net.nodes[node]
        .log
        .iter()
        .filter_map(|e| match e {
            Event::PaymentReceived { amount, .. } => Some(amount.0),
            _ => None,
        })
        .collect()
}

/// The whitepaper's worked example, steps 1–6.
#[test]
fn whitepaper_alice_bob_charlie() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 80, 0);
    // Alice pays Bob 30 directly
    net.pay_direct(ALICE, BOB, 30).unwrap();
    net.assert_balances(ALICE, BOB, (70, 30));
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
    // Alice pays Charlie 20 through Bob
    net.pay(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    net.assert_balances(ALICE, BOB, (50, 50));
    net.assert_balances(BOB, CHARLIE, (60, 20));
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
    assert_eq!(net.pending_locks(BOB, CHARLIE), (vec![], vec![]));
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentSent { amount: TokenAmount(20), .. })));
    assert_eq!(received(&net, CHARLIE), vec![20]);
    assert_eq!(received(&net, BOB), vec![30]);
    assert!(net.nodes.iter().all(|n| n.state.tasks.is_empty()), "no payment left in flight");
    // Alice closes; Bob updates with Alice's latest proof; after the windows either settles.
    let id = net.channel_id(ALICE, BOB);
    let before = (net.wallet[ALICE], net.wallet[BOB]);
    net.apply(ALICE, StateChange::Close { channel_id: id }).unwrap();
    net.mine(SETTLE_TIMEOUT + PUNISH_BLOCKS + 1);
    assert!(!net.channels.contains_key(&id), "settled");
    assert_eq!(
        (net.wallet[ALICE] - before.0, net.wallet[BOB] - before.1),
        (TokenAmount(50), TokenAmount(50))
    );
    assert!(!net.nodes[ALICE].state.channels.contains_key(&id));
    net.assert_no_rejections();
}

#[test]
fn deposits_by_both_sides_and_payments_both_ways() {
    let mut net = Net::new(2);
    net.open_channel(ALICE, BOB, 0, 0);
    assert!(net.pay_direct(ALICE, BOB, 1).is_err(), "nothing to pay with");
    net.open_channel_deposit(ALICE, BOB, 40);
    net.open_channel_deposit(BOB, ALICE, 10);
    net.open_channel_deposit(ALICE, BOB, 5);
    net.pay_direct(ALICE, BOB, 30).unwrap();
    net.pay_direct(BOB, ALICE, 35).unwrap();
    net.assert_balances(ALICE, BOB, (50, 5));
    net.assert_no_rejections();
}

#[test]
fn mediator_earns_its_fee_and_target_gets_the_exact_amount() {
    let fee = FeePolicy { flat: TokenAmount(1), proportional_ppm: 10_000, imbalance_ppm: 0 }; // 1 + 1%
    let mut net =
        Net::with_config(3, Config { punish_blocks: PUNISH_BLOCKS, fee, ..Config::default() });
    net.open_channel(ALICE, BOB, 1000, 0);
    net.open_channel(BOB, CHARLIE, 1000, 0);
    // Bob charges 1 + 1% of what he receives: for 200 to arrive, Alice sends 203
    // (fee(203) = 1 + 2 = 3).
    net.pay(ALICE, CHARLIE, 200, &[(&[ALICE, BOB, CHARLIE], 3)]);
    net.assert_balances(ALICE, BOB, (797, 203));
    net.assert_balances(BOB, CHARLIE, (800, 200));
    assert_eq!(received(&net, CHARLIE), vec![200]);
    assert!(net.nodes[BOB]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentMediated { fee: TokenAmount(3), .. })));
    net.assert_no_rejections();
}

/// Bob's fee has an imbalance component: forwarding from his fuller side (900 of 1,000)
/// costs less, from his thinner side more. The quote `FeePolicy::receive_for` gives (what a
/// router prices) is exactly what he takes: a lock one unit smaller is given back.
#[test]
fn a_mediator_charges_less_where_forwarding_rebalances_its_channel() {
    let fee = FeePolicy { flat: TokenAmount(1), proportional_ppm: 10_000, imbalance_ppm: 10_000 };
    let mut net =
        Net::with_config(3, Config { punish_blocks: PUNISH_BLOCKS, fee, ..Config::default() });
    net.open_channel(ALICE, BOB, 1000, 0);
    net.open_channel(BOB, CHARLIE, 900, 100);
    let failed = |net: &Net| {
        net.nodes[ALICE]
            .log
            .iter()
            .filter(|e| matches!(e, Event::PaymentFailed { reason: PaymentFailure::NoRoute, .. }))
            .count()
    };
    let (total, path) = (TokenAmount(1000), &[ALICE, BOB, CHARLIE][..]);
    for (amount, bob_holds, expected_rate) in [(500, 900, 2_000), (300, 400, 12_000)] {
        // 10,000 ∓ 10,000 · |2·ours − total| / total
        assert_eq!(fee.rate(TokenAmount(bob_holds), total), expected_rate);
        let lock = fee.receive_for(TokenAmount(amount), TokenAmount(bob_holds), total).unwrap();
        let quote = lock.0 - amount;
        let before = failed(&net);
        net.pay(ALICE, CHARLIE, amount, &[(path, quote - 1)]);
        assert_eq!(failed(&net), before + 1, "one unit short: given back");
        net.pay(ALICE, CHARLIE, amount, &[(path, quote)]);
        assert_eq!(failed(&net), before + 1, "the exact quote: paid");
        assert!(net.nodes[BOB]
            .log
            .iter()
            .any(|e| matches!(e, Event::PaymentMediated { fee, .. } if fee.0 == quote)));
    }
    // 500 then 300 arrived; Bob kept 2 then 4
    assert_eq!(received(&net, CHARLIE), vec![500, 300]);
    net.assert_balances(BOB, CHARLIE, (100, 900));
    net.assert_balances(ALICE, BOB, (1000 - 502 - 304, 502 + 304));
    net.assert_no_rejections();
}

#[test]
fn insufficient_fee_is_disposed_and_the_payment_fails_cleanly() {
    let fee = FeePolicy { flat: TokenAmount(5), proportional_ppm: 0, imbalance_ppm: 0 };
    let mut net =
        Net::with_config(3, Config { punish_blocks: PUNISH_BLOCKS, fee, ..Config::default() });
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.pay(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 1)]);
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { reason: PaymentFailure::NoRoute, .. })));
    net.assert_balances(ALICE, BOB, (100, 0));
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
    assert!(net.nodes.iter().all(|n| n.state.tasks.is_empty()));
    net.assert_no_rejections();
}

/// Bob cannot forward (Bob–Charlie has no capacity): Bob disposes, Alice removes the lock and
/// reroutes through Dave; the payment succeeds.
#[test]
fn disposal_then_reroute() {
    let mut net = Net::new(4);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 5, 0);
    net.open_channel(ALICE, DAVE, 100, 0);
    net.open_channel(DAVE, CHARLIE, 100, 0);
    net.pay(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0), (&[ALICE, DAVE, CHARLIE], 0)]);
    net.assert_balances(ALICE, BOB, (100, 0));
    net.assert_balances(ALICE, DAVE, (80, 20));
    net.assert_balances(DAVE, CHARLIE, (80, 20));
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
    let bob_view = &net.nodes[BOB].state.channels[&net.channel_id(ALICE, BOB)];
    assert!(bob_view.disposed.is_empty(), "the disposed lock was removed by Alice");
    let alice_view = &net.nodes[ALICE].state.channels[&net.channel_id(ALICE, BOB)];
    assert_eq!(
        alice_view.their_disposals.len(),
        1,
        "Alice keeps Bob's signed disposal as evidence"
    );
    assert_eq!(received(&net, CHARLIE), vec![20]);
    assert!(net.nodes.iter().all(|n| n.state.tasks.is_empty()));
    net.assert_no_rejections();
}

/// Nobody reveals the secret: every lock expires and is removed; the initiator gives up.
#[test]
fn unrevealed_locks_expire_and_are_removed() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.offline[CHARLIE] = true; // the target never answers
    net.pay(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    assert_eq!(net.pending_locks(ALICE, BOB).0.len(), 1);
    net.offline[CHARLIE] = false;
    let lock_timeout = Config::default().lock_timeout;
    // removed a margin after the expiration (the partner's block may lag ours)
    net.mine(lock_timeout + Config::default().expiry_margin);
    assert_eq!(net.pending_locks(ALICE, BOB).0.len(), 1, "not before the margin is over");
    net.mine(1);
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
    assert_eq!(net.pending_locks(BOB, CHARLIE).0, vec![]);
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { reason: PaymentFailure::LockExpired, .. })));
    net.assert_balances(ALICE, BOB, (100, 0));
    net.assert_balances(BOB, CHARLIE, (100, 0));
}

/// Bob learns the secret but never unlocks to Charlie (Bob's Unlock is lost): Charlie
/// registers the secret on chain before the lock expires, so the lock stays his to claim.
#[test]
fn target_registers_the_secret_when_not_unlocked_in_time() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    let secret = net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    // deliver everything except Bob's Unlock to Charlie
    while let Some(env) = net.inflight.front().cloned() {
        if env.from == BOB && env.to == CHARLIE && matches!(env.message, Message::Unlock(_)) {
            net.inflight.pop_front();
            continue;
        }
        net.deliver_one();
    }
    assert_eq!(net.pending_locks(CHARLIE, BOB).1.len(), 1, "Charlie still holds Bob's lock");
    assert!(net.registered.is_empty());
    net.mine(Config::default().lock_timeout);
    assert!(net.registered.contains_key(&secret.hash()), "Charlie registered the secret in time");
    let lock = net.pending_locks(CHARLIE, BOB).1[0];
    assert!(
        net.registered[&secret.hash()] <= lock.expiration,
        "registered in time: claimable on chain"
    );
    // Bob's view already counts the 20 as Charlie's; Charlie can claim it on chain whatever Bob does.
    let bob = &net.nodes[BOB].state.channels[&net.channel_id(BOB, CHARLIE)];
    assert_eq!(bob.partner_balance(), 20);
}

#[test]
fn withdraw_without_closing_starts_a_new_epoch() {
    let mut net = Net::new(2);
    let id = net.open_channel(ALICE, BOB, 100, 0);
    net.pay_direct(ALICE, BOB, 30).unwrap();
    let epoch = net.nodes[ALICE].state.channels[&id].epoch;
    net.apply(BOB, StateChange::RequestWithdraw { channel_id: id, amount: TokenAmount(20) })
        .unwrap();
    net.run();
    assert_eq!(net.wallet[BOB], 1_000_000 + 20);
    let (a, b) = (&net.nodes[ALICE].state.channels[&id], &net.nodes[BOB].state.channels[&id]);
    assert!(a.epoch > epoch && a.epoch == b.epoch);
    assert_eq!((a.ours.deposit, a.theirs.deposit), (TokenAmount(70), TokenAmount(10)));
    assert!(a.withdraw.is_none() && b.withdraw.is_none());
    // transfers go on in the new epoch
    net.pay_direct(ALICE, BOB, 5).unwrap();
    net.assert_balances(ALICE, BOB, (65, 15));
    net.assert_no_rejections();
}

#[test]
fn withdraw_refused_while_locks_are_pending() {
    let mut net = Net::new(3);
    let id = net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.offline[CHARLIE] = true;
    net.pay(ALICE, CHARLIE, 10, &[(&[ALICE, BOB, CHARLIE], 0)]);
    let err = net
        .apply(ALICE, StateChange::RequestWithdraw { channel_id: id, amount: TokenAmount(5) })
        .unwrap_err();
    assert_eq!(err, photon_state::Rejection::PendingLocks(id));
}

#[test]
fn cooperative_settle_pays_out_at_once() {
    let mut net = Net::new(2);
    let id = net.open_channel(ALICE, BOB, 100, 50);
    net.pay_direct(ALICE, BOB, 30).unwrap();
    let before = (net.wallet[ALICE], net.wallet[BOB]);
    net.apply(ALICE, StateChange::RequestCooperativeSettle { channel_id: id }).unwrap();
    // from the request on, Alice sends nothing more on the channel
    assert!(net.pay_direct(ALICE, BOB, 1).is_err());
    net.run();
    assert_eq!(
        (net.wallet[ALICE] - before.0, net.wallet[BOB] - before.1),
        (TokenAmount(70), TokenAmount(80))
    );
    assert!(!net.nodes[ALICE].state.channels.contains_key(&id));
    assert!(!net.nodes[BOB].state.channels.contains_key(&id));
    net.assert_no_rejections();
}

/// The partner closes with an old proof of ours; the honest node's update with the partner's
/// latest proof wins.
#[test]
fn honest_update_beats_a_stale_close() {
    let mut net = Net::new(2);
    let id = net.open_channel(ALICE, BOB, 100, 100);
    net.pay_direct(ALICE, BOB, 10).unwrap();
    net.pay_direct(BOB, ALICE, 60).unwrap();
    net.pay_direct(ALICE, BOB, 5).unwrap();
    // Bob closes; the mirror keeps what each side submits with the highest nonce.
    net.apply(BOB, StateChange::Close { channel_id: id }).unwrap();
    net.mine(SETTLE_TIMEOUT + PUNISH_BLOCKS + 1);
    assert!(!net.channels.contains_key(&id));
    assert_eq!(net.wallet[ALICE], 1_000_000 - 100 + 145);
    assert_eq!(net.wallet[BOB], 1_000_000 - 100 + 55);
}

/// Only one role per secret hash: a lock that loops back through a node is handed back.
#[test]
fn a_looping_route_is_disposed() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.pay(ALICE, CHARLIE, 10, &[(&[ALICE, BOB, CHARLIE], 0)]);
    assert!(net.nodes[BOB].state.tasks.values().all(|t| !matches!(t, Task::Target(_))));
    net.assert_no_rejections();
}

impl Net {
    /// Another deposit into an existing channel.
    pub fn open_channel_deposit(&mut self, who: usize, partner: usize, amount: u128) {
        use photon_state::changes::ChainEvent;
        let id = self.channel_id(who, partner);
        let chain = self.channels.get_mut(&id).unwrap();
        let side = usize::from(chain.parties[1] == who);
        chain.deposits[side] += TokenAmount(amount);
        let total = chain.deposits[side];
        self.wallet[who] -= TokenAmount(amount);
        let participant = self.addr(who);
        for i in [who, partner] {
            self.apply(
                i,
                StateChange::Chain(ChainEvent::Deposit {
                    channel_id: id,
                    participant,
                    total: TokenAmount(total.0),
                }),
            )
            .unwrap();
        }
    }
}

/// Charlie learned the secret, Bob never unlocks (he went silent after paying nothing):
/// Charlie registers the secret in time, closes, unlocks on chain near the end of the
/// settle window and is paid at settlement.
#[test]
fn a_registered_lock_is_claimed_on_chain() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    let bc = net.open_channel(BOB, CHARLIE, 100, 0);
    net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    while let Some(env) = net.inflight.front().cloned() {
        if env.from == BOB && env.to == CHARLIE && matches!(env.message, Message::Unlock(_)) {
            net.inflight.pop_front();
            continue;
        }
        net.deliver_one();
    }
    net.mine(Config::default().lock_timeout);
    assert_eq!(net.registered.len(), 1);
    let before = (net.wallet[BOB], net.wallet[CHARLIE]);
    net.apply(CHARLIE, StateChange::Close { channel_id: bc }).unwrap();
    net.mine(SETTLE_TIMEOUT + PUNISH_BLOCKS + 1);
    assert!(!net.channels.contains_key(&bc), "settled");
    assert_eq!(
        (net.wallet[BOB] - before.0, net.wallet[CHARLIE] - before.1),
        (TokenAmount(80), TokenAmount(20))
    );
}

/// The target reveals the secret so late that the mediator could not register it before the
/// payer's lock expires: the mediator does not pay off-chain, registers the secret at once, and
/// pays (and is paid) once the registration is on chain.
#[test]
fn a_late_reveal_is_secured_on_chain_before_the_mediator_pays() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    // deliver until Charlie's RevealSecret to Bob is next, and hold it
    while let Some(env) = net.inflight.front() {
        if env.from == CHARLIE && env.to == BOB && matches!(env.message, Message::RevealSecret(_)) {
            break;
        }
        net.deliver_one();
    }
    let held = net.inflight.pop_front().expect("Charlie reveals to Bob");
    let expiration = net.pending_locks(ALICE, BOB).0[0].expiration;
    let reveal = Config::default().reveal_timeout;
    // Charlie is honest but slow: hold his own registration back by keeping him offline
    net.offline[CHARLIE] = true;
    while net.block + reveal < expiration {
        net.block += 1;
        let block = net.block;
        for i in [ALICE, BOB] {
            net.apply(i, StateChange::Block(block)).unwrap();
        }
    }
    net.offline[CHARLIE] = false;
    net.inflight.push_front(held);
    net.run();
    assert!(!net.registered.is_empty(), "Bob registered the secret instead of paying blind");
    net.run();
    net.assert_balances(ALICE, BOB, (80, 20));
    net.assert_balances(BOB, CHARLIE, (80, 20));
    assert!(net.nodes.iter().all(|n| n.state.tasks.is_empty()));
    net.assert_no_rejections();
}

/// The order in which unlocks were delivered: (from, to).
fn unlocks(net: &Net) -> Vec<(usize, usize)> {
    net.delivered
        .iter()
        .filter(|e| matches!(e.message, Message::Unlock(_)))
        .map(|e| (e.from, e.to))
        .collect()
}

/// A mediator whose chain is unreachable could not get the secret registered in time if its
/// payer did not pay: it pays its payee only after its payer has paid it, and the payment
/// completes. With its chain it pays the payee as soon as it learns the secret.
#[test]
fn a_mediator_without_its_chain_pays_its_payee_only_after_its_payer() {
    for synced in [false, true] {
        let mut net = Net::new(3);
        net.open_channel(ALICE, BOB, 100, 0);
        net.open_channel(BOB, CHARLIE, 100, 0);
        net.apply(BOB, StateChange::ChainSynced(synced)).unwrap();
        net.registration_delay = 1_000; // nothing sent to the chain is mined meanwhile
        net.pay(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
        let expected = if synced {
            vec![(BOB, CHARLIE), (ALICE, BOB)]
        } else {
            vec![(ALICE, BOB), (BOB, CHARLIE)]
        };
        assert_eq!(unlocks(&net), expected, "chain in sync: {synced}");
        assert!(net.queued_registrations.is_empty(), "no gas spent: the payer paid");
        net.assert_balances(ALICE, BOB, (80, 20));
        net.assert_balances(BOB, CHARLIE, (80, 20));
        assert!(net.nodes.iter().all(|n| n.state.tasks.is_empty()));
        net.assert_no_rejections();
    }
}

/// Dave, in league with Charlie, sends Bob a lock with the secret hash of a payment Bob is
/// mediating from Alice to Charlie, ignores Bob's disposal of it and unlocks it with the
/// secret. That pays Bob a token on the Dave channel; it is not Alice paying for her lock, so
/// Bob neither takes his mediation as done nor pays Charlie off-chain for it.
#[test]
fn an_unlock_on_another_channel_does_not_settle_a_mediation() {
    let mut net = Net::new(4);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.open_channel(DAVE, BOB, 100, 0);
    let secret = net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    net.deliver_one(); // Bob takes Alice's lock and forwards one to Charlie
    net.inflight.clear(); // Charlie keeps quiet
    let token = net.token;
    let charlie = net.addr(CHARLIE);
    let dave_route =
        Route { path: vec![net.addr(DAVE), net.addr(BOB), charlie], fee: TokenAmount(0) };
    net.apply(
        DAVE,
        StateChange::SendMediated {
            token,
            payment_id: 99,
            target: charlie,
            amount: TokenAmount(1),
            secret: Some(secret),
            secrethash: secret.hash(),
            routes: vec![dave_route],
            fee_limit: TokenAmount(0),
            data: Vec::new(),
        },
    )
    .unwrap();
    net.deliver_one(); // Bob disposes of Dave's lock (he already mediates that hash)
    net.inflight.clear(); // Dave ignores the disposal and unlocks instead
    let bob = net.addr(BOB);
    let reveal = Message::RevealSecret(photon_primitives::messages::RevealSecret {
        message_id: 1,
        secret,
        signature: photon_primitives::messages::UNSIGNED,
    });
    net.apply(DAVE, StateChange::Receive { sender: bob, message: reveal }).unwrap();
    net.run();
    assert!(
        matches!(net.nodes[BOB].state.tasks.get(&secret.hash()), Some(Task::Mediator(_))),
        "Bob still mediates Alice's payment"
    );
    assert_eq!(net.pending_locks(BOB, CHARLIE).0.len(), 1, "Charlie was not paid off-chain");
    assert!(unlocks(&net).iter().all(|(from, _)| *from == DAVE), "only Dave unlocked");
    net.assert_balances(DAVE, BOB, (99, 1));
}

/// The most specific fee policy wins: channel over token over default; a fee change is a
/// logged state change like any other.
#[test]
fn fee_policies_by_channel_token_and_default() {
    use photon_state::{FeePolicy, FeeScope};
    let mut net = Net::new(4);
    net.open_channel(ALICE, BOB, 1000, 0);
    let bc = net.open_channel(BOB, CHARLIE, 1000, 0);
    net.open_channel(BOB, DAVE, 1000, 0);
    let token = net.token;
    net.apply(
        BOB,
        StateChange::SetFee {
            scope: FeeScope::Default,
            policy: FeePolicy { flat: TokenAmount(1), proportional_ppm: 0, imbalance_ppm: 0 },
        },
    )
    .unwrap();
    net.apply(
        BOB,
        StateChange::SetFee {
            scope: FeeScope::Token(token),
            policy: FeePolicy { flat: TokenAmount(2), proportional_ppm: 0, imbalance_ppm: 0 },
        },
    )
    .unwrap();
    net.apply(
        BOB,
        StateChange::SetFee {
            scope: FeeScope::Channel(bc),
            policy: FeePolicy { flat: TokenAmount(5), proportional_ppm: 0, imbalance_ppm: 0 },
        },
    )
    .unwrap();
    // through Bob–Charlie: the channel's policy (5)
    net.pay(ALICE, CHARLIE, 100, &[(&[ALICE, BOB, CHARLIE], 5)]);
    net.assert_balances(BOB, CHARLIE, (900, 100));
    // through Bob–Dave: the token's policy (2)
    net.pay(ALICE, DAVE, 100, &[(&[ALICE, BOB, DAVE], 2)]);
    net.assert_balances(BOB, DAVE, (900, 100));
    net.assert_balances(ALICE, BOB, (1000 - 105 - 102, 207));
    // an impossible proportional fee is refused
    let err = net
        .apply(
            BOB,
            StateChange::SetFee {
                scope: FeeScope::Default,
                policy: FeePolicy {
                    flat: TokenAmount(0),
                    proportional_ppm: 2_000_000,
                    imbalance_ppm: 0,
                },
            },
        )
        .unwrap_err();
    assert_eq!(err, photon_state::Rejection::InvalidAmount);
    net.assert_no_rejections();
}

/// An atomic swap leg: Charlie holds the secret (he made it for the other chain's HTLC);
/// Alice pays against its hash only, through Bob. Charlie reveals to his payer at once, the
/// payment completes, and Alice learns the secret in the process.
#[test]
fn paying_against_a_hash_whose_secret_the_target_holds() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    let secret = net.next_secret();
    net.apply(CHARLIE, StateChange::KnowSecret { secret }).unwrap();
    let (token, target) = (net.token, net.addr(CHARLIE));
    let path = vec![net.addr(ALICE), net.addr(BOB), net.addr(CHARLIE)];
    // a secret that does not match the hash is refused
    let wrong = net.next_secret();
    let err = net
        .apply(
            ALICE,
            StateChange::SendMediated {
                token,
                payment_id: 41,
                target,
                amount: TokenAmount(20),
                secret: Some(wrong),
                secrethash: secret.hash(),
                routes: vec![photon_state::Route { path: path.clone(), fee: TokenAmount(0) }],
                fee_limit: TokenAmount(0),
                data: Vec::new(),
            },
        )
        .unwrap_err();
    assert_eq!(err, photon_state::Rejection::SecretMismatch);
    net.apply(
        ALICE,
        StateChange::SendMediated {
            token,
            payment_id: 42,
            target,
            amount: TokenAmount(20),
            secret: None,
            secrethash: secret.hash(),
            routes: vec![photon_state::Route { path, fee: TokenAmount(0) }],
            fee_limit: TokenAmount(0),
            data: Vec::new(),
        },
    )
    .unwrap();
    net.run();
    net.assert_balances(ALICE, BOB, (80, 20));
    net.assert_balances(BOB, CHARLIE, (80, 20));
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentSent { payment_id: 42, .. })));
    assert!(
        !net.delivered.iter().any(|e| matches!(e.message, Message::SecretRequest(_))),
        "no secret requested"
    );
    assert!(net.nodes.iter().all(|n| n.state.tasks.is_empty()));
    net.assert_no_rejections();
}

/// A restart may show a node chain events it has already applied: they change nothing.
#[test]
fn chain_events_seen_twice_change_nothing() {
    use photon_state::changes::ChainEvent;
    let mut net = Net::new(2);
    let id = net.open_channel(ALICE, BOB, 100, 0);
    net.apply(BOB, StateChange::RequestWithdraw { channel_id: id, amount: TokenAmount(0) })
        .unwrap_err();
    net.pay_direct(ALICE, BOB, 30).unwrap();
    net.apply(BOB, StateChange::RequestWithdraw { channel_id: id, amount: TokenAmount(10) })
        .unwrap();
    net.run();
    let epoch = net.nodes[ALICE].state.channels[&id].epoch;
    net.pay_direct(ALICE, BOB, 5).unwrap();
    let before = format!("{:?}", net.nodes[ALICE].state.channels[&id]);
    // the withdrawal's event again
    let d = net.channels[&id].deposits;
    let again = ChainEvent::Withdrawn {
        channel_id: id,
        participant: net.addr(BOB),
        amount: TokenAmount(10),
        deposit1: TokenAmount((d[0]).0),
        deposit2: TokenAmount((d[1]).0),
        epoch,
    };
    net.apply(ALICE, StateChange::Chain(again)).unwrap();
    assert_eq!(
        before,
        format!("{:?}", net.nodes[ALICE].state.channels[&id]),
        "the new epoch's transfers survive"
    );
    // a close seen twice does not re-arm the unlock and settle of the first
    net.apply(ALICE, StateChange::Close { channel_id: id }).unwrap();
    let closed = format!("{:?}", net.nodes[BOB].state.channels[&id].status);
    let event = ChainEvent::ChannelClosed {
        channel_id: id,
        closer: net.addr(ALICE),
        block: net.block + 50,
    };
    net.apply(BOB, StateChange::Chain(event)).unwrap();
    assert_eq!(closed, format!("{:?}", net.nodes[BOB].state.channels[&id].status));
}

/// Charlie learned the secret, but Bob closes the channel before unlocking: Charlie registers
/// the secret at once rather than near the lock's expiry (which is near the window's end).
#[test]
fn a_target_registers_at_once_when_the_payer_closes_early() {
    // the lock lives as long as it can while the mediator can still secure it on chain
    let lock_timeout = SETTLE_TIMEOUT - Config::default().reveal_timeout;
    let config = Config { punish_blocks: PUNISH_BLOCKS, lock_timeout, ..Config::default() };
    let mut net = Net::with_config(3, config);
    net.open_channel(ALICE, BOB, 100, 0);
    let bc = net.open_channel(BOB, CHARLIE, 100, 0);
    let secret = net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    while let Some(env) = net.inflight.front().cloned() {
        if env.from == BOB && env.to == CHARLIE && matches!(env.message, Message::Unlock(_)) {
            net.inflight.pop_front();
            continue;
        }
        net.deliver_one();
    }
    let lock = net.pending_locks(CHARLIE, BOB).1[0];
    // a lock its receivers could secure: it expires inside any settle window opened now
    assert!(lock.expiration + Config::default().reveal_timeout <= net.block + SETTLE_TIMEOUT);
    let before = (net.wallet[BOB], net.wallet[CHARLIE]);
    net.apply(BOB, StateChange::Close { channel_id: bc }).unwrap();
    net.mine(1);
    assert!(net.registered.contains_key(&secret.hash()), "registered as soon as the close is seen");
    net.mine(SETTLE_TIMEOUT + PUNISH_BLOCKS + 1);
    assert!(!net.channels.contains_key(&bc), "settled");
    assert_eq!(
        (net.wallet[BOB] - before.0, net.wallet[CHARLIE] - before.1),
        (TokenAmount(80), TokenAmount(20))
    );
}

/// Bob could not forward Alice's lock and signed it away as disposed. Once the secret is public
/// he turns dishonest: he closes with Alice's older proof that still holds the lock and claims
/// it on chain. Alice's node answers with his signed disposal, and the contract gives her the
/// whole channel.
#[test]
fn claiming_a_disposed_lock_forfeits_the_channel() {
    let mut net = Net::new(3);
    let ab = net.open_channel(ALICE, BOB, 100, 50);
    net.open_channel(BOB, CHARLIE, 5, 0);
    let secret = net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    let mut stale = None;
    while let Some(env) = net.inflight.front().cloned() {
        if let (ALICE, BOB, Message::MediatedTransfer(m)) = (env.from, env.to, &env.message) {
            stale = Some(m.clone());
        }
        net.deliver_one();
    }
    let stale = stale.expect("Alice sent the lock to Bob");
    assert_eq!(net.nodes[ALICE].state.channels[&ab].their_disposals.len(), 1);
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]), "the lock was removed");
    let block = net.block;
    net.registered.insert(secret.hash(), block);
    net.broadcast(&[ALICE, BOB, CHARLIE], ChainEvent::SecretRegistered { secret, block });

    // Bob, by hand: close with the stale proof, then unlock its lock
    let alice_side = usize::from(net.channels[&ab].parties[1] == ALICE);
    let chain = net.channels.get_mut(&ab).unwrap();
    chain.closed_at = Some(block);
    chain.nonces[alice_side] = stale.balance_proof.nonce.0;
    chain.transferred[alice_side] = TokenAmount(stale.balance_proof.transferred_amount.0);
    chain.locksroots[alice_side] = stale.balance_proof.locksroot;
    let bob = net.addr(BOB);
    net.broadcast(&[ALICE], ChainEvent::ChannelClosed { channel_id: ab, closer: bob, block });
    let chain = net.channels.get_mut(&ab).unwrap();
    let one = U256::from(1u8);
    let state = UnlockState { claimed: one, direct: one, voided: U256::ZERO };
    chain.unlocked[alice_side] = Some(state);
    chain.transferred[alice_side] += TokenAmount(20);
    assert!(!net.channels[&ab].punished[1 - alice_side]);
    let (alice, locks) = (net.addr(ALICE), vec![stale.lock]);
    let locksroot = stale.balance_proof.locksroot;
    let unlocked =
        ChainEvent::ChannelUnlocked { channel_id: ab, sender: alice, locksroot, locks, state };
    net.broadcast(&[ALICE], unlocked.clone());
    assert!(net.channels[&ab].punished[1 - alice_side], "Alice's node punished Bob");
    // seen again (a replayed log): nothing more is sent
    net.broadcast(&[ALICE], unlocked);

    let before = net.wallet[ALICE];
    net.mine(SETTLE_TIMEOUT + PUNISH_BLOCKS + 1);
    assert!(!net.channels.contains_key(&ab), "settled");
    assert_eq!(net.wallet[ALICE] - before, 150, "Alice gets the whole channel");
}

/// As above, but the registration takes most of the lock's life to be mined (it lands just
/// before the expiration, which a mediator only accepts inside its payer's settle window): the
/// node's on-chain unlock comes after it and claims the lock.
#[test]
fn the_unlock_waits_for_a_slow_registration() {
    // the lock lives as long as it can while the mediator can still secure it on chain
    let lock_timeout = SETTLE_TIMEOUT - Config::default().reveal_timeout;
    let config = Config { punish_blocks: PUNISH_BLOCKS, lock_timeout, ..Config::default() };
    let mut net = Net::with_config(3, config);
    net.open_channel(ALICE, BOB, 100, 0);
    let bc = net.open_channel(BOB, CHARLIE, 100, 0);
    let secret = net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    while let Some(env) = net.inflight.front().cloned() {
        if env.from == BOB && env.to == CHARLIE && matches!(env.message, Message::Unlock(_)) {
            net.inflight.pop_front();
            continue;
        }
        net.deliver_one();
    }
    // mined 3 blocks before the lock expires
    net.registration_delay = lock_timeout - 3;
    let before = (net.wallet[BOB], net.wallet[CHARLIE]);
    net.apply(BOB, StateChange::Close { channel_id: bc }).unwrap();
    net.mine(SETTLE_TIMEOUT - 1);
    assert!(net.registered.contains_key(&secret.hash()), "the slow registration landed");
    net.mine(PUNISH_BLOCKS + 2);
    assert!(!net.channels.contains_key(&bc), "settled");
    assert_eq!(
        (net.wallet[BOB] - before.0, net.wallet[CHARLIE] - before.1),
        (TokenAmount(80), TokenAmount(20))
    );
}

/// More than 64 pending locks, one far down the list disposed: the node's on-chain unlock
/// leaves exactly that one unclaimed (claiming it would forfeit the whole channel).
#[test]
fn an_unlock_skips_a_disposed_lock_beyond_the_64th() {
    use photon_primitives::lock::locksroot;
    use photon_primitives::{Lock, Secret, B256};

    let mut net = Net::new(2);
    let ab = net.open_channel(ALICE, BOB, 1_000, 0);
    let (block, expiration) = (net.block, net.block + 500);
    let locks: Vec<Lock> = (0..70u8)
        .map(|i| Lock {
            amount: TokenAmount(10),
            expiration,
            secrethash: Secret(B256::repeat_byte(i + 1)).hash(),
        })
        .collect();
    let bob = &mut net.nodes[BOB].state;
    for lock in &locks {
        bob.registered.insert(lock.secrethash, block);
        net.registered.insert(lock.secrethash, block);
    }
    let channel = bob.channels.get_mut(&ab).unwrap();
    channel.theirs.locks = locks.clone();
    channel.disposed.insert(locks[66].secrethash, OurDisposal { nonce: Nonce(0), payment_id: 0 });
    // Alice closes; the contract holds her proof with the 70 locks
    let alice_side = usize::from(net.channels[&ab].parties[1] == ALICE);
    let chain = net.channels.get_mut(&ab).unwrap();
    chain.closed_at = Some(block);
    chain.locksroots[alice_side] = locksroot(&locks);
    let alice = net.addr(ALICE);
    net.broadcast(&[BOB], ChainEvent::ChannelClosed { channel_id: ab, closer: alice, block });
    net.mine(SETTLE_TIMEOUT);
    assert!(net.channels[&ab].unlocked[alice_side].is_some(), "Bob unlocked");
    assert_eq!(net.channels[&ab].transferred[alice_side], 690, "every lock but the disposed one");
}

/// Finding 4 of the fund-safety review: a lock that outlives the payer's settle window (the
/// opener chose a short one) cannot be claimed on chain once the payer closes, so a mediator
/// must not pay downstream against it, nor a target reveal for it: both give it back, the
/// payment fails cleanly and no token moves.
#[test]
fn a_lock_outliving_the_payers_settle_window_is_given_back() {
    for target in [BOB, CHARLIE] {
        // locks live 100 blocks, the channels' windows are 100: never securable
        let config =
            Config { punish_blocks: PUNISH_BLOCKS, lock_timeout: 100, ..Config::default() };
        let mut net = Net::with_config(3, config);
        net.open_channel(ALICE, BOB, 100, 0);
        net.open_channel(BOB, CHARLIE, 100, 0);
        let path: &[usize] = if target == BOB { &[ALICE, BOB] } else { &[ALICE, BOB, CHARLIE] };
        net.pay(ALICE, target, 20, &[(path, 0)]);
        assert!(
            net.nodes[ALICE]
                .log
                .iter()
                .any(|e| matches!(e, Event::PaymentFailed { reason: PaymentFailure::NoRoute, .. })),
            "target {target}"
        );
        net.assert_balances(ALICE, BOB, (100, 0));
        net.assert_balances(BOB, CHARLIE, (100, 0));
        assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
        assert_eq!(net.pending_locks(BOB, CHARLIE), (vec![], vec![]), "nothing forwarded");
    }
}

/// Finding 1 of the fund-safety review, node side: Bob disposes Alice's lock as held in her
/// proof nonce 1 while her next proof (nonce 2, a direct payment still holding the lock) is on
/// its way. Alice does not act on a disposal that does not cover her latest proof (she could
/// end up paying twice); Bob signs again once he has nonce 2, and only then does Alice remove
/// the lock, keep the covering disposal, and give the payment up.
#[test]
fn a_disposal_acts_only_once_it_covers_the_payers_latest_proof() {
    use photon_primitives::messages::Message;
    let mut net = Net::new(3);
    let ab = net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 5, 0);
    net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    // Bob gets the lock (nonce 1) and disposes of it: the disposal is in flight to Alice
    assert!(net.deliver_one());
    let disposal = |m: &Message| matches!(m, Message::AnnounceDisposed(_));
    assert!(net.inflight.iter().any(|e| disposal(&e.message)));
    // meanwhile Alice pays Bob 3 directly: nonce 2, still holding the lock
    net.apply(
        ALICE,
        StateChange::SendDirect {
            channel_id: ab,
            payment_id: 9,
            amount: TokenAmount(3),
            data: Vec::new(),
        },
    )
    .unwrap();
    // Alice receives the nonce-1 disposal: nothing happens
    assert!(net.deliver_one());
    let alice = &net.nodes[ALICE].state.channels[&ab];
    assert_eq!(alice.ours.locks.len(), 1, "the lock stays until a disposal covers nonce 2");
    assert!(alice.their_disposals.is_empty());
    assert!(!net.nodes[ALICE].log.iter().any(|e| matches!(e, Event::PaymentFailed { .. })));
    // Bob receives nonce 2 and disposes again, for nonce 2; Alice now acts on it
    net.run();
    let alice = &net.nodes[ALICE].state.channels[&ab];
    assert!(alice.ours.locks.is_empty(), "removed");
    let evidence = alice.their_disposals.values().next().expect("the covering disposal");
    assert_eq!(evidence.nonce, Nonce(2));
    let responses = net
        .delivered
        .iter()
        .filter(|e| matches!(e.message, Message::AnnounceDisposedResponse(_)))
        .count();
    assert_eq!(responses, 1, "the lock was removed once");
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { reason: PaymentFailure::NoRoute, .. })));
    assert_eq!(net.balances(ALICE, BOB), (97, 3));
    assert!(net.nodes[BOB].state.channels[&ab].disposed.is_empty());
}

/// "A channel never jams", scenario 2: thirty payments Bob → Charlie locked with a secret
/// nobody knows, so every lock expires. Charlie's confirmed block lags Bob's by more than the
/// expiry margin: Bob's removals reach him before the locks expired by his clock. He answers
/// "not yet" (the transport retries), never "never": the lane keeps its order, the direct
/// payments queued behind the removals arrive, and both ends agree.
#[test]
fn expired_locks_removed_ahead_of_a_lagging_receiver_do_not_jam_the_channel() {
    use photon_primitives::{Secret, B256};
    let mut net = Net::new(3);
    let bc = net.open_channel(BOB, CHARLIE, 1_000, 0);
    net.lag[CHARLIE] = Config::default().expiry_margin + 4;
    let token = net.token;
    for i in 0..30u8 {
        let secrethash = Secret(B256::repeat_byte(0x70 + i)).hash();
        let route = Route { path: vec![net.addr(BOB), net.addr(CHARLIE)], fee: TokenAmount(0) };
        let payment = StateChange::SendMediated {
            token,
            payment_id: 1_000 + u64::from(i),
            target: net.addr(CHARLIE),
            amount: TokenAmount(5),
            secret: None,
            secrethash,
            routes: vec![route],
            fee_limit: TokenAmount(0),
            data: Vec::new(),
        };
        net.apply(BOB, payment).unwrap();
    }
    net.run();
    assert_eq!(net.pending_locks(BOB, CHARLIE).0.len(), 30);
    // the locks expire; Bob removes them, and keeps paying directly
    net.mine(Config::default().lock_timeout + Config::default().expiry_margin + 1);
    for _ in 0..10 {
        net.apply(
            BOB,
            StateChange::SendDirect {
                channel_id: bc,
                payment_id: 7,
                amount: TokenAmount(2),
                data: Vec::new(),
            },
        )
        .unwrap();
    }
    net.run();
    assert!(!net.retrying.is_empty(), "Charlie is behind: the removals wait");
    net.mine(net.lag[CHARLIE] + 1);
    assert!(net.retrying.is_empty() && net.inflight.is_empty(), "nothing stuck");
    net.assert_no_rejections();
    assert_eq!(net.pending_locks(BOB, CHARLIE), (vec![], vec![]));
    net.assert_balances(BOB, CHARLIE, (980, 20));
}

/// "A channel never jams", scenario 1: Bob is away longer than a lock's life while Alice
/// pays him through the lock and directly. When he is back, Alice's lock (expired by now) and
/// its removal reach him in order with the direct payments: the late lock is taken into the
/// channel and given back, nothing is refused, and both ends agree.
#[test]
fn a_partner_away_longer_than_a_lock_s_life_gets_everything_in_order() {
    let mut net = Net::new(3);
    let ab = net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    // Bob is away: what Alice sends him waits (the transport keeps it)
    net.away[BOB] = true;
    net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    net.run();
    net.apply(
        ALICE,
        StateChange::SendDirect {
            channel_id: ab,
            payment_id: 7,
            amount: TokenAmount(3),
            data: Vec::new(),
        },
    )
    .unwrap();
    net.run();
    net.mine(Config::default().lock_timeout + Config::default().expiry_margin + 5);
    net.apply(
        ALICE,
        StateChange::SendDirect {
            channel_id: ab,
            payment_id: 8,
            amount: TokenAmount(4),
            data: Vec::new(),
        },
    )
    .unwrap();
    net.run();
    assert_eq!(net.pending_locks(ALICE, BOB).0, vec![], "Alice removed her expired lock");
    // Bob is back
    net.away[BOB] = false;
    net.mine(2);
    net.assert_no_rejections();
    let stuck: Vec<_> = net.retrying.iter().map(|e| (e.from, e.to, &e.message)).collect();
    assert!(stuck.is_empty() && net.inflight.is_empty(), "stuck: {stuck:?}");
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
    net.assert_balances(ALICE, BOB, (93, 7));
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { reason: PaymentFailure::LockExpired, .. })));
}

/// "Not yet" is never "never": Alice pays Bob out of a deposit Bob's node has not seen yet
/// (its follower is behind). Bob answers "retry", and takes the payment once he sees the
/// deposit; nothing is refused for good.
#[test]
fn a_payment_out_of_a_deposit_not_seen_yet_waits_for_it() {
    let mut net = Net::new(2);
    let ab = net.open_channel(ALICE, BOB, 10, 0);
    let alice = net.addr(ALICE);
    let more = ChainEvent::Deposit { channel_id: ab, participant: alice, total: TokenAmount(50) };
    net.apply(ALICE, StateChange::Chain(more.clone())).unwrap();
    net.apply(
        ALICE,
        StateChange::SendDirect {
            channel_id: ab,
            payment_id: 1,
            amount: TokenAmount(30),
            data: Vec::new(),
        },
    )
    .unwrap();
    net.run();
    assert_eq!(net.retrying.len(), 1, "Bob does not see the deposit yet");
    net.apply(BOB, StateChange::Chain(more)).unwrap();
    net.mine(1);
    net.assert_no_rejections();
    net.assert_balances(ALICE, BOB, (20, 30));
}

/// Past the node's own limit of pending locks (but within what the contract unlocks in one
/// set), a lock is taken into the channel and given back rather than refused.
#[test]
fn a_lock_past_the_receivers_limit_is_taken_and_given_back() {
    let config = Config { punish_blocks: PUNISH_BLOCKS, max_locks: 2, ..Config::default() };
    let mut net = Net::with_config(3, config);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.offline[CHARLIE] = true; // the payments stay pending at Bob's
    for _ in 0..2 {
        net.pay(ALICE, CHARLIE, 1, &[(&[ALICE, BOB, CHARLIE], 0)]);
    }
    assert_eq!(net.pending_locks(ALICE, BOB).0.len(), 2);
    // a third lock, from an Alice whose own limit is higher
    let ab = net.channel_id(ALICE, BOB);
    net.nodes[ALICE].state.config.max_locks = 3;
    net.pay(ALICE, CHARLIE, 1, &[(&[ALICE, BOB, CHARLIE], 0)]);
    net.assert_no_rejections();
    assert_eq!(net.pending_locks(ALICE, BOB).0.len(), 2, "the third was given back");
    assert!(net.nodes[BOB].state.channels[&ab].disposed.is_empty());
}

/// A route given by the user that repeats a hop is skipped by the initiator, not sent: the
/// first hop would refuse it for good, and a refused balance proof costs the channel.
#[test]
fn a_route_that_repeats_a_hop_is_never_sent() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.pay(ALICE, CHARLIE, 5, &[(&[ALICE, BOB, ALICE, BOB, CHARLIE], 0)]);
    assert!(net.delivered.is_empty(), "nothing sent");
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { reason: PaymentFailure::NoRoute, .. })));
    net.assert_balances(ALICE, BOB, (100, 0));
}

/// Once a node signed a cooperative settlement (its signature never expires on chain), a
/// transfer that crossed it is refused for good, not "not yet": retrying could never help.
#[test]
fn a_transfer_crossing_a_signed_settlement_is_refused_for_good() {
    let mut net = Net::new(2);
    let ab = net.open_channel(ALICE, BOB, 100, 50);
    net.apply(ALICE, StateChange::RequestCooperativeSettle { channel_id: ab }).unwrap();
    net.apply(
        BOB,
        StateChange::SendDirect {
            channel_id: ab,
            payment_id: 3,
            amount: TokenAmount(5),
            data: Vec::new(),
        },
    )
    .unwrap();
    // deliver Bob's transfer first: it crossed Alice's request
    let bobs = net.inflight.iter().position(|e| e.from == BOB).unwrap();
    let env = net.inflight.remove(bobs).unwrap();
    net.inflight.push_front(env);
    assert!(net.deliver_one());
    assert!(net.retrying.is_empty(), "not a 'not yet'");
    assert!(matches!(
        net.nodes[ALICE].rejections.as_slice(),
        [photon_state::Rejection::ChannelNotUsable(_)]
    ));
}

/// A message about a channel that was settled meanwhile (its sender was away) is refused for
/// good, not retried for ever; and a payment of ours that went over the settled channel is
/// reported, not left pending.
#[test]
fn messages_and_payments_of_a_settled_channel_are_over() {
    let mut net = Net::new(2);
    let ab = net.open_channel(ALICE, BOB, 100, 0);
    net.away[BOB] = true;
    net.start_payment(ALICE, BOB, 5, &[(&[ALICE, BOB], 0)]);
    net.run();
    net.apply(ALICE, StateChange::Close { channel_id: ab }).unwrap();
    net.mine(SETTLE_TIMEOUT + PUNISH_BLOCKS + 2);
    assert!(!net.channels.contains_key(&ab), "settled");
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { reason: PaymentFailure::LockExpired, .. })));
    net.away[BOB] = false;
    net.mine(1);
    assert!(net.retrying.is_empty() && net.inflight.is_empty(), "nothing retried for ever");
    assert!(matches!(
        net.nodes[BOB].rejections.as_slice(),
        [photon_state::Rejection::ChannelSettled(id)] if *id == ab
    ));
}

/// The transport reports that the partner refused one of our messages for good: the channel
/// is marked with the reason (kept in the state, so across restarts), and closed when the
/// message carried a balance proof of ours (every later one would be refused too).
#[test]
fn a_refused_message_marks_the_channel_and_a_refused_proof_closes_it() {
    let mut net = Net::new(3);
    let ab = net.open_channel(ALICE, BOB, 100, 0);
    let ac = net.open_channel(ALICE, CHARLIE, 100, 0);
    let refused = |channel_id, fatal| StateChange::DeliveryRefused {
        channel_id,
        fatal,
        reason: "bad negotiation".into(),
    };
    net.apply(ALICE, refused(ac, false)).unwrap();
    let c = &net.nodes[ALICE].state.channels[&ac];
    assert_eq!(
        (c.attention.as_deref(), c.status),
        (Some("bad negotiation"), photon_state::ChannelStatus::Open)
    );
    net.apply(ALICE, refused(ab, true)).unwrap();
    let c = &net.nodes[ALICE].state.channels[&ab];
    let closed = matches!(c.status, photon_state::ChannelStatus::Closed { .. });
    assert!(closed, "closed with Bob's latest proof: {:?}", c.status);
    assert!(net.channels[&ab].closed_at.is_some(), "on chain");
}

/// Alice cancels a payment before the target asked for its secret: the payment fails at once,
/// the target's secret request is refused, nobody can claim the lock, and every lock expires
/// and is removed, the balances untouched.
#[test]
fn a_payment_cancelled_before_its_secret_is_revealed_is_never_paid() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    let payment_id = match net.nodes[ALICE].state.tasks.values().next() {
        Some(photon_state::Task::Initiator(t)) => t.payment_id,
        other => panic!("an initiator task, not {other:?}"),
    };
    net.apply(ALICE, StateChange::CancelPayment { payment_id }).expect("cancellable");
    assert!(net.nodes[ALICE].log.iter().any(|e| matches!(
        e,
        Event::PaymentFailed { reason: PaymentFailure::Cancelled, payment_id: p, .. } if *p == payment_id
    )));
    net.run();
    assert!(
        !net.delivered.iter().any(|e| matches!(e.message, Message::RevealSecret(_))),
        "no secret left Alice"
    );
    assert_eq!(received(&net, CHARLIE), Vec::<u128>::new());
    // the lock stays until it expires, then goes: nothing moved
    net.mine(Config::default().lock_timeout + Config::default().expiry_margin + 1);
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
    assert_eq!(net.pending_locks(BOB, CHARLIE), (vec![], vec![]));
    net.assert_balances(ALICE, BOB, (100, 0));
    net.assert_balances(BOB, CHARLIE, (100, 0));
    assert!(net.nodes.iter().all(|n| n.state.tasks.is_empty()));
    // once over, there is nothing to cancel
    assert!(matches!(
        net.apply(ALICE, StateChange::CancelPayment { payment_id }),
        Err(Rejection::NotCancellable { .. })
    ));
}

/// Once the secret went to the target, a payment can no longer be cancelled (the target can
/// claim it): the cancel is refused, changes nothing, and the payment completes.
#[test]
fn a_payment_whose_secret_was_revealed_cannot_be_cancelled() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    let revealed = |net: &Net| {
        net.nodes[ALICE]
            .state
            .tasks
            .values()
            .any(|t| matches!(t, photon_state::Task::Initiator(t) if t.secret_revealed))
    };
    while !revealed(&net) {
        assert!(net.deliver_one(), "the secret is revealed before the messages run out");
    }
    let payment_id = match net.nodes[ALICE].state.tasks.values().next() {
        Some(photon_state::Task::Initiator(t)) => t.payment_id,
        other => panic!("an initiator task, not {other:?}"),
    };
    let before = format!("{:?}", net.nodes[ALICE].state);
    let refused = net.apply(ALICE, StateChange::CancelPayment { payment_id });
    assert!(matches!(refused, Err(Rejection::NotCancellable { .. })), "{refused:?}");
    assert_eq!(format!("{:?}", net.nodes[ALICE].state), before, "a refused cancel changes nothing");
    net.run();
    assert_eq!(received(&net, CHARLIE), vec![20]);
    net.assert_balances(ALICE, BOB, (80, 20));
    net.assert_balances(BOB, CHARLIE, (80, 20));
}

/// Bob does not mediate: he gives Alice's lock back at once (no lock of his own goes out) and
/// Alice's payment takes the route through Dave.
#[test]
fn a_node_that_does_not_mediate_gives_the_lock_back_and_the_payer_reroutes() {
    let mut net = Net::new(4);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.open_channel(ALICE, DAVE, 100, 0);
    net.open_channel(DAVE, CHARLIE, 100, 0);
    let config = Config { mediate: false, ..Config::default() };
    net.apply(BOB, StateChange::Configure(config)).expect("valid parameters");
    net.pay(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0), (&[ALICE, DAVE, CHARLIE], 0)]);
    net.assert_balances(ALICE, BOB, (100, 0));
    net.assert_balances(BOB, CHARLIE, (100, 0));
    assert_eq!(net.pending_locks(BOB, CHARLIE), (vec![], vec![]), "Bob forwarded nothing");
    net.assert_balances(ALICE, DAVE, (80, 20));
    net.assert_balances(DAVE, CHARLIE, (80, 20));
    assert_eq!(received(&net, CHARLIE), vec![20]);
    net.assert_no_rejections();
}

/// Parameters that cannot secure payments are refused and change nothing.
#[test]
fn parameters_that_cannot_secure_payments_are_refused() {
    let mut net = Net::new(2);
    net.open_channel(ALICE, BOB, 100, 0);
    let base = Config::default();
    for bad in [
        Config { reveal_timeout: 0, ..base },
        Config { reveal_timeout: base.lock_timeout, ..base },
        Config { min_settle_timeout: photon_primitives::SettleTimeout(50), ..base },
        Config { max_settle_timeout: photon_primitives::SettleTimeout(59), ..base },
    ] {
        let before = format!("{:?}", net.nodes[ALICE].state);
        let refused = net.apply(ALICE, StateChange::Configure(bad));
        assert!(matches!(refused, Err(Rejection::InvalidConfig(_))), "{bad:?}: {refused:?}");
        assert_eq!(format!("{:?}", net.nodes[ALICE].state), before);
    }
    let shorter = Config { reveal_timeout: 5, ..base };
    net.apply(ALICE, StateChange::Configure(shorter)).expect("valid parameters");
    assert_eq!(net.nodes[ALICE].state.config, shorter);
}

/// A cancelled payment's secret must stay unused while its lock lives: a new payment with the
/// same secret, or making it a known secret (revealed to whoever locks with its hash), would
/// let the cancelled lock be claimed; both are refused until the lock is gone.
#[test]
fn a_cancelled_payments_secret_cannot_be_used_again_while_its_lock_lives() {
    let mut net = Net::new(4);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.open_channel(ALICE, DAVE, 100, 0);
    net.open_channel(DAVE, CHARLIE, 100, 0);
    let secret = net.start_payment(ALICE, CHARLIE, 20, &[(&[ALICE, BOB, CHARLIE], 0)]);
    let payment_id = match net.nodes[ALICE].state.tasks.values().next() {
        Some(photon_state::Task::Initiator(t)) => t.payment_id,
        other => panic!("an initiator task, not {other:?}"),
    };
    net.apply(ALICE, StateChange::CancelPayment { payment_id }).expect("cancellable");
    net.run();
    let again = StateChange::SendMediated {
        token: net.token,
        payment_id: payment_id + 1,
        target: net.addr(CHARLIE),
        amount: TokenAmount(20),
        secret: Some(secret),
        secrethash: secret.hash(),
        routes: vec![Route {
            path: vec![net.addr(ALICE), net.addr(DAVE), net.addr(CHARLIE)],
            fee: TokenAmount(0),
        }],
        fee_limit: TokenAmount(0),
        data: Vec::new(),
    };
    assert!(matches!(net.apply(ALICE, again.clone()), Err(Rejection::DuplicateLock(_))));
    assert!(matches!(
        net.apply(ALICE, StateChange::KnowSecret { secret }),
        Err(Rejection::DuplicateLock(_))
    ));
    // once the lock expired and went, the secret is Alice's to use again
    net.mine(Config::default().lock_timeout + Config::default().expiry_margin + 1);
    assert_eq!(net.pending_locks(ALICE, BOB), (vec![], vec![]));
    net.apply(ALICE, again).expect("the old lock is gone");
    net.run();
    assert_eq!(received(&net, CHARLIE), vec![20]);
    net.assert_balances(ALICE, BOB, (100, 0));
    net.assert_balances(ALICE, DAVE, (80, 20));
}

/// The data each PaymentReceived of `node` carried.
fn received_data(net: &Net, node: usize) -> Vec<Vec<u8>> {
    net.nodes[node]
        .log
        .iter()
        .filter_map(|e| match e {
            Event::PaymentReceived { data, .. } => Some(data.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn data_travels_with_the_payment_to_the_target_across_a_reroute() {
    let mut net = Net::new(4);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 80, 0);
    net.open_channel(ALICE, DAVE, 100, 0);
    net.open_channel(DAVE, CHARLIE, 0, 0); // Dave cannot pay Charlie: he gives the lock back
    let memo = b"invoice 2026-117".to_vec();
    // directly: the partner is told
    let ab = net.channel_id(ALICE, BOB);
    let direct = StateChange::SendDirect {
        channel_id: ab,
        payment_id: 5,
        amount: TokenAmount(3),
        data: memo.clone(),
    };
    net.apply(ALICE, direct).unwrap();
    net.run();
    assert_eq!(received_data(&net, BOB), vec![memo]);
    // mediated, the first route failing: the second attempt carries the data as well
    let secret = net.next_secret();
    let data = vec![0xa5; photon_primitives::messages::MAX_DATA_LEN];
    let route = |net: &Net, hops: &[usize]| Route {
        path: hops.iter().map(|&i| net.addr(i)).collect(),
        fee: TokenAmount(0),
    };
    let routes = vec![route(&net, &[ALICE, DAVE, CHARLIE]), route(&net, &[ALICE, BOB, CHARLIE])];
    let pay = StateChange::SendMediated {
        token: net.token,
        payment_id: 6,
        target: net.addr(CHARLIE),
        amount: TokenAmount(20),
        secret: Some(secret),
        secrethash: secret.hash(),
        routes,
        fee_limit: TokenAmount(0),
        data: data.clone(),
    };
    net.apply(ALICE, pay).unwrap();
    net.run();
    net.assert_balances(BOB, CHARLIE, (60, 20));
    assert_eq!(received_data(&net, CHARLIE), vec![data]);
    // Bob was paid by Alice and paid Charlie: as a mediator he reports no payment
    assert_eq!(received_data(&net, BOB).len(), 1);
    net.assert_no_rejections();
}

#[test]
fn data_beyond_the_limit_is_refused_and_changes_nothing() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 80, 0);
    let too_long = vec![1u8; photon_primitives::messages::MAX_DATA_LEN + 1];
    let before = format!("{:?}", net.nodes[ALICE].state);
    let direct = StateChange::SendDirect {
        channel_id: net.channel_id(ALICE, BOB),
        payment_id: 5,
        amount: TokenAmount(3),
        data: too_long.clone(),
    };
    assert_eq!(net.apply(ALICE, direct), Err(Rejection::DataTooLong(257)));
    let secret = net.next_secret();
    let pay = StateChange::SendMediated {
        token: net.token,
        payment_id: 6,
        target: net.addr(CHARLIE),
        amount: TokenAmount(20),
        secret: Some(secret),
        secrethash: secret.hash(),
        routes: vec![Route {
            path: vec![net.addr(ALICE), net.addr(BOB), net.addr(CHARLIE)],
            fee: TokenAmount(0),
        }],
        fee_limit: TokenAmount(0),
        data: too_long,
    };
    assert_eq!(net.apply(ALICE, pay), Err(Rejection::DataTooLong(257)));
    assert_eq!(format!("{:?}", net.nodes[ALICE].state), before);
}

#[test]
fn a_mediator_that_changes_the_data_gets_the_payment_failed_never_delivered() {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 80, 0);
    let secret = net.next_secret();
    let pay = StateChange::SendMediated {
        token: net.token,
        payment_id: 8,
        target: net.addr(CHARLIE),
        amount: TokenAmount(20),
        secret: Some(secret),
        secrethash: secret.hash(),
        routes: vec![Route {
            path: vec![net.addr(ALICE), net.addr(BOB), net.addr(CHARLIE)],
            fee: TokenAmount(0),
        }],
        fee_limit: TokenAmount(0),
        data: b"invoice 17".to_vec(),
    };
    net.apply(ALICE, pay).unwrap();
    // deliver until Bob forwards; Bob rewrites the data and signs his proof anew (valid for
    // Charlie: it is Bob's own balance proof)
    loop {
        let next = net.inflight.front().expect("Bob forwards the lock");
        if next.from == BOB && matches!(next.message, Message::MediatedTransfer(_)) {
            break;
        }
        assert!(net.deliver_one());
    }
    let mut envelope = net.inflight.pop_front().unwrap();
    if let Message::MediatedTransfer(t) = &mut envelope.message {
        t.data = b"invoice 71".to_vec();
    }
    let domain = net.nodes[BOB].state.domain.clone();
    envelope.message.sign(&domain, &net.nodes[BOB].signer).unwrap();
    net.inflight.push_front(envelope);
    net.run();
    // Charlie asked for the secret with the hash of what he got: Alice does not reveal
    assert!(
        net.nodes[ALICE].rejections.iter().any(|r| matches!(r, Rejection::DataMismatch(_))),
        "{:?}",
        net.nodes[ALICE].rejections
    );
    assert!(received_data(&net, CHARLIE).is_empty());
    // the locks expire: nobody is paid, nobody loses
    net.mine(photon_state::Config::default().lock_timeout + 5);
    net.run();
    net.assert_balances(ALICE, BOB, (100, 0));
    net.assert_balances(BOB, CHARLIE, (80, 0));
    assert!(received_data(&net, CHARLIE).is_empty());
    assert!(net.nodes[ALICE]
        .log
        .iter()
        .any(|e| matches!(e, Event::PaymentFailed { payment_id: 8, .. })));
}
