//! The protocol core of the Photon Network: pure, deterministic, no I/O.
//!
//! ```text
//!   (state, state change) ──> (new state, events)
//! ```
//! Time arrives only as block numbers, signatures and secrets only as inputs. This crate
//! starts with the arithmetic every layer must agree on: what each participant of a channel
//! owns, and what the contract pays out ([`balance`]).

pub mod balance;

pub use balance::{BalanceError, ChannelBalances, Side};
