//! What a monitoring (delegate) service keeps: the newest delegation of each client for each
//! channel (opaque bytes here, ordered by epoch, nonce and skip mask), the closed channels it
//! watches, and the last block it followed. One SQLite file, WAL, `synchronous=FULL`,
//! exclusive.

use crate::error::{Result, StorageError};
use photon_primitives::{Address, ChannelId};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

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

/// How delegations are ordered: by epoch (epochs only grow; a withdrawal starts nonces over),
/// then nonce, then — for one proof — a growing skip mask (a disposal adds a lock to skip
/// without a new proof).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    /// The channel's epoch.
    pub epoch: u64,
    /// The proof's nonce.
    pub nonce: u64,
    /// Locks not to claim: 256 bits, big endian.
    pub skip: [u8; 32],
}

/// A monitoring service's database.
#[derive(Debug)]
pub struct DelegationStore {
    conn: Connection,
}

fn int(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StorageError::Encode(what.into()))
}

impl DelegationStore {
    /// Opens (creating if needed) the database at `path`; refuses one another process holds.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        Ok(Self { conn: crate::store::durable(conn, &path.display().to_string(), SCHEMA)? })
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Keeps `data` as `participant`'s delegation for `channel` if it comes after the one kept
    /// in [`Order`]; returns whether it was kept.
    pub fn put(
        &mut self,
        channel: ChannelId,
        participant: Address,
        key: Order,
        data: &[u8],
    ) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let kept = put_on(&tx, channel, participant, key, data)?;
        tx.commit()?;
        Ok(kept)
    }

    /// [`DelegationStore::put`], and when the delegation is kept, `then` may replace the
    /// channel's watch (given the one kept, if any) — both in one transaction.
    pub fn put_then_watch(
        &mut self,
        channel: ChannelId,
        participant: Address,
        key: Order,
        data: &[u8],
        then: impl FnOnce(Option<Vec<u8>>) -> Option<Vec<u8>>,
    ) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let kept = put_on(&tx, channel, participant, key, data)?;
        if kept {
            if let Some(watch) = then(watch_on(&tx, channel)?) {
                put_watch_on(&tx, channel, &watch)?;
            }
        }
        tx.commit()?;
        Ok(kept)
    }

    /// Every delegation kept for `channel`.
    pub fn of_channel(&self, channel: ChannelId) -> Result<Vec<Vec<u8>>> {
        let mut stmt = self.conn.prepare("SELECT data FROM delegations WHERE channel_id = ?1")?;
        let rows = stmt.query_map([channel.as_slice()], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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
            if id.len() == 32 {
                let (epoch, nonce) = (u64::try_from(epoch), u64::try_from(nonce));
                out.push((
                    ChannelId::from_slice(&id),
                    epoch.unwrap_or_default(),
                    nonce.unwrap_or_default(),
                ));
            }
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
    pub fn watch(&self, channel: ChannelId) -> Result<Option<Vec<u8>>> {
        watch_on(&self.conn, channel)
    }

    /// Keeps (or replaces) what is watched of a closed channel.
    pub fn put_watch(&mut self, channel: ChannelId, data: &[u8]) -> Result<()> {
        put_watch_on(&self.conn, channel, data)
    }

    /// Every watched channel.
    pub fn watches(&self) -> Result<Vec<(ChannelId, Vec<u8>)>> {
        let mut stmt = self.conn.prepare("SELECT channel_id, data FROM watches")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, data) = row?;
            if id.len() != 32 {
                return Err(StorageError::Corrupt {
                    table: "watches",
                    id: 0,
                    reason: "channel id".into(),
                });
            }
            out.push((ChannelId::from_slice(&id), data));
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

fn put_on(
    conn: &Connection,
    channel: ChannelId,
    participant: Address,
    key: Order,
    data: &[u8],
) -> Result<bool> {
    let (epoch, nonce) = (int(key.epoch, "epoch")?, int(key.nonce, "nonce")?);
    let stored: Option<(i64, i64, Vec<u8>)> = conn
        .query_row(
            "SELECT epoch, nonce, skip FROM delegations WHERE channel_id = ?1 AND participant = ?2",
            params![channel.as_slice(), participant.as_slice()],
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
                participant.as_slice(),
                epoch,
                nonce,
                key.skip.as_slice(),
                data
            ],
        )?;
    }
    Ok(newer)
}

fn watch_on(conn: &Connection, channel: ChannelId) -> Result<Option<Vec<u8>>> {
    Ok(conn
        .query_row("SELECT data FROM watches WHERE channel_id = ?1", [channel.as_slice()], |r| {
            r.get(0)
        })
        .optional()?)
}

fn put_watch_on(conn: &Connection, channel: ChannelId, data: &[u8]) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO watches (channel_id, data) VALUES (?1, ?2)",
        params![channel.as_slice(), data],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(epoch: u64, nonce: u64, skip: u8) -> Order {
        let mut mask = [0u8; 32];
        mask[31] = skip;
        Order { epoch, nonce, skip: mask }
    }

    #[test]
    fn delegations_are_kept_newest_first_and_a_gone_channel_is_forgotten() {
        let mut store = DelegationStore::open_in_memory().unwrap();
        let (c, a, b) =
            (ChannelId::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        assert!(store.put(c, a, key(5, 2, 0), b"two").unwrap());
        assert!(!store.put(c, a, key(5, 2, 0), b"two again").unwrap(), "the same: kept first");
        assert!(!store.put(c, a, key(5, 1, 0), b"one").unwrap(), "older: refused");
        assert!(store.put(c, a, key(5, 2, 0b01), b"two, skip 1").unwrap(), "more skipped");
        assert!(!store.put(c, a, key(5, 2, 0b10), b"two, skip 2").unwrap(), "not a superset");
        assert!(store.put(c, b, key(5, 1, 0), b"b's").unwrap(), "the other participant's own");
        assert!(store.put(c, a, key(5, 3, 0), b"three").unwrap());
        assert!(store.put(c, a, key(6, 1, 0), b"new epoch").unwrap(), "after a withdrawal");
        assert!(!store.put(c, a, key(5, 9, 0), b"old epoch").unwrap(), "an earlier epoch");
        let mut kept = store.of_channel(c).unwrap();
        kept.sort();
        assert_eq!(kept, vec![b"b's".to_vec(), b"new epoch".to_vec()]);
        assert_eq!(store.of_participant(a).unwrap(), vec![(c, 6, 1)]);
        assert_eq!(store.count().unwrap(), 2);
        store.put_watch(c, b"closed").unwrap();
        assert_eq!(store.watches().unwrap(), vec![(c, b"closed".to_vec())]);
        assert_eq!(store.watch_count().unwrap(), 1);
        assert_eq!(store.watch(c).unwrap(), Some(b"closed".to_vec()));
        store.forget(c).unwrap();
        assert!(store.of_channel(c).unwrap().is_empty() && store.watches().unwrap().is_empty());
        assert_eq!(store.last_block().unwrap(), None);
        store.set_last_block(42).unwrap();
        assert_eq!(store.last_block().unwrap(), Some(42));
        assert!(store.put(c, a, key(u64::MAX, 1, 0), b"x").is_err(), "out of range: refused");
        // a kept delegation may re-arm the watch in the same transaction; a stale one does not
        store.put_watch(c, b"armed").unwrap();
        let rearm = |old: Option<Vec<u8>>| Some([old.unwrap_or_default(), b"+".to_vec()].concat());
        assert!(store.put_then_watch(c, a, key(7, 1, 0), b"seven", rearm).unwrap());
        assert!(!store.put_then_watch(c, a, key(7, 1, 0), b"seven", rearm).unwrap());
        assert_eq!(store.watch(c).unwrap(), Some(b"armed+".to_vec()));
    }
}
