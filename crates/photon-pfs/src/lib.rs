//! Photon Network's pathfinding service (PFS): client and service together.
//!
//! ```text
//!   node ──POST /api/v1/updates (signed capacity + fee per channel, on change)──> PFS
//!        ──POST /api/v1/heartbeats (signed, a few per offline window)──────────> PFS
//!   chain ──ChannelOpened / Deposit / Withdraw / Closed (confirmed)────────────> PFS
//!   node, wallet ──GET /api/v1/paths?token&from&to&amount&max_paths──> k cheapest paths
//! ```
//!
//! - [`router`]: the channel graph of a token and the route search (k cheapest loop-free
//!   paths that carry an amount with the fees deducted along the way), shared by the
//!   service, the node's local routing and `photon-bench route`;
//! - [`update`]: the signed updates and heartbeats, and their checks;
//! - [`Book`]: what the service knows (graphs, latest updates, presence), [`PfsStore`] its
//!   database;
//! - [`run_pfs`]: the service (`photon pfs`); [`PfsClient`] and [`Publisher`]: the node's
//!   side; [`api`]: the REST types both use.

pub mod api;
mod book;
mod client;
mod error;
pub mod router;
mod service;
mod store;
pub mod update;

pub use book::{Book, ChannelInfo, Taken, FRESHNESS};
pub use client::{hop_policy, Announce, PfsClient, Publisher};
pub use error::{PfsError, StoreError};
pub use router::{Direction, Hop, Route, Scratch, TokenGraph};
pub use service::{run_pfs, PfsSettings, OPENAPI};
pub use store::{PfsStore, StoreWrite};
pub use update::{ChannelUpdate, Heartbeat, NonceClock, UpdateError};
