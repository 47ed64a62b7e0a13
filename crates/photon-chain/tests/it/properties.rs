//! Conservation on chain: random deposit / transfer / withdraw sequences, settled either
//! cooperatively or through close/update/settle, pay each participant exactly what the pure
//! model says, and the contract ends holding nothing.

use crate::helpers::*;
use photon_state::{ChannelBalances, Side};
use photon_testkit::devnet::{send, DevNet};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[derive(Debug, Clone)]
enum Op {
    Deposit(bool, u16),
    Transfer(bool, u16),
    Withdraw(bool, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 1..500u16).prop_map(|(s, a)| Op::Deposit(s, a)),
        (any::<bool>(), 1..500u16).prop_map(|(s, a)| Op::Transfer(s, a)),
        (any::<bool>(), 1..500u16).prop_map(|(s, a)| Op::Withdraw(s, a)),
    ]
}

/// Account index and contract side of Alice / Bob.
fn sides(net: &DevNet) -> (Side, Side) {
    if net.addr(ALICE) < net.addr(BOB) {
        (Side::One, Side::Two)
    } else {
        (Side::Two, Side::One)
    }
}

async fn run_case(net: &DevNet, ops: &[Op], cooperative: bool) -> Result<(), TestCaseError> {
    let (alice_side, bob_side) = sides(net);
    let side_of =
        |alice: bool| if alice { (ALICE, BOB, alice_side) } else { (BOB, ALICE, bob_side) };
    let start = net.balances(ALICE, BOB).await;
    net.open(ALICE, BOB).await;
    let mut model = ChannelBalances::default();
    let mut nonces = [0u64; 2];
    // per account (0 = Alice, 1 = Bob): tokens put in and taken out on chain
    let mut put_in = [0i128; 2];
    let mut taken_out = [0i128; 2];
    for op in ops {
        match *op {
            Op::Deposit(alice, amount) => {
                let (who, partner, side) = side_of(alice);
                model.deposit_more(side, amount.into()).unwrap();
                net.deposit(who, partner, amount.into()).await;
                put_in[usize::from(!alice)] += i128::from(amount);
            }
            Op::Transfer(alice, amount) => {
                let (_, _, side) = side_of(alice);
                if model.transfer(side, amount.into()).is_ok() {
                    nonces[usize::from(!alice)] += 1;
                }
            }
            Op::Withdraw(alice, amount) => {
                let (who, partner, side) = side_of(alice);
                let balance = model.balance(side);
                let deposit = net.deposit_of(who, partner).await;
                if model.withdraw(side, amount.into()).is_ok() {
                    let epoch = net.epoch_of(ALICE, BOB).await;
                    let expiry = net.block_number().await.unwrap() + 5;
                    let signed = sign_withdraw(
                        net,
                        who,
                        partner,
                        deposit.0,
                        balance.0,
                        amount.into(),
                        expiry,
                        epoch,
                    );
                    send(withdraw_call(net, who, partner, &signed)).await.unwrap();
                    nonces = [0, 0];
                    taken_out[usize::from(!alice)] += i128::from(amount);
                }
            }
        }
    }
    let expected = (model.balance(alice_side), model.balance(bob_side));
    let epoch = net.epoch_of(ALICE, BOB).await;
    if cooperative {
        let signed = sign_settle(net, ALICE, expected.0 .0, BOB, expected.1 .0, epoch);
        send(cooperative_settle_call(net, &signed)).await.unwrap();
    } else {
        // Alice closes with Bob's latest proof (if any); Bob updates with Alice's.
        let bob_proof = (nonces[1] > 0)
            .then(|| net.proof(BOB, ALICE, epoch, nonces[1], model.transferred(bob_side)));
        net.close(ALICE, BOB, bob_proof).await;
        if nonces[0] > 0 {
            let alice_proof =
                net.proof(ALICE, BOB, epoch, nonces[0], model.transferred(alice_side));
            net.update(BOB, ALICE, alice_proof).await;
        }
        net.settle_after_windows(ALICE, BOB).await;
    }
    let end = net.balances(ALICE, BOB).await;
    // Each account ends with what it started with, minus its deposits, plus its withdrawals,
    // plus exactly its final off-chain balance.
    let change = |end: u128, start: u128| end as i128 - start as i128;
    prop_assert_eq!(
        change(end.0 .0, start.0 .0),
        expected.0 .0 as i128 - put_in[0] + taken_out[0],
        "Alice"
    );
    prop_assert_eq!(
        change(end.1 .0, start.1 .0),
        expected.1 .0 as i128 - put_in[1] + taken_out[1],
        "Bob"
    );
    prop_assert_settled(net).await
}

#[test]
fn random_sequences_settle_to_the_model_balances() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = rt.block_on(net());
    let mut runner =
        TestRunner::new(Config { cases: 12, failure_persistence: None, ..Config::default() });
    let strategy = (prop::collection::vec(op(), 1..10), any::<bool>());
    runner
        .run(&strategy, |(ops, cooperative)| rt.block_on(run_case(&net, &ops, cooperative)))
        .unwrap();
}
