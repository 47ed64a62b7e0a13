//! What the API and the event stream see of the node: plain serialisable views.

use super::*;

/// A payment that finished.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PaymentOutcome {
    /// Its id.
    pub payment_id: PaymentId,
    /// Target.
    pub target: Address,
    /// What the target received.
    pub amount: String,
    /// Fees paid.
    pub fee: String,
    /// The secret hash (mediated payments).
    pub secrethash: Option<B256>,
}

/// One channel, as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ChannelView {
    /// Channel id.
    pub channel_id: B256,
    /// Token.
    pub token: Address,
    /// Partner.
    pub partner: Address,
    /// open | closing | closed | withdrawing | settling
    pub state: &'static str,
    /// Our balance (deposit + received − sent).
    pub balance: String,
    /// The partner's balance.
    pub partner_balance: String,
    /// Our deposit in this epoch.
    pub deposit: String,
    /// The partner's deposit in this epoch.
    pub partner_deposit: String,
    /// Our pending locks.
    pub locked: String,
    /// The partner's pending locks.
    pub partner_locked: String,
    /// Settle timeout (blocks).
    pub settle_timeout: u64,
    /// Epoch.
    pub epoch: u64,
    /// Why the channel needs attention: the partner refused one of our messages for good
    /// (the node closes such a channel); none normally.
    pub attention: Option<String>,
}

/// A payment in flight, as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PendingTransfer {
    /// The lock's hash.
    pub secrethash: B256,
    /// initiator | mediator | target
    pub role: &'static str,
    /// Payment id.
    pub payment_id: PaymentId,
}

/// The node's status.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Status {
    /// Our address.
    pub address: Address,
    /// Chain id.
    pub chain_id: u64,
    /// The `TokensNetwork` contract.
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
    /// Channels (not settled).
    pub channels: usize,
    /// Payments in flight.
    pub pending_transfers: usize,
    /// Software version.
    pub version: &'static str,
}

/// What the event stream publishes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// We were paid.
    PaymentReceived {
        /// token
        token: Address,
        /// payment id
        payment_id: PaymentId,
        /// from
        initiator: Address,
        /// amount
        amount: String,
    },
    /// A payment we made completed.
    PaymentSent {
        /// token
        token: Address,
        /// payment id
        payment_id: PaymentId,
        /// to
        target: Address,
        /// amount
        amount: String,
    },
    /// A payment we made failed.
    PaymentFailed {
        /// payment id
        payment_id: PaymentId,
        /// why
        reason: String,
    },
    /// The partner refused the message completing a payment of ours but holds our signed
    /// proof of it: count it as paid; the channel is closed and the chain settles it.
    PaymentDisputed {
        /// payment id
        payment_id: PaymentId,
        /// what the partner said
        reason: String,
    },
    /// A new confirmed block.
    Block {
        /// its number
        number: u64,
    },
}

impl Node {
    pub(super) fn status(&self) -> Status {
        Status {
            address: self.state.address,
            chain_id: self.settings.deployment.chain_id,
            tokens_network: self.settings.deployment.tokens_network,
            block: self.state.block,
            chain_head: self.chain.head,
            chain_reachable: self.chain.online,
            syncing: !self.chain.in_sync
                || self.chain.head.is_none_or(|h| {
                    h.saturating_sub(self.settings.confirmations) > self.state.block
                }),
            peers: self.transport.peers(self.state.address),
            p2p_addresses: self.settings.p2p_addresses.clone(),
            channels: self.state.channels.len(),
            pending_transfers: self.state.tasks.len(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    pub(super) fn channels(&self) -> Vec<ChannelView> {
        self.state
            .channels
            .values()
            .map(|c| ChannelView {
                channel_id: c.id,
                token: c.token,
                partner: c.partner,
                state: match c.status {
                    ChannelStatus::Open if c.withdraw.is_some() => "withdrawing",
                    ChannelStatus::Open if c.settle.is_some() => "settling",
                    ChannelStatus::Open => "open",
                    ChannelStatus::Closing => "closing",
                    ChannelStatus::Closed { .. } => "closed",
                },
                balance: c.our_balance().to_string(),
                partner_balance: c.partner_balance().to_string(),
                deposit: c.ours.deposit.to_string(),
                partner_deposit: c.theirs.deposit.to_string(),
                locked: c.ours.locked().to_string(),
                partner_locked: c.theirs.locked().to_string(),
                settle_timeout: c.settle_timeout,
                epoch: c.epoch,
                attention: c.attention.clone(),
            })
            .collect()
    }
}
