//! What the API and the event stream see of the node, built from its state: the types are
//! the API's own ([`photon_api`]), separate from the state's and the storage's.

use super::*;
use photon_api::{Amount, ChannelState, Role};
pub use photon_api::{ChannelView, NodeEvent, PaymentOutcome, PendingTransfer, Status};

/// A channel's life stage as the API names it.
fn channel_state(c: &photon_state::ChannelState) -> ChannelState {
    match c.status {
        ChannelStatus::Open if c.withdraw.is_some() => ChannelState::Withdrawing,
        ChannelStatus::Open if c.settle.is_some() => ChannelState::Settling,
        ChannelStatus::Open => ChannelState::Open,
        ChannelStatus::Closing => ChannelState::Closing,
        ChannelStatus::Closed { .. } => ChannelState::Closed,
    }
}

/// What a [`NodeEvent::ChannelChanged`] tells of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ChannelBrief {
    state: ChannelState,
    deposit: TokenAmount,
    partner_deposit: TokenAmount,
    token: Address,
    partner: Address,
}

impl ChannelBrief {
    /// The event telling that a channel is now `now` (`None`: settled, gone) after `before`.
    pub(super) fn event(
        id: ChannelId, before: Option<Self>, now: Option<Self>,
    ) -> Option<NodeEvent> {
        let (brief, state) = match (before, now) {
            (before, Some(now)) if before != Some(now) => (now, now.state),
            (Some(before), None) => (before, ChannelState::Settled),
            _ => return None,
        };
        Some(NodeEvent::ChannelChanged {
            channel_id: id.0,
            token: brief.token,
            partner: brief.partner,
            state,
            deposit: Amount(brief.deposit.0),
            partner_deposit: Amount(brief.partner_deposit.0),
        })
    }
}

/// A payment in flight, as the API shows it.
pub(super) fn pending_transfer(
    state: &ChainState, secrethash: B256, task: &Task,
) -> PendingTransfer {
    let token_of = |channel_id: &ChannelId| state.channels.get(channel_id).map(|c| c.token);
    let hash = photon_primitives::SecretHash(secrethash);
    let (role, payment_id, lock, token, counterparty, secret_known) = match task {
        Task::Initiator(t) => (
            Role::Initiator,
            t.payment_id,
            t.attempt.map(|(_, lock, _)| lock),
            Some(t.token),
            Some(t.target),
            t.secret.is_some(),
        ),
        Task::Mediator(t) => (
            Role::Mediator,
            t.payment_id,
            Some(t.payer.1),
            token_of(&t.payer.0),
            None,
            t.secret.is_some(),
        ),
        Task::Target(t) => (
            Role::Target,
            t.payment_id,
            Some(t.payer.1),
            token_of(&t.payer.0),
            Some(t.initiator),
            t.secret.is_some() || state.known_secrets.contains_key(&hash),
        ),
    };
    PendingTransfer {
        secrethash,
        role,
        payment_id,
        token,
        amount: lock.map(|l| Amount(l.amount.0)),
        expiration: lock.map(|l| l.expiration),
        counterparty,
        secret_known,
    }
}

impl Node {
    /// Whether the transport reaches `peer` now, and how.
    pub(super) fn peer_status(&self, peer: Address) -> photon_api::PeerStatus {
        let connection = self.transport.connection(self.state.address, peer);
        photon_api::PeerStatus { address: peer, connected: connection.is_some(), connection }
    }

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
            network: self.transport.network(),
            channels: self.state.channels.len(),
            pending_transfers: self.state.tasks.len(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            reveal_timeout: self.state.config.reveal_timeout,
            lock_timeout: self.state.config.lock_timeout,
        }
    }

    /// Where a channel of ours stands, as events tell it: `None` once it is gone (settled).
    pub(super) fn channel_brief(&self, id: &ChannelId) -> Option<ChannelBrief> {
        self.state.channels.get(id).map(|c| ChannelBrief {
            state: channel_state(c),
            deposit: c.ours.deposit,
            partner_deposit: c.theirs.deposit,
            token: c.token,
            partner: c.partner,
        })
    }

    pub(super) fn channels(&self) -> Vec<ChannelView> {
        self.state
            .channels
            .values()
            .map(|c| ChannelView {
                channel_id: c.id.0,
                token: c.token,
                partner: c.partner,
                state: channel_state(c),
                balance: Amount(c.our_balance().0),
                partner_balance: Amount(c.partner_balance().0),
                deposit: Amount(c.ours.deposit.0),
                partner_deposit: Amount(c.theirs.deposit.0),
                locked: Amount(c.ours.locked().0),
                partner_locked: Amount(c.theirs.locked().0),
                settle_timeout: c.settle_timeout.blocks(),
                closed_block: match c.status {
                    ChannelStatus::Closed { block, .. } => Some(block),
                    _ => None,
                },
                settle_block: match c.status {
                    ChannelStatus::Closed { block, .. } => Some(
                        block + c.settle_timeout.blocks() + self.state.config.punish_blocks + 1,
                    ),
                    _ => None,
                },
                epoch: c.epoch.0,
                attention: c.attention.clone(),
                symbol: None,
                decimals: None,
            })
            .collect()
    }
}
