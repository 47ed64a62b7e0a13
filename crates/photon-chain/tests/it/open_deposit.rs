use crate::assert_revert;
use crate::helpers::*;
use alloy::primitives::{Address, Bytes, U256};
use alloy::sol_types::SolValue;
use photon_chain::bindings::{TestApproveAndCallToken, TestERC223, TokensNetwork};
use photon_primitives::TokenAmount;
use photon_testkit::devnet::send;

#[tokio::test]
async fn open_without_deposit() {
    let net = net().await;
    let receipt = send(
        net.network.openChannel(net.token_addr(), net.addr(BOB), TIMEOUT).from(net.addr(ALICE)),
    )
    .await
    .unwrap();
    let ev = event::<TokensNetwork::ChannelOpened>(&receipt);
    let (low, high) = if net.addr(ALICE) < net.addr(BOB) {
        (net.addr(ALICE), net.addr(BOB))
    } else {
        (net.addr(BOB), net.addr(ALICE))
    };
    assert_eq!((ev.participant1, ev.participant2, ev.settleTimeout), (low, high, TIMEOUT));
    assert_eq!(ev.channelId, net.channel_id(net.addr(ALICE), net.addr(BOB)).0);
    let info = net.channel_info(BOB, ALICE).await;
    assert_eq!(info.state, 1);
    assert_eq!(info.epoch, receipt.block_number.unwrap(), "the epoch is the opening block");
    assert_eq!(info.settleTimeout, TIMEOUT);
    assert_eq!(net.deposit_of(ALICE, BOB).await, 0);
}

#[tokio::test]
async fn open_rejects_bad_arguments() {
    let net = net().await;
    let token = net.token_addr();
    let open = |opener: usize, partner: Address, timeout: u32| {
        net.network.openChannel(token, partner, timeout).from(net.addr(opener))
    };
    assert_revert!(open(ALICE, net.addr(ALICE), TIMEOUT), InvalidParticipants);
    assert_revert!(open(ALICE, Address::ZERO, TIMEOUT), InvalidParticipants);
    assert_revert!(open(ALICE, net.addr(BOB), 4), InvalidSettleTimeout);
    assert_revert!(open(ALICE, net.addr(BOB), 1001), InvalidSettleTimeout);
    net.open(ALICE, BOB).await;
    // either side opening again is refused
    assert_revert!(open(BOB, net.addr(ALICE), TIMEOUT), ChannelExists);
}

#[tokio::test]
async fn deposits_are_repeatable_by_either_side_for_itself_only() {
    let net = net().await;
    net.open(ALICE, BOB).await;
    net.deposit(ALICE, BOB, TokenAmount(100)).await;
    net.deposit(ALICE, BOB, TokenAmount(20)).await;
    net.deposit(BOB, ALICE, TokenAmount(80)).await;
    assert_eq!(net.deposit_of(ALICE, BOB).await, 120);
    assert_eq!(net.deposit_of(BOB, ALICE).await, 80);
    // Finding 10: a third party (Charlie) cannot deposit into the channel, nor can Alice
    // deposit for Bob: a deposit would void the balances pending signatures were made for
    net.approve(net.addr(CHARLIE), 5).await.unwrap();
    let deposit_for_bob =
        |from: usize| net.deposit_call(BOB, ALICE, TokenAmount(5)).from(net.addr(from));
    assert_revert!(deposit_for_bob(CHARLIE), NotParticipant);
    net.approve(net.addr(ALICE), 5).await.unwrap();
    assert_revert!(deposit_for_bob(ALICE), NotParticipant);
    let receipt = send(deposit_for_bob(BOB).from(net.addr(BOB))).await;
    assert!(receipt.is_err(), "Bob approved nothing");
    assert_eq!(net.deposit_of(BOB, ALICE).await, 80);
    assert_eq!(net.balance(net.addr(CHARLIE)).await.unwrap(), 1_000_000);
    assert_eq!(net.balance(net.deployment.tokens_network).await.unwrap(), 200);
}

#[tokio::test]
async fn deposit_rejects_bad_arguments() {
    let net = net().await;
    // no channel yet
    net.approve(net.addr(ALICE), 10).await.unwrap();
    assert_revert!(net.deposit_call(ALICE, BOB, TokenAmount(10)), ChannelNotOpen);
    net.open(ALICE, BOB).await;
    assert_revert!(net.deposit_call(ALICE, BOB, TokenAmount(0)), ZeroAmount);
    // more than approved
    assert_revert!(net.deposit_call(ALICE, BOB, TokenAmount(11)), TokenTransferFailed);
    // a total beyond 128 bits
    net.mint(net.addr(ALICE), u128::MAX).await.unwrap();
    net.approve(net.addr(ALICE), u128::MAX).await.unwrap();
    send(net.deposit_call(ALICE, BOB, TokenAmount(u128::MAX - 1))).await.unwrap();
    net.approve(net.addr(BOB), 2).await.unwrap();
    assert_revert!(net.deposit_call(BOB, ALICE, TokenAmount(2)), DepositOverflow);
    // a closed channel takes no deposits
    net.close(ALICE, BOB, None).await;
    net.approve(net.addr(BOB), 1).await.unwrap();
    assert_revert!(net.deposit_call(BOB, ALICE, TokenAmount(1)), ChannelNotOpen);
}

#[tokio::test]
async fn open_with_deposit_in_one_transaction() {
    let net = net().await;
    net.approve(net.addr(ALICE), 100).await.unwrap();
    send(
        net.network
            .openChannelWithDeposit(net.token_addr(), net.addr(BOB), TIMEOUT, 100)
            .from(net.addr(ALICE)),
    )
    .await
    .unwrap();
    assert_eq!(net.state_of(ALICE, BOB).await, 1);
    assert_eq!(net.deposit_of(ALICE, BOB).await, 100);
}

fn open_data(partner: Address, timeout: u32) -> Bytes {
    (partner, timeout).abi_encode().into()
}

#[tokio::test]
async fn erc223_token_fallback_opens_and_deposits() {
    let net = net().await;
    let deploy = TestERC223::deploy_builder(&net.provider, "Photon 223".into(), "P223".into());
    let token = TestERC223::new(deploy_contract(deploy).await, net.provider.clone());
    let (alice, bob) = (net.addr(ALICE), net.addr(BOB));
    send(token.mint(alice, U256::from(1000))).await.unwrap();
    send(token.mint(bob, U256::from(1000))).await.unwrap();
    let tn = net.deployment.tokens_network;

    // open + deposit in one transfer
    send(token.transfer_1(tn, U256::from(100), open_data(bob, TIMEOUT)).from(alice)).await.unwrap();
    // deposit into the existing channel from the other side (timeout ignored once open)
    send(token.transfer_1(tn, U256::from(80), open_data(alice, 0)).from(bob)).await.unwrap();
    let info = net.network.getParticipantInfo(*token.address(), alice, bob).call().await.unwrap();
    assert_eq!(info.depositAmount, 100);
    let info = net.network.getParticipantInfo(*token.address(), bob, alice).call().await.unwrap();
    assert_eq!(info.depositAmount, 80);

    // a plain transfer without instructions is refused rather than lost
    let err = send(token.transfer_0(tn, U256::from(1)).from(alice)).await.unwrap_err();
    assert!(matches!(
        revert_reason::<()>(Err(err)),
        TokensNetwork::TokensNetworkErrors::InvalidCallback(_)
    ));
    // no channel and no timeout: refused
    let err =
        send(token.transfer_1(tn, U256::from(1), open_data(net.addr(CHARLIE), 0)).from(alice))
            .await
            .unwrap_err();
    assert!(matches!(
        revert_reason::<()>(Err(err)),
        TokensNetwork::TokensNetworkErrors::ChannelNotOpen(_)
    ));
}

#[tokio::test]
async fn approve_and_call_opens_and_deposits() {
    let net = net().await;
    let deploy =
        TestApproveAndCallToken::deploy_builder(&net.provider, "Photon AAC".into(), "PAAC".into());
    let token = TestApproveAndCallToken::new(deploy_contract(deploy).await, net.provider.clone());
    let (alice, bob) = (net.addr(ALICE), net.addr(BOB));
    send(token.mint(alice, U256::from(1000))).await.unwrap();
    let tn = net.deployment.tokens_network;

    send(token.approveAndCall(tn, U256::from(100), open_data(bob, TIMEOUT)).from(alice))
        .await
        .unwrap();
    send(token.approveAndCall(tn, U256::from(25), open_data(bob, 0)).from(alice)).await.unwrap();
    let info = net.network.getParticipantInfo(*token.address(), alice, bob).call().await.unwrap();
    assert_eq!(info.depositAmount, 125);
    assert_eq!(token.balanceOf(tn).call().await.unwrap(), U256::from(125));

    // Only the token itself may call receiveApproval: Bob cannot pull Alice's standing
    // allowance into a channel of his choosing.
    send(token.approve(tn, U256::from(500)).from(alice)).await.unwrap();
    assert_revert!(
        net.network
            .receiveApproval(alice, U256::from(500), *token.address(), open_data(bob, 0))
            .from(bob),
        InvalidCallback
    );
}
