//! The log rebuilds exactly the state that was lost; the history answers queries; a second
//! process and a foreign database are refused.

mod common;

use common::{append as append_all, fresh, identity, pair, pay, TOKEN};
use photon_primitives::messages::Message;
use photon_primitives::{Address, LocalSigner, Signer, TokenAmount};
use photon_state::changes::{Event, StateChange};
use photon_state::transition;
use photon_storage::{Direction, PaymentFilter, Record, Storage, StorageError};

/// The channel of the tests here: A deposited 1,000,000, B 500.
const DEPOSITS: (u128, u128) = (1_000_000, 500);

#[test]
fn replay_rebuilds_the_exact_state() {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    for amount in 1..=50 {
        pay(&mut p, amount, &mut log);
    }
    let mut storage = Storage::open_in_memory(&identity(&p.b.0)).unwrap();
    let ids = append_all(&mut storage, &log, 1_700_000_000);
    assert_eq!(ids.len(), log.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let restored = storage.restore(fresh(&p.b.0), &p.b.0).unwrap();
    assert_eq!(format!("{:?}", restored.state), format!("{:?}", p.b.1));
    assert_eq!((restored.replayed, restored.snapshot), (log.len() as u64, 0));
    // the events came back too
    assert_eq!(storage.events_of(ids[5]).unwrap(), log[5].1);
}

#[test]
fn a_snapshot_cuts_the_replay_to_the_tail() {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    for amount in 1..=20 {
        pay(&mut p, amount, &mut log);
    }
    let mut storage = Storage::open_in_memory(&identity(&p.b.0)).unwrap();
    let ids = append_all(&mut storage, &log, 1);
    storage.save_snapshot(*ids.last().unwrap(), &p.b.1).unwrap();
    let mut tail = Vec::new();
    for amount in 21..=25 {
        pay(&mut p, amount, &mut tail);
    }
    append_all(&mut storage, &tail, 2);
    let restored = storage.restore(fresh(&p.b.0), &p.b.0).unwrap();
    assert_eq!(restored.replayed, 5);
    assert_eq!(restored.snapshot, *ids.last().unwrap());
    assert_eq!(format!("{:?}", restored.state), format!("{:?}", p.b.1));
}

/// A database left by the first version (other contracts, other wire format) is refused
/// with a clear error and left as it was.
#[test]
fn a_database_of_the_first_contracts_is_refused_and_left_alone() {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    pay(&mut p, 3, &mut log);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photon.db");
    {
        let mut storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
        append_all(&mut storage, &log, 1);
    }
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [3i64.to_be_bytes().to_vec()],
    )
    .unwrap();
    drop(old);
    // version 3: fee policies without an imbalance component, a different binary layout
    match Storage::open(&path, &identity(&p.b.0)) {
        Err(e @ StorageError::Incompatible(3)) => {
            assert!(e.to_string().contains("new data directory"), "{e}")
        }
        other => panic!("expected Incompatible(3), got {other:?}"),
    }
    let old = rusqlite::Connection::open(&path).unwrap();
    let count: i64 = old.query_row("SELECT COUNT(*) FROM state_changes", [], |r| r.get(0)).unwrap();
    assert_eq!(count, log.len() as i64, "nothing was deleted");
}

#[test]
fn the_file_survives_a_restart_and_a_second_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photon.db");
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    pay(&mut p, 7, &mut log);
    {
        let mut storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
        append_all(&mut storage, &log, 1);
        // while it is open, nobody else gets in
        match Storage::open(&path, &identity(&p.b.0)) {
            Err(StorageError::Locked(_)) => {}
            other => panic!("expected Locked, got {other:?}"),
        }
    }
    let storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
    assert_eq!(storage.state_change_count().unwrap(), log.len() as u64);
    let restored = storage.restore(fresh(&p.b.0), &p.b.0).unwrap();
    assert_eq!(format!("{:?}", restored.state), format!("{:?}", p.b.1));
    drop(storage);
    // another account's node cannot use this database
    let other = LocalSigner::from_bytes(&[9; 32]).unwrap();
    assert!(matches!(Storage::open(&path, &identity(&other)), Err(StorageError::WrongNode { .. })));
}

#[test]
fn corrupt_records_are_reported_not_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("photon.db");
    let mut log = Vec::new();
    let p = pair(&mut log, DEPOSITS);
    {
        let mut storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
        append_all(&mut storage, &log, 1);
    }
    {
        let conn = rusqlite_free_write(&path);
        conn.execute("UPDATE state_changes SET data = x'ff00ff' WHERE id = 2", []).unwrap();
    }
    let storage = Storage::open(&path, &identity(&p.b.0)).unwrap();
    match storage.restore(fresh(&p.b.0), &p.b.0) {
        Err(StorageError::Corrupt { table: "state_changes", id: 2, .. }) => {}
        other => panic!("expected a corrupt record error, got {other:?}"),
    }
}

fn rusqlite_free_write(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn payment_history_is_queryable() {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    let mut storage = Storage::open_in_memory(&identity(&p.b.0)).unwrap();
    append_all(&mut storage, &log, 10);
    for (amount, at) in [(5u128, 100u64), (6, 200), (7, 300)] {
        let mut one = Vec::new();
        pay(&mut p, amount, &mut one);
        append_all(&mut storage, &one, at);
    }
    let all = storage.payments(&PaymentFilter::default()).unwrap();
    assert_eq!(all.iter().map(|r| r.amount).collect::<Vec<_>>(), vec![7, 6, 5], "newest first");
    assert!(all.iter().all(|r| r.direction == Direction::Received && r.token == TOKEN));
    assert_eq!(all[0].counterparty, Some(p.a.0.address()));
    let window = storage
        .payments(&PaymentFilter { since: Some(150), until: Some(250), ..Default::default() })
        .unwrap();
    assert_eq!(window.len(), 1);
    assert_eq!(window[0].amount, 6);
    let none = storage
        .payments(&PaymentFilter { token: Some(Address::repeat_byte(1)), ..Default::default() })
        .unwrap();
    assert!(none.is_empty());
    let sent = storage
        .payments(&PaymentFilter { direction: Some(Direction::Sent), ..Default::default() })
        .unwrap();
    assert!(sent.is_empty());
    let limited =
        storage.payments(&PaymentFilter { limit: Some(2), ..Default::default() }).unwrap();
    assert_eq!(limited.len(), 2);
    // the next page starts after the last row shown
    let next = storage
        .payments(&PaymentFilter {
            limit: Some(2),
            before: Some(limited[1].id),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(next.iter().map(|r| r.amount).collect::<Vec<_>>(), vec![5]);
}

#[test]
fn requested_transactions_stay_pending_until_completed() {
    use photon_primitives::Secret;
    use photon_state::changes::ContractCall;
    let signer = LocalSigner::from_bytes(&[3; 32]).unwrap();
    let mut storage = Storage::open_in_memory(&identity(&signer)).unwrap();
    let change = StateChange::Block(101);
    let calls = [
        ContractCall::RegisterSecret { secret: Secret([1u8; 32].into()) },
        ContractCall::Settle { token: TOKEN, partner: Address::repeat_byte(2) },
    ];
    let events: Vec<Event> = calls.iter().cloned().map(Event::Transact).collect();
    let (_, pending) = storage
        .append_with_transactions(&[Record { change: &change, events: &events, at: 0 }])
        .unwrap();
    assert_eq!(pending.len(), 2);
    let listed = storage.pending_transactions().unwrap();
    assert_eq!(listed.iter().map(|(_, c)| c.clone()).collect::<Vec<_>>(), calls.to_vec());
    storage.complete_transaction(pending[0]).unwrap();
    assert_eq!(storage.pending_transactions().unwrap(), vec![(pending[1], calls[1].clone())]);
}

#[test]
fn processed_messages_are_remembered_for_retransmissions() {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    pay(&mut p, 3, &mut log);
    let mut storage = Storage::open_in_memory(&identity(&p.b.0)).unwrap();
    let (change, _) = log.last().unwrap();
    let StateChange::Receive { sender, message } = change else { panic!("a receive") };
    assert!(!storage.is_acked(sender, message.message_id()).unwrap());
    append_all(&mut storage, &log, 1);
    assert!(storage.is_acked(sender, message.message_id()).unwrap());
    assert!(!storage.is_acked(sender, message.message_id() + 1).unwrap());
    assert!(!storage.is_acked(&Address::repeat_byte(3), message.message_id()).unwrap());
}

#[test]
fn messages_stay_in_the_outbox_until_delivered() {
    let mut log = Vec::new();
    let mut p = pair(&mut log, DEPOSITS);
    let mut storage = Storage::open_in_memory(&identity(&p.a.0)).unwrap();
    // A's side: the direct transfer A sends
    let events = transition(
        &mut p.a.1,
        StateChange::SendDirect {
            channel_id: p.channel,
            payment_id: 1,
            amount: TokenAmount(5),
            data: Vec::new(),
        },
        &p.a.0,
    )
    .unwrap();
    let change = StateChange::SendDirect {
        channel_id: p.channel,
        payment_id: 1,
        amount: TokenAmount(5),
        data: Vec::new(),
    };
    let (_, _, outbox) =
        storage.append_all(&[Record { change: &change, events: &events, at: 0 }]).unwrap();
    assert_eq!(outbox.len(), 1);
    let waiting = storage.outbox().unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].1, p.b.0.address());
    assert!(matches!(waiting[0].2, Message::DirectTransfer(_)));
    let sent = |storage: &Storage| storage.payments(&PaymentFilter::default()).unwrap();
    assert!(sent(&storage)[0].pending, "sent, not acknowledged yet");
    storage.delivered(outbox[0], None).unwrap();
    assert!(storage.outbox().unwrap().is_empty());
    let history = sent(&storage);
    assert_eq!((history[0].direction, history[0].pending), (Direction::Sent, false), "succeeded");

    // a second payment the partner refuses for good (it holds the signed proof all the same):
    // the history keeps it sent and says it is disputed
    let events = transition(
        &mut p.a.1,
        StateChange::SendDirect {
            channel_id: p.channel,
            payment_id: 2,
            amount: TokenAmount(3),
            data: Vec::new(),
        },
        &p.a.0,
    )
    .unwrap();
    let change = StateChange::SendDirect {
        channel_id: p.channel,
        payment_id: 2,
        amount: TokenAmount(3),
        data: Vec::new(),
    };
    let (_, _, outbox) =
        storage.append_all(&[Record { change: &change, events: &events, at: 0 }]).unwrap();
    storage.delivered(outbox[0], Some("bad signature")).unwrap();
    let refused = &sent(&storage)[0];
    assert_eq!((refused.payment_id, refused.direction), (2, Direction::Sent));
    assert!(!refused.pending);
    assert!(refused.reason.as_deref().is_some_and(|r| r.starts_with("disputed")), "{refused:?}");
}
