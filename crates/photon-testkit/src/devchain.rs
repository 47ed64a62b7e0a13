//! A local anvil dev chain, from the npm package pinned in the clone's `package.json`.
//!
//! The binary is looked up in this order: the `PHOTON_ANVIL` environment variable; the
//! platform's `node_modules/@foundry-rs/anvil-<os>-<arch>/bin/anvil` in the current directory
//! or any parent of it or of this crate's source; `anvil` on `PATH`. The native binary is used
//! rather than the npm shim, which costs 50–200 ms per start.

use alloy::node_bindings::{Anvil, AnvilInstance};
use anyhow::{anyhow, Context, Result};
use std::path::{Path, PathBuf};

/// A running anvil; stopped when dropped.
#[derive(Debug)]
pub struct DevChain {
    instance: AnvilInstance,
}

impl DevChain {
    /// Starts anvil on a free port of 127.0.0.1 with instant mining.
    pub fn spawn() -> Result<Self> {
        Self::spawn_with(&[])
    }

    /// Starts anvil with instant mining and chain id `chain_id` (two chains side by side).
    pub fn spawn_with_chain_id(chain_id: u64) -> Result<Self> {
        let path = anvil_path()?;
        let instance = Anvil::at(&path)
            .args(["--host", "127.0.0.1"])
            .chain_id(chain_id)
            .try_spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        Ok(Self { instance })
    }

    /// Starts anvil with extra command-line arguments (e.g. `["--block-time", "1"]`).
    pub fn spawn_with(args: &[&str]) -> Result<Self> {
        let path = anvil_path()?;
        let instance = Anvil::at(&path)
            .args(["--host", "127.0.0.1"])
            .args(args.iter().copied())
            .try_spawn()
            .with_context(|| format!("starting {}", path.display()))?;
        Ok(Self { instance })
    }

    /// The HTTP JSON-RPC endpoint.
    pub fn endpoint(&self) -> alloy::transports::http::reqwest::Url {
        self.instance.endpoint_url()
    }

    /// The chain id anvil reports.
    pub fn chain_id(&self) -> u64 {
        self.instance.chain_id()
    }

    /// The private keys of anvil's funded development accounts.
    pub fn keys(&self) -> Vec<[u8; 32]> {
        self.instance.keys().iter().map(|k| k.to_bytes().into()).collect()
    }
}

/// Finds the anvil binary (see the module documentation).
pub fn anvil_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PHOTON_ANVIL") {
        return Ok(PathBuf::from(p));
    }
    let rel = Path::new("node_modules/@foundry-rs")
        .join(format!("anvil-{}", platform()))
        .join("bin/anvil");
    let starts = [std::env::current_dir().ok(), Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")))];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join(&rel);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join("anvil")).any(|p| p.is_file()))
        .unwrap_or(false);
    if on_path {
        return Ok(PathBuf::from("anvil"));
    }
    Err(anyhow!("anvil not found: run `npm ci` in the clone (make does it), or set PHOTON_ANVIL"))
}

fn platform() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "aarch64") => "linux-arm64",
        ("macos", "x86_64") => "darwin-amd64",
        ("macos", "aarch64") => "darwin-arm64",
        ("windows", _) => "win32-amd64",
        _ => "linux-amd64",
    }
}
