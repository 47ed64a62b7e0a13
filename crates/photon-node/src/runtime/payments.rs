//! Payments: preparing a payment from a request, and how each ends (acknowledged, failed,
//! disputed), told to the caller and the event stream.

use super::*;

/// A payment sent (and acknowledged).
#[derive(Debug)]
pub(super) struct SentPayment {
    pub(super) payment_id: PaymentId,
    pub(super) token: Address,
    pub(super) target: Address,
    pub(super) amount: TokenAmount,
    pub(super) fee: TokenAmount,
}

/// What the node remembers of a recent payment of its own beyond the history: its target
/// and amount (a failed row has neither), and the route of its last attempt.
#[derive(Debug, Default, Clone)]
pub(super) struct Recent {
    target: Option<Address>,
    amount: Option<TokenAmount>,
    route: Option<Vec<Address>>,
}

/// The node's [`Recent`] payments, the oldest forgotten first (the node's memory only: the
/// history keeps the rest).
#[derive(Debug, Default)]
pub(super) struct RecentPayments {
    payments: HashMap<PaymentId, Recent>,
    order: std::collections::VecDeque<PaymentId>,
}

impl RecentPayments {
    /// How many payments are remembered.
    const KEPT: usize = 4_096;

    fn entry(&mut self, payment_id: PaymentId) -> &mut Recent {
        if !self.payments.contains_key(&payment_id) {
            self.order.push_back(payment_id);
            while self.order.len() > Self::KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.payments.remove(&old);
                }
            }
        }
        self.payments.entry(payment_id).or_default()
    }

    /// A payment started.
    pub(super) fn started(&mut self, payment_id: PaymentId, target: Address, amount: TokenAmount) {
        let entry = self.entry(payment_id);
        entry.target = Some(target);
        entry.amount = Some(amount);
    }

    /// A payment's lock went out over `path`.
    pub(super) fn routed(&mut self, payment_id: PaymentId, path: Vec<Address>) {
        self.entry(payment_id).route = Some(path);
    }

    fn get(&self, payment_id: PaymentId) -> Recent {
        self.payments.get(&payment_id).cloned().unwrap_or_default()
    }
}

impl Node {
    /// Where payment `payment_id` of ours stands: in flight (the state's task, or a direct
    /// one awaiting its acknowledgement), or its last row in the history.
    pub(super) fn payment_status(
        &self, payment_id: PaymentId,
    ) -> Result<photon_api::PaymentStatus, NodeError> {
        use photon_api::{Amount, PaymentState, PaymentStatus};
        let recent = self.recent.get(payment_id);
        let task = self.state.tasks.values().find_map(|task| match task {
            Task::Initiator(t) if t.payment_id == payment_id => Some(t),
            _ => None,
        });
        if let Some(t) = task {
            return Ok(PaymentStatus {
                payment_id,
                state: PaymentState::Pending,
                token: t.token,
                target: Some(t.target),
                amount: Some(Amount(t.amount.0)),
                fee: Amount(t.attempt.as_ref().map_or(0, |(_, _, fee)| fee.0)),
                reason: None,
                route: recent.route,
                cancellable: t.secret.is_some() && !t.secret_revealed,
                symbol: None,
                decimals: None,
            });
        }
        let ours = |direction| PaymentFilter {
            payment_id: Some(payment_id),
            direction: Some(direction),
            limit: Some(1),
            ..PaymentFilter::default()
        };
        let sent = self.storage.payments(&ours(photon_storage::Direction::Sent))?;
        let failed = self.storage.payments(&ours(photon_storage::Direction::Failed))?;
        // the newest row tells (a failed payment may have been tried again and sent)
        let row = sent
            .into_iter()
            .chain(failed)
            .max_by_key(|r| r.id)
            .ok_or_else(|| NodeError::NotFound(format!("no payment {payment_id} of ours")))?;
        let disputed = row.reason.as_deref().is_some_and(|r| r.starts_with("disputed"));
        let state = match row.direction {
            photon_storage::Direction::Failed => PaymentState::Failed,
            _ if disputed => PaymentState::Disputed,
            _ if row.pending => PaymentState::Pending,
            _ => PaymentState::Succeeded,
        };
        let failed = row.direction == photon_storage::Direction::Failed;
        let target = row.counterparty.or(recent.target);
        let amount = if failed { recent.amount } else { Some(row.amount) };
        Ok(PaymentStatus {
            payment_id,
            state,
            token: row.token,
            target,
            amount: amount.map(|a| Amount(a.0)),
            fee: Amount(row.fee.0),
            reason: row.reason,
            route: recent.route,
            cancellable: false,
            symbol: None,
            decimals: None,
        })
    }

    pub(super) fn pay_change(
        &mut self, request: PayRequest,
    ) -> Result<(StateChange, PaymentId, Option<B256>), NodeError> {
        let PayRequest {
            token,
            target,
            amount,
            payment_id,
            secret,
            secrethash,
            fee_limit,
            routes,
            found,
            data,
        } = request;
        if let (Some(s), Some(h)) = (secret, secrethash) {
            if s.hash().0 != h {
                return Err(NodeError::Refused("the secret does not hash to secret_hash".into()));
            }
        }
        if amount == 0 {
            return Err(NodeError::BadRequest("amount must be positive".into()));
        }
        if target == self.state.address {
            return Err(NodeError::Refused("cannot pay ourselves".into()));
        }
        self.counter += 1;
        let payment_id = payment_id.unwrap_or_else(crate::calls::new_payment_id);
        if self.payments.contains_key(&payment_id) {
            return Err(NodeError::Refused(format!("payment {payment_id} is already in flight")));
        }
        let direct = self.state.channel_with(token, target).filter(|c| {
            c.usable()
                && c.our_capacity() >= amount
                && routes.is_none()
                && secret.is_none()
                && secrethash.is_none()
        });
        if let Some(channel) = direct {
            return Ok((
                StateChange::SendDirect { channel_id: channel.id, payment_id, amount, data },
                payment_id,
                None,
            ));
        }
        let secret = match (secret, secrethash) {
            (Some(s), _) => Some(s),
            (None, Some(_)) => None,
            (None, None) => Some(self.new_secret(payment_id)),
        };
        let secrethash =
            secrethash.map(photon_primitives::SecretHash).or_else(|| secret.map(|s| s.hash()));
        let secrethash = secrethash.ok_or_else(|| NodeError::BadRequest("no secret".into()))?;
        // explicit routes carry their fees; else the service's, then our own graph's (a
        // mediator a route got wrong gives the lock back, and the next route is tried)
        let routes: Vec<Route> = match routes {
            Some(given) => given,
            None => self
                .routes_for(token, target, amount, found.as_deref())
                .into_iter()
                .map(|(route, _)| route)
                .collect(),
        };
        if routes.is_empty() {
            return Err(NodeError::NotFound(format!("no route to {target} for token {token}")));
        }
        if routes.iter().all(|r| r.fee > fee_limit) {
            let cheapest = routes.iter().map(|r| r.fee).min().unwrap_or_default();
            return Err(NodeError::NotFound(format!(
                "no route to {target} within the fee limit {fee_limit} (the cheapest costs {cheapest})"
            )));
        }
        Ok((
            StateChange::SendMediated {
                token,
                payment_id,
                target,
                amount,
                secret,
                secrethash,
                routes,
                fee_limit,
                data,
            },
            payment_id,
            Some(secrethash.0),
        ))
    }

    /// The routes a payment of `amount` to `target` would take: the service's answer (those
    /// whose first channel can carry their lock), then our own graph's.
    pub(super) fn routes_for(
        &mut self, token: Address, target: Address, amount: TokenAmount,
        found: Option<&[photon_pfs::api::PathView]>,
    ) -> Vec<(Route, RouteSource)> {
        let mut routes: Vec<(Route, RouteSource)> = Vec::new();
        if let Some(found) = found {
            // only paths that are what they claim; those whose first channel (ours) can
            // carry their lock are tried
            let me = self.state.address;
            let checked: Vec<&photon_pfs::api::PathView> = found
                .iter()
                .filter(|p| crate::routing::consistent(p, me, target, amount))
                .collect();
            self.router.learn(checked.iter().copied());
            routes.extend(
                checked
                    .iter()
                    .filter(|p| crate::routing::first_hop_carries(&self.state, token, p))
                    .map(|p| {
                        (
                            Route { path: p.path.clone(), fee: TokenAmount(p.fee.0) },
                            RouteSource::Pfs,
                        )
                    }),
            );
        }
        let version = self.network_version;
        for route in self.router.routes(&self.state, version, token, target, amount, 3) {
            if !routes.iter().any(|(r, _)| r.path == route.path) {
                routes.push((route, RouteSource::Local));
            }
        }
        routes
    }

    /// A secret only we can know: derived from our key, the payment and the time.
    pub(super) fn new_secret(&self, payment_id: PaymentId) -> Secret {
        let mut input = self.signer.to_bytes().to_vec();
        input.extend_from_slice(b"photon-secret");
        input.extend_from_slice(&payment_id.to_be_bytes());
        input.extend_from_slice(&self.counter.to_be_bytes());
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        input.extend_from_slice(&nanos.to_be_bytes());
        Secret(keccak256(input))
    }

    /// A payment id this node already paid with, or is paying with: a retried request (an
    /// exchange's retry after a timeout, an app's after a crash) must never pay twice. The
    /// answer for it, or `None` for a new payment. A payment that failed may be tried again
    /// under its id; a used id with another token, target or amount is refused.
    pub(super) fn repeated_payment(
        &self, r: &PayRequest,
    ) -> Option<Result<PaymentOutcome, NodeError>> {
        let id = r.payment_id?;
        let same = |token: Address, target: Address, amount: TokenAmount| {
            (token, target, amount) == (r.token, r.target, r.amount)
        };
        let used = || {
            NodeError::Refused(format!(
                "payment id {id} was already used for another payment (another token, target \
                 or amount)"
            ))
        };
        // in flight, also after a restart: the state keeps the payment
        let in_flight = self.state.tasks.values().find_map(|task| match task {
            Task::Initiator(t) if t.payment_id == id => Some((t.token, t.target, t.amount)),
            _ => None,
        });
        if let Some((token, target, amount)) = in_flight {
            return Some(Err(if same(token, target, amount) {
                NodeError::Refused(format!(
                    "payment {id} is already in flight; see GET /api/v1/pending_transfers"
                ))
            } else {
                used()
            }));
        }
        let filter = PaymentFilter {
            payment_id: Some(id),
            direction: Some(photon_storage::Direction::Sent),
            limit: Some(1),
            ..PaymentFilter::default()
        };
        let row = match self.storage.payments(&filter) {
            Ok(rows) => rows.into_iter().next()?,
            Err(e) => return Some(Err(e.into())),
        };
        if !same(row.token, row.counterparty.unwrap_or_default(), row.amount) {
            return Some(Err(used()));
        }
        if row.pending {
            return Some(Err(NodeError::Timeout(id))); // sent, its acknowledgement awaited
        }
        if let Some(reason) = row.reason.filter(|r| r.starts_with("disputed")) {
            return Some(Err(NodeError::PaymentDisputed { payment_id: id, reason }));
        }
        Some(Ok(PaymentOutcome {
            payment_id: id,
            target: r.target,
            amount: photon_api::Amount(row.amount.0),
            fee: photon_api::Amount(row.fee.0),
            secrethash: None,
        }))
    }

    /// The delivery reports of the batch, in one storage transaction: a payment completed by
    /// an acknowledged message succeeded; a refused message marks (and maybe closes) its
    /// channel, and the payment it completed is disputed.
    pub(super) fn delivered(&mut self, batch: &mut Vec<Item>) {
        if self.deliveries.is_empty() {
            return;
        }
        let reports = std::mem::take(&mut self.deliveries);
        let ids: Vec<(u64, Option<&str>)> =
            reports.iter().map(|(id, refused)| (*id, refused.as_deref())).collect();
        let done = match self.storage.delivered_all(&ids) {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "cannot mark messages delivered; they will be sent again");
                return;
            }
        };
        for ((id, refused), done) in reports.into_iter().zip(done) {
            let channel = done.refused_message.as_ref().and_then(lane_of);
            match (refused, done.payment) {
                (None, Some(p)) => self.payment_sent(SentPayment {
                    payment_id: p.payment_id,
                    token: p.token,
                    target: p.counterparty.unwrap_or_default(),
                    amount: p.amount,
                    fee: p.fee,
                }),
                (None, None) => {}
                (Some(reason), payment) => {
                    self.refused(id, channel, &reason, batch);
                    if let Some(p) = payment {
                        // the partner has our signed proof: it can be paid on chain, so the
                        // payment is not "failed" (the user must not pay again)
                        let payment_id = p.payment_id;
                        if let Some((reply, _)) = self.payments.remove(&payment_id) {
                            let reason = reason.clone();
                            let _ =
                                reply.send(Err(NodeError::PaymentDisputed { payment_id, reason }));
                        }
                        let _ = self
                            .handle
                            .events
                            .send(NodeEvent::PaymentDisputed { payment_id, reason });
                    }
                }
            }
        }
    }

    /// A payment the partner acknowledged: the API caller and the event stream hear of it.
    pub(super) fn payment_sent(&mut self, p: SentPayment) {
        if let Some((reply, secrethash)) = self.payments.remove(&p.payment_id) {
            let _ = reply.send(Ok(PaymentOutcome {
                payment_id: p.payment_id,
                target: p.target,
                amount: photon_api::Amount(p.amount.0),
                fee: photon_api::Amount(p.fee.0),
                secrethash,
            }));
        }
        let _ = self.handle.events.send(NodeEvent::PaymentSent {
            token: p.token,
            payment_id: p.payment_id,
            target: p.target,
            amount: photon_api::Amount(p.amount.0),
        });
    }

    pub(super) fn payment_failed(&mut self, payment_id: PaymentId, reason: String) {
        if let Some((reply, _)) = self.payments.remove(&payment_id) {
            let _ =
                reply.send(Err(NodeError::PaymentFailed { payment_id, reason: reason.clone() }));
        }
        let _ = self.handle.events.send(NodeEvent::PaymentFailed { payment_id, reason });
    }

    /// The partner refused one of our messages for good. No honest node does (see
    /// docs/protocol.md): the channel needs attention, and when the message carried a balance
    /// proof, every later one of ours would be refused too, so the channel is closed with the
    /// partner's latest proof rather than left to queue.
    pub(super) fn refused(
        &mut self, id: u64, channel: Option<(ChannelId, bool)>, reason: &str, batch: &mut Vec<Item>,
    ) {
        tracing::error!(id, ?channel, %reason, "the partner refused one of our messages for good");
        let Some((channel_id, fatal)) = channel else { return };
        let reason = reason.to_string();
        batch.push((StateChange::DeliveryRefused { channel_id, fatal, reason }, Waiter::None));
    }

    /// A settle timeout outside the range this node accepts ([`Config::min_settle_timeout`],
    /// [`Config::max_settle_timeout`]), as the error the API answers.
    pub(super) fn accepted_settle_timeout(
        &self, settle_timeout: SettleTimeout,
    ) -> Result<(), NodeError> {
        let config = &self.settings.protocol;
        if config.accepts_settle_timeout(settle_timeout) {
            return Ok(());
        }
        Err(NodeError::Refused(format!(
            "settle timeout {settle_timeout} is outside the range this node accepts \
             ({} to {}: long enough to answer a close and claim its locks, short \
             enough not to lock deposits for too long)",
            config.min_settle_timeout, config.max_settle_timeout
        )))
    }
}
