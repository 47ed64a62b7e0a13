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

/// The transaction manager, made once the chain answers (it needs the account's nonce, and
/// checks the chain is the deployment's).
pub(super) struct Transactions {
    provider: DynProvider,
    from: Address,
    deployment: photon_chain::Deployment,
    manager: Option<TxManager>,
}

impl Transactions {
    pub(super) fn new(
        provider: DynProvider, from: Address, deployment: photon_chain::Deployment,
    ) -> Self {
        Self { provider, from, deployment, manager: None }
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
    for call in calls {
        let mut delay = Duration::from_millis(200);
        last = loop {
            let attempt = async {
                let txs = txs.get().await?;
                crash_point(&format!("before_tx:{}", call_name(call)));
                let pending = txs.send(call).await?;
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
