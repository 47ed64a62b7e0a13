//! The service's errors.

use photon_chain::ChainError;

/// Why the service's database failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The file could not be opened for this process alone (see `photon_storage::durable`).
    #[error(transparent)]
    Open(#[from] photon_storage::StorageError),
    /// A stored record does not decode (or a record does not encode).
    #[error("stored record: {0}")]
    Record(#[from] serde_json::Error),
    /// A number does not fit the database's 63-bit integers.
    #[error("{0} is out of the database's range")]
    Range(&'static str),
    /// The storage task stopped (a panic while it held the database).
    #[error("storage task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Why the service stopped.
#[derive(Debug, thiserror::Error)]
pub enum PfsError {
    /// Its database failed.
    #[error("pathfinding storage: {0}")]
    Store(#[from] StoreError),
    /// The chain could not be read or followed (e.g. a reorg deeper than the confirmations).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The API could not be served.
    #[error("serving the API: {0}")]
    Serve(#[source] std::io::Error),
    /// A write to the database failed (the service stops rather than answer from memory
    /// what the disk does not hold).
    #[error("the database writer failed: {0}")]
    Writer(String),
    /// The chain task ended without an error (it panicked or was cancelled).
    #[error("the chain task stopped")]
    Stopped,
}
