//! What the service keeps on disk: the open channels the chain showed (with deposits), each
//! participant's latest update per channel (with its signature), who was heard of when, and
//! the last block read. One SQLite file, WAL, `synchronous=FULL`, exclusive. At start the
//! [`Book`] is rebuilt from it.

use crate::book::{Book, ChannelInfo, Taken};
use crate::error::StoreError;
use crate::update::ChannelUpdate;
use photon_primitives::{Address, ChannelId};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;

type Result<T> = std::result::Result<T, StoreError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pfs_channels (channel_id BLOB PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pfs_updates (
    channel_id BLOB NOT NULL,
    sender BLOB NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (channel_id, sender)
);
CREATE TABLE IF NOT EXISTS pfs_presence (
    node BLOB PRIMARY KEY,
    nonce INTEGER NOT NULL,
    seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pfs_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
";

/// One thing the service took, to make durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreWrite {
    /// Updates taken, and when their senders were heard of: (node, heartbeat nonce, time).
    Updates(Vec<Taken>, Vec<(Address, u64, u64)>),
    /// Nodes heard of: (node, heartbeat nonce, seconds since 1970).
    Presence(Vec<(Address, u64, u64)>),
    /// The channels a block's events changed (`None`: gone), and the block.
    Block(Vec<(ChannelId, Option<ChannelInfo>)>, u64),
}

/// A pathfinding service's database.
#[derive(Debug)]
pub struct PfsStore {
    conn: Connection,
}

fn int(value: u64, what: &'static str) -> Result<i64> {
    i64::try_from(value).map_err(|_| StoreError::Range(what))
}

fn number(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| StoreError::Range("a stored number"))
}

fn address_of(bytes: &[u8]) -> Result<Address> {
    Address::try_from(bytes).map_err(|_| StoreError::Range("an address"))
}

impl PfsStore {
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

    /// The last block whose events are all stored.
    pub fn last_block(&self) -> Result<Option<u64>> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT value FROM pfs_meta WHERE key = 'last_block'", [], |r| r.get(0))
            .optional()?;
        v.map(number).transpose()
    }

    /// Several writes in one transaction (group commit), in order.
    pub fn write_all(&mut self, writes: &[StoreWrite]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for write in writes {
            match write {
                StoreWrite::Updates(taken, seen) => {
                    put_updates_on(&tx, taken)?;
                    put_presence_on(&tx, seen)?;
                }
                StoreWrite::Presence(seen) => put_presence_on(&tx, seen)?,
                StoreWrite::Block(changed, block) => chain_block_on(&tx, changed, *block)?,
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The channels a block's events changed (`None`: gone), and the block, in one
    /// transaction.
    pub fn chain_block(
        &mut self, changed: &[(ChannelId, Option<ChannelInfo>)], block: u64,
    ) -> Result<()> {
        self.write_all(&[StoreWrite::Block(changed.to_vec(), block)])
    }

    /// Updates taken (replacing each sender's earlier one for the channel), in one
    /// transaction.
    pub fn put_updates(&mut self, taken: &[Taken]) -> Result<()> {
        self.write_all(&[StoreWrite::Updates(taken.to_vec(), Vec::new())])
    }

    /// Nodes heard of: (node, heartbeat nonce, seconds since 1970).
    pub fn put_presence(&mut self, seen: &[(Address, u64, u64)]) -> Result<()> {
        self.write_all(&[StoreWrite::Presence(seen.to_vec())])
    }

    /// Rebuilds what the service knew: channels, then updates, then presence.
    pub fn load(&self, book: &mut Book, now: u64) -> Result<()> {
        let mut stmt = self.conn.prepare("SELECT channel_id, data FROM pfs_channels")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        for row in rows {
            let (id, data) = row?;
            let id: [u8; 32] = id.try_into().map_err(|_| StoreError::Range("a channel id"))?;
            book.put_channel(ChannelId::from(id), serde_json::from_slice(&data)?, now);
        }
        let mut stmt = self.conn.prepare("SELECT node, nonce, seen FROM pfs_presence")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })?;
        let mut presence = Vec::new();
        for row in rows {
            let (node, nonce, seen) = row?;
            presence.push((address_of(&node)?, number(nonce)?, number(seen)?));
        }
        let mut stmt = self.conn.prepare("SELECT sender, data FROM pfs_updates")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))?;
        for row in rows {
            let (sender, data) = row?;
            let update: ChannelUpdate = serde_json::from_slice(&data)?;
            // checked when taken; a channel closed since is simply not there
            let _ = book.apply(address_of(&sender)?, &update, 0);
        }
        // presence last: an update taken above does not count as hearing of its sender now
        book.reset_presence(presence, now);
        Ok(())
    }
}

fn chain_block_on(
    tx: &rusqlite::Transaction<'_>, changed: &[(ChannelId, Option<ChannelInfo>)], block: u64,
) -> Result<()> {
    for (id, info) in changed {
        match info {
            Some(info) => {
                tx.execute(
                    "INSERT OR REPLACE INTO pfs_channels (channel_id, data) VALUES (?1, ?2)",
                    params![id.as_slice(), serde_json::to_vec(info)?],
                )?;
            }
            None => {
                tx.execute("DELETE FROM pfs_channels WHERE channel_id = ?1", [id.as_slice()])?;
                tx.execute("DELETE FROM pfs_updates WHERE channel_id = ?1", [id.as_slice()])?;
            }
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO pfs_meta (key, value) VALUES ('last_block', ?1)",
        [int(block, "a block number")?],
    )?;
    Ok(())
}

fn put_updates_on(tx: &rusqlite::Transaction<'_>, taken: &[Taken]) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO pfs_updates (channel_id, sender, data) VALUES (?1, ?2, ?3)",
    )?;
    for t in taken {
        let data = serde_json::to_vec(&t.update)?;
        stmt.execute(params![t.update.channel_id.as_slice(), t.sender.as_slice(), data])?;
    }
    Ok(())
}

fn put_presence_on(tx: &rusqlite::Transaction<'_>, seen: &[(Address, u64, u64)]) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO pfs_presence (node, nonce, seen) VALUES (?1, ?2, ?3)",
    )?;
    for (node, nonce, at) in seen {
        stmt.execute(params![node.as_slice(), int(*nonce, "a nonce")?, int(*at, "a time")?])?;
    }
    Ok(())
}
