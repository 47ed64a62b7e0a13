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

use crate::error::NodeError;
use crate::transport::Transport;
use alloy::primitives::{keccak256, TxHash};
use alloy::providers::DynProvider;
use photon_chain::follower::{ChainFollower, FollowerConfig};
use photon_chain::txmanager::{ChainCall, DepositVia, TxManager};
use photon_chain::{ChainError, Deployment};
use photon_primitives::messages::{Message, PaymentId};
use photon_primitives::{Address, ChannelId, LocalSigner, Secret, Signer, TokenAmount, B256};
use photon_state::changes::{Event, PaymentFailure, Route, StateChange};
use photon_state::{transition, ChainState, ChannelStatus, Config, Task};
use photon_storage::{NodeIdentity, PaymentFilter, PaymentRecord, Record, Storage};
use photon_transport::Delivery;
use serde::Serialize;
use std::collections::HashMap;

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Debug builds only: if the environment variable `PHOTON_CRASH_AT` names this point, the
/// process aborts here, as a crash would (no destructor runs, nothing is flushed). Points:
/// `after_commit:<Message>` (a received message of that kind is durable, its effects not yet
/// carried out), `before_send:<Message>` / `after_send:<Message>`, `before_tx:<call>` /
/// `after_tx:<call>`, where `<Message>` is a message kind such as `MediatedTransfer` and
/// `<call>` a contract call such as `RegisterSecret`.
pub fn crash_point(point: &str) {
    #[cfg(debug_assertions)]
    {
        static TARGET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
        if TARGET.get_or_init(|| std::env::var("PHOTON_CRASH_AT").ok()).as_deref() == Some(point) {
            eprintln!("PHOTON_CRASH_AT={point}: aborting");
            std::process::abort();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}

fn call_name(call: &ChainCall) -> String {
    match call {
        ChainCall::Protocol(call) => {
            format!("{call:?}").split([' ', '{', '(']).next().unwrap_or("?").to_string()
        }
        other => format!("{other:?}").split([' ', '{', '(']).next().unwrap_or("?").to_string(),
    }
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
    /// A snapshot every this many state changes.
    pub snapshot_every: u64,
    /// Protocol parameters.
    pub protocol: Config,
    /// How long a payment request waits for the outcome.
    pub payment_timeout: Duration,
    /// Settle timeout of channels this node opens.
    pub settle_timeout: u32,
    /// Where peers reach this node (shown in the status).
    pub p2p_addresses: Vec<String>,
    /// A monitoring service that guards this node's channels while it is offline: it gets
    /// each partner's latest balance proof with our consents (see [`photon_monitor`]).
    pub monitor: Option<reqwest::Url>,
}

/// A payment that finished.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PaymentOutcome {
    /// Its id.
    pub payment_id: PaymentId,
    /// Target.
    pub target: Address,
    /// What the target received.
    pub amount: String,
    /// Fees paid.
    pub fee: String,
    /// The secret hash (mediated payments).
    pub secrethash: Option<B256>,
}

/// One channel, as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ChannelView {
    /// Channel id.
    pub channel_id: B256,
    /// Token.
    pub token: Address,
    /// Partner.
    pub partner: Address,
    /// open | closing | closed | withdrawing | settling
    pub state: &'static str,
    /// Our balance (deposit + received − sent).
    pub balance: String,
    /// The partner's balance.
    pub partner_balance: String,
    /// Our deposit in this epoch.
    pub deposit: String,
    /// The partner's deposit in this epoch.
    pub partner_deposit: String,
    /// Our pending locks.
    pub locked: String,
    /// The partner's pending locks.
    pub partner_locked: String,
    /// Settle timeout (blocks).
    pub settle_timeout: u64,
    /// Epoch.
    pub epoch: u64,
    /// Why the channel needs attention: the partner refused one of our messages for good
    /// (the node closes such a channel); none normally.
    pub attention: Option<String>,
}

/// A payment in flight, as the API shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PendingTransfer {
    /// The lock's hash.
    pub secrethash: B256,
    /// initiator | mediator | target
    pub role: &'static str,
    /// Payment id.
    pub payment_id: PaymentId,
}

/// The node's status.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Status {
    /// Our address.
    pub address: Address,
    /// Chain id.
    pub chain_id: u64,
    /// The `TokensNetwork` contract.
    pub tokens_network: Address,
    /// Last confirmed block acted on.
    pub block: u64,
    /// The chain's head at the last poll (None: not reached yet).
    pub chain_head: Option<u64>,
    /// Whether the last poll reached the chain's RPC endpoint (a node with stored state runs
    /// without it: payments in open channels go on, chain events and transactions wait).
    pub chain_reachable: bool,
    /// Whether confirmed blocks are still being caught up with.
    pub syncing: bool,
    /// Peers the transport reaches now.
    pub peers: usize,
    /// Where peers reach this node.
    pub p2p_addresses: Vec<String>,
    /// Channels (not settled).
    pub channels: usize,
    /// Payments in flight.
    pub pending_transfers: usize,
    /// Software version.
    pub version: &'static str,
}

/// What the event stream publishes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeEvent {
    /// We were paid.
    PaymentReceived {
        /// token
        token: Address,
        /// payment id
        payment_id: PaymentId,
        /// from
        initiator: Address,
        /// amount
        amount: String,
    },
    /// A payment we made completed.
    PaymentSent {
        /// token
        token: Address,
        /// payment id
        payment_id: PaymentId,
        /// to
        target: Address,
        /// amount
        amount: String,
    },
    /// A payment we made failed.
    PaymentFailed {
        /// payment id
        payment_id: PaymentId,
        /// why
        reason: String,
    },
    /// The partner refused the message completing a payment of ours but holds our signed
    /// proof of it: count it as paid; the channel is closed and the chain settles it.
    PaymentDisputed {
        /// payment id
        payment_id: PaymentId,
        /// what the partner said
        reason: String,
    },
    /// A new confirmed block.
    Block {
        /// its number
        number: u64,
    },
}

type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

/// Who waits for a state change in a batch.
#[derive(Debug)]
enum Waiter {
    /// Nobody.
    None,
    /// An API request.
    Reply(Reply<()>),
    /// A peer, through the transport.
    Peer(oneshot::Sender<Delivery>),
}

/// A state change waiting in a batch, with whoever waits for its acceptance.
type Item = (StateChange, Waiter);

/// What a peer is told about a message the state machine refused: "try again later" when it
/// may only have come too early, else "never".
fn refusal(rejection: &photon_state::Rejection) -> Delivery {
    match rejection {
        r if r.is_transient() => Delivery::Retry,
        other => Delivery::Reject(other.to_string()),
    }
}

/// The channel a message is about, and whether the channel cannot go on should the partner
/// refuse it for good: a balance proof of ours (every later one would be refused too), or our
/// cooperative-settlement signature (it never expires on chain; the channel takes no more
/// transfers).
fn lane_of(message: &photon_primitives::messages::Message) -> Option<(ChannelId, bool)> {
    use photon_primitives::messages::Message;
    let fatal = message.balance_proof().is_some() || matches!(message, Message::SettleRequest(_));
    Some((message.channel_id()?, fatal))
}

/// A request to the node.
#[derive(Debug)]
pub enum Command {
    /// Status.
    Status(oneshot::Sender<Status>),
    /// All channels.
    Channels(oneshot::Sender<Vec<ChannelView>>),
    /// Payments in flight.
    PendingTransfers(oneshot::Sender<Vec<PendingTransfer>>),
    /// Payment history.
    Payments(PaymentFilter, Reply<Vec<PaymentRecord>>),
    /// Open a channel (and deposit).
    OpenChannel {
        /// token
        token: Address,
        /// partner
        partner: Address,
        /// settle timeout (None: the node's default)
        settle_timeout: Option<u32>,
        /// deposit
        deposit: Option<TokenAmount>,
        /// how the deposit reaches the contract
        via: DepositVia,
        /// answer once mined
        reply: Reply<TxHash>,
    },
    /// Deposit more.
    Deposit {
        /// token
        token: Address,
        /// partner
        partner: Address,
        /// amount
        amount: TokenAmount,
        /// how the deposit reaches the contract
        via: DepositVia,
        /// answer once mined
        reply: Reply<TxHash>,
    },
    /// Register a secret on chain.
    RegisterSecret {
        /// the secret
        secret: Secret,
        /// answer once mined
        reply: Reply<TxHash>,
    },
    /// Pay.
    Pay {
        /// token
        token: Address,
        /// target
        target: Address,
        /// amount the target receives
        amount: TokenAmount,
        /// payment id (None: chosen)
        payment_id: Option<PaymentId>,
        /// secret (None: chosen, unless `secrethash` is given)
        secret: Option<Secret>,
        /// pay against this hash without knowing the secret (swaps: the target holds it)
        secrethash: Option<B256>,
        /// most fees
        fee_limit: TokenAmount,
        /// explicit routes with their total fees (None: from the channel graph)
        routes: Option<Vec<Route>>,
        /// answer when done
        reply: Reply<PaymentOutcome>,
    },
    /// Accept payments locked with this secret's hash by revealing it at once (swaps).
    KnowSecret {
        /// the secret
        secret: Secret,
        /// answer once in force
        reply: Reply<()>,
    },
    /// The mediation fees.
    Fees(oneshot::Sender<photon_state::FeeSchedule>),
    /// Set a mediation fee policy.
    SetFee {
        /// which payments it applies to
        scope: photon_state::FeeScope,
        /// the policy
        policy: photon_state::FeePolicy,
        /// answer once in force
        reply: Reply<()>,
    },
    /// A user action on a channel (close, withdraw, cooperative settle).
    Channel {
        /// token
        token: Address,
        /// partner
        partner: Address,
        /// what
        action: ChannelAction,
        /// answer once accepted
        reply: Reply<()>,
    },
}

/// What to do with a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelAction {
    /// Close unilaterally.
    Close,
    /// Settle cooperatively.
    CooperativeSettle,
    /// Withdraw this much.
    Withdraw(TokenAmount),
}

/// An input of the node's task.
// Messages dominate the size; boxing them would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Input {
    /// From a peer.
    Message {
        /// transport-authenticated sender
        sender: Address,
        /// the message
        message: Message,
        /// the transport's way to tell the peer what became of it (None: in-process)
        respond: Option<oneshot::Sender<Delivery>>,
    },
    /// From the API.
    Command(Command),
    /// The transaction task finished a transaction the protocol asked for (mined, or refused
    /// for good).
    TxDone(u64),
    /// A message of the outbox reached its peer (`None`), or the peer refused it for good
    /// (`Some(reason)`); either way it is not sent again.
    Delivered(u64, Option<String>),
}

/// How the API talks to a running node.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    /// Our address.
    pub address: Address,
    /// How long a payment request waits for its outcome.
    pub payment_timeout: Duration,
    inbox: mpsc::Sender<Input>,
    events: broadcast::Sender<NodeEvent>,
    shutdown: watch::Sender<bool>,
}

impl NodeHandle {
    /// Sends a command built around a fresh reply channel and waits for the answer.
    pub async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NodeError> {
        let (tx, rx) = oneshot::channel();
        self.inbox.send(Input::Command(make(tx))).await.map_err(|_| NodeError::Stopped)?;
        rx.await.map_err(|_| NodeError::Stopped)
    }

    /// The inbox, for a transport to deliver into.
    pub fn inbox(&self) -> mpsc::Sender<Input> {
        self.inbox.clone()
    }

    /// Subscribes to the node's events.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    /// Asks the node to stop after the current batch.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Work for the transaction task: calls sent one after the other, each mined before the next.
struct TxJob {
    calls: Vec<ChainCall>,
    reply: Option<oneshot::Sender<Result<TxHash, NodeError>>>,
    /// Storage id of a transaction the protocol asked for: reported back when done.
    pending: Option<u64>,
}

/// The chain as the follower saw it at its last poll.
#[derive(Clone, Copy, Debug, Default)]
struct ChainView {
    head: Option<u64>,
    online: bool,
    in_sync: bool,
}

/// One poll of the follower task: the state changes it read (none on error) and the view.
struct ChainReport {
    changes: Result<Vec<StateChange>, String>,
    view: ChainView,
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
    since_snapshot: u64,
    last_change: u64,
    counter: u64,
    /// Client of the monitoring service, if the node has one.
    monitor: Option<photon_monitor::MonitorClient>,
    /// Delivery reports read in the current batch.
    deliveries: Vec<(u64, Option<String>)>,
    /// Whether the event carried out last was a message for the outbox: a payment reported
    /// sent right after the message that completes it succeeds once the partner acknowledges
    /// that message (the storage links them), not before.
    last_sent: bool,
}

/// A payment sent (and acknowledged).
#[derive(Debug)]
struct SentPayment {
    payment_id: PaymentId,
    token: Address,
    target: Address,
    amount: TokenAmount,
    fee: TokenAmount,
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
        signer: LocalSigner,
        provider: DynProvider,
        data_dir: &std::path::Path,
        settings: NodeSettings,
        transport: std::sync::Arc<dyn Transport>,
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
        let storage = Storage::open(&data_dir.join("photon.db"), &identity)?;
        let domain =
            photon_primitives::eip712::Domain::new(deployment.chain_id, deployment.tokens_network);
        // The state's block is the last block whose events were applied: none yet.
        let fresh = ChainState::new(
            signer.address(),
            domain,
            deployment.deployed_at_block.saturating_sub(1),
            settings.protocol,
        );
        let restored = storage.restore(fresh, &signer)?;
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
            Err(photon_chain::ChainError::Rpc(e)) if restored.last_change > 0 => {
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
        let mut txs = Transactions::new(provider, signer.address(), deployment);
        let (jobs, mut job_rx) = mpsc::unbounded_channel::<TxJob>();
        let (inbox_tx, inbox) = mpsc::channel(4096);
        let done = inbox_tx.clone();
        let (shutdown, mut stopping) = watch::channel(false);
        tokio::spawn(async move {
            while let Some(job) = job_rx.recv().await {
                let result =
                    run_job(&mut txs, &job.calls, job.pending.is_some(), &mut stopping).await;
                if let Err(e) = &result {
                    tracing::warn!(error = %e, calls = ?job.calls, "transaction failed");
                }
                // Done unless it may still land: a stop or an unfinished wait keeps it pending
                // for the next start.
                let finished = !matches!(
                    result,
                    Err(NodeError::Stopped)
                        | Err(NodeError::Chain(
                            ChainError::Timeout(_)
                                | ChainError::Rpc(_)
                                | ChainError::WrongChain { .. }
                        ))
                );
                if let (Some(id), true) = (job.pending, finished) {
                    let _ = done.send(Input::TxDone(id)).await;
                }
                if let Some(reply) = job.reply {
                    let _ = reply.send(result);
                }
            }
        });
        let (events, _) = broadcast::channel(1024);
        let handle = NodeHandle {
            address: signer.address(),
            payment_timeout: settings.payment_timeout,
            inbox: inbox_tx,
            events,
            shutdown,
        };
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
            since_snapshot: restored.replayed,
            last_change: restored.last_change,
            counter: 0,
            monitor,
            last_sent: false,
            deliveries: Vec::new(),
        };
        Ok((node, handle))
    }

    /// Runs until shutdown.
    pub async fn run(mut self) {
        let mut shutdown = self.handle.shutdown.subscribe();
        let (chain_tx, mut chain_rx) = mpsc::channel::<ChainReport>(2);
        if let Some(follower) = self.follower.take() {
            let stop = self.handle.shutdown.subscribe();
            tokio::spawn(follow(follower, self.settings.poll_interval, chain_tx, stop));
        }
        // not known to follow the chain before the first poll says so
        if self.state.chain_synced {
            if let Err(e) = self.apply_batch(vec![(StateChange::ChainSynced(false), Waiter::None)])
            {
                tracing::error!(error = %e, "storage failed; stopping to lose nothing");
                return;
            }
        }
        let mut monitor_tick = tokio::time::interval(Duration::from_secs(1));
        monitor_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch: Vec<Item> = Vec::new();
            tokio::select! {
                _ = monitor_tick.tick(), if self.monitor.is_some() => {
                    self.delegate();
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
                    self.chain = report.view;
                    // the protocol plays safer while the chain is not followed to its head
                    let synced = report.view.in_sync;
                    if synced != self.state.chain_synced {
                        tracing::info!(synced, "following the chain to its head: {synced}");
                        batch.push((StateChange::ChainSynced(synced), Waiter::None));
                    }
                }
                _ = shutdown.changed() => break,
            }
            self.delivered(&mut batch);
            if let Err(e) = self.apply_batch(batch) {
                tracing::error!(error = %e, "storage failed; stopping to lose nothing");
                break;
            }
        }
        tracing::info!("node stopped");
    }

    /// Gives the monitoring service every partner proof it does not have yet, with our
    /// consents; a failed delivery is tried again on the next tick.
    /// The delivery reports of the batch, in one storage transaction: a payment completed by
    /// an acknowledged message succeeded; a refused message marks (and maybe closes) its
    /// channel, and the payment it completed is disputed.
    fn delivered(&mut self, batch: &mut Vec<Item>) {
        if self.deliveries.is_empty() {
            return;
        }
        let reports = std::mem::take(&mut self.deliveries);
        let ids: Vec<(u64, Option<&str>)> =
            reports.iter().map(|(id, refused)| (*id, refused.as_deref())).collect();
        let done = match self.storage.delivered_all(&ids) {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "cannot mark messages delivered; they will be sent again");
                return;
            }
        };
        for ((id, refused), done) in reports.into_iter().zip(done) {
            let channel = done.refused_message.as_ref().and_then(lane_of);
            match (refused, done.payment) {
                (None, Some(p)) => self.payment_sent(SentPayment {
                    payment_id: p.payment_id,
                    token: p.token,
                    target: p.counterparty.unwrap_or_default(),
                    amount: p.amount,
                    fee: p.fee,
                }),
                (None, None) => {}
                (Some(reason), payment) => {
                    self.refused(id, channel, &reason, batch);
                    if let Some(p) = payment {
                        // the partner has our signed proof: it can be paid on chain, so the
                        // payment is not "failed" (the user must not pay again)
                        let payment_id = p.payment_id;
                        if let Some((reply, _)) = self.payments.remove(&payment_id) {
                            let reason = reason.clone();
                            let _ =
                                reply.send(Err(NodeError::PaymentDisputed { payment_id, reason }));
                        }
                        let _ = self
                            .handle
                            .events
                            .send(NodeEvent::PaymentDisputed { payment_id, reason });
                    }
                }
            }
        }
    }

    /// A payment the partner acknowledged: the API caller and the event stream hear of it.
    fn payment_sent(&mut self, p: SentPayment) {
        if let Some((reply, secrethash)) = self.payments.remove(&p.payment_id) {
            let _ = reply.send(Ok(PaymentOutcome {
                payment_id: p.payment_id,
                target: p.target,
                amount: p.amount.to_string(),
                fee: p.fee.to_string(),
                secrethash,
            }));
        }
        let _ = self.handle.events.send(NodeEvent::PaymentSent {
            token: p.token,
            payment_id: p.payment_id,
            target: p.target,
            amount: p.amount.to_string(),
        });
    }

    fn payment_failed(&mut self, payment_id: PaymentId, reason: String) {
        if let Some((reply, _)) = self.payments.remove(&payment_id) {
            let _ =
                reply.send(Err(NodeError::PaymentFailed { payment_id, reason: reason.clone() }));
        }
        let _ = self.handle.events.send(NodeEvent::PaymentFailed { payment_id, reason });
    }

    /// The partner refused one of our messages for good. No honest node does (see
    /// docs/protocol.md): the channel needs attention, and when the message carried a balance
    /// proof, every later one of ours would be refused too, so the channel is closed with the
    /// partner's latest proof rather than left to queue.
    fn refused(
        &mut self,
        id: u64,
        channel: Option<(ChannelId, bool)>,
        reason: &str,
        batch: &mut Vec<Item>,
    ) {
        tracing::error!(id, ?channel, %reason, "the partner refused one of our messages for good");
        let Some((channel_id, fatal)) = channel else { return };
        let reason = reason.to_string();
        batch.push((StateChange::DeliveryRefused { channel_id, fatal, reason }, Waiter::None));
    }

    /// A settle timeout outside the range this node accepts ([`Config::min_settle_timeout`],
    /// [`Config::max_settle_timeout`]), as the error the API answers.
    fn accepted_settle_timeout(&self, settle_timeout: u64) -> Result<(), NodeError> {
        let config = &self.settings.protocol;
        if config.accepts_settle_timeout(settle_timeout) {
            return Ok(());
        }
        Err(NodeError::BadRequest(format!(
            "settle timeout {settle_timeout} is outside the range this node accepts \
             ({} to {} blocks: long enough to answer a close and claim its locks, short \
             enough not to lock deposits for too long)",
            config.min_settle_timeout, config.max_settle_timeout
        )))
    }

    fn delegate(&mut self) {
        if let Some(monitor) = &self.monitor {
            monitor.delegate(&self.state.domain, self.state.channels.values(), &self.signer);
        }
    }

    /// Answers queries at once; turns the rest into state changes.
    fn take(&mut self, input: Input, batch: &mut Vec<Item>) {
        match input {
            Input::Message { sender, message, respond } => {
                let waiter = match respond {
                    Some(respond) => {
                        // exactly once: a retransmission of a processed message gets its ack
                        if self.storage.is_acked(&sender, message.message_id()).unwrap_or(false) {
                            let _ = respond.send(Delivery::Ack);
                            return;
                        }
                        Waiter::Peer(respond)
                    }
                    None => Waiter::None,
                };
                batch.push((StateChange::Receive { sender, message }, waiter));
            }
            Input::Command(command) => self.command(command, batch),
            // handled together after the batch is read (one transaction for all of them)
            Input::Delivered(id, refused) => self.deliveries.push((id, refused)),
            Input::TxDone(id) => {
                if let Err(e) = self.storage.complete_transaction(id) {
                    tracing::error!(error = %e, id, "cannot mark a transaction done; it will be retried");
                }
            }
        }
    }

    fn command(&mut self, command: Command, batch: &mut Vec<Item>) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Channels(reply) => {
                let _ = reply.send(self.channels());
            }
            Command::PendingTransfers(reply) => {
                let pending = self
                    .state
                    .tasks
                    .iter()
                    .map(|(h, t)| PendingTransfer {
                        secrethash: h.0,
                        role: photon_state::task_role(t),
                        payment_id: match t {
                            Task::Initiator(t) => t.payment_id,
                            Task::Mediator(t) => t.payment_id,
                            Task::Target(t) => t.payment_id,
                        },
                    })
                    .collect();
                let _ = reply.send(pending);
            }
            Command::KnowSecret { secret, reply } => {
                batch.push((StateChange::KnowSecret { secret }, Waiter::Reply(reply)));
            }
            Command::Fees(reply) => {
                let _ = reply.send(self.state.fees.clone());
            }
            Command::SetFee { scope, policy, reply } => {
                batch.push((StateChange::SetFee { scope, policy }, Waiter::Reply(reply)));
            }
            Command::Payments(filter, reply) => {
                let _ = reply.send(self.storage.payments(&filter).map_err(Into::into));
            }
            Command::OpenChannel { token, partner, settle_timeout, deposit, via, reply } => {
                if partner == self.state.address {
                    let _ = reply.send(Err(NodeError::BadRequest(
                        "cannot open a channel with ourselves".into(),
                    )));
                    return;
                }
                let settle_timeout = settle_timeout.unwrap_or(self.settings.settle_timeout);
                if let Err(e) = self.accepted_settle_timeout(u64::from(settle_timeout)) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let calls = match deposit.filter(|d| *d > 0) {
                    Some(amount) => {
                        ChainCall::deposit(token, partner, amount, Some(settle_timeout), via)
                    }
                    None => vec![ChainCall::OpenChannel { token, partner, settle_timeout }],
                };
                let _ = self.txs.send(TxJob { calls, reply: Some(reply), pending: None });
            }
            Command::Deposit { token, partner, amount, via, reply } => {
                if amount == 0 {
                    let _ =
                        reply.send(Err(NodeError::BadRequest("deposit must be positive".into())));
                    return;
                }
                // a channel the partner opened with a window we do not accept: no deposit
                let timeout = self.state.channel_with(token, partner).map(|c| c.settle_timeout);
                if let Some(Err(e)) = timeout.map(|t| self.accepted_settle_timeout(t)) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let calls = ChainCall::deposit(token, partner, amount, None, via);
                let _ = self.txs.send(TxJob { calls, reply: Some(reply), pending: None });
            }
            Command::RegisterSecret { secret, reply } => {
                let call =
                    ChainCall::Protocol(Box::new(photon_state::ContractCall::RegisterSecret {
                        secret,
                    }));
                let _ =
                    self.txs.send(TxJob { calls: vec![call], reply: Some(reply), pending: None });
            }
            Command::Pay {
                token,
                target,
                amount,
                payment_id,
                secret,
                secrethash,
                fee_limit,
                routes,
                reply,
            } => {
                let lock = (secret, secrethash);
                match self.pay_change(token, target, amount, payment_id, lock, fee_limit, routes) {
                    Ok((change, payment_id, secrethash)) => {
                        self.payments.insert(payment_id, (reply, secrethash));
                        batch.push((change, Waiter::None));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Channel { token, partner, action, reply } => {
                let Some(channel) = self.state.channel_with(token, partner) else {
                    let _ = reply.send(Err(NodeError::NotFound(format!(
                        "no channel with {partner} for token {token}"
                    ))));
                    return;
                };
                let channel_id = channel.id;
                let change = match action {
                    ChannelAction::Close => StateChange::Close { channel_id },
                    ChannelAction::CooperativeSettle => {
                        StateChange::RequestCooperativeSettle { channel_id }
                    }
                    ChannelAction::Withdraw(amount) => {
                        StateChange::RequestWithdraw { channel_id, amount }
                    }
                };
                // answered once the state machine accepted it and it is durable
                batch.push((change, Waiter::Reply(reply)));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn pay_change(
        &mut self,
        token: Address,
        target: Address,
        amount: TokenAmount,
        payment_id: Option<PaymentId>,
        (secret, secrethash): (Option<Secret>, Option<B256>),
        fee_limit: TokenAmount,
        routes: Option<Vec<Route>>,
    ) -> Result<(StateChange, PaymentId, Option<B256>), NodeError> {
        if let (Some(s), Some(h)) = (secret, secrethash) {
            if s.hash().0 != h {
                return Err(NodeError::BadRequest(
                    "the secret does not hash to secret_hash".into(),
                ));
            }
        }
        if amount == 0 {
            return Err(NodeError::BadRequest("amount must be positive".into()));
        }
        if target == self.state.address {
            return Err(NodeError::BadRequest("cannot pay ourselves".into()));
        }
        self.counter += 1;
        let payment_id = payment_id.unwrap_or_else(|| {
            let nanos =
                SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
            nanos ^ self.counter.rotate_left(48)
        });
        if self.payments.contains_key(&payment_id) {
            return Err(NodeError::BadRequest(format!(
                "payment {payment_id} is already in flight"
            )));
        }
        let direct = self.state.channel_with(token, target).filter(|c| {
            c.usable()
                && c.our_capacity() >= amount
                && routes.is_none()
                && secret.is_none()
                && secrethash.is_none()
        });
        if let Some(channel) = direct {
            return Ok((
                StateChange::SendDirect { channel_id: channel.id, payment_id, amount },
                payment_id,
                None,
            ));
        }
        let secret = match (secret, secrethash) {
            (Some(s), _) => Some(s),
            (None, Some(_)) => None,
            (None, None) => Some(self.new_secret(payment_id)),
        };
        let secrethash =
            secrethash.map(photon_primitives::SecretHash).or_else(|| secret.map(|s| s.hash()));
        let secrethash = secrethash.ok_or_else(|| NodeError::BadRequest("no secret".into()))?;
        // explicit routes carry their fees; graph routes assume none (mediators that charge
        // dispose, and the next route is tried)
        let routes: Vec<Route> = routes.unwrap_or_else(|| {
            crate::graph::routes(&self.state.network, token, self.state.address, target, 3, 6)
                .into_iter()
                .map(|path| Route { path, fee: 0 })
                .collect()
        });
        if routes.is_empty() {
            return Err(NodeError::NotFound(format!("no route to {target} for token {token}")));
        }
        Ok((
            StateChange::SendMediated {
                token,
                payment_id,
                target,
                amount,
                secret,
                secrethash,
                routes,
                fee_limit,
            },
            payment_id,
            Some(secrethash.0),
        ))
    }

    /// A secret only we can know: derived from our key, the payment and the time.
    fn new_secret(&self, payment_id: PaymentId) -> Secret {
        let mut input = self.signer.to_bytes().to_vec();
        input.extend_from_slice(b"photon-secret");
        input.extend_from_slice(&payment_id.to_be_bytes());
        input.extend_from_slice(&self.counter.to_be_bytes());
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        input.extend_from_slice(&nanos.to_be_bytes());
        Secret(keccak256(input))
    }

    /// Applies a batch, makes it durable, then carries out its events.
    fn apply_batch(&mut self, batch: Vec<Item>) -> Result<(), NodeError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut accepted: Vec<(StateChange, Vec<Event>)> = Vec::with_capacity(batch.len());
        let mut replies: Vec<Reply<()>> = Vec::new();
        let mut acks: Vec<oneshot::Sender<Delivery>> = Vec::new();
        for (change, waiter) in batch {
            let payment = match &change {
                StateChange::SendDirect { payment_id, .. }
                | StateChange::SendMediated { payment_id, .. } => Some(*payment_id),
                _ => None,
            };
            match transition(&mut self.state, change.clone(), &self.signer) {
                Ok(events) => {
                    accepted.push((change, events));
                    match waiter {
                        Waiter::Reply(reply) => replies.push(reply),
                        Waiter::Peer(respond) => acks.push(respond),
                        Waiter::None => {}
                    }
                }
                Err(rejection) => {
                    if let Waiter::Peer(respond) = waiter {
                        let _ = respond.send(refusal(&rejection));
                    } else if let Waiter::Reply(reply) = waiter {
                        let _ = reply.send(Err(NodeError::Rejected(rejection)));
                    } else if let Some((reply, _)) =
                        payment.and_then(|id| self.payments.remove(&id))
                    {
                        let _ = reply.send(Err(NodeError::Rejected(rejection)));
                    } else {
                        tracing::debug!(%rejection, "input refused");
                    }
                }
            }
        }
        if accepted.is_empty() {
            return Ok(());
        }
        let at = now_secs();
        let records: Vec<Record<'_>> =
            accepted.iter().map(|(c, e)| Record { change: c, events: e, at }).collect();
        let (ids, pending, outbox) = self.storage.append_all(&records)?;
        for (change, _) in &accepted {
            if let StateChange::Receive { message, .. } = change {
                crash_point(&format!("after_commit:{:?}", message.kind()));
            }
        }
        let mut pending = pending.into_iter();
        let mut outbox = outbox.into_iter();
        self.last_change = ids.last().copied().unwrap_or(self.last_change);
        self.since_snapshot += ids.len() as u64;
        if self.since_snapshot >= self.settings.snapshot_every {
            self.storage.save_snapshot(self.last_change, &self.state)?;
            self.since_snapshot = 0;
        }
        for reply in replies {
            let _ = reply.send(Ok(()));
        }
        for respond in acks {
            let _ = respond.send(Delivery::Ack);
        }
        for (change, events) in accepted {
            if let StateChange::Block(number) = change {
                let _ = self.handle.events.send(NodeEvent::Block { number });
            }
            self.last_sent = false; // per state change, as the history links them
            for event in events {
                let tag = match &event {
                    Event::Transact(_) => pending.next(),
                    Event::Send { message, .. } if !matches!(message, Message::Processed(_)) => {
                        outbox.next()
                    }
                    _ => None,
                };
                self.carry_out(event, tag);
            }
        }
        Ok(())
    }

    /// Carries out one event; `tag` is its storage id (pending transaction or outbox entry).
    fn carry_out(&mut self, event: Event, tag: Option<u64>) {
        let after_send = std::mem::replace(
            &mut self.last_sent,
            matches!(&event, Event::Send { message, .. } if !matches!(message, photon_primitives::messages::Message::Processed(_)))
                && tag.is_some(),
        );
        match event {
            Event::Send { recipient, message } => {
                let kind = message.kind();
                crash_point(&format!("before_send:{kind:?}"));
                self.transport.send(self.state.address, recipient, message, tag);
                crash_point(&format!("after_send:{kind:?}"));
            }
            Event::Transact(call) => {
                let _ = self.txs.send(TxJob {
                    calls: vec![ChainCall::Protocol(Box::new(call))],
                    reply: None,
                    pending: tag,
                });
            }
            Event::PaymentSent { payment_id, token, target, amount, fee } => {
                // succeeded once the partner acknowledged the message that completes it (the
                // direct transfer, or the unlock), carried out right before: reported then
                // (`Input::Delivered`), from the history that links the two
                if !after_send {
                    self.payment_sent(SentPayment { payment_id, token, target, amount, fee });
                }
            }
            Event::PaymentFailed { payment_id, reason, .. } => {
                let reason = match reason {
                    PaymentFailure::NoRoute => "no route could carry the payment",
                    PaymentFailure::LockExpired => {
                        "the lock expired before the secret was revealed"
                    }
                };
                self.payment_failed(payment_id, reason.into());
            }
            Event::PaymentReceived { payment_id, token, initiator, amount } => {
                let _ = self.handle.events.send(NodeEvent::PaymentReceived {
                    token,
                    payment_id,
                    initiator,
                    amount: amount.to_string(),
                });
            }
            Event::PaymentMediated { .. } => {}
        }
    }

    fn status(&self) -> Status {
        Status {
            address: self.state.address,
            chain_id: self.settings.deployment.chain_id,
            tokens_network: self.settings.deployment.tokens_network,
            block: self.state.block,
            chain_head: self.chain.head,
            chain_reachable: self.chain.online,
            syncing: !self.chain.in_sync
                || self.chain.head.is_none_or(|h| {
                    h.saturating_sub(self.settings.confirmations) > self.state.block
                }),
            peers: self.transport.peers(self.state.address),
            p2p_addresses: self.settings.p2p_addresses.clone(),
            channels: self.state.channels.len(),
            pending_transfers: self.state.tasks.len(),
            version: env!("CARGO_PKG_VERSION"),
        }
    }

    fn channels(&self) -> Vec<ChannelView> {
        self.state
            .channels
            .values()
            .map(|c| ChannelView {
                channel_id: c.id,
                token: c.token,
                partner: c.partner,
                state: match c.status {
                    ChannelStatus::Open if c.withdraw.is_some() => "withdrawing",
                    ChannelStatus::Open if c.settle.is_some() => "settling",
                    ChannelStatus::Open => "open",
                    ChannelStatus::Closing => "closing",
                    ChannelStatus::Closed { .. } => "closed",
                },
                balance: c.our_balance().to_string(),
                partner_balance: c.partner_balance().to_string(),
                deposit: c.ours.deposit.to_string(),
                partner_deposit: c.theirs.deposit.to_string(),
                locked: c.ours.locked().to_string(),
                partner_locked: c.theirs.locked().to_string(),
                settle_timeout: c.settle_timeout,
                epoch: c.epoch,
                attention: c.attention.clone(),
            })
            .collect()
    }
}

/// Longest a poll of the chain may take; a poll still waiting is given up (that changes
/// nothing) and tried again.
const POLL_TIMEOUT: Duration = Duration::from_secs(30);

/// Polls the chain every `interval` and reports to the node, until the node stops. A poll
/// may take long (an endpoint that drops packets); the node goes on meanwhile.
async fn follow(
    mut follower: ChainFollower<DynProvider>,
    interval: Duration,
    reports: mpsc::Sender<ChainReport>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let polled = tokio::select! {
            _ = stop.changed() => return,
            _ = ticker.tick() => tokio::select! {
                _ = stop.changed() => return,
                polled = tokio::time::timeout(POLL_TIMEOUT, follower.poll()) => polled,
            },
        };
        let (changes, view) = match polled {
            Ok(changes) => {
                let view = ChainView {
                    head: follower.head(),
                    online: follower.online(),
                    in_sync: follower.in_sync(),
                };
                (changes.map_err(|e| e.to_string()), view)
            }
            // an endpoint that takes connections and never answers is as good as gone
            Err(_) => (
                Err(format!("no answer from the RPC endpoint in {POLL_TIMEOUT:?}")),
                ChainView { head: follower.head(), online: false, in_sync: false },
            ),
        };
        if reports.send(ChainReport { changes, view }).await.is_err() {
            return; // the node stopped
        }
    }
}

/// The transaction manager, made once the chain answers (it needs the account's nonce, and
/// checks the chain is the deployment's).
struct Transactions {
    provider: DynProvider,
    from: Address,
    deployment: photon_chain::Deployment,
    manager: Option<TxManager>,
}

impl Transactions {
    fn new(provider: DynProvider, from: Address, deployment: photon_chain::Deployment) -> Self {
        Self { provider, from, deployment, manager: None }
    }

    async fn get(&mut self) -> Result<&mut TxManager, photon_chain::ChainError> {
        let manager = match self.manager.take() {
            Some(manager) => manager,
            None => {
                TxManager::new(self.provider.clone(), self.from, self.deployment.clone()).await?
            }
        };
        Ok(self.manager.insert(manager))
    }
}

/// Sends the calls in order, each mined before the next. Protocol transactions (`retry`) are
/// retried through RPC outages (and an endpoint on another chain) until mined or refused for
/// good; a refusal on a retry means an earlier attempt already landed.
async fn run_job(
    txs: &mut Transactions,
    calls: &[ChainCall],
    retry: bool,
    stopping: &mut watch::Receiver<bool>,
) -> Result<TxHash, NodeError> {
    let mut last = Err(NodeError::BadRequest("no transaction to send".into()));
    for call in calls {
        let mut delay = Duration::from_millis(200);
        last = loop {
            let attempt = async {
                let txs = txs.get().await?;
                crash_point(&format!("before_tx:{}", call_name(call)));
                let pending = txs.send(call).await?;
                crash_point(&format!("after_tx:{}", call_name(call)));
                txs.wait(pending.hash, Duration::from_millis(100), Duration::from_secs(600))
                    .await?;
                Ok::<_, photon_chain::ChainError>(pending.hash)
            }
            .await;
            match attempt {
                Ok(hash) => break Ok(hash),
                // the endpoint is away or serves another chain: the protocol's transactions
                // wait for the right one
                Err(e @ (ChainError::Rpc(_) | ChainError::WrongChain { .. })) if retry => {
                    if *stopping.borrow() {
                        break Err(NodeError::Stopped);
                    }
                    tracing::warn!(error = %e, "the chain cannot take it now; retrying the transaction");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stopping.changed() => break Err(NodeError::Stopped),
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(e) => break Err(NodeError::from(e)),
            }
        };
        if last.is_err() {
            break;
        }
    }
    last
}
