//! Test infrastructure for Photon, kept out of the production crates: no crate a user runs
//! depends on this one (the tests, the benchmarks and the demo do).
//!
//! ```text
//!   devchain::DevChain   an anvil from the clone's pinned npm package, on 127.0.0.1
//!        │
//!   devnet::DevNet       + the contracts deployed, a test token, funded accounts and signers
//!        │
//!   nodes::NodeProcess   `photon run` processes against it (each with its database and API)
//!        │                 started by nodes::start_node*, driven through their REST API
//!   World                a dev network and its node processes in one value, with helpers
//!                        that read like the protocol (open, pay, await balances, restart)
//!   demo::run            the whitepaper's Alice/Bob/Charlie story on top (`make demo`)
//!
//!   poll::eventually     the one polling loop: wait for a condition, with a deadline
//!
//!   netns::Lan           two Linux network namespaces joined by a veth pair, for what
//!                        crosses a real network (mDNS, nodes without internet)
//! ```

pub mod demo;
pub mod devchain;
pub mod devnet;
pub mod litecoind;
pub mod netns;
pub mod nodes;
pub mod poll;
mod world;

pub use world::{World, WorldSpec};
