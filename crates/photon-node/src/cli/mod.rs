//! The command line. One module per command group: [`account`] (keystore files), [`node`]
//! (`deploy`, `run`, `monitor` and the config file), [`client`] (commands that talk to a
//! running node's API through the typed client).

mod account;
mod client;
mod node;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    Account(account::AccountCommand),
    /// Deploy SecretRegistry and TokensNetwork to a chain and write a deployment file.
    Deploy(node::DeployArgs),
    /// Run a node.
    Run(Box<node::RunArgs>),
    /// Run a monitoring (delegate) service that guards the channels of offline nodes.
    Monitor(Box<node::MonitorArgs>),
    /// Run a pathfinding service: fee- and capacity-aware routes from nodes' signed updates.
    Pfs(Box<node::PfsArgs>),
    #[command(flatten)]
    Client(client::ClientCommand),
}

/// The local time zone's offset, read at start while the process has one thread (reading it
/// later is refused on Linux); UTC when it cannot be read.
static LOCAL_OFFSET: std::sync::OnceLock<time::UtcOffset> = std::sync::OnceLock::new();

/// Reads the local offset; call before any thread starts.
pub(crate) fn read_local_offset() {
    let offset = time::UtcOffset::current_local_offset().unwrap_or(time::UtcOffset::UTC);
    let _ = LOCAL_OFFSET.set(offset);
}

fn local_offset() -> time::UtcOffset {
    LOCAL_OFFSET.get().copied().unwrap_or(time::UtcOffset::UTC)
}

pub(super) fn default_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".photon")
}

/// Logs go to standard error, or (`photon run --log-file`) to a file rotated by size;
/// `RUST_LOG` filters them (default `info`).
fn init_logging(file: Option<&node::LogFile>) -> Result<()> {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    match file {
        Some(log) => {
            let writer = photon_node::logfile::RotatingFile::open(
                &log.path,
                log.max_mb.saturating_mul(1024 * 1024),
                log.keep,
            )
            .map_err(|e| anyhow::anyhow!("log file {}: {e}", log.path.display()))?;
            tracing_subscriber::fmt()
                .with_env_filter(filter())
                .with_ansi(false)
                .with_writer(writer)
                .init();
        }
        None => {
            tracing_subscriber::fmt().with_env_filter(filter()).with_writer(std::io::stderr).init()
        }
    }
    Ok(())
}

pub(crate) async fn main() -> Result<()> {
    let cli = Cli::parse();
    let log_file = match &cli.command {
        Command::Run(args) => args.log_file(),
        _ => None,
    };
    init_logging(log_file.as_ref())?;
    match cli.command {
        Command::Account(command) => account::main(command)?,
        Command::Deploy(args) => node::deploy(args).await?,
        Command::Run(args) => node::run(*args).await?,
        Command::Monitor(args) => node::monitor(*args).await?,
        Command::Pfs(args) => node::pfs(*args).await?,
        Command::Client(command) => client::main(command).await?,
    }
    Ok(())
}
