//! The Photon node embedded in an app: one object, [`PhotonNode`], that a wallet starts and
//! stops, calls with typed arguments, and tells about the phone's life (network changes,
//! background, resume); events reach the app through an [`EventListener`] it implements.
//!
//! The bindings for Kotlin, Swift and Python are generated from the built library by UniFFI
//! (`uniffi-bindgen generate --library …`, see `docs/mobile.md`); no REST server runs unless
//! the config asks for one.
//!
//! ```text
//!  app (Kotlin / Swift / Python)
//!    │ calls (sync: queries; async: chain and payments)      ▲ EventListener.on_event
//!    ▼                                                        │ (its own thread)
//!  PhotonNode ── tokio runtime ── photon-node (state, storage, chain) ── photon-transport
//! ```

use photon_node::launch::{launch, LaunchConfig, RunningNode};
use photon_node::runtime::{ChannelAction, NodeHandle, NodeSettings};
use photon_node::NodeError;
use photon_primitives::{LocalSigner, Secret, SettleTimeout, Signer, TokenAmount};
use photon_transport::P2pTransport;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod error;
mod types;

pub use error::PhotonError;
pub use types::*;

uniffi::setup_scaffolding!();

/// What the app implements to hear from the node. Called on a thread of the library's own,
/// one event at a time, in order; a slow listener delays later events, never the node.
/// `stop` (and dropping the node) waits for the event being delivered: a listener must not
/// wait, inside `on_event`, for the thread that stops the node (e.g. a synchronous dispatch to
/// the UI thread while the UI thread calls `stop`); hand the event over asynchronously.
#[uniffi::export(with_foreign)]
pub trait EventListener: Send + Sync {
    /// Something happened.
    fn on_event(&self, event: NodeEvent);
}

/// The listener the app set, shared with the thread that calls it.
type Listener = Arc<Mutex<Option<Arc<dyn EventListener>>>>;

/// A running node, embedded.
#[derive(uniffi::Object)]
pub struct PhotonNode {
    runtime: Option<tokio::runtime::Runtime>,
    handle: NodeHandle,
    transport: P2pTransport,
    running: Mutex<Option<RunningNode>>,
    listener: Listener,
    events: Mutex<Option<Dispatch>>,
    data_dir: String,
    api_addr: Option<String>,
}

impl std::fmt::Debug for PhotonNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhotonNode").field("address", &self.handle.address).finish()
    }
}

/// The key a config names.
fn signer(key: &KeySource) -> Result<LocalSigner, PhotonError> {
    match key {
        KeySource::Keystore { json, password } => {
            Ok(photon_node::keystore::decrypt(json, password)?)
        }
        KeySource::Raw { private_key } => {
            let bytes: &[u8; 32] =
                private_key.as_slice().try_into().map_err(|_| PhotonError::BadKey {
                    message: format!("a private key is 32 bytes, not {}", private_key.len()),
                })?;
            LocalSigner::from_bytes(bytes)
                .map_err(|e| PhotonError::BadKey { message: format!("not a private key: {e}") })
        }
    }
}

/// The node's launch configuration from the app's, checked.
fn launch_config(config: &NodeConfig) -> Result<LaunchConfig, PhotonError> {
    let key = signer(&config.key)?;
    let rpc_url: reqwest::Url = config
        .rpc_url
        .parse()
        .map_err(|e| PhotonError::bad(format!("rpc_url `{}`: {e}", config.rpc_url)))?;
    let deployment: photon_chain::Deployment = serde_json::from_str(&config.deployment_json)
        .map_err(|e| PhotonError::bad(format!("deployment_json: {e}")))?;
    let multiaddrs = |list: &[String], what: &str| {
        list.iter()
            .map(|a| a.parse().map_err(|e| PhotonError::bad(format!("{what} `{a}`: {e}"))))
            .collect::<Result<Vec<photon_transport::Multiaddr>, _>>()
    };
    let mut listen = multiaddrs(&config.p2p_listen, "p2p_listen")?;
    if listen.is_empty() {
        listen = photon_node::launch::default_p2p_listen();
    }
    let bootstrap = multiaddrs(&config.bootstrap, "bootstrap")?;
    let url = |text: &Option<String>, what: &str| {
        text.as_deref()
            .map(|u| u.parse().map_err(|e| PhotonError::bad(format!("{what} `{u}`: {e}"))))
            .transpose()
    };
    let protocol = photon_state::Config::default();
    let settle_timeout = SettleTimeout(config.settle_timeout.unwrap_or(500));
    if !protocol.accepts_settle_timeout(settle_timeout) {
        return Err(PhotonError::bad(format!(
            "settle_timeout {settle_timeout} is outside the accepted range {} to {}",
            protocol.min_settle_timeout, protocol.max_settle_timeout
        )));
    }
    if config.poll_ms == 0 || config.payment_timeout_secs == 0 {
        return Err(PhotonError::bad("poll_ms and payment_timeout_secs must be positive"));
    }
    let api = match &config.api_addr {
        Some(a) => Some((
            a.parse().map_err(|e| PhotonError::bad(format!("api_addr `{a}`: {e}")))?,
            config.api_token.clone(),
        )),
        None => None,
    };
    let data_dir = photon_node::launch::node_dir(
        std::path::Path::new(&config.data_dir),
        key.address(),
        deployment.chain_id,
    );
    let settings = NodeSettings {
        deployment,
        confirmations: config.confirmations,
        poll_interval: Duration::from_millis(config.poll_ms),
        snapshot_every: 1_000,
        history_retention: NodeSettings::retention_days(config.history_retention_days),
        protocol,
        payment_timeout: Duration::from_secs(config.payment_timeout_secs),
        settle_timeout,
        p2p_addresses: Vec::new(),
        monitor: url(&config.monitor_url, "monitor_url")?,
        pfs: url(&config.pfs_url, "pfs_url")?,
        max_gas_price: None,
    };
    let p2p = photon_transport::P2pConfig {
        listen,
        bootstrap,
        request_timeout: Duration::from_secs(10),
        ..photon_transport::P2pConfig::default()
    };
    Ok(LaunchConfig {
        key,
        rpc_url,
        data_dir,
        settings,
        p2p,
        api,
        ui: false,
        metrics: None,
        webhook: None,
    })
}

/// The event forwarding of a node: a task on the node's runtime feeding a thread of its own
/// that calls the app's listener.
struct Dispatch {
    forward: tokio::task::JoinHandle<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dispatch {
    /// Ends the forwarding and waits for the thread to deliver what it holds and let go of
    /// the listener: after this, the app's listener is never called (nor released) by the
    /// node again, so an app (or an interpreter) may exit.
    fn end(self) {
        self.forward.abort();
        if let Some(thread) = self.thread {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Calls the app's listener with every event of `handle`, on a thread of its own.
fn dispatch(
    runtime: &tokio::runtime::Runtime, handle: &NodeHandle, listener: Listener,
) -> Dispatch {
    let (tx, rx) = std::sync::mpsc::channel::<NodeEvent>();
    let spawned = std::thread::Builder::new().name("photon-events".into()).spawn(move || {
        while let Ok(event) = rx.recv() {
            let current = listener.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(listener) = current {
                listener.on_event(event);
            }
        }
    });
    let thread = match spawned {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the event thread; the app gets no events");
            None
        }
    };
    let mut events = handle.subscribe();
    let forward = runtime.spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(event) => {
                    if tx.send(event.into()).is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(n)) => tracing::warn!(n, "the app missed node events"),
                Err(RecvError::Closed) => return,
            }
        }
    });
    Dispatch { forward, thread }
}

impl PhotonNode {
    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the runtime lives as long as the node object")
    }

    /// Runs a call of the node to its end on the node's runtime, from an app's thread.
    fn block<T>(&self, call: impl Future<Output = Result<T, NodeError>>) -> Result<T, PhotonError> {
        self.runtime().block_on(call).map_err(Into::into)
    }

    /// Runs a call on the node's runtime and awaits it from the app's executor.
    async fn spawn<T: Send + 'static>(
        &self, call: impl Future<Output = Result<T, NodeError>> + Send + 'static,
    ) -> Result<T, PhotonError> {
        match self.runtime().spawn(call).await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err(PhotonError::Stopped),
        }
    }

    /// Whether the node runs (not stopped): life-cycle calls on a stopped node do nothing.
    fn live(&self) -> bool {
        self.running.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    fn channel_action(
        &self, token: &str, partner: &str, action: ChannelAction,
    ) -> Result<impl Future<Output = Result<(), NodeError>> + Send + 'static, PhotonError> {
        let (token, partner) = (address(token, "token")?, address(partner, "partner")?);
        let handle = self.handle.clone();
        Ok(async move { handle.channel_action(token, partner, action).await })
    }
}

#[uniffi::export]
impl PhotonNode {
    /// Starts a node: opens (or creates) its database under `config.data_dir`, restores its
    /// state, connects to peers and the chain. A node with stored state starts without its
    /// chain (payments in open channels go on); a new one must reach it once.
    #[uniffi::constructor]
    pub fn start(
        config: NodeConfig, listener: Option<Arc<dyn EventListener>>,
    ) -> Result<Arc<Self>, PhotonError> {
        let launch_config = launch_config(&config)?;
        let data_dir = launch_config.data_dir.display().to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("photon")
            .enable_all()
            .build()
            .map_err(|e| PhotonError::bad(format!("starting the node's threads: {e}")))?;
        let running = runtime.block_on(launch(launch_config))?;
        let handle = running.handle.clone();
        let transport = running.transport.clone();
        let api_addr = running.api_addr.map(|a| a.to_string());
        let listener: Listener = Arc::new(Mutex::new(listener));
        let events = dispatch(&runtime, &handle, listener.clone());
        Ok(Arc::new(Self {
            runtime: Some(runtime),
            handle,
            transport,
            running: Mutex::new(Some(running)),
            listener,
            events: Mutex::new(Some(events)),
            data_dir,
            api_addr,
        }))
    }

    /// Stops the node: its current batch is made durable, then it ends; every later call
    /// fails with `Stopped`. Start a new node on the same data directory to go on.
    pub fn stop(&self) -> Result<(), PhotonError> {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(running) = running else { return Ok(()) };
        let stopped = self.runtime().block_on(running.stop());
        if let Some(events) = self.events.lock().unwrap_or_else(|e| e.into_inner()).take() {
            events.end();
        }
        stopped.map_err(Into::into)
    }

    /// Sets (or, with none, removes) the event listener.
    pub fn set_listener(&self, listener: Option<Arc<dyn EventListener>>) {
        *self.listener.lock().unwrap_or_else(|e| e.into_inner()) = listener;
    }

    /// Our address.
    pub fn address(&self) -> String {
        hex(self.handle.address)
    }

    /// The node's own data directory.
    pub fn data_dir(&self) -> String {
        self.data_dir.clone()
    }

    /// Where the REST API listens, if it was asked for.
    pub fn api_addr(&self) -> Option<String> {
        self.api_addr.clone()
    }

    /// The node's status.
    pub fn status(&self) -> Result<NodeStatus, PhotonError> {
        self.block(self.handle.status()).map(Into::into)
    }

    /// The tokens the node follows: those of its channels and of the network's it knows of.
    pub fn tokens(&self) -> Result<Vec<String>, PhotonError> {
        Ok(self.block(self.handle.tokens())?.into_iter().map(|t| hex(t.address)).collect())
    }

    /// Our channels (not settled).
    pub fn channels(&self) -> Result<Vec<Channel>, PhotonError> {
        Ok(self.block(self.handle.channels())?.into_iter().map(Into::into).collect())
    }

    /// Payments in flight.
    pub fn pending_transfers(&self) -> Result<Vec<PendingTransfer>, PhotonError> {
        Ok(self.block(self.handle.pending_transfers())?.into_iter().map(Into::into).collect())
    }

    /// The payment history, newest first.
    pub fn payments(&self, query: PaymentQuery) -> Result<Vec<Payment>, PhotonError> {
        let query = query.try_into()?;
        Ok(self.block(self.handle.payments(query))?.into_iter().map(Into::into).collect())
    }

    /// The default mediation fee policy.
    pub fn fees(&self) -> Result<FeePolicy, PhotonError> {
        Ok((&self.block(self.handle.fees())?.default).into())
    }

    /// Sets the mediation fee policy for every payment (no token), a token's, or one
    /// channel's (token and partner).
    pub fn set_fee(
        &self, token: Option<String>, partner: Option<String>, policy: FeePolicy,
    ) -> Result<(), PhotonError> {
        let token = token.as_deref().map(|t| address(t, "token")).transpose()?;
        let partner = partner.as_deref().map(|p| address(p, "partner")).transpose()?;
        let policy = photon_state::FeePolicy {
            flat: TokenAmount(amount(&policy.flat, "flat")?.0),
            proportional_ppm: policy.proportional_ppm,
            imbalance_ppm: policy.imbalance_ppm,
        };
        self.block(self.handle.set_fee(token, partner, policy))
    }

    /// Opens a channel with `partner` in `token`, with a first deposit if given; answers
    /// the transaction hash once mined.
    pub async fn open_channel(
        &self, token: String, partner: String, deposit: Option<String>, settle_timeout: Option<u32>,
    ) -> Result<String, PhotonError> {
        let request = photon_api::OpenChannel {
            token: address(&token, "token")?,
            partner: address(&partner, "partner")?,
            settle_timeout,
            deposit: deposit.as_deref().map(|d| amount(d, "deposit")).transpose()?,
            via: photon_api::Via::Approve,
        };
        let handle = self.handle.clone();
        self.spawn(async move { handle.open_channel(request).await }).await.map(hex)
    }

    /// Deposits `amount` more; answers the transaction hash once mined.
    pub async fn deposit(
        &self, token: String, partner: String, amount: String, via: DepositVia,
    ) -> Result<String, PhotonError> {
        let (token, partner) = (address(&token, "token")?, address(&partner, "partner")?);
        let amount = types::amount(&amount, "amount")?;
        let handle = self.handle.clone();
        self.spawn(async move { handle.deposit(token, partner, amount, via.into()).await })
            .await
            .map(hex)
    }

    /// Withdraws `amount` from the channel (the partner co-signs; the chain pays out).
    pub async fn withdraw(
        &self, token: String, partner: String, amount: String,
    ) -> Result<(), PhotonError> {
        let amount = TokenAmount(types::amount(&amount, "amount")?.0);
        let call = self.channel_action(&token, &partner, ChannelAction::Withdraw(amount))?;
        self.spawn(call).await
    }

    /// Closes the channel on chain (settled after its settle window).
    pub async fn close(&self, token: String, partner: String) -> Result<(), PhotonError> {
        let call = self.channel_action(&token, &partner, ChannelAction::Close)?;
        self.spawn(call).await
    }

    /// Settles the channel cooperatively (the partner co-signs; one transaction).
    pub async fn cooperative_settle(
        &self, token: String, partner: String,
    ) -> Result<(), PhotonError> {
        let call = self.channel_action(&token, &partner, ChannelAction::CooperativeSettle)?;
        self.spawn(call).await
    }

    /// Pays `amount` of `token` to `target`, directly or through mediators, paying at most
    /// `fee_limit` in fees (default: a small share of the amount), with `data` for the target
    /// (at most 256 bytes, which mediators can read); answers once the payment is done or
    /// failed, or `payment_timeout_secs` passed (`Timeout`: it may still finish).
    pub async fn pay(
        &self, token: String, target: String, amount: String, fee_limit: Option<String>,
        payment_id: Option<u64>, data: Option<Vec<u8>>,
    ) -> Result<PaymentResult, PhotonError> {
        let (token, target) = (address(&token, "token")?, address(&target, "target")?);
        let request = photon_api::Pay {
            amount: types::amount(&amount, "amount")?,
            payment_id,
            secret: None,
            secret_hash: None,
            fee_limit: fee_limit.as_deref().map(|f| types::amount(f, "fee_limit")).transpose()?,
            routes: None,
            wait: None,
            data: data.map(photon_api::PaymentData),
        };
        let handle = self.handle.clone();
        self.spawn(async move { handle.pay(token, target, request).await }).await.map(Into::into)
    }

    /// Registers `secret` (`0x…`, 32 bytes) on chain; answers the transaction hash.
    pub async fn register_secret(&self, secret: String) -> Result<String, PhotonError> {
        let secret: Secret = photon_node::calls::secret(bytes32(&secret, "secret")?)?;
        let handle = self.handle.clone();
        self.spawn(async move { handle.register_secret(secret).await }).await.map(hex)
    }

    /// The device moved to another network (Wi-Fi to cellular, a new Wi-Fi): connections
    /// are made again over it and the chain is polled at once.
    pub fn on_network_changed(&self, kind: NetworkKind) {
        if !self.live() {
            return;
        }
        tracing::info!(?kind, "network changed");
        self.transport.network_changed();
        self.handle.poll_chain_now();
    }

    /// The device has no network: sockets are closed and nothing is tried until
    /// [`PhotonNode::on_resume`] or [`PhotonNode::on_network_changed`]; payments asked for
    /// meanwhile wait, in order.
    pub fn on_network_down(&self) {
        self.transport.offline();
        self.handle.pause_chain();
    }

    /// The app goes to the background: sockets are closed and the chain is not polled; the
    /// state stays, in memory and on disk.
    pub fn enter_background(&self) {
        self.transport.offline();
        self.handle.pause_chain();
    }

    /// The app is in the foreground again (or the network is back): listens and connects
    /// again, sends what waits and catches up with the chain at once.
    pub fn on_resume(&self) {
        if !self.live() {
            return; // a stopped node stays offline: its ports are the next node's
        }
        self.transport.online();
        self.handle.poll_chain_now();
    }
}

impl Drop for PhotonNode {
    fn drop(&mut self) {
        if let Some(running) = self.running.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            running.handle.shutdown();
            running.transport.offline(); // its ports free for a node started next
        }
        if let Some(events) = self.events.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            events.end();
        }
        if let Some(runtime) = self.runtime.take() {
            // the app may drop the node on any thread, even one of the runtime's own
            runtime.shutdown_background();
        }
    }
}

/// The stable code of an error, as the REST API spells it (`bad_request`, …).
#[uniffi::export]
pub fn error_code(error: &PhotonError) -> String {
    error.code().to_string()
}
