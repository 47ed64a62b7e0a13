//! The SQLite store.

use crate::error::{Result, StorageError};
use crate::history::{Direction, PaymentFilter, PaymentRecord};
use photon_primitives::messages::Message;
use photon_primitives::TokenAmount;
use photon_primitives::{Address, Signer};
use photon_state::changes::{ContractCall, Event, PaymentFailure, StateChange};
use photon_state::{transition, ChainState};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

/// Debug builds only: if the environment variable `PHOTON_CRASH_AT` names this point, the
/// process aborts here, as a crash would (no destructor runs, nothing is flushed). The crash
/// tests name the points; storage's own are `compact:before_commit`, `compact:committed`,
/// `compact:vacuuming`, `migrate:before_commit` and `migrate:committed`.
pub fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    {
        static TARGET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        if TARGET.get_or_init(|| std::env::var("PHOTON_CRASH_AT").ok()).as_deref() == Some(point) {
            eprintln!("PHOTON_CRASH_AT={point}: aborting");
            std::process::abort();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

/// What a delivery report completes.
#[derive(Clone, Debug, Default)]
pub struct Delivered {
    /// The sent payment the message completed, if any.
    pub payment: Option<PaymentRecord>,
    /// The message, when the partner refused it (what the refusal was about).
    pub refused_message: Option<Message>,
}

/// Layout version of what is stored. 2: `ChainState` gained `chain_synced`. 3: the second
/// contracts (disposals bound to a nonce, withdrawals to a deposit) and wire version 2; the
/// log records of versions 1 and 2 cannot be read any more, and their channels live on the
/// first contracts, which this build does not speak. 4: fee policies gained an imbalance
/// component (`FeePolicy::imbalance_ppm`), which changes the binary layout of the state and of
/// the fee-setting log records; a version 3 database is refused with a clear error (close its
/// channels with the build that wrote it), not misread.
/// 5: the log is compacted behind snapshots, so the payment history no longer references log
/// records, snapshots carry their format ([`SNAPSHOT_FORMAT`]) and the file frees pages
/// incrementally; a version 4 database is migrated in place on open.
/// 6: payments carry data (`SendDirect`/`SendMediated` log records and `PaymentReceived`
/// events gained a last field, the payment history a `data` column); a version 5 (or 4)
/// database is migrated in place on open, its records rewritten in the new layout (see
/// [`crate::legacy::records_5`]).
const SCHEMA_VERSION: i64 = 6;

/// Layout of a stored `ChainState` snapshot. A change to what `ChainState` serialises to bumps
/// it and adds, in `decode_snapshot`, a reader of the previous layout converting it to the
/// new one: once the log is compacted, an upgrade can only start from a snapshot. 1: the
/// layout of schema versions 4 and 5. 2: `Config::mediate` (a node may refuse to mediate);
/// format 1 reads as a node that mediates. 3: initiator and target tasks keep the payment's
/// data; formats 1 and 2 read as payments without data. 4: the state keeps the node's token
/// swaps (`ChainState::swaps`); earlier formats read as a node without swaps.
pub const SNAPSHOT_FORMAT: i64 = 4;

/// The payment history's table, named `$name` (the schema's, and the one migration 4 → 5
/// copies into): one definition for both.
macro_rules! payments_table {
    ($name:literal) => {
        concat!(
            "\nCREATE TABLE ",
            $name,
            " (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state_change_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    direction TEXT NOT NULL,
    payment_id INTEGER NOT NULL,
    token BLOB NOT NULL,
    counterparty BLOB,
    amount TEXT NOT NULL,
    fee TEXT NOT NULL,
    reason TEXT,
    awaiting INTEGER,
    data BLOB
);
"
        )
    };
}

const SCHEMA: &str = concat!(
    "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state_changes (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    state_change_id INTEGER NOT NULL REFERENCES state_changes(id),
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_change ON events(state_change_id);
CREATE TABLE IF NOT EXISTS snapshots (
    state_change_id INTEGER PRIMARY KEY,
    format INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS acks (
    sender BLOB NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (sender, message_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    recipient BLOB NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_transactions (
    id INTEGER PRIMARY KEY,
    state_change_id INTEGER NOT NULL REFERENCES state_changes(id),
    data BLOB NOT NULL
);
",
    payments_table!("IF NOT EXISTS payments"),
);

/// The history's indexes (made again when version 4's table is migrated).
const PAYMENT_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS payments_awaiting ON payments(awaiting) WHERE awaiting IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_by_token ON payments(token, at);
CREATE INDEX IF NOT EXISTS payments_by_counterparty ON payments(counterparty, at);
CREATE INDEX IF NOT EXISTS payments_by_at ON payments(at);
CREATE INDEX IF NOT EXISTS payments_by_payment_id ON payments(payment_id);
";

/// Version 4 to 5, in one transaction: snapshots get their format (version 4's are format
/// 1); the history is copied into a table that does not reference the log, whose ids are
/// never reused (retention may delete the newest row).
const MIGRATE_4_TO_5: &str = concat!(
    "ALTER TABLE snapshots ADD COLUMN format INTEGER NOT NULL DEFAULT 1;",
    payments_table!("payments_v5"),
    "
INSERT INTO payments_v5 (id, state_change_id, at, direction, payment_id, token,
    counterparty, amount, fee, reason, awaiting)
SELECT id, state_change_id, at, direction, payment_id, token,
    counterparty, amount, fee, reason, awaiting FROM payments;
DROP TABLE payments;
ALTER TABLE payments_v5 RENAME TO payments;
",
);

/// `state` as a snapshot of layout `format`, the current one or an earlier one (format 1
/// drops what it cannot say: a node that does not mediate). For tools and tests that need a
/// database as an older build wrote it.
pub fn encode_snapshot(format: i64, state: &ChainState) -> Result<Vec<u8>> {
    match format {
        SNAPSHOT_FORMAT => encode(state),
        3 => encode(&crate::legacy::format_3::ChainState3::from(state)),
        2 => encode(&crate::legacy::format_2::ChainState2::from(state)),
        1 => encode(&crate::legacy::format_1::ChainState1::from(state)),
        _ => Err(StorageError::Corrupt {
            table: "snapshots",
            id: 0,
            reason: format!("no writer of snapshot format {format}"),
        }),
    }
}

/// Reads a stored snapshot of layout `format` (see [`SNAPSHOT_FORMAT`]).
fn decode_snapshot(id: i64, format: i64, bytes: &[u8]) -> Result<ChainState> {
    match format {
        SNAPSHOT_FORMAT => decode("snapshots", id, bytes),
        3 => decode::<crate::legacy::format_3::ChainState3>("snapshots", id, bytes).map(Into::into),
        2 => decode::<crate::legacy::format_2::ChainState2>("snapshots", id, bytes).map(Into::into),
        1 => decode::<crate::legacy::format_1::ChainState1>("snapshots", id, bytes).map(Into::into),
        newer if newer > SNAPSHOT_FORMAT => Err(StorageError::SnapshotFormat { id, format }),
        _ => Err(StorageError::Corrupt {
            table: "snapshots",
            id,
            reason: format!("unknown snapshot format {format}"),
        }),
    }
}

/// What [`Storage::compact`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Compacted {
    /// Log records (state changes) the latest snapshot covers.
    pub state_changes: u64,
    /// Their events.
    pub events: u64,
    /// Older snapshots.
    pub snapshots: u64,
    /// Finished payments older than the retention.
    pub payments: u64,
}

/// How many bytes the database holds, by purpose ([`Storage::footprint`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The log: state changes and their events.
    pub log: u64,
    /// Snapshots.
    pub snapshots: u64,
    /// What the node must still carry out: the outbox, pending transactions, processed
    /// message ids (exactly-once delivery).
    pub pending: u64,
    /// The payment history (user data).
    pub history: u64,
    /// Records in the log.
    pub log_records: u64,
}

/// Whose database this is: one per account, chain and contract.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NodeIdentity {
    /// The node's account.
    pub address: Address,
    /// The chain id.
    pub chain_id: u64,
    /// The `TokensNetwork` contract.
    pub contract: Address,
}

/// One accepted state change, the events it produced, and when (unix seconds).
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// The state change.
    pub change: &'a StateChange,
    /// Its events.
    pub events: &'a [Event],
    /// Wall-clock time of logging, unix seconds (history only; the protocol ignores it).
    pub at: u64,
}

/// The state rebuilt by [`Storage::restore`].
#[derive(Debug)]
pub struct Restored {
    /// The state.
    pub state: ChainState,
    /// Id of the last state change applied (0: none).
    pub last_change: u64,
    /// How many state changes were replayed after the snapshot.
    pub replayed: u64,
    /// Id of the snapshot restored from (0: none).
    pub snapshot: u64,
}

/// The node's database.
#[derive(Debug)]
pub struct Storage {
    conn: Connection,
    path: String,
}

pub(crate) fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| StorageError::Encode(e.to_string()))
}

/// Makes `conn` durable and exclusive and applies `schema`: WAL with `synchronous=FULL`, and
/// exclusive locking (the first write takes a lock held until the connection closes, so a
/// second process is refused with [`StorageError::Locked`]).
pub fn durable(conn: Connection, path: &str, schema: &str) -> Result<Connection> {
    let locked = |e: rusqlite::Error| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
            StorageError::Locked(path.to_string())
        }
        other => StorageError::Sqlite(other),
    };
    conn.busy_timeout(std::time::Duration::from_millis(200))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(locked)?;
    // freed pages go back to the file system: takes effect on a new file only, and only if
    // set before the switch to WAL writes its first page (older files: see the migrations)
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(locked)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(locked)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(locked)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(locked)?;
    conn.execute_batch(schema).map_err(locked)?;
    Ok(conn)
}

fn decode<T: serde::de::DeserializeOwned>(table: &'static str, id: i64, bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StorageError::Corrupt {
        table,
        id,
        reason: e.to_string(),
    })
}

impl Storage {
    /// Opens (creating if needed) the database at `path` for `identity`; refuses a database of
    /// another identity and a database another process holds.
    pub fn open(path: &Path, identity: &NodeIdentity) -> Result<Self> {
        let conn = Connection::open(path)?;
        Self::init(conn, path.display().to_string(), identity)
    }

    /// An in-memory database (tests).
    pub fn open_in_memory(identity: &NodeIdentity) -> Result<Self> {
        Self::init(Connection::open_in_memory()?, ":memory:".into(), identity)
    }

    fn init(conn: Connection, path: String, identity: &NodeIdentity) -> Result<Self> {
        let conn = durable(conn, &path, SCHEMA)?;
        conn.execute_batch(PAYMENT_INDEXES)?;
        let mut storage = Self { conn, path };
        storage.check_identity(identity)?;
        storage.release_pages_if_old();
        Ok(storage)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn check_identity(&mut self, identity: &NodeIdentity) -> Result<()> {
        let mut migrate_from = None;
        if let Some(version) = self.meta("schema_version")? {
            let version = i64::from_be_bytes(version.try_into().unwrap_or([0xff; 8]));
            if version > SCHEMA_VERSION {
                return Err(StorageError::Schema(version));
            }
            if version < 4 {
                return Err(StorageError::Incompatible(version));
            }
            if version < SCHEMA_VERSION {
                migrate_from = Some(version);
            }
        }
        // a database of another node is refused before anything in it is rewritten
        self.check_owner(identity)?;
        if let Some(version) = migrate_from {
            self.migrate_from(version)?;
        }
        Ok(())
    }

    /// Refuses a database of another identity; records ours in a new one.
    fn check_owner(&mut self, identity: &NodeIdentity) -> Result<()> {
        let stored = match self.meta("identity")? {
            Some(bytes) => Some(decode::<(Address, u64, Address)>("meta", 0, &bytes)?),
            None => None,
        };
        match stored {
            Some((address, chain, contract))
                if address != identity.address
                    || chain != identity.chain_id
                    || contract != identity.contract =>
            {
                Err(StorageError::WrongNode {
                    address: identity.address,
                    chain: identity.chain_id,
                    found_address: address,
                    found_chain: chain,
                })
            }
            Some(_) => Ok(()),
            None => {
                let tx = self.conn.transaction()?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('identity', ?1)",
                    [encode(&(identity.address, identity.chain_id, identity.contract))?],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
                    [SCHEMA_VERSION.to_be_bytes().to_vec()],
                )?;
                tx.commit()?;
                Ok(())
            }
        }
    }

    /// Version 4 or 5 to the current one in one transaction: a crash before its commit
    /// leaves the old version (the next open migrates again). 4 to 5: see [`MIGRATE_4_TO_5`];
    /// 5 to 6: the history gets its `data` column (version 4's table is remade with it) and
    /// the log records and events of payments are rewritten in their new layout.
    fn migrate_from(&mut self, version: i64) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if version == 4 {
            tx.execute_batch(MIGRATE_4_TO_5)?;
            tx.execute_batch(PAYMENT_INDEXES)?;
        } else {
            tx.execute_batch("ALTER TABLE payments ADD COLUMN data BLOB;")?;
        }
        crate::legacy::records_5::rewrite(&tx)?;
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
            [SCHEMA_VERSION.to_be_bytes().to_vec()],
        )?;
        crash_point("migrate:before_commit");
        tx.commit()?;
        crash_point("migrate:committed");
        Ok(())
    }

    /// A file made before version 5 does not give freed pages back: turn incremental vacuum
    /// on, which takes one `VACUUM` (it needs about the file's size free on disk). Best
    /// effort: if it fails (or a crash interrupts it, which SQLite's journal makes safe), the
    /// data is intact, compaction still frees space inside the file, and the next open tries
    /// again.
    fn release_pages_if_old(&mut self) {
        let mode: rusqlite::Result<i64> =
            self.conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0));
        if matches!(mode, Ok(0)) && self.path != ":memory:" {
            let _ = self
                .conn
                .pragma_update(None, "auto_vacuum", "INCREMENTAL")
                .and_then(|()| self.conn.execute_batch("VACUUM"));
        }
    }

    /// Logs accepted state changes with their events in one transaction (group commit): when
    /// this returns, all of them are durable. Returns their ids, in order.
    pub fn append(&mut self, records: &[Record<'_>]) -> Result<Vec<u64>> {
        Ok(self.append_with_transactions(records)?.0)
    }

    /// [`Storage::append`], also recording every transaction event as pending until
    /// [`Storage::complete_transaction`]; returns the state change ids and, in order of
    /// appearance, the ids of the pending transactions.
    pub fn append_with_transactions(
        &mut self, records: &[Record<'_>],
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let (ids, pending, _) = self.append_all(records)?;
        Ok((ids, pending))
    }

    /// [`Storage::append_with_transactions`], also keeping every message to a peer (but
    /// acknowledgements) in an outbox until [`Storage::delivered`]; returns, in order of
    /// appearance, the outbox ids as a third list.
    pub fn append_all(&mut self, records: &[Record<'_>]) -> Result<(Vec<u64>, Vec<u64>, Vec<u64>)> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut ids = Vec::with_capacity(records.len());
        let mut pending = Vec::new();
        let mut outbox = Vec::new();
        {
            let mut insert_outbox =
                tx.prepare_cached("INSERT INTO outbox (recipient, data) VALUES (?1, ?2)")?;
            let mut insert_pending = tx.prepare_cached(
                "INSERT INTO pending_transactions (state_change_id, data) VALUES (?1, ?2)",
            )?;
            let mut insert_ack = tx.prepare_cached(
                "INSERT OR IGNORE INTO acks (sender, message_id) VALUES (?1, ?2)",
            )?;
            let mut insert_change =
                tx.prepare_cached("INSERT INTO state_changes (at, data) VALUES (?1, ?2)")?;
            let mut insert_event =
                tx.prepare_cached("INSERT INTO events (state_change_id, data) VALUES (?1, ?2)")?;
            let mut insert_payment = tx.prepare_cached(
                "INSERT INTO payments (state_change_id, at, direction, payment_id, token, counterparty, amount, fee, reason, awaiting, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            for record in records {
                // the outbox id of the message just sent: a payment reported sent right after
                // it succeeds once the partner acknowledges that message
                let mut last_sent: Option<i64> = None;
                let at = i64::try_from(record.at).unwrap_or(i64::MAX);
                insert_change.execute(params![at, encode(record.change)?])?;
                let id = tx.last_insert_rowid();
                // the message is processed: a retransmission gets the stored acknowledgement
                if let StateChange::Receive { sender, message } = record.change {
                    let message_id = i64::from_ne_bytes(message.message_id().to_ne_bytes());
                    insert_ack.execute(params![sender.as_slice(), message_id])?;
                }
                for event in record.events {
                    insert_event.execute(params![id, encode(event)?])?;
                    let awaiting = match event {
                        Event::PaymentSent { .. } => last_sent.take(),
                        _ => None,
                    };
                    // only the event right before counts (the node reads it the same way)
                    last_sent = None;
                    if let Event::Transact(call) = event {
                        insert_pending.execute(params![id, encode(call)?])?;
                        pending.push(u64::try_from(tx.last_insert_rowid()).unwrap_or_default());
                    }
                    if let Some((recipient, message)) = event.outbox_message() {
                        insert_outbox.execute(params![recipient.as_slice(), message.encode()])?;
                        last_sent = Some(tx.last_insert_rowid());
                        outbox.push(u64::try_from(tx.last_insert_rowid()).unwrap_or_default());
                    }
                    if let Some(p) = payment_row(event) {
                        insert_payment.execute(params![
                            id,
                            at,
                            p.direction.as_str(),
                            i64::from_ne_bytes(p.payment_id.to_ne_bytes()),
                            p.token.as_slice(),
                            p.counterparty.as_ref().map(|a| a.as_slice().to_vec()),
                            p.amount.to_string(),
                            p.fee.to_string(),
                            p.reason,
                            awaiting,
                            (!p.data.is_empty()).then_some(&p.data),
                        ])?;
                    }
                }
                ids.push(u64::try_from(id).unwrap_or_default());
            }
        }
        tx.commit()?;
        Ok((ids, pending, outbox))
    }

    /// A message of the outbox reached its peer: acknowledged (`refused` is `None`; the
    /// payment it completes, if any, succeeded) or refused for good (that payment stays sent,
    /// marked disputed: the partner holds its signed proof).
    pub fn delivered(&mut self, id: u64, refused: Option<&str>) -> Result<Delivered> {
        let mut all = self.delivered_all(&[(id, refused)])?;
        Ok(all.pop().unwrap_or_default())
    }

    /// [`Storage::delivered`] for many messages in one transaction (one sync to disk): the
    /// transport reports a whole batch of answers at once. Returns, in order, what each
    /// delivery completes.
    pub fn delivered_all(&mut self, reports: &[(u64, Option<&str>)]) -> Result<Vec<Delivered>> {
        let tx = self.conn.transaction()?;
        let mut done = Vec::with_capacity(reports.len());
        {
            let mut completes = tx.prepare_cached(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE awaiting = ?1"
            ))?;
            let mut message = tx.prepare_cached("SELECT data FROM outbox WHERE id = ?1")?;
            let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
            let mut acked =
                tx.prepare_cached("UPDATE payments SET awaiting = NULL WHERE awaiting = ?1")?;
            // the partner holds our signed proof of it: it stays sent (it can be paid on chain)
            let mut disputed = tx.prepare_cached(
                "UPDATE payments SET awaiting = NULL, reason = ?2 WHERE awaiting = ?1",
            )?;
            for (id, refused) in reports {
                let id = i64::try_from(*id).unwrap_or(i64::MAX);
                let payment = read_payments(&mut completes, [id])?.into_iter().next();
                // what a refusal was about (rare): read back before it is deleted
                let refused_message = match refused {
                    None => None,
                    Some(_) => message
                        .query_row([id], |r| r.get::<_, Vec<u8>>(0))
                        .optional()?
                        .and_then(|data| Message::decode(&data).ok()),
                };
                delete.execute([id])?;
                match refused {
                    None => acked.execute([id])?,
                    Some(reason) => disputed.execute(params![
                        id,
                        format!("disputed: the partner refused it ({reason}) but holds its signed proof; the chain settles it")
                    ])?,
                };
                done.push(Delivered { payment, refused_message });
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// Messages not yet delivered, oldest first: to send again after a restart.
    pub fn outbox(&self) -> Result<Vec<(u64, photon_primitives::Address, Message)>> {
        let mut statement =
            self.conn.prepare("SELECT id, recipient, data FROM outbox ORDER BY id")?;
        let rows = statement.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?, r.get::<_, Vec<u8>>(2)?))
        })?;
        rows.map(|row| {
            let (id, recipient, data) = row?;
            let corrupt = |reason: String| StorageError::Corrupt { table: "outbox", id, reason };
            if recipient.len() != 20 {
                return Err(corrupt("bad recipient".into()));
            }
            let message = Message::decode(&data).map_err(|e| corrupt(e.to_string()))?;
            Ok((
                u64::try_from(id).unwrap_or_default(),
                photon_primitives::Address::from_slice(&recipient),
                message,
            ))
        })
        .collect()
    }

    /// How much waits: (messages in the outbox, transactions not yet done), counted without
    /// reading them.
    pub fn backlog(&self) -> Result<(u64, u64)> {
        let count = |table: &str| -> Result<u64> {
            let n: i64 =
                self.conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or_default())
        };
        Ok((count("outbox")?, count("pending_transactions")?))
    }

    /// Whether the message `message_id` of `sender` was processed (exactly-once delivery).
    pub fn is_acked(&self, sender: &photon_primitives::Address, message_id: u64) -> Result<bool> {
        let id = i64::from_ne_bytes(message_id.to_ne_bytes());
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT 1 FROM acks WHERE sender = ?1 AND message_id = ?2")?
            .query_row(params![sender.as_slice(), id], |r| r.get(0))
            .optional()?;
        Ok(found.is_some())
    }

    /// A transaction the node asked for is done (mined, or refused for good).
    pub fn complete_transaction(&mut self, id: u64) -> Result<()> {
        self.conn.execute(
            "DELETE FROM pending_transactions WHERE id = ?1",
            [i64::try_from(id).unwrap_or(i64::MAX)],
        )?;
        Ok(())
    }

    /// Transactions asked for and not yet done, oldest first: to carry out again after a
    /// restart (they are idempotent: one already mined is refused by the contract).
    pub fn pending_transactions(&self) -> Result<Vec<(u64, ContractCall)>> {
        let mut statement =
            self.conn.prepare("SELECT id, data FROM pending_transactions ORDER BY id")?;
        let rows =
            statement.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        rows.map(|row| {
            let (id, bytes) = row?;
            Ok((u64::try_from(id).unwrap_or_default(), decode("pending_transactions", id, &bytes)?))
        })
        .collect()
    }

    /// Stores a snapshot of `state` as it is after state change `after`.
    pub fn save_snapshot(&mut self, after: u64, state: &ChainState) -> Result<()> {
        let id = i64::try_from(after).unwrap_or(i64::MAX);
        self.conn.execute(
            "INSERT OR REPLACE INTO snapshots (state_change_id, format, data) VALUES (?1, ?2, ?3)",
            params![id, SNAPSHOT_FORMAT, encode(state)?],
        )?;
        Ok(())
    }

    /// Removes what the latest snapshot makes unnecessary, in one transaction: older
    /// snapshots, and the log records (with their events) it covers. Kept: the newest log
    /// record (ids keep growing after it), records a pending transaction points at, the
    /// outbox, processed message ids, and the payment history, except finished payments
    /// logged before `history_before` (unix seconds; `None`: all kept). Unfinished payments
    /// live in the snapshot's state, so [`Storage::restore`] rebuilds the same state before
    /// and after. Freed pages then go back to the file system.
    pub fn compact(&mut self, history_before: Option<u64>) -> Result<Compacted> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut done = Compacted::default();
        let snapshot: Option<i64> =
            tx.query_row("SELECT MAX(state_change_id) FROM snapshots", [], |r| r.get(0))?;
        if let Some(snapshot) = snapshot {
            let newest: i64 =
                tx.query_row("SELECT COALESCE(MAX(id), 0) FROM state_changes", [], |r| r.get(0))?;
            // covered by the snapshot, not the newest record, no pending transaction's
            let upto = snapshot.min(newest - 1);
            let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
            done.snapshots =
                count(tx.execute("DELETE FROM snapshots WHERE state_change_id < ?1", [snapshot])?);
            done.events = count(tx.execute(
                "DELETE FROM events WHERE state_change_id <= ?1 AND state_change_id NOT IN
                    (SELECT state_change_id FROM pending_transactions)",
                [upto],
            )?);
            done.state_changes = count(tx.execute(
                "DELETE FROM state_changes WHERE id <= ?1 AND id NOT IN
                    (SELECT state_change_id FROM pending_transactions)",
                [upto],
            )?);
        }
        if let Some(before) = history_before {
            let before = i64::try_from(before).unwrap_or(i64::MAX);
            done.payments = u64::try_from(
                tx.execute("DELETE FROM payments WHERE at < ?1 AND awaiting IS NULL", [before])?,
            )
            .unwrap_or(u64::MAX);
        }
        crash_point("compact:before_commit");
        tx.commit()?;
        crash_point("compact:committed");
        // a page at a time would be slow; a few hundred keep each step short
        loop {
            let free: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            if free == 0 {
                break;
            }
            self.conn.execute_batch("PRAGMA incremental_vacuum(256)")?;
            crash_point("compact:vacuuming");
            let left: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
            if left >= free {
                break; // not an incremental-vacuum file (auto_vacuum off): nothing to give back
            }
        }
        Ok(done)
    }

    /// How many bytes the database holds, by purpose (payload bytes, not pages).
    pub fn footprint(&self) -> Result<Footprint> {
        let bytes = |sql: &str| -> Result<u64> {
            let n: i64 = self.conn.query_row(sql, [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or_default())
        };
        Ok(Footprint {
            log: bytes("SELECT COALESCE(SUM(LENGTH(data) + 16), 0) FROM state_changes")?
                + bytes("SELECT COALESCE(SUM(LENGTH(data) + 16), 0) FROM events")?,
            snapshots: bytes("SELECT COALESCE(SUM(LENGTH(data) + 16), 0) FROM snapshots")?,
            pending: bytes("SELECT COALESCE(SUM(LENGTH(data) + 28), 0) FROM outbox")?
                + bytes("SELECT COALESCE(SUM(LENGTH(data) + 16), 0) FROM pending_transactions")?
                + bytes("SELECT COUNT(*) * 28 FROM acks")?,
            history: bytes(
                "SELECT COALESCE(SUM(LENGTH(token) + COALESCE(LENGTH(counterparty), 0)
                    + LENGTH(amount) + LENGTH(fee) + COALESCE(LENGTH(reason), 0) + 40), 0)
                 FROM payments",
            )?,
            log_records: bytes("SELECT COUNT(*) FROM state_changes")?,
        })
    }

    /// Number of logged state changes.
    pub fn state_change_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM state_changes", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Rebuilds the state: the latest snapshot, or `fresh` if there is none, then every state
    /// change logged after it, replayed through `transition` with `signer`.
    pub fn restore(&self, fresh: ChainState, signer: &dyn Signer) -> Result<Restored> {
        let snapshot: Option<(i64, i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT state_change_id, format, data FROM snapshots
                 ORDER BY state_change_id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (mut state, from) = match snapshot {
            Some((id, format, bytes)) => (decode_snapshot(id, format, &bytes)?, id),
            None => (fresh, 0),
        };
        let mut statement =
            self.conn.prepare("SELECT id, data FROM state_changes WHERE id > ?1 ORDER BY id")?;
        let mut rows = statement.query([from])?;
        let (mut last, mut replayed) = (from, 0u64);
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let bytes = row.get_ref(1)?.as_blob().map_err(|e| StorageError::Corrupt {
                table: "state_changes",
                id,
                reason: e.to_string(),
            })?;
            let change: StateChange = decode("state_changes", id, bytes)?;
            transition(&mut state, change, signer).map_err(|rejection| StorageError::Replay {
                id: u64::try_from(id).unwrap_or_default(),
                reason: rejection.to_string(),
            })?;
            last = id;
            replayed += 1;
        }
        Ok(Restored {
            state,
            last_change: u64::try_from(last).unwrap_or_default(),
            replayed,
            snapshot: u64::try_from(from).unwrap_or_default(),
        })
    }

    /// The events logged with state change `id`.
    pub fn events_of(&self, id: u64) -> Result<Vec<Event>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id, data FROM events WHERE state_change_id = ?1 ORDER BY id")?;
        let rows = statement.query_map([i64::try_from(id).unwrap_or(i64::MAX)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        rows.map(|row| {
            let (id, bytes) = row?;
            decode("events", id, &bytes)
        })
        .collect()
    }

    /// Payment outcomes matching `filter`, newest first.
    pub fn payments(&self, filter: &PaymentFilter) -> Result<Vec<PaymentRecord>> {
        let mut sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE 1 = 1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(token) = filter.token {
            sql += " AND token = ?";
            args.push(token.as_slice().to_vec().into());
        }
        if let Some(counterparty) = filter.counterparty {
            sql += " AND counterparty = ?";
            args.push(counterparty.as_slice().to_vec().into());
        }
        if let Some(direction) = filter.direction {
            sql += " AND direction = ?";
            args.push(direction.as_str().to_string().into());
        }
        if let Some(since) = filter.since {
            sql += " AND at >= ?";
            args.push(i64::try_from(since).unwrap_or(i64::MAX).into());
        }
        if let Some(until) = filter.until {
            sql += " AND at <= ?";
            args.push(i64::try_from(until).unwrap_or(i64::MAX).into());
        }
        if let Some(payment_id) = filter.payment_id {
            sql += " AND payment_id = ?";
            args.push(i64::from_ne_bytes(payment_id.to_ne_bytes()).into());
        }
        if let Some(before) = filter.before {
            sql += " AND id < ?";
            args.push(before.into());
        }
        sql += " ORDER BY id DESC LIMIT ?";
        args.push(i64::from(filter.limit.unwrap_or(100)).into());
        let mut statement = self.conn.prepare(&sql)?;
        read_payments(&mut statement, rusqlite::params_from_iter(args))
    }

    /// Where the database is.
    pub fn path(&self) -> &str {
        &self.path
    }
}

/// The columns [`read_payments`] reads, in its order.
const PAYMENT_COLUMNS: &str = "id, state_change_id, at, direction, payment_id, token, counterparty, amount, fee, reason, awaiting IS NOT NULL, data";

/// The payment rows `statement` (selecting [`PAYMENT_COLUMNS`]) finds with `params`.
fn read_payments(
    statement: &mut rusqlite::Statement<'_>, params: impl rusqlite::Params,
) -> Result<Vec<PaymentRecord>> {
    let rows = statement.query_map(params, |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, Vec<u8>>(5)?,
            r.get::<_, Option<Vec<u8>>>(6)?,
            r.get::<_, String>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, Option<String>>(9)?,
            r.get::<_, bool>(10)?,
            r.get::<_, Option<Vec<u8>>>(11)?,
        ))
    })?;
    rows.map(|row| {
        let (
            id,
            change,
            at,
            direction,
            payment_id,
            token,
            counterparty,
            amount,
            fee,
            reason,
            pending,
            data,
        ) = row?;
        let corrupt =
            |reason: &str| StorageError::Corrupt { table: "payments", id, reason: reason.into() };
        let address = |bytes: &[u8]| -> Result<Address> {
            if bytes.len() == 20 {
                Ok(Address::from_slice(bytes))
            } else {
                Err(corrupt("bad address"))
            }
        };
        Ok(PaymentRecord {
            id,
            state_change_id: u64::try_from(change).map_err(|_| corrupt("bad state change id"))?,
            at: u64::try_from(at).map_err(|_| corrupt("bad time"))?,
            direction: Direction::parse(&direction).ok_or_else(|| corrupt("bad direction"))?,
            payment_id: u64::from_ne_bytes(payment_id.to_ne_bytes()),
            token: address(&token)?,
            counterparty: counterparty.as_deref().map(address).transpose()?,
            amount: amount.parse().map_err(|_| corrupt("bad amount"))?,
            fee: fee.parse().map_err(|_| corrupt("bad fee"))?,
            reason,
            pending,
            data: data.unwrap_or_default(),
        })
    })
    .collect()
}

fn payment_row(event: &Event) -> Option<PaymentRecord> {
    let row = |direction, payment_id, token, counterparty, amount, fee, reason| PaymentRecord {
        data: Vec::new(),
        id: 0,
        state_change_id: 0,
        at: 0,
        direction,
        payment_id,
        token,
        counterparty,
        amount,
        fee,
        reason,
        pending: false,
    };
    Some(match event {
        Event::PaymentSent { payment_id, token, target, amount, fee } => {
            row(Direction::Sent, *payment_id, *token, Some(*target), *amount, *fee, None)
        }
        Event::PaymentReceived { payment_id, token, initiator, amount, data } => PaymentRecord {
            data: data.clone(),
            ..row(
                Direction::Received,
                *payment_id,
                *token,
                Some(*initiator),
                *amount,
                TokenAmount(0),
                None,
            )
        },
        Event::PaymentMediated { token, fee, .. } => {
            row(Direction::Mediated, 0, *token, None, *fee, TokenAmount(0), None)
        }
        Event::PaymentFailed { payment_id, token, reason } => {
            let reason = match reason {
                PaymentFailure::NoRoute => "no route",
                PaymentFailure::LockExpired => "lock expired",
                PaymentFailure::Cancelled => "cancelled",
            };
            row(
                Direction::Failed,
                *payment_id,
                *token,
                None,
                TokenAmount(0),
                TokenAmount(0),
                Some(reason.to_string()),
            )
        }
        _ => return None,
    })
}
