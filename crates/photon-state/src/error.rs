//! Why an input was refused. A refused input changes nothing.

use photon_primitives::messages::MessageKind;
use photon_primitives::{Address, BlockNumber, ChannelId, Epoch, Nonce, SecretHash, TokenAmount};

/// Why a state change was refused; the state is exactly as before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No such channel.
    #[error("unknown channel {0}")]
    UnknownChannel(ChannelId),
    /// The channel cannot take this now (closed, closing, or negotiating a withdrawal or
    /// cooperative settlement).
    #[error("channel {0} is not open for transfers")]
    ChannelNotUsable(ChannelId),
    /// The channel is not closed.
    #[error("channel {0} is not open")]
    ChannelNotOpen(ChannelId),
    /// The message came from someone else than the channel's partner.
    #[error("message from {sender}, but the channel's partner is {partner}")]
    WrongSender {
        /// transport-authenticated sender
        sender: Address,
        /// the partner
        partner: Address,
    },
    /// The signature is malformed or by someone else than the sender.
    #[error("signature is not the sender's")]
    BadSignature,
    /// The message is for another epoch of the channel.
    #[error("epoch {got}, but the channel is at epoch {expected}")]
    WrongEpoch {
        /// in the message
        got: Epoch,
        /// the channel's
        expected: Epoch,
    },
    /// The nonce is not exactly one above the last.
    #[error("nonce {got}, expected {expected}")]
    WrongNonce {
        /// in the message
        got: Nonce,
        /// the one expected
        expected: Nonce,
    },
    /// The transferred amount is not what the message kind implies.
    #[error("transferred amount {got}, expected {expected}")]
    WrongTransferredAmount {
        /// in the message
        got: TokenAmount,
        /// the one expected
        expected: TokenAmount,
    },
    /// The locked amount or locksroot does not match the lock set the message implies.
    #[error("locked amount or locksroot does not match the pending locks")]
    LocksMismatch,
    /// The lock expires too soon to be safe, or later than the channel can enforce.
    #[error("lock expiring at block {expiration} is outside the safe range at block {block}")]
    BadLockExpiration {
        /// the lock's expiration
        expiration: BlockNumber,
        /// the current block
        block: BlockNumber,
    },
    /// The sender does not have that much.
    #[error("insufficient balance: {available} available, {requested} requested")]
    InsufficientBalance {
        /// what is available
        available: TokenAmount,
        /// what was asked
        requested: TokenAmount,
    },
    /// Zero or otherwise impossible amount.
    #[error("invalid amount")]
    InvalidAmount,
    /// No pending lock with this hash.
    #[error("no pending lock {0:?}")]
    UnknownLock(SecretHash),
    /// A lock with this hash is already pending, or a payment with it exists.
    #[error("lock {0:?} already pending")]
    DuplicateLock(SecretHash),
    /// The side holds the most pending locks allowed.
    #[error("too many pending locks")]
    TooManyLocks,
    /// The lock is not expired (or its secret was registered in time).
    #[error("lock {0:?} has not expired")]
    LockNotExpired(SecretHash),
    /// No payment with this secret hash, or the message does not fit it.
    #[error("no matching payment for {0:?}")]
    UnknownPayment(SecretHash),
    /// The path of a mediated transfer is malformed.
    #[error("malformed route")]
    BadPath,
    /// Fields of a negotiation do not match our view of the channel.
    #[error("{0:?} does not match the channel state")]
    BadNegotiation(MessageKind),
    /// Locks are pending; the operation needs none.
    #[error("channel {0} has pending locks")]
    PendingLocks(ChannelId),
    /// The message kind is not accepted here.
    #[error("unexpected {0:?}")]
    Unexpected(MessageKind),
    /// A secret does not hash to the secret hash given with it.
    #[error("the secret does not match the secret hash")]
    SecretMismatch,
    /// Our signer failed.
    #[error("signing failed: {0}")]
    Signer(String),
}
