//! The delegate (monitoring) service: it guards the channels of nodes that are offline.
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

use crate::NodeError;
use alloy::primitives::{Bytes, B256, U256};
use alloy::providers::DynProvider;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use photon_chain::follower::{ChainFollower, FollowerConfig};
use photon_chain::txmanager::{ChainCall, TxManager};
use photon_chain::{ChainError, Deployment};
use photon_primitives::eip712::{BalanceProof, Domain};
use photon_primitives::lock::locksroot;
use photon_primitives::messages::BalanceProofFields;
use photon_primitives::signer::recover;
use photon_primitives::{channel_id, Address, ChannelId, LocalSigner, Lock, Signature, Signer};
use photon_state::changes::{ChainEvent, StateChange};
use photon_state::state::{ChannelState, SignedProof};
use photon_storage::DelegationStore;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Token amounts as decimal strings, as in the rest of the API.
mod decimal {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|_| D::Error::custom(format!("`{text}` is not a token amount")))
    }
}

/// A lock of the partner's, as delegated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegatedLock {
    /// Tokens locked.
    #[serde(with = "decimal")]
    pub amount: u128,
    /// Last block at which a registration of the secret makes it pay.
    pub expiration: u64,
    /// `sha256(secret)`.
    pub secrethash: B256,
}

impl From<&Lock> for DelegatedLock {
    fn from(l: &Lock) -> Self {
        Self { amount: l.amount, expiration: l.expiration, secrethash: l.secrethash.0 }
    }
}

impl From<&DelegatedLock> for Lock {
    fn from(l: &DelegatedLock) -> Self {
        Self {
            amount: l.amount,
            expiration: l.expiration,
            secrethash: photon_primitives::SecretHash(l.secrethash),
        }
    }
}

/// What a node gives its monitoring service for one channel: the partner's latest balance
/// proof and the participant's consents to submit it and to unlock the partner's locks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    /// The channel's token.
    pub token: Address,
    /// The client: who is guarded, and signed the consents.
    pub participant: Address,
    /// The client's partner, who signed the balance proof.
    pub partner: Address,
    /// The channel's epoch.
    pub epoch: u64,
    /// The proof's nonce.
    pub nonce: u64,
    /// What the partner has paid in this epoch.
    #[serde(with = "decimal")]
    pub transferred_amount: u128,
    /// Sum of the partner's pending locks.
    #[serde(with = "decimal")]
    pub locked_amount: u128,
    /// Root of the partner's pending locks.
    pub locksroot: B256,
    /// The proof's additional hash.
    pub additional_hash: B256,
    /// The partner's signature of the balance proof.
    pub partner_signature: Bytes,
    /// The participant's `DelegateUpdate` signature.
    pub update_consent: Bytes,
    /// The partner's pending locks (their locksroot is `locksroot`).
    #[serde(default)]
    pub locks: Vec<DelegatedLock>,
    /// Locks not to claim (the participant disposed of them).
    #[serde(default)]
    pub skip: U256,
    /// The participant's `DelegateUnlock` signature, when there are locks.
    #[serde(default)]
    pub unlock_consent: Option<Bytes>,
}

/// Why a delegation is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DelegationError {
    /// A signature is not 65 bytes or does not recover.
    #[error("the {0} is not a valid signature")]
    BadSignature(&'static str),
    /// A signature is someone else's.
    #[error("the {what} is signed by {found}, not by {expected}")]
    WrongSigner {
        /// which signature
        what: &'static str,
        /// who should have signed
        expected: Address,
        /// who did
        found: Address,
    },
    /// The locks do not hash to the proof's locksroot, or are too many.
    #[error("the locks do not match the balance proof's locksroot (or are more than 256)")]
    Locks,
    /// Locks without the consent to unlock them.
    #[error("locks are delegated without an unlock consent")]
    MissingUnlockConsent,
    /// Participant and partner are the same, or the nonce is zero.
    #[error("not a channel's balance proof")]
    NotAProof,
}

fn signature(bytes: &Bytes, what: &'static str) -> Result<Signature, DelegationError> {
    let raw: [u8; 65] =
        bytes.as_ref().try_into().map_err(|_| DelegationError::BadSignature(what))?;
    Ok(Signature(raw))
}

fn check_signer(
    digest: &B256,
    bytes: &Bytes,
    what: &'static str,
    expected: Address,
) -> Result<(), DelegationError> {
    let found = recover(digest, &signature(bytes, what)?)
        .map_err(|_| DelegationError::BadSignature(what))?;
    if found == expected {
        Ok(())
    } else {
        Err(DelegationError::WrongSigner { what, expected, found })
    }
}

impl Delegation {
    /// The delegation of our channel `channel` for a monitoring service: the partner's latest
    /// proof and our consents. `None` while the partner has sent no proof.
    pub fn of_channel(
        domain: &Domain,
        channel: &ChannelState,
        signer: &dyn Signer,
    ) -> Option<Result<Self, photon_primitives::signer::SignatureError>> {
        let proof = channel.theirs.proof.as_ref()?;
        let f = &proof.fields;
        let typed = f.typed(proof.additional_hash);
        let skip = channel.unlock_skip();
        let locks = &channel.theirs.locks;
        let sign = || -> Result<Self, photon_primitives::signer::SignatureError> {
            let update_consent = signer.sign_digest(&domain.delegate_update_for(&typed))?;
            let unlock_consent = if locks.is_empty() {
                None
            } else {
                let digest = domain.delegate_unlock(f.channel_id, f.epoch, f.locksroot, skip);
                Some(Bytes::from(signer.sign_digest(&digest)?.0.to_vec()))
            };
            Ok(Self {
                token: channel.token,
                participant: signer.address(),
                partner: channel.partner,
                epoch: f.epoch,
                nonce: f.nonce,
                transferred_amount: f.transferred_amount,
                locked_amount: f.locked_amount,
                locksroot: f.locksroot,
                additional_hash: proof.additional_hash,
                partner_signature: Bytes::from(proof.signature.0.to_vec()),
                update_consent: Bytes::from(update_consent.0.to_vec()),
                locks: locks.iter().map(DelegatedLock::from).collect(),
                skip,
                unlock_consent,
            })
        };
        Some(sign())
    }

    /// The channel it is about, in the deployment `domain` names.
    pub fn channel_id(&self, domain: &Domain) -> ChannelId {
        channel_id(self.participant, self.partner, self.token, domain.contract())
    }

    fn fields(&self, domain: &Domain) -> BalanceProofFields {
        BalanceProofFields {
            channel_id: self.channel_id(domain),
            epoch: self.epoch,
            nonce: self.nonce,
            transferred_amount: self.transferred_amount,
            locked_amount: self.locked_amount,
            locksroot: self.locksroot,
        }
    }

    fn typed(&self, domain: &Domain) -> BalanceProof {
        self.fields(domain).typed(self.additional_hash)
    }

    /// The partner's locks.
    pub fn locks(&self) -> Vec<Lock> {
        self.locks.iter().map(Lock::from).collect()
    }

    /// Checks every signature and the locks against the deployment `domain`.
    pub fn check(&self, domain: &Domain) -> Result<(), DelegationError> {
        if self.participant == self.partner || self.nonce == 0 {
            return Err(DelegationError::NotAProof);
        }
        let typed = self.typed(domain);
        check_signer(
            &domain.balance_proof(&typed),
            &self.partner_signature,
            "partner's balance proof signature",
            self.partner,
        )?;
        check_signer(
            &domain.delegate_update_for(&typed),
            &self.update_consent,
            "update consent",
            self.participant,
        )?;
        if self.locks.len() > 256 || locksroot(&self.locks()) != self.locksroot {
            return Err(DelegationError::Locks);
        }
        if !self.locks.is_empty() {
            let consent =
                self.unlock_consent.as_ref().ok_or(DelegationError::MissingUnlockConsent)?;
            let digest =
                domain.delegate_unlock(typed.channelId, self.epoch, self.locksroot, self.skip);
            check_signer(&digest, consent, "unlock consent", self.participant)?;
        }
        Ok(())
    }

    fn update_call(&self, domain: &Domain) -> Result<ChainCall, DelegationError> {
        Ok(ChainCall::UpdateDelegate {
            token: self.token,
            participant: self.participant,
            partner: self.partner,
            proof: Box::new(SignedProof {
                fields: self.fields(domain),
                additional_hash: self.additional_hash,
                signature: signature(&self.partner_signature, "partner signature")?,
            }),
            consent: signature(&self.update_consent, "update consent")?,
        })
    }

    fn unlock_call(&self) -> Option<ChainCall> {
        let consent = signature(self.unlock_consent.as_ref()?, "unlock consent").ok()?;
        (!self.locks.is_empty()).then(|| ChainCall::UnlockDelegate {
            token: self.token,
            participant: self.participant,
            partner: self.partner,
            locks: self.locks(),
            skip: self.skip,
            // The service unlocks for an offline client: nobody unlocked this locksroot
            // before (if someone did, the contract refuses the call as not needed).
            prior: Default::default(),
            consent,
        })
    }
}

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

/// A closed channel the service acts for, and what it has done for it (set once the
/// transaction is mined or the contract refuses it as not needed).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Watch {
    token: Address,
    participants: (Address, Address),
    closer: Address,
    /// Last block of the settle window.
    settle_block: u64,
    update_done: bool,
    /// Participants whose delegated locks were unlocked (or had nothing to claim).
    unlocked: Vec<Address>,
    settle_done: bool,
    /// Bumped when a newer delegation re-arms the watch: a job built before does not count.
    #[serde(default)]
    generation: u64,
}

/// A transaction for a watched channel, as queued for the sender.
struct Task {
    channel: ChannelId,
    job: Job,
    /// The watch's generation it was built from.
    generation: u64,
    /// It must be mined by this block (an unlock) or it is useless.
    deadline: Option<u64>,
    call: ChainCall,
}

/// How a task ended, reported by the sender.
struct Report {
    channel: ChannelId,
    job: Job,
    generation: u64,
    outcome: Outcome,
}

/// Blocks before the end of the settle window when locks that expire after it are unlocked.
const UNLOCK_LEAD: u64 = 6;

/// The service's kinds of transaction for a watched channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Job {
    /// The closer's proof, for its partner.
    Update,
    /// A participant's claim of the other's locks.
    Unlock(Address),
    /// The settlement.
    Settle,
}

/// How a job ended.
enum Outcome {
    /// Mined, or refused by the contract as not needed (nothing more to do).
    Done,
    /// Failed for now (endpoint, timeout): tried again.
    Failed,
}

type Network = photon_chain::bindings::TokensNetwork::TokensNetworkInstance<DynProvider>;

/// What the API and the chain loop share.
struct Shared {
    store: Mutex<DelegationStore>,
    domain: Domain,
    address: Address,
    clients: Vec<Address>,
    network: Network,
    block: std::sync::atomic::AtomicU64,
}

impl Shared {
    /// Runs `f` on the database off the async threads (SQLite writes wait for the disk).
    async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut DelegationStore) -> photon_storage::Result<T> + Send + 'static,
    ) -> photon_storage::Result<T> {
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            f(&mut shared.store.lock().unwrap_or_else(|e| e.into_inner()))
        })
        .await
        .unwrap_or_else(|e| Err(photon_storage::StorageError::Encode(e.to_string())))
    }
}

/// Errors of the service's API.
struct MonitorError(StatusCode, &'static str, String);

impl IntoResponse for MonitorError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.1, "message": self.2 } });
        (self.0, Json(body)).into_response()
    }
}

fn store_error(e: photon_storage::StorageError) -> MonitorError {
    MonitorError(StatusCode::INTERNAL_SERVER_ERROR, "storage_error", e.to_string())
}

fn bad(message: String) -> MonitorError {
    MonitorError(StatusCode::BAD_REQUEST, "bad_request", message)
}

/// The watch of a closed channel, from the contract's view of it.
fn watch_of(
    d: &Delegation,
    info: &photon_chain::bindings::TokensNetwork::getChannelInfoReturn,
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
    State(shared): State<Arc<Shared>>,
    body: Result<Json<Delegation>, JsonRejection>,
) -> Result<Json<serde_json::Value>, MonitorError> {
    let Json(d) = body.map_err(|e| bad(format!("invalid delegation: {}", e.body_text())))?;
    d.check(&shared.domain).map_err(|e| bad(e.to_string()))?;
    if !shared.clients.is_empty() && !shared.clients.contains(&d.participant) {
        return Err(MonitorError(
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
        .map_err(|e| MonitorError(StatusCode::BAD_GATEWAY, "chain_error", e.to_string()))?;
    if info.state == 0 || info.epoch != d.epoch {
        return Err(bad(format!(
            "no open or closed channel in epoch {} between {} and {}",
            d.epoch, d.participant, d.partner
        )));
    }
    let data = serde_json::to_vec(&d)
        .map_err(|e| MonitorError(StatusCode::INTERNAL_SERVER_ERROR, "encode", e.to_string()))?;
    let channel = d.channel_id(&shared.domain);
    let order =
        photon_storage::Order { epoch: d.epoch, nonce: d.nonce, skip: d.skip.to_be_bytes::<32>() };
    let (participant, closed) = (d.participant, info.state == 2);
    let fresh = closed.then(|| watch_of(&d, &info));
    let kept = shared
        .with_store(move |store| {
            store.put_then_watch(channel, participant, order, &data, |kept| {
                // closed already: act (again) for this newer delegation; jobs built from the
                // older one no longer count
                let old = kept.and_then(|w| serde_json::from_slice::<Watch>(&w).ok());
                let mut watch = old.or(fresh)?;
                watch.update_done = false;
                watch.unlocked.retain(|p| *p != participant);
                watch.generation += 1;
                serde_json::to_vec(&watch).ok()
            })
        })
        .await
        .map_err(store_error)?;
    if !kept {
        return Err(MonitorError(
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
) -> Result<Json<serde_json::Value>, MonitorError> {
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
) -> Result<Json<serde_json::Value>, MonitorError> {
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
    key: LocalSigner,
    provider: DynProvider,
    db: &std::path::Path,
    settings: MonitorSettings,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
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
            served.map_err(|e| NodeError::BadRequest(format!("serving the API: {e}")))
        }
        followed = &mut chain => match followed {
            Ok(Err(e)) => Err(e.into()),
            _ => Err(NodeError::Stopped),
        },
    }
}

/// Sends the service's transactions one after another and reports how each ended. An unlock
/// is only sent when a lock is claimable (a secret registered in time): the contract takes one
/// unlock per locksroot and would otherwise take gas for nothing.
async fn send_all(
    mut txs: TxManager,
    registry: photon_chain::bindings::SecretRegistry::SecretRegistryInstance<DynProvider>,
    mut tasks: mpsc::UnboundedReceiver<Task>,
    done: mpsc::UnboundedSender<Report>,
) {
    use alloy::providers::Provider;
    while let Some(task) = tasks.recv().await {
        let Task { channel, job, generation, deadline, call } = task;
        let report = |outcome| Report { channel, job, generation, outcome };
        // still in time? (tasks wait for each other)
        if let Some(deadline) = deadline {
            match registry.provider().get_block_number().await {
                Ok(head) if head + 1 >= deadline => {
                    tracing::warn!(%channel, ?job, "too late to be mined inside the window");
                    let _ = done.send(report(Outcome::Done));
                    continue;
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = done.send(report(Outcome::Failed));
                    continue;
                }
            }
        }
        if let ChainCall::UnlockDelegate { locks, skip, .. } = &call {
            let encoded = photon_primitives::lock::encode_locks(locks);
            match registry.claimableAmount(encoded.into(), *skip).call().await {
                Ok(amount) if amount.is_zero() => {
                    tracing::info!(%channel, "no delegated lock is claimable: no unlock");
                    let _ = done.send(report(Outcome::Done));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the secret registry");
                    let _ = done.send(report(Outcome::Failed));
                    continue;
                }
            }
        }
        let result = async {
            let pending = txs.send(&call).await?;
            txs.wait(pending.hash, Duration::from_millis(100), Duration::from_secs(600)).await?;
            Ok::<_, ChainError>(pending.hash)
        }
        .await;
        let outcome = match result {
            Ok(hash) => {
                tracing::info!(%hash, %channel, ?job, "monitor transaction mined");
                Outcome::Done
            }
            Err(ChainError::Refused(reason)) => {
                tracing::info!(%reason, %channel, ?job, "not needed: the contract refuses it");
                Outcome::Done
            }
            Err(e) => {
                tracing::warn!(error = %e, %channel, ?job, "monitor transaction failed; retrying");
                Outcome::Failed
            }
        };
        let _ = done.send(report(outcome));
    }
}

/// The follower and what it takes to start it again from a given block.
struct Follow {
    follower: ChainFollower<DynProvider>,
    provider: DynProvider,
    deployment: Deployment,
    config: FollowerConfig,
}

/// Follows the chain: watches closed channels it holds delegations for and acts for them.
/// Blocks are marked handled only after their events are: an event that could not be handled
/// is read again.
async fn watch_chain(
    mut follow: Follow,
    shared: Arc<Shared>,
    settings: MonitorSettings,
    tasks: mpsc::UnboundedSender<Task>,
    mut done: mpsc::UnboundedReceiver<Report>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ChainError> {
    let punish = settings.deployment.params.punish_blocks;
    let confirmations = settings.confirmations;
    let mut in_flight = std::collections::HashSet::new();
    let mut ticker = tokio::time::interval(settings.poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            Some(Report { channel, job, generation, outcome }) = done.recv() => {
                in_flight.remove(&(channel, job));
                if let Outcome::Done = outcome {
                    let marked =
                        shared.with_store(move |s| mark_done(s, channel, job, generation)).await;
                    if let Err(e) = marked {
                        tracing::error!(error = %e, "monitor storage failed");
                    }
                }
                continue;
            }
            _ = ticker.tick() => {}
        }
        let changes = match follow.follower.poll().await {
            Ok(changes) => changes,
            Err(e @ ChainError::DeepReorg { .. }) => {
                tracing::error!(error = %e, "the chain reorganised deeper than the confirmations");
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(error = %e, "chain poll failed; retrying");
                continue;
            }
        };
        let mut failed = false;
        for change in changes {
            let result = match change {
                StateChange::Chain(ChainEvent::ChannelClosed { channel_id, .. }) => {
                    watch_closed(&shared, channel_id).await
                }
                StateChange::Chain(ChainEvent::ChannelSettled { channel_id }) => shared
                    .with_store(move |s| s.forget(channel_id))
                    .await
                    .map_err(|e| e.to_string()),
                StateChange::Block(block) => {
                    shared.block.store(block, std::sync::atomic::Ordering::Relaxed);
                    let (flying, domain) = (in_flight.clone(), shared.domain.clone());
                    let due = shared
                        .with_store(move |s| {
                            due_jobs(s, &domain, block, punish, confirmations, &flying)
                        })
                        .await;
                    match due {
                        Ok(due) => {
                            for task in due {
                                in_flight.insert((task.channel, task.job));
                                let _ = tasks.send(task);
                            }
                            shared
                                .with_store(move |s| s.set_last_block(block))
                                .await
                                .map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e.to_string()),
                    }
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "a chain event could not be handled; reading it again");
                failed = true;
                break;
            }
        }
        if failed {
            // start again after the last block fully handled
            let last = shared.with_store(|s| s.last_block()).await.ok().flatten();
            let config = FollowerConfig {
                from_block: last.map_or(follow.config.from_block, |b| b + 1),
                ..follow.config
            };
            follow.follower =
                ChainFollower::new(follow.provider.clone(), follow.deployment.clone(), config);
        }
    }
}

/// A channel closed: watched if we hold a delegation for it (the contract's view of it read
/// now, while it is closed).
async fn watch_closed(shared: &Arc<Shared>, channel_id: ChannelId) -> Result<(), String> {
    let held =
        shared.with_store(move |s| s.of_channel(channel_id)).await.map_err(|e| e.to_string())?;
    let Some(first) = held.first().and_then(|d| serde_json::from_slice::<Delegation>(d).ok())
    else {
        return Ok(());
    };
    let info = shared
        .network
        .getChannelInfo(first.token, first.participant, first.partner)
        .call()
        .await
        .map_err(|e| e.to_string())?;
    if info.state != 2 {
        return Ok(()); // settled meanwhile
    }
    tracing::info!(%channel_id, closer = %info.closer, "a channel we guard was closed");
    let data = serde_json::to_vec(&watch_of(&first, &info)).unwrap_or_default();
    shared
        .with_store(move |s| {
            // watched already (an event read again, or a delegation after the close): kept
            if s.watch(channel_id)?.is_none() {
                s.put_watch(channel_id, &data)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| e.to_string())
}

/// Marks a watched channel's job done, unless a newer delegation re-armed the watch since
/// the job was built.
fn mark_done(
    store: &mut DelegationStore,
    channel: ChannelId,
    job: Job,
    generation: u64,
) -> photon_storage::Result<()> {
    let Some(data) = store.watch(channel)? else { return Ok(()) };
    let Ok(mut watch) = serde_json::from_slice::<Watch>(&data) else { return Ok(()) };
    if watch.generation != generation {
        return Ok(());
    }
    match job {
        Job::Update => watch.update_done = true,
        Job::Unlock(participant) => watch.unlocked.push(participant),
        Job::Settle => watch.settle_done = true,
    }
    store.put_watch(channel, &serde_json::to_vec(&watch).unwrap_or_default())
}

/// The transactions due at confirmed block `block` for every watched channel, but those in
/// flight.
fn due_jobs(
    store: &mut DelegationStore,
    domain: &Domain,
    block: u64,
    punish: u64,
    confirmations: u64,
    in_flight: &std::collections::HashSet<(ChannelId, Job)>,
) -> photon_storage::Result<Vec<Task>> {
    let mut due = Vec::new();
    // the head is `confirmations` ahead of `block`; a transaction sent now lands after it
    let head = block + confirmations;
    for (channel, data) in store.watches()? {
        let Ok(watch) = serde_json::from_slice::<Watch>(&data) else { continue };
        let delegations: Vec<Delegation> = store
            .of_channel(channel)?
            .iter()
            .filter_map(|d| serde_json::from_slice(d).ok())
            .collect();
        let idle = |job| !in_flight.contains(&(channel, job));
        let task = |job, deadline, call| Task {
            channel,
            job,
            generation: watch.generation,
            deadline,
            call,
        };
        if !watch.update_done && idle(Job::Update) && head < watch.settle_block {
            // only the closer's partner can be updated: the closer's proof for it
            let call = delegations
                .iter()
                .filter(|d| d.participant != watch.closer)
                .find_map(|d| d.update_call(domain).ok());
            if let Some(call) = call {
                due.push(task(Job::Update, Some(watch.settle_block), call));
            }
        }
        // One unlock per side and locksroot: as late as it helps — after every delegated lock
        // (not skipped) expired, so no registration can make one claimable any more — but
        // inside the window; for the closer's partner only once its update is in (the unlock
        // must match the stored locksroot).
        for d in &delegations {
            let job = Job::Unlock(d.participant);
            let skipped = |i: usize| i < 256 && d.skip.bit(i);
            let last = d
                .locks
                .iter()
                .enumerate()
                .filter(|(i, _)| !skipped(*i))
                .map(|(_, l)| l.expiration)
                .max();
            let Some(last) = last else { continue };
            let unlock_at =
                last.saturating_add(1).min(watch.settle_block.saturating_sub(UNLOCK_LEAD));
            let in_window = head >= unlock_at && head + 1 < watch.settle_block;
            let updated = d.participant == watch.closer || (watch.update_done && idle(Job::Update));
            if !watch.unlocked.contains(&d.participant) && idle(job) && in_window && updated {
                if let Some(call) = d.unlock_call() {
                    due.push(task(job, Some(watch.settle_block), call));
                }
            }
        }
        if !watch.settle_done && idle(Job::Settle) && block > watch.settle_block + punish {
            let (participant1, participant2) = watch.participants;
            let call = ChainCall::SettleFor { token: watch.token, participant1, participant2 };
            due.push(task(Job::Settle, None, call));
        }
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use photon_primitives::SecretHash;

    fn domain() -> Domain {
        Domain::new(7, Address::repeat_byte(0xC0))
    }

    /// Alice's delegation of her channel with Bob, holding Bob's proof with two locks.
    fn delegation() -> (Delegation, LocalSigner, LocalSigner) {
        let alice = LocalSigner::from_bytes(&[1; 32]).unwrap();
        let bob = LocalSigner::from_bytes(&[2; 32]).unwrap();
        let domain = domain();
        let token = Address::repeat_byte(0x70);
        let locks = vec![
            Lock { amount: 5, expiration: 90, secrethash: SecretHash(B256::repeat_byte(1)) },
            Lock { amount: 7, expiration: 95, secrethash: SecretHash(B256::repeat_byte(2)) },
        ];
        let id = channel_id(alice.address(), bob.address(), token, domain.contract());
        let fields = BalanceProofFields {
            channel_id: id,
            epoch: 3,
            nonce: 4,
            transferred_amount: 30,
            locked_amount: 12,
            locksroot: locksroot(&locks),
        };
        let additional = B256::repeat_byte(9);
        let typed = fields.typed(additional);
        let bob_sig = bob.sign_digest(&domain.balance_proof(&typed)).unwrap();
        let update = alice.sign_digest(&domain.delegate_update_for(&typed)).unwrap();
        let skip = U256::from(2u8);
        let unlock =
            alice.sign_digest(&domain.delegate_unlock(id, 3, fields.locksroot, skip)).unwrap();
        let d = Delegation {
            token,
            participant: alice.address(),
            partner: bob.address(),
            epoch: 3,
            nonce: 4,
            transferred_amount: 30,
            locked_amount: 12,
            locksroot: fields.locksroot,
            additional_hash: additional,
            partner_signature: Bytes::from(bob_sig.0.to_vec()),
            update_consent: Bytes::from(update.0.to_vec()),
            locks: locks.iter().map(DelegatedLock::from).collect(),
            skip,
            unlock_consent: Some(Bytes::from(unlock.0.to_vec())),
        };
        (d, alice, bob)
    }

    #[test]
    fn a_delegation_proves_itself_and_any_change_breaks_it() {
        let (d, alice, bob) = delegation();
        let domain = domain();
        assert_eq!(d.check(&domain), Ok(()));
        // through JSON and back: the same
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"transferred_amount\":\"30\""), "{json}");
        assert_eq!(serde_json::from_str::<Delegation>(&json).unwrap(), d);
        let broken: Vec<(Delegation, &str)> = vec![
            (Delegation { transferred_amount: 31, ..d.clone() }, "partner's"),
            (Delegation { epoch: 4, ..d.clone() }, "partner's"),
            (
                Delegation { participant: bob.address(), partner: alice.address(), ..d.clone() },
                "partner's",
            ),
            (
                Delegation { update_consent: d.partner_signature.clone(), ..d.clone() },
                "update consent",
            ),
            (Delegation { skip: U256::ZERO, ..d.clone() }, "unlock consent"),
            (Delegation { locks: d.locks[..1].to_vec(), ..d.clone() }, "locks"),
            (Delegation { unlock_consent: None, ..d.clone() }, "without an unlock consent"),
            (
                Delegation { partner_signature: Bytes::from(vec![1, 2, 3]), ..d.clone() },
                "not a valid",
            ),
        ];
        for (bad, why) in broken {
            let err = bad.check(&domain).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
        // another chain or contract: nothing checks
        assert!(d.check(&Domain::new(8, domain.contract())).is_err());
        assert!(d.check(&Domain::new(7, Address::repeat_byte(0xC1))).is_err());
        let unknown = json.replace("\"nonce\":4", "\"nonce\":4,\"extra\":1");
        assert!(serde_json::from_str::<Delegation>(&unknown).is_err());
    }

    /// When each transaction is due for a closed channel: Bob closed; Alice (the client) is
    /// updated at once, her delegated locks (expiring at 90 and 95) unlocked once the last one
    /// expired, and the channel settled after the windows; nothing twice, nothing in flight
    /// again.
    #[test]
    fn each_transaction_comes_at_its_time_and_once() {
        let (d, _, bob) = delegation();
        let domain = domain();
        let channel = d.channel_id(&domain);
        let mut store = DelegationStore::open_in_memory().unwrap();
        let order = photon_storage::Order { epoch: 3, nonce: 4, skip: d.skip.to_be_bytes::<32>() };
        store.put(channel, d.participant, order, &serde_json::to_vec(&d).unwrap()).unwrap();
        let watch = Watch {
            token: d.token,
            participants: (d.participant, d.partner),
            closer: bob.address(),
            settle_block: 120,
            update_done: false,
            unlocked: Vec::new(),
            settle_done: false,
            generation: 0,
        };
        store.put_watch(channel, &serde_json::to_vec(&watch).unwrap()).unwrap();
        let none = std::collections::HashSet::new();
        let (punish, confirmations) = (5, 2);
        let jobs = |store: &mut DelegationStore, block, flying: &std::collections::HashSet<_>| {
            due_jobs(store, &domain, block, punish, confirmations, flying)
                .unwrap()
                .into_iter()
                .map(|task| task.job)
                .collect::<Vec<_>>()
        };
        assert_eq!(jobs(&mut store, 60, &none), vec![Job::Update]);
        let flying: std::collections::HashSet<_> = [(channel, Job::Update)].into();
        assert!(jobs(&mut store, 61, &flying).is_empty(), "in flight: not sent again");
        let unlock = Job::Unlock(d.participant);
        assert!(!jobs(&mut store, 95, &none).contains(&unlock), "not before the update is in");
        mark_done(&mut store, channel, Job::Update, 0).unwrap();
        // the lock expiring at 95 is skipped (disposed): only the one at 90 counts
        assert!(jobs(&mut store, 88, &none).is_empty(), "head 90: a lock may still be registered");
        assert_eq!(jobs(&mut store, 89, &none), vec![unlock], "head 91: every lock expired");
        mark_done(&mut store, channel, unlock, 0).unwrap();
        assert!(jobs(&mut store, 125, &none).is_empty(), "the punish window is not over");
        assert_eq!(jobs(&mut store, 126, &none), vec![Job::Settle]);
        mark_done(&mut store, channel, Job::Settle, 0).unwrap();
        assert!(jobs(&mut store, 200, &none).is_empty());
        // locks expiring after the window are unlocked in its last blocks, never after
        let late = Watch { settle_block: 80, update_done: true, unlocked: vec![], ..watch };
        store.put_watch(channel, &serde_json::to_vec(&late).unwrap()).unwrap();
        let unlocks = |store: &mut DelegationStore, block| {
            jobs(store, block, &none).into_iter().filter(|j| *j == unlock).count()
        };
        let seen: Vec<usize> = (71..=77).map(|b| unlocks(&mut store, b)).collect();
        assert_eq!(seen, vec![0, 1, 1, 1, 1, 1, 0], "heads 74 to 78: mined by 80 at the latest");
        // a job built before a newer delegation re-armed the watch does not count
        let rearmed = Watch { generation: 1, ..late.clone() };
        store.put_watch(channel, &serde_json::to_vec(&rearmed).unwrap()).unwrap();
        mark_done(&mut store, channel, unlock, 0).unwrap();
        assert_eq!(unlocks(&mut store, 75), 1, "still to do for the newer delegation");
        mark_done(&mut store, channel, unlock, 1).unwrap();
        assert_eq!(unlocks(&mut store, 75), 0);
        // a client's own close: no update of its own proof
        let own = Watch { closer: d.participant, update_done: false, ..late };
        store.put_watch(channel, &serde_json::to_vec(&own).unwrap()).unwrap();
        assert!(!jobs(&mut store, 10, &none).contains(&Job::Update));
    }
}
