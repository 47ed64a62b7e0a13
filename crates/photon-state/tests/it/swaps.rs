//! Token swaps inside the network: the maker pays token A, the taker token B, both locked with
//! the maker's secret hash. Either both payments complete or neither does, whatever the
//! counterparty withholds.

use crate::harness::*;
use photon_primitives::messages::Message;
use photon_primitives::{Address, ChannelId, Secret, SecretHash, TokenAmount};
use photon_state::changes::{Event, Route, StateChange};
use photon_state::{Rejection, SwapLeg, SwapStatus, Task};

const MAKER: usize = 0;
const TAKER: usize = 1;
const M_A: usize = 2; // mediates token A
const M_B: usize = 3; // mediates token B

fn token_a() -> Address {
    Address::repeat_byte(0x70) // the harness's token
}

fn token_b() -> Address {
    Address::repeat_byte(0x71)
}

/// Runs `f` with the harness's token set to `token` (channel ids, opens, balances).
fn in_token<T>(net: &mut Net, token: Address, f: impl FnOnce(&mut Net) -> T) -> T {
    let before = std::mem::replace(&mut net.token, token);
    let out = f(net);
    net.token = before;
    out
}

fn balances(net: &mut Net, token: Address, a: usize, b: usize) -> (u128, u128) {
    in_token(net, token, |net| net.balances(a, b))
}

fn channel(net: &mut Net, token: Address, a: usize, b: usize) -> ChannelId {
    in_token(net, token, |net| net.channel_id(a, b))
}

fn leg(token: Address, amount: u128) -> SwapLeg {
    SwapLeg { token, amount: TokenAmount(amount) }
}

fn routes(net: &Net, paths: &[(&[usize], u128)]) -> Vec<Route> {
    paths
        .iter()
        .map(|(path, fee)| Route {
            path: path.iter().map(|&i| net.addr(i)).collect(),
            fee: TokenAmount(*fee),
        })
        .collect()
}

/// Both tokens' channels between the two parties: the maker holds A, the taker B.
fn direct_net() -> Net {
    let mut net = Net::new(2);
    in_token(&mut net, token_a(), |net| net.open_channel(MAKER, TAKER, 1_000, 0));
    in_token(&mut net, token_b(), |net| net.open_channel(MAKER, TAKER, 0, 1_000));
    net
}

/// Maker –M_A– taker in token A, taker –M_B– maker in token B.
fn mediated_net() -> Net {
    let mut net = Net::new(4);
    in_token(&mut net, token_a(), |net| {
        net.open_channel(MAKER, M_A, 1_000, 0);
        net.open_channel(M_A, TAKER, 1_000, 0);
    });
    in_token(&mut net, token_b(), |net| {
        net.open_channel(TAKER, M_B, 1_000, 0);
        net.open_channel(M_B, MAKER, 1_000, 0);
    });
    net
}

/// The maker's terms (pays 100 A, is paid 300 B) with `secret`, over `a_paths`.
fn start(net: &Net, secret: Secret, a_paths: &[(&[usize], u128)], fee_limit: u128) -> StateChange {
    StateChange::StartSwap {
        payment_id: 7,
        counterparty: net.addr(TAKER),
        send: leg(token_a(), 100),
        receive: leg(token_b(), 300),
        secret,
        routes: routes(net, a_paths),
        fee_limit: TokenAmount(fee_limit),
    }
}

/// The maker's terms: pays 100 A, is paid 300 B.
fn make(net: &mut Net, a_paths: &[(&[usize], u128)]) -> Result<Secret, Rejection> {
    let secret = net.next_secret();
    let change = start(net, secret, a_paths, 50);
    net.apply(MAKER, change)?;
    Ok(secret)
}

/// The taker's terms for `secrethash`: pays `b` B, is paid `a` A.
fn take(
    net: &mut Net, secrethash: SecretHash, (a, b): (u128, u128), b_paths: &[(&[usize], u128)],
) -> Result<(), Rejection> {
    let change = StateChange::ExpectSwap {
        payment_id: 8,
        counterparty: net.addr(MAKER),
        send: leg(token_b(), b),
        receive: leg(token_a(), a),
        secrethash,
        routes: routes(net, b_paths),
        fee_limit: TokenAmount(50),
        deadline: net.block + 30,
    };
    net.apply(TAKER, change)
}

fn status(net: &Net, i: usize, secret: &Secret) -> SwapStatus {
    net.nodes[i].state.swaps[&secret.hash()].status.clone()
}

fn no_locks_left(net: &Net) {
    for (i, node) in net.nodes.iter().enumerate() {
        for c in node.state.channels.values() {
            assert!(c.ours.locks.is_empty() && c.theirs.locks.is_empty(), "node {i}: {c:?}");
        }
    }
}

#[test]
fn direct_swap_completes_both_ways() {
    let mut net = direct_net();
    let secret = net.next_secret();
    take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, MAKER], 0)]).unwrap();
    let change = start(&net, secret, &[(&[MAKER, TAKER], 0)], 0);
    net.apply(MAKER, change).unwrap();
    // the taker's lock lives exactly one reveal timeout less than the maker's
    let (ours, _) = in_token(&mut net, token_a(), |net| net.pending_locks(MAKER, TAKER));
    net.deliver_one(); // the maker's lock reaches the taker, which locks its side
    let (takers, _) = in_token(&mut net, token_b(), |net| net.pending_locks(TAKER, MAKER));
    let reveal = net.nodes[TAKER].state.config.reveal_timeout;
    assert_eq!(takers[0].expiration, ours[0].expiration - reveal);
    assert_eq!(status(&net, TAKER, &secret), SwapStatus::Locked);
    net.run();
    net.assert_no_rejections();
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER), (900, 100));
    assert_eq!(balances(&mut net, token_b(), MAKER, TAKER), (300, 700));
    assert_eq!(status(&net, MAKER, &secret), SwapStatus::Completed);
    assert_eq!(status(&net, TAKER, &secret), SwapStatus::Completed);
    assert_eq!(net.nodes[TAKER].state.swaps[&secret.hash()].secret, Some(secret));
    no_locks_left(&net);
    assert!(net.nodes.iter().all(|n| n.state.tasks.is_empty()));
    // each side's history: what it paid and what it was paid
    let paid = |i: usize, token: Address| {
        net.nodes[i]
            .log
            .iter()
            .any(|e| matches!(e, Event::PaymentSent { token: t, .. } if *t == token))
    };
    let received = |i: usize, token: Address, amount: u128| {
        net.nodes[i].log.iter().any(|e| {
            matches!(e, Event::PaymentReceived { token: t, amount: a, .. } if *t == token && a.0 == amount)
        })
    };
    assert!(paid(MAKER, token_a()) && received(MAKER, token_b(), 300));
    assert!(paid(TAKER, token_b()) && received(TAKER, token_a(), 100));
}

#[test]
fn the_makers_lock_may_come_before_the_taker_expects_it() {
    let mut net = direct_net();
    let secret = make(&mut net, &[(&[MAKER, TAKER], 0)]).unwrap();
    net.run();
    // the taker, not told yet, asked the maker for the secret: no answer for a swap
    assert!(matches!(
        net.nodes[TAKER].state.tasks.get(&secret.hash()),
        Some(Task::Target(t)) if t.secret.is_none()
    ));
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER), (1_000, 0));
    take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, MAKER], 0)]).unwrap();
    net.run();
    net.assert_no_rejections();
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER), (900, 100));
    assert_eq!(balances(&mut net, token_b(), MAKER, TAKER), (300, 700));
    assert_eq!(status(&net, TAKER, &secret), SwapStatus::Completed);
    assert_eq!(status(&net, MAKER, &secret), SwapStatus::Completed);
}

#[test]
fn swap_through_a_mediator_on_each_leg() {
    let mut net = mediated_net();
    let secret = net.next_secret();
    take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, M_B, MAKER], 3)]).unwrap();
    let change = start(&net, secret, &[(&[MAKER, M_A, TAKER], 1)], 5);
    net.apply(MAKER, change).unwrap();
    net.run();
    net.mine(3);
    net.assert_no_rejections();
    // mediators keep no fee by default (their policy charges nothing here): amounts arrive whole
    let (maker_a, ma) = balances(&mut net, token_a(), MAKER, M_A);
    let (ma_out, taker_a) = balances(&mut net, token_a(), M_A, TAKER);
    assert_eq!(maker_a, 1_000 - 101);
    assert!(taker_a >= 100, "the taker got at least what it asked: {taker_a}");
    assert_eq!(ma + ma_out, 1_000 + 101 - taker_a, "the mediator keeps its fee only");
    let (taker_b, mb) = balances(&mut net, token_b(), TAKER, M_B);
    let (mb_out, maker_b) = balances(&mut net, token_b(), M_B, MAKER);
    assert_eq!(taker_b, 1_000 - 303);
    assert!(maker_b >= 300, "the maker got at least what it asked: {maker_b}");
    assert_eq!(mb + mb_out, 1_000 + 303 - maker_b);
    assert_eq!(status(&net, MAKER, &secret), SwapStatus::Completed);
    assert_eq!(status(&net, TAKER, &secret), SwapStatus::Completed);
    no_locks_left(&net);
}

#[test]
fn maker_offline_after_the_taker_locked_both_locks_expire_and_nobody_pays() {
    let mut net = mediated_net();
    let secret = net.next_secret();
    take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, M_B, MAKER], 0)]).unwrap();
    let change = start(&net, secret, &[(&[MAKER, M_A, TAKER], 0)], 0);
    net.apply(MAKER, change).unwrap();
    // the maker's lock reaches the taker, which locks B towards the maker, who is gone
    net.offline[MAKER] = true;
    net.run();
    assert_eq!(status(&net, TAKER, &secret), SwapStatus::Locked);
    assert!(net.nodes[M_B].state.tasks.contains_key(&secret.hash()), "B is locked up to M_B");
    net.mine(60);
    net.offline[MAKER] = false;
    net.mine(5);
    assert_eq!(balances(&mut net, token_a(), MAKER, M_A), (1_000, 0));
    assert_eq!(balances(&mut net, token_a(), M_A, TAKER), (1_000, 0));
    assert_eq!(balances(&mut net, token_b(), TAKER, M_B), (1_000, 0));
    assert_eq!(balances(&mut net, token_b(), M_B, MAKER), (1_000, 0));
    assert!(net.registered.is_empty(), "no secret ever left the maker");
    assert!(matches!(status(&net, TAKER, &secret), SwapStatus::Failed(_)));
    assert!(matches!(status(&net, MAKER, &secret), SwapStatus::Failed(_)));
}

#[test]
fn a_maker_whose_payer_withholds_the_unlock_claims_through_the_registry_in_time() {
    let mut net = direct_net();
    let secret = net.next_secret();
    take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, MAKER], 0)]).unwrap();
    let change = start(&net, secret, &[(&[MAKER, TAKER], 0)], 0);
    net.apply(MAKER, change).unwrap();
    // the taker takes the secret but its unlock of B never reaches the maker
    let b_channel = channel(&mut net, token_b(), MAKER, TAKER);
    while let Some(env) = net.inflight.front().cloned() {
        let withheld = env.from == TAKER
            && matches!(&env.message, Message::Unlock(u) if u.balance_proof.channel_id == b_channel);
        if withheld {
            net.inflight.pop_front();
            continue;
        }
        net.deliver_one();
    }
    assert_eq!(status(&net, MAKER, &secret), SwapStatus::Revealed);
    let b_lock = in_token(&mut net, token_b(), |net| net.pending_locks(MAKER, TAKER)).1[0];
    // the taker was paid A; the maker is owed B and registers the secret before B expires
    while net.block < b_lock.expiration && !net.registered.contains_key(&secret.hash()) {
        net.mine(1);
    }
    let at = net.registered.get(&secret.hash()).copied().expect("the maker registered");
    assert!(
        at <= b_lock.expiration,
        "registered by block {at}, the lock expires at {}",
        b_lock.expiration
    );
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER).1, 100);
}

#[test]
fn wrong_amounts_or_tokens_are_given_back_and_nothing_moves() {
    // the maker pays less A than the taker asked for
    let mut net = direct_net();
    let secret = make(&mut net, &[(&[MAKER, TAKER], 0)]).unwrap();
    take(&mut net, secret.hash(), (150, 300), &[(&[TAKER, MAKER], 0)]).unwrap();
    net.run();
    net.mine(2);
    assert_eq!(
        status(&net, TAKER, &secret),
        SwapStatus::Waiting,
        "the lock was not the agreed one"
    );
    assert!(matches!(status(&net, MAKER, &secret), SwapStatus::Failed(_)));
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER), (1_000, 0));
    assert_eq!(balances(&mut net, token_b(), MAKER, TAKER), (0, 1_000));
    net.mine(40);
    assert!(matches!(status(&net, TAKER, &secret), SwapStatus::Failed(_)), "deadline passed");

    // the taker pays less B than the maker asked for: the maker keeps its secret
    let mut net = direct_net();
    let secret = make(&mut net, &[(&[MAKER, TAKER], 0)]).unwrap();
    take(&mut net, secret.hash(), (100, 250), &[(&[TAKER, MAKER], 0)]).unwrap();
    net.run();
    net.mine(2);
    assert!(net.registered.is_empty());
    assert!(matches!(status(&net, TAKER, &secret), SwapStatus::Failed(_)));
    assert_eq!(net.nodes[TAKER].state.swaps[&secret.hash()].secret, None, "never revealed");
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER), (1_000, 0));
    assert_eq!(balances(&mut net, token_b(), MAKER, TAKER), (0, 1_000));

    // the taker pays in the wrong token (A instead of B): the same
    let mut net = Net::new(2);
    in_token(&mut net, token_a(), |net| net.open_channel(MAKER, TAKER, 1_000, 1_000));
    in_token(&mut net, token_b(), |net| net.open_channel(MAKER, TAKER, 0, 1_000));
    let secret = make(&mut net, &[(&[MAKER, TAKER], 0)]).unwrap();
    let change = StateChange::ExpectSwap {
        payment_id: 8,
        counterparty: net.addr(MAKER),
        send: leg(Address::repeat_byte(0x72), 300),
        receive: leg(token_a(), 100),
        secrethash: secret.hash(),
        routes: routes(&net, &[(&[TAKER, MAKER], 0)]),
        fee_limit: TokenAmount(0),
        deadline: net.block + 30,
    };
    net.apply(TAKER, change).unwrap();
    net.run();
    // the taker has no channel in that token: no route; the maker's lock goes back
    assert!(matches!(status(&net, TAKER, &secret), SwapStatus::Failed(_)));
    assert!(matches!(status(&net, MAKER, &secret), SwapStatus::Failed(_)));
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER), (1_000, 1_000));
}

#[test]
fn cancel_before_the_secret_is_out_and_not_after() {
    // the maker cancels while waiting: a taker's lock coming later is given back
    let mut net = direct_net();
    let secret = make(&mut net, &[(&[MAKER, TAKER], 0)]).unwrap();
    net.apply(MAKER, StateChange::CancelSwap { secrethash: secret.hash() }).unwrap();
    assert_eq!(status(&net, MAKER, &secret), SwapStatus::Cancelled);
    take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, MAKER], 0)]).unwrap();
    net.run();
    net.mine(60);
    assert!(net.registered.is_empty());
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER), (1_000, 0));
    assert_eq!(balances(&mut net, token_b(), MAKER, TAKER), (0, 1_000));
    assert!(matches!(status(&net, TAKER, &secret), SwapStatus::Failed(_)));
    no_locks_left(&net);

    // the taker cancels while waiting: the maker's lock is given back
    let mut net = direct_net();
    let secret = net.next_secret();
    take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, MAKER], 0)]).unwrap();
    net.apply(TAKER, StateChange::CancelSwap { secrethash: secret.hash() }).unwrap();
    let change = start(&net, secret, &[(&[MAKER, TAKER], 0)], 0);
    net.apply(MAKER, change).unwrap();
    net.run();
    assert_eq!(status(&net, TAKER, &secret), SwapStatus::Cancelled);
    assert!(matches!(status(&net, MAKER, &secret), SwapStatus::Failed(_)));
    assert_eq!(balances(&mut net, token_a(), MAKER, TAKER), (1_000, 0));

    // once the taker locked, neither side can cancel: the secret may come any moment
    let mut net = direct_net();
    let secret = make(&mut net, &[(&[MAKER, TAKER], 0)]).unwrap();
    take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, MAKER], 0)]).unwrap();
    net.deliver_one();
    assert_eq!(status(&net, TAKER, &secret), SwapStatus::Locked);
    let refused = net.apply(TAKER, StateChange::CancelSwap { secrethash: secret.hash() });
    assert!(matches!(refused, Err(Rejection::SwapNotCancellable { .. })));
    net.deliver_one(); // the taker's lock: the maker reveals
    assert_eq!(status(&net, MAKER, &secret), SwapStatus::Revealed);
    let refused = net.apply(MAKER, StateChange::CancelSwap { secrethash: secret.hash() });
    assert!(matches!(refused, Err(Rejection::SwapNotCancellable { .. })));
    // nor can the maker's lock be cancelled as a payment
    let refused = net.apply(MAKER, StateChange::CancelPayment { payment_id: 7 });
    assert!(matches!(refused, Err(Rejection::NotCancellable { .. })), "{refused:?}");
    net.run();
    assert_eq!(status(&net, MAKER, &secret), SwapStatus::Completed);
}

#[test]
fn terms_that_cannot_work_are_refused_and_change_nothing() {
    let mut net = direct_net();
    let before = format!("{:?}", net.nodes[MAKER].state);
    let secret = net.next_secret();
    let start = |net: &Net, counterparty: Address, send: SwapLeg, receive: SwapLeg| {
        StateChange::StartSwap {
            payment_id: 9,
            counterparty,
            send,
            receive,
            secret,
            routes: routes(net, &[(&[MAKER, TAKER], 0)]),
            fee_limit: TokenAmount(0),
        }
    };
    let (me, taker) = (net.addr(MAKER), net.addr(TAKER));
    for change in [
        start(&net, me, leg(token_a(), 1), leg(token_b(), 1)),
        start(&net, taker, leg(token_a(), 0), leg(token_b(), 1)),
        start(&net, taker, leg(token_a(), 1), leg(token_b(), 0)),
        start(&net, taker, leg(token_a(), 1), leg(token_a(), 1)),
    ] {
        assert!(net.apply(MAKER, change).is_err());
    }
    assert_eq!(format!("{:?}", net.nodes[MAKER].state), before);
    // a secret hash already in use, or a deadline gone by
    let secret = make(&mut net, &[(&[MAKER, TAKER], 0)]).unwrap();
    let again = StateChange::StartSwap {
        payment_id: 10,
        counterparty: net.addr(TAKER),
        send: leg(token_a(), 1),
        receive: leg(token_b(), 1),
        secret,
        routes: Vec::new(),
        fee_limit: TokenAmount(0),
    };
    assert!(matches!(net.apply(MAKER, again), Err(Rejection::DuplicateLock(_))));
    let late = StateChange::ExpectSwap {
        payment_id: 8,
        counterparty: net.addr(MAKER),
        send: leg(token_b(), 1),
        receive: leg(token_a(), 1),
        secrethash: SecretHash(photon_primitives::B256::repeat_byte(9)),
        routes: Vec::new(),
        fee_limit: TokenAmount(0),
        deadline: net.block - 1,
    };
    assert!(matches!(net.apply(TAKER, late), Err(Rejection::InvalidSwap(_))));
    // a lock timeout too short for the taker's lock to live a reveal timeout less
    let mut short = photon_state::Config { lock_timeout: 20, ..net.nodes[MAKER].state.config };
    short.reveal_timeout = 10;
    net.nodes[MAKER].state.config = short;
    let secret = net.next_secret();
    let change = StateChange::StartSwap {
        payment_id: 11,
        counterparty: net.addr(TAKER),
        send: leg(token_a(), 1),
        receive: leg(token_b(), 1),
        secret,
        routes: Vec::new(),
        fee_limit: TokenAmount(0),
    };
    assert!(matches!(net.apply(MAKER, change), Err(Rejection::InvalidSwap(_))));
}

/// A payment locked with a hash only (its payer does not know the secret).
fn pay_hash_only(net: &mut Net, from: usize, to: usize, amount: u128, secrethash: SecretHash) {
    let change = StateChange::SendMediated {
        token: net.token,
        payment_id: 21,
        target: net.addr(to),
        amount: TokenAmount(amount),
        secret: None,
        secrethash,
        routes: routes(net, &[(&[from, to], 0)]),
        fee_limit: TokenAmount(0),
        data: Vec::new(),
    };
    net.apply(from, change).unwrap();
    net.run();
}

/// The two legs of a swap across two chains, each chain its own network: Alice pays X on
/// chain 1 and Bob Y on chain 2, both with the hash only; Alice claims Y with her secret, Bob
/// learns it from his paid leg and claims X with it. A secret given too late is refused.
#[test]
fn a_swap_across_two_chains_is_two_hash_locked_legs_and_the_secret_carried_over() {
    let (alice, bob) = (0, 1);
    let mut chain1 = Net::new(2);
    chain1.open_channel(alice, bob, 1_000, 0);
    let mut chain2 = Net::new(2);
    chain2.token = token_b();
    chain2.open_channel(alice, bob, 0, 1_000);
    let secret = chain1.next_secret();
    let hash = secret.hash();
    pay_hash_only(&mut chain1, alice, bob, 100, hash);
    // Bob's request for the secret goes unanswered: Alice has only the hash on chain 1
    assert!(matches!(
        chain1.nodes[bob].state.tasks.get(&hash),
        Some(Task::Target(t)) if t.secret.is_none()
    ));
    pay_hash_only(&mut chain2, bob, alice, 300, hash);
    // Alice claims Y with her secret (her other node's knowledge)
    chain2.apply(alice, StateChange::KnowSecret { secret }).unwrap();
    chain2.run();
    assert_eq!(chain2.balances(alice, bob), (300, 700));
    // Bob's node learned it from the unlock it made
    let learned = chain2.nodes[bob].state.known_secrets.get(&hash).copied();
    assert_eq!(learned, Some(secret));
    chain1.apply(bob, StateChange::KnowSecret { secret }).unwrap();
    chain1.run();
    chain1.assert_no_rejections();
    chain2.assert_no_rejections();
    assert_eq!(chain1.balances(alice, bob), (900, 100));
    no_locks_left(&chain1);
    no_locks_left(&chain2);

    // a secret given when the lock it claims expires within the reveal timeout: refused, and
    // nothing changes (revealing it could not be made safe by the registry any more)
    let mut chain1 = Net::new(2);
    chain1.open_channel(alice, bob, 1_000, 0);
    let secret = chain1.next_secret();
    pay_hash_only(&mut chain1, alice, bob, 100, secret.hash());
    let lock = chain1.pending_locks(bob, alice).1[0];
    let reveal = chain1.nodes[bob].state.config.reveal_timeout;
    chain1.mine(lock.expiration - reveal - chain1.block);
    let before = format!("{:?}", chain1.nodes[bob].state);
    let late = chain1.apply(bob, StateChange::KnowSecret { secret });
    assert!(matches!(late, Err(Rejection::ClaimTooLate(_))), "{late:?}");
    assert_eq!(format!("{:?}", chain1.nodes[bob].state), before);
}

/// What happens to a swap in flight: deliveries, reorderings, blocks, parties going away.
#[derive(Clone, Debug)]
enum Step {
    Deliver(usize),
    Reorder(usize),
    Mine(u64),
    Away(usize, bool),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    prop_oneof![
        4 => (1..6usize).prop_map(Step::Deliver),
        1 => (1..4usize).prop_map(Step::Reorder),
        2 => (1..12u64).prop_map(Step::Mine),
        1 => (0..4usize, any::<bool>()).prop_map(|(node, away)| Step::Away(node, away)),
    ]
}

/// One random schedule of a swap over a mediator on each leg; the taker's expectation comes
/// before or after the maker's lock; a secret registration takes `delay` blocks to be mined
/// (less than the reveal timeout: what the timeout is for). Whatever the schedule, the swap is
/// atomic for the two parties, mediators lose nothing, and no lock is left.
fn swap_case(taker_first: bool, delay: u64, steps: Vec<Step>) {
    let mut net = mediated_net();
    net.registration_delay = delay;
    let secret = net.next_secret();
    let start = start(&net, secret, &[(&[MAKER, M_A, TAKER], 0)], 0);
    if taker_first {
        take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, M_B, MAKER], 0)]).unwrap();
        net.apply(MAKER, start).unwrap();
    } else {
        net.apply(MAKER, start).unwrap();
        take(&mut net, secret.hash(), (100, 300), &[(&[TAKER, M_B, MAKER], 0)]).unwrap();
    }
    for step in steps {
        match step {
            Step::Deliver(n) => {
                for _ in 0..n {
                    net.deliver_one();
                }
            }
            Step::Reorder(d) => {
                if net.inflight.len() > d {
                    net.inflight.swap(0, d);
                }
            }
            Step::Mine(n) => {
                for _ in 0..n {
                    net.block += 1;
                    let waiting = std::mem::take(&mut net.retrying);
                    net.inflight.extend(waiting);
                    let (due, later): (Vec<_>, Vec<_>) =
                        std::mem::take(&mut net.queued_registrations)
                            .into_iter()
                            .partition(|(at, _)| *at <= net.block);
                    net.queued_registrations = later;
                    for (_, secret) in due {
                        net.register_now(secret);
                    }
                    for i in 0..net.nodes.len() {
                        let block = net.block;
                        net.apply(i, StateChange::Block(block)).unwrap();
                    }
                }
            }
            Step::Away(node, away) => net.away[node] = away,
        }
    }
    net.away = vec![false; 4];
    net.run();
    net.mine(120);
    no_locks_left(&net);
    let (maker_a, _) = balances(&mut net, token_a(), MAKER, M_A);
    let (_, taker_a) = balances(&mut net, token_a(), M_A, TAKER);
    let (taker_b, _) = balances(&mut net, token_b(), TAKER, M_B);
    let (_, maker_b) = balances(&mut net, token_b(), M_B, MAKER);
    let maker_paid = maker_a < 1_000;
    let maker_got = maker_b > 0;
    let taker_paid = taker_b < 1_000;
    let taker_got = taker_a > 0;
    assert_eq!(maker_paid, maker_got, "the maker paid iff it was paid ({maker_a}, {maker_b})");
    assert_eq!(taker_paid, taker_got, "the taker paid iff it was paid ({taker_b}, {taker_a})");
    assert_eq!(maker_paid, taker_got);
    if maker_paid {
        assert_eq!((maker_a, taker_a, taker_b, maker_b), (900, 100, 700, 300));
    }
    for (token, mediator, (a, b)) in
        [(token_a(), M_A, (MAKER, TAKER)), (token_b(), M_B, (TAKER, MAKER))]
    {
        let (_, inn) = balances(&mut net, token, a, mediator);
        let (out, _) = balances(&mut net, token, mediator, b);
        assert!(inn + out >= 1_000, "mediator {mediator} lost: {inn} + {out}");
    }
    let done = |i: usize| net.nodes[i].state.swaps[&secret.hash()].status.is_final();
    assert!(done(MAKER) && done(TAKER), "both swaps over");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("PHOTON_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn a_swap_is_atomic_under_any_schedule(
        taker_first in proptest::prelude::any::<bool>(),
        delay in 0..photon_state::Config::default().reveal_timeout,
        steps in proptest::collection::vec(step(), 0..40),
    ) {
        swap_case(taker_first, delay, steps);
    }
}
