//! The payment webhook (Photon's `--receive-transfer-report-url`): every payment the node
//! receives is POSTed as JSON to a URL the operator gives, the same object the event stream
//! publishes (`{"type": "payment_received", "token", "payment_id", "initiator", "amount"}`).
//!
//! A report the receiver does not take (an error status, no answer) is sent again with a
//! growing pause, up to [`ATTEMPTS`] times; reports go out one at a time, in the order the
//! payments arrived. The reports are a convenience for an exchange's or a shop's back end:
//! the payment history (`GET /api/v1/payments?direction=received`) stays the record.

use crate::runtime::{NodeEvent, NodeHandle};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// How many times a report is tried.
pub const ATTEMPTS: u32 = 5;

/// The pause after the first failed attempt; it doubles after each.
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Reports every payment `node` receives to `url` until the node stops.
pub fn spawn(node: &NodeHandle, url: reqwest::Url) -> tokio::task::JoinHandle<()> {
    let mut events = node.subscribe();
    let stopping = node.clone();
    tokio::spawn(async move {
        let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "the payment webhook has no HTTP client");
                return;
            }
        };
        loop {
            let event = tokio::select! {
                event = events.recv() => event,
                () = stopping.stopping() => return,
            };
            match event {
                Ok(event @ NodeEvent::PaymentReceived { .. }) => {
                    report(&client, &url, &event).await;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => tracing::warn!(
                    missed,
                    "the payment webhook fell behind the node's events; see the payment history"
                ),
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// POSTs one report, trying again on failure.
async fn report(client: &reqwest::Client, url: &reqwest::Url, event: &NodeEvent) {
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=ATTEMPTS {
        match client.post(url.clone()).json(event).send().await {
            Ok(answer) if answer.status().is_success() => return,
            Ok(answer) => {
                tracing::warn!(status = %answer.status(), attempt, "the payment webhook refused a report");
            }
            Err(e) => tracing::warn!(error = %e, attempt, "the payment webhook is unreachable"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
    tracing::error!(
        ?event,
        "the payment webhook never took this report; it is in the payment history"
    );
}
