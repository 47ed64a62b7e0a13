//! The swap flows between Litecoin and Photon (`docs/swaps.md`, section 3), each party's side
//! as one function that runs until its swap is over and may be run again to resume (it starts
//! from what the chain and the node show). In both directions the party holding the secret
//! (the maker) locks first, with the longer timeout, and is paid first; the other (the taker)
//! locks second with the shorter timeout and claims with the secret the maker's claim showed.
//!
//! | direction      | maker (holds the secret)         | taker                                   |
//! |----------------|----------------------------------|-----------------------------------------|
//! | coins → tokens | [`sell_coins`]: funds the HTLC   | [`buy_coins`]: pays tokens, claims coins |
//! | tokens → coins | [`buy_coins_with_tokens`]        | [`sell_coins_for_tokens`]               |
//!
//! A funding is acted on only once it is `confirmations` deep (a reorganisation shallower than
//! that cannot take back coins someone already paid for); a secret is acted on as soon as it is
//! seen, since no reorganisation can make it secret again.

use crate::htlc::{Htlc, HtlcError, Spend};
use crate::rpc::{Rpc, RpcError};
use crate::tokens;
pub use crate::tokens::{Patience, Tokens};
use crate::watch::{self, Funding, Spent};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::SecretKey;
use bitcoin::{ScriptBuf, Txid};
use photon_api::{ClientError, Role};
use photon_primitives::B256;
use serde_json::json;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The Litecoin (or Bitcoin-family) chain and how it is trusted.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Its node's JSON-RPC (a wallet for fundings).
    pub rpc: Rpc,
    /// The bech32 prefix of its addresses (`rltc` on regtest, `ltc` on Litecoin).
    pub prefix: String,
    /// How deep a funding must be before anything is paid or revealed against it.
    pub confirmations: u64,
    /// Its block time (seconds).
    pub block_secs: f64,
}

/// The contract of the coins side, and our part in it.
#[derive(Debug, Clone)]
pub struct Coins {
    /// The agreed contract (hash, keys, refund height).
    pub htlc: Htlc,
    /// The agreed amount.
    pub amount: bitcoin::Amount,
    /// Our key in the contract (the receiver's to claim, the sender's to refund).
    pub key: SecretKey,
    /// Where the coins we take (claim or refund) go.
    pub to: ScriptBuf,
    /// The fee of that transaction.
    pub fee: bitcoin::Amount,
    /// The height from which a funding is looked for (the chain's height at the agreement).
    pub from: u64,
}

/// How a flow ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// We were paid.
    Completed {
        /// the secret both sides were claimed with
        secret: [u8; 32],
    },
    /// The contract's coins went back to us (its sender) after its refund height.
    Refunded {
        /// the refund
        txid: Txid,
    },
    /// Nothing exchanged (our payment's lock expired or never went out).
    NotExchanged {
        /// why
        reason: String,
    },
}

/// Why a flow stopped without an outcome.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The Litecoin node failed.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The Photon node failed.
    #[error(transparent)]
    Api(#[from] ClientError),
    /// A contract transaction could not be made.
    #[error(transparent)]
    Htlc(#[from] HtlcError),
    /// The other party's lock or funding did not come in time.
    #[error("nothing came in time: {0}")]
    Absent(String),
    /// The terms cannot be made safe.
    #[error("not safe: {0}")]
    Unsafe(String),
}

/// The sha256 hash of a secret: what both sides are locked with.
pub fn hash_of(secret: [u8; 32]) -> [u8; 32] {
    sha256::Hash::hash(&secret).to_byte_array()
}

/// Gives our node the secret of the lock paying it and waits until it is claimed.
async fn claim_tokens(
    tokens: &Tokens, secret: [u8; 32], poll: Duration,
) -> Result<Outcome, FlowError> {
    tokens::claim(&tokens.node, B256::from(secret), poll).await?;
    Ok(Outcome::Completed { secret })
}

/// The contract's funding, at least the agreed amount, in the best chain now.
async fn funded(chain: &Chain, coins: &Coins) -> Result<Option<Funding>, RpcError> {
    watch::funding(&chain.rpc, &coins.htlc, coins.from, coins.amount).await
}

/// Funds the contract from the node's wallet, unless a funding is in the chain already.
async fn fund(chain: &Chain, coins: &Coins) -> Result<(), FlowError> {
    if funded(chain, coins).await?.is_some() {
        return Ok(());
    }
    let address = coins.htlc.address(&chain.prefix)?;
    let amount = coins.amount.to_string_in(bitcoin::Denomination::Bitcoin);
    chain.rpc.call("sendtoaddress", json!([address, amount])).await?;
    Ok(())
}

/// Broadcasts `tx`; its id.
async fn broadcast(chain: &Chain, tx: &bitcoin::Transaction) -> Result<Txid, RpcError> {
    let hex = bitcoin::consensus::encode::serialize_hex(tx);
    let answer = chain.rpc.call("sendrawtransaction", json!([hex])).await?;
    let txid = answer.as_str().and_then(|t| Txid::from_str(t).ok());
    txid.ok_or_else(|| RpcError::Answer {
        method: "sendrawtransaction".into(),
        reason: format!("{answer} is not a transaction id"),
    })
}

/// The spend of our contract's funding, once there is one.
fn spend(coins: &Coins, funding: &Funding) -> Spend {
    Spend { outpoint: funding.outpoint, value: funding.value, to: coins.to.clone(), fee: coins.fee }
}

/// Takes the coins back once the refund height is reached, if they are still there: the
/// refund's id (`None`: not yet, or already spent).
async fn refund_if_due(chain: &Chain, coins: &Coins) -> Result<Option<Txid>, FlowError> {
    let tip = chain.rpc.height().await?;
    // a lock time of T is final in blocks after T: the node takes the refund into its
    // mempool once its tip is at T, for the next block
    if tip < u64::from(coins.htlc.refund_height) {
        return Ok(None);
    }
    let Some(funding) = funded(chain, coins).await? else { return Ok(None) };
    match watch::spend_of(&chain.rpc, &coins.htlc, funding.outpoint, coins.from).await? {
        Some(Spent::Refunded { txid, .. }) => Ok(Some(txid)),
        Some(Spent::Claimed { .. }) => Ok(None),
        None => {
            let refund = coins.htlc.refund(&spend(coins, &funding), &coins.key)?;
            Ok(Some(broadcast(chain, &refund).await?))
        }
    }
}

/// **Coins → tokens, the maker** (holds `secret`, the contract's sender): funds the contract,
/// and once the taker's payment of the tokens is locked to our node as agreed, with time to
/// claim it, gives our node the secret, which claims it; the taker then reads the secret from
/// its own payment and claims the coins. Past the refund height, unclaimed coins come back.
pub async fn sell_coins(
    chain: &Chain, coins: &Coins, tokens: &Tokens, secret: [u8; 32], patience: Patience,
) -> Result<Outcome, FlowError> {
    let hash = B256::from(hash_of(secret));
    fund(chain, coins).await?;
    loop {
        if let Some(lock) = tokens::incoming(tokens, hash).await? {
            let node = tokens.node.status().await?;
            if lock.expiration.unwrap_or(0) > node.block + node.reveal_timeout {
                return claim_tokens(tokens, secret, patience.poll).await;
            }
        }
        if let Some(txid) = refund_if_due(chain, coins).await? {
            return Ok(Outcome::Refunded { txid });
        }
        tokio::time::sleep(patience.poll).await;
    }
}

/// **Coins → tokens, the taker** (the contract's receiver): once the maker's funding is
/// `confirmations` deep and leaves time to claim after our payment's lock could have expired,
/// pays the tokens locked with the contract's hash; when the maker has claimed them, our node
/// knows the secret and we claim the coins with it.
pub async fn buy_coins(
    chain: &Chain, coins: &Coins, tokens: &Tokens, patience: Patience,
) -> Result<Outcome, FlowError> {
    let hash = B256::from(coins.htlc.secret_hash);
    // a run before this one may have paid and learned the secret already
    if let Ok(secret) = tokens.node.secret_of(hash).await {
        return claim_coins(chain, coins, secret.0, patience).await;
    }
    let started = Instant::now();
    loop {
        let deep = funded(chain, coins).await?.filter(|f| f.confirmations >= chain.confirmations);
        if deep.is_some() {
            break;
        }
        if started.elapsed() > patience.wait {
            return Err(FlowError::Absent(format!(
                "no funding of {} to the contract {} deep in {:?}",
                coins.amount, chain.confirmations, patience.wait
            )));
        }
        tokio::time::sleep(patience.poll).await;
    }
    let in_flight = tokens.node.pending_transfers().await?;
    let resumed = in_flight.iter().any(|p| p.secrethash == hash && p.role == Role::Initiator);
    if !resumed {
        // after our lock could expire (the maker claims at the latest then), the claim of the
        // coins must still get `confirmations` blocks before the refund height
        let tip = chain.rpc.height().await?;
        // the refund can be mined from block T + 1 on: our claim must be in by block T
        let left =
            u64::from(coins.htlc.refund_height).saturating_sub(tip) as f64 * chain.block_secs;
        let node = tokens.node.status().await?;
        let needed = node.lock_timeout as f64 * tokens.block_secs
            + chain.confirmations as f64 * chain.block_secs
            + patience.margin.as_secs_f64();
        if left <= needed {
            return Err(FlowError::Unsafe(format!(
                "the contract refunds in {left:.0} s; paying now needs {needed:.0} s to claim \
                 it after our lock's lifetime: we do not pay"
            )));
        }
    }
    let payment_id = tokens::pay_hash_locked(tokens, hash).await?;
    match tokens::payment_over(&tokens.node, payment_id, patience.poll).await? {
        Ok(()) => {
            let secret = tokens.node.secret_of(hash).await?;
            claim_coins(chain, coins, secret.0, patience).await
        }
        Err(reason) => Ok(Outcome::NotExchanged {
            reason: format!("our payment failed: {reason} (the maker did not claim it)"),
        }),
    }
}

/// Claims the contract's coins with `secret` and waits until the claim is in a block.
async fn claim_coins(
    chain: &Chain, coins: &Coins, secret: [u8; 32], patience: Patience,
) -> Result<Outcome, FlowError> {
    loop {
        let Some(funding) = funded(chain, coins).await? else {
            return Err(FlowError::Absent(
                "the contract's funding is no longer in the chain".into(),
            ));
        };
        match watch::spend_of(&chain.rpc, &coins.htlc, funding.outpoint, coins.from).await? {
            Some(Spent::Claimed { .. }) => return Ok(Outcome::Completed { secret }),
            Some(Spent::Refunded { txid, .. }) => {
                return Err(FlowError::Unsafe(format!(
                    "the maker refunded the contract ({txid}) before our claim"
                )))
            }
            None => {
                let claim = coins.htlc.claim(&spend(coins, &funding), secret, &coins.key)?;
                // already in the mempool: the node says so; we wait for a block either way
                if let Err(e) = broadcast(chain, &claim).await {
                    let known = e.to_string().contains("already");
                    if !known {
                        return Err(e.into());
                    }
                }
                tokio::time::sleep(patience.poll).await;
            }
        }
    }
}

/// **Tokens → coins, the maker** (holds `secret`, the contract's receiver): pays the tokens
/// locked with the hash only (our node cannot reveal), waits for the taker's funding
/// `confirmations` deep with time left before its refund height, and claims the coins with
/// the secret, which shows it on the chain: the taker reads it there and claims the tokens.
pub async fn buy_coins_with_tokens(
    chain: &Chain, coins: &Coins, tokens: &Tokens, secret: [u8; 32], patience: Patience,
) -> Result<Outcome, FlowError> {
    let hash = B256::from(hash_of(secret));
    let payment_id = tokens::pay_hash_locked(tokens, hash).await?;
    loop {
        if let Some(Err(reason)) = tokens::payment_state(&tokens.node, payment_id).await? {
            return Ok(Outcome::NotExchanged { reason: format!("our payment failed: {reason}") });
        }
        let deep = funded(chain, coins).await?.filter(|f| f.confirmations >= chain.confirmations);
        if deep.is_some() {
            let tip = chain.rpc.height().await?;
            // the claim must be mined before the taker can refund
            if tip + chain.confirmations < u64::from(coins.htlc.refund_height) {
                return claim_coins(chain, coins, secret, patience).await;
            }
            return Err(FlowError::Unsafe(format!(
                "the funding came too late: the contract refunds at height {}, the chain is at \
                 {tip}; the secret stays ours and our payment expires",
                coins.htlc.refund_height
            )));
        }
        tokio::time::sleep(patience.poll).await;
    }
}

/// **Tokens → coins, the taker** (the contract's sender): once the maker's payment of the
/// tokens is locked to our node as agreed, and the contract's refund height comes, in
/// wall-clock time, early enough that a claim at its last moment still leaves us time to
/// claim the tokens, funds the contract; when the maker claims it, reads the secret from the
/// chain and claims the tokens with it. Past the refund height, unclaimed coins come back.
pub async fn sell_coins_for_tokens(
    chain: &Chain, coins: &Coins, tokens: &Tokens, patience: Patience,
) -> Result<Outcome, FlowError> {
    let hash = B256::from(coins.htlc.secret_hash);
    let started = Instant::now();
    let lock = loop {
        if let Some(lock) = tokens::incoming(tokens, hash).await? {
            break Some(lock);
        }
        if funded(chain, coins).await?.is_some() {
            // funded by a run before this one: the lock was checked then
            break None;
        }
        if started.elapsed() > patience.wait {
            return Err(FlowError::Absent(format!(
                "no lock of {} with hash {hash} from {} in {:?}",
                tokens.amount, tokens.counterparty, patience.wait
            )));
        }
        tokio::time::sleep(patience.poll).await;
    };
    if let Some(expiration) = lock.map(|l| l.expiration.unwrap_or(0)) {
        let node = tokens.node.status().await?;
        let tip = chain.rpc.height().await?;
        let claimable_for =
            expiration.saturating_sub(node.block + node.reveal_timeout) as f64 * tokens.block_secs;
        let refund_in =
            u64::from(coins.htlc.refund_height).saturating_sub(tip) as f64 * chain.block_secs;
        if claimable_for <= refund_in + patience.margin.as_secs_f64() {
            return Err(FlowError::Unsafe(format!(
                "the maker's lock can be claimed for {claimable_for:.0} s more; a claim of the \
                 coins could come {refund_in:.0} s from now: we do not fund"
            )));
        }
        fund(chain, coins).await?;
    }
    loop {
        if let Some(funding) = funded(chain, coins).await? {
            let seen = watch::spend_of(&chain.rpc, &coins.htlc, funding.outpoint, coins.from);
            if let Some(Spent::Claimed { secret, .. }) = seen.await? {
                return claim_tokens(tokens, secret, patience.poll).await;
            }
        }
        if let Some(txid) = refund_if_due(chain, coins).await? {
            return Ok(Outcome::Refunded { txid });
        }
        tokio::time::sleep(patience.poll).await;
    }
}
