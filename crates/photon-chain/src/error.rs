use alloy::primitives::Address;

/// Errors of the on-chain layer.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A contract call or transaction failed (revert, RPC error, encoding).
    #[error(transparent)]
    Contract(#[from] alloy::contract::Error),
    /// Waiting for a transaction failed.
    #[error(transparent)]
    Pending(#[from] alloy::providers::PendingTransactionError),
    /// The RPC endpoint failed.
    #[error(transparent)]
    Rpc(#[from] alloy::transports::TransportError),
    /// A transaction was mined but reverted.
    #[error("transaction {0} reverted")]
    Reverted(alloy::primitives::TxHash),
    /// A contract creation receipt has no contract address.
    #[error("deployment transaction {0} created no contract")]
    NotDeployed(alloy::primitives::TxHash),
    /// No contract code at an address that should hold one.
    #[error("no contract code at {0}: wrong address or wrong chain")]
    NoCode(Address),
    /// The anvil dev chain could not be found or started.
    #[error("dev chain: {0}")]
    DevChain(String),
    /// A deployment file could not be read or written.
    #[error("deployment file {path}: {reason}")]
    DeploymentFile {
        /// the file
        path: String,
        /// what went wrong
        reason: String,
    },
}

/// Result of the on-chain layer.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;
