//! Real libp2p sessions on 127.0.0.1: identity, order, retries, rejections, discovery of a
//! peer that comes online later.

use photon_primitives::messages::{Message, Processed};
use photon_primitives::ChannelId;
use photon_primitives::TokenAmount;
use photon_primitives::{Epoch, Nonce};
use photon_primitives::{LocalSigner, Signer};
use photon_transport::{start, Delivery, Incoming, P2pConfig, P2pTransport};
use std::time::Duration;
use tokio::sync::mpsc;

fn key(n: u8) -> [u8; 32] {
    [n; 32]
}

fn msg(id: u64) -> Message {
    Message::Processed(Processed { message_id: id })
}

async fn node(
    n: u8, bootstrap: Vec<photon_transport::Multiaddr>,
) -> (P2pTransport, mpsc::Receiver<Incoming>) {
    let (tx, rx) = mpsc::channel(1024);
    let config =
        P2pConfig { bootstrap, request_timeout: Duration::from_secs(2), ..P2pConfig::default() };
    (start(&key(n), config, tx, None).await.unwrap(), rx)
}

async fn next(rx: &mut mpsc::Receiver<Incoming>) -> Incoming {
    tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("a message in time")
        .expect("open")
}

fn id_of(m: &Message) -> u64 {
    m.message_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_arrive_in_order_from_a_proven_sender_and_retries_keep_the_order() {
    let (a, _a_rx) = node(1, vec![]).await;
    let (b, mut b_rx) = node(2, a.listen_addrs().await).await;
    assert_eq!(a.address, LocalSigner::from_bytes(&key(1)).unwrap().address());
    for i in 0..30 {
        a.send(b.address, &msg(i));
    }
    // The receiver processes in order, as a node does for one channel: anything after a gap
    // is answered "retry" (the transport sends batches, so later messages may come along).
    let mut accepted = Vec::new();
    let mut expected = 0u64;
    let mut retried = false;
    while expected < 30 {
        let incoming = next(&mut b_rx).await;
        assert_eq!(incoming.sender, a.address, "the session proves the sender");
        let id = id_of(&incoming.message);
        let answer = if id < expected {
            Delivery::Ack // a duplicate of something processed
        } else if id > expected {
            Delivery::Retry
        } else if id == 5 && !retried {
            retried = true;
            Delivery::Retry
        } else if id == 9 {
            expected += 1;
            accepted.push(id);
            Delivery::Reject("stale".into()) // dropped, not sent again
        } else {
            expected += 1;
            accepted.push(id);
            Delivery::Ack
        };
        incoming.respond.send(answer).unwrap();
    }
    assert_eq!(accepted, (0..30).collect::<Vec<_>>(), "order kept across a retry and a rejection");
    // everything was acknowledged or dropped: nothing more comes
    let mut late = Vec::new();
    while let Ok(Some(incoming)) =
        tokio::time::timeout(Duration::from_millis(500), b_rx.recv()).await
    {
        late.push(id_of(&incoming.message));
        let _ = incoming.respond.send(Delivery::Ack);
    }
    assert!(
        late.iter().all(|id| *id < 30 && *id != 9),
        "only duplicates of acknowledged ones: {late:?}"
    );
    assert_eq!(a.peers(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_comes_online_later_is_found_and_gets_its_messages() {
    let (hub, _hub_rx) = node(10, vec![]).await;
    let hub_addr = hub.listen_addrs().await;
    let (a, _a_rx) = node(11, hub_addr.clone()).await;
    let carol = LocalSigner::from_bytes(&key(12)).unwrap().address();
    for i in 0..3 {
        a.send(carol, &msg(100 + i));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Carol starts, knowing only the hub: Alice finds her through the DHT
    let (c, mut c_rx) = node(12, hub_addr).await;
    assert_eq!(c.address, carol);
    let mut got = Vec::new();
    while got.len() < 3 {
        let incoming = next(&mut c_rx).await;
        assert_eq!(incoming.sender, a.address);
        got.push(id_of(&incoming.message));
        incoming.respond.send(Delivery::Ack).unwrap();
    }
    assert_eq!(got, vec![100, 101, 102]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_message_is_sent_again_until_acknowledged() {
    let (a, _a_rx) = node(20, vec![]).await;
    let (b, mut b_rx) = node(21, a.listen_addrs().await).await;
    a.send(b.address, &msg(1));
    // the first delivery is never answered (the receiver "crashed" before answering)
    let first = next(&mut b_rx).await;
    drop(first.respond);
    let again = next(&mut b_rx).await;
    assert_eq!(id_of(&again.message), 1, "the same message again");
    again.respond.send(Delivery::Ack).unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(500), b_rx.recv()).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagged_messages_report_their_delivery() {
    let (a_in, _a_rx) = mpsc::channel(16);
    let (delivered_tx, mut delivered) = mpsc::unbounded_channel();
    let a = start(&key(30), P2pConfig::default(), a_in, Some(delivered_tx)).await.unwrap();
    let (b, mut b_rx) = node(31, a.listen_addrs().await).await;
    a.send_tagged(b.address, &msg(1), 77);
    a.send_tagged(b.address, &msg(2), 78);
    for _ in 0..2 {
        let incoming = next(&mut b_rx).await;
        incoming.respond.send(Delivery::Ack).unwrap();
    }
    let first = tokio::time::timeout(Duration::from_secs(10), delivered.recv()).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), delivered.recv()).await.unwrap();
    let tag = |r: Option<photon_transport::DeliveryReport>| r.map(|r| (r.tag, r.refused));
    assert_eq!((tag(first), tag(second)), (Some((77, None)), Some((78, None))));
}

/// A message about `channel` (a lock disposal: the simplest message that names a channel).
fn on_channel(channel: u8, id: u64) -> Message {
    use photon_primitives::messages::{AnnounceDisposed, UNSIGNED};
    use photon_primitives::{Lock, SecretHash, B256};
    Message::AnnounceDisposed(AnnounceDisposed {
        message_id: id,
        payment_id: id,
        channel_id: ChannelId(B256::repeat_byte(channel)),
        epoch: Epoch(0),
        nonce: Nonce(0),
        lock: Lock { amount: TokenAmount(1), expiration: 100, secrethash: SecretHash(B256::ZERO) },
        signature: UNSIGNED,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_channel_does_not_hold_up_another_channel_with_the_same_peer() {
    let (a, _a_rx) = node(40, vec![]).await;
    let (b, mut b_rx) = node(41, a.listen_addrs().await).await;
    for i in 0..5 {
        a.send(b.address, &on_channel(1, 100 + i)); // channel 1: the receiver is not ready
        a.send(b.address, &on_channel(2, 200 + i));
    }
    // Channel 1's messages are answered "retry" over and over; channel 2's all arrive, in
    // order, meanwhile (channel 1 never gets an acknowledgement in this phase).
    let mut two = Vec::new();
    let mut retried = 0;
    while two.len() < 5 || retried == 0 {
        let incoming = next(&mut b_rx).await;
        let id = id_of(&incoming.message);
        if id < 200 {
            retried += 1;
            incoming.respond.send(Delivery::Retry).unwrap();
        } else {
            two.push(id);
            incoming.respond.send(Delivery::Ack).unwrap();
        }
    }
    assert_eq!(two, (200..205).collect::<Vec<_>>());
    assert!(retried >= 1, "channel 1 was tried and refused");
    // once the receiver is ready, channel 1 arrives in its own order (a receiver that
    // processes in order: what comes after a gap is "retry", what it has is a duplicate)
    let mut one = Vec::new();
    while one.len() < 5 {
        let incoming = next(&mut b_rx).await;
        let id = id_of(&incoming.message);
        assert!(id < 200, "channel 2 was acknowledged: nothing of it again");
        let expected = 100 + one.len() as u64;
        let answer = match id.cmp(&expected) {
            std::cmp::Ordering::Less => Delivery::Ack,
            std::cmp::Ordering::Greater => Delivery::Retry,
            std::cmp::Ordering::Equal => {
                one.push(id);
                Delivery::Ack
            }
        };
        incoming.respond.send(answer).unwrap();
    }
    assert_eq!(one, (100..105).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_address_in_use_is_refused_with_the_reason() {
    for taken in ["tcp", "udp"] {
        let (port, _hold) = if taken == "tcp" {
            let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            (socket.local_addr().unwrap().port(), (Some(socket), None))
        } else {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            (socket.local_addr().unwrap().port(), (None, Some(socket)))
        };
        let address: photon_transport::Multiaddr = if taken == "tcp" {
            format!("/ip4/127.0.0.1/tcp/{port}")
        } else {
            format!("/ip4/127.0.0.1/udp/{port}/quic-v1")
        }
        .parse()
        .unwrap();
        let (tx, _rx) = mpsc::channel(16);
        let config = P2pConfig { listen: vec![address.clone()], ..P2pConfig::default() };
        let error =
            start(&key(40), config, tx, None).await.map(|_| ()).expect_err("refused").to_string();
        assert!(error.contains(&address.to_string()), "{error}");
        assert!(error.to_lowercase().contains("in use"), "{taken}: {error}");
    }
}

/// Waits for `change` among the connectivity changes (earlier ones are skipped).
async fn seen(
    changes: &mut tokio::sync::broadcast::Receiver<photon_transport::PeerChange>,
    change: photon_transport::PeerChange,
) {
    let wait = async { while changes.recv().await.expect("open") != change {} };
    tokio::time::timeout(Duration::from_secs(10), wait).await.expect("the change in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_messages_wait_and_go_out_in_order_once_back_online() {
    let (a, mut a_rx) = node(50, vec![]).await;
    let (b, _b_rx) = node(51, a.listen_addrs().await).await;
    let mut changes = a.subscribe_peers();
    b.send(a.address, &msg(0)); // connects them
    let first = next(&mut a_rx).await;
    first.respond.send(Delivery::Ack).unwrap();
    // B goes offline (a phone whose network is down): A sees it go, nothing leaves B
    b.offline();
    seen(&mut changes, photon_transport::PeerChange { peer: b.address, connected: false }).await;
    for i in 1..=3 {
        b.send(a.address, &msg(i));
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(1_500), a_rx.recv()).await.is_err(),
        "nothing is sent while offline"
    );
    assert_eq!(b.peers(), 0);
    // back online: everything queued arrives, in order, and A sees B again
    b.online();
    let mut got = Vec::new();
    while got.len() < 3 {
        let incoming = next(&mut a_rx).await;
        let id = id_of(&incoming.message);
        // the first one again if its acknowledgement was cut off by going offline
        if id > 0 {
            got.push(id);
        }
        let _ = incoming.respond.send(Delivery::Ack);
    }
    assert_eq!(got, vec![1, 2, 3], "in order, once each");
    seen(&mut changes, photon_transport::PeerChange { peer: b.address, connected: true }).await;
    // a network change (Wi-Fi to cellular) drops the connections and makes them again
    b.network_changed();
    b.send(a.address, &msg(4));
    // (it may come on a connection that is closing, and then again on the new one; so may an
    // earlier one whose acknowledgement was cut off)
    loop {
        let incoming = next(&mut a_rx).await;
        let id = id_of(&incoming.message);
        assert!(id <= 4, "{id}");
        if incoming.respond.send(Delivery::Ack).is_ok() && id == 4 {
            break;
        }
    }
}
