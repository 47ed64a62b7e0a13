//! The wire messages of the protocol.
//!
//! Messages that change a channel carry a [`BalanceProofFields`] and one signature: the
//! sender's EIP-712 signature of the [`BalanceProof`] whose
//! `additionalHash` is [`Message::additional_hash`], the hash of everything else in the
//! message. So the signed message itself is what the receiver submits on chain. Withdraw,
//! cooperative settle and lock disposal are signed with the EIP-712 structs the contract
//! verifies. Messages that are never evidence on chain — [`SecretRequest`], [`RevealSecret`]
//! and [`Processed`] — carry no ECDSA signature (the field stays zero): the transport session
//! authenticates their sender, and a revealed secret proves itself by its hash. That halves the
//! signatures of a mediated payment.
//!
//! The byte encoding lives in [`crate::codec`].

use crate::eip712::{self, BalanceProof, Domain};
use crate::lock::Lock;
use crate::signer::{recover, Signature, SignatureError, Signer};
use crate::types::{
    Address, BlockNumber, ChannelId, Epoch, Nonce, Secret, SecretHash, TokenAmount,
};
use alloy::primitives::{keccak256, B256};

/// Identifies one message of a sender, for acknowledgement and duplicate detection.
pub type MessageId = u64;
/// Identifies one payment end to end.
pub type PaymentId = u64;

/// Most hops a mediated transfer's path may list (initiator and target included).
pub const MAX_PATH_LEN: usize = 32;

/// Most bytes of [`DirectTransfer::data`] and [`MediatedTransfer::data`]: what a payer tells
/// the target with its payment (an invoice number, a memo).
pub const MAX_DATA_LEN: usize = 256;

/// The channel-state part of a balance-proof message (the channel id and epoch bind it to one
/// channel epoch; the EIP-712 domain binds it to one chain and contract).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct BalanceProofFields {
    /// The channel.
    pub channel_id: ChannelId,
    /// The channel's epoch.
    pub epoch: Epoch,
    /// `+1` on every change.
    pub nonce: Nonce,
    /// Everything the sender has paid in this epoch.
    pub transferred_amount: TokenAmount,
    /// Sum of the sender's pending locks.
    pub locked_amount: TokenAmount,
    /// Root of the sender's pending locks.
    pub locksroot: crate::types::Locksroot,
}

impl BalanceProofFields {
    /// The typed struct that is signed, with the message's additional hash.
    pub fn typed(&self, additional_hash: B256) -> BalanceProof {
        BalanceProof::new(
            self.channel_id,
            self.epoch,
            self.nonce,
            self.transferred_amount,
            self.locked_amount,
            self.locksroot,
            additional_hash,
        )
    }
}

/// A payment straight to the channel partner.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DirectTransfer {
    /// Message id.
    pub message_id: MessageId,
    /// Payment id.
    pub payment_id: PaymentId,
    /// The sender's new balance proof (transferred amount raised by the payment).
    pub balance_proof: BalanceProofFields,
    /// What the payer tells the payee with the payment: at most [`MAX_DATA_LEN`] bytes,
    /// signed with the balance proof (part of the additional hash when not empty).
    pub data: Vec<u8>,
    /// Signature of the balance proof.
    pub signature: Signature,
}

/// A hash-locked payment, to the partner or through it towards `target`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct MediatedTransfer {
    /// Message id.
    pub message_id: MessageId,
    /// Payment id.
    pub payment_id: PaymentId,
    /// The sender's new balance proof (the lock added to its pending locks).
    pub balance_proof: BalanceProofFields,
    /// The new lock: `amount` is what this hop pays, fees of the remaining mediators included.
    pub lock: Lock,
    /// Who pays.
    pub initiator: Address,
    /// Who is paid.
    pub target: Address,
    /// What the target must receive.
    pub target_amount: TokenAmount,
    /// The whole route, initiator first, target last.
    pub path: Vec<Address>,
    /// What the initiator tells the target: at most [`MAX_DATA_LEN`] bytes, which every
    /// mediator forwards unchanged (signed by each hop with its balance proof, as part of the
    /// additional hash when not empty). Mediators can read it: it is no secret channel.
    pub data: Vec<u8>,
    /// Signature of the balance proof.
    pub signature: Signature,
}

/// The payer turns a lock into a transfer: the lock leaves the pending set and its amount
/// joins the transferred amount.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Unlock {
    /// Message id.
    pub message_id: MessageId,
    /// Payment id.
    pub payment_id: PaymentId,
    /// The sender's new balance proof.
    pub balance_proof: BalanceProofFields,
    /// The secret of the lock.
    pub secret: Secret,
    /// Signature of the balance proof.
    pub signature: Signature,
}

/// The payer drops a lock that expired unclaimed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RemoveExpiredLock {
    /// Message id.
    pub message_id: MessageId,
    /// The sender's new balance proof.
    pub balance_proof: BalanceProofFields,
    /// The lock removed.
    pub secrethash: SecretHash,
    /// Signature of the balance proof.
    pub signature: Signature,
}

/// A receiver gives up a lock it cannot forward. Signed as the contract's `LockDisposal`:
/// claiming the lock later on chain from a balance proof of the sender with a nonce up to
/// `nonce` gets the claim reversed (and the channel forfeited if the signer claimed it itself).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AnnounceDisposed {
    /// Message id.
    pub message_id: MessageId,
    /// Payment id.
    pub payment_id: PaymentId,
    /// The channel.
    pub channel_id: ChannelId,
    /// The channel's epoch.
    pub epoch: Epoch,
    /// The nonce of the lock sender's latest balance proof the disposer had: the disposal
    /// covers the lock in every proof up to it.
    pub nonce: Nonce,
    /// The lock given up.
    pub lock: Lock,
    /// Signature of the `LockDisposal`.
    pub signature: Signature,
}

/// The payer's answer to [`AnnounceDisposed`]: a balance proof without the lock.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AnnounceDisposedResponse {
    /// Message id.
    pub message_id: MessageId,
    /// Payment id.
    pub payment_id: PaymentId,
    /// The sender's new balance proof.
    pub balance_proof: BalanceProofFields,
    /// The lock removed.
    pub secrethash: SecretHash,
    /// Signature of the balance proof.
    pub signature: Signature,
}

/// The target asks the initiator for the secret, confirming what it was offered.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SecretRequest {
    /// Message id.
    pub message_id: MessageId,
    /// Payment id.
    pub payment_id: PaymentId,
    /// The lock's hash.
    pub secrethash: SecretHash,
    /// What the target was offered.
    pub amount: TokenAmount,
    /// The lock's expiration.
    pub expiration: BlockNumber,
    /// [`data_hash`] of the data the target received with the lock: the initiator reveals
    /// the secret only if it is the payment's, so no mediator can change what the target is
    /// told and still have the payment complete.
    pub data_hash: B256,
    /// Unused (zero): the transport session authenticates the sender.
    pub signature: Signature,
}

/// The hash a [`SecretRequest`] carries of a transfer's data: keccak256 of it, zero for none
/// (what a request of wire version 2, which had no such field, reads as).
pub fn data_hash(data: &[u8]) -> B256 {
    if data.is_empty() {
        B256::ZERO
    } else {
        keccak256(data)
    }
}

/// A secret, revealed backwards along the route.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RevealSecret {
    /// Message id.
    pub message_id: MessageId,
    /// The secret.
    pub secret: Secret,
    /// Unused (zero): the transport session authenticates the sender.
    pub signature: Signature,
}

/// The fields both sides sign for a withdrawal (the contract's `Withdraw`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct WithdrawFields {
    /// The channel.
    pub channel_id: ChannelId,
    /// The channel's epoch.
    pub epoch: Epoch,
    /// Who withdraws.
    pub participant: Address,
    /// Its on-chain deposit the balance was computed from (a deposit made after the signing
    /// stays with its depositor).
    pub participant_deposit: TokenAmount,
    /// Its balance before the withdrawal.
    pub participant_balance: TokenAmount,
    /// How much.
    pub amount: TokenAmount,
    /// Last block the withdrawal may be mined in.
    pub expiry: BlockNumber,
}

/// A participant asks its partner to co-sign a withdrawal; a response carries the partner's
/// signature of the same fields.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct WithdrawMessage {
    /// Message id.
    pub message_id: MessageId,
    /// What is signed.
    pub fields: WithdrawFields,
    /// The sender's signature of the `Withdraw`.
    pub signature: Signature,
}

/// The fields both sides sign for a cooperative settlement (the contract's
/// `CooperativeSettle`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct SettleFields {
    /// The channel.
    pub channel_id: ChannelId,
    /// The channel's epoch.
    pub epoch: Epoch,
    /// The lower address.
    pub participant1: Address,
    /// Its final balance.
    pub balance1: TokenAmount,
    /// The higher address.
    pub participant2: Address,
    /// Its final balance.
    pub balance2: TokenAmount,
}

/// A participant proposes (request) or accepts (response) a cooperative settlement.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SettleMessage {
    /// Message id.
    pub message_id: MessageId,
    /// What is signed.
    pub fields: SettleFields,
    /// The sender's signature of the `CooperativeSettle`.
    pub signature: Signature,
}

/// Acknowledges a message; authenticated by the transport session.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Processed {
    /// The id of the acknowledged message.
    pub message_id: MessageId,
}

/// Every message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    /// See [`DirectTransfer`].
    DirectTransfer(DirectTransfer),
    /// See [`MediatedTransfer`].
    MediatedTransfer(MediatedTransfer),
    /// See [`Unlock`].
    Unlock(Unlock),
    /// See [`RemoveExpiredLock`].
    RemoveExpiredLock(RemoveExpiredLock),
    /// See [`AnnounceDisposed`].
    AnnounceDisposed(AnnounceDisposed),
    /// See [`AnnounceDisposedResponse`].
    AnnounceDisposedResponse(AnnounceDisposedResponse),
    /// See [`SecretRequest`].
    SecretRequest(SecretRequest),
    /// See [`RevealSecret`].
    RevealSecret(RevealSecret),
    /// A withdrawal proposed.
    WithdrawRequest(WithdrawMessage),
    /// A withdrawal co-signed.
    WithdrawResponse(WithdrawMessage),
    /// A cooperative settlement proposed.
    SettleRequest(SettleMessage),
    /// A cooperative settlement co-signed.
    SettleResponse(SettleMessage),
    /// See [`Processed`].
    Processed(Processed),
}

/// A tag per message kind; also the type byte of the wire encoding.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[repr(u8)]
pub enum MessageKind {
    /// [`DirectTransfer`]
    DirectTransfer = 1,
    /// [`MediatedTransfer`]
    MediatedTransfer = 2,
    /// [`Unlock`]
    Unlock = 3,
    /// [`RemoveExpiredLock`]
    RemoveExpiredLock = 4,
    /// [`AnnounceDisposed`]
    AnnounceDisposed = 5,
    /// [`AnnounceDisposedResponse`]
    AnnounceDisposedResponse = 6,
    /// [`SecretRequest`]
    SecretRequest = 7,
    /// [`RevealSecret`]
    RevealSecret = 8,
    /// withdraw request
    WithdrawRequest = 9,
    /// withdraw response
    WithdrawResponse = 10,
    /// settle request
    SettleRequest = 11,
    /// settle response
    SettleResponse = 12,
    /// [`Processed`]
    Processed = 13,
}

impl Message {
    /// The kind of this message.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::DirectTransfer(_) => MessageKind::DirectTransfer,
            Self::MediatedTransfer(_) => MessageKind::MediatedTransfer,
            Self::Unlock(_) => MessageKind::Unlock,
            Self::RemoveExpiredLock(_) => MessageKind::RemoveExpiredLock,
            Self::AnnounceDisposed(_) => MessageKind::AnnounceDisposed,
            Self::AnnounceDisposedResponse(_) => MessageKind::AnnounceDisposedResponse,
            Self::SecretRequest(_) => MessageKind::SecretRequest,
            Self::RevealSecret(_) => MessageKind::RevealSecret,
            Self::WithdrawRequest(_) => MessageKind::WithdrawRequest,
            Self::WithdrawResponse(_) => MessageKind::WithdrawResponse,
            Self::SettleRequest(_) => MessageKind::SettleRequest,
            Self::SettleResponse(_) => MessageKind::SettleResponse,
            Self::Processed(_) => MessageKind::Processed,
        }
    }

    /// The message id.
    pub fn message_id(&self) -> MessageId {
        match self {
            Self::DirectTransfer(m) => m.message_id,
            Self::MediatedTransfer(m) => m.message_id,
            Self::Unlock(m) => m.message_id,
            Self::RemoveExpiredLock(m) => m.message_id,
            Self::AnnounceDisposed(m) => m.message_id,
            Self::AnnounceDisposedResponse(m) => m.message_id,
            Self::SecretRequest(m) => m.message_id,
            Self::RevealSecret(m) => m.message_id,
            Self::WithdrawRequest(m) | Self::WithdrawResponse(m) => m.message_id,
            Self::SettleRequest(m) | Self::SettleResponse(m) => m.message_id,
            Self::Processed(m) => m.message_id,
        }
    }

    /// The channel a message is about; `None` for the secret messages, which are about a
    /// payment. The transport keeps the messages of one channel in order.
    pub fn channel_id(&self) -> Option<ChannelId> {
        match self {
            Self::AnnounceDisposed(m) => Some(m.channel_id),
            Self::WithdrawRequest(m) | Self::WithdrawResponse(m) => Some(m.fields.channel_id),
            Self::SettleRequest(m) | Self::SettleResponse(m) => Some(m.fields.channel_id),
            other => other.balance_proof().map(|bp| bp.channel_id),
        }
    }

    /// The balance proof a channel-changing message carries.
    pub fn balance_proof(&self) -> Option<&BalanceProofFields> {
        match self {
            Self::DirectTransfer(m) => Some(&m.balance_proof),
            Self::MediatedTransfer(m) => Some(&m.balance_proof),
            Self::Unlock(m) => Some(&m.balance_proof),
            Self::RemoveExpiredLock(m) => Some(&m.balance_proof),
            Self::AnnounceDisposedResponse(m) => Some(&m.balance_proof),
            _ => None,
        }
    }

    /// The hash of everything a balance-proof message carries besides its balance proof and
    /// signature: the `additionalHash` of the signed balance proof. Zero for other messages.
    ///
    /// A transfer's `data`, when not empty, is hashed too, behind a different first byte
    /// (the kind with its high bit set) and before the path, so that the hashed bytes still
    /// read one way only; a transfer without data hashes exactly as before data existed
    /// (wire version 2), so the proofs in older logs stay valid.
    pub fn additional_hash(&self) -> B256 {
        let mut buf = Vec::with_capacity(128);
        buf.push(self.kind() as u8);
        let with_data = |buf: &mut Vec<u8>, data: &[u8]| {
            if !data.is_empty() {
                buf[0] |= DATA_TAG;
                // at most MAX_DATA_LEN bytes, which a u16 holds; a longer one (refused by
                // the decoder) is hashed with a saturated length and all its bytes
                buf.extend_from_slice(&u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes());
                buf.extend_from_slice(data);
            }
        };
        match self {
            Self::DirectTransfer(m) => {
                buf.extend_from_slice(&m.message_id.to_be_bytes());
                buf.extend_from_slice(&m.payment_id.to_be_bytes());
                with_data(&mut buf, &m.data);
            }
            Self::MediatedTransfer(m) => {
                buf.extend_from_slice(&m.message_id.to_be_bytes());
                buf.extend_from_slice(&m.payment_id.to_be_bytes());
                buf.extend_from_slice(&m.lock.encode());
                buf.extend_from_slice(m.initiator.as_slice());
                buf.extend_from_slice(m.target.as_slice());
                buf.extend_from_slice(&m.target_amount.0.to_be_bytes());
                with_data(&mut buf, &m.data);
                for hop in &m.path {
                    buf.extend_from_slice(hop.as_slice());
                }
            }
            Self::Unlock(m) => {
                buf.extend_from_slice(&m.message_id.to_be_bytes());
                buf.extend_from_slice(&m.payment_id.to_be_bytes());
                buf.extend_from_slice(m.secret.0.as_slice());
            }
            Self::RemoveExpiredLock(m) => {
                buf.extend_from_slice(&m.message_id.to_be_bytes());
                buf.extend_from_slice(m.secrethash.0.as_slice());
            }
            Self::AnnounceDisposedResponse(m) => {
                buf.extend_from_slice(&m.message_id.to_be_bytes());
                buf.extend_from_slice(&m.payment_id.to_be_bytes());
                buf.extend_from_slice(m.secrethash.0.as_slice());
            }
            _ => return B256::ZERO,
        }
        keccak256(buf)
    }

    /// The digest the sender signs, or `None` for [`Processed`].
    pub fn signing_digest(&self, domain: &Domain) -> Option<B256> {
        if let Some(bp) = self.balance_proof() {
            return Some(domain.balance_proof(&bp.typed(self.additional_hash())));
        }
        Some(match self {
            Self::AnnounceDisposed(m) => domain.digest(&eip712::LockDisposal {
                channelId: m.channel_id.0,
                epoch: m.epoch.0,
                nonce: m.nonce.0,
                lockHash: m.lock.hash(),
            }),
            Self::WithdrawRequest(m) | Self::WithdrawResponse(m) => {
                domain.digest(&m.fields.typed())
            }
            Self::SettleRequest(m) | Self::SettleResponse(m) => domain.digest(&m.fields.typed()),
            _ => return None,
        })
    }

    /// Puts a signature made elsewhere (e.g. over [`Message::signing_digest`]) in place; a
    /// no-op for [`Processed`].
    pub fn set_signature(&mut self, signature: Signature) {
        if let Some(slot) = self.signature_mut() {
            *slot = signature;
        }
    }

    fn signature_mut(&mut self) -> Option<&mut Signature> {
        match self {
            Self::DirectTransfer(m) => Some(&mut m.signature),
            Self::MediatedTransfer(m) => Some(&mut m.signature),
            Self::Unlock(m) => Some(&mut m.signature),
            Self::RemoveExpiredLock(m) => Some(&mut m.signature),
            Self::AnnounceDisposed(m) => Some(&mut m.signature),
            Self::AnnounceDisposedResponse(m) => Some(&mut m.signature),
            Self::SecretRequest(m) => Some(&mut m.signature),
            Self::RevealSecret(m) => Some(&mut m.signature),
            Self::WithdrawRequest(m) | Self::WithdrawResponse(m) => Some(&mut m.signature),
            Self::SettleRequest(m) | Self::SettleResponse(m) => Some(&mut m.signature),
            Self::Processed(_) => None,
        }
    }

    /// The signature, or `None` for [`Processed`].
    pub fn signature(&self) -> Option<&Signature> {
        match self {
            Self::DirectTransfer(m) => Some(&m.signature),
            Self::MediatedTransfer(m) => Some(&m.signature),
            Self::Unlock(m) => Some(&m.signature),
            Self::RemoveExpiredLock(m) => Some(&m.signature),
            Self::AnnounceDisposed(m) => Some(&m.signature),
            Self::AnnounceDisposedResponse(m) => Some(&m.signature),
            Self::SecretRequest(m) => Some(&m.signature),
            Self::RevealSecret(m) => Some(&m.signature),
            Self::WithdrawRequest(m) | Self::WithdrawResponse(m) => Some(&m.signature),
            Self::SettleRequest(m) | Self::SettleResponse(m) => Some(&m.signature),
            Self::Processed(_) => None,
        }
    }

    /// Signs the message in place (a no-op for [`Processed`]).
    pub fn sign(&mut self, domain: &Domain, signer: &dyn Signer) -> Result<(), SignatureError> {
        if let Some(digest) = self.signing_digest(domain) {
            let signature = signer.sign_digest(&digest)?;
            if let Some(slot) = self.signature_mut() {
                *slot = signature;
            }
        }
        Ok(())
    }

    /// Who signed the message; `None` for [`Processed`].
    pub fn signer(&self, domain: &Domain) -> Result<Option<Address>, SignatureError> {
        match (self.signing_digest(domain), self.signature()) {
            (Some(digest), Some(sig)) => recover(&digest, sig).map(Some),
            _ => Ok(None),
        }
    }

    /// [`Message::signer`], recovering through `verifier` (see [`Signer::recover`]).
    pub fn signer_via(
        &self, domain: &Domain, verifier: &dyn Signer,
    ) -> Result<Option<Address>, SignatureError> {
        match (self.signing_digest(domain), self.signature()) {
            (Some(digest), Some(sig)) => verifier.recover(&digest, sig).map(Some),
            _ => Ok(None),
        }
    }
}

impl WithdrawFields {
    /// The typed struct both sides sign.
    pub fn typed(&self) -> eip712::Withdraw {
        eip712::Withdraw {
            channelId: self.channel_id.0,
            epoch: self.epoch.0,
            participant: self.participant,
            participantDeposit: self.participant_deposit.0,
            participantBalance: self.participant_balance.0,
            amount: self.amount.0,
            expiry: self.expiry,
        }
    }
}

impl SettleFields {
    /// The typed struct both sides sign.
    pub fn typed(&self) -> eip712::CooperativeSettle {
        eip712::CooperativeSettle {
            channelId: self.channel_id.0,
            epoch: self.epoch.0,
            participant1: self.participant1,
            balance1: self.balance1.0,
            participant2: self.participant2,
            balance2: self.balance2.0,
        }
    }
}

/// Set in the first hashed byte of a transfer that carries data (message kinds stay below it).
const DATA_TAG: u8 = 0x80;
const _: () = assert!((MessageKind::Processed as u8) < DATA_TAG);

/// An all-zero signature, to fill before [`Message::sign`].
pub const UNSIGNED: Signature = Signature([0u8; 65]);

/// Messages serialize as their wire encoding (see [`crate::codec`]).
impl serde::Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.encode())
    }
}

impl<'de> serde::Deserialize<'de> for Message {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes: Vec<u8> = serde::Deserialize::deserialize(deserializer)?;
        Self::decode(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::LocalSigner;

    #[test]
    fn signed_messages_recover_their_signer_and_bind_every_field() {
        let signer = LocalSigner::from_bytes(&[5u8; 32]).unwrap();
        let domain = Domain::new(1, Address::repeat_byte(9));
        let mut m = Message::MediatedTransfer(MediatedTransfer {
            message_id: 1,
            payment_id: 2,
            balance_proof: BalanceProofFields {
                nonce: Nonce(1),
                locked_amount: TokenAmount(10),
                ..Default::default()
            },
            lock: Lock {
                amount: TokenAmount(10),
                expiration: 100,
                secrethash: SecretHash(B256::repeat_byte(3)),
            },
            initiator: signer.address(),
            target: Address::repeat_byte(4),
            target_amount: TokenAmount(9),
            path: vec![signer.address(), Address::repeat_byte(4)],
            data: b"order 17".to_vec(),
            signature: UNSIGNED,
        });
        m.sign(&domain, &signer).unwrap();
        assert_eq!(m.signer(&domain).unwrap(), Some(signer.address()));
        // changing a field outside the balance proof changes the signer: the data too
        let original = m.clone();
        if let Message::MediatedTransfer(t) = &mut m {
            t.target_amount = TokenAmount(10);
        }
        assert_ne!(m.signer(&domain).unwrap(), Some(signer.address()));
        m = original;
        if let Message::MediatedTransfer(t) = &mut m {
            t.data = b"order 18".to_vec();
        }
        assert_ne!(m.signer(&domain).unwrap(), Some(signer.address()));
        if let Message::MediatedTransfer(t) = &mut m {
            t.data.clear();
        }
        assert_ne!(m.signer(&domain).unwrap(), Some(signer.address()));
    }
}
