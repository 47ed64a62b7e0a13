//! The mediator: forwards a lock with its fee deducted (or gives it back), pays the payee
//! once the secret is safe to act on, asks its payer to pay only for what it delivered, and
//! registers the secret on chain when its payer would otherwise let the lock expire.

use super::*;

/// Forwards the payer's lock (accepted on `channel_id`) to the hop after us (we are at
/// `position` in the path), with our fee deducted; gives it back when no channel can carry it.
pub(super) fn forward(
    cx: &mut Ctx<'_>, m: &MediatedTransfer, channel_id: ChannelId, token: Address, position: usize,
) -> Result<(), Rejection> {
    let lock = m.lock;
    // Mediate: forward to the next hop with our fee deducted, or dispose.
    let next = m.path[position + 1];
    let payee = cx.state.channel_with(token, next);
    let fee = payee.map_or(TokenAmount::ZERO, |c| {
        let total = c.ours.deposit.saturating_add(c.theirs.deposit);
        cx.state.fees.policy(token, c.id).fee_at(lock.amount, c.our_capacity(), total)
    });
    let out_amount = lock.amount.checked_sub(fee).filter(|a| *a >= m.target_amount && *a > 0);
    let payee = payee.filter(|c| {
        c.usable()
            && cx.state.config.accepts_settle_timeout(c.settle_timeout)
            && out_amount.is_some_and(|a| c.our_capacity() >= a)
            && c.ours.locks.len() < cx.state.config.max_locks
            && c.ours.lock(&lock.secrethash).is_none()
    });
    let (Some(payee), Some(out_amount)) = (payee, out_amount) else {
        return give_back(cx, channel_id, lock, m.payment_id);
    };
    let out_lock = Lock { amount: out_amount, ..lock };
    let mut out_locks = payee.ours.locks.clone();
    out_locks.push(out_lock);
    let (payee_id, transferred) = (payee.id, payee.ours.transferred);
    let forward =
        MediatedTransfer { message_id: 0, lock: out_lock, signature: UNSIGNED, ..m.clone() };
    send_our_proof(cx, payee_id, transferred, out_locks, |message_id, balance_proof| {
        Message::MediatedTransfer(MediatedTransfer { message_id, balance_proof, ..forward })
    })?;
    cx.state.tasks.insert(
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

/// As a mediator, gives the payer's lock back without forwarding it: a task that delivers
/// nothing (so it asks the payer for nothing) and a disposal.
pub(super) fn give_back(
    cx: &mut Ctx<'_>, channel_id: ChannelId, lock: Lock, payment_id: PaymentId,
) -> Result<(), Rejection> {
    cx.state.tasks.insert(
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
    dispose(cx, channel_id, lock, payment_id)
}

/// The payee revealed the secret to us.
pub(super) fn on_reveal(
    cx: &mut Ctx<'_>, sender: Address, secret: Secret, task: MediatorTask,
) -> Result<(), Rejection> {
    let secrethash = secret.hash();
    let Some((payee_channel, _)) = task.payee else {
        return Err(Rejection::UnknownPayment(secrethash));
    };
    let payee = cx.state.channels.get(&payee_channel).map(|c| c.partner);
    if payee != Some(sender) {
        return Err(Rejection::UnknownPayment(secrethash));
    }
    learn_secret_as_mediator(cx, secrethash, secret)?;
    Ok(())
}

/// A mediator learned the secret: pay the payee (it can claim on chain anyway) and reveal
/// the secret to the payer so it pays us.
pub(super) fn learn_secret_as_mediator(
    cx: &mut Ctx<'_>, secrethash: SecretHash, secret: Secret,
) -> Result<(), Rejection> {
    let Some(Task::Mediator(task)) = cx.state.tasks.get(&secrethash).cloned() else {
        return Ok(());
    };
    // Paying the payee off-chain is safe only while we can still get the secret registered
    // before the payer's lock expires. Too late for that (or not following the chain): unlock
    // the payee once the registration is on chain (see on_secret_registered) or the payer has
    // paid us, whichever comes first.
    let payer_lock = task.payer.1;
    let safe = cx.state.registered_in_time(&payer_lock)
        || (cx.state.chain_synced
            && cx.state.block + cx.state.config.reveal_timeout < payer_lock.expiration);
    let mut payee_paid = task.payee_done;
    if let (Some((payee_channel, _)), false) = (task.payee, task.payee_done) {
        if safe {
            send_unlock(cx, payee_channel, secret, task.payment_id)?;
            payee_paid = true;
        } else if !task.registered
            && cx.state.block + cx.state.config.reveal_timeout >= payer_lock.expiration
            && cx.state.block <= payer_lock.expiration
        {
            // near expiry: register now. (Only out of sync with the chain, we wait: the payer
            // will most likely unlock, and `on_block` registers near expiry if it has not.)
            cx.events
                .push(Event::Transact(crate::changes::ContractCall::RegisterSecret { secret }));
            if let Some(Task::Mediator(t)) = cx.state.tasks.get_mut(&secrethash) {
                t.registered = true;
            }
        }
    }
    // Ask the payer to pay us (reveal) only for a payment we delivered or are bound to
    // deliver: the payee paid off-chain, or its lock registered in time on chain (it claims it
    // there). Not while a registration of ours is still on its way (it may land too late), nor
    // when our lock to the payee expired unpaid or was disposed of. Out of sync with the chain
    // we cannot know: then the payer's unlock comes first and we pay the payee on it.
    let payer = cx.state.channels.get(&task.payer.0).map(|c| c.partner);
    let secured = task.payee.is_some_and(|(_, lock)| cx.state.registered_in_time(&lock));
    let delivering = task.payee.is_some() && (payee_paid || secured || !cx.state.chain_synced);
    if let (Some(payer), false, true) =
        (payer, task.payer_done || task.secret.is_some(), delivering)
    {
        send_reveal(cx, payer, secret);
    }
    if let Some(Task::Mediator(t)) = cx.state.tasks.get_mut(&secrethash) {
        t.secret = Some(secret);
        t.payee_done = payee_paid;
    }
    super::swap::taker_learned(cx, &secrethash, secret);
    finish_mediator(cx, &secrethash);
    Ok(())
}

/// Our payer unlocked the task's lock: we are paid, so the payee's lock is now safe to pay
/// off-chain if it is not yet.
pub(super) fn on_unlock(cx: &mut Ctx<'_>, secret: Secret) {
    let secrethash = secret.hash();
    let Some(Task::Mediator(task)) = cx.state.tasks.get_mut(&secrethash) else { return };
    task.secret = Some(secret);
    task.payer_done = true;
    super::swap::taker_learned(cx, &secrethash, secret);
    let Some(Task::Mediator(task)) = cx.state.tasks.get_mut(&secrethash) else { return };
    // paid: the payee's lock is now safe to pay off-chain if it is not yet
    let owed = match (task.payee, task.payee_done) {
        (Some((payee_channel, _)), false) => Some((payee_channel, task.payment_id)),
        _ => None,
    };
    if let Some((payee_channel, payment_id)) = owed {
        // (a closed payee channel is paid on chain instead, once registered)
        let sent = usable_channel(cx.state, &payee_channel).is_ok()
            && send_unlock(cx, payee_channel, secret, payment_id).is_ok();
        if let (true, Some(Task::Mediator(t))) = (sent, cx.state.tasks.get_mut(&secrethash)) {
            t.payee_done = true;
        }
    }
    finish_mediator(cx, &secrethash);
}

/// The payee disposed the lock we forwarded: the payment is not delivered; give the payer's
/// lock back (unless the payer already paid).
pub(super) fn payee_disposed(
    cx: &mut Ctx<'_>, mut task: MediatorTask, payment_id: PaymentId,
) -> Result<(), Rejection> {
    let secrethash = task.payer.1.secrethash;
    task.payee = None;
    task.payee_done = true;
    let (payer_channel, payer_lock) = task.payer;
    let payer_pending = !task.payer_done;
    cx.state.tasks.insert(secrethash, Task::Mediator(task));
    if payer_pending {
        dispose(cx, payer_channel, payer_lock, payment_id)?;
    }
    Ok(())
}

/// Ends a mediator task once both its payer and payee sides are done.
pub(super) fn finish_mediator(cx: &mut Ctx<'_>, secrethash: &SecretHash) {
    if let Some(Task::Mediator(task)) = cx.state.tasks.get(secrethash) {
        if task.payer_done && task.payee_done {
            if cx.state.swaps.contains_key(secrethash) {
                let task = task.clone();
                super::swap::taker_finished(cx, &task);
                cx.state.tasks.remove(secrethash);
                return;
            }
            if let (Some((_, payee_lock)), true) = (task.payee, task.secret.is_some()) {
                cx.events.push(Event::PaymentMediated {
                    token: cx
                        .state
                        .channels
                        .get(&task.payer.0)
                        .map(|c| c.token)
                        .unwrap_or_default(),
                    secrethash: *secrethash,
                    fee: task.payer.1.amount.saturating_sub(payee_lock.amount),
                });
            }
            cx.state.tasks.remove(secrethash);
        }
    }
}
