//! The target: asks the initiator for the secret of a lock it was sent (or, in a swap,
//! reveals the secret it holds), passes the secret to its payer, and is paid by its unlock.

use super::*;

/// A lock for us arrived (accepted into the channel, securable): the payment's task, and the
/// secret request to the initiator (or the reveal to our payer when we know the secret).
pub(super) fn on_transfer(
    cx: &mut Ctx<'_>, sender: Address, m: &MediatedTransfer, channel_id: ChannelId,
) -> Result<(), Rejection> {
    let lock = m.lock;
    let known = cx.state.known_secrets.get(&lock.secrethash).copied();
    cx.state.tasks.insert(
        lock.secrethash,
        Task::Target(TargetTask {
            payment_id: m.payment_id,
            initiator: m.initiator,
            payer: (channel_id, lock),
            amount: m.target_amount,
            secret: known,
            registered: false,
            data: m.data.clone(),
        }),
    );
    // A swap: we hold the secret already, so we reveal it to our payer at once.
    if let Some(secret) = known {
        send_reveal(cx, sender, secret);
        return Ok(());
    }
    let (payment_id, secrethash, amount, expiration) =
        (m.payment_id, lock.secrethash, m.target_amount, lock.expiration);
    let data_hash = photon_primitives::messages::data_hash(&m.data);
    let request = unsigned(cx.state, |message_id| {
        Message::SecretRequest(SecretRequest {
            message_id,
            payment_id,
            secrethash,
            amount,
            expiration,
            data_hash,
            signature: UNSIGNED,
        })
    });
    cx.events.push(Event::Send { recipient: m.initiator, message: request });
    Ok(())
}

/// We were given the secret of a payment to us that waits for it (its initiator holds only
/// the hash: a swap across chains, whose secret comes from the other chain): reveal it to our
/// payer, who then unlocks, while there is time to register it should the payer not.
pub(crate) fn claim_with_known_secret(cx: &mut Ctx<'_>, secret: Secret) -> Result<(), Rejection> {
    let secrethash = secret.hash();
    let Some(Task::Target(task)) = cx.state.tasks.get(&secrethash) else { return Ok(()) };
    if task.secret.is_some() {
        return Ok(());
    }
    let (channel_id, lock) = task.payer;
    let channel =
        cx.state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
    if channel.theirs.lock(&secrethash) != Some(&lock) {
        return Ok(()); // gone already (expired, given back)
    }
    if lock.expiration <= cx.state.block.saturating_add(cx.state.config.reveal_timeout) {
        // revealing now could hand the secret to the payer's side with no time left to
        // register it for our own lock
        return Err(Rejection::ClaimTooLate(secrethash));
    }
    let payer = channel.partner;
    reveal_to_payer(cx, payer, secret);
    Ok(())
}

/// We know the secret of our task: keep it, and reveal it to our payer, who then unlocks.
fn reveal_to_payer(cx: &mut Ctx<'_>, payer: Address, secret: Secret) {
    if let Some(Task::Target(t)) = cx.state.tasks.get_mut(&secret.hash()) {
        t.secret = Some(secret);
    }
    send_reveal(cx, payer, secret);
}

/// The initiator revealed the secret: reveal it to our payer, who then unlocks.
pub(super) fn on_reveal(
    cx: &mut Ctx<'_>, sender: Address, secret: Secret, task: TargetTask,
) -> Result<(), Rejection> {
    let secrethash = secret.hash();
    if sender != task.initiator {
        return Err(Rejection::UnknownPayment(secrethash));
    }
    let payer = cx
        .state
        .channels
        .get(&task.payer.0)
        .map(|c| c.partner)
        .ok_or(Rejection::UnknownChannel(task.payer.0))?;
    reveal_to_payer(cx, payer, secret);
    Ok(())
}

/// Our payer unlocked the task's lock: we are paid.
pub(super) fn on_unlock(cx: &mut Ctx<'_>, token: Address, lock: Lock) {
    let secrethash = lock.secrethash;
    let Some(Task::Target(task)) = cx.state.tasks.remove(&secrethash) else { return };
    cx.events.push(Event::PaymentReceived {
        token,
        payment_id: task.payment_id,
        initiator: task.initiator,
        amount: lock.amount,
        data: task.data,
    });
}
