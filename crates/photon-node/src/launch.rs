//! A whole node in one call: the peer-to-peer transport, the node's task and, when asked,
//! the REST API. `photon run` starts its node so, and so does an app that embeds the node
//! (`photon-mobile`).

use crate::runtime::{Node, NodeHandle, NodeSettings};
use crate::transport::{forward_incoming, P2pNetwork};
use crate::NodeError;
use photon_primitives::LocalSigner;
use photon_transport::{P2pConfig, P2pTransport, TransportError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Where a node listens unless told: every interface, TCP and QUIC, on one stable port.
pub const DEFAULT_P2P_LISTEN: [&str; 2] =
    ["/ip4/0.0.0.0/tcp/40001", "/ip4/0.0.0.0/udp/40001/quic-v1"];

/// The default listen addresses as multiaddrs.
pub fn default_p2p_listen() -> Vec<photon_transport::Multiaddr> {
    DEFAULT_P2P_LISTEN.iter().filter_map(|a| a.parse().ok()).collect()
}

/// A node's own directory under a data root: one per account and chain, so that two
/// accounts, or one account on two chains, never share a database.
pub fn node_dir(
    root: &std::path::Path, address: photon_primitives::Address, chain_id: u64,
) -> PathBuf {
    root.join(format!("{}-{chain_id}", format!("{address:x}").trim_start_matches("0x")))
}

/// What a node needs to start.
#[derive(Debug)]
pub struct LaunchConfig {
    /// The account's key.
    pub key: LocalSigner,
    /// The chain's JSON-RPC endpoint.
    pub rpc_url: reqwest::Url,
    /// The node's own data directory (one per account and chain).
    pub data_dir: PathBuf,
    /// The node's settings (`p2p_addresses` is filled in from the transport).
    pub settings: NodeSettings,
    /// The peer-to-peer transport's.
    pub p2p: P2pConfig,
    /// Serve the REST API on this address, with this bearer token if any.
    pub api: Option<(SocketAddr, Option<String>)>,
    /// Serve the web dashboard at `/ui/` on the API's address ([`crate::ui`]).
    pub ui: bool,
    /// Serve `/metrics` and `/health` on this address ([`crate::metrics`]).
    pub metrics: Option<SocketAddr>,
    /// POST every payment received to this URL ([`crate::webhook`]).
    pub webhook: Option<reqwest::Url>,
}

/// Why a node did not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The peer-to-peer transport did not start (a listen address taken or malformed).
    #[error("starting the peer-to-peer transport: {0}")]
    Transport(#[from] TransportError),
    /// The node did not start (its database, its key, its chain).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The REST API's (or the metrics') address could not be bound.
    #[error("listening on {address}: {source}")]
    Api {
        /// the address
        address: SocketAddr,
        /// why
        source: std::io::Error,
    },
}

/// A started node.
#[derive(Debug)]
pub struct RunningNode {
    /// How to ask it things.
    pub handle: NodeHandle,
    /// Its transport (for the life cycle: offline, online, network changes).
    pub transport: P2pTransport,
    /// Where its REST API listens, when it has one.
    pub api_addr: Option<SocketAddr>,
    /// Where its metrics and health check listen, when asked for.
    pub metrics_addr: Option<SocketAddr>,
    task: Option<JoinHandle<Result<(), NodeError>>>,
    api: Option<JoinHandle<std::io::Result<()>>>,
    metrics: Option<JoinHandle<std::io::Result<()>>>,
}

/// How long a stopping node's REST API may take to finish the requests under way.
const API_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

impl RunningNode {
    /// Waits until the node's task ends (after [`NodeHandle::shutdown`], or a storage failure
    /// that stops it to lose nothing), then for the API to finish its requests.
    pub async fn finished(&mut self) -> Result<(), NodeError> {
        let ended = match self.task.as_mut() {
            Some(task) => task.await,
            None => Ok(Ok(())), // reported by an earlier call
        };
        self.task = None;
        self.handle.shutdown();
        let served = match self.api.as_mut() {
            Some(api) => match tokio::time::timeout(API_GRACE, &mut *api).await {
                Ok(served) => {
                    served.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()))
                }
                Err(_) => {
                    api.abort(); // requests still open after the grace period are cut
                    Ok(())
                }
            },
            None => Ok(()),
        };
        self.api = None;
        if let Some(mut metrics) = self.metrics.take() {
            if tokio::time::timeout(API_GRACE, &mut metrics).await.is_err() {
                metrics.abort(); // a scrape still open after the grace period is cut
            }
        }
        ended.map_err(|e| NodeError::Internal(format!("the node's task failed: {e}")))??;
        served.map_err(|e| NodeError::Internal(format!("the REST API failed: {e}")))
    }

    /// Stops the node (after its current batch, everything durable) and waits for it.
    pub async fn stop(mut self) -> Result<(), NodeError> {
        self.handle.shutdown();
        self.transport.offline();
        self.finished().await
    }
}

/// Starts a node: its transport, its task (state restored from `data_dir`), and its API if
/// asked for. Returns once the node takes requests.
pub async fn launch(config: LaunchConfig) -> Result<RunningNode, LaunchError> {
    let LaunchConfig { key, rpc_url, data_dir, settings, p2p, api, ui, metrics, webhook } = config;
    let (incoming_tx, incoming) = tokio::sync::mpsc::channel(4096);
    let (delivered_tx, delivered) = tokio::sync::mpsc::unbounded_channel();
    let transport =
        photon_transport::start(&key.to_bytes(), p2p, incoming_tx, Some(delivered_tx)).await?;
    let addresses: Vec<String> =
        transport.listen_addrs().await.iter().map(ToString::to_string).collect();
    tracing::info!(addresses = ?addresses, "peer-to-peer transport listening");
    let settings = NodeSettings { p2p_addresses: addresses, ..settings };
    let provider = match crate::provider(rpc_url, &key, settings.deployment.chain_id) {
        Ok(provider) => provider,
        Err(e) => {
            transport.offline();
            return Err(e.into());
        }
    };
    let network = Arc::new(P2pNetwork(transport.clone()));
    let started = Node::start(key, provider, &data_dir, settings, network).await;
    let (node, handle) = match started {
        Ok(started) => started,
        Err(e) => {
            transport.offline(); // free its ports for the next try
            return Err(e.into());
        }
    };
    forward_incoming(incoming, delivered, handle.inbox());
    let api = api.map(|(address, token)| (address, crate::api::app(handle.clone(), token, ui)));
    let metrics = metrics.map(|address| (address, crate::metrics::router(handle.clone())));
    let (api, api_addr) = match serve(api, &handle).await {
        Ok(served) => served,
        Err(e) => {
            transport.offline();
            return Err(e);
        }
    };
    let (metrics, metrics_addr) = match serve(metrics, &handle).await {
        Ok(served) => served,
        Err(e) => {
            transport.offline();
            return Err(e);
        }
    };
    if let Some(url) = webhook {
        crate::webhook::spawn(&handle, url);
    }
    let task = Some(tokio::spawn(node.run()));
    Ok(RunningNode { handle, transport, api_addr, metrics_addr, task, api, metrics })
}

/// A server task and where it listens, if one was asked for.
type Served = (Option<JoinHandle<std::io::Result<()>>>, Option<SocketAddr>);

/// Serves `app` on its address until the node stops.
async fn serve(
    server: Option<(SocketAddr, axum::Router)>, handle: &NodeHandle,
) -> Result<Served, LaunchError> {
    let Some((address, app)) = server else { return Ok((None, None)) };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| LaunchError::Api { address, source })?;
    let bound = listener.local_addr().unwrap_or(address);
    let stopping = handle.clone();
    let serve =
        axum::serve(listener, app).with_graceful_shutdown(async move { stopping.stopping().await });
    Ok((Some(tokio::spawn(async move { serve.await })), Some(bound)))
}
