//! Swaps across two chains (`docs/swaps.md`, section 2). A node follows one chain, so a user
//! swapping token X on chain 1 for token Y on chain 2 runs one node on each, and this module
//! (`photon swap cross-make` / `cross-take`) drives both through their APIs: each leg is an
//! ordinary payment locked with the same hash, which the nodes secure as any other; what is
//! added here is the order of the steps and the secret carried from one chain to the other.
//!
//! - The **maker** holds the secret. It pays X on chain 1 locked with the hash only (its node
//!   never reveals: it does not know the secret), waits for the taker's payment of Y on chain
//!   2 to be locked to it, checks token, amount, payer and that the lock lives long enough to
//!   be claimed, and only then gives the secret to its chain-2 node, which claims Y.
//! - The **taker** waits for the maker's lock of X on chain 1, checks it and that it outlives
//!   the taker's own lock of Y on chain 2 by the time to bring the secret back (its node's
//!   lock timeout on chain 2, in seconds, plus the reveal timeout on chain 1, plus a margin);
//!   then pays Y locked with the hash. When that payment completes (the maker claimed it),
//!   its chain-2 node has learned the secret; the taker gives it to its chain-1 node, which
//!   claims X.
//!
//! Nothing here holds funds: if the command stops, the locks expire and each payer keeps its
//! tokens, except after the maker claimed Y: the taker must then carry the secret over before
//! its chain-1 lock expires, so running the command again (it resumes from what the nodes
//! know) is what the taker must do. Block times differ between chains, hence the wall-clock
//! budget.

use photon_api::{ClientError, Role};
use photon_primitives::{Secret, B256};
use photon_swap::tokens;
pub use photon_swap::tokens::{Patience, Tokens as Leg};
use std::time::Instant;

/// How a swap across chains ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossOutcome {
    /// Both legs done: we were paid.
    Completed {
        /// the secret both legs were claimed with
        secret: B256,
    },
    /// Nothing exchanged: our payment failed or was never made (its lock expired or never
    /// went out), so we keep our tokens.
    NotExchanged {
        /// why
        reason: String,
    },
}

/// Why the command stopped without an outcome.
#[derive(Debug, thiserror::Error)]
pub enum CrossError {
    /// A node's API failed.
    #[error(transparent)]
    Api(#[from] ClientError),
    /// The counterparty's lock did not come (or not as agreed) in time.
    #[error("the counterparty's lock did not come in time: {0}")]
    NoLock(String),
    /// The terms cannot be made safe (a lock expiring too soon for the other to follow).
    #[error("not safe: {0}")]
    Unsafe(String),
}

/// The hash both legs are locked with.
pub fn hash_of(secret: B256) -> B256 {
    Secret(secret).hash().0
}

/// The maker: pays `pay` (chain 1) locked with `secret`'s hash, and claims `receive` (chain 2)
/// with the secret once the taker's lock is there as agreed.
pub async fn make(
    pay: &Leg, receive: &Leg, secret: B256, patience: Patience,
) -> Result<CrossOutcome, CrossError> {
    let hash = hash_of(secret);
    // our leg: resumed if a payment with this hash is already in flight
    let payment_id = tokens::pay_hash_locked(pay, hash).await?;
    let started = Instant::now();
    loop {
        if let Some(Err(reason)) = tokens::payment_state(&pay.node, payment_id).await? {
            // never revealed: nothing can be claimed from us, nor do we claim
            return Ok(CrossOutcome::NotExchanged {
                reason: format!("our payment failed: {reason}"),
            });
        }
        if let Some(lock) = tokens::incoming(receive, hash).await? {
            let node = receive.node.status().await?;
            let expiration = lock.expiration.unwrap_or(0);
            if expiration > node.block + node.reveal_timeout {
                tokens::claim(&receive.node, secret, patience.poll).await?;
                return Ok(CrossOutcome::Completed { secret });
            }
            return Err(CrossError::Unsafe(format!(
                "the taker's lock expires at block {expiration}, within our reveal timeout of \
                 block {}: the secret stays ours, and both locks expire",
                node.block
            )));
        }
        if started.elapsed() > patience.wait {
            return Err(CrossError::NoLock(format!(
                "no lock of {} with the hash from {} in {:?}; our payment {payment_id} expires \
                 by itself",
                receive.amount, receive.counterparty, patience.wait
            )));
        }
        tokio::time::sleep(patience.poll).await;
    }
}

/// The taker: once the maker's lock of `receive` (chain 1) is there with `hash`, pays `pay`
/// (chain 2) locked with it, then claims `receive` with the secret the maker's claim of `pay`
/// showed.
pub async fn take(
    pay: &Leg, receive: &Leg, hash: B256, patience: Patience,
) -> Result<CrossOutcome, CrossError> {
    // already learned (a run before this one was stopped after the maker claimed): claim
    if let Ok(secret) = pay.node.secret_of(hash).await {
        return claim(receive, hash, secret, patience).await;
    }
    let started = Instant::now();
    let lock = loop {
        if let Some(lock) = tokens::incoming(receive, hash).await? {
            break lock;
        }
        if started.elapsed() > patience.wait {
            return Err(CrossError::NoLock(format!(
                "no lock of {} with hash {hash} from {} in {:?}",
                receive.amount, receive.counterparty, patience.wait
            )));
        }
        tokio::time::sleep(patience.poll).await;
    };
    // our lock must end, in wall-clock time, before the maker's can no longer be claimed
    let (there, here) = (receive.node.status().await?, pay.node.status().await?);
    let expiration = lock.expiration.unwrap_or(0);
    let claimable_for =
        expiration.saturating_sub(there.block + there.reveal_timeout) as f64 * receive.block_secs;
    let ours_lives = here.lock_timeout as f64 * pay.block_secs + patience.margin.as_secs_f64();
    let pending = pay.node.pending_transfers().await?;
    let resumed = pending.iter().any(|p| p.secrethash == hash && p.role == Role::Initiator);
    if !resumed && claimable_for <= ours_lives {
        return Err(CrossError::Unsafe(format!(
            "the maker's lock can be claimed for {claimable_for:.0} s more, ours would live \
             {ours_lives:.0} s (lock timeout and margin): we do not pay, and the maker's lock \
             expires"
        )));
    }
    let payment_id = tokens::pay_hash_locked(pay, hash).await?;
    match tokens::payment_over(&pay.node, payment_id, patience.poll).await? {
        Ok(()) => {
            let secret = pay.node.secret_of(hash).await?;
            claim(receive, hash, secret, patience).await
        }
        Err(reason) => Ok(CrossOutcome::NotExchanged {
            reason: format!("our payment failed: {reason} (the maker did not claim it)"),
        }),
    }
}

/// Gives `secret` to our node on the maker's chain, which claims the maker's lock.
async fn claim(
    receive: &Leg, hash: B256, secret: B256, patience: Patience,
) -> Result<CrossOutcome, CrossError> {
    if !tokens::still_locked(&receive.node, hash).await? {
        return Err(CrossError::NoLock(format!(
            "our node no longer holds the maker's lock {hash}: claimed by an earlier run, or \
             expired (see its payment history); the secret is {secret}"
        )));
    }
    tokens::claim(&receive.node, secret, patience.poll).await?;
    Ok(CrossOutcome::Completed { secret })
}
