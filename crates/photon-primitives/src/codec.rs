//! The versioned binary encoding of the wire [`Message`]s.
//!
//! Every encoded message is a 6-byte header followed by the body of its kind:
//!
//! ```text
//!   MAGIC "PHTN" (4) ‖ VERSION (1) ‖ kind (1, `MessageKind as u8`) ‖ body
//! ```
//!
//! A body is the message's fields in declaration order, each fixed width and big endian:
//!
//! | field type                                                       | bytes |
//! |------------------------------------------------------------------|-------|
//! | `u64`: ids, [`Epoch`], [`Nonce`], [`BlockNumber`](crate::types::BlockNumber) | 8 |
//! | [`TokenAmount`] (`u128`)              | 16    |
//! | [`Address`]                                                      | 20    |
//! | `B256`, [`ChannelId`], [`Secret`], [`SecretHash`] | 32 |
//! | [`Signature`] (`r ‖ s ‖ v`)                                      | 65    |
//! | [`Lock`], as [`Lock::encode`] packs it                           | 56    |
//! | [`BalanceProofFields`]: channel id, epoch, nonce, transferred amount, locked amount, locksroot | 112 |
//! | [`WithdrawFields`], in declaration order                         | 116   |
//! | [`SettleFields`], in declaration order                           | 112   |
//! | [`MediatedTransfer::path`]: hop count `n` ≤ [`MAX_PATH_LEN`], then the hops | 1 + 20·n |
//! | a transfer's `data`: length `d` ≤ [`MAX_DATA_LEN`] (`u16`), then the bytes | 2 + d |
//!
//! So the bodies are (header not included):
//!
//! | kind | message                       | body bytes   |
//! |-----:|-------------------------------|--------------|
//! |    1 | [`DirectTransfer`]            | 195 + d      |
//! |    2 | [`MediatedTransfer`]          | 308 + 20·n + d |
//! |    3 | [`Unlock`]                    | 225          |
//! |    4 | [`RemoveExpiredLock`]         | 217          |
//! |    5 | [`AnnounceDisposed`]          | 185          |
//! |    6 | [`AnnounceDisposedResponse`]  | 225          |
//! |    7 | [`SecretRequest`]             | 169          |
//! |    8 | [`RevealSecret`]              | 105          |
//! | 9/10 | withdraw request/response ([`WithdrawMessage`]) | 189 |
//! |11/12 | settle request/response ([`SettleMessage`])     | 185 |
//! |   13 | [`Processed`]                 | 8            |
//!
//! The encoding is canonical: a message has exactly one encoding per version, and
//! [`Message::decode`] accepts nothing else (no trailing bytes, no other version). Decoding never panics,
//! whatever the input, and allocates only for a path or data, once its length is checked
//! against [`MAX_PATH_LEN`] or [`MAX_DATA_LEN`] and the input is known to hold that much.
//!
//! Version 3 added the transfers' `data` (the field after the path, before the signature)
//! and the secret request's `data_hash` (after the expiration). [`Message::decode`] still
//! reads version 2, which the logs of earlier builds hold: the same bodies without those
//! fields, read as empty data and a zero data hash (a transfer without data has version 2's
//! additional hash, so the signatures stay valid). It writes version 3 only; so a version 2
//! encoding decodes to a message whose own encoding is version 3's (each version's encoding
//! is canonical).
//!
//! ```
//! use photon_primitives::codec::{DecodeError, MAGIC};
//! use photon_primitives::messages::{Message, Processed};
//!
//! let message = Message::Processed(Processed { message_id: 7 });
//! let bytes = message.encode();
//! assert_eq!(&bytes[..4], &MAGIC);
//! assert_eq!(Message::decode(&bytes), Ok(message));
//! assert_eq!(Message::decode(&bytes[..10]).unwrap_err().to_string(),
//!            "truncated message: message_id needs 8 bytes at offset 6, 4 left");
//! assert!(matches!(Message::decode(b"PHTN\x04\x0d"), Err(DecodeError::UnsupportedVersion(4))));
//! ```

use crate::lock::{Lock, LOCK_SIZE};
use crate::messages::{
    AnnounceDisposed, AnnounceDisposedResponse, BalanceProofFields, DirectTransfer,
    MediatedTransfer, Message, MessageKind, Processed, RemoveExpiredLock, RevealSecret,
    SecretRequest, SettleFields, SettleMessage, Unlock, WithdrawFields, WithdrawMessage,
    MAX_DATA_LEN, MAX_PATH_LEN,
};
use crate::signer::Signature;
use crate::types::Locksroot;
use crate::types::TokenAmount;
use crate::types::{Address, ChannelId, Secret, SecretHash};
use crate::types::{Epoch, Nonce};
use alloy::primitives::B256;

/// The first four bytes of every encoded message.
pub const MAGIC: [u8; 4] = *b"PHTN";
/// The encoding version this build writes.
pub const VERSION: u8 = 3;
/// The earlier version this build still reads: version 3 without the transfers' `data`.
pub const VERSION_2: u8 = 2;

/// Magic, version and kind byte.
const HEADER_LEN: usize = MAGIC.len() + 2;

// The encoder writes an over-long path's hop count as `u8::MAX`, which must stay invalid.
const _: () = assert!(MAX_PATH_LEN < u8::MAX as usize);

/// Why bytes are not an encoded [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is shorter than the 6-byte header.
    #[error("message too short: {0} bytes, the header alone is {HEADER_LEN}")]
    TooShort(usize),
    /// The input does not start with [`MAGIC`].
    #[error("bad magic {0:02x?}, expected \"PHTN\"")]
    BadMagic([u8; 4]),
    /// The version byte is neither [`VERSION`] nor [`VERSION_2`].
    #[error(
        "unsupported encoding version {0}, only versions {VERSION_2} and {VERSION} are supported"
    )]
    UnsupportedVersion(u8),
    /// The kind byte is no [`MessageKind`].
    #[error("unknown message kind {0}")]
    UnknownKind(u8),
    /// The input ends inside a field.
    #[error(
        "truncated message: {field} needs {needed} bytes at offset {offset}, {available} left"
    )]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where the field starts, from the start of the input.
        offset: usize,
        /// The field's size.
        needed: usize,
        /// What was left of the input.
        available: usize,
    },
    /// The input goes on after the message's last field.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// A mediated transfer's path lists more than [`MAX_PATH_LEN`] hops.
    #[error("mediated transfer path of {0} hops, more than the maximum of {MAX_PATH_LEN}")]
    PathTooLong(usize),
    /// A transfer's data is longer than [`MAX_DATA_LEN`] bytes.
    #[error("transfer data of {0} bytes, more than the maximum of {MAX_DATA_LEN}")]
    DataTooLong(usize),
}

impl TryFrom<u8> for MessageKind {
    type Error = DecodeError;

    fn try_from(byte: u8) -> Result<Self, DecodeError> {
        Ok(match byte {
            1 => Self::DirectTransfer,
            2 => Self::MediatedTransfer,
            3 => Self::Unlock,
            4 => Self::RemoveExpiredLock,
            5 => Self::AnnounceDisposed,
            6 => Self::AnnounceDisposedResponse,
            7 => Self::SecretRequest,
            8 => Self::RevealSecret,
            9 => Self::WithdrawRequest,
            10 => Self::WithdrawResponse,
            11 => Self::SettleRequest,
            12 => Self::SettleResponse,
            13 => Self::Processed,
            other => return Err(DecodeError::UnknownKind(other)),
        })
    }
}

impl Message {
    /// The versioned binary encoding of the message (see the [module docs](crate::codec)).
    ///
    /// Keeping a [`MediatedTransfer`]'s path within [`MAX_PATH_LEN`] hops and a transfer's
    /// data within [`MAX_DATA_LEN`] bytes is the caller's job: a longer one is still encoded
    /// whole (with a saturated count), and [`Message::decode`] then refuses it with
    /// [`DecodeError::PathTooLong`] or [`DecodeError::DataTooLong`].
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(HEADER_LEN + body_capacity(self)));
        w.bytes(&MAGIC);
        w.u8(VERSION);
        w.u8(self.kind() as u8);
        match self {
            Self::DirectTransfer(m) => {
                w.u64(m.message_id);
                w.u64(m.payment_id);
                w.balance_proof(&m.balance_proof);
                w.data(&m.data);
                w.signature(&m.signature);
            }
            Self::MediatedTransfer(m) => {
                w.u64(m.message_id);
                w.u64(m.payment_id);
                w.balance_proof(&m.balance_proof);
                w.lock(&m.lock);
                w.address(&m.initiator);
                w.address(&m.target);
                w.u128(m.target_amount.0);
                // Saturates rather than wraps: an over-long path then fails to decode with
                // `PathTooLong` instead of being misread.
                w.u8(u8::try_from(m.path.len()).unwrap_or(u8::MAX));
                for hop in &m.path {
                    w.address(hop);
                }
                w.data(&m.data);
                w.signature(&m.signature);
            }
            Self::Unlock(m) => {
                w.u64(m.message_id);
                w.u64(m.payment_id);
                w.balance_proof(&m.balance_proof);
                w.b256(&m.secret.0);
                w.signature(&m.signature);
            }
            Self::RemoveExpiredLock(m) => {
                w.u64(m.message_id);
                w.balance_proof(&m.balance_proof);
                w.b256(&m.secrethash.0);
                w.signature(&m.signature);
            }
            Self::AnnounceDisposed(m) => {
                w.u64(m.message_id);
                w.u64(m.payment_id);
                w.b256(&m.channel_id.0);
                w.u64(m.epoch.0);
                w.u64(m.nonce.0);
                w.lock(&m.lock);
                w.signature(&m.signature);
            }
            Self::AnnounceDisposedResponse(m) => {
                w.u64(m.message_id);
                w.u64(m.payment_id);
                w.balance_proof(&m.balance_proof);
                w.b256(&m.secrethash.0);
                w.signature(&m.signature);
            }
            Self::SecretRequest(m) => {
                w.u64(m.message_id);
                w.u64(m.payment_id);
                w.b256(&m.secrethash.0);
                w.u128(m.amount.0);
                w.u64(m.expiration);
                w.b256(&m.data_hash);
                w.signature(&m.signature);
            }
            Self::RevealSecret(m) => {
                w.u64(m.message_id);
                w.b256(&m.secret.0);
                w.signature(&m.signature);
            }
            Self::WithdrawRequest(m) | Self::WithdrawResponse(m) => {
                w.u64(m.message_id);
                w.withdraw_fields(&m.fields);
                w.signature(&m.signature);
            }
            Self::SettleRequest(m) | Self::SettleResponse(m) => {
                w.u64(m.message_id);
                w.settle_fields(&m.fields);
                w.signature(&m.signature);
            }
            Self::Processed(m) => w.u64(m.message_id),
        }
        w.0
    }

    /// Decodes one message from exactly `bytes` (see the [module docs](crate::codec)).
    ///
    /// Never panics; fails on a wrong header, a short input, an over-long path or data, or
    /// trailing bytes. Reads [`VERSION_2`] too (see the [module docs](crate::codec)).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let Some((&[m0, m1, m2, m3, version, kind], body)) =
            bytes.split_first_chunk::<HEADER_LEN>()
        else {
            return Err(DecodeError::TooShort(bytes.len()));
        };
        let magic = [m0, m1, m2, m3];
        if magic != MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        if version != VERSION && version != VERSION_2 {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let has_data = version >= 3;
        let kind = MessageKind::try_from(kind)?;
        let mut r = Reader { rest: body, offset: HEADER_LEN };
        let message = match kind {
            MessageKind::DirectTransfer => Self::DirectTransfer(DirectTransfer {
                message_id: r.u64("message_id")?,
                payment_id: r.u64("payment_id")?,
                balance_proof: r.balance_proof()?,
                data: r.data(has_data)?,
                signature: r.signature()?,
            }),
            MessageKind::MediatedTransfer => Self::MediatedTransfer(MediatedTransfer {
                message_id: r.u64("message_id")?,
                payment_id: r.u64("payment_id")?,
                balance_proof: r.balance_proof()?,
                lock: r.lock("lock")?,
                initiator: r.address("initiator")?,
                target: r.address("target")?,
                target_amount: TokenAmount(r.u128("target_amount")?),
                path: r.path()?,
                data: r.data(has_data)?,
                signature: r.signature()?,
            }),
            MessageKind::Unlock => Self::Unlock(Unlock {
                message_id: r.u64("message_id")?,
                payment_id: r.u64("payment_id")?,
                balance_proof: r.balance_proof()?,
                secret: Secret(r.b256("secret")?),
                signature: r.signature()?,
            }),
            MessageKind::RemoveExpiredLock => Self::RemoveExpiredLock(RemoveExpiredLock {
                message_id: r.u64("message_id")?,
                balance_proof: r.balance_proof()?,
                secrethash: SecretHash(r.b256("secrethash")?),
                signature: r.signature()?,
            }),
            MessageKind::AnnounceDisposed => Self::AnnounceDisposed(AnnounceDisposed {
                message_id: r.u64("message_id")?,
                payment_id: r.u64("payment_id")?,
                channel_id: ChannelId(r.b256("channel_id")?),
                epoch: Epoch(r.u64("epoch")?),
                nonce: Nonce(r.u64("nonce")?),
                lock: r.lock("lock")?,
                signature: r.signature()?,
            }),
            MessageKind::AnnounceDisposedResponse => {
                Self::AnnounceDisposedResponse(AnnounceDisposedResponse {
                    message_id: r.u64("message_id")?,
                    payment_id: r.u64("payment_id")?,
                    balance_proof: r.balance_proof()?,
                    secrethash: SecretHash(r.b256("secrethash")?),
                    signature: r.signature()?,
                })
            }
            MessageKind::SecretRequest => Self::SecretRequest(SecretRequest {
                message_id: r.u64("message_id")?,
                payment_id: r.u64("payment_id")?,
                secrethash: SecretHash(r.b256("secrethash")?),
                amount: TokenAmount(r.u128("amount")?),
                expiration: r.u64("expiration")?,
                data_hash: if has_data { r.b256("data_hash")? } else { B256::ZERO },
                signature: r.signature()?,
            }),
            MessageKind::RevealSecret => Self::RevealSecret(RevealSecret {
                message_id: r.u64("message_id")?,
                secret: Secret(r.b256("secret")?),
                signature: r.signature()?,
            }),
            MessageKind::WithdrawRequest => Self::WithdrawRequest(r.withdraw_message()?),
            MessageKind::WithdrawResponse => Self::WithdrawResponse(r.withdraw_message()?),
            MessageKind::SettleRequest => Self::SettleRequest(r.settle_message()?),
            MessageKind::SettleResponse => Self::SettleResponse(r.settle_message()?),
            MessageKind::Processed => {
                Self::Processed(Processed { message_id: r.u64("message_id")? })
            }
        };
        r.finish()?;
        Ok(message)
    }
}

/// Body bytes of `message`, to size the output buffer once.
fn body_capacity(message: &Message) -> usize {
    match message {
        Message::DirectTransfer(m) => 195 + m.data.len(),
        Message::MediatedTransfer(m) => {
            308 + m.path.len().saturating_mul(20).saturating_add(m.data.len())
        }
        Message::Unlock(_) | Message::AnnounceDisposedResponse(_) => 225,
        Message::RemoveExpiredLock(_) => 217,
        Message::AnnounceDisposed(_) => 185,
        Message::SecretRequest(_) => 169,
        Message::RevealSecret(_) => 105,
        Message::WithdrawRequest(_) | Message::WithdrawResponse(_) => 189,
        Message::SettleRequest(_) | Message::SettleResponse(_) => 185,
        Message::Processed(_) => 8,
    }
}

/// Appends fields to the output.
struct Writer(Vec<u8>);

impl Writer {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }

    fn u128(&mut self, v: u128) {
        self.bytes(&v.to_be_bytes());
    }

    fn address(&mut self, v: &Address) {
        self.bytes(v.as_slice());
    }

    fn b256(&mut self, v: &B256) {
        self.bytes(v.as_slice());
    }

    fn signature(&mut self, v: &Signature) {
        self.bytes(v.as_bytes());
    }

    fn lock(&mut self, v: &Lock) {
        self.bytes(&v.encode());
    }

    /// Length then bytes; the length saturates, so over-long data fails to decode.
    fn data(&mut self, v: &[u8]) {
        self.bytes(&u16::try_from(v.len()).unwrap_or(u16::MAX).to_be_bytes());
        self.bytes(v);
    }

    fn balance_proof(&mut self, v: &BalanceProofFields) {
        self.b256(&v.channel_id.0);
        self.u64(v.epoch.0);
        self.u64(v.nonce.0);
        self.u128(v.transferred_amount.0);
        self.u128(v.locked_amount.0);
        self.b256(&v.locksroot.0);
    }

    fn withdraw_fields(&mut self, v: &WithdrawFields) {
        self.b256(&v.channel_id.0);
        self.u64(v.epoch.0);
        self.address(&v.participant);
        self.u128(v.participant_deposit.0);
        self.u128(v.participant_balance.0);
        self.u128(v.amount.0);
        self.u64(v.expiry);
    }

    fn settle_fields(&mut self, v: &SettleFields) {
        self.b256(&v.channel_id.0);
        self.u64(v.epoch.0);
        self.address(&v.participant1);
        self.u128(v.balance1.0);
        self.address(&v.participant2);
        self.u128(v.balance2.0);
    }
}

/// A cursor over the input; every read checks the length first and fails rather than panics.
struct Reader<'a> {
    /// What is left to read.
    rest: &'a [u8],
    /// Where `rest` starts in the whole input, for error messages.
    offset: usize,
}

impl Reader<'_> {
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let (head, tail) = self.rest.split_first_chunk::<N>().ok_or(DecodeError::Truncated {
            field,
            offset: self.offset,
            needed: N,
            available: self.rest.len(),
        })?;
        self.rest = tail;
        self.offset = self.offset.saturating_add(N);
        Ok(*head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(field).map(u8::from_be_bytes)
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_be_bytes)
    }

    fn u128(&mut self, field: &'static str) -> Result<u128, DecodeError> {
        self.array(field).map(u128::from_be_bytes)
    }

    fn address(&mut self, field: &'static str) -> Result<Address, DecodeError> {
        self.array::<20>(field).map(Address::from)
    }

    fn b256(&mut self, field: &'static str) -> Result<B256, DecodeError> {
        self.array::<32>(field).map(B256::from)
    }

    fn signature(&mut self) -> Result<Signature, DecodeError> {
        self.array::<65>("signature").map(Signature)
    }

    fn lock(&mut self, field: &'static str) -> Result<Lock, DecodeError> {
        self.array::<LOCK_SIZE>(field).map(|bytes| Lock::decode(&bytes))
    }

    fn balance_proof(&mut self) -> Result<BalanceProofFields, DecodeError> {
        Ok(BalanceProofFields {
            channel_id: ChannelId(self.b256("balance_proof.channel_id")?),
            epoch: Epoch(self.u64("balance_proof.epoch")?),
            nonce: Nonce(self.u64("balance_proof.nonce")?),
            transferred_amount: TokenAmount(self.u128("balance_proof.transferred_amount")?),
            locked_amount: TokenAmount(self.u128("balance_proof.locked_amount")?),
            locksroot: Locksroot(self.b256("balance_proof.locksroot")?),
        })
    }

    /// The hop count, checked against [`MAX_PATH_LEN`] and the input left before anything is
    /// allocated, then the hops.
    fn path(&mut self) -> Result<Vec<Address>, DecodeError> {
        let len = usize::from(self.u8("path length")?);
        if len > MAX_PATH_LEN {
            return Err(DecodeError::PathTooLong(len));
        }
        let needed = len * Address::len_bytes();
        if self.rest.len() < needed {
            return Err(DecodeError::Truncated {
                field: "path",
                offset: self.offset,
                needed,
                available: self.rest.len(),
            });
        }
        let mut path = Vec::with_capacity(len);
        for _ in 0..len {
            path.push(self.address("path")?);
        }
        Ok(path)
    }

    /// A transfer's data (version 3), or none (version 2, which has no such field).
    fn data(&mut self, present: bool) -> Result<Vec<u8>, DecodeError> {
        if !present {
            return Ok(Vec::new());
        }
        let len = usize::from(u16::from_be_bytes(self.array("data length")?));
        if len > MAX_DATA_LEN {
            return Err(DecodeError::DataTooLong(len));
        }
        if self.rest.len() < len {
            return Err(DecodeError::Truncated {
                field: "data",
                offset: self.offset,
                needed: len,
                available: self.rest.len(),
            });
        }
        let (data, rest) = self.rest.split_at(len);
        self.rest = rest;
        self.offset = self.offset.saturating_add(len);
        Ok(data.to_vec())
    }

    fn withdraw_message(&mut self) -> Result<WithdrawMessage, DecodeError> {
        Ok(WithdrawMessage {
            message_id: self.u64("message_id")?,
            fields: WithdrawFields {
                channel_id: ChannelId(self.b256("fields.channel_id")?),
                epoch: Epoch(self.u64("fields.epoch")?),
                participant: self.address("fields.participant")?,
                participant_deposit: TokenAmount(self.u128("fields.participant_deposit")?),
                participant_balance: TokenAmount(self.u128("fields.participant_balance")?),
                amount: TokenAmount(self.u128("fields.amount")?),
                expiry: self.u64("fields.expiry")?,
            },
            signature: self.signature()?,
        })
    }

    fn settle_message(&mut self) -> Result<SettleMessage, DecodeError> {
        Ok(SettleMessage {
            message_id: self.u64("message_id")?,
            fields: SettleFields {
                channel_id: ChannelId(self.b256("fields.channel_id")?),
                epoch: Epoch(self.u64("fields.epoch")?),
                participant1: self.address("fields.participant1")?,
                balance1: TokenAmount(self.u128("fields.balance1")?),
                participant2: self.address("fields.participant2")?,
                balance2: TokenAmount(self.u128("fields.balance2")?),
            },
            signature: self.signature()?,
        })
    }

    /// Succeeds only if the whole input was read.
    fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.rest.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_b256() -> impl Strategy<Value = B256> {
        any::<[u8; 32]>().prop_map(B256::from)
    }

    fn arb_address() -> impl Strategy<Value = Address> {
        any::<[u8; 20]>().prop_map(Address::from)
    }

    fn arb_signature() -> impl Strategy<Value = Signature> {
        any::<[u8; 65]>().prop_map(Signature)
    }

    fn arb_lock() -> impl Strategy<Value = Lock> {
        (any::<u128>(), any::<u64>(), arb_b256()).prop_map(|(amount, expiration, h)| Lock {
            amount: TokenAmount(amount),
            expiration,
            secrethash: SecretHash(h),
        })
    }

    fn arb_balance_proof() -> impl Strategy<Value = BalanceProofFields> {
        (arb_b256(), any::<u64>(), any::<u64>(), any::<u128>(), any::<u128>(), arb_b256()).prop_map(
            |(channel_id, epoch, nonce, transferred_amount, locked_amount, locksroot)| {
                BalanceProofFields {
                    channel_id: ChannelId(channel_id),
                    epoch: Epoch(epoch),
                    nonce: Nonce(nonce),
                    transferred_amount: TokenAmount(transferred_amount),
                    locked_amount: TokenAmount(locked_amount),
                    locksroot: Locksroot(locksroot),
                }
            },
        )
    }

    fn arb_withdraw() -> impl Strategy<Value = WithdrawMessage> {
        (
            any::<u64>(),
            arb_b256(),
            any::<u64>(),
            arb_address(),
            (any::<u128>(), any::<u128>()),
            any::<u128>(),
            any::<u64>(),
            arb_signature(),
        )
            .prop_map(
                |(
                    message_id,
                    channel_id,
                    epoch,
                    participant,
                    (participant_deposit, participant_balance),
                    amount,
                    expiry,
                    signature,
                )| {
                    WithdrawMessage {
                        message_id,
                        fields: WithdrawFields {
                            channel_id: ChannelId(channel_id),
                            epoch: Epoch(epoch),
                            participant,
                            participant_deposit: TokenAmount(participant_deposit),
                            participant_balance: TokenAmount(participant_balance),
                            amount: TokenAmount(amount),
                            expiry,
                        },
                        signature,
                    }
                },
            )
    }

    fn arb_settle() -> impl Strategy<Value = SettleMessage> {
        (
            any::<u64>(),
            arb_b256(),
            any::<u64>(),
            arb_address(),
            any::<u128>(),
            arb_address(),
            any::<u128>(),
            arb_signature(),
        )
            .prop_map(
                |(
                    message_id,
                    channel_id,
                    epoch,
                    participant1,
                    balance1,
                    participant2,
                    balance2,
                    signature,
                )| {
                    SettleMessage {
                        message_id,
                        fields: SettleFields {
                            channel_id: ChannelId(channel_id),
                            epoch: Epoch(epoch),
                            participant1,
                            balance1: TokenAmount(balance1),
                            participant2,
                            balance2: TokenAmount(balance2),
                        },
                        signature,
                    }
                },
            )
    }

    /// Transfer data: empty half the time (what most payments carry), else 1..=MAX_DATA_LEN.
    fn arb_data() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![Just(Vec::new()), prop::collection::vec(any::<u8>(), 1..=MAX_DATA_LEN)]
    }

    /// Every variant, every field arbitrary, paths of 0..=MAX_PATH_LEN hops.
    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any::<u64>(), any::<u64>(), arb_balance_proof(), arb_data(), arb_signature())
                .prop_map(|(message_id, payment_id, balance_proof, data, signature)| {
                    Message::DirectTransfer(DirectTransfer {
                        message_id,
                        payment_id,
                        balance_proof,
                        data,
                        signature,
                    })
                }),
            (
                (any::<u64>(), any::<u64>(), arb_balance_proof(), arb_lock()),
                (arb_address(), arb_address(), any::<u128>()),
                prop::collection::vec(arb_address(), 0..=MAX_PATH_LEN),
                arb_data(),
                arb_signature(),
            )
                .prop_map(
                    |(
                        (message_id, payment_id, balance_proof, lock),
                        (initiator, target, target_amount),
                        path,
                        data,
                        signature,
                    )| {
                        Message::MediatedTransfer(MediatedTransfer {
                            message_id,
                            payment_id,
                            balance_proof,
                            lock,
                            initiator,
                            target,
                            target_amount: TokenAmount(target_amount),
                            path,
                            data,
                            signature,
                        })
                    }
                ),
            (any::<u64>(), any::<u64>(), arb_balance_proof(), arb_b256(), arb_signature())
                .prop_map(|(message_id, payment_id, balance_proof, secret, signature)| {
                    Message::Unlock(Unlock {
                        message_id,
                        payment_id,
                        balance_proof,
                        secret: Secret(secret),
                        signature,
                    })
                }),
            (any::<u64>(), arb_balance_proof(), arb_b256(), arb_signature()).prop_map(
                |(message_id, balance_proof, secrethash, signature)| {
                    Message::RemoveExpiredLock(RemoveExpiredLock {
                        message_id,
                        balance_proof,
                        secrethash: SecretHash(secrethash),
                        signature,
                    })
                }
            ),
            (
                any::<u64>(),
                any::<u64>(),
                arb_b256(),
                (any::<u64>(), any::<u64>()),
                arb_lock(),
                arb_signature()
            )
                .prop_map(
                    |(message_id, payment_id, channel_id, (epoch, nonce), lock, signature)| {
                        Message::AnnounceDisposed(AnnounceDisposed {
                            message_id,
                            payment_id,
                            channel_id: ChannelId(channel_id),
                            epoch: Epoch(epoch),
                            nonce: Nonce(nonce),
                            lock,
                            signature,
                        })
                    }
                ),
            (any::<u64>(), any::<u64>(), arb_balance_proof(), arb_b256(), arb_signature())
                .prop_map(|(message_id, payment_id, balance_proof, secrethash, signature)| {
                    Message::AnnounceDisposedResponse(AnnounceDisposedResponse {
                        message_id,
                        payment_id,
                        balance_proof,
                        secrethash: SecretHash(secrethash),
                        signature,
                    })
                }),
            (
                (any::<u64>(), any::<u64>(), arb_b256(), any::<u128>(), any::<u64>()),
                prop_oneof![Just(B256::ZERO), arb_b256()],
                arb_signature(),
            )
                .prop_map(
                    |(
                        (message_id, payment_id, secrethash, amount, expiration),
                        data_hash,
                        signature,
                    )| {
                        Message::SecretRequest(SecretRequest {
                            message_id,
                            payment_id,
                            secrethash: SecretHash(secrethash),
                            amount: TokenAmount(amount),
                            expiration,
                            data_hash,
                            signature,
                        })
                    }
                ),
            (any::<u64>(), arb_b256(), arb_signature()).prop_map(
                |(message_id, secret, signature)| {
                    Message::RevealSecret(RevealSecret {
                        message_id,
                        secret: Secret(secret),
                        signature,
                    })
                }
            ),
            arb_withdraw().prop_map(Message::WithdrawRequest),
            arb_withdraw().prop_map(Message::WithdrawResponse),
            arb_settle().prop_map(Message::SettleRequest),
            arb_settle().prop_map(Message::SettleResponse),
            any::<u64>().prop_map(|message_id| Message::Processed(Processed { message_id })),
        ]
    }

    /// One way of damaging a valid encoding.
    #[derive(Debug, Clone)]
    enum Mutation {
        /// XOR the byte at the index with a non-zero mask.
        Flip(prop::sample::Index, u8),
        /// Keep only a strict prefix.
        Truncate(prop::sample::Index),
        /// Append 1..64 bytes.
        Append(Vec<u8>),
    }

    fn arb_mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<prop::sample::Index>(), 1..=u8::MAX).prop_map(|(i, m)| Mutation::Flip(i, m)),
            any::<prop::sample::Index>().prop_map(Mutation::Truncate),
            prop::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
        ]
    }

    proptest! {
        #[test]
        fn every_message_round_trips(m in arb_message()) {
            let bytes = m.encode();
            prop_assert_eq!(bytes.len(), HEADER_LEN + body_capacity(&m));
            prop_assert_eq!(Message::decode(&bytes), Ok(m));
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Message::decode(&bytes);
        }

        #[test]
        fn decoding_random_bytes_behind_a_valid_header_never_panics(
            kind in 0..=14u8,
            body in prop::collection::vec(any::<u8>(), 0..1024),
        ) {
            let mut bytes = MAGIC.to_vec();
            bytes.push(VERSION);
            bytes.push(kind);
            bytes.extend_from_slice(&body);
            if let Ok(m) = Message::decode(&bytes) {
                prop_assert_eq!(m.encode(), bytes);
            }
        }

        #[test]
        fn damaged_encodings_never_panic_and_cut_or_extended_ones_fail(
            m in arb_message(),
            mutation in arb_mutation(),
        ) {
            let mut bytes = m.encode();
            match mutation {
                Mutation::Flip(i, mask) => {
                    let i = i.index(bytes.len());
                    bytes[i] ^= mask;
                    // The encoding is canonical: whatever still decodes re-encodes to the
                    // same bytes, so it is a different message, or (a version byte turned
                    // to 2) the same message in version 2's encoding, which has one too.
                    if let Ok(decoded) = Message::decode(&bytes) {
                        if bytes[4] == VERSION_2 {
                            prop_assert_eq!(as_version_2(&decoded), Some(bytes));
                        } else {
                            prop_assert_eq!(decoded.encode(), bytes);
                            prop_assert_ne!(decoded, m);
                        }
                    }
                }
                Mutation::Truncate(i) => {
                    bytes.truncate(i.index(bytes.len()));
                    let result = Message::decode(&bytes);
                    prop_assert!(
                        matches!(result, Err(DecodeError::TooShort(_) | DecodeError::Truncated { .. })),
                        "{:?}", result
                    );
                }
                Mutation::Append(extra) => {
                    bytes.extend_from_slice(&extra);
                    prop_assert_eq!(Message::decode(&bytes), Err(DecodeError::TrailingBytes(extra.len())));
                }
            }
        }
    }

    /// `m` as version 2 wrote it (no data field), if it has no data.
    fn as_version_2(m: &Message) -> Option<Vec<u8>> {
        let mut bytes = m.encode();
        bytes[4] = VERSION_2;
        let (data_at, len) = match m {
            Message::DirectTransfer(t) if t.data.is_empty() => (HEADER_LEN + 8 + 8 + 112, 2),
            Message::MediatedTransfer(t) if t.data.is_empty() => (bytes.len() - 65 - 2, 2),
            Message::SecretRequest(r) if r.data_hash == B256::ZERO => (bytes.len() - 65 - 32, 32),
            Message::DirectTransfer(_)
            | Message::MediatedTransfer(_)
            | Message::SecretRequest(_) => return None,
            _ => return Some(bytes),
        };
        assert!(bytes.drain(data_at..data_at + len).all(|b| b == 0));
        Some(bytes)
    }

    proptest! {
        #[test]
        fn version_2_encodings_still_decode_with_empty_data(m in arb_message()) {
            if let Some(bytes) = as_version_2(&m) {
                prop_assert_eq!(Message::decode(&bytes), Ok(m));
            } else {
                // data cannot be said in version 2: its bytes without it are another message
                let mut bytes = m.encode();
                bytes[4] = VERSION_2;
                prop_assert!(Message::decode(&bytes) != Ok(m));
            }
        }

        #[test]
        fn the_additional_hash_binds_data_and_path_apart(
            m in arb_message(),
            data in arb_data(),
            path in prop::collection::vec(arb_address(), 0..=4),
        ) {
            // moving bytes between the path and the data, or changing either, changes the
            // hash the balance proof signs
            let mut other = m.clone();
            match &mut other {
                Message::MediatedTransfer(t) => {
                    t.data = data;
                    t.path = path;
                }
                Message::DirectTransfer(t) => t.data = data,
                _ => return Ok(()),
            }
            prop_assert_eq!(m.additional_hash() == other.additional_hash(), m == other);
        }
    }

    #[test]
    fn a_transfer_without_data_hashes_as_version_2_did() {
        // version 2's additional hash, spelled out: kind ‖ ids ‖ lock ‖ initiator ‖ target ‖
        // target amount ‖ hops
        let Message::MediatedTransfer(t) = mediated(2) else { unreachable!() };
        let mut v2 = vec![MessageKind::MediatedTransfer as u8];
        v2.extend_from_slice(&1u64.to_be_bytes());
        v2.extend_from_slice(&2u64.to_be_bytes());
        v2.extend_from_slice(&mediated_lock().encode());
        v2.extend_from_slice(&[7u8; 20]);
        v2.extend_from_slice(&[8u8; 20]);
        v2.extend_from_slice(&9u128.to_be_bytes());
        v2.extend_from_slice(&[0u8; 20]);
        v2.extend_from_slice(&[1u8; 20]);
        let message = Message::MediatedTransfer(t.clone());
        assert_eq!(message.additional_hash(), alloy::primitives::keccak256(&v2));
        // the same transfer with data hashes otherwise
        let with_data = Message::MediatedTransfer(MediatedTransfer { data: vec![0], ..t });
        assert_ne!(with_data.additional_hash(), message.additional_hash());
        let direct = |data: Vec<u8>| {
            Message::DirectTransfer(DirectTransfer {
                message_id: 1,
                payment_id: 2,
                balance_proof: BalanceProofFields::default(),
                data,
                signature: Signature([0; 65]),
            })
        };
        let mut v2 = vec![MessageKind::DirectTransfer as u8];
        v2.extend_from_slice(&1u64.to_be_bytes());
        v2.extend_from_slice(&2u64.to_be_bytes());
        assert_eq!(direct(Vec::new()).additional_hash(), alloy::primitives::keccak256(&v2));
        assert_ne!(
            direct(b"invoice 7".to_vec()).additional_hash(),
            direct(Vec::new()).additional_hash()
        );
    }

    #[test]
    fn data_beyond_the_limit_is_refused() {
        let with = |len: usize| {
            let Message::MediatedTransfer(t) = mediated(2) else { unreachable!() };
            Message::MediatedTransfer(MediatedTransfer { data: vec![0x5a; len], ..t })
        };
        let m = with(MAX_DATA_LEN);
        assert_eq!(Message::decode(&m.encode()), Ok(m));
        assert_eq!(
            Message::decode(&with(MAX_DATA_LEN + 1).encode()),
            Err(DecodeError::DataTooLong(MAX_DATA_LEN + 1))
        );
        // a length with nothing behind it is refused for its length before any allocation
        let mut bytes = with(0).encode();
        bytes.truncate(bytes.len() - 65 - 2);
        bytes.extend_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(Message::decode(&bytes), Err(DecodeError::DataTooLong(u16::MAX.into())));
    }

    fn processed() -> Message {
        Message::Processed(Processed { message_id: 0x0102_0304_0506_0708 })
    }

    fn mediated_lock() -> Lock {
        Lock { amount: TokenAmount(4), expiration: 5, secrethash: SecretHash(B256::repeat_byte(6)) }
    }

    fn mediated(hops: usize) -> Message {
        Message::MediatedTransfer(MediatedTransfer {
            message_id: 1,
            payment_id: 2,
            balance_proof: BalanceProofFields { nonce: Nonce(3), ..Default::default() },
            lock: mediated_lock(),
            initiator: Address::repeat_byte(7),
            target: Address::repeat_byte(8),
            target_amount: TokenAmount(9),
            path: (0..hops).map(|i| Address::repeat_byte(i as u8)).collect(),
            data: Vec::new(),
            signature: Signature([0xaa; 65]),
        })
    }

    #[test]
    fn header_and_body_layout() {
        let bytes = processed().encode();
        assert_eq!(bytes, b"PHTN\x03\x0d\x01\x02\x03\x04\x05\x06\x07\x08");

        let bytes = mediated(2).encode();
        assert_eq!(bytes.len(), HEADER_LEN + 308 + 40);
        assert_eq!(bytes[5], MessageKind::MediatedTransfer as u8);
        let after_bp = HEADER_LEN + 8 + 8 + 112;
        // nonce is the third balance-proof field: 32-byte channel id, 8-byte epoch
        assert_eq!(&bytes[HEADER_LEN + 16 + 40..HEADER_LEN + 16 + 48], &3u64.to_be_bytes());
        assert_eq!(bytes[after_bp..after_bp + LOCK_SIZE], mediated_lock().encode());
        let path_len_at = after_bp + LOCK_SIZE + 20 + 20 + 16;
        assert_eq!(bytes[path_len_at], 2);
        assert_eq!(&bytes[path_len_at + 21..path_len_at + 41], &[1u8; 20]);
        // no data: a zero length between the path and the signature
        assert_eq!(&bytes[path_len_at + 41..path_len_at + 43], &[0, 0]);
        assert_eq!(&bytes[bytes.len() - 65..], &[0xaa; 65]);
        let Message::MediatedTransfer(t) = mediated(2) else { unreachable!() };
        let bytes =
            Message::MediatedTransfer(MediatedTransfer { data: b"memo".to_vec(), ..t }).encode();
        assert_eq!(bytes.len(), HEADER_LEN + 308 + 40 + 4);
        assert_eq!(&bytes[path_len_at + 41..path_len_at + 47], b"\x00\x04memo");
    }

    #[test]
    fn every_kind_byte_maps_back_to_its_kind() {
        for byte in 1..=13u8 {
            assert_eq!(MessageKind::try_from(byte).map(|k| k as u8), Ok(byte));
        }
        for byte in [0u8, 14, 255] {
            assert_eq!(MessageKind::try_from(byte), Err(DecodeError::UnknownKind(byte)));
        }
    }

    #[test]
    fn short_input_is_too_short() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Message::decode(&processed().encode()[..len]),
                Err(DecodeError::TooShort(len))
            );
        }
    }

    #[test]
    fn bad_magic() {
        let mut bytes = processed().encode();
        bytes[0] = b'X';
        assert_eq!(Message::decode(&bytes), Err(DecodeError::BadMagic(*b"XHTN")));
    }

    #[test]
    fn unknown_version() {
        let mut bytes = processed().encode();
        // 1: the first wire format (disposals without a nonce, withdrawals without a deposit)
        for version in [0, 1, 4, 255] {
            bytes[4] = version;
            assert_eq!(Message::decode(&bytes), Err(DecodeError::UnsupportedVersion(version)));
        }
    }

    #[test]
    fn unknown_kind() {
        let mut bytes = processed().encode();
        for kind in [0, 14, 255] {
            bytes[5] = kind;
            assert_eq!(Message::decode(&bytes), Err(DecodeError::UnknownKind(kind)));
        }
    }

    #[test]
    fn trailing_bytes() {
        let mut bytes = mediated(3).encode();
        bytes.push(0);
        assert_eq!(Message::decode(&bytes), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn truncated_names_the_field() {
        let bytes = mediated(3).encode();
        let cut = bytes.len() - 72; // inside the last hop
        assert_eq!(
            Message::decode(&bytes[..cut]),
            Err(DecodeError::Truncated {
                field: "path",
                offset: cut - 55,
                needed: 60,
                available: 55,
            })
        );
    }

    #[test]
    fn path_too_long() {
        let bytes = mediated(MAX_PATH_LEN + 1).encode();
        assert_eq!(Message::decode(&bytes), Err(DecodeError::PathTooLong(MAX_PATH_LEN + 1)));
        // the limit itself is fine
        let m = mediated(MAX_PATH_LEN);
        assert_eq!(Message::decode(&m.encode()), Ok(m));
        // a path too long for the count byte is written with count 255, which is refused
        let bytes = mediated(300).encode();
        assert_eq!(bytes.len(), HEADER_LEN + 308 + 300 * 20);
        assert_eq!(Message::decode(&bytes), Err(DecodeError::PathTooLong(255)));
    }

    #[test]
    fn path_length_is_checked_before_the_input_left() {
        // a huge count with nothing behind it is refused for its count, before any allocation
        let mut bytes = mediated(0).encode();
        let path_len_at = HEADER_LEN + 8 + 8 + 112 + LOCK_SIZE + 20 + 20 + 16;
        bytes.truncate(path_len_at);
        bytes.push(255);
        assert_eq!(Message::decode(&bytes), Err(DecodeError::PathTooLong(255)));
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            DecodeError::BadMagic(*b"XHTN").to_string(),
            "bad magic [58, 48, 54, 4e], expected \"PHTN\""
        );
        assert_eq!(
            DecodeError::UnsupportedVersion(4).to_string(),
            "unsupported encoding version 4, only versions 2 and 3 are supported"
        );
        assert_eq!(
            DecodeError::DataTooLong(300).to_string(),
            "transfer data of 300 bytes, more than the maximum of 256"
        );
        assert_eq!(
            DecodeError::PathTooLong(33).to_string(),
            "mediated transfer path of 33 hops, more than the maximum of 32"
        );
    }
}
