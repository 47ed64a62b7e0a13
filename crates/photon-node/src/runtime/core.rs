//! The core loop's work on a batch: inputs become state changes, each is applied by the pure
//! transition, the batch is made durable, and then its events are carried out.

use super::*;

/// Who waits for a state change in a batch.
#[derive(Debug)]
pub(super) enum Waiter {
    /// Nobody.
    None,
    /// An API request.
    Reply(Reply<()>),
    /// A peer, through the transport.
    Peer(oneshot::Sender<Delivery>),
}

/// A state change waiting in a batch, with whoever waits for its acceptance.
pub(super) type Item = (StateChange, Waiter);

/// What a peer is told about a message the state machine refused: "try again later" when it
/// may only have come too early, else "never".
pub(super) fn refusal(rejection: &photon_state::Rejection) -> Delivery {
    match rejection {
        r if r.is_transient() => Delivery::Retry,
        other => Delivery::Reject(other.to_string()),
    }
}

/// The channel a message is about, and whether the channel cannot go on should the partner
/// refuse it for good: a balance proof of ours (every later one would be refused too), or our
/// cooperative-settlement signature (it never expires on chain; the channel takes no more
/// transfers).
pub(super) fn lane_of(message: &photon_primitives::messages::Message) -> Option<(ChannelId, bool)> {
    use photon_primitives::messages::Message;
    let fatal = message.balance_proof().is_some() || matches!(message, Message::SettleRequest(_));
    Some((message.channel_id()?, fatal))
}

/// The channels of ours a state change may move to another life stage or deposit (see
/// [`NodeEvent::ChannelChanged`]); transfers are told by the payment events.
fn may_move(change: &StateChange, state: &ChainState) -> Vec<ChannelId> {
    use photon_state::ChainEvent as C;
    match change {
        StateChange::Chain(
            C::ChannelOpened { channel_id, .. }
            | C::Deposit { channel_id, .. }
            | C::Withdrawn { channel_id, .. }
            | C::ChannelClosed { channel_id, .. }
            | C::ChannelSettled { channel_id, .. },
        )
        | StateChange::Close { channel_id }
        | StateChange::RequestCooperativeSettle { channel_id }
        | StateChange::RequestWithdraw { channel_id, .. } => vec![*channel_id],
        StateChange::Receive { message, .. } if message.balance_proof().is_none() => {
            message.channel_id().into_iter().collect()
        }
        // a withdrawal or cooperative settlement that expires
        StateChange::Block(_) => state
            .channels
            .values()
            .filter(|c| c.withdraw.is_some() || c.settle.is_some())
            .map(|c| c.id)
            .collect(),
        _ => Vec::new(),
    }
}

impl Node {
    /// Answers queries at once; turns the rest into state changes.
    pub(super) fn take(&mut self, input: Input, batch: &mut Vec<Item>) {
        match input {
            Input::Message { sender, message, respond } => {
                let waiter = match respond {
                    Some(respond) => {
                        // exactly once: a retransmission of a processed message gets its ack
                        if self.storage.is_acked(&sender, message.message_id()).unwrap_or(false) {
                            let _ = respond.send(Delivery::Ack);
                            return;
                        }
                        Waiter::Peer(respond)
                    }
                    None => Waiter::None,
                };
                batch.push((StateChange::Receive { sender, message }, waiter));
            }
            Input::Command(command) => self.command(command, batch),
            // handled together after the batch is read (one transaction for all of them)
            Input::Delivered(id, refused) => self.deliveries.push((id, refused)),
            Input::TxDone(id) => {
                if let Err(e) = self.storage.complete_transaction(id) {
                    tracing::error!(error = %e, id, "cannot mark a transaction done; it will be retried");
                }
            }
        }
    }

    pub(super) fn command(&mut self, command: Command, batch: &mut Vec<Item>) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Channels(reply) => {
                let _ = reply.send(self.channels());
            }
            Command::PendingTransfers(reply) => {
                let pending = self
                    .state
                    .tasks
                    .iter()
                    .map(|(h, t)| super::views::pending_transfer(&self.state, h.0, t))
                    .collect();
                let _ = reply.send(pending);
            }
            Command::KnowSecret { secret, reply } => {
                batch.push((StateChange::KnowSecret { secret }, Waiter::Reply(reply)));
            }
            Command::StartSwap { swap, reply } => match self.swap_change(swap) {
                Ok((change, secrethash)) => {
                    // answered with the swap's id once the state machine took it, durably
                    let (done, taken) = oneshot::channel::<Result<(), NodeError>>();
                    tokio::spawn(async move {
                        let answer = match taken.await {
                            Ok(result) => result.map(|()| secrethash.0),
                            Err(_) => Err(NodeError::Stopped),
                        };
                        let _ = reply.send(answer);
                    });
                    batch.push((change, Waiter::Reply(done)));
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Secret(hash, reply) => {
                let hash = photon_primitives::SecretHash(hash);
                let state = &self.state;
                // given, learned by a payment of ours, or held in a payment in flight; a
                // swap's only once out
                let known = state.known_secrets.get(&hash).copied().or_else(|| {
                    match state.tasks.get(&hash) {
                        Some(Task::Mediator(t)) => t.secret,
                        Some(Task::Target(t)) => t.secret,
                        _ => None,
                    }
                });
                let swap = state.swaps.get(&hash).filter(|s| {
                    matches!(
                        s.status,
                        photon_state::SwapStatus::Revealed | photon_state::SwapStatus::Completed
                    )
                });
                let known = known.or_else(|| swap.and_then(|s| s.secret));
                let _ = reply.send(known.map(|s| s.0));
            }
            Command::Swaps(reply) => {
                let swaps = self
                    .state
                    .swaps
                    .iter()
                    .map(|(hash, swap)| super::swaps::swap_view(hash, swap))
                    .collect();
                let _ = reply.send(swaps);
            }
            Command::CancelSwap { secrethash, reply } => {
                let secrethash = photon_primitives::SecretHash(secrethash);
                if !self.state.swaps.contains_key(&secrethash) {
                    let _ = reply.send(Err(NodeError::NotFound(format!(
                        "no swap of ours locked with {}",
                        secrethash.0
                    ))));
                    return;
                }
                batch.push((StateChange::CancelSwap { secrethash }, Waiter::Reply(reply)));
            }
            Command::Fees(reply) => {
                let _ = reply.send(self.state.fees.clone());
            }
            Command::SetFee { scope, policy, reply } => {
                batch.push((StateChange::SetFee { scope, policy }, Waiter::Reply(reply)));
            }
            Command::Payments(filter, reply) => {
                let _ = reply.send(self.storage.payments(&filter).map_err(Into::into));
            }
            Command::Backlog(reply) => {
                let _ = reply.send(self.storage.backlog().map_err(Into::into));
            }
            Command::OpenChannel { token, partner, settle_timeout, deposit, via, reply } => {
                if partner == self.state.address {
                    let _ = reply.send(Err(NodeError::Refused(
                        "cannot open a channel with ourselves".into(),
                    )));
                    return;
                }
                let settle_timeout = settle_timeout.unwrap_or(self.settings.settle_timeout);
                if let Err(e) = self.accepted_settle_timeout(settle_timeout) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let calls = match deposit.filter(|d| *d > 0) {
                    Some(amount) => {
                        ChainCall::deposit(token, partner, amount, Some(settle_timeout), via)
                    }
                    None => vec![ChainCall::OpenChannel { token, partner, settle_timeout }],
                };
                let _ = self.txs.send(TxJob { calls, reply: Some(reply), pending: None });
            }
            Command::Deposit { token, partner, amount, via, reply } => {
                if amount == 0 {
                    let _ =
                        reply.send(Err(NodeError::BadRequest("deposit must be positive".into())));
                    return;
                }
                // a channel the partner opened with a window we do not accept: no deposit
                let timeout = self.state.channel_with(token, partner).map(|c| c.settle_timeout);
                if let Some(Err(e)) = timeout.map(|t| self.accepted_settle_timeout(t)) {
                    let _ = reply.send(Err(e));
                    return;
                }
                let calls = ChainCall::deposit(token, partner, amount, None, via);
                let _ = self.txs.send(TxJob { calls, reply: Some(reply), pending: None });
            }
            Command::RegisterSecret { secret, reply } => {
                let call =
                    ChainCall::Protocol(Box::new(photon_state::ContractCall::RegisterSecret {
                        secret,
                    }));
                let _ =
                    self.txs.send(TxJob { calls: vec![call], reply: Some(reply), pending: None });
            }
            Command::Pay { request, reply, started } => {
                if let Some(answer) = self.repeated_payment(&request) {
                    let _ = reply.send(answer);
                    return;
                }
                // ask the pathfinding service first (off this task), unless the payment goes
                // straight to a partner or comes with its routes
                let PayRequest { token, target, amount, .. } = request;
                let direct = self
                    .state
                    .channel_with(token, target)
                    .is_some_and(|c| c.usable() && c.our_capacity() >= amount);
                let asked = request.routes.is_some() || request.found.is_some();
                if let (Some(pfs), false, false) = (&self.handle.pfs, asked, direct) {
                    let (pfs, inbox, me) = (pfs.clone(), self.handle.inbox(), self.state.address);
                    tokio::spawn(async move {
                        let found = match pfs.paths(token, me, target, amount, 3).await {
                            Ok(paths) => paths,
                            Err(e) => {
                                tracing::warn!(error = %e, "the pathfinding service did not answer; routing on our own graph");
                                Vec::new()
                            }
                        };
                        let request = PayRequest { found: Some(found), ..request };
                        let command = Command::Pay { request, reply, started };
                        let _ = inbox.send(Input::Command(command)).await;
                    });
                    return;
                }
                match self.pay_change(request) {
                    Ok((change, payment_id, secrethash)) => {
                        self.recent.started(payment_id, target, amount);
                        if matches!(change, StateChange::SendDirect { .. }) {
                            self.recent.routed(payment_id, vec![self.state.address, target]);
                        }
                        self.payments.insert(payment_id, (reply, secrethash));
                        batch.push((change, started.map_or(Waiter::None, Waiter::Reply)));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Tokens(reply) => {
                let mut tokens: std::collections::BTreeMap<Address, u32> =
                    self.state.network.values().map(|(token, _, _)| (*token, 0)).collect();
                for channel in self.state.channels.values() {
                    *tokens.entry(channel.token).or_default() += 1;
                }
                let _ = reply.send(tokens.into_iter().collect());
            }
            Command::Network(reply) => {
                let channels = self.state.network.iter().map(|(id, (token, p1, p2))| {
                    photon_api::NetworkChannel {
                        channel_id: *id,
                        token: *token,
                        participant1: *p1,
                        participant2: *p2,
                    }
                });
                let _ = reply.send(channels.collect());
            }
            Command::Peer(peer, reply) => {
                let _ = reply.send(self.peer_status(peer));
            }
            Command::PaymentStatus { payment_id, reply } => {
                let _ = reply.send(self.payment_status(payment_id));
            }
            Command::CancelPayment { payment_id, reply } => {
                let ours = self
                    .state
                    .tasks
                    .values()
                    .any(|t| matches!(t, Task::Initiator(t) if t.payment_id == payment_id));
                if !ours {
                    // over already, or never ours: say which
                    let _ = reply.send(self.payment_status(payment_id).and_then(|s| {
                        let why = match s.state {
                            photon_api::PaymentState::Succeeded => "it succeeded",
                            photon_api::PaymentState::Failed => "it failed already",
                            photon_api::PaymentState::Disputed => "it is disputed",
                            // a direct payment, or our unlock: the partner has it
                            photon_api::PaymentState::Pending => "the target has been paid",
                        };
                        Err(photon_state::Rejection::NotCancellable { payment_id, why }.into())
                    }));
                    return;
                }
                batch.push((StateChange::CancelPayment { payment_id }, Waiter::Reply(reply)));
            }
            Command::Routes { token, target, amount, found, reply } => {
                let _ = reply.send(self.routes_for(token, target, amount, found.as_deref()));
            }
            Command::Channel { token, partner, action, reply } => {
                let Some(channel) = self.state.channel_with(token, partner) else {
                    let _ = reply.send(Err(NodeError::NotFound(format!(
                        "no channel with {partner} for token {token}"
                    ))));
                    return;
                };
                let channel_id = channel.id;
                let change = match action {
                    ChannelAction::Close => StateChange::Close { channel_id },
                    ChannelAction::CooperativeSettle => {
                        StateChange::RequestCooperativeSettle { channel_id }
                    }
                    ChannelAction::Withdraw(amount) => {
                        StateChange::RequestWithdraw { channel_id, amount }
                    }
                };
                // answered once the state machine accepted it and it is durable
                batch.push((change, Waiter::Reply(reply)));
            }
        }
    }

    /// Applies a batch, makes it durable, then carries out its events.
    pub(super) fn apply_batch(&mut self, batch: Vec<Item>) -> Result<(), NodeError> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut accepted: Vec<(StateChange, Vec<Event>)> = Vec::with_capacity(batch.len());
        let mut replies: Vec<Reply<()>> = Vec::new();
        let mut acks: Vec<oneshot::Sender<Delivery>> = Vec::new();
        let mut moved: Vec<NodeEvent> = Vec::new();
        for (change, waiter) in batch {
            let watched: Vec<(ChannelId, Option<ChannelBrief>)> = may_move(&change, &self.state)
                .into_iter()
                .map(|id| (id, self.channel_brief(&id)))
                .collect();
            if let StateChange::Chain(
                photon_state::ChainEvent::ChannelOpened { .. }
                | photon_state::ChainEvent::ChannelClosed { .. }
                | photon_state::ChainEvent::ChannelSettled { .. },
            ) = &change
            {
                self.network_version += 1;
            }
            let payment = match &change {
                StateChange::SendDirect { payment_id, .. }
                | StateChange::SendMediated { payment_id, .. } => Some(*payment_id),
                _ => None,
            };
            match transition(&mut self.state, change.clone(), &self.signer) {
                Ok(events) => {
                    accepted.push((change, events));
                    for (id, before) in watched {
                        moved.extend(ChannelBrief::event(id, before, self.channel_brief(&id)));
                    }
                    match waiter {
                        Waiter::Reply(reply) => replies.push(reply),
                        Waiter::Peer(respond) => acks.push(respond),
                        Waiter::None => {}
                    }
                }
                Err(rejection) => {
                    // a payment refused: its caller hears why (and whoever waits for its start)
                    if let Some((reply, _)) = payment.and_then(|id| self.payments.remove(&id)) {
                        let _ = reply.send(Err(NodeError::Rejected(rejection.clone())));
                    }
                    match waiter {
                        Waiter::Peer(respond) => {
                            let _ = respond.send(refusal(&rejection));
                        }
                        Waiter::Reply(reply) => {
                            let _ = reply.send(Err(NodeError::Rejected(rejection)));
                        }
                        Waiter::None => tracing::debug!(%rejection, "input refused"),
                    }
                }
            }
        }
        if accepted.is_empty() {
            return Ok(());
        }
        let at = now_secs();
        let records: Vec<Record<'_>> =
            accepted.iter().map(|(c, e)| Record { change: c, events: e, at }).collect();
        let (ids, pending, outbox) = self.storage.append_all(&records)?;
        for (change, _) in &accepted {
            if let StateChange::Receive { message, .. } = change {
                crash_point(&format!("after_commit:{:?}", message.kind()));
            }
        }
        let mut pending = pending.into_iter();
        let mut outbox = outbox.into_iter();
        let mut compact = false;
        self.last_change = ids.last().copied().unwrap_or(self.last_change);
        self.since_snapshot += ids.len() as u64;
        if self.since_snapshot >= self.settings.snapshot_every {
            self.storage.save_snapshot(self.last_change, &self.state)?;
            self.since_snapshot = 0;
            compact = true;
        }
        for reply in replies {
            let _ = reply.send(Ok(()));
        }
        for event in moved {
            let _ = self.handle.events.send(event);
        }
        for respond in acks {
            let _ = respond.send(Delivery::Ack);
        }
        for (change, events) in accepted {
            if let StateChange::Block(number) = change {
                let _ = self.handle.events.send(NodeEvent::Block { number });
            }
            self.last_sent = false; // per state change, as the history links them
            for event in events {
                let tag = match &event {
                    Event::Transact(_) => pending.next(),
                    e if e.outbox_message().is_some() => outbox.next(),
                    _ => None,
                };
                self.carry_out(event, tag);
            }
        }
        if compact {
            self.compact();
        }
        Ok(())
    }

    /// Removes the log behind the snapshot just saved (and history past its retention), once
    /// the batch's effects are under way. Housekeeping: a failure (or a crash) leaves the
    /// records for the next snapshot's turn and the node goes on.
    fn compact(&mut self) {
        let history_before =
            self.settings.history_retention.map(|keep| now_secs().saturating_sub(keep.as_secs()));
        match self.storage.compact(history_before) {
            Ok(compacted) => tracing::debug!(?compacted, "log compacted behind the snapshot"),
            Err(e) => {
                tracing::warn!(error = %e, "compacting the log failed; next snapshot retries")
            }
        }
    }

    /// Carries out one event; `tag` is its storage id (pending transaction or outbox entry).
    pub(super) fn carry_out(&mut self, event: Event, tag: Option<u64>) {
        let after_send = std::mem::replace(
            &mut self.last_sent,
            event.outbox_message().is_some() && tag.is_some(),
        );
        match event {
            Event::Send { recipient, message } => {
                if let Message::MediatedTransfer(m) = &message {
                    if m.initiator == self.state.address {
                        self.recent.routed(m.payment_id, m.path.clone());
                    }
                }
                let kind = message.kind();
                crash_point(&format!("before_send:{kind:?}"));
                self.transport.send(self.state.address, recipient, message, tag);
                crash_point(&format!("after_send:{kind:?}"));
            }
            Event::Transact(call) => {
                let _ = self.txs.send(TxJob {
                    calls: vec![ChainCall::Protocol(Box::new(call))],
                    reply: None,
                    pending: tag,
                });
            }
            Event::PaymentSent { payment_id, token, target, amount, fee } => {
                // succeeded once the partner acknowledged the message that completes it (the
                // direct transfer, or the unlock), carried out right before: reported then
                // (`Input::Delivered`), from the history that links the two
                if !after_send {
                    self.payment_sent(SentPayment { payment_id, token, target, amount, fee });
                }
            }
            Event::PaymentFailed { payment_id, reason, .. } => {
                let reason = match reason {
                    PaymentFailure::NoRoute => "no route could carry the payment",
                    PaymentFailure::LockExpired => {
                        "the lock expired before the secret was revealed"
                    }
                    PaymentFailure::Cancelled => "cancelled by the user",
                };
                self.payment_failed(payment_id, reason.into());
            }
            Event::PaymentReceived { payment_id, token, initiator, amount, data } => {
                let _ = self.handle.events.send(NodeEvent::PaymentReceived {
                    token,
                    payment_id,
                    initiator,
                    amount: photon_api::Amount(amount.0),
                    data: photon_api::PaymentData(data),
                });
            }
            Event::PaymentMediated { .. } => {}
            Event::SwapChanged { secrethash, status } => {
                let (state, reason) = super::swaps::swap_state(&status);
                let _ = self.handle.events.send(NodeEvent::SwapChanged {
                    secret_hash: secrethash.0,
                    state,
                    reason,
                });
            }
        }
    }
}
