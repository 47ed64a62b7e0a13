//! Durable storage of a Photon node: a write-ahead log of state changes, the events they
//! produced, snapshots, and a queryable payment history, in one SQLite file.
//!
//! ```text
//!   runtime: change ──transition──> events
//!              │                       │
//!              └── append([(change, events)…])   one SQLite transaction: group commit
//!                       │ durable (WAL, synchronous=FULL) before any event is carried out
//!   every N changes: save_snapshot(state), then compact(): the log records the snapshot
//!                    covers go (history, outbox and pending transactions stay)
//!   restart: restore() = latest snapshot + replay of the changes after it
//! ```
//!
//! Only accepted state changes are logged, so replaying them through the same pure
//! `transition` rebuilds exactly the state that was lost (signatures are deterministic).
//! The database is opened in exclusive locking mode: a second process on the same data
//! directory is refused.

mod error;
mod history;
mod legacy;
mod store;

pub use error::{Result, StorageError};
pub use history::{Direction, PaymentFilter, PaymentRecord};
pub use store::{
    crash_point, durable, encode_snapshot, Compacted, Delivered, Footprint, NodeIdentity, Record,
    Restored, Storage, SNAPSHOT_FORMAT,
};
