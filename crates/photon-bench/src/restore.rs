//! `photon-bench restore`: how long a node with 100,000 logged state changes takes to get
//! its state back after a restart.
//!
//! A node receives 100,000 direct transfers (real signatures). Its accepted state changes
//! are logged in batches of 1,000 (one SQLite transaction each: group commit) with a snapshot
//! after every batch except the last, as if the node crashed just before its next snapshot:
//! the worst case for a 1,000-change snapshot interval. Then the database is closed, reopened
//! and restored (latest snapshot + replay of the 1,000 changes after it, signatures checked).

use anyhow::{ensure, Context, Result};
use photon_primitives::eip712::Domain;
use photon_primitives::messages::Message;
use photon_primitives::Epoch;
use photon_primitives::SettleTimeout;
use photon_primitives::TokenAmount;
use photon_primitives::{channel_id, Address, LocalSigner, Signer};
use photon_state::changes::{ChainEvent, Event, StateChange};
use photon_state::{transition, ChainState, Config};
use photon_storage::{NodeIdentity, Record, Storage};
use std::time::Instant;

const TOKEN: Address = Address::repeat_byte(0x70);
const CONTRACT: Address = Address::repeat_byte(0xC0);
const CHANGES: u64 = 100_000;
const BATCH: u64 = 1_000;

fn fresh(signer: &LocalSigner) -> ChainState {
    ChainState::new(signer.address(), Domain::new(1, CONTRACT), 100, Config::default())
}

/// Runs the measurement; returns (key, value) rows.
pub(crate) fn measure() -> Result<Vec<(&'static str, f64)>> {
    let dir = std::env::temp_dir().join(format!("photon-bench-restore-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("photon.db");
    let result = run(&path);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run(path: &std::path::Path) -> Result<Vec<(&'static str, f64)>> {
    let sa = LocalSigner::from_bytes(&[1; 32]).context("key")?;
    let sb = LocalSigner::from_bytes(&[2; 32]).context("key")?;
    let (mut a, mut b) = (fresh(&sa), fresh(&sb));
    let identity = NodeIdentity { address: sb.address(), chain_id: 1, contract: CONTRACT };
    let mut storage = Storage::open(path, &identity)?;
    let id = channel_id(sa.address(), sb.address(), TOKEN, CONTRACT);
    let mut pending: Vec<(StateChange, Vec<Event>)> = Vec::new();
    let setup = [
        StateChange::Chain(ChainEvent::opened(
            (sa.address(), sb.address()),
            (TOKEN, CONTRACT),
            SettleTimeout(500),
            Epoch(100),
        )),
        StateChange::Chain(ChainEvent::Deposit {
            channel_id: id,
            participant: sa.address(),
            total: TokenAmount(u128::MAX / 4),
        }),
    ];
    for change in setup {
        transition(&mut a, change.clone(), &sa)?;
        let events = transition(&mut b, change.clone(), &sb)?;
        pending.push((change, events));
    }
    let (mut logged, mut append_time) = (0u64, 0f64);
    let mut n = 0u64;
    while logged + (pending.len() as u64) < CHANGES {
        n += 1;
        let events = transition(
            &mut a,
            StateChange::SendDirect {
                channel_id: id,
                payment_id: n,
                amount: TokenAmount(1),
                data: Vec::new(),
            },
            &sa,
        )?;
        for event in events {
            if let Event::Send { message: message @ Message::DirectTransfer(_), .. } = event {
                let change = StateChange::Receive { sender: sa.address(), message };
                let events = transition(&mut b, change.clone(), &sb)?;
                pending.push((change, events));
            }
        }
        if pending.len() as u64 == BATCH || logged + pending.len() as u64 == CHANGES {
            let records: Vec<Record<'_>> =
                pending.iter().map(|(c, e)| Record { change: c, events: e, at: 0 }).collect();
            let t = Instant::now();
            let ids = storage.append(&records)?;
            append_time += t.elapsed().as_secs_f64();
            logged += ids.len() as u64;
            if logged < CHANGES {
                let last = *ids.last().context("ids")?;
                storage.save_snapshot(last, &b)?;
            }
            pending.clear();
        }
    }
    ensure!(
        storage.state_change_count()? == CHANGES,
        "logged {} changes",
        storage.state_change_count()?
    );
    drop(storage);

    let t = Instant::now();
    let storage = Storage::open(path, &identity)?;
    let restored = storage.restore(fresh(&sb), &sb)?;
    let restore = t.elapsed().as_secs_f64();
    ensure!(format!("{:?}", restored.state) == format!("{b:?}"), "restored state differs");
    Ok(vec![
        ("restore_100k_s", (restore * 1000.0).round() / 1000.0),
        ("restore_replayed_changes", restored.replayed as f64),
        ("log_group_commit_changes_per_s", (CHANGES as f64 / append_time).round()),
    ])
}
