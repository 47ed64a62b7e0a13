//! End-to-end scenarios with the real `photon` binary: separate processes on 127.0.0.1 over
//! libp2p, against anvil, driven through their REST APIs.

use alloy::primitives::B256;
use photon_chain::devnet::{send, DevNet};
use photon_chain::DeployParams;
use photon_node::testnet::{
    await_balances, channel, free_port, p2p_addresses, request, start_monitor, start_node,
    start_node_lagging, start_node_on_lan, NodeProcess,
};
use photon_primitives::Address;
use photon_transport::netns::{self, Lan};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const PHOTON: &str = env!("CARGO_BIN_EXE_photon");

struct World {
    // the nodes stop before the chain does (fields drop in order)
    nodes: Vec<NodeProcess>,
    net: DevNet,
    token: Address,
    dir: tempfile::TempDir,
    deployment: PathBuf,
}

/// A dev chain and `names.len()` nodes; the first is the hub the others bootstrap from.
async fn world(names: &[&'static str], funds: u128) -> World {
    world_env(names, funds, None).await
}

/// [`world`], with extra environment variables for one node (e.g. a crash switch).
async fn world_env(
    names: &[&'static str],
    funds: u128,
    env: Option<(usize, &[(&str, &str)])>,
) -> World {
    world_opts(names, funds, env, None).await
}

/// [`world_env`], and one node acting on the chain `.1` blocks behind its head.
async fn world_opts(
    names: &[&'static str],
    funds: u128,
    env: Option<(usize, &[(&str, &str)])>,
    lagging: Option<(usize, u64)>,
) -> World {
    let params = DeployParams { punish_blocks: 5, min_settle_timeout: 5, max_settle_timeout: 1000 };
    let net = DevNet::start_with(&params).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let deployment: PathBuf = dir.path().join("deployment.json");
    net.deployment.save(&deployment).unwrap();
    let photon = Path::new(PHOTON);
    let hub = start_node(photon, &net, 0, names[0], dir.path(), &deployment, &[]).await.unwrap();
    let boot = p2p_addresses(&hub).await.unwrap();
    let mut nodes = vec![hub];
    for (i, name) in names.iter().enumerate().skip(1) {
        let vars = env.filter(|(who, _)| *who == i).map_or(&[][..], |(_, vars)| vars);
        let lag = lagging.filter(|(who, _)| *who == i).map_or(0, |(_, blocks)| blocks);
        let (dir, dep) = (dir.path(), &deployment);
        let node = start_node_lagging(photon, &net, i, name, dir, dep, &boot, vars, lag);
        nodes.push(node.await.unwrap());
    }
    for node in &nodes {
        net.mint(node.address, funds).await.unwrap();
    }
    let token = *net.token.address();
    World { nodes, net, token, dir, deployment }
}

impl World {
    async fn call(&self, node: usize, method: reqwest::Method, path: &str, body: Value) -> Value {
        request(method, format!("{}{path}", self.nodes[node].url), Some(body)).await.unwrap()
    }

    async fn open(&self, node: usize, partner: usize, deposit: Option<u128>) {
        let mut body = json!({ "token": self.token, "partner": self.nodes[partner].address });
        if let Some(d) = deposit {
            body["deposit"] = d.to_string().into();
        }
        self.call(node, reqwest::Method::PUT, "/api/v1/channels", body).await;
    }

    async fn patch(&self, node: usize, partner: usize, body: Value) {
        let path = format!("/api/v1/channels/{:?}/{:?}", self.token, self.nodes[partner].address);
        self.call(node, reqwest::Method::PATCH, &path, body).await;
    }

    async fn pay(&self, node: usize, target: usize, amount: u128, routes: Option<Value>) -> Value {
        let path = format!("/api/v1/payments/{:?}/{:?}", self.token, self.nodes[target].address);
        let mut body = json!({ "amount": amount.to_string() });
        if let Some(r) = routes {
            body["routes"] = r;
        }
        self.call(node, reqwest::Method::POST, &path, body).await
    }

    /// Both ends agree the channel of `a` and `b` is at `(a's, b's)`.
    async fn balances(&self, a: usize, b: usize, want: (u128, u128)) {
        await_balances(&self.nodes[a], self.token, self.nodes[b].address, want).await.unwrap();
        await_balances(&self.nodes[b], self.token, self.nodes[a].address, (want.1, want.0))
            .await
            .unwrap();
    }

    async fn gone(&self, a: usize, b: usize) {
        for _ in 0..600 {
            if channel(&self.nodes[a], self.token, self.nodes[b].address).await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the channel is still there");
    }

    /// Mines a block at a time until `a` no longer has its channel with `b` (it settled).
    async fn mine_until_gone(&self, a: usize, b: usize) {
        for _ in 0..300 {
            if channel(&self.nodes[a], self.token, self.nodes[b].address).await.unwrap().is_none() {
                return;
            }
            self.net.mine(1).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the channel never settled");
    }

    /// Stops node `i`'s process at once: its account is now driven by hand.
    fn kill(&mut self, i: usize) {
        self.nodes[i].child.kill().unwrap();
        self.nodes[i].child.wait().unwrap();
    }

    fn addr(&self, i: usize) -> Address {
        self.nodes[i].address
    }

    /// Nodes `a`'s and `b`'s token balances on chain.
    async fn on_chain(&self, a: usize, b: usize) -> (u128, u128) {
        self.tokens_of(self.addr(a), self.addr(b)).await
    }

    /// The token balances on chain of two accounts.
    async fn tokens_of(&self, a: Address, b: Address) -> (u128, u128) {
        (self.net.balance(a).await.unwrap(), self.net.balance(b).await.unwrap())
    }

    /// Runs a `photon` client command against node `i`'s API; its standard output.
    fn cli(&self, i: usize, args: &[&str]) -> String {
        let output = std::process::Command::new(PHOTON)
            .args(args)
            .args(["--api", &self.nodes[i].url])
            .output()
            .unwrap();
        let (out, err) = (output.stdout, output.stderr);
        assert!(output.status.success(), "photon {args:?}: {}", String::from_utf8_lossy(&err));
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Starts node `i` again (same account and data) on 127.0.0.1, bootstrapping from `from`.
    async fn restart(&mut self, i: usize, from: Option<usize>) {
        let boot = match from {
            Some(j) => p2p_addresses(&self.nodes[j]).await.unwrap(),
            None => Vec::new(),
        };
        let (photon, name) = (Path::new(PHOTON), self.nodes[i].name);
        let node =
            start_node(photon, &self.net, i, name, self.dir.path(), &self.deployment, &boot).await;
        self.nodes[i] = node.unwrap();
    }
}

/// Open without deposit, deposits later by both sides, payments both ways, a withdrawal
/// without closing (new epoch, payments go on; a close with a proof from before it is refused
/// on chain), then a cooperative settlement: tokens on chain at once, no settle window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_withdraw_and_cooperative_settle_between_processes() {
    let w = world(&["Bob", "Alice"], 1_000).await;
    let (bob, alice) = (0, 1);
    w.open(alice, bob, None).await;
    w.balances(alice, bob, (0, 0)).await;
    w.patch(alice, bob, json!({ "deposit": "100" })).await;
    w.patch(bob, alice, json!({ "deposit": 50 })).await;
    w.balances(alice, bob, (100, 50)).await;
    w.pay(alice, bob, 30, None).await;
    w.balances(alice, bob, (70, 80)).await;
    let (a, b) = (w.addr(alice), w.addr(bob));
    let old_epoch = w.net.epoch(a, b).await.unwrap();
    let before_withdraw = w.net.balance(b).await.unwrap();
    let (token, alice_address) = (format!("{:?}", w.token), format!("{:?}", w.addr(alice)));
    w.cli(bob, &["withdraw", &token, &alice_address, "20"]);
    w.balances(alice, bob, (70, 60)).await;
    assert_eq!(w.net.balance(b).await.unwrap() - before_withdraw, 20);
    assert!(w.net.epoch(a, b).await.unwrap() > old_epoch, "the withdrawal moved the epoch");
    // Bob tries to close with Alice's proof from before the withdrawal (it would count the
    // 30 again on top of the withdrawn 20): the contract refuses it, nothing changes.
    // (node i signs with dev account i + 1)
    let (old, signature) = w.net.balance_proof(alice + 1, b, old_epoch, 1, 30, 0, B256::ZERO);
    let refused =
        send(w.net.network.closeChannel(w.token, a, old, signature.0.to_vec().into()).from(b))
            .await
            .unwrap_err();
    assert!(refused.to_string().contains("InvalidSignature"), "{refused}");
    w.balances(alice, bob, (70, 60)).await;
    w.pay(bob, alice, 5, None).await;
    w.balances(alice, bob, (75, 55)).await;
    let before = w.on_chain(alice, bob).await;
    // the history, through the CLI: Alice sent 30, then received 5
    let history = w.cli(alice, &["payments", "--token", &token]);
    let rows: Vec<Vec<&str>> =
        history.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let kinds: Vec<(&str, &str)> = rows.iter().map(|r| (r[1], r[2])).collect();
    assert_eq!(kinds, vec![("received", "5"), ("sent", "30")], "{history}");
    let received = w.cli(alice, &["payments", "--direction", "received"]);
    assert_eq!(received.lines().count(), 2, "{received}");
    w.cli(alice, &["settle", &token, &format!("{:?}", w.addr(bob))]);
    w.gone(alice, bob).await;
    w.gone(bob, alice).await;
    let after = w.on_chain(alice, bob).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (75, 55));
}

/// Bob cannot forward (Bob–Charlie is too small): he disposes the lock, Alice reroutes through
/// Dave at once, Dave charges his fee, and Charlie receives exactly the amount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disposal_reroute_and_fees_between_processes() {
    let w = world(&["Bob", "Alice", "Charlie", "Dave"], 1_000).await;
    let (bob, alice, charlie, dave) = (0, 1, 2, 3);
    w.open(alice, bob, Some(100)).await;
    w.open(bob, charlie, Some(5)).await;
    w.open(alice, dave, Some(100)).await;
    w.open(dave, charlie, Some(100)).await;
    w.balances(alice, bob, (100, 0)).await;
    w.balances(bob, charlie, (5, 0)).await;
    w.balances(alice, dave, (100, 0)).await;
    w.balances(dave, charlie, (100, 0)).await;
    w.call(
        dave,
        reqwest::Method::PUT,
        "/api/v1/fees",
        json!({ "flat": "2", "proportional_ppm": 0 }),
    )
    .await;
    let routes = json!([
        [w.addr(alice), w.addr(bob), w.addr(charlie)],
        { "path": [w.addr(alice), w.addr(dave), w.addr(charlie)], "fee": "2" }
    ]);
    let outcome = w.pay(alice, charlie, 20, Some(routes)).await;
    assert_eq!(outcome["fee"], "2");
    w.balances(alice, dave, (78, 22)).await;
    w.balances(dave, charlie, (80, 20)).await;
    w.balances(alice, bob, (100, 0)).await;
    w.balances(bob, charlie, (5, 0)).await;
    let history = request(
        reqwest::Method::GET,
        format!("{}/api/v1/payments?direction=received", w.nodes[charlie].url),
        None,
    )
    .await
    .unwrap();
    assert_eq!(history[0]["amount"], 20, "the target gets the exact amount");
}

/// Bob turns dishonest: with his node stopped he closes the channel himself, presenting an old
/// balance proof of Alice's and hoping his own transfers to Alice are forgotten. Alice's node
/// sees the close, submits Bob's latest proof in the settle window, settles, and the payout
/// counts every transfer Bob made to her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_close_is_answered_by_the_honest_update() {
    let mut w = world(&["Alice", "Bob"], 1_000).await;
    let (alice, bob) = (0, 1);
    w.open(alice, bob, Some(100)).await;
    w.balances(alice, bob, (100, 0)).await;
    w.patch(bob, alice, json!({ "deposit": "80" })).await;
    w.balances(alice, bob, (100, 80)).await;
    w.pay(alice, bob, 10, None).await; // Alice's proof nonce 1: transferred 10
    w.balances(alice, bob, (90, 90)).await;
    w.pay(bob, alice, 30, None).await; // Bob's proof: transferred 30
    w.balances(alice, bob, (120, 60)).await;
    w.pay(alice, bob, 5, None).await; // Alice's proof nonce 2: transferred 15
    w.balances(alice, bob, (115, 65)).await;

    // Bob's node goes away; Bob closes by hand with Alice's nonce-1 proof
    w.kill(bob);
    let (a, b) = (w.addr(alice), w.addr(bob));
    let before = w.tokens_of(a, b).await;
    let epoch = w.net.epoch(a, b).await.unwrap();
    // node i signs with dev account i + 1
    let (stale, signature) = w.net.balance_proof(alice + 1, b, epoch, 1, 10, 0, B256::ZERO);
    send(w.net.network.closeChannel(w.token, a, stale, signature.0.to_vec().into()).from(b))
        .await
        .unwrap();

    // Alice's node updates with Bob's proof and settles once the windows are over
    w.mine_until_gone(alice, bob).await;
    let after = w.tokens_of(a, b).await;
    // Alice sent 10 (the stale proof Bob chose) and received Bob's 30; without her update
    // Bob's 30 would have stayed his and the payout would be (90, 90)
    assert_eq!((after.0 - before.0, after.1 - before.1), (120, 60));
    let channel_events = w.net.network.BalanceProofUpdated_filter().from_block(0).query().await;
    assert_eq!(channel_events.unwrap().len(), 1, "Alice's node sent exactly one update");
}

/// Charlie, the target, has revealed the secret, but Bob, his payer, vanishes just before
/// unlocking it (his process dies and stays down). Charlie closes the channel; his node
/// registers the secret on chain at once, claims the lock before the settle window ends and
/// settles: Charlie is paid the full amount on chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_is_paid_on_chain_when_its_payer_vanishes() {
    let crash: &[(&str, &str)] = &[("PHOTON_CRASH_AT", "before_send:Unlock")];
    let mut w = world_env(&["Alice", "Bob", "Charlie"], 1_000, Some((1, crash))).await;
    let (alice, bob, charlie) = (0, 1, 2);
    w.open(alice, bob, Some(100)).await;
    w.open(bob, charlie, Some(50)).await;
    w.balances(alice, bob, (100, 0)).await;
    w.balances(bob, charlie, (50, 0)).await;
    let url = format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[alice].url, w.token, w.addr(charlie));
    let pay = tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let _ = client.post(url).json(&json!({ "amount": "20" })).send().await;
    });
    for _ in 0..600 {
        if w.nodes[bob].child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(w.nodes[bob].child.try_wait().unwrap().is_some(), "Bob's node died before unlocking");
    let _ = pay.await;
    let charlie_view = channel(&w.nodes[charlie], w.token, w.addr(bob)).await.unwrap().unwrap();
    assert_eq!(charlie_view["partner_locked"], "20", "Charlie holds Bob's lock: {charlie_view}");

    let (b, c) = (w.addr(bob), w.addr(charlie));
    let before = w.tokens_of(b, c).await;
    w.patch(charlie, bob, json!({ "state": "closed" })).await;
    w.mine_until_gone(charlie, bob).await;
    let after = w.tokens_of(b, c).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (30, 20), "Charlie got his 20");
    let unlocks = w.net.network.ChannelUnlocked_filter().from_block(0).query().await.unwrap();
    assert_eq!(unlocks.len(), 1, "one on-chain unlock");
    assert_eq!(unlocks[0].0.claimed, 20);
}

/// Bob cannot forward Alice's lock to Charlie and signs it away as disposed; the payment fails.
/// Then Bob turns dishonest: with his node down and the secret public, he closes with Alice's
/// older proof that still holds the lock and claims it on chain. Alice's node answers with
/// Bob's signed disposal; the contract gives her the whole channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_a_disposed_lock_on_chain_forfeits_the_channel() {
    use alloy::primitives::{B256, U256};
    use photon_chain::devnet::send;
    use photon_primitives::lock::{encode_locks, locksroot};
    use photon_primitives::{Lock, Secret};

    let mut w = world(&["Alice", "Bob", "Charlie"], 1_000).await;
    let (alice, bob, charlie) = (0, 1, 2);
    w.open(alice, bob, Some(100)).await;
    w.open(bob, charlie, Some(5)).await;
    w.balances(alice, bob, (100, 0)).await;
    w.patch(bob, alice, json!({ "deposit": "50" })).await;
    w.balances(alice, bob, (100, 50)).await;
    w.balances(bob, charlie, (5, 0)).await;
    // Alice's node is at the head, so her lock expires at head + lock_timeout (50)
    let head = w.net.block_number().await.unwrap();
    for _ in 0..200 {
        let s = w.call(alice, reqwest::Method::GET, "/api/v1/status", Value::Null).await;
        if s["block"].as_u64() == Some(head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secret = Secret(B256::repeat_byte(0x5e));
    let url = format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[alice].url, w.token, w.addr(charlie));
    let body = json!({
        "amount": "20",
        "secret": secret.0,
        "routes": [[w.addr(alice), w.addr(bob), w.addr(charlie)]],
    });
    let outcome = request(reqwest::Method::POST, url, Some(body)).await;
    assert!(outcome.is_err(), "Bob disposed the lock, no other route: {outcome:?}");
    w.balances(alice, bob, (100, 50)).await;

    // Bob, by hand
    w.kill(bob);
    let (a, b) = (w.addr(alice), w.addr(bob));
    let lock = Lock { amount: 20, expiration: head + 50, secrethash: secret.hash() };
    send(w.net.registry.registerSecret(secret.0)).await.unwrap();
    let epoch = w.net.epoch(a, b).await.unwrap();
    let (stale, signature) = w.net.balance_proof(alice + 1, b, epoch, 1, 0, 20, locksroot(&[lock]));
    send(w.net.network.closeChannel(w.token, a, stale, signature.0.to_vec().into()).from(b))
        .await
        .unwrap();
    let locks = encode_locks(&[lock]).into();
    let never = photon_chain::bindings::TokensNetwork::UnlockState {
        claimed: U256::ZERO,
        direct: U256::ZERO,
        voided: U256::ZERO,
    };
    send(w.net.network.unlock(w.token, a, locks, U256::ZERO, never).from(b)).await.unwrap();

    let before = w.tokens_of(a, b).await;
    w.mine_until_gone(alice, bob).await;
    let punished = w.net.network.ObsoleteUnlockPunished_filter().from_block(0).query().await;
    assert_eq!(punished.unwrap().len(), 1, "Alice's node punished Bob");
    let after = w.tokens_of(a, b).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (150, 0), "Alice gets the whole channel");
}

/// Deposits without an approve: an ERC223 token's `transfer` with data opens and funds a
/// channel in one transaction (tokenFallback), and so does `approveAndCall` (receiveApproval);
/// both sides deposit, and payments run over both channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erc223_and_approve_and_call_deposits_between_processes() {
    use alloy::primitives::U256;
    use photon_chain::bindings::{TestApproveAndCallToken, TestERC223};
    use photon_chain::devnet::send;

    let w = world(&["Alice", "Bob"], 1_000).await;
    let (alice, bob) = (0, 1);
    let (a, b) = (w.addr(alice), w.addr(bob));
    let deployed = TestERC223::deploy_builder(&w.net.provider, "T223".into(), "T223".into())
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let t223 = TestERC223::new(deployed.contract_address.unwrap(), w.net.provider.clone());
    let deployed =
        TestApproveAndCallToken::deploy_builder(&w.net.provider, "TAAC".into(), "TAAC".into())
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    let taac =
        TestApproveAndCallToken::new(deployed.contract_address.unwrap(), w.net.provider.clone());
    for who in [a, b] {
        send(t223.mint(who, U256::from(500))).await.unwrap();
        send(taac.mint(who, U256::from(500))).await.unwrap();
    }
    let (t223, taac) = (*t223.address(), *taac.address());
    let channel_path =
        |token: Address, partner: Address| format!("/api/v1/channels/{token:?}/{partner:?}");

    for (token, via) in [(t223, "erc223"), (taac, "approve_and_call")] {
        let open = json!({ "token": token, "partner": b, "deposit": "40", "via": via });
        w.call(alice, reqwest::Method::PUT, "/api/v1/channels", open).await;
        let deposit = json!({ "deposit": "25", "via": via });
        w.call(bob, reqwest::Method::PATCH, &channel_path(token, a), deposit).await;
        await_balances(&w.nodes[alice], token, b, (40, 25)).await.unwrap();
        await_balances(&w.nodes[bob], token, a, (25, 40)).await.unwrap();
        let path = format!("/api/v1/payments/{token:?}/{b:?}");
        w.call(alice, reqwest::Method::POST, &path, json!({ "amount": "15" })).await;
        await_balances(&w.nodes[alice], token, b, (25, 40)).await.unwrap();
        await_balances(&w.nodes[bob], token, a, (40, 25)).await.unwrap();
    }
    // one transaction each: no approval is left behind, every token moved into the contract
    let tn = w.net.deployment.tokens_network;
    let t = TestERC223::new(t223, w.net.provider.clone());
    assert_eq!(t.balanceOf(tn).call().await.unwrap(), U256::from(65));
    assert_eq!(t.balanceOf(a).call().await.unwrap(), U256::from(460));
    let t = TestApproveAndCallToken::new(taac, w.net.provider.clone());
    assert_eq!(t.balanceOf(tn).call().await.unwrap(), U256::from(65));
    assert_eq!(t.allowance(b, tn).call().await.unwrap(), U256::ZERO);

    // bad input is refused with a reason and changes nothing
    let url = format!("{}{}", w.nodes[bob].url, channel_path(t223, a));
    for body in [json!({ "deposit": "5", "via": "airdrop" }), json!({ "via": "erc223" })] {
        let refused = request(reqwest::Method::PATCH, url.clone(), Some(body)).await;
        assert!(refused.is_err(), "{refused:?}");
    }
    // a plain ERC20 has no tokenFallback path: the node reports the failure
    let url = format!("{}{}", w.nodes[bob].url, channel_path(w.token, a));
    let refused =
        request(reqwest::Method::PATCH, url, Some(json!({ "deposit": "5", "via": "erc223" })))
            .await;
    assert!(refused.is_err(), "{refused:?}");
    await_balances(&w.nodes[bob], t223, a, (40, 25)).await.unwrap();
}

/// A local network without internet (the whitepaper's meshbox case). Alice and Bob opened
/// their channel while online; now each node runs on a host of a two-host network made of
/// network namespaces, with no way to the chain and no bootstrap peer. The nodes start from
/// their stored state, find each other by mDNS, and Alice pays Bob 30 with the `photon pay`
/// command. Back online, Bob closes and the chain pays out what was paid offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_network_without_internet_pays_over_its_channels() {
    if netns::skip() {
        return;
    }
    let mut w = world(&["Alice", "Bob"], 1_000).await;
    let (alice, bob) = (0, 1);
    w.open(alice, bob, Some(100)).await;
    w.balances(alice, bob, (100, 0)).await;

    let lan = Lan::create("mesh").expect("a local network in namespaces");
    let photon = Path::new(PHOTON);
    let mut offline = Vec::new();
    for i in [alice, bob] {
        w.kill(i);
        let name = w.nodes[i].name;
        let node = start_node_on_lan(photon, &lan, i, &w.net, i, name, w.dir.path(), &w.deployment);
        offline.push(node.await.unwrap());
    }
    let client = |host: usize, args: &[&str]| {
        let output =
            lan.command(host, photon).args(args).args(["--api", &offline[host].url]).output();
        let output = output.unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (output.status.success(), text(&output.stdout), text(&output.stderr))
    };
    // the nodes find each other and know the chain is out of reach
    let mut found = false;
    for _ in 0..300 {
        let (ok, out, _) = client(alice, &["status"]);
        let status: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        if ok && status["peers"].as_u64() >= Some(1) {
            assert_eq!(status["chain_reachable"], json!(false), "{status}");
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(found, "Alice's node found no peer on the local network");
    let (token, bob_address) = (format!("{:?}", w.token), format!("{:?}", w.addr(bob)));
    let (ok, out, err) = client(alice, &["pay", &token, &bob_address, "30"]);
    assert!(ok, "{out}{err}");
    // Bob's node has it: the line of his channel with Alice reads balance 30, partner 70
    let alice_address = format!("{:?}", w.addr(alice));
    let mut paid = false;
    for _ in 0..100 {
        let (_, table, _) = client(bob, &["channels"]);
        let row: Vec<String> = table
            .lines()
            .find(|l| l.to_lowercase().contains(&alice_address.to_lowercase()))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        if row.get(3..5) == Some(&["30".to_string(), "70".to_string()][..]) {
            paid = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paid, "Bob's node did not see the payment");
    drop(offline); // both nodes stop
    drop(lan);

    // back online: the nodes catch up with the chain; Bob closes; the chain pays out
    w.restart(alice, None).await;
    w.restart(bob, Some(alice)).await;
    w.balances(alice, bob, (70, 30)).await;
    let before = w.on_chain(alice, bob).await;
    w.patch(bob, alice, json!({ "state": "closed" })).await;
    w.mine_until_gone(alice, bob).await;
    let after = w.on_chain(alice, bob).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (70, 30));
}

/// Alice and Bob, Bob's node delegating to a monitoring service; Alice has opened their
/// channel with 100 and paid Bob 10.
async fn monitored() -> (World, NodeProcess) {
    let port = free_port().unwrap();
    let monitor_url = format!("http://127.0.0.1:{port}");
    let env = [("PHOTON_MONITOR", monitor_url.as_str())];
    let w = world_env(&["Alice", "Bob"], 1_000, Some((1, &env))).await;
    let (alice, bob) = (0, 1);
    let photon = Path::new(PHOTON);
    let monitor = start_monitor(photon, &w.net, w.dir.path(), &w.deployment, port).await.unwrap();
    w.open(alice, bob, Some(100)).await;
    w.balances(alice, bob, (100, 0)).await;
    w.pay(alice, bob, 10, None).await;
    (w, monitor)
}

/// Waits until the monitoring service keeps `who`'s delegation with nonce `nonce`.
async fn delegated(monitor: &NodeProcess, who: Address, nonce: u64) {
    let url = format!("{}/api/v1/delegations/{who:?}", monitor.url);
    for _ in 0..100 {
        let kept = request(reqwest::Method::GET, url.clone(), None).await.unwrap();
        if kept[0]["nonce"] == json!(nonce) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the monitoring service never got {who}'s delegation with nonce {nonce}");
}

/// Bob's node hands each of Alice's balance proofs to a monitoring service, then goes offline
/// for good. Alice closes the channel with nothing of Bob's to show for her payments to him;
/// the service submits her latest proof for Bob inside the settle window, and settles: Bob is
/// paid on chain what Alice paid him, though his node never came back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitoring_service_guards_an_offline_node() {
    let (mut w, monitor) = monitored().await;
    let (alice, bob) = (0, 1);
    w.pay(alice, bob, 20, None).await;
    w.balances(alice, bob, (70, 30)).await;
    // the service has Bob's delegation of Alice's latest proof (nonce 2)
    delegated(&monitor, w.addr(bob), 2).await;
    // what does not prove itself is refused, and changes nothing
    let url = format!("{}/api/v1/delegations", monitor.url);
    let forged = json!({
        "token": w.token, "participant": w.addr(bob), "partner": w.addr(alice), "epoch": 1,
        "nonce": 9, "transferred_amount": "100", "locked_amount": "0",
        "locksroot": B256::ZERO, "additional_hash": B256::ZERO,
        "partner_signature": format!("0x{}", "11".repeat(65)),
        "update_consent": format!("0x{}", "22".repeat(65)),
    });
    for body in [json!({ "nonce": "x" }), forged] {
        let refused = request(reqwest::Method::PUT, url.clone(), Some(body)).await.unwrap_err();
        assert!(refused.to_string().contains("400"), "{refused}");
    }
    let status = request(reqwest::Method::GET, format!("{}/api/v1/status", monitor.url), None);
    assert_eq!(status.await.unwrap()["delegations"], json!(1));
    w.kill(bob);
    let before = w.on_chain(alice, bob).await;
    w.patch(alice, bob, json!({ "state": "closed" })).await;
    w.mine_until_gone(alice, bob).await;
    let after = w.on_chain(alice, bob).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (70, 30), "without the service: (100, 0)");
    let updates = w.net.network.BalanceProofUpdated_filter().from_block(0).query().await.unwrap();
    assert_eq!(updates.len(), 1, "the service submitted Alice's proof for Bob");
}

/// The service also claims an offline node's locks. Alice pays Bob 20 under a lock whose
/// secret only the test knows, so the lock stays pending; Bob's node delegates Alice's proof
/// with the lock, then goes away, and so does Alice's node. The secret is registered on chain;
/// Alice closes by hand. The service submits Alice's proof for Bob, unlocks the lock late in
/// the settle window and settles: Bob gets the 10 paid before and the 20 of the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitoring_service_claims_an_offline_nodes_locks() {
    use photon_primitives::Secret;
    let (mut w, monitor) = monitored().await;
    let (alice, bob) = (0, 1);
    let secret = Secret(B256::repeat_byte(0x5e));
    let pay = format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[alice].url, w.token, w.addr(bob));
    let body = json!({ "amount": "20", "secret_hash": secret.hash().0 });
    // the payment cannot finish (nobody gives Bob the secret): do not wait for it
    tokio::spawn(request(reqwest::Method::POST, pay, Some(body)));
    delegated(&monitor, w.addr(bob), 2).await;
    w.kill(bob);
    w.kill(alice);
    let (a, b) = (w.addr(alice), w.addr(bob));
    let before = w.tokens_of(a, b).await;
    send(w.net.registry.registerSecret(secret.0)).await.unwrap();
    let nothing = photon_chain::bindings::TokensNetwork::BalanceData {
        transferredAmount: 0,
        lockedAmount: 0,
        locksroot: B256::ZERO,
        nonce: 0,
        additionalHash: B256::ZERO,
    };
    send(w.net.network.closeChannel(w.token, b, nothing, Default::default()).from(a))
        .await
        .unwrap();
    let mut settled = false;
    for _ in 0..200 {
        w.net.mine(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        let info = w.net.network.getChannelInfo(w.token, a, b).call().await.unwrap();
        if info.state == 0 {
            settled = true;
            break;
        }
    }
    assert!(settled, "the service settled the channel");
    let after = w.tokens_of(a, b).await;
    assert_eq!((after.0 - before.0, after.1 - before.1), (70, 30));
    let unlocks = w.net.network.ChannelUnlocked_filter().from_block(0).query().await.unwrap();
    assert_eq!(unlocks.len(), 1, "the service claimed the lock for Bob");
}

/// "A channel never jams" with real processes: thirty payments Bob → Charlie locked with a
/// secret nobody knows all expire; Charlie's node acts on the chain four blocks behind Bob's,
/// so Bob's removals of the expired locks reach him before they expired by his confirmed block.
/// He answers "not yet", the transport tries again, nothing is refused or lost: afterwards
/// payments flow both ways and both ends agree. Every one of the thirty requests fails cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_locks_reach_a_lagging_receiver_and_the_channel_goes_on() {
    let w = world_opts(&["Bob", "Charlie"], 1_000, None, Some((1, 4))).await;
    let (bob, charlie) = (0, 1);
    w.open(bob, charlie, Some(500)).await;
    w.net.mine(5).await.unwrap(); // Charlie sees the channel four blocks late
    w.balances(bob, charlie, (500, 0)).await;
    let url = format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[bob].url, w.token, w.addr(charlie));
    let mut requests = Vec::new();
    for i in 0..30u8 {
        let body = json!({ "amount": "5", "secret_hash": B256::repeat_byte(0x40 + i) });
        let request = reqwest::Client::new().post(&url).json(&body);
        requests.push(tokio::spawn(request.send()));
    }
    for _ in 0..600 {
        let c = channel(&w.nodes[charlie], w.token, w.addr(bob)).await.unwrap();
        if c.is_some_and(|c| c["partner_locked"] == "150") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // the locks expire (lock timeout 50, removal margin 2); Charlie is four blocks behind
    w.net.mine(55).await.unwrap();
    for _ in 0..100 {
        w.net.mine(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let c = channel(&w.nodes[charlie], w.token, w.addr(bob)).await.unwrap();
        if c.is_some_and(|c| c["partner_locked"] == "0") {
            break;
        }
    }
    for request in requests {
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer.status().as_u16(), 409, "the payment failed cleanly");
    }
    w.pay(bob, charlie, 7, None).await;
    w.pay(charlie, bob, 2, None).await;
    w.balances(bob, charlie, (495, 5)).await;
    for (a, b) in [(bob, charlie), (charlie, bob)] {
        let c = channel(&w.nodes[a], w.token, w.addr(b)).await.unwrap().unwrap();
        assert_eq!((c["locked"].as_str(), c["partner_locked"].as_str()), (Some("0"), Some("0")));
        assert!(c["attention"].is_null(), "nothing was refused: {c}");
    }
}

/// "A channel never jams" with real processes: Bob's node is down for longer than a lock
/// lives while Alice pays him directly and pays Charlie through him. The direct payments wait
/// (they have not succeeded while Bob does not have them); the mediated payment's lock expires
/// and the payment fails back to Alice. When Bob is back, everything reaches him in order: the
/// late lock is taken and given back, its removal is taken, the direct payments arrive; nothing
/// is refused, and payments flow again both ways and through Bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_down_longer_than_a_lock_lives_gets_everything_in_order() {
    let mut w = world(&["Alice", "Bob", "Charlie"], 1_000).await;
    let (alice, bob, charlie) = (0, 1, 2);
    w.open(alice, bob, Some(100)).await;
    w.open(bob, charlie, Some(100)).await;
    w.balances(alice, bob, (100, 0)).await;
    w.balances(bob, charlie, (100, 0)).await;
    w.kill(bob);
    let post = |target: usize, amount: &str| {
        let url =
            format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[alice].url, w.token, w.addr(target));
        tokio::spawn(reqwest::Client::new().post(url).json(&json!({ "amount": amount })).send())
    };
    let direct = [post(bob, "3"), post(bob, "4")];
    let mediated = post(charlie, "10");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(direct.iter().all(|r| !r.is_finished()), "not succeeded while Bob is down");
    // longer than the lock lives (50 blocks, then the removal margin)
    for _ in 0..60 {
        w.net.mine(1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let failed = mediated.await.unwrap().unwrap();
    assert_eq!(failed.status().as_u16(), 409, "the mediated payment fails back to Alice");
    // Bob is back (same database), reached through Alice
    let photon = Path::new(PHOTON);
    let boot = p2p_addresses(&w.nodes[alice]).await.unwrap();
    let (dir, deployment) = (w.dir.path().to_path_buf(), w.deployment.clone());
    w.nodes[bob] = start_node(photon, &w.net, bob, "Bob", &dir, &deployment, &boot).await.unwrap();
    for request in direct {
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer.status().as_u16(), 200, "succeeded once Bob has it");
    }
    w.balances(alice, bob, (93, 7)).await;
    w.pay(alice, charlie, 10, None).await;
    w.pay(bob, alice, 1, None).await;
    w.balances(alice, bob, (84, 16)).await;
    w.balances(bob, charlie, (90, 10)).await;
    for (a, b) in [(alice, bob), (bob, alice), (bob, charlie)] {
        let c = channel(&w.nodes[a], w.token, w.addr(b)).await.unwrap().unwrap();
        assert!(c["attention"].is_null(), "nothing was refused: {c}");
        assert_eq!(c["locked"], "0");
    }
}
