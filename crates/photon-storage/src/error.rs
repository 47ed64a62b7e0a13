use photon_primitives::Address;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// SQLite failed.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Another process holds the database.
    #[error("the database {0} is in use by another process (is a node already running on this data directory?)")]
    Locked(String),
    /// A stored record cannot be decoded.
    #[error("corrupt {table} record {id}: {reason}")]
    Corrupt {
        /// the table
        table: &'static str,
        /// the row id
        id: i64,
        /// why
        reason: String,
    },
    /// A value could not be encoded.
    #[error("cannot encode {0}")]
    Encode(String),
    /// Replaying the log did not reproduce an accepted state change.
    #[error("replaying state change {id} failed: {reason}")]
    Replay {
        /// the state change
        id: u64,
        /// the refusal
        reason: String,
    },
    /// The database belongs to another account, chain or contract.
    #[error("the database belongs to {found_address} on chain {found_chain}, not to {address} on chain {chain}")]
    WrongNode {
        /// the address asked for
        address: Address,
        /// the chain asked for
        chain: u64,
        /// the address stored
        found_address: Address,
        /// the chain stored
        found_chain: u64,
    },
    /// The database was written by a newer version.
    #[error("database schema version {0} is newer than this build understands")]
    Schema(i64),
    /// The database was written by an older version whose layout this build cannot read.
    #[error(
        "database schema version {0} was written by an older build whose stored layout this \
         build cannot read: settle its channels with the build that wrote it and start this \
         one with a new data directory"
    )]
    Incompatible(i64),
    /// A snapshot was written by a newer build in a layout this one cannot read.
    #[error(
        "snapshot {id} has format {format}, written by a newer build than this one: run that \
         build (or a newer one) on this data directory"
    )]
    SnapshotFormat {
        /// the state change it follows
        id: i64,
        /// its format
        format: i64,
    },
}

/// Result of the storage layer.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
