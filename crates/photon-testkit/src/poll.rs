//! Waiting for a distributed system: one polling loop for every test, the demo and the bench.

use anyhow::{bail, Result};
use std::time::{Duration, Instant};

/// How long [`eventually`] waits by default.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `probe` every 50 ms until it returns `Some`, for at most [`PATIENCE`] (generous: a
/// loaded 2-core machine runs several nodes per test); an error from
/// the probe ends the wait at once. `what` names the awaited condition in the timeout error.
pub async fn eventually<T>(what: &str, probe: impl AsyncFnMut() -> Result<Option<T>>) -> Result<T> {
    eventually_within(PATIENCE, what, probe).await
}

/// [`eventually`] with its own deadline.
pub async fn eventually_within<T>(
    patience: Duration, what: &str, mut probe: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + patience;
    loop {
        if let Some(v) = probe().await? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("timed out after {patience:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `probe` until it is true ([`eventually`] for a condition with no value).
pub async fn until(what: &str, mut probe: impl AsyncFnMut() -> Result<bool>) -> Result<()> {
    eventually(what, async || Ok(probe().await?.then_some(()))).await
}
