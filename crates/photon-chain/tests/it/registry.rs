use crate::helpers::*;
use alloy::primitives::{Bytes, B256, U256};
use photon_chain::bindings::SecretRegistry;
use photon_primitives::lock::encode_locks;
use photon_primitives::TokenAmount;
use photon_primitives::{Lock, Secret};
use photon_testkit::devnet::send;

#[tokio::test]
async fn register_records_the_block_once() {
    let net = net().await;
    let secret = Secret(B256::repeat_byte(0x42));
    let hash = secret.hash().0;
    assert!(net.registry.registerSecret(secret.0).call().await.unwrap());
    let receipt = send(net.registry.registerSecret(secret.0)).await.unwrap();
    let ev = event::<SecretRegistry::SecretRevealed>(&receipt);
    assert_eq!((ev.secrethash, ev.secret), (hash, secret.0));
    let block = receipt.block_number.unwrap();
    assert_eq!(
        net.registry.getSecretRevealBlockHeight(hash).call().await.unwrap(),
        alloy::primitives::U256::from(block)
    );

    // a second registration is refused and keeps the first block
    net.mine(3).await.unwrap();
    assert!(!net.registry.registerSecret(secret.0).call().await.unwrap());
    send(net.registry.registerSecret(secret.0)).await.unwrap();
    assert_eq!(
        net.registry.getSecretRevealBlockHeight(hash).call().await.unwrap(),
        alloy::primitives::U256::from(block)
    );
}

#[tokio::test]
async fn zero_secret_is_refused() {
    let net = net().await;
    assert!(!net.registry.registerSecret(B256::ZERO).call().await.unwrap());
}

#[tokio::test]
async fn batch_registers_all_and_reports_repeats() {
    let net = net().await;
    let secrets: Vec<B256> = (1..=3u8).map(B256::repeat_byte).collect();
    assert!(net.registry.registerSecretBatch(secrets.clone()).call().await.unwrap());
    send(net.registry.registerSecretBatch(secrets.clone())).await.unwrap();
    for s in &secrets {
        let h = Secret(*s).hash().0;
        assert!(
            net.registry.getSecretRevealBlockHeight(h).call().await.unwrap()
                > alloy::primitives::U256::ZERO
        );
    }
    // one new, one repeated
    assert!(!net
        .registry
        .registerSecretBatch(vec![B256::repeat_byte(9), secrets[0]])
        .call()
        .await
        .unwrap());
}

/// The registry's view of what an unlock of a set of locks pays: only locks whose secret was
/// registered at or before their expiration count, and skipped locks never do.
#[tokio::test]
async fn claimable_amount_counts_locks_registered_in_time() {
    let net = net().await;
    let secret = |n: u8| Secret(B256::repeat_byte(n));
    let now = net.block_number().await.unwrap();
    send(net.registry.registerSecret(secret(1).0)).await.unwrap(); // block now + 1
    send(net.registry.registerSecret(secret(3).0)).await.unwrap(); // block now + 2
    let locks = [
        Lock { amount: TokenAmount(10), expiration: now + 1, secrethash: secret(1).hash() }, // in time (edge)
        Lock { amount: TokenAmount(20), expiration: now + 100, secrethash: secret(2).hash() }, // never registered
        Lock { amount: TokenAmount(40), expiration: now + 1, secrethash: secret(3).hash() }, // one block late
        Lock { amount: TokenAmount(80), expiration: now + 100, secrethash: secret(1).hash() }, // in time
    ];
    let packed = Bytes::from(encode_locks(&locks));
    let claim = |skip: u64| net.registry.claimableAmount(packed.clone(), U256::from(skip));
    assert_eq!(claim(0).call().await.unwrap(), U256::from(90));
    assert_eq!(claim(0b1000).call().await.unwrap(), U256::from(10));
    assert_eq!(claim(0b1111).call().await.unwrap(), U256::ZERO);
    let mut ragged = encode_locks(&locks);
    ragged.pop();
    let err = net.registry.claimableAmount(ragged.into(), U256::ZERO).call().await.unwrap_err();
    assert!(err.as_decoded_error::<SecretRegistry::MalformedLocks>().is_some(), "{err}");
}
