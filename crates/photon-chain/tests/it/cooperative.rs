use crate::assert_revert;
use crate::helpers::*;
use photon_chain::bindings::TokensNetwork;
use photon_primitives::TokenAmount;
use photon_testkit::devnet::send;

#[tokio::test]
async fn cooperative_settle_pays_out_at_once() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(80)).await;
    let signed = sign_settle(&net, ALICE, 70, BOB, 110, epoch);
    let m = &signed.message;
    let before = net.balances(ALICE, BOB).await;
    // anyone may submit it, and in either argument order
    let [s1, s2] = signed.sigs.clone();
    let (p1, b1, p2, b2) = (m.participant1, m.balance1, m.participant2, m.balance2);
    let swapped = net.network.cooperativeSettle(net.token_addr(), p2, b2, p1, b1, s2, s1);
    let receipt = send(swapped.from(net.addr(CHARLIE))).await.unwrap();
    let ev = event::<TokensNetwork::ChannelCooperativeSettled>(&receipt);
    assert_eq!((ev.payout1, ev.payout2), (m.balance1, m.balance2));
    assert_eq!(net.balance(net.addr(ALICE)).await.unwrap() - before.0 .0, 70);
    assert_eq!(net.balance(net.addr(BOB)).await.unwrap() - before.1 .0, 110);
    assert_eq!(net.state_of(ALICE, BOB).await, 0);
    assert_eq!(net.balance(net.deployment.tokens_network).await.unwrap(), 0);
}

#[tokio::test]
async fn cooperative_settle_rejects_bad_balances_and_signatures() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(80)).await;
    let settle = |signed: &Signed<_>| cooperative_settle_call(&net, signed);
    // balances that do not add up to the deposits (a pending lock, or an attempt to take more)
    let too_much = sign_settle(&net, ALICE, 70, BOB, 111, epoch);
    assert_revert!(settle(&too_much), InvalidBalances);
    // a signature from someone else
    let agreed = sign_settle(&net, ALICE, 70, BOB, 110, epoch);
    let (b1, b2) = (agreed.message.balance1, agreed.message.balance2);
    let [forged, _] = sign_settle(&net, CHARLIE, b1, DELEGATE, b2, epoch).sigs;
    let sigs = [agreed.sigs[0].clone(), forged];
    assert_revert!(settle(&Signed { sigs, ..agreed.clone() }), InvalidSignature);
    // signed for other balances
    let sigs = sign_settle(&net, ALICE, 80, BOB, 100, epoch).sigs;
    assert_revert!(settle(&Signed { sigs, ..agreed.clone() }), InvalidSignature);
    // a closed channel settles only through the settle window
    net.close(ALICE, BOB, None).await;
    assert_revert!(settle(&agreed), ChannelNotOpen);
}

#[tokio::test]
async fn a_settle_signature_dies_with_its_channel_epoch() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(80)).await;
    let signed = sign_settle(&net, ALICE, 90, BOB, 90, epoch);
    send(cooperative_settle_call(&net, &signed)).await.unwrap();
    // replay on the settled channel
    assert_revert!(cooperative_settle_call(&net, &signed), ChannelNotOpen);
    // re-opened with the same deposits: a new epoch, so the old signatures are void
    net.open_with_deposits(ALICE, BOB, TokenAmount(100), TokenAmount(80)).await;
    assert_ne!(net.epoch_of(ALICE, BOB).await, epoch);
    assert_revert!(cooperative_settle_call(&net, &signed), InvalidSignature);
}
