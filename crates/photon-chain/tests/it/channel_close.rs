use crate::assert_revert;
use crate::helpers::*;
use alloy::primitives::{Address, Bytes, B256};
use photon_chain::bindings::TokensNetwork;
use photon_primitives::eip712::{BalanceProof, Domain};
use photon_primitives::Signer;
use photon_testkit::devnet::{balance_data, send};

/// The whitepaper's unilateral path: Alice (100) has paid Bob 50 in all; Alice closes, Bob
/// updates with Alice's latest proof, either settles: Alice 50, Bob 50, channel gone.
#[tokio::test]
async fn close_update_settle_pays_the_latest_balances() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 0).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let alice_proof = net.proof(ALICE, BOB, epoch, 2, 50);

    let receipt = send(
        net.network
            .closeChannel(net.token_addr(), net.addr(BOB), junk_unsigned_proof(), Bytes::new())
            .from(net.addr(ALICE)),
    )
    .await
    .unwrap();
    // nonce 0 means "no proof": nothing of the unsigned data is stored or reported
    let ev = event::<TokensNetwork::ChannelClosed>(&receipt);
    assert_eq!((ev.nonce, ev.transferredAmount, ev.locksroot), (0, 0, B256::ZERO));
    let info = net
        .network
        .getChannelInfo(net.token_addr(), net.addr(ALICE), net.addr(BOB))
        .call()
        .await
        .unwrap();
    assert_eq!((info.state, info.closer), (2, net.addr(ALICE)));

    let (data, sig) = alice_proof;
    let receipt = send(
        net.network
            .updateBalanceProof(net.token_addr(), net.addr(ALICE), data, sig_bytes(&sig))
            .from(net.addr(BOB)),
    )
    .await
    .unwrap();
    let ev = event::<TokensNetwork::BalanceProofUpdated>(&receipt);
    assert_eq!((ev.participant, ev.nonce, ev.transferredAmount), (net.addr(ALICE), 2, 50));

    let (alice, bob) = net.settle_after_windows(ALICE, BOB).await;
    assert_eq!((alice, bob), (50, 50));
    assert_eq!(net.state_of(ALICE, BOB).await, 0, "settled channels are deleted");
    assert_eq!(net.balance(net.deployment.tokens_network).await.unwrap(), 0);
}

/// Both directions: close with the partner's proof, the partner answers with the closer's.
#[tokio::test]
async fn close_with_proof_and_counter_update() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 80).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    // Alice sent 30 in all, Bob sent 10 in all
    let alice_proof = net.proof(ALICE, BOB, epoch, 3, 30);
    let bob_proof = net.proof(BOB, ALICE, epoch, 1, 10);
    let receipt = {
        let (d, s) = bob_proof;
        send(
            net.network
                .closeChannel(net.token_addr(), net.addr(BOB), d, sig_bytes(&s))
                .from(net.addr(ALICE)),
        )
        .await
        .unwrap()
    };
    let ev = event::<TokensNetwork::ChannelClosed>(&receipt);
    assert_eq!((ev.closer, ev.nonce, ev.transferredAmount), (net.addr(ALICE), 1, 10));
    let (d, s) = alice_proof;
    send(
        net.network
            .updateBalanceProof(net.token_addr(), net.addr(ALICE), d, sig_bytes(&s))
            .from(net.addr(BOB)),
    )
    .await
    .unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (100 - 30 + 10, 80 - 10 + 30));
}

#[tokio::test]
async fn only_newer_nonces_replace_a_stored_proof() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 0).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let (d5, s5) = net.proof(ALICE, BOB, epoch, 5, 40);
    net.close(BOB, ALICE, Some((d5.clone(), s5))).await;
    let token = net.token_addr();
    // equal nonce
    assert_revert!(
        net.network
            .updateBalanceProof(token, net.addr(ALICE), d5, sig_bytes(&s5))
            .from(net.addr(BOB)),
        StaleNonce
    );
    // older nonce
    let (d4, s4) = net.proof(ALICE, BOB, epoch, 4, 35);
    assert_revert!(
        net.network
            .updateBalanceProof(token, net.addr(ALICE), d4, sig_bytes(&s4))
            .from(net.addr(BOB)),
        StaleNonce
    );
    // the closer may still bring a newer proof of its partner within the window
    let (d6, s6) = net.proof(ALICE, BOB, epoch, 6, 45);
    send(
        net.network
            .updateBalanceProof(token, net.addr(ALICE), d6, sig_bytes(&s6))
            .from(net.addr(BOB)),
    )
    .await
    .unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (55, 45));
}

#[tokio::test]
async fn signatures_are_bound_to_signer_chain_contract_and_epoch() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 0).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let token = net.token_addr();
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    let proof = BalanceProof::new(id, epoch, 1, 50, 0, B256::ZERO, B256::ZERO);
    let sign = |who: usize, domain: &Domain, p: &BalanceProof| -> Bytes {
        sig_bytes(&net.accounts[who].sign_digest(&domain.balance_proof(p)).unwrap())
    };
    let close = |sig: Bytes, p: &BalanceProof| {
        net.network.closeChannel(token, net.addr(ALICE), balance_data(p), sig).from(net.addr(BOB))
    };
    // signed by Charlie, claimed to be Alice's
    assert_revert!(close(sign(CHARLIE, &net.domain, &proof), &proof), InvalidSignature);
    // Bob signing "Alice's" proof himself
    assert_revert!(close(sign(BOB, &net.domain, &proof), &proof), InvalidSignature);
    // another chain id
    let other_chain = Domain::new(net.deployment.chain_id + 1, net.deployment.tokens_network);
    assert_revert!(close(sign(ALICE, &other_chain, &proof), &proof), InvalidSignature);
    // another contract
    let other_contract = Domain::new(net.deployment.chain_id, Address::repeat_byte(0x77));
    assert_revert!(close(sign(ALICE, &other_contract, &proof), &proof), InvalidSignature);
    // another epoch
    let mut old = proof.clone();
    old.epoch = epoch - 1;
    assert_revert!(close(sign(ALICE, &net.domain, &old), &proof), InvalidSignature);
    // a tampered amount
    let mut tampered = proof.clone();
    tampered.transferredAmount = 1;
    assert_revert!(close(sign(ALICE, &net.domain, &proof), &tampered), InvalidSignature);
    // malformed signatures: wrong length, high s, bad v
    let good = sign(ALICE, &net.domain, &proof);
    assert_revert!(close(good.slice(..64), &proof), InvalidSignature);
    let mut bad_v = good.to_vec();
    bad_v[64] = 1;
    assert_revert!(close(bad_v.into(), &proof), InvalidSignature);
    let mut high_s = good.to_vec();
    high_s[32..64].copy_from_slice(&[0xff; 32]);
    assert_revert!(close(high_s.into(), &proof), InvalidSignature);
    // and the genuine one works
    send(close(good, &proof)).await.unwrap();
}

#[tokio::test]
async fn outsiders_cannot_close_or_update() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 0).await;
    let token = net.token_addr();
    // Charlie is not a participant: his (token, partner) pair names another, non-existent channel
    assert_revert!(
        net.network
            .closeChannel(token, net.addr(BOB), empty_proof(), Bytes::new())
            .from(net.addr(CHARLIE)),
        ChannelNotOpen
    );
    net.close(ALICE, BOB, None).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let (d, s) = net.proof(ALICE, BOB, epoch, 1, 10);
    assert_revert!(
        net.network
            .updateBalanceProof(token, net.addr(ALICE), d, sig_bytes(&s))
            .from(net.addr(CHARLIE)),
        ChannelNotClosed
    );
    // closing twice
    assert_revert!(
        net.network
            .closeChannel(token, net.addr(ALICE), empty_proof(), Bytes::new())
            .from(net.addr(BOB)),
        ChannelNotOpen
    );
}

#[tokio::test]
async fn windows_are_enforced() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 0).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let token = net.token_addr();
    let (a, b) = (net.addr(ALICE), net.addr(BOB));
    // settling an open channel
    assert_revert!(net.network.settleChannel(token, a, b), ChannelNotClosed);
    net.close(ALICE, BOB, None).await;
    let settle_block = net.network.getChannelInfo(token, a, b).call().await.unwrap().settleBlock;
    assert_revert!(net.network.settleChannel(token, a, b), SettleTooEarly);
    // last block of the window: an update still lands (the next mined block is settle_block)
    let now = net.block_number().await.unwrap();
    net.mine(settle_block - now - 1).await.unwrap();
    let (d, s) = net.proof(ALICE, BOB, epoch, 1, 10);
    send(net.network.updateBalanceProof(token, a, d, sig_bytes(&s)).from(b)).await.unwrap();
    // past it: refused
    let (d, s) = net.proof(ALICE, BOB, epoch, 2, 20);
    assert_revert!(
        net.network.updateBalanceProof(token, a, d, sig_bytes(&s)).from(b),
        SettleWindowOver
    );
    // inside the punish window: still too early to settle
    assert_revert!(net.network.settleChannel(token, a, b), SettleTooEarly);
    net.mine(net.deployment.params.punish_blocks).await.unwrap();
    let receipt = send(net.network.settleChannel(token, b, a)).await.unwrap();
    let ev = event::<TokensNetwork::ChannelSettled>(&receipt);
    assert_eq!(ev.payout1 + ev.payout2, 100);
    // double settle
    assert_revert!(net.network.settleChannel(token, a, b), ChannelNotClosed);
}

#[tokio::test]
async fn delegate_updates_with_consent_during_the_whole_window() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 100, 0).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let token = net.token_addr();
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    // Bob is offline; his monitoring service holds Alice's latest proof and Bob's consent.
    let proof = BalanceProof::new(id, epoch, 7, 60, 0, B256::ZERO, B256::ZERO);
    let alice_sig =
        sig_bytes(&net.accounts[ALICE].sign_digest(&net.domain.balance_proof(&proof)).unwrap());
    let consent =
        sig_bytes(&net.accounts[BOB].sign_digest(&net.domain.delegate_update_for(&proof)).unwrap());
    let forged = sig_bytes(
        &net.accounts[CHARLIE].sign_digest(&net.domain.delegate_update_for(&proof)).unwrap(),
    );

    // Alice closes with an old proof of nobody's: no proof at all
    net.close(ALICE, BOB, None).await;
    let delegate = net.addr(DELEGATE);
    let call = |c: Bytes| {
        net.network
            .updateBalanceProofDelegate(
                token,
                net.addr(BOB),
                net.addr(ALICE),
                balance_data(&proof),
                alice_sig.clone(),
                c,
            )
            .from(delegate)
    };
    assert_revert!(call(forged), InvalidSignature);
    // a consent for another proof does not cover this one
    let mut other = proof.clone();
    other.nonce = 6;
    let other_consent =
        sig_bytes(&net.accounts[BOB].sign_digest(&net.domain.delegate_update_for(&other)).unwrap());
    assert_revert!(call(other_consent), InvalidSignature);
    // right at the start of the window (Photon allowed only the second half)
    send(call(consent.clone())).await.unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (40, 60));
}

/// A sender that signed more than it had cannot make the contract pay more than it holds.
#[tokio::test]
async fn payouts_are_clamped_to_the_channel() {
    let net = net().await;
    net.open_with_deposits(ALICE, BOB, 10, 5).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let (d, s) = net.proof(ALICE, BOB, epoch, 1, 1_000);
    net.close(BOB, ALICE, Some((d, s))).await;
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (0, 15));
}

/// Nonce 0 with amounts: must be ignored, not stored.
fn junk_unsigned_proof() -> TokensNetwork::BalanceData {
    TokensNetwork::BalanceData { transferredAmount: 99, ..empty_proof() }
}
