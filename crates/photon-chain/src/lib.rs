//! The on-chain layer of the Photon Network.
//!
//! ```text
//!   contracts/artifacts/*.json ──sol!──> bindings (TokensNetwork, SecretRegistry, test tokens)
//!                                            │
//!   deploy::deploy(provider, params) ────────┴──> Deployment (written to a JSON file)
//!   devchain::DevChain: an anvil dev chain from the clone's pinned npm package
//!   devnet::DevNet: dev chain + deployment + funded accounts, for tests, benches and the demo
//!   follower::ChainFollower: confirmed blocks and contract events → state changes
//! ```
//!
//! The bindings are generated at compile time from the committed artifacts, which a test keeps
//! equal to a fresh compile of `contracts/src`.

pub mod bindings;
pub mod deploy;
pub mod devchain;
pub mod devnet;
mod error;
pub mod follower;
pub mod txmanager;

pub use deploy::{deploy, DeployParams, Deployment};
pub use error::{ChainError, Result};
pub use txmanager::DepositVia;
