//! Requests and answers of the REST API, one type per body.

use crate::Amount;
use photon_primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An optional field of a request: absent, or a value (`null` is refused, as the OpenAPI
/// document says: a field is given or it is not).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Defines a snake_case enum of the API with `Display` and `FromStr` (for command lines).
macro_rules! api_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Its name on the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!(
                        "`{other}` is not one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

api_enum! {
    /// Where a channel is in its life.
    ChannelState {
        /// Open for payments.
        Open = "open",
        /// Our close is on its way to the chain.
        Closing = "closing",
        /// Closed on chain; settled after the settle window.
        Closed = "closed",
        /// A withdrawal is being co-signed.
        Withdrawing = "withdrawing",
        /// A cooperative settlement is being co-signed.
        Settling = "settling",
        /// Settled on chain: gone (only in events).
        Settled = "settled",
    }
}

api_enum! {
    /// The part this node plays in a payment in flight.
    Role {
        /// We pay.
        Initiator = "initiator",
        /// The payment passes through us.
        Mediator = "mediator",
        /// We are paid.
        Target = "target",
    }
}

api_enum! {
    /// How tokens reach the network contract in a deposit.
    #[derive(Default)]
    Via {
        /// `approve`, then the contract pulls the tokens (any ERC20).
        #[default]
        Approve = "approve",
        /// One ERC223 `transfer` with data (the token must be ERC223).
        Erc223 = "erc223",
        /// One `approveAndCall` (the token must have it).
        ApproveAndCall = "approve_and_call",
    }
}

api_enum! {
    /// What happened to a payment, from this node's side.
    Direction {
        /// We paid.
        Sent = "sent",
        /// We were paid.
        Received = "received",
        /// A payment passed through us.
        Mediated = "mediated",
        /// A payment we initiated failed.
        Failed = "failed",
    }
}

api_enum! {
    /// The state a channel is asked to move to (`PATCH` of a channel).
    Goal {
        /// Close unilaterally on chain.
        Closed = "closed",
        /// Settle cooperatively (the partner co-signs).
        Settled = "settled",
    }
}

/// `GET /api/v1/address`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OurAddress {
    /// The node's account.
    #[schema(value_type = crate::schema::Address)]
    pub our_address: Address,
}

/// `GET /api/v1/version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Version {
    /// The node's software version.
    pub version: String,
}

/// `GET /api/v1/status`: the node's status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Status {
    /// Our address.
    #[schema(value_type = crate::schema::Address)]
    pub address: Address,
    /// Chain id.
    pub chain_id: u64,
    /// The `TokensNetwork` contract.
    #[schema(value_type = crate::schema::Address)]
    pub tokens_network: Address,
    /// Last confirmed block acted on.
    pub block: u64,
    /// The chain's head at the last poll (None: not reached yet).
    pub chain_head: Option<u64>,
    /// Whether the last poll reached the chain's RPC endpoint (a node with stored state runs
    /// without it: payments in open channels go on, chain events and transactions wait).
    pub chain_reachable: bool,
    /// Whether confirmed blocks are still being caught up with.
    pub syncing: bool,
    /// Peers the transport reaches now.
    pub peers: usize,
    /// Where peers reach this node.
    pub p2p_addresses: Vec<String>,
    /// The peer-to-peer network as the node sees it: reachability, relays, connected peers
    /// (None: an in-process network without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStatus>,
    /// Channels (not settled).
    pub channels: usize,
    /// Payments in flight.
    pub pending_transfers: usize,
    /// Software version.
    pub version: String,
    /// Blocks the node needs, at worst, to get a secret registered on chain: a lock paying it
    /// must live longer than this.
    pub reveal_timeout: u64,
    /// How long (blocks) the locks of payments this node makes live.
    pub lock_timeout: u64,
}

/// One channel (`GET /api/v1/channels…`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelView {
    /// Channel id.
    #[schema(value_type = crate::schema::Hash32)]
    pub channel_id: B256,
    /// Token.
    #[schema(value_type = crate::schema::Address)]
    pub token: Address,
    /// Partner.
    #[schema(value_type = crate::schema::Address)]
    pub partner: Address,
    /// Where the channel is in its life.
    pub state: ChannelState,
    /// Our balance (deposit + received − sent).
    pub balance: Amount,
    /// The partner's balance.
    pub partner_balance: Amount,
    /// Our deposit in this epoch.
    pub deposit: Amount,
    /// The partner's deposit in this epoch.
    pub partner_deposit: Amount,
    /// Our pending locks.
    pub locked: Amount,
    /// The partner's pending locks.
    pub partner_locked: Amount,
    /// Settle timeout (blocks).
    pub settle_timeout: u64,
    /// The block the channel was closed in (closed channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_block: Option<u64>,
    /// The first block at which it can be settled: the close, the settle window and the
    /// contract's punish window after it (closed channels); the node settles it then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_block: Option<u64>,
    /// Epoch.
    pub epoch: u64,
    /// Why the channel needs attention: the partner refused one of our messages for good
    /// (the node closes such a channel); none normally.
    pub attention: Option<String>,
    /// The token's symbol, if it says (amounts stay in smallest units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The token's decimals, if it says: the display unit is 10^decimals smallest units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
}

api_enum! {
    /// Where a transaction of the node stands.
    TxState {
        /// Waiting to be sent (or sent again: the chain could not take it; see `error`).
        Queued = "queued",
        /// Sent; waiting to be mined.
        Sent = "sent",
        /// Mined.
        Mined = "mined",
        /// Refused or failed for good (see `error`).
        Failed = "failed",
    }
}

/// A transaction of the node (`GET /api/v1/transactions`): one the protocol asked for
/// (a close, an update, an unlock, a settlement) or one a request asked for (an open, a
/// deposit, a secret's registration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TransactionView {
    /// Its number in the node's journal (increasing since the node started).
    pub id: u64,
    /// What it does (the contract call's name).
    pub call: String,
    /// The protocol asked for it (sent again through outages until mined or refused), rather
    /// than an API request.
    pub protocol: bool,
    /// Where it stands.
    pub state: TxState,
    /// Its hash, once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Hash32>)]
    pub hash: Option<B256>,
    /// Why it failed, or why it waits to be sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix seconds of its last change.
    pub at: u64,
}

/// A token the node follows (`GET /api/v1/tokens`): one it has channels in, or one the
/// network's channels it knows of use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenView {
    /// The token's contract.
    #[schema(value_type = crate::schema::Address)]
    pub address: Address,
    /// Its symbol, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Its decimals, if it says (amounts on the API stay in smallest units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// Our channels in it (not settled).
    pub channels: u32,
}

/// A channel of the network (`GET /api/v1/network`), ours or not, as the chain shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NetworkChannel {
    /// The channel.
    #[schema(value_type = crate::schema::Hash32)]
    pub channel_id: photon_primitives::ChannelId,
    /// Its token.
    #[schema(value_type = crate::schema::Address)]
    pub token: Address,
    /// The participant with the lower address.
    #[schema(value_type = crate::schema::Address)]
    pub participant1: Address,
    /// The other.
    #[schema(value_type = crate::schema::Address)]
    pub participant2: Address,
}

/// A payment in flight (`GET /api/v1/pending_transfers`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingTransfer {
    /// The lock's hash.
    #[schema(value_type = crate::schema::Hash32)]
    pub secrethash: B256,
    /// Our part in it.
    pub role: Role,
    /// Payment id.
    pub payment_id: u64,
    /// The token of the lock we hold (mediator, target) or sent (initiator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Address>)]
    pub token: Option<Address>,
    /// That lock's amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// The block that lock expires at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<u64>,
    /// Who pays (target) or is paid (initiator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Address>)]
    pub counterparty: Option<Address>,
    /// Whether this node knows the secret.
    #[serde(default)]
    pub secret_known: bool,
}

/// A payment that completed (`POST /api/v1/payments/{token}/{target}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentOutcome {
    /// Its id.
    pub payment_id: u64,
    /// Target.
    #[schema(value_type = crate::schema::Address)]
    pub target: Address,
    /// What the target received.
    pub amount: Amount,
    /// Fees paid.
    pub fee: Amount,
    /// The secret hash (mediated payments).
    #[schema(value_type = Option<crate::schema::Hash32>)]
    pub secrethash: Option<B256>,
}

api_enum! {
    /// Where a payment of ours stands.
    PaymentState {
        /// Under way: its lock is offered, or its last message awaits the partner's
        /// acknowledgement.
        Pending = "pending",
        /// The target has it.
        Succeeded = "succeeded",
        /// It failed (see `reason`); nothing was paid. It may be tried again under its id.
        Failed = "failed",
        /// The partner refused the message completing it but holds our signed proof of it:
        /// count it as paid (the channel is closed and the chain settles it).
        Disputed = "disputed",
    }
}

/// A payment of ours as a resource (`GET /api/v1/payments/{id}`, and what an asynchronous
/// `POST /api/v1/payments/{token}/{target}` answers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentStatus {
    /// Its id.
    pub payment_id: u64,
    /// Where it stands.
    pub state: PaymentState,
    /// The token.
    #[schema(value_type = crate::schema::Address)]
    pub token: Address,
    /// Who is paid (not known for a payment that failed before the node last started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Address>)]
    pub target: Option<Address>,
    /// What the target receives (not known for a payment that failed before the node last
    /// started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Amount>,
    /// The fee of its route (paid once it succeeds).
    pub fee: Amount,
    /// Why it failed, or what the partner said of a disputed one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The route of its last attempt, us first (known for the payments the node made since it
    /// last started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<crate::schema::Address>>)]
    pub route: Option<Vec<Address>>,
    /// Whether it can still be cancelled (`DELETE /api/v1/payments/{id}`): pending, its
    /// secret revealed to no one.
    pub cancellable: bool,
    /// The token's symbol, if it says (amounts stay in smallest units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The token's decimals, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
}

/// A row of the payment history (`GET /api/v1/payments`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    /// Row id (increasing).
    pub id: i64,
    /// The state change that produced it.
    pub state_change_id: u64,
    /// Unix seconds at which it was logged.
    pub at: u64,
    /// What happened.
    pub direction: Direction,
    /// The payment id.
    pub payment_id: u64,
    /// The token.
    #[schema(value_type = crate::schema::Address)]
    pub token: Address,
    /// The target (sent), the initiator (received), none otherwise.
    #[schema(value_type = Option<crate::schema::Address>)]
    pub counterparty: Option<Address>,
    /// The amount (sent, received), the fee earned (mediated), zero (failed).
    pub amount: Amount,
    /// Fees paid (sent).
    pub fee: Amount,
    /// Why it failed (failed).
    pub reason: Option<String>,
    /// Sent, but the partner has not acknowledged the message that completes it yet.
    pub pending: bool,
    /// What the payer sent with the payment (received payments that carried data).
    #[serde(default, skip_serializing_if = "crate::PaymentData::is_empty")]
    pub data: crate::PaymentData,
    /// The token's symbol, if it says (amounts stay in smallest units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// The token's decimals, if it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
}

/// What the event stream (`GET /api/v1/events`, server-sent events) publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// We were paid.
    PaymentReceived {
        /// token
        #[schema(value_type = crate::schema::Address)]
        token: Address,
        /// payment id
        payment_id: u64,
        /// from
        #[schema(value_type = crate::schema::Address)]
        initiator: Address,
        /// amount
        amount: Amount,
        /// what the payer sent with it (absent if nothing)
        #[serde(default, skip_serializing_if = "crate::PaymentData::is_empty")]
        data: crate::PaymentData,
    },
    /// A payment we made completed.
    PaymentSent {
        /// token
        #[schema(value_type = crate::schema::Address)]
        token: Address,
        /// payment id
        payment_id: u64,
        /// to
        #[schema(value_type = crate::schema::Address)]
        target: Address,
        /// amount
        amount: Amount,
    },
    /// A payment we made failed.
    PaymentFailed {
        /// payment id
        payment_id: u64,
        /// why
        reason: String,
    },
    /// The partner refused the message completing a payment of ours but holds our signed
    /// proof of it: count it as paid; the channel is closed and the chain settles it.
    PaymentDisputed {
        /// payment id
        payment_id: u64,
        /// what the partner said
        reason: String,
    },
    /// A new confirmed block.
    Block {
        /// its number
        number: u64,
    },
    /// A channel of ours opened, changed state (closing, closed, settled, withdrawing,
    /// settling, open again) or got a deposit; payments are told by their own events.
    ChannelChanged {
        /// the channel
        #[schema(value_type = crate::schema::Hash32)]
        channel_id: B256,
        /// token
        #[schema(value_type = crate::schema::Address)]
        token: Address,
        /// partner
        #[schema(value_type = crate::schema::Address)]
        partner: Address,
        /// where it is now
        state: ChannelState,
        /// our deposit
        deposit: Amount,
        /// the partner's deposit
        partner_deposit: Amount,
    },
    /// The chain's RPC endpoint answered again, or stopped answering.
    ChainReachability {
        /// whether it answers
        reachable: bool,
    },
    /// A peer connected (its first connection) or disconnected (its last).
    PeerConnectivity {
        /// the peer
        #[schema(value_type = crate::schema::Address)]
        peer: Address,
        /// whether connected now
        connected: bool,
    },
    /// A swap of ours moved (see `GET /api/v1/swaps/{secret_hash}`).
    SwapChanged {
        /// the swap
        #[schema(value_type = crate::schema::Hash32)]
        secret_hash: B256,
        /// where it stands now
        state: SwapState,
        /// why it failed
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// `PUT /api/v1/channels`: open a channel, with a first deposit if given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenChannel {
    /// The token.
    #[schema(value_type = crate::schema::Address)]
    pub token: Address,
    /// The partner.
    #[schema(value_type = crate::schema::Address)]
    pub partner: Address,
    /// Blocks between a close and the settlement (default: the node's).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub settle_timeout: Option<u32>,
    /// A first deposit.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub deposit: Option<Amount>,
    /// How the deposit reaches the contract.
    #[serde(default)]
    pub via: Via,
}

/// `PATCH /api/v1/channels/{token}/{partner}`: one change, given by its one field
/// (`deposit`, with `via` if wanted; `withdraw`; or `state`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PatchChannel {
    /// Deposit more.
    Deposit(DepositMore),
    /// Withdraw (the partner co-signs).
    Withdraw(WithdrawSome),
    /// Close, or settle cooperatively.
    State(ChangeState),
}

/// `PATCH` of a channel: deposit this much more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositMore {
    /// How much (at least 1).
    #[schema(value_type = crate::schema::PositiveAmount)]
    pub deposit: Amount,
    /// How the deposit reaches the contract.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub via: Option<Via>,
}

/// `PATCH` of a channel: withdraw this much (the partner co-signs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawSome {
    /// How much (at least 1).
    #[schema(value_type = crate::schema::PositiveAmount)]
    pub withdraw: Amount,
}

/// `PATCH` of a channel: close it, or settle it cooperatively.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeState {
    /// Where it goes.
    pub state: Goal,
}

/// What a channel change answers: the transaction of a deposit, or that the node took the
/// request (a withdrawal, a close or a settlement goes on in the background).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PatchAnswer {
    /// The deposit's transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Hash32>)]
    pub transaction_hash: Option<B256>,
    /// The request is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
}

/// A transaction the node sent and saw mined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transaction {
    /// Its hash.
    #[schema(value_type = crate::schema::Hash32)]
    pub transaction_hash: B256,
}

/// A candidate route of a payment: the hops (us first, the target last), alone or with the
/// total fee its mediators charge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RouteSpec {
    /// Hops only (no fee).
    Path(Vec<Address>),
    /// Hops and the fee they charge.
    WithFee {
        /// The hops.
        path: Vec<Address>,
        /// Their total fee.
        fee: Amount,
    },
}

/// `POST /api/v1/payments/{token}/{target}`: pay `amount` to the target.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pay {
    /// What the target receives.
    #[schema(value_type = crate::schema::PositiveAmount)]
    pub amount: Amount,
    /// The payment's id (default: a fresh one).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub payment_id: Option<u64>,
    /// The secret to lock with (default: a fresh one).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false, value_type = Option<crate::schema::Hash32>)]
    pub secret: Option<B256>,
    /// Lock with this hash, the target holding the secret (a swap).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false, value_type = Option<crate::schema::Hash32>)]
    pub secret_hash: Option<B256>,
    /// Most fee to pay (default: 5 % of the amount plus 100 smallest units).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub fee_limit: Option<Amount>,
    /// Routes to try in order (default: the node's own).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub routes: Option<Vec<RouteSpec>>,
    /// Wait for the outcome (default), or answer `202 Accepted` with the payment's status as
    /// soon as it is under way (then follow it with `GET /api/v1/payments/{id}` or the events).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub wait: Option<bool>,
    /// Bytes the target receives with the payment (default: none), in its `payment_received`
    /// event and history.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub data: Option<crate::PaymentData>,
}

/// `GET /api/v1/payments` query: every field narrows the result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PaymentsQuery {
    /// Only this token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, pattern = "^(0[xX])?[0-9a-fA-F]{40}$")]
    pub token: Option<Address>,
    /// Only with this counterparty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, pattern = "^(0[xX])?[0-9a-fA-F]{40}$")]
    pub partner: Option<Address>,
    /// Only of this kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(inline)]
    pub direction: Option<Direction>,
    /// Only from this Unix second on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// Only up to this Unix second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// At most this many, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Only rows older than this one (its `id`): the next page after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<i64>,
}

/// `POST /api/v1/secrets` and `/api/v1/known_secrets`: a secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    /// The secret (32 bytes, not zero).
    #[schema(value_type = crate::schema::Hash32)]
    pub secret: B256,
}

/// What a secret request answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretAnswer {
    /// The registration's transaction (`/secrets` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Hash32>)]
    pub transaction_hash: Option<B256>,
    /// The secret's hash.
    #[schema(value_type = crate::schema::Hash32)]
    pub secrethash: B256,
}

/// A mediation fee: `flat + amount × rate / 1,000,000`, the rate being `proportional_ppm`
/// moved by up to `imbalance_ppm` (down when the payment rebalances the channel, up when it
/// drains the thinner side; see docs/pfs.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeePolicy {
    /// Flat part.
    pub flat: Amount,
    /// Proportional part, in millionths.
    pub proportional_ppm: u32,
    /// Imbalance component, in millionths at full imbalance.
    #[serde(default)]
    pub imbalance_ppm: u32,
}

/// `GET /api/v1/fees`: the node's fee schedule, the most specific policy winning.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeeSchedule {
    /// For every channel without a more specific policy.
    pub default: FeePolicy,
    /// Per token (keyed by the token's address).
    pub tokens: BTreeMap<String, FeePolicy>,
    /// Per channel (keyed by the channel id).
    pub channels: BTreeMap<String, FeePolicy>,
}

/// `PUT /api/v1/fees`: set the default policy, a token's, or a channel's (token and partner).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetFee {
    /// The token (for a token's or a channel's policy).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false, value_type = Option<crate::schema::Address>)]
    pub token: Option<Address>,
    /// The partner (for a channel's policy).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false, value_type = Option<crate::schema::Address>)]
    pub partner: Option<Address>,
    /// Flat part of the fee.
    pub flat: Amount,
    /// Proportional part, in millionths (at most 1,000,000).
    #[schema(maximum = 1_000_000)]
    pub proportional_ppm: u32,
    /// Imbalance component, in millionths (at most 1,000,000; default 0).
    #[serde(default)]
    #[schema(maximum = 1_000_000)]
    pub imbalance_ppm: u32,
}

/// A request the node took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Accepted {
    /// Always true.
    pub accepted: bool,
}

/// An error answer: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable code (e.g. `bad_request`, `not_found`, `payment_failed`).
    pub code: String,
    /// Words for a person.
    pub message: String,
}

/// Where a route comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    /// The node's pathfinding service.
    Pfs,
    /// The node's own channel graph.
    Local,
}

/// `GET /api/v1/paths/{token}/{target}?amount=`: a route a payment would try, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RouteView {
    /// Payer (this node), mediators, target.
    #[schema(value_type = Vec<crate::schema::Address>)]
    pub path: Vec<Address>,
    /// All the mediators' fees, as quoted: the payer locks `amount + fee`.
    pub fee: Amount,
    /// Where the route comes from (`pfs` routes carry the service's quote; `local` ones the
    /// fees the service quoted before, or none).
    pub source: RouteSource,
}

api_enum! {
    /// Whether other nodes can dial this one directly, as AutoNAT probes by relay nodes found.
    #[derive(Default)]
    Reachability {
        #[default]
        /// Not known yet (no probe answered; a node with no relay node among its peers stays so).
        Unknown = "unknown",
        /// A probe dialled one of its addresses back: other nodes can dial it.
        Public = "public",
        /// Probes could not dial it back (behind NAT or a firewall): it is reached through
        /// relays.
        Private = "private",
    }
}

api_enum! {
    /// How a node's connection to a peer runs.
    Connection {
        /// Straight to the peer (dialled, or upgraded from a relayed one by hole punching).
        Direct = "direct",
        /// Through a relay node's circuit.
        Relayed = "relayed",
    }
}

api_enum! {
    /// A reservation on a relay node.
    RelayState {
        /// Asked for, no answer yet.
        Reserving = "reserving",
        /// Held: other nodes reach this one through the relay.
        Reserved = "reserved",
        /// Refused or lost; asked again later (see `error`).
        Waiting = "waiting",
    }
}

/// The peer-to-peer network as a node sees it (`GET /api/v1/status`, `network`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NetworkStatus {
    /// Whether other nodes can dial this one directly.
    pub reachability: Reachability,
    /// Addresses others were seen to reach it at directly (confirmed by probes).
    pub public_addresses: Vec<String>,
    /// Addresses through relays (`…/p2p/<relay>/p2p-circuit/p2p/<us>`).
    pub relayed_addresses: Vec<String>,
    /// The local listen addresses.
    pub listen_addresses: Vec<String>,
    /// The relays it holds or asks reservations from.
    pub relays: Vec<RelayView>,
    /// Photon peers connected now.
    pub peers: Vec<PeerView>,
    /// What it relays for others (None: it offers no relay service).
    pub relay_service: Option<RelayServiceView>,
}

/// A relay a node holds or asks a reservation from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RelayView {
    /// The relay's peer id.
    pub peer_id: String,
    /// The relay's address.
    pub address: String,
    /// Where the reservation stands.
    pub state: RelayState,
    /// Why the last reservation failed, if it did (e.g. the relay's limits refused it).
    pub error: Option<String>,
}

/// `GET /api/v1/peers/{address}`: whether the node reaches a peer now, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerStatus {
    /// The peer.
    #[schema(value_type = crate::schema::Address)]
    pub address: Address,
    /// Whether it is connected now.
    pub connected: bool,
    /// Direct, or only through relays (connected peers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<Connection>,
}

/// A connected Photon peer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PeerView {
    /// Its Ethereum address.
    #[schema(value_type = crate::schema::Address)]
    pub address: Address,
    /// Direct, or only through relays.
    pub connection: Connection,
}

/// The relay service a node offers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RelayServiceView {
    /// Reservations held now.
    pub reservations: usize,
    /// Reservations refused (limits) since start.
    pub reservations_refused: u64,
    /// Circuits open now.
    pub circuits: usize,
    /// Circuits opened since start.
    pub circuits_total: u64,
    /// Circuits refused (limits, no reservation) since start.
    pub circuits_refused: u64,
}

api_enum! {
    /// Which side of a token swap (see `docs/swaps.md`).
    SwapRole {
        /// Holds the secret: pays first, and reveals the secret to claim the taker's payment.
        Maker = "maker",
        /// Given the secret hash: pays once the maker's payment is locked to it, and claims
        /// that payment with the secret the maker's claim shows.
        Taker = "taker",
    }
}

api_enum! {
    /// Where a swap stands.
    SwapState {
        /// Maker: our lock is out, the taker's has not come. Taker: the maker's lock has not
        /// come.
        Waiting = "waiting",
        /// Taker: we hold the maker's lock and sent ours; the maker has not revealed.
        Locked = "locked",
        /// The secret is out: both payments complete now, off chain or through the registry.
        Revealed = "revealed",
        /// We were paid what we asked.
        Completed = "completed",
        /// Over without an exchange (see `reason`).
        Failed = "failed",
        /// Cancelled before the secret was out.
        Cancelled = "cancelled",
    }
}

/// One side of a swap: a token and what its receiver gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwapSide {
    /// The token.
    #[schema(value_type = crate::schema::Address)]
    pub token: Address,
    /// What its receiver gets (fees of mediators come on top, paid by the payer).
    #[schema(value_type = crate::schema::PositiveAmount)]
    pub amount: Amount,
}

/// `POST /api/v1/swaps`: make or take a token swap with a counterparty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSwap {
    /// Our side.
    pub role: SwapRole,
    /// The other party.
    #[schema(value_type = crate::schema::Address)]
    pub counterparty: Address,
    /// What we pay.
    pub send: SwapSide,
    /// What we are paid.
    pub receive: SwapSide,
    /// The maker's secret hash: required of a taker, refused from a maker (whose node makes
    /// the secret).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false, value_type = Option<crate::schema::Hash32>)]
    pub secret_hash: Option<B256>,
    /// Taker only: blocks to wait for the maker's lock (default: the node's lock timeout).
    /// The maker's lock lives the node's lock timeout.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false, minimum = 1)]
    pub expiry: Option<u64>,
    /// Most fee to pay for our side (default: 5 % of the amount plus 100 smallest units).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(nullable = false)]
    pub fee_limit: Option<Amount>,
}

/// A swap of ours (`GET /api/v1/swaps[/{secret_hash}]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SwapView {
    /// Its id: the secret hash both payments are locked with (the maker gives it to the
    /// taker).
    #[schema(value_type = crate::schema::Hash32)]
    pub secret_hash: B256,
    /// Our side.
    pub role: SwapRole,
    /// The other party.
    #[schema(value_type = crate::schema::Address)]
    pub counterparty: Address,
    /// What we pay.
    pub send: SwapSide,
    /// What we are paid.
    pub receive: SwapSide,
    /// Where it stands.
    pub state: SwapState,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The secret, once it is out (`revealed`, `completed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Hash32>)]
    pub secret: Option<B256>,
    /// The payment id of our side.
    pub payment_id: u64,
    /// The block it was made at.
    pub created_block: u64,
    /// Taker: the last block the maker's lock is taken at. Maker: when our lock expires.
    pub deadline_block: u64,
    /// The block the lock paying us expires at, once it is ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incoming_expiration: Option<u64>,
    /// The block it ended at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_block: Option<u64>,
    /// Whether `DELETE` still cancels it (`waiting`).
    pub cancellable: bool,
}
