//! What the node knows of the tokens it follows: their symbol and decimals, read from the
//! chain once and remembered ([`photon_chain::metadata`]).

use alloy::providers::DynProvider;
use photon_chain::metadata::{token_metadata, TokenMetadata};
use photon_primitives::Address;
use std::collections::HashMap;
use std::sync::Mutex;

/// The tokens' metadata, read once each.
#[derive(Debug)]
pub struct TokenBook {
    provider: DynProvider,
    known: Mutex<HashMap<Address, TokenMetadata>>,
}

impl TokenBook {
    /// A book reading through `provider`.
    pub fn new(provider: DynProvider) -> Self {
        Self { provider, known: Mutex::new(HashMap::new()) }
    }

    /// `token`'s metadata: remembered, or read now. While the chain is unreachable a token
    /// not read yet shows none (and is read again next time).
    pub async fn metadata(&self, token: Address) -> TokenMetadata {
        if let Some(known) = self.known.lock().unwrap_or_else(|e| e.into_inner()).get(&token) {
            return known.clone();
        }
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            token_metadata(&self.provider, token),
        )
        .await;
        match read {
            Ok(Ok(metadata)) => {
                let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
                known.insert(token, metadata.clone());
                metadata
            }
            Ok(Err(e)) => {
                tracing::debug!(%token, error = %e, "token metadata not read");
                TokenMetadata::default()
            }
            Err(_) => TokenMetadata::default(),
        }
    }
}
