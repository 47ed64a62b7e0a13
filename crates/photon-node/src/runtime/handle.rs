//! The command protocol: what the API (and anything else) asks the node, and the handle
//! that asks it.

use super::*;

pub(super) type Reply<T> = oneshot::Sender<Result<T, NodeError>>;

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
    /// What waits: messages not yet acknowledged, transactions not yet mined.
    Backlog(Reply<(u64, u64)>),
    /// Open a channel (and deposit).
    OpenChannel {
        /// token
        token: Address,
        /// partner
        partner: Address,
        /// settle timeout (None: the node's default)
        settle_timeout: Option<SettleTimeout>,
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
        /// what to pay, how
        request: PayRequest,
        /// answer when done
        reply: Reply<PaymentOutcome>,
        /// answer once the payment is under way (durable), if anyone asks
        started: Option<Reply<()>>,
    },
    /// The tokens the node follows (its channels', the network's), with how many channels of
    /// ours each has.
    Tokens(oneshot::Sender<Vec<(Address, u32)>>),
    /// Every open channel of the network the node knows of.
    Network(oneshot::Sender<Vec<photon_api::NetworkChannel>>),
    /// Whether the node reaches a peer now, and how.
    Peer(Address, oneshot::Sender<photon_api::PeerStatus>),
    /// Where a payment of ours stands.
    PaymentStatus {
        /// the payment
        payment_id: PaymentId,
        /// its status
        reply: Reply<photon_api::PaymentStatus>,
    },
    /// Cancel a payment of ours whose secret went to no one.
    CancelPayment {
        /// the payment
        payment_id: PaymentId,
        /// answer once cancelled
        reply: Reply<()>,
    },
    /// The routes a payment would take now: the service's answer (if any) as the node
    /// filters it, then the node's own.
    Routes {
        /// token
        token: Address,
        /// target
        target: Address,
        /// amount the target receives
        amount: TokenAmount,
        /// what the pathfinding service answered, if it has one and it answered
        found: Option<Vec<photon_pfs::api::PathView>>,
        /// the routes, each with where it comes from
        reply: oneshot::Sender<Vec<(Route, RouteSource)>>,
    },
    /// Accept payments locked with this secret's hash by revealing it at once (swaps).
    KnowSecret {
        /// the secret
        secret: Secret,
        /// answer once in force
        reply: Reply<()>,
    },
    /// Make or take a token swap.
    StartSwap {
        /// the terms
        swap: SwapRequest,
        /// answer with the swap's secret hash once it is under way (durable)
        reply: Reply<B256>,
    },
    /// Our swaps.
    Swaps(oneshot::Sender<Vec<photon_api::SwapView>>),
    /// The secret of a hash, if this node knows it.
    Secret(B256, oneshot::Sender<Option<B256>>),
    /// Cancel a swap whose secret is not out.
    CancelSwap {
        /// the swap
        secrethash: B256,
        /// answer once cancelled
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

/// A payment to make.
#[derive(Debug, Clone)]
pub struct PayRequest {
    /// token
    pub token: Address,
    /// target
    pub target: Address,
    /// amount the target receives
    pub amount: TokenAmount,
    /// payment id (None: chosen)
    pub payment_id: Option<PaymentId>,
    /// secret (None: chosen, unless `secrethash` is given)
    pub secret: Option<Secret>,
    /// pay against this hash without knowing the secret (swaps: the target holds it)
    pub secrethash: Option<B256>,
    /// most fees
    pub fee_limit: TokenAmount,
    /// explicit routes with their total fees (None: found by the node)
    pub routes: Option<Vec<Route>>,
    /// what the pathfinding service answered (None: not asked yet; the node asks it when it
    /// has one and puts the payment back in its inbox with the answer)
    pub found: Option<Vec<photon_pfs::api::PathView>>,
    /// what the target receives with the payment
    pub data: Vec<u8>,
}

/// Where a route comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteSource {
    /// The pathfinding service.
    Pfs,
    /// The node's own graph.
    Local,
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
    pub(super) inbox: mpsc::Sender<Input>,
    pub(super) events: broadcast::Sender<NodeEvent>,
    pub(super) shutdown: watch::Sender<bool>,
    pub(super) chain: watch::Sender<ChainControl>,
    /// The pathfinding service, if the node has one.
    pub pfs: Option<photon_pfs::PfsClient>,
    /// Counters for `/metrics` ([`crate::metrics`]).
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// The tokens' symbols and decimals.
    pub tokens: std::sync::Arc<crate::tokens::TokenBook>,
    /// The node's recent transactions.
    pub transactions: std::sync::Arc<super::TxJournal>,
}

impl NodeHandle {
    /// Sends a command built around a fresh reply channel and waits for the answer.
    pub async fn ask<T>(
        &self, make: impl FnOnce(oneshot::Sender<T>) -> Command,
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

    /// Stops polling the chain (an app in the background, a device offline); payments in
    /// open channels go on, chain events wait.
    pub fn pause_chain(&self) {
        self.chain.send_modify(|c| c.paused = true);
    }

    /// Polls the chain at once (and on schedule from then on, if it was paused): a quick
    /// catch-up after a resume.
    pub fn poll_chain_now(&self) {
        self.chain.send_modify(|c| {
            c.paused = false;
            c.wakes = c.wakes.wrapping_add(1);
        });
    }

    /// Resolves once the node was asked to stop.
    pub async fn stopping(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Asks the node to stop after the current batch.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// A swap the API asked for, checked (see [`Command::StartSwap`]).
#[derive(Debug, Clone)]
pub struct SwapRequest {
    /// our side
    pub role: photon_state::SwapRole,
    /// the other party
    pub counterparty: Address,
    /// what we pay
    pub send: photon_state::SwapLeg,
    /// what we are paid
    pub receive: photon_state::SwapLeg,
    /// taker: the maker's secret hash
    pub secrethash: Option<B256>,
    /// taker: blocks to wait for the maker's lock
    pub expiry: Option<u64>,
    /// most fee for our side
    pub fee_limit: TokenAmount,
}
