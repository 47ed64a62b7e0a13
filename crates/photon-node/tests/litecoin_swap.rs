//! Swaps between Litecoin and Photon tokens, both directions ([`photon_swap::flow`]): a
//! regtest `litecoind` (Debian's, offline on 127.0.0.1; `make test` installs it) and two
//! Photon nodes on anvil, Alice holding the secret. Success both ways, refunds when the other
//! side vanishes, and a reorganisation shallower than the configured depth that cannot make
//! the taker pay for coins that are not there.

mod common;

use common::{balances, channel, eventually, open, settings, start_node, TestNode};
use photon_node::runtime::NodeSettings;
use photon_node::transport::LocalNetwork;
use photon_primitives::Address;
use photon_swap::bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use photon_swap::bitcoin::{Amount, ScriptBuf};
use photon_swap::flow::{self, Chain, Coins, Outcome, Patience, Tokens};
use photon_swap::Htlc;
use photon_testkit::devnet::DevNet;
use photon_testkit::litecoind::Litecoind;
use std::time::Duration;

const ALICE: usize = 1;
const BOB: usize = 2;
const SECRET: [u8; 32] = [0x5e; 32];

/// Both parties' Photon nodes (a channel with 100 deposited by each) and the Litecoin node.
struct Lab {
    net: DevNet,
    alice: TestNode,
    bob: TestNode,
    ltc: Litecoind,
    _dir: tempfile::TempDir,
}

fn key(byte: u8) -> (SecretKey, PublicKey) {
    let secret = SecretKey::from_slice(&[byte; 32]).unwrap();
    (secret, PublicKey::from_secret_key(&Secp256k1::new(), &secret))
}

fn patience() -> Patience {
    Patience {
        poll: Duration::from_millis(100),
        wait: Duration::from_secs(60),
        margin: Duration::from_secs(5),
    }
}

impl Lab {
    async fn start() -> Self {
        let net = DevNet::start().await.unwrap();
        for who in [ALICE, BOB] {
            net.mint(net.address(who), 1_000).await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let network = LocalNetwork::new();
        let config = NodeSettings { ..settings(&net) };
        let alice = start_node(&net, ALICE, &network, &dir.path().join("a"), config.clone()).await;
        let bob = start_node(&net, BOB, &network, &dir.path().join("b"), config).await;
        let (token, a, b) =
            (Self::token_of(&net), Self::hex(net.address(ALICE)), Self::hex(net.address(BOB)));
        open(&alice.url, &token, &b, serde_json::json!("100")).await;
        eventually(|| async { channel(&bob.url, &token, &a).await }).await;
        common::change(&bob.url, &token, &a, serde_json::json!({ "deposit": "100" })).await;
        let ltc = Litecoind::start().await.unwrap();
        let lab = Self { net, alice, bob, ltc, _dir: dir };
        eventually(|| async { (lab.balances().await == (100, 100)).then_some(()) }).await;
        lab
    }

    fn hex(address: Address) -> String {
        format!("{address:?}")
    }

    fn token_of(net: &DevNet) -> String {
        format!("{:?}", net.token.address())
    }

    /// (Alice's balance, Bob's) in their channel, as Alice's node sees it.
    async fn balances(&self) -> (u128, u128) {
        let b = Self::hex(self.net.address(BOB));
        let Some((ours, theirs)) = balances(&self.alice.url, &Self::token_of(&self.net), &b).await
        else {
            return (0, 0);
        };
        (ours.parse().unwrap(), theirs.parse().unwrap())
    }

    fn chain(&self) -> Chain {
        Chain {
            rpc: photon_swap::rpc::Rpc::new(&self.ltc.rpc, "photon", "photon"),
            prefix: "rltc".into(),
            confirmations: 2,
            block_secs: 1.0,
        }
    }

    /// `who`'s part in the contract: its key, a wallet address for what it takes back.
    async fn coins(&self, htlc: Htlc, who: u8, from: u32) -> Coins {
        Coins {
            htlc,
            amount: Amount::from_sat(50_000_000),
            key: key(who).0,
            to: ScriptBuf::from_bytes(self.ltc.wallet_script().await.unwrap()),
            fee: Amount::from_sat(10_000),
            from: u64::from(from),
        }
    }

    fn tokens(&self, node: &TestNode, counterparty: usize, amount: u128) -> Tokens {
        Tokens {
            node: node.client(),
            token: *self.net.token.address(),
            amount: photon_api::Amount(amount),
            counterparty: self.net.address(counterparty),
            block_secs: 1.0,
        }
    }

    /// Mines a Litecoin block every `every` until `task` ends; its result.
    async fn mine_ltc_while<T>(&self, every: Duration, mut task: tokio::task::JoinHandle<T>) -> T {
        loop {
            tokio::select! {
                out = &mut task => return out.unwrap(),
                _ = tokio::time::sleep(every) => self.ltc.mine(1).await.unwrap(),
            }
        }
    }

    async fn stop(self) {
        self.alice.stop().await;
        self.bob.stop().await;
    }
}

const ALICE_KEY: u8 = 0x11;
const BOB_KEY: u8 = 0x22;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coins_for_tokens_and_a_shallow_reorganisation_does_not_fool_the_taker() {
    let lab = Lab::start().await;
    let (chain, from) = (lab.chain(), lab.ltc.height().await.unwrap());
    // Alice sells 0.5 LTC (refundable from 100 blocks on) for 30 tokens from Bob
    let htlc =
        Htlc::new(flow::hash_of(SECRET), key(BOB_KEY).1, key(ALICE_KEY).1, from + 100).unwrap();
    let (alice_coins, bob_coins) =
        (lab.coins(htlc, ALICE_KEY, from).await, lab.coins(htlc, BOB_KEY, from).await);
    let (alice_tokens, bob_tokens) =
        (lab.tokens(&lab.alice, BOB, 30), lab.tokens(&lab.bob, ALICE, 30));
    let (c1, c2) = (chain.clone(), chain.clone());
    let alice = tokio::spawn(async move {
        flow::sell_coins(&c1, &alice_coins, &alice_tokens, SECRET, patience()).await
    });
    let bob =
        tokio::spawn(
            async move { flow::buy_coins(&c2, &bob_coins, &bob_tokens, patience()).await },
        );
    // the funding one block deep, then taken out by a reorganisation: Bob pays nothing
    eventually(|| async {
        let pool = lab.ltc.call("getrawmempool", serde_json::json!([])).await.ok()?;
        (!pool.as_array()?.is_empty()).then_some(())
    })
    .await;
    lab.ltc.mine(1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        lab.bob.client().pending_transfers().await.unwrap().is_empty(),
        "one block is not enough"
    );
    lab.ltc.reorganise(2).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(lab.bob.client().pending_transfers().await.unwrap().is_empty(), "the funding is gone");
    assert_eq!(lab.balances().await, (100, 100));
    // mined again, two deep: the swap goes through
    let bob = lab.mine_ltc_while(Duration::from_millis(300), bob).await.unwrap();
    let alice = alice.await.unwrap().unwrap();
    assert_eq!(alice, Outcome::Completed { secret: SECRET });
    assert_eq!(bob, Outcome::Completed { secret: SECRET });
    eventually(|| async { (lab.balances().await == (130, 70)).then_some(()) }).await;
    // Bob's claim is on the Litecoin chain
    let funding = photon_swap::watch::funding(&chain.rpc, &htlc, u64::from(from), Amount::ZERO)
        .await
        .unwrap()
        .expect("the funding");
    let spent = photon_swap::watch::spend_of(&chain.rpc, &htlc, funding.outpoint, u64::from(from))
        .await
        .unwrap();
    assert!(matches!(spent, Some(photon_swap::watch::Spent::Claimed { .. })), "{spent:?}");
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_for_coins_the_secret_from_the_litecoin_chain_claims_the_tokens() {
    let lab = Lab::start().await;
    let (chain, from) = (lab.chain(), lab.ltc.height().await.unwrap());
    // Alice pays 20 tokens for 0.5 LTC Bob locks to her, refundable to him from 20 blocks on
    let htlc =
        Htlc::new(flow::hash_of(SECRET), key(ALICE_KEY).1, key(BOB_KEY).1, from + 20).unwrap();
    let (alice_coins, bob_coins) =
        (lab.coins(htlc, ALICE_KEY, from).await, lab.coins(htlc, BOB_KEY, from).await);
    let (alice_tokens, bob_tokens) =
        (lab.tokens(&lab.alice, BOB, 20), lab.tokens(&lab.bob, ALICE, 20));
    let (c1, c2) = (chain.clone(), chain.clone());
    let alice = tokio::spawn(async move {
        flow::buy_coins_with_tokens(&c1, &alice_coins, &alice_tokens, SECRET, patience()).await
    });
    let bob = tokio::spawn(async move {
        flow::sell_coins_for_tokens(&c2, &bob_coins, &bob_tokens, patience()).await
    });
    let bob = lab.mine_ltc_while(Duration::from_millis(300), bob).await.unwrap();
    let alice = alice.await.unwrap().unwrap();
    assert_eq!(alice, Outcome::Completed { secret: SECRET });
    assert_eq!(bob, Outcome::Completed { secret: SECRET });
    eventually(|| async { (lab.balances().await == (80, 120)).then_some(()) }).await;
    lab.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_other_side_vanishes_the_coins_are_refunded_and_the_tokens_stay() {
    let lab = Lab::start().await;
    let chain = lab.chain();

    // coins first: Alice funds, Bob never pays; from the refund height on she takes them back
    let from = lab.ltc.height().await.unwrap();
    let htlc =
        Htlc::new(flow::hash_of(SECRET), key(BOB_KEY).1, key(ALICE_KEY).1, from + 8).unwrap();
    let alice_coins = lab.coins(htlc, ALICE_KEY, from).await;
    let alice_tokens = lab.tokens(&lab.alice, BOB, 30);
    let c1 = chain.clone();
    let alice = tokio::spawn(async move {
        flow::sell_coins(&c1, &alice_coins, &alice_tokens, SECRET, patience()).await
    });
    let refunded = lab.mine_ltc_while(Duration::from_millis(200), alice).await.unwrap();
    assert!(matches!(refunded, Outcome::Refunded { .. }), "{refunded:?}");

    // tokens first: Alice locks 20 tokens and vanishes; Bob funds, nobody claims; he takes
    // the coins back at the refund height, and her lock expires
    let secret = [0x6f; 32];
    let hash = flow::hash_of(secret);
    let from = lab.ltc.height().await.unwrap();
    let htlc = Htlc::new(hash, key(ALICE_KEY).1, key(BOB_KEY).1, from + 20).unwrap();
    let alice_tokens = lab.tokens(&lab.alice, BOB, 20);
    let pay = photon_api::Pay {
        amount: alice_tokens.amount,
        secret_hash: Some(hash.into()),
        ..Default::default()
    };
    let hers = alice_tokens
        .node
        .pay_async(alice_tokens.token, alice_tokens.counterparty, &pay)
        .await
        .unwrap();
    let bob_coins = lab.coins(htlc, BOB_KEY, from).await;
    let bob_tokens = lab.tokens(&lab.bob, ALICE, 20);
    let bob = tokio::spawn(async move {
        flow::sell_coins_for_tokens(&chain, &bob_coins, &bob_tokens, patience()).await
    });
    let refunded = lab.mine_ltc_while(Duration::from_millis(200), bob).await.unwrap();
    assert!(matches!(refunded, Outcome::Refunded { .. }), "{refunded:?}");
    let client = lab.alice.client();
    loop {
        let status = client.payment(hers.payment_id).await.unwrap();
        if status.state == photon_api::PaymentState::Failed {
            break;
        }
        lab.net.mine(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lab.balances().await, (100, 100), "no tokens moved");
    lab.stop().await;
}
