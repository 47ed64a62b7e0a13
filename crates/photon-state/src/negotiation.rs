//! Two-party negotiations: withdrawing without closing and settling cooperatively.
//!
//! Both need both signatures and no pending lock. A withdrawal carries an expiry block: once
//! it passes, the negotiation is dropped and transfers resume. A cooperative settlement's
//! signatures never expire on chain, so from the first signature on, the channel takes no more
//! transfers: it ends cooperatively, or by a unilateral close.

use crate::balance::Side;
use crate::changes::{ContractCall, Event};
use crate::channel::check_signed_by;
use crate::ctx::Ctx;
use crate::error::Rejection;
use crate::machine::usable_channel;
use crate::state::{ChainState, ChannelState, PendingSettle, PendingWithdraw};
use photon_primitives::messages::{
    Message, MessageId, MessageKind, SettleFields, SettleMessage, WithdrawFields, WithdrawMessage,
    UNSIGNED,
};
use photon_primitives::{Address, ChannelId, Signature, Signer, TokenAmount};

fn no_locks(channel: &ChannelState) -> Result<(), Rejection> {
    if channel.ours.locks.is_empty() && channel.theirs.locks.is_empty() {
        Ok(())
    } else {
        Err(Rejection::PendingLocks(channel.id))
    }
}

fn sign_digest(
    state: &ChainState, signer: &dyn Signer, message: &mut Message,
) -> Result<Signature, Rejection> {
    message.sign(&state.domain, signer)?;
    message.signature().copied().ok_or(Rejection::BadSignature)
}

/// Signs the message `build` makes with the next message id and sends it to `partner`;
/// returns our signature. Nothing changes if signing fails.
fn sign_and_send(
    cx: &mut Ctx<'_>, partner: Address, build: impl FnOnce(MessageId) -> Message,
) -> Result<Signature, Rejection> {
    let mut message = build(cx.state.next_message_id);
    let signature = sign_digest(cx.state, cx.signer, &mut message)?;
    cx.state.next_message_id += 1;
    cx.events.push(Event::Send { recipient: partner, message });
    Ok(signature)
}

/// We ask the partner to co-sign a withdrawal of `amount` of our balance.
pub(crate) fn request_withdraw(
    cx: &mut Ctx<'_>, channel_id: ChannelId, amount: TokenAmount,
) -> Result<(), Rejection> {
    let channel = usable_channel(cx.state, &channel_id)?;
    no_locks(channel)?;
    let balance = channel.our_balance();
    if amount == 0 || amount > balance {
        return Err(Rejection::InsufficientBalance { available: balance, requested: amount });
    }
    let fields = WithdrawFields {
        channel_id,
        epoch: channel.epoch,
        participant: cx.state.address,
        // what our balance was computed from: a deposit made after the signing stays ours
        participant_deposit: channel.ours.deposit,
        participant_balance: balance,
        amount,
        expiry: cx.state.block + cx.state.config.signature_validity,
    };
    let partner = channel.partner;
    let our_signature = sign_and_send(cx, partner, |message_id| {
        Message::WithdrawRequest(WithdrawMessage { message_id, fields, signature: UNSIGNED })
    })?;
    if let Some(channel) = cx.state.channels.get_mut(&channel_id) {
        channel.withdraw = Some(PendingWithdraw { fields, our_signature, requested_by_us: true });
    }
    Ok(())
}

/// We propose settling now at the current balances.
pub(crate) fn request_settle(cx: &mut Ctx<'_>, channel_id: ChannelId) -> Result<(), Rejection> {
    let channel = usable_channel(cx.state, &channel_id)?;
    no_locks(channel)?;
    let fields = settle_fields(cx.state.address, channel);
    let partner = channel.partner;
    let our_signature = sign_and_send(cx, partner, |message_id| {
        Message::SettleRequest(SettleMessage { message_id, fields, signature: UNSIGNED })
    })?;
    if let Some(channel) = cx.state.channels.get_mut(&channel_id) {
        channel.settle = Some(PendingSettle { fields, our_signature, requested_by_us: true });
    }
    Ok(())
}

/// The settle fields for the current balances, participant1 being the lower address.
fn settle_fields(me: Address, channel: &ChannelState) -> SettleFields {
    let (ours, theirs) = (channel.our_balance(), channel.partner_balance());
    let (participant1, balance1, participant2, balance2) = match channel.our_side {
        Side::One => (me, ours, channel.partner, theirs),
        Side::Two => (channel.partner, theirs, me, ours),
    };
    SettleFields {
        channel_id: channel.id,
        epoch: channel.epoch,
        participant1,
        balance1,
        participant2,
        balance2,
    }
}

/// Handles the four negotiation messages.
pub(crate) fn on_message(
    cx: &mut Ctx<'_>, sender: Address, message: &Message,
) -> Result<(), Rejection> {
    match message {
        Message::WithdrawRequest(m) => {
            let f = m.fields;
            let channel = usable_channel(cx.state, &f.channel_id)?;
            no_locks(channel)?;
            let valid = sender == channel.partner
                && f.participant == channel.partner
                && f.epoch == channel.epoch
                && f.participant_deposit == channel.theirs.deposit
                && f.participant_balance == channel.partner_balance()
                && f.amount > 0
                && f.amount <= f.participant_balance
                && f.expiry > cx.state.block;
            if !valid {
                return Err(Rejection::BadNegotiation(MessageKind::WithdrawRequest));
            }
            check_signed_by(cx.state, cx.signer, message, channel.partner)?;
            let our_signature = sign_and_send(cx, sender, |message_id| {
                Message::WithdrawResponse(WithdrawMessage {
                    message_id,
                    fields: f,
                    signature: UNSIGNED,
                })
            })?;
            if let Some(channel) = cx.state.channels.get_mut(&f.channel_id) {
                channel.withdraw =
                    Some(PendingWithdraw { fields: f, our_signature, requested_by_us: false });
            }
        }
        Message::WithdrawResponse(m) => {
            let channel = cx
                .state
                .channels
                .get(&m.fields.channel_id)
                .ok_or(Rejection::UnknownChannel(m.fields.channel_id))?;
            let pending = channel
                .withdraw
                .as_ref()
                .filter(|p| p.requested_by_us && p.fields == m.fields && sender == channel.partner)
                .ok_or(Rejection::BadNegotiation(MessageKind::WithdrawResponse))?;
            check_signed_by(cx.state, cx.signer, message, channel.partner)?;
            cx.events.push(Event::Transact(ContractCall::Withdraw {
                token: channel.token,
                partner: channel.partner,
                fields: m.fields,
                participant_signature: pending.our_signature,
                partner_signature: m.signature,
            }));
        }
        Message::SettleRequest(m) => {
            let channel = usable_channel(cx.state, &m.fields.channel_id)?;
            no_locks(channel)?;
            if sender != channel.partner || m.fields != settle_fields(cx.state.address, channel) {
                return Err(Rejection::BadNegotiation(MessageKind::SettleRequest));
            }
            check_signed_by(cx.state, cx.signer, message, channel.partner)?;
            let fields = m.fields;
            let our_signature = sign_and_send(cx, sender, |message_id| {
                Message::SettleResponse(SettleMessage { message_id, fields, signature: UNSIGNED })
            })?;
            if let Some(channel) = cx.state.channels.get_mut(&fields.channel_id) {
                channel.settle =
                    Some(PendingSettle { fields, our_signature, requested_by_us: false });
            }
        }
        Message::SettleResponse(m) => {
            let channel = cx
                .state
                .channels
                .get(&m.fields.channel_id)
                .ok_or(Rejection::UnknownChannel(m.fields.channel_id))?;
            let pending = channel
                .settle
                .as_ref()
                .filter(|p| p.requested_by_us && p.fields == m.fields && sender == channel.partner)
                .ok_or(Rejection::BadNegotiation(MessageKind::SettleResponse))?;
            check_signed_by(cx.state, cx.signer, message, channel.partner)?;
            let (signature1, signature2) = match channel.our_side {
                Side::One => (pending.our_signature, m.signature),
                Side::Two => (m.signature, pending.our_signature),
            };
            cx.events.push(Event::Transact(ContractCall::CooperativeSettle {
                token: channel.token,
                fields: m.fields,
                signature1,
                signature2,
            }));
        }
        other => return Err(Rejection::Unexpected(other.kind())),
    }
    Ok(())
}

/// Drops withdrawals whose signatures expired unmined.
pub(crate) fn on_block(state: &mut ChainState) {
    let block = state.block;
    for channel in state.channels.values_mut() {
        if channel.withdraw.as_ref().is_some_and(|w| w.fields.expiry < block) {
            channel.withdraw = None;
        }
    }
}
