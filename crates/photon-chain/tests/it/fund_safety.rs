//! The findings of the fund-safety review that live wholly in the contract, each with the
//! attack that worked on the first contracts (findings 1, 2, 6, 8 and 10 are tested beside
//! the function they concern: unlock.rs, withdraw.rs, follower.rs, open_deposit.rs).

use crate::assert_revert;
use crate::helpers::*;
use alloy::primitives::{Address, U256};
use alloy::sol_types::{SolCall, SolValue};
use photon_chain::bindings::{TestERC223, TestFeeToken, TestHostileParticipant, TokensNetwork};
use photon_chain::deploy::{deploy, DeployParams};
use photon_testkit::devnet::send;

/// A fresh ERC223 test token: its address and binding.
async fn erc223(
    net: &photon_testkit::devnet::DevNet,
) -> (Address, TestERC223::TestERC223Instance<alloy::providers::DynProvider>) {
    let token =
        deploy_contract(TestERC223::deploy_builder(&net.provider, "T".into(), "T".into())).await;
    (token, TestERC223::new(token, net.provider.clone()))
}

/// Finding 3: a participant whose receipt fails (a contract whose ERC223 tokenFallback
/// reverts, or burns all the gas it gets) cannot freeze the honest side's payout: the settle
/// goes through, the failed payout is credited and claimed later.
#[tokio::test]
async fn a_recipient_that_refuses_its_payout_cannot_block_the_settlement() {
    for mode in [1u8, 2] {
        let net = net().await;
        let (token, t) = erc223(&net).await;
        let hostile = deploy_contract(TestHostileParticipant::deploy_builder(&net.provider)).await;
        let h = TestHostileParticipant::new(hostile, net.provider.clone());
        let tn = net.deployment.tokens_network;
        send(t.mint(hostile, U256::from(1))).await.unwrap();
        send(t.mint(net.addr(ALICE), U256::from(100))).await.unwrap();
        // the hostile contract opens with Alice and deposits 1 (ERC223 transfer with data)
        let data = (net.addr(ALICE), TIMEOUT).abi_encode_params();
        let open = TestERC223::transfer_1Call { to: tn, value: U256::from(1), data: data.into() };
        send(h.execute(token, open.abi_encode().into())).await.unwrap();
        // Alice deposits 100 the same way
        let data = (hostile, 0u32).abi_encode_params();
        send(t.transfer_1(tn, U256::from(100), data.into()).from(net.addr(ALICE))).await.unwrap();
        send(h.setMode(mode)).await.unwrap();
        // Alice closes without a proof; after the windows anyone settles
        let none = empty_proof();
        let close = net.network.closeChannel(token, hostile, none, Default::default());
        send(close.from(net.addr(ALICE))).await.unwrap();
        net.mine_through_windows().await;
        let settle = net.network.settleChannel(token, net.addr(ALICE), hostile).gas(3_000_000);
        let receipt = send(settle).await.unwrap();
        let deferred = event::<TokensNetwork::PayoutDeferred>(&receipt);
        assert_eq!((deferred.recipient, deferred.amount), (hostile, U256::from(1)), "mode {mode}");
        assert_eq!(t.balanceOf(net.addr(ALICE)).call().await.unwrap(), U256::from(100));
        // later the hostile side accepts again and claims its 1
        send(h.setMode(0)).await.unwrap();
        let claim = TokensNetwork::claimPayoutCall { token, to: hostile };
        send(h.execute(tn, claim.abi_encode().into())).await.unwrap();
        assert_eq!(t.balanceOf(hostile).call().await.unwrap(), U256::from(1));
        assert_revert!(
            net.network.claimPayout(token, hostile).from(net.addr(ALICE)),
            NothingToClaim
        );
    }
}

/// Finding 5: Bob asks the ERC223 path to open with a 10-block window; Alice front-runs with
/// her own open at another timeout. Bob's transfer is refused (his tokens stay with him)
/// instead of being deposited into a channel whose window Alice chose.
#[tokio::test]
async fn a_front_run_open_cannot_impose_its_settle_timeout() {
    let net = net().await;
    let (token, t) = erc223(&net).await;
    send(t.mint(net.addr(BOB), U256::from(1_000))).await.unwrap();
    send(net.network.openChannel(token, net.addr(BOB), 1000).from(net.addr(ALICE))).await.unwrap();
    let tn = net.deployment.tokens_network;
    let asks = |timeout: u32| {
        let data = (net.addr(ALICE), timeout).abi_encode_params();
        t.transfer_1(tn, U256::from(1_000), data.into()).from(net.addr(BOB))
    };
    assert_revert!(asks(TIMEOUT), InvalidSettleTimeout);
    assert_eq!(t.balanceOf(net.addr(BOB)).call().await.unwrap(), U256::from(1_000));
    // asking for the timeout the channel has is fine
    send(asks(1000)).await.unwrap();
    assert_eq!(
        net.network
            .getParticipantInfo(token, net.addr(BOB), net.addr(ALICE))
            .call()
            .await
            .unwrap()
            .depositAmount,
        1_000
    );
}

/// Finding 9: a fee-on-transfer token (1 % burnt) is credited with what arrived, so two
/// channels of it stay solvent and both settle.
#[tokio::test]
async fn a_fee_on_transfer_deposit_is_credited_with_what_arrived() {
    let net = net().await;
    let token =
        deploy_contract(TestFeeToken::deploy_builder(&net.provider, "F".into(), "F".into())).await;
    let t = TestFeeToken::new(token, net.provider.clone());
    let tn = net.deployment.tokens_network;
    for (a, b) in [(ALICE, BOB), (CHARLIE, BOB)] {
        send(t.mint(net.addr(a), U256::from(100))).await.unwrap();
        send(t.approve(tn, U256::from(100)).from(net.addr(a))).await.unwrap();
        send(
            net.network.openChannelWithDeposit(token, net.addr(b), TIMEOUT, 100).from(net.addr(a)),
        )
        .await
        .unwrap();
        let info = net.network.getParticipantInfo(token, net.addr(a), net.addr(b)).call().await;
        assert_eq!(info.unwrap().depositAmount, 99, "1 % never arrived");
    }
    assert_eq!(t.balanceOf(tn).call().await.unwrap(), U256::from(198));
    for a in [ALICE, CHARLIE] {
        let close =
            net.network.closeChannel(token, net.addr(BOB), empty_proof(), Default::default());
        send(close.from(net.addr(a))).await.unwrap();
    }
    net.mine_through_windows().await;
    for a in [ALICE, CHARLIE] {
        send(net.network.settleChannel(token, net.addr(a), net.addr(BOB))).await.unwrap();
    }
    assert_eq!(t.balanceOf(tn).call().await.unwrap(), U256::ZERO, "both paid out in full");
}

/// Finding 11: a deployment cannot choose a punish window of zero, a settle timeout floor
/// under SETTLE_TIMEOUT_FLOOR, or a punish window longer than the longest settle timeout.
#[tokio::test]
async fn deployments_outside_sane_bounds_are_refused() {
    let net = net().await;
    for (punish_blocks, min_settle_timeout, max_settle_timeout) in
        [(0, 5, 1000), (5, 1, 1000), (2000, 5, 1000), (5, 10, 9)]
    {
        let params = DeployParams { punish_blocks, min_settle_timeout, max_settle_timeout };
        assert!(deploy(&net.provider, &params).await.is_err(), "{params:?}");
    }
    let ok = DeployParams { punish_blocks: 5, min_settle_timeout: 5, max_settle_timeout: 1000 };
    assert!(deploy(&net.provider, &ok).await.is_ok());
}

/// Finding 7: a channel opened, settled and re-opened in one block must not get the same
/// epoch again, or the signatures of the first (here its cooperative settlement) would replay
/// on the second.
#[tokio::test]
async fn an_epoch_never_repeats_even_within_one_block() {
    use alloy::providers::Provider;

    let net = net().await;
    let token = net.token_addr();
    let (a, b) = (net.addr(ALICE), net.addr(BOB));
    let block = net.block_number().await.unwrap() + 1;
    // both sign the cooperative settlement (0 / 0) of the channel about to open in `block`
    let signed = sign_settle(&net, ALICE, 0, BOB, 0, block);
    let settle = || cooperative_settle_call(&net, &signed);
    // open, settle and re-open in one block (three senders, gas given: nothing is estimated)
    let _: serde_json::Value =
        net.provider.raw_request("evm_setAutomine".into(), (false,)).await.unwrap();
    let open1 = net.network.openChannel(token, b, TIMEOUT).from(a).gas(200_000).send().await;
    let coop = settle().from(net.addr(CHARLIE)).gas(300_000).send().await;
    let open2 = net.network.openChannel(token, a, TIMEOUT).from(b).gas(200_000).send().await;
    let _: serde_json::Value = net.provider.raw_request("evm_mine".into(), ()).await.unwrap();
    let _: serde_json::Value =
        net.provider.raw_request("evm_setAutomine".into(), (true,)).await.unwrap();
    for pending in [open1, coop, open2] {
        let receipt = pending.unwrap().get_receipt().await.unwrap();
        assert!(receipt.status(), "mined and succeeded");
        assert_eq!(receipt.block_number, Some(block), "all in one block");
    }
    let epoch = net.epoch_of(ALICE, BOB).await;
    assert_eq!(epoch, block + 1, "the re-open moved past the settled channel's epoch");
    // the first channel's cooperative settlement does not replay on the second
    assert_revert!(settle(), InvalidSignature);
    assert_eq!(net.state_of(ALICE, BOB).await, 1, "still open");
}
