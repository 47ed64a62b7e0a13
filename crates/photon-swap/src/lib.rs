//! Atomic swaps between Photon and other chains (see docs/swaps.md). This crate holds the
//! other chain's side: for Litecoin (and the Bitcoin family, which shares its script and
//! transaction formats), the hash time-locked contract [`htlc::Htlc`] — a P2WSH output the
//! receiver spends with the secret whose sha256 locks the Photon payment, or the sender takes
//! back after a block height — and the transactions that claim it or refund it.
//!
//! [`watch`] reads a contract's funding (with its depth, through reorganisations) and its
//! spend (the secret a claim shows) from a node's best chain over [`rpc`].
//!
//! [`flow`] runs each party's side of a swap between coins and Photon tokens, both
//! directions, with the party's Photon node driven through its API.

pub mod flow;
pub mod htlc;
pub mod rpc;
pub mod tokens;
pub mod watch;

/// The Bitcoin library the contract is built with (keys, amounts, scripts).
pub use bitcoin;
pub use htlc::{Htlc, HtlcError, Spend};
