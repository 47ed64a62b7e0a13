//! Mediated payments: the initiator, mediator and target roles.
//!
//! ```text
//!  initiator ──MediatedTransfer──> mediator ──MediatedTransfer──> target
//!      <───────────────────────SecretRequest──────────────────────────
//!      ────────────────────────RevealSecret──────────────────────────>
//!                                  <──RevealSecret── target
//!                           mediator ──Unlock──> target
//!      <──RevealSecret── mediator
//!  initiator ──Unlock──> mediator
//! ```
//! Every hop's lock has the same expiration: a lock pays iff its secret is registered on chain
//! by then, so a node that knows the secret and is not unlocked off-chain registers it
//! `reveal_timeout` blocks before expiry. A mediator that cannot forward announces that it
//! disposes the lock; the initiator then removes it and tries its next route.
//!
//! One module per role: `initiator`, `mediator`, `target`; this one dispatches each message
//! to the role of its payment's task and holds what the roles share (message building, path
//! checks, disposal of a received lock, unlocking, the chain's part).

use crate::changes::{Event, PaymentFailure, Route};
use crate::channel::{accept_partner_proof, check_signed_by, send_our_proof, without};
use crate::ctx::Ctx;
use crate::error::Rejection;
use crate::machine::usable_channel;
use crate::state::{
    in_time, ChainState, ChannelStatus, InitiatorTask, MediatorTask, OurDisposal, TargetTask, Task,
    TheirDisposal,
};
use photon_primitives::messages::{
    AnnounceDisposed, AnnounceDisposedResponse, MediatedTransfer, Message, PaymentId, RevealSecret,
    SecretRequest, Unlock, MAX_DATA_LEN, MAX_PATH_LEN, UNSIGNED,
};
use photon_primitives::{Address, ChannelId, Lock, Secret, SecretHash, TokenAmount};

mod initiator;
mod mediator;
mod swap;
mod target;

pub(crate) use initiator::start_payment;
use initiator::try_next_route;
use mediator::{finish_mediator, give_back};
pub(crate) use swap::{
    cancel as cancel_swap, expect as expect_swap, maker_knows, start as start_swap,
};
pub(crate) use target::claim_with_known_secret;

/// Handles the mediated-payment messages.
pub(crate) fn on_message(
    cx: &mut Ctx<'_>, sender: Address, message: &Message,
) -> Result<(), Rejection> {
    match message {
        Message::MediatedTransfer(m) => on_mediated_transfer(cx, sender, message, m),
        Message::AnnounceDisposed(m) => on_disposed(cx, sender, message, m),
        Message::AnnounceDisposedResponse(m) => {
            let channel_id = m.balance_proof.channel_id;
            let channel =
                cx.state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
            if !channel.disposed.contains_key(&m.secrethash) {
                return Err(Rejection::UnknownLock(m.secrethash));
            }
            let (locks, _) = without(&channel.theirs.locks, &m.secrethash)
                .ok_or(Rejection::UnknownLock(m.secrethash))?;
            let transferred = channel.theirs.transferred;
            let channel =
                accept_partner_proof(cx, sender, message, &m.balance_proof, transferred, locks)?;
            channel.disposed.remove(&m.secrethash);
            payer_lock_gone(cx, &m.secrethash, channel_id);
            Ok(())
        }
        Message::SecretRequest(m) => initiator::on_secret_request(cx, sender, m),
        Message::RevealSecret(m) => on_reveal(cx, sender, m.secret),
        Message::Unlock(m) => {
            let channel_id = m.balance_proof.channel_id;
            let channel =
                cx.state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
            let secrethash = m.secret.hash();
            let (locks, lock) = without(&channel.theirs.locks, &secrethash)
                .ok_or(Rejection::UnknownLock(secrethash))?;
            let transferred = channel
                .theirs
                .transferred
                .checked_add(lock.amount)
                .ok_or(Rejection::InvalidAmount)?;
            let channel =
                accept_partner_proof(cx, sender, message, &m.balance_proof, transferred, locks)?;
            channel.disposed.remove(&secrethash);
            let token = channel.token;
            // Only an unlock of the task's own lock (on its payer's channel) completes it: a
            // lock with the same hash on another channel (one we disposed of, say) pays us
            // that lock and nothing more.
            let role = match cx.state.tasks.get(&secrethash) {
                Some(Task::Target(task)) if task.payer.0 == channel_id => Some(true),
                Some(Task::Mediator(task)) if task.payer.0 == channel_id => Some(false),
                _ => None,
            };
            match role {
                Some(true) => target::on_unlock(cx, token, lock),
                Some(false) => mediator::on_unlock(cx, m.secret),
                None if swap::maker_paid(cx, channel_id, token, &lock, m.payment_id) => {}
                None => cx.events.push(Event::PaymentReceived {
                    token,
                    payment_id: m.payment_id,
                    initiator: sender,
                    amount: lock.amount,
                    data: Vec::new(),
                }),
            }
            Ok(())
        }
        other => Err(Rejection::Unexpected(other.kind())),
    }
}

/// Builds and signs a message that carries no balance proof, taking a message id.
pub(super) fn signed(
    cx: &mut Ctx<'_>, build: impl FnOnce(u64) -> Message,
) -> Result<Message, Rejection> {
    let mut message = build(cx.state.next_message_id);
    message.sign(&cx.state.domain, cx.signer)?;
    cx.state.next_message_id += 1;
    Ok(message)
}

/// Reveals `secret` to `recipient` (a payer that then unlocks, or an initiator's target).
pub(super) fn send_reveal(cx: &mut Ctx<'_>, recipient: Address, secret: Secret) {
    let message = unsigned(cx.state, |message_id| {
        Message::RevealSecret(RevealSecret { message_id, secret, signature: UNSIGNED })
    });
    cx.events.push(Event::Send { recipient, message });
}

/// A lock we start (as initiator, or as the taker of a swap): to whom, of what, until when.
pub(super) struct Offer {
    pub(super) token: Address,
    pub(super) target: Address,
    /// What the target receives (route fees come on top).
    pub(super) amount: TokenAmount,
    pub(super) fee_limit: TokenAmount,
    pub(super) secrethash: SecretHash,
    pub(super) expiration: photon_primitives::BlockNumber,
    pub(super) payment_id: PaymentId,
    pub(super) data: Vec<u8>,
}

/// Sends `offer`'s lock over the first of `routes` (taken off the list as they are tried)
/// whose path a hop will take and whose first channel can carry it: that channel, the lock and
/// the route's fee; `None` once no route is left.
pub(super) fn lock_over_next_route(
    cx: &mut Ctx<'_>, routes: &mut Vec<Route>, offer: &Offer,
) -> Result<Option<(ChannelId, Lock, TokenAmount)>, Rejection> {
    let me = cx.state.address;
    while !routes.is_empty() {
        let route = routes.remove(0);
        // what a hop checks (path_position): a malformed route is skipped here rather than
        // refused by the first hop, which would cost us the channel
        let unique = route.path.iter().enumerate().all(|(i, a)| !route.path[..i].contains(a));
        let valid_path = route.path.len() >= 2
            && route.path.len() <= MAX_PATH_LEN
            && route.path[0] == me
            && route.path.last() == Some(&offer.target)
            && unique;
        if !valid_path || route.fee > offer.fee_limit {
            continue;
        }
        let Some(channel) = cx.state.channel_with(offer.token, route.path[1]) else { continue };
        let Some(amount) = offer.amount.checked_add(route.fee) else { continue };
        if !channel.usable()
            || !cx.state.config.accepts_settle_timeout(channel.settle_timeout)
            || channel.our_capacity() < amount
            || channel.ours.locks.len() >= cx.state.config.max_locks
            || channel.ours.lock(&offer.secrethash).is_some()
        {
            continue;
        }
        let lock = Lock { amount, expiration: offer.expiration, secrethash: offer.secrethash };
        let mut locks = channel.ours.locks.clone();
        locks.push(lock);
        let (channel_id, transferred) = (channel.id, channel.ours.transferred);
        let (payment_id, target, target_amount, path, data) =
            (offer.payment_id, offer.target, offer.amount, route.path, offer.data.clone());
        send_our_proof(cx, channel_id, transferred, locks, |message_id, balance_proof| {
            Message::MediatedTransfer(MediatedTransfer {
                message_id,
                payment_id,
                balance_proof,
                lock,
                initiator: me,
                target,
                target_amount,
                path,
                data,
                signature: UNSIGNED,
            })
        })?;
        return Ok(Some((channel_id, lock, route.fee)));
    }
    Ok(None)
}

/// Builds a message that the transport session authenticates (secret request and reveal: not
/// evidence for the chain, so no ECDSA signature), taking a message id.
pub(super) fn unsigned(state: &mut ChainState, build: impl FnOnce(u64) -> Message) -> Message {
    let message = build(state.next_message_id);
    state.next_message_id += 1;
    message
}

fn on_mediated_transfer(
    cx: &mut Ctx<'_>, sender: Address, message: &Message, m: &MediatedTransfer,
) -> Result<(), Rejection> {
    let channel_id = m.balance_proof.channel_id;
    let channel = usable_channel(cx.state, &channel_id)?;
    let lock = m.lock;
    if lock.amount == 0 || lock.amount < m.target_amount {
        return Err(Rejection::InvalidAmount);
    }
    if channel.theirs.lock(&lock.secrethash).is_some() {
        return Err(Rejection::DuplicateLock(lock.secrethash));
    }
    // Past what the contract can unlock in one set, the proof itself would be worthless on
    // chain: refused. Past our own (lower) limit it is taken, and the lock given back below.
    if channel.theirs.locks.len() >= photon_primitives::lock::MAX_LOCKS {
        return Err(Rejection::TooManyLocks);
    }
    let over_our_limit = channel.theirs.locks.len() >= cx.state.config.max_locks;
    let position = path_position(&m.path, cx.state.address, sender, m.initiator, m.target)?;
    let mut locks = channel.theirs.locks.clone();
    locks.push(lock);
    let transferred = channel.theirs.transferred;
    let token =
        accept_partner_proof(cx, sender, message, &m.balance_proof, transferred, locks)?.token;

    if m.target == cx.state.address && cx.state.swaps.contains_key(&lock.secrethash) {
        // a lock of a swap of ours: the maker's (we take it) or the taker's (we claim it)
        let acceptable = !over_our_limit && securable(cx.state, channel_id, &lock);
        return swap::on_lock(cx, sender, m, (channel_id, token), acceptable);
    }
    if cx.state.tasks.contains_key(&lock.secrethash) {
        // a loop through us, or a payment we already handle: give the lock back
        return dispose(cx, channel_id, lock, m.payment_id);
    }
    if over_our_limit || !securable(cx.state, channel_id, &lock) {
        // Should the payer close now, its settle window would end before we could claim this
        // lock on chain (or the window is outside what we accept): never pay downstream (or
        // reveal) against it; give it back.
        if m.target == cx.state.address {
            return dispose(cx, channel_id, lock, m.payment_id);
        }
        return give_back(cx, channel_id, lock, m.payment_id);
    }
    if m.target == cx.state.address {
        return target::on_transfer(cx, sender, m, channel_id);
    }
    if !cx.state.config.mediate {
        // we do not forward for others: the payer takes its lock back and reroutes
        return give_back(cx, channel_id, lock, m.payment_id);
    }
    mediator::forward(cx, m, channel_id, token, position)
}

/// Our index in a mediated transfer's path, after checking the path is well formed and the
/// sender is the hop before us.
fn path_position(
    path: &[Address], me: Address, sender: Address, initiator: Address, target: Address,
) -> Result<usize, Rejection> {
    if path.len() < 2
        || path.len() > MAX_PATH_LEN
        || path[0] != initiator
        || path.last() != Some(&target)
    {
        return Err(Rejection::BadPath);
    }
    let mut seen = std::collections::BTreeSet::new();
    if !path.iter().all(|a| seen.insert(*a)) {
        return Err(Rejection::BadPath);
    }
    let position = path.iter().position(|a| *a == me).ok_or(Rejection::BadPath)?;
    if position == 0 || path[position - 1] != sender {
        return Err(Rejection::BadPath);
    }
    Ok(position)
}

/// Gives up a lock the partner sent us: signs the contract's `LockDisposal` and tells the
/// partner, who then removes it. We will never claim it.
pub(super) fn dispose(
    cx: &mut Ctx<'_>, channel_id: ChannelId, lock: Lock, payment_id: PaymentId,
) -> Result<(), Rejection> {
    let channel =
        cx.state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
    // The disposal covers the lock in every proof of the partner's up to its latest, which
    // holds it: a later instance with the same bytes (re-sent after a removal) is not covered.
    let (partner, epoch, nonce) = (channel.partner, channel.epoch, channel.theirs.nonce);
    let message = signed(cx, |message_id| {
        Message::AnnounceDisposed(AnnounceDisposed {
            message_id,
            payment_id,
            channel_id,
            epoch,
            nonce,
            lock,
            signature: UNSIGNED,
        })
    })?;
    if let Some(channel) = cx.state.channels.get_mut(&channel_id) {
        channel.disposed.insert(lock.secrethash, OurDisposal { nonce, payment_id });
    }
    cx.events.push(Event::Send { recipient: partner, message });
    Ok(())
}

/// Whether a lock received on `channel_id` could still be claimed on chain should the partner
/// close now: its secret registered by its expiration, then the unlock mined (within our
/// reveal timeout) before the settle window ends, whatever settle timeout the opener chose.
fn securable(state: &ChainState, channel_id: ChannelId, lock: &Lock) -> bool {
    let Some(channel) = state.channels.get(&channel_id) else { return false };
    let reveal = state.config.reveal_timeout;
    state.config.accepts_settle_timeout(channel.settle_timeout)
        // time left to get the secret registered (a late lock is taken into the channel, as
        // any valid balance proof, but never acted on)
        && lock.expiration > state.block.saturating_add(reveal)
        && lock.expiration.saturating_add(reveal)
            <= state.block.saturating_add(channel.settle_timeout.blocks())
}

/// After a new proof of the partner's on `channel_id`: each lock we disposed that it still
/// holds gets a disposal covering the new proof, so that the partner can safely give the
/// payment up (it does so only once a disposal covers its latest proof).
pub(crate) fn redispose(cx: &mut Ctx<'_>, channel_id: ChannelId) -> Result<(), Rejection> {
    let Some(channel) = cx.state.channels.get(&channel_id) else { return Ok(()) };
    let nonce = channel.theirs.nonce;
    let stale: Vec<(Lock, PaymentId)> = channel
        .disposed
        .iter()
        .filter(|(_, d)| d.nonce < nonce)
        .filter_map(|(hash, d)| Some((*channel.theirs.lock(hash)?, d.payment_id)))
        .collect();
    for (lock, payment_id) in stale {
        dispose(cx, channel_id, lock, payment_id)?;
    }
    Ok(())
}

/// The partner disposed a lock we sent: remove it, then reroute (initiator) or dispose our
/// own incoming lock (mediator: the path is fixed).
fn on_disposed(
    cx: &mut Ctx<'_>, sender: Address, message: &Message, m: &AnnounceDisposed,
) -> Result<(), Rejection> {
    let channel =
        cx.state.channels.get(&m.channel_id).ok_or(Rejection::UnknownChannel(m.channel_id))?;
    if sender != channel.partner {
        return Err(Rejection::WrongSender { sender, partner: channel.partner });
    }
    if m.epoch != channel.epoch {
        return Err(Rejection::WrongEpoch { got: m.epoch, expected: channel.epoch });
    }
    let secrethash = m.lock.secrethash;
    if channel.ours.lock(&secrethash) != Some(&m.lock) {
        // A lock we no longer hold (removed as disposed, expired or paid before this came):
        // nothing to do. An honest receiver only disposes of a lock we sent it.
        return Ok(());
    }
    check_signed_by(cx.state, cx.signer, message, sender)?;
    let signature = *message.signature().ok_or(Rejection::BadSignature)?;
    if m.nonce < channel.ours.nonce {
        // Signed before our latest proof (which still holds the lock) reached the partner:
        // it does not cover that proof. The partner disposes again once it has it; until
        // then we keep the lock and do not reroute (we could end up paying twice).
        return Ok(());
    }
    let evidence = TheirDisposal {
        lock: m.lock,
        nonce: m.nonce,
        signature,
        locks: channel.ours.locks.clone(),
    };
    let (locks, _) =
        without(&channel.ours.locks, &secrethash).ok_or(Rejection::UnknownLock(secrethash))?;
    let transferred = channel.ours.transferred;
    let payment_id = m.payment_id;
    send_our_proof(cx, m.channel_id, transferred, locks, |message_id, balance_proof| {
        Message::AnnounceDisposedResponse(AnnounceDisposedResponse {
            message_id,
            payment_id,
            balance_proof,
            secrethash,
            signature: UNSIGNED,
        })
    })?;
    if let Some(channel) = cx.state.channels.get_mut(&m.channel_id) {
        channel.their_disposals.insert(secrethash, evidence);
    }
    match cx.state.tasks.remove(&secrethash) {
        Some(Task::Initiator(mut task))
            if task.attempt.as_ref().is_some_and(|(c, _, _)| *c == m.channel_id) =>
        {
            task.attempt = None;
            try_next_route(cx, task)?;
        }
        Some(Task::Mediator(task))
            if task.payee.as_ref().is_some_and(|(c, _)| *c == m.channel_id) =>
        {
            if cx.state.swaps.contains_key(&secrethash) {
                // our lock of a swap we take: the next route to the maker is tried
                swap::our_lock_disposed(cx, task)?;
            } else {
                mediator::payee_disposed(cx, task, payment_id)?;
            }
        }
        Some(other) => {
            cx.state.tasks.insert(secrethash, other);
        }
        None => {}
    }
    Ok(())
}

/// A secret revealed to us, handled by the role we play in its payment.
fn on_reveal(cx: &mut Ctx<'_>, sender: Address, secret: Secret) -> Result<(), Rejection> {
    // the sender is proven by the transport session, the secret by its hash
    let secrethash = secret.hash();
    match cx.state.tasks.get(&secrethash).cloned() {
        Some(Task::Initiator(task)) => {
            initiator::on_reveal(cx, sender, secret, task)?;
        }
        Some(Task::Target(task)) => target::on_reveal(cx, sender, secret, task)?,
        Some(Task::Mediator(task)) => {
            mediator::on_reveal(cx, sender, secret, task)?;
        }
        // a payment already completed (e.g. through the chain): a late reveal is harmless
        None => {}
    }
    Ok(())
}

/// Cancels a payment we initiated whose secret went to no one: its task ends with the secret
/// (never revealed, so its lock can only expire; the lock stays until then and is removed
/// as any expired lock), and the payment fails at once.
pub(crate) fn cancel_payment(cx: &mut Ctx<'_>, payment_id: PaymentId) -> Result<(), Rejection> {
    let found = cx.state.tasks.iter().find_map(|(hash, task)| match task {
        Task::Initiator(t) if t.payment_id == payment_id => Some((*hash, t.clone())),
        _ => None,
    });
    let Some((secrethash, task)) = found else {
        return Err(Rejection::NotCancellable { payment_id, why: "no payment of ours in flight" });
    };
    let why = if cx.state.swaps.contains_key(&secrethash) {
        "it is a swap's lock: cancel the swap"
    } else if task.secret.is_none() {
        "the target holds its secret (a swap)"
    } else if task.secret_revealed {
        "its secret was revealed to the target"
    } else if cx.state.known_secrets.contains_key(&secrethash) {
        // a payment to us locked with this hash would be claimed by revealing it
        "its secret is one this node reveals to claim payments (POST /known_secrets)"
    } else {
        cx.state.tasks.remove(&secrethash);
        cx.events.push(Event::PaymentFailed {
            payment_id,
            token: task.token,
            reason: PaymentFailure::Cancelled,
        });
        return Ok(());
    };
    Err(Rejection::NotCancellable { payment_id, why })
}

/// Turns our lock of `secret` on `channel_id` into a transfer.
pub(super) fn send_unlock(
    cx: &mut Ctx<'_>, channel_id: ChannelId, secret: Secret, payment_id: PaymentId,
) -> Result<(), Rejection> {
    let channel =
        cx.state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
    let Some((locks, lock)) = without(&channel.ours.locks, &secret.hash()) else { return Ok(()) };
    let transferred = channel.ours.transferred + lock.amount;
    send_our_proof(cx, channel_id, transferred, locks, |message_id, balance_proof| {
        Message::Unlock(Unlock {
            message_id,
            payment_id,
            balance_proof,
            secret,
            signature: UNSIGNED,
        })
    })
}

/// The payer's lock of `secrethash` on `channel_id` left without paying us (expired, or
/// removed after our disposal).
pub(crate) fn payer_lock_gone(cx: &mut Ctx<'_>, secrethash: &SecretHash, channel_id: ChannelId) {
    match cx.state.tasks.get_mut(secrethash) {
        Some(Task::Mediator(task)) if task.payer.0 == channel_id => {
            task.payer_done = true;
            finish_mediator(cx, secrethash);
        }
        Some(Task::Target(task)) if task.payer.0 == channel_id => {
            cx.state.tasks.remove(secrethash);
        }
        _ => swap::maker_lock_gone(cx, secrethash, channel_id),
    }
}

/// Our lock of `secrethash` on `channel_id` left unpaid (expired).
pub(crate) fn payee_lock_gone(
    cx: &mut Ctx<'_>, secrethash: &SecretHash, channel_id: ChannelId,
    failure: Option<PaymentFailure>,
) {
    match cx.state.tasks.get_mut(secrethash) {
        Some(Task::Initiator(task))
            if task.attempt.as_ref().is_some_and(|(c, _, _)| *c == channel_id) =>
        {
            let (payment_id, token) = (task.payment_id, task.token);
            cx.state.tasks.remove(secrethash);
            if let Some(reason) = failure {
                cx.events.push(Event::PaymentFailed { payment_id, token, reason });
            }
            swap::maker_lock_failed(
                cx,
                secrethash,
                "our lock expired before the taker locked its side",
            );
        }
        Some(Task::Mediator(task))
            if task.payee.as_ref().is_some_and(|(c, _)| *c == channel_id) =>
        {
            // the payee's lock left unpaid (expired): we delivered nothing, so we ask the
            // payer for nothing (see learn_secret_as_mediator)
            task.payee = None;
            task.payee_done = true;
            finish_mediator(cx, secrethash);
        }
        _ => {}
    }
}

/// Registers on chain the secrets of locks we are owed, when the payer has not unlocked and
/// expiry is near.
pub(crate) fn on_block(cx: &mut Ctx<'_>) {
    swap::on_block(cx);
    let block = cx.state.block;
    let reveal = cx.state.config.reveal_timeout;
    let registered = &cx.state.registered;
    let channels = &cx.state.channels;
    for task in cx.state.tasks.values_mut() {
        let (secret, payer, flag) = match task {
            Task::Mediator(t) => (t.secret, t.payer, &mut t.registered),
            Task::Target(t) => (t.secret, t.payer, &mut t.registered),
            Task::Initiator(_) => continue,
        };
        let Some(secret) = secret else { continue };
        let (channel_id, lock) = payer;
        let Some(channel) = channels.get(&channel_id) else { continue };
        let still_pending = channel.theirs.lock(&lock.secrethash).is_some();
        let in_time = in_time(registered, &lock);
        // A closed channel can no longer be unlocked off-chain: the lock is claimed on chain
        // before the settle window ends, so the secret must be registered now.
        let closed = matches!(channel.status, ChannelStatus::Closed { .. });
        if !*flag
            && still_pending
            && !in_time
            && (closed || block + reveal >= lock.expiration)
            && block <= lock.expiration
        {
            *flag = true;
            cx.events
                .push(Event::Transact(crate::changes::ContractCall::RegisterSecret { secret }));
        }
    }
}

/// A secret became public on chain: locks we sent with it are owed, so unlock them off-chain;
/// locks we hold with it are safe.
pub(crate) fn on_secret_registered(cx: &mut Ctx<'_>, secret: Secret) -> Result<(), Rejection> {
    let secrethash = secret.hash();
    let owed: Vec<(ChannelId, PaymentId)> = cx
        .state
        .channels
        .values()
        .filter(|c| c.usable())
        .filter_map(|c| {
            c.ours.lock(&secrethash).filter(|l| cx.state.registered_in_time(l)).map(|_| c.id)
        })
        .map(|id| {
            let payment_id = match cx.state.tasks.get(&secrethash) {
                Some(Task::Initiator(t)) => t.payment_id,
                Some(Task::Mediator(t)) => t.payment_id,
                Some(Task::Target(t)) => t.payment_id,
                None => 0,
            };
            (id, payment_id)
        })
        .collect();
    for (channel_id, payment_id) in owed {
        send_unlock(cx, channel_id, secret, payment_id)?;
        match cx.state.tasks.get(&secrethash).cloned() {
            Some(Task::Initiator(task)) => {
                if task.secret.is_none() {
                    // a hash-only payment (a swap's leg): the secret claims the other leg
                    cx.state.known_secrets.insert(secrethash, secret);
                }
                initiator::sent(cx, &task, task.attempt.map_or(TokenAmount(0), |(_, _, f)| f));
            }
            Some(Task::Mediator(_)) => {
                if let Some(Task::Mediator(t)) = cx.state.tasks.get_mut(&secrethash) {
                    t.payee_done = true;
                }
            }
            _ => {}
        }
    }
    match cx.state.tasks.get_mut(&secrethash) {
        Some(Task::Mediator(t)) => {
            t.secret = Some(secret);
            swap::taker_learned(cx, &secrethash, secret);
            finish_mediator(cx, &secrethash);
        }
        Some(Task::Target(t)) => t.secret = Some(secret),
        _ => {}
    }
    Ok(())
}

/// Whether a task involves the channel.
pub(crate) fn task_uses(task: &Task, channel_id: &ChannelId) -> bool {
    match task {
        Task::Initiator(t) => t.attempt.as_ref().is_some_and(|(c, _, _)| c == channel_id),
        Task::Mediator(t) => {
            t.payer.0 == *channel_id || t.payee.as_ref().is_some_and(|(c, _)| c == channel_id)
        }
        Task::Target(t) => t.payer.0 == *channel_id,
    }
}
