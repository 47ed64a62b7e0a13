//! Slim storage: the log behind a snapshot is removed without changing what a restart
//! rebuilds, a crash anywhere in that work loses nothing, and a database of the previous
//! layout is migrated in place.

mod common;

use common::{append, fresh, identity, pair, pay, Pair, TOKEN};
use photon_primitives::messages::Message;
use photon_primitives::{Address, LocalSigner, TokenAmount};
use photon_state::changes::{ContractCall, Event, StateChange};
use photon_state::transition;
use photon_storage::{PaymentFilter, Record, Storage, SNAPSHOT_FORMAT};
use std::path::Path;
use std::process::Command;

/// The channel of the tests here: A deposited plenty, B nothing.
const DEPOSITS: (u128, u128) = (1_000_000_000, 0);

fn restored(storage: &Storage, p: &Pair) -> String {
    format!("{:?}", storage.restore(fresh(&p.b.0), &p.b.0).unwrap().state)
}

fn all_payments(storage: &Storage) -> usize {
    storage.payments(&PaymentFilter { limit: Some(u32::MAX), ..Default::default() }).unwrap().len()
}

/// A database file of B with `payments` received payments, a snapshot after the last one.
fn database(path: &Path, payments: u128) -> Pair {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    for amount in 1..=payments {
        pay(&mut p, amount, &mut log);
    }
    let mut storage = Storage::open(path, &identity(&p.b.0)).unwrap();
    let ids = append(&mut storage, &log, 1_000);
    storage.save_snapshot(*ids.last().unwrap(), &p.b.1).unwrap();
    p
}

#[test]
fn compaction_never_changes_what_a_restart_rebuilds() {
    // whatever the snapshot interval, the state restored before and after every compaction is
    // the live state, and the log shrinks to what follows the snapshot
    for every in [1usize, 3, 10, 41] {
        let mut log = Vec::new();
        let mut p = pair(&mut log, DEPOSITS);
        let mut storage = Storage::open_in_memory(&identity(&p.b.0)).unwrap();
        append(&mut storage, &log, 1);
        let mut last = 0;
        for amount in 1..=120u128 {
            let mut one = Vec::new();
            pay(&mut p, amount, &mut one);
            last = *append(&mut storage, &one, 2).last().unwrap();
            if (amount as usize).is_multiple_of(every) {
                storage.save_snapshot(last, &p.b.1).unwrap();
                let before = restored(&storage, &p);
                let done = storage.compact(None).unwrap();
                let after = restored(&storage, &p);
                assert_eq!(before, after, "every {every}, after payment {amount}");
                assert_eq!(after, format!("{:?}", p.b.1), "every {every}: the live state");
                assert_eq!(done.payments, 0, "the history is kept");
                assert!(storage.state_change_count().unwrap() <= 1, "{done:?}");
            }
        }
        // the tail after the last snapshot is still replayed
        let r = storage.restore(fresh(&p.b.0), &p.b.0).unwrap();
        assert_eq!(r.last_change, last);
        assert_eq!(r.replayed, (120 % every) as u64, "every {every}");
        assert_eq!(all_payments(&storage), 120, "every payment stays in the history");
    }
}

#[test]
fn ids_keep_growing_once_the_log_behind_the_latest_change_is_gone() {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    for amount in 1..=5 {
        pay(&mut p, amount, &mut log);
    }
    let mut storage = Storage::open_in_memory(&identity(&p.b.0)).unwrap();
    let ids = append(&mut storage, &log, 1);
    let newest = *ids.last().unwrap();
    storage.save_snapshot(newest, &p.b.1).unwrap();
    storage.compact(None).unwrap();
    // the newest record stays, so a new one does not reuse an id the snapshot covers
    assert_eq!(storage.state_change_count().unwrap(), 1);
    let mut tail = Vec::new();
    pay(&mut p, 6, &mut tail);
    let next = append(&mut storage, &tail, 2);
    assert!(next[0] > newest, "{} after {newest}", next[0]);
    let r = storage.restore(fresh(&p.b.0), &p.b.0).unwrap();
    assert_eq!((r.replayed, format!("{:?}", r.state)), (1, format!("{:?}", p.b.1)));
}

#[test]
fn pending_work_and_unfinished_payments_survive_compaction_and_retention() {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    // A's own database: a payment A sent that B has not acknowledged yet, and a transaction
    // A asked for that is not mined yet
    let mut storage = Storage::open_in_memory(&identity(&p.a.0)).unwrap();
    let change = StateChange::Block(101);
    let call = ContractCall::Settle { token: TOKEN, partner: Address::repeat_byte(2) };
    let events = vec![Event::Transact(call.clone())];
    let (tx_change, pending) = storage
        .append_with_transactions(&[Record { change: &change, events: &events, at: 10 }])
        .unwrap();
    let send = StateChange::SendDirect {
        channel_id: p.channel,
        payment_id: 1,
        amount: TokenAmount(5),
        data: Vec::new(),
    };
    let events = transition(&mut p.a.1, send.clone(), &p.a.0).unwrap();
    let (_, _, outbox) =
        storage.append_all(&[Record { change: &send, events: &events, at: 10 }]).unwrap();
    // a finished payment, old, and one recent
    for (id, at) in [(2u64, 20u64), (3, 5_000)] {
        let send = StateChange::SendDirect {
            channel_id: p.channel,
            payment_id: id,
            amount: TokenAmount(1),
            data: Vec::new(),
        };
        let events = transition(&mut p.a.1, send.clone(), &p.a.0).unwrap();
        let (_, _, sent) =
            storage.append_all(&[Record { change: &send, events: &events, at }]).unwrap();
        storage.delivered(sent[0], None).unwrap();
    }
    let mut more = Vec::new();
    for _ in 0..3 {
        more.push((StateChange::Block(102), Vec::new()));
    }
    let ids = append(&mut storage, &more, 6_000);
    storage.save_snapshot(*ids.last().unwrap(), &p.a.1).unwrap();

    // keep what was logged since 1,000: the old finished payment goes, the unfinished one
    // (logged at 10, still awaiting its acknowledgement) stays
    let done = storage.compact(Some(1_000)).unwrap();
    assert_eq!(done.payments, 1, "{done:?}");
    let history = storage.payments(&PaymentFilter::default()).unwrap();
    let mut ids_left: Vec<u64> = history.iter().map(|r| r.payment_id).collect();
    ids_left.sort();
    assert_eq!(ids_left, vec![1, 3]);
    assert!(history.iter().any(|r| r.payment_id == 1 && r.pending));
    // the outbox and the pending transaction are untouched, and so is the record it names
    assert_eq!(storage.outbox().unwrap().iter().map(|o| o.0).collect::<Vec<_>>(), outbox);
    assert_eq!(storage.pending_transactions().unwrap(), vec![(pending[0], call)]);
    assert_eq!(storage.events_of(tx_change[0]).unwrap().len(), 1);
    let r = storage.restore(fresh(&p.a.0), &p.a.0).unwrap();
    assert_eq!(format!("{:?}", r.state), format!("{:?}", p.a.1));
    // delivered later: the payment completes as before compaction
    let delivered = storage.delivered(outbox[0], None).unwrap();
    assert_eq!(delivered.payment.map(|r| r.payment_id), Some(1));
}

#[test]
fn the_file_gives_its_pages_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photon.db");
    let p = database(&path, 2_000);
    let mut storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
    let before = storage.footprint().unwrap();
    drop(storage);
    let size = |path: &Path| std::fs::metadata(path).unwrap().len();
    let wal = path.with_extension("db-wal");
    let checkpoint = |path: &Path| {
        let c = rusqlite::Connection::open(path).unwrap();
        c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let vacuum: i64 = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
        assert_eq!(vacuum, 2, "incremental auto-vacuum on a new file");
    };
    checkpoint(&path);
    let full = size(&path);
    storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
    let done = storage.compact(None).unwrap();
    assert_eq!(done.state_changes, 2_001, "{done:?}");
    let after = storage.footprint().unwrap();
    assert!(after.log * 100 < before.log, "{before:?} -> {after:?}");
    assert_eq!(after.log_records, 1);
    drop(storage);
    checkpoint(&path);
    let slim = size(&path);
    assert!(slim * 2 < full, "the file shrank from {full} to {slim} bytes");
    assert!(!wal.exists() || size(&wal) == 0);
}

/// The crash tests run this in a child process (`PHOTON_CRASH_AT` set): it opens the
/// database at `PHOTON_TEST_DB` (migrating it if old) and compacts it.
#[test]
#[ignore = "the child process of the crash tests"]
fn crash_child() {
    let Ok(path) = std::env::var("PHOTON_TEST_DB") else { return };
    let signer = LocalSigner::from_bytes(&[2; 32]).unwrap();
    let mut storage = Storage::open(Path::new(&path), &identity(&signer)).unwrap();
    storage.compact(Some(500)).unwrap();
}

/// Runs [`crash_child`] on `path`, crashing at `point`; it must have aborted there.
fn crash_at(path: &Path, point: &str) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--ignored", "--nocapture"])
        .env("PHOTON_TEST_DB", path)
        .env("PHOTON_CRASH_AT", point)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains(&format!("PHOTON_CRASH_AT={point}")),
        "{point}: the child did not crash there: {stderr}"
    );
}

#[test]
fn a_crash_anywhere_in_compaction_loses_nothing() {
    for point in ["compact:before_commit", "compact:committed", "compact:vacuuming"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photon.db");
        let p = database(&path, 600);
        crash_at(&path, point);
        let mut storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
        assert_eq!(restored(&storage, &p), format!("{:?}", p.b.1), "{point}");
        let kept = all_payments(&storage);
        // the payments were logged at 1,000: the retention of the child (500) keeps them
        assert_eq!(kept, 600, "{point}");
        // the next compaction finishes the work
        storage.compact(None).unwrap();
        assert_eq!(storage.state_change_count().unwrap(), 1, "{point}");
        assert_eq!(restored(&storage, &p), format!("{:?}", p.b.1), "{point}");
    }
}

const V4_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS state_changes (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    state_change_id INTEGER NOT NULL REFERENCES state_changes(id),
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_change ON events(state_change_id);
CREATE TABLE IF NOT EXISTS snapshots (state_change_id INTEGER PRIMARY KEY, data BLOB NOT NULL);
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
CREATE TABLE IF NOT EXISTS payments (
    id INTEGER PRIMARY KEY,
    state_change_id INTEGER NOT NULL REFERENCES state_changes(id),
    at INTEGER NOT NULL,
    direction TEXT NOT NULL,
    payment_id INTEGER NOT NULL,
    token BLOB NOT NULL,
    counterparty BLOB,
    amount TEXT NOT NULL,
    fee TEXT NOT NULL,
    reason TEXT,
    awaiting INTEGER
);
CREATE INDEX IF NOT EXISTS payments_awaiting ON payments(awaiting) WHERE awaiting IS NOT NULL;
CREATE INDEX IF NOT EXISTS payments_by_token ON payments(token, at);
CREATE INDEX IF NOT EXISTS payments_by_counterparty ON payments(counterparty, at);
CREATE INDEX IF NOT EXISTS payments_by_at ON payments(at);
";

/// `m` as wire version 2 encoded it (versions 4 and 5 of the database hold such): no data
/// field in transfers, no data hash in secret requests (`m` must have none).
fn message_v2(m: &Message) -> Vec<u8> {
    let mut bytes = m.encode();
    bytes[4] = 2;
    let (at, len) = match m {
        Message::DirectTransfer(t) if t.data.is_empty() => (6 + 8 + 8 + 112, 2),
        Message::MediatedTransfer(t) if t.data.is_empty() => (bytes.len() - 65 - 2, 2),
        Message::SecretRequest(r) if r.data_hash.is_zero() => (bytes.len() - 65 - 32, 32),
        Message::DirectTransfer(_) | Message::MediatedTransfer(_) | Message::SecretRequest(_) => {
            panic!("data in {m:?}")
        }
        _ => return bytes,
    };
    assert!(bytes.drain(at..at + len).all(|b| b == 0));
    bytes
}

/// `record`, whose last field is the encoded `message`, with the message in wire version 2.
fn with_message_v2(record: &[u8], message: &Message) -> Vec<u8> {
    let v3 = message.encode();
    let old = message_v2(message);
    let length = |n: usize| postcard::to_stdvec(&(n as u64)).unwrap();
    let tail = [length(v3.len()), v3].concat();
    let head = record.strip_suffix(tail.as_slice()).expect("the message is the record's end");
    [head.to_vec(), length(old.len()), old].concat()
}

/// A log record (`events`: `false`) or event of today as database versions 4 and 5 wrote it:
/// messages in wire version 2, the payment state changes and the received-payment event
/// without their last field (their data, empty here: one zero byte).
fn record_v5(bytes: &[u8], events: bool) -> Vec<u8> {
    let strip_data = |bytes: &[u8]| {
        assert_eq!(bytes.last(), Some(&0), "empty data is one zero byte");
        bytes[..bytes.len() - 1].to_vec()
    };
    if events {
        match postcard::from_bytes::<Event>(bytes).unwrap() {
            Event::PaymentReceived { .. } => strip_data(bytes),
            Event::Send { message, .. } => with_message_v2(bytes, &message),
            _ => bytes.to_vec(),
        }
    } else {
        match postcard::from_bytes::<StateChange>(bytes).unwrap() {
            StateChange::SendDirect { .. } | StateChange::SendMediated { .. } => strip_data(bytes),
            StateChange::Receive { message, .. } => with_message_v2(bytes, &message),
            _ => bytes.to_vec(),
        }
    }
}

/// Rewrites every row's `data` in `table` (rows keyed by `key`) with `convert`.
fn rewrite_rows(
    c: &rusqlite::Connection, table: &str, key: &str, convert: impl Fn(&[u8]) -> Vec<u8>,
) {
    let rows: Vec<(i64, Vec<u8>)> = c
        .prepare(&format!("SELECT {key}, data FROM {table}"))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (id, data) in rows {
        c.execute(
            &format!("UPDATE {table} SET data = ?1 WHERE {key} = ?2"),
            rusqlite::params![convert(&data), id],
        )
        .unwrap();
    }
}

/// Rewrites the log, events and outbox of the database `c` as versions 4 and 5 wrote them.
fn records_as_version_5(c: &rusqlite::Connection) {
    rewrite_rows(c, "state_changes", "id", |data| record_v5(data, false));
    rewrite_rows(c, "events", "id", |data| record_v5(data, true));
    rewrite_rows(c, "outbox", "id", |data| message_v2(&Message::decode(data).unwrap()));
}

/// The snapshots of the database `c` written again in `format`.
fn snapshots_as(c: &rusqlite::Connection, format: i64) {
    rewrite_rows(c, "snapshots", "state_change_id", |data| {
        let state: photon_state::ChainState = postcard::from_bytes(data).unwrap();
        photon_storage::encode_snapshot(format, &state).unwrap()
    });
}

/// A database as version 5 left it, `payments` received payments and a snapshot after them,
/// then three more behind it: the file of today with the payment history's `data` column
/// dropped, the records written as version 5 did, snapshots in format 2.
fn version_5_database(dir: &Path, payments: u128) -> (Pair, std::path::PathBuf) {
    let path = dir.join("photon.db");
    let mut p = database(&path, payments);
    let mut log = Vec::new();
    for amount in payments + 1..=payments + 3 {
        pay(&mut p, amount, &mut log);
    }
    let mut storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
    append(&mut storage, &log, 2_000);
    drop(storage);
    let c = rusqlite::Connection::open(&path).unwrap();
    records_as_version_5(&c);
    snapshots_as(&c, 2);
    c.execute_batch(
        "UPDATE snapshots SET format = 2;
         ALTER TABLE payments DROP COLUMN data;",
    )
    .unwrap();
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [5i64.to_be_bytes().to_vec()],
    )
    .unwrap();
    (p, path)
}

#[test]
fn a_version_5_database_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (p, path) = version_5_database(dir.path(), 40);
    let storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
    // the snapshot of format 2 and the log behind it (wire version 2 messages, records
    // rewritten) rebuild the state
    let r = storage.restore(fresh(&p.b.0), &p.b.0).unwrap();
    assert_eq!(r.replayed, 3);
    assert_eq!(format!("{:?}", r.state), format!("{:?}", p.b.1));
    assert_eq!(all_payments(&storage), 43);
    // every event reads in today's layout
    let mut received = 0;
    for id in 1..=r.last_change {
        for event in storage.events_of(id).unwrap() {
            if let Event::PaymentReceived { data, .. } = event {
                assert!(data.is_empty());
                received += 1;
            }
        }
    }
    assert_eq!(received, 43);
    drop(storage);
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: Vec<u8> = c
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6i64.to_be_bytes().to_vec());
    let data: i64 = c
        .query_row(
            "SELECT COUNT(*) FROM pragma_table_info('payments') WHERE name = 'data'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(data, 1);
}

/// A database as version 4 left it: its exact tables, with the records of `path` copied in
/// (records as version 5 wrote them, the same layout; snapshots are written again in format
/// 1, version 4's).
fn as_version_4(current: &Path, old: &Path) {
    let c = rusqlite::Connection::open(old).unwrap();
    c.execute_batch(V4_SCHEMA).unwrap();
    c.execute("ATTACH DATABASE ?1 AS cur", [current.display().to_string()]).unwrap();
    c.execute_batch(
        "INSERT INTO meta SELECT * FROM cur.meta;
         INSERT INTO state_changes SELECT * FROM cur.state_changes;
         INSERT INTO events SELECT * FROM cur.events;
         INSERT INTO snapshots SELECT state_change_id, data FROM cur.snapshots;
         INSERT INTO acks SELECT * FROM cur.acks;
         INSERT INTO payments SELECT id, state_change_id, at, direction, payment_id, token,
             counterparty, amount, fee, reason, awaiting FROM cur.payments;
         DETACH DATABASE cur;",
    )
    .unwrap();
    records_as_version_5(&c);
    c.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [4i64.to_be_bytes().to_vec()],
    )
    .unwrap();
    snapshots_as(&c, 1);
    let vacuum: i64 = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
    assert_eq!(vacuum, 0, "version 4 files do not vacuum");
}

fn version_4_database(dir: &Path, payments: u128) -> (Pair, std::path::PathBuf) {
    let current = dir.join("current.db");
    let p = database(&current, payments);
    let old = dir.join("photon.db");
    as_version_4(&current, &old);
    (p, old)
}

#[test]
fn a_version_4_database_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let (p, path) = version_4_database(dir.path(), 300);
    let mut storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
    // the state, the history and the log are all there
    assert_eq!(restored(&storage, &p), format!("{:?}", p.b.1));
    assert_eq!(all_payments(&storage), 300);
    assert_eq!(storage.state_change_count().unwrap(), 302);
    // and it compacts like a new one, the history no longer tied to the log
    storage.compact(None).unwrap();
    assert_eq!(storage.state_change_count().unwrap(), 1);
    assert_eq!(all_payments(&storage), 300);
    assert_eq!(restored(&storage, &p), format!("{:?}", p.b.1));
    drop(storage);
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: Vec<u8> = c
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6i64.to_be_bytes().to_vec());
    let vacuum: i64 = c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap();
    assert_eq!(vacuum, 2, "the migration turned incremental vacuum on");
    // the migrated snapshot keeps version 4's layout (format 1) until the next one is taken
    let format: i64 = c.query_row("SELECT format FROM snapshots", [], |r| r.get(0)).unwrap();
    assert_eq!(format, 1);
    let links: i64 = c
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_list('payments')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(links, 0);
}

#[test]
fn a_crash_in_the_migration_loses_nothing() {
    for point in ["migrate:before_commit", "migrate:committed"] {
        for version in [4, 5] {
            let dir = tempfile::tempdir().unwrap();
            let (p, path) = if version == 4 {
                version_4_database(dir.path(), 50)
            } else {
                version_5_database(dir.path(), 47)
            };
            crash_at(&path, point);
            let storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
            assert_eq!(restored(&storage, &p), format!("{:?}", p.b.1), "{version} {point}");
            assert_eq!(all_payments(&storage), 50, "{version} {point}");
        }
    }
}

/// The snapshot layouts are pinned: `fixtures/snapshot-format-N.bin` is a snapshot written
/// in format N, and every format read so far still reads as it was written (format 1 as a
/// node that mediates). If `ChainState`'s encoding changes, the newest fixture fails: bump
/// `SNAPSHOT_FORMAT`, teach `decode_snapshot` to read the previous format, and write the new
/// format's fixture with `PHOTON_BLESS=1`.
#[test]
fn snapshots_of_every_format_still_read_as_they_were_written() {
    assert_eq!(SNAPSHOT_FORMAT, 4, "a new format: add its fixture below");
    for format in 1..=SNAPSHOT_FORMAT {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("tests/fixtures/snapshot-format-{format}.bin"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photon.db");
        let mut p = database(&path, 7);
        if format >= 4 {
            // format 4 pins the layout of a swap too
            p.b.1.swaps.insert(swap().0, swap().1);
        }
        let c = rusqlite::Connection::open(&path).unwrap();
        if format == SNAPSHOT_FORMAT && std::env::var_os("PHOTON_BLESS").is_some() {
            std::fs::write(&fixture, photon_storage::encode_snapshot(format, &p.b.1).unwrap())
                .unwrap();
        }
        let pinned = std::fs::read(&fixture).unwrap();
        c.execute("UPDATE snapshots SET data = ?1, format = ?2", rusqlite::params![pinned, format])
            .unwrap();
        drop(c);
        let storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
        let r = storage.restore(fresh(&p.b.0), &p.b.0).unwrap();
        assert_eq!(r.replayed, 0, "format {format}");
        assert_eq!(format!("{:?}", r.state), format!("{:?}", p.b.1), "format {format}");
    }
}

#[test]
fn a_snapshot_of_a_newer_format_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photon.db");
    let p = database(&path, 3);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute("UPDATE snapshots SET format = ?1", [SNAPSHOT_FORMAT + 1]).unwrap();
    drop(c);
    let storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
    match storage.restore(fresh(&p.b.0), &p.b.0) {
        Err(e @ photon_storage::StorageError::SnapshotFormat { .. }) => {
            assert!(e.to_string().contains("newer build"), "{e}")
        }
        other => panic!("expected SnapshotFormat, got {other:?}"),
    }
}

#[test]
fn history_ids_are_never_reused_after_retention() {
    // an app keys its cache on the history's ids: retention deleting the newest row must not
    // hand its id to the next payment
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    let mut storage = Storage::open_in_memory(&identity(&p.b.0)).unwrap();
    append(&mut storage, &log, 1);
    let mut first = Vec::new();
    pay(&mut p, 1, &mut first);
    append(&mut storage, &first, 10);
    let gone = storage.payments(&PaymentFilter::default()).unwrap()[0].id;
    let mut tail = Vec::new();
    pay(&mut p, 2, &mut tail);
    let ids = append(&mut storage, &tail, 20);
    storage.save_snapshot(*ids.last().unwrap(), &p.b.1).unwrap();
    assert_eq!(storage.compact(Some(1_000)).unwrap().payments, 2);
    let mut more = Vec::new();
    pay(&mut p, 3, &mut more);
    append(&mut storage, &more, 2_000);
    let now = storage.payments(&PaymentFilter::default()).unwrap();
    assert_eq!(now.len(), 1);
    assert!(now[0].id > gone + 1, "id {} after {gone} and {}", now[0].id, gone + 1);
}

/// A swap taken, locked on both sides.
fn swap() -> (photon_primitives::SecretHash, photon_state::Swap) {
    use photon_primitives::{Address, ChannelId, Lock, SecretHash, B256};
    use photon_state::{Route, Swap, SwapLeg, SwapRole, SwapStatus};
    let hash = SecretHash(B256::repeat_byte(0x5a));
    let swap = Swap {
        role: SwapRole::Taker,
        payment_id: 77,
        counterparty: Address::repeat_byte(0x0d),
        send: SwapLeg { token: Address::repeat_byte(0x71), amount: TokenAmount(300) },
        receive: SwapLeg { token: Address::repeat_byte(0x70), amount: TokenAmount(100) },
        secret: None,
        status: SwapStatus::Failed("the maker's lock did not come by block 9".into()),
        created: 3,
        deadline: 9,
        routes: vec![Route { path: vec![Address::repeat_byte(1)], fee: TokenAmount(2) }],
        fee_limit: TokenAmount(4),
        incoming: Some((
            ChannelId(B256::repeat_byte(0x0c)),
            Lock { amount: TokenAmount(100), expiration: 60, secrethash: hash },
        )),
        registered: false,
        finished: Some(10),
    };
    (hash, swap)
}

/// A payment to make, one to receive and one to forward, with data where the state keeps it.
fn tasks() -> Vec<photon_state::Task> {
    use photon_primitives::{ChannelId, Lock, Secret, SecretHash};
    use photon_state::state::{InitiatorTask, MediatorTask, TargetTask};
    use photon_state::Task;
    let lock = |byte: u8| Lock {
        amount: TokenAmount(5),
        expiration: 90,
        secrethash: SecretHash(photon_primitives::B256::repeat_byte(byte)),
    };
    let channel = ChannelId(photon_primitives::B256::repeat_byte(9));
    vec![
        Task::Initiator(InitiatorTask {
            payment_id: 1,
            token: TOKEN,
            target: Address::repeat_byte(3),
            amount: TokenAmount(5),
            secret: Some(Secret(photon_primitives::B256::repeat_byte(1))),
            secrethash: lock(1).secrethash,
            routes_left: vec![photon_state::Route {
                path: vec![Address::repeat_byte(2), Address::repeat_byte(3)],
                fee: TokenAmount(1),
            }],
            fee_limit: TokenAmount(2),
            attempt: Some((channel, lock(1), TokenAmount(0))),
            secret_revealed: false,
            data: b"invoice 1".to_vec(),
        }),
        Task::Mediator(MediatorTask {
            payment_id: 2,
            payer: (channel, lock(2)),
            payee: Some((channel, lock(2))),
            secret: None,
            registered: false,
            payer_done: false,
            payee_done: true,
        }),
        Task::Target(TargetTask {
            payment_id: 3,
            initiator: Address::repeat_byte(4),
            payer: (channel, lock(3)),
            amount: TokenAmount(5),
            secret: None,
            registered: true,
            data: vec![0xff; 256],
        }),
    ]
}

#[test]
fn tasks_read_back_from_every_snapshot_format_with_what_it_could_say() {
    // formats 1 and 2 did not keep a payment's data: their tasks read back without it
    for format in 1..=SNAPSHOT_FORMAT {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("photon.db");
        let mut p = database(&path, 2);
        for task in tasks() {
            let hash = match &task {
                photon_state::Task::Initiator(t) => t.secrethash,
                photon_state::Task::Mediator(t) => t.payer.1.secrethash,
                photon_state::Task::Target(t) => t.payer.1.secrethash,
            };
            p.b.1.tasks.insert(hash, task);
        }
        p.b.1.swaps.insert(swap().0, swap().1);
        let bytes = photon_storage::encode_snapshot(format, &p.b.1).unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute("UPDATE snapshots SET data = ?1, format = ?2", rusqlite::params![bytes, format])
            .unwrap();
        drop(c);
        let storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
        let state = storage.restore(fresh(&p.b.0), &p.b.0).unwrap().state;
        let mut expected = p.b.1.clone();
        if format < 4 {
            // formats before 4 did not keep swaps
            expected.swaps.clear();
        }
        if format < 3 {
            for task in expected.tasks.values_mut() {
                match task {
                    photon_state::Task::Initiator(t) => t.data.clear(),
                    photon_state::Task::Target(t) => t.data.clear(),
                    photon_state::Task::Mediator(_) => {}
                }
            }
        }
        assert_eq!(state.tasks, expected.tasks, "format {format}");
        assert_eq!(format!("{state:?}"), format!("{expected:?}"), "format {format}");
    }
}

#[test]
fn a_version_5_database_of_another_node_is_refused_before_it_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let (p, path) = version_5_database(dir.path(), 3);
    let before = std::fs::read(&path).unwrap();
    match Storage::open(&path, &identity(&p.a.0)) {
        Err(photon_storage::StorageError::WrongNode { .. }) => {}
        other => panic!("expected WrongNode, got {:?}", other.map(|_| ())),
    }
    let c = rusqlite::Connection::open(&path).unwrap();
    let version: Vec<u8> = c
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 5i64.to_be_bytes().to_vec(), "not migrated");
    drop(c);
    assert_eq!(std::fs::read(&path).unwrap().len(), before.len());
    // its own node migrates it
    assert!(Storage::open(&path, &identity(&p.b.0)).is_ok());
}
