//! The node's runtime: one task owns the state and applies every input in order.
//!
//! ```text
//!   API commands ─┐
//!   peer messages ─┼─> inbox ──> batch ──> transition() each ──> storage.append(batch)  (group commit)
//!   chain polls  ──┘                                                  │
//!                                     carry out events: send messages, queue transactions,
//!                                     answer waiting payments, publish to the event stream
//! ```
//! Nothing leaves the node (message, transaction, answer) before the state change that caused
//! it is durable, so a crash at any point loses nothing that anyone else has seen.
//!
//! One module per job: this one wires the node up ([`Node::start`]) and runs its loop
//! ([`Node::run`]); `core` turns inputs into state changes, applies and stores a batch and
//! carries out its events; `payments` prepares payments and tells how each ends; `chain` and
//! `transactions` are the two tasks that talk to the chain; `handle` is the command protocol
//! ([`NodeHandle`], [`Command`]); `views` what the API shows ([`Status`], [`ChannelView`]);
//! `crash` the crash switches of the crash tests.

use crate::error::NodeError;
use crate::transport::Transport;
use alloy::primitives::{keccak256, TxHash};
use alloy::providers::DynProvider;
use photon_chain::follower::{ChainFollower, FollowerConfig};
use photon_chain::txmanager::{ChainCall, DepositVia, TxManager};
use photon_chain::{ChainError, Deployment};
use photon_primitives::messages::{Message, PaymentId};
use photon_primitives::{
    Address, ChannelId, LocalSigner, Secret, SettleTimeout, Signer, TokenAmount, B256,
};
use photon_state::changes::{Event, PaymentFailure, Route, StateChange};
use photon_state::{transition, ChainState, ChannelStatus, Config, Task};
use photon_storage::{NodeIdentity, PaymentFilter, PaymentRecord, Record, Storage};
use photon_transport::Delivery;
use std::collections::HashMap;

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

mod chain;
mod core;
mod crash;
mod handle;
mod payments;
mod swaps;
mod transactions;
mod views;

use self::chain::*;
use self::core::*;
use self::transactions::*;
pub use crash::crash_point;
use crash::*;
use handle::*;
pub use handle::{ChannelAction, Command, Input, NodeHandle, PayRequest, RouteSource, SwapRequest};
use payments::*;
pub use transactions::TxJournal;
use views::ChannelBrief;
pub use views::{ChannelView, NodeEvent, PaymentOutcome, PendingTransfer, Status};

/// Calls `f` with every value `rx` receives, on a task of its own, until the sender is gone
/// (values missed by a slow reader are skipped).
fn each<T: Clone + Send + 'static>(
    mut rx: broadcast::Receiver<T>, mut f: impl FnMut(T) + Send + 'static,
) {
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(value) => f(value),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// Settings of a running node.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// Where the contracts are.
    pub deployment: Deployment,
    /// Blocks before a chain event is acted on.
    pub confirmations: u64,
    /// How often the chain is polled.
    pub poll_interval: Duration,
    /// A snapshot every this many state changes; the log records it covers are then removed.
    pub snapshot_every: u64,
    /// Finished payments older than this leave the payment history (at each snapshot);
    /// `None`: the history keeps everything.
    pub history_retention: Option<Duration>,
    /// Protocol parameters.
    pub protocol: Config,
    /// How long a payment request waits for the outcome.
    pub payment_timeout: Duration,
    /// Settle timeout of channels this node opens.
    pub settle_timeout: SettleTimeout,
    /// Where peers reach this node (shown in the status).
    pub p2p_addresses: Vec<String>,
    /// A monitoring service that guards this node's channels while it is offline: it gets
    /// each partner's latest balance proof with our consents (see [`photon_monitor`]).
    pub monitor: Option<reqwest::Url>,
    /// A pathfinding service: told our channels' capacities and fees, asked for routes (see
    /// [`photon_pfs`]).
    pub pfs: Option<reqwest::Url>,
    /// The most a transaction an API request asks for (an open, a deposit, a registration)
    /// may pay per gas, in wei: above it the request is refused. The protocol's own
    /// transactions (updates, unlocks, settlements) protect deposits and are never held back.
    pub max_gas_price: Option<u128>,
}

impl NodeSettings {
    /// [`NodeSettings::history_retention`] from a number of days (`None`: keep everything).
    pub fn retention_days(days: Option<u32>) -> Option<Duration> {
        days.map(|d| Duration::from_secs(u64::from(d) * 86_400))
    }
}

/// The node.
pub struct Node {
    signer: LocalSigner,
    state: ChainState,
    storage: Storage,
    /// Handed to its own task by [`Node::run`], so that a slow or silent RPC endpoint never
    /// holds up peer messages and API commands.
    follower: Option<ChainFollower<DynProvider>>,
    /// What the follower saw at its last poll.
    chain: ChainView,
    transport: std::sync::Arc<dyn Transport>,
    settings: NodeSettings,
    inbox: mpsc::Receiver<Input>,
    handle: NodeHandle,
    txs: mpsc::UnboundedSender<TxJob>,
    payments: HashMap<PaymentId, (Reply<PaymentOutcome>, Option<B256>)>,
    /// What the history does not keep of our recent payments, for `GET /payments/{id}`.
    recent: payments::RecentPayments,
    since_snapshot: u64,
    last_change: u64,
    counter: u64,
    /// Client of the monitoring service, if the node has one.
    monitor: Option<photon_monitor::MonitorClient>,
    /// Tells the pathfinding service our capacities and fees, if we have one.
    publisher: Option<photon_pfs::Publisher>,
    /// Our own route search.
    router: crate::routing::LocalRouter,
    /// Changes whenever a channel of the network opens or goes.
    network_version: u64,
    /// Delivery reports read in the current batch.
    deliveries: Vec<(u64, Option<String>)>,
    /// Whether the event carried out last was a message for the outbox: a payment reported
    /// sent right after the message that completes it succeeds once the partner acknowledges
    /// that message (the storage links them), not before.
    last_sent: bool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("address", &self.state.address)
            .field("block", &self.state.block)
            .finish()
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Node {
    /// Opens the node's database in `data_dir`, rebuilds its state and connects it to the
    /// chain. `provider` must sign for `signer`'s account.
    pub async fn start(
        signer: LocalSigner, provider: DynProvider, data_dir: &std::path::Path,
        settings: NodeSettings, transport: std::sync::Arc<dyn Transport>,
    ) -> Result<(Self, NodeHandle), NodeError> {
        let mut settings = settings;
        // the contract's punish window is not ours to choose
        settings.protocol.punish_blocks = settings.deployment.params.punish_blocks;
        let deployment = settings.deployment.clone();
        let identity = NodeIdentity {
            address: signer.address(),
            chain_id: deployment.chain_id,
            contract: deployment.tokens_network,
        };
        std::fs::create_dir_all(data_dir).map_err(|e| {
            NodeError::BadRequest(format!("data directory {}: {e}", data_dir.display()))
        })?;
        if let Some(problem) = settings.protocol.problem() {
            return Err(NodeError::BadRequest(format!("the node's parameters: {problem}")));
        }
        let mut storage = Storage::open(&data_dir.join("photon.db"), &identity)?;
        let domain =
            photon_primitives::eip712::Domain::new(deployment.chain_id, deployment.tokens_network);
        // The state's block is the last block whose events were applied: none yet. A log
        // starts with the parameters it ran under (`Configure`, below), except one written by
        // a build before they were logged: that one replays under what such a build ran with
        // (every node mediated, at the default reveal timeout).
        let legacy = Config {
            mediate: true,
            reveal_timeout: Config::default().reveal_timeout,
            ..settings.protocol
        };
        let fresh = ChainState::new(
            signer.address(),
            domain,
            deployment.deployed_at_block.saturating_sub(1),
            legacy,
        );
        let mut restored = storage.restore(fresh, &signer)?;
        let empty = restored.last_change == 0 && restored.snapshot == 0;
        tracing::info!(
            address = %signer.address(),
            block = restored.state.block,
            replayed = restored.replayed,
            "state restored"
        );
        let follower_config = FollowerConfig {
            confirmations: settings.confirmations,
            // the block after the last one applied: a block is never applied twice
            from_block: (restored.state.block + 1).max(deployment.deployed_at_block),
            max_range: 2_000,
            owner: Some(signer.address()),
        };
        let mut follower =
            ChainFollower::new(provider.clone(), deployment.clone(), follower_config);
        let online = match follower.check_chain().await {
            Ok(()) => true,
            // A node that already has its state starts without the chain: payments in its
            // channels need no chain, and the follower catches up (checking the chain id
            // first) once the endpoint answers. A new node must see its chain first.
            Err(photon_chain::ChainError::Rpc(e)) if !empty => {
                tracing::warn!(
                    error = %e,
                    "the chain's RPC endpoint is unreachable: starting from the stored state; \
                     payments in open channels work, chain events and transactions wait"
                );
                false
            }
            Err(photon_chain::ChainError::Rpc(e)) => {
                return Err(NodeError::ChainUnreachable(e.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        // The parameters are part of the state: the first record of a new database says which
        // they are, and a restart with others logs the change, so that the log always replays
        // under the parameters of its time (a replay starts from a state built with today's).
        if empty || restored.state.config != settings.protocol {
            let change = StateChange::Configure(settings.protocol);
            let events = transition(&mut restored.state, change.clone(), &signer)
                .map_err(|r| NodeError::BadRequest(format!("the node's parameters: {r}")))?;
            let record = Record { change: &change, events: &events, at: now_secs() };
            let (ids, _, _) = storage.append_all(&[record])?;
            restored.last_change = ids.last().copied().unwrap_or(restored.last_change);
            tracing::info!(config = ?settings.protocol, "the node's parameters changed");
        }
        let tokens = std::sync::Arc::new(crate::tokens::TokenBook::new(provider.clone()));
        let journal = std::sync::Arc::new(TxJournal::default());
        let txs = Transactions::new(
            provider,
            signer.address(),
            deployment,
            journal.clone(),
            settings.max_gas_price,
        );
        let (jobs, job_rx) = mpsc::unbounded_channel::<TxJob>();
        let (inbox_tx, inbox) = mpsc::channel(4096);
        let done = inbox_tx.clone();
        let (shutdown, stopping) = watch::channel(false);
        let (chain_control, _) = watch::channel(ChainControl::default());
        tokio::spawn(transaction_task(txs, job_rx, done, stopping));
        let (events, _) = broadcast::channel(1024);
        let pfs = settings
            .pfs
            .as_ref()
            .map(|url| photon_pfs::PfsClient::new(url.as_str(), Duration::from_secs(3)));
        let handle = NodeHandle {
            address: signer.address(),
            payment_timeout: settings.payment_timeout,
            inbox: inbox_tx,
            events,
            shutdown,
            chain: chain_control,
            pfs: pfs.clone(),
            metrics: std::sync::Arc::default(),
            tokens,
            transactions: journal,
        };
        let publisher = pfs.map(|client| {
            photon_pfs::Publisher::start(
                client,
                restored.state.domain.clone(),
                signer.clone(),
                Duration::from_millis(200),
            )
        });
        // messages not acknowledged before a stop: sent again, in order (a duplicate is
        // answered with its stored acknowledgement)
        for (id, recipient, message) in storage.outbox()? {
            transport.send(signer.address(), recipient, message, Some(id));
        }
        // transactions the protocol asked for before a stop: carried out again (idempotent)
        for (id, call) in storage.pending_transactions()? {
            let _ = jobs.send(TxJob {
                calls: vec![ChainCall::Protocol(Box::new(call))],
                reply: None,
                pending: Some(id),
            });
        }
        let monitor = settings.monitor.as_ref().map(photon_monitor::MonitorClient::new);
        let node = Self {
            signer,
            state: restored.state,
            storage,
            follower: Some(follower),
            chain: ChainView { head: None, online, in_sync: false },
            transport,
            settings,
            inbox,
            handle: handle.clone(),
            txs: jobs,
            payments: HashMap::new(),
            recent: payments::RecentPayments::default(),
            since_snapshot: restored.replayed,
            last_change: restored.last_change,
            counter: 0,
            monitor,
            publisher,
            router: crate::routing::LocalRouter::default(),
            network_version: 0,
            last_sent: false,
            deliveries: Vec::new(),
        };
        Ok((node, handle))
    }

    /// Runs until shutdown.
    pub async fn run(mut self) -> Result<(), NodeError> {
        let mut shutdown = self.handle.shutdown.subscribe();
        let (chain_tx, mut chain_rx) = mpsc::channel::<ChainReport>(2);
        if let Some(follower) = self.follower.take() {
            let stop = self.handle.shutdown.subscribe();
            let control = self.handle.chain.subscribe();
            tokio::spawn(follow(follower, self.settings.poll_interval, chain_tx, stop, control));
        }
        // not known to follow the chain before the first poll says so
        if self.state.chain_synced {
            if let Err(e) = self.apply_batch(vec![(StateChange::ChainSynced(false), Waiter::None)])
            {
                tracing::error!(error = %e, "storage failed; stopping to lose nothing");
                return Err(e);
            }
        }
        let metrics = self.handle.metrics.clone();
        each(self.handle.subscribe(), move |event| metrics.count(&event));
        if let Some(changes) = self.transport.connectivity() {
            let events = self.handle.events.clone();
            each(changes, move |photon_transport::PeerChange { peer, connected }| {
                let _ = events.send(NodeEvent::PeerConnectivity { peer, connected });
            });
        }
        let mut monitor_tick = tokio::time::interval(Duration::from_secs(1));
        monitor_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pfs_tick = tokio::time::interval(Duration::from_millis(200));
        pfs_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch: Vec<Item> = Vec::new();
            tokio::select! {
                _ = monitor_tick.tick(), if self.monitor.is_some() => {
                    self.delegate();
                    continue;
                }
                _ = pfs_tick.tick(), if self.publisher.is_some() => {
                    self.announce();
                    continue;
                }
                input = self.inbox.recv() => {
                    let Some(input) = input else { break };
                    self.take(input, &mut batch);
                    // group commit: everything already waiting goes into the same transaction
                    while batch.len() < 512 {
                        match self.inbox.try_recv() {
                            Ok(input) => self.take(input, &mut batch),
                            Err(_) => break,
                        }
                    }
                }
                Some(report) = chain_rx.recv() => {
                    match report.changes {
                        Ok(changes) => {
                            batch.extend(changes.into_iter().map(|change| (change, Waiter::None)));
                        }
                        Err(e) => tracing::warn!(error = %e, "chain poll failed; retrying"),
                    }
                    if report.view.online != self.chain.online {
                        let reachable = report.view.online;
                        let _ = self.handle.events.send(NodeEvent::ChainReachability { reachable });
                    }
                    self.chain = report.view;
                    // the protocol plays safer while the chain is not followed to its head
                    let synced = report.view.in_sync;
                    if synced != self.state.chain_synced {
                        tracing::info!(synced, "following the chain to its head: {synced}");
                        batch.push((StateChange::ChainSynced(synced), Waiter::None));
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
            self.delivered(&mut batch);
            if let Err(e) = self.apply_batch(batch) {
                tracing::error!(error = %e, "storage failed; stopping to lose nothing");
                return Err(e);
            }
        }
        tracing::info!("node stopped");
        Ok(())
    }

    /// Offers the pathfinding service's publisher our open channels as they are now (it
    /// sends what changed).
    fn announce(&self) {
        let Some(publisher) = &self.publisher else { return };
        let state = &self.state;
        let channels = state
            .channels
            .values()
            .filter(|c| c.status == ChannelStatus::Open)
            .map(|c| photon_pfs::Announce {
                token: c.token,
                channel_id: c.id,
                capacity: c.our_capacity(),
                fee: state.fees.policy(c.token, c.id),
                disabled: !c.usable() || !state.config.accepts_settle_timeout(c.settle_timeout),
            })
            .collect();
        publisher.offer(channels);
    }

    /// Gives the monitoring service every partner proof it does not have yet, with our
    /// consents; a failed delivery is tried again on the next tick.
    fn delegate(&mut self) {
        if let Some(monitor) = &self.monitor {
            monitor.delegate(&self.state.domain, self.state.channels.values(), &self.signer);
        }
    }
}
