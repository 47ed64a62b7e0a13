//! Balance-proof bookkeeping of one channel: checking the partner's next proof, making ours.
//!
//! Every function here either fails without touching the state or commits a change whole.

use crate::changes::Event;
use crate::ctx::Ctx;
use crate::error::Rejection;
use crate::state::{ChainState, ChannelState, SignedProof};
use photon_primitives::lock::{locked_amount, locksroot};
use photon_primitives::messages::{BalanceProofFields, Message, MessageId};
use photon_primitives::{Address, ChannelId, Lock, Signer, TokenAmount};

/// What the partner's next proof must say: the new transferred amount and lock set.
pub(crate) struct Expected<'a> {
    pub(crate) transferred: TokenAmount,
    pub(crate) locks: &'a [Lock],
}

/// Checks that `message` (carrying `bp`) from `sender` is the partner's exact next balance
/// proof producing `expected`, signed by the partner and within its means.
pub(crate) fn check_partner_proof(
    state: &ChainState, verifier: &dyn Signer, channel: &ChannelState, sender: Address,
    message: &Message, bp: &BalanceProofFields, expected: &Expected<'_>,
) -> Result<SignedProof, Rejection> {
    if sender != channel.partner {
        return Err(Rejection::WrongSender { sender, partner: channel.partner });
    }
    if bp.epoch != channel.epoch {
        return Err(Rejection::WrongEpoch { got: bp.epoch, expected: channel.epoch });
    }
    let next = channel.theirs.nonce.next();
    if bp.nonce != next {
        return Err(Rejection::WrongNonce { got: bp.nonce, expected: next });
    }
    if bp.transferred_amount != expected.transferred {
        return Err(Rejection::WrongTransferredAmount {
            got: bp.transferred_amount,
            expected: expected.transferred,
        });
    }
    let locked = locked_amount(expected.locks).ok_or(Rejection::InvalidAmount)?;
    if bp.locked_amount != locked || bp.locksroot != locksroot(expected.locks) {
        return Err(Rejection::LocksMismatch);
    }
    // The partner cannot commit more than it owns: deposit + received.
    let means = channel.theirs.deposit.saturating_add(channel.ours.transferred);
    let committed = expected.transferred.checked_add(locked).ok_or(Rejection::InvalidAmount)?;
    if committed > means {
        return Err(Rejection::InsufficientBalance {
            available: means.saturating_sub(channel.theirs.transferred + channel.theirs.locked()),
            requested: committed
                .saturating_sub(channel.theirs.transferred + channel.theirs.locked()),
        });
    }
    // one additional hash serves both the signature check and the stored proof
    let additional_hash = message.additional_hash();
    let signature = *message.signature().ok_or(Rejection::BadSignature)?;
    let digest = state.domain.balance_proof(&bp.typed(additional_hash));
    match verifier.recover(&digest, &signature) {
        Ok(signer) if signer == channel.partner => {}
        _ => return Err(Rejection::BadSignature),
    }
    Ok(SignedProof { fields: *bp, additional_hash, signature })
}

/// Checks that `message` is signed by `expected` for our domain.
pub(crate) fn check_signed_by(
    state: &ChainState, verifier: &dyn Signer, message: &Message, expected: Address,
) -> Result<(), Rejection> {
    match message.signer_via(&state.domain, verifier) {
        Ok(Some(signer)) if signer == expected => Ok(()),
        _ => Err(Rejection::BadSignature),
    }
}

/// Checks the partner's next proof (see [`check_partner_proof`]) on the channel it names and
/// commits it: the partner's end becomes `transferred` and `locks`. Returns the channel.
#[allow(clippy::too_many_arguments)]
pub(crate) fn accept_partner_proof<'s>(
    cx: &'s mut Ctx<'_>, sender: Address, message: &Message, bp: &BalanceProofFields,
    transferred: TokenAmount, locks: Vec<Lock>,
) -> Result<&'s mut ChannelState, Rejection> {
    let channel =
        cx.state.channels.get(&bp.channel_id).ok_or(Rejection::UnknownChannel(bp.channel_id))?;
    let expected = Expected { transferred, locks: &locks };
    let proof = check_partner_proof(cx.state, cx.signer, channel, sender, message, bp, &expected)?;
    let channel = cx
        .state
        .channels
        .get_mut(&bp.channel_id)
        .ok_or(Rejection::UnknownChannel(bp.channel_id))?;
    apply_partner_proof(channel, proof, locks);
    Ok(channel)
}

/// Commits a checked partner proof.
pub(crate) fn apply_partner_proof(
    channel: &mut ChannelState, proof: SignedProof, locks: Vec<Lock>,
) {
    channel.theirs.nonce = proof.fields.nonce;
    channel.theirs.transferred = proof.fields.transferred_amount;
    channel.theirs.locks = locks;
    channel.theirs.proof = Some(proof);
}

/// Makes, signs and commits our next balance proof on `channel_id` with these amounts and
/// locks, wrapping it in the message `build` makes; queues the message for the partner.
pub(crate) fn send_our_proof(
    cx: &mut Ctx<'_>, channel_id: ChannelId, transferred: TokenAmount, locks: Vec<Lock>,
    build: impl FnOnce(MessageId, BalanceProofFields) -> Message,
) -> Result<(), Rejection> {
    let channel =
        cx.state.channels.get(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
    let fields = channel.ours.next_fields(channel.id, channel.epoch, transferred, &locks);
    let partner = channel.partner;
    let message_id = cx.state.next_message_id;
    let mut message = build(message_id, fields);
    let additional_hash = message.additional_hash();
    let digest = cx.state.domain.balance_proof(&fields.typed(additional_hash));
    let signature = cx.signer.sign_digest(&digest)?;
    message.set_signature(signature);
    // committed from here on
    cx.state.next_message_id += 1;
    let channel =
        cx.state.channels.get_mut(&channel_id).ok_or(Rejection::UnknownChannel(channel_id))?;
    channel.ours.nonce = fields.nonce;
    channel.ours.transferred = transferred;
    channel.ours.locks = locks;
    channel.ours.proof = Some(SignedProof { fields, additional_hash, signature });
    cx.events.push(Event::Send { recipient: partner, message });
    Ok(())
}

/// `locks` without the lock of `secrethash`, and that lock.
pub(crate) fn without(
    locks: &[Lock], secrethash: &photon_primitives::SecretHash,
) -> Option<(Vec<Lock>, Lock)> {
    let lock = *locks.iter().find(|l| &l.secrethash == secrethash)?;
    Some((locks.iter().filter(|l| &l.secrethash != secrethash).copied().collect(), lock))
}
