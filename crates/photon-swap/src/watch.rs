//! Watching the chain for a contract: its funding, once it is deep enough to act on, and the
//! secret its claim shows. Every look reads the node's best chain afresh from a height on, so
//! a reorganisation is never remembered wrong: a funding a reorganisation removed is simply no
//! longer found, and nothing acts on a funding shallower than the depth asked for (a double
//! spend in a reorganisation that deep would take the coins back).

use crate::htlc::Htlc;
use crate::rpc::{Rpc, RpcError};
use bitcoin::hashes::{sha256, Hash};
use bitcoin::{Amount, OutPoint, Txid};
use serde_json::{json, Value};
use std::str::FromStr;

/// A contract's funding found in the best chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Funding {
    /// The output paying the contract.
    pub outpoint: OutPoint,
    /// Its value.
    pub value: Amount,
    /// Blocks on top of it, its own included.
    pub confirmations: u64,
}

/// How a contract's output was spent, as the best chain shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spent {
    /// By the receiver, with the secret.
    Claimed {
        /// the secret the claim shows
        secret: [u8; 32],
        /// the claim
        txid: Txid,
        /// its depth
        confirmations: u64,
    },
    /// By the sender, after the refund height (or by anything else that is not a claim).
    Refunded {
        /// the spend
        txid: Txid,
        /// its depth
        confirmations: u64,
    },
}

fn answer(method: &str, reason: &str) -> RpcError {
    RpcError::Answer { method: method.into(), reason: reason.into() }
}

/// The best chain's transactions from `from` to the tip, with their block's height (verbose:
/// the node decodes them, whatever extension data its blocks carry). Read as one chain: if
/// the best chain changed while it was read (a new block, a reorganisation), it is read again,
/// so that no depth is counted against a tip that is no longer the chain's.
async fn transactions(rpc: &Rpc, from: u64) -> Result<(u64, Vec<(u64, Value)>), RpcError> {
    for _ in 0..10 {
        let best = rpc.call("getbestblockhash", json!([])).await?;
        let tip = rpc.height().await?;
        let mut found = Vec::new();
        let mut changed = false;
        for height in from..=tip {
            // a reorganisation that shortened the chain under us: read it again
            let Ok(hash) = rpc.call("getblockhash", json!([height])).await else {
                changed = true;
                break;
            };
            let block = rpc.call("getblock", json!([hash, 2])).await?;
            let txs =
                block["tx"].as_array().ok_or_else(|| answer("getblock", "no transactions"))?;
            found.extend(txs.iter().map(|tx| (height, tx.clone())));
        }
        if !changed && rpc.call("getbestblockhash", json!([])).await? == best {
            return Ok((tip, found));
        }
    }
    Err(answer("getbestblockhash", "the best chain kept changing while it was read"))
}

fn bytes(hex: &str) -> Option<Vec<u8>> {
    use bitcoin::hex::FromHex;
    Vec::from_hex(hex).ok()
}

/// The first output of the best chain from height `from` that pays `htlc` at least
/// `at_least` (the agreed amount: anyone can pay the same script a little first), if any.
pub async fn funding(
    rpc: &Rpc, htlc: &Htlc, from: u64, at_least: Amount,
) -> Result<Option<Funding>, RpcError> {
    let want = htlc.script_pubkey();
    let (tip, txs) = transactions(rpc, from).await?;
    for (height, tx) in txs {
        let Some(outputs) = tx["vout"].as_array() else { continue };
        for output in outputs {
            let script = output["scriptPubKey"]["hex"].as_str().and_then(bytes);
            if script.as_deref() != Some(want.as_bytes()) {
                continue;
            }
            let txid = tx["txid"].as_str().and_then(|t| Txid::from_str(t).ok());
            let vout = output["n"].as_u64().and_then(|n| u32::try_from(n).ok());
            let value = output["value"].as_f64().and_then(|v| Amount::from_btc(v).ok());
            let (Some(txid), Some(vout), Some(value)) = (txid, vout, value) else {
                return Err(answer("getblock", "an output without its txid, index or value"));
            };
            if value < at_least {
                continue;
            }
            return Ok(Some(Funding {
                outpoint: OutPoint { txid, vout },
                value,
                confirmations: tip + 1 - height,
            }));
        }
    }
    Ok(None)
}

/// How the best chain from height `from` spends `outpoint` (the contract's funding), if it
/// does: a claim shows the secret.
pub async fn spend_of(
    rpc: &Rpc, htlc: &Htlc, outpoint: OutPoint, from: u64,
) -> Result<Option<Spent>, RpcError> {
    let script = htlc.script();
    let (tip, txs) = transactions(rpc, from).await?;
    for (height, tx) in txs {
        let Some(inputs) = tx["vin"].as_array() else { continue };
        for input in inputs {
            let spends = input["txid"].as_str().and_then(|t| Txid::from_str(t).ok())
                == Some(outpoint.txid)
                && input["vout"].as_u64() == Some(u64::from(outpoint.vout));
            if !spends {
                continue;
            }
            let txid = tx["txid"]
                .as_str()
                .and_then(|t| Txid::from_str(t).ok())
                .ok_or_else(|| answer("getblock", "a transaction without its txid"))?;
            let confirmations = tip + 1 - height;
            let witness: Vec<Vec<u8>> = input["txinwitness"]
                .as_array()
                .map(|items| items.iter().filter_map(|i| i.as_str().and_then(bytes)).collect())
                .unwrap_or_default();
            // signature, secret, 0x01, the script
            let secret = (witness.len() == 4 && witness[3] == script.as_bytes())
                .then(|| <[u8; 32]>::try_from(witness[1].as_slice()).ok())
                .flatten()
                .filter(|s| sha256::Hash::hash(s).to_byte_array() == htlc.secret_hash);
            return Ok(Some(match secret {
                Some(secret) => Spent::Claimed { secret, txid, confirmations },
                None => Spent::Refunded { txid, confirmations },
            }));
        }
    }
    Ok(None)
}
