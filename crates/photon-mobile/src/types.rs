//! What crosses to the app: records and enums mirroring the REST API's types. Addresses and
//! hashes are `0x…` hex strings, amounts decimal strings (token amounts are 256-bit).

use crate::error::PhotonError;
use photon_api::Amount;
use photon_primitives::{Address, B256};

/// Where the node's key comes from.
#[derive(Clone, uniffi::Enum)]
pub enum KeySource {
    /// A geth-compatible key file (version 3 JSON) and its password.
    Keystore {
        /// the key file's JSON text
        json: String,
        /// its password
        password: String,
    },
    /// The raw 32-byte private key, as the app keeps it in its secure storage.
    Raw {
        /// the key
        private_key: Vec<u8>,
    },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Keystore { .. } => "Keystore(..)",
            Self::Raw { .. } => "Raw(..)",
        })
    }
}

/// How to start a node.
#[derive(Clone, Debug, uniffi::Record)]
pub struct NodeConfig {
    /// The account's key.
    pub key: KeySource,
    /// The chain's JSON-RPC endpoint.
    pub rpc_url: String,
    /// The deployment (the JSON `photon deploy` writes).
    pub deployment_json: String,
    /// The data directory (a subdirectory per account and chain is used).
    pub data_dir: String,
    /// Peer-to-peer listen addresses; none: every interface, TCP and QUIC, on port 40001.
    #[uniffi(default = [])]
    pub p2p_listen: Vec<String>,
    /// Peers to connect to first (relays among them), as `…/p2p/<peer id>` multiaddrs.
    #[uniffi(default = [])]
    pub bootstrap: Vec<String>,
    /// A monitoring service guarding the channels while the app sleeps.
    #[uniffi(default = None)]
    pub monitor_url: Option<String>,
    /// A pathfinding service.
    #[uniffi(default = None)]
    pub pfs_url: Option<String>,
    /// Serve the REST API on this address (none by default: the app calls the library).
    #[uniffi(default = None)]
    pub api_addr: Option<String>,
    /// The REST API's bearer token, if it is served.
    #[uniffi(default = None)]
    pub api_token: Option<String>,
    /// Blocks before a chain event is acted on.
    #[uniffi(default = 5)]
    pub confirmations: u64,
    /// How often the chain is polled, in milliseconds.
    #[uniffi(default = 1000)]
    pub poll_ms: u64,
    /// Settle timeout of channels this node opens (blocks); none: 500.
    #[uniffi(default = None)]
    pub settle_timeout: Option<u32>,
    /// How long `pay` waits for the outcome, in seconds.
    #[uniffi(default = 60)]
    pub payment_timeout_secs: u64,
    /// Forget finished payments older than this many days from the history; none: keep all.
    #[uniffi(default = None)]
    pub history_retention_days: Option<u32>,
}

/// The network the device is on now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum NetworkKind {
    /// Wi-Fi (or Ethernet).
    Wifi,
    /// Cellular data.
    Cellular,
    /// Something else (VPN, Bluetooth tethering).
    Other,
}

/// How a deposit reaches the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum DepositVia {
    /// `approve`, then the contract pulls the tokens (any ERC20).
    Approve,
    /// One ERC223 `transfer` with data.
    Erc223,
    /// One `approveAndCall`.
    ApproveAndCall,
}

impl From<DepositVia> for photon_api::Via {
    fn from(v: DepositVia) -> Self {
        match v {
            DepositVia::Approve => Self::Approve,
            DepositVia::Erc223 => Self::Erc223,
            DepositVia::ApproveAndCall => Self::ApproveAndCall,
        }
    }
}

/// The node's status.
#[derive(Clone, Debug, uniffi::Record)]
pub struct NodeStatus {
    /// Our address.
    pub address: String,
    /// Chain id.
    pub chain_id: u64,
    /// Last confirmed block acted on.
    pub block: u64,
    /// The chain's head at the last poll.
    pub chain_head: Option<u64>,
    /// Whether the last poll reached the chain.
    pub chain_reachable: bool,
    /// Whether blocks are still being caught up with.
    pub syncing: bool,
    /// Peers connected now.
    pub peers: u64,
    /// Where peers reach this node.
    pub p2p_addresses: Vec<String>,
    /// `unknown`, `public` or `private` (behind NAT: reached through relays).
    pub reachability: String,
    /// Channels not settled.
    pub channels: u64,
    /// Payments in flight.
    pub pending_transfers: u64,
    /// Software version.
    pub version: String,
}

impl From<photon_api::Status> for NodeStatus {
    fn from(s: photon_api::Status) -> Self {
        Self {
            address: hex(s.address),
            chain_id: s.chain_id,
            block: s.block,
            chain_head: s.chain_head,
            chain_reachable: s.chain_reachable,
            syncing: s.syncing,
            peers: s.peers as u64,
            p2p_addresses: s.p2p_addresses,
            reachability: s.network.map(|n| n.reachability.to_string()).unwrap_or_default(),
            channels: s.channels as u64,
            pending_transfers: s.pending_transfers as u64,
            version: s.version,
        }
    }
}

/// One channel.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Channel {
    /// Channel id.
    pub channel_id: String,
    /// Token.
    pub token: String,
    /// Partner.
    pub partner: String,
    /// `open`, `closing`, `closed`, `withdrawing`, `settling` (`settled` in events).
    pub state: String,
    /// Our balance.
    pub balance: String,
    /// The partner's balance.
    pub partner_balance: String,
    /// Our deposit.
    pub deposit: String,
    /// The partner's deposit.
    pub partner_deposit: String,
    /// Our tokens in pending locks.
    pub locked: String,
    /// The partner's tokens in pending locks.
    pub partner_locked: String,
    /// Settle timeout (blocks).
    pub settle_timeout: u64,
}

impl From<photon_api::ChannelView> for Channel {
    fn from(c: photon_api::ChannelView) -> Self {
        Self {
            channel_id: hex(c.channel_id),
            token: hex(c.token),
            partner: hex(c.partner),
            state: c.state.to_string(),
            balance: c.balance.to_string(),
            partner_balance: c.partner_balance.to_string(),
            deposit: c.deposit.to_string(),
            partner_deposit: c.partner_deposit.to_string(),
            locked: c.locked.to_string(),
            partner_locked: c.partner_locked.to_string(),
            settle_timeout: c.settle_timeout,
        }
    }
}

/// A payment that completed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PaymentResult {
    /// Its id.
    pub payment_id: u64,
    /// Target.
    pub target: String,
    /// What the target received.
    pub amount: String,
    /// Fees paid.
    pub fee: String,
    /// The lock's hash (mediated payments).
    pub secrethash: Option<String>,
}

impl From<photon_api::PaymentOutcome> for PaymentResult {
    fn from(p: photon_api::PaymentOutcome) -> Self {
        Self {
            payment_id: p.payment_id,
            target: hex(p.target),
            amount: p.amount.to_string(),
            fee: p.fee.to_string(),
            secrethash: p.secrethash.map(hex),
        }
    }
}

/// What happened to a payment, from this node's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Direction {
    /// We paid.
    Sent,
    /// We were paid.
    Received,
    /// It passed through us.
    Mediated,
    /// One of ours failed.
    Failed,
}

/// Which payments of the history to list.
#[derive(Clone, Debug, Default, uniffi::Record)]
pub struct PaymentQuery {
    /// Only this token.
    #[uniffi(default = None)]
    pub token: Option<String>,
    /// Only with this counterparty.
    #[uniffi(default = None)]
    pub partner: Option<String>,
    /// Only this direction.
    #[uniffi(default = None)]
    pub direction: Option<Direction>,
    /// Logged at or after (unix seconds).
    #[uniffi(default = None)]
    pub since: Option<u64>,
    /// Logged at or before (unix seconds).
    #[uniffi(default = None)]
    pub until: Option<u64>,
    /// At most this many, newest first (default 100).
    #[uniffi(default = None)]
    pub limit: Option<u32>,
    /// Only rows older than this row id: the next page after it.
    #[uniffi(default = None)]
    pub before: Option<i64>,
}

impl TryFrom<PaymentQuery> for photon_api::PaymentsQuery {
    type Error = PhotonError;

    fn try_from(q: PaymentQuery) -> Result<Self, PhotonError> {
        Ok(Self {
            token: q.token.as_deref().map(|t| address(t, "token")).transpose()?,
            partner: q.partner.as_deref().map(|p| address(p, "partner")).transpose()?,
            direction: q.direction.map(|d| match d {
                Direction::Sent => photon_api::Direction::Sent,
                Direction::Received => photon_api::Direction::Received,
                Direction::Mediated => photon_api::Direction::Mediated,
                Direction::Failed => photon_api::Direction::Failed,
            }),
            since: q.since,
            until: q.until,
            limit: q.limit,
            before: q.before,
        })
    }
}

/// A row of the payment history.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Payment {
    /// Row id (increasing).
    pub id: i64,
    /// Unix seconds at which it was logged.
    pub at: u64,
    /// What happened.
    pub direction: Direction,
    /// Payment id.
    pub payment_id: u64,
    /// Token.
    pub token: String,
    /// The other end (target, initiator), if known.
    pub counterparty: Option<String>,
    /// The amount (sent, received), the fee earned (mediated), zero (failed).
    pub amount: String,
    /// Fees paid (sent).
    pub fee: String,
    /// Why it failed.
    pub reason: Option<String>,
    /// Sent, but the partner has not acknowledged the completing message yet.
    pub pending: bool,
    /// What the payer sent with it (received payments; empty otherwise).
    pub data: Vec<u8>,
}

impl From<photon_api::Payment> for Payment {
    fn from(p: photon_api::Payment) -> Self {
        Self {
            id: p.id,
            at: p.at,
            direction: match p.direction {
                photon_api::Direction::Sent => Direction::Sent,
                photon_api::Direction::Received => Direction::Received,
                photon_api::Direction::Mediated => Direction::Mediated,
                photon_api::Direction::Failed => Direction::Failed,
            },
            payment_id: p.payment_id,
            token: hex(p.token),
            counterparty: p.counterparty.map(hex),
            amount: p.amount.to_string(),
            fee: p.fee.to_string(),
            reason: p.reason,
            pending: p.pending,
            data: p.data.0,
        }
    }
}

/// A payment in flight.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct PendingTransfer {
    /// The lock's hash.
    pub secrethash: String,
    /// `initiator`, `mediator` or `target`.
    pub role: String,
    /// Payment id.
    pub payment_id: u64,
}

impl From<photon_api::PendingTransfer> for PendingTransfer {
    fn from(p: photon_api::PendingTransfer) -> Self {
        Self { secrethash: hex(p.secrethash), role: p.role.to_string(), payment_id: p.payment_id }
    }
}

/// A mediation fee policy.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FeePolicy {
    /// Flat fee per payment.
    pub flat: String,
    /// Millionths of the amount.
    pub proportional_ppm: u32,
    /// Millionths of the amount, scaled by how much the payment unbalances the channels.
    pub imbalance_ppm: u32,
}

impl From<&photon_state::FeePolicy> for FeePolicy {
    fn from(p: &photon_state::FeePolicy) -> Self {
        Self {
            flat: p.flat.0.to_string(),
            proportional_ppm: p.proportional_ppm,
            imbalance_ppm: p.imbalance_ppm,
        }
    }
}

/// Something that happened in the node, for the app's [`crate::EventListener`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum NodeEvent {
    /// We were paid.
    PaymentReceived {
        /// token
        token: String,
        /// payment id
        payment_id: u64,
        /// from
        initiator: String,
        /// amount
        amount: String,
        /// what the payer sent with it (empty if nothing)
        data: Vec<u8>,
    },
    /// A payment we made completed.
    PaymentSent {
        /// token
        token: String,
        /// payment id
        payment_id: u64,
        /// to
        target: String,
        /// amount
        amount: String,
    },
    /// A payment we made failed.
    PaymentFailed {
        /// payment id
        payment_id: u64,
        /// why
        reason: String,
    },
    /// The partner refused the completing message but holds our proof: count it as paid.
    PaymentDisputed {
        /// payment id
        payment_id: u64,
        /// what the partner said
        reason: String,
    },
    /// A channel of ours opened, changed state or got a deposit.
    ChannelChanged {
        /// channel id
        channel_id: String,
        /// token
        token: String,
        /// partner
        partner: String,
        /// its state now (`settled`: gone)
        state: String,
        /// our deposit
        deposit: String,
        /// the partner's deposit
        partner_deposit: String,
    },
    /// The chain's endpoint answers again, or stopped answering.
    ChainReachability {
        /// whether it answers
        reachable: bool,
    },
    /// A peer connected or disconnected.
    PeerConnectivity {
        /// the peer
        peer: String,
        /// connected now
        connected: bool,
    },
    /// A new confirmed block.
    Block {
        /// its number
        number: u64,
    },
    /// A token swap of ours moved.
    SwapChanged {
        /// its secret hash
        secret_hash: String,
        /// where it stands (`waiting`, `locked`, `revealed`, `completed`, `failed`,
        /// `cancelled`)
        state: String,
        /// why it failed (empty otherwise)
        reason: String,
    },
}

impl From<photon_api::NodeEvent> for NodeEvent {
    fn from(e: photon_api::NodeEvent) -> Self {
        use photon_api::NodeEvent as E;
        match e {
            E::PaymentReceived { token, payment_id, initiator, amount, data } => {
                Self::PaymentReceived {
                    token: hex(token),
                    payment_id,
                    initiator: hex(initiator),
                    amount: amount.to_string(),
                    data: data.0,
                }
            }
            E::PaymentSent { token, payment_id, target, amount } => Self::PaymentSent {
                token: hex(token),
                payment_id,
                target: hex(target),
                amount: amount.to_string(),
            },
            E::PaymentFailed { payment_id, reason } => Self::PaymentFailed { payment_id, reason },
            E::PaymentDisputed { payment_id, reason } => {
                Self::PaymentDisputed { payment_id, reason }
            }
            E::ChannelChanged { channel_id, token, partner, state, deposit, partner_deposit } => {
                Self::ChannelChanged {
                    channel_id: hex(channel_id),
                    token: hex(token),
                    partner: hex(partner),
                    state: state.to_string(),
                    deposit: deposit.to_string(),
                    partner_deposit: partner_deposit.to_string(),
                }
            }
            E::ChainReachability { reachable } => Self::ChainReachability { reachable },
            E::PeerConnectivity { peer, connected } => {
                Self::PeerConnectivity { peer: hex(peer), connected }
            }
            E::Block { number } => Self::Block { number },
            E::SwapChanged { secret_hash, state, reason } => Self::SwapChanged {
                secret_hash: hex(secret_hash),
                state: state.to_string(),
                reason: reason.unwrap_or_default(),
            },
        }
    }
}

/// `0x…` lowercase hex of an address or hash.
pub(crate) fn hex(value: impl std::fmt::LowerHex) -> String {
    format!("{value:#x}")
}

/// An address from the app.
pub(crate) fn address(text: &str, what: &str) -> Result<Address, PhotonError> {
    text.parse().map_err(|_| PhotonError::bad(format!("{what} `{text}` is not an address")))
}

/// A 32-byte value (secret, hash) from the app.
pub(crate) fn bytes32(text: &str, what: &str) -> Result<B256, PhotonError> {
    text.parse().map_err(|_| PhotonError::bad(format!("{what} `{text}` is not 32 bytes of hex")))
}

/// An amount from the app: a decimal string.
pub(crate) fn amount(text: &str, what: &str) -> Result<Amount, PhotonError> {
    text.parse().map_err(|e: String| PhotonError::bad(format!("{what}: {e}")))
}
