//! Swaps across two chains: two anvils with different chain ids, Photon deployed on each,
//! Alice and Bob running a node on each chain; the swap command's logic
//! ([`photon_node::crosschain`]) drives the legs through the nodes' APIs.

mod common;

use common::{balances, channel, eventually, open, settings, start_node as start, TestNode};
use photon_api::{Amount, Pay};
use photon_node::crosschain::{self, CrossOutcome, Leg, Patience};
use photon_node::runtime::NodeSettings;
use photon_node::transport::LocalNetwork;
use photon_primitives::{Address, B256};
use photon_testkit::devnet::DevNet;
use std::time::Duration;

const ALICE: usize = 1;
const BOB: usize = 2;

/// Chain 1 (token X, Alice deposits 100 towards Bob) and chain 2 (token Y, Bob deposits 100
/// towards Alice); Bob's node on chain 2 makes locks of 20 blocks, less than half of Alice's 50 on
/// chain 1, so that his lock ends well before hers can no longer be claimed.
struct TwoChains {
    chains: [DevNet; 2],
    alice: [TestNode; 2],
    bob: [TestNode; 2],
    _dir: tempfile::TempDir,
}

impl TwoChains {
    async fn start() -> Self {
        let chains = [
            DevNet::start_on_chain(1_001).await.unwrap(),
            DevNet::start_on_chain(1_002).await.unwrap(),
        ];
        assert_ne!(chains[0].deployment.chain_id, chains[1].deployment.chain_id);
        chains[0].mint(chains[0].address(ALICE), 1_000).await.unwrap();
        chains[1].mint(chains[1].address(BOB), 1_000).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let networks = [LocalNetwork::new(), LocalNetwork::new()];
        let mut alice = Vec::new();
        let mut bob = Vec::new();
        for (c, net) in chains.iter().enumerate() {
            let protocol = |lock_timeout| photon_state::Config {
                lock_timeout,
                ..photon_state::Config::default()
            };
            let (a, b) = if c == 0 { (50, 50) } else { (50, 20) };
            let start_one = |i, lock_timeout| {
                let path = dir.path().join(format!("chain{c}-node{i}"));
                let settings = NodeSettings { protocol: protocol(lock_timeout), ..settings(net) };
                let network = networks[c].clone();
                async move { start(net, i, &network, &path, settings).await }
            };
            alice.push(start_one(ALICE, a).await);
            bob.push(start_one(BOB, b).await);
        }
        let [a1, a2] = <[TestNode; 2]>::try_from(alice).ok().unwrap();
        let [b1, b2] = <[TestNode; 2]>::try_from(bob).ok().unwrap();
        let me = Self { chains, alice: [a1, a2], bob: [b1, b2], _dir: dir };
        let (x, y) = (me.token(0), me.token(1));
        let (a, b) = (format!("{:?}", me.addr(ALICE)), format!("{:?}", me.addr(BOB)));
        open(&me.alice[0].url, &x, &b, serde_json::json!("100")).await;
        open(&me.bob[1].url, &y, &a, serde_json::json!("100")).await;
        eventually(|| async { channel(&me.bob[0].url, &x, &a).await }).await;
        eventually(|| async { channel(&me.alice[1].url, &y, &b).await }).await;
        me
    }

    fn token(&self, chain: usize) -> String {
        format!("{:?}", self.chains[chain].token.address())
    }

    fn addr(&self, i: usize) -> Address {
        self.chains[0].address(i)
    }

    /// (Alice's balance, Bob's) on `chain`, as Alice's node sees it.
    async fn balances(&self, chain: usize) -> (u128, u128) {
        let b = format!("{:?}", self.addr(BOB));
        let (ours, theirs) =
            balances(&self.alice[chain].url, &self.token(chain), &b).await.unwrap();
        (ours.parse().unwrap(), theirs.parse().unwrap())
    }

    /// Alice's legs: pays 30 X on chain 1, is paid 40 Y on chain 2.
    fn alices(&self) -> (Leg, Leg) {
        let leg = |node: &TestNode, chain: usize, amount| Leg {
            node: node.client(),
            token: *self.chains[chain].token.address(),
            amount: Amount(amount),
            counterparty: self.addr(BOB),
            block_secs: 1.0,
        };
        (leg(&self.alice[0], 0, 30), leg(&self.alice[1], 1, 40))
    }

    /// Bob's legs: pays 40 Y on chain 2, is paid 30 X on chain 1.
    fn bobs(&self) -> (Leg, Leg) {
        let leg = |node: &TestNode, chain: usize, amount| Leg {
            node: node.client(),
            token: *self.chains[chain].token.address(),
            amount: Amount(amount),
            counterparty: self.addr(ALICE),
            block_secs: 1.0,
        };
        (leg(&self.bob[1], 1, 40), leg(&self.bob[0], 0, 30))
    }

    /// Mines a block on both chains every `every` until `done` (a task) ends.
    async fn mine_while<T>(&self, every: Duration, mut done: tokio::task::JoinHandle<T>) -> T {
        loop {
            tokio::select! {
                out = &mut done => return out.unwrap(),
                _ = tokio::time::sleep(every) => {
                    for chain in &self.chains {
                        chain.mine(1).await.unwrap();
                    }
                }
            }
        }
    }

    async fn stop(self) {
        for node in self.alice.into_iter().chain(self.bob) {
            node.stop().await;
        }
    }
}

fn patience() -> Patience {
    Patience {
        poll: Duration::from_millis(100),
        wait: Duration::from_secs(60),
        margin: Duration::from_secs(5),
    }
}

fn secret() -> B256 {
    B256::repeat_byte(0x42)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_across_two_chains_completes_both_legs() {
    let w = TwoChains::start().await;
    let ((a_pay, a_receive), (b_pay, b_receive)) = (w.alices(), w.bobs());
    let hash = crosschain::hash_of(secret());
    let maker =
        tokio::spawn(
            async move { crosschain::make(&a_pay, &a_receive, secret(), patience()).await },
        );
    let taker =
        tokio::spawn(async move { crosschain::take(&b_pay, &b_receive, hash, patience()).await });
    let (made, taken) = (maker.await.unwrap().unwrap(), taker.await.unwrap().unwrap());
    assert_eq!(made, CrossOutcome::Completed { secret: secret() });
    assert_eq!(taken, CrossOutcome::Completed { secret: secret() });
    let settled = || async {
        let both = (w.balances(0).await, w.balances(1).await);
        (both == ((70, 30), (40, 60))).then_some(())
    };
    eventually(settled).await;
    // the chains are distinct: what is signed on one is bound to its chain id
    assert_eq!(w.alice[1].client().status().await.unwrap().chain_id, 1_002);
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maker_who_never_claims_leaves_both_payers_their_tokens_once_the_locks_expire() {
    let w = TwoChains::start().await;
    let ((a_pay, _), (b_pay, b_receive)) = (w.alices(), w.bobs());
    let hash = crosschain::hash_of(secret());
    // Alice locks her side and vanishes (her swap command is not running)
    let pay = Pay { amount: a_pay.amount, secret_hash: Some(hash), ..Pay::default() };
    let hers = a_pay.node.pay_async(a_pay.token, a_pay.counterparty, &pay).await.unwrap();
    // Bob pays his side; Alice never claims it; his lock expires, then hers
    let taker =
        tokio::spawn(async move { crosschain::take(&b_pay, &b_receive, hash, patience()).await });
    let taken = w.mine_while(Duration::from_millis(150), taker).await.unwrap();
    assert!(matches!(taken, CrossOutcome::NotExchanged { .. }), "{taken:?}");
    let client = w.alice[0].client();
    let expired = || async {
        let status = client.payment(hers.payment_id).await.ok()?;
        (status.state == photon_api::PaymentState::Failed).then_some(())
    };
    loop {
        if expired().await.is_some() {
            break;
        }
        w.chains[0].mine(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.balances(0).await, (100, 0), "Alice keeps her X");
    assert_eq!(w.balances(1).await, (0, 100), "Bob keeps his Y");
    assert!(w.bob[1].client().secret_of(hash).await.is_err(), "the secret never came out");
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taker_does_not_pay_when_its_lock_would_outlive_the_makers() {
    let w = TwoChains::start().await;
    let ((a_pay, _), (b_pay, b_receive)) = (w.alices(), w.bobs());
    let hash = crosschain::hash_of(secret());
    let pay = Pay { amount: a_pay.amount, secret_hash: Some(hash), ..Pay::default() };
    a_pay.node.pay_async(a_pay.token, a_pay.counterparty, &pay).await.unwrap();
    // chain 2's blocks are taken to be slow: Bob's 20 blocks would outlast Alice's lock
    let slow = Leg { block_secs: 5.0, ..b_pay };
    let refused = crosschain::take(&slow, &b_receive, hash, patience()).await;
    assert!(matches!(refused, Err(crosschain::CrossError::Unsafe(_))), "{refused:?}");
    let pending = w.bob[1].client().pending_transfers().await.unwrap();
    assert!(pending.is_empty(), "Bob paid nothing: {pending:?}");
    assert_eq!(w.balances(1).await, (0, 100));
    w.stop().await;
}
