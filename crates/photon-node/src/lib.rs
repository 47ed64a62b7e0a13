//! The Photon node: the protocol core, storage and the chain, wired into one runtime, with a
//! REST API and the `photon` command.
//!
//! ```text
//!   peer message (transport) ─┐
//!   API request (api, photon_api types) ─┼─> runtime: StateChange ─> photon_state::transition
//!   chain event (chain task) ─┘                    │ events
//!                     photon-storage (durable first) ─> send / transact / answer / publish
//! ```
//!
//! * [`runtime`]: the task that owns the state ([`runtime::Node`]) and its handle; one module
//!   per job (start-up and loop, batch work, payments, chain task, transaction task).
//! * [`api`]: the REST API (axum) over a [`runtime::NodeHandle`]; [`openapi`]: its OpenAPI
//!   document, generated from the handlers.
//! * [`calls`]: the node's typed calls in the API's types, which the REST API serves.
//! * [`transport`]: how messages reach peers ([`transport::LocalNetwork`] in one process).
//! * [`routing`]: routes from the pathfinding service and the node's own graph.
//! * [`keystore`]: geth-compatible key files.
//! * [`launch`]: a whole node (transport, task, API) in one call, for `photon run` and apps.
//! * [`webhook`]: payments received, POSTed to the operator's URL; [`logfile`]: a log file
//!   rotated by size.
//!
//! The monitoring service and the node's client of it are `photon-monitor`'s; the API's types
//! and typed client are `photon-api`'s; the `photon` binary's commands are in `src/cli/`.

pub mod api;
pub mod calls;
pub mod crosschain;
mod error;
pub mod keystore;
pub mod launch;
pub mod logfile;
pub mod metrics;
pub mod openapi;
pub mod routing;
pub mod runtime;
pub mod tokens;
pub mod transport;
pub mod ui;
pub mod webhook;

pub use error::NodeError;
pub use runtime::{Node, NodeHandle, NodeSettings};

use alloy::network::EthereumWallet;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

/// A provider for reading the chain only (the pathfinding service sends no transactions).
pub fn read_provider(url: reqwest::Url) -> Result<DynProvider, NodeError> {
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| NodeError::BadRequest(format!("HTTP client: {e}")))?;
    Ok(ProviderBuilder::new().disable_recommended_fillers().connect_reqwest(http, url).erased())
}

/// A provider for `url` that signs with `key`. Nonces are set by the node's transaction
/// manager; gas and fees are estimated. Requests give up after 10 s connecting or 60 s in all.
pub fn provider(
    url: reqwest::Url, key: &photon_primitives::LocalSigner, chain_id: u64,
) -> Result<DynProvider, NodeError> {
    let signer = PrivateKeySigner::from_bytes(&key.to_bytes().into())
        .map_err(|e| NodeError::BadRequest(format!("key: {e}")))?;
    // an endpoint that stops answering must not hold a request (and what waits on it) forever
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .map_err(|e| NodeError::BadRequest(format!("HTTP client: {e}")))?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_chain_id(chain_id)
        .wallet(EthereumWallet::from(signer))
        .connect_reqwest(http, url)
        .erased())
}
