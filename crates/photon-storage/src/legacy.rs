//! Readers of earlier snapshot layouts ([`crate::SNAPSHOT_FORMAT`]), each converting to the
//! current `ChainState`. A snapshot is postcard: fields in declaration order, so a layout is
//! the list of its fields; these mirror the old ones exactly.

use photon_primitives::eip712::Domain;
use photon_primitives::messages::MessageId;
use photon_primitives::{Address, BlockNumber, ChannelId, Secret, SecretHash, SettleTimeout};
use photon_state::{ChainState, ChannelState, Config, FeePolicy, FeeSchedule, Task};
use std::collections::{BTreeMap, BTreeSet};

/// Format 1 (schema versions 4 and 5): `Config` without `mediate` (every node mediated).
pub(crate) mod format_1 {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Config1 {
        reveal_timeout: BlockNumber,
        lock_timeout: BlockNumber,
        signature_validity: BlockNumber,
        max_locks: usize,
        fee: FeePolicy,
        punish_blocks: BlockNumber,
        expiry_margin: BlockNumber,
        min_settle_timeout: SettleTimeout,
        max_settle_timeout: SettleTimeout,
    }

    /// `ChainState` as format 1 wrote it.
    #[derive(serde::Serialize, serde::Deserialize)]
    pub(crate) struct ChainState1 {
        address: Address,
        domain: Domain,
        block: BlockNumber,
        config: Config1,
        channels: BTreeMap<ChannelId, ChannelState>,
        tasks: BTreeMap<SecretHash, Task>,
        registered: BTreeMap<SecretHash, BlockNumber>,
        next_message_id: MessageId,
        fees: FeeSchedule,
        known_secrets: BTreeMap<SecretHash, Secret>,
        network: BTreeMap<ChannelId, (Address, Address, Address)>,
        chain_synced: bool,
        settled: BTreeSet<ChannelId>,
    }

    impl From<ChainState1> for ChainState {
        fn from(s: ChainState1) -> Self {
            let c = s.config;
            let config = Config {
                reveal_timeout: c.reveal_timeout,
                lock_timeout: c.lock_timeout,
                signature_validity: c.signature_validity,
                max_locks: c.max_locks,
                fee: c.fee,
                punish_blocks: c.punish_blocks,
                expiry_margin: c.expiry_margin,
                min_settle_timeout: c.min_settle_timeout,
                max_settle_timeout: c.max_settle_timeout,
                mediate: true,
            };
            let mut state = Self::new(s.address, s.domain, s.block, config);
            state.channels = s.channels;
            state.tasks = s.tasks;
            state.registered = s.registered;
            state.next_message_id = s.next_message_id;
            state.fees = s.fees;
            state.known_secrets = s.known_secrets;
            state.network = s.network;
            state.chain_synced = s.chain_synced;
            state.settled = s.settled;
            state
        }
    }

    impl From<&ChainState> for ChainState1 {
        fn from(s: &ChainState) -> Self {
            let c = s.config;
            Self {
                address: s.address,
                domain: s.domain.clone(),
                block: s.block,
                config: Config1 {
                    reveal_timeout: c.reveal_timeout,
                    lock_timeout: c.lock_timeout,
                    signature_validity: c.signature_validity,
                    max_locks: c.max_locks,
                    fee: c.fee,
                    punish_blocks: c.punish_blocks,
                    expiry_margin: c.expiry_margin,
                    min_settle_timeout: c.min_settle_timeout,
                    max_settle_timeout: c.max_settle_timeout,
                },
                channels: s.channels.clone(),
                tasks: s.tasks.clone(),
                registered: s.registered.clone(),
                next_message_id: s.next_message_id,
                fees: s.fees.clone(),
                known_secrets: s.known_secrets.clone(),
                network: s.network.clone(),
                chain_synced: s.chain_synced,
                settled: s.settled.clone(),
            }
        }
    }
}
