use crate::assert_revert;
use crate::helpers::*;
use alloy::primitives::{Bytes, B256, U256};
use photon_chain::bindings::TokensNetwork;
use photon_primitives::eip712::LockDisposal;
use photon_primitives::lock::{encode_locks, locked_amount, locksroot};
use photon_primitives::Epoch;
use photon_primitives::TokenAmount;
use photon_primitives::{Lock, Secret, SkipMask};
use photon_testkit::devnet::{send, DevNet};

fn secret(n: u8) -> Secret {
    Secret(B256::repeat_byte(n))
}

fn lock(amount: u128, expiration: u64, n: u8) -> Lock {
    Lock { amount: TokenAmount(amount), expiration, secrethash: secret(n).hash() }
}

/// Locks of `amounts` with secrets 1, 2, ..., each expiring 100 blocks from now.
async fn pending_locks<const N: usize>(net: &DevNet, amounts: [u128; N]) -> [Lock; N] {
    let now = net.block_number().await.unwrap();
    std::array::from_fn(|i| lock(amounts[i], now + 100, i as u8 + 1))
}

/// A fresh dev network, and locks of `amounts` in it as [`pending_locks`] makes them.
async fn net_with_pending_locks<const N: usize>(amounts: [u128; N]) -> (DevNet, [Lock; N]) {
    let net = net().await;
    let locks = pending_locks(&net, amounts).await;
    (net, locks)
}

/// Alice (deposit 100) has sent Bob `transferred` plus `locks`; Bob closes with that proof.
async fn closed_with_locks(net: &DevNet, transferred: u128, locks: &[Lock]) {
    closed_with_locks_and_bob_deposit(net, transferred, locks, 0).await
}

async fn closed_with_locks_and_bob_deposit(
    net: &DevNet, transferred: u128, locks: &[Lock], bob_deposit: u128,
) {
    net.open_with_deposits(ALICE, BOB, TokenAmount(100), TokenAmount(bob_deposit)).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let proof = net.balance_proof(
        ALICE,
        net.addr(BOB),
        epoch,
        4,
        transferred,
        (locked_amount(locks).unwrap()).0,
        locksroot(locks),
    );
    net.close(BOB, ALICE, Some(proof)).await;
}

/// Registers the secrets numbered `ns`, one transaction each.
async fn register(net: &DevNet, ns: &[u8]) {
    for &n in ns {
        send(net.registry.registerSecret(secret(n).0)).await.unwrap();
    }
}

/// An unlock state: bits claimed, claimed by the receiver itself, reversed.
fn state(claimed: u64, direct: u64, voided: u64) -> TokensNetwork::UnlockState {
    TokensNetwork::UnlockState {
        claimed: U256::from(claimed),
        direct: U256::from(direct),
        voided: U256::from(voided),
    }
}

fn unlock_call<'a>(
    net: &'a DevNet, receiver: usize, sender: usize, locks: &[Lock], skip: u64,
) -> Call<'a, TokensNetwork::unlockCall> {
    unlock_after(net, receiver, sender, locks, skip, state(0, 0, 0))
}

/// A later unlock of the same locksroot, from its unlock state `prior`.
fn unlock_after<'a>(
    net: &'a DevNet, receiver: usize, sender: usize, locks: &[Lock], skip: u64,
    prior: TokensNetwork::UnlockState,
) -> Call<'a, TokensNetwork::unlockCall> {
    let packed = encode_locks(locks).into();
    net.network
        .unlock(net.token_addr(), net.addr(sender), packed, U256::from(skip), prior)
        .from(net.addr(receiver))
}

/// `who`'s consent that a delegate unlock for Bob, in `epoch`, Alice's `locks` but those set
/// in `skip`.
fn unlock_consent(net: &DevNet, who: usize, epoch: u64, locks: &[Lock], skip: u64) -> Bytes {
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    let digest =
        net.domain.delegate_unlock(id, Epoch(epoch), locksroot(locks), SkipMask(U256::from(skip)));
    net.sign_digest(who, &digest)
}

/// The delegate unlocks for Bob, with his `consent`, Alice's `locks` but those set in `skip`.
fn delegate_unlock_call<'a>(
    net: &'a DevNet, locks: &[Lock], skip: u64, prior: TokensNetwork::UnlockState, consent: Bytes,
) -> Call<'a, TokensNetwork::unlockDelegateCall> {
    let (token, packed, skip) = (net.token_addr(), encode_locks(locks).into(), U256::from(skip));
    net.network
        .unlockDelegate(token, net.addr(BOB), net.addr(ALICE), packed, skip, prior, consent)
        .from(net.addr(DELEGATE))
}

#[tokio::test]
async fn unlock_claims_every_lock_registered_in_time_in_one_transaction() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let locks = [lock(10, now + 100, 1), lock(5, now + 100, 2), lock(7, now + 2, 3)];
    register(&net, &[1]).await; // in time
    closed_with_locks(&net, 20, &locks).await;
    assert!(net.block_number().await.unwrap() >= now + 2);
    register(&net, &[3]).await; // after lock 3 expired: does not count
                                // secret 2 never registered
    let receipt = send(unlock_call(&net, BOB, ALICE, &locks, 0)).await.unwrap();
    let ev = event::<TokensNetwork::ChannelUnlocked>(&receipt);
    assert_eq!((ev.sender, ev.claimed, ev.locksroot), (net.addr(ALICE), 10, locksroot(&locks).0));
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(70), TokenAmount(30)));
}

#[tokio::test]
async fn unlock_rejects_bad_input_and_repeats() {
    let (net, locks) = net_with_pending_locks([10, 6]).await;
    register(&net, &[1]).await;
    closed_with_locks(&net, 0, &locks).await;
    // a set that does not hash to the stored locksroot
    assert_revert!(unlock_call(&net, BOB, ALICE, &locks[..1], 0), LocksrootMismatch);
    // ragged bytes
    assert_revert!(
        net.network
            .unlock(
                net.token_addr(),
                net.addr(ALICE),
                Bytes::from(vec![0u8; 55]),
                U256::ZERO,
                state(0, 0, 0)
            )
            .from(net.addr(BOB)),
        MalformedLocks
    );
    // the sender cannot unlock its own locks "for" the receiver (that would frame a disposer):
    // from Alice the call names Bob's side, which holds no locks
    assert_revert!(unlock_call(&net, ALICE, BOB, &locks, 0), NothingToUnlock);
    send(unlock_call(&net, BOB, ALICE, &locks, 0)).await.unwrap();
    // again as if it were the first: refused
    assert_revert!(unlock_call(&net, BOB, ALICE, &locks, 0), LocksrootMismatch);
    // an unlock state other than the recorded one: refused
    assert_revert!(unlock_after(&net, BOB, ALICE, &locks, 0, state(0, 0, 0b1)), LocksrootMismatch);
    // again from the recorded state: lock 0 is never claimed twice
    let receipt = send(unlock_after(&net, BOB, ALICE, &locks, 0, state(1, 1, 0))).await.unwrap();
    assert_eq!(event::<TokensNetwork::ChannelUnlocked>(&receipt).claimed, 0);
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(90), TokenAmount(10)));
}

#[tokio::test]
async fn unlock_after_the_settle_window_is_refused() {
    let (net, locks) = net_with_pending_locks([10]).await;
    register(&net, &[1]).await;
    closed_with_locks(&net, 0, &locks).await;
    net.mine(u64::from(TIMEOUT)).await.unwrap();
    assert_revert!(unlock_call(&net, BOB, ALICE, &locks, 0), SettleWindowOver);
}

#[tokio::test]
async fn skipped_locks_are_not_claimed() {
    let (net, locks) = net_with_pending_locks([10, 6]).await;
    register(&net, &[1, 2]).await;
    closed_with_locks(&net, 0, &locks).await;
    send(unlock_call(&net, BOB, ALICE, &locks, 0b01)).await.unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(94), TokenAmount(6)));
}

/// A newer proof replaces the unlocked one: claims of the old locksroot no longer count,
/// and locks of the new one can be unlocked.
#[tokio::test]
async fn an_update_after_an_unlock_restarts_from_the_newer_proof() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let old_locks = [lock(10, now + 100, 1)];
    register(&net, &[1]).await;
    closed_with_locks(&net, 20, &old_locks).await;
    send(unlock_call(&net, BOB, ALICE, &old_locks, 0)).await.unwrap();
    // In the newer proof the first lock was completed off-chain and a new one is pending.
    let epoch = net.epoch_of(ALICE, BOB).await;
    let new_locks = [lock(4, now + 100, 2)];
    let newer = net.balance_proof(ALICE, net.addr(BOB), epoch, 5, 30, 4, locksroot(&new_locks));
    net.update(BOB, ALICE, newer).await;
    register(&net, &[2]).await;
    send(unlock_call(&net, BOB, ALICE, &new_locks, 0)).await.unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(66), TokenAmount(34)));
}

#[tokio::test]
async fn delegate_unlocks_with_consent() {
    let (net, locks) = net_with_pending_locks([10, 3]).await;
    register(&net, &[1, 2]).await;
    closed_with_locks(&net, 0, &locks).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let consent_for = |who: usize, skip: u64| unlock_consent(&net, who, epoch, &locks, skip);
    let call = |skip: u64, consent: Bytes| {
        delegate_unlock_call(&net, &locks, skip, state(0, 0, 0), consent)
    };
    assert_revert!(call(0, consent_for(CHARLIE, 0)), InvalidSignature);
    // the delegate cannot choose another skip mask than the one consented to
    assert_revert!(call(0, consent_for(BOB, 0b10)), InvalidSignature);
    send(call(0b10, consent_for(BOB, 0b10))).await.unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(90), TokenAmount(10)));
}

struct Cheat {
    locks: [Lock; 2],
    /// Bob's disposal of lock 0, covering Alice's proofs up to the stored one (nonce 4)
    disposal: Bytes,
    /// the unlock state after Bob's unlock
    state: TokensNetwork::UnlockState,
}

/// `who`'s disposal of `lock` in the Alice–Bob channel, covering Alice's proofs up to `nonce`.
async fn sign_disposal(net: &DevNet, who: usize, nonce: u64, lock: &Lock) -> Bytes {
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    let epoch = net.epoch_of(ALICE, BOB).await;
    net.sign(who, &LockDisposal { channelId: id.0, epoch, nonce, lockHash: lock.hash() })
}

/// Bob disposed lock 0 (it could not forward it), but closes with Alice's proof that still
/// holds it and claims it once its secret is public.
async fn bob_claims_a_disposed_lock(net: &DevNet, skip: u64) -> Cheat {
    bob_claims_a_disposed_lock_with(net, skip, 0).await
}

async fn bob_claims_a_disposed_lock_with(net: &DevNet, skip: u64, bob_deposit: u128) -> Cheat {
    let locks = pending_locks(net, [10, 3]).await;
    closed_with_locks_and_bob_deposit(net, 0, &locks, bob_deposit).await;
    let disposal = sign_disposal(net, BOB, 4, &locks[0]).await;
    register(net, &[1, 2]).await;
    let receipt = send(unlock_call(net, BOB, ALICE, &locks, skip)).await.unwrap();
    let state = event::<TokensNetwork::ChannelUnlocked>(&receipt).state;
    Cheat { locks, disposal, state }
}

fn punish_call<'a>(
    net: &'a DevNet, locks: &[Lock], prior: TokensNetwork::UnlockState, index: u64, nonce: u64,
    disposal: Bytes,
) -> Call<'a, TokensNetwork::punishObsoleteUnlockCall> {
    net.network
        .punishObsoleteUnlock(
            net.token_addr(),
            net.addr(ALICE),
            net.addr(BOB),
            encode_locks(locks).into(),
            prior,
            U256::from(index),
            nonce,
            disposal,
        )
        .from(net.addr(ALICE))
}

#[tokio::test]
async fn claiming_a_disposed_lock_forfeits_the_channel() {
    let net = net().await;
    let cheat = bob_claims_a_disposed_lock_with(&net, 0, 50).await;
    let punish = |prior| punish_call(&net, &cheat.locks, prior, 0, 4, cheat.disposal.clone());
    let receipt = send(punish(cheat.state.clone())).await.unwrap();
    let ev = event::<TokensNetwork::ObsoleteUnlockPunished>(&receipt);
    assert_eq!(
        (ev.beneficiary, ev.cheater, ev.amount, ev.forfeited),
        (net.addr(ALICE), net.addr(BOB), 10, true)
    );
    assert_eq!(ev.state, state(0b11, 0b11, 0b01), "lock 0 reversed");
    assert!(net.participant_info(BOB, ALICE).await.punished);
    assert_revert!(punish(ev.state.clone()), AlreadyPunished);
    // Alice takes everything: her 100 and Bob's 50
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(150), TokenAmount(0)));
}

#[tokio::test]
async fn punishment_needs_a_genuine_disposal_of_a_claimed_lock() {
    let net = net().await;
    let cheat = bob_claims_a_disposed_lock(&net, 0).await;
    let punish = |prior, index, nonce, d| punish_call(&net, &cheat.locks, prior, index, nonce, d);
    // forged: Alice or Charlie signing "Bob's" disposal
    for forger in [ALICE, CHARLIE] {
        let forged = sign_disposal(&net, forger, 4, &cheat.locks[0]).await;
        assert_revert!(punish(cheat.state.clone(), 0, 4, forged), InvalidSignature);
    }
    let d = cheat.disposal.clone();
    // Bob's disposal of lock 0 does not cover lock 1
    assert_revert!(punish(cheat.state.clone(), 1, 4, d.clone()), InvalidSignature);
    // nor another nonce than the one he signed
    assert_revert!(punish(cheat.state.clone(), 0, 5, d.clone()), InvalidSignature);
    // an unlock state other than the recorded one
    assert_revert!(punish(state(0b01, 0b01, 0), 0, 4, d.clone()), NothingToUnlock);
    // out of range
    assert_revert!(punish(cheat.state.clone(), 2, 4, d.clone()), LockNotClaimed);
    // the honest Alice's punishment window closes
    net.mine(u64::from(TIMEOUT) + net.deployment.params.punish_blocks).await.unwrap();
    assert_revert!(punish(cheat.state.clone(), 0, 4, d), PunishWindowOver);
}

#[tokio::test]
async fn an_honest_receiver_that_skips_its_disposed_lock_is_safe() {
    let net = net().await;
    let cheat = bob_claims_a_disposed_lock(&net, 0b01).await;
    let d = cheat.disposal.clone();
    assert_revert!(punish_call(&net, &cheat.locks, cheat.state.clone(), 0, 4, d), LockNotClaimed);
    // Bob got lock 1 (3) and not the disposed lock 0
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(97), TokenAmount(3)));
}

#[tokio::test]
async fn no_unlock_means_nothing_to_punish() {
    let (net, locks) = net_with_pending_locks([10, 3]).await;
    closed_with_locks(&net, 0, &locks).await;
    let d = sign_disposal(&net, BOB, 4, &locks[0]).await;
    assert_revert!(punish_call(&net, &locks, state(0, 0, 0), 0, 4, d), NothingToUnlock);
}

/// Finding 1a of the fund-safety review: Bob disposed lock L as held in Alice's proof nonce 1;
/// Alice removed it, then sent identical bytes again as a new lock at nonce 3 (Bob is its
/// target: an initiator rerouting in the same block through the same first hop does this
/// honestly). Alice closes with nonce 3... here Bob closes with it and claims L: his nonce-1
/// disposal does not cover nonce 3, so Alice cannot take the channel. Bob gets his 60.
#[tokio::test]
async fn a_disposal_does_not_cover_a_later_instance_of_the_same_lock() {
    let (net, [l]) = net_with_pending_locks([10]).await;
    net.open_with_deposits(ALICE, BOB, TokenAmount(100), TokenAmount(50)).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let old_disposal = sign_disposal(&net, BOB, 1, &l).await;
    let proof = net.balance_proof(ALICE, net.addr(BOB), epoch, 3, 0, 10, locksroot(&[l]));
    net.close(BOB, ALICE, Some(proof)).await;
    register(&net, &[1]).await;
    let receipt = send(unlock_call(&net, BOB, ALICE, &[l], 0)).await.unwrap();
    let prior = event::<TokensNetwork::ChannelUnlocked>(&receipt).state;
    assert_revert!(punish_call(&net, &[l], prior, 0, 1, old_disposal), DisposalTooOld);
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(90), TokenAmount(60)));
}

/// Finding 1b: a lock that paid nothing at its unlock (its secret not registered yet) cannot
/// be punished when Alice registers the secret afterwards, before its expiration; the claim is
/// judged by what paid when it happened. Bob keeps the 5 he was owed.
#[tokio::test]
async fn a_lock_that_paid_nothing_at_its_unlock_proves_nothing() {
    let (net, locks) = net_with_pending_locks([10, 5]).await;
    closed_with_locks_and_bob_deposit(&net, 0, &locks, 50).await;
    let disposal = sign_disposal(&net, BOB, 4, &locks[0]).await;
    register(&net, &[2]).await;
    // Bob claims what is registered; lock 0 (disposed, secret unknown) pays nothing
    let receipt = send(unlock_call(&net, BOB, ALICE, &locks, 0)).await.unwrap();
    let ev = event::<TokensNetwork::ChannelUnlocked>(&receipt);
    assert_eq!((ev.claimed, ev.state.clone()), (5, state(0b10, 0b10, 0)));
    register(&net, &[1]).await; // Alice registers lock 0's secret afterwards, in time
    assert_revert!(punish_call(&net, &locks, ev.state, 0, 4, disposal), LockNotClaimed);
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(95), TokenAmount(55)));
}

/// Finding 8: an early (delegated) unlock does not forfeit the locks registered after it: a
/// later unlock claims them; and an old consent, signed before Bob disposed a lock, used by a
/// delegate, only has that lock's claim reversed: Bob is not punished for it.
#[tokio::test]
async fn a_delegate_unlock_neither_forfeits_later_locks_nor_the_channel() {
    let (net, locks) = net_with_pending_locks([10, 5]).await;
    closed_with_locks_and_bob_deposit(&net, 0, &locks, 50).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    // Bob's consent with no lock skipped, signed before he disposed lock 0
    let consent = unlock_consent(&net, BOB, epoch, &locks, 0);
    let disposal = sign_disposal(&net, BOB, 4, &locks[0]).await;
    let delegate = |prior| delegate_unlock_call(&net, &locks, 0, prior, consent.clone());
    register(&net, &[2]).await;
    let receipt = send(delegate(state(0, 0, 0))).await.unwrap();
    let first = event::<TokensNetwork::ChannelUnlocked>(&receipt).state;
    assert_eq!(first, state(0b10, 0, 0), "lock 1 claimed by a delegate");
    register(&net, &[1]).await;
    let receipt = send(delegate(first)).await.unwrap();
    let ev = event::<TokensNetwork::ChannelUnlocked>(&receipt);
    assert_eq!((ev.claimed, ev.state.clone()), (10, state(0b11, 0, 0)), "lock 0 claimed later");
    // lock 0 was disposed: Alice reverses its claim, and only that
    let receipt = send(punish_call(&net, &locks, ev.state, 0, 4, disposal)).await.unwrap();
    let ev = event::<TokensNetwork::ObsoleteUnlockPunished>(&receipt);
    assert_eq!((ev.amount, ev.forfeited), (10, false));
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (TokenAmount(95), TokenAmount(55)));
}
