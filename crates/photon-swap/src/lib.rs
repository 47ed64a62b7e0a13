//! Atomic swaps between Photon and other chains (see docs/swaps.md). This crate holds the
//! other chain's side: for Litecoin (and the Bitcoin family, which shares its script and
//! transaction formats), the hash time-locked contract [`htlc::Htlc`] — a P2WSH output the
//! receiver spends with the secret whose sha256 locks the Photon payment, or the sender takes
//! back after a block height — and the transactions that claim it or refund it.
//!
//! [`watch`] reads a contract's funding (with its depth, through reorganisations) and its
//! spend (the secret a claim shows) from a node's best chain over [`rpc`].
//!
//! Status: the contract, its transactions and the watcher are built and tested against a
//! Litecoin regtest node; the swap flows that use them are not yet.

pub mod htlc;
pub mod rpc;
pub mod watch;

pub use htlc::{Htlc, HtlcError, Spend};
