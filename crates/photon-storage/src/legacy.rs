//! Readers of earlier layouts, each converting to the current types: snapshots
//! ([`crate::SNAPSHOT_FORMAT`]) and the log records of schema version 5. Storage is postcard:
//! fields in declaration order, an enum's variant as its index (a varint) before its fields,
//! so a layout is the list of its fields; these mirror the old ones exactly.

use photon_primitives::eip712::Domain;
use photon_primitives::messages::{MessageId, PaymentId};
use photon_primitives::{
    Address, BlockNumber, ChannelId, Lock, Secret, SecretHash, SettleTimeout, TokenAmount,
};
use photon_state::state::{InitiatorTask, MediatorTask, TargetTask};
use photon_state::{ChainState, ChannelState, Config, FeePolicy, FeeSchedule, Task};
use std::collections::{BTreeMap, BTreeSet};

/// `Task` as formats 1 and 2 wrote it: initiator and target tasks without the payment's data.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum Task2 {
    Initiator(InitiatorTask2),
    Mediator(MediatorTask),
    Target(TargetTask2),
}

/// `InitiatorTask` without `data`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct InitiatorTask2 {
    payment_id: PaymentId,
    token: Address,
    target: Address,
    amount: TokenAmount,
    secret: Option<Secret>,
    secrethash: SecretHash,
    routes_left: Vec<photon_state::Route>,
    fee_limit: TokenAmount,
    attempt: Option<(ChannelId, Lock, TokenAmount)>,
    secret_revealed: bool,
}

/// `TargetTask` without `data`.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct TargetTask2 {
    payment_id: PaymentId,
    initiator: Address,
    payer: (ChannelId, Lock),
    amount: TokenAmount,
    secret: Option<Secret>,
    registered: bool,
}

impl From<Task2> for Task {
    fn from(task: Task2) -> Self {
        match task {
            Task2::Initiator(t) => Self::Initiator(InitiatorTask {
                payment_id: t.payment_id,
                token: t.token,
                target: t.target,
                amount: t.amount,
                secret: t.secret,
                secrethash: t.secrethash,
                routes_left: t.routes_left,
                fee_limit: t.fee_limit,
                attempt: t.attempt,
                secret_revealed: t.secret_revealed,
                data: Vec::new(),
            }),
            Task2::Mediator(t) => Self::Mediator(t),
            Task2::Target(t) => Self::Target(TargetTask {
                payment_id: t.payment_id,
                initiator: t.initiator,
                payer: t.payer,
                amount: t.amount,
                secret: t.secret,
                registered: t.registered,
                data: Vec::new(),
            }),
        }
    }
}

impl From<&Task> for Task2 {
    fn from(task: &Task) -> Self {
        match task.clone() {
            Task::Initiator(t) => Self::Initiator(InitiatorTask2 {
                payment_id: t.payment_id,
                token: t.token,
                target: t.target,
                amount: t.amount,
                secret: t.secret,
                secrethash: t.secrethash,
                routes_left: t.routes_left,
                fee_limit: t.fee_limit,
                attempt: t.attempt,
                secret_revealed: t.secret_revealed,
            }),
            Task::Mediator(t) => Self::Mediator(t),
            Task::Target(t) => Self::Target(TargetTask2 {
                payment_id: t.payment_id,
                initiator: t.initiator,
                payer: t.payer,
                amount: t.amount,
                secret: t.secret,
                registered: t.registered,
            }),
        }
    }
}

/// `ChainState` before the swaps (formats 2 and 3), its tasks in format 2's layout (`Task2`)
/// or today's (`Task`): the two formats differ in nothing else.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct BeforeSwaps<T> {
    pub(crate) address: Address,
    pub(crate) domain: Domain,
    pub(crate) block: BlockNumber,
    pub(crate) config: Config,
    pub(crate) channels: BTreeMap<ChannelId, ChannelState>,
    pub(crate) tasks: BTreeMap<SecretHash, T>,
    pub(crate) registered: BTreeMap<SecretHash, BlockNumber>,
    pub(crate) next_message_id: MessageId,
    pub(crate) fees: FeeSchedule,
    pub(crate) known_secrets: BTreeMap<SecretHash, Secret>,
    pub(crate) network: BTreeMap<ChannelId, (Address, Address, Address)>,
    pub(crate) chain_synced: bool,
    pub(crate) settled: BTreeSet<ChannelId>,
}

impl<T> BeforeSwaps<T> {
    /// Today's state: no swaps, each task converted by `task`.
    fn into_state(self, task: impl Fn(T) -> Task) -> ChainState {
        let mut state = ChainState::new(self.address, self.domain, self.block, self.config);
        state.channels = self.channels;
        state.tasks = self.tasks.into_iter().map(|(hash, t)| (hash, task(t))).collect();
        state.registered = self.registered;
        state.next_message_id = self.next_message_id;
        state.fees = self.fees;
        state.known_secrets = self.known_secrets;
        state.network = self.network;
        state.chain_synced = self.chain_synced;
        state.settled = self.settled;
        state
    }

    /// Today's state as this layout says it (its swaps dropped, each task converted by
    /// `task`).
    fn of(s: &ChainState, task: impl Fn(&Task) -> T) -> Self {
        Self {
            address: s.address,
            domain: s.domain.clone(),
            block: s.block,
            config: s.config,
            channels: s.channels.clone(),
            tasks: s.tasks.iter().map(|(hash, t)| (*hash, task(t))).collect(),
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

/// Format 3 (schema version 6, before swaps): `ChainState` without `swaps`.
pub(crate) mod format_3 {
    use super::*;

    /// `ChainState` as format 3 wrote it.
    pub(crate) type ChainState3 = BeforeSwaps<Task>;

    impl From<ChainState3> for ChainState {
        fn from(s: ChainState3) -> Self {
            s.into_state(|task| task)
        }
    }

    impl From<&ChainState> for ChainState3 {
        /// Today's, less what format 3 cannot say (the swaps).
        fn from(s: &ChainState) -> Self {
            Self::of(s, Task::clone)
        }
    }
}

/// Format 2 (schema version 5): tasks without the payment's data.
pub(crate) mod format_2 {
    use super::*;

    /// `ChainState` as format 2 wrote it.
    pub(crate) type ChainState2 = BeforeSwaps<Task2>;

    impl From<ChainState2> for ChainState {
        fn from(s: ChainState2) -> Self {
            s.into_state(Task::from)
        }
    }

    impl From<&ChainState> for ChainState2 {
        /// Today's, less what format 2 cannot say (the swaps, the payments' data).
        fn from(s: &ChainState) -> Self {
            Self::of(s, |task| Task2::from(task))
        }
    }
}

/// Format 1 (schema versions 4 and 5): `Config` without `mediate` (every node mediated),
/// tasks as format 2.
pub(crate) mod format_1 {
    use super::format_2::ChainState2;
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
        tasks: BTreeMap<SecretHash, Task2>,
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
            ChainState2 {
                address: s.address,
                domain: s.domain,
                block: s.block,
                config: Config {
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
                },
                channels: s.channels,
                tasks: s.tasks,
                registered: s.registered,
                next_message_id: s.next_message_id,
                fees: s.fees,
                known_secrets: s.known_secrets,
                network: s.network,
                chain_synced: s.chain_synced,
                settled: s.settled,
            }
            .into()
        }
    }

    impl From<&ChainState> for ChainState1 {
        /// Format 2's, less what format 1 cannot say (`mediate`).
        fn from(s: &ChainState) -> Self {
            let s = ChainState2::from(s);
            let c = s.config;
            Self {
                address: s.address,
                domain: s.domain,
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
                channels: s.channels,
                tasks: s.tasks,
                registered: s.registered,
                next_message_id: s.next_message_id,
                fees: s.fees,
                known_secrets: s.known_secrets,
                network: s.network,
                chain_synced: s.chain_synced,
                settled: s.settled,
            }
        }
    }
}

/// The log records and events of schema version 5 that version 6 lays out otherwise: the
/// payment state changes and the received-payment event gained a last field, `data`.
pub(crate) mod records_5 {
    use super::*;
    use crate::error::{Result, StorageError};
    use photon_state::changes::{Event, Route, StateChange};

    /// Variant indexes (postcard writes the index, then the fields): new variants are only
    /// ever appended, so these stay (a test checks them against today's encoding).
    pub(crate) const SEND_DIRECT: u8 = 3;
    pub(crate) const SEND_MEDIATED: u8 = 4;
    pub(crate) const PAYMENT_RECEIVED: u8 = 3;

    /// `StateChange::SendDirect` without `data`.
    #[derive(serde::Deserialize)]
    struct SendDirect5 {
        channel_id: ChannelId,
        payment_id: PaymentId,
        amount: TokenAmount,
    }

    /// `StateChange::SendMediated` without `data`.
    #[derive(serde::Deserialize)]
    struct SendMediated5 {
        token: Address,
        payment_id: PaymentId,
        target: Address,
        amount: TokenAmount,
        secret: Option<Secret>,
        secrethash: SecretHash,
        routes: Vec<Route>,
        fee_limit: TokenAmount,
    }

    /// `Event::PaymentReceived` without `data`.
    #[derive(serde::Deserialize)]
    struct PaymentReceived5 {
        token: Address,
        payment_id: PaymentId,
        initiator: Address,
        amount: TokenAmount,
    }

    fn body<'a, T: serde::Deserialize<'a>>(
        table: &'static str, id: i64, bytes: &'a [u8],
    ) -> Result<T> {
        postcard::from_bytes(bytes).map_err(|e| StorageError::Corrupt {
            table,
            id,
            reason: format!("version 5 record: {e}"),
        })
    }

    /// A version 5 log record in today's layout, if its layout changed (`None`: it reads
    /// as it is). A variant index below 128 is one byte.
    pub(crate) fn state_change(id: i64, bytes: &[u8]) -> Result<Option<StateChange>> {
        let table = "state_changes";
        Ok(match bytes.split_first() {
            Some((&SEND_DIRECT, rest)) => {
                let c: SendDirect5 = body(table, id, rest)?;
                Some(StateChange::SendDirect {
                    channel_id: c.channel_id,
                    payment_id: c.payment_id,
                    amount: c.amount,
                    data: Vec::new(),
                })
            }
            Some((&SEND_MEDIATED, rest)) => {
                let c: SendMediated5 = body(table, id, rest)?;
                Some(StateChange::SendMediated {
                    token: c.token,
                    payment_id: c.payment_id,
                    target: c.target,
                    amount: c.amount,
                    secret: c.secret,
                    secrethash: c.secrethash,
                    routes: c.routes,
                    fee_limit: c.fee_limit,
                    data: Vec::new(),
                })
            }
            _ => None,
        })
    }

    /// A version 5 event in today's layout, if its layout changed.
    pub(crate) fn event(id: i64, bytes: &[u8]) -> Result<Option<Event>> {
        Ok(match bytes.split_first() {
            Some((&PAYMENT_RECEIVED, rest)) => {
                let e: PaymentReceived5 = body("events", id, rest)?;
                Some(Event::PaymentReceived {
                    token: e.token,
                    payment_id: e.payment_id,
                    initiator: e.initiator,
                    amount: e.amount,
                    data: Vec::new(),
                })
            }
            _ => None,
        })
    }

    /// Rewrites, inside the migration's transaction, every record and event whose layout
    /// changed, a thousand at a time (a long log is never all in memory).
    pub(crate) fn rewrite(tx: &rusqlite::Transaction<'_>) -> Result<()> {
        rewrite_table(tx, "state_changes", &[SEND_DIRECT, SEND_MEDIATED], |id, bytes| {
            state_change(id, bytes)?.map(|c| crate::store::encode(&c)).transpose()
        })?;
        rewrite_table(tx, "events", &[PAYMENT_RECEIVED], |id, bytes| {
            event(id, bytes)?.map(|e| crate::store::encode(&e)).transpose()
        })
    }

    /// Rewrites with `convert` the rows of `table` whose first byte (the variant index) is
    /// one of `indexes`.
    fn rewrite_table(
        tx: &rusqlite::Transaction<'_>, table: &str, indexes: &[u8],
        convert: impl Fn(i64, &[u8]) -> Result<Option<Vec<u8>>>,
    ) -> Result<()> {
        let first_bytes: Vec<String> = indexes.iter().map(|i| format!("'{i:02X}'")).collect();
        let mut select = tx.prepare(&format!(
            "SELECT id, data FROM {table} WHERE id > ?1 AND hex(substr(data, 1, 1)) IN ({})
             ORDER BY id LIMIT 1000",
            first_bytes.join(", ")
        ))?;
        let mut update = tx.prepare(&format!("UPDATE {table} SET data = ?1 WHERE id = ?2"))?;
        let mut after = 0i64;
        loop {
            let rows: Vec<(i64, Vec<u8>)> = select
                .query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let Some(&(last, _)) = rows.last() else { return Ok(()) };
            for (id, bytes) in rows {
                if let Some(new) = convert(id, &bytes)? {
                    update.execute(rusqlite::params![new, id])?;
                }
            }
            after = last;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::records_5::{self, PAYMENT_RECEIVED, SEND_DIRECT, SEND_MEDIATED};
    use photon_primitives::{Address, ChannelId, Secret, TokenAmount};
    use photon_state::changes::{Event, Route, StateChange};

    /// Version 5's encoding of `value`, whose last field (today's `data`) is empty: today's
    /// without that field's one zero byte.
    fn without_data<T: serde::Serialize>(value: &T) -> Vec<u8> {
        let mut bytes = postcard::to_stdvec(value).unwrap();
        assert_eq!(bytes.pop(), Some(0));
        bytes
    }

    #[test]
    fn version_5_payment_records_read_as_todays_without_data() {
        let secret = Secret(photon_primitives::B256::repeat_byte(7));
        let direct = StateChange::SendDirect {
            channel_id: ChannelId(photon_primitives::B256::repeat_byte(1)),
            payment_id: 300,
            amount: TokenAmount(u128::MAX),
            data: Vec::new(),
        };
        let mediated = StateChange::SendMediated {
            token: Address::repeat_byte(2),
            payment_id: 9,
            target: Address::repeat_byte(3),
            amount: TokenAmount(5),
            secret: Some(secret),
            secrethash: secret.hash(),
            routes: vec![Route { path: vec![Address::repeat_byte(4)], fee: TokenAmount(1) }],
            fee_limit: TokenAmount(2),
            data: Vec::new(),
        };
        let received = Event::PaymentReceived {
            token: Address::repeat_byte(2),
            payment_id: 9,
            initiator: Address::repeat_byte(5),
            amount: TokenAmount(5),
            data: Vec::new(),
        };
        // the variant indexes the migration looks for are today's
        assert_eq!(postcard::to_stdvec(&direct).unwrap()[0], SEND_DIRECT);
        assert_eq!(postcard::to_stdvec(&mediated).unwrap()[0], SEND_MEDIATED);
        assert_eq!(postcard::to_stdvec(&received).unwrap()[0], PAYMENT_RECEIVED);
        for change in [direct, mediated] {
            assert_eq!(records_5::state_change(1, &without_data(&change)).unwrap(), Some(change));
        }
        assert_eq!(records_5::event(1, &without_data(&received)).unwrap(), Some(received));
        // other records are left as they are; a damaged one is an error, not a guess
        let block = postcard::to_stdvec(&StateChange::Block(5)).unwrap();
        assert_eq!(records_5::state_change(1, &block).unwrap(), None);
        assert!(records_5::state_change(1, &[SEND_DIRECT, 1, 2]).is_err());
    }
}
