use crate::assert_revert;
use crate::helpers::*;
use alloy::primitives::Bytes;
use photon_chain::bindings::TokensNetwork;
use photon_primitives::eip712::Withdraw;
use photon_primitives::Signer;
use photon_testkit::devnet::{send, DevNet};

struct Signed {
    deposit: u128,
    balance: u128,
    amount: u128,
    expiry: u64,
    participant_sig: Bytes,
    partner_sig: Bytes,
}

#[allow(clippy::too_many_arguments)] // one per signed field
fn sign_withdraw(
    net: &DevNet,
    who: usize,
    partner: usize,
    deposit: u128,
    balance: u128,
    amount: u128,
    expiry: u64,
    epoch: u64,
) -> Signed {
    let msg = Withdraw {
        channelId: net.channel_id(net.addr(who), net.addr(partner)),
        epoch,
        participant: net.addr(who),
        participantDeposit: deposit,
        participantBalance: balance,
        amount,
        expiry,
    };
    let digest = net.domain.digest(&msg);
    Signed {
        deposit,
        balance,
        amount,
        expiry,
        participant_sig: sig_bytes(&net.accounts[who].sign_digest(&digest).unwrap()),
        partner_sig: sig_bytes(&net.accounts[partner].sign_digest(&digest).unwrap()),
    }
}

fn withdraw_call<'a>(
    net: &'a DevNet,
    who: usize,
    partner: usize,
    s: &Signed,
) -> alloy::contract::CallBuilder<
    &'a alloy::providers::DynProvider,
    std::marker::PhantomData<TokensNetwork::withdrawCall>,
> {
    net.network.withdraw(
        net.token_addr(),
        net.addr(who),
        net.addr(partner),
        s.deposit,
        s.balance,
        s.amount,
        s.expiry,
        s.participant_sig.clone(),
        s.partner_sig.clone(),
    )
}

/// Alice (100) paid Bob 30 off-chain; Bob withdraws 20 of his 30 while the channel stays
/// open. The epoch moves, so the pre-withdrawal proof cannot be replayed on close.
#[tokio::test]
async fn withdraw_keeps_the_channel_open_and_voids_older_proofs() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 0).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let old_proof = net.proof(ALICE, BOB, epoch, 3, 30);
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
    assert_revert!(
        net.network
            .closeChannel(net.token_addr(), net.addr(ALICE), d, sig_bytes(&s))
            .from(net.addr(BOB)),
        InvalidSignature
    );
    // proofs of the new epoch start over from the new deposits
    let (d, s) = net.proof(ALICE, BOB, new_epoch, 1, 5);
    send(
        net.network
            .closeChannel(net.token_addr(), net.addr(ALICE), d, sig_bytes(&s))
            .from(net.addr(BOB)),
    )
    .await
    .unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (65, 15));
}

#[tokio::test]
async fn withdraw_rejects_bad_requests() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 50).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let now = net.block_number().await.unwrap();
    // more than the balance
    assert_revert!(
        withdraw_call(
            &net,
            BOB,
            ALICE,
            &sign_withdraw(&net, BOB, ALICE, 50, 50, 51, now + 10, epoch)
        ),
        InvalidBalances
    );
    // a balance above the whole channel
    assert_revert!(
        withdraw_call(
            &net,
            BOB,
            ALICE,
            &sign_withdraw(&net, BOB, ALICE, 50, 151, 1, now + 10, epoch)
        ),
        InvalidBalances
    );
    // nothing
    assert_revert!(
        withdraw_call(
            &net,
            BOB,
            ALICE,
            &sign_withdraw(&net, BOB, ALICE, 50, 50, 0, now + 10, epoch)
        ),
        ZeroAmount
    );
    // expired
    let stale = sign_withdraw(&net, BOB, ALICE, 50, 50, 10, now + 2, epoch);
    net.mine(3).await.unwrap();
    assert_revert!(withdraw_call(&net, BOB, ALICE, &stale), WithdrawExpired);
    // the partner did not agree
    let now = net.block_number().await.unwrap();
    let mut one_sided = sign_withdraw(&net, BOB, ALICE, 50, 50, 10, now + 10, epoch);
    one_sided.partner_sig = one_sided.participant_sig.clone();
    assert_revert!(withdraw_call(&net, BOB, ALICE, &one_sided), InvalidSignature);
    // an old epoch
    assert_revert!(
        withdraw_call(
            &net,
            BOB,
            ALICE,
            &sign_withdraw(&net, BOB, ALICE, 50, 50, 10, now + 10, epoch - 1)
        ),
        InvalidSignature
    );
    // a closed channel
    net.close(ALICE, BOB, None).await;
    assert_revert!(
        withdraw_call(
            &net,
            BOB,
            ALICE,
            &sign_withdraw(&net, BOB, ALICE, 50, 50, 10, now + 10, epoch)
        ),
        ChannelNotOpen
    );
}

/// Finding 2 of the fund-safety review: both sign "Bob withdraws 20 of his balance 30"; Bob
/// then deposits 50 (Alice holds both signatures until the expiry). Submitted afterwards, the
/// withdrawal leaves Bob's new deposit with Bob: Alice 70 / Bob 60, not 120 / 10.
#[tokio::test]
async fn a_deposit_after_the_signing_stays_with_its_depositor() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 0).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let now = net.block_number().await.unwrap();
    let signed = sign_withdraw(&net, BOB, ALICE, 0, 30, 20, now + 10, epoch);
    net.deposit(BOB, ALICE, 50).await;
    // Alice's deposit after the signing stays hers as well
    net.deposit(ALICE, BOB, 7).await;
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
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (77, 60));
}
