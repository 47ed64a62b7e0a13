//! Prometheus metrics and a health check, served on their own address (`--metrics-addr`),
//! apart from the REST API: a scraper or a load balancer needs no token there, and can change
//! nothing.
//!
//! `GET /metrics` (text exposition format 0.0.4): payments by outcome, payment latency, our
//! channels by state, deposits, balances and locked amounts per token, payments in flight,
//! peers, chain lag, the outbox and pending transactions. `GET /health`: 200 while the node
//! takes requests, 503 once it stops (or fails).

use crate::runtime::{ChannelView, Command, NodeEvent, NodeHandle};
use crate::NodeError;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the payment latency histogram, in seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The node's counters (gauges are read from its state when scraped).
#[derive(Debug, Default)]
pub struct Metrics {
    sent: AtomicU64,
    received: AtomicU64,
    failed: AtomicU64,
    disputed: AtomicU64,
    /// Payments (succeeded) at or under each bound of [`BUCKETS`].
    latency: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Metrics {
    /// A payment this node made succeeded after `elapsed` (request to outcome).
    pub fn payment_took(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.latency) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a payment outcome the node announced.
    pub fn count(&self, event: &NodeEvent) {
        let counter = match event {
            NodeEvent::PaymentSent { .. } => &self.sent,
            NodeEvent::PaymentReceived { .. } => &self.received,
            NodeEvent::PaymentFailed { .. } => &self.failed,
            NodeEvent::PaymentDisputed { .. } => &self.disputed,
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One sample line.
fn sample(out: &mut String, name: &str, labels: &str, value: impl std::fmt::Display) {
    let _ = if labels.is_empty() {
        writeln!(out, "{name} {value}")
    } else {
        writeln!(out, "{name}{{{labels}}} {value}")
    };
}

/// A metric's `# HELP` and `# TYPE` lines.
fn describe(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Token amounts as a Prometheus value (a float: exact up to 2^53).
fn amount(a: photon_api::Amount) -> f64 {
    a.0 as f64
}

/// The exposition text for `handle`'s node now.
pub async fn render(handle: &NodeHandle) -> Result<String, NodeError> {
    let status = handle.status().await?;
    let channels: Vec<ChannelView> = handle.channels().await?;
    let (outbox, transactions) = handle.ask(Command::Backlog).await??;
    let m = &handle.metrics;
    let mut out = String::new();
    describe(&mut out, "photon_payments_total", "counter", "Payments by outcome since start.");
    for (outcome, counter) in [
        ("sent", &m.sent),
        ("received", &m.received),
        ("failed", &m.failed),
        ("disputed", &m.disputed),
    ] {
        sample(
            &mut out,
            "photon_payments_total",
            &format!("outcome=\"{outcome}\""),
            counter.load(Ordering::Relaxed),
        );
    }
    describe(
        &mut out,
        "photon_payment_duration_seconds",
        "histogram",
        "Time from a payment request to its success, for payments this node made.",
    );
    for (bound, count) in BUCKETS.iter().zip(&m.latency) {
        let labels = format!("le=\"{bound}\"");
        sample(
            &mut out,
            "photon_payment_duration_seconds_bucket",
            &labels,
            count.load(Ordering::Relaxed),
        );
    }
    let count = m.latency_count.load(Ordering::Relaxed);
    sample(&mut out, "photon_payment_duration_seconds_bucket", "le=\"+Inf\"", count);
    let sum = m.latency_sum_us.load(Ordering::Relaxed) as f64 / 1e6;
    sample(&mut out, "photon_payment_duration_seconds_sum", "", sum);
    sample(&mut out, "photon_payment_duration_seconds_count", "", count);

    describe(&mut out, "photon_channels", "gauge", "Our channels by token and state.");
    let mut by_state: BTreeMap<(String, &str), u64> = BTreeMap::new();
    // per token: our deposits, balances, locked; the partners' balances
    let mut per_token: BTreeMap<String, [f64; 4]> = BTreeMap::new();
    for c in &channels {
        let token = format!("{:#x}", c.token);
        *by_state.entry((token.clone(), c.state.as_str())).or_default() += 1;
        let t = per_token.entry(token).or_default();
        t[0] += amount(c.deposit);
        t[1] += amount(c.balance);
        t[2] += amount(c.locked);
        t[3] += amount(c.partner_balance);
    }
    for ((token, state), n) in &by_state {
        sample(&mut out, "photon_channels", &format!("token=\"{token}\",state=\"{state}\""), n);
    }
    for (i, (name, help)) in [
        ("photon_deposit_tokens", "Our deposits in our channels, per token (base units)."),
        ("photon_balance_tokens", "What we can spend in our channels, per token (base units)."),
        ("photon_locked_tokens", "Our amounts locked in payments in flight, per token."),
        ("photon_partner_balance_tokens", "What our partners can spend towards us, per token."),
    ]
    .into_iter()
    .enumerate()
    {
        describe(&mut out, name, "gauge", help);
        for (token, values) in &per_token {
            sample(&mut out, name, &format!("token=\"{token}\""), values[i]);
        }
    }
    for (name, help, value) in [
        (
            "photon_pending_transfers",
            "Payments in flight (any role).",
            status.pending_transfers as f64,
        ),
        ("photon_peers", "Peers connected.", status.peers as f64),
        ("photon_block", "Last block the node acted on.", status.block as f64),
        (
            "photon_chain_lag_blocks",
            "Chain head minus the last block acted on (-1: head unknown).",
            status.chain_head.map_or(-1.0, |h| h.saturating_sub(status.block) as f64),
        ),
        (
            "photon_chain_reachable",
            "1 when the chain's RPC endpoint answers.",
            if status.chain_reachable { 1.0 } else { 0.0 },
        ),
        ("photon_outbox_messages", "Messages to peers not yet acknowledged.", outbox as f64),
        (
            "photon_pending_transactions",
            "Transactions asked for and not yet mined.",
            transactions as f64,
        ),
    ] {
        describe(&mut out, name, "gauge", help);
        sample(&mut out, name, "", value);
    }
    Ok(out)
}

async fn metrics(State(handle): State<NodeHandle>) -> axum::response::Response {
    match render(&handle).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
            .into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

async fn health(State(handle): State<NodeHandle>) -> axum::response::Response {
    match handle.status().await {
        Ok(s) => axum::Json(serde_json::json!({
            "status": "ok",
            "block": s.block,
            "chain_reachable": s.chain_reachable,
            "peers": s.peers,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "stopped", "reason": e.to_string() })),
        )
            .into_response(),
    }
}

/// The routes of the metrics address.
pub fn router(handle: NodeHandle) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/health", get(health)).with_state(handle)
}
