//! Photon nodes as separate `photon run` processes on 127.0.0.1 against a dev chain: what the
//! demo, the end-to-end tests and the transfer benchmark are built on.

use anyhow::{bail, Context, Result};
use photon_chain::devnet::DevNet;
use photon_primitives::{Address, Signer};
use photon_transport::netns::Lan;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A node process; stopped (SIGTERM, then killed) when dropped.
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

impl Drop for NodeProcess {
    fn drop(&mut self) {
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
    let mut r = reqwest::Client::new().request(method, &url);
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

/// Waits (up to 10 s) until the API at `url` answers its status.
async fn await_api(url: &str) -> Result<()> {
    for _ in 0..200 {
        if request(reqwest::Method::GET, format!("{url}/api/v1/status"), None).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("nothing answers at {url}")
}

/// Where peers reach `node` (its status's `p2p_addresses`): what others bootstrap from.
pub async fn p2p_addresses(node: &NodeProcess) -> Result<Vec<String>> {
    let status = request(reqwest::Method::GET, format!("{}/api/v1/status", node.url), None).await?;
    Ok(status["p2p_addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(String::from))
        .collect())
}

/// The channel of `node` with `partner`, as its API shows it.
pub async fn channel(
    node: &NodeProcess,
    token: Address,
    partner: Address,
) -> Result<Option<Value>> {
    let url = format!("{}/api/v1/channels/{token:?}/{partner:?}", node.url);
    let response = reqwest::Client::new().get(&url).send().await?;
    if response.status().as_u16() == 404 {
        return Ok(None);
    }
    Ok(Some(response.json().await?))
}

/// Waits until `node` sees its channel with `partner` at `(ours, theirs)`.
pub async fn await_balances(
    node: &NodeProcess,
    token: Address,
    partner: Address,
    want: (u128, u128),
) -> Result<()> {
    let want = (want.0.to_string(), want.1.to_string());
    for _ in 0..600 {
        if let Some(c) = channel(node, token, partner).await? {
            if c["balance"].as_str() == Some(want.0.as_str())
                && c["partner_balance"].as_str() == Some(want.1.as_str())
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{}: the channel never reached {want:?}", node.name)
}

/// A free TCP port on 127.0.0.1 (e.g. for a process started later).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `photon run` for account `i + 1` of the dev network, called `name`, and waits for
/// its API.
pub async fn start_node(
    photon: &Path,
    net: &DevNet,
    i: usize,
    name: &'static str,
    dir: &Path,
    deployment: &Path,
    bootstrap: &[String],
) -> Result<NodeProcess> {
    start_node_with(photon, net, i, name, dir, deployment, bootstrap, &[]).await
}

/// [`start_node`] with extra environment variables (e.g. `PHOTON_CRASH_AT`).
#[allow(clippy::too_many_arguments)]
pub async fn start_node_with(
    photon: &Path,
    net: &DevNet,
    i: usize,
    name: &'static str,
    dir: &Path,
    deployment: &Path,
    bootstrap: &[String],
    env: &[(&str, &str)],
) -> Result<NodeProcess> {
    start_node_lagging(photon, net, i, name, dir, deployment, bootstrap, env, 0).await
}

/// [`start_node_with`] for a node that acts on the chain only `confirmations` blocks behind
/// its head (its confirmed block lags the others', whose confirmations are 0).
#[allow(clippy::too_many_arguments)]
pub async fn start_node_lagging(
    photon: &Path,
    net: &DevNet,
    i: usize,
    name: &'static str,
    dir: &Path,
    deployment: &Path,
    bootstrap: &[String],
    env: &[(&str, &str)],
    confirmations: u64,
) -> Result<NodeProcess> {
    let url = format!("http://127.0.0.1:{}", free_port()?);
    let mut command = Command::new(photon);
    run_args(&mut command, net, i, name, dir, deployment, &url, confirmations)?;
    command.args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0"]);
    if !bootstrap.is_empty() {
        command.args(["--bootstrap", &bootstrap.join(",")]);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().with_context(|| format!("starting {}", photon.display()))?;
    let node = NodeProcess { name, address: net.accounts[i + 1].address(), url, child };
    await_api(&node.url).await.with_context(|| format!("{}'s node did not start", node.name))?;
    Ok(node)
}

/// Starts `photon run` like [`start_node`] but on host `host` of `lan`, with no way to the
/// chain (its RPC endpoint, on the machine's loopback, is not in the namespace) and no
/// bootstrap peer: it finds its peers by mDNS. Its API listens on the namespace's loopback;
/// reach it with `photon` client commands run through [`Lan::command`].
#[allow(clippy::too_many_arguments)]
pub async fn start_node_on_lan(
    photon: &Path,
    lan: &Lan,
    host: usize,
    net: &DevNet,
    i: usize,
    name: &'static str,
    dir: &Path,
    deployment: &Path,
) -> Result<NodeProcess> {
    let url = format!("http://127.0.0.1:{}", free_port()?);
    let mut command = lan.command(host, photon);
    run_args(&mut command, net, i, name, dir, deployment, &url, 0)?;
    command.args(["--p2p-listen", "/ip4/0.0.0.0/tcp/0", "--mdns"]);
    let child = command.spawn().with_context(|| format!("starting {}", photon.display()))?;
    let node = NodeProcess { name, address: net.accounts[i + 1].address(), url, child };
    for _ in 0..200 {
        let status = lan
            .command(host, photon)
            .args(["status", "--api", &node.url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if status.success() {
            return Ok(node);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{}'s node did not start on the local network", node.name)
}

/// The `photon run` arguments of account `i + 1`'s node (all but the p2p ones).
#[allow(clippy::too_many_arguments)]
fn run_args(
    command: &mut Command,
    net: &DevNet,
    i: usize,
    name: &str,
    dir: &Path,
    deployment: &Path,
    url: &str,
    confirmations: u64,
) -> Result<()> {
    let signer = &net.accounts[i + 1];
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&key, alloy::hex::encode(signer.to_bytes()))?;
    command
        .arg("run")
        .args(["--private-key-file", &key.display().to_string()])
        .args(["--rpc-url", net.chain.endpoint().as_str()])
        .args(["--deployment", &deployment.display().to_string()])
        .args(["--data-dir", &dir.join(name).display().to_string()])
        .args(["--api-addr", url.trim_start_matches("http://")])
        .args(["--confirmations", &confirmations.to_string()])
        .args(["--poll-ms", "100", "--settle-timeout", "100"])
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    Ok(())
}

/// Starts `photon monitor` (a monitoring service) paying its gas with the dev network's last
/// account, its API on `port` of 127.0.0.1, and waits for it.
pub async fn start_monitor(
    photon: &Path,
    net: &DevNet,
    dir: &Path,
    deployment: &Path,
    port: u16,
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
    await_api(&monitor.url).await.context("the monitoring service did not start")?;
    Ok(monitor)
}
