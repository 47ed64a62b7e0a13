//! The service against a real chain (anvil): the graph from confirmed contract events (a
//! reorganisation inside the confirmations never reaches it), signed updates and queries over
//! HTTP with clear refusals, a restart that keeps everything, and the rate limit.

use alloy::primitives::U256;
use alloy::providers::Provider;
use photon_pfs::api::PfsStatus;
use photon_pfs::{run_pfs, ChannelUpdate, Heartbeat, PfsClient, PfsSettings};
use photon_primitives::{Address, LocalSigner, TokenAmount};
use photon_state::FeePolicy;
use photon_testkit::devnet::{send, DevNet};
use photon_testkit::poll::until;
use serde_json::Value;
use std::time::Duration;

const ALICE: usize = 1;
const BOB: usize = 2;
const CHARLIE: usize = 3;
const DAVE: usize = 4;

/// A running service, stopped when dropped.
struct Service {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), photon_pfs::PfsError>>,
}

impl Service {
    async fn start(net: &DevNet, db: &std::path::Path, rate_limit: u32) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let settings = PfsSettings {
            deployment: net.deployment.clone(),
            confirmations: 2,
            poll_interval: Duration::from_millis(50),
            offline_after: 60,
            rate_limit,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let provider = net.provider.clone();
        let db = db.to_path_buf();
        let task = tokio::spawn(async move {
            run_pfs(provider, &db, settings, listener, async move {
                let _ = stopped.await;
            })
            .await
        });
        Self { url, stop: Some(stop), task }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    async fn status(&self) -> PfsStatus {
        PfsClient::new(&self.url, Duration::from_secs(5)).status().await.unwrap()
    }
}

/// `a` opens a channel with `b` and both deposit 500.
async fn open(net: &DevNet, a: usize, b: usize) -> photon_primitives::ChannelId {
    let (token, x, y) = (*net.token.address(), net.address(a), net.address(b));
    send(net.network.openChannel(token, y, 100).from(x)).await.unwrap();
    for (who, partner) in [(x, y), (y, x)] {
        net.mint(who, 500).await.unwrap();
        net.approve(who, 500).await.unwrap();
        send(net.network.deposit(token, who, partner, 500).from(who)).await.unwrap();
    }
    net.channel_id(x, y)
}

fn signer(net: &DevNet, i: usize) -> &LocalSigner {
    &net.accounts[i]
}

fn update(
    net: &DevNet, who: usize, id: photon_primitives::ChannelId, nonce: u64, capacity: u128,
    flat: u128,
) -> ChannelUpdate {
    let fee = FeePolicy { flat: TokenAmount(flat), proportional_ppm: 0, imbalance_ppm: 0 };
    let token = *net.token.address();
    let s = signer(net, who);
    let nonce = start_ms() + nonce;
    ChannelUpdate::signed(&net.domain, s, token, id, nonce, TokenAmount(capacity), fee, false)
        .unwrap()
}

/// The test's start in milliseconds since 1970: nonces are a sender's clock.
fn start_ms() -> u64 {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *START.get_or_init(|| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
        now.as_millis() as u64
    })
}

async fn raw_get(url: &str) -> (u16, Value) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_follows_the_chain_takes_updates_and_answers_paths() {
    let net = DevNet::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pfs.db");
    let service = Service::start(&net, &db, 1_000).await;
    let ab = open(&net, ALICE, BOB).await;
    let bc = open(&net, BOB, CHARLIE).await;
    net.mine(2).await.unwrap();
    until("the service to see both channels", async || Ok(service.status().await.channels == 2))
        .await
        .unwrap();

    // a reorganisation shallower than the confirmations never reaches the service: a channel
    // opened (one block) and reverted before two more blocks confirm it
    let snapshot: U256 = net.provider.raw_request("evm_snapshot".into(), ()).await.unwrap();
    let (token, charlie, dave) = (*net.token.address(), net.address(CHARLIE), net.address(DAVE));
    send(net.network.openChannel(token, dave, 100).from(charlie)).await.unwrap();
    let reverted: bool = net.provider.raw_request("evm_revert".into(), (snapshot,)).await.unwrap();
    assert!(reverted);
    net.mine(4).await.unwrap();
    let head = net.block_number().await.unwrap();
    until("the service to follow the new chain", async || {
        Ok(service.status().await.block + 2 >= head)
    })
    .await
    .unwrap();
    assert_eq!(service.status().await.channels, 2, "the reverted channel was never taken");

    // updates over HTTP: taken, or refused one by one with a reason
    let client = PfsClient::new(&service.url, Duration::from_secs(5));
    let answer = client
        .updates(vec![
            update(&net, ALICE, ab, 1, 500, 0),
            update(&net, BOB, bc, 1, 500, 7),
            update(&net, BOB, bc, 1, 500, 0),     // replayed nonce
            update(&net, CHARLIE, ab, 1, 500, 0), // not his channel
        ])
        .await
        .unwrap();
    assert_eq!(answer.accepted, 2);
    let codes: Vec<(usize, &str)> =
        answer.refused.iter().map(|r| (r.index, r.code.as_str())).collect();
    assert_eq!(codes, vec![(2, "stale_nonce"), (3, "not_participant")]);
    let token = *net.token.address();
    let (alice, charlie) = (net.address(ALICE), net.address(CHARLIE));
    let paths = client.paths(token, alice, charlie, TokenAmount(100), 3).await.unwrap();
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].path, vec![alice, net.address(BOB), charlie]);
    assert_eq!(paths[0].fee.0, 7);
    assert_eq!(paths[0].hops[0].amount.0, 107);
    let beat = Heartbeat::signed(&net.domain, signer(&net, BOB), start_ms() + 5).unwrap();
    client.heartbeat(&beat).await.unwrap();
    assert!(client.heartbeat(&beat).await.is_err(), "a replayed heartbeat is refused");

    // queries with something wrong get a 4xx that says what
    let base = format!("{}/api/v1/paths", service.url);
    let q = |rest: &str| format!("{base}?token={token:?}&from={alice:?}&to={charlie:?}{rest}");
    for (url, status, word) in [
        (q(""), 400, "amount"),
        (q("&amount=0"), 400, "positive"),
        (q("&amount=abc"), 400, "amount"),
        (q("&amount=5&max_paths=11"), 400, "max_paths"),
        (format!("{base}?token={token:?}&from={alice:?}&to={alice:?}&amount=5"), 400, "same"),
        (format!("{base}?token=0x12&from={alice:?}&to={charlie:?}&amount=5"), 400, "token"),
        (q("&amount=501"), 404, "no path"),
    ] {
        let (got, body) = raw_get(&url).await;
        assert_eq!(got, status, "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(word), "{url}: {message}");
    }
    let (got, doc) = raw_get(&format!("{}/api/v1/openapi.json", service.url)).await;
    assert_eq!(got, 200);
    for path in ["/api/v1/paths", "/api/v1/updates", "/api/v1/heartbeats", "/api/v1/status"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }

    // a restart keeps the graph, the updates and the nonces; a tight rate limit refuses
    // the requests beyond it
    service.stop().await;
    let service = Service::start(&net, &db, 2).await;
    let client = PfsClient::new(&service.url, Duration::from_secs(5));
    let paths = until_paths(&client, token, alice, charlie).await;
    assert_eq!(paths[0].fee.0, 7, "the quote survives the restart");
    let stale = client.updates(vec![update(&net, BOB, bc, 1, 500, 0)]).await;
    let limited = match stale {
        Ok(answer) => {
            assert_eq!(answer.refused[0].code, "stale_nonce");
            false
        }
        Err(e) => e.status() == Some(429),
    };
    let mut refused = usize::from(limited);
    for _ in 0..10 {
        if let Err(e) = client.status().await {
            assert_eq!(e.status(), Some(429), "{e}");
            refused += 1;
        }
    }
    assert!(refused >= 5, "a burst of 12 requests at 2 per second: {refused} refused");
    service.stop().await;
}

/// The service's paths once it answers (after a restart, and within its rate limit).
async fn until_paths(
    client: &PfsClient, token: Address, from: Address, to: Address,
) -> Vec<photon_pfs::api::PathView> {
    photon_testkit::poll::eventually("the restarted service to answer", async || {
        let found = client.paths(token, from, to, TokenAmount(100), 3).await.unwrap_or_default();
        if found.is_empty() {
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
        Ok((!found.is_empty()).then_some(found))
    })
    .await
    .unwrap()
}
