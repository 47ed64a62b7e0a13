//! The Photon side of a swap, driven through a node's API: the lock the other party's payment
//! makes to our node, our payment locked with a hash only, and the claim of a waiting lock
//! with a secret brought from elsewhere (the other chain). Shared by the Litecoin flows
//! ([`crate::flow`]) and the node's swaps across two Photon chains.

use photon_api::{Client, ClientError, Pay, PaymentState, PendingTransfer, Role};
use photon_primitives::{Address, B256};
use std::time::Duration;

/// One Photon side of a swap for this user: our node, the token, the amount its receiver
/// gets, the other party's account on that chain and the chain's block time.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Our node.
    pub node: Client,
    /// The token.
    pub token: Address,
    /// What its receiver gets.
    pub amount: photon_api::Amount,
    /// The other party's account.
    pub counterparty: Address,
    /// The chain's block time (seconds).
    pub block_secs: f64,
}

/// How a swap command waits.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    /// Between two looks at the chains and the nodes.
    pub poll: Duration,
    /// Longest wait for the other party's lock or funding.
    pub wait: Duration,
    /// Wall-clock time kept spare between one party's deadline and the other's.
    pub margin: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(5),
            wait: Duration::from_secs(3_600),
            margin: Duration::from_secs(600),
        }
    }
}

/// The lock paying our node with `hash` as agreed (from the counterparty, in the token, at
/// least the amount), if it is there.
pub async fn incoming(tokens: &Tokens, hash: B256) -> Result<Option<PendingTransfer>, ClientError> {
    Ok(tokens.node.pending_transfers().await?.into_iter().find(|p| {
        p.secrethash == hash
            && p.role == Role::Target
            && p.counterparty == Some(tokens.counterparty)
            && p.token == Some(tokens.token)
            && p.amount.is_some_and(|a| a.0 >= tokens.amount.0)
    }))
}

/// Whether `node` still holds a lock paying it with `hash`.
pub async fn still_locked(node: &Client, hash: B256) -> Result<bool, ClientError> {
    let pending = node.pending_transfers().await?;
    Ok(pending.iter().any(|p| p.secrethash == hash && p.role == Role::Target))
}

/// Gives `node` the secret of a lock paying it (if it still holds one) and waits until the
/// lock is claimed.
pub async fn claim(node: &Client, secret: B256, poll: Duration) -> Result<(), ClientError> {
    let hash = photon_primitives::Secret(secret).hash().0;
    if still_locked(node, hash).await? {
        node.know_secret(secret).await?;
    }
    while still_locked(node, hash).await? {
        tokio::time::sleep(poll).await;
    }
    Ok(())
}

/// Our payment of `tokens` locked with `hash` only (our node cannot reveal its secret):
/// resumed if in flight, else started; its id.
pub async fn pay_hash_locked(tokens: &Tokens, hash: B256) -> Result<u64, ClientError> {
    let pending = tokens.node.pending_transfers().await?;
    if let Some(p) = pending.iter().find(|p| p.secrethash == hash && p.role == Role::Initiator) {
        return Ok(p.payment_id);
    }
    let request = Pay { amount: tokens.amount, secret_hash: Some(hash), ..Pay::default() };
    Ok(tokens.node.pay_async(tokens.token, tokens.counterparty, &request).await?.payment_id)
}

/// Where our payment stands: `Some(Ok)` paid, `Some(Err)` failed (why), `None` in flight.
pub async fn payment_state(
    node: &Client, payment_id: u64,
) -> Result<Option<Result<(), String>>, ClientError> {
    let status = node.payment(payment_id).await?;
    Ok(match status.state {
        PaymentState::Succeeded | PaymentState::Disputed => Some(Ok(())),
        PaymentState::Failed => Some(Err(status.reason.unwrap_or_else(|| "it failed".into()))),
        PaymentState::Pending => None,
    })
}

/// Waits until our payment is over: `Ok` paid, `Err` failed (why).
pub async fn payment_over(
    node: &Client, payment_id: u64, poll: Duration,
) -> Result<Result<(), String>, ClientError> {
    loop {
        if let Some(over) = payment_state(node, payment_id).await? {
            return Ok(over);
        }
        tokio::time::sleep(poll).await;
    }
}
