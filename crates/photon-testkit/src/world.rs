//! A whole Photon network under test in one value: a dev chain with the contracts, and
//! `photon run` processes on it, with helpers that read like the protocol (open, deposit,
//! pay, close, await balances, crash and restart, mine until settled).

use crate::devnet::{DevNet, TEST_PARAMS};
use crate::nodes::{request, start_monitor, start_pfs, Launch, NodeProcess};
use crate::poll::until;
use anyhow::{ensure, Context, Result};
use photon_chain::DeployParams;
use photon_primitives::Address;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A dev chain and node processes; node 0 of [`WorldSpec`]'s names is the hub (unless
/// [`WorldSpec::hub`] says otherwise) the others bootstrap from.
#[derive(Debug)]
pub struct World {
    // the nodes stop before the chain does (fields drop in order)
    /// The nodes, in the order of their names.
    pub nodes: Vec<NodeProcess>,
    /// The pathfinding service every node uses, when the spec asks for one.
    pub pfs: Option<NodeProcess>,
    /// The chain, the contracts and the test token.
    pub net: DevNet,
    /// The test token's address.
    pub token: Address,
    /// The folder holding the nodes' keys and data (removed when the world is dropped).
    pub dir: PathBuf,
    /// The deployment file the nodes read.
    pub deployment: PathBuf,
    spec: WorldSpec,
}

/// How to build a [`World`]: see [`World::build`].
#[derive(Debug, Clone)]
pub struct WorldSpec {
    photon: PathBuf,
    names: Vec<&'static str>,
    hub: usize,
    funds: u128,
    env: Vec<(usize, String, String)>,
    lagging: Option<(usize, u64)>,
    poll_ms: u64,
    log: Option<String>,
    params: DeployParams,
    /// A pathfinding service for every node, with this offline window (seconds).
    pfs: Option<u64>,
}

impl WorldSpec {
    /// Tokens minted on chain to each node's account (default 0).
    pub fn funds(mut self, funds: u128) -> Self {
        self.funds = funds;
        self
    }

    /// Which node starts first, the one the others bootstrap from (default 0).
    pub fn hub(mut self, hub: usize) -> Self {
        self.hub = hub;
        self
    }

    /// An environment variable for node `i`'s process (e.g. a crash switch).
    pub fn env(mut self, i: usize, key: &str, value: &str) -> Self {
        self.env.push((i, key.into(), value.into()));
        self
    }

    /// Node `i` acts on the chain `blocks` behind its head (the others at once).
    pub fn lagging(mut self, i: usize, blocks: u64) -> Self {
        self.lagging = Some((i, blocks));
        self
    }

    /// How often the nodes poll the chain (default 100 ms).
    pub fn poll_ms(mut self, ms: u64) -> Self {
        self.poll_ms = ms;
        self
    }

    /// The nodes' `RUST_LOG` (default: this process's, else `warn`).
    pub fn log(mut self, filter: &str) -> Self {
        self.log = Some(filter.into());
        self
    }

    /// Deployment parameters (default [`TEST_PARAMS`]).
    pub fn params(mut self, params: DeployParams) -> Self {
        self.params = params;
        self
    }

    /// A pathfinding service (`photon pfs`) started before the nodes, each node using it;
    /// nodes silent for `offline_after` seconds are routed around.
    pub fn pfs(mut self, offline_after: u64) -> Self {
        self.pfs = Some(offline_after);
        self
    }

    /// Starts the chain, deploys, and starts the nodes: the hub first.
    pub async fn start(self) -> Result<World> {
        let net = DevNet::start_with(&self.params)
            .await
            .context("starting anvil and deploying the contracts")?;
        let dir =
            std::env::temp_dir().join(format!("photon-world-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir)?;
        let deployment = dir.join("deployment.json");
        net.deployment.save(&deployment)?;
        let token = *net.token.address();
        let mut world =
            World { nodes: Vec::new(), pfs: None, net, token, dir, deployment, spec: self };
        if let Some(offline_after) = world.spec.pfs {
            let (photon, net) = (&world.spec.photon, &world.net);
            let pfs = start_pfs(photon, net, &world.dir, &world.deployment, offline_after).await?;
            world.pfs = Some(pfs);
        }
        let hub = world.spec.hub;
        let first = world.launch(hub, Vec::new()).start().await?;
        let boot = first.p2p_addresses().await?;
        let mut started = Vec::new();
        for i in 0..world.spec.names.len() {
            started.push(if i == hub {
                None
            } else {
                Some(world.launch(i, boot.clone()).start().await?)
            });
        }
        let mut first = Some(first);
        world.nodes = started
            .into_iter()
            .map(|n| n.or_else(|| first.take()).context("every node started"))
            .collect::<Result<_>>()?;
        for node in &world.nodes {
            if world.spec.funds > 0 {
                world.net.mint(node.address, world.spec.funds).await?;
            }
        }
        Ok(world)
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Drop for World {
    fn drop(&mut self) {
        self.nodes.clear(); // stop the processes before their files go
        self.pfs = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl World {
    /// A world of nodes called `names`, running the `photon` executable at `photon`.
    pub fn build(photon: impl AsRef<Path>, names: &[&'static str]) -> WorldSpec {
        WorldSpec {
            photon: photon.as_ref().to_path_buf(),
            names: names.to_vec(),
            hub: 0,
            funds: 0,
            env: Vec::new(),
            lagging: None,
            poll_ms: 100,
            log: None,
            params: TEST_PARAMS,
            pfs: None,
        }
    }

    /// How node `i` is started, bootstrapping from `bootstrap`, with the world's settings.
    pub fn launch(&self, i: usize, bootstrap: Vec<String>) -> Launch<'_> {
        let spec = &self.spec;
        Launch {
            photon: &spec.photon,
            net: &self.net,
            dir: &self.dir,
            deployment: &self.deployment,
            i,
            name: spec.names[i],
            bootstrap,
            env: spec
                .env
                .iter()
                .filter(|(who, ..)| *who == i)
                .map(|(_, k, v)| (k.clone(), v.clone()))
                .chain(self.pfs_env())
                .collect(),
            confirmations: spec.lagging.filter(|(who, _)| *who == i).map_or(0, |(_, b)| b),
            poll_ms: spec.poll_ms,
            log: spec.log.clone(),
        }
    }

    /// Node `i`'s account.
    pub fn addr(&self, i: usize) -> Address {
        self.nodes[i].address
    }

    /// Calls node `i`'s API at `path` (`/api/v1/…`); a non-2xx answer is an error.
    pub async fn call(
        &self, i: usize, method: reqwest::Method, path: &str, body: Option<Value>,
    ) -> Result<Value> {
        request(method, format!("{}{path}", self.nodes[i].url), body).await
    }

    /// GET on node `i`'s API.
    pub async fn get(&self, i: usize, path: &str) -> Result<Value> {
        self.call(i, reqwest::Method::GET, path, None).await
    }

    fn channel_path(&self, partner: usize) -> String {
        format!("/api/v1/channels/{:?}/{:?}", self.token, self.addr(partner))
    }

    /// Node `a` opens a channel with `b`, depositing `deposit` if given.
    pub async fn open(&self, a: usize, b: usize, deposit: Option<u128>) -> Result<Value> {
        let mut body = json!({ "token": self.token, "partner": self.addr(b) });
        if let Some(d) = deposit {
            body["deposit"] = d.to_string().into();
        }
        self.call(a, reqwest::Method::PUT, "/api/v1/channels", Some(body)).await
    }

    /// Opens each channel `(a, b, deposit)` (node `a` with `b`, `a` depositing), then waits
    /// until both ends of each see `(deposit, 0)`.
    pub async fn open_channels(&self, channels: &[(usize, usize, u128)]) -> Result<()> {
        for &(a, b, deposit) in channels {
            self.open(a, b, Some(deposit)).await?;
        }
        for &(a, b, deposit) in channels {
            self.balances(a, b, (deposit, 0)).await?;
        }
        Ok(())
    }

    /// Node `a` changes its channel with `b` (`{"deposit": …}`, `{"withdraw": …}`,
    /// `{"state": "closed" | "settled"}`).
    pub async fn patch(&self, a: usize, b: usize, body: Value) -> Result<Value> {
        self.call(a, reqwest::Method::PATCH, &self.channel_path(b), Some(body)).await
    }

    /// Node `a` deposits `amount` into its channel with `b`.
    pub async fn deposit(&self, a: usize, b: usize, amount: u128) -> Result<Value> {
        self.patch(a, b, json!({ "deposit": amount.to_string() })).await
    }

    /// Node `a` closes its channel with `b` on chain.
    pub async fn close(&self, a: usize, b: usize) -> Result<Value> {
        self.patch(a, b, json!({ "state": "closed" })).await
    }

    /// Node `a` pays `target` `amount`, along `routes` if given; the payment's record.
    pub async fn pay(
        &self, a: usize, target: usize, amount: u128, routes: Option<Value>,
    ) -> Result<Value> {
        let path = format!("/api/v1/payments/{:?}/{:?}", self.token, self.addr(target));
        let mut body = json!({ "amount": amount.to_string() });
        if let Some(r) = routes {
            body["routes"] = r;
        }
        self.call(a, reqwest::Method::POST, &path, Some(body)).await
    }

    /// Node `a`'s channel with `b` as its API shows it (`None`: it has none).
    pub async fn channel(&self, a: usize, b: usize) -> Result<Option<Value>> {
        self.nodes[a].channel(self.token, self.addr(b)).await
    }

    /// Both ends agree the channel of `a` and `b` is at `(a's, b's)`.
    pub async fn balances(&self, a: usize, b: usize, want: (u128, u128)) -> Result<()> {
        self.nodes[a].await_balances(self.token, self.addr(b), want).await?;
        self.nodes[b].await_balances(self.token, self.addr(a), (want.1, want.0)).await
    }

    /// Waits until node `a`'s channel with `b` is in `state` (e.g. `"closed"`).
    pub async fn await_state(&self, a: usize, b: usize, state: &str) -> Result<()> {
        let what = format!("{}'s channel with {} {state}", self.nodes[a].name, self.nodes[b].name);
        until(&what, async || Ok(self.channel(a, b).await?.is_some_and(|c| c["state"] == state)))
            .await
    }

    /// Waits until node `a` no longer has its channel with `b`.
    pub async fn gone(&self, a: usize, b: usize) -> Result<()> {
        let what = format!("{}'s channel with {} gone", self.nodes[a].name, self.nodes[b].name);
        until(&what, async || Ok(self.channel(a, b).await?.is_none())).await
    }

    /// Mines `blocks` blocks, then a block at a time until `settled` holds (e.g. a channel is
    /// gone), for at most 300 blocks.
    pub async fn mine_until(
        &self, blocks: u64, what: &str, mut settled: impl AsyncFnMut() -> Result<bool>,
    ) -> Result<()> {
        self.net.mine(blocks).await?;
        for _ in 0..300 {
            if settled().await? {
                return Ok(());
            }
            self.net.mine(1).await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("mined 300 blocks waiting for {what}")
    }

    /// Mines a block at a time until `a` no longer has its channel with `b` (it settled).
    pub async fn mine_until_gone(&self, a: usize, b: usize) -> Result<()> {
        let what = format!("{}'s channel with {} settled", self.nodes[a].name, self.nodes[b].name);
        self.mine_until(0, &what, async || Ok(self.channel(a, b).await?.is_none())).await
    }

    /// Waits until node `i` has seen the chain's current head.
    pub async fn synced(&self, i: usize) -> Result<()> {
        let head = self.net.block_number().await?;
        self.nodes[i].await_block(head).await
    }

    /// Stops node `i`'s process at once (SIGKILL): its account is now driven by hand.
    pub fn kill(&mut self, i: usize) -> Result<()> {
        self.nodes[i].kill()
    }

    /// Nodes `a`'s and `b`'s token balances on chain.
    pub async fn on_chain(&self, a: usize, b: usize) -> Result<(u128, u128)> {
        self.tokens_of(self.addr(a), self.addr(b)).await
    }

    /// The token balances on chain of two accounts.
    pub async fn tokens_of(&self, a: Address, b: Address) -> Result<(u128, u128)> {
        Ok((self.net.balance(a).await?, self.net.balance(b).await?))
    }

    /// Runs a `photon` client command against node `i`'s API, amounts in smallest units
    /// (`--raw`); its standard output.
    pub fn cli(&self, i: usize, args: &[&str]) -> Result<String> {
        let output = std::process::Command::new(&self.spec.photon)
            .args(args)
            .args(["--api", &self.nodes[i].url, "--raw"])
            .output()?;
        let err = String::from_utf8_lossy(&output.stderr);
        ensure!(output.status.success(), "photon {args:?}: {err}");
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Stops node `i` if it runs and starts it again (same account and data) on 127.0.0.1,
    /// bootstrapping from the nodes in `from`, with `env` set.
    pub async fn restart_with(
        &mut self, i: usize, from: &[usize], env: &[(&str, &str)],
    ) -> Result<()> {
        self.nodes[i].stop();
        let mut boot = Vec::new();
        for &j in from {
            boot.extend(self.nodes[j].p2p_addresses().await?);
        }
        let mut launch = self.launch(i, boot);
        launch.env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        launch.env.extend(self.pfs_env());
        let node = launch.start().await?;
        self.nodes[i] = node;
        Ok(())
    }

    /// Stops node `i` if it runs and starts it again, bootstrapping from `from` if given.
    pub async fn restart(&mut self, i: usize, from: Option<usize>) -> Result<()> {
        self.restart_with(i, from.as_slice(), &[]).await
    }

    /// `PHOTON_PFS` for a node, when the world has a pathfinding service.
    fn pfs_env(&self) -> Option<(String, String)> {
        self.pfs.as_ref().map(|p| ("PHOTON_PFS".to_string(), p.url.clone()))
    }

    /// Starts a monitoring service on `port` of 127.0.0.1 (see [`start_monitor`]).
    pub async fn start_monitor(&self, port: u16) -> Result<NodeProcess> {
        start_monitor(&self.spec.photon, &self.net, &self.dir, &self.deployment, port).await
    }
}
