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
//! each channel (by nonce), so a client cannot be hurt by an older one. Transactions the
//! contract would refuse (a proof no newer than the stored one, nothing to unlock) are found
//! out by gas estimation and cost nothing. The service pays its own gas.

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
}

/// A closed channel the service acts for.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Watch {
    token: Address,
    participants: (Address, Address),
    closer: Address,
    closed_at: u64,
    /// Last block of the settle window.
    settle_block: u64,
    update_sent: bool,
    unlock_sent: bool,
    settle_sent: bool,
}

/// What the API and the chain loop share.
struct Shared {
    store: Mutex<DelegationStore>,
    domain: Domain,
    address: Address,
    block: std::sync::atomic::AtomicU64,
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

async fn put_delegation(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<Delegation>, JsonRejection>,
) -> Result<Json<serde_json::Value>, MonitorError> {
    let Json(delegation) = body.map_err(|e| {
        MonitorError(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("invalid delegation: {}", e.body_text()),
        )
    })?;
    delegation
        .check(&shared.domain)
        .map_err(|e| MonitorError(StatusCode::BAD_REQUEST, "bad_request", e.to_string()))?;
    let data = serde_json::to_vec(&delegation)
        .map_err(|e| MonitorError(StatusCode::INTERNAL_SERVER_ERROR, "encode", e.to_string()))?;
    let channel = delegation.channel_id(&shared.domain);
    let kept = shared
        .store
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .put(channel, delegation.participant, delegation.nonce, &data)
        .map_err(store_error)?;
    if !kept {
        return Err(MonitorError(
            StatusCode::CONFLICT,
            "stale",
            format!("a delegation with nonce {} or newer is kept already", delegation.nonce),
        ));
    }
    Ok(Json(serde_json::json!({ "channel_id": channel, "nonce": delegation.nonce })))
}

async fn monitor_status(
    State(shared): State<Arc<Shared>>,
) -> Result<Json<serde_json::Value>, MonitorError> {
    let store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
    Ok(Json(serde_json::json!({
        "address": shared.address,
        "block": shared.block.load(std::sync::atomic::Ordering::Relaxed),
        "delegations": store.count().map_err(store_error)?,
        "watched": store.watches().map_err(store_error)?.len(),
    })))
}

/// The service's API: `PUT /api/v1/delegations`, `GET /api/v1/status`.
fn monitor_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/delegations", put(put_delegation))
        .route("/api/v1/status", get(monitor_status))
        .with_state(shared)
}

/// Runs a monitoring service until `shutdown` resolves: its database at `db`, its API on
/// `listener`, its transactions paid by `key` through `provider`.
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
    let config = FollowerConfig {
        confirmations: settings.confirmations,
        from_block,
        max_range: 2_000,
        owner: None,
    };
    let mut follower = ChainFollower::new(provider.clone(), deployment.clone(), config);
    follower.check_chain().await?;
    let txs = TxManager::new(provider.clone(), key.address(), deployment.clone()).await?;
    let shared = Arc::new(Shared {
        store: Mutex::new(store),
        domain,
        address: key.address(),
        block: std::sync::atomic::AtomicU64::new(from_block.saturating_sub(1)),
    });
    let (jobs, job_rx) = mpsc::unbounded_channel();
    tokio::spawn(send_all(txs, job_rx));
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let chain = tokio::spawn(watch_chain(
        follower,
        shared.clone(),
        provider,
        deployment,
        settings.poll_interval,
        jobs,
        stop,
    ));
    axum::serve(listener, monitor_router(shared))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| NodeError::BadRequest(format!("serving the API: {e}")))?;
    let _ = stop_tx.send(true);
    let _ = chain.await;
    Ok(())
}

/// Sends the service's transactions one after another; a call the contract refuses (nothing
/// to do any more) costs nothing.
async fn send_all(mut txs: TxManager, mut jobs: mpsc::UnboundedReceiver<ChainCall>) {
    while let Some(call) = jobs.recv().await {
        let result = async {
            let pending = txs.send(&call).await?;
            txs.wait(pending.hash, Duration::from_millis(100), Duration::from_secs(600)).await?;
            Ok::<_, ChainError>(pending.hash)
        }
        .await;
        match result {
            Ok(hash) => tracing::info!(%hash, ?call, "monitor transaction mined"),
            Err(ChainError::Refused(reason)) => {
                tracing::info!(%reason, "not needed: the contract refuses it");
            }
            Err(e) => tracing::warn!(error = %e, "monitor transaction failed"),
        }
    }
}

/// Follows the chain: watches closed channels it holds delegations for and acts for them.
async fn watch_chain(
    mut follower: ChainFollower<DynProvider>,
    shared: Arc<Shared>,
    provider: DynProvider,
    deployment: Deployment,
    interval: Duration,
    jobs: mpsc::UnboundedSender<ChainCall>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let network = photon_chain::bindings::TokensNetwork::new(deployment.tokens_network, provider);
    let punish = deployment.params.punish_blocks;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = ticker.tick() => {}
        }
        let changes = match follower.poll().await {
            Ok(changes) => changes,
            Err(e) => {
                tracing::warn!(error = %e, "chain poll failed; retrying");
                continue;
            }
        };
        for change in changes {
            let result = match change {
                StateChange::Chain(ChainEvent::ChannelClosed { channel_id, closer, block }) => {
                    watch_closed(&shared, &network, channel_id, closer, block).await
                }
                StateChange::Chain(ChainEvent::ChannelSettled { channel_id }) => {
                    shared.store.lock().unwrap_or_else(|e| e.into_inner()).forget(channel_id)
                }
                StateChange::Block(block) => {
                    shared.block.store(block, std::sync::atomic::Ordering::Relaxed);
                    act(&shared, block, punish, &jobs)
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "monitor storage failed");
            }
        }
    }
}

/// A channel closed: watched if we hold a delegation for it.
async fn watch_closed(
    shared: &Shared,
    network: &photon_chain::bindings::TokensNetwork::TokensNetworkInstance<DynProvider>,
    channel_id: ChannelId,
    closer: Address,
    block: u64,
) -> Result<(), photon_storage::StorageError> {
    let held = shared.store.lock().unwrap_or_else(|e| e.into_inner()).of_channel(channel_id)?;
    let Some(first) = held.first().and_then(|d| serde_json::from_slice::<Delegation>(d).ok())
    else {
        return Ok(());
    };
    let info =
        match network.getChannelInfo(first.token, first.participant, first.partner).call().await {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(error = %e, %channel_id, "cannot read the closed channel");
                return Ok(());
            }
        };
    let watch = Watch {
        token: first.token,
        participants: (first.participant, first.partner),
        closer,
        closed_at: block,
        settle_block: info.settleBlock,
        update_sent: false,
        unlock_sent: false,
        settle_sent: false,
    };
    tracing::info!(%channel_id, %closer, "a channel we guard was closed");
    let data = serde_json::to_vec(&watch).unwrap_or_default();
    shared.store.lock().unwrap_or_else(|e| e.into_inner()).put_watch(channel_id, &data)
}

/// What is due at `block` for every watched channel.
fn act(
    shared: &Shared,
    block: u64,
    punish: u64,
    jobs: &mpsc::UnboundedSender<ChainCall>,
) -> Result<(), photon_storage::StorageError> {
    let mut store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
    for (channel_id, data) in store.watches()? {
        let Ok(mut watch) = serde_json::from_slice::<Watch>(&data) else { continue };
        let delegations: Vec<Delegation> = store
            .of_channel(channel_id)?
            .iter()
            .filter_map(|d| serde_json::from_slice(d).ok())
            .collect();
        let before = (watch.update_sent, watch.unlock_sent, watch.settle_sent);
        if !watch.update_sent {
            // the closer's partner is the one whose proof may be missing
            for d in delegations.iter().filter(|d| d.participant != watch.closer) {
                if let Ok(call) = d.update_call(&shared.domain) {
                    let _ = jobs.send(call);
                }
            }
            watch.update_sent = true;
        }
        // one unlock per side: late in the window, after registrations had their time
        let window = watch.settle_block.saturating_sub(watch.closed_at);
        let unlock_at = watch.settle_block.saturating_sub((window / 4).max(1));
        if !watch.unlock_sent && block >= unlock_at && block <= watch.settle_block {
            for call in delegations.iter().filter_map(Delegation::unlock_call) {
                let _ = jobs.send(call);
            }
            watch.unlock_sent = true;
        }
        if !watch.settle_sent && block > watch.settle_block + punish {
            let (participant1, participant2) = watch.participants;
            let _ =
                jobs.send(ChainCall::SettleFor { token: watch.token, participant1, participant2 });
            watch.settle_sent = true;
        }
        if before != (watch.update_sent, watch.unlock_sent, watch.settle_sent) {
            store.put_watch(channel_id, &serde_json::to_vec(&watch).unwrap_or_default())?;
        }
    }
    store.set_last_block(block)
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
}
