//! The vocabulary of the contract tests.

use alloy::primitives::{Address, B256};
use photon_chain::bindings::TokensNetwork::{self, TokensNetworkErrors};
use photon_chain::ChainError;
use photon_primitives::{ChannelId, Signature, TokenAmount};
use photon_testkit::devnet::{send, DevNet};

pub(crate) const ALICE: usize = 1;
pub(crate) const BOB: usize = 2;
pub(crate) const CHARLIE: usize = 3;
pub(crate) const DELEGATE: usize = 4;

/// Settle timeout used by the tests' channels.
pub(crate) const TIMEOUT: u32 = 10;

pub(crate) async fn net() -> DevNet {
    let net = DevNet::start().await.expect("dev network starts");
    for who in [ALICE, BOB, CHARLIE, DELEGATE] {
        net.mint(net.address(who), 1_000_000).await.unwrap();
    }
    net
}

/// Test harness shortcuts over a [`DevNet`].
pub(crate) trait Harness {
    fn addr(&self, i: usize) -> Address;
    fn token_addr(&self) -> Address;
    async fn open(&self, a: usize, b: usize) -> ChannelId;
    async fn deposit(&self, who: usize, partner: usize, amount: TokenAmount);
    async fn open_with_deposits(
        &self,
        a: usize,
        b: usize,
        dep_a: TokenAmount,
        dep_b: TokenAmount,
    ) -> ChannelId;
    async fn epoch_of(&self, a: usize, b: usize) -> u64;
    async fn state_of(&self, a: usize, b: usize) -> u8;
    async fn deposit_of(&self, who: usize, partner: usize) -> TokenAmount;
    async fn close(
        &self,
        closer: usize,
        partner: usize,
        proof: Option<(TokensNetwork::BalanceData, Signature)>,
    );
    async fn settle_after_windows(&self, a: usize, b: usize) -> (TokenAmount, TokenAmount);
    fn proof(
        &self,
        signer: usize,
        partner: usize,
        epoch: u64,
        nonce: u64,
        transferred: TokenAmount,
    ) -> (TokensNetwork::BalanceData, Signature);
}

impl Harness for DevNet {
    fn addr(&self, i: usize) -> Address {
        self.address(i)
    }

    fn token_addr(&self) -> Address {
        *self.token.address()
    }

    async fn open(&self, a: usize, b: usize) -> ChannelId {
        send(self.network.openChannel(self.token_addr(), self.addr(b), TIMEOUT).from(self.addr(a)))
            .await
            .unwrap();
        self.channel_id(self.addr(a), self.addr(b))
    }

    async fn deposit(&self, who: usize, partner: usize, amount: TokenAmount) {
        self.approve(self.addr(who), amount).await.unwrap();
        send(
            self.network
                .deposit(self.token_addr(), self.addr(who), self.addr(partner), amount)
                .from(self.addr(who)),
        )
        .await
        .unwrap();
    }

    async fn open_with_deposits(
        &self,
        a: usize,
        b: usize,
        dep_a: TokenAmount,
        dep_b: TokenAmount,
    ) -> ChannelId {
        let id = self.open(a, b).await;
        if dep_a > 0 {
            self.deposit(a, b, dep_a).await;
        }
        if dep_b > 0 {
            self.deposit(b, a, dep_b).await;
        }
        id
    }

    async fn epoch_of(&self, a: usize, b: usize) -> u64 {
        self.epoch(self.addr(a), self.addr(b)).await.unwrap()
    }

    async fn state_of(&self, a: usize, b: usize) -> u8 {
        self.network
            .getChannelInfo(self.token_addr(), self.addr(a), self.addr(b))
            .call()
            .await
            .unwrap()
            .state
    }

    async fn deposit_of(&self, who: usize, partner: usize) -> TokenAmount {
        self.network
            .getParticipantInfo(self.token_addr(), self.addr(who), self.addr(partner))
            .call()
            .await
            .unwrap()
            .depositAmount
    }

    async fn close(
        &self,
        closer: usize,
        partner: usize,
        proof: Option<(TokensNetwork::BalanceData, Signature)>,
    ) {
        let (data, sig) =
            proof.map(|(d, s)| (d, s.0.to_vec())).unwrap_or_else(|| (empty_proof(), Vec::new()));
        send(
            self.network
                .closeChannel(self.token_addr(), self.addr(partner), data, sig.into())
                .from(self.addr(closer)),
        )
        .await
        .unwrap();
    }

    /// Mines through the settle and punish windows, settles, and returns what each side got.
    async fn settle_after_windows(&self, a: usize, b: usize) -> (TokenAmount, TokenAmount) {
        let before =
            (self.balance(self.addr(a)).await.unwrap(), self.balance(self.addr(b)).await.unwrap());
        self.mine(u64::from(TIMEOUT) + self.deployment.params.punish_blocks + 1).await.unwrap();
        send(self.network.settleChannel(self.token_addr(), self.addr(a), self.addr(b)))
            .await
            .unwrap();
        let after =
            (self.balance(self.addr(a)).await.unwrap(), self.balance(self.addr(b)).await.unwrap());
        (after.0 - before.0, after.1 - before.1)
    }

    fn proof(
        &self,
        signer: usize,
        partner: usize,
        epoch: u64,
        nonce: u64,
        transferred: TokenAmount,
    ) -> (TokensNetwork::BalanceData, Signature) {
        self.balance_proof(signer, self.addr(partner), epoch, nonce, transferred, 0, B256::ZERO)
    }
}

pub(crate) fn empty_proof() -> TokensNetwork::BalanceData {
    TokensNetwork::BalanceData {
        transferredAmount: 0,
        lockedAmount: 0,
        locksroot: B256::ZERO,
        nonce: 0,
        additionalHash: B256::ZERO,
    }
}

pub(crate) fn sig_bytes(sig: &Signature) -> alloy::primitives::Bytes {
    sig.0.to_vec().into()
}

/// The contract error a failed call reverted with.
pub(crate) fn revert_reason<T: std::fmt::Debug>(
    result: Result<T, ChainError>,
) -> TokensNetworkErrors {
    match result {
        Err(ChainError::Contract(e)) => e
            .as_decoded_interface_error::<TokensNetworkErrors>()
            .unwrap_or_else(|| panic!("not a TokensNetwork error: {e}")),
        other => panic!("expected a revert, got {other:?}"),
    }
}

/// Asserts that a call reverts with the given `TokensNetworkErrors` variant.
#[macro_export]
macro_rules! assert_revert {
    ($call:expr, $variant:ident) => {{
        let reason = $crate::helpers::revert_reason(photon_testkit::devnet::send($call).await);
        assert!(
            matches!(
                reason,
                photon_chain::bindings::TokensNetwork::TokensNetworkErrors::$variant(_)
            ),
            "expected {}, got {:?}",
            stringify!($variant),
            reason
        );
    }};
}

/// The first event of type `E` in a receipt.
pub(crate) fn event<E: alloy::sol_types::SolEvent>(
    receipt: &alloy::rpc::types::TransactionReceipt,
) -> E {
    receipt
        .decoded_log::<E>()
        .map(|l| l.data)
        .unwrap_or_else(|| panic!("no {} event", E::SIGNATURE))
}
