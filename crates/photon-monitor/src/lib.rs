//! The delegate (monitoring) service, client and service together: it guards the channels
//! of nodes that are offline.
//!
//! ```text
//!   node ──PUT /api/v1/delegations──> monitor        (the partner's latest balance proof,
//!   (after each new proof from its partner)             the node's consents to submit it and
//!                                                       to unlock the partner's locks)
//!   chain ──ChannelClosed──> monitor ──updateBalanceProofDelegate──> chain   (at once)
//!                                    ──unlockDelegate──> chain   (late in the settle window)
//!                                    ──settleChannel──> chain    (after the windows)
//! ```
//!
//! A delegation proves itself: the balance proof is signed by the partner, the consents by
//! the participant, all bound to the chain, the contract, the channel and its epoch; the
//! contract checks them again. The service keeps the newest delegation of each participant of
//! each channel (by epoch, nonce and skip mask), so a client cannot be hurt by an older one.
//! Transactions the contract would refuse (a proof no newer than the stored one, a settled
//! channel) are found out by gas estimation and cost nothing; an unlock is only sent when a
//! lock is claimable. The service pays its own gas.

//!
//! * [`delegation`]: what a node hands the service ([`Delegation`]) and how it is checked;
//! * [`MonitorClient`]: the node's side, one field of the node's runtime;
//! * [`run_monitor`]: the service (`photon monitor`): API, chain loop, job scheduler and
//!   transaction sender over its own [`DelegationStore`].

mod client;
pub mod delegation;
mod error;
mod jobs;
mod service;
mod store;

pub use client::MonitorClient;
pub use delegation::{DelegatedLock, Delegation, DelegationError};
pub use error::{MonitorError, StoreError};
pub use service::{run_monitor, MonitorSettings};
pub use store::DelegationStore;
