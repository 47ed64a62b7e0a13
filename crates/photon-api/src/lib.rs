//! The Photon node's REST API as Rust types, and a typed client of it.
//!
//! ```text
//!   photon-node (server): handlers parse requests into these types and answer with them
//!   Client (this crate):  the same types over HTTP, for the `photon` CLI, tests, wallets
//! ```
//!
//! Every token amount on the API is an [`Amount`]: a decimal string (JSON numbers lose
//! precision beyond 2^53; numbers are accepted on input). Errors are
//! `{"error": {"code": "...", "message": "..."}}` ([`ErrorBody`]) with a 4xx or 5xx status.
//! The API's own storage, protocol and chain types stay in their crates: these are what the
//! API promises, and change only with it.

mod amount;
mod client;
mod data;
pub mod schema;
mod types;
pub mod units;

pub use amount::Amount;
pub use client::{Client, ClientError};
pub use data::{PaymentData, PAYMENT_DATA_PATTERN};
pub use types::*;
