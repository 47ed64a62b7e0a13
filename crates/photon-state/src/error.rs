//! Why an input was refused. A refused input changes nothing.

use photon_primitives::messages::MessageKind;
use photon_primitives::{Address, ChannelId, Epoch, Nonce, SecretHash, TokenAmount};

/// Why a state change was refused; the state is exactly as before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Payment data longer than [`MAX_DATA_LEN`](photon_primitives::messages::MAX_DATA_LEN).
    #[error("payment data of {0} bytes, more than the maximum of {max}", max = photon_primitives::messages::MAX_DATA_LEN)]
    DataTooLong(usize),
    /// The target of a payment of ours was given other data than the payment's (a mediator
    /// changed it): the secret is not revealed.
    #[error("the target of the payment locked by {0} was given other data than ours")]
    DataMismatch(SecretHash),
    /// Parameters that cannot secure payments.
    #[error("invalid parameters: {0}")]
    InvalidConfig(&'static str),
    /// A payment that cannot be cancelled: unknown, or its secret is out of our hands.
    #[error("payment {payment_id} cannot be cancelled: {why}")]
    NotCancellable {
        /// the payment
        payment_id: photon_primitives::messages::PaymentId,
        /// why not
        why: &'static str,
    },
    /// A payment to us waits for this secret, but its lock expires too soon for a claim
    /// revealed now to be safe.
    #[error(
        "the lock {0} paying us expires within the reveal timeout: too late to claim it safely"
    )]
    ClaimTooLate(SecretHash),
    /// Swap terms this node cannot take part in.
    #[error("invalid swap: {0}")]
    InvalidSwap(&'static str),
    /// A swap that cannot be cancelled any more.
    #[error("swap {secrethash} cannot be cancelled: {why}")]
    SwapNotCancellable {
        /// the swap
        secrethash: SecretHash,
        /// why not
        why: &'static str,
    },
    /// No such channel.
    #[error("unknown channel {0}")]
    UnknownChannel(ChannelId),
    /// The channel was settled: nothing about it is taken any more.
    #[error("channel {0} was settled")]
    ChannelSettled(ChannelId),
    /// The channel cannot take this any more (closed, closing, or settling cooperatively).
    #[error("channel {0} is not open for transfers")]
    ChannelNotUsable(ChannelId),
    /// The channel cannot take transfers while a withdrawal we signed is pending (its
    /// balances would be undone); it can once the withdrawal is mined or expired.
    #[error("channel {0} is negotiating a withdrawal")]
    ChannelBusy(ChannelId),
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
    #[error("no pending lock {0}")]
    UnknownLock(SecretHash),
    /// A lock with this hash is already pending, or a payment with it exists.
    #[error("lock {0} already pending")]
    DuplicateLock(SecretHash),
    /// The side holds the most pending locks allowed.
    #[error("too many pending locks")]
    TooManyLocks,
    /// The lock is not expired yet by our confirmed block.
    #[error("lock {0} has not expired")]
    LockNotExpired(SecretHash),
    /// The lock's secret was registered on chain in time: it never expires.
    #[error("lock {0} was paid on chain (its secret was registered in time)")]
    LockRegistered(SecretHash),
    /// No payment with this secret hash (any more: it completed or failed), or the message
    /// does not fit it.
    #[error("no matching payment for lock {0}")]
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
    Signer(#[from] photon_primitives::signer::SignatureError),
}

impl Rejection {
    /// Whether time or the chain can still change the answer ("not yet", not "never"): the
    /// sender should deliver the message again later rather than give it up. A message
    /// refused for good is one no honest sender sends (see docs/protocol.md).
    pub fn is_transient(&self) -> bool {
        match self {
            // a message that came before what it builds on (a deposit, an open, a lock, an
            // earlier message of the lane) or before the block that makes it valid
            // (not UnknownPayment: a secret request or reveal names a payment its receiver had
            // before it could be sent; one it does not know is over, and waiting never helps)
            Self::UnknownChannel(_)
            | Self::UnknownLock(_)
            | Self::ChannelBusy(_)
            | Self::LockNotExpired(_)
            // more than the partner owns by our view: a deposit of its we have not seen yet
            | Self::InsufficientBalance { .. } => true,
            Self::WrongNonce { got, expected } => got > expected,
            Self::WrongEpoch { got, expected } => got > expected,
            _ => false,
        }
    }
}
