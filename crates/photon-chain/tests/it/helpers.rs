//! The vocabulary of the contract tests.

use alloy::contract::{CallBuilder, RawCallBuilder};
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolStruct;
use photon_chain::bindings::TokensNetwork::{self, TokensNetworkErrors};
use photon_chain::ChainError;
use photon_primitives::eip712::{CooperativeSettle, Withdraw};
use photon_primitives::Locksroot;
use photon_primitives::{ChannelId, Signature, Signer, TokenAmount};
use photon_testkit::devnet::{send, DevNet};
use proptest::prelude::{prop_assert_eq, TestCaseError};
use std::marker::PhantomData;

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

/// A fresh dev network with a channel of Alice and Bob holding their deposits `alice` and
/// `bob`, and the channel's epoch.
pub(crate) async fn net_with_channel(alice: TokenAmount, bob: TokenAmount) -> (DevNet, u64) {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, alice, bob).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    (net, epoch)
}

/// The end of a property case: the channel of Alice and Bob is settled and gone, and the
/// contract keeps none of the test token.
pub(crate) async fn prop_assert_settled(net: &DevNet) -> Result<(), TestCaseError> {
    let kept = net.balance(net.deployment.tokens_network).await.unwrap();
    prop_assert_eq!(kept, 0, "the contract keeps nothing");
    prop_assert_eq!(net.state_of(ALICE, BOB).await, 0);
    Ok(())
}

/// A contract call, ready to be sent or checked with [`assert_revert!`](crate::assert_revert).
pub(crate) type Call<'a, C> = CallBuilder<&'a DynProvider, PhantomData<C>>;

/// A balance proof in the contract's calldata form, with its signer's signature.
pub(crate) type Proof = (TokensNetwork::BalanceData, Signature);

/// Test harness shortcuts over a [`DevNet`]: participants are account indices, the token is
/// the test token, and every call is made by the participant it is named for.
pub(crate) trait Harness {
    /// The dev network the shortcuts act on.
    fn devnet(&self) -> &DevNet;

    fn addr(&self, i: usize) -> Address {
        self.devnet().address(i)
    }

    fn token_addr(&self) -> Address {
        *self.devnet().token.address()
    }

    async fn open(&self, a: usize, b: usize) -> ChannelId {
        let net = self.devnet();
        send(net.network.openChannel(self.token_addr(), self.addr(b), TIMEOUT).from(self.addr(a)))
            .await
            .unwrap();
        net.channel_id(self.addr(a), self.addr(b))
    }

    /// `who` deposits `amount` more into its channel with `partner` (approval not included).
    fn deposit_call(
        &self, who: usize, partner: usize, amount: TokenAmount,
    ) -> Call<'_, TokensNetwork::depositCall> {
        let (token, who, partner) = (self.token_addr(), self.addr(who), self.addr(partner));
        self.devnet().network.deposit(token, who, partner, amount.0).from(who)
    }

    async fn deposit(&self, who: usize, partner: usize, amount: TokenAmount) {
        self.devnet().approve(self.addr(who), amount.0).await.unwrap();
        send(self.deposit_call(who, partner, amount)).await.unwrap();
    }

    async fn open_with_deposits(
        &self, a: usize, b: usize, dep_a: TokenAmount, dep_b: TokenAmount,
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
        self.devnet().epoch(self.addr(a), self.addr(b)).await.unwrap()
    }

    async fn channel_info(&self, a: usize, b: usize) -> TokensNetwork::getChannelInfoReturn {
        let (token, a, b) = (self.token_addr(), self.addr(a), self.addr(b));
        self.devnet().network.getChannelInfo(token, a, b).call().await.unwrap()
    }

    async fn state_of(&self, a: usize, b: usize) -> u8 {
        self.channel_info(a, b).await.state
    }

    /// What the contract holds of `who` in its channel with `partner`.
    async fn participant_info(
        &self, who: usize, partner: usize,
    ) -> TokensNetwork::getParticipantInfoReturn {
        let (token, who, partner) = (self.token_addr(), self.addr(who), self.addr(partner));
        self.devnet().network.getParticipantInfo(token, who, partner).call().await.unwrap()
    }

    async fn deposit_of(&self, who: usize, partner: usize) -> TokenAmount {
        TokenAmount(self.participant_info(who, partner).await.depositAmount)
    }

    /// Test-token balances of `a` and `b`.
    async fn balances(&self, a: usize, b: usize) -> (TokenAmount, TokenAmount) {
        let net = self.devnet();
        (
            TokenAmount(net.balance(self.addr(a)).await.unwrap()),
            TokenAmount(net.balance(self.addr(b)).await.unwrap()),
        )
    }

    /// `closer` closes its channel with `partner`, with `partner`'s balance data and a
    /// signature given as raw bytes (which may be anybody's, or malformed).
    fn close_call(
        &self, closer: usize, partner: usize, data: TokensNetwork::BalanceData, sig: Bytes,
    ) -> Call<'_, TokensNetwork::closeChannelCall> {
        let (token, partner) = (self.token_addr(), self.addr(partner));
        self.devnet().network.closeChannel(token, partner, data, sig).from(self.addr(closer))
    }

    /// `closer` closes its channel with `partner`, with `partner`'s proof or none.
    async fn close(
        &self, closer: usize, partner: usize, proof: Option<Proof>,
    ) -> TransactionReceipt {
        let (data, sig) =
            proof.map(|(d, s)| (d, sig_bytes(&s))).unwrap_or_else(|| (empty_proof(), Bytes::new()));
        send(self.close_call(closer, partner, data, sig)).await.unwrap()
    }

    /// `updater`, the closer's partner (or the closer itself), brings `partner`'s `proof`.
    fn update_call(
        &self, updater: usize, partner: usize, (data, sig): Proof,
    ) -> Call<'_, TokensNetwork::updateBalanceProofCall> {
        let (token, partner) = (self.token_addr(), self.addr(partner));
        let call = self.devnet().network.updateBalanceProof(token, partner, data, sig_bytes(&sig));
        call.from(self.addr(updater))
    }

    async fn update(&self, updater: usize, partner: usize, proof: Proof) -> TransactionReceipt {
        send(self.update_call(updater, partner, proof)).await.unwrap()
    }

    /// Mines through the settle and punish windows of a channel closed just now.
    async fn mine_through_windows(&self) {
        let net = self.devnet();
        net.mine(u64::from(TIMEOUT) + net.deployment.params.punish_blocks + 1).await.unwrap();
    }

    /// Mines through the settle and punish windows, settles, and returns what each side got.
    async fn settle_after_windows(&self, a: usize, b: usize) -> (TokenAmount, TokenAmount) {
        let before = self.balances(a, b).await;
        self.mine_through_windows().await;
        let network = &self.devnet().network;
        send(network.settleChannel(self.token_addr(), self.addr(a), self.addr(b))).await.unwrap();
        let after = self.balances(a, b).await;
        (after.0 - before.0, after.1 - before.1)
    }

    /// `signer`'s balance proof for its channel with `partner`, without locks.
    fn proof(
        &self, signer: usize, partner: usize, epoch: u64, nonce: u64, transferred: TokenAmount,
    ) -> Proof {
        let partner = self.addr(partner);
        self.devnet().balance_proof(
            signer,
            partner,
            epoch,
            nonce,
            transferred.0,
            0,
            Locksroot(B256::ZERO),
        )
    }

    /// `who`'s signature of an EIP-712 digest.
    fn sign_digest(&self, who: usize, digest: &B256) -> Bytes {
        sig_bytes(&self.devnet().accounts[who].sign_digest(digest).unwrap())
    }

    /// `who`'s signature of a typed message in the network's domain.
    fn sign<T: SolStruct + 'static>(&self, who: usize, message: &T) -> Bytes {
        self.sign_digest(who, &self.devnet().domain.digest(message))
    }
}

impl Harness for DevNet {
    fn devnet(&self) -> &DevNet {
        self
    }
}

/// Deploys a contract (a test token, a hostile participant, ...) and returns its address.
pub(crate) async fn deploy_contract<P: Provider>(deploy: RawCallBuilder<P>) -> Address {
    send(deploy).await.unwrap().contract_address.expect("a contract was created")
}

/// A message both participants of a channel signed, the first signer's signature first.
#[derive(Clone)]
pub(crate) struct Signed<T> {
    pub(crate) message: T,
    pub(crate) sigs: [Bytes; 2],
}

impl<T: SolStruct + 'static> Signed<T> {
    pub(crate) fn by(net: &DevNet, first: usize, second: usize, message: T) -> Self {
        let sigs = [net.sign(first, &message), net.sign(second, &message)];
        Self { message, sigs }
    }
}

/// `who` and `partner` both sign that `who`, with `deposit` and `balance`, withdraws `amount`.
#[allow(clippy::too_many_arguments)] // one per signed field
pub(crate) fn sign_withdraw(
    net: &DevNet, who: usize, partner: usize, deposit: u128, balance: u128, amount: u128,
    expiry: u64, epoch: u64,
) -> Signed<Withdraw> {
    let message = Withdraw {
        channelId: B256::from(net.channel_id(net.addr(who), net.addr(partner))),
        epoch,
        participant: net.addr(who),
        participantDeposit: deposit,
        participantBalance: balance,
        amount,
        expiry,
    };
    Signed::by(net, who, partner, message)
}

/// `who`'s signed withdrawal from its channel with `partner`, sent by whoever holds it.
pub(crate) fn withdraw_call<'a>(
    net: &'a DevNet, who: usize, partner: usize, signed: &Signed<Withdraw>,
) -> Call<'a, TokensNetwork::withdrawCall> {
    let m = &signed.message;
    let [participant_sig, partner_sig] = signed.sigs.clone();
    net.network.withdraw(
        net.token_addr(),
        net.addr(who),
        net.addr(partner),
        m.participantDeposit,
        m.participantBalance,
        m.amount,
        m.expiry,
        participant_sig,
        partner_sig,
    )
}

/// `a` and `b` both sign that their channel settles at once, `a` getting `bal_a` and `b`
/// getting `bal_b`; the message and signatures are in the contract's participant order.
pub(crate) fn sign_settle(
    net: &DevNet, a: usize, bal_a: u128, b: usize, bal_b: u128, epoch: u64,
) -> Signed<CooperativeSettle> {
    let ((i1, balance1), (i2, balance2)) =
        if net.addr(a) < net.addr(b) { ((a, bal_a), (b, bal_b)) } else { ((b, bal_b), (a, bal_a)) };
    let (participant1, participant2) = (net.addr(i1), net.addr(i2));
    let message = CooperativeSettle {
        channelId: B256::from(net.channel_id(participant1, participant2)),
        epoch,
        participant1,
        balance1,
        participant2,
        balance2,
    };
    Signed::by(net, i1, i2, message)
}

/// The cooperative settlement, submitted by whoever holds it.
pub(crate) fn cooperative_settle_call<'a>(
    net: &'a DevNet, signed: &Signed<CooperativeSettle>,
) -> Call<'a, TokensNetwork::cooperativeSettleCall> {
    let m = &signed.message;
    let (p1, b1, p2, b2) = (m.participant1, m.balance1, m.participant2, m.balance2);
    let [s1, s2] = signed.sigs.clone();
    net.network.cooperativeSettle(net.token_addr(), p1, b1, p2, b2, s1, s2)
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

pub(crate) fn sig_bytes(sig: &Signature) -> Bytes {
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
pub(crate) fn event<E: alloy::sol_types::SolEvent>(receipt: &TransactionReceipt) -> E {
    receipt
        .decoded_log::<E>()
        .map(|l| l.data)
        .unwrap_or_else(|| panic!("no {} event", E::SIGNATURE))
}
