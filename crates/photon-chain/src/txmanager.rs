//! Sending the node's transactions: one owner of the account nonce, gas estimated before
//! sending (a call that would revert is refused with the contract's error and consumes no
//! nonce), receipts awaited, and pending transactions resumable after a restart.
//!
//! The caller persists every [`PendingTx`] before relying on it (the node keeps them in its
//! storage) and hands them back to [`TxManager::resume`] on start: a mined one is reported, one
//! still in the pool is waited for, one the pool dropped is sent again with the same nonce.

use crate::bindings::{SecretRegistry, TestERC20, TokensNetwork};
use crate::{ChainError, Deployment, Result};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, TxHash, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolInterface, SolValue};
use photon_primitives::lock::encode_locks;
use photon_primitives::{SettleTimeout, SkipMask, TokenAmount};
use photon_state::changes::ContractCall;
use photon_state::state::SignedProof;
use std::time::Duration;

/// Every transaction a node sends.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ChainCall {
    /// `token.approve(TokensNetwork, amount)`.
    Approve {
        /// the token
        token: Address,
        /// exactly the amount about to be deposited
        amount: TokenAmount,
    },
    /// `openChannel`.
    OpenChannel {
        /// the token
        token: Address,
        /// the partner
        partner: Address,
        /// settle timeout
        settle_timeout: SettleTimeout,
    },
    /// `openChannelWithDeposit` (after an approve).
    OpenChannelWithDeposit {
        /// the token
        token: Address,
        /// the partner
        partner: Address,
        /// settle timeout
        settle_timeout: SettleTimeout,
        /// deposit
        amount: TokenAmount,
    },
    /// `deposit` for ourselves (after an approve).
    Deposit {
        /// the token
        token: Address,
        /// the partner
        partner: Address,
        /// amount added
        amount: TokenAmount,
    },
    /// A deposit made by the token itself, without an approve, opening the channel first when
    /// `settle_timeout` is not zero and none exists: ERC223 `transfer(TokensNetwork, amount,
    /// data)` (its `tokenFallback`) or `approveAndCall(TokensNetwork, amount, data)` (its
    /// `receiveApproval`), with `data = abi.encode(partner, settle_timeout)`.
    TokenCallDeposit {
        /// the token
        token: Address,
        /// the partner
        partner: Address,
        /// amount added
        amount: TokenAmount,
        /// settle timeout of a channel to open (none: deposit into an existing channel)
        settle_timeout: Option<SettleTimeout>,
        /// ERC223 `transfer` (true) or `approveAndCall` (false)
        erc223: bool,
    },
    /// A transaction the protocol core asked for.
    Protocol(Box<ContractCall>),
    /// `updateBalanceProofDelegate`: a monitoring service submits `partner`'s proof for
    /// `participant`, with its consent.
    UpdateDelegate {
        /// the channel's token
        token: Address,
        /// the beneficiary, who signed the consent
        participant: Address,
        /// the proof and its signer's (the partner's) signature
        proof: Box<SignedProof>,
        /// the partner
        partner: Address,
        /// `participant`'s `DelegateUpdate` signature
        consent: photon_primitives::Signature,
    },
    /// `unlockDelegate`: a monitoring service claims `partner`'s locks for `participant`.
    UnlockDelegate {
        /// the channel's token
        token: Address,
        /// the beneficiary (receiver of the locks), who signed the consent
        participant: Address,
        /// the sender of the locks
        partner: Address,
        /// the locks, in locksroot order
        locks: Vec<photon_primitives::Lock>,
        /// locks not to claim (disposed)
        skip: SkipMask,
        /// the locksroot's unlock state so far (zero before its first unlock)
        prior: photon_state::UnlockState,
        /// `participant`'s `DelegateUnlock` signature
        consent: photon_primitives::Signature,
    },
    /// `settleChannel` of any two participants' channel (anyone may settle).
    SettleFor {
        /// the channel's token
        token: Address,
        /// one participant
        participant1: Address,
        /// the other
        participant2: Address,
    },
}

impl ChainCall {
    /// The transactions of a deposit of `amount` made `via`; with `open` (a settle timeout)
    /// they open the channel first.
    pub fn deposit(
        token: Address, partner: Address, amount: TokenAmount, open: Option<SettleTimeout>,
        via: DepositVia,
    ) -> Vec<Self> {
        let erc223 = match via {
            DepositVia::Approve => {
                let pull = match open {
                    Some(settle_timeout) => {
                        Self::OpenChannelWithDeposit { token, partner, settle_timeout, amount }
                    }
                    None => Self::Deposit { token, partner, amount },
                };
                return vec![Self::Approve { token, amount }, pull];
            }
            DepositVia::Erc223 => true,
            DepositVia::ApproveAndCall => false,
        };
        vec![Self::TokenCallDeposit { token, partner, amount, settle_timeout: open, erc223 }]
    }
}

/// How tokens reach the network contract in a deposit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositVia {
    /// `approve`, then the network's `deposit`/`openChannelWithDeposit` pulls the tokens (any
    /// ERC20).
    #[default]
    Approve,
    /// one ERC223 `transfer` with data; the network's `tokenFallback` credits it.
    Erc223,
    /// one `approveAndCall`; the network's `receiveApproval` pulls and credits it.
    ApproveAndCall,
}

/// A sent transaction not yet known to be mined.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingTx {
    /// Its nonce.
    pub nonce: u64,
    /// Its hash.
    pub hash: TxHash,
    /// What it does (to send it again if the pool drops it).
    pub call: ChainCall,
}

/// What became of a pending transaction after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// Mined (successfully or not: see the receipt status).
    Mined(TxHash),
    /// Still in the pool.
    Pending(TxHash),
    /// Dropped by the pool, and sent again with the same nonce.
    Resent(Box<PendingTx>),
}

alloy::sol! {
    /// The token entry points of the approve-less deposits.
    interface TokenEntryPoints {
        function transfer(address to, uint256 value, bytes data) external returns (bool);
        function approveAndCall(address spender, uint256 value, bytes extraData) external returns (bool);
    }
}

/// Sends transactions for one account.
#[derive(Debug)]
pub struct TxManager {
    provider: DynProvider,
    from: Address,
    deployment: Deployment,
    next_nonce: u64,
}

fn proof_data(proof: &SignedProof) -> (TokensNetwork::BalanceData, Bytes) {
    let f = &proof.fields;
    (
        TokensNetwork::BalanceData {
            transferredAmount: f.transferred_amount.0,
            lockedAmount: f.locked_amount.0,
            locksroot: f.locksroot.0,
            nonce: f.nonce.0,
            additionalHash: proof.additional_hash,
        },
        proof.signature.0.to_vec().into(),
    )
}

impl TxManager {
    /// A manager for `from`, whose key `provider`'s wallet must hold; the nonce starts at the
    /// account's pending transaction count. Refused when the endpoint serves another chain
    /// than the deployment's: nothing is ever sent there.
    pub async fn new(provider: DynProvider, from: Address, deployment: Deployment) -> Result<Self> {
        let found = provider.get_chain_id().await?;
        if found != deployment.chain_id {
            return Err(ChainError::WrongChain { expected: deployment.chain_id, found });
        }
        let next_nonce = provider.get_transaction_count(from).pending().await?;
        Ok(Self { provider, from, deployment, next_nonce })
    }

    /// The nonce the next transaction gets.
    pub fn next_nonce(&self) -> u64 {
        self.next_nonce
    }

    /// The transaction request of a call (without nonce and gas).
    pub fn request(&self, call: &ChainCall) -> TransactionRequest {
        let tn = self.deployment.tokens_network;
        let (to, input): (Address, Vec<u8>) = match call {
            ChainCall::Approve { token, amount } => (
                *token,
                TestERC20::approveCall { spender: tn, value: U256::from(amount.0) }.abi_encode(),
            ),
            ChainCall::OpenChannel { token, partner, settle_timeout } => (
                tn,
                TokensNetwork::openChannelCall {
                    token: *token,
                    partner: *partner,
                    settleTimeout: settle_timeout.0,
                }
                .abi_encode(),
            ),
            ChainCall::OpenChannelWithDeposit { token, partner, settle_timeout, amount } => (
                tn,
                TokensNetwork::openChannelWithDepositCall {
                    token: *token,
                    partner: *partner,
                    settleTimeout: settle_timeout.0,
                    amount: amount.0,
                }
                .abi_encode(),
            ),
            ChainCall::Deposit { token, partner, amount } => (
                tn,
                TokensNetwork::depositCall {
                    token: *token,
                    participant: self.from,
                    partner: *partner,
                    amount: amount.0,
                }
                .abi_encode(),
            ),
            ChainCall::TokenCallDeposit { token, partner, amount, settle_timeout, erc223 } => {
                // a settle timeout of 0 tells the contract to deposit into an existing channel
                let timeout = settle_timeout.map_or(0, |t| t.0);
                let data: Bytes = (*partner, timeout).abi_encode_params().into();
                let value = U256::from(amount.0);
                let input = if *erc223 {
                    TokenEntryPoints::transferCall { to: tn, value, data }.abi_encode()
                } else {
                    TokenEntryPoints::approveAndCallCall { spender: tn, value, extraData: data }
                        .abi_encode()
                };
                (*token, input)
            }
            ChainCall::Protocol(call) => self.protocol_request(call),
            ChainCall::UpdateDelegate { token, participant, proof, partner, consent } => {
                let (data, signature) = proof_data(proof);
                (
                    tn,
                    TokensNetwork::updateBalanceProofDelegateCall {
                        token: *token,
                        participant: *participant,
                        partner: *partner,
                        proof: data,
                        partnerSignature: signature,
                        consentSignature: consent.0.to_vec().into(),
                    }
                    .abi_encode(),
                )
            }
            ChainCall::UnlockDelegate {
                token,
                participant,
                partner,
                locks,
                skip,
                prior,
                consent,
            } => (
                tn,
                TokensNetwork::unlockDelegateCall {
                    token: *token,
                    participant: *participant,
                    partner: *partner,
                    locks: encode_locks(locks).into(),
                    skip: skip.0,
                    prior: unlock_state(prior),
                    consentSignature: consent.0.to_vec().into(),
                }
                .abi_encode(),
            ),
            ChainCall::SettleFor { token, participant1, participant2 } => (
                tn,
                TokensNetwork::settleChannelCall {
                    token: *token,
                    participant1: *participant1,
                    participant2: *participant2,
                }
                .abi_encode(),
            ),
        };
        TransactionRequest::default().with_from(self.from).with_to(to).with_input(input)
    }

    fn protocol_request(&self, call: &ContractCall) -> (Address, Vec<u8>) {
        let tn = self.deployment.tokens_network;
        match call {
            ContractCall::RegisterSecret { secret } => (
                self.deployment.secret_registry,
                SecretRegistry::registerSecretCall { secret: secret.0 }.abi_encode(),
            ),
            ContractCall::Close { token, partner, proof } => {
                let (data, signature) = proof.as_ref().map(proof_data).unwrap_or_else(|| {
                    (
                        TokensNetwork::BalanceData {
                            transferredAmount: 0,
                            lockedAmount: 0,
                            locksroot: Default::default(),
                            nonce: 0,
                            additionalHash: Default::default(),
                        },
                        Bytes::new(),
                    )
                });
                (
                    tn,
                    TokensNetwork::closeChannelCall {
                        token: *token,
                        partner: *partner,
                        proof: data,
                        partnerSignature: signature,
                    }
                    .abi_encode(),
                )
            }
            ContractCall::UpdateBalanceProof { token, partner, proof } => {
                let (data, signature) = proof_data(proof);
                (
                    tn,
                    TokensNetwork::updateBalanceProofCall {
                        token: *token,
                        partner: *partner,
                        proof: data,
                        partnerSignature: signature,
                    }
                    .abi_encode(),
                )
            }
            ContractCall::Unlock { token, partner, locks, skip, prior } => (
                tn,
                TokensNetwork::unlockCall {
                    token: *token,
                    partner: *partner,
                    locks: encode_locks(locks).into(),
                    skip: skip.0,
                    prior: unlock_state(prior),
                }
                .abi_encode(),
            ),
            ContractCall::Punish {
                token,
                cheater,
                locks,
                prior,
                index,
                disposal_nonce,
                signature,
            } => (
                tn,
                TokensNetwork::punishObsoleteUnlockCall {
                    token: *token,
                    beneficiary: self.from,
                    cheater: *cheater,
                    locks: encode_locks(locks).into(),
                    prior: unlock_state(prior),
                    index: U256::from(*index),
                    disposalNonce: disposal_nonce.0,
                    disposalSignature: signature.0.to_vec().into(),
                }
                .abi_encode(),
            ),
            ContractCall::Settle { token, partner } => (
                tn,
                TokensNetwork::settleChannelCall {
                    token: *token,
                    participant1: self.from,
                    participant2: *partner,
                }
                .abi_encode(),
            ),
            ContractCall::CooperativeSettle { token, fields, signature1, signature2 } => (
                tn,
                TokensNetwork::cooperativeSettleCall {
                    token: *token,
                    participant1: fields.participant1,
                    balance1: fields.balance1.0,
                    participant2: fields.participant2,
                    balance2: fields.balance2.0,
                    signature1: signature1.0.to_vec().into(),
                    signature2: signature2.0.to_vec().into(),
                }
                .abi_encode(),
            ),
            ContractCall::Withdraw {
                token,
                partner,
                fields,
                participant_signature,
                partner_signature,
            } => (
                tn,
                TokensNetwork::withdrawCall {
                    token: *token,
                    participant: fields.participant,
                    partner: *partner,
                    participantDeposit: fields.participant_deposit.0,
                    participantBalance: fields.participant_balance.0,
                    amount: fields.amount.0,
                    expiry: fields.expiry,
                    participantSignature: participant_signature.0.to_vec().into(),
                    partnerSignature: partner_signature.0.to_vec().into(),
                }
                .abi_encode(),
            ),
        }
    }

    /// Estimates, signs and sends `call` with the next nonce. A call the chain would refuse
    /// fails here with the contract's error, and the nonce is not consumed.
    pub async fn send(&mut self, call: &ChainCall) -> Result<PendingTx> {
        self.send_with_nonce(call, self.next_nonce).await.inspect(|_| self.next_nonce += 1)
    }

    async fn send_with_nonce(&self, call: &ChainCall, nonce: u64) -> Result<PendingTx> {
        let request = self.request(call).with_nonce(nonce);
        let gas =
            self.provider.estimate_gas(request.clone()).await.map_err(|e| refusal(e, call))?;
        // 20 % headroom: estimates are exact for these contracts but storage warmth can differ
        let request = request.with_gas_limit(gas + gas / 5);
        let pending =
            self.provider.send_transaction(request).await.map_err(|e| refusal(e, call))?;
        Ok(PendingTx { nonce, hash: *pending.tx_hash(), call: call.clone() })
    }

    /// Waits until `hash` is mined (polling every `interval`, at most `timeout`).
    pub async fn wait(
        &self, hash: TxHash, interval: Duration, timeout: Duration,
    ) -> Result<TransactionReceipt> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(receipt) = self.provider.get_transaction_receipt(hash).await? {
                if !receipt.status() {
                    return Err(ChainError::Reverted(hash));
                }
                return Ok(receipt);
            }
            if std::time::Instant::now() >= deadline {
                return Err(ChainError::Timeout(hash));
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Takes back the transactions that were pending when the node stopped (in nonce order).
    pub async fn resume(&mut self, pending: &[PendingTx]) -> Result<Vec<Resumed>> {
        let mut out = Vec::with_capacity(pending.len());
        let mut sorted: Vec<&PendingTx> = pending.iter().collect();
        sorted.sort_by_key(|p| p.nonce);
        for p in sorted {
            if self.provider.get_transaction_receipt(p.hash).await?.is_some() {
                out.push(Resumed::Mined(p.hash));
            } else if self.provider.get_transaction_by_hash(p.hash).await?.is_some() {
                out.push(Resumed::Pending(p.hash));
            } else {
                out.push(Resumed::Resent(Box::new(self.send_with_nonce(&p.call, p.nonce).await?)));
            }
        }
        self.next_nonce = self.provider.get_transaction_count(self.from).pending().await?;
        Ok(out)
    }
}

/// Names the contract's custom error when an RPC error is a revert. A revert without a
/// known reason is the caller's mistake for what a user asked of a token (a deposit path the
/// token does not have, a balance too short), said as such; for the protocol's own calls it
/// stays an RPC error, which is retried (a token may refuse transfers for a while).
fn refusal(err: alloy::transports::TransportError, call: &ChainCall) -> ChainError {
    let name = err.as_error_resp().and_then(|payload| payload.as_revert_data()).and_then(|data| {
        TokensNetwork::TokensNetworkErrors::abi_decode(&data)
            .map(|e| format!("{e:?}"))
            .ok()
            .or_else(|| {
                SecretRegistry::SecretRegistryErrors::abi_decode(&data)
                    .map(|e| format!("{e:?}"))
                    .ok()
            })
    });
    if let Some(debug) = name {
        return ChainError::Refused(debug.split('(').next().unwrap_or(&debug).to_string());
    }
    let reverted = err.as_error_resp().is_some_and(|payload| payload.message.contains("revert"));
    let user_token_call = match call {
        ChainCall::TokenCallDeposit { erc223: false, .. } => Some(
            "the token refused approveAndCall: it may not have it (deposit via approve), or the \
             balance or allowance is short",
        ),
        ChainCall::TokenCallDeposit { erc223: true, .. } => Some(
            "the token refused an ERC223 transfer with data: it may not be an ERC223 token \
             (deposit via approve), or the balance is short",
        ),
        ChainCall::Approve { .. } => Some("the token refused approve"),
        _ => None,
    };
    match (reverted, user_token_call) {
        (true, Some(reason)) => ChainError::Refused(reason.to_string()),
        _ => ChainError::Rpc(err),
    }
}

/// The contract's form of an unlock state.
pub fn unlock_state(state: &photon_state::UnlockState) -> TokensNetwork::UnlockState {
    TokensNetwork::UnlockState {
        claimed: state.claimed,
        direct: state.direct,
        voided: state.voided,
    }
}
