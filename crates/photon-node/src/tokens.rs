//! What the node knows of the tokens it follows: their symbol and decimals, read from the
//! chain once and remembered ([`photon_chain::metadata`]).

use alloy::providers::DynProvider;
use photon_chain::metadata::{token_metadata, TokenMetadata};
use photon_primitives::Address;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a read that failed (the chain unreachable) is not tried again: a node without
/// its chain answers at once.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// How long one read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The tokens' metadata, read once each.
#[derive(Debug)]
pub struct TokenBook {
    provider: DynProvider,
    known: Mutex<HashMap<Address, TokenMetadata>>,
    failed: Mutex<HashMap<Address, Instant>>,
}

impl TokenBook {
    /// A book reading through `provider`.
    pub fn new(provider: DynProvider) -> Self {
        Self { provider, known: Mutex::new(HashMap::new()), failed: Mutex::new(HashMap::new()) }
    }

    /// `token`'s metadata: remembered, or read now. While the chain is unreachable a token
    /// not read yet shows none (and is read again a minute later).
    pub async fn metadata(&self, token: Address) -> TokenMetadata {
        if let Some(known) = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&token) {
            return known.clone();
        }
        let recently = |at: &Instant| at.elapsed() < RETRY_AFTER;
        if self.failed.lock().unwrap_or_else(|e| e.into_inner()).get(&token).is_some_and(recently) {
            return TokenMetadata::default();
        }
        match tokio::time::timeout(READ_TIMEOUT, token_metadata(&self.provider, token)).await {
            Ok(Ok(metadata)) => {
                let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
                known.insert(token, metadata.clone());
                metadata
            }
            failed => {
                if let Ok(Err(e)) = failed {
                    tracing::debug!(%token, error = %e, "token metadata not read");
                }
                let mut failures = self.failed.lock().unwrap_or_else(|e| e.into_inner());
                failures.insert(token, Instant::now());
                TokenMetadata::default()
            }
        }
    }

    /// The metadata of several tokens, read at the same time.
    pub async fn metadata_of(&self, tokens: &[Address]) -> HashMap<Address, TokenMetadata> {
        let mut tokens = tokens.to_vec();
        tokens.sort_unstable();
        tokens.dedup();
        let reads = tokens.into_iter().map(|t| async move { (t, self.metadata(t).await) });
        futures_util::future::join_all(reads).await.into_iter().collect()
    }
}
