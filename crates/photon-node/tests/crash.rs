//! Slim crash recovery: a node process aborts at a named point of a payment (debug builds'
//! `PHOTON_CRASH_AT`) and is restarted from its data directory. After every crash no honest
//! party has lost a token, both ends of every channel agree, every channel is still usable, and
//! the payment either completed or failed cleanly.

use anyhow::{ensure, Result};
use photon_testkit::World;
use serde_json::json;
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

/// The channel of `a` and `b` from `a`'s side: (a's balance, b's balance, pending locks).
async fn view(w: &World, a: usize, b: usize) -> Option<(u128, u128, bool)> {
    let c = w.channel(a, b).await.ok()??;
    let n = |k: &str| c[k].as_str().and_then(|v| v.parse::<u128>().ok());
    Some((n("balance")?, n("partner_balance")?, n("locked")? + n("partner_locked")? > 0))
}

async fn pending(w: &World, i: usize) -> usize {
    w.get(i, "/api/v1/pending_transfers")
        .await
        .map_or(usize::MAX, |v| v.as_array().map_or(0, Vec::len))
}

/// Mines until nothing is in flight and both ends of both channels agree, then returns
/// (Alice–Bob as Alice sees it, Bob–Charlie as Bob sees it).
async fn settle_down(w: &World) -> Result<((u128, u128), (u128, u128))> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ab = view(w, ALICE, BOB).await;
        let ba = view(w, BOB, ALICE).await;
        let bc = view(w, BOB, CHARLIE).await;
        let cb = view(w, CHARLIE, BOB).await;
        if let (Some(ab), Some(ba), Some(bc), Some(cb)) = (ab, ba, bc, cb) {
            let quiet = pending(w, ALICE).await == 0
                && pending(w, BOB).await == 0
                && pending(w, CHARLIE).await == 0;
            if quiet
                && !ab.2
                && !bc.2
                && (ab.0, ab.1) == (ba.1, ba.0)
                && (bc.0, bc.1) == (cb.1, cb.0)
            {
                return Ok(((ab.0, ab.1), (bc.0, bc.1)));
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the network did not settle down: {ab:?} {ba:?} {bc:?} {cb:?}"
        );
        w.net.mine(1).await?;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// The nodes other than `i`.
fn others(i: usize) -> Vec<usize> {
    (0..3).filter(|&j| j != i).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_lost_whichever_node_crashes_wherever() -> Result<()> {
    let mut w = World::build(PHOTON, &NAMES).funds(10_000).start().await?;
    w.open(ALICE, BOB, Some(1000)).await?;
    w.open(BOB, CHARLIE, Some(1000)).await?;
    let (mut ab, mut bc) = settle_down(&w).await?;
    assert_eq!((ab, bc), ((1000, 0), (1000, 0)));
    w.synced(ALICE).await?;

    for &(who, point, direct) in POINTS {
        // the node runs with the crash switch set
        w.restart_with(who, &others(who), &[("PHOTON_CRASH_AT", point)]).await?;
        let (target, amount) = if direct { (BOB, 3u128) } else { (CHARLIE, 5u128) };
        let url =
            format!("{}/api/v1/payments/{:?}/{:?}", w.nodes[ALICE].url, w.token, w.addr(target));
        let pay = tokio::spawn(async move {
            let client =
                reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
            let _ = client.post(url).json(&json!({ "amount": amount.to_string() })).send().await;
        });
        // it crashes where told
        let what = format!("{} to reach {point}", NAMES[who]);
        let node = &mut w.nodes[who];
        let status =
            photon_testkit::poll::eventually(&what, async || Ok(node.child.try_wait()?)).await?;
        assert!(!status.success(), "{point}: an abort, not a clean exit");
        let _ = pay.await;
        // ... and comes back from its data directory
        w.restart_with(who, &others(who), &[]).await?;
        let (new_ab, new_bc) = settle_down(&w).await?;
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
    w.pay(ALICE, CHARLIE, 1, None).await?;
    let (final_ab, final_bc) = settle_down(&w).await?;
    assert_eq!((final_ab.0, final_bc.1), (ab.0 - 1, bc.1 + 1));
    Ok(())
}
