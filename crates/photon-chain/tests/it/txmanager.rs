use crate::helpers::*;
use alloy::providers::Provider;
use photon_chain::txmanager::{ChainCall, Resumed, TxManager};
use photon_chain::ChainError;
use photon_primitives::Secret;
use photon_primitives::TokenAmount;
use photon_state::changes::ContractCall;
use std::time::Duration;

const POLL: Duration = Duration::from_millis(20);
const TIMEOUT: Duration = Duration::from_secs(20);

/// The settle timeout of the channels these tests open.
const SETTLE: photon_primitives::SettleTimeout = photon_primitives::SettleTimeout(10);

#[tokio::test]
async fn sends_in_nonce_order_and_refusals_cost_no_nonce() {
    let net = net().await;
    let alice = net.addr(ALICE);
    let mut txs =
        TxManager::new(net.provider.clone(), alice, net.deployment.clone()).await.unwrap();
    let start = txs.next_nonce();
    let token = net.token_addr();
    // refused before sending: no channel yet
    let refused = txs
        .send(&ChainCall::Deposit { token, partner: net.addr(BOB), amount: TokenAmount(10) })
        .await;
    assert!(
        matches!(&refused, Err(ChainError::Refused(name)) if name == "ChannelNotOpen"),
        "{refused:?}"
    );
    assert_eq!(txs.next_nonce(), start);
    let approve = txs.send(&ChainCall::Approve { token, amount: TokenAmount(100) }).await.unwrap();
    let open = txs
        .send(&ChainCall::OpenChannelWithDeposit {
            token,
            partner: net.addr(BOB),
            settle_timeout: SETTLE,
            amount: TokenAmount(100),
        })
        .await
        .unwrap();
    assert_eq!((approve.nonce, open.nonce), (start, start + 1));
    txs.wait(approve.hash, POLL, TIMEOUT).await.unwrap();
    txs.wait(open.hash, POLL, TIMEOUT).await.unwrap();
    assert_eq!(net.deposit_of(ALICE, BOB).await, 100);
    // a protocol transaction
    let reg = txs
        .send(&ChainCall::Protocol(Box::new(ContractCall::RegisterSecret {
            secret: Secret([9u8; 32].into()),
        })))
        .await
        .unwrap();
    txs.wait(reg.hash, POLL, TIMEOUT).await.unwrap();
}

#[tokio::test]
async fn pending_transactions_survive_a_restart() {
    let net = net().await;
    let alice = net.addr(ALICE);
    let token = net.token_addr();
    let _: () = net.provider.raw_request("evm_setAutomine".into(), (false,)).await.unwrap();
    let mut txs =
        TxManager::new(net.provider.clone(), alice, net.deployment.clone()).await.unwrap();
    let first = txs.send(&ChainCall::Approve { token, amount: TokenAmount(5) }).await.unwrap();
    let open = ChainCall::OpenChannel { token, partner: net.addr(BOB), settle_timeout: SETTLE };
    let second = txs.send(&open).await.unwrap();
    // "restart": a new manager gets the persisted list; both are still in the pool
    drop(txs);
    let mut txs =
        TxManager::new(net.provider.clone(), alice, net.deployment.clone()).await.unwrap();
    let resumed = txs.resume(&[second.clone(), first.clone()]).await.unwrap();
    assert_eq!(resumed, vec![Resumed::Pending(first.hash), Resumed::Pending(second.hash)]);
    // the pool loses the second one: it is sent again with its nonce
    let _: serde_json::Value =
        net.provider.raw_request("anvil_dropTransaction".into(), (second.hash,)).await.unwrap();
    let resumed = txs.resume(&[first.clone(), second.clone()]).await.unwrap();
    let Resumed::Resent(again) = &resumed[1] else { panic!("{resumed:?}") };
    assert_eq!(again.nonce, second.nonce);
    let _: () = net.provider.raw_request("evm_setAutomine".into(), (true,)).await.unwrap();
    net.mine(1).await.unwrap();
    txs.wait(first.hash, POLL, TIMEOUT).await.unwrap();
    txs.wait(again.hash, POLL, TIMEOUT).await.unwrap();
    assert_eq!(net.state_of(ALICE, BOB).await, 1, "the resent open landed");
    let resumed = txs.resume(&[first.clone(), (**again).clone()]).await.unwrap();
    assert_eq!(resumed, vec![Resumed::Mined(first.hash), Resumed::Mined(again.hash)]);
}

#[tokio::test]
async fn an_endpoint_on_another_chain_gets_no_manager() {
    let net = net().await;
    let mut deployment = net.deployment.clone();
    deployment.chain_id += 1;
    let refused = TxManager::new(net.provider.clone(), net.addr(ALICE), deployment).await;
    assert!(matches!(refused, Err(ChainError::WrongChain { .. })), "{:?}", refused.err());
}
