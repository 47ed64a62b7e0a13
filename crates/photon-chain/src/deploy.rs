//! Deploying the contracts to any Ethereum-compatible chain, and the deployment file a node
//! loads to find them.

use crate::bindings::{SecretRegistry, TokensNetwork};
use crate::{ChainError, Result};
use alloy::network::ReceiptResponse;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Constructor parameters of `TokensNetwork`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployParams {
    /// Blocks after a settle window during which an obsolete unlock can still be punished.
    pub punish_blocks: u64,
    /// Smallest settle timeout (blocks) a channel may be opened with.
    pub min_settle_timeout: u64,
    /// Largest settle timeout (blocks) a channel may be opened with.
    pub max_settle_timeout: u64,
}

impl Default for DeployParams {
    /// Photon's production values: a 257-block punish window and settle timeouts from
    /// 6 blocks to about a year of 12-second blocks.
    fn default() -> Self {
        Self { punish_blocks: 257, min_settle_timeout: 6, max_settle_timeout: 2_700_000 }
    }
}

/// Where the contracts of one network live: what a node needs to follow and use them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// The chain's id (`eth_chainId`); signatures are bound to it.
    pub chain_id: u64,
    /// The `TokensNetwork` contract.
    pub tokens_network: Address,
    /// The `SecretRegistry` contract.
    pub secret_registry: Address,
    /// Block of the `TokensNetwork` deployment: a node follows events from here.
    pub deployed_at_block: u64,
    /// The parameters the contracts were deployed with.
    pub params: DeployParams,
}

impl Deployment {
    /// Reads a deployment file written by [`Deployment::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let err = |reason: String| ChainError::DeploymentFile {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }

    /// Writes the deployment as pretty JSON.
    pub fn save(&self, path: &Path) -> Result<()> {
        let err = |reason: String| ChainError::DeploymentFile {
            path: path.display().to_string(),
            reason,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        std::fs::write(path, text + "\n").map_err(|e| err(e.to_string()))
    }
}

/// Deploys `SecretRegistry` and `TokensNetwork` from the provider's default sender and waits
/// for both receipts.
pub async fn deploy<P: Provider>(provider: &P, params: &DeployParams) -> Result<Deployment> {
    let chain_id = provider.get_chain_id().await?;
    let receipt = SecretRegistry::deploy_builder(provider).send().await?.get_receipt().await?;
    let secret_registry = created(&receipt)?;
    let receipt = TokensNetwork::deploy_builder(
        provider,
        secret_registry,
        U256::from(params.punish_blocks),
        U256::from(params.min_settle_timeout),
        U256::from(params.max_settle_timeout),
    )
    .send()
    .await?
    .get_receipt()
    .await?;
    let tokens_network = created(&receipt)?;
    Ok(Deployment {
        chain_id,
        tokens_network,
        secret_registry,
        deployed_at_block: receipt.block_number().unwrap_or_default(),
        params: params.clone(),
    })
}

/// The address a successful contract-creation receipt created.
pub fn created<R: ReceiptResponse>(receipt: &R) -> Result<Address> {
    if !receipt.status() {
        return Err(ChainError::Reverted(receipt.transaction_hash()));
    }
    receipt.contract_address().ok_or_else(|| ChainError::NotDeployed(receipt.transaction_hash()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_file_round_trips_and_bad_files_are_reported() {
        let dir = std::env::temp_dir().join(format!("photon-deploy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("deployment.json");
        let d = Deployment {
            chain_id: 31337,
            tokens_network: Address::repeat_byte(1),
            secret_registry: Address::repeat_byte(2),
            deployed_at_block: 7,
            params: DeployParams::default(),
        };
        d.save(&path).unwrap();
        assert_eq!(Deployment::load(&path).unwrap(), d);
        std::fs::write(&path, "{not json").unwrap();
        let err = Deployment::load(&path).unwrap_err().to_string();
        assert!(err.contains("deployment.json"), "{err}");
        assert!(Deployment::load(&dir.join("missing.json")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
