//! `photon deploy`, `photon run`, `photon monitor` and `photon pfs`: the long-running processes, their
//! arguments, and the config file's precedence (flags and environment over the file over
//! defaults).

use super::account::{hex_address, load_key, KeyArgs, KeystoreArgs};
use super::default_home;
use alloy::network::EthereumWallet;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use photon_chain::{DeployParams, Deployment};
use photon_node::launch::{launch, node_dir, LaunchConfig, LaunchError};
use photon_node::runtime::NodeSettings;
use photon_primitives::{Address, LocalSigner, SettleTimeout, Signer};
use photon_state::Config;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub(super) struct DeployArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Ethereum JSON-RPC endpoint.
    #[arg(long, env = "PHOTON_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: reqwest::Url,
    /// Where to write the deployment file.
    #[arg(long, default_value = "deployment.json")]
    output: PathBuf,
    /// Punish window (blocks).
    #[arg(long, default_value_t = DeployParams::default().punish_blocks)]
    punish_blocks: u64,
    /// Smallest settle timeout (blocks).
    #[arg(long, default_value_t = DeployParams::default().min_settle_timeout)]
    min_settle_timeout: u64,
    /// Largest settle timeout (blocks).
    #[arg(long, default_value_t = DeployParams::default().max_settle_timeout)]
    max_settle_timeout: u64,
}

/// `photon run`: flags win over environment variables, which win over the config file.
#[derive(Args)]
pub(super) struct RunArgs {
    /// TOML config file (same keys as the flags, with underscores).
    #[arg(long, env = "PHOTON_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    key: KeyArgs,
    /// Ethereum JSON-RPC endpoint.
    #[arg(long, env = "PHOTON_RPC_URL")]
    rpc_url: Option<reqwest::Url>,
    /// Deployment file written by `photon deploy`.
    #[arg(long, env = "PHOTON_DEPLOYMENT")]
    deployment: Option<PathBuf>,
    /// Data directory (a subdirectory per account and chain is used).
    #[arg(long, env = "PHOTON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// API listen address (keep it on loopback unless behind auth and TLS).
    #[arg(long, env = "PHOTON_API_ADDR")]
    api_addr: Option<std::net::SocketAddr>,
    /// Require `Authorization: Bearer <token>` on the API.
    #[arg(long, env = "PHOTON_API_TOKEN")]
    api_token: Option<String>,
    /// Serve the web dashboard at `/ui/` on the API address [default: when the API address is
    /// loopback].
    #[arg(long, env = "PHOTON_UI", conflicts_with = "no_ui")]
    ui: bool,
    /// Do not serve the web dashboard.
    #[arg(long, env = "PHOTON_NO_UI")]
    no_ui: bool,
    /// Serve Prometheus `/metrics` and a `/health` check on this address (no token; keep it
    /// where only your monitoring reaches) [default: none].
    #[arg(long, env = "PHOTON_METRICS_ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
    /// POST every payment received, as JSON, to this URL (tried up to 5 times) [default:
    /// none].
    #[arg(long, env = "PHOTON_PAYMENT_WEBHOOK")]
    payment_webhook: Option<reqwest::Url>,
    /// Write the log to this file instead of standard error, rotated by size [default:
    /// standard error].
    #[arg(long, env = "PHOTON_LOG_FILE")]
    log_file: Option<PathBuf>,
    /// Rotate the log file when it reaches this many MiB.
    #[arg(long, env = "PHOTON_LOG_MAX_MB", default_value_t = 64)]
    log_max_mb: u64,
    /// Rotated log files kept (`photon.log.1` …).
    #[arg(long, env = "PHOTON_LOG_KEEP", default_value_t = 5)]
    log_keep: u32,
    /// Confirmations before acting on chain events.
    #[arg(long, env = "PHOTON_CONFIRMATIONS")]
    confirmations: Option<u64>,
    /// Chain poll interval in milliseconds.
    #[arg(long, env = "PHOTON_POLL_MS")]
    poll_ms: Option<u64>,
    /// Settle timeout of channels this node opens (blocks).
    #[arg(long, env = "PHOTON_SETTLE_TIMEOUT")]
    settle_timeout: Option<u32>,
    /// Shortest settle timeout of a channel this node opens, deposits into, mediates over or
    /// pays in, whoever opened it (blocks) [default: 60].
    #[arg(long, env = "PHOTON_MIN_SETTLE_TIMEOUT")]
    min_settle_timeout: Option<u32>,
    /// Longest such settle timeout (blocks): how long a close may keep a deposit [default:
    /// 100000].
    #[arg(long, env = "PHOTON_MAX_SETTLE_TIMEOUT")]
    max_settle_timeout: Option<u32>,
    /// Blocks the node needs, at worst, to get a secret registered on chain: it refuses locks
    /// that expire sooner and registers a secret this long before expiry [default: 10].
    #[arg(long, env = "PHOTON_REVEAL_TIMEOUT")]
    reveal_timeout: Option<u64>,
    /// Do not forward payments for others (locks to forward are given back; the payer
    /// reroutes) [default: mediate].
    #[arg(long, env = "PHOTON_NO_MEDIATION")]
    no_mediation: bool,
    /// Refuse the transactions API requests ask for (opens, deposits, registrations) while
    /// gas costs more than this (gwei); the protocol's own (updates, unlocks, settlements)
    /// protect deposits and are always sent [default: no cap].
    #[arg(long, env = "PHOTON_MAX_GAS_PRICE_GWEI")]
    max_gas_price_gwei: Option<u64>,
    /// Forget finished payments older than this many days from the payment history
    /// [default: keep them all].
    #[arg(long, env = "PHOTON_HISTORY_RETENTION_DAYS")]
    history_retention_days: Option<u32>,
    /// Peer-to-peer listen addresses (repeatable) [default: /ip4/0.0.0.0/tcp/40001 and
    /// /ip4/0.0.0.0/udp/40001/quic-v1: every interface, TCP and QUIC]. A relay's
    /// `…/p2p/<relay id>/p2p-circuit` keeps a reservation on that relay.
    #[arg(long, env = "PHOTON_P2P_LISTEN", value_delimiter = ',')]
    p2p_listen: Vec<photon_transport::Multiaddr>,
    /// Addresses where other machines reach this node, when known (a public IP, a
    /// forwarded port); repeatable. Others' probes find the rest.
    #[arg(long = "external-address", env = "PHOTON_EXTERNAL_ADDRESS", value_delimiter = ',')]
    external_address: Vec<photon_transport::Multiaddr>,
    #[command(flatten)]
    relay: RelayArgs,
    /// Peers to connect to first, as multiaddrs ending in `/p2p/<peer id>` (repeatable).
    #[arg(long = "bootstrap", env = "PHOTON_BOOTSTRAP", value_delimiter = ',')]
    bootstrap: Vec<photon_transport::Multiaddr>,
    /// Find peers on the local network by multicast DNS (announces this node to the link;
    /// use with a --p2p-listen address other than loopback).
    #[arg(long, env = "PHOTON_MDNS")]
    mdns: bool,
    /// A monitoring service (`photon monitor`) to give the partners' balance proofs to, so
    /// that it guards the channels while this node is offline.
    #[arg(long, env = "PHOTON_MONITOR")]
    monitor: Option<reqwest::Url>,
    /// A pathfinding service (`photon pfs`): the node tells it its channels' capacities and
    /// fees and asks it for routes (falling back to its own graph when it does not answer).
    #[arg(long, env = "PHOTON_PFS")]
    pfs: Option<reqwest::Url>,
}

/// The relay service (`photon run --relay-service`) and its limits.
#[derive(Args, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RelayArgs {
    /// Relay other nodes' traffic (for a publicly reachable node): nodes behind NAT keep
    /// reservations on it and are reached through it; it also answers their reachability
    /// probes.
    #[arg(long = "relay-service", env = "PHOTON_RELAY_SERVICE")]
    #[serde(default, rename = "service")]
    relay_service: bool,
    /// Reservations held at once [default: 512].
    #[arg(long, env = "PHOTON_RELAY_MAX_RESERVATIONS")]
    #[serde(rename = "max_reservations")]
    relay_max_reservations: Option<usize>,
    /// Reservations one peer may hold [default: 2].
    #[arg(long, env = "PHOTON_RELAY_MAX_RESERVATIONS_PER_PEER")]
    #[serde(rename = "max_reservations_per_peer")]
    relay_max_reservations_per_peer: Option<usize>,
    /// Circuits open at once [default: 256].
    #[arg(long, env = "PHOTON_RELAY_MAX_CIRCUITS")]
    #[serde(rename = "max_circuits")]
    relay_max_circuits: Option<usize>,
    /// Circuits open at once from or to one peer [default: 8].
    #[arg(long, env = "PHOTON_RELAY_MAX_CIRCUITS_PER_PEER")]
    #[serde(rename = "max_circuits_per_peer")]
    relay_max_circuits_per_peer: Option<usize>,
    /// Longest life of a circuit in seconds [default: 1800].
    #[arg(long, env = "PHOTON_RELAY_MAX_CIRCUIT_SECS")]
    #[serde(rename = "max_circuit_secs")]
    relay_max_circuit_secs: Option<u64>,
    /// Bytes a circuit may carry, both ways together; 0: unlimited [default: 67108864].
    #[arg(long, env = "PHOTON_RELAY_MAX_CIRCUIT_BYTES")]
    #[serde(rename = "max_circuit_bytes")]
    relay_max_circuit_bytes: Option<u64>,
}

impl RelayArgs {
    /// The relay limits, flags over the file's, when the service is on in either.
    fn limits(&self, file: &Self) -> Option<photon_transport::RelayLimits> {
        if !(self.relay_service || file.relay_service) {
            return None;
        }
        let d = photon_transport::RelayLimits::default();
        Some(photon_transport::RelayLimits {
            max_reservations: self
                .relay_max_reservations
                .or(file.relay_max_reservations)
                .unwrap_or(d.max_reservations),
            max_reservations_per_peer: self
                .relay_max_reservations_per_peer
                .or(file.relay_max_reservations_per_peer)
                .unwrap_or(d.max_reservations_per_peer),
            max_circuits: self
                .relay_max_circuits
                .or(file.relay_max_circuits)
                .unwrap_or(d.max_circuits),
            max_circuits_per_peer: self
                .relay_max_circuits_per_peer
                .or(file.relay_max_circuits_per_peer)
                .unwrap_or(d.max_circuits_per_peer),
            max_circuit_duration: self
                .relay_max_circuit_secs
                .or(file.relay_max_circuit_secs)
                .map_or(d.max_circuit_duration, Duration::from_secs),
            max_circuit_bytes: self
                .relay_max_circuit_bytes
                .or(file.relay_max_circuit_bytes)
                .unwrap_or(d.max_circuit_bytes),
            ..d
        })
    }
}

/// `photon monitor`.
#[derive(Args)]
pub(super) struct MonitorArgs {
    #[command(flatten)]
    key: KeyArgs,
    /// Ethereum JSON-RPC endpoint.
    #[arg(long, env = "PHOTON_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: reqwest::Url,
    /// Deployment file written by `photon deploy`.
    #[arg(long, env = "PHOTON_DEPLOYMENT")]
    deployment: PathBuf,
    /// Data directory (a subdirectory per account and chain is used).
    #[arg(long, env = "PHOTON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// API listen address: nodes send their delegations here.
    #[arg(long, env = "PHOTON_API_ADDR", default_value = "127.0.0.1:5002")]
    api_addr: std::net::SocketAddr,
    /// Confirmations before acting on chain events.
    #[arg(long, env = "PHOTON_CONFIRMATIONS", default_value_t = 5)]
    confirmations: u64,
    /// Chain poll interval in milliseconds.
    #[arg(long, env = "PHOTON_POLL_MS", default_value_t = 1_000)]
    poll_ms: u64,
    /// The only participants whose delegations are taken (repeatable; none: anyone with a
    /// channel — every guarded channel costs the service gas when it closes).
    #[arg(long = "client", env = "PHOTON_CLIENTS", value_delimiter = ',')]
    clients: Vec<Address>,
}

/// `photon pfs`.
#[derive(Args)]
pub(super) struct PfsArgs {
    /// Ethereum JSON-RPC endpoint (read only: the service sends no transactions).
    #[arg(long, env = "PHOTON_RPC_URL", default_value = "http://127.0.0.1:8545")]
    rpc_url: reqwest::Url,
    /// Deployment file written by `photon deploy`.
    #[arg(long, env = "PHOTON_DEPLOYMENT")]
    deployment: PathBuf,
    /// Data directory (a subdirectory per chain is used).
    #[arg(long, env = "PHOTON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// API listen address: nodes send updates and ask for paths here.
    #[arg(long, env = "PHOTON_API_ADDR", default_value = "127.0.0.1:5003")]
    api_addr: std::net::SocketAddr,
    /// Confirmations before acting on chain events.
    #[arg(long, env = "PHOTON_CONFIRMATIONS", default_value_t = 5)]
    confirmations: u64,
    /// Chain poll interval in milliseconds.
    #[arg(long, env = "PHOTON_POLL_MS", default_value_t = 1_000)]
    poll_ms: u64,
    /// Seconds without a heartbeat or update after which a node is routed around.
    #[arg(long, env = "PHOTON_PFS_OFFLINE_AFTER", default_value_t = 60)]
    offline_after: u64,
    /// Requests per second each client address may make (bursts of twice as many).
    #[arg(long, env = "PHOTON_PFS_RATE_LIMIT", default_value_t = 50)]
    rate_limit: u32,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    rpc_url: Option<reqwest::Url>,
    deployment: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    api_addr: Option<std::net::SocketAddr>,
    api_token: Option<String>,
    ui: Option<bool>,
    metrics_addr: Option<std::net::SocketAddr>,
    payment_webhook: Option<reqwest::Url>,
    confirmations: Option<u64>,
    poll_ms: Option<u64>,
    settle_timeout: Option<u32>,
    min_settle_timeout: Option<u32>,
    max_settle_timeout: Option<u32>,
    reveal_timeout: Option<u64>,
    no_mediation: Option<bool>,
    max_gas_price_gwei: Option<u64>,
    log_file: Option<PathBuf>,
    history_retention_days: Option<u32>,
    p2p_listen: Option<Vec<String>>,
    external_address: Option<Vec<String>>,
    /// `[relay]`: the relay service's keys without their `relay_` prefix.
    #[serde(default)]
    relay: RelayArgs,
    bootstrap: Option<Vec<String>>,
    mdns: Option<bool>,
    monitor: Option<reqwest::Url>,
    pfs: Option<reqwest::Url>,
    keystore: Option<PathBuf>,
    address: Option<Address>,
    password_file: Option<PathBuf>,
    private_key_file: Option<PathBuf>,
}

/// Multiaddrs from the flags, else from the config file's `key`.
fn multiaddrs(
    flags: Vec<photon_transport::Multiaddr>, file: Option<Vec<String>>, key: &str,
) -> Result<Vec<photon_transport::Multiaddr>> {
    if !flags.is_empty() {
        return Ok(flags);
    }
    file.unwrap_or_default()
        .iter()
        .map(|a| a.parse().with_context(|| format!("{key}: `{a}` is not a multiaddr")))
        .collect()
}

/// Where `photon run` logs, when not to standard error.
pub(super) struct LogFile {
    pub(super) path: PathBuf,
    pub(super) max_mb: u64,
    pub(super) keep: u32,
}

impl RunArgs {
    /// The log file asked for on the command line or in the config file.
    pub(super) fn log_file(&self) -> Option<LogFile> {
        let from_file = || -> Option<PathBuf> {
            let path = self.config.as_ref()?;
            let text = std::fs::read_to_string(path).ok()?;
            toml::from_str::<FileConfig>(&text).ok()?.log_file
        };
        let path = self.log_file.clone().or_else(from_file)?;
        Some(LogFile { path, max_mb: self.log_max_mb.max(1), keep: self.log_keep })
    }
}

/// `photon deploy`.
pub(super) async fn deploy(args: DeployArgs) -> Result<()> {
    let key = load_key(&args.key)?;
    let provider = wallet_provider(&key, args.rpc_url.clone());
    let params = DeployParams {
        punish_blocks: args.punish_blocks,
        min_settle_timeout: args.min_settle_timeout,
        max_settle_timeout: args.max_settle_timeout,
    };
    eprintln!("deploying from {} to {} ...", key.address(), args.rpc_url);
    let deployment = photon_chain::deploy(&provider, &params).await?;
    deployment.save(&args.output)?;
    println!("TokensNetwork  {}", deployment.tokens_network);
    println!("SecretRegistry {}", deployment.secret_registry);
    println!(
        "chain {} block {}; written to {}",
        deployment.chain_id,
        deployment.deployed_at_block,
        args.output.display()
    );
    Ok(())
}

fn wallet_provider(key: &LocalSigner, url: reqwest::Url) -> alloy::providers::DynProvider {
    let signer = PrivateKeySigner::from_bytes(&key.to_bytes().into())
        .expect("a valid local key is a valid signer");
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url).erased()
}

pub(super) async fn run(args: RunArgs) -> Result<()> {
    let file: FileConfig = match &args.config {
        Some(path) => toml::from_str(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("parsing {}", path.display()))?,
        None => FileConfig::default(),
    };
    let key_args = KeyArgs {
        address: args.key.address.or(file.address),
        private_key_file: args.key.private_key_file.or(file.private_key_file),
        keystore: KeystoreArgs {
            keystore: args.key.keystore.keystore.or(file.keystore),
            password_file: args.key.keystore.password_file.or(file.password_file),
        },
    };
    let rpc_url = args
        .rpc_url
        .or(file.rpc_url)
        .unwrap_or_else(|| "http://127.0.0.1:8545".parse().expect("valid url"));
    let deployment_file = args
        .deployment
        .or(file.deployment)
        .ok_or_else(|| anyhow!("--deployment is required (see `photon deploy`)"))?;
    let deployment = Deployment::load(&deployment_file)?;
    let key = load_key(&key_args)?;
    let data_root = args.data_dir.or(file.data_dir).unwrap_or_else(|| default_home().join("data"));
    let data_dir = node_dir(&data_root, key.address(), deployment.chain_id);
    let api_addr = args
        .api_addr
        .or(file.api_addr)
        .unwrap_or_else(|| "127.0.0.1:5001".parse().expect("valid address"));
    let api_token = args.api_token.or(file.api_token);
    let ui = serve_ui(args.ui, args.no_ui, file.ui, api_addr);
    let mut protocol = Config::default();
    if let Some(min) = args.min_settle_timeout.or(file.min_settle_timeout) {
        protocol.min_settle_timeout = SettleTimeout(min);
    }
    if let Some(max) = args.max_settle_timeout.or(file.max_settle_timeout) {
        protocol.max_settle_timeout = SettleTimeout(max);
    }
    if let Some(reveal) = args.reveal_timeout.or(file.reveal_timeout) {
        protocol.reveal_timeout = reveal;
    }
    protocol.mediate = !(args.no_mediation || file.no_mediation.unwrap_or(false));
    let settle_timeout = SettleTimeout(args.settle_timeout.or(file.settle_timeout).unwrap_or(500));
    if let Some(problem) = protocol.problem() {
        bail!(
            "--reveal-timeout {} with --min-settle-timeout {} and --max-settle-timeout {} \
             (lock timeout {}): {problem}",
            protocol.reveal_timeout,
            protocol.min_settle_timeout,
            protocol.max_settle_timeout,
            protocol.lock_timeout
        );
    }
    if !protocol.accepts_settle_timeout(settle_timeout) {
        bail!(
            "--settle-timeout {settle_timeout} is outside the accepted range {} to {}",
            protocol.min_settle_timeout,
            protocol.max_settle_timeout
        );
    }
    let settings = NodeSettings {
        deployment: deployment.clone(),
        confirmations: args.confirmations.or(file.confirmations).unwrap_or(5),
        poll_interval: Duration::from_millis(args.poll_ms.or(file.poll_ms).unwrap_or(1_000)),
        snapshot_every: 1_000,
        history_retention: NodeSettings::retention_days(
            args.history_retention_days.or(file.history_retention_days),
        ),
        protocol,
        payment_timeout: Duration::from_secs(60),
        settle_timeout,
        p2p_addresses: Vec::new(),
        monitor: args.monitor.or(file.monitor),
        pfs: args.pfs.or(file.pfs),
        max_gas_price: args
            .max_gas_price_gwei
            .or(file.max_gas_price_gwei)
            .map(|gwei| u128::from(gwei) * 1_000_000_000),
    };
    let p2p_listen = multiaddrs(args.p2p_listen, file.p2p_listen, "p2p_listen")?;
    let p2p_listen =
        if p2p_listen.is_empty() { photon_node::launch::default_p2p_listen() } else { p2p_listen };
    let external = multiaddrs(args.external_address, file.external_address, "external_address")?;
    let bootstrap = multiaddrs(args.bootstrap, file.bootstrap, "bootstrap")?;
    let relay_service = args.relay.limits(&file.relay);
    let p2p = photon_transport::P2pConfig {
        listen: p2p_listen,
        bootstrap,
        request_timeout: Duration::from_secs(10),
        mdns: args.mdns || file.mdns.unwrap_or(false),
        relay_service,
        external,
    };
    let config = LaunchConfig {
        key,
        rpc_url: rpc_url.clone(),
        data_dir: data_dir.clone(),
        settings,
        p2p,
        api: Some((api_addr, api_token)),
        ui,
        metrics: args.metrics_addr.or(file.metrics_addr),
        webhook: args.payment_webhook.or(file.payment_webhook),
    };
    let mut node = launch(config).await.map_err(|e| match e {
        LaunchError::Node(e) => {
            anyhow!("starting the node on {rpc_url} with data in {}: {e}", data_dir.display())
        }
        other => anyhow!(other),
    })?;
    tracing::info!(address = %node.handle.address, api = %api_addr, data = %data_dir.display(), "node running");
    if ui {
        tracing::info!("dashboard at http://{api_addr}/ui/");
    }
    tokio::select! {
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            node.stop().await?;
        }
        finished = node.finished() => finished?,
    }
    Ok(())
}

pub(super) async fn monitor(args: MonitorArgs) -> Result<()> {
    let deployment = Deployment::load(&args.deployment)?;
    let key = load_key(&args.key)?;
    let data_root = args.data_dir.unwrap_or_else(|| default_home().join("monitor"));
    let data_dir =
        data_root.join(format!("{}-{}", hex_address(key.address()), deployment.chain_id));
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let provider = photon_node::provider(args.rpc_url.clone(), &key, deployment.chain_id)?;
    let listener = tokio::net::TcpListener::bind(args.api_addr)
        .await
        .with_context(|| format!("listening on {}", args.api_addr))?;
    tracing::info!(address = %key.address(), api = %args.api_addr, "monitoring service running");
    let settings = photon_monitor::MonitorSettings {
        deployment,
        confirmations: args.confirmations,
        poll_interval: Duration::from_millis(args.poll_ms),
        clients: args.clients,
    };
    photon_monitor::run_monitor(
        key,
        provider,
        &data_dir.join("monitor.db"),
        settings,
        listener,
        shutdown_signal(),
    )
    .await
    .with_context(|| format!("the monitoring service on {}", args.rpc_url))
}

/// `photon pfs`.
pub(super) async fn pfs(args: PfsArgs) -> Result<()> {
    let deployment = Deployment::load(&args.deployment)?;
    if args.offline_after == 0 || args.rate_limit == 0 {
        bail!("--offline-after and --rate-limit must be positive");
    }
    let data_root = args.data_dir.unwrap_or_else(|| default_home().join("pfs"));
    let data_dir = data_root.join(format!(
        "{}-{}",
        hex_address(deployment.tokens_network),
        deployment.chain_id
    ));
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let provider = photon_node::read_provider(args.rpc_url.clone())?;
    let listener = tokio::net::TcpListener::bind(args.api_addr)
        .await
        .with_context(|| format!("listening on {}", args.api_addr))?;
    tracing::info!(api = %args.api_addr, data = %data_dir.display(), "pathfinding service running");
    let settings = photon_pfs::PfsSettings {
        deployment,
        confirmations: args.confirmations,
        poll_interval: Duration::from_millis(args.poll_ms),
        offline_after: args.offline_after,
        rate_limit: args.rate_limit,
    };
    photon_pfs::run_pfs(provider, &data_dir.join("pfs.db"), settings, listener, shutdown_signal())
        .await
        .with_context(|| format!("the pathfinding service on {}", args.rpc_url))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Whether to serve the dashboard: a flag wins, then the file, else only on a loopback API
/// address (elsewhere the operator says so).
fn serve_ui(ui: bool, no_ui: bool, file: Option<bool>, api_addr: std::net::SocketAddr) -> bool {
    match (ui, no_ui) {
        (true, _) => true,
        (_, true) => false,
        _ => file.unwrap_or_else(|| api_addr.ip().is_loopback()),
    }
}

#[cfg(test)]
mod ui_tests {
    use super::serve_ui;

    #[test]
    fn the_dashboard_is_on_for_loopback_unless_told_otherwise() {
        let (local, open) = ("127.0.0.1:5001".parse().unwrap(), "0.0.0.0:5001".parse().unwrap());
        assert!(serve_ui(false, false, None, local));
        assert!(!serve_ui(false, false, None, open));
        assert!(serve_ui(true, false, None, open));
        assert!(!serve_ui(false, true, None, local));
        assert!(!serve_ui(false, false, Some(false), local));
        assert!(serve_ui(false, false, Some(true), open));
        assert!(!serve_ui(false, true, Some(true), open), "a flag wins over the file");
        assert!(serve_ui(false, false, None, "[::1]:5001".parse().unwrap()));
    }
}
