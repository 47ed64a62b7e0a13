//! The initiator: offers the lock over its routes one after another (the next one when a hop
//! disposes it), answers the target's secret request with the secret, and unlocks once the
//! secret comes back from its first hop.

use super::*;

/// Starts a payment we initiate.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start_payment(
    cx: &mut Ctx<'_>, token: Address, payment_id: PaymentId,
    (target, amount, data): (Address, TokenAmount, Vec<u8>),
    (secret, secrethash): (Option<Secret>, SecretHash), routes: Vec<Route>, fee_limit: TokenAmount,
) -> Result<(), Rejection> {
    if amount == 0 || target == cx.state.address {
        return Err(Rejection::InvalidAmount);
    }
    if data.len() > MAX_DATA_LEN {
        return Err(Rejection::DataTooLong(data.len()));
    }
    if secret.is_some_and(|s| s.hash() != secrethash) {
        return Err(Rejection::SecretMismatch);
    }
    // a lock of ours with this hash still pending (a cancelled payment's, until it expires):
    // revealing its secret for a new payment would let the old lock be claimed too
    let pending = cx.state.channels.values().any(|c| c.ours.lock(&secrethash).is_some());
    if pending || cx.state.tasks.contains_key(&secrethash) {
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
        data,
    };
    try_next_route(cx, task)
}

/// Offers the lock over the first remaining route whose first hop can carry it; fails the
/// payment when none is left.
pub(super) fn try_next_route(cx: &mut Ctx<'_>, mut task: InitiatorTask) -> Result<(), Rejection> {
    let secrethash = task.secrethash;
    let offer = Offer {
        token: task.token,
        target: task.target,
        amount: task.amount,
        fee_limit: task.fee_limit,
        secrethash,
        expiration: cx.state.block + cx.state.config.lock_timeout,
        payment_id: task.payment_id,
        data: task.data.clone(),
    };
    if let Some(attempt) = lock_over_next_route(cx, &mut task.routes_left, &offer)? {
        task.attempt = Some(attempt);
        cx.state.tasks.insert(secrethash, Task::Initiator(task));
        return Ok(());
    }
    cx.state.tasks.remove(&secrethash);
    cx.events.push(Event::PaymentFailed {
        payment_id: task.payment_id,
        token: task.token,
        reason: PaymentFailure::NoRoute,
    });
    super::swap::maker_lock_failed(cx, &secrethash, "no route could carry our lock to the taker");
    Ok(())
}

/// The target asks for the secret of a payment we initiated: revealed if the request matches
/// the payment and our lock has not expired.
pub(super) fn on_secret_request(
    cx: &mut Ctx<'_>, sender: Address, m: &SecretRequest,
) -> Result<(), Rejection> {
    // (a payment that is over, or another kind of task: refused, which stores nothing;
    // the request carries no balance proof, so it holds nothing up)
    let Some(Task::Initiator(task)) = cx.state.tasks.get(&m.secrethash) else {
        return Err(Rejection::UnknownPayment(m.secrethash));
    };
    // a lock expired by our block is paid to nobody: no secret for it
    let matches = sender == task.target
        && m.payment_id == task.payment_id
        && m.amount == task.amount
        && task.attempt.as_ref().is_some_and(|(_, lock, _)| lock.expiration == m.expiration)
        && cx.state.block <= m.expiration;
    if !matches {
        return Err(Rejection::UnknownPayment(m.secrethash));
    }
    // the target was told other data than ours: a mediator changed it; no secret for that
    if m.data_hash != photon_primitives::messages::data_hash(&task.data) {
        return Err(Rejection::DataMismatch(m.secrethash));
    }
    // a swap: only the target holds the secret; nothing to reveal. A swap we make: the
    // secret is revealed only to claim the taker's lock, never for a request
    let Some(secret) = task.secret else { return Ok(()) };
    if super::swap::is_made_here(cx.state, &m.secrethash) {
        return Ok(());
    }
    let target = task.target;
    if let Some(Task::Initiator(task)) = cx.state.tasks.get_mut(&m.secrethash) {
        task.secret_revealed = true;
    }
    send_reveal(cx, target, secret);
    Ok(())
}

/// The secret came back from our first hop: unlock our lock to it; the payment is sent.
pub(super) fn on_reveal(
    cx: &mut Ctx<'_>, sender: Address, secret: Secret, task: InitiatorTask,
) -> Result<(), Rejection> {
    let secrethash = secret.hash();
    let Some((channel_id, _, fee)) = task.attempt else {
        return Err(Rejection::UnknownPayment(secrethash));
    };
    let partner = cx.state.channels.get(&channel_id).map(|c| c.partner);
    if partner != Some(sender) {
        return Err(Rejection::UnknownPayment(secrethash));
    }
    // our lock expired by our block, its secret not registered in time: it is owed to
    // nobody any more (we remove it); paying it now could pay for an undelivered payment
    let lock = task.attempt.as_ref().map(|(_, lock, _)| *lock);
    if lock.is_some_and(|l| cx.state.block > l.expiration && !cx.state.registered_in_time(&l)) {
        return Ok(());
    }
    send_unlock(cx, channel_id, secret, task.payment_id)?;
    if task.secret.is_none() {
        // locked with a hash only (a swap's leg): the secret learned here is what claims the
        // other leg; kept for the owner (`GET /api/v1/secrets/{hash}`)
        cx.state.known_secrets.insert(secrethash, secret);
    }
    sent(cx, &task, fee);
    Ok(())
}

/// The payment of `task` is done (we unlocked to our first hop, which paid `fee` on): the task
/// ends and the runtime hears of it.
pub(super) fn sent(cx: &mut Ctx<'_>, task: &InitiatorTask, fee: TokenAmount) {
    cx.state.tasks.remove(&task.secrethash);
    cx.events.push(Event::PaymentSent {
        payment_id: task.payment_id,
        token: task.token,
        target: task.target,
        amount: task.amount,
        fee,
    });
}
