//! The transition function: one state change in, events out.

use crate::balance::Side;
use crate::changes::{ChainEvent, ContractCall, Event, PaymentFailure, StateChange};
use crate::channel::{accept_partner_proof, send_our_proof, without};
use crate::ctx::Ctx;
use crate::error::Rejection;
use crate::state::{in_time, ChainState, ChannelState, ChannelStatus, EndState, Task};
use crate::{mediated, negotiation};
use photon_primitives::messages::{
    DirectTransfer, Message, Processed, RemoveExpiredLock, MAX_DATA_LEN, UNSIGNED,
};
use photon_primitives::Locksroot;
use photon_primitives::TokenAmount;
use photon_primitives::{Address, SecretHash, Signer};

/// Applies one state change. On `Ok` the state moved and the events must be carried out (in
/// order); on `Err` the state is exactly as before.
pub fn transition(
    state: &mut ChainState, change: StateChange, signer: &dyn Signer,
) -> Result<Vec<Event>, Rejection> {
    let mut events = Vec::new();
    apply(&mut Ctx { state, signer, events: &mut events }, change)?;
    Ok(events)
}

/// Applies one state change to the context's state, pushing its events.
fn apply(cx: &mut Ctx<'_>, change: StateChange) -> Result<(), Rejection> {
    match change {
        StateChange::Block(number) => on_block(cx, number)?,
        StateChange::Chain(event) => on_chain_event(cx, event)?,
        StateChange::Receive { sender, message } => {
            let channel_id = message.balance_proof().map(|bp| bp.channel_id);
            on_message(cx, sender, message)?;
            if let Some(channel_id) = channel_id {
                // a newer proof still holding a lock we disposed: the disposal must cover it
                mediated::redispose(cx, channel_id)?;
            }
        }
        StateChange::SendDirect { channel_id, payment_id, amount, data } => {
            let channel = usable_channel(cx.state, &channel_id)?;
            if amount == 0 {
                return Err(Rejection::InvalidAmount);
            }
            if data.len() > MAX_DATA_LEN {
                return Err(Rejection::DataTooLong(data.len()));
            }
            let available = channel.our_capacity();
            if amount > available {
                return Err(Rejection::InsufficientBalance { available, requested: amount });
            }
            let transferred = channel.ours.transferred + amount;
            let locks = channel.ours.locks.clone();
            let (partner, token) = (channel.partner, channel.token);
            send_our_proof(cx, channel_id, transferred, locks, |message_id, balance_proof| {
                Message::DirectTransfer(DirectTransfer {
                    message_id,
                    payment_id,
                    balance_proof,
                    data,
                    signature: UNSIGNED,
                })
            })?;
            cx.events.push(Event::PaymentSent {
                payment_id,
                token,
                target: partner,
                amount,
                fee: TokenAmount(0),
            });
        }
        StateChange::SendMediated {
            token,
            payment_id,
            target,
            amount,
            secret,
            secrethash,
            routes,
            fee_limit,
            data,
        } => {
            mediated::start_payment(
                cx,
                token,
                payment_id,
                (target, amount, data),
                (secret, secrethash),
                routes,
                fee_limit,
            )?;
        }
        StateChange::RequestWithdraw { channel_id, amount } => {
            negotiation::request_withdraw(cx, channel_id, amount)?;
        }
        StateChange::RequestCooperativeSettle { channel_id } => {
            negotiation::request_settle(cx, channel_id)?;
        }
        StateChange::KnowSecret { secret } => {
            // a lock of ours with this hash and no payment behind it is a cancelled payment's:
            // revealing the secret would let it be claimed
            let hash = secret.hash();
            let orphan = cx.state.channels.values().any(|c| c.ours.lock(&hash).is_some())
                && !cx.state.tasks.contains_key(&hash);
            if orphan {
                return Err(Rejection::DuplicateLock(hash));
            }
            mediated::claim_with_known_secret(cx, secret)?;
            cx.state.known_secrets.insert(hash, secret);
        }
        StateChange::ChainSynced(synced) => cx.state.chain_synced = synced,
        StateChange::CancelPayment { payment_id } => mediated::cancel_payment(cx, payment_id)?,
        StateChange::StartSwap {
            payment_id,
            counterparty,
            send,
            receive,
            secret,
            routes,
            fee_limit,
        } => mediated::start_swap(
            cx,
            payment_id,
            counterparty,
            (send, receive),
            secret,
            routes,
            fee_limit,
        )?,
        StateChange::ExpectSwap {
            payment_id,
            counterparty,
            send,
            receive,
            secrethash,
            routes,
            fee_limit,
            deadline,
        } => mediated::expect_swap(
            cx,
            payment_id,
            counterparty,
            (send, receive),
            secrethash,
            routes,
            fee_limit,
            deadline,
        )?,
        StateChange::CancelSwap { secrethash } => mediated::cancel_swap(cx, secrethash)?,
        StateChange::Configure(config) => {
            if let Some(problem) = config.problem() {
                return Err(Rejection::InvalidConfig(problem));
            }
            cx.state.config = config;
        }
        StateChange::SetFee { scope, policy } => {
            if !policy.is_valid() {
                return Err(Rejection::InvalidAmount);
            }
            cx.state.fees.set(scope, policy);
        }
        StateChange::Close { channel_id } => {
            let channel = cx
                .state
                .channels
                .get_mut(&channel_id)
                .ok_or(Rejection::UnknownChannel(channel_id))?;
            if channel.status != ChannelStatus::Open {
                return Err(Rejection::ChannelNotUsable(channel_id));
            }
            close(channel, cx.events);
        }
        StateChange::DeliveryRefused { channel_id, fatal, reason } => {
            // a channel settled meanwhile: nothing to mark
            let Some(channel) = cx.state.channels.get_mut(&channel_id) else { return Ok(()) };
            channel.attention = Some(reason);
            if fatal && channel.status == ChannelStatus::Open {
                close(channel, cx.events);
            }
        }
    }
    Ok(())
}

/// Closes `channel` on chain with the partner's latest proof.
fn close(channel: &mut ChannelState, events: &mut Vec<Event>) {
    channel.status = ChannelStatus::Closing;
    events.push(Event::Transact(ContractCall::Close {
        token: channel.token,
        partner: channel.partner,
        proof: submittable(&channel.theirs),
    }));
}

/// The partner's latest proof, as the contract takes it.
pub(crate) fn submittable(end: &EndState) -> Option<crate::state::SignedProof> {
    end.proof.clone()
}

pub(crate) fn usable_channel<'a>(
    state: &'a ChainState, channel_id: &photon_primitives::ChannelId,
) -> Result<&'a ChannelState, Rejection> {
    let channel = state.channels.get(channel_id).ok_or(Rejection::UnknownChannel(*channel_id))?;
    // A cooperative settlement we signed never expires on chain: the channel takes no more
    // transfers, for good (the sender's node closes on the refusal). A withdrawal expires:
    // until then, "not yet".
    if channel.status != ChannelStatus::Open || channel.settle.is_some() {
        return Err(Rejection::ChannelNotUsable(*channel_id));
    }
    if !channel.usable() {
        return Err(Rejection::ChannelBusy(*channel_id));
    }
    Ok(channel)
}

fn ack(sender: Address, message: &Message, events: &mut Vec<Event>) {
    events.push(Event::Send {
        recipient: sender,
        message: Message::Processed(Processed { message_id: message.message_id() }),
    });
}

fn on_message(cx: &mut Ctx<'_>, sender: Address, message: Message) -> Result<(), Rejection> {
    if let Some(id) = message.channel_id() {
        if cx.state.settled.contains(&id) && !cx.state.channels.contains_key(&id) {
            return Err(Rejection::ChannelSettled(id));
        }
    }
    match &message {
        Message::Processed(_) => return Ok(()), // delivery bookkeeping belongs to the transport
        Message::DirectTransfer(m) => {
            let channel = usable_channel(cx.state, &m.balance_proof.channel_id)?;
            let paid = m.balance_proof.transferred_amount.checked_sub(channel.theirs.transferred);
            let amount = match paid {
                Some(a) if a > 0 => a,
                _ => {
                    return Err(Rejection::WrongTransferredAmount {
                        got: m.balance_proof.transferred_amount,
                        expected: channel.theirs.transferred + TokenAmount(1),
                    })
                }
            };
            let locks = channel.theirs.locks.clone();
            let transferred = m.balance_proof.transferred_amount;
            let channel =
                accept_partner_proof(cx, sender, &message, &m.balance_proof, transferred, locks)?;
            let token = channel.token;
            cx.events.push(Event::PaymentReceived {
                token,
                payment_id: m.payment_id,
                initiator: sender,
                amount,
                data: m.data.clone(),
            });
        }
        Message::RemoveExpiredLock(m) => {
            let channel = cx
                .state
                .channels
                .get(&m.balance_proof.channel_id)
                .ok_or(Rejection::UnknownChannel(m.balance_proof.channel_id))?;
            let (locks, lock) = without(&channel.theirs.locks, &m.secrethash)
                .ok_or(Rejection::UnknownLock(m.secrethash))?;
            // judged by our confirmed block: a sender ahead of us hears "not yet"
            if cx.state.registered_in_time(&lock) {
                return Err(Rejection::LockRegistered(m.secrethash));
            }
            if cx.state.block <= lock.expiration {
                return Err(Rejection::LockNotExpired(m.secrethash));
            }
            let (channel_id, transferred) = (channel.id, channel.theirs.transferred);
            let channel =
                accept_partner_proof(cx, sender, &message, &m.balance_proof, transferred, locks)?;
            channel.disposed.remove(&m.secrethash);
            mediated::payer_lock_gone(cx, &m.secrethash, channel_id);
        }
        Message::MediatedTransfer(_)
        | Message::Unlock(_)
        | Message::AnnounceDisposed(_)
        | Message::AnnounceDisposedResponse(_)
        | Message::SecretRequest(_)
        | Message::RevealSecret(_) => mediated::on_message(cx, sender, &message)?,
        Message::WithdrawRequest(_)
        | Message::WithdrawResponse(_)
        | Message::SettleRequest(_)
        | Message::SettleResponse(_) => negotiation::on_message(cx, sender, &message)?,
    }
    ack(sender, &message, cx.events);
    Ok(())
}

fn on_block(cx: &mut Ctx<'_>, number: u64) -> Result<(), Rejection> {
    if number <= cx.state.block {
        return Ok(()); // blocks only move forward; a repeat is harmless
    }
    cx.state.block = number;
    // Our locks that expired unclaimed leave the lock set.
    let expired: Vec<_> = cx
        .state
        .channels
        .values()
        .filter(|c| c.status == ChannelStatus::Open)
        .flat_map(|c| {
            c.ours
                .locks
                .iter()
                .filter(|l| {
                    // a margin past the expiration: the partner's confirmed block may lag ours
                    number > l.expiration.saturating_add(cx.state.config.expiry_margin)
                        && !cx.state.registered_in_time(l)
                })
                .map(move |l| (c.id, l.secrethash))
        })
        .collect();
    for (channel_id, secrethash) in expired {
        remove_expired_lock(cx, channel_id, secrethash)?;
    }
    mediated::on_block(cx);
    negotiation::on_block(cx.state);
    // Closed channels: unlock what we are owed near the end of the window, settle after it.
    let reveal = cx.state.config.reveal_timeout;
    let punish = cx.state.config.punish_blocks;
    let (registered, tasks, swaps) = (&cx.state.registered, &cx.state.tasks, &cx.state.swaps);
    // a secret we know for a lock we hold: its registration may still be on its way
    let known = |h: &SecretHash| {
        tasks.get(h).is_some_and(|t| t.payer_lock_secret().is_some())
            || mediated::maker_knows(swaps, h)
    };
    for channel in cx.state.channels.values_mut() {
        let ChannelStatus::Closed { block, unlock_sent, settle_sent } = &mut channel.status else {
            continue;
        };
        let window_end = *block + channel.settle_timeout.blocks();
        if !*unlock_sent && number + reveal >= window_end && number <= window_end {
            // The contract takes one unlock per channel side: wait for registrations we sent
            // that are not on chain yet, but no later than half the reveal timeout before the
            // window ends (the unlock must still be mined inside it).
            let awaiting = channel.theirs.locks.iter().any(|l| {
                known(&l.secrethash)
                    && !in_time(registered, l)
                    && number <= l.expiration
                    && !channel.disposed.contains_key(&l.secrethash)
            });
            if awaiting && number + (reveal / 2).max(1) < window_end {
                continue;
            }
            // a delegate may have unlocked this locksroot already: go on from its state
            let root = photon_primitives::lock::locksroot(&channel.theirs.locks);
            let prior = match channel.their_unlock {
                Some((unlocked, state)) if unlocked == root => state,
                _ => Default::default(),
            };
            let claimable = channel.theirs.locks.iter().enumerate().any(|(i, l)| {
                in_time(registered, l)
                    && !channel.disposed.contains_key(&l.secrethash)
                    && !prior.claimed.bit(i)
            });
            if claimable {
                cx.events.push(Event::Transact(ContractCall::Unlock {
                    token: channel.token,
                    partner: channel.partner,
                    locks: channel.theirs.locks.clone(),
                    skip: crate::state::skip_mask(&channel.theirs.locks, &channel.disposed),
                    prior,
                }));
            }
            *unlock_sent = true;
        }
        if !*settle_sent && number > window_end + punish {
            cx.events.push(Event::Transact(ContractCall::Settle {
                token: channel.token,
                partner: channel.partner,
            }));
            *settle_sent = true;
        }
    }
    Ok(())
}

/// The partner claimed some of our locks on chain (or a claim was reversed): if one it
/// claimed is a lock it had signed away as disposed, the call that reverses the claim (one at
/// a time: each reversal changes the unlock state the next one must name).
fn punish_obsolete_unlock(
    channel: &mut ChannelState, root: photon_primitives::B256, locks: Vec<photon_primitives::Lock>,
    unlock: crate::state::UnlockState,
) -> Option<ContractCall> {
    use photon_primitives::lock::locksroot;
    // The locks: read from the transaction by the follower, or, when it could not (a call
    // through another contract), what we had pending when the partner disposed.
    let locks = if locksroot(&locks) == Locksroot(root) {
        locks
    } else {
        channel
            .their_disposals
            .values()
            .find(|d| locksroot(&d.locks) == Locksroot(root))?
            .locks
            .clone()
    };
    let (index, disposal) = locks.iter().enumerate().find_map(|(index, lock)| {
        let disposal = channel.their_disposals.get(&lock.secrethash)?;
        let open = index < 256 && unlock.claimed.bit(index) && !unlock.voided.bit(index);
        (open && disposal.lock == *lock && !channel.punished.contains(&lock.secrethash))
            .then_some((index, disposal))
    })?;
    let call = ContractCall::Punish {
        token: channel.token,
        cheater: channel.partner,
        locks: locks.clone(),
        prior: unlock,
        index: index as u64,
        disposal_nonce: disposal.nonce,
        signature: disposal.signature,
    };
    channel.punished.insert(locks[index].secrethash);
    Some(call)
}

/// Sends a RemoveExpiredLock for one of our locks and fails the payment it belonged to.
fn remove_expired_lock(
    cx: &mut Ctx<'_>, channel_id: photon_primitives::ChannelId,
    secrethash: photon_primitives::SecretHash,
) -> Result<(), Rejection> {
    let channel =
        cx.state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
    let Some((locks, _)) = without(&channel.ours.locks, &secrethash) else { return Ok(()) };
    let transferred = channel.ours.transferred;
    send_our_proof(cx, channel_id, transferred, locks, |message_id, balance_proof| {
        Message::RemoveExpiredLock(RemoveExpiredLock {
            message_id,
            balance_proof,
            secrethash,
            signature: UNSIGNED,
        })
    })?;
    mediated::payee_lock_gone(cx, &secrethash, channel_id, Some(PaymentFailure::LockExpired));
    Ok(())
}

fn on_chain_event(cx: &mut Ctx<'_>, event: ChainEvent) -> Result<(), Rejection> {
    match event {
        ChainEvent::ChannelOpened {
            channel_id,
            token,
            participant1,
            participant2,
            settle_timeout,
            epoch,
        } => {
            cx.state.network.insert(channel_id, (token, participant1, participant2));
            cx.state.settled.remove(&channel_id);
            let (our_side, partner) = if participant1 == cx.state.address {
                (Side::One, participant2)
            } else if participant2 == cx.state.address {
                (Side::Two, participant1)
            } else {
                return Ok(()); // not ours
            };
            cx.state.channels.entry(channel_id).or_insert_with(|| ChannelState {
                id: channel_id,
                token,
                partner,
                our_side,
                settle_timeout,
                epoch,
                status: ChannelStatus::Open,
                ours: EndState::default(),
                theirs: EndState::default(),
                disposed: Default::default(),
                withdraw: None,
                settle: None,
                their_disposals: Default::default(),
                punished: Default::default(),
                their_unlock: None,
                attention: None,
            });
        }
        ChainEvent::Deposit { channel_id, participant, total } => {
            let Some(channel) = cx.state.channels.get_mut(&channel_id) else { return Ok(()) };
            if participant == cx.state.address {
                channel.ours.deposit = channel.ours.deposit.max(total);
            } else if participant == channel.partner {
                channel.theirs.deposit = channel.theirs.deposit.max(total);
            }
        }
        ChainEvent::Withdrawn { channel_id, deposit1, deposit2, epoch, .. } => {
            let Some(channel) = cx.state.channels.get_mut(&channel_id) else { return Ok(()) };
            // chain events can be seen twice (a restart re-reads a block): an epoch already
            // entered must not wipe the transfers made in it since
            if epoch <= channel.epoch {
                return Ok(());
            }
            let (ours, theirs) = match channel.our_side {
                Side::One => (deposit1, deposit2),
                Side::Two => (deposit2, deposit1),
            };
            channel.epoch = epoch;
            channel.ours = EndState { deposit: ours, ..EndState::default() };
            channel.theirs = EndState { deposit: theirs, ..EndState::default() };
            channel.disposed.clear();
            channel.their_disposals.clear(); // signed for the old epoch: void on chain
            channel.withdraw = None;
        }
        ChainEvent::ChannelClosed { channel_id, closer, block } => {
            cx.state.network.remove(&channel_id);
            let Some(channel) = cx.state.channels.get_mut(&channel_id) else { return Ok(()) };
            if matches!(channel.status, ChannelStatus::Closed { .. }) {
                return Ok(()); // seen already
            }
            channel.status =
                ChannelStatus::Closed { block, unlock_sent: false, settle_sent: false };
            channel.withdraw = None;
            channel.settle = None;
            if closer != cx.state.address {
                if let Some(proof) = submittable(&channel.theirs) {
                    cx.events.push(Event::Transact(ContractCall::UpdateBalanceProof {
                        token: channel.token,
                        partner: channel.partner,
                        proof,
                    }));
                }
            }
        }
        ChainEvent::ChannelUnlocked { channel_id, sender, locksroot, locks, state: unlock } => {
            let Some(channel) = cx.state.channels.get_mut(&channel_id) else { return Ok(()) };
            if sender == channel.partner {
                // the partner's locks, claimed for us (by us or our delegate)
                channel.their_unlock = Some((Locksroot(locksroot.0), unlock));
                return Ok(());
            }
            if sender != cx.state.address || !matches!(channel.status, ChannelStatus::Closed { .. })
            {
                return Ok(());
            }
            if let Some(call) = punish_obsolete_unlock(channel, locksroot.0, locks, unlock) {
                cx.events.push(Event::Transact(call));
            }
        }
        ChainEvent::ChannelSettled { channel_id } => {
            cx.state.network.remove(&channel_id);
            if cx.state.channels.remove(&channel_id).is_some() {
                cx.state.settled.insert(channel_id);
            }
            // our payments over it are over: paid on chain if their secret was registered in
            // time, failed otherwise
            type Tasks = std::collections::BTreeMap<photon_primitives::SecretHash, Task>;
            let (over, left): (Tasks, Tasks) = std::mem::take(&mut cx.state.tasks)
                .into_iter()
                .partition(|(_, task)| mediated::task_uses(task, &channel_id));
            cx.state.tasks = left;
            for task in over.into_values() {
                let Task::Initiator(t) = task else { continue };
                let Some((_, lock, fee)) = t.attempt else { continue };
                cx.events.push(if cx.state.registered_in_time(&lock) {
                    Event::PaymentSent {
                        payment_id: t.payment_id,
                        token: t.token,
                        target: t.target,
                        amount: t.amount,
                        fee,
                    }
                } else {
                    Event::PaymentFailed {
                        payment_id: t.payment_id,
                        token: t.token,
                        reason: PaymentFailure::LockExpired,
                    }
                });
            }
        }
        ChainEvent::SecretRegistered { secret, block } => {
            let secrethash = secret.hash();
            cx.state.registered.entry(secrethash).or_insert(block);
            mediated::on_secret_registered(cx, secret)?;
        }
    }
    Ok(())
}

/// The role a task plays, for logs.
pub fn task_role(task: &Task) -> &'static str {
    match task {
        Task::Initiator(_) => "initiator",
        Task::Mediator(_) => "mediator",
        Task::Target(_) => "target",
    }
}
