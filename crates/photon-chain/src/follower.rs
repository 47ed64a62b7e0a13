//! Following the chain: confirmed blocks and the contracts' events, as state changes.
//!
//! ```text
//!   head ─ confirmations = confirmed
//!   poll(): logs of [next, confirmed] (at most `max_range` blocks per call)
//!           → for each block with events: its ChainEvents, then Block(b); finally Block(to)
//! ```
//! Nothing is reported before it is `confirmations` blocks deep, so a reorg shallower than
//! that never reaches the node. A deeper one is detected (the hash of the last reported block
//! changed) and reported as an error instead of being silently followed. A failed poll
//! changes nothing: the next one resumes from the same block, so an RPC endpoint that goes
//! away and comes back is simply caught up with.

use crate::bindings::{SecretRegistry, TokensNetwork};
use crate::{ChainError, Deployment, Result};
use alloy::consensus::Transaction as _;
use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::{SolCall, SolEvent};
use photon_primitives::lock::{decode_locks, locksroot};
use photon_primitives::ChannelId;
use photon_primitives::Epoch;
use photon_primitives::Locksroot;
use photon_primitives::TokenAmount;
use photon_primitives::{Lock, Secret, SettleTimeout};
use photon_state::changes::{ChainEvent, StateChange};
use photon_state::UnlockState;

/// How to follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowerConfig {
    /// Blocks an event must be buried under before it is acted on.
    pub confirmations: u64,
    /// First block to read (normally the deployment block).
    pub from_block: u64,
    /// Most blocks per `eth_getLogs` call.
    pub max_range: u64,
    /// The node's own account: the locks of an unlock are read (one extra RPC call) only when
    /// they are this account's. `None`: for every unlock.
    pub owner: Option<Address>,
}

/// Reads confirmed blocks and events of one deployment.
#[derive(Debug)]
pub struct ChainFollower<P> {
    provider: P,
    deployment: Deployment,
    config: FollowerConfig,
    next_block: u64,
    last_reported: Option<(u64, B256)>,
    head: Option<u64>,
    /// The endpoint's chain id was found to be the deployment's.
    chain_checked: bool,
    /// The last poll reached the endpoint.
    online: bool,
    /// The last poll succeeded and reported every confirmed block.
    in_sync: bool,
}

impl<P: Provider> ChainFollower<P> {
    /// A follower starting at `config.from_block`.
    pub fn new(provider: P, deployment: Deployment, config: FollowerConfig) -> Self {
        Self {
            provider,
            deployment,
            next_block: config.from_block,
            config,
            last_reported: None,
            head: None,
            chain_checked: false,
            online: false,
            in_sync: false,
        }
    }

    /// A follower resuming after block `last` whose hash was `hash` (from the node's storage).
    pub fn resume(
        provider: P, deployment: Deployment, config: FollowerConfig, last: u64, hash: B256,
    ) -> Self {
        Self {
            provider,
            deployment,
            next_block: last + 1,
            config,
            last_reported: Some((last, hash)),
            head: None,
            chain_checked: false,
            online: false,
            in_sync: false,
        }
    }

    /// The chain head seen by the last successful poll.
    pub fn head(&self) -> Option<u64> {
        self.head
    }

    /// Whether the last poll (or chain check) reached the RPC endpoint.
    pub fn online(&self) -> bool {
        self.online
    }

    /// Whether the last poll succeeded and reported every block confirmed by then: the
    /// follower's view of the chain is current (not while catching up, nor while the endpoint
    /// is away or serves another chain, nor after a deep reorg).
    pub fn in_sync(&self) -> bool {
        self.in_sync
    }

    /// The last block reported, with its hash.
    pub fn last_reported(&self) -> Option<(u64, B256)> {
        self.last_reported
    }

    /// Checks that the chain id is the deployment's.
    pub async fn check_chain(&mut self) -> Result<()> {
        let chain_id = self.provider.get_chain_id().await.inspect_err(|_| self.online = false)?;
        self.online = true;
        if chain_id != self.deployment.chain_id {
            return Err(ChainError::WrongChain {
                expected: self.deployment.chain_id,
                found: chain_id,
            });
        }
        self.chain_checked = true;
        Ok(())
    }

    /// Reads what became confirmed since the last poll. Empty when nothing did. Checks the
    /// endpoint's chain id first if that was not done yet (a node started while the endpoint
    /// was unreachable), and follows nothing from a wrong chain.
    pub async fn poll(&mut self) -> Result<Vec<StateChange>> {
        let result = self.read_confirmed().await;
        self.online = !matches!(result, Err(ChainError::Rpc(_)));
        let confirmed = self.head.map(|h| h.saturating_sub(self.config.confirmations));
        self.in_sync = result.is_ok() && confirmed.is_some_and(|c| self.next_block > c);
        result
    }

    async fn read_confirmed(&mut self) -> Result<Vec<StateChange>> {
        if !self.chain_checked {
            self.check_chain().await?;
        }
        let head = self.provider.get_block_number().await?;
        self.head = Some(head);
        let confirmed = head.saturating_sub(self.config.confirmations);
        if confirmed < self.next_block {
            return Ok(Vec::new());
        }
        if let Some((block, hash)) = self.last_reported {
            let now = self.block_hash(block).await?;
            if now != hash {
                return Err(ChainError::DeepReorg { block });
            }
        }
        let to = confirmed.min(self.next_block + self.config.max_range.max(1) - 1);
        let filter = Filter::new()
            .address(vec![self.deployment.tokens_network, self.deployment.secret_registry])
            .from_block(self.next_block)
            .to_block(to);
        let mut logs = self.provider.get_logs(&filter).await?;
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        let mut changes = Vec::with_capacity(logs.len() * 2 + 1);
        let mut current: Option<u64> = None;
        for log in &logs {
            let block =
                log.block_number.ok_or(ChainError::MalformedLog("log without block number"))?;
            if let Some(previous) = current.filter(|b| *b != block) {
                changes.push(StateChange::Block(previous));
            }
            current = Some(block);
            let unlock = log.inner.address == self.deployment.tokens_network
                && (log.topic0() == Some(&TokensNetwork::ChannelUnlocked::SIGNATURE_HASH)
                    || log.topic0()
                        == Some(&TokensNetwork::ObsoleteUnlockPunished::SIGNATURE_HASH));
            let event = if unlock { self.unlocked(log).await? } else { self.decode(log, block)? };
            if let Some(event) = event {
                changes.push(StateChange::Chain(event));
            }
        }
        if let Some(previous) = current.filter(|b| *b != to) {
            changes.push(StateChange::Block(previous));
        }
        changes.push(StateChange::Block(to));
        let hash = self.block_hash(to).await?;
        self.last_reported = Some((to, hash));
        self.next_block = to + 1;
        Ok(changes)
    }

    async fn block_hash(&self, number: u64) -> Result<B256> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await?
            .ok_or(ChainError::MissingBlock(number))?;
        Ok(block.header.hash)
    }

    /// A `ChannelUnlocked` or `ObsoleteUnlockPunished` log: the locksroot's new unlock state,
    /// and, when the locks are the owner's (only those are worth the extra calls), the locks
    /// themselves. The log carries only their hash: they are read from the transaction's input
    /// when it calls the contract directly, else from a call trace of the transaction (an
    /// unlock made through another contract); empty when neither works.
    async fn unlocked(&self, log: &Log) -> Result<Option<ChainEvent>> {
        let data = &log.inner.data;
        let (channel_id, sender, root, s) =
            if log.topic0() == Some(&TokensNetwork::ChannelUnlocked::SIGNATURE_HASH) {
                let e = TokensNetwork::ChannelUnlocked::decode_log_data(data)
                    .map_err(|_| ChainError::MalformedLog("ChannelUnlocked"))?;
                (e.channelId, e.sender, e.locksroot, e.state)
            } else {
                let e = TokensNetwork::ObsoleteUnlockPunished::decode_log_data(data)
                    .map_err(|_| ChainError::MalformedLog("ObsoleteUnlockPunished"))?;
                (e.channelId, e.beneficiary, e.locksroot, e.state)
            };
        let state = UnlockState { claimed: s.claimed, direct: s.direct, voided: s.voided };
        let mut locks = Vec::new();
        if self.config.owner.is_none_or(|me| me == sender) {
            if let Some(hash) = log.transaction_hash {
                locks = self.unlocked_locks(hash, root).await?;
            }
        }
        Ok(Some(ChainEvent::ChannelUnlocked {
            channel_id: ChannelId(channel_id),
            sender,
            locksroot: Locksroot(root),
            locks,
            state,
        }))
    }

    /// The locks hashing to `root` that transaction `hash` passed to the contract.
    async fn unlocked_locks(&self, hash: B256, root: B256) -> Result<Vec<Lock>> {
        let Some(tx) = self.provider.get_transaction_by_hash(hash).await? else {
            return Ok(Vec::new());
        };
        if tx.inner.to() == Some(self.deployment.tokens_network) {
            if let Some(locks) = locks_of_call(tx.inner.input(), root) {
                return Ok(locks);
            }
        }
        // A call through another contract: its inner calls, from the endpoint's call tracer
        // (an endpoint without the debug namespace cannot show them).
        let options = serde_json::json!({ "tracer": "callTracer" });
        let trace: serde_json::Value =
            match self.provider.raw_request("debug_traceTransaction".into(), (hash, options)).await
            {
                Ok(trace) => trace,
                Err(_) => return Ok(Vec::new()),
            };
        let mut frames = vec![&trace];
        while let Some(frame) = frames.pop() {
            let to: Option<Address> =
                frame.get("to").and_then(|t| t.as_str()).and_then(|t| t.parse().ok());
            let input = frame
                .get("input")
                .and_then(|i| i.as_str())
                .and_then(|i| alloy::primitives::hex::decode(i).ok());
            if let (Some(to), Some(input)) = (to, input) {
                if to == self.deployment.tokens_network {
                    if let Some(locks) = locks_of_call(&input, root) {
                        return Ok(locks);
                    }
                }
            }
            if let Some(calls) = frame.get("calls").and_then(|c| c.as_array()) {
                frames.extend(calls);
            }
        }
        Ok(Vec::new())
    }

    /// The state-machine view of one log, if the node acts on that event.
    fn decode(&self, log: &Log, block: u64) -> Result<Option<ChainEvent>> {
        let inner = &log.inner;
        if inner.address == self.deployment.secret_registry {
            return Ok(match inner.topics().first() {
                Some(t) if *t == SecretRegistry::SecretRevealed::SIGNATURE_HASH => {
                    let e = SecretRegistry::SecretRevealed::decode_log_data(&inner.data)
                        .map_err(|_| ChainError::MalformedLog("SecretRevealed"))?;
                    Some(ChainEvent::SecretRegistered { secret: Secret(e.secret), block })
                }
                _ => None,
            });
        }
        let Some(topic) = inner.topics().first() else { return Ok(None) };
        let bad = |name: &'static str| move |_| ChainError::MalformedLog(name);
        let event = match *topic {
            t if t == TokensNetwork::ChannelOpened::SIGNATURE_HASH => {
                let e = TokensNetwork::ChannelOpened::decode_log_data(&inner.data)
                    .map_err(bad("ChannelOpened"))?;
                ChainEvent::ChannelOpened {
                    channel_id: ChannelId(e.channelId),
                    token: e.token,
                    participant1: e.participant1,
                    participant2: e.participant2,
                    settle_timeout: SettleTimeout(e.settleTimeout),
                    epoch: Epoch(e.epoch),
                }
            }
            t if t == TokensNetwork::ChannelDeposit::SIGNATURE_HASH => {
                let e = TokensNetwork::ChannelDeposit::decode_log_data(&inner.data)
                    .map_err(bad("ChannelDeposit"))?;
                ChainEvent::Deposit {
                    channel_id: ChannelId(e.channelId),
                    participant: e.participant,
                    total: TokenAmount(e.deposit),
                }
            }
            t if t == TokensNetwork::ChannelWithdraw::SIGNATURE_HASH => {
                let e = TokensNetwork::ChannelWithdraw::decode_log_data(&inner.data)
                    .map_err(bad("ChannelWithdraw"))?;
                ChainEvent::Withdrawn {
                    channel_id: ChannelId(e.channelId),
                    participant: e.participant,
                    amount: TokenAmount(e.amount),
                    deposit1: TokenAmount(e.deposit1),
                    deposit2: TokenAmount(e.deposit2),
                    epoch: Epoch(e.epoch),
                }
            }
            t if t == TokensNetwork::ChannelClosed::SIGNATURE_HASH => {
                let e = TokensNetwork::ChannelClosed::decode_log_data(&inner.data)
                    .map_err(bad("ChannelClosed"))?;
                ChainEvent::ChannelClosed {
                    channel_id: ChannelId(e.channelId),
                    closer: e.closer,
                    block,
                }
            }
            t if t == TokensNetwork::ChannelSettled::SIGNATURE_HASH => {
                let e = TokensNetwork::ChannelSettled::decode_log_data(&inner.data)
                    .map_err(bad("ChannelSettled"))?;
                ChainEvent::ChannelSettled { channel_id: ChannelId(e.channelId) }
            }
            t if t == TokensNetwork::ChannelCooperativeSettled::SIGNATURE_HASH => {
                let e = TokensNetwork::ChannelCooperativeSettled::decode_log_data(&inner.data)
                    .map_err(bad("ChannelCooperativeSettled"))?;
                ChainEvent::ChannelSettled { channel_id: ChannelId(e.channelId) }
            }
            // ChannelUnlocked, ObsoleteUnlockPunished: see `unlocked`. BalanceProofUpdated:
            // not needed by the state machine.
            _ => return Ok(None),
        };
        Ok(Some(event))
    }
}

/// The locks hashing to `root` in a call of `unlock`, `unlockDelegate` or
/// `punishObsoleteUnlock` with this input.
fn locks_of_call(input: &[u8], root: B256) -> Option<Vec<Lock>> {
    let packed = if let Ok(call) = TokensNetwork::unlockCall::abi_decode(input) {
        call.locks
    } else if let Ok(call) = TokensNetwork::unlockDelegateCall::abi_decode(input) {
        call.locks
    } else if let Ok(call) = TokensNetwork::punishObsoleteUnlockCall::abi_decode(input) {
        call.locks
    } else {
        return None;
    };
    decode_locks(&packed).filter(|l| locksroot(l) == Locksroot(root))
}
