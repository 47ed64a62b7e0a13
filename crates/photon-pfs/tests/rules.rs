//! The service's rules on what it takes, without a chain: a [`Book`] fed chain events by
//! hand. Who can sign, replay or forge what, and what a query then answers.

use photon_pfs::{Book, ChannelUpdate, Heartbeat, PfsStore, Scratch, UpdateError};
use photon_primitives::eip712::Domain;
use photon_primitives::{
    Address, ChannelId, Epoch, LocalSigner, SettleTimeout, Signer, TokenAmount,
};
use photon_state::{ChainEvent, FeePolicy};

const TOKEN: Address = Address::repeat_byte(0x70);
/// The service's clock in these tests (seconds since 1970); nonces are milliseconds.
const T0: u64 = 1_700_000_000;

/// Nonce `k` of a sender whose clock agrees with the service's.
fn n(k: u64) -> u64 {
    T0 * 1000 + k
}
const CONTRACT: Address = Address::repeat_byte(0x77);

fn key(n: u8) -> LocalSigner {
    LocalSigner::from_bytes(&[n; 32]).unwrap()
}

fn domain() -> Domain {
    Domain::new(1, CONTRACT)
}

fn fee(flat: u128, ppm: u32) -> FeePolicy {
    FeePolicy { flat: TokenAmount(flat), proportional_ppm: ppm, imbalance_ppm: 0 }
}

/// Opens the channel of `a` and `b` with these deposits in `book`; its id.
fn open(book: &mut Book, a: &LocalSigner, b: &LocalSigner, deposits: (u128, u128)) -> ChannelId {
    let event = ChainEvent::opened(
        (a.address(), b.address()),
        (TOKEN, CONTRACT),
        SettleTimeout(100),
        Epoch(1),
    );
    let ChainEvent::ChannelOpened { channel_id, .. } = event else { unreachable!() };
    book.chain(&event, 0);
    for (who, total) in [(a, deposits.0), (b, deposits.1)] {
        let deposit = ChainEvent::Deposit {
            channel_id,
            participant: who.address(),
            total: TokenAmount(total),
        };
        book.chain(&deposit, 0);
    }
    channel_id
}

fn update(
    signer: &LocalSigner, id: ChannelId, nonce: u64, capacity: u128, policy: FeePolicy,
) -> ChannelUpdate {
    ChannelUpdate::signed(
        &domain(),
        signer,
        TOKEN,
        id,
        n(nonce),
        TokenAmount(capacity),
        policy,
        false,
    )
    .unwrap()
}

/// Alice – Bob – Charlie, and Dave – Eve beside them; Bob charges 3 + 1 %.
fn line() -> (Book, [LocalSigner; 5], [ChannelId; 3]) {
    let keys = [key(1), key(2), key(3), key(4), key(5)];
    let [alice, bob, charlie, dave, eve] = &keys;
    let mut book = Book::new(domain(), 60);
    let ab = open(&mut book, alice, bob, (1_000, 1_000));
    let bc = open(&mut book, bob, charlie, (1_000, 1_000));
    let de = open(&mut book, dave, eve, (1_000, 1_000));
    book.update(&update(alice, ab, 1, 1_000, fee(0, 0)), T0).unwrap();
    book.update(&update(bob, bc, 1, 1_000, fee(3, 10_000)), T0).unwrap();
    (book, keys, [ab, bc, de])
}

#[test]
fn updates_are_taken_only_from_a_participant_with_a_newer_nonce() {
    let (mut book, keys, [ab, bc, de]) = line();
    let [alice, bob, charlie, dave, _] = &keys;
    // a participant's newer update is taken
    book.update(&update(bob, bc, 2, 900, fee(3, 10_000)), T0).unwrap();
    // the same update again (a replay), or an older one: refused
    let again = update(bob, bc, 2, 900, fee(0, 0));
    assert_eq!(book.update(&again, T0), Err(UpdateError::StaleNonce { nonce: n(2), last: n(2) }));
    let older = update(bob, bc, 1, 1_000, fee(0, 0));
    assert_eq!(book.update(&older, T0), Err(UpdateError::StaleNonce { nonce: n(1), last: n(2) }));
    // a node not in the channel (Dave, whose own channel is Dave–Eve): refused
    let foreign = update(dave, bc, 9, 1_000, fee(0, 0));
    assert_eq!(book.update(&foreign, T0), Err(UpdateError::NotParticipant(dave.address(), bc)));
    // a forgery: Bob's signed update with its fee changed recovers to someone else
    let mut forged = update(bob, bc, 3, 900, fee(3, 10_000));
    forged.fee_flat = photon_api::Amount(0);
    assert!(matches!(
        book.update(&forged, T0),
        Err(UpdateError::NotParticipant(..) | UpdateError::Signature(_))
    ));
    // signed for another deployment (another chain or contract): not Bob's here
    let elsewhere = Domain::new(2, CONTRACT);
    let other_chain =
        ChannelUpdate::signed(&elsewhere, bob, TOKEN, bc, n(4), TokenAmount(900), fee(0, 0), false)
            .unwrap();
    assert!(matches!(book.update(&other_chain, T0), Err(UpdateError::NotParticipant(..))));
    // a channel that does not exist, or of another token
    let nowhere = update(bob, ChannelId::repeat_byte(9), 5, 1, fee(0, 0));
    assert_eq!(
        book.update(&nowhere, T0),
        Err(UpdateError::UnknownChannel(ChannelId::repeat_byte(9)))
    );
    let mut other_token = update(alice, ab, 5, 1, fee(0, 0));
    other_token.token = Address::repeat_byte(0x71);
    assert!(book.update(&other_token, T0).is_err());
    // a rate above 100 %
    let greedy = update(bob, bc, 6, 900, fee(0, 1_000_001));
    assert_eq!(book.update(&greedy, T0), Err(UpdateError::InvalidFee));
    // none of the refused ones changed the quote: Bob still charges 3 + 1 %
    let mut scratch = Scratch::default();
    let paths =
        book.paths(&mut scratch, TOKEN, alice.address(), charlie.address(), TokenAmount(100), 3);
    assert_eq!(paths.len(), 1);
    assert_eq!(paths[0].fee, TokenAmount(4), "Bob receives 104: keeps 3 + 1");
    assert_eq!(paths[0].hops[0].amount, TokenAmount(104));
    assert_eq!(paths[0].hops[1].amount, TokenAmount(100), "Charlie gets exactly 100");
    let _ = de;
}

#[test]
fn capacity_and_fees_follow_the_updates_and_the_chain() {
    let (mut book, keys, [_, bc, _]) = line();
    let [alice, bob, charlie, ..] = &keys;
    let mut scratch = Scratch::default();
    let quote = |book: &Book, scratch: &mut Scratch, amount: u128| {
        book.paths(scratch, TOKEN, alice.address(), charlie.address(), TokenAmount(amount), 3)
    };
    // Bob can send 1,000 to Charlie: 989 + 3 + 1 % fits (Bob receives 1,002 > Alice's 1,000)
    assert_eq!(quote(&book, &mut scratch, 950).len(), 1);
    assert!(quote(&book, &mut scratch, 1_000).is_empty(), "Bob could not forward 1,000");
    // Bob drains his side: routes around (none here)
    book.update(&update(bob, bc, 2, 50, fee(3, 10_000)), T0).unwrap();
    assert!(quote(&book, &mut scratch, 100).is_empty());
    assert_eq!(quote(&book, &mut scratch, 50).len(), 1);
    // Bob disables the channel
    let off = ChannelUpdate::signed(
        &domain(),
        bob,
        TOKEN,
        bc,
        n(3),
        TokenAmount(50),
        fee(3, 10_000),
        true,
    )
    .unwrap();
    book.update(&off, T0).unwrap();
    assert!(quote(&book, &mut scratch, 10).is_empty(), "disabled");
    // the channel closes on chain: gone, and its updates with it
    book.chain(&ChainEvent::ChannelClosed { channel_id: bc, closer: bob.address(), block: 5 }, 0);
    assert!(book.channel(&bc).is_none());
    assert_eq!(
        book.update(&update(bob, bc, 4, 50, fee(0, 0)), T0),
        Err(UpdateError::UnknownChannel(bc))
    );
}

#[test]
fn silent_nodes_are_routed_around_and_heartbeats_cannot_be_replayed() {
    let (mut book, keys, _) = line();
    let [alice, bob, charlie, ..] = &keys;
    let mut scratch = Scratch::default();
    let quote = |book: &Book, scratch: &mut Scratch| {
        book.paths(scratch, TOKEN, alice.address(), charlie.address(), TokenAmount(10), 3).len()
    };
    // Bob's update at 0 counts as hearing from him; the window is 60 s
    book.sweep(T0 + 59);
    assert_eq!(quote(&book, &mut scratch), 1);
    book.sweep(T0 + 61);
    assert_eq!(quote(&book, &mut scratch), 0, "Bob silent for 61 s: offline");
    // his heartbeat brings him back
    let beat = Heartbeat::signed(&domain(), bob, n(7_000)).unwrap();
    book.heartbeat(&beat, T0 + 62).unwrap();
    assert_eq!(quote(&book, &mut scratch), 1);
    // replayed later, it is refused (and does not keep him online)
    assert_eq!(
        book.heartbeat(&beat, T0 + 130),
        Err(UpdateError::StaleNonce { nonce: n(7_000), last: n(7_000) })
    );
    book.sweep(T0 + 130);
    assert_eq!(quote(&book, &mut scratch), 0);
    // a heartbeat naming Bob but signed by Alice is refused
    let mut fake = Heartbeat::signed(&domain(), alice, n(8_000)).unwrap();
    fake.address = bob.address();
    assert!(matches!(book.heartbeat(&fake, T0 + 131), Err(UpdateError::WrongSigner { .. })));
    // the payer need not be online (Alice never sent a heartbeat)
    book.heartbeat(&Heartbeat::signed(&domain(), bob, n(9_000)).unwrap(), T0 + 131).unwrap();
    book.sweep(T0 + 131);
    assert_eq!(quote(&book, &mut scratch), 1);
}

#[test]
fn a_store_gives_back_what_the_book_knew() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pfs.db");
    let (alice, bob, charlie) = (key(1), key(2), key(3));
    let mut book = Book::new(domain(), 60);
    let mut store = PfsStore::open(&path).unwrap();
    let mut changed = Vec::new();
    for (a, b) in [(&alice, &bob), (&bob, &charlie)] {
        let event = ChainEvent::opened(
            (a.address(), b.address()),
            (TOKEN, CONTRACT),
            SettleTimeout(100),
            Epoch(1),
        );
        changed.extend(book.chain(&event, 100));
    }
    let [(ab, _), (bc, _)] = [changed[0], changed[1]];
    for (who, id) in [(&alice, ab), (&bob, bc)] {
        let deposit = ChainEvent::Deposit {
            channel_id: id,
            participant: who.address(),
            total: TokenAmount(500),
        };
        changed.extend(book.chain(&deposit, 100));
    }
    store.chain_block(&changed, 42).unwrap();
    let taken = vec![
        book.update(&update(&alice, ab, 1, 500, fee(0, 0)), T0 + 100).unwrap(),
        book.update(&update(&bob, bc, 1, 500, fee(2, 0)), T0 + 100).unwrap(),
    ];
    store.put_updates(&taken).unwrap();
    store.put_presence(&book.presence().collect::<Vec<_>>()).unwrap();
    let mut scratch = Scratch::default();
    let before =
        book.paths(&mut scratch, TOKEN, alice.address(), charlie.address(), TokenAmount(50), 3);
    assert_eq!(before[0].fee, TokenAmount(2));
    drop(store);
    // a restart: the same answer, the same nonces (a replay is still refused)
    let store = PfsStore::open(&path).unwrap();
    assert_eq!(store.last_block().unwrap(), Some(42));
    let mut again = Book::new(domain(), 60);
    store.load(&mut again, T0 + 110).unwrap();
    let after =
        again.paths(&mut scratch, TOKEN, alice.address(), charlie.address(), TokenAmount(50), 3);
    assert_eq!(after, before);
    assert!(matches!(
        again.update(&update(&bob, bc, 1, 1, fee(0, 0)), T0 + 110),
        Err(UpdateError::StaleNonce { .. })
    ));
    // presence is kept by time: long after, Bob is offline
    let mut late = Book::new(domain(), 60);
    store.load(&mut late, T0 + 1_000).unwrap();
    assert!(late
        .paths(&mut scratch, TOKEN, alice.address(), charlie.address(), TokenAmount(50), 3)
        .is_empty());
    // another process cannot open the same database
    assert!(PfsStore::open(&path).is_err());
}

#[test]
fn old_messages_are_refused_even_where_no_nonce_is_known() {
    let (mut book, keys, [ab, bc, _]) = line();
    let [alice, bob, charlie, dave, _] = &keys;
    let taken = update(bob, bc, 5, 1_000, fee(0, 0));
    book.update(&taken, T0).unwrap();
    // the channel closes and opens again (same id, nonces forgotten): the old update,
    // replayed ten minutes later, is refused as old, not taken as news
    book.chain(&ChainEvent::ChannelClosed { channel_id: bc, closer: bob.address(), block: 9 }, T0);
    open(&mut book, bob, charlie, (1_000, 1_000));
    assert!(matches!(book.update(&taken, T0 + 600), Err(UpdateError::NotFresh { .. })));
    // a heartbeat from long ago (as one sent to another service), or from the far future
    let old = Heartbeat::signed(&domain(), bob, n(0)).unwrap();
    assert!(matches!(book.heartbeat(&old, T0 + 600), Err(UpdateError::NotFresh { .. })));
    let ahead = Heartbeat::signed(&domain(), bob, (T0 + 3_600) * 1000).unwrap();
    assert!(matches!(book.heartbeat(&ahead, T0), Err(UpdateError::NotFresh { .. })));
    // a node without a channel cannot make itself known
    let stranger = key(9);
    let beat = Heartbeat::signed(&domain(), &stranger, n(1)).unwrap();
    assert_eq!(book.heartbeat(&beat, T0), Err(UpdateError::NoChannel(stranger.address())));
    let _ = (alice, ab, dave);
}
