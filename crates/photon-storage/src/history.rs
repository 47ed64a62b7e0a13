//! The payment history: one row per payment outcome, queryable by token, counterparty,
//! direction and time.

use photon_primitives::{Address, TokenAmount};

/// What happened to a payment, from this node's side.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// We paid.
    Sent,
    /// We were paid.
    Received,
    /// A payment passed through us.
    Mediated,
    /// A payment we initiated failed.
    Failed,
}

impl Direction {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Received => "received",
            Self::Mediated => "mediated",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => Self::Sent,
            "received" => Self::Received,
            "mediated" => Self::Mediated,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// One payment outcome.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct PaymentRecord {
    /// Row id (increasing).
    pub id: i64,
    /// The state change that produced it.
    pub state_change_id: u64,
    /// Unix seconds at which it was logged.
    pub at: u64,
    /// What happened.
    pub direction: Direction,
    /// The payment id.
    pub payment_id: u64,
    /// The token.
    pub token: Address,
    /// The target (sent), the initiator (received), none otherwise.
    pub counterparty: Option<Address>,
    /// The amount (sent, received), the fee earned (mediated), zero (failed).
    pub amount: TokenAmount,
    /// Fees paid (sent).
    pub fee: TokenAmount,
    /// Why it failed (failed).
    pub reason: Option<String>,
    /// Sent, but the partner has not acknowledged the message that completes it yet.
    pub pending: bool,
    /// What the payer told us with the payment (received; empty otherwise).
    pub data: Vec<u8>,
}

/// Which payments to list; every field narrows the result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaymentFilter {
    /// Only this token.
    pub token: Option<Address>,
    /// Only with this counterparty.
    pub counterparty: Option<Address>,
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Logged at or after (unix seconds).
    pub since: Option<u64>,
    /// Logged at or before (unix seconds).
    pub until: Option<u64>,
    /// At most this many, newest first (default 100).
    pub limit: Option<u32>,
    /// Only this payment id.
    pub payment_id: Option<u64>,
    /// Only rows older than this row id (the next page after a row).
    pub before: Option<i64>,
}
