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

use crate::changes::{Event, PaymentFailure, Route};
use crate::channel::{accept_partner_proof, check_signed_by, send_our_proof, without};
use crate::error::Rejection;
use crate::machine::usable_channel;
use crate::state::{
    in_time, ChainState, ChannelStatus, InitiatorTask, MediatorTask, OurDisposal, TargetTask, Task,
    TheirDisposal,
};
use photon_primitives::messages::{
    AnnounceDisposed, AnnounceDisposedResponse, MediatedTransfer, Message, PaymentId, RevealSecret,
    SecretRequest, Unlock, MAX_PATH_LEN, UNSIGNED,
};
use photon_primitives::{Address, ChannelId, Lock, Secret, SecretHash, Signer, TokenAmount};

/// Starts a payment we initiate.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_payment(
    state: &mut ChainState,
    signer: &dyn Signer,
    token: Address,
    payment_id: PaymentId,
    target: Address,
    amount: TokenAmount,
    (secret, secrethash): (Option<Secret>, SecretHash),
    routes: Vec<Route>,
    fee_limit: TokenAmount,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    if amount == 0 || target == state.address {
        return Err(Rejection::InvalidAmount);
    }
    if secret.is_some_and(|s| s.hash() != secrethash) {
        return Err(Rejection::SecretMismatch);
    }
    if state.tasks.contains_key(&secrethash) {
        return Err(Rejection::DuplicateLock(secrethash));
    }
    let task = InitiatorTask {
        payment_id,
        token,
        target,
        amount,
        secret,
        secrethash,
        routes_left: routes,
        fee_limit,
        attempt: None,
        secret_revealed: false,
    };
    try_next_route(state, signer, task, events)
}

/// Offers the lock over the first remaining route whose first hop can carry it; fails the
/// payment when none is left.
fn try_next_route(
    state: &mut ChainState,
    signer: &dyn Signer,
    mut task: InitiatorTask,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    let secrethash = task.secrethash;
    let me = state.address;
    while !task.routes_left.is_empty() {
        let route = task.routes_left.remove(0);
        // what a hop checks (path_position): a malformed route is skipped here rather than
        // refused by the first hop, which would cost us the channel
        let unique = route.path.iter().enumerate().all(|(i, a)| !route.path[..i].contains(a));
        let valid_path = route.path.len() >= 2
            && route.path.len() <= MAX_PATH_LEN
            && route.path[0] == me
            && route.path.last() == Some(&task.target)
            && unique;
        if !valid_path || route.fee > task.fee_limit {
            continue;
        }
        let Some(channel) = state.channel_with(task.token, route.path[1]) else { continue };
        let Some(lock_amount) = task.amount.checked_add(route.fee) else { continue };
        if !channel.usable()
            || !state.config.accepts_settle_timeout(channel.settle_timeout)
            || channel.our_capacity() < lock_amount
            || channel.ours.locks.len() >= state.config.max_locks
            || channel.ours.lock(&secrethash).is_some()
        {
            continue;
        }
        let lock = Lock {
            amount: lock_amount,
            expiration: state.block + state.config.lock_timeout,
            secrethash,
        };
        let mut locks = channel.ours.locks.clone();
        locks.push(lock);
        let (channel_id, transferred) = (channel.id, channel.ours.transferred);
        let (payment_id, target, target_amount, path) =
            (task.payment_id, task.target, task.amount, route.path);
        send_our_proof(
            state,
            signer,
            channel_id,
            transferred,
            locks,
            |message_id, balance_proof| {
                Message::MediatedTransfer(MediatedTransfer {
                    message_id,
                    payment_id,
                    balance_proof,
                    lock,
                    initiator: me,
                    target,
                    target_amount,
                    path,
                    signature: UNSIGNED,
                })
            },
            events,
        )?;
        task.attempt = Some((channel_id, lock, route.fee));
        state.tasks.insert(secrethash, Task::Initiator(task));
        return Ok(());
    }
    state.tasks.remove(&secrethash);
    events.push(Event::PaymentFailed {
        payment_id: task.payment_id,
        token: task.token,
        reason: PaymentFailure::NoRoute,
    });
    Ok(())
}

/// Handles the mediated-payment messages.
pub(crate) fn on_message(
    state: &mut ChainState,
    sender: Address,
    message: &Message,
    signer: &dyn Signer,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    match message {
        Message::MediatedTransfer(m) => {
            on_mediated_transfer(state, sender, message, m, signer, events)
        }
        Message::AnnounceDisposed(m) => on_disposed(state, sender, message, m, signer, events),
        Message::AnnounceDisposedResponse(m) => {
            let channel_id = m.balance_proof.channel_id;
            let channel =
                state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
            if !channel.disposed.contains_key(&m.secrethash) {
                return Err(Rejection::UnknownLock(m.secrethash));
            }
            let (locks, _) = without(&channel.theirs.locks, &m.secrethash)
                .ok_or(Rejection::UnknownLock(m.secrethash))?;
            let transferred = channel.theirs.transferred;
            let channel = accept_partner_proof(
                state,
                signer,
                sender,
                message,
                &m.balance_proof,
                transferred,
                locks,
            )?;
            channel.disposed.remove(&m.secrethash);
            payer_lock_gone(state, &m.secrethash, channel_id, events);
            Ok(())
        }
        Message::SecretRequest(m) => {
            // (a payment that is over, or another kind of task: refused, which stores nothing;
            // the request carries no balance proof, so it holds nothing up)
            let Some(Task::Initiator(task)) = state.tasks.get(&m.secrethash) else {
                return Err(Rejection::UnknownPayment(m.secrethash));
            };
            // a lock expired by our block is paid to nobody: no secret for it
            let matches = sender == task.target
                && m.payment_id == task.payment_id
                && m.amount == task.amount
                && task
                    .attempt
                    .as_ref()
                    .is_some_and(|(_, lock, _)| lock.expiration == m.expiration)
                && state.block <= m.expiration;
            if !matches {
                return Err(Rejection::UnknownPayment(m.secrethash));
            }
            // a swap: only the target holds the secret; nothing to reveal
            let Some(secret) = task.secret else { return Ok(()) };
            let target = task.target;
            let reveal = unsigned(state, |message_id| {
                Message::RevealSecret(RevealSecret { message_id, secret, signature: UNSIGNED })
            });
            if let Some(Task::Initiator(task)) = state.tasks.get_mut(&m.secrethash) {
                task.secret_revealed = true;
            }
            events.push(Event::Send { recipient: target, message: reveal });
            Ok(())
        }
        Message::RevealSecret(m) => on_reveal(state, sender, m.secret, signer, events),
        Message::Unlock(m) => {
            let channel_id = m.balance_proof.channel_id;
            let channel =
                state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
            let secrethash = m.secret.hash();
            let (locks, lock) = without(&channel.theirs.locks, &secrethash)
                .ok_or(Rejection::UnknownLock(secrethash))?;
            let transferred = channel
                .theirs
                .transferred
                .checked_add(lock.amount)
                .ok_or(Rejection::InvalidAmount)?;
            let channel = accept_partner_proof(
                state,
                signer,
                sender,
                message,
                &m.balance_proof,
                transferred,
                locks,
            )?;
            channel.disposed.remove(&secrethash);
            let token = channel.token;
            // Only an unlock of the task's own lock (on its payer's channel) completes it: a
            // lock with the same hash on another channel (one we disposed of, say) pays us
            // that lock and nothing more.
            match state.tasks.get_mut(&secrethash) {
                Some(Task::Target(task)) if task.payer.0 == channel_id => {
                    events.push(Event::PaymentReceived {
                        token,
                        payment_id: task.payment_id,
                        initiator: task.initiator,
                        amount: lock.amount,
                    });
                    state.tasks.remove(&secrethash);
                }
                Some(Task::Mediator(task)) if task.payer.0 == channel_id => {
                    task.secret = Some(m.secret);
                    task.payer_done = true;
                    // paid: the payee's lock is now safe to pay off-chain if it is not yet
                    let owed = match (task.payee, task.payee_done) {
                        (Some((payee_channel, _)), false) => Some((payee_channel, task.payment_id)),
                        _ => None,
                    };
                    if let Some((payee_channel, payment_id)) = owed {
                        // (a closed payee channel is paid on chain instead, once registered)
                        let sent = usable_channel(state, &payee_channel).is_ok()
                            && send_unlock(
                                state,
                                signer,
                                payee_channel,
                                m.secret,
                                payment_id,
                                events,
                            )
                            .is_ok();
                        if let (true, Some(Task::Mediator(t))) =
                            (sent, state.tasks.get_mut(&secrethash))
                        {
                            t.payee_done = true;
                        }
                    }
                    finish_mediator(state, &secrethash, events);
                }
                _ => events.push(Event::PaymentReceived {
                    token,
                    payment_id: m.payment_id,
                    initiator: sender,
                    amount: lock.amount,
                }),
            }
            Ok(())
        }
        other => Err(Rejection::Unexpected(other.kind())),
    }
}

/// Builds and signs a message that carries no balance proof, taking a message id.
fn signed(
    state: &mut ChainState,
    signer: &dyn Signer,
    build: impl FnOnce(u64) -> Message,
) -> Result<Message, Rejection> {
    let mut message = build(state.next_message_id);
    message.sign(&state.domain, signer).map_err(|e| Rejection::Signer(e.to_string()))?;
    state.next_message_id += 1;
    Ok(message)
}

/// Builds a message that the transport session authenticates (secret request and reveal: not
/// evidence for the chain, so no ECDSA signature), taking a message id.
fn unsigned(state: &mut ChainState, build: impl FnOnce(u64) -> Message) -> Message {
    let message = build(state.next_message_id);
    state.next_message_id += 1;
    message
}

fn on_mediated_transfer(
    state: &mut ChainState,
    sender: Address,
    message: &Message,
    m: &MediatedTransfer,
    signer: &dyn Signer,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    let channel_id = m.balance_proof.channel_id;
    let channel = usable_channel(state, &channel_id)?;
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
    let over_our_limit = channel.theirs.locks.len() >= state.config.max_locks;
    let position = path_position(&m.path, state.address, sender, m.initiator, m.target)?;
    let mut locks = channel.theirs.locks.clone();
    locks.push(lock);
    let transferred = channel.theirs.transferred;
    let token =
        accept_partner_proof(state, signer, sender, message, &m.balance_proof, transferred, locks)?
            .token;

    if state.tasks.contains_key(&lock.secrethash) {
        // a loop through us, or a payment we already handle: give the lock back
        return dispose(state, signer, channel_id, lock, m.payment_id, events);
    }
    if over_our_limit || !securable(state, channel_id, &lock) {
        // Should the payer close now, its settle window would end before we could claim this
        // lock on chain (or the window is outside what we accept): never pay downstream (or
        // reveal) against it; give it back.
        if m.target == state.address {
            return dispose(state, signer, channel_id, lock, m.payment_id, events);
        }
        return give_back(state, signer, channel_id, lock, m.payment_id, events);
    }
    if m.target == state.address {
        let known = state.known_secrets.get(&lock.secrethash).copied();
        state.tasks.insert(
            lock.secrethash,
            Task::Target(TargetTask {
                payment_id: m.payment_id,
                initiator: m.initiator,
                payer: (channel_id, lock),
                amount: m.target_amount,
                secret: known,
                registered: false,
            }),
        );
        // A swap: we hold the secret already, so we reveal it to our payer at once.
        if let Some(secret) = known {
            let reveal = unsigned(state, |message_id| {
                Message::RevealSecret(RevealSecret { message_id, secret, signature: UNSIGNED })
            });
            events.push(Event::Send { recipient: sender, message: reveal });
            return Ok(());
        }
        let (payment_id, secrethash, amount, expiration) =
            (m.payment_id, lock.secrethash, m.target_amount, lock.expiration);
        let request = unsigned(state, |message_id| {
            Message::SecretRequest(SecretRequest {
                message_id,
                payment_id,
                secrethash,
                amount,
                expiration,
                signature: UNSIGNED,
            })
        });
        events.push(Event::Send { recipient: m.initiator, message: request });
        return Ok(());
    }

    // Mediate: forward to the next hop with our fee deducted, or dispose.
    let next = m.path[position + 1];
    let payee = state.channel_with(token, next);
    let fee = payee.map_or(0, |c| state.fees.policy(token, c.id).fee(lock.amount));
    let out_amount = lock.amount.checked_sub(fee).filter(|a| *a >= m.target_amount && *a > 0);
    let payee = payee.filter(|c| {
        c.usable()
            && state.config.accepts_settle_timeout(c.settle_timeout)
            && out_amount.is_some_and(|a| c.our_capacity() >= a)
            && c.ours.locks.len() < state.config.max_locks
            && c.ours.lock(&lock.secrethash).is_none()
    });
    let (Some(payee), Some(out_amount)) = (payee, out_amount) else {
        return give_back(state, signer, channel_id, lock, m.payment_id, events);
    };
    let out_lock = Lock { amount: out_amount, ..lock };
    let mut out_locks = payee.ours.locks.clone();
    out_locks.push(out_lock);
    let (payee_id, transferred) = (payee.id, payee.ours.transferred);
    let forward =
        MediatedTransfer { message_id: 0, lock: out_lock, signature: UNSIGNED, ..m.clone() };
    send_our_proof(
        state,
        signer,
        payee_id,
        transferred,
        out_locks,
        |message_id, balance_proof| {
            Message::MediatedTransfer(MediatedTransfer { message_id, balance_proof, ..forward })
        },
        events,
    )?;
    state.tasks.insert(
        lock.secrethash,
        Task::Mediator(MediatorTask {
            payment_id: m.payment_id,
            payer: (channel_id, lock),
            payee: Some((payee_id, out_lock)),
            secret: None,
            registered: false,
            payer_done: false,
            payee_done: false,
        }),
    );
    Ok(())
}

/// Our index in a mediated transfer's path, after checking the path is well formed and the
/// sender is the hop before us.
fn path_position(
    path: &[Address],
    me: Address,
    sender: Address,
    initiator: Address,
    target: Address,
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
fn dispose(
    state: &mut ChainState,
    signer: &dyn Signer,
    channel_id: ChannelId,
    lock: Lock,
    payment_id: PaymentId,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    let channel = state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
    // The disposal covers the lock in every proof of the partner's up to its latest, which
    // holds it: a later instance with the same bytes (re-sent after a removal) is not covered.
    let (partner, epoch, nonce) = (channel.partner, channel.epoch, channel.theirs.nonce);
    let message = signed(state, signer, |message_id| {
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
    if let Some(channel) = state.channels.get_mut(&channel_id) {
        channel.disposed.insert(lock.secrethash, OurDisposal { nonce, payment_id });
    }
    events.push(Event::Send { recipient: partner, message });
    Ok(())
}

/// As a mediator, gives the payer's lock back without forwarding it: a task that delivers
/// nothing (so it asks the payer for nothing) and a disposal.
fn give_back(
    state: &mut ChainState,
    signer: &dyn Signer,
    channel_id: ChannelId,
    lock: Lock,
    payment_id: PaymentId,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    state.tasks.insert(
        lock.secrethash,
        Task::Mediator(MediatorTask {
            payment_id,
            payer: (channel_id, lock),
            payee: None,
            secret: None,
            registered: false,
            payer_done: false,
            payee_done: true,
        }),
    );
    dispose(state, signer, channel_id, lock, payment_id, events)
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
            <= state.block.saturating_add(channel.settle_timeout)
}

/// After a new proof of the partner's on `channel_id`: each lock we disposed that it still
/// holds gets a disposal covering the new proof, so that the partner can safely give the
/// payment up (it does so only once a disposal covers its latest proof).
pub(crate) fn redispose(
    state: &mut ChainState,
    signer: &dyn Signer,
    channel_id: ChannelId,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    let Some(channel) = state.channels.get(&channel_id) else { return Ok(()) };
    let nonce = channel.theirs.nonce;
    let stale: Vec<(Lock, PaymentId)> = channel
        .disposed
        .iter()
        .filter(|(_, d)| d.nonce < nonce)
        .filter_map(|(hash, d)| Some((*channel.theirs.lock(hash)?, d.payment_id)))
        .collect();
    for (lock, payment_id) in stale {
        dispose(state, signer, channel_id, lock, payment_id, events)?;
    }
    Ok(())
}

/// The partner disposed a lock we sent: remove it, then reroute (initiator) or dispose our
/// own incoming lock (mediator: the path is fixed).
fn on_disposed(
    state: &mut ChainState,
    sender: Address,
    message: &Message,
    m: &AnnounceDisposed,
    signer: &dyn Signer,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    let channel =
        state.channels.get(&m.channel_id).ok_or(Rejection::UnknownChannel(m.channel_id))?;
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
    check_signed_by(state, signer, message, sender)?;
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
    send_our_proof(
        state,
        signer,
        m.channel_id,
        transferred,
        locks,
        |message_id, balance_proof| {
            Message::AnnounceDisposedResponse(AnnounceDisposedResponse {
                message_id,
                payment_id,
                balance_proof,
                secrethash,
                signature: UNSIGNED,
            })
        },
        events,
    )?;
    if let Some(channel) = state.channels.get_mut(&m.channel_id) {
        channel.their_disposals.insert(secrethash, evidence);
    }
    match state.tasks.remove(&secrethash) {
        Some(Task::Initiator(mut task))
            if task.attempt.as_ref().is_some_and(|(c, _, _)| *c == m.channel_id) =>
        {
            task.attempt = None;
            try_next_route(state, signer, task, events)?;
        }
        Some(Task::Mediator(mut task))
            if task.payee.as_ref().is_some_and(|(c, _)| *c == m.channel_id) =>
        {
            task.payee = None;
            task.payee_done = true;
            let (payer_channel, payer_lock) = task.payer;
            let payer_pending = !task.payer_done;
            state.tasks.insert(secrethash, Task::Mediator(task));
            if payer_pending {
                dispose(state, signer, payer_channel, payer_lock, payment_id, events)?;
            }
        }
        Some(other) => {
            state.tasks.insert(secrethash, other);
        }
        None => {}
    }
    Ok(())
}

fn on_reveal(
    state: &mut ChainState,
    sender: Address,
    secret: Secret,
    signer: &dyn Signer,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    // the sender is proven by the transport session, the secret by its hash
    let secrethash = secret.hash();
    match state.tasks.get(&secrethash).cloned() {
        Some(Task::Initiator(task)) => {
            let Some((channel_id, _, fee)) = task.attempt else {
                return Err(Rejection::UnknownPayment(secrethash));
            };
            let partner = state.channels.get(&channel_id).map(|c| c.partner);
            if partner != Some(sender) {
                return Err(Rejection::UnknownPayment(secrethash));
            }
            // our lock expired by our block, its secret not registered in time: it is owed to
            // nobody any more (we remove it); paying it now could pay for an undelivered payment
            let lock = task.attempt.as_ref().map(|(_, lock, _)| *lock);
            if lock.is_some_and(|l| state.block > l.expiration && !state.registered_in_time(&l)) {
                return Ok(());
            }
            send_unlock(state, signer, channel_id, secret, task.payment_id, events)?;
            state.tasks.remove(&secrethash);
            events.push(Event::PaymentSent {
                payment_id: task.payment_id,
                token: task.token,
                target: task.target,
                amount: task.amount,
                fee,
            });
        }
        Some(Task::Target(task)) => {
            if sender != task.initiator {
                return Err(Rejection::UnknownPayment(secrethash));
            }
            let payer = state
                .channels
                .get(&task.payer.0)
                .map(|c| c.partner)
                .ok_or(Rejection::UnknownChannel(task.payer.0))?;
            let reveal = unsigned(state, |message_id| {
                Message::RevealSecret(RevealSecret { message_id, secret, signature: UNSIGNED })
            });
            if let Some(Task::Target(t)) = state.tasks.get_mut(&secrethash) {
                t.secret = Some(secret);
            }
            events.push(Event::Send { recipient: payer, message: reveal });
        }
        Some(Task::Mediator(task)) => {
            let Some((payee_channel, _)) = task.payee else {
                return Err(Rejection::UnknownPayment(secrethash));
            };
            let payee = state.channels.get(&payee_channel).map(|c| c.partner);
            if payee != Some(sender) {
                return Err(Rejection::UnknownPayment(secrethash));
            }
            learn_secret_as_mediator(state, signer, secrethash, secret, events)?;
        }
        // a payment already completed (e.g. through the chain): a late reveal is harmless
        None => {}
    }
    Ok(())
}

/// A mediator learned the secret: pay the payee (it can claim on chain anyway) and reveal
/// the secret to the payer so it pays us.
fn learn_secret_as_mediator(
    state: &mut ChainState,
    signer: &dyn Signer,
    secrethash: SecretHash,
    secret: Secret,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    let Some(Task::Mediator(task)) = state.tasks.get(&secrethash).cloned() else { return Ok(()) };
    // Paying the payee off-chain is safe only while we can still get the secret registered
    // before the payer's lock expires. Too late for that (or not following the chain): unlock
    // the payee once the registration is on chain (see on_secret_registered) or the payer has
    // paid us, whichever comes first.
    let payer_lock = task.payer.1;
    let safe = state.registered_in_time(&payer_lock)
        || (state.chain_synced
            && state.block + state.config.reveal_timeout < payer_lock.expiration);
    let mut payee_paid = task.payee_done;
    if let (Some((payee_channel, _)), false) = (task.payee, task.payee_done) {
        if safe {
            send_unlock(state, signer, payee_channel, secret, task.payment_id, events)?;
            payee_paid = true;
        } else if !task.registered
            && state.block + state.config.reveal_timeout >= payer_lock.expiration
            && state.block <= payer_lock.expiration
        {
            // near expiry: register now. (Only out of sync with the chain, we wait: the payer
            // will most likely unlock, and `on_block` registers near expiry if it has not.)
            events.push(Event::Transact(crate::changes::ContractCall::RegisterSecret { secret }));
            if let Some(Task::Mediator(t)) = state.tasks.get_mut(&secrethash) {
                t.registered = true;
            }
        }
    }
    // Ask the payer to pay us (reveal) only for a payment we delivered or are bound to
    // deliver: the payee paid off-chain, or its lock registered in time on chain (it claims it
    // there). Not while a registration of ours is still on its way (it may land too late), nor
    // when our lock to the payee expired unpaid or was disposed of. Out of sync with the chain
    // we cannot know: then the payer's unlock comes first and we pay the payee on it.
    let payer = state.channels.get(&task.payer.0).map(|c| c.partner);
    let secured = task.payee.is_some_and(|(_, lock)| state.registered_in_time(&lock));
    let delivering = task.payee.is_some() && (payee_paid || secured || !state.chain_synced);
    if let (Some(payer), false, true) =
        (payer, task.payer_done || task.secret.is_some(), delivering)
    {
        let reveal = unsigned(state, |message_id| {
            Message::RevealSecret(RevealSecret { message_id, secret, signature: UNSIGNED })
        });
        events.push(Event::Send { recipient: payer, message: reveal });
    }
    if let Some(Task::Mediator(t)) = state.tasks.get_mut(&secrethash) {
        t.secret = Some(secret);
        t.payee_done = payee_paid;
    }
    finish_mediator(state, &secrethash, events);
    Ok(())
}

/// Turns our lock of `secret` on `channel_id` into a transfer.
fn send_unlock(
    state: &mut ChainState,
    signer: &dyn Signer,
    channel_id: ChannelId,
    secret: Secret,
    payment_id: PaymentId,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    let channel = state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
    let Some((locks, lock)) = without(&channel.ours.locks, &secret.hash()) else { return Ok(()) };
    let transferred = channel.ours.transferred + lock.amount;
    send_our_proof(
        state,
        signer,
        channel_id,
        transferred,
        locks,
        |message_id, balance_proof| {
            Message::Unlock(Unlock {
                message_id,
                payment_id,
                balance_proof,
                secret,
                signature: UNSIGNED,
            })
        },
        events,
    )
}

fn finish_mediator(state: &mut ChainState, secrethash: &SecretHash, events: &mut Vec<Event>) {
    if let Some(Task::Mediator(task)) = state.tasks.get(secrethash) {
        if task.payer_done && task.payee_done {
            if let (Some((_, payee_lock)), true) = (task.payee, task.secret.is_some()) {
                events.push(Event::PaymentMediated {
                    token: state.channels.get(&task.payer.0).map(|c| c.token).unwrap_or_default(),
                    secrethash: *secrethash,
                    fee: task.payer.1.amount.saturating_sub(payee_lock.amount),
                });
            }
            state.tasks.remove(secrethash);
        }
    }
}

/// The payer's lock of `secrethash` on `channel_id` left without paying us (expired, or
/// removed after our disposal).
pub(crate) fn payer_lock_gone(
    state: &mut ChainState,
    secrethash: &SecretHash,
    channel_id: ChannelId,
    events: &mut Vec<Event>,
) {
    match state.tasks.get_mut(secrethash) {
        Some(Task::Mediator(task)) if task.payer.0 == channel_id => {
            task.payer_done = true;
            finish_mediator(state, secrethash, events);
        }
        Some(Task::Target(task)) if task.payer.0 == channel_id => {
            state.tasks.remove(secrethash);
        }
        _ => {}
    }
}

/// Our lock of `secrethash` on `channel_id` left unpaid (expired).
pub(crate) fn payee_lock_gone(
    state: &mut ChainState,
    secrethash: &SecretHash,
    channel_id: ChannelId,
    events: &mut Vec<Event>,
    failure: Option<PaymentFailure>,
) {
    match state.tasks.get_mut(secrethash) {
        Some(Task::Initiator(task))
            if task.attempt.as_ref().is_some_and(|(c, _, _)| *c == channel_id) =>
        {
            let (payment_id, token) = (task.payment_id, task.token);
            state.tasks.remove(secrethash);
            if let Some(reason) = failure {
                events.push(Event::PaymentFailed { payment_id, token, reason });
            }
        }
        Some(Task::Mediator(task))
            if task.payee.as_ref().is_some_and(|(c, _)| *c == channel_id) =>
        {
            // the payee's lock left unpaid (expired): we delivered nothing, so we ask the
            // payer for nothing (see learn_secret_as_mediator)
            task.payee = None;
            task.payee_done = true;
            finish_mediator(state, secrethash, events);
        }
        _ => {}
    }
}

/// Registers on chain the secrets of locks we are owed, when the payer has not unlocked and
/// expiry is near.
pub(crate) fn on_block(state: &mut ChainState, events: &mut Vec<Event>) {
    let block = state.block;
    let reveal = state.config.reveal_timeout;
    let registered = &state.registered;
    let channels = &state.channels;
    for task in state.tasks.values_mut() {
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
            events.push(Event::Transact(crate::changes::ContractCall::RegisterSecret { secret }));
        }
    }
}

/// A secret became public on chain: locks we sent with it are owed, so unlock them off-chain;
/// locks we hold with it are safe.
pub(crate) fn on_secret_registered(
    state: &mut ChainState,
    signer: &dyn Signer,
    secret: Secret,
    events: &mut Vec<Event>,
) -> Result<(), Rejection> {
    let secrethash = secret.hash();
    let owed: Vec<(ChannelId, PaymentId)> = state
        .channels
        .values()
        .filter(|c| c.usable())
        .filter_map(|c| {
            c.ours.lock(&secrethash).filter(|l| state.registered_in_time(l)).map(|_| c.id)
        })
        .map(|id| {
            let payment_id = match state.tasks.get(&secrethash) {
                Some(Task::Initiator(t)) => t.payment_id,
                Some(Task::Mediator(t)) => t.payment_id,
                Some(Task::Target(t)) => t.payment_id,
                None => 0,
            };
            (id, payment_id)
        })
        .collect();
    for (channel_id, payment_id) in owed {
        send_unlock(state, signer, channel_id, secret, payment_id, events)?;
        match state.tasks.get(&secrethash).cloned() {
            Some(Task::Initiator(task)) => {
                state.tasks.remove(&secrethash);
                let fee = task.attempt.map_or(0, |(_, _, f)| f);
                events.push(Event::PaymentSent {
                    payment_id: task.payment_id,
                    token: task.token,
                    target: task.target,
                    amount: task.amount,
                    fee,
                });
            }
            Some(Task::Mediator(_)) => {
                if let Some(Task::Mediator(t)) = state.tasks.get_mut(&secrethash) {
                    t.payee_done = true;
                }
            }
            _ => {}
        }
    }
    match state.tasks.get_mut(&secrethash) {
        Some(Task::Mediator(t)) => {
            t.secret = Some(secret);
            finish_mediator(state, &secrethash, events);
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
