//! An in-memory network of N state machines: messages pass through a queue, transactions hit a
//! mirror of the contract, blocks are mined on demand. The vocabulary follows LDK's functional
//! tests: `open_channel`, `pay_direct`, `pay`, `run`, `mine`, `assert_balances`.

use photon_primitives::eip712::{Domain, LockDisposal};
use photon_primitives::lock::locksroot;
use photon_primitives::messages::Message;
use photon_primitives::signer::recover;
use photon_primitives::Epoch;
use photon_primitives::Locksroot;
use photon_primitives::SettleTimeout;
use photon_primitives::TokenAmount;
use photon_primitives::{
    channel_id, Address, ChannelId, LocalSigner, Lock, Secret, SecretHash, Signer, U256,
};
use photon_state::changes::{ChainEvent, ContractCall, Event, Route, StateChange};
use photon_state::{transition, ChainState, ChannelBalances, Config, Rejection, UnlockState};
use std::collections::{BTreeMap, VecDeque};

pub const SETTLE_TIMEOUT: u64 = 100;
pub const PUNISH_BLOCKS: u64 = 5;

pub struct Node {
    pub signer: LocalSigner,
    pub state: ChainState,
    /// Payment events, in order.
    pub log: Vec<Event>,
    /// Every refused input.
    pub rejections: Vec<Rejection>,
}

#[derive(Clone, Debug)]
pub struct Envelope {
    pub from: usize,
    pub to: usize,
    pub message: Message,
}

/// The contract, as far as the tests need it.
#[derive(Default)]
pub struct OnChain {
    pub parties: [usize; 2],
    pub deposits: [TokenAmount; 2],
    pub epoch: u64,
    pub closed_at: Option<u64>,
    pub nonces: [u64; 2],
    pub transferred: [TokenAmount; 2],
    pub locksroots: [photon_primitives::Locksroot; 2],
    /// `unlocked[side]`: the unlock state of that side's stored locksroot, once unlocked.
    pub unlocked: [Option<UnlockState>; 2],
    /// `punished[side]`: that side forfeits the channel for an obsolete unlock.
    pub punished: [bool; 2],
}

pub struct Net {
    pub nodes: Vec<Node>,
    pub token: Address,
    pub domain: Domain,
    pub block: u64,
    pub inflight: VecDeque<Envelope>,
    /// Messages refused with "not yet" (a transient rejection): delivered again, in order,
    /// at the next block, as the transport retries them.
    pub retrying: VecDeque<Envelope>,
    pub delivered: Vec<Envelope>,
    pub channels: BTreeMap<ChannelId, OnChain>,
    pub registered: BTreeMap<SecretHash, u64>,
    /// Tokens each node holds on chain.
    pub wallet: Vec<TokenAmount>,
    /// Nodes whose incoming messages are dropped (offline).
    pub offline: Vec<bool>,
    /// How many blocks each node's confirmed block lags the chain's.
    pub lag: Vec<u64>,
    /// Nodes that are away: messages to them wait, in order, until they are back.
    pub away: Vec<bool>,
    /// Blocks a secret registration takes to be mined (0: at once).
    pub registration_delay: u64,
    /// Registrations sent and not mined yet: (block they are mined in, secret).
    pub queued_registrations: Vec<(u64, Secret)>,
    secrets: u64,
}

impl Net {
    pub fn new(n: usize) -> Self {
        Self::with_config(n, Config { punish_blocks: PUNISH_BLOCKS, ..Config::default() })
    }

    pub fn with_config(n: usize, config: Config) -> Self {
        let domain = Domain::new(4242, Address::repeat_byte(0xC0));
        let block = 1_000;
        let nodes = (0..n)
            .map(|i| {
                let signer = LocalSigner::from_bytes(&[i as u8 + 1; 32]).unwrap();
                let state = ChainState::new(signer.address(), domain.clone(), block, config);
                Node { signer, state, log: Vec::new(), rejections: Vec::new() }
            })
            .collect();
        Self {
            nodes,
            token: Address::repeat_byte(0x70),
            domain,
            block,
            inflight: VecDeque::new(),
            retrying: VecDeque::new(),
            delivered: Vec::new(),
            channels: BTreeMap::new(),
            registered: BTreeMap::new(),
            wallet: vec![TokenAmount(1_000_000); n],
            offline: vec![false; n],
            lag: vec![0; n],
            away: vec![false; n],
            registration_delay: 0,
            queued_registrations: Vec::new(),
            secrets: 0,
        }
    }

    pub fn addr(&self, i: usize) -> Address {
        self.nodes[i].signer.address()
    }

    fn index(&self, address: Address) -> usize {
        self.nodes.iter().position(|n| n.signer.address() == address).expect("known node")
    }

    pub fn channel_id(&self, a: usize, b: usize) -> ChannelId {
        channel_id(self.addr(a), self.addr(b), self.token, Address::repeat_byte(0xC0))
    }

    /// Applies a state change to node `i` and carries out its events.
    pub fn apply(&mut self, i: usize, change: StateChange) -> Result<(), Rejection> {
        let node = &mut self.nodes[i];
        let events = transition(&mut node.state, change, &node.signer)?;
        self.carry_out(i, events);
        Ok(())
    }

    fn carry_out(&mut self, i: usize, events: Vec<Event>) {
        for event in events {
            match event {
                Event::Send { message: Message::Processed(_), .. } => {}
                Event::Send { recipient, message } => {
                    let to = self.index(recipient);
                    self.inflight.push_back(Envelope { from: i, to, message });
                }
                Event::Transact(call) => self.transact(i, call),
                other => self.nodes[i].log.push(other),
            }
        }
    }

    /// Tells `parties` that `sender`'s unlock of `locks` is on chain, in `state`.
    fn broadcast_unlocked(
        &mut self, parties: &[usize], channel_id: ChannelId, sender: Address, locks: Vec<Lock>,
        state: UnlockState,
    ) {
        let locksroot = locksroot(&locks);
        let event = ChainEvent::ChannelUnlocked { channel_id, sender, locksroot, locks, state };
        self.broadcast(parties, event);
    }

    pub fn broadcast(&mut self, to: &[usize], event: ChainEvent) {
        for &i in to {
            self.apply(i, StateChange::Chain(event.clone()))
                .expect("chain events are never refused");
        }
    }

    fn side(chain: &OnChain, who: usize) -> usize {
        usize::from(chain.parties[1] == who)
    }

    /// The registry mirror: records `secret` at the current block and tells every node.
    pub fn register_now(&mut self, secret: Secret) {
        let (h, block) = (secret.hash(), self.block);
        if self.registered.contains_key(&h) {
            return;
        }
        self.registered.insert(h, block);
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.broadcast(&all, ChainEvent::SecretRegistered { secret, block });
    }

    /// The contract mirror: applies a transaction at the current block.
    fn transact(&mut self, i: usize, call: ContractCall) {
        let block = self.block;
        match call {
            ContractCall::RegisterSecret { secret } if self.registration_delay > 0 => {
                self.queued_registrations.push((block + self.registration_delay, secret));
            }
            ContractCall::RegisterSecret { secret } => self.register_now(secret),
            ContractCall::Close { partner, proof, .. } => {
                let p = self.index(partner);
                let id = self.channel_id(i, p);
                let chain = self.channels.get_mut(&id).expect("channel on chain");
                assert!(chain.closed_at.is_none(), "closed twice");
                chain.closed_at = Some(block);
                if let Some(proof) = proof {
                    let (bp, sig) = (proof.fields.typed(proof.additional_hash), proof.signature);
                    let side = Self::side(chain, p);
                    assert_eq!(
                        recover(&self.domain.balance_proof(&bp), &sig).unwrap(),
                        self.nodes[p].signer.address()
                    );
                    assert_eq!(bp.epoch, chain.epoch);
                    chain.nonces[side] = bp.nonce;
                    chain.transferred[side] = TokenAmount(bp.transferredAmount);
                    chain.locksroots[side] = Locksroot(bp.locksroot);
                }
                let parties = chain.parties;
                let closer = self.addr(i);
                self.broadcast(
                    &parties,
                    ChainEvent::ChannelClosed { channel_id: id, closer, block },
                );
            }
            ContractCall::UpdateBalanceProof { partner, proof, .. } => {
                let (bp, sig) = (proof.fields.typed(proof.additional_hash), proof.signature);
                let p = self.index(partner);
                let id = self.channel_id(i, p);
                let chain = self.channels.get_mut(&id).expect("channel on chain");
                let side = Self::side(chain, p);
                assert_eq!(
                    recover(&self.domain.balance_proof(&bp), &sig).unwrap(),
                    self.nodes[p].signer.address()
                );
                assert!(
                    block <= chain.closed_at.unwrap() + SETTLE_TIMEOUT,
                    "update after the window"
                );
                if bp.nonce > chain.nonces[side] {
                    chain.nonces[side] = bp.nonce;
                    chain.transferred[side] = TokenAmount(bp.transferredAmount);
                    chain.locksroots[side] = Locksroot(bp.locksroot);
                    chain.unlocked[side] = None;
                }
            }
            ContractCall::Unlock { partner, locks, skip, prior, .. } => {
                let p = self.index(partner);
                let id = self.channel_id(i, p);
                let chain = self.channels.get_mut(&id).expect("channel on chain");
                let side = Self::side(chain, p);
                let root = locksroot(&locks);
                assert_eq!(root, chain.locksroots[side], "unlock of the stored locksroot");
                assert_eq!(prior, chain.unlocked[side].unwrap_or_default(), "the prior state");
                let mut paid = U256::ZERO;
                let mut claimed = TokenAmount::ZERO;
                for (k, l) in locks.iter().enumerate() {
                    let in_time =
                        self.registered.get(&l.secrethash).is_some_and(|b| *b <= l.expiration);
                    if !skip.skips(k) && !prior.claimed.bit(k) && in_time {
                        paid |= U256::from(1u8) << k;
                        claimed += l.amount;
                    }
                }
                let state = UnlockState {
                    claimed: prior.claimed | paid,
                    direct: prior.direct | paid,
                    voided: prior.voided,
                };
                chain.unlocked[side] = Some(state);
                chain.transferred[side] += claimed;
                let (parties, sender) = (chain.parties, self.addr(p));
                self.broadcast_unlocked(&parties, id, sender, locks, state);
            }
            ContractCall::Punish {
                cheater,
                locks,
                prior,
                index,
                disposal_nonce,
                signature,
                ..
            } => {
                let p = self.index(cheater);
                let id = self.channel_id(i, p);
                let chain = self.channels.get_mut(&id).expect("channel on chain");
                let closed = chain.closed_at.expect("punish of a closed channel");
                assert!(block <= closed + SETTLE_TIMEOUT + PUNISH_BLOCKS, "punish window over");
                let side = Self::side(chain, p);
                let sender_side = 1 - side;
                assert_eq!(Some(prior), chain.unlocked[sender_side], "the unlock state");
                let k = index as usize;
                assert!(prior.claimed.bit(k) && !prior.voided.bit(k), "a claimed lock");
                assert!(
                    chain.nonces[sender_side] <= disposal_nonce.0,
                    "the disposal covers the proof"
                );
                let lock = locks[k];
                let disposal = LockDisposal {
                    channelId: id.0,
                    epoch: chain.epoch,
                    nonce: disposal_nonce.0,
                    lockHash: lock.hash(),
                };
                assert_eq!(
                    recover(&self.domain.digest(&disposal), &signature).unwrap(),
                    self.nodes[p].signer.address(),
                    "the cheater's disposal"
                );
                chain.transferred[sender_side] -= lock.amount;
                let state = UnlockState { voided: prior.voided | (U256::from(1u8) << k), ..prior };
                chain.unlocked[sender_side] = Some(state);
                if prior.direct.bit(k) {
                    chain.punished[side] = true;
                }
                let parties = chain.parties;
                let sender = self.addr(parties[sender_side]);
                self.broadcast_unlocked(&parties, id, sender, locks, state);
            }
            ContractCall::Settle { partner, .. } => {
                let p = self.index(partner);
                let id = self.channel_id(i, p);
                let Some(chain) = self.channels.get(&id) else { return };
                assert!(
                    block > chain.closed_at.unwrap() + SETTLE_TIMEOUT + PUNISH_BLOCKS,
                    "settled too early"
                );
                let total = chain.deposits[0] + chain.deposits[1];
                let pay = match chain.punished {
                    [true, false] => [TokenAmount::ZERO, total],
                    [false, true] => [total, TokenAmount::ZERO],
                    _ => ChannelBalances::settlement_of(chain.deposits, chain.transferred),
                };
                let parties = chain.parties;
                self.wallet[parties[0]] += pay[0];
                self.wallet[parties[1]] += pay[1];
                self.channels.remove(&id);
                self.broadcast(&parties, ChainEvent::ChannelSettled { channel_id: id });
            }
            ContractCall::CooperativeSettle { fields, .. } => {
                let id = fields.channel_id;
                let chain = self.channels.remove(&id).expect("channel on chain");
                assert_eq!(
                    fields.balance1 + fields.balance2,
                    chain.deposits[0] + chain.deposits[1]
                );
                self.wallet[chain.parties[0]] += fields.balance1;
                self.wallet[chain.parties[1]] += fields.balance2;
                self.broadcast(&chain.parties, ChainEvent::ChannelSettled { channel_id: id });
            }
            ContractCall::Withdraw { fields, .. } => {
                let id = fields.channel_id;
                let who = self.index(fields.participant);
                let chain = self.channels.get_mut(&id).expect("channel on chain");
                assert!(block <= fields.expiry);
                assert_eq!(fields.epoch, Epoch(chain.epoch));
                let total = chain.deposits[0] + chain.deposits[1];
                let side = Self::side(chain, who);
                let mut deposits = [TokenAmount::ZERO; 2];
                deposits[side] = fields.participant_balance - fields.amount;
                deposits[1 - side] = total - fields.participant_balance;
                chain.deposits = deposits;
                chain.epoch = block.max(chain.epoch + 1);
                let (parties, epoch) = (chain.parties, chain.epoch);
                self.wallet[who] += fields.amount;
                self.broadcast(
                    &parties,
                    ChainEvent::Withdrawn {
                        channel_id: id,
                        participant: fields.participant,
                        amount: fields.amount,
                        deposit1: TokenAmount((deposits[0]).0),
                        deposit2: TokenAmount((deposits[1]).0),
                        epoch: Epoch(epoch),
                    },
                );
            }
        }
    }

    /// Opens a channel between `a` and `b` and deposits for both.
    pub fn open_channel(
        &mut self, a: usize, b: usize, deposit_a: u128, deposit_b: u128,
    ) -> ChannelId {
        let id = self.channel_id(a, b);
        let (one, two) = if self.addr(a) < self.addr(b) { (a, b) } else { (b, a) };
        self.channels
            .insert(id, OnChain { parties: [one, two], epoch: self.block, ..OnChain::default() });
        let pair = (self.addr(a), self.addr(b));
        let open = ChainEvent::opened(
            pair,
            (self.token, self.domain.contract()),
            SettleTimeout(SETTLE_TIMEOUT as u32),
            Epoch(self.block),
        );
        self.broadcast(&[a, b], open);
        for (who, amount) in [(a, deposit_a), (b, deposit_b)] {
            if amount > 0 {
                let chain = self.channels.get_mut(&id).unwrap();
                let side = Self::side(chain, who);
                chain.deposits[side] += TokenAmount(amount);
                let total = chain.deposits[side];
                self.wallet[who] -= TokenAmount(amount);
                let participant = self.addr(who);
                self.broadcast(
                    &[a, b],
                    ChainEvent::Deposit {
                        channel_id: id,
                        participant,
                        total: TokenAmount(total.0),
                    },
                );
            }
        }
        id
    }

    /// Delivers the next message in flight; returns false when none is left.
    pub fn deliver_one(&mut self) -> bool {
        let Some(env) = self.inflight.pop_front() else { return false };
        if self.offline[env.to] {
            return true;
        }
        // a lane keeps its order: once one of its messages waits, the later ones wait too
        let lane = |e: &Envelope| (e.from, e.to, e.message.channel_id());
        if self.away[env.to] || self.retrying.iter().any(|r| lane(r) == lane(&env)) {
            self.retrying.push_back(env);
            return true;
        }
        let sender = self.addr(env.from);
        match self.apply(env.to, StateChange::Receive { sender, message: env.message.clone() }) {
            Err(rejection) if rejection.is_transient() => {
                self.retrying.push_back(env);
                return true;
            }
            Err(rejection) => self.nodes[env.to].rejections.push(rejection),
            Ok(()) => {}
        }
        self.delivered.push(env);
        true
    }

    /// Delivers every message, including those sent in answer.
    pub fn run(&mut self) {
        while self.deliver_one() {}
    }

    /// Mines `n` blocks, each followed by delivery of what it caused.
    pub fn mine(&mut self, n: u64) {
        for _ in 0..n {
            self.block += 1;
            // what waited is tried again first, in its order
            let waiting = std::mem::take(&mut self.retrying);
            for env in waiting.into_iter().rev() {
                self.inflight.push_front(env);
            }
            let (due, later) = std::mem::take(&mut self.queued_registrations)
                .into_iter()
                .partition(|(at, _)| *at <= self.block);
            self.queued_registrations = later;
            for (_, secret) in due {
                self.register_now(secret);
            }
            for i in 0..self.nodes.len() {
                let seen = self.block.saturating_sub(self.lag[i]);
                self.apply(i, StateChange::Block(seen)).expect("blocks are never refused");
            }
            self.run();
        }
    }

    pub fn pay_direct(&mut self, from: usize, to: usize, amount: u128) -> Result<(), Rejection> {
        let channel_id = self.channel_id(from, to);
        self.apply(
            from,
            StateChange::SendDirect {
                channel_id,
                payment_id: 1,
                amount: TokenAmount(amount),
                data: Vec::new(),
            },
        )?;
        self.run();
        Ok(())
    }

    pub fn next_secret(&mut self) -> Secret {
        self.secrets += 1;
        Secret(photon_primitives::B256::from(alloy_like_u256(self.secrets)))
    }

    /// Starts a mediated payment over the given routes (node indices) without delivering.
    pub fn start_payment(
        &mut self, from: usize, to: usize, amount: u128, routes: &[(&[usize], u128)],
    ) -> Secret {
        let secret = self.next_secret();
        let routes = routes
            .iter()
            .map(|(path, fee)| Route {
                path: path.iter().map(|&i| self.addr(i)).collect(),
                fee: TokenAmount(*fee),
            })
            .collect();
        let target = self.addr(to);
        let token = self.token;
        self.apply(
            from,
            StateChange::SendMediated {
                token,
                payment_id: self.secrets,
                target,
                amount: TokenAmount(amount),
                secret: Some(secret),
                secrethash: secret.hash(),
                routes,
                fee_limit: TokenAmount(u128::MAX),
                data: Vec::new(),
            },
        )
        .expect("payment accepted");
        secret
    }

    /// A mediated payment, delivered to completion.
    pub fn pay(
        &mut self, from: usize, to: usize, amount: u128, routes: &[(&[usize], u128)],
    ) -> Secret {
        let secret = self.start_payment(from, to, amount, routes);
        self.run();
        secret
    }

    /// `(a's balance, b's balance)` in their channel, checked to be the same from both ends.
    pub fn balances(&self, a: usize, b: usize) -> (u128, u128) {
        let id = self.channel_id(a, b);
        let ca = &self.nodes[a].state.channels[&id];
        let cb = &self.nodes[b].state.channels[&id];
        assert_eq!(ca.our_balance(), cb.partner_balance(), "ends disagree on {a}'s balance");
        assert_eq!(ca.partner_balance(), cb.our_balance(), "ends disagree on {b}'s balance");
        (ca.our_balance().0, ca.partner_balance().0)
    }

    pub fn assert_balances(&self, a: usize, b: usize, expected: (u128, u128)) {
        assert_eq!(self.balances(a, b), expected, "balances of channel {a}-{b}");
    }

    pub fn pending_locks(&self, a: usize, b: usize) -> (Vec<Lock>, Vec<Lock>) {
        let c = &self.nodes[a].state.channels[&self.channel_id(a, b)];
        (c.ours.locks.clone(), c.theirs.locks.clone())
    }

    pub fn assert_no_rejections(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            assert!(n.rejections.is_empty(), "node {i} refused: {:?}", n.rejections);
        }
    }
}

fn alloy_like_u256(n: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[24..].copy_from_slice(&n.to_be_bytes());
    b[0] = 0x5e;
    b
}
