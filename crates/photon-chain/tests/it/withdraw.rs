use crate::assert_revert;
use crate::helpers::*;
use photon_chain::bindings::TokensNetwork;
use photon_primitives::TokenAmount;
use photon_testkit::devnet::send;

/// Alice (100) paid Bob 30 off-chain; Bob withdraws 20 of his 30 while the channel stays
/// open. The epoch moves, so the pre-withdrawal proof cannot be replayed on close.
#[tokio::test]
async fn withdraw_keeps_the_channel_open_and_voids_older_proofs() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(0)).await;
    let old_proof = net.proof(ALICE, BOB, epoch, 3, TokenAmount(30));
    let now = net.block_number().await.unwrap();
    let signed = sign_withdraw(&net, BOB, ALICE, 0, 30, 20, now + 10, epoch);
    let before = net.balance(net.addr(BOB)).await.unwrap();
    let receipt = send(withdraw_call(&net, BOB, ALICE, &signed)).await.unwrap();
    let ev = event::<TokensNetwork::ChannelWithdraw>(&receipt);
    assert_eq!((ev.participant, ev.amount), (net.addr(BOB), 20));
    assert_eq!(net.balance(net.addr(BOB)).await.unwrap() - before, 20);
    assert_eq!(net.state_of(ALICE, BOB).await, 1, "still open");
    let new_epoch = net.epoch_of(ALICE, BOB).await;
    assert!(new_epoch > epoch);
    assert_eq!(ev.epoch, new_epoch);
    assert_eq!(net.deposit_of(ALICE, BOB).await, 70);
    assert_eq!(net.deposit_of(BOB, ALICE).await, 10);

    // replaying the same withdrawal
    assert_revert!(withdraw_call(&net, BOB, ALICE, &signed), InvalidSignature);
    // closing with the pre-withdrawal proof (which would count the 30 twice)
    let (d, s) = old_proof;
    assert_revert!(net.close_call(BOB, ALICE, d, sig_bytes(&s)), InvalidSignature);
    // proofs of the new epoch start over from the new deposits
    net.close(BOB, ALICE, Some(net.proof(ALICE, BOB, new_epoch, 1, TokenAmount(5)))).await;
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(65), TokenAmount(15)));
}

#[tokio::test]
async fn withdraw_rejects_bad_requests() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(50)).await;
    let now = net.block_number().await.unwrap();
    // Bob's withdrawal, signed by both, as submitted
    let bob_withdraws = |deposit, balance, amount, expiry, epoch| {
        let signed = sign_withdraw(&net, BOB, ALICE, deposit, balance, amount, expiry, epoch);
        withdraw_call(&net, BOB, ALICE, &signed)
    };
    // more than the balance
    assert_revert!(bob_withdraws(50, 50, 51, now + 10, epoch), InvalidBalances);
    // a balance above the whole channel
    assert_revert!(bob_withdraws(50, 151, 1, now + 10, epoch), InvalidBalances);
    // nothing
    assert_revert!(bob_withdraws(50, 50, 0, now + 10, epoch), ZeroAmount);
    // expired
    let stale = sign_withdraw(&net, BOB, ALICE, 50, 50, 10, now + 2, epoch);
    net.mine(3).await.unwrap();
    assert_revert!(withdraw_call(&net, BOB, ALICE, &stale), WithdrawExpired);
    // the partner did not agree
    let now = net.block_number().await.unwrap();
    let mut one_sided = sign_withdraw(&net, BOB, ALICE, 50, 50, 10, now + 10, epoch);
    one_sided.sigs[1] = one_sided.sigs[0].clone();
    assert_revert!(withdraw_call(&net, BOB, ALICE, &one_sided), InvalidSignature);
    // an old epoch
    assert_revert!(bob_withdraws(50, 50, 10, now + 10, epoch - 1), InvalidSignature);
    // a closed channel
    net.close(ALICE, BOB, None).await;
    assert_revert!(bob_withdraws(50, 50, 10, now + 10, epoch), ChannelNotOpen);
}

/// Finding 2 of the fund-safety review: both sign "Bob withdraws 20 of his balance 30"; Bob
/// then deposits 50 (Alice holds both signatures until the expiry). Submitted afterwards, the
/// withdrawal leaves Bob's new deposit with Bob: Alice 70 / Bob 60, not 120 / 10.
#[tokio::test]
async fn a_deposit_after_the_signing_stays_with_its_depositor() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(0)).await;
    let now = net.block_number().await.unwrap();
    let signed = sign_withdraw(&net, BOB, ALICE, 0, 30, 20, now + 10, epoch);
    net.deposit(BOB, ALICE, TokenAmount(50)).await;
    // Alice's deposit after the signing stays hers as well
    net.deposit(ALICE, BOB, TokenAmount(7)).await;
    let receipt = send(withdraw_call(&net, BOB, ALICE, &signed)).await.unwrap();
    let ev = event::<TokensNetwork::ChannelWithdraw>(&receipt);
    assert_eq!(ev.amount, 20);
    assert_eq!(net.deposit_of(ALICE, BOB).await, 77);
    assert_eq!(net.deposit_of(BOB, ALICE).await, 60);
    // a signed deposit above the current one (a forged claim of a deposit) is refused
    let epoch = net.epoch_of(ALICE, BOB).await;
    let now = net.block_number().await.unwrap();
    let inflated = sign_withdraw(&net, BOB, ALICE, 61, 60, 10, now + 10, epoch);
    assert_revert!(withdraw_call(&net, BOB, ALICE, &inflated), InvalidBalances);
    net.close(ALICE, BOB, None).await;
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(77), TokenAmount(60)));
}
