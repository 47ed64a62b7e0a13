use alloy::primitives::Address;

/// Errors of the on-chain layer.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A contract call or transaction failed (revert, RPC error, encoding). A revert with
    /// one of the contracts' custom errors displays that error's name.
    #[error("{}", describe(.0))]
    Contract(#[from] alloy::contract::Error),
    /// Waiting for a transaction failed.
    #[error(transparent)]
    Pending(#[from] alloy::providers::PendingTransactionError),
    /// The RPC endpoint failed.
    #[error(transparent)]
    Rpc(#[from] alloy::transports::TransportError),
    /// The chain would refuse the transaction: the contract's error (nothing was sent).
    #[error("the contract refuses the transaction: {0}")]
    Refused(String),
    /// A transaction was not mined in time.
    #[error("transaction {0} was not mined in time")]
    Timeout(alloy::primitives::TxHash),
    /// The RPC endpoint took the request and did not answer in time.
    #[error("no answer from the RPC endpoint in {0:?}")]
    NoAnswer(std::time::Duration),
    /// A transaction was mined but reverted.
    #[error("transaction {0} reverted")]
    Reverted(alloy::primitives::TxHash),
    /// A contract creation receipt has no contract address.
    #[error("deployment transaction {0} created no contract")]
    NotDeployed(alloy::primitives::TxHash),
    /// No contract code at an address that should hold one.
    #[error("no contract code at {0}: wrong address or wrong chain")]
    NoCode(Address),
    /// The endpoint serves another chain than the deployment's.
    #[error("the RPC endpoint serves chain {found}, the deployment is on chain {expected}")]
    WrongChain {
        /// the deployment's chain id
        expected: u64,
        /// the endpoint's
        found: u64,
    },
    /// A block already acted on is no longer on the chain: a reorg deeper than the
    /// confirmation depth.
    #[error(
        "block {block} was reorganised away after it was confirmed; raise the confirmation depth"
    )]
    DeepReorg {
        /// the block
        block: u64,
    },
    /// The endpoint does not have a block it reported.
    #[error("the RPC endpoint has no block {0}")]
    MissingBlock(u64),
    /// A log could not be decoded.
    #[error("malformed {0} log")]
    MalformedLog(&'static str),
    /// A deployment file could not be read or written.
    #[error("deployment file {path}: {reason}")]
    DeploymentFile {
        /// the file
        path: String,
        /// what went wrong
        reason: String,
    },
}

/// Names the contract's custom error when the call reverted with one.
fn describe(err: &alloy::contract::Error) -> String {
    use crate::bindings::{
        SecretRegistry::SecretRegistryErrors, TokensNetwork::TokensNetworkErrors,
    };
    let name =
        err.as_decoded_interface_error::<TokensNetworkErrors>().map(|e| format!("{e:?}")).or_else(
            || err.as_decoded_interface_error::<SecretRegistryErrors>().map(|e| format!("{e:?}")),
        );
    match name {
        // Debug of a variant is `Name(Name)` or `Name(Name { .. })`: keep the name.
        Some(debug) => {
            let name = debug.split('(').next().unwrap_or(&debug);
            format!("the contract refused the call: {name}")
        }
        None => err.to_string(),
    }
}

/// Result of the on-chain layer.
pub type Result<T, E = ChainError> = std::result::Result<T, E>;
