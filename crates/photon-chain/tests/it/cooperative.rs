use crate::assert_revert;
use crate::helpers::*;
use alloy::primitives::Bytes;
use photon_chain::bindings::TokensNetwork;
use photon_primitives::eip712::CooperativeSettle;
use photon_primitives::Signer;
use photon_testkit::devnet::{send, DevNet};

/// Both sign the final balances; returns the two signatures (in participant1, participant2
/// order) and the balances in that order.
fn sign_settle(
    net: &DevNet,
    a: usize,
    bal_a: u128,
    b: usize,
    bal_b: u128,
    epoch: u64,
) -> (Bytes, Bytes, u128, u128) {
    let (p1, b1, p2, b2, i1, i2) = if net.addr(a) < net.addr(b) {
        (net.addr(a), bal_a, net.addr(b), bal_b, a, b)
    } else {
        (net.addr(b), bal_b, net.addr(a), bal_a, b, a)
    };
    let msg = CooperativeSettle {
        channelId: net.channel_id(p1, p2),
        epoch,
        participant1: p1,
        balance1: b1,
        participant2: p2,
        balance2: b2,
    };
    let digest = net.domain.digest(&msg);
    let s1 = sig_bytes(&net.accounts[i1].sign_digest(&digest).unwrap());
    let s2 = sig_bytes(&net.accounts[i2].sign_digest(&digest).unwrap());
    (s1, s2, b1, b2)
}

#[tokio::test]
async fn cooperative_settle_pays_out_at_once() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 80).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let (s1, s2, b1, b2) = sign_settle(&net, ALICE, 70, BOB, 110, epoch);
    let (p1, p2) = if net.addr(ALICE) < net.addr(BOB) {
        (net.addr(ALICE), net.addr(BOB))
    } else {
        (net.addr(BOB), net.addr(ALICE))
    };
    let before =
        (net.balance(net.addr(ALICE)).await.unwrap(), net.balance(net.addr(BOB)).await.unwrap());
    // anyone may submit it, and in either argument order
    let receipt = send(
        net.network
            .cooperativeSettle(net.token_addr(), p2, b2, p1, b1, s2, s1)
            .from(net.addr(CHARLIE)),
    )
    .await
    .unwrap();
    let ev = event::<TokensNetwork::ChannelCooperativeSettled>(&receipt);
    assert_eq!((ev.payout1, ev.payout2), (b1, b2));
    assert_eq!(net.balance(net.addr(ALICE)).await.unwrap() - before.0, 70);
    assert_eq!(net.balance(net.addr(BOB)).await.unwrap() - before.1, 110);
    assert_eq!(net.state_of(ALICE, BOB).await, 0);
    assert_eq!(net.balance(net.deployment.tokens_network).await.unwrap(), 0);
}

#[tokio::test]
async fn cooperative_settle_rejects_bad_balances_and_signatures() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 80).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let token = net.token_addr();
    let (p1, p2) = if net.addr(ALICE) < net.addr(BOB) {
        (net.addr(ALICE), net.addr(BOB))
    } else {
        (net.addr(BOB), net.addr(ALICE))
    };
    // balances that do not add up to the deposits (a pending lock, or an attempt to take more)
    let (s1, s2, b1, b2) = sign_settle(&net, ALICE, 70, BOB, 111, epoch);
    assert_revert!(net.network.cooperativeSettle(token, p1, b1, p2, b2, s1, s2), InvalidBalances);
    // a signature from someone else
    let (s1, _, b1, b2) = sign_settle(&net, ALICE, 70, BOB, 110, epoch);
    let (forged, _, _, _) = sign_settle(&net, CHARLIE, b1, DELEGATE, b2, epoch);
    assert_revert!(
        net.network.cooperativeSettle(token, p1, b1, p2, b2, s1.clone(), forged),
        InvalidSignature
    );
    // signed for other balances
    let (s1b, s2b, _, _) = sign_settle(&net, ALICE, 80, BOB, 100, epoch);
    assert_revert!(
        net.network.cooperativeSettle(token, p1, b1, p2, b2, s1b, s2b),
        InvalidSignature
    );
    // a closed channel settles only through the settle window
    net.close(ALICE, BOB, None).await;
    let (s1, s2, b1, b2) = sign_settle(&net, ALICE, 70, BOB, 110, epoch);
    assert_revert!(net.network.cooperativeSettle(token, p1, b1, p2, b2, s1, s2), ChannelNotOpen);
}

#[tokio::test]
async fn a_settle_signature_dies_with_its_channel_epoch() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 80).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let token = net.token_addr();
    let (s1, s2, b1, b2) = sign_settle(&net, ALICE, 90, BOB, 90, epoch);
    let (p1, p2) = if net.addr(ALICE) < net.addr(BOB) {
        (net.addr(ALICE), net.addr(BOB))
    } else {
        (net.addr(BOB), net.addr(ALICE))
    };
    send(net.network.cooperativeSettle(token, p1, b1, p2, b2, s1.clone(), s2.clone()))
        .await
        .unwrap();
    // replay on the settled channel
    assert_revert!(
        net.network.cooperativeSettle(token, p1, b1, p2, b2, s1.clone(), s2.clone()),
        ChannelNotOpen
    );
    // re-opened with the same deposits: a new epoch, so the old signatures are void
    net.open_with_deposits(ALICE, BOB, 100, 80).await;
    assert_ne!(net.epoch_of(ALICE, BOB).await, epoch);
    assert_revert!(net.network.cooperativeSettle(token, p1, b1, p2, b2, s1, s2), InvalidSignature);
}
