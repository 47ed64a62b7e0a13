//! The service (`photon pfs`): its API, the chain loop that keeps the graph, the presence
//! sweep, and one writer that makes everything the book takes durable, in the order taken.
//!
//! ```text
//!   nodes ──POST /api/v1/updates, /heartbeats──┐
//!   chain ──follower (confirmed events)────────┼─> Book (RwLock) ──in order──> writer ──> SQLite
//!   wallets ──GET /api/v1/paths────────────────┘   (read lock; one search per query)
//! ```

use crate::api::{
    PathView, PathsAnswer, PfsStatus, Refusal, Updates, UpdatesAnswer, MAX_PATHS, MAX_UPDATES,
};
use crate::book::{Book, Taken};
use crate::error::{PfsError, StoreError};
use crate::router::Scratch;
use crate::store::{PfsStore, StoreWrite};
use crate::update::{Heartbeat, UpdateError};
use alloy::providers::DynProvider;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use photon_api::Amount;
use photon_chain::follower::{ChainFollower, FollowerConfig};
use photon_chain::{ChainError, Deployment};
use photon_primitives::eip712::Domain;
use photon_primitives::{Address, TokenAmount};
use photon_state::{ChainEvent, StateChange};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Settings of a pathfinding service.
#[derive(Clone, Debug)]
pub struct PfsSettings {
    /// Where the contracts are.
    pub deployment: Deployment,
    /// Blocks before a chain event is acted on.
    pub confirmations: u64,
    /// How often the chain is polled.
    pub poll_interval: Duration,
    /// Seconds without a heartbeat or update after which a node is routed around.
    pub offline_after: u64,
    /// Requests per second each client address may make (bursts of twice as many).
    pub rate_limit: u32,
}

/// The OpenAPI document of the service's API.
pub const OPENAPI: &str = include_str!("openapi.json");

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A write waiting for the database, and who waits for it.
type Pending = (StoreWrite, oneshot::Sender<Result<(), String>>);

/// Makes writes durable in the order the book took them, as many as are waiting in one
/// transaction (group commit), each answered once durable. The first failure stops the
/// writer, and with it the service: the book is then ahead of the disk, and a restart
/// rebuilds it from what is stored.
fn writer(mut store: PfsStore, mut rx: mpsc::UnboundedReceiver<Pending>) -> Result<(), StoreError> {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (writes, waiting): (Vec<StoreWrite>, Vec<_>) = batch.into_iter().unzip();
        let result = store.write_all(&writes);
        for done in waiting {
            let _ = done.send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
        result?;
    }
    Ok(())
}

/// Whom a rate limit counts: an IPv4 address, or an IPv6 /64 (one subscriber's network).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Per client, a token bucket.
struct Limiter {
    rate: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Limiter {
    /// Whether `ip`'s client may spend `cost` now (and spends it if so).
    fn allow(&self, ip: IpAddr, cost: f64) -> bool {
        let burst = self.rate * 2.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if buckets.len() > 100_000 {
            // forget clients whose bucket has filled up again
            buckets
                .retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * self.rate < burst);
        }
        let (tokens, at) = buckets.entry(client_key(ip)).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(burst);
        *at = now;
        if *tokens >= cost.min(burst) {
            *tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// What the API, the chain loop and the sweep share.
struct Shared {
    book: RwLock<Book>,
    writes: mpsc::UnboundedSender<Pending>,
    limiter: Limiter,
    block: AtomicU64,
    domain: Domain,
}

impl Shared {
    /// Runs `f` on the book (write lock) and queues what it returns for the database while
    /// still holding the lock, so writes reach the disk in the order the book took them.
    async fn take<T: Send + 'static>(
        self: &Arc<Self>, f: impl FnOnce(&mut Book) -> (T, Option<StoreWrite>) + Send + 'static,
    ) -> Result<T, ApiError> {
        let shared = self.clone();
        let (value, done) = tokio::task::spawn_blocking(move || {
            let mut book = shared.book.write().unwrap_or_else(|e| e.into_inner());
            let (value, write) = f(&mut book);
            let done = write.map(|w| {
                let (tx, rx) = oneshot::channel();
                let _ = shared.writes.send((w, tx));
                rx
            });
            (value, done)
        })
        .await
        .map_err(|e| internal(e.to_string()))?;
        if let Some(done) = done {
            done.await
                .map_err(|_| internal("the database writer stopped".into()))?
                .map_err(internal)?;
        }
        Ok(value)
    }
}

/// Errors of the API.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.1, "message": self.2 } });
        (self.0, Json(body)).into_response()
    }
}

fn bad(message: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad_request", message)
}

fn internal(message: String) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, "storage_error", message)
}

fn refusal_code(e: &UpdateError) -> &'static str {
    match e {
        UpdateError::Signature(_) | UpdateError::WrongSigner { .. } => "bad_signature",
        UpdateError::UnknownChannel(_) => "unknown_channel",
        UpdateError::NotParticipant(..) => "not_participant",
        UpdateError::StaleNonce { .. } => "stale_nonce",
        UpdateError::InvalidFee => "invalid_fee",
        UpdateError::NotFresh { .. } => "not_fresh",
        UpdateError::NoChannel(_) => "no_channel",
    }
}

async fn rate_limited(
    State(shared): State<Arc<Shared>>, ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::extract::Request, next: axum::middleware::Next,
) -> Response {
    if !shared.limiter.allow(peer.ip(), 1.0) {
        let message = "too many requests from this address; slow down".to_string();
        return ApiError(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message).into_response();
    }
    next.run(request).await
}

async fn post_updates(
    State(shared): State<Arc<Shared>>, ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<Updates>, JsonRejection>,
) -> Result<Json<UpdatesAnswer>, ApiError> {
    let Json(Updates { updates }) =
        body.map_err(|e| bad(format!("invalid updates: {}", e.body_text())))?;
    if updates.len() > MAX_UPDATES {
        return Err(bad(format!("at most {MAX_UPDATES} updates per request")));
    }
    // each update costs a signature recovery: it counts as a request of its own
    let extra = updates.len().saturating_sub(1) as f64;
    if extra > 0.0 && !shared.limiter.allow(peer.ip(), extra) {
        let message = format!("{} updates are more than this address may send now", updates.len());
        return Err(ApiError(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message));
    }
    // signatures are checked before the lock (the expensive part), the rest under it
    let domain = shared.domain.clone();
    let signers = tokio::task::spawn_blocking(move || {
        let signers: Vec<_> = updates.iter().map(|u| u.signer(&domain)).collect();
        (updates, signers)
    })
    .await
    .map_err(|e| internal(e.to_string()))?;
    let answer = shared
        .take(move |book| {
            let (updates, signers) = signers;
            let (mut answer, mut taken, now) = (UpdatesAnswer::default(), Vec::new(), now());
            for (index, (update, signer)) in updates.into_iter().zip(signers).enumerate() {
                let result = signer.and_then(|s| book.take(s, &update, now).map(|()| s));
                match result {
                    Ok(sender) => taken.push(Taken { sender, update }),
                    Err(e) => answer.refused.push(Refusal {
                        index,
                        code: refusal_code(&e).into(),
                        message: e.to_string(),
                    }),
                }
            }
            answer.accepted = taken.len();
            // their senders were heard of now: kept across a restart too
            let mut senders: Vec<Address> = taken.iter().map(|t| t.sender).collect();
            senders.sort_unstable();
            senders.dedup();
            let seen = senders
                .into_iter()
                .map(|a| (a, book.presence_of(a).map_or(0, |(nonce, _)| nonce), now))
                .collect();
            let write = (!taken.is_empty()).then_some(StoreWrite::Updates(taken, seen));
            (answer, write)
        })
        .await?;
    Ok(Json(answer))
}

async fn post_heartbeat(
    State(shared): State<Arc<Shared>>, body: Result<Json<Heartbeat>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(heartbeat) = body.map_err(|e| bad(format!("invalid heartbeat: {}", e.body_text())))?;
    let result = shared
        .take(move |book| {
            let now = now();
            match book.heartbeat(&heartbeat, now) {
                Ok(()) => {
                    let write =
                        StoreWrite::Presence(vec![(heartbeat.address, heartbeat.nonce, now)]);
                    (Ok(()), Some(write))
                }
                Err(e) => (Err(e), None),
            }
        })
        .await?;
    match result {
        Ok(()) => Ok(Json(serde_json::json!({ "accepted": true }))),
        Err(e @ UpdateError::StaleNonce { .. }) => {
            Err(ApiError(StatusCode::CONFLICT, "stale_nonce", e.to_string()))
        }
        Err(e @ UpdateError::NoChannel(_)) => {
            Err(ApiError(StatusCode::FORBIDDEN, refusal_code(&e), e.to_string()))
        }
        Err(e) => Err(ApiError(StatusCode::BAD_REQUEST, refusal_code(&e), e.to_string())),
    }
}

/// The raw query of `GET /api/v1/paths` (parsed here for clear errors).
#[derive(serde::Deserialize)]
struct RawPathsQuery {
    token: Option<String>,
    from: Option<String>,
    to: Option<String>,
    amount: Option<String>,
    max_paths: Option<String>,
}

fn required<T: std::str::FromStr>(
    value: Option<String>, name: &str, what: &str,
) -> Result<T, ApiError> {
    let value = value.ok_or_else(|| bad(format!("`{name}` is required")))?;
    value.trim().parse().map_err(|_| bad(format!("`{name}`: `{value}` is not {what}")))
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

async fn get_paths(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<RawPathsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<PathsAnswer>, ApiError> {
    let Query(q) = query.map_err(|e| bad(e.body_text()))?;
    let token: Address = required(q.token, "token", "an address")?;
    let from: Address = required(q.from, "from", "an address")?;
    let to: Address = required(q.to, "to", "an address")?;
    let amount: Amount = required(q.amount, "amount", "a token amount (a whole number)")?;
    let k = match q.max_paths {
        None => 3,
        Some(v) => {
            v.trim().parse::<usize>().ok().filter(|k| (1..=MAX_PATHS).contains(k)).ok_or_else(
                || bad(format!("`max_paths`: `{v}` is not a number from 1 to {MAX_PATHS}")),
            )?
        }
    };
    if amount.0 == 0 {
        return Err(bad("`amount` must be positive".into()));
    }
    if from == to {
        return Err(bad("`from` and `to` are the same node".into()));
    }
    let shared2 = shared.clone();
    let paths = tokio::task::spawn_blocking(move || {
        let book = shared2.book.read().unwrap_or_else(|e| e.into_inner());
        SCRATCH.with(|s| book.paths(&mut s.borrow_mut(), token, from, to, TokenAmount(amount.0), k))
    })
    .await
    .map_err(|e| internal(e.to_string()))?;
    if paths.is_empty() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "no_route",
            format!("no path from {from} to {to} can carry {amount} of token {token} now"),
        ));
    }
    Ok(Json(PathsAnswer { paths: paths.iter().map(PathView::from).collect() }))
}

async fn status(State(shared): State<Arc<Shared>>) -> Result<Json<PfsStatus>, ApiError> {
    // (the book's lock may be held by a long search: not on an async thread)
    let status = tokio::task::spawn_blocking(move || {
        let book = shared.book.read().unwrap_or_else(|e| e.into_inner());
        PfsStatus {
            chain_id: shared.domain.chain_id(),
            tokens_network: shared.domain.contract(),
            block: shared.block.load(Ordering::Relaxed),
            channels: book.channel_count(),
            online: book.online_count(now()),
            offline_after_s: book.offline_after(),
        }
    })
    .await
    .map_err(|e| internal(e.to_string()))?;
    Ok(Json(status))
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/updates", post(post_updates))
        .route("/api/v1/heartbeats", post(post_heartbeat))
        .route("/api/v1/paths", get(get_paths))
        .route("/api/v1/status", get(status))
        .route("/api/v1/openapi.json", get(openapi))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), rate_limited))
        .layer(axum::extract::DefaultBodyLimit::max(1024 * 1024))
        .with_state(shared)
}

/// Follows the chain into the book; a block is stored once its events are. A deeper reorg
/// than the confirmations stops the service (as it stops a node).
async fn follow_chain(
    shared: Arc<Shared>, provider: DynProvider, deployment: Deployment, config: FollowerConfig,
    poll_interval: Duration,
) -> Result<(), PfsError> {
    let mut follower = ChainFollower::new(provider.clone(), deployment.clone(), config);
    let mut ticker = tokio::time::interval(poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let changes = match follower.poll().await {
            Ok(changes) => changes,
            Err(e @ ChainError::DeepReorg { .. }) => {
                tracing::error!(error = %e, "the chain reorganised deeper than the confirmations");
                return Err(e.into());
            }
            Err(e) => {
                tracing::warn!(error = %e, "chain poll failed; retrying");
                continue;
            }
        };
        let mut events: Vec<ChainEvent> = Vec::new();
        for change in changes {
            match change {
                StateChange::Chain(event) => events.push(event),
                StateChange::Block(block) => {
                    let events = std::mem::take(&mut events);
                    let stored = shared
                        .take(move |book| {
                            let now = now();
                            let changed: Vec<_> =
                                events.iter().filter_map(|e| book.chain(e, now)).collect();
                            ((), Some(StoreWrite::Block(changed, block)))
                        })
                        .await;
                    if let Err(ApiError(_, _, why)) = stored {
                        // the book is ahead of the disk: stop; a restart rebuilds from disk
                        tracing::error!(block, %why, "could not store a block; stopping");
                        return Err(PfsError::Writer(why));
                    }
                    shared.block.store(block, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    }
}

/// Runs a pathfinding service until `shutdown` resolves (or the chain cannot be followed any
/// more): its database at `db`, its API on `listener`.
pub async fn run_pfs(
    provider: DynProvider, db: &std::path::Path, settings: PfsSettings,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), PfsError> {
    let deployment = settings.deployment.clone();
    let domain = Domain::new(deployment.chain_id, deployment.tokens_network);
    let store = PfsStore::open(db)?;
    let last = store.last_block()?;
    let mut book = Book::new(domain.clone(), settings.offline_after);
    store.load(&mut book, now())?;
    let from_block = last.map_or(deployment.deployed_at_block, |b| b + 1);
    let config = FollowerConfig {
        confirmations: settings.confirmations,
        from_block,
        max_range: 2_000,
        owner: None,
    };
    ChainFollower::new(provider.clone(), deployment.clone(), config).check_chain().await?;
    let (writes, rx) = mpsc::unbounded_channel();
    let mut writer = tokio::task::spawn_blocking(move || writer(store, rx));
    let shared = Arc::new(Shared {
        book: RwLock::new(book),
        writes,
        limiter: Limiter { rate: f64::from(settings.rate_limit.max(1)), buckets: Mutex::default() },
        block: AtomicU64::new(from_block.saturating_sub(1)),
        domain,
    });
    let sweeper = shared.clone();
    let sweep = tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticker.tick().await;
            // (the write lock waits for searches: not on an async thread)
            let book = sweeper.clone();
            let _ = tokio::task::spawn_blocking(move || {
                book.book.write().unwrap_or_else(|e| e.into_inner()).sweep(now());
            })
            .await;
        }
    });
    let mut chain = tokio::spawn(follow_chain(
        shared.clone(),
        provider,
        deployment,
        config,
        settings.poll_interval,
    ));
    let app = router(shared).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    let result = tokio::select! {
        served = server => served.map_err(PfsError::Serve),
        followed = &mut chain => match followed {
            Ok(Err(e)) => Err(e),
            _ => Err(PfsError::Stopped),
        },
        written = &mut writer => match written {
            Ok(Err(e)) => Err(e.into()),
            _ => Err(PfsError::Stopped),
        },
    };
    chain.abort();
    sweep.abort();
    result
}
