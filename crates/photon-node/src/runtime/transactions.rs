//! The transaction task: contract calls sent one after the other, each mined before the
//! next, reported back to the core loop.

use super::*;

/// Work for the transaction task: calls sent one after the other, each mined before the next.
pub(super) struct TxJob {
    pub(super) calls: Vec<ChainCall>,
    pub(super) reply: Option<oneshot::Sender<Result<TxHash, NodeError>>>,
    /// Storage id of a transaction the protocol asked for: reported back when done.
    pub(super) pending: Option<u64>,
}

/// What the node did with its recent transactions, newest last (`GET /api/v1/transactions`).
#[derive(Debug, Default)]
pub struct TxJournal {
    entries: std::sync::Mutex<std::collections::VecDeque<photon_api::TransactionView>>,
    next: std::sync::atomic::AtomicU64,
}

impl TxJournal {
    /// How many transactions it keeps.
    const KEPT: usize = 1_000;

    fn begin(&self, call: String, protocol: bool) -> u64 {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.push_back(photon_api::TransactionView {
            id,
            call,
            protocol,
            state: photon_api::TxState::Queued,
            hash: None,
            error: None,
            at: now_secs(),
        });
        while entries.len() > Self::KEPT {
            entries.pop_front();
        }
        id
    }

    fn update(&self, id: u64, change: impl FnOnce(&mut photon_api::TransactionView)) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.iter_mut().rev().find(|e| e.id == id) {
            change(entry);
            entry.at = now_secs();
        }
    }

    /// The transactions, newest first.
    pub fn list(&self) -> Vec<photon_api::TransactionView> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.iter().rev().cloned().collect()
    }
}

/// The transaction manager, made once the chain answers (it needs the account's nonce, and
/// checks the chain is the deployment's).
pub(super) struct Transactions {
    provider: DynProvider,
    from: Address,
    deployment: photon_chain::Deployment,
    manager: Option<TxManager>,
    journal: std::sync::Arc<TxJournal>,
    /// The most a request's transaction may pay per gas (wei); the protocol's own are never
    /// held back (they protect deposits).
    max_gas_price: Option<u128>,
}

impl Transactions {
    pub(super) fn new(
        provider: DynProvider, from: Address, deployment: photon_chain::Deployment,
        journal: std::sync::Arc<TxJournal>, max_gas_price: Option<u128>,
    ) -> Self {
        Self { provider, from, deployment, manager: None, journal, max_gas_price }
    }

    /// A request's transaction when gas costs more than the operator's cap: refused.
    async fn within_cap(&self) -> Result<(), NodeError> {
        let Some(cap) = self.max_gas_price else { return Ok(()) };
        use alloy::providers::Provider;
        let price = self.provider.get_gas_price().await.map_err(ChainError::from)?;
        if price > cap {
            return Err(NodeError::Refused(format!(
                "gas costs {price} wei now, above this node's cap of {cap} (--max-gas-price-gwei); try again later"
            )));
        }
        Ok(())
    }

    pub(super) async fn get(&mut self) -> Result<&mut TxManager, photon_chain::ChainError> {
        let manager = match self.manager.take() {
            Some(manager) => manager,
            None => {
                TxManager::new(self.provider.clone(), self.from, self.deployment.clone()).await?
            }
        };
        Ok(self.manager.insert(manager))
    }
}

/// Sends the calls in order, each mined before the next. Protocol transactions (`retry`) are
/// retried through RPC outages (and an endpoint on another chain) until mined or refused for
/// good; a refusal on a retry means an earlier attempt already landed.
pub(super) async fn run_job(
    txs: &mut Transactions, calls: &[ChainCall], retry: bool, stopping: &mut watch::Receiver<bool>,
) -> Result<TxHash, NodeError> {
    let mut last = Err(NodeError::BadRequest("no transaction to send".into()));
    if !retry {
        txs.within_cap().await?;
    }
    for call in calls {
        let mut delay = Duration::from_millis(200);
        let journal = txs.journal.clone();
        let entry = journal.begin(call_name(call), retry);
        last = loop {
            let attempt = async {
                let txs = txs.get().await?;
                crash_point(&format!("before_tx:{}", call_name(call)));
                let pending = txs.send(call).await?;
                journal.update(entry, |e| {
                    e.state = photon_api::TxState::Sent;
                    e.hash = Some(pending.hash);
                    e.error = None;
                });
                crash_point(&format!("after_tx:{}", call_name(call)));
                txs.wait(pending.hash, Duration::from_millis(100), Duration::from_secs(600))
                    .await?;
                Ok::<_, photon_chain::ChainError>(pending.hash)
            }
            .await;
            match attempt {
                Ok(hash) => break Ok(hash),
                // the endpoint is away or serves another chain: the protocol's transactions
                // wait for the right one
                Err(e @ (ChainError::Rpc(_) | ChainError::WrongChain { .. })) if retry => {
                    journal.update(entry, |j| j.error = Some(e.to_string()));
                    if *stopping.borrow() {
                        break Err(NodeError::Stopped);
                    }
                    tracing::warn!(error = %e, "the chain cannot take it now; retrying the transaction");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = stopping.changed() => break Err(NodeError::Stopped),
                    }
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(e) => break Err(NodeError::from(e)),
            }
        };
        journal.update(entry, |j| match &last {
            Ok(_) => j.state = photon_api::TxState::Mined,
            // kept for the next start: queued again
            Err(NodeError::Stopped) => j.state = photon_api::TxState::Queued,
            // a protocol transaction not mined in time stays pending: it is sent again at the
            // next start (it may still land)
            Err(e @ NodeError::Chain(ChainError::Timeout(_))) if retry => {
                j.error = Some(format!("{e}; sent again at the next start"));
            }
            Err(e) => {
                j.state = photon_api::TxState::Failed;
                j.error = Some(e.to_string());
            }
        });
        if last.is_err() {
            break;
        }
    }
    last
}

/// The transaction task: runs the node's jobs one after the other until the node drops its
/// sender, reporting each protocol transaction done (unless it may still land) and answering
/// each API request.
pub(super) async fn transaction_task(
    mut txs: Transactions, mut job_rx: mpsc::UnboundedReceiver<TxJob>, done: mpsc::Sender<Input>,
    mut stopping: watch::Receiver<bool>,
) {
    while let Some(job) = job_rx.recv().await {
        let result = run_job(&mut txs, &job.calls, job.pending.is_some(), &mut stopping).await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, calls = ?job.calls, "transaction failed");
        }
        // Done unless it may still land: a stop or an unfinished wait keeps it pending
        // for the next start.
        let finished = !matches!(
            result,
            Err(NodeError::Stopped)
                | Err(NodeError::Chain(
                    ChainError::Timeout(_) | ChainError::Rpc(_) | ChainError::WrongChain { .. }
                ))
        );
        if let (Some(id), true) = (job.pending, finished) {
            let _ = done.send(Input::TxDone(id)).await;
        }
        if let Some(reply) = job.reply {
            let _ = reply.send(result);
        }
    }
}
