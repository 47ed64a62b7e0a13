use crate::assert_revert;
use crate::helpers::*;
use alloy::primitives::{Bytes, B256, U256};
use photon_chain::bindings::TokensNetwork;
use photon_chain::devnet::{send, DevNet};
use photon_primitives::eip712::{DelegateUnlock, LockDisposal};
use photon_primitives::lock::{encode_locks, locked_amount, locksroot};
use photon_primitives::{Lock, Secret, Signer};

fn secret(n: u8) -> Secret {
    Secret(B256::repeat_byte(n))
}

fn lock(amount: u128, expiration: u64, n: u8) -> Lock {
    Lock { amount, expiration, secrethash: secret(n).hash() }
}

/// Alice (deposit 100) has sent Bob `transferred` plus `locks`; Bob closes with that proof.
async fn closed_with_locks(net: &DevNet, transferred: u128, locks: &[Lock]) {
    closed_with_locks_and_bob_deposit(net, transferred, locks, 0).await
}

async fn closed_with_locks_and_bob_deposit(
    net: &DevNet,
    transferred: u128,
    locks: &[Lock],
    bob_deposit: u128,
) {
    net.open_with_deposits(ALICE, BOB, 100, bob_deposit).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let proof = net.balance_proof(
        ALICE,
        net.addr(BOB),
        epoch,
        4,
        transferred,
        locked_amount(locks).unwrap(),
        locksroot(locks),
    );
    net.close(BOB, ALICE, Some(proof)).await;
}

async fn register(net: &DevNet, n: u8) {
    send(net.registry.registerSecret(secret(n).0)).await.unwrap();
}

fn unlock_call<'a>(
    net: &'a DevNet,
    receiver: usize,
    sender: usize,
    locks: &[Lock],
    skip: u64,
) -> alloy::contract::CallBuilder<
    &'a alloy::providers::DynProvider,
    std::marker::PhantomData<TokensNetwork::unlockCall>,
> {
    net.network
        .unlock(net.token_addr(), net.addr(sender), encode_locks(locks).into(), U256::from(skip))
        .from(net.addr(receiver))
}

#[tokio::test]
async fn unlock_claims_every_lock_registered_in_time_in_one_transaction() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let locks = [lock(10, now + 100, 1), lock(5, now + 100, 2), lock(7, now + 2, 3)];
    register(&net, 1).await; // in time
    closed_with_locks(&net, 20, &locks).await;
    assert!(net.block_number().await.unwrap() >= now + 2);
    register(&net, 3).await; // after lock 3 expired: does not count
                             // secret 2 never registered
    let receipt = send(unlock_call(&net, BOB, ALICE, &locks, 0)).await.unwrap();
    let ev = event::<TokensNetwork::ChannelUnlocked>(&receipt);
    assert_eq!((ev.sender, ev.claimed, ev.locksroot), (net.addr(ALICE), 10, locksroot(&locks)));
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (70, 30));
}

#[tokio::test]
async fn unlock_rejects_bad_input_and_repeats() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let locks = [lock(10, now + 100, 1), lock(6, now + 100, 2)];
    register(&net, 1).await;
    closed_with_locks(&net, 0, &locks).await;
    // a set that does not hash to the stored locksroot
    assert_revert!(unlock_call(&net, BOB, ALICE, &locks[..1], 0), LocksrootMismatch);
    // ragged bytes
    assert_revert!(
        net.network
            .unlock(net.token_addr(), net.addr(ALICE), Bytes::from(vec![0u8; 55]), U256::ZERO)
            .from(net.addr(BOB)),
        MalformedLocks
    );
    // the sender cannot unlock its own locks "for" the receiver (that would frame a disposer):
    // from Alice the call names Bob's side, which holds no locks
    assert_revert!(unlock_call(&net, ALICE, BOB, &locks, 0), NothingToUnlock);
    send(unlock_call(&net, BOB, ALICE, &locks, 0)).await.unwrap();
    // once per locksroot
    assert_revert!(unlock_call(&net, BOB, ALICE, &locks, 0), LocksrootMismatch);
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (90, 10));
}

#[tokio::test]
async fn unlock_after_the_settle_window_is_refused() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let locks = [lock(10, now + 100, 1)];
    register(&net, 1).await;
    closed_with_locks(&net, 0, &locks).await;
    net.mine(u64::from(TIMEOUT)).await.unwrap();
    assert_revert!(unlock_call(&net, BOB, ALICE, &locks, 0), SettleWindowOver);
}

#[tokio::test]
async fn skipped_locks_are_not_claimed() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let locks = [lock(10, now + 100, 1), lock(6, now + 100, 2)];
    register(&net, 1).await;
    register(&net, 2).await;
    closed_with_locks(&net, 0, &locks).await;
    send(unlock_call(&net, BOB, ALICE, &locks, 0b01)).await.unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (94, 6));
}

/// A newer proof replaces the unlocked one: claims of the old locksroot no longer count,
/// and locks of the new one can be unlocked.
#[tokio::test]
async fn an_update_after_an_unlock_restarts_from_the_newer_proof() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let old_locks = [lock(10, now + 100, 1)];
    register(&net, 1).await;
    closed_with_locks(&net, 20, &old_locks).await;
    send(unlock_call(&net, BOB, ALICE, &old_locks, 0)).await.unwrap();
    // In the newer proof the first lock was completed off-chain and a new one is pending.
    let epoch = net.epoch_of(ALICE, BOB).await;
    let new_locks = [lock(4, now + 100, 2)];
    let (d, s) = net.balance_proof(ALICE, net.addr(BOB), epoch, 5, 30, 4, locksroot(&new_locks));
    send(
        net.network
            .updateBalanceProof(net.token_addr(), net.addr(ALICE), d, sig_bytes(&s))
            .from(net.addr(BOB)),
    )
    .await
    .unwrap();
    register(&net, 2).await;
    send(unlock_call(&net, BOB, ALICE, &new_locks, 0)).await.unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (66, 34));
}

#[tokio::test]
async fn delegate_unlocks_with_consent() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let locks = [lock(10, now + 100, 1), lock(3, now + 100, 2)];
    register(&net, 1).await;
    register(&net, 2).await;
    closed_with_locks(&net, 0, &locks).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    let consent_for = |who: usize, skip: u64| {
        let c = DelegateUnlock {
            channelId: id,
            epoch,
            locksroot: locksroot(&locks),
            skip: U256::from(skip),
        };
        sig_bytes(&net.accounts[who].sign_digest(&net.domain.digest(&c)).unwrap())
    };
    let call = |skip: u64, consent: Bytes| {
        net.network
            .unlockDelegate(
                net.token_addr(),
                net.addr(BOB),
                net.addr(ALICE),
                encode_locks(&locks).into(),
                U256::from(skip),
                consent,
            )
            .from(net.addr(DELEGATE))
    };
    assert_revert!(call(0, consent_for(CHARLIE, 0)), InvalidSignature);
    // the delegate cannot choose another skip mask than the one consented to
    assert_revert!(call(0, consent_for(BOB, 0b10)), InvalidSignature);
    send(call(0b10, consent_for(BOB, 0b10))).await.unwrap();
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (90, 10));
}

struct Cheat {
    locks: [Lock; 2],
    disposal: Bytes,
}

/// Bob disposed lock 0 (it could not forward it), but closes with Alice's proof that still
/// holds it and claims it once its secret is public.
async fn bob_claims_a_disposed_lock(net: &DevNet, skip: u64) -> Cheat {
    bob_claims_a_disposed_lock_with(net, skip, 0).await
}

async fn bob_claims_a_disposed_lock_with(net: &DevNet, skip: u64, bob_deposit: u128) -> Cheat {
    let now = net.block_number().await.unwrap();
    let locks = [lock(10, now + 100, 1), lock(3, now + 100, 2)];
    closed_with_locks_and_bob_deposit(net, 0, &locks, bob_deposit).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    let disposal = LockDisposal { channelId: id, epoch, lockHash: locks[0].hash() };
    let disposal =
        sig_bytes(&net.accounts[BOB].sign_digest(&net.domain.digest(&disposal)).unwrap());
    register(net, 1).await;
    register(net, 2).await;
    send(unlock_call(net, BOB, ALICE, &locks, skip)).await.unwrap();
    Cheat { locks, disposal }
}

fn punish_call<'a>(
    net: &'a DevNet,
    cheat: &Cheat,
    skip: u64,
    index: u64,
    disposal: Bytes,
) -> alloy::contract::CallBuilder<
    &'a alloy::providers::DynProvider,
    std::marker::PhantomData<TokensNetwork::punishObsoleteUnlockCall>,
> {
    net.network
        .punishObsoleteUnlock(
            net.token_addr(),
            net.addr(ALICE),
            net.addr(BOB),
            encode_locks(&cheat.locks).into(),
            U256::from(skip),
            U256::from(index),
            disposal,
        )
        .from(net.addr(ALICE))
}

#[tokio::test]
async fn claiming_a_disposed_lock_forfeits_the_channel() {
    let net = net().await;
    let cheat = bob_claims_a_disposed_lock_with(&net, 0, 50).await;
    let receipt = send(punish_call(&net, &cheat, 0, 0, cheat.disposal.clone())).await.unwrap();
    let ev = event::<TokensNetwork::ObsoleteUnlockPunished>(&receipt);
    assert_eq!(
        (ev.beneficiary, ev.cheater, ev.lockHash),
        (net.addr(ALICE), net.addr(BOB), cheat.locks[0].hash())
    );
    let info = net
        .network
        .getParticipantInfo(net.token_addr(), net.addr(BOB), net.addr(ALICE))
        .call()
        .await
        .unwrap();
    assert!(info.punished);
    assert_revert!(punish_call(&net, &cheat, 0, 0, cheat.disposal.clone()), AlreadyPunished);
    // Alice takes everything: her 100 and Bob's 50
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (150, 0));
}

#[tokio::test]
async fn punishment_needs_a_genuine_disposal_of_a_claimed_lock() {
    let net = net().await;
    let cheat = bob_claims_a_disposed_lock(&net, 0).await;
    let epoch = net.epoch_of(ALICE, BOB).await;
    let id = net.channel_id(net.addr(ALICE), net.addr(BOB));
    // forged: Alice or Charlie signing "Bob's" disposal
    for forger in [ALICE, CHARLIE] {
        let d = LockDisposal { channelId: id, epoch, lockHash: cheat.locks[0].hash() };
        let forged = sig_bytes(&net.accounts[forger].sign_digest(&net.domain.digest(&d)).unwrap());
        assert_revert!(punish_call(&net, &cheat, 0, 0, forged), InvalidSignature);
    }
    // Bob's disposal of lock 0 does not cover lock 1
    assert_revert!(punish_call(&net, &cheat, 0, 1, cheat.disposal.clone()), InvalidSignature);
    // a skip mask other than the unlock's does not match what was recorded
    assert_revert!(punish_call(&net, &cheat, 0b10, 0, cheat.disposal.clone()), NothingToUnlock);
    // out of range
    assert_revert!(punish_call(&net, &cheat, 0, 2, cheat.disposal.clone()), LockNotClaimed);
    // the honest Alice's punishment window closes
    net.mine(u64::from(TIMEOUT) + net.deployment.params.punish_blocks).await.unwrap();
    assert_revert!(punish_call(&net, &cheat, 0, 0, cheat.disposal.clone()), PunishWindowOver);
}

#[tokio::test]
async fn an_honest_receiver_that_skips_its_disposed_lock_is_safe() {
    let net = net().await;
    let cheat = bob_claims_a_disposed_lock(&net, 0b01).await;
    assert_revert!(punish_call(&net, &cheat, 0b01, 0, cheat.disposal.clone()), LockNotClaimed);
    // Bob got lock 1 (3) and not the disposed lock 0
    assert_eq!(net.settle_after_windows(ALICE, BOB).await, (97, 3));
}

#[tokio::test]
async fn no_unlock_means_nothing_to_punish() {
    let net = net().await;
    let now = net.block_number().await.unwrap();
    let locks = [lock(10, now + 100, 1), lock(3, now + 100, 2)];
    closed_with_locks(&net, 0, &locks).await;
    let cheat = Cheat { locks, disposal: Bytes::from(vec![0u8; 65]) };
    assert_revert!(punish_call(&net, &cheat, 0, 0, cheat.disposal.clone()), NothingToUnlock);
}
