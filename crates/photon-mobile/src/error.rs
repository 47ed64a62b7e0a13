//! The library's one error type: a variant per stable code of the REST API (`bad_request` is
//! `BadRequest`, …), plus the key's own.

use photon_node::launch::LaunchError;
use photon_node::NodeError;

/// What went wrong. Each variant is one of the REST API's stable error codes (see
/// [`PhotonError::code`]), except `WrongPassword` and `BadKey`, which only starting a node
/// from a key file can give.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PhotonError {
    /// The request is malformed or asks for something impossible (`bad_request`).
    #[error("{message}")]
    BadRequest {
        /// what is wrong
        message: String,
    },
    /// A valid request the node will not carry out as asked: a channel with ourselves, a
    /// settle timeout outside the accepted range, a payment id already used (`refused`).
    #[error("{message}")]
    Refused {
        /// why not
        message: String,
    },
    /// No such channel, payment or resource (`not_found`).
    #[error("{message}")]
    NotFound {
        /// what is missing
        message: String,
    },
    /// The protocol refused the action (`rejected`).
    #[error("{message}")]
    Rejected {
        /// why
        message: String,
    },
    /// The chain refused a transaction (`chain_refused`).
    #[error("{message}")]
    ChainRefused {
        /// why
        message: String,
    },
    /// The chain could not be reached or failed (`chain_error`).
    #[error("{message}")]
    ChainError {
        /// what failed
        message: String,
    },
    /// The database failed (`storage_error`).
    #[error("{message}")]
    StorageError {
        /// what failed
        message: String,
    },
    /// A payment did not finish in time; it may still finish (`timeout`).
    #[error("{message}")]
    Timeout {
        /// the payment
        payment_id: u64,
        /// what to do
        message: String,
    },
    /// A payment failed (`payment_failed`).
    #[error("payment {payment_id} failed: {reason}")]
    PaymentFailed {
        /// the payment
        payment_id: u64,
        /// why
        reason: String,
    },
    /// The partner refused the message completing a payment but holds our signed proof of
    /// it: count it as paid; the chain settles the channel (`payment_disputed`).
    #[error("payment {payment_id} disputed: {reason}")]
    PaymentDisputed {
        /// the payment
        payment_id: u64,
        /// what the partner said
        reason: String,
    },
    /// A bug: a task of the node failed; it stopped, its state on disk is intact
    /// (`internal_error`).
    #[error("{message}")]
    InternalError {
        /// what failed
        message: String,
    },
    /// The node is stopped or stopping (`stopped`).
    #[error("the node is shutting down or stopped")]
    Stopped,
    /// The key file's password is wrong (`wrong_password`).
    #[error("wrong password for the key file")]
    WrongPassword,
    /// The key is not a usable key: not a key file, not 32 bytes, not a secp256k1 key
    /// (`bad_key`).
    #[error("{message}")]
    BadKey {
        /// what is wrong
        message: String,
    },
    /// The peer-to-peer transport could not start (a listen address taken or malformed)
    /// (`transport_error`).
    #[error("{message}")]
    TransportError {
        /// what failed
        message: String,
    },
}

impl PhotonError {
    /// The stable code, as the REST API spells it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::NotFound { .. } => "not_found",
            Self::Refused { .. } => "refused",
            Self::Rejected { .. } => "rejected",
            Self::ChainRefused { .. } => "chain_refused",
            Self::ChainError { .. } => "chain_error",
            Self::StorageError { .. } => "storage_error",
            Self::Timeout { .. } => "timeout",
            Self::PaymentFailed { .. } => "payment_failed",
            Self::PaymentDisputed { .. } => "payment_disputed",
            Self::Stopped => "stopped",
            Self::InternalError { .. } => "internal_error",
            Self::WrongPassword => "wrong_password",
            Self::BadKey { .. } => "bad_key",
            Self::TransportError { .. } => "transport_error",
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest { message: message.into() }
    }
}

impl From<NodeError> for PhotonError {
    fn from(e: NodeError) -> Self {
        let message = e.to_string();
        match e {
            NodeError::BadRequest(_) => Self::BadRequest { message },
            NodeError::NotFound(_) => Self::NotFound { message },
            NodeError::Refused(_) => Self::Refused { message },
            NodeError::Rejected(_) => Self::Rejected { message },
            NodeError::Chain(photon_chain::ChainError::Refused(_)) => {
                Self::ChainRefused { message }
            }
            NodeError::Chain(_) | NodeError::ChainUnreachable(_) => Self::ChainError { message },
            NodeError::Storage(_) => Self::StorageError { message },
            NodeError::Timeout(payment_id) => Self::Timeout { payment_id, message },
            NodeError::PaymentFailed { payment_id, reason } => {
                Self::PaymentFailed { payment_id, reason }
            }
            NodeError::PaymentDisputed { payment_id, reason } => {
                Self::PaymentDisputed { payment_id, reason }
            }
            NodeError::Stopped => Self::Stopped,
            NodeError::Internal(_) => Self::InternalError { message },
        }
    }
}

impl From<LaunchError> for PhotonError {
    fn from(e: LaunchError) -> Self {
        match e {
            LaunchError::Node(e) => e.into(),
            LaunchError::Transport(e) => Self::TransportError { message: e.to_string() },
            e @ LaunchError::Api { .. } => Self::BadRequest { message: e.to_string() },
        }
    }
}

impl From<photon_node::keystore::KeystoreError> for PhotonError {
    fn from(e: photon_node::keystore::KeystoreError) -> Self {
        match e {
            photon_node::keystore::KeystoreError::WrongPassword => Self::WrongPassword,
            other => Self::BadKey { message: other.to_string() },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_error_keeps_its_rest_code() {
        let errors = [
            NodeError::BadRequest("x".into()),
            NodeError::NotFound("x".into()),
            NodeError::Chain(photon_chain::ChainError::Refused("x".into())),
            NodeError::ChainUnreachable("x".into()),
            NodeError::Timeout(7),
            NodeError::PaymentFailed { payment_id: 1, reason: "x".into() },
            NodeError::PaymentDisputed { payment_id: 1, reason: "x".into() },
            NodeError::Stopped,
            NodeError::Internal("x".into()),
        ];
        for e in errors {
            let code = e.code();
            let text = e.to_string();
            let ours = PhotonError::from(e);
            assert_eq!(ours.code(), code);
            assert!(
                ours.to_string().starts_with(text.split(':').next().unwrap_or_default()),
                "{ours} vs {text}"
            );
        }
    }
}
