//! Token swaps: the state change a swap request makes, and the API's view of a swap.

use super::*;
use photon_api::{SwapSide, SwapState, SwapView};
use photon_primitives::SecretHash;
use photon_state::{Swap, SwapRole, SwapStatus};

/// A swap's state as the API names it, and why it failed.
pub(super) fn swap_state(status: &SwapStatus) -> (SwapState, Option<String>) {
    match status {
        SwapStatus::Waiting => (SwapState::Waiting, None),
        SwapStatus::Locked => (SwapState::Locked, None),
        SwapStatus::Revealed => (SwapState::Revealed, None),
        SwapStatus::Completed => (SwapState::Completed, None),
        SwapStatus::Failed(why) => (SwapState::Failed, Some(why.clone())),
        SwapStatus::Cancelled => (SwapState::Cancelled, None),
    }
}

/// The API's view of swap `secrethash`.
pub(super) fn swap_view(secrethash: &SecretHash, swap: &Swap) -> SwapView {
    let (state, reason) = swap_state(&swap.status);
    let side = |leg: &photon_state::SwapLeg| SwapSide {
        token: leg.token,
        amount: photon_api::Amount(leg.amount.0),
    };
    // the maker's secret is shown once it is out, never before (it is what the swap hangs on)
    let out = matches!(swap.status, SwapStatus::Revealed | SwapStatus::Completed);
    SwapView {
        secret_hash: secrethash.0,
        role: match swap.role {
            SwapRole::Maker => photon_api::SwapRole::Maker,
            SwapRole::Taker => photon_api::SwapRole::Taker,
        },
        counterparty: swap.counterparty,
        send: side(&swap.send),
        receive: side(&swap.receive),
        state,
        reason,
        secret: swap.secret.filter(|_| out).map(|s| s.0),
        payment_id: swap.payment_id,
        created_block: swap.created,
        deadline_block: swap.deadline,
        incoming_expiration: swap.incoming.map(|(_, lock)| lock.expiration),
        finished_block: swap.finished,
        cancellable: swap.status == SwapStatus::Waiting,
    }
}

impl Node {
    /// The state change making the swap `request` asks for, and its secret hash.
    pub(super) fn swap_change(
        &mut self, request: SwapRequest,
    ) -> Result<(StateChange, SecretHash), NodeError> {
        let SwapRequest { role, counterparty, send, receive, secrethash, expiry, fee_limit } =
            request;
        if counterparty == self.state.address {
            return Err(NodeError::Refused("cannot swap with ourselves".into()));
        }
        self.counter += 1;
        let payment_id = crate::calls::new_payment_id();
        // our side goes to the counterparty: over the routes our graph knows
        let routes: Vec<Route> = self
            .routes_for(send.token, counterparty, send.amount, None)
            .into_iter()
            .map(|(route, _)| route)
            .collect();
        if routes.is_empty() {
            return Err(NodeError::NotFound(format!(
                "no route to {counterparty} for token {} (our side of the swap)",
                send.token
            )));
        }
        if routes.iter().all(|r| r.fee > fee_limit) {
            return Err(NodeError::NotFound(format!(
                "no route to {counterparty} for token {} within the fee limit {fee_limit}",
                send.token
            )));
        }
        Ok(match role {
            SwapRole::Maker => {
                let secret = self.new_secret(payment_id);
                let change = StateChange::StartSwap {
                    payment_id,
                    counterparty,
                    send,
                    receive,
                    secret,
                    routes,
                    fee_limit,
                };
                (change, secret.hash())
            }
            SwapRole::Taker => {
                let secrethash = SecretHash(secrethash.ok_or_else(|| {
                    NodeError::BadRequest("a taker needs the maker's secret_hash".into())
                })?);
                let wait = expiry.unwrap_or(self.state.config.lock_timeout);
                let change = StateChange::ExpectSwap {
                    payment_id,
                    counterparty,
                    send,
                    receive,
                    secrethash,
                    routes,
                    fee_limit,
                    deadline: self.state.block.saturating_add(wait),
                };
                (change, secrethash)
            }
        })
    }
}
