use crate::assert_revert;
use crate::helpers::*;
use alloy::primitives::{Address, Bytes, B256};
use photon_chain::bindings::TokensNetwork;
use photon_primitives::eip712::{BalanceProof, Domain};
use photon_primitives::Locksroot;
use photon_primitives::TokenAmount;
use photon_primitives::{Epoch, Nonce};
use photon_testkit::devnet::{balance_data, send};

/// The whitepaper's unilateral path: Alice (100) has paid Bob 50 in all; Alice closes, Bob
/// updates with Alice's latest proof, either settles: Alice 50, Bob 50, channel gone.
#[tokio::test]
async fn close_update_settle_pays_the_latest_balances() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(0)).await;
    let alice_proof = net.proof(ALICE, BOB, epoch, 2, TokenAmount(50));

    let receipt =
        send(net.close_call(ALICE, BOB, junk_unsigned_proof(), Bytes::new())).await.unwrap();
    // nonce 0 means "no proof": nothing of the unsigned data is stored or reported
    let ev = event::<TokensNetwork::ChannelClosed>(&receipt);
    assert_eq!((ev.nonce, ev.transferredAmount, ev.locksroot), (0, 0, B256::ZERO));
    let info = net.channel_info(ALICE, BOB).await;
    assert_eq!((info.state, info.closer), (2, net.addr(ALICE)));

    let receipt = net.update(BOB, ALICE, alice_proof).await;
    let ev = event::<TokensNetwork::BalanceProofUpdated>(&receipt);
    assert_eq!((ev.participant, ev.nonce, ev.transferredAmount), (net.addr(ALICE), 2, 50));

    let (alice, bob) = net.settle_after_windows(ALICE, BOB).await;
    assert_eq!((alice, bob), (TokenAmount(50), TokenAmount(50)));
    assert_eq!(net.state_of(ALICE, BOB).await, 0, "settled channels are deleted");
    assert_eq!(net.balance(net.deployment.tokens_network).await.unwrap(), 0);
}

/// Both directions: close with the partner's proof, the partner answers with the closer's.
#[tokio::test]
async fn close_with_proof_and_counter_update() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(80)).await;
    // Alice sent 30 in all, Bob sent 10 in all
    let alice_proof = net.proof(ALICE, BOB, epoch, 3, TokenAmount(30));
    let bob_proof = net.proof(BOB, ALICE, epoch, 1, TokenAmount(10));
    let receipt = net.close(ALICE, BOB, Some(bob_proof)).await;
    let ev = event::<TokensNetwork::ChannelClosed>(&receipt);
    assert_eq!((ev.closer, ev.nonce, ev.transferredAmount), (net.addr(ALICE), 1, 10));
    net.update(BOB, ALICE, alice_proof).await;
    assert_eq!(
        net.settle_after_windows(ALICE, BOB).await,
        (TokenAmount(100 - 30 + 10), TokenAmount(80 - 10 + 30))
    );
}

#[tokio::test]
async fn only_newer_nonces_replace_a_stored_proof() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(0)).await;
    let stored = net.proof(ALICE, BOB, epoch, 5, TokenAmount(40));
    net.close(BOB, ALICE, Some(stored.clone())).await;
    // equal nonce
    assert_revert!(net.update_call(BOB, ALICE, stored), StaleNonce);
    // older nonce
    assert_revert!(
        net.update_call(BOB, ALICE, net.proof(ALICE, BOB, epoch, 4, TokenAmount(35))),
        StaleNonce
    );
    // the closer may still bring a newer proof of its partner within the window
    net.update(BOB, ALICE, net.proof(ALICE, BOB, epoch, 6, TokenAmount(45))).await;
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(55), TokenAmount(45)));
}

#[tokio::test]
async fn signatures_are_bound_to_signer_chain_contract_and_epoch() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(0)).await;
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    let proof = BalanceProof::new(
        id,
        Epoch(epoch),
        Nonce(1),
        TokenAmount(50),
        TokenAmount(0),
        Locksroot(B256::ZERO),
        B256::ZERO,
    );
    let sign = |who: usize, domain: &Domain, p: &BalanceProof| -> Bytes {
        net.sign_digest(who, &domain.balance_proof(p))
    };
    let close = |sig: Bytes, p: &BalanceProof| net.close_call(BOB, ALICE, balance_data(p), sig);
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
    let (net, _) = net_with_channel(TokenAmount(100), TokenAmount(0)).await;
    // Charlie is not a participant: his (token, partner) pair names another, non-existent channel
    assert_revert!(net.close_call(CHARLIE, BOB, empty_proof(), Bytes::new()), ChannelNotOpen);
    net.close(ALICE, BOB, None).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let alice_proof = net.proof(ALICE, BOB, epoch, 1, TokenAmount(10));
    assert_revert!(net.update_call(CHARLIE, ALICE, alice_proof), ChannelNotClosed);
    // closing twice
    assert_revert!(net.close_call(BOB, ALICE, empty_proof(), Bytes::new()), ChannelNotOpen);
}

#[tokio::test]
async fn windows_are_enforced() {
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(0)).await;
    let token = net.token_addr();
    let (a, b) = (net.addr(ALICE), net.addr(BOB));
    // settling an open channel
    assert_revert!(net.network.settleChannel(token, a, b), ChannelNotClosed);
    net.close(ALICE, BOB, None).await;
    let settle_block = net.channel_info(ALICE, BOB).await.settleBlock;
    assert_revert!(net.network.settleChannel(token, a, b), SettleTooEarly);
    // last block of the window: an update still lands (the next mined block is settle_block)
    let now = net.block_number().await.unwrap();
    net.mine(settle_block - now - 1).await.unwrap();
    net.update(BOB, ALICE, net.proof(ALICE, BOB, epoch, 1, TokenAmount(10))).await;
    // past it: refused
    assert_revert!(
        net.update_call(BOB, ALICE, net.proof(ALICE, BOB, epoch, 2, TokenAmount(20))),
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
    let (net, epoch) = net_with_channel(TokenAmount(100), TokenAmount(0)).await;
    let token = net.token_addr();
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    // Bob is offline; his monitoring service holds Alice's latest proof and Bob's consent.
    let proof = BalanceProof::new(
        id,
        Epoch(epoch),
        Nonce(7),
        TokenAmount(60),
        TokenAmount(0),
        Locksroot(B256::ZERO),
        B256::ZERO,
    );
    let alice_sig = net.sign_digest(ALICE, &net.domain.balance_proof(&proof));
    let consent = net.sign_digest(BOB, &net.domain.delegate_update_for(&proof));
    let forged = net.sign_digest(CHARLIE, &net.domain.delegate_update_for(&proof));

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
    let other_consent = net.sign_digest(BOB, &net.domain.delegate_update_for(&other));
    assert_revert!(call(other_consent), InvalidSignature);
    // right at the start of the window (Photon allowed only the second half)
    send(call(consent.clone())).await.unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(40), TokenAmount(60)));
}

/// A sender that signed more than it had cannot make the contract pay more than it holds.
#[tokio::test]
async fn payouts_are_clamped_to_the_channel() {
    let (net, epoch) = net_with_channel(TokenAmount(10), TokenAmount(5)).await;
    net.close(BOB, ALICE, Some(net.proof(ALICE, BOB, epoch, 1, TokenAmount(1_000)))).await;
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(0), TokenAmount(15)));
}

/// Nonce 0 with amounts: must be ignored, not stored.
fn junk_unsigned_proof() -> TokensNetwork::BalanceData {
    TokensNetwork::BalanceData { transferredAmount: 99, ..empty_proof() }
}
