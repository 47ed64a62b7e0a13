//! `photon-bench state`: the cost of the pure state machine per transfer.
//!
//! * `direct_*`: one direct transfer, the sender's transition plus the receiver's.
//! * `mediated_hop_*`: the mediator's transition on a mediated transfer: check the incoming
//!   lock and forward it with a new lock (the step that moves a payment one hop).
//! * `mediated_payment_mediator_*`: everything a mediator does for one payment (forward,
//!   secret, unlock both ways), for context.
//!
//! `*_with_crypto_us` signs and recovers with libsecp256k1; `*_transition_us` replaces both
//! with a stand-in that costs nothing, so what remains is the state machine itself (EIP-712
//! hashing included). Each figure is the mean over many transfers in steady state; channels
//! do not grow, and no state is cloned.

use photon_primitives::eip712::Domain;
use photon_primitives::messages::Message;
use photon_primitives::signer::SignatureError;
use photon_primitives::ChannelId;
use photon_primitives::Epoch;
use photon_primitives::SettleTimeout;
use photon_primitives::TokenAmount;
use photon_primitives::{channel_id, Address, LocalSigner, Secret, Signature, Signer, B256};
use photon_state::changes::{ChainEvent, Event, Route, StateChange};
use photon_state::{transition, ChainState, Config};
use std::time::{Duration, Instant};

/// A signer that does no cryptography: the "signature" carries the address in clear and
/// "recovery" reads it back. Only for measuring the state machine.
struct NoCrypto(Address);

impl Signer for NoCrypto {
    fn address(&self) -> Address {
        self.0
    }

    fn sign_digest(&self, _digest: &B256) -> Result<Signature, SignatureError> {
        let mut sig = [0u8; 65];
        sig[..20].copy_from_slice(self.0.as_slice());
        sig[64] = 27;
        Ok(Signature(sig))
    }

    fn recover(&self, _digest: &B256, signature: &Signature) -> Result<Address, SignatureError> {
        Ok(Address::from_slice(&signature.0[..20]))
    }
}

struct Node {
    signer: Box<dyn Signer>,
    state: ChainState,
}

const TOKEN: Address = Address::repeat_byte(0x70);
const CONTRACT: Address = Address::repeat_byte(0xC0);
const DEPOSIT: u128 = u128::MAX / 8;

fn nodes(count: usize, crypto: bool) -> Vec<Node> {
    let domain = Domain::new(1, CONTRACT);
    (0..count)
        .map(|i| {
            let key = LocalSigner::from_bytes(&[i as u8 + 1; 32]).expect("valid key");
            let address = key.address();
            let signer: Box<dyn Signer> =
                if crypto { Box::new(key) } else { Box::new(NoCrypto(address)) };
            let config = Config { max_locks: 1000, ..Config::default() };
            Node { signer, state: ChainState::new(address, domain.clone(), 100, config) }
        })
        .collect()
}

fn open(nodes: &mut [Node], a: usize, b: usize) -> B256 {
    let (pa, pb) = (nodes[a].state.address, nodes[b].state.address);
    let id = channel_id(pa, pb, TOKEN, CONTRACT);
    for i in [a, b] {
        let node = &mut nodes[i];
        let opened =
            ChainEvent::opened((pa, pb), (TOKEN, CONTRACT), SettleTimeout(500), Epoch(100));
        transition(&mut node.state, StateChange::Chain(opened), node.signer.as_ref())
            .expect("open");
        let deposit =
            ChainEvent::Deposit { channel_id: id, participant: pa, total: TokenAmount(DEPOSIT) };
        transition(&mut node.state, StateChange::Chain(deposit), node.signer.as_ref())
            .expect("deposit");
    }
    id.0
}

fn step(nodes: &mut [Node], i: usize, change: StateChange) -> Vec<Event> {
    let node = &mut nodes[i];
    transition(&mut node.state, change, node.signer.as_ref()).expect("benchmark inputs are valid")
}

/// Messages in `events`, with their recipients.
fn sent(events: Vec<Event>) -> Vec<(Address, Message)> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Send { recipient, message } if !matches!(message, Message::Processed(_)) => {
                Some((recipient, message))
            }
            _ => None,
        })
        .collect()
}

fn index(nodes: &[Node], address: Address) -> usize {
    nodes.iter().position(|n| n.state.address == address).expect("known node")
}

/// Mean time of one direct transfer (sender + receiver).
fn direct(crypto: bool, count: u32) -> Duration {
    let mut nodes = nodes(2, crypto);
    let id = open(&mut nodes, 0, 1);
    let sender = nodes[0].state.address;
    let start = Instant::now();
    for n in 0..count {
        let events = step(
            &mut nodes,
            0,
            StateChange::SendDirect {
                channel_id: ChannelId(id),
                payment_id: u64::from(n),
                amount: TokenAmount(1),
                data: Vec::new(),
            },
        );
        for (_, message) in sent(events) {
            step(&mut nodes, 1, StateChange::Receive { sender, message });
        }
    }
    start.elapsed() / count
}

/// Mean time of the mediator's transition on a mediated transfer, and of all its work for a
/// payment.
fn mediated(crypto: bool, count: u32) -> (Duration, Duration) {
    let mut nodes = nodes(3, crypto);
    open(&mut nodes, 0, 1);
    open(&mut nodes, 1, 2);
    let path: Vec<Address> = nodes.iter().map(|n| n.state.address).collect();
    let (mut hop, mut mediator_total) = (Duration::ZERO, Duration::ZERO);
    for n in 0..count {
        let mut secret = [0u8; 32];
        secret[..4].copy_from_slice(&n.to_be_bytes());
        secret[31] = 1;
        let change = StateChange::SendMediated {
            token: TOKEN,
            payment_id: u64::from(n),
            target: path[2],
            amount: TokenAmount(1),
            secret: Some(Secret(B256::from(secret))),
            secrethash: Secret(B256::from(secret)).hash(),
            routes: vec![Route { path: path.clone(), fee: TokenAmount(0) }],
            fee_limit: TokenAmount(0),
            data: Vec::new(),
        };
        let mut queue: Vec<(usize, usize, Message)> = sent(step(&mut nodes, 0, change))
            .into_iter()
            .map(|(to, m)| (0, index(&nodes, to), m))
            .collect();
        let mut first = true;
        while let Some((from, to, message)) = queue.pop() {
            let sender = nodes[from].state.address;
            let t = Instant::now();
            let events = step(&mut nodes, to, StateChange::Receive { sender, message });
            let elapsed = t.elapsed();
            if to == 1 {
                mediator_total += elapsed;
                if first {
                    hop += elapsed;
                    first = false;
                }
            }
            for (recipient, m) in sent(events) {
                queue.push((to, index(&nodes, recipient), m));
            }
        }
        debug_assert!(nodes.iter().all(|node| node.state.tasks.is_empty()));
    }
    (hop / count, mediator_total / count)
}

fn micros(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1000.0 * 100.0).round() / 100.0
}

/// Runs the measurements; returns (key, microseconds) rows.
pub(crate) fn measure() -> Vec<(&'static str, f64)> {
    // warm up caches and the allocator
    direct(false, 1_000);
    let direct_plain = direct(false, 20_000);
    let direct_crypto = direct(true, 5_000);
    let (hop_plain, payment_plain) = mediated(false, 5_000);
    let (hop_crypto, payment_crypto) = mediated(true, 1_000);
    vec![
        ("direct_transition_us", micros(direct_plain)),
        ("mediated_hop_transition_us", micros(hop_plain)),
        ("direct_with_crypto_us", micros(direct_crypto)),
        ("mediated_hop_with_crypto_us", micros(hop_crypto)),
        ("mediated_payment_mediator_transition_us", micros(payment_plain)),
        ("mediated_payment_mediator_with_crypto_us", micros(payment_crypto)),
    ]
}
