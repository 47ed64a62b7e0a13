//! The command line: `account`, `deploy`, `run`, and API clients (`status`, `channels`, `pay`).

use alloy::network::EthereumWallet;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use photon_chain::{DeployParams, Deployment};
use photon_node::keystore::{self, ScryptCost};
use photon_node::runtime::NodeSettings;
use photon_node::transport::{forward_incoming, P2pNetwork};
use photon_node::Node;
use photon_primitives::{Address, LocalSigner, Signer};
use photon_state::Config;
use rand::RngCore;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "photon",
    version,
    about = "Photon Network node: off-chain payment channels for ERC20/ERC223 tokens"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage the accounts (geth-compatible keystore files).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Deploy SecretRegistry and TokensNetwork to a chain and write a deployment file.
    Deploy(DeployArgs),
    /// Run a node.
    Run(Box<RunArgs>),
    /// Run a monitoring (delegate) service that guards the channels of offline nodes.
    Monitor(Box<MonitorArgs>),
    /// Show a running node's status.
    Status(ClientArgs),
    /// List a running node's channels.
    Channels(ClientArgs),
    /// Open a channel through a running node (waits for the chain).
    Open {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
        /// Deposit while opening.
        #[arg(long)]
        deposit: Option<u128>,
        /// How the deposit reaches the contract: `approve` (any ERC20, two transactions),
        /// `erc223` or `approve_and_call` (one transaction, tokens that support it).
        #[arg(long, default_value = "approve")]
        via: String,
    },
    /// Deposit into a channel through a running node (waits for the chain).
    Deposit {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
        /// How much.
        amount: u128,
        /// How the deposit reaches the contract: `approve`, `erc223` or `approve_and_call`.
        #[arg(long, default_value = "approve")]
        via: String,
    },
    /// Close a channel unilaterally through a running node.
    Close {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
    },
    /// Withdraw part of our balance to the chain without closing (the partner co-signs).
    Withdraw {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
        /// How much.
        amount: u128,
    },
    /// Settle a channel cooperatively at the current balances: tokens on chain at once, no
    /// settle window (the partner co-signs; no payment may be pending).
    Settle {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// The partner.
        partner: Address,
    },
    /// A running node's payment history, newest first.
    Payments {
        #[command(flatten)]
        client: ClientArgs,
        /// Only this token's.
        #[arg(long)]
        token: Option<Address>,
        /// Only `sent`, `received`, `mediated` or `failed`.
        #[arg(long)]
        direction: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Pay through a running node.
    Pay {
        #[command(flatten)]
        client: ClientArgs,
        /// The token.
        token: Address,
        /// Who is paid.
        target: Address,
        /// How much (in the token's smallest unit).
        amount: u128,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create a new random account.
    New {
        #[command(flatten)]
        keystore: KeystoreArgs,
        /// Encrypt with geth's light scrypt cost (4 MiB instead of 256 MiB; for small
        /// devices, weaker against password guessing).
        #[arg(long)]
        light_kdf: bool,
    },
    /// List the accounts of the keystore.
    List(KeystoreArgs),
    /// Import a private key (hex, from a file) into the keystore.
    Import {
        #[command(flatten)]
        keystore: KeystoreArgs,
        /// File holding the private key as hex.
        #[arg(long)]
        private_key_file: PathBuf,
        /// Encrypt with geth's light scrypt cost (see `account new`).
        #[arg(long)]
        light_kdf: bool,
    },
}

#[derive(Args, Clone)]
struct KeystoreArgs {
    /// Keystore directory [default: ~/.photon/keystore].
    #[arg(long, env = "PHOTON_KEYSTORE")]
    keystore: Option<PathBuf>,
    /// File holding the keystore password (else PHOTON_PASSWORD, else a prompt).
    #[arg(long, env = "PHOTON_PASSWORD_FILE")]
    password_file: Option<PathBuf>,
}

impl KeystoreArgs {
    fn dir(&self) -> PathBuf {
        self.keystore.clone().unwrap_or_else(|| default_home().join("keystore"))
    }
}

#[derive(Args, Clone)]
struct KeyArgs {
    #[command(flatten)]
    keystore: KeystoreArgs,
    /// The account to use (from the keystore).
    #[arg(long, env = "PHOTON_ADDRESS")]
    address: Option<Address>,
    /// Use a raw private key from this file instead of the keystore (development).
    #[arg(long, env = "PHOTON_PRIVATE_KEY_FILE")]
    private_key_file: Option<PathBuf>,
}

#[derive(Args)]
struct DeployArgs {
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
struct RunArgs {
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
    min_settle_timeout: Option<u64>,
    /// Longest such settle timeout (blocks): how long a close may keep a deposit [default:
    /// 100000].
    #[arg(long, env = "PHOTON_MAX_SETTLE_TIMEOUT")]
    max_settle_timeout: Option<u64>,
    /// Peer-to-peer listen address [default: /ip4/127.0.0.1/tcp/0; give a public one to be
    /// reachable from other machines].
    #[arg(long, env = "PHOTON_P2P_LISTEN")]
    p2p_listen: Option<photon_transport::Multiaddr>,
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
}

/// `photon monitor`.
#[derive(Args)]
struct MonitorArgs {
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    rpc_url: Option<reqwest::Url>,
    deployment: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    api_addr: Option<std::net::SocketAddr>,
    api_token: Option<String>,
    confirmations: Option<u64>,
    poll_ms: Option<u64>,
    settle_timeout: Option<u32>,
    min_settle_timeout: Option<u64>,
    max_settle_timeout: Option<u64>,
    p2p_listen: Option<String>,
    bootstrap: Option<Vec<String>>,
    mdns: Option<bool>,
    monitor: Option<reqwest::Url>,
    keystore: Option<PathBuf>,
    address: Option<Address>,
    password_file: Option<PathBuf>,
    private_key_file: Option<PathBuf>,
}

#[derive(Args)]
struct ClientArgs {
    /// The node's API.
    #[arg(long, env = "PHOTON_API", default_value = "http://127.0.0.1:5001")]
    api: String,
    /// Bearer token of the API.
    #[arg(long, env = "PHOTON_API_TOKEN")]
    api_token: Option<String>,
}

fn default_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".photon")
}

pub(crate) async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Account(AccountCommand::New { keystore, light_kdf }) => {
            let password = password(&keystore, true)?;
            let key = loop {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                // all but a 2^-128 fraction of 32-byte strings are valid keys
                if let Ok(key) = LocalSigner::from_bytes(&bytes) {
                    break key;
                }
            };
            let path = store_key(&keystore.dir(), &key, &password, light_kdf)?;
            println!("{}  {}", key.address(), path.display());
        }
        Command::Account(AccountCommand::List(ks)) => {
            for (address, path) in list_accounts(&ks.dir())? {
                println!("{address}  {}", path.display());
            }
        }
        Command::Account(AccountCommand::Import { keystore, private_key_file, light_kdf }) => {
            let key = read_raw_key(&private_key_file)?;
            let password = password(&keystore, true)?;
            let path = store_key(&keystore.dir(), &key, &password, light_kdf)?;
            println!("{}  {}", key.address(), path.display());
        }
        Command::Deploy(args) => {
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
        }
        Command::Run(args) => run(*args).await?,
        Command::Monitor(args) => monitor(*args).await?,
        Command::Status(client) => {
            let status = api_get(&client, "/api/v1/status").await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
        }
        Command::Channels(client) => {
            let channels = api_get(&client, "/api/v1/channels").await?;
            println!(
                "{:<44} {:<44} {:<8} {:>20} {:>20}",
                "token", "partner", "state", "balance", "partner balance"
            );
            for c in channels.as_array().into_iter().flatten() {
                println!(
                    "{:<44} {:<44} {:<8} {:>20} {:>20}",
                    c["token"].as_str().unwrap_or("?"),
                    c["partner"].as_str().unwrap_or("?"),
                    c["state"].as_str().unwrap_or("?"),
                    c["balance"].as_str().unwrap_or("?"),
                    c["partner_balance"].as_str().unwrap_or("?")
                );
                // the partner refused one of our messages for good: say why
                if let Some(why) = c["attention"].as_str() {
                    println!("    needs attention: {why}");
                }
            }
        }
        Command::Pay { client, token, target, amount } => {
            let body = api_send(
                &client,
                reqwest::Method::POST,
                &format!("/api/v1/payments/{token}/{target}"),
                serde_json::json!({ "amount": amount.to_string() }),
                &format!("paying {amount} to {target}"),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
        }
        Command::Open { client, token, partner, deposit, via } => {
            let mut body = serde_json::json!({ "token": token, "partner": partner });
            if let Some(d) = deposit {
                body["deposit"] = d.to_string().into();
                body["via"] = via.into();
            }
            let answer = api_send(
                &client,
                reqwest::Method::PUT,
                "/api/v1/channels",
                body,
                "opening the channel",
            )
            .await?;
            println!("opened: transaction {}", answer["transaction_hash"].as_str().unwrap_or("?"));
        }
        Command::Deposit { client, token, partner, amount, via } => {
            let answer = api_send(
                &client,
                reqwest::Method::PATCH,
                &format!("/api/v1/channels/{token}/{partner}"),
                serde_json::json!({ "deposit": amount.to_string(), "via": via }),
                &format!("depositing {amount}"),
            )
            .await?;
            println!(
                "deposited: transaction {}",
                answer["transaction_hash"].as_str().unwrap_or("?")
            );
        }
        Command::Close { client, token, partner } => {
            api_send(
                &client,
                reqwest::Method::PATCH,
                &format!("/api/v1/channels/{token}/{partner}"),
                serde_json::json!({ "state": "closed" }),
                "closing the channel",
            )
            .await?;
            println!("closing: the node settles it after the settle window");
        }
        Command::Withdraw { client, token, partner, amount } => {
            api_send(
                &client,
                reqwest::Method::PATCH,
                &format!("/api/v1/channels/{token}/{partner}"),
                serde_json::json!({ "withdraw": amount.to_string() }),
                &format!("withdrawing {amount}"),
            )
            .await?;
            println!(
                "withdrawal asked: on chain once the partner co-signs (see `photon channels`)"
            );
        }
        Command::Settle { client, token, partner } => {
            api_send(
                &client,
                reqwest::Method::PATCH,
                &format!("/api/v1/channels/{token}/{partner}"),
                serde_json::json!({ "state": "settled" }),
                "settling cooperatively",
            )
            .await?;
            println!("settlement asked: on chain once the partner co-signs");
        }
        Command::Payments { client, token, direction, limit } => {
            let mut query = vec![format!("limit={limit}")];
            if let Some(token) = token {
                query.push(format!("token={token}"));
            }
            if let Some(direction) = direction {
                query.push(format!("direction={direction}"));
            }
            let list = api_get(&client, &format!("/api/v1/payments?{}", query.join("&"))).await?;
            println!(
                "{:<10} {:<9} {:>20} {:>12} {:<44} {:>20}",
                "at", "what", "amount", "fee", "counterparty", "payment id"
            );
            for p in list.as_array().into_iter().flatten() {
                let text = |k: &str| match &p[k] {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Null => "-".into(),
                    other => other.to_string(),
                };
                println!(
                    "{:<10} {:<9} {:>20} {:>12} {:<44} {:>20}",
                    text("at"),
                    text("direction"),
                    text("amount"),
                    text("fee"),
                    text("counterparty"),
                    text("payment_id")
                );
            }
        }
    }
    Ok(())
}

/// Sends a request to the node's API, showing progress on stderr while it waits for the chain.
async fn api_send(
    client: &ClientArgs,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
    doing: &str,
) -> Result<serde_json::Value> {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", client.api.trim_end_matches('/')))
        .json(&body);
    if let Some(t) = &client.api_token {
        request = request.bearer_auth(t);
    }
    eprint!("{doing} ");
    let send = request.send();
    tokio::pin!(send);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let response = loop {
        tokio::select! {
            r = &mut send => break r,
            _ = ticker.tick() => eprint!("."),
        }
    };
    eprintln!();
    answer(response.with_context(|| format!("the node's API at {} is not reachable", client.api))?)
        .await
}

async fn api_get(client: &ClientArgs, path: &str) -> Result<serde_json::Value> {
    let mut request =
        reqwest::Client::new().get(format!("{}{path}", client.api.trim_end_matches('/')));
    if let Some(t) = &client.api_token {
        request = request.bearer_auth(t);
    }
    answer(
        request
            .send()
            .await
            .with_context(|| format!("the node's API at {} is not reachable", client.api))?,
    )
    .await
}

async fn answer(response: reqwest::Response) -> Result<serde_json::Value> {
    let status = response.status();
    let body: serde_json::Value =
        response.json().await.context("the API answered something that is not JSON")?;
    if !status.is_success() {
        bail!("{} ({status})", body["error"]["message"].as_str().unwrap_or("request failed"));
    }
    Ok(body)
}

fn password(ks: &KeystoreArgs, confirm: bool) -> Result<String> {
    if let Some(file) = &ks.password_file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_string());
    }
    if let Ok(p) = std::env::var("PHOTON_PASSWORD") {
        return Ok(p);
    }
    let first =
        rpassword::prompt_password("keystore password: ").context("reading the password")?;
    if confirm {
        let again = rpassword::prompt_password("again: ").context("reading the password")?;
        if again != first {
            bail!("the passwords differ");
        }
    }
    Ok(first)
}

/// Writes `key` encrypted under `password` into `dir` as a geth-style key file (owner-only
/// permissions; written to a temporary name first, so a crash leaves no half file).
fn store_key(dir: &Path, key: &LocalSigner, password: &str, light: bool) -> Result<PathBuf> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Some((_, path)) = list_accounts(dir)?.into_iter().find(|(a, _)| *a == key.address()) {
        bail!("{} is already in the keystore: {}", key.address(), path.display());
    }
    let cost = if light { ScryptCost::LIGHT } else { ScryptCost::STANDARD };
    let json = keystore::encrypt(&key.to_bytes(), password, cost, &mut rand::rngs::OsRng)
        .map_err(|e| anyhow!("encrypting the key: {e}"))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = format!("UTC--{stamp}--{}", hex_address(key.address()));
    let path = dir.join(&name);
    let temp = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).with_context(|| format!("creating {}", temp.display()))?;
    std::io::Write::write_all(&mut file, json.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temp, &path))
        // the new name is durable once the directory is
        .and_then(|()| std::fs::File::open(dir)?.sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

fn hex_address(a: Address) -> String {
    format!("{a:x}").trim_start_matches("0x").to_string()
}

fn list_accounts(dir: &Path) -> Result<Vec<(Address, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        // hidden files (e.g. a key file being written) are not accounts
        if path.file_name().is_none_or(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        if let Some(address) = keystore::address_of(&text) {
            out.push((address, path));
        }
    }
    out.sort();
    Ok(out)
}

fn read_raw_key(file: &Path) -> Result<LocalSigner> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let bytes: [u8; 32] = alloy::hex::decode(text.trim().trim_start_matches("0x"))
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| anyhow!("{} does not hold a 32-byte hex private key", file.display()))?;
    LocalSigner::from_bytes(&bytes).map_err(|e| anyhow!("{e}"))
}

fn load_key(key: &KeyArgs) -> Result<LocalSigner> {
    if let Some(file) = &key.private_key_file {
        return read_raw_key(file);
    }
    let dir = key.keystore.dir();
    let accounts = list_accounts(&dir)?;
    let (address, path) = match key.address {
        Some(a) => accounts
            .into_iter()
            .find(|(x, _)| *x == a)
            .ok_or_else(|| anyhow!("no keystore file for {a} in {}", dir.display()))?,
        None => match accounts.len() {
            0 => bail!("no account in {}: run `photon account new`", dir.display()),
            1 => accounts.into_iter().next().ok_or_else(|| anyhow!("no account"))?,
            _ => bail!("several accounts in {}: choose one with --address", dir.display()),
        },
    };
    let password = password(&key.keystore, false)?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    keystore::decrypt(&text, &password)
        .with_context(|| format!("cannot unlock {address} ({})", path.display()))
}

fn wallet_provider(key: &LocalSigner, url: reqwest::Url) -> alloy::providers::DynProvider {
    let signer = PrivateKeySigner::from_bytes(&key.to_bytes().into())
        .expect("a valid local key is a valid signer");
    ProviderBuilder::new().wallet(EthereumWallet::from(signer)).connect_http(url).erased()
}

async fn run(args: RunArgs) -> Result<()> {
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
    let data_dir =
        data_root.join(format!("{}-{}", hex_address(key.address()), deployment.chain_id));
    let api_addr = args
        .api_addr
        .or(file.api_addr)
        .unwrap_or_else(|| "127.0.0.1:5001".parse().expect("valid address"));
    let api_token = args.api_token.or(file.api_token);
    let mut protocol = Config::default();
    if let Some(min) = args.min_settle_timeout.or(file.min_settle_timeout) {
        protocol.min_settle_timeout = min;
    }
    if let Some(max) = args.max_settle_timeout.or(file.max_settle_timeout) {
        protocol.max_settle_timeout = max;
    }
    let settle_timeout = args.settle_timeout.or(file.settle_timeout).unwrap_or(500);
    let floor = protocol.lock_timeout + protocol.reveal_timeout;
    if protocol.min_settle_timeout < floor {
        bail!(
            "--min-settle-timeout {} is below {floor} blocks (lock timeout + reveal timeout): \
             a partner could close before a lock we receive can be claimed",
            protocol.min_settle_timeout
        );
    }
    if !protocol.accepts_settle_timeout(u64::from(settle_timeout)) {
        bail!(
            "--settle-timeout {settle_timeout} is outside the accepted range {} to {} blocks",
            protocol.min_settle_timeout,
            protocol.max_settle_timeout
        );
    }
    let settings = NodeSettings {
        deployment: deployment.clone(),
        confirmations: args.confirmations.or(file.confirmations).unwrap_or(5),
        poll_interval: Duration::from_millis(args.poll_ms.or(file.poll_ms).unwrap_or(1_000)),
        snapshot_every: 1_000,
        protocol,
        payment_timeout: Duration::from_secs(60),
        settle_timeout,
        p2p_addresses: Vec::new(),
        monitor: args.monitor.or(file.monitor),
    };
    let p2p_listen = match args.p2p_listen {
        Some(a) => a,
        None => file
            .p2p_listen
            .as_deref()
            .unwrap_or("/ip4/127.0.0.1/tcp/0")
            .parse()
            .context("p2p_listen in the config file is not a multiaddr")?,
    };
    let mut bootstrap = args.bootstrap;
    if bootstrap.is_empty() {
        for a in file.bootstrap.unwrap_or_default() {
            bootstrap.push(
                a.parse().with_context(|| format!("bootstrap address `{a}` is not a multiaddr"))?,
            );
        }
    }
    let (incoming_tx, incoming) = tokio::sync::mpsc::channel(4096);
    let (delivered_tx, delivered) = tokio::sync::mpsc::unbounded_channel();
    let p2p_config = photon_transport::P2pConfig {
        listen: p2p_listen,
        bootstrap,
        request_timeout: Duration::from_secs(10),
        mdns: args.mdns || file.mdns.unwrap_or(false),
    };
    let transport =
        photon_transport::start(&key.to_bytes(), p2p_config, incoming_tx, Some(delivered_tx))
            .await
            .context("starting the peer-to-peer transport")?;
    let addresses: Vec<String> =
        transport.listen_addrs().await.iter().map(ToString::to_string).collect();
    tracing::info!(addresses = ?addresses, "peer-to-peer transport listening");
    let settings = NodeSettings { p2p_addresses: addresses, ..settings };
    let provider = photon_node::provider(rpc_url.clone(), &key, deployment.chain_id)?;
    let (node, handle) =
        Node::start(key, provider, &data_dir, settings, Arc::new(P2pNetwork(transport)))
            .await
            .with_context(|| {
                format!("starting the node on {rpc_url} with data in {}", data_dir.display())
            })?;
    forward_incoming(incoming, delivered, handle.inbox());
    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .with_context(|| format!("listening on {api_addr}"))?;
    tracing::info!(address = %handle.address, api = %api_addr, data = %data_dir.display(), "node running");
    let task = tokio::spawn(node.run());
    let app = photon_node::api::router(handle.clone(), api_token);
    let shutdown_handle = handle.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            shutdown_handle.shutdown();
        })
        .await
        .context("serving the API")?;
    task.await.context("the node task")?;
    Ok(())
}

async fn monitor(args: MonitorArgs) -> Result<()> {
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
