//! What the storage tests share: two nodes with a funded channel, direct payments between
//! them, and the log of the payee's accepted state changes.

#![allow(dead_code)] // each test file uses its own part

use photon_primitives::eip712::Domain;
use photon_primitives::messages::Message;
use photon_primitives::{channel_id, Address, Epoch, LocalSigner, SettleTimeout, Signer};
use photon_primitives::{ChannelId, TokenAmount};
use photon_state::changes::{ChainEvent, Event, StateChange};
use photon_state::{transition, ChainState, Config};
use photon_storage::{NodeIdentity, Record, Storage};

pub(crate) const TOKEN: Address = Address::repeat_byte(0x70);
pub(crate) const CONTRACT: Address = Address::repeat_byte(0xC0);

/// Accepted state changes with their events, in order.
pub(crate) type Log = Vec<(StateChange, Vec<Event>)>;

/// A (payer) and B (payee, whose log the tests keep) with a channel.
pub(crate) struct Pair {
    pub(crate) a: (LocalSigner, ChainState),
    pub(crate) b: (LocalSigner, ChainState),
    pub(crate) channel: ChannelId,
}

pub(crate) fn fresh(signer: &LocalSigner) -> ChainState {
    ChainState::new(signer.address(), Domain::new(7, CONTRACT), 100, Config::default())
}

pub(crate) fn identity(signer: &LocalSigner) -> NodeIdentity {
    NodeIdentity { address: signer.address(), chain_id: 7, contract: CONTRACT }
}

/// A and B with a channel in which A deposited `deposits.0` and B `deposits.1` (none if 0);
/// `log` receives every change B accepts.
pub(crate) fn pair(log: &mut Log, deposits: (u128, u128)) -> Pair {
    let sa = LocalSigner::from_bytes(&[1; 32]).unwrap();
    let sb = LocalSigner::from_bytes(&[2; 32]).unwrap();
    let (mut a, mut b) = (fresh(&sa), fresh(&sb));
    let (pa, pb) = (sa.address(), sb.address());
    let id = channel_id(pa, pb, TOKEN, CONTRACT);
    let mut changes = vec![StateChange::Chain(ChainEvent::opened(
        (pa, pb),
        (TOKEN, CONTRACT),
        SettleTimeout(500),
        Epoch(100),
    ))];
    for (participant, total) in [(pa, deposits.0), (pb, deposits.1)] {
        if total > 0 {
            changes.push(StateChange::Chain(ChainEvent::Deposit {
                channel_id: id,
                participant,
                total: TokenAmount(total),
            }));
        }
    }
    for change in changes {
        transition(&mut a, change.clone(), &sa).unwrap();
        let events = transition(&mut b, change.clone(), &sb).unwrap();
        log.push((change, events));
    }
    Pair { a: (sa, a), b: (sb, b), channel: id }
}

/// A pays B `amount` directly (payment id: the amount); B's accepted change goes to `log`.
pub(crate) fn pay(p: &mut Pair, amount: u128, log: &mut Log) {
    let events = transition(
        &mut p.a.1,
        StateChange::SendDirect {
            channel_id: p.channel,
            payment_id: amount as u64,
            amount: TokenAmount(amount),
            data: Vec::new(),
        },
        &p.a.0,
    )
    .unwrap();
    for event in events {
        if let Event::Send { message: message @ Message::DirectTransfer(_), .. } = event {
            let change = StateChange::Receive { sender: p.a.0.address(), message };
            let events = transition(&mut p.b.1, change.clone(), &p.b.0).unwrap();
            log.push((change, events));
        }
    }
}

/// Logs `log` in one group commit, at `at`; the ids.
pub(crate) fn append(
    storage: &mut Storage, log: &[(StateChange, Vec<Event>)], at: u64,
) -> Vec<u64> {
    let records: Vec<Record<'_>> =
        log.iter().map(|(c, e)| Record { change: c, events: e, at }).collect();
    storage.append(&records).unwrap()
}
