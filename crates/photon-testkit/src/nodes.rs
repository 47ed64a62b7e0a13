//! Photon nodes as separate `photon run` processes on 127.0.0.1 against a dev chain, and the
//! plain HTTP calls that drive them: what the demo, the end-to-end tests and the transfer
//! benchmark are built on ([`crate::World`] puts them together).

use crate::devnet::DevNet;
use crate::netns::{Host, Internet, Lan};
use crate::poll::{eventually, eventually_within};
use anyhow::{bail, Context, Result};
use photon_primitives::{Address, Signer};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A node process; stopped (SIGTERM, then killed) when dropped.
#[derive(Debug)]
pub struct NodeProcess {
    /// Its name in the story.
    pub name: &'static str,
    /// Its account.
    pub address: Address,
    /// Its REST API.
    pub url: String,
    /// The process.
    pub child: Child,
}

impl NodeProcess {
    /// Stops the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// Where peers reach this node (its status's `p2p_addresses`): what others bootstrap from.
    pub async fn p2p_addresses(&self) -> Result<Vec<String>> {
        let status = get(&format!("{}/api/v1/status", self.url)).await?;
        Ok(status["p2p_addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(String::from))
            .collect())
    }

    /// This node's channel with `partner`, as its API shows it (`None`: it has none).
    pub async fn channel(&self, token: Address, partner: Address) -> Result<Option<Value>> {
        let url = format!("{}/api/v1/channels/{token:?}/{partner:?}", self.url);
        let response = reqwest::Client::new().get(&url).send().await?;
        if response.status().as_u16() == 404 {
            return Ok(None);
        }
        Ok(Some(response.json().await?))
    }

    /// (ours, theirs) in this node's channel with `partner`, if it has one.
    pub async fn balances(&self, token: Address, partner: Address) -> Result<Option<(u128, u128)>> {
        let Some(c) = self.channel(token, partner).await? else { return Ok(None) };
        let amount = |key: &str| -> Result<u128> {
            Ok(c[key].as_str().with_context(|| format!("no {key} in {c}"))?.parse()?)
        };
        Ok(Some((amount("balance")?, amount("partner_balance")?)))
    }

    /// Waits until this node sees its channel with `partner` at `(ours, theirs)`.
    pub async fn await_balances(
        &self, token: Address, partner: Address, want: (u128, u128),
    ) -> Result<()> {
        let what = format!("{}'s channel with {partner} at {want:?}", self.name);
        eventually(&what, async || {
            Ok((self.balances(token, partner).await? == Some(want)).then_some(()))
        })
        .await
    }

    /// Waits until this node has seen the chain up to block `block`.
    pub async fn await_block(&self, block: u64) -> Result<()> {
        let what = format!("{} at block {block}", self.name);
        eventually(&what, async || {
            let status = get(&format!("{}/api/v1/status", self.url)).await?;
            Ok(status["block"].as_u64().is_some_and(|b| b >= block).then_some(()))
        })
        .await
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

impl NodeProcess {
    /// Stops the process the way an operator would (SIGTERM, then SIGKILL after 5 s); nothing
    /// if it is gone already.
    pub fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return; // already gone (e.g. crashed on purpose)
        }
        #[cfg(unix)]
        {
            let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
            for _ in 0..50 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls a node's API; a non-2xx answer is an error with the node's message.
pub async fn request(method: reqwest::Method, url: String, body: Option<Value>) -> Result<Value> {
    request_with(&reqwest::Client::new(), method, url, body).await
}

/// [`request`] on a given HTTP client (e.g. one that keeps many connections open).
pub async fn request_with(
    client: &reqwest::Client, method: reqwest::Method, url: String, body: Option<Value>,
) -> Result<Value> {
    let mut r = client.request(method, &url);
    if let Some(body) = body {
        r = r.json(&body);
    }
    let response = r.send().await.with_context(|| format!("calling {url}"))?;
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url}: {status}: {}", value["error"]["message"].as_str().unwrap_or("?"));
    }
    Ok(value)
}

/// GET `url`, which must answer 2xx.
pub async fn get(url: &str) -> Result<Value> {
    request(reqwest::Method::GET, url.to_string(), None).await
}

/// A free TCP port on 127.0.0.1 (e.g. for a process started later).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// How to start one `photon run` process: node `i` runs dev account `i + 1` (account 0
/// deploys), keeps its data in `dir/name` and listens on 127.0.0.1.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    /// The `photon` executable.
    pub photon: &'a Path,
    /// The dev network it runs against.
    pub net: &'a DevNet,
    /// The folder for its key file and data directory.
    pub dir: &'a Path,
    /// The deployment file.
    pub deployment: &'a Path,
    /// Its index (dev account `i + 1`).
    pub i: usize,
    /// Its name in the story.
    pub name: &'static str,
    /// Peers to bootstrap from.
    pub bootstrap: Vec<String>,
    /// Extra environment variables (e.g. `PHOTON_CRASH_AT`).
    pub env: Vec<(String, String)>,
    /// Blocks it acts behind the chain's head (0: at once).
    pub confirmations: u64,
    /// How often it polls the chain, in milliseconds.
    pub poll_ms: u64,
    /// Its `RUST_LOG` (default: this process's, else `warn`).
    pub log: Option<String>,
}

impl Launch<'_> {
    /// The `photon run` command line (all but the p2p addresses).
    fn command(&self, url: &str, wrap: impl FnOnce(&Path) -> Command) -> Result<Command> {
        self.command_with_rpc(url, self.net.chain.endpoint().as_str(), wrap)
    }

    /// [`Launch::command`] with the chain at `rpc`.
    fn command_with_rpc(
        &self, url: &str, rpc: &str, wrap: impl FnOnce(&Path) -> Command,
    ) -> Result<Command> {
        let signer = &self.net.accounts[self.i + 1];
        let key = self.dir.join(format!("{}.key", self.name));
        std::fs::write(&key, alloy::hex::encode(signer.to_bytes()))?;
        let log = self.log.clone().or_else(|| std::env::var("RUST_LOG").ok());
        let mut command = wrap(self.photon);
        command
            .arg("run")
            .args(["--private-key-file", &key.display().to_string()])
            .args(["--rpc-url", rpc])
            .args(["--deployment", &self.deployment.display().to_string()])
            .args(["--data-dir", &self.dir.join(self.name).display().to_string()])
            .args(["--api-addr", url.trim_start_matches("http://")])
            .args(["--confirmations", &self.confirmations.to_string()])
            .args(["--poll-ms", &self.poll_ms.to_string(), "--settle-timeout", "100"])
            .env("RUST_LOG", log.unwrap_or_else(|| "warn".into()))
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Ok(command)
    }

    fn spawn(&self, mut command: Command, url: String) -> Result<NodeProcess> {
        let child =
            command.spawn().with_context(|| format!("starting {}", self.photon.display()))?;
        Ok(NodeProcess {
            name: self.name,
            address: self.net.accounts[self.i + 1].address(),
            url,
            child,
        })
    }

    /// Starts the node on 127.0.0.1 (its peer-to-peer listen address from `PHOTON_P2P_LISTEN`
    /// in `env` when given) and waits for its API. A free port can be taken by
    /// another process between our look and the node's bind: a node that exits at start is
    /// started again on another port (three tries).
    pub async fn start(&self) -> Result<NodeProcess> {
        let mut tries = 0;
        loop {
            tries += 1;
            let url = format!("http://127.0.0.1:{}", free_port()?);
            let mut command = self.command(&url, |photon| Command::new(photon))?;
            if !self.env.iter().any(|(k, _)| k == "PHOTON_P2P_LISTEN") {
                command.args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0"]);
            }
            if !self.bootstrap.is_empty() {
                command.args(["--bootstrap", &self.bootstrap.join(",")]);
            }
            let mut node = self.spawn(command, url)?;
            let what = format!("{}'s node to start", node.name);
            let status_url = format!("{}/api/v1/status", node.url);
            let started = eventually(&what, async || {
                if let Some(exit) = node.child.try_wait()? {
                    bail!("{}'s node exited at start ({exit})", node.name);
                }
                Ok(get(&status_url).await.ok())
            })
            .await;
            match started {
                Ok(_) => return Ok(node),
                Err(_) if tries < 3 && node.child.try_wait()?.is_some() => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts the node on host `host` of `lan`, with no way to the chain (its RPC endpoint, on
    /// the machine's loopback, is not in the namespace) and no bootstrap peer: it finds its
    /// peers by mDNS. Its API listens on the namespace's loopback; reach it with `photon`
    /// client commands run through [`Lan::command`].
    pub async fn start_on_lan(&self, lan: &Lan, host: usize) -> Result<NodeProcess> {
        let url = format!("http://127.0.0.1:{}", free_port()?);
        let mut command = self.command(&url, |photon| lan.command(host, photon))?;
        command.args(["--p2p-listen", "/ip4/0.0.0.0/tcp/0", "--mdns"]);
        let node = self.spawn(command, url)?;
        let what = format!("{}'s node to start on the local network", node.name);
        eventually_within(Duration::from_secs(60), &what, async || {
            let status = lan
                .command(host, self.photon)
                .args(["status", "--api", &node.url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            Ok(status.success().then_some(()))
        })
        .await?;
        Ok(node)
    }
}

impl Launch<'_> {
    /// Starts the node on `host` of a simulated internet, listening on every interface
    /// (TCP and QUIC, port 4001), reaching the chain at `rpc` (see [`Internet::expose`]),
    /// with `extra` arguments (`--relay-service`, …). Its API listens on the namespace's
    /// loopback; reach it with `photon` client commands run through [`Internet::command`].
    pub async fn start_on_internet(
        &self, internet: &Internet, host: Host, rpc: &str, extra: &[&str],
    ) -> Result<NodeProcess> {
        let url = format!("http://127.0.0.1:{}", free_port()?);
        let mut command =
            self.command_with_rpc(&url, rpc, |photon| internet.command(host, photon))?;
        command.args(["--p2p-listen", "/ip4/0.0.0.0/tcp/4001,/ip4/0.0.0.0/udp/4001/quic-v1"]);
        if !self.bootstrap.is_empty() {
            command.args(["--bootstrap", &self.bootstrap.join(",")]);
        }
        command.args(extra);
        let node = self.spawn(command, url)?;
        let what = format!("{}'s node to start on {host:?}", node.name);
        eventually_within(Duration::from_secs(60), &what, async || {
            let status = internet
                .command(host, self.photon)
                .args(["status", "--api", &node.url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()?;
            Ok(status.success().then_some(()))
        })
        .await?;
        Ok(node)
    }
}

/// Starts `photon monitor` (a monitoring service) paying its gas with the dev network's last
/// account, its data in `dir/monitor` and its API on `port` of 127.0.0.1, and waits for it.
pub async fn start_monitor(
    photon: &Path, net: &DevNet, dir: &Path, deployment: &Path, port: u16,
) -> Result<NodeProcess> {
    let signer = net.accounts.last().context("the dev network has no account")?;
    let key = dir.join("monitor.key");
    std::fs::write(&key, alloy::hex::encode(signer.to_bytes()))?;
    let url = format!("http://127.0.0.1:{port}");
    let child = Command::new(photon)
        .arg("monitor")
        .args(["--private-key-file", &key.display().to_string()])
        .args(["--rpc-url", net.chain.endpoint().as_str()])
        .args(["--deployment", &deployment.display().to_string()])
        .args(["--data-dir", &dir.join("monitor").display().to_string()])
        .args(["--api-addr", url.trim_start_matches("http://")])
        .args(["--confirmations", "0", "--poll-ms", "100"])
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", photon.display()))?;
    let monitor = NodeProcess { name: "Monitor", address: signer.address(), url, child };
    let what = "the monitoring service to start";
    eventually(what, async || Ok(get(&format!("{}/api/v1/status", monitor.url)).await.ok()))
        .await?;
    Ok(monitor)
}

/// Starts `photon pfs` (a pathfinding service) with its data in `dir/pfs` and its API on a
/// free port of 127.0.0.1 (nodes silent for `offline_after` seconds are routed around), and
/// waits for it; started again on another port if the port was taken meanwhile.
pub async fn start_pfs(
    photon: &Path, net: &DevNet, dir: &Path, deployment: &Path, offline_after: u64,
) -> Result<NodeProcess> {
    let mut tries = 0;
    loop {
        tries += 1;
        let url = format!("http://127.0.0.1:{}", free_port()?);
        let child = Command::new(photon)
            .arg("pfs")
            .args(["--rpc-url", net.chain.endpoint().as_str()])
            .args(["--deployment", &deployment.display().to_string()])
            .args(["--data-dir", &dir.join("pfs").display().to_string()])
            .args(["--api-addr", url.trim_start_matches("http://")])
            .args(["--confirmations", "0", "--poll-ms", "100"])
            .args(["--offline-after", &offline_after.to_string(), "--rate-limit", "1000"])
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", photon.display()))?;
        let mut pfs = NodeProcess { name: "PFS", address: Address::ZERO, url, child };
        let status_url = format!("{}/api/v1/status", pfs.url);
        let started = eventually("the pathfinding service to start", async || {
            if let Some(exit) = pfs.child.try_wait()? {
                bail!("the pathfinding service exited at start ({exit})");
            }
            Ok(get(&status_url).await.ok())
        })
        .await;
        match started {
            Ok(_) => return Ok(pfs),
            Err(_) if tries < 3 && pfs.child.try_wait()?.is_some() => continue,
            Err(e) => return Err(e),
        }
    }
}

/// A fresh folder under the system's temporary directory for one run's files.
pub fn scratch_dir(tag: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("photon-{tag}-{}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
