//! A regtest Litecoin Core node (Debian's `litecoind`; `make test` installs it when missing),
//! offline on 127.0.0.1 in a temporary directory, with a funded wallet: the other chain of the
//! Litecoin swap tests.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// A running regtest `litecoind`, stopped when dropped.
pub struct Litecoind {
    /// Its JSON-RPC endpoint (user and password `photon`).
    pub rpc: String,
    /// An address of its wallet that mined blocks pay.
    pub miner: String,
    client: reqwest::Client,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Litecoind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Litecoind {
    /// Starts a node with an empty chain, without a wallet.
    pub async fn start_bare() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let (rpc_port, p2p_port) = (free_port()?, free_port()?);
        let child = std::process::Command::new("litecoind")
            .arg("-regtest")
            .arg(format!("-datadir={}", dir.path().display()))
            .args(["-listen=0", "-connect=0", "-dnsseed=0", "-upnp=0"])
            .args(["-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1", "-fallbackfee=0.001"])
            .args(["-rpcuser=photon", "-rpcpassword=photon", "-txindex=1", "-printtoconsole=0"])
            .arg(format!("-rpcport={rpc_port}"))
            .arg(format!("-port={p2p_port}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("litecoind (Debian's `litecoind`; `make test` installs it)")?;
        let node = Self {
            rpc: format!("http://127.0.0.1:{rpc_port}"),
            miner: String::new(),
            client: reqwest::Client::new(),
            child,
            _dir: dir,
        };
        for _ in 0..200 {
            if node.try_call("getblockcount", json!([])).await.is_ok() {
                return Ok(node);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("litecoind did not answer")
    }

    /// Starts a node with a wallet holding mature coins (101 blocks mined to it).
    pub async fn start() -> Result<Self> {
        let mut node = Self::start_bare().await?;
        node.call("createwallet", json!(["photon"])).await?;
        let miner = node.call("getnewaddress", json!(["", "bech32"])).await?;
        node.miner = miner.as_str().ok_or_else(|| anyhow!("no address"))?.to_string();
        node.mine(101).await?;
        Ok(node)
    }

    /// Calls `method`; the node's error message as the error.
    pub async fn try_call(&self, method: &str, params: Value) -> Result<Value, String> {
        let answer = self
            .client
            .post(&self.rpc)
            .basic_auth("photon", Some("photon"))
            .json(&json!({ "jsonrpc": "1.0", "id": 1, "method": method, "params": params }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = answer.json().await.map_err(|e| e.to_string())?;
        if !body["error"].is_null() {
            return Err(body["error"]["message"].as_str().unwrap_or("error").to_string());
        }
        Ok(body["result"].clone())
    }

    /// Calls `method`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.try_call(method, params).await.map_err(|e| anyhow!("{method}: {e}"))
    }

    /// Mines `blocks` paying the wallet's miner address.
    pub async fn mine(&self, blocks: u32) -> Result<()> {
        self.call("generatetoaddress", json!([blocks, self.miner])).await?;
        Ok(())
    }

    /// The best chain's height.
    pub async fn height(&self) -> Result<u32> {
        let h = self.call("getblockcount", json!([])).await?;
        h.as_u64().and_then(|h| u32::try_from(h).ok()).ok_or_else(|| anyhow!("height {h}"))
    }

    /// The output script (bytes) of a new wallet address.
    pub async fn wallet_script(&self) -> Result<Vec<u8>> {
        let address = self.call("getnewaddress", json!(["", "bech32"])).await?;
        let info = self.call("getaddressinfo", json!([address])).await?;
        let hex = info["scriptPubKey"].as_str().ok_or_else(|| anyhow!("no script"))?;
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(Into::into))
            .collect()
    }

    /// Takes the tip out of the best chain and mines `replacements` empty blocks in its place
    /// (a reorganisation: the tip's transactions go back to the mempool, out of the chain).
    pub async fn reorganise(&self, replacements: u32) -> Result<()> {
        let tip = self.call("getbestblockhash", json!([])).await?;
        self.call("invalidateblock", json!([tip])).await?;
        for _ in 0..replacements {
            self.call("generateblock", json!([self.miner, []])).await?;
        }
        Ok(())
    }
}
