//! `photon-mobile-host`: a process that hosts nothing but the embedded node, as an app would,
//! for `photon-bench mobile` (memory, start and resume times are measured here, on the
//! library alone).
//!
//! `photon-mobile-host <config.json>` starts a node and prints `ready <ms>` (the time
//! `PhotonNode::start` took); then it reads commands, one per line, and answers each with one
//! line:
//!
//! | command | answer |
//! |---|---|
//! | `status` | `block <n> channels <n>` |
//! | `data_dir` | `data_dir <path>`: the node's own folder (its database is `photon.db`) |
//! | `idle <s>` | `idle` after sleeping that long |
//! | `background` | `background` (sockets closed, chain not polled) |
//! | `resume <block>` | `caught_up <ms>`: from `on_resume` until the node acted on `<block>` |
//! | `memory` | `hwm_kb <n> rss_kb <n>` from `/proc/self/status` |
//! | `stop` | `stopped`, then the process ends |
//!
//! The config is a JSON object: `key` (hex private key), `rpc_url`, `deployment` (path of the
//! deployment file), `data_dir`, and optionally `api_addr`, `p2p_listen` (list),
//! `confirmations`, `poll_ms`.

use photon_mobile::{KeySource, NodeConfig, PhotonNode};
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

fn main() {
    if let Err(e) = run() {
        eprintln!("photon-mobile-host: {e}");
        std::process::exit(1);
    }
}

fn text(config: &serde_json::Value, key: &str) -> Result<String, String> {
    config[key].as_str().map(str::to_string).ok_or_else(|| format!("config: `{key}` is missing"))
}

fn config(path: &str) -> Result<NodeConfig, String> {
    let raw = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let c: serde_json::Value = serde_json::from_str(&raw).map_err(|e| format!("{path}: {e}"))?;
    let key = text(&c, "key")?;
    let private_key = hex_bytes(&key)?;
    let deployment_path = text(&c, "deployment")?;
    let deployment_json =
        std::fs::read_to_string(&deployment_path).map_err(|e| format!("{deployment_path}: {e}"))?;
    let list = |key: &str| -> Vec<String> {
        c[key]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    Ok(NodeConfig {
        key: KeySource::Raw { private_key },
        rpc_url: text(&c, "rpc_url")?,
        deployment_json,
        data_dir: text(&c, "data_dir")?,
        p2p_listen: list("p2p_listen"),
        bootstrap: list("bootstrap"),
        monitor_url: None,
        pfs_url: None,
        api_addr: c["api_addr"].as_str().map(str::to_string),
        api_token: None,
        confirmations: c["confirmations"].as_u64().unwrap_or(5),
        poll_ms: c["poll_ms"].as_u64().unwrap_or(1_000),
        settle_timeout: c["settle_timeout"].as_u64().and_then(|s| u32::try_from(s).ok()),
        payment_timeout_secs: 60,
        history_retention_days: None,
    })
}

/// `0x…` hex to bytes.
fn hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    if !digits.len().is_multiple_of(2) {
        return Err("key: an odd number of hex digits".into());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|e| format!("key: {e}")))
        .collect()
}

/// `VmHWM` and `VmRSS` of this process, in kB.
fn memory() -> Result<(u64, u64), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| format!("/proc/self/status has no {name}"))
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

fn run() -> Result<(), String> {
    let path = std::env::args().nth(1).ok_or("usage: photon-mobile-host <config.json>")?;
    let config = config(&path)?;
    let started = Instant::now();
    let node = PhotonNode::start(config, None).map_err(|e| format!("start: {e}"))?;
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| -> Result<(), String> {
        writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| e.to_string())
    };
    say(format!("ready {:.3}", started.elapsed().as_secs_f64() * 1_000.0))?;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let mut words = line.split_whitespace();
        let number = |w: Option<&str>| -> Result<u64, String> {
            w.and_then(|n| n.parse().ok()).ok_or_else(|| format!("`{line}`: a number is missing"))
        };
        match words.next() {
            Some("status") => {
                let s = node.status().map_err(|e| e.to_string())?;
                say(format!("block {} channels {}", s.block, s.channels))?;
            }
            Some("data_dir") => say(format!("data_dir {}", node.data_dir()))?,
            Some("idle") => {
                std::thread::sleep(Duration::from_secs(number(words.next())?));
                say("idle".into())?;
            }
            Some("background") => {
                node.enter_background();
                say("background".into())?;
            }
            Some("resume") => {
                let target = number(words.next())?;
                let t = Instant::now();
                node.on_resume();
                while node.status().map_err(|e| e.to_string())?.block < target {
                    if t.elapsed() > Duration::from_secs(120) {
                        return Err(format!("block {target} not reached in 120 s"));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                say(format!("caught_up {:.3}", t.elapsed().as_secs_f64() * 1_000.0))?;
            }
            Some("memory") => {
                let (hwm, rss) = memory()?;
                say(format!("hwm_kb {hwm} rss_kb {rss}"))?;
            }
            Some("stop") => {
                node.stop().map_err(|e| e.to_string())?;
                say("stopped".into())?;
                return Ok(());
            }
            _ => say(format!("unknown command `{line}`"))?,
        }
    }
    node.stop().map_err(|e| e.to_string())
}
