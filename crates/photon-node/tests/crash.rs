//! Slim crash recovery: a node process aborts at a named point of a payment (debug builds'
//! `PHOTON_CRASH_AT`) and is restarted from its data directory. After every crash no honest
//! party has lost a token, both ends of every channel agree, every channel is still usable, and
//! the payment either completed or failed cleanly.

use photon_chain::devnet::DevNet;
use photon_chain::DeployParams;
use photon_node::testnet::{channel, p2p_addresses, request, start_node_with, NodeProcess};
use photon_primitives::Address;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PHOTON: &str = env!("CARGO_BIN_EXE_photon");
const BOB: usize = 0; // the hub and mediator
const ALICE: usize = 1;
const CHARLIE: usize = 2;
const NAMES: [&str; 3] = ["Bob", "Alice", "Charlie"];

/// (who crashes, where, whether the payment is direct Alice→Bob or mediated Alice→Charlie)
const POINTS: &[(usize, &str, bool)] = &[
    (ALICE, "before_send:MediatedTransfer", false),
    (ALICE, "after_send:MediatedTransfer", false),
    (BOB, "after_commit:MediatedTransfer", false),
    (BOB, "before_send:MediatedTransfer", false),
    (CHARLIE, "after_commit:MediatedTransfer", false),
    (CHARLIE, "before_send:SecretRequest", false),
    (ALICE, "before_send:RevealSecret", false),
    (CHARLIE, "before_send:RevealSecret", false),
    (BOB, "before_send:Unlock", false),
    (BOB, "before_send:RevealSecret", false),
    (ALICE, "before_send:Unlock", false),
    (CHARLIE, "after_commit:Unlock", false),
    (BOB, "after_commit:Unlock", false),
    (ALICE, "before_send:DirectTransfer", true),
    (BOB, "after_commit:DirectTransfer", true),
];

struct World {
    // the nodes stop before the chain does (fields drop in order)
    nodes: Vec<Option<NodeProcess>>,
    net: DevNet,
    token: Address,
    dir: tempfile::TempDir,
    deployment: PathBuf,
}

impl World {
    fn node(&self, i: usize) -> &NodeProcess {
        self.nodes[i].as_ref().expect("running")
    }

    async fn p2p(&self, i: usize) -> Vec<String> {
        p2p_addresses(self.node(i)).await.unwrap()
    }

    /// (Re)starts node `i`, bootstrapping from the others that run.
    async fn start(&mut self, i: usize, env: &[(&str, &str)]) {
        let mut boot = Vec::new();
        for j in 0..3 {
            if j != i && self.nodes[j].is_some() {
                boot.extend(self.p2p(j).await);
            }
        }
        let node = start_node_with(
            Path::new(PHOTON),
            &self.net,
            i,
            NAMES[i],
            self.dir.path(),
            &self.deployment,
            &boot,
            env,
        )
        .await
        .unwrap();
        self.nodes[i] = Some(node);
    }

    /// The channel of `a` and `b` from `a`'s side: (a's balance, b's balance, pending locks).
    async fn view(&self, a: usize, b: usize) -> Option<(u128, u128, bool)> {
        let c: Value = channel(self.node(a), self.token, self.node(b).address).await.ok()??;
        let n = |k: &str| c[k].as_str().and_then(|v| v.parse::<u128>().ok());
        Some((n("balance")?, n("partner_balance")?, n("locked")? + n("partner_locked")? > 0))
    }

    async fn pending(&self, i: usize) -> usize {
        let url = format!("{}/api/v1/pending_transfers", self.node(i).url);
        request(reqwest::Method::GET, url, None)
            .await
            .map_or(usize::MAX, |v| v.as_array().map_or(0, Vec::len))
    }

    /// Mines until nothing is in flight and both ends of both channels agree, then returns
    /// (Alice–Bob as Alice sees it, Bob–Charlie as Bob sees it).
    async fn settle_down(&self) -> ((u128, u128), (u128, u128)) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ab = self.view(ALICE, BOB).await;
            let ba = self.view(BOB, ALICE).await;
            let bc = self.view(BOB, CHARLIE).await;
            let cb = self.view(CHARLIE, BOB).await;
            if let (Some(ab), Some(ba), Some(bc), Some(cb)) = (ab, ba, bc, cb) {
                let quiet = self.pending(ALICE).await == 0
                    && self.pending(BOB).await == 0
                    && self.pending(CHARLIE).await == 0;
                if quiet
                    && !ab.2
                    && !bc.2
                    && (ab.0, ab.1) == (ba.1, ba.0)
                    && (bc.0, bc.1) == (cb.1, cb.0)
                {
                    return ((ab.0, ab.1), (bc.0, bc.1));
                }
            }
            assert!(
                Instant::now() < deadline,
                "the network did not settle down: {ab:?} {ba:?} {bc:?} {cb:?}"
            );
            self.net.mine(1).await.unwrap();
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_lost_whichever_node_crashes_wherever() {
    let params = DeployParams { punish_blocks: 5, min_settle_timeout: 5, max_settle_timeout: 1000 };
    let net = DevNet::start_with(&params).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let deployment = dir.path().join("deployment.json");
    net.deployment.save(&deployment).unwrap();
    let token = *net.token.address();
    let mut w = World { nodes: vec![None, None, None], net, token, dir, deployment };
    for i in [BOB, ALICE, CHARLIE] {
        w.start(i, &[]).await;
        w.net.mint(w.node(i).address, 10_000).await.unwrap();
    }
    let open = |from: usize, to: usize, deposit: &str| {
        let body = json!({ "token": token, "partner": w.node(to).address, "deposit": deposit });
        request(reqwest::Method::PUT, format!("{}/api/v1/channels", w.node(from).url), Some(body))
    };
    open(ALICE, BOB, "1000").await.unwrap();
    open(BOB, CHARLIE, "1000").await.unwrap();
    let (mut ab, mut bc) = w.settle_down().await;
    assert_eq!((ab, bc), ((1000, 0), (1000, 0)));
    let head = w.net.block_number().await.unwrap();
    loop {
        let s = request(reqwest::Method::GET, format!("{}/api/v1/status", w.node(ALICE).url), None)
            .await
            .unwrap();
        if s["block"].as_u64().unwrap_or(0) >= head {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for &(who, point, direct) in POINTS {
        // the node runs with the crash switch set
        drop(w.nodes[who].take());
        w.start(who, &[("PHOTON_CRASH_AT", point)]).await;
        let (target, amount) = if direct { (BOB, 3u128) } else { (CHARLIE, 5u128) };
        let url =
            format!("{}/api/v1/payments/{token:?}/{:?}", w.node(ALICE).url, w.node(target).address);
        let pay = tokio::spawn(async move {
            let client =
                reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            let _ = client.post(url).json(&json!({ "amount": amount.to_string() })).send().await;
        });
        // it crashes where told
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let node = w.nodes[who].as_mut().unwrap();
            if let Ok(Some(status)) = node.child.try_wait() {
                assert!(!status.success(), "{point}: an abort, not a clean exit");
                break;
            }
            assert!(Instant::now() < deadline, "{} never reached {point}", NAMES[who]);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = pay.await;
        // ... and comes back from its data directory
        drop(w.nodes[who].take());
        w.start(who, &[]).await;
        let (new_ab, new_bc) = w.settle_down().await;
        // nothing created or destroyed, and the payment completed or failed whole
        assert_eq!(new_ab.0 + new_ab.1, 1000, "{point}: Alice–Bob holds its deposit");
        assert_eq!(new_bc.0 + new_bc.1, 1000, "{point}: Bob–Charlie holds its deposit");
        let paid = ab.0 - new_ab.0;
        if direct {
            assert!(paid == 0 || paid == amount, "{point}: Alice paid {paid}");
            assert_eq!(new_bc, bc, "{point}: Bob–Charlie untouched");
        } else {
            assert!(paid == 0 || paid == amount, "{point}: Alice paid {paid}");
            let charlie_got = new_bc.1 - bc.1;
            assert_eq!(charlie_got, paid, "{point}: Bob forwarded exactly what he was paid");
        }
        eprintln!("{point}: {}", if paid == 0 { "failed cleanly" } else { "completed" });
        (ab, bc) = (new_ab, new_bc);
    }
    // and the channels are still usable
    let url =
        format!("{}/api/v1/payments/{token:?}/{:?}", w.node(ALICE).url, w.node(CHARLIE).address);
    request(reqwest::Method::POST, url, Some(json!({ "amount": "1" }))).await.unwrap();
    let (final_ab, final_bc) = w.settle_down().await;
    assert_eq!((final_ab.0, final_bc.1), (ab.0 - 1, bc.1 + 1));
}
