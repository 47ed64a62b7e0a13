//! What goes into the state machine ([`StateChange`]) and what comes out ([`Event`]).

use crate::state::{SignedProof, UnlockState};
use photon_primitives::messages::{Message, PaymentId, SettleFields, WithdrawFields};
use photon_primitives::SettleTimeout;
use photon_primitives::{
    Address, BlockNumber, ChannelId, Epoch, Lock, Nonce, Secret, SecretHash, Signature, SkipMask,
    TokenAmount,
};

/// A candidate route for a mediated payment, as a pathfinding service or the node's own
/// graph proposes it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Route {
    /// Every hop, the initiator first and the target last.
    pub path: Vec<Address>,
    /// The fees all mediators of the path charge in total.
    pub fee: TokenAmount,
}

/// A confirmed event of the contracts, as the chain follower reports it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum ChainEvent {
    /// `ChannelOpened`.
    ChannelOpened {
        /// the channel
        channel_id: ChannelId,
        /// its token
        token: Address,
        /// lower address
        participant1: Address,
        /// higher address
        participant2: Address,
        /// settle timeout in blocks
        settle_timeout: SettleTimeout,
        /// the channel's first epoch (the block of the open, or one more than the epoch of
        /// the channel settled before in the same block)
        epoch: Epoch,
    },
    /// `ChannelDeposit`: `participant`'s deposit is now `total`.
    Deposit {
        /// the channel
        channel_id: ChannelId,
        /// whose deposit
        participant: Address,
        /// its new total deposit
        total: TokenAmount,
    },
    /// `ChannelWithdraw`: a new epoch starts with these deposits.
    Withdrawn {
        /// the channel
        channel_id: ChannelId,
        /// who withdrew
        participant: Address,
        /// how much
        amount: TokenAmount,
        /// participant1's deposit from now on
        deposit1: TokenAmount,
        /// participant2's deposit from now on
        deposit2: TokenAmount,
        /// the new epoch
        epoch: Epoch,
    },
    /// `ChannelUnlocked` or `ObsoleteUnlockPunished`: the receiver of `sender`'s locks
    /// claimed some on chain, or a claim was reversed.
    ChannelUnlocked {
        /// the channel
        channel_id: ChannelId,
        /// the sender of the locks
        sender: Address,
        /// the locksroot unlocked
        locksroot: photon_primitives::Locksroot,
        /// the locks, when the follower could read them from the transaction (empty if not)
        locks: Vec<Lock>,
        /// the locksroot's unlock state afterwards
        state: UnlockState,
    },
    /// `ChannelClosed`.
    ChannelClosed {
        /// the channel
        channel_id: ChannelId,
        /// who closed
        closer: Address,
        /// block of the close
        block: BlockNumber,
    },
    /// `ChannelSettled` or `ChannelCooperativeSettled`: the channel is gone.
    ChannelSettled {
        /// the channel
        channel_id: ChannelId,
    },
    /// `SecretRevealed`.
    SecretRegistered {
        /// the secret
        secret: Secret,
        /// block of the registration
        block: BlockNumber,
    },
}

impl ChainEvent {
    /// The `ChannelOpened` event of the channel between `a` and `b` (in either order) for
    /// `token` in the deployment whose network contract is `contract`, as the contract emits
    /// it: participants ordered by address, the channel id computed as the contract does.
    pub fn opened(
        (a, b): (Address, Address), (token, contract): (Address, Address),
        settle_timeout: SettleTimeout, epoch: Epoch,
    ) -> Self {
        let (participant1, participant2) = if a < b { (a, b) } else { (b, a) };
        Self::ChannelOpened {
            channel_id: photon_primitives::channel_id(a, b, token, contract),
            token,
            participant1,
            participant2,
            settle_timeout,
            epoch,
        }
    }
}

/// Everything that can change the state.
// Messages dominate the size; boxing them would add an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum StateChange {
    /// A new confirmed block: the only clock.
    Block(BlockNumber),
    /// A confirmed contract event.
    Chain(ChainEvent),
    /// A message from `sender` (authenticated by the transport).
    Receive {
        /// who sent it
        sender: Address,
        /// the message
        message: Message,
    },
    /// The user pays `amount` to the partner of `channel_id`.
    SendDirect {
        /// the channel
        channel_id: ChannelId,
        /// payment id chosen by the caller
        payment_id: PaymentId,
        /// how much
        amount: TokenAmount,
        /// what the payment tells the partner, at most
        /// [`MAX_DATA_LEN`](photon_primitives::messages::MAX_DATA_LEN) bytes
        data: Vec<u8>,
    },
    /// The user pays `amount` to `target` over one of `routes`, locked by `secret`.
    SendMediated {
        /// the token
        token: Address,
        /// payment id chosen by the caller
        payment_id: PaymentId,
        /// who is paid
        target: Address,
        /// what the target must receive
        amount: TokenAmount,
        /// the secret (random, supplied by the caller: the core has no randomness); `None`
        /// when only its hash is known (a swap: the target holds the secret)
        secret: Option<Secret>,
        /// sha256 of the secret
        secrethash: SecretHash,
        /// candidate routes, best first
        routes: Vec<Route>,
        /// most the user pays in fees
        fee_limit: TokenAmount,
        /// what the payment tells the target, at most
        /// [`MAX_DATA_LEN`](photon_primitives::messages::MAX_DATA_LEN) bytes
        data: Vec<u8>,
    },
    /// The user asks the partner to co-sign a withdrawal of `amount`.
    RequestWithdraw {
        /// the channel
        channel_id: ChannelId,
        /// how much
        amount: TokenAmount,
    },
    /// The user asks the partner to settle cooperatively.
    RequestCooperativeSettle {
        /// the channel
        channel_id: ChannelId,
    },
    /// The user closes the channel unilaterally.
    Close {
        /// the channel
        channel_id: ChannelId,
    },
    /// The partner refused one of our messages on `channel_id` for good (the transport's
    /// delivery report). No honest node refuses a valid message of an open channel (see
    /// docs/protocol.md): the channel is marked, and closed when it cannot go on.
    DeliveryRefused {
        /// the channel
        channel_id: ChannelId,
        /// the message carried one of our balance proofs (every later one would be refused
        /// too) or our cooperative-settlement signature (which never expires)
        fatal: bool,
        /// what the partner said
        reason: String,
    },
    /// The user makes a secret known: payments to us locked with its hash are claimed at
    /// once (the target side of an atomic swap).
    KnowSecret {
        /// the secret
        secret: Secret,
    },
    /// The user sets a mediation fee policy.
    SetFee {
        /// which payments it applies to
        scope: crate::state::FeeScope,
        /// the policy
        policy: crate::state::FeePolicy,
    },
    /// Whether the node follows the chain up to its confirmed head. While it does not (the RPC
    /// endpoint is away, serves another chain, or the node is still catching up), its block is
    /// stale and a secret may not get registered in time: a mediator then pays its payee only
    /// after its payer has paid it.
    ChainSynced(bool),
    /// The operator changes the node's parameters (a restart with other settings): what comes
    /// after is judged by them. Refused unless they can secure payments
    /// ([`Config::problem`](crate::Config::problem)).
    Configure(crate::state::Config),
    /// The user cancels a payment it initiated whose secret it has not revealed: the secret
    /// is forgotten, so no one can ever claim its lock, which expires and is removed.
    CancelPayment {
        /// the payment
        payment_id: PaymentId,
    },
    /// Start a token swap as its maker: pay `send` to the taker locked with the hash of
    /// `secret`, and reveal the secret only for the taker's lock paying us `receive`.
    StartSwap {
        /// the payment id of our lock
        payment_id: PaymentId,
        /// the taker
        counterparty: Address,
        /// what we pay
        send: crate::state::SwapLeg,
        /// what we are paid
        receive: crate::state::SwapLeg,
        /// the swap's secret (only we know it)
        secret: Secret,
        /// routes to the taker, tried in order
        routes: Vec<Route>,
        /// most fees we pay
        fee_limit: TokenAmount,
    },
    /// Take a token swap: once the maker's lock paying us `receive` with `secrethash`
    /// arrives (by block `deadline`), pay `send` to the maker locked with the same hash.
    ExpectSwap {
        /// the payment id of our lock
        payment_id: PaymentId,
        /// the maker
        counterparty: Address,
        /// what we pay
        send: crate::state::SwapLeg,
        /// what we are paid
        receive: crate::state::SwapLeg,
        /// the hash the maker locks with
        secrethash: SecretHash,
        /// routes to the maker, tried in order
        routes: Vec<Route>,
        /// most fees we pay
        fee_limit: TokenAmount,
        /// the last block at which the maker's lock is taken
        deadline: BlockNumber,
    },
    /// Cancel a swap whose secret is not out and whose lock of ours is not with the taker's
    /// side (maker: our lock can only expire; taker: we have not locked).
    CancelSwap {
        /// the swap
        secrethash: SecretHash,
    },
}

/// A transaction the node must send.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum ContractCall {
    /// `SecretRegistry.registerSecret`.
    RegisterSecret {
        /// the secret
        secret: Secret,
    },
    /// `TokensNetwork.closeChannel` with the partner's proof (`None`: no proof).
    Close {
        /// the channel's token
        token: Address,
        /// the partner
        partner: Address,
        /// the partner's latest proof
        proof: Option<SignedProof>,
    },
    /// `TokensNetwork.updateBalanceProof` with the partner's latest proof.
    UpdateBalanceProof {
        /// the channel's token
        token: Address,
        /// the partner
        partner: Address,
        /// its proof and signature
        proof: SignedProof,
    },
    /// `TokensNetwork.unlock` of the partner's locks.
    Unlock {
        /// the channel's token
        token: Address,
        /// the partner (sender of the locks)
        partner: Address,
        /// the locks, in locksroot order
        locks: Vec<Lock>,
        /// bit i: do not claim lock i (we disposed it)
        skip: SkipMask,
        /// the locksroot's unlock state so far (zero before its first unlock)
        prior: UnlockState,
    },
    /// `TokensNetwork.punishObsoleteUnlock`: the partner claimed a lock it had disposed.
    Punish {
        /// the channel's token
        token: Address,
        /// the partner, who signed the disposal and then claimed the lock
        cheater: Address,
        /// the locks of its unlock, as it passed them
        locks: Vec<Lock>,
        /// the locksroot's unlock state (from its latest event)
        prior: UnlockState,
        /// position of the disposed lock in `locks`
        index: u64,
        /// the nonce the partner's disposal covers
        disposal_nonce: Nonce,
        /// the partner's signature of the lock's disposal
        signature: Signature,
    },
    /// `TokensNetwork.settleChannel`.
    Settle {
        /// the channel's token
        token: Address,
        /// the partner
        partner: Address,
    },
    /// `TokensNetwork.cooperativeSettle`.
    CooperativeSettle {
        /// the channel's token
        token: Address,
        /// the signed fields
        fields: SettleFields,
        /// participant1's signature
        signature1: Signature,
        /// participant2's signature
        signature2: Signature,
    },
    /// `TokensNetwork.withdraw`.
    Withdraw {
        /// the channel's token
        token: Address,
        /// the withdrawer's partner
        partner: Address,
        /// the signed fields
        fields: WithdrawFields,
        /// the withdrawer's signature
        participant_signature: Signature,
        /// the partner's signature
        partner_signature: Signature,
    },
}

/// Why a payment failed.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum PaymentFailure {
    /// No route had the capacity, or every route disposed the lock.
    NoRoute,
    /// The lock expired before the secret was revealed.
    LockExpired,
    /// The user cancelled it before its secret was revealed.
    Cancelled,
}

/// What the state machine asks the world to do, or tells it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// Deliver a message (with retries until acknowledged).
    Send {
        /// to whom
        recipient: Address,
        /// what
        message: Message,
    },
    /// Send a transaction.
    Transact(ContractCall),
    /// A payment we initiated completed: the target has the secret and we unlocked.
    PaymentSent {
        /// the token
        token: Address,
        /// the payment
        payment_id: PaymentId,
        /// to whom
        target: Address,
        /// what the target received
        amount: TokenAmount,
        /// fees paid
        fee: TokenAmount,
    },
    /// We received a payment (direct, or the unlock of a mediated one).
    PaymentReceived {
        /// the token
        token: Address,
        /// the payment
        payment_id: PaymentId,
        /// from whom (the partner for direct payments, the initiator for mediated ones)
        initiator: Address,
        /// how much
        amount: TokenAmount,
        /// what the payer told us with the payment (empty if nothing, or if the lock was
        /// paid without its payment's task)
        data: Vec<u8>,
    },
    /// A payment we initiated failed; its locks are removed or will expire.
    PaymentFailed {
        /// the token
        token: Address,
        /// the payment
        payment_id: PaymentId,
        /// why
        reason: PaymentFailure,
    },
    /// A mediated payment passed through us and we earned `fee`.
    PaymentMediated {
        /// the token
        token: Address,
        /// the lock's hash
        secrethash: SecretHash,
        /// our fee
        fee: TokenAmount,
    },
    /// A swap of ours moved (see [`crate::state::Swap`]).
    SwapChanged {
        /// the swap
        secrethash: SecretHash,
        /// where it stands now
        status: crate::state::SwapStatus,
    },
}

impl Event {
    /// The message this event hands to the durable outbox, with its recipient: every message
    /// but a `Processed` acknowledgement, which answers one delivery and is never sent again.
    /// The storage keeps these until the partner acknowledges them; the runtime sends them.
    pub fn outbox_message(&self) -> Option<(Address, &Message)> {
        match self {
            Self::Send { recipient, message } if !matches!(message, Message::Processed(_)) => {
                Some((*recipient, message))
            }
            _ => None,
        }
    }
}
