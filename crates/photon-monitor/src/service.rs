//! The monitoring service: its API (`PUT /api/v1/delegations`, `GET /api/v1/delegations/{participant}`,
//! `GET /api/v1/status`) and [`run_monitor`], which starts the API, the chain loop and the
//! transaction sender over one database.

use crate::delegation::Delegation;
use crate::error::{MonitorError, StoreError};
use crate::jobs::{send_all, watch_chain, Follow};
use crate::store::{DelegationStore, Watch};
use alloy::providers::DynProvider;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use photon_chain::follower::{ChainFollower, FollowerConfig};
use photon_chain::txmanager::TxManager;
use photon_chain::Deployment;
use photon_primitives::eip712::Domain;
use photon_primitives::{Address, LocalSigner, Signer};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Settings of a monitoring service.
#[derive(Clone, Debug)]
pub struct MonitorSettings {
    /// Where the contracts are.
    pub deployment: Deployment,
    /// Blocks before a chain event is acted on.
    pub confirmations: u64,
    /// How often the chain is polled.
    pub poll_interval: Duration,
    /// The only participants whose delegations are taken (empty: anyone with a channel).
    pub clients: Vec<Address>,
}

type Network = photon_chain::bindings::TokensNetwork::TokensNetworkInstance<DynProvider>;

/// What the API and the chain loop share.
pub(crate) struct Shared {
    store: Mutex<DelegationStore>,
    pub(crate) domain: Domain,
    address: Address,
    clients: Vec<Address>,
    pub(crate) network: Network,
    pub(crate) block: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Runs `f` on the database off the async threads (SQLite writes wait for the disk).
    pub(crate) async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut DelegationStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            f(&mut shared.store.lock().unwrap_or_else(|e| e.into_inner()))
        })
        .await?
    }
}

/// Errors of the service's API.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.1, "message": self.2 } });
        (self.0, Json(body)).into_response()
    }
}

fn store_error(e: StoreError) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "storage_error", e.to_string())
}

fn bad(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// The watch of a closed channel, from the contract's view of it.
pub(crate) fn watch_of(
    d: &Delegation, info: &photon_chain::bindings::TokensNetwork::getChannelInfoReturn,
) -> Watch {
    Watch {
        token: d.token,
        participants: (d.participant, d.partner),
        closer: info.closer,
        settle_block: info.settleBlock,
        update_done: false,
        unlocked: Vec::new(),
        settle_done: false,
        generation: 0,
    }
}

async fn put_delegation(
    State(shared): State<Arc<Shared>>, body: Result<Json<Delegation>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(d) = body.map_err(|e| bad(format!("invalid delegation: {}", e.body_text())))?;
    d.check(&shared.domain).map_err(|e| bad(e.to_string()))?;
    if !shared.clients.is_empty() && !shared.clients.contains(&d.participant) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "not_a_client",
            format!("{} is not a client of this service", d.participant),
        ));
    }
    // only channels that exist, in the delegation's epoch: nobody fills the database with
    // proofs of channels that were never opened
    let info = shared
        .network
        .getChannelInfo(d.token, d.participant, d.partner)
        .call()
        .await
        .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, "chain_error", e.to_string()))?;
    if info.state == 0 || info.epoch != d.epoch {
        return Err(bad(format!(
            "no open or closed channel in epoch {} between {} and {}",
            d.epoch, d.participant, d.partner
        )));
    }
    let channel = d.channel_id(&shared.domain);
    let (participant, closed) = (d.participant, info.state == 2);
    let fresh = closed.then(|| watch_of(&d, &info));
    let stored = d.clone();
    let kept = shared
        .with_store(move |store| {
            store.put_then_watch(channel, &stored, |kept: Option<Watch>| {
                // closed already: act (again) for this newer delegation; jobs built from the
                // older one no longer count
                let mut watch = kept.or(fresh)?;
                watch.update_done = false;
                watch.unlocked.retain(|p| *p != participant);
                watch.generation += 1;
                Some(watch)
            })
        })
        .await
        .map_err(store_error)?;
    if !kept {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "stale",
            format!("this delegation or a newer one is kept already (nonce {})", d.nonce),
        ));
    }
    Ok(Json(serde_json::json!({ "channel_id": channel, "epoch": d.epoch, "nonce": d.nonce })))
}

async fn delegations_of(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(participant): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let participant: Address =
        participant.parse().map_err(|_| bad(format!("`{participant}` is not an address")))?;
    let kept =
        shared.with_store(move |s| s.of_participant(participant)).await.map_err(store_error)?;
    let list: Vec<_> = kept
        .into_iter()
        .map(|(channel_id, epoch, nonce)| {
            serde_json::json!({ "channel_id": channel_id, "epoch": epoch, "nonce": nonce })
        })
        .collect();
    Ok(Json(serde_json::Value::Array(list)))
}

async fn monitor_status(
    State(shared): State<Arc<Shared>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (delegations, watched) =
        shared.with_store(|s| Ok((s.count()?, s.watch_count()?))).await.map_err(store_error)?;
    Ok(Json(serde_json::json!({
        "address": shared.address,
        "block": shared.block.load(std::sync::atomic::Ordering::Relaxed),
        "delegations": delegations,
        "watched": watched,
    })))
}

/// The service's API: `PUT /api/v1/delegations`, `GET /api/v1/delegations/{participant}`,
/// `GET /api/v1/status`. Bodies are at most 256 KiB (a delegation of 256 locks is ~40 KiB).
fn monitor_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/delegations", put(put_delegation))
        .route("/api/v1/delegations/{participant}", get(delegations_of))
        .route("/api/v1/status", get(monitor_status))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .with_state(shared)
}

/// Runs a monitoring service until `shutdown` resolves (or the chain cannot be followed any
/// more: a reorg deeper than the confirmations): its database at `db`, its API on `listener`,
/// its transactions paid by `key` through `provider`.
pub async fn run_monitor(
    key: LocalSigner, provider: DynProvider, db: &std::path::Path, settings: MonitorSettings,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), MonitorError> {
    let deployment = settings.deployment.clone();
    let domain = Domain::new(deployment.chain_id, deployment.tokens_network);
    let store = DelegationStore::open(db)?;
    let from_block = store.last_block()?.map_or(deployment.deployed_at_block, |b| b + 1);
    let follower_config = FollowerConfig {
        confirmations: settings.confirmations,
        from_block,
        max_range: 2_000,
        owner: None,
    };
    let mut follower = ChainFollower::new(provider.clone(), deployment.clone(), follower_config);
    follower.check_chain().await?;
    let txs = TxManager::new(provider.clone(), key.address(), deployment.clone()).await?;
    let network =
        photon_chain::bindings::TokensNetwork::new(deployment.tokens_network, provider.clone());
    let registry =
        photon_chain::bindings::SecretRegistry::new(deployment.secret_registry, provider.clone());
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        domain,
        address: key.address(),
        clients: settings.clients.clone(),
        network,
        block: std::sync::atomic::AtomicU64::new(from_block.saturating_sub(1)),
    });
    let (tasks, task_rx) = mpsc::unbounded_channel();
    let (done, done_rx) = mpsc::unbounded_channel();
    tokio::spawn(send_all(txs, registry, task_rx, done));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut chain = tokio::spawn(watch_chain(
        Follow { follower, provider, deployment, config: follower_config },
        shared.clone(),
        settings,
        tasks,
        done_rx,
        stop,
    ));
    let server = axum::serve(listener, monitor_router(shared)).with_graceful_shutdown(shutdown);
    tokio::select! {
        served = server => {
            let _ = stop_tx.send(true);
            let _ = chain.await;
            served.map_err(MonitorError::Serve)
        }
        followed = &mut chain => match followed {
            Ok(Err(e)) => Err(e.into()),
            _ => Err(MonitorError::Stopped),
        },
    }
}
