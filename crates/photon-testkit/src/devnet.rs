//! A whole dev network in one value: anvil, the contracts deployed, a test token and funded
//! accounts with their off-chain signers. Tests, `photon-bench` and the demo use it.

use crate::devchain::DevChain;
use alloy::contract::{CallBuilder, CallDecoder};
use alloy::network::{EthereumWallet, ReceiptResponse};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use anyhow::Context;
use photon_chain::bindings::{
    SecretRegistry::{self, SecretRegistryInstance},
    TestApproveAndCallToken,
    TestERC20::{self, TestERC20Instance},
    TestERC223,
    TokensNetwork::{self, TokensNetworkInstance},
};
use photon_chain::deploy::{created, deploy, DeployParams, Deployment};
use photon_chain::{ChainError, Result};
use photon_primitives::eip712::{BalanceProof, Domain};
use photon_primitives::{channel_id, ChannelId, LocalSigner, Signature, Signer, TokenAmount};
use photon_primitives::{Epoch, Nonce};

/// Parameters for tests: windows short enough to mine through quickly.
pub const TEST_PARAMS: DeployParams =
    DeployParams { punish_blocks: 5, min_settle_timeout: 5, max_settle_timeout: 1000 };

/// A running dev network.
#[derive(Debug)]
pub struct DevNet {
    /// The anvil process.
    pub chain: DevChain,
    /// A provider that signs for every account in `accounts`.
    pub provider: DynProvider,
    /// Where the contracts are.
    pub deployment: Deployment,
    /// The `TokensNetwork` contract.
    pub network: TokensNetworkInstance<DynProvider>,
    /// The `SecretRegistry` contract.
    pub registry: SecretRegistryInstance<DynProvider>,
    /// A plain ERC20 test token.
    pub token: TestERC20Instance<DynProvider>,
    /// anvil's funded accounts, as off-chain signers.
    pub accounts: Vec<LocalSigner>,
    /// The EIP-712 domain of `network`.
    pub domain: Domain,
}

impl DevNet {
    /// Starts anvil and deploys with [`TEST_PARAMS`].
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&TEST_PARAMS).await
    }

    /// Starts anvil with chain id `chain_id` and deploys with [`TEST_PARAMS`]: a second
    /// chain beside another (swaps across chains).
    pub async fn start_on_chain(chain_id: u64) -> anyhow::Result<Self> {
        Self::deploy_on(DevChain::spawn_with_chain_id(chain_id)?, &TEST_PARAMS).await
    }

    /// Starts anvil and deploys with `params`.
    pub async fn start_with(params: &DeployParams) -> anyhow::Result<Self> {
        Self::deploy_on(DevChain::spawn()?, params).await
    }

    async fn deploy_on(chain: DevChain, params: &DeployParams) -> anyhow::Result<Self> {
        let keys = chain.keys();
        let mut wallet: Option<EthereumWallet> = None;
        let mut accounts = Vec::with_capacity(keys.len());
        for key in &keys {
            let signer = PrivateKeySigner::from_bytes(&B256::from(*key)).context("anvil key")?;
            match wallet.as_mut() {
                Some(w) => w.register_signer(signer),
                None => wallet = Some(EthereumWallet::from(signer)),
            }
            accounts.push(LocalSigner::from_bytes(key).context("anvil key")?);
        }
        let wallet = wallet.context("anvil has no accounts")?;
        // Simple nonce management: the cached manager consumes a nonce even when gas estimation
        // fails (a revert), which leaves a gap that instant mining never fills.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .with_chain_id(chain.chain_id())
            .wallet(wallet)
            .connect_http(chain.endpoint())
            .erased();
        let deployment = deploy(&provider, params).await?;
        let receipt =
            TestERC20::deploy_builder(&provider, "Photon Test Token".into(), "PTT".into())
                .send()
                .await?
                .get_receipt()
                .await?;
        let token = TestERC20::new(created(&receipt)?, provider.clone());
        let network = TokensNetwork::new(deployment.tokens_network, provider.clone());
        let registry = SecretRegistry::new(deployment.secret_registry, provider.clone());
        let domain = Domain::new(deployment.chain_id, deployment.tokens_network);
        Ok(Self { chain, provider, deployment, network, registry, token, accounts, domain })
    }

    /// Deploys a test ERC223 token (deposits by `transfer` with data).
    pub async fn deploy_erc223(
        &self, name: &str,
    ) -> Result<TestERC223::TestERC223Instance<DynProvider>> {
        let builder = TestERC223::deploy_builder(&self.provider, name.into(), name.into());
        let receipt = builder.send().await?.get_receipt().await?;
        Ok(TestERC223::new(created(&receipt)?, self.provider.clone()))
    }

    /// Deploys a test token with `approveAndCall`.
    pub async fn deploy_approve_and_call(
        &self, name: &str,
    ) -> Result<TestApproveAndCallToken::TestApproveAndCallTokenInstance<DynProvider>> {
        let builder =
            TestApproveAndCallToken::deploy_builder(&self.provider, name.into(), name.into());
        let receipt = builder.send().await?.get_receipt().await?;
        Ok(TestApproveAndCallToken::new(created(&receipt)?, self.provider.clone()))
    }

    /// The address of account `i`.
    pub fn address(&self, i: usize) -> Address {
        self.accounts[i].address()
    }

    /// The current block number.
    pub async fn block_number(&self) -> Result<u64> {
        Ok(self.provider.get_block_number().await?)
    }

    /// Mines `blocks` empty blocks (anvil only).
    pub async fn mine(&self, blocks: u64) -> Result<()> {
        let _: serde_json::Value =
            self.provider.raw_request("anvil_mine".into(), (U256::from(blocks),)).await?;
        Ok(())
    }

    /// Mints `amount` of the test token to `to`.
    pub async fn mint(&self, to: Address, amount: u128) -> Result<TransactionReceipt> {
        send(self.token.mint(to, U256::from(amount))).await
    }

    /// `owner` approves the network for exactly `amount` of the test token.
    pub async fn approve(&self, owner: Address, amount: u128) -> Result<TransactionReceipt> {
        send(self.token.approve(self.deployment.tokens_network, U256::from(amount)).from(owner))
            .await
    }

    /// Test-token balance of `who`.
    pub async fn balance(&self, who: Address) -> Result<u128> {
        let b = self.token.balanceOf(who).call().await?;
        Ok(b.to::<u128>())
    }

    /// The channel id of `a` and `b` for the test token.
    pub fn channel_id(&self, a: Address, b: Address) -> ChannelId {
        channel_id(a, b, *self.token.address(), self.deployment.tokens_network)
    }

    /// The epoch of the channel of `a` and `b` for the test token.
    pub async fn epoch(&self, a: Address, b: Address) -> Result<u64> {
        Ok(self.network.getChannelInfo(*self.token.address(), a, b).call().await?.epoch)
    }

    /// A balance proof signed by account `signer` for its channel with `partner`, in the
    /// contract's calldata form.
    #[allow(clippy::too_many_arguments)]
    pub fn balance_proof(
        &self, signer: usize, partner: Address, epoch: u64, nonce: u64, transferred: u128,
        locked: u128, locksroot: photon_primitives::Locksroot,
    ) -> (TokensNetwork::BalanceData, Signature) {
        let me = &self.accounts[signer];
        let proof = BalanceProof::new(
            self.channel_id(me.address(), partner),
            Epoch(epoch),
            Nonce(nonce),
            TokenAmount(transferred),
            TokenAmount(locked),
            locksroot,
            B256::ZERO,
        );
        let sig =
            me.sign_digest(&self.domain.balance_proof(&proof)).expect("local signing cannot fail");
        (balance_data(&proof), sig)
    }
}

/// The calldata form of a balance proof.
pub fn balance_data(proof: &BalanceProof) -> TokensNetwork::BalanceData {
    TokensNetwork::BalanceData {
        transferredAmount: proof.transferredAmount,
        lockedAmount: proof.lockedAmount,
        locksroot: proof.locksroot,
        nonce: proof.nonce,
        additionalHash: proof.additionalHash,
    }
}

/// Sends a contract call as a transaction, waits for its receipt and fails if it reverted.
pub async fn send<P: Provider, D: CallDecoder>(
    call: CallBuilder<P, D>,
) -> Result<TransactionReceipt> {
    let receipt = call.send().await?.get_receipt().await?;
    if !receipt.status() {
        return Err(ChainError::Reverted(receipt.transaction_hash()));
    }
    Ok(receipt)
}
