use crate::helpers::*;
use alloy::primitives::{B256, U256};
use alloy::providers::{DynProvider, Provider};
use photon_chain::follower::{ChainFollower, FollowerConfig};
use photon_chain::ChainError;
use photon_primitives::Epoch;
use photon_primitives::TokenAmount;
use photon_primitives::{Secret, SettleTimeout, SkipMask};
use photon_state::changes::{ChainEvent, StateChange};
use photon_testkit::devnet::{send, DevNet};

fn config(net: &DevNet, confirmations: u64) -> FollowerConfig {
    FollowerConfig {
        confirmations,
        from_block: net.deployment.deployed_at_block,
        max_range: 1000,
        owner: None,
    }
}

/// A follower of the dev network's contracts from their deployment, `confirmations` deep.
fn follower(net: &DevNet, confirmations: u64) -> ChainFollower<DynProvider> {
    ChainFollower::new(net.provider.clone(), net.deployment.clone(), config(net, confirmations))
}

fn chain_events(changes: &[StateChange]) -> Vec<ChainEvent> {
    changes
        .iter()
        .filter_map(|c| match c {
            StateChange::Chain(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

async fn snapshot(net: &DevNet) -> U256 {
    net.provider.raw_request("evm_snapshot".into(), ()).await.unwrap()
}

async fn revert(net: &DevNet, id: U256) {
    let ok: bool = net.provider.raw_request("evm_revert".into(), (id,)).await.unwrap();
    assert!(ok);
}

#[tokio::test]
async fn reports_the_contracts_events_in_order_with_blocks() {
    let net = net().await;
    let mut follower = follower(&net, 0);
    follower.check_chain().await.unwrap();
    let id = net.open_with_deposits(ALICE, BOB, TokenAmount(100), TokenAmount(80)).await;
    send(net.registry.registerSecret(B256::repeat_byte(5))).await.unwrap();
    net.close(ALICE, BOB, None).await;
    let changes = follower.poll().await.unwrap();
    let events = chain_events(&changes);
    assert!(
        matches!(events[0], ChainEvent::ChannelOpened { channel_id, settle_timeout: SettleTimeout(10), .. } if channel_id == id)
    );
    assert!(matches!(events[1], ChainEvent::Deposit { total: TokenAmount(100), .. }));
    assert!(matches!(events[2], ChainEvent::Deposit { total: TokenAmount(80), .. }));
    assert_eq!(
        events[3],
        ChainEvent::SecretRegistered {
            secret: Secret(B256::repeat_byte(5)),
            block: match &events[3] {
                ChainEvent::SecretRegistered { block, .. } => *block,
                _ => 0,
            }
        }
    );
    assert!(
        matches!(events[4], ChainEvent::ChannelClosed { closer, .. } if closer == net.addr(ALICE))
    );
    // blocks are non-decreasing and end at the head
    let blocks: Vec<u64> = changes
        .iter()
        .filter_map(|c| if let StateChange::Block(b) = c { Some(*b) } else { None })
        .collect();
    assert!(blocks.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(*blocks.last().unwrap(), net.block_number().await.unwrap());
    assert!(follower.in_sync());
    // nothing new: only nothing
    assert!(follower.poll().await.unwrap().is_empty());
    assert!(follower.in_sync());
    // a follower catching up a block at a time is not in sync until it is at the head
    let one_at_a_time = FollowerConfig { max_range: 1, ..config(&net, 0) };
    let mut slow = ChainFollower::new(net.provider.clone(), net.deployment.clone(), one_at_a_time);
    slow.poll().await.unwrap();
    assert!(slow.online() && !slow.in_sync());
    net.settle_after_windows(ALICE, BOB).await;
    let events = chain_events(&follower.poll().await.unwrap());
    assert!(events
        .iter()
        .any(|e| matches!(e, ChainEvent::ChannelSettled { channel_id } if *channel_id == id)));
}

#[tokio::test]
async fn events_wait_for_their_confirmations() {
    let net = net().await;
    let mut follower = follower(&net, 3);
    follower.poll().await.unwrap();
    net.open(ALICE, BOB).await;
    assert!(chain_events(&follower.poll().await.unwrap()).is_empty(), "not yet confirmed");
    net.mine(2).await.unwrap();
    assert!(chain_events(&follower.poll().await.unwrap()).is_empty(), "two confirmations only");
    net.mine(1).await.unwrap();
    assert_eq!(chain_events(&follower.poll().await.unwrap()).len(), 1);
}

#[tokio::test]
async fn a_reorg_shallower_than_the_confirmations_never_reaches_the_node() {
    let net = net().await;
    let mut follower = follower(&net, 3);
    net.open(ALICE, BOB).await;
    net.mine(3).await.unwrap();
    assert_eq!(chain_events(&follower.poll().await.unwrap()).len(), 1);
    let snap = snapshot(&net).await;
    net.deposit(ALICE, BOB, TokenAmount(50)).await; // will be reorganised away
    net.mine(1).await.unwrap();
    assert!(chain_events(&follower.poll().await.unwrap()).is_empty());
    revert(&net, snap).await;
    net.mine(6).await.unwrap();
    let changes = follower.poll().await.unwrap();
    assert!(chain_events(&changes).is_empty(), "the orphaned deposit was never reported");
    assert!(!changes.is_empty(), "the new blocks were");
}

#[tokio::test]
async fn a_reorg_deeper_than_the_confirmations_is_an_error() {
    let net = net().await;
    let mut follower = follower(&net, 0);
    let snap = snapshot(&net).await;
    net.open(ALICE, BOB).await;
    assert_eq!(chain_events(&follower.poll().await.unwrap()).len(), 1);
    revert(&net, snap).await;
    net.mine(3).await.unwrap();
    assert!(matches!(follower.poll().await, Err(ChainError::DeepReorg { .. })));
}

/// A TCP relay in front of the dev chain: stopping it makes the endpoint go away for every
/// client, starting it again on the same port brings it back.
struct Relay {
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(listen: u16, upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", listen)).await.unwrap();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { return };
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { task }
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await; // drops the listener and every relayed connection
    }
}

#[tokio::test]
async fn an_endpoint_that_goes_away_and_comes_back_is_caught_up_with() {
    let net = net().await;
    let upstream = net.chain.endpoint().authority().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let relay = Relay::start(port, upstream.clone()).await;
    let url: alloy::transports::http::reqwest::Url =
        format!("http://127.0.0.1:{port}").parse().unwrap();
    let provider = alloy::providers::ProviderBuilder::new().connect_http(url).erased();
    let mut follower = ChainFollower::new(provider, net.deployment.clone(), config(&net, 0));
    net.open(ALICE, BOB).await;
    assert_eq!(chain_events(&follower.poll().await.unwrap()).len(), 1);

    relay.stop().await;
    assert!(
        matches!(follower.poll().await, Err(ChainError::Rpc(_))),
        "a clear error while it is down"
    );
    // the chain moves on meanwhile
    net.deposit(ALICE, BOB, TokenAmount(30)).await;
    net.deposit(BOB, ALICE, TokenAmount(20)).await;
    assert!(matches!(follower.poll().await, Err(ChainError::Rpc(_))));

    let _relay = Relay::start(port, upstream).await;
    let events = chain_events(&follower.poll().await.unwrap());
    assert_eq!(events.len(), 2, "both deposits made while away, each reported once: {events:?}");
    assert!(chain_events(&follower.poll().await.unwrap()).is_empty());
}

#[tokio::test]
async fn the_wrong_chain_is_refused() {
    let net = net().await;
    let mut deployment = net.deployment.clone();
    deployment.chain_id += 1;
    let mut follower = ChainFollower::new(net.provider.clone(), deployment, config(&net, 0));
    assert!(matches!(follower.check_chain().await, Err(ChainError::WrongChain { .. })));
    // nor is anything followed from it
    assert!(matches!(follower.poll().await, Err(ChainError::WrongChain { .. })));
    assert!(follower.online(), "the endpoint answered");
    assert!(!follower.in_sync(), "but nothing is followed from it");
}

/// An unlock is reported with the locks it passed (read from the transaction, checked against
/// the logged locksroot), to the owner of those locks; other nodes get its state only.
#[tokio::test]
async fn an_unlock_is_reported_with_its_locks_to_their_owner() {
    unlock_reported(false).await;
}

/// Finding 6 of the fund-safety review: an unlock made through another contract (a wrapper
/// whose input hides the inner call) is still reported with its locks, read from a call trace,
/// so that the owner can punish the claim of a disposed lock.
#[tokio::test]
async fn an_unlock_through_a_wrapper_contract_is_reported_with_its_locks() {
    unlock_reported(true).await;
}

async fn unlock_reported(through_a_wrapper: bool) {
    use alloy::sol_types::SolCall;
    use photon_chain::bindings::{TestForwarder, TokensNetwork};
    use photon_primitives::lock::{encode_locks, locked_amount, locksroot};
    use photon_primitives::Lock;
    use photon_state::UnlockState;

    let net = net().await;
    let id = net.open_with_deposits(ALICE, BOB, TokenAmount(100), TokenAmount(0)).await;
    let head = net.block_number().await.unwrap();
    let secret = Secret(B256::repeat_byte(9));
    let locks = vec![
        Lock { amount: TokenAmount(7), expiration: head + 50, secrethash: secret.hash() },
        Lock {
            amount: TokenAmount(3),
            expiration: head + 50,
            secrethash: Secret(B256::repeat_byte(8)).hash(),
        },
    ];
    let epoch = net.epoch_of(ALICE, BOB).await;
    let proof = net.balance_proof(
        ALICE,
        net.addr(BOB),
        epoch,
        1,
        0,
        (locked_amount(&locks).unwrap()).0,
        locksroot(&locks),
    );
    net.close(BOB, ALICE, Some(proof)).await;
    send(net.registry.registerSecret(secret.0)).await.unwrap();
    let skip = U256::from(2u8); // Bob does not claim the second lock
    let never =
        TokensNetwork::UnlockState { claimed: U256::ZERO, direct: U256::ZERO, voided: U256::ZERO };
    if through_a_wrapper {
        let consent = net.sign_digest(
            BOB,
            &net.domain.delegate_unlock(id, Epoch(epoch), locksroot(&locks), SkipMask(skip)),
        );
        let unlock = TokensNetwork::unlockDelegateCall {
            token: net.token_addr(),
            participant: net.addr(BOB),
            partner: net.addr(ALICE),
            locks: encode_locks(&locks).into(),
            skip,
            prior: never,
            consentSignature: consent,
        };
        // Finding 6: the unlock is made through another contract, whose input hides the
        // inner call (XORed): the follower reads the locks from a call trace
        let wrapper = deploy_contract(TestForwarder::deploy_builder(&net.provider)).await;
        let wrapper = TestForwarder::new(wrapper, net.provider.clone());
        let hidden: Vec<u8> = unlock.abi_encode().iter().map(|b| b ^ 0x5a).collect();
        send(
            wrapper.forward(net.deployment.tokens_network, hidden.into(), 0x5a).from(net.addr(BOB)),
        )
        .await
        .unwrap();
    } else {
        let locks = encode_locks(&locks).into();
        send(
            net.network
                .unlock(net.token_addr(), net.addr(ALICE), locks, skip, never)
                .from(net.addr(BOB)),
        )
        .await
        .unwrap();
    }

    let follow = |owner| {
        let config = FollowerConfig { owner, ..config(&net, 0) };
        ChainFollower::new(net.provider.clone(), net.deployment.clone(), config)
    };
    let unlocked = |events: Vec<ChainEvent>| {
        events.into_iter().find(|e| matches!(e, ChainEvent::ChannelUnlocked { .. }))
    };
    let one = U256::from(1u8);
    // Bob claimed lock 0 himself, or a delegate did with his consent
    let direct = if through_a_wrapper { U256::ZERO } else { one };
    let root = locksroot(&locks);
    let expected = |locks: Vec<Lock>| ChainEvent::ChannelUnlocked {
        channel_id: id,
        sender: net.addr(ALICE),
        locksroot: root,
        locks,
        state: UnlockState { claimed: one, direct, voided: U256::ZERO },
    };
    for owner in [None, Some(net.addr(ALICE))] {
        let events = chain_events(&follow(owner).poll().await.unwrap());
        assert_eq!(unlocked(events), Some(expected(locks.clone())), "owner {owner:?}");
    }
    // Bob hears of the unlock of Alice's locks (its state), without the locks
    let events = chain_events(&follow(Some(net.addr(BOB))).poll().await.unwrap());
    assert_eq!(unlocked(events), Some(expected(Vec::new())), "not Bob's locks");
}
