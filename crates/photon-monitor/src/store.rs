//! What a monitoring service keeps: the newest [`Delegation`] of each client for each channel
//! (ordered by epoch, nonce and skip mask), the [`Watch`] of each closed channel it acts for,
//! and the last block it followed. One SQLite file, WAL, `synchronous=FULL`, exclusive.
//! Records are JSON in the file; this module's interface is typed.

use crate::delegation::Delegation;
use crate::error::StoreError;
use photon_primitives::{Address, ChannelId};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;

type Result<T> = std::result::Result<T, StoreError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS delegations (
    channel_id BLOB NOT NULL,
    participant BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    nonce INTEGER NOT NULL,
    skip BLOB NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (channel_id, participant)
);
CREATE TABLE IF NOT EXISTS watches (channel_id BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS monitor_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// A closed channel the service acts for, and what it has done for it (set once the
/// transaction is mined or the contract refuses it as not needed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Watch {
    pub(crate) token: Address,
    pub(crate) participants: (Address, Address),
    pub(crate) closer: Address,
    /// Last block of the settle window.
    pub(crate) settle_block: u64,
    pub(crate) update_done: bool,
    /// Participants whose delegated locks were unlocked (or had nothing to claim).
    pub(crate) unlocked: Vec<Address>,
    pub(crate) settle_done: bool,
    /// Bumped when a newer delegation re-arms the watch: a job built before does not count.
    #[serde(default)]
    pub(crate) generation: u64,
}

/// How delegations are ordered: by epoch (epochs only grow; a withdrawal starts nonces over),
/// then nonce, then — for one proof — a growing skip mask (a disposal adds a lock to skip
/// without a new proof).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Order {
    epoch: u64,
    nonce: u64,
    /// Locks not to claim: 256 bits, big endian.
    skip: [u8; 32],
}

impl Order {
    fn of(d: &Delegation) -> Self {
        Self { epoch: d.epoch, nonce: d.nonce, skip: d.skip.0.to_be_bytes::<32>() }
    }
}

/// A monitoring service's database.
#[derive(Debug)]
pub struct DelegationStore {
    conn: Connection,
}

fn int(value: u64, what: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Range(what))
}

fn channel_of(bytes: &[u8]) -> Result<ChannelId> {
    let id: [u8; 32] = bytes.try_into().map_err(|_| StoreError::Range("a channel id"))?;
    Ok(ChannelId::from(id))
}

impl DelegationStore {
    /// Opens (creating if needed) the database at `path`; refuses one another process holds.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        Ok(Self { conn: photon_storage::durable(conn, &path.display().to_string(), SCHEMA)? })
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Keeps `d` as its participant's delegation for `channel` if it comes after the one kept
    /// (by epoch, nonce, then a growing skip mask); returns whether it was kept.
    pub fn put(&mut self, channel: ChannelId, d: &Delegation) -> Result<bool> {
        self.put_then_watch(channel, d, |_| None)
    }

    /// [`DelegationStore::put`], and when the delegation is kept, `then` may replace the
    /// channel's watch (given the one kept, if any) — both in one transaction.
    pub(crate) fn put_then_watch(
        &mut self, channel: ChannelId, d: &Delegation,
        then: impl FnOnce(Option<Watch>) -> Option<Watch>,
    ) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let kept = put_on(&tx, channel, d)?;
        if kept {
            if let Some(watch) = then(watch_on(&tx, channel)?) {
                put_watch_on(&tx, channel, &watch)?;
            }
        }
        tx.commit()?;
        Ok(kept)
    }

    /// Every delegation kept for `channel`.
    pub fn of_channel(&self, channel: ChannelId) -> Result<Vec<Delegation>> {
        let mut stmt = self.conn.prepare("SELECT data FROM delegations WHERE channel_id = ?1")?;
        let rows = stmt.query_map([channel.as_slice()], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_slice(&row?)?);
        }
        Ok(out)
    }

    /// The (channel, epoch, nonce) of every delegation `participant` made.
    pub fn of_participant(&self, participant: Address) -> Result<Vec<(ChannelId, u64, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT channel_id, epoch, nonce FROM delegations WHERE participant = ?1
             ORDER BY channel_id",
        )?;
        let rows = stmt.query_map([participant.as_slice()], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, epoch, nonce) = row?;
            let number =
                |v: i64| u64::try_from(v).map_err(|_| StoreError::Range("a stored number"));
            out.push((channel_of(&id)?, number(epoch)?, number(nonce)?));
        }
        Ok(out)
    }

    /// How many delegations are kept.
    pub fn count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM delegations", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// How many closed channels are watched.
    pub fn watch_count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM watches", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// What is watched of `channel`, if it is.
    pub(crate) fn watch(&self, channel: ChannelId) -> Result<Option<Watch>> {
        watch_on(&self.conn, channel)
    }

    /// Keeps (or replaces) what is watched of a closed channel.
    pub(crate) fn put_watch(&mut self, channel: ChannelId, watch: &Watch) -> Result<()> {
        put_watch_on(&self.conn, channel, watch)
    }

    /// Every watched channel.
    pub(crate) fn watches(&self) -> Result<Vec<(ChannelId, Watch)>> {
        let mut stmt = self.conn.prepare("SELECT channel_id, data FROM watches")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, data) = row?;
            out.push((channel_of(&id)?, serde_json::from_slice(&data)?));
        }
        Ok(out)
    }

    /// Forgets a channel that is gone: its watch and its delegations.
    pub fn forget(&mut self, channel: ChannelId) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM watches WHERE channel_id = ?1", [channel.as_slice()])?;
        tx.execute("DELETE FROM delegations WHERE channel_id = ?1", [channel.as_slice()])?;
        tx.commit()?;
        Ok(())
    }

    /// The last block whose events were handled.
    pub fn last_block(&self) -> Result<Option<u64>> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT value FROM monitor_meta WHERE key = 'last_block'", [], |r| r.get(0))
            .optional()?;
        Ok(v.and_then(|v| u64::try_from(v).ok()))
    }

    /// Records the last block whose events were handled.
    pub fn set_last_block(&mut self, block: u64) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO monitor_meta (key, value) VALUES ('last_block', ?1)",
            [int(block, "block")?],
        )?;
        Ok(())
    }
}

fn put_on(conn: &Connection, channel: ChannelId, d: &Delegation) -> Result<bool> {
    let key = Order::of(d);
    let (epoch, nonce) = (int(key.epoch, "epoch")?, int(key.nonce, "nonce")?);
    let stored: Option<(i64, i64, Vec<u8>)> = conn
        .query_row(
            "SELECT epoch, nonce, skip FROM delegations WHERE channel_id = ?1 AND participant = ?2",
            params![channel.as_slice(), d.participant.as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let newer = match stored {
        None => true,
        Some((e, n, skip)) => {
            let skip: [u8; 32] = skip.try_into().unwrap_or([0xff; 32]);
            let more_skipped =
                key.skip != skip && key.skip.iter().zip(skip).all(|(new, old)| new & old == old);
            (epoch, nonce) > (e, n) || ((epoch, nonce) == (e, n) && more_skipped)
        }
    };
    if newer {
        conn.execute(
            "INSERT OR REPLACE INTO delegations
             (channel_id, participant, epoch, nonce, skip, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                channel.as_slice(),
                d.participant.as_slice(),
                epoch,
                nonce,
                key.skip.as_slice(),
                serde_json::to_vec(d)?
            ],
        )?;
    }
    Ok(newer)
}

fn watch_on(conn: &Connection, channel: ChannelId) -> Result<Option<Watch>> {
    let data: Option<Vec<u8>> = conn
        .query_row("SELECT data FROM watches WHERE channel_id = ?1", [channel.as_slice()], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(data.map(|d| serde_json::from_slice(&d)).transpose()?)
}

fn put_watch_on(conn: &Connection, channel: ChannelId, watch: &Watch) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO watches (channel_id, data) VALUES (?1, ?2)",
        params![channel.as_slice(), serde_json::to_vec(watch)?],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delegation::tests::delegation;
    use alloy::primitives::U256;
    use photon_primitives::Signer;
    use photon_primitives::SkipMask;

    #[test]
    fn delegations_are_kept_newest_first_and_a_gone_channel_is_forgotten() {
        let mut store = DelegationStore::open_in_memory().unwrap();
        let (d, alice, bob) = delegation();
        let (a, b) = (alice.address(), bob.address());
        let c = ChannelId::repeat_byte(1);
        let at = |epoch: u64, nonce: u64, skip: u8| Delegation {
            epoch,
            nonce,
            skip: SkipMask(U256::from(skip)),
            ..d.clone()
        };
        assert!(store.put(c, &at(5, 2, 0)).unwrap());
        assert!(!store.put(c, &at(5, 2, 0)).unwrap(), "the same: kept first");
        assert!(!store.put(c, &at(5, 1, 0)).unwrap(), "older: refused");
        assert!(store.put(c, &at(5, 2, 0b01)).unwrap(), "more skipped");
        assert!(!store.put(c, &at(5, 2, 0b10)).unwrap(), "not a superset");
        let bobs = Delegation { participant: b, partner: a, ..at(5, 1, 0) };
        assert!(store.put(c, &bobs).unwrap(), "the other participant's own");
        assert!(store.put(c, &at(5, 3, 0)).unwrap());
        assert!(store.put(c, &at(6, 1, 0)).unwrap(), "after a withdrawal");
        assert!(!store.put(c, &at(5, 9, 0)).unwrap(), "an earlier epoch");
        let mut kept = store.of_channel(c).unwrap();
        kept.sort_by_key(|d| d.participant == a);
        assert_eq!(kept, vec![bobs, at(6, 1, 0)]);
        assert_eq!(store.of_participant(a).unwrap(), vec![(c, 6, 1)]);
        assert_eq!(store.count().unwrap(), 2);
        let watch = Watch {
            token: d.token,
            participants: (a, b),
            closer: b,
            settle_block: 9,
            update_done: false,
            unlocked: Vec::new(),
            settle_done: false,
            generation: 0,
        };
        store.put_watch(c, &watch).unwrap();
        assert_eq!(store.watches().unwrap(), vec![(c, watch.clone())]);
        assert_eq!(store.watch_count().unwrap(), 1);
        assert_eq!(store.watch(c).unwrap(), Some(watch.clone()));
        store.forget(c).unwrap();
        assert!(store.of_channel(c).unwrap().is_empty() && store.watches().unwrap().is_empty());
        assert_eq!(store.last_block().unwrap(), None);
        store.set_last_block(42).unwrap();
        assert_eq!(store.last_block().unwrap(), Some(42));
        assert!(store.put(c, &at(u64::MAX, 1, 0)).is_err(), "out of range: refused");
        // a kept delegation may re-arm the watch in the same transaction; a stale one does not
        store.put_watch(c, &watch).unwrap();
        let rearm = |old: Option<Watch>| old.map(|w| Watch { generation: w.generation + 1, ..w });
        assert!(store.put_then_watch(c, &at(7, 1, 0), rearm).unwrap());
        assert!(!store.put_then_watch(c, &at(7, 1, 0), rearm).unwrap());
        assert_eq!(store.watch(c).unwrap().map(|w| w.generation), Some(1));
    }
}
