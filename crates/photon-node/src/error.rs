//! Errors of the node, each with a stable code for the API.

/// What went wrong, for a user.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The request is malformed or asks for something impossible.
    #[error("{0}")]
    BadRequest(String),
    /// A well-formed request the node will not carry out as asked (a channel with ourselves,
    /// a settle timeout outside the accepted range, a payment id already used, the zero
    /// secret): the request is valid, the node's answer is no.
    #[error("{0}")]
    Refused(String),
    /// No such channel, payment or resource.
    #[error("{0}")]
    NotFound(String),
    /// The state machine refused the action.
    #[error(transparent)]
    Rejected(#[from] photon_state::Rejection),
    /// The chain refused or failed a transaction.
    #[error(transparent)]
    Chain(#[from] photon_chain::ChainError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] photon_storage::StorageError),
    /// A payment did not finish in time (it may still finish).
    #[error("payment {0} did not finish in time; see GET /api/v1/payments")]
    Timeout(u64),
    /// A payment failed.
    #[error("payment {payment_id} failed: {reason}")]
    PaymentFailed {
        /// the payment
        payment_id: u64,
        /// why
        reason: String,
    },
    /// The partner refused the message completing a payment, but holds our signed proof of
    /// it: count it as paid (the chain settles the channel, which the node closes).
    #[error("payment {payment_id} disputed: {reason}")]
    PaymentDisputed {
        /// the payment
        payment_id: u64,
        /// what the partner said
        reason: String,
    },
    /// The node is shutting down.
    #[error("the node is shutting down")]
    Stopped,
    /// A bug: a task of the node failed (it stopped; its state on disk is intact).
    #[error("internal error: {0}")]
    Internal(String),
    /// A node with no stored state cannot start before it has seen its chain.
    #[error(
        "the chain's RPC endpoint is unreachable ({0}); a node without stored state must reach \
         its chain once before it can run without it"
    )]
    ChainUnreachable(String),
}

impl NodeError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::NotFound(_) => "not_found",
            Self::Refused(_) => "refused",
            Self::Rejected(_) => "rejected",
            Self::Chain(photon_chain::ChainError::Refused(_)) => "chain_refused",
            Self::Chain(_) | Self::ChainUnreachable(_) => "chain_error",
            Self::Storage(_) => "storage_error",
            Self::Timeout(_) => "timeout",
            Self::PaymentFailed { .. } => "payment_failed",
            Self::PaymentDisputed { .. } => "payment_disputed",
            Self::Stopped => "stopped",
            Self::Internal(_) => "internal_error",
        }
    }
}
