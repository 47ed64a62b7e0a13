use crate::helpers::*;
use alloy::primitives::{Bytes, B256};
use photon_chain::bindings::SecretRegistry;
use photon_chain::devnet::send;
use photon_primitives::Secret;

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
    assert_eq!(net.registry.getSecretRevealBlockHeight(hash).call().await.unwrap(), alloy::primitives::U256::from(block));

    // a second registration is refused and keeps the first block
    net.mine(3).await.unwrap();
    assert!(!net.registry.registerSecret(secret.0).call().await.unwrap());
    send(net.registry.registerSecret(secret.0)).await.unwrap();
    assert_eq!(net.registry.getSecretRevealBlockHeight(hash).call().await.unwrap(), alloy::primitives::U256::from(block));
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
        assert!(net.registry.getSecretRevealBlockHeight(h).call().await.unwrap() > alloy::primitives::U256::ZERO);
    }
    // one new, one repeated
    assert!(!net.registry.registerSecretBatch(vec![B256::repeat_byte(9), secrets[0]]).call().await.unwrap());
}

#[tokio::test]
async fn reveal_blocks_packs_results_and_rejects_ragged_input() {
    let net = net().await;
    let s = B256::repeat_byte(7);
    let receipt = send(net.registry.registerSecret(s)).await.unwrap();
    let mut packed = Secret(s).hash().0.to_vec();
    packed.extend_from_slice(B256::repeat_byte(1).as_slice());
    let out = net.registry.revealBlocks(Bytes::from(packed.clone())).call().await.unwrap();
    assert_eq!(out.len(), 64);
    assert_eq!(alloy::primitives::U256::from_be_slice(&out[..32]).to::<u64>(), receipt.block_number.unwrap());
    assert_eq!(alloy::primitives::U256::from_be_slice(&out[32..]), alloy::primitives::U256::ZERO);
    packed.push(0);
    let err = net.registry.revealBlocks(Bytes::from(packed)).call().await.unwrap_err();
    assert!(err.as_decoded_error::<SecretRegistry::MalformedHashes>().is_some(), "{err}");
}
