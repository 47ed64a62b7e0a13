//! End-to-end scenarios with the real `photon` binary: separate processes on 127.0.0.1 over
//! libp2p, against anvil, driven through their REST APIs.

use alloy::primitives::B256;
use anyhow::Result;
use photon_primitives::Address;
use photon_primitives::Locksroot;
use photon_primitives::TokenAmount;
use photon_testkit::devnet::send;
use photon_testkit::netns::{self, Lan};
use photon_testkit::nodes::{free_port, request, NodeProcess};
use photon_testkit::poll::{eventually_within, until};
use photon_testkit::{World, WorldSpec};
use serde_json::{json, Value};
use std::time::Duration;

const PHOTON: &str = env!("CARGO_BIN_EXE_photon");

/// A dev chain and nodes called `names`, 1,000 tokens each; the first is the hub the others
/// bootstrap from.
fn world(names: &[&'static str]) -> WorldSpec {
    World::build(PHOTON, names).funds(1_000)
}

/// Open without deposit, deposits later by both sides, payments both ways, a withdrawal
/// without closing (new epoch, payments go on; a close with a proof from before it is refused
/// on chain), then a cooperative settlement: tokens on chain at once, no settle window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_withdraw_and_cooperative_settle_between_processes() -> Result<()> {
    let w = world(&["Bob", "Alice"]).start().await?;
    let (bob, alice) = (0, 1);
    w.open(alice, bob, None).await?;
    w.balances(alice, bob, (0, 0)).await?;
    w.patch(alice, bob, json!({ "deposit": "100" })).await?;
    w.patch(bob, alice, json!({ "deposit": 50 })).await?;
    w.balances(alice, bob, (100, 50)).await?;
    w.pay(alice, bob, 30, None).await?;
    w.balances(alice, bob, (70, 80)).await?;
    let (a, b) = (w.addr(alice), w.addr(bob));
    let old_epoch = w.net.epoch(a, b).await.unwrap();
    let before_withdraw = w.net.balance(b).await.unwrap();
    let (token, alice_address) = (format!("{:?}", w.token), format!("{:?}", w.addr(alice)));
    w.cli(bob, &["withdraw", &token, &alice_address, "20"])?;
    w.balances(alice, bob, (70, 60)).await?;
    assert_eq!(w.net.balance(b).await.unwrap() - before_withdraw, 20);
    assert!(w.net.epoch(a, b).await.unwrap() > old_epoch, "the withdrawal moved the epoch");
    // Bob tries to close with Alice's proof from before the withdrawal (it would count the
    // 30 again on top of the withdrawn 20): the contract refuses it, nothing changes.
    // (node i signs with dev account i + 1)
    let (old, signature) =
        w.net.balance_proof(alice + 1, b, old_epoch, 1, 30, 0, Locksroot(B256::ZERO));
    let refused =
        send(w.net.network.closeChannel(w.token, a, old, signature.0.to_vec().into()).from(b))
            .await
            .unwrap_err();
    assert!(refused.to_string().contains("InvalidSignature"), "{refused}");
    w.balances(alice, bob, (70, 60)).await?;
    w.pay(bob, alice, 5, None).await?;
    w.balances(alice, bob, (75, 55)).await?;
    let before = w.on_chain(alice, bob).await?;
    // the history, through the CLI: Alice sent 30, then received 5
    let history = w.cli(alice, &["payments", "--token", &token])?;
    let rows: Vec<Vec<&str>> =
        history.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    // (a local date, time and offset come first)
    let kinds: Vec<(&str, &str)> = rows.iter().map(|r| (r[3], r[4])).collect();
    assert_eq!(kinds, vec![("received", "5"), ("sent", "30")], "{history}");
    let received = w.cli(alice, &["payments", "--direction", "received"])?;
    assert_eq!(received.lines().count(), 2, "{received}");
    w.cli(alice, &["settle", &token, &format!("{:?}", w.addr(bob))])?;
    w.gone(alice, bob).await?;
    w.gone(bob, alice).await?;
    let after = w.on_chain(alice, bob).await?;
    assert_eq!((after.0 - before.0, after.1 - before.1), (75, 55));
    Ok(())
}

/// Bob cannot forward (Bob–Charlie is too small): he disposes the lock, Alice reroutes through
/// Dave at once, Dave charges his fee, and Charlie receives exactly the amount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disposal_reroute_and_fees_between_processes() -> Result<()> {
    let w = world(&["Bob", "Alice", "Charlie", "Dave"]).start().await?;
    let (bob, alice, charlie, dave) = (0, 1, 2, 3);
    let channels = [(alice, bob, 100), (bob, charlie, 5), (alice, dave, 100), (dave, charlie, 100)];
    w.open_channels(&channels).await?;
    let fees = json!({ "flat": "2", "proportional_ppm": 0 });
    w.call(dave, reqwest::Method::PUT, "/api/v1/fees", Some(fees)).await?;
    let routes = json!([
        [w.addr(alice), w.addr(bob), w.addr(charlie)],
        { "path": [w.addr(alice), w.addr(dave), w.addr(charlie)], "fee": "2" }
    ]);
    let outcome = w.pay(alice, charlie, 20, Some(routes)).await?;
    assert_eq!(outcome["fee"], "2");
    w.balances(alice, dave, (78, 22)).await?;
    w.balances(dave, charlie, (80, 20)).await?;
    w.balances(alice, bob, (100, 0)).await?;
    w.balances(bob, charlie, (5, 0)).await?;
    let history = w.get(charlie, "/api/v1/payments?direction=received").await?;
    assert_eq!(history[0]["amount"], "20", "the target gets the exact amount (a decimal string)");
    Ok(())
}

/// Bob turns dishonest: with his node stopped he closes the channel himself, presenting an old
/// balance proof of Alice's and hoping his own transfers to Alice are forgotten. Alice's node
/// sees the close, submits Bob's latest proof in the settle window, settles, and the payout
/// counts every transfer Bob made to her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_close_is_answered_by_the_honest_update() -> Result<()> {
    let mut w = world(&["Alice", "Bob"]).start().await?;
    let (alice, bob) = (0, 1);
    w.open_channels(&[(alice, bob, 100)]).await?;
    w.patch(bob, alice, json!({ "deposit": "80" })).await?;
    w.balances(alice, bob, (100, 80)).await?;
    w.pay(alice, bob, 10, None).await?; // Alice's proof nonce 1: transferred 10
    w.balances(alice, bob, (90, 90)).await?;
    w.pay(bob, alice, 30, None).await?; // Bob's proof: transferred 30
    w.balances(alice, bob, (120, 60)).await?;
    w.pay(alice, bob, 5, None).await?; // Alice's proof nonce 2: transferred 15
    w.balances(alice, bob, (115, 65)).await?;

    // Bob's node goes away; Bob closes by hand with Alice's nonce-1 proof
    w.kill(bob)?;
    let (a, b) = (w.addr(alice), w.addr(bob));
    let before = w.tokens_of(a, b).await?;
    let epoch = w.net.epoch(a, b).await.unwrap();
    // node i signs with dev account i + 1
    let (stale, signature) =
        w.net.balance_proof(alice + 1, b, epoch, 1, 10, 0, Locksroot(B256::ZERO));
    send(w.net.network.closeChannel(w.token, a, stale, signature.0.to_vec().into()).from(b))
        .await
        .unwrap();

    // Alice's node updates with Bob's proof and settles once the windows are over
    w.mine_until_gone(alice, bob).await?;
    let after = w.tokens_of(a, b).await?;
    // Alice sent 10 (the stale proof Bob chose) and received Bob's 30; without her update
    // Bob's 30 would have stayed his and the payout would be (90, 90)
    assert_eq!((after.0 - before.0, after.1 - before.1), (120, 60));
    let channel_events = w.net.network.BalanceProofUpdated_filter().from_block(0).query().await;
    assert_eq!(channel_events.unwrap().len(), 1, "Alice's node sent exactly one update");
    Ok(())
}

/// Charlie, the target, has revealed the secret, but Bob, his payer, vanishes just before
/// unlocking it (his process dies and stays down). Charlie closes the channel; his node
/// registers the secret on chain at once, claims the lock before the settle window ends and
/// settles: Charlie is paid the full amount on chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_target_is_paid_on_chain_when_its_payer_vanishes() -> Result<()> {
    let crash = "before_send:Unlock";
    let mut w =
        world(&["Alice", "Bob", "Charlie"]).env(1, "PHOTON_CRASH_AT", crash).start().await?;
    let (alice, bob, charlie) = (0, 1, 2);
    w.open_channels(&[(alice, bob, 100), (bob, charlie, 50)]).await?;
    w.synced(alice).await?; // Alice routes over the channels she has seen on chain
    let url = format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[alice].url, w.token, w.addr(charlie));
    let pay = tokio::spawn(async move {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let _ = client.post(url).json(&json!({ "amount": "20" })).send().await;
    });
    until("Bob's node to die before unlocking", async || {
        Ok(w.nodes[bob].child.try_wait()?.is_some())
    })
    .await?;
    let _ = pay.await;
    let charlie_view = w.channel(charlie, bob).await?.unwrap();
    assert_eq!(charlie_view["partner_locked"], "20", "Charlie holds Bob's lock: {charlie_view}");

    let (b, c) = (w.addr(bob), w.addr(charlie));
    let before = w.tokens_of(b, c).await?;
    w.patch(charlie, bob, json!({ "state": "closed" })).await?;
    w.mine_until_gone(charlie, bob).await?;
    let after = w.tokens_of(b, c).await?;
    assert_eq!((after.0 - before.0, after.1 - before.1), (30, 20), "Charlie got his 20");
    let unlocks = w.net.network.ChannelUnlocked_filter().from_block(0).query().await.unwrap();
    assert_eq!(unlocks.len(), 1, "one on-chain unlock");
    assert_eq!(unlocks[0].0.claimed, 20);
    Ok(())
}

/// Bob cannot forward Alice's lock to Charlie and signs it away as disposed; the payment fails.
/// Then Bob turns dishonest: with his node down and the secret public, he closes with Alice's
/// older proof that still holds the lock and claims it on chain. Alice's node answers with
/// Bob's signed disposal; the contract gives her the whole channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claiming_a_disposed_lock_on_chain_forfeits_the_channel() -> Result<()> {
    use alloy::primitives::{B256, U256};
    use photon_primitives::lock::{encode_locks, locksroot};
    use photon_primitives::{Lock, Secret};
    use photon_testkit::devnet::send;

    let mut w = world(&["Alice", "Bob", "Charlie"]).start().await?;
    let (alice, bob, charlie) = (0, 1, 2);
    w.open_channels(&[(alice, bob, 100), (bob, charlie, 5)]).await?;
    w.deposit(bob, alice, 50).await?;
    w.balances(alice, bob, (100, 50)).await?;
    // Alice's node is at the head, so her lock expires at head + lock_timeout (50)
    let head = w.net.block_number().await?;
    w.synced(alice).await?;
    let secret = Secret(B256::repeat_byte(0x5e));
    let url = format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[alice].url, w.token, w.addr(charlie));
    let body = json!({
        "amount": "20",
        "secret": secret.0,
        "routes": [[w.addr(alice), w.addr(bob), w.addr(charlie)]],
    });
    let outcome = request(reqwest::Method::POST, url, Some(body)).await;
    assert!(outcome.is_err(), "Bob disposed the lock, no other route: {outcome:?}");
    w.balances(alice, bob, (100, 50)).await?;

    // Bob, by hand
    w.kill(bob)?;
    let (a, b) = (w.addr(alice), w.addr(bob));
    let lock = Lock { amount: TokenAmount(20), expiration: head + 50, secrethash: secret.hash() };
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

    let before = w.tokens_of(a, b).await?;
    w.mine_until_gone(alice, bob).await?;
    let punished = w.net.network.ObsoleteUnlockPunished_filter().from_block(0).query().await;
    assert_eq!(punished.unwrap().len(), 1, "Alice's node punished Bob");
    let after = w.tokens_of(a, b).await?;
    assert_eq!((after.0 - before.0, after.1 - before.1), (150, 0), "Alice gets the whole channel");
    Ok(())
}

/// Deposits without an approve: an ERC223 token's `transfer` with data opens and funds a
/// channel in one transaction (tokenFallback), and so does `approveAndCall` (receiveApproval);
/// both sides deposit, and payments run over both channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erc223_and_approve_and_call_deposits_between_processes() -> Result<()> {
    use alloy::primitives::U256;
    use photon_chain::bindings::{TestApproveAndCallToken, TestERC223};
    use photon_testkit::devnet::send;

    let w = world(&["Alice", "Bob"]).start().await?;
    let (alice, bob) = (0, 1);
    let (a, b) = (w.addr(alice), w.addr(bob));
    let t223 = w.net.deploy_erc223("T223").await?;
    let taac = w.net.deploy_approve_and_call("TAAC").await?;
    for who in [a, b] {
        send(t223.mint(who, U256::from(500))).await.unwrap();
        send(taac.mint(who, U256::from(500))).await.unwrap();
    }
    let (t223, taac) = (*t223.address(), *taac.address());
    let channel_path =
        |token: Address, partner: Address| format!("/api/v1/channels/{token:?}/{partner:?}");

    for (token, via) in [(t223, "erc223"), (taac, "approve_and_call")] {
        let open = json!({ "token": token, "partner": b, "deposit": "40", "via": via });
        w.call(alice, reqwest::Method::PUT, "/api/v1/channels", Some(open)).await?;
        let deposit = json!({ "deposit": "25", "via": via });
        w.call(bob, reqwest::Method::PATCH, &channel_path(token, a), Some(deposit)).await?;
        w.nodes[alice].await_balances(token, b, (40, 25)).await?;
        w.nodes[bob].await_balances(token, a, (25, 40)).await?;
        let path = format!("/api/v1/payments/{token:?}/{b:?}");
        w.call(alice, reqwest::Method::POST, &path, Some(json!({ "amount": "15" }))).await?;
        w.nodes[alice].await_balances(token, b, (25, 40)).await?;
        w.nodes[bob].await_balances(token, a, (40, 25)).await?;
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
    w.nodes[bob].await_balances(t223, a, (40, 25)).await?;
    Ok(())
}

/// A local network without internet (the whitepaper's meshbox case). Alice and Bob opened
/// their channel while online; now each node runs on a host of a two-host network made of
/// network namespaces, with no way to the chain and no bootstrap peer. The nodes start from
/// their stored state, find each other by mDNS, and Alice pays Bob 30 with the `photon pay`
/// command. Back online, Bob closes and the chain pays out what was paid offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_network_without_internet_pays_over_its_channels() -> Result<()> {
    if netns::skip() {
        return Ok(());
    }
    let mut w = world(&["Alice", "Bob"]).start().await?;
    let (alice, bob) = (0, 1);
    w.open_channels(&[(alice, bob, 100)]).await?;

    let lan = Lan::create("mesh").expect("a local network in namespaces");
    let mut offline = Vec::new();
    for i in [alice, bob] {
        w.kill(i)?;
        offline.push(w.launch(i, Vec::new()).start_on_lan(&lan, i).await?);
    }
    let client = |host: usize, args: &[&str]| {
        let output = lan
            .command(host, PHOTON)
            .args(args)
            .args(["--api", &offline[host].url, "--raw"])
            .output();
        let output = output.unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (output.status.success(), text(&output.stdout), text(&output.stderr))
    };
    // the nodes find each other and know the chain is out of reach
    let what = "Alice's node to find a peer on the local network";
    let status = eventually_within(Duration::from_secs(150), what, async || {
        let (ok, out, _) = client(alice, &["status"]);
        let status: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        Ok((ok && status["peers"].as_u64() >= Some(1)).then_some(status))
    })
    .await?;
    assert_eq!(status["chain_reachable"], json!(false), "{status}");
    let (token, bob_address) = (format!("{:?}", w.token), format!("{:?}", w.addr(bob)));
    let (ok, out, err) = client(alice, &["pay", &token, &bob_address, "30"]);
    assert!(ok, "{out}{err}");
    // Bob's node has it: the line of his channel with Alice reads balance 30, partner 70
    let alice_address = format!("{:?}", w.addr(alice));
    until("Bob's node to see the payment", async || {
        let (_, table, _) = client(bob, &["channels"]);
        let row: Vec<String> = table
            .lines()
            .find(|l| l.to_lowercase().contains(&alice_address.to_lowercase()))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        Ok(row.get(3..5) == Some(&["30".to_string(), "70".to_string()][..]))
    })
    .await?;
    drop(offline); // both nodes stop
    drop(lan);

    // back online: the nodes catch up with the chain; Bob closes; the chain pays out
    w.restart(alice, None).await?;
    w.restart(bob, Some(alice)).await?;
    w.balances(alice, bob, (70, 30)).await?;
    let before = w.on_chain(alice, bob).await?;
    w.patch(bob, alice, json!({ "state": "closed" })).await?;
    w.mine_until_gone(alice, bob).await?;
    let after = w.on_chain(alice, bob).await?;
    assert_eq!((after.0 - before.0, after.1 - before.1), (70, 30));
    Ok(())
}

/// Alice and Bob, Bob's node delegating to a monitoring service; Alice has opened their
/// channel with 100 and paid Bob 10.
async fn monitored() -> Result<(World, NodeProcess)> {
    let port = free_port()?;
    let monitor_url = format!("http://127.0.0.1:{port}");
    let w = world(&["Alice", "Bob"]).env(1, "PHOTON_MONITOR", &monitor_url).start().await?;
    let (alice, bob) = (0, 1);
    let monitor = w.start_monitor(port).await?;
    w.open_channels(&[(alice, bob, 100)]).await?;
    w.pay(alice, bob, 10, None).await?;
    Ok((w, monitor))
}

/// Waits until the monitoring service keeps `who`'s delegation with nonce `nonce`.
async fn delegated(monitor: &NodeProcess, who: Address, nonce: u64) -> Result<()> {
    let url = format!("{}/api/v1/delegations/{who:?}", monitor.url);
    let what = format!("the monitoring service to get {who}'s delegation with nonce {nonce}");
    until(&what, async || {
        let kept = request(reqwest::Method::GET, url.clone(), None).await?;
        Ok(kept[0]["nonce"] == json!(nonce))
    })
    .await
}

/// Bob's node hands each of Alice's balance proofs to a monitoring service, then goes offline
/// for good. Alice closes the channel with nothing of Bob's to show for her payments to him;
/// the service submits her latest proof for Bob inside the settle window, and settles: Bob is
/// paid on chain what Alice paid him, though his node never came back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitoring_service_guards_an_offline_node() -> Result<()> {
    let (mut w, monitor) = monitored().await?;
    let (alice, bob) = (0, 1);
    w.pay(alice, bob, 20, None).await?;
    w.balances(alice, bob, (70, 30)).await?;
    // the service has Bob's delegation of Alice's latest proof (nonce 2)
    delegated(&monitor, w.addr(bob), 2).await?;
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
    w.kill(bob)?;
    let before = w.on_chain(alice, bob).await?;
    w.patch(alice, bob, json!({ "state": "closed" })).await?;
    w.mine_until_gone(alice, bob).await?;
    let after = w.on_chain(alice, bob).await?;
    assert_eq!((after.0 - before.0, after.1 - before.1), (70, 30), "without the service: (100, 0)");
    let updates = w.net.network.BalanceProofUpdated_filter().from_block(0).query().await.unwrap();
    assert_eq!(updates.len(), 1, "the service submitted Alice's proof for Bob");
    Ok(())
}

/// The service also claims an offline node's locks. Alice pays Bob 20 under a lock whose
/// secret only the test knows, so the lock stays pending; Bob's node delegates Alice's proof
/// with the lock, then goes away, and so does Alice's node. The secret is registered on chain;
/// Alice closes by hand. The service submits Alice's proof for Bob, unlocks the lock late in
/// the settle window and settles: Bob gets the 10 paid before and the 20 of the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitoring_service_claims_an_offline_nodes_locks() -> Result<()> {
    use photon_primitives::Secret;
    let (mut w, monitor) = monitored().await?;
    let (alice, bob) = (0, 1);
    let secret = Secret(B256::repeat_byte(0x5e));
    let pay = format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[alice].url, w.token, w.addr(bob));
    let body = json!({ "amount": "20", "secret_hash": secret.hash().0 });
    // the payment cannot finish (nobody gives Bob the secret): do not wait for it
    tokio::spawn(request(reqwest::Method::POST, pay, Some(body)));
    delegated(&monitor, w.addr(bob), 2).await?;
    w.kill(bob)?;
    w.kill(alice)?;
    let (a, b) = (w.addr(alice), w.addr(bob));
    let before = w.tokens_of(a, b).await?;
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
    w.mine_until(0, "the service to settle the channel", async || {
        Ok(w.net.network.getChannelInfo(w.token, a, b).call().await?.state == 0)
    })
    .await?;
    let after = w.tokens_of(a, b).await?;
    assert_eq!((after.0 - before.0, after.1 - before.1), (70, 30));
    let unlocks = w.net.network.ChannelUnlocked_filter().from_block(0).query().await.unwrap();
    assert_eq!(unlocks.len(), 1, "the service claimed the lock for Bob");
    Ok(())
}

/// "A channel never jams" with real processes: thirty payments Bob → Charlie locked with a
/// secret nobody knows all expire; Charlie's node acts on the chain four blocks behind Bob's,
/// so Bob's removals of the expired locks reach him before they expired by his confirmed block.
/// He answers "not yet", the transport tries again, nothing is refused or lost: afterwards
/// payments flow both ways and both ends agree. Every one of the thirty requests fails cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_locks_reach_a_lagging_receiver_and_the_channel_goes_on() -> Result<()> {
    let w = world(&["Bob", "Charlie"]).lagging(1, 4).start().await?;
    let (bob, charlie) = (0, 1);
    w.open(bob, charlie, Some(500)).await?;
    w.net.mine(5).await.unwrap(); // Charlie sees the channel four blocks late
    w.balances(bob, charlie, (500, 0)).await?;
    let url = format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[bob].url, w.token, w.addr(charlie));
    let mut requests = Vec::new();
    for i in 0..30u8 {
        let body = json!({ "amount": "5", "secret_hash": B256::repeat_byte(0x40 + i) });
        let request = reqwest::Client::new().post(&url).json(&body);
        requests.push(tokio::spawn(request.send()));
    }
    until("Charlie to hold the thirty locks", async || {
        Ok(w.channel(charlie, bob).await?.is_some_and(|c| c["partner_locked"] == "150"))
    })
    .await?;
    // the locks expire (lock timeout 50, removal margin 2); Charlie is four blocks behind
    w.mine_until(55, "the expired locks removed", async || {
        Ok(w.channel(charlie, bob).await?.is_some_and(|c| c["partner_locked"] == "0"))
    })
    .await?;
    for request in requests {
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer.status().as_u16(), 409, "the payment failed cleanly");
    }
    w.pay(bob, charlie, 7, None).await?;
    w.pay(charlie, bob, 2, None).await?;
    w.balances(bob, charlie, (495, 5)).await?;
    for (a, b) in [(bob, charlie), (charlie, bob)] {
        let c = w.channel(a, b).await?.unwrap();
        assert_eq!((c["locked"].as_str(), c["partner_locked"].as_str()), (Some("0"), Some("0")));
        assert!(c["attention"].is_null(), "nothing was refused: {c}");
    }
    Ok(())
}

/// "A channel never jams" with real processes: Bob's node is down for longer than a lock
/// lives while Alice pays him directly and pays Charlie through him. The direct payments wait
/// (they have not succeeded while Bob does not have them); the mediated payment's lock expires
/// and the payment fails back to Alice. When Bob is back, everything reaches him in order: the
/// late lock is taken and given back, its removal is taken, the direct payments arrive; nothing
/// is refused, and payments flow again both ways and through Bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_down_longer_than_a_lock_lives_gets_everything_in_order() -> Result<()> {
    let mut w = world(&["Alice", "Bob", "Charlie"]).start().await?;
    let (alice, bob, charlie) = (0, 1, 2);
    w.open_channels(&[(alice, bob, 100), (bob, charlie, 100)]).await?;
    w.synced(alice).await?; // Alice routes over the channels she has seen on chain
    w.kill(bob)?;
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
    w.restart(bob, Some(alice)).await?;
    for request in direct {
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer.status().as_u16(), 200, "succeeded once Bob has it");
    }
    w.balances(alice, bob, (93, 7)).await?;
    w.pay(alice, charlie, 10, None).await?;
    w.pay(bob, alice, 1, None).await?;
    w.balances(alice, bob, (84, 16)).await?;
    w.balances(bob, charlie, (90, 10)).await?;
    for (a, b) in [(alice, bob), (bob, alice), (bob, charlie)] {
        let c = w.channel(a, b).await?.unwrap();
        assert!(c["attention"].is_null(), "nothing was refused: {c}");
        assert_eq!(c["locked"], "0");
    }
    Ok(())
}

/// Channels for a swap between `alice` and `bob`: 100 of the world's token deposited by
/// Alice, 100 of a new ERC223 token by Bob; the two tokens.
async fn two_token_channels(w: &World, alice: usize, bob: usize) -> Result<(Address, Address)> {
    let (a, b) = (w.addr(alice), w.addr(bob));
    let other = w.net.deploy_erc223("TB").await?;
    send(other.mint(b, alloy::primitives::U256::from(500))).await.unwrap();
    let (token_a, token_b) = (w.token, *other.address());
    w.open(alice, bob, Some(100)).await?;
    let open = json!({ "token": token_b, "partner": a, "deposit": "100", "via": "erc223" });
    w.call(bob, reqwest::Method::PUT, "/api/v1/channels", Some(open)).await?;
    w.balances(alice, bob, (100, 0)).await?;
    w.nodes[alice].await_balances(token_b, b, (0, 100)).await?;
    Ok((token_a, token_b))
}

/// A token swap between two processes: Alice makes it with the CLI (100 of the chain's token
/// for 40 of an ERC223 token), Bob takes it through the API with the hash she gives him; both
/// payments complete. Then a swap Alice cancels before Bob takes it moves nothing, and the
/// API refuses what cannot be a swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_swap_between_processes_through_the_cli_and_the_api() -> Result<()> {
    let w = world(&["Alice", "Bob"]).start().await?;
    let (alice, bob) = (0, 1);
    let (a, b) = (w.addr(alice), w.addr(bob));
    let (token_a, token_b) = two_token_channels(&w, alice, bob).await?;

    let (ta, tb, bob_address) = (format!("{token_a:?}"), format!("{token_b:?}"), format!("{b:?}"));
    let made: Value = serde_json::from_str(
        &w.cli(alice, &["swap", "make", &bob_address, &ta, "30", &tb, "40"])?,
    )?;
    assert_eq!(made["state"], "waiting", "{made}");
    assert_eq!(made["role"], "maker");
    assert!(made.get("secret").is_none(), "the secret is not shown before it is out: {made}");
    let hash = made["secret_hash"].as_str().expect("a secret hash").to_string();
    let take = json!({
        "role": "taker",
        "counterparty": a,
        "send": { "token": token_b, "amount": "40" },
        "receive": { "token": token_a, "amount": "30" },
        "secret_hash": hash,
    });
    let taken = w.call(bob, reqwest::Method::POST, "/api/v1/swaps", Some(take.clone())).await?;
    assert_eq!(taken["role"], "taker");
    let path = format!("/api/v1/swaps/{hash}");
    for i in [alice, bob] {
        until("the swap completed", async || Ok(w.get(i, &path).await?["state"] == "completed"))
            .await?;
    }
    w.balances(alice, bob, (70, 30)).await?;
    w.nodes[bob].await_balances(token_b, a, (60, 40)).await?;
    let done = w.get(alice, &path).await?;
    assert!(done["secret"].is_string(), "shown once out: {done}");
    let listed = w.cli(bob, &["swap", "list"])?;
    assert!(listed.contains("completed") && listed.contains(&hash), "{listed}");
    // over: not cancellable
    let over = w.call(alice, reqwest::Method::DELETE, &path, None).await.unwrap_err();
    assert!(over.to_string().contains("409"), "{over}");

    // a second swap, cancelled by Alice before Bob takes it: nothing moves
    let made: Value =
        serde_json::from_str(&w.cli(alice, &["swap", "make", &bob_address, &ta, "5", &tb, "5"])?)?;
    let hash = made["secret_hash"].as_str().expect("a secret hash").to_string();
    let cancelled: Value = serde_json::from_str(&w.cli(alice, &["swap", "cancel", &hash])?)?;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    let take = json!({ "secret_hash": hash, "send": { "token": token_b, "amount": "5" },
        "receive": { "token": token_a, "amount": "5" }, "role": "taker", "counterparty": a });
    w.call(bob, reqwest::Method::POST, "/api/v1/swaps", Some(take)).await?;
    let path = format!("/api/v1/swaps/{hash}");
    until("Bob's side failed", async || Ok(w.get(bob, &path).await?["state"] == "failed")).await?;
    w.balances(alice, bob, (70, 30)).await?;
    w.nodes[bob].await_balances(token_b, a, (60, 40)).await?;

    // what cannot be a swap is refused, and changes nothing
    let w = &w;
    let refused = |body: Value| async move {
        w.call(alice, reqwest::Method::POST, "/api/v1/swaps", Some(body))
            .await
            .unwrap_err()
            .to_string()
    };
    let same_token = json!({ "role": "maker", "counterparty": b,
        "send": { "token": token_a, "amount": "1" }, "receive": { "token": token_a, "amount": "1" } });
    assert!(refused(same_token).await.contains("409"));
    let maker_with_hash = json!({ "role": "maker", "counterparty": b, "secret_hash": hash,
        "send": { "token": token_a, "amount": "1" }, "receive": { "token": token_b, "amount": "1" } });
    assert!(refused(maker_with_hash).await.contains("400"));
    let taker_without = json!({ "role": "taker", "counterparty": b,
        "send": { "token": token_a, "amount": "1" }, "receive": { "token": token_b, "amount": "1" } });
    assert!(refused(taker_without).await.contains("400"));
    let zero = json!({ "role": "maker", "counterparty": b,
        "send": { "token": token_a, "amount": "0" }, "receive": { "token": token_b, "amount": "1" } });
    assert!(refused(zero).await.contains("400"));
    let unknown = w.get(alice, &format!("/api/v1/swaps/0x{}", "ab".repeat(32))).await.unwrap_err();
    assert!(unknown.to_string().contains("404"), "{unknown}");
    let swaps = w.get(alice, "/api/v1/swaps").await?;
    assert_eq!(swaps.as_array().map(Vec::len), Some(2), "{swaps}");
    Ok(())
}

/// A swap survives crashes of both parties (SIGKILL, restarted from their databases): Alice
/// makes it and Bob's process dies as her lock goes out; restarted, he takes it; Alice's
/// process dies right after, wherever the swap then is; restarted, both complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_survives_crashes_of_both_parties() -> Result<()> {
    let mut w = world(&["Alice", "Bob"]).start().await?;
    let (alice, bob) = (0, 1);
    let (a, b) = (w.addr(alice), w.addr(bob));
    let (token_a, token_b) = two_token_channels(&w, alice, bob).await?;

    let make = json!({
        "role": "maker", "counterparty": b,
        "send": { "token": token_a, "amount": "25" }, "receive": { "token": token_b, "amount": "35" },
    });
    let made = w.call(alice, reqwest::Method::POST, "/api/v1/swaps", Some(make)).await?;
    let hash = made["secret_hash"].as_str().expect("a hash").to_string();
    w.kill(bob)?;
    w.restart(bob, Some(alice)).await?;
    let take = json!({
        "role": "taker", "counterparty": a, "secret_hash": hash,
        "send": { "token": token_b, "amount": "35" }, "receive": { "token": token_a, "amount": "25" },
    });
    w.call(bob, reqwest::Method::POST, "/api/v1/swaps", Some(take)).await?;
    w.kill(alice)?;
    w.restart(alice, Some(bob)).await?;
    let path = format!("/api/v1/swaps/{hash}");
    for i in [alice, bob] {
        until("the swap completed after the restarts", async || {
            Ok(w.get(i, &path).await?["state"] == "completed")
        })
        .await?;
    }
    w.balances(alice, bob, (75, 25)).await?;
    w.nodes[bob].await_balances(token_b, a, (65, 35)).await?;
    Ok(())
}
