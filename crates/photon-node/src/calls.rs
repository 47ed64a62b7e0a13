//! The node's typed calls, in the API's types ([`photon_api`]): what the REST API serves and
//! what an app embedding the node (`photon-mobile`) calls. Each validates its input before
//! the node sees it.

use crate::error::NodeError;
use crate::runtime::{ChannelAction, ChannelView, Command, Input, NodeHandle, PaymentOutcome};
use photon_api::{
    Amount, OpenChannel, Pay, Payment, PaymentStatus, PaymentsQuery, RouteSpec, SwapView, Via,
};
use photon_chain::DepositVia;
use photon_primitives::{Address, Secret, TokenAmount, B256};
use photon_storage::{Direction, PaymentFilter, PaymentRecord};

fn bad(message: impl Into<String>) -> NodeError {
    NodeError::BadRequest(message.into())
}

/// The largest payment id the node chooses: 2^53 - 1, the largest integer a JSON number
/// keeps exactly in every client (JavaScript's `Number.MAX_SAFE_INTEGER`).
pub const MAX_CHOSEN_PAYMENT_ID: u64 = (1 << 53) - 1;

/// A payment id unlikely to repeat, at most [`MAX_CHOSEN_PAYMENT_ID`]: the clock's
/// nanoseconds mixed with a process counter.
pub fn new_payment_id() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (nanos ^ count.rotate_left(40)) & MAX_CHOSEN_PAYMENT_ID
}

/// The node's request for a payment the API asked for, and its id (the caller's, or a
/// fresh one).
fn pay_request(
    token: Address, target: Address, r: Pay,
) -> Result<(crate::runtime::PayRequest, u64), NodeError> {
    if r.amount.0 == 0 {
        return Err(bad("amount must be positive"));
    }
    let data = r.data.map(|d| d.0).unwrap_or_default();
    let most = photon_primitives::messages::MAX_DATA_LEN;
    if data.len() > most {
        return Err(bad(format!("data of {} bytes, more than the maximum of {most}", data.len())));
    }
    let secret = r.secret.map(secret).transpose()?;
    let routes = r.routes.map(|routes| {
        routes
            .into_iter()
            .map(|route| match route {
                RouteSpec::Path(path) => photon_state::Route { path, fee: TokenAmount(0) },
                RouteSpec::WithFee { path, fee } => {
                    photon_state::Route { path, fee: TokenAmount(fee.0) }
                }
            })
            .collect()
    });
    let payment_id = r.payment_id.unwrap_or_else(new_payment_id);
    let request = crate::runtime::PayRequest {
        token,
        target,
        amount: TokenAmount(r.amount.0),
        payment_id: Some(payment_id),
        secret,
        secrethash: r.secret_hash,
        fee_limit: r.fee_limit.map_or_else(
            || crate::routing::default_fee_limit(TokenAmount(r.amount.0)),
            |a| TokenAmount(a.0),
        ),
        routes,
        found: None,
        data,
    };
    Ok((request, payment_id))
}

/// A secret from a request: anything but zero.
pub fn secret(value: B256) -> Result<Secret, NodeError> {
    if value == B256::ZERO {
        return Err(NodeError::Refused("the zero secret is not a secret".into()));
    }
    Ok(Secret(value))
}

/// How a deposit reaches the contract.
pub fn deposit_via(via: Via) -> DepositVia {
    match via {
        Via::Approve => DepositVia::Approve,
        Via::Erc223 => DepositVia::Erc223,
        Via::ApproveAndCall => DepositVia::ApproveAndCall,
    }
}

fn direction(d: photon_api::Direction) -> Direction {
    match d {
        photon_api::Direction::Sent => Direction::Sent,
        photon_api::Direction::Received => Direction::Received,
        photon_api::Direction::Mediated => Direction::Mediated,
        photon_api::Direction::Failed => Direction::Failed,
    }
}

/// A row of the payment history as the API shows it.
pub fn payment_view(p: PaymentRecord) -> Payment {
    Payment {
        id: p.id,
        state_change_id: p.state_change_id,
        at: p.at,
        direction: match p.direction {
            Direction::Sent => photon_api::Direction::Sent,
            Direction::Received => photon_api::Direction::Received,
            Direction::Mediated => photon_api::Direction::Mediated,
            Direction::Failed => photon_api::Direction::Failed,
        },
        payment_id: p.payment_id,
        token: p.token,
        counterparty: p.counterparty,
        amount: Amount(p.amount.0),
        fee: Amount(p.fee.0),
        reason: p.reason,
        pending: p.pending,
        data: photon_api::PaymentData(p.data),
        symbol: None,
        decimals: None,
    }
}

impl NodeHandle {
    /// The node's status.
    pub async fn status(&self) -> Result<crate::runtime::Status, NodeError> {
        self.ask(Command::Status).await
    }

    /// Every channel of ours not settled, with its token's symbol and decimals.
    pub async fn channels(&self) -> Result<Vec<ChannelView>, NodeError> {
        let mut channels = self.ask(Command::Channels).await?;
        let tokens: Vec<Address> = channels.iter().map(|c| c.token).collect();
        let metadata = self.tokens.metadata_of(&tokens).await;
        for channel in &mut channels {
            if let Some(m) = metadata.get(&channel.token) {
                channel.symbol.clone_from(&m.symbol);
                channel.decimals = m.decimals;
            }
        }
        Ok(channels)
    }

    /// Our channel with `partner` in `token`.
    pub async fn channel(
        &self, token: Address, partner: Address,
    ) -> Result<ChannelView, NodeError> {
        self.channels()
            .await?
            .into_iter()
            .find(|c| c.token == token && c.partner == partner)
            .ok_or_else(|| {
                NodeError::NotFound(format!("no channel with {partner} for token {token}"))
            })
    }

    /// Every open channel of the network the node knows of, ours or not.
    pub async fn network(&self) -> Result<Vec<photon_api::NetworkChannel>, NodeError> {
        self.ask(Command::Network).await
    }

    /// The tokens the node follows (its channels', and those of the network's channels it
    /// knows of), sorted, with their symbol and decimals.
    pub async fn tokens(&self) -> Result<Vec<photon_api::TokenView>, NodeError> {
        let followed = self.ask(Command::Tokens).await?;
        let addresses: Vec<Address> = followed.iter().map(|(a, _)| *a).collect();
        let metadata = self.tokens.metadata_of(&addresses).await;
        Ok(followed
            .into_iter()
            .map(|(address, channels)| {
                let m = metadata.get(&address).cloned().unwrap_or_default();
                photon_api::TokenView { address, symbol: m.symbol, decimals: m.decimals, channels }
            })
            .collect())
    }

    /// Payments in flight.
    pub async fn pending_transfers(
        &self,
    ) -> Result<Vec<crate::runtime::PendingTransfer>, NodeError> {
        self.ask(Command::PendingTransfers).await
    }

    /// Opens a channel (with a first deposit if given); answers once mined.
    pub async fn open_channel(&self, r: OpenChannel) -> Result<B256, NodeError> {
        let (token, partner) = (r.token, r.partner);
        let deposit = r.deposit.map(|a| TokenAmount(a.0));
        self.ask(|reply| Command::OpenChannel {
            token,
            partner,
            settle_timeout: r.settle_timeout.map(photon_primitives::SettleTimeout),
            deposit,
            via: deposit_via(r.via),
            reply,
        })
        .await?
    }

    /// Deposits `amount` more into our channel with `partner`; answers once mined.
    pub async fn deposit(
        &self, token: Address, partner: Address, amount: Amount, via: Via,
    ) -> Result<B256, NodeError> {
        let amount = TokenAmount(amount.0);
        let via = deposit_via(via);
        self.ask(|reply| Command::Deposit { token, partner, amount, via, reply }).await?
    }

    /// Withdraws, closes or settles cooperatively; answers once accepted (the chain follows).
    pub async fn channel_action(
        &self, token: Address, partner: Address, action: ChannelAction,
    ) -> Result<(), NodeError> {
        if action == ChannelAction::Withdraw(TokenAmount(0)) {
            return Err(bad("withdraw must be positive"));
        }
        self.ask(|reply| Command::Channel { token, partner, action, reply }).await?
    }

    /// Pays `target`; answers when the payment is done, failed, or `payment_timeout` passed.
    pub async fn pay(
        &self, token: Address, target: Address, r: Pay,
    ) -> Result<PaymentOutcome, NodeError> {
        let (request, payment_id) = pay_request(token, target, r)?;
        let started = std::time::Instant::now();
        let ask = self.ask(|reply| Command::Pay { request, reply, started: None });
        let outcome = tokio::time::timeout(self.payment_timeout, ask)
            .await
            .map_err(|_| NodeError::Timeout(payment_id))??;
        if outcome.is_ok() {
            self.metrics.payment_took(started.elapsed());
        }
        outcome
    }

    /// Starts paying `target` and answers as soon as the payment is under way (durable),
    /// with its status; a request the node refuses at once (no route, a used payment id)
    /// answers the error. Follow it with [`NodeHandle::payment_status`] or the events.
    pub async fn pay_async(
        &self, token: Address, target: Address, r: Pay,
    ) -> Result<PaymentStatus, NodeError> {
        // a retry of a payment under way answers its status (a used id for other terms is
        // refused below, as for a waiting request)
        if let Some(id) = r.payment_id {
            if let Ok(status) = self.payment_status(id).await {
                let same = (status.token, status.target, status.amount)
                    == (token, Some(target), Some(r.amount));
                if same && status.state == photon_api::PaymentState::Pending {
                    return Ok(status);
                }
            }
        }
        let (request, payment_id) = pay_request(token, target, r)?;
        let began = std::time::Instant::now();
        let (reply, mut outcome) = tokio::sync::oneshot::channel();
        let (started, under_way) = tokio::sync::oneshot::channel();
        let command = Command::Pay { request, reply, started: Some(started) };
        self.inbox().send(Input::Command(command)).await.map_err(|_| NodeError::Stopped)?;
        match under_way.await {
            Ok(Ok(())) => {
                // the outcome is the history's now; only the latency is the caller's
                let metrics = self.metrics.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(_)) = outcome.await {
                        metrics.payment_took(began.elapsed());
                    }
                });
            }
            Ok(Err(e)) => return Err(e),
            // not started: refused before, or a payment id already used (its answer tells)
            Err(_) => match outcome.try_recv() {
                Ok(Ok(_)) | Ok(Err(NodeError::Timeout(_))) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(NodeError::Stopped),
            },
        }
        self.payment_status(payment_id).await
    }

    /// Whether the node reaches `peer` now, and how.
    pub async fn peer(&self, peer: Address) -> Result<photon_api::PeerStatus, NodeError> {
        self.ask(|reply| Command::Peer(peer, reply)).await
    }

    /// Where payment `payment_id` of ours stands, with its token's symbol and decimals.
    pub async fn payment_status(&self, payment_id: u64) -> Result<PaymentStatus, NodeError> {
        let mut status = self.ask(|reply| Command::PaymentStatus { payment_id, reply }).await??;
        let metadata = self.tokens.metadata(status.token).await;
        (status.symbol, status.decimals) = (metadata.symbol, metadata.decimals);
        Ok(status)
    }

    /// Cancels payment `payment_id` of ours, pending with its secret revealed to no one; its
    /// status after.
    pub async fn cancel_payment(&self, payment_id: u64) -> Result<PaymentStatus, NodeError> {
        self.ask(|reply| Command::CancelPayment { payment_id, reply }).await??;
        self.payment_status(payment_id).await
    }

    /// The payment history, newest first.
    pub async fn payments(&self, q: PaymentsQuery) -> Result<Vec<Payment>, NodeError> {
        let filter = PaymentFilter {
            token: q.token,
            counterparty: q.partner,
            direction: q.direction.map(direction),
            since: q.since,
            until: q.until,
            limit: q.limit,
            payment_id: None,
            before: q.before,
        };
        let rows = self.ask(|reply| Command::Payments(filter, reply)).await??;
        let tokens: Vec<Address> = rows.iter().map(|r| r.token).collect();
        let metadata = self.tokens.metadata_of(&tokens).await;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut view = payment_view(row);
                if let Some(m) = metadata.get(&view.token) {
                    view.symbol.clone_from(&m.symbol);
                    view.decimals = m.decimals;
                }
                view
            })
            .collect())
    }

    /// Registers `secret` on chain; answers once mined.
    pub async fn register_secret(&self, secret: Secret) -> Result<B256, NodeError> {
        self.ask(|reply| Command::RegisterSecret { secret, reply }).await?
    }

    /// Accepts payments locked with `secret`'s hash by revealing it at once (swaps).
    pub async fn know_secret(&self, secret: Secret) -> Result<(), NodeError> {
        self.ask(|reply| Command::KnowSecret { secret, reply }).await?
    }

    /// The secret of `secret_hash`, if the node knows it: given (`POST /known_secrets`),
    /// learned when a payment it made locked with the hash only completed (a swap's leg), or
    /// held in a payment in flight.
    pub async fn secret_of(&self, secret_hash: B256) -> Result<B256, NodeError> {
        self.ask(|reply| Command::Secret(secret_hash, reply)).await?.ok_or_else(|| {
            NodeError::NotFound(format!("this node does not know the secret of {secret_hash}"))
        })
    }

    /// Makes or takes a token swap (see `docs/swaps.md`); the swap, under way.
    pub async fn start_swap(&self, r: photon_api::NewSwap) -> Result<SwapView, NodeError> {
        use photon_api::SwapRole;
        if r.send.amount.0 == 0 || r.receive.amount.0 == 0 {
            return Err(bad("both amounts of a swap must be positive"));
        }
        if r.send.token == r.receive.token {
            return Err(NodeError::Refused("a swap exchanges two different tokens".into()));
        }
        let (role, secrethash) = match (r.role, r.secret_hash) {
            (SwapRole::Maker, None) => (photon_state::SwapRole::Maker, None),
            (SwapRole::Maker, Some(_)) => {
                return Err(bad("a maker's node makes the secret: give no secret_hash"))
            }
            (SwapRole::Taker, Some(hash)) => (photon_state::SwapRole::Taker, Some(hash)),
            (SwapRole::Taker, None) => {
                return Err(bad("a taker needs the maker's secret_hash"));
            }
        };
        match (r.role, r.expiry) {
            (SwapRole::Maker, Some(_)) => {
                return Err(bad(
                    "expiry is the taker's wait for the maker's lock; the maker's lock lives \
                     the node's lock timeout",
                ))
            }
            (_, Some(0)) => return Err(bad("expiry must be at least one block")),
            _ => {}
        }
        let leg = |side: &photon_api::SwapSide| photon_state::SwapLeg {
            token: side.token,
            amount: TokenAmount(side.amount.0),
        };
        let send = leg(&r.send);
        let swap = crate::runtime::SwapRequest {
            role,
            counterparty: r.counterparty,
            send,
            receive: leg(&r.receive),
            secrethash,
            expiry: r.expiry,
            fee_limit: r.fee_limit.map_or_else(
                || crate::routing::default_fee_limit(send.amount),
                |f| TokenAmount(f.0),
            ),
        };
        let hash = self.ask(|reply| Command::StartSwap { swap, reply }).await??;
        self.swap(hash).await
    }

    /// Our swaps, in progress and the latest finished, newest first.
    pub async fn swaps(&self) -> Result<Vec<SwapView>, NodeError> {
        let mut swaps = self.ask(Command::Swaps).await?;
        swaps.sort_by_key(|s| std::cmp::Reverse(s.created_block));
        Ok(swaps)
    }

    /// Swap `secret_hash` of ours.
    pub async fn swap(&self, secret_hash: B256) -> Result<SwapView, NodeError> {
        let swaps = self.ask(Command::Swaps).await?;
        swaps.into_iter().find(|s| s.secret_hash == secret_hash).ok_or_else(|| {
            NodeError::NotFound(format!("no swap of ours locked with {secret_hash}"))
        })
    }

    /// Cancels swap `secret_hash` of ours while it waits (its secret is out to no one); the
    /// swap after.
    pub async fn cancel_swap(&self, secret_hash: B256) -> Result<SwapView, NodeError> {
        self.ask(|reply| Command::CancelSwap { secrethash: secret_hash, reply }).await??;
        self.swap(secret_hash).await
    }

    /// The mediation fees.
    pub async fn fees(&self) -> Result<photon_state::FeeSchedule, NodeError> {
        self.ask(Command::Fees).await
    }

    /// Sets a mediation fee policy for every payment (no token), a token's, or one channel's
    /// (token and partner).
    pub async fn set_fee(
        &self, token: Option<Address>, partner: Option<Address>, policy: photon_state::FeePolicy,
    ) -> Result<(), NodeError> {
        if policy.proportional_ppm > 1_000_000 || policy.imbalance_ppm > 1_000_000 {
            return Err(bad(
                "proportional_ppm and imbalance_ppm are in millionths: at most 1000000",
            ));
        }
        let scope = match (token, partner) {
            (None, None) => photon_state::FeeScope::Default,
            (Some(token), None) => photon_state::FeeScope::Token(token),
            (Some(token), Some(partner)) => {
                let channel = self.channel(token, partner).await?;
                photon_state::FeeScope::Channel(photon_primitives::ChannelId(channel.channel_id))
            }
            (None, Some(_)) => return Err(bad("a partner needs its token")),
        };
        self.ask(|reply| Command::SetFee { scope, policy, reply }).await?
    }
}
