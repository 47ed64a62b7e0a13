//! What a monitoring (delegate) service keeps: the latest delegation of each client for each
//! channel (opaque bytes here, newest nonce wins), the closed channels it watches, and the
//! last block it followed. One SQLite file, WAL, `synchronous=FULL`, exclusive.

use crate::error::{Result, StorageError};
use photon_primitives::{Address, ChannelId};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS delegations (
    channel_id BLOB NOT NULL,
    participant BLOB NOT NULL,
    nonce INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (channel_id, participant)
);
CREATE TABLE IF NOT EXISTS watches (channel_id BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS monitor_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// A monitoring service's database.
#[derive(Debug)]
pub struct DelegationStore {
    conn: Connection,
}

impl DelegationStore {
    /// Opens (creating if needed) the database at `path`; refuses one another process holds.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        let locked = |e: rusqlite::Error| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
                StorageError::Locked(path.display().to_string())
            }
            other => StorageError::Sqlite(other),
        };
        conn.busy_timeout(std::time::Duration::from_millis(200))?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE").map_err(locked)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(locked)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(locked)?;
        conn.execute_batch(SCHEMA).map_err(locked)?;
        Ok(Self { conn })
    }

    /// An in-memory database (tests).
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self { conn })
    }

    /// Keeps `data` as `participant`'s delegation for `channel` if `nonce` is above the one
    /// kept; returns whether it was kept.
    pub fn put(
        &mut self,
        channel: ChannelId,
        participant: Address,
        nonce: u64,
        data: &[u8],
    ) -> Result<bool> {
        let nonce = i64::try_from(nonce).map_err(|_| StorageError::Encode("nonce".into()))?;
        let changed = self.conn.execute(
            "INSERT INTO delegations (channel_id, participant, nonce, data) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (channel_id, participant) DO UPDATE SET nonce = ?3, data = ?4
             WHERE ?3 > delegations.nonce",
            params![channel.as_slice(), participant.as_slice(), nonce, data],
        )?;
        Ok(changed == 1)
    }

    /// Every delegation kept for `channel`.
    pub fn of_channel(&self, channel: ChannelId) -> Result<Vec<Vec<u8>>> {
        let mut stmt = self.conn.prepare("SELECT data FROM delegations WHERE channel_id = ?1")?;
        let rows = stmt.query_map([channel.as_slice()], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// How many delegations are kept.
    pub fn count(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM delegations", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// Keeps (or replaces) what is watched of a closed channel.
    pub fn put_watch(&mut self, channel: ChannelId, data: &[u8]) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO watches (channel_id, data) VALUES (?1, ?2)",
            params![channel.as_slice(), data],
        )?;
        Ok(())
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
        let block = i64::try_from(block).map_err(|_| StorageError::Encode("block".into()))?;
        self.conn.execute(
            "INSERT OR REPLACE INTO monitor_meta (key, value) VALUES ('last_block', ?1)",
            [block],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_nonce_wins_and_a_gone_channel_is_forgotten() {
        let mut store = DelegationStore::open_in_memory().unwrap();
        let (c, a, b) =
            (ChannelId::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        assert!(store.put(c, a, 2, b"two").unwrap());
        assert!(!store.put(c, a, 2, b"two again").unwrap(), "same nonce: kept the first");
        assert!(!store.put(c, a, 1, b"one").unwrap(), "older: refused");
        assert!(store.put(c, b, 1, b"b's").unwrap(), "the other participant's own delegation");
        assert!(store.put(c, a, 3, b"three").unwrap());
        let mut kept = store.of_channel(c).unwrap();
        kept.sort();
        assert_eq!(kept, vec![b"b's".to_vec(), b"three".to_vec()]);
        store.put_watch(c, b"closed").unwrap();
        assert_eq!(store.watches().unwrap(), vec![(c, b"closed".to_vec())]);
        store.forget(c).unwrap();
        assert!(store.of_channel(c).unwrap().is_empty() && store.watches().unwrap().is_empty());
        assert_eq!(store.last_block().unwrap(), None);
        store.set_last_block(42).unwrap();
        assert_eq!(store.last_block().unwrap(), Some(42));
    }
}
