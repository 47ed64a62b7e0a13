//! The on-chain layer of the Photon Network.
//!
//! ```text
//!   contracts/artifacts/*.json ──sol!──> bindings (TokensNetwork, SecretRegistry, test tokens)
//!                                            │
//!   deploy::deploy(provider, params) ────────┴──> Deployment (written to a JSON file)
//!   follower::ChainFollower: confirmed blocks and contract events → state changes
//! ```
//!
//! The bindings are generated at compile time from the committed artifacts, which a test keeps
//! equal to a fresh compile of `contracts/src`.

pub mod bindings;
pub mod deploy;
mod error;
pub mod follower;
pub mod metadata;
pub mod txmanager;

pub use deploy::{deploy, DeployParams, Deployment};
pub use error::{ChainError, Result};
pub use txmanager::DepositVia;
