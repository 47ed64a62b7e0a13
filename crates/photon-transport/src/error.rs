/// Errors of the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The private key is not a valid secp256k1 key.
    #[error("invalid node key: {0}")]
    Key(String),
    /// A listen or bootstrap address is unusable.
    #[error("address {address}: {reason}")]
    Address {
        /// the address
        address: String,
        /// why
        reason: String,
    },
    /// libp2p could not be set up.
    #[error("transport setup: {0}")]
    Setup(#[source] Box<dyn std::error::Error + Send + Sync>),
}
