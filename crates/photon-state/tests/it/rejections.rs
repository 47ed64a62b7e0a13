//! Every invalid input is refused with the right reason and changes nothing.

use crate::harness::*;
use photon_primitives::eip712::Domain;
use photon_primitives::lock::locksroot;
use photon_primitives::messages::{BalanceProofFields, DirectTransfer, MediatedTransfer, Message};
use photon_primitives::ChannelId;
use photon_primitives::Locksroot;
use photon_primitives::TokenAmount;
use photon_primitives::{Address, LocalSigner, Lock, Secret, B256};
use photon_state::changes::{Event, StateChange};
use photon_state::Rejection;

const ALICE: usize = 0;
const BOB: usize = 1;
const CHARLIE: usize = 2;

/// Alice's next valid message for `change`, made on a copy of her state (nothing is sent).
fn next_message(net: &Net, change: StateChange) -> Message {
    let mut state = net.nodes[ALICE].state.clone();
    let events = photon_state::transition(&mut state, change, &net.nodes[ALICE].signer).unwrap();
    events
        .into_iter()
        .find_map(|e| match e {
            Event::Send { message, .. } => Some(message),
            _ => None,
        })
        .unwrap()
}

/// Delivers `message` as coming from `sender` to Bob and checks it is refused without change.
fn refused(net: &mut Net, sender: usize, message: Message) -> Rejection {
    let before = format!("{:?}", net.nodes[BOB].state);
    let from = net.addr(sender);
    let err = net.apply(BOB, StateChange::Receive { sender: from, message }).unwrap_err();
    assert_eq!(
        before,
        format!("{:?}", net.nodes[BOB].state),
        "a refused message changed the state"
    );
    err
}

fn direct(net: &Net, amount: u128) -> DirectTransfer {
    match next_message(
        net,
        StateChange::SendDirect {
            channel_id: net.channel_id(ALICE, BOB),
            payment_id: 9,
            amount: TokenAmount(amount),
            data: Vec::new(),
        },
    ) {
        Message::DirectTransfer(m) => m,
        other => panic!("{other:?}"),
    }
}

fn resign(mut message: Message, signer: &LocalSigner, domain: &Domain) -> Message {
    message.sign(domain, signer).unwrap();
    message
}

/// Alice's `base` transfer with its balance proof changed by `f`, signed again by Alice.
fn tampered(
    net: &Net, base: DirectTransfer,
) -> impl Fn(&dyn Fn(&mut BalanceProofFields)) -> Message {
    let (alice, domain) = (net.nodes[ALICE].signer.clone(), net.domain.clone());
    move |f| {
        let mut m = base.clone();
        f(&mut m.balance_proof);
        resign(Message::DirectTransfer(m), &alice, &domain)
    }
}

fn setup() -> Net {
    let mut net = Net::new(3);
    net.open_channel(ALICE, BOB, 100, 0);
    net.open_channel(BOB, CHARLIE, 100, 0);
    net.pay_direct(ALICE, BOB, 10).unwrap();
    net
}

#[test]
fn the_valid_message_is_accepted() {
    let mut net = setup();
    let m = direct(&net, 5);
    net.apply(
        BOB,
        StateChange::Receive { sender: net.addr(ALICE), message: Message::DirectTransfer(m) },
    )
    .unwrap();
    // Bob's view moved (Alice's own state never sent it: it was made on a copy)
    let bob = &net.nodes[BOB].state.channels[&net.channel_id(ALICE, BOB)];
    assert_eq!((bob.partner_balance(), bob.our_balance()), (TokenAmount(85), TokenAmount(15)));
}

#[test]
fn signatures_must_be_the_partners_for_this_chain_and_contract() {
    let mut net = setup();
    let m = Message::DirectTransfer(direct(&net, 5));
    let charlie = net.nodes[CHARLIE].signer.clone();
    let forged = resign(m.clone(), &charlie, &net.domain.clone());
    assert_eq!(refused(&mut net, ALICE, forged), Rejection::BadSignature);
    let alice = net.nodes[ALICE].signer.clone();
    let other_chain = Domain::new(4243, Address::repeat_byte(0xC0));
    assert_eq!(
        refused(&mut net, ALICE, resign(m.clone(), &alice, &other_chain)),
        Rejection::BadSignature
    );
    let other_contract = Domain::new(4242, Address::repeat_byte(0xC1));
    assert_eq!(
        refused(&mut net, ALICE, resign(m.clone(), &alice, &other_contract)),
        Rejection::BadSignature
    );
    // a valid message relayed by someone else
    assert!(matches!(refused(&mut net, CHARLIE, m), Rejection::WrongSender { .. }));
}

#[test]
fn channel_epoch_and_nonce_must_match() {
    let mut net = setup();
    let with = tampered(&net, direct(&net, 5));
    let unknown = with(&|bp| bp.channel_id = ChannelId(B256::repeat_byte(0xEE)));
    assert!(matches!(refused(&mut net, ALICE, unknown), Rejection::UnknownChannel(_)));
    let other_channel = net.channel_id(BOB, CHARLIE);
    let m = with(&|bp| bp.channel_id = other_channel);
    assert!(matches!(refused(&mut net, ALICE, m), Rejection::WrongSender { .. }));
    let m = with(&|bp| bp.epoch.0 -= 1);
    assert!(matches!(refused(&mut net, ALICE, m), Rejection::WrongEpoch { .. }));
    let m = with(&|bp| bp.nonce.0 += 1);
    assert!(matches!(refused(&mut net, ALICE, m), Rejection::WrongNonce { .. }));
    let m = with(&|bp| bp.nonce.0 -= 1);
    assert!(matches!(refused(&mut net, ALICE, m), Rejection::WrongNonce { .. }));
    // the delivered message, replayed
    let replay = net
        .delivered
        .iter()
        .find(|e| matches!(e.message, Message::DirectTransfer(_)))
        .unwrap()
        .message
        .clone();
    assert!(matches!(
        refused(&mut net, ALICE, replay),
        Rejection::WrongNonce { .. } | Rejection::WrongTransferredAmount { .. }
    ));
}

#[test]
fn amounts_must_add_up() {
    let mut net = setup();
    let with = tampered(&net, direct(&net, 5));
    // transferred amount going down (or not moving)
    let m = with(&|bp| bp.transferred_amount = TokenAmount(9));
    assert!(matches!(refused(&mut net, ALICE, m), Rejection::WrongTransferredAmount { .. }));
    let m = with(&|bp| bp.transferred_amount = TokenAmount(10));
    assert!(matches!(refused(&mut net, ALICE, m), Rejection::WrongTransferredAmount { .. }));
    // more than Alice has
    let m = with(&|bp| bp.transferred_amount = TokenAmount(101));
    assert!(matches!(refused(&mut net, ALICE, m), Rejection::InsufficientBalance { .. }));
    // locks that do not exist
    let m = with(&|bp| bp.locked_amount = TokenAmount(1));
    assert_eq!(refused(&mut net, ALICE, m), Rejection::LocksMismatch);
    let m = with(&|bp| bp.locksroot = Locksroot(B256::repeat_byte(1)));
    assert_eq!(refused(&mut net, ALICE, m), Rejection::LocksMismatch);
}

fn mediated(net: &mut Net, amount: u128) -> MediatedTransfer {
    let secret = Secret(B256::repeat_byte(0x33));
    let change = StateChange::SendMediated {
        token: net.token,
        payment_id: 3,
        target: net.addr(CHARLIE),
        amount: TokenAmount(amount),
        secret: Some(secret),
        secrethash: secret.hash(),
        routes: vec![photon_state::Route {
            path: vec![net.addr(ALICE), net.addr(BOB), net.addr(CHARLIE)],
            fee: TokenAmount(0),
        }],
        fee_limit: TokenAmount(0),
        data: Vec::new(),
    };
    match next_message(net, change) {
        Message::MediatedTransfer(m) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn locks_must_be_safe_and_match_the_locksroot() {
    let mut net = setup();
    let alice = net.nodes[ALICE].signer.clone();
    let domain = net.domain.clone();
    let base = mediated(&mut net, 20);
    let sign = |m: MediatedTransfer| resign(Message::MediatedTransfer(m), &alice, &domain);
    // a lock other than the one the locksroot commits to
    let mut m = base.clone();
    m.lock = Lock { amount: TokenAmount(21), ..m.lock };
    assert_eq!(refused(&mut net, ALICE, sign(m)), Rejection::LocksMismatch);
    // a lock bigger than Alice's balance
    let mut m = base.clone();
    m.lock.amount = TokenAmount(95);
    m.balance_proof.locked_amount = TokenAmount(95);
    m.balance_proof.locksroot = locksroot(&[m.lock]);
    assert!(matches!(refused(&mut net, ALICE, sign(m)), Rejection::InsufficientBalance { .. }));
    // a path where Alice is not the hop before Bob
    let mut m = base.clone();
    m.path = vec![net.addr(CHARLIE), net.addr(BOB)];
    assert_eq!(refused(&mut net, ALICE, sign(m)), Rejection::BadPath);
    // the genuine one is accepted
    let from = net.addr(ALICE);
    net.apply(BOB, StateChange::Receive { sender: from, message: Message::MediatedTransfer(base) })
        .unwrap();
}

#[test]
fn closed_channels_take_no_transfers() {
    let mut net = setup();
    let m = Message::DirectTransfer(direct(&net, 5));
    let id = net.channel_id(ALICE, BOB);
    net.apply(BOB, StateChange::Close { channel_id: id }).unwrap();
    assert!(matches!(refused(&mut net, ALICE, m), Rejection::ChannelNotUsable(_)));
}

#[test]
fn user_actions_are_checked_too() {
    let mut net = setup();
    let before = format!("{:?}", net.nodes[ALICE].state);
    let id = net.channel_id(ALICE, BOB);
    let err = net
        .apply(
            ALICE,
            StateChange::SendDirect {
                channel_id: id,
                payment_id: 1,
                amount: TokenAmount(91),
                data: Vec::new(),
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        Rejection::InsufficientBalance { available: TokenAmount(90), requested: TokenAmount(91) }
    );
    let err = net
        .apply(
            ALICE,
            StateChange::SendDirect {
                channel_id: id,
                payment_id: 1,
                amount: TokenAmount(0),
                data: Vec::new(),
            },
        )
        .unwrap_err();
    assert_eq!(err, Rejection::InvalidAmount);
    let err = net
        .apply(
            ALICE,
            StateChange::SendDirect {
                channel_id: ChannelId(B256::ZERO),
                payment_id: 1,
                amount: TokenAmount(1),
                data: Vec::new(),
            },
        )
        .unwrap_err();
    assert_eq!(err, Rejection::UnknownChannel(ChannelId(B256::ZERO)));
    assert_eq!(before, format!("{:?}", net.nodes[ALICE].state));
}

/// A lock that comes too late to be acted on (it expires before its secret could be
/// registered: the partner was offline, or its clock is ahead) is still a valid balance proof:
/// it is taken into the channel, never refused (a refusal would break the lane: the sender has
/// moved past its nonce), and given back with a disposal instead of being forwarded.
#[test]
fn a_late_lock_is_taken_into_the_channel_and_given_back() {
    let mut net = setup();
    let alice = net.nodes[ALICE].signer.clone();
    let domain = net.domain.clone();
    let mut m = mediated(&mut net, 20);
    m.lock.expiration = net.block + 5;
    m.balance_proof.locksroot = locksroot(&[m.lock]);
    let message = resign(Message::MediatedTransfer(m.clone()), &alice, &domain);
    let from = net.addr(ALICE);
    net.apply(BOB, StateChange::Receive { sender: from, message }).expect("taken");
    let ab = net.channel_id(ALICE, BOB);
    let bob = &net.nodes[BOB].state.channels[&ab];
    assert_eq!(bob.theirs.locks, vec![m.lock], "in the channel");
    assert!(bob.disposed.contains_key(&m.lock.secrethash), "given back");
    let sent: Vec<_> = net.inflight.iter().map(|e| (e.to, e.message.clone())).collect();
    assert!(sent.iter().any(|(to, m)| *to == ALICE && matches!(m, Message::AnnounceDisposed(_))));
    assert!(
        !sent.iter().any(|(to, m)| *to == CHARLIE && matches!(m, Message::MediatedTransfer(_))),
        "not forwarded"
    );
}
