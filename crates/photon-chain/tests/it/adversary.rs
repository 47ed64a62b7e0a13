//! The adversarial property of the fund-safety issue, on chain: Alice follows the protocol as
//! her node does; Bob is an adversary who may sign and submit anything he holds — any of
//! Alice's old balance proofs, disposals he signed, unlock consents, a withdrawal held back
//! while he deposits, deposits from a third account, unlocks of disposed locks directly,
//! through a delegate or through a wrapper contract, repeated unlocks, registrations timed
//! around his unlocks. After every sequence Alice is paid on chain at least her latest
//! off-chain balance, with every lock she sent counted as Bob's only if its secret was
//! registered and she had not got it back through a disposal.

use crate::helpers::*;
use alloy::primitives::{Bytes, B256, U256};
use alloy::sol_types::SolCall;
use photon_chain::bindings::{TestForwarder, TokensNetwork};
use photon_primitives::eip712::LockDisposal;
use photon_primitives::lock::{encode_locks, locked_amount, locksroot};
use photon_primitives::Epoch;
use photon_primitives::TokenAmount;
use photon_primitives::{Lock, Secret, SkipMask};
use photon_testkit::devnet::{send, DevNet};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// What happens off chain (and Bob's deposits) before the channel is closed.
#[derive(Debug, Clone)]
enum Op {
    /// Alice pays Bob directly.
    AlicePays(u8),
    /// Bob pays Alice directly.
    BobPays(u8),
    /// Alice sends Bob a lock (Bob knows every secret: the worst case).
    AliceLocks(u8),
    /// Bob reveals the secret of Alice's n-th pending lock and Alice unlocks it off chain.
    AliceUnlocks(u8),
    /// Bob disposes of Alice's n-th pending lock; Alice removes it.
    BobDisposes(u8),
    /// Bob deposits more; Charlie tries to deposit into the channel too.
    BobDeposits(u8),
    /// Both sign that Bob withdraws this much; Bob deposits `.1` first, then submits it or
    /// (`.2`) lets it expire.
    BobWithdraws(u8, u8, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..20u8).prop_map(Op::AlicePays),
        (1..20u8).prop_map(Op::BobPays),
        (1..20u8).prop_map(Op::AliceLocks),
        (0..4u8).prop_map(Op::AliceUnlocks),
        (0..4u8).prop_map(Op::BobDisposes),
        (1..20u8).prop_map(Op::BobDeposits),
        (1..20u8, 0..20u8, any::<bool>()).prop_map(|(a, d, e)| Op::BobWithdraws(a, d, e)),
    ]
}

/// How Bob ends it.
#[derive(Debug, Clone)]
struct Ending {
    /// Bob closes (with one of Alice's proofs, by index from the newest) or Alice does.
    bob_closes: bool,
    /// Which of Alice's proofs Bob submits, counted back from her newest.
    stale: u8,
    /// Which secrets (by lock number) are registered before Bob's first unlock, and which
    /// after it (each in time).
    registered_before: u32,
    registered_after: u32,
    /// Bob's skip masks for his first and second unlock (he may claim disposed locks).
    skip: (u32, u32),
    /// 0: Bob unlocks himself, 1: through a delegate with his consent, 2: through a wrapper.
    how: u8,
}

fn ending() -> impl Strategy<Value = Ending> {
    (any::<bool>(), 0..4u8, any::<u32>(), any::<u32>(), (any::<u32>(), any::<u32>()), 0..3u8)
        .prop_map(|(bob_closes, stale, before, after, skip, how)| Ending {
            bob_closes,
            stale,
            registered_before: before,
            registered_after: after,
            skip,
            how,
        })
}

/// One of Alice's balance proofs (Bob holds them all).
#[derive(Clone, Debug)]
struct Proof {
    nonce: u64,
    transferred: u128,
    locks: Vec<Lock>,
}

/// Alice's view of the channel in the current epoch.
struct Alice {
    epoch: u64,
    deposit: u128,
    bob_deposit: u128,
    /// her proofs, oldest first; the last is her latest
    proofs: Vec<Proof>,
    /// Bob's latest proof to her: (nonce, transferred)
    bob: (u64, u128),
    /// Bob's disposals of her locks: (lock, nonce covered, signature)
    disposals: Vec<(Lock, u64, Bytes)>,
}

impl Alice {
    fn latest(&self) -> Proof {
        self.proofs.last().cloned().unwrap_or(Proof { nonce: 0, transferred: 0, locks: vec![] })
    }
    fn balance(&self) -> u128 {
        let p = self.latest();
        self.deposit + self.bob.1 - p.transferred - locked_amount(&p.locks).unwrap().0
    }
    fn bob_balance(&self) -> u128 {
        let p = self.latest();
        self.bob_deposit + p.transferred - self.bob.1
    }
    fn push(&mut self, transferred: u128, locks: Vec<Lock>) {
        let nonce = self.latest().nonce + 1;
        self.proofs.push(Proof { nonce, transferred, locks });
    }
}

fn secret(case: u64, n: usize) -> Secret {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&case.to_be_bytes());
    b[8..16].copy_from_slice(&(n as u64 + 1).to_be_bytes());
    Secret(B256::from(b))
}

async fn run_case(
    net: &DevNet, wrapper: &TestForwarder::TestForwarderInstance<alloy::providers::DynProvider>,
    case: u64, ops: &[Op], end: &Ending,
) -> Result<(), TestCaseError> {
    let (a, b) = (net.addr(ALICE), net.addr(BOB));
    let id = net.channel_id(a, b);
    let token = net.token_addr();
    let start = net.balance(a).await.unwrap();
    net.open_with_deposits(ALICE, BOB, TokenAmount(100), TokenAmount(20)).await;
    let mut alice = Alice {
        epoch: net.epoch_of(ALICE, BOB).await,
        deposit: 100,
        bob_deposit: 20,
        proofs: Vec::new(),
        bob: (0, 0),
        disposals: Vec::new(),
    };
    let mut sent_locks: Vec<Lock> = Vec::new(); // every lock Alice ever sent, in order
    for op in ops {
        match *op {
            Op::AlicePays(x) if alice.balance() >= x.into() => {
                let p = alice.latest();
                alice.push(p.transferred + u128::from(x), p.locks);
            }
            Op::BobPays(x) if alice.bob_balance() >= x.into() => {
                alice.bob = (alice.bob.0 + 1, alice.bob.1 + u128::from(x));
            }
            Op::AliceLocks(x) if alice.balance() >= x.into() && sent_locks.len() < 6 => {
                let head = net.block_number().await.unwrap();
                let n = sent_locks.len();
                let lock = Lock {
                    amount: x.into(),
                    expiration: head + 200,
                    secrethash: secret(case, n).hash(),
                };
                sent_locks.push(lock);
                let p = alice.latest();
                let mut locks = p.locks;
                locks.push(lock);
                alice.push(p.transferred, locks);
            }
            Op::AliceUnlocks(i) if usize::from(i) < alice.latest().locks.len() => {
                let p = alice.latest();
                let mut locks = p.locks;
                let lock = locks.remove(usize::from(i));
                alice.push(p.transferred + lock.amount.0, locks);
            }
            Op::BobDisposes(i) if usize::from(i) < alice.latest().locks.len() => {
                // Bob signs for Alice's latest proof: only such a disposal makes her act
                let p = alice.latest();
                let lock = p.locks[usize::from(i)];
                let d = LockDisposal {
                    channelId: id.0,
                    epoch: alice.epoch,
                    nonce: p.nonce,
                    lockHash: lock.hash(),
                };
                alice.disposals.push((lock, p.nonce, net.sign(BOB, &d)));
                let mut locks = p.locks;
                locks.remove(usize::from(i));
                alice.push(p.transferred, locks);
            }
            Op::BobDeposits(x) => {
                net.deposit(BOB, ALICE, x.into()).await;
                alice.bob_deposit += u128::from(x);
                net.approve(net.addr(CHARLIE), x.into()).await.unwrap();
                let third = net.deposit_call(BOB, ALICE, x.into()).from(net.addr(CHARLIE));
                prop_assert!(send(third).await.is_err(), "a third party cannot deposit");
            }
            Op::BobWithdraws(x, extra, expire)
                if alice.latest().locks.is_empty() && alice.bob_balance() >= x.into() =>
            {
                let expiry = net.block_number().await.unwrap() + 4;
                let (deposit, balance) = (alice.bob_deposit, alice.bob_balance());
                let signed =
                    sign_withdraw(net, BOB, ALICE, deposit, balance, x.into(), expiry, alice.epoch);
                if extra > 0 {
                    net.deposit(BOB, ALICE, extra.into()).await;
                    alice.bob_deposit += u128::from(extra);
                }
                if expire {
                    net.mine(5).await.unwrap();
                }
                if send(withdraw_call(net, BOB, ALICE, &signed)).await.is_ok() {
                    prop_assert!(!expire, "an expired withdrawal went through");
                    // a new epoch from the balances after it; the old proofs are void
                    alice.epoch = net.epoch_of(ALICE, BOB).await;
                    alice.deposit = (net.deposit_of(ALICE, BOB).await).0;
                    alice.bob_deposit = (net.deposit_of(BOB, ALICE).await).0;
                    alice.proofs.clear();
                    alice.bob = (0, 0);
                    alice.disposals.clear();
                    sent_locks.clear();
                } else {
                    prop_assert!(expire, "a withdrawal both signed was refused");
                }
            }
            _ => {}
        }
    }

    // What Alice must at least get: her latest balance, with her pending locks back unless
    // their secret gets registered (then they are Bob's).
    let latest = alice.latest();
    let registered = |n: usize| (end.registered_before | end.registered_after) >> (n % 32) & 1 == 1;
    let lock_no = |l: &Lock| sent_locks.iter().position(|s| s == l).unwrap();
    let owed_to_bob: u128 =
        latest.locks.iter().filter(|l| registered(lock_no(l))).map(|l| l.amount.0).sum();
    let floor = alice.balance() + locked_amount(&latest.locks).unwrap().0 - owed_to_bob;

    // The close: Bob with any of Alice's proofs, or Alice with Bob's latest.
    let pick = alice.proofs.len().saturating_sub(1 + usize::from(end.stale));
    let bob_proof = |p: &Proof| {
        net.balance_proof(
            ALICE,
            b,
            alice.epoch,
            p.nonce,
            p.transferred,
            (locked_amount(&p.locks).unwrap()).0,
            locksroot(&p.locks),
        )
    };
    let stored: Option<Proof> = alice.proofs.get(pick).cloned();
    let alices_bob_proof = (alice.bob.0 > 0)
        .then(|| net.proof(BOB, ALICE, alice.epoch, alice.bob.0, TokenAmount(alice.bob.1)));
    if end.bob_closes {
        net.close(BOB, ALICE, stored.as_ref().map(bob_proof)).await;
        // Alice's node answers with Bob's latest proof
        if let Some(proof) = alices_bob_proof {
            net.update(ALICE, BOB, proof).await;
        }
    } else {
        net.close(ALICE, BOB, alices_bob_proof).await;
        if let Some(p) = &stored {
            net.update(BOB, ALICE, bob_proof(p)).await;
        }
    }

    // Bob's unlocks of the stored proof's locks, around the registrations.
    let register = |mask: u32| {
        let secrets: Vec<B256> = (0..sent_locks.len())
            .filter(|n| mask >> (n % 32) & 1 == 1)
            .map(|n| secret(case, n).0)
            .collect();
        async move {
            if !secrets.is_empty() {
                send(net.registry.registerSecretBatch(secrets)).await.unwrap();
            }
        }
    };
    register(end.registered_before).await;
    let mut unlock_state =
        TokensNetwork::UnlockState { claimed: U256::ZERO, direct: U256::ZERO, voided: U256::ZERO };
    let mut unlocked: Option<Vec<Lock>> = None;
    if let Some(p) = stored.as_ref().filter(|p| !p.locks.is_empty()) {
        for (round, skip) in [end.skip.0, end.skip.1].into_iter().enumerate() {
            if round == 1 {
                register(end.registered_after & !end.registered_before).await;
            }
            let packed: Bytes = encode_locks(&p.locks).into();
            let skip = U256::from(skip);
            let prior = unlock_state.clone();
            let receipt = match end.how {
                0 => send(net.network.unlock(token, a, packed, skip, prior).from(b)).await,
                how => {
                    let c = net.domain.delegate_unlock(
                        id,
                        Epoch(alice.epoch),
                        locksroot(&p.locks),
                        SkipMask(skip),
                    );
                    let consent = net.sign_digest(BOB, &c);
                    let call = TokensNetwork::unlockDelegateCall {
                        token,
                        participant: b,
                        partner: a,
                        locks: packed,
                        skip,
                        prior,
                        consentSignature: consent,
                    };
                    if how == 1 {
                        send(
                            net.network
                                .unlockDelegate(
                                    call.token,
                                    b,
                                    a,
                                    call.locks,
                                    skip,
                                    call.prior,
                                    call.consentSignature,
                                )
                                .from(net.addr(DELEGATE)),
                        )
                        .await
                    } else {
                        let hidden: Vec<u8> = call.abi_encode().iter().map(|x| x ^ 0x33).collect();
                        send(
                            wrapper
                                .forward(net.deployment.tokens_network, hidden.into(), 0x33)
                                .from(net.addr(DELEGATE)),
                        )
                        .await
                    }
                }
            };
            let receipt = receipt.expect("Bob's unlock of the stored locksroot");
            unlock_state = event::<TokensNetwork::ChannelUnlocked>(&receipt).state;
            unlocked = Some(p.locks.clone());
        }
    } else {
        register(end.registered_after & !end.registered_before).await;
    }

    // Alice's node: every claimed lock it holds a disposal of is answered (the contract
    // judges whether the disposal covers the stored proof).
    if let Some(locks) = unlocked {
        for (index, lock) in locks.iter().enumerate() {
            let claimed = unlock_state.claimed.bit(index) && !unlock_state.voided.bit(index);
            let Some((_, nonce, sig)) = alice.disposals.iter().find(|d| d.0 == *lock) else {
                continue;
            };
            if !claimed {
                continue;
            }
            let call = net.network.punishObsoleteUnlock(
                token,
                a,
                b,
                encode_locks(&locks).into(),
                unlock_state.clone(),
                U256::from(index),
                *nonce,
                sig.clone(),
            );
            if let Ok(receipt) = send(call.from(a)).await {
                unlock_state = event::<TokensNetwork::ObsoleteUnlockPunished>(&receipt).state;
            }
        }
    }

    net.settle_after_windows(ALICE, BOB).await;
    let got = net.balance(a).await.unwrap() as i128 - start as i128 + 100;
    prop_assert!(
        got >= floor as i128,
        "Alice got {got}, her floor is {floor} (latest {latest:?}, stored {stored:?}, ops {ops:?}, {end:?})"
    );
    prop_assert_settled(net).await
}

/// CI runs `PHOTON_ADVERSARY_CASES` cases (default 10); see docs/contracts.md for a larger run.
#[test]
fn an_honest_participant_is_paid_whatever_the_adversary_does() {
    let cases =
        std::env::var("PHOTON_ADVERSARY_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(10);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = rt.block_on(net());
    let wrapper = rt.block_on(async {
        let address = deploy_contract(TestForwarder::deploy_builder(&net.provider)).await;
        TestForwarder::new(address, net.provider.clone())
    });
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 64,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (prop::collection::vec(op(), 1..12), ending());
    let case = std::cell::Cell::new(0u64);
    runner
        .run(&strategy, |(ops, end)| {
            case.set(case.get() + 1);
            if std::env::var_os("PHOTON_ADVERSARY_TRACE").is_some() {
                eprintln!("case {}: {ops:?} {end:?}", case.get());
            }
            rt.block_on(run_case(&net, &wrapper, case.get(), &ops, &end))
        })
        .unwrap();
}
