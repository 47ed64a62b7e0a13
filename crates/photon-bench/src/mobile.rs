//! `photon-bench mobile`: the embedded node as a phone runs it. A `photon-mobile-host`
//! process (nothing but the library, see `crates/photon-mobile/src/bin`) plays the phone; a
//! `photon run` process (Bob) is its partner, on anvil.
//!
//! 1. The phone opens a channel with Bob (with a deposit) and nine more with addresses that
//!    never come online (10 channels), then pays Bob 100,000 times directly (1 token each,
//!    64 requests in flight through its REST API, which this phase asks for), and stops.
//!    `state_mb_after_100k_payments`: its database's log and snapshots (payload bytes; the
//!    payment history excluded, shown as `history_mb`; `pending_mb`: outbox, pending
//!    transactions, processed message ids); `db_file_mb`: the whole file.
//! 2. It starts again from its data directory without the REST API:
//!    `start_to_ready_ms` is `PhotonNode::start` (10 channels, 100,000 past payments) until
//!    it answers typed calls; then it idles 30 s and `idle_rss_mb` is the process's peak
//!    resident memory (`VmHWM`).
//! 3. It goes to the background, anvil mines 1,000 blocks, and `resume_catchup_ms` runs from
//!    `on_resume` until the node has acted on the new head (minus its confirmations).
//! 4. `cdylib_mb`: `libphoton_mobile.so` as an app ships it (the `mobile` profile: size
//!    over speed, fat LTO), stripped (`strip`).
//!
//! Build everything first: `make bench-mobile` (or `cargo build --release -p photon-node -p
//! photon-bench -p photon-mobile` and `cargo build --profile mobile -p photon-mobile --lib`).

use crate::transfers::{photon_bin, run_payments};
use anyhow::{bail, ensure, Context, Result};
use photon_primitives::{Address, Signer};
use photon_storage::{NodeIdentity, Storage};
use photon_testkit::nodes::request_with;
use photon_testkit::World;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

const IN_FLIGHT: usize = 64;
const CHANNELS: usize = 10;
const IDLE_SECS: u64 = 30;
const MISSED_BLOCKS: u64 = 1_000;
const CONFIRMATIONS: u64 = 1;

/// A file built next to this binary.
fn sibling(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.with_file_name(name);
    ensure!(
        path.is_file(),
        "no {name} next to {}: build it (make bench-mobile builds everything)",
        me.display()
    );
    Ok(path)
}

/// The library as an app ships it: built with the `mobile` profile (`cargo build --profile
/// mobile -p photon-mobile --lib`), in `../mobile/` from this binary's folder.
fn mobile_library() -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("mobile").join("libphoton_mobile.so"))
        .context("the build folder")?;
    ensure!(
        path.is_file(),
        "no {}: build it with `cargo build --profile mobile -p photon-mobile --lib` (make \
         bench-mobile does)",
        path.display()
    );
    Ok(path)
}

/// Size of a stripped copy of `library`, in MB.
fn stripped_mb(library: &Path, dir: &Path) -> Result<f64> {
    let copy = dir.join("libphoton_mobile.stripped.so");
    std::fs::copy(library, &copy)?;
    let status = std::process::Command::new("strip")
        .arg("--strip-all")
        .arg(&copy)
        .status()
        .context("running strip (binutils)")?;
    ensure!(status.success(), "strip failed: {status}");
    Ok(std::fs::metadata(&copy)?.len() as f64 / 1_000_000.0)
}

/// The phone: a `photon-mobile-host` process and its command line.
struct Phone {
    child: Child,
    input: ChildStdin,
    output: Lines<BufReader<ChildStdout>>,
}

impl Phone {
    /// Starts the host with `config`; returns it and its start time in ms.
    async fn start(host: &Path, config: &Path) -> Result<(Self, f64)> {
        let mut child = tokio::process::Command::new(host)
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .env("RUST_LOG", "error")
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", host.display()))?;
        let input = child.stdin.take().context("stdin")?;
        let output = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let mut phone = Self { child, input, output };
        let ready = phone.answer().await?;
        let ms = ready.strip_prefix("ready ").context(format!("not ready: {ready}"))?;
        Ok((phone, ms.parse()?))
    }

    async fn answer(&mut self) -> Result<String> {
        match tokio::time::timeout(Duration::from_secs(300), self.output.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => bail!("the host ended: {:?}", self.child.wait().await?),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => bail!("the host did not answer in 300 s"),
        }
    }

    /// Sends `command`; its answer's words.
    async fn ask(&mut self, command: &str) -> Result<Vec<String>> {
        self.input.write_all(format!("{command}\n").as_bytes()).await?;
        self.input.flush().await?;
        let line = self.answer().await?;
        Ok(line.split_whitespace().map(str::to_string).collect())
    }

    /// The number after `key` in the answer to `command`.
    async fn number(&mut self, command: &str, key: &str) -> Result<f64> {
        let words = self.ask(command).await?;
        let at = words.iter().position(|w| w == key).context(format!("{command}: {words:?}"))?;
        Ok(words.get(at + 1).context("a value")?.parse()?)
    }

    async fn stop(mut self) -> Result<()> {
        let words = self.ask("stop").await?;
        ensure!(words == ["stopped"], "stop: {words:?}");
        self.child.wait().await?;
        Ok(())
    }
}

/// A free port on 127.0.0.1.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs the measurement; returns (key, value) rows.
pub(crate) async fn measure(payments: usize) -> Result<Vec<(&'static str, f64)>> {
    let host = sibling("photon-mobile-host")?;
    let library = mobile_library()?;
    let w = World::build(photon_bin()?, &["Bob"]).poll_ms(200).log("error").start().await?;
    let cdylib_mb = stripped_mb(&library, &w.dir)?;
    let bob = &w.nodes[0];
    let key = w.net.accounts[5].clone();
    let phone_address = key.address();
    let deposit = payments as u128 * 2;
    w.net.mint(phone_address, deposit).await?;
    let data_dir = w.dir.join("phone");
    let port = free_port()?;
    let config = |api: bool| {
        let mut c = json!({
            "key": format!("0x{}", alloy::hex::encode(key.to_bytes())),
            "rpc_url": w.net.chain.endpoint().to_string(),
            "deployment": w.deployment.display().to_string(),
            "data_dir": data_dir.display().to_string(),
            "p2p_listen": ["/ip4/127.0.0.1/tcp/0"],
            "confirmations": CONFIRMATIONS,
            "poll_ms": 200,
        });
        if api {
            c["api_addr"] = format!("127.0.0.1:{port}").into();
        }
        c
    };
    let with_bootstrap = |api: bool, boot: &[String]| -> Result<PathBuf> {
        let mut c = config(api);
        c["bootstrap"] = json!(boot);
        let path = w.dir.join(if api { "phone-api.json" } else { "phone.json" });
        std::fs::write(&path, serde_json::to_vec(&c)?)?;
        Ok(path)
    };
    let boot = bob.p2p_addresses().await?;

    // 1. ten channels, then 100,000 payments to Bob
    let (mut phone, _) = Phone::start(&host, &with_bootstrap(true, &boot)?).await?;
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder().pool_max_idle_per_host(IN_FLIGHT).build()?;
    let open = |partner: Address, deposit: Option<u128>| {
        let mut body = json!({ "token": w.token, "partner": partner });
        if let Some(d) = deposit {
            body["deposit"] = d.to_string().into();
        }
        request_with(&client, reqwest::Method::PUT, format!("{url}/api/v1/channels"), Some(body))
    };
    open(bob.address, Some(deposit)).await?;
    for i in 1..CHANNELS {
        open(Address::repeat_byte(0x40 + i as u8), None).await?;
    }
    w.net.mine(CONFIRMATIONS + 1).await?; // the last opening confirmed
    let all = format!("{url}/api/v1/channels");
    photon_testkit::poll::eventually("the phone's ten channels", async || {
        let c = request_with(&client, reqwest::Method::GET, all.clone(), None).await;
        Ok(c.ok().and_then(|c| c.as_array().is_some_and(|a| a.len() == CHANNELS).then_some(())))
    })
    .await?;
    bob.await_balances(w.token, phone_address, (0, deposit)).await?;
    let channel = format!("{url}/api/v1/channels/{:?}/{:?}", w.token, bob.address);
    photon_testkit::poll::eventually("the phone's channel with Bob funded", async || {
        let c = request_with(&client, reqwest::Method::GET, channel.clone(), None).await;
        Ok(c.ok().and_then(|c| (c["balance"] == deposit.to_string().as_str()).then_some(())))
    })
    .await?;
    run_payments(&client, &url, w.token, bob.address, payments, IN_FLIGHT, 1, None).await?;
    let words = phone.ask("data_dir").await?;
    let db = PathBuf::from(words.get(1).context("the data directory")?).join("photon.db");
    bob.await_balances(w.token, phone_address, (payments as u128, deposit - payments as u128))
        .await?;
    phone.stop().await?;
    let identity = NodeIdentity {
        address: phone_address,
        chain_id: w.net.deployment.chain_id,
        contract: w.net.deployment.tokens_network,
    };
    let footprint = Storage::open(&db, &identity)?.footprint()?;
    let file_mb = [db.clone(), db.with_extension("db-wal")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum::<u64>() as f64
        / 1_000_000.0;

    // 2. a new start without the REST API, then 30 s idle
    let (mut phone, start_ms) = Phone::start(&host, &with_bootstrap(false, &boot)?).await?;
    let channels = phone.number("status", "channels").await?;
    ensure!(channels as usize == CHANNELS, "the phone has {channels} channels");
    phone.ask(&format!("idle {IDLE_SECS}")).await?;
    let memory = phone.ask("memory").await?;
    let kb = |key: &str| -> Result<f64> {
        let at = memory.iter().position(|w| w == key).context(format!("memory: {memory:?}"))?;
        Ok(memory.get(at + 1).context("a value")?.parse()?)
    };
    let (hwm_kb, rss_kb) = (kb("hwm_kb")?, kb("rss_kb")?);

    // 3. background, 1,000 blocks go by, resume
    phone.ask("background").await?;
    w.net.mine(MISSED_BLOCKS).await?;
    let head = w.net.block_number().await?;
    let before = phone.number("status", "block").await?;
    ensure!(
        before + (MISSED_BLOCKS as f64) <= head as f64,
        "the phone followed the chain in the background"
    );
    let resume_ms = phone.number(&format!("resume {}", head - CONFIRMATIONS), "caught_up").await?;
    phone.stop().await?;

    let mb = |bytes: u64| bytes as f64 / 1_000_000.0;
    let round = |v: f64| (v * 100.0).round() / 100.0;
    Ok(vec![
        ("idle_rss_mb", round(hwm_kb / 1024.0)),
        ("idle_rss_now_mb", round(rss_kb / 1024.0)),
        ("cdylib_mb", round(cdylib_mb)),
        ("start_to_ready_ms", round(start_ms)),
        ("state_mb_after_100k_payments", round(mb(footprint.log + footprint.snapshots))),
        ("log_records_after_100k_payments", footprint.log_records as f64),
        ("pending_mb", round(mb(footprint.pending))),
        ("history_mb", round(mb(footprint.history))),
        ("db_file_mb", round(file_mb)),
        ("resume_catchup_ms", round(resume_ms)),
    ])
}
