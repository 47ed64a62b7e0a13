//! `photon-bench transfers`: payments per second and latency between real `photon` processes
//! on 127.0.0.1 (libp2p transport, SQLite with `synchronous=FULL`), driven through their REST
//! APIs with many requests in flight.
//!
//! * throughput (`*_tps`): Alice pays Bob 10,000 times directly, then Charlie 5,000 times
//!   through Bob, with 64 (direct) and 128 (mediated: below the 160 pending locks a channel side
//!   may hold) requests in flight.
//! * latency (`*_p50_ms`, `*_p99_ms`): one payment at a time (500 of each). A direct payment's
//!   latency runs from the request to Bob's node reporting it on its event stream (end to end);
//!   a mediated payment's is the request's, which answers once the target has the secret and
//!   Alice has unlocked. `*_loaded_p50_ms` / `*_loaded_p99_ms`: the same under the throughput
//!   load, queueing included.
//! * relayed (`relayed_direct_*`): the same direct payments between Dave and Erin, who listen
//!   only through Charlie's relay (`--relay-service`; `--p2p-listen <Charlie>/p2p-circuit`),
//!   so that every message crosses the relay node; `relayed_over_direct_tps` and
//!   `relayed_over_direct_p50` are the ratios to the direct figures of the same run.
//! * `sign_recover_per_s`: this machine's libsecp256k1 sign + recover rate, measured in the
//!   same run, and each throughput as a ratio of it.
//!
//! The `photon` executable is taken from `PHOTON_BIN`, else next to this one (build both with
//! `cargo build --release -p photon-node -p photon-bench`).

use anyhow::{ensure, Context, Result};
use photon_chain::DeployParams;
use photon_primitives::{Address, LocalSigner, Signer, B256};
use photon_testkit::nodes::request_with;
use photon_testkit::World;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const DIRECT: usize = 10_000;
const MEDIATED: usize = 5_000;
const SEQUENTIAL: usize = 500;
const IN_FLIGHT: usize = 64;
/// Mediated payments in flight: below the 160 pending locks a channel side may hold.
const MEDIATED_IN_FLIGHT: usize = 128;

pub(crate) fn photon_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PHOTON_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()?;
    let candidate = me.with_file_name("photon");
    ensure!(candidate.is_file(), "no photon executable next to {}: build it (cargo build --release -p photon-node) or set PHOTON_BIN", me.display());
    Ok(candidate)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sign + recover rate of this machine (one core).
fn sign_recover_rate() -> f64 {
    let signer = LocalSigner::from_bytes(&[9u8; 32]).expect("valid key");
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(1) {
        let digest = B256::from(alloy::primitives::U256::from(n));
        let sig = signer.sign_digest(&digest).expect("signs");
        let _ = photon_primitives::signer::recover(&digest, &sig);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Runs the measurement; returns (key, value) rows.
pub(crate) async fn measure() -> Result<Vec<(&'static str, f64)>> {
    let bin = photon_bin()?;
    let sign_recover = sign_recover_rate();
    let params = DeployParams { punish_blocks: 5, min_settle_timeout: 5, max_settle_timeout: 1000 };
    let funds: u128 = 10_000_000;
    let mut w = World::build(&bin, &["Alice", "Bob", "Charlie", "Dave", "Erin"])
        .hub(1)
        .env(2, "PHOTON_RELAY_SERVICE", "true")
        .params(params)
        .poll_ms(200)
        .log("error")
        .start()
        .await?;
    let (a, b, c, d, e) = (0, 1, 2, 3, 4);
    let (alice, bob, charlie) = (&w.nodes[a], &w.nodes[b], &w.nodes[c]);
    let token = w.token;
    for node in [alice, bob] {
        w.net.mint(node.address, funds).await?;
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(MEDIATED_IN_FLIGHT).build()?;
    w.open(a, b, Some(funds)).await?;
    w.open(b, c, Some(funds)).await?;
    w.balances(a, b, (funds, 0)).await?;
    w.balances(b, c, (funds, 0)).await?;
    w.synced(a).await?;

    // direct: end-to-end latency from Bob's event stream
    let (direct_s, direct_loaded, direct_lat) =
        direct(&client, &alice.url, &bob.url, token, bob.address, 1).await?;
    let (mediated_s, mediated_loaded) = run_payments(
        &client,
        &alice.url,
        token,
        charlie.address,
        MEDIATED,
        MEDIATED_IN_FLIGHT,
        1_000_000,
        None,
    )
    .await?;
    let (_, mediated_lat) =
        run_payments(&client, &alice.url, token, charlie.address, SEQUENTIAL, 1, 2_000_000, None)
            .await?;
    let direct_tps = DIRECT as f64 / direct_s;
    let mediated_tps = MEDIATED as f64 / mediated_s;

    // the same direct payments between Dave and Erin, who listen only through Charlie's
    // relay: every message crosses the relay
    let mut circuit = w.nodes[c].p2p_addresses().await?;
    circuit.retain(|a| a.contains("/tcp/"));
    let circuit = format!("{}/p2p-circuit", circuit.first().context("Charlie's address")?);
    let boot = w.nodes[b].p2p_addresses().await?;
    for i in [d, e] {
        w.kill(i)?;
        let mut launch = w.launch(i, boot.clone());
        launch.env.push(("PHOTON_P2P_LISTEN".into(), circuit.clone()));
        let node = launch.start().await?;
        w.nodes[i] = node;
    }
    w.net.mint(w.addr(d), funds).await?;
    w.open(d, e, Some(funds)).await?;
    w.balances(d, e, (funds, 0)).await?;
    let (dave, erin) = (&w.nodes[d], &w.nodes[e]);
    let (relayed_s, _, relayed_lat) =
        direct(&client, &dave.url, &erin.url, token, erin.address, 3_000_000).await?;
    let relayed_tps = DIRECT as f64 / relayed_s;
    drop(w); // stops the processes and removes their files
    let round = |v: f64| (v * 100.0).round() / 100.0;
    Ok(vec![
        ("direct_tps", round(direct_tps)),
        ("direct_p50_ms", round(percentile(&direct_lat, 0.50))),
        ("direct_p99_ms", round(percentile(&direct_lat, 0.99))),
        ("mediated_tps", round(mediated_tps)),
        ("mediated_p50_ms", round(percentile(&mediated_lat, 0.50))),
        ("mediated_p99_ms", round(percentile(&mediated_lat, 0.99))),
        ("direct_loaded_p50_ms", round(percentile(&direct_loaded, 0.50))),
        ("direct_loaded_p99_ms", round(percentile(&direct_loaded, 0.99))),
        ("mediated_loaded_p50_ms", round(percentile(&mediated_loaded, 0.50))),
        ("mediated_loaded_p99_ms", round(percentile(&mediated_loaded, 0.99))),
        ("relayed_direct_tps", round(relayed_tps)),
        ("relayed_direct_p50_ms", round(percentile(&relayed_lat, 0.50))),
        ("relayed_direct_p99_ms", round(percentile(&relayed_lat, 0.99))),
        ("relayed_over_direct_tps", (relayed_tps / direct_tps * 1_000.0).round() / 1_000.0),
        (
            "relayed_over_direct_p50",
            (percentile(&relayed_lat, 0.50) / percentile(&direct_lat, 0.50) * 1_000.0).round()
                / 1_000.0,
        ),
        ("sign_recover_per_s", sign_recover.round()),
        ("direct_tps_per_sign_recover", (direct_tps / sign_recover * 10_000.0).round() / 10_000.0),
        (
            "mediated_tps_per_sign_recover",
            (mediated_tps / sign_recover * 10_000.0).round() / 10_000.0,
        ),
    ])
}

/// Direct payments from the node at `from` to the one at `to` (address `target`): [`DIRECT`]
/// with [`IN_FLIGHT`] in flight, then [`SEQUENTIAL`] one at a time, timed to `to`'s event
/// stream; returns the first run's seconds and latencies, and the second's latencies.
async fn direct(
    client: &reqwest::Client, from: &str, to: &str, token: Address, target: Address, ids: u64,
) -> Result<(f64, Vec<f64>, Vec<f64>)> {
    let received: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut events = client.get(format!("{to}/api/v1/events")).send().await?;
    let sink = received.clone();
    let listener = tokio::spawn(async move {
        let mut buffer = String::new();
        while let Ok(Some(chunk)) = events.chunk().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if let Some(data) = block.lines().find_map(|l| l.strip_prefix("data:")) {
                    if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                        if v["type"] == "payment_received" {
                            if let Some(id) = v["payment_id"].as_u64() {
                                sink.lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(id, Instant::now());
                            }
                        }
                    }
                }
            }
        }
    });
    let loaded =
        run_payments(client, from, token, target, DIRECT, IN_FLIGHT, ids, Some(received.clone()));
    let (seconds, loaded) = loaded.await?;
    let one_by_one =
        run_payments(client, from, token, target, SEQUENTIAL, 1, ids + 100_000, Some(received));
    let (_, latencies) = one_by_one.await?;
    listener.abort();
    Ok((seconds, loaded, latencies))
}

/// `count` payments of 1 from `url` to `target`, `in_flight` at a time; returns the elapsed
/// seconds and the sorted latencies in ms (from `received` when given, else the request's).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_payments(
    client: &reqwest::Client, url: &str, token: Address, target: Address, count: usize,
    in_flight: usize, id_base: u64, received: Option<Arc<Mutex<HashMap<u64, Instant>>>>,
) -> Result<(f64, Vec<f64>)> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(in_flight));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for n in 0..count {
        let permit = semaphore.clone().acquire_owned().await?;
        let client = client.clone();
        let url = format!("{url}/api/v1/payments/{token:?}/{target:?}");
        let id = id_base + n as u64;
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = request_with(
                &client,
                reqwest::Method::POST,
                url,
                Some(json!({ "amount": "1", "payment_id": id })),
            )
            .await;
            drop(permit);
            r.map(|_| (id, t, t.elapsed()))
        }));
    }
    let mut sent = Vec::with_capacity(count);
    for t in tasks {
        sent.push(t.await??);
    }
    let mut latencies: Vec<f64> = match &received {
        None => sent.iter().map(|(_, _, d)| d.as_secs_f64() * 1000.0).collect(),
        Some(received) => {
            // wait until the target reported every payment
            let deadline = Instant::now() + Duration::from_secs(120);
            let done = |seen: &HashMap<u64, Instant>| {
                sent.iter().filter(|(id, _, _)| seen.contains_key(id)).count()
            };
            while done(&received.lock().unwrap_or_else(|e| e.into_inner())) < count {
                ensure!(Instant::now() < deadline, "the target did not report every payment");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let seen = received.lock().unwrap_or_else(|e| e.into_inner());
            sent.iter()
                .filter_map(|(id, t, _)| {
                    seen.get(id).map(|at| at.duration_since(*t).as_secs_f64() * 1000.0)
                })
                .collect()
        }
    };
    let elapsed = match &received {
        None => started.elapsed().as_secs_f64(),
        Some(received) => {
            let seen = received.lock().unwrap_or_else(|e| e.into_inner());
            let last = sent
                .iter()
                .filter_map(|(id, _, _)| seen.get(id))
                .max()
                .copied()
                .unwrap_or_else(Instant::now);
            last.duration_since(started).as_secs_f64()
        }
    };
    latencies.sort_by(f64::total_cmp);
    Ok((elapsed, latencies))
}
