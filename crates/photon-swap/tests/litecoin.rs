//! The contract on a real Litecoin node: Debian's `litecoind` in regtest, offline, on
//! 127.0.0.1 (`make test` installs it when it is missing). A contract funded from the node's
//! wallet is claimed with the secret, and the claim, read back from the chain, shows the
//! secret; another is refused back to its sender before its refund height and taken back from
//! it on.

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, Txid};
use photon_swap::{Htlc, Spend};
use photon_testkit::litecoind::Litecoind;
use serde_json::{json, Value};
use std::str::FromStr;

/// The regtest node, with the contract helpers these tests use.
struct Node(Litecoind);

impl Node {
    async fn start() -> Self {
        Self(Litecoind::start().await.expect("a regtest litecoind"))
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        self.0.call(method, params).await.unwrap()
    }

    async fn mine(&self, blocks: u32) {
        self.0.mine(blocks).await.unwrap();
    }

    async fn height(&self) -> u32 {
        self.0.height().await.unwrap()
    }

    /// Funds the contract with `amount` LTC from the wallet and mines it; its output.
    async fn fund(&self, htlc: &Htlc, amount: &str) -> (OutPoint, Amount) {
        let address = htlc.address("rltc").unwrap();
        let txid = self.call("sendtoaddress", json!([address, amount])).await;
        self.mine(1).await;
        let tx = self.call("getrawtransaction", json!([txid, true])).await;
        let want = hex(htlc.script_pubkey().as_bytes());
        let out = tx["vout"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["scriptPubKey"]["hex"].as_str() == Some(want.as_str()))
            .expect("the contract's output");
        let value = Amount::from_btc(out["value"].as_f64().unwrap()).unwrap();
        let txid = Txid::from_str(txid.as_str().unwrap()).unwrap();
        (OutPoint { txid, vout: out["n"].as_u64().unwrap() as u32 }, value)
    }

    async fn send(&self, tx: &Transaction) -> Result<Value, String> {
        let hex = bitcoin::consensus::encode::serialize_hex(tx);
        self.0.try_call("sendrawtransaction", json!([hex])).await
    }

    /// The output script of a new wallet address.
    async fn wallet_script(&self) -> ScriptBuf {
        ScriptBuf::from_bytes(self.0.wallet_script().await.unwrap())
    }

    fn rpc(&self) -> photon_swap::rpc::Rpc {
        photon_swap::rpc::Rpc::new(&self.0.rpc, "photon", "photon")
    }
}

fn hex(bytes: &[u8]) -> String {
    use bitcoin::hex::DisplayHex;
    bytes.to_lower_hex_string()
}

fn unhex(text: &str) -> Vec<u8> {
    use bitcoin::hex::FromHex;
    Vec::from_hex(text).unwrap()
}

fn key(byte: u8) -> (SecretKey, PublicKey) {
    let secret = SecretKey::from_slice(&[byte; 32]).unwrap();
    (secret, PublicKey::from_secret_key(&Secp256k1::new(), &secret))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contract_is_claimed_with_the_secret_or_refunded_after_its_height() {
    let node = Node::start().await;
    let (receiver_key, receiver) = key(11);
    let (sender_key, sender) = key(12);
    let secret = [0x5a; 32];
    let hash = sha256::Hash::hash(&secret).to_byte_array();
    let fee = Amount::from_sat(10_000);

    // claimed with the secret; the claim, read from the chain, shows it
    let height = node.height().await;
    let htlc = Htlc::new(hash, receiver, sender, height + 50).unwrap();
    let (outpoint, value) = node.fund(&htlc, "1.5").await;
    assert_eq!(value, Amount::from_sat(150_000_000));
    let to = node.wallet_script().await;
    let spend = Spend { outpoint, value, to, fee };
    // the sender cannot take it back yet
    let early = node.send(&htlc.refund(&spend, &sender_key).unwrap()).await;
    assert!(early.as_ref().is_err_and(|e| e.contains("non-final")), "{early:?}");
    let claim = htlc.claim(&spend, secret, &receiver_key).unwrap();
    let txid = node.send(&claim).await.expect("the claim is taken");
    node.mine(1).await;
    let raw = node.call("getrawtransaction", json!([txid, false])).await;
    let mined: Transaction =
        bitcoin::consensus::encode::deserialize(&unhex(raw.as_str().unwrap())).unwrap();
    assert_eq!(htlc.secret_in(&mined), Some(secret));
    let confirmations = node.call("getrawtransaction", json!([txid, true])).await["confirmations"]
        .as_u64()
        .unwrap();
    assert_eq!(confirmations, 1);

    // refunded from its height on, never before
    let height = node.height().await;
    let htlc = Htlc::new(hash, receiver, sender, height + 5).unwrap();
    let (outpoint, value) = node.fund(&htlc, "0.25").await;
    let spend = Spend { outpoint, value, to: node.wallet_script().await, fee };
    let refund = htlc.refund(&spend, &sender_key).unwrap();
    let early = node.send(&refund).await;
    assert!(early.as_ref().is_err_and(|e| e.contains("non-final")), "{early:?}");
    // a wrong secret cannot be made into a claim
    assert!(htlc.claim(&spend, [1; 32], &receiver_key).is_err());
    node.mine(4).await;
    let txid = node.send(&refund).await.expect("the refund is taken at its height");
    node.mine(1).await;
    let mined = node.call("getrawtransaction", json!([txid, true])).await;
    assert_eq!(mined["confirmations"].as_u64(), Some(1));
    // the watcher tells a refund from a claim: no secret in it
    let rpc = node.rpc();
    let seen =
        photon_swap::watch::spend_of(&rpc, &htlc, spend.outpoint, u64::from(height)).await.unwrap();
    assert!(
        matches!(seen, Some(photon_swap::watch::Spent::Refunded { confirmations: 1, .. })),
        "{seen:?}"
    );
    // and once refunded, the receiver's claim is a double spend
    let late = node.send(&htlc.claim(&spend, secret, &receiver_key).unwrap()).await;
    assert!(late.is_err(), "{late:?}");
}

/// The watcher on the same node: a funding is reported with its depth, a reorganisation that
/// removes it before it is deep enough leaves nothing to act on, and the claim's secret is read
/// from the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reads_fundings_with_their_depth_through_a_reorganisation() {
    use photon_swap::watch::{funding, spend_of, Spent};
    let node = Node::start().await;
    let rpc = node.rpc();
    let (receiver_key, receiver) = key(21);
    let (_, sender) = key(22);
    let secret = [0x3c; 32];
    let start = node.height().await;
    let htlc =
        Htlc::new(sha256::Hash::hash(&secret).to_byte_array(), receiver, sender, start + 100)
            .unwrap();
    let from = u64::from(start);
    let agreed = Amount::from_sat(50_000_000);
    assert_eq!(funding(&rpc, &htlc, from, agreed).await.unwrap(), None);
    // a payment to the same script below the agreed amount is no funding
    node.fund(&htlc, "0.001").await;
    assert_eq!(funding(&rpc, &htlc, from, agreed).await.unwrap(), None);

    // funded: one block deep
    let (outpoint, value) = node.fund(&htlc, "0.5").await;
    let found = funding(&rpc, &htlc, from, agreed).await.unwrap().expect("the funding");
    assert_eq!((found.outpoint, found.value, found.confirmations), (outpoint, value, 1));
    // a reorganisation one block deep takes it out of the best chain (the replacement blocks
    // leave the funding out): nothing to act on
    node.0.reorganise(2).await.unwrap();
    assert_eq!(funding(&rpc, &htlc, from, agreed).await.unwrap(), None);
    // back in a block: its depth counts from there
    node.mine(3).await;
    let found =
        funding(&rpc, &htlc, from, agreed).await.unwrap().expect("the funding, mined again");
    assert_eq!(found.confirmations, 3);

    // claimed: the watcher reads the secret from the chain
    assert_eq!(spend_of(&rpc, &htlc, found.outpoint, from).await.unwrap(), None);
    let spend = Spend {
        outpoint: found.outpoint,
        value: found.value,
        to: node.wallet_script().await,
        fee: Amount::from_sat(10_000),
    };
    node.send(&htlc.claim(&spend, secret, &receiver_key).unwrap()).await.unwrap();
    node.mine(2).await;
    match spend_of(&rpc, &htlc, found.outpoint, from).await.unwrap() {
        Some(Spent::Claimed { secret: seen, confirmations, .. }) => {
            assert_eq!((seen, confirmations), (secret, 2));
        }
        other => panic!("expected the claim, got {other:?}"),
    }
}
