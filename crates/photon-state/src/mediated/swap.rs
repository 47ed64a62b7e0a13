//! Token swaps inside the network (see `docs/swaps.md`): the maker pays token A to the taker,
//! the taker pays token B to the maker, both locked with one secret hash whose secret only the
//! maker knows.
//!
//! ```text
//!  maker ──lock A (H, expires E_a)──> … ──> taker      (the taker is its target)
//!  maker <── … <──lock B (H, expires E_a − reveal_timeout)── taker
//!  maker ──RevealSecret──> its B payer: the maker claims B
//!  … the secret travels back along B's route to the taker, which reveals it on A's route
//!  maker <──RevealSecret── its A payee; maker ──Unlock──> its A payee
//! ```
//!
//! The taker is a mediator whose two channels are in different tokens and whose outgoing
//! amount is the agreed one (a [`MediatorTask`] made by [`take`]): everything after its lock
//! goes out is the mediator's rules. The maker keeps its [`InitiatorTask`] for A, answers no
//! secret request for it, and claims B as a target that knows the secret does, registering the
//! secret on chain if its B payer does not unlock ([`on_block`]). The maker reveals first,
//! at the latest `reveal_timeout` blocks before `E_b` (it takes no lock that expires sooner);
//! the taker then has `E_a − E_b = reveal_timeout` blocks more to claim A with the secret, off
//! chain or through the registry (which a registration of the maker's for B already covers:
//! one chain, one registry, and `E_a > E_b`).

use super::*;
use crate::state::{Swap, SwapLeg, SwapRole, SwapStatus, FINISHED_SWAPS_KEPT};
use photon_primitives::BlockNumber;

/// The terms both roles check before a swap is made.
fn check_terms(
    cx: &Ctx<'_>, counterparty: Address, send: &SwapLeg, receive: &SwapLeg,
) -> Result<(), Rejection> {
    if counterparty == cx.state.address {
        return Err(Rejection::InvalidSwap("a swap needs another party"));
    }
    if send.amount == 0 || receive.amount == 0 {
        return Err(Rejection::InvalidAmount);
    }
    if send.token == receive.token {
        return Err(Rejection::InvalidSwap("a swap exchanges two different tokens"));
    }
    let config = &cx.state.config;
    if config.lock_timeout <= config.reveal_timeout.saturating_mul(2) {
        // the taker's lock lives a reveal timeout less than the maker's and must itself
        // outlive a reveal timeout at its receiver
        return Err(Rejection::InvalidSwap(
            "the lock timeout must exceed twice the reveal timeout for a swap",
        ));
    }
    if cx.state.swaps.len() >= FINISHED_SWAPS_KEPT * 2 {
        return Err(Rejection::InvalidSwap("too many swaps in progress"));
    }
    Ok(())
}

/// Sets a swap's status (a final one stays) and tells the runtime; a final status records its
/// block, and the oldest finished swaps past [`FINISHED_SWAPS_KEPT`] are forgotten.
pub(crate) fn set_status(cx: &mut Ctx<'_>, secrethash: &SecretHash, status: SwapStatus) {
    let block = cx.state.block;
    let Some(swap) = cx.state.swaps.get_mut(secrethash) else { return };
    if swap.status == status || swap.status.is_final() {
        return;
    }
    swap.status = status.clone();
    if status.is_final() {
        swap.finished = Some(block);
    }
    cx.events.push(Event::SwapChanged { secrethash: *secrethash, status });
    let mut finished: Vec<(BlockNumber, SecretHash)> =
        cx.state.swaps.iter().filter_map(|(h, s)| Some((s.finished?, *h))).collect();
    if finished.len() > FINISHED_SWAPS_KEPT {
        finished.sort();
        for (_, hash) in &finished[..finished.len() - FINISHED_SWAPS_KEPT] {
            cx.state.swaps.remove(hash);
        }
    }
}

/// The swap of `secrethash` if we are its `role`.
fn ours(state: &ChainState, secrethash: &SecretHash, role: SwapRole) -> Option<Swap> {
    state.swaps.get(secrethash).filter(|s| s.role == role).cloned()
}

/// Starts a swap as its maker: our lock of `send` goes out to the taker.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    cx: &mut Ctx<'_>, payment_id: PaymentId, counterparty: Address,
    (send, receive): (SwapLeg, SwapLeg), secret: Secret, routes: Vec<Route>,
    fee_limit: TokenAmount,
) -> Result<(), Rejection> {
    check_terms(cx, counterparty, &send, &receive)?;
    let secrethash = secret.hash();
    if cx.state.swaps.contains_key(&secrethash) {
        return Err(Rejection::DuplicateLock(secrethash));
    }
    let block = cx.state.block;
    cx.state.swaps.insert(
        secrethash,
        Swap {
            role: SwapRole::Maker,
            payment_id,
            counterparty,
            send,
            receive,
            secret: Some(secret),
            status: SwapStatus::Waiting,
            created: block,
            deadline: block + cx.state.config.lock_timeout,
            routes: Vec::new(),
            fee_limit,
            incoming: None,
            registered: false,
            finished: None,
        },
    );
    let started = initiator::start_payment(
        cx,
        send.token,
        payment_id,
        (counterparty, send.amount, Vec::new()),
        (Some(secret), secrethash),
        routes,
        fee_limit,
    );
    if let Err(rejection) = started {
        cx.state.swaps.remove(&secrethash);
        return Err(rejection);
    }
    cx.events.push(Event::SwapChanged { secrethash, status: SwapStatus::Waiting });
    if !cx.state.tasks.contains_key(&secrethash) {
        set_status(
            cx,
            &secrethash,
            SwapStatus::Failed("no route could carry our lock to the taker".into()),
        );
    }
    Ok(())
}

/// Takes a swap: waits for the maker's lock (or answers one that came already).
#[allow(clippy::too_many_arguments)]
pub(crate) fn expect(
    cx: &mut Ctx<'_>, payment_id: PaymentId, counterparty: Address,
    (send, receive): (SwapLeg, SwapLeg), secrethash: SecretHash, routes: Vec<Route>,
    fee_limit: TokenAmount, deadline: BlockNumber,
) -> Result<(), Rejection> {
    check_terms(cx, counterparty, &send, &receive)?;
    if cx.state.swaps.contains_key(&secrethash)
        || cx.state.channels.values().any(|c| c.ours.lock(&secrethash).is_some())
        || cx.state.known_secrets.contains_key(&secrethash)
    {
        return Err(Rejection::DuplicateLock(secrethash));
    }
    // the maker's lock may have come first: it waits as a payment to us whose secret request
    // the maker does not answer; any other task with this hash is another payment's
    let early = match cx.state.tasks.get(&secrethash) {
        None => None,
        Some(Task::Target(t)) if t.secret.is_none() => Some(t.clone()),
        Some(_) => return Err(Rejection::DuplicateLock(secrethash)),
    };
    if deadline < cx.state.block {
        return Err(Rejection::InvalidSwap("the swap's deadline has passed"));
    }
    cx.state.swaps.insert(
        secrethash,
        Swap {
            role: SwapRole::Taker,
            payment_id,
            counterparty,
            send,
            receive,
            secret: None,
            status: SwapStatus::Waiting,
            created: cx.state.block,
            deadline,
            routes,
            fee_limit,
            incoming: None,
            registered: false,
            finished: None,
        },
    );
    cx.events.push(Event::SwapChanged { secrethash, status: SwapStatus::Waiting });
    if let Some(t) = early {
        let (channel_id, lock) = t.payer;
        let channel = cx.state.channels.get(&channel_id);
        let held = channel.is_some_and(|c| c.theirs.lock(&secrethash) == Some(&lock));
        let token = channel.map(|c| c.token).unwrap_or_default();
        cx.state.tasks.remove(&secrethash);
        let acceptable = held && securable(cx.state, channel_id, &lock);
        if held {
            take(cx, (t.initiator, token), (channel_id, lock), t.payment_id, acceptable)?;
        }
    }
    Ok(())
}

/// A lock for us with the hash of a swap of ours arrived on `channel_id` (accepted into the
/// channel; `acceptable`: securable and within our limits): the maker's (we take) or the
/// taker's (we make).
pub(super) fn on_lock(
    cx: &mut Ctx<'_>, sender: Address, m: &MediatedTransfer,
    (channel_id, token): (ChannelId, Address), acceptable: bool,
) -> Result<(), Rejection> {
    let secrethash = m.lock.secrethash;
    match cx.state.swaps.get(&secrethash).map(|s| s.role) {
        Some(SwapRole::Taker) if !cx.state.tasks.contains_key(&secrethash) => {
            take(cx, (m.initiator, token), (channel_id, m.lock), m.payment_id, acceptable)
        }
        Some(SwapRole::Maker) => make(cx, sender, m, (channel_id, token), acceptable),
        _ => dispose(cx, channel_id, m.lock, m.payment_id),
    }
}

/// As the taker, the maker's lock arrived: lock our side to the maker, or give the lock back
/// when it is not the agreed one (token, amount, payer, in time for our lock to live a reveal
/// timeout less and still be securable at the maker).
fn take(
    cx: &mut Ctx<'_>, (initiator, token): (Address, Address),
    (channel_id, lock): (ChannelId, Lock), payment_id: PaymentId, acceptable: bool,
) -> Result<(), Rejection> {
    let Some(swap) = ours(cx.state, &lock.secrethash, SwapRole::Taker) else {
        return dispose(cx, channel_id, lock, payment_id);
    };
    let (block, reveal) = (cx.state.block, cx.state.config.reveal_timeout);
    let agreed = swap.status == SwapStatus::Waiting
        && initiator == swap.counterparty
        && token == swap.receive.token
        && lock.amount >= swap.receive.amount
        && block <= swap.deadline
        && lock.expiration.saturating_sub(reveal) > block + reveal;
    if !(acceptable && agreed) {
        return dispose(cx, channel_id, lock, payment_id);
    }
    send_our_lock(cx, (channel_id, lock), "no route could carry our lock to the maker")
}

/// As the taker, sends our lock over the next route to the maker, expiring a reveal timeout
/// before the maker's `payer` lock; with no route left, gives the maker's lock back and the
/// swap fails (`why`).
fn send_our_lock(cx: &mut Ctx<'_>, payer: (ChannelId, Lock), why: &str) -> Result<(), Rejection> {
    let secrethash = payer.1.secrethash;
    let Some(mut swap) = ours(cx.state, &secrethash, SwapRole::Taker) else { return Ok(()) };
    let offer = Offer {
        token: swap.send.token,
        target: swap.counterparty,
        amount: swap.send.amount,
        fee_limit: swap.fee_limit,
        secrethash,
        expiration: payer.1.expiration.saturating_sub(cx.state.config.reveal_timeout),
        payment_id: swap.payment_id,
        data: Vec::new(),
    };
    if let Some((channel_id, lock, _)) = lock_over_next_route(cx, &mut swap.routes, &offer)? {
        cx.state.tasks.insert(
            secrethash,
            Task::Mediator(MediatorTask {
                payment_id: swap.payment_id,
                payer,
                payee: Some((channel_id, lock)),
                secret: None,
                registered: false,
                payer_done: false,
                payee_done: false,
            }),
        );
        swap.incoming = Some(payer);
        cx.state.swaps.insert(secrethash, swap);
        set_status(cx, &secrethash, SwapStatus::Locked);
        return Ok(());
    }
    let payment_id = swap.payment_id;
    cx.state.swaps.insert(secrethash, swap);
    cx.state.tasks.remove(&secrethash);
    let (channel_id, lock) = payer;
    if cx.state.channels.get(&channel_id).is_some_and(|c| c.theirs.lock(&secrethash) == Some(&lock))
    {
        dispose(cx, channel_id, lock, payment_id)?;
    }
    set_status(cx, &secrethash, SwapStatus::Failed(why.into()));
    Ok(())
}

/// As the taker, the next hop gave our lock back: try the next route (the maker's lock is
/// still ours to answer).
pub(super) fn our_lock_disposed(cx: &mut Ctx<'_>, task: MediatorTask) -> Result<(), Rejection> {
    if task.payer_done {
        return Ok(());
    }
    send_our_lock(
        cx,
        task.payer,
        "our lock was given back (by the maker, or a hop to it) and no other route is left",
    )
}

/// As the maker, the taker's lock arrived: when it pays the agreed token and amount (and our
/// own lock is out), reveal the secret to its payer to claim it; else give it back.
fn make(
    cx: &mut Ctx<'_>, sender: Address, m: &MediatedTransfer,
    (channel_id, token): (ChannelId, Address), acceptable: bool,
) -> Result<(), Rejection> {
    let lock = m.lock;
    let secrethash = lock.secrethash;
    let Some(swap) = ours(cx.state, &secrethash, SwapRole::Maker) else {
        return dispose(cx, channel_id, lock, m.payment_id);
    };
    let our_lock_out = matches!(
        cx.state.tasks.get(&secrethash),
        Some(Task::Initiator(t)) if t.attempt.is_some()
    );
    let agreed = swap.status == SwapStatus::Waiting
        && our_lock_out
        && m.initiator == swap.counterparty
        && token == swap.receive.token
        && lock.amount >= swap.receive.amount;
    let (Some(secret), true, true) = (swap.secret, agreed, acceptable) else {
        return dispose(cx, channel_id, lock, m.payment_id);
    };
    if let Some(s) = cx.state.swaps.get_mut(&secrethash) {
        s.incoming = Some((channel_id, lock));
    }
    send_reveal(cx, sender, secret);
    set_status(cx, &secrethash, SwapStatus::Revealed);
    Ok(())
}

/// Whether an unlock of `secrethash` on `channel_id` pays the lock a swap we make is waiting
/// for; if so the swap is complete and we record the payment.
pub(super) fn maker_paid(
    cx: &mut Ctx<'_>, channel_id: ChannelId, token: Address, lock: &Lock, payment_id: PaymentId,
) -> bool {
    let secrethash = lock.secrethash;
    let Some(swap) = ours(cx.state, &secrethash, SwapRole::Maker) else { return false };
    if swap.incoming.map(|(c, _)| c) != Some(channel_id) {
        return false;
    }
    cx.events.push(Event::PaymentReceived {
        token,
        payment_id,
        initiator: swap.counterparty,
        amount: lock.amount,
        data: Vec::new(),
    });
    set_status(cx, &secrethash, SwapStatus::Completed);
    true
}

/// As the taker, we learned the secret (the maker claimed our lock).
pub(super) fn taker_learned(cx: &mut Ctx<'_>, secrethash: &SecretHash, secret: Secret) {
    let Some(swap) = cx.state.swaps.get_mut(secrethash) else { return };
    if swap.role != SwapRole::Taker {
        return;
    }
    swap.secret = Some(secret);
    set_status(cx, secrethash, SwapStatus::Revealed);
}

/// As the taker, our mediator task ended: paid (we knew the secret and delivered our side),
/// or both locks left unpaid.
pub(super) fn taker_finished(cx: &mut Ctx<'_>, task: &MediatorTask) {
    let secrethash = task.payer.1.secrethash;
    let Some(swap) = ours(cx.state, &secrethash, SwapRole::Taker) else { return };
    match (task.secret, task.payee) {
        (Some(_), Some((_, payee_lock))) => {
            cx.events.push(Event::PaymentReceived {
                token: swap.receive.token,
                payment_id: task.payment_id,
                initiator: swap.counterparty,
                amount: task.payer.1.amount,
                data: Vec::new(),
            });
            cx.events.push(Event::PaymentSent {
                token: swap.send.token,
                payment_id: swap.payment_id,
                target: swap.counterparty,
                amount: swap.send.amount,
                fee: payee_lock.amount.saturating_sub(swap.send.amount),
            });
            set_status(cx, &secrethash, SwapStatus::Completed);
        }
        _ => set_status(
            cx,
            &secrethash,
            SwapStatus::Failed(
                "the maker did not reveal the secret before the locks expired".into(),
            ),
        ),
    }
}

/// As the maker, our lock for the taker failed (no route left, or it expired before the
/// taker locked its side).
pub(super) fn maker_lock_failed(cx: &mut Ctx<'_>, secrethash: &SecretHash, why: &str) {
    if ours(cx.state, secrethash, SwapRole::Maker).is_some_and(|s| s.status == SwapStatus::Waiting)
    {
        set_status(cx, secrethash, SwapStatus::Failed(why.into()));
    }
}

/// As the maker, the taker's lock left without paying us (expired: the secret was not
/// registered in time, or removed after we gave it back).
pub(super) fn maker_lock_gone(cx: &mut Ctx<'_>, secrethash: &SecretHash, channel_id: ChannelId) {
    let Some(swap) = ours(cx.state, secrethash, SwapRole::Maker) else { return };
    if swap.incoming.map(|(c, _)| c) == Some(channel_id) {
        set_status(cx, secrethash, SwapStatus::Failed("the taker's lock left unpaid".into()));
    }
}

/// Whether the secret request for `secrethash` is for a swap we make: never answered (the
/// secret is revealed only to claim the taker's lock).
pub(super) fn is_made_here(state: &ChainState, secrethash: &SecretHash) -> bool {
    state.swaps.get(secrethash).is_some_and(|s| s.role == SwapRole::Maker)
}

/// Cancels a swap whose secret is not out: the maker's lock is left to expire (its secret is
/// never revealed), the taker stops waiting.
pub(crate) fn cancel(cx: &mut Ctx<'_>, secrethash: SecretHash) -> Result<(), Rejection> {
    let swap = cx.state.swaps.get(&secrethash).ok_or(Rejection::UnknownPayment(secrethash))?;
    let why = match (&swap.status, swap.role) {
        (SwapStatus::Waiting, _) => None,
        (SwapStatus::Locked, _) => {
            Some("our lock is out to the maker, who may still claim it (which pays us)")
        }
        (SwapStatus::Revealed, _) => Some("the secret is out"),
        _ => Some("it is over"),
    };
    if let Some(why) = why {
        return Err(Rejection::SwapNotCancellable { secrethash, why });
    }
    if swap.role == SwapRole::Maker {
        cx.state.tasks.remove(&secrethash);
    }
    set_status(cx, &secrethash, SwapStatus::Cancelled);
    Ok(())
}

/// As the maker, registers the secret on chain when the taker's lock is near its expiration
/// (or its channel closed) and still not unlocked to us.
pub(super) fn on_block(cx: &mut Ctx<'_>) {
    let (block, reveal) = (cx.state.block, cx.state.config.reveal_timeout);
    let mut calls = Vec::new();
    let mut late = Vec::new();
    for (hash, swap) in cx.state.swaps.iter_mut() {
        if swap.role == SwapRole::Taker
            && swap.status == SwapStatus::Waiting
            && block > swap.deadline
        {
            late.push((*hash, swap.deadline));
        }
        let (Some(secret), Some((channel_id, lock)), false, SwapRole::Maker) =
            (swap.secret, swap.incoming, swap.registered, swap.role)
        else {
            continue;
        };
        let Some(channel) = cx.state.channels.get(&channel_id) else { continue };
        let pending = channel.theirs.lock(hash) == Some(&lock);
        let closed = matches!(channel.status, ChannelStatus::Closed { .. });
        if pending
            && !in_time(&cx.state.registered, &lock)
            && (closed || block + reveal >= lock.expiration)
            && block <= lock.expiration
        {
            swap.registered = true;
            calls.push(crate::changes::ContractCall::RegisterSecret { secret });
        }
    }
    cx.events.extend(calls.into_iter().map(Event::Transact));
    for (hash, deadline) in late {
        set_status(
            cx,
            &hash,
            SwapStatus::Failed(format!("the maker's lock did not come by block {deadline}")),
        );
    }
}

/// Whether we hold a lock with `secrethash` as a swap's maker and know its secret (its
/// registration may still be on its way).
pub(crate) fn maker_knows(
    swaps: &std::collections::BTreeMap<SecretHash, Swap>, secrethash: &SecretHash,
) -> bool {
    swaps
        .get(secrethash)
        .is_some_and(|s| s.role == SwapRole::Maker && s.secret.is_some() && s.incoming.is_some())
}
