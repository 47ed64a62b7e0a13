//! The service's work for closed channels: which transaction is due when ([`due_jobs`]), the
//! chain loop that finds closed channels and due jobs, and the sender that submits them one
//! after another.

use crate::delegation::Delegation;
use crate::service::{MonitorSettings, Shared};
use crate::store::DelegationStore;
use crate::{MonitorError, StoreError};
use alloy::providers::DynProvider;
use photon_chain::follower::{ChainFollower, FollowerConfig};
use photon_chain::txmanager::{ChainCall, TxManager};
use photon_chain::{ChainError, Deployment};
use photon_primitives::eip712::Domain;
use photon_primitives::{Address, ChannelId};
use photon_state::changes::{ChainEvent, StateChange};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// A transaction for a watched channel, as queued for the sender.
pub(crate) struct Task {
    channel: ChannelId,
    job: Job,
    /// The watch's generation it was built from.
    generation: u64,
    /// It must be mined by this block (an unlock) or it is useless.
    deadline: Option<u64>,
    call: ChainCall,
}

/// How a task ended, reported by the sender.
pub(crate) struct Report {
    channel: ChannelId,
    job: Job,
    generation: u64,
    outcome: Outcome,
}

/// Blocks before the end of the settle window when locks that expire after it are unlocked.
const UNLOCK_LEAD: u64 = 6;

/// The service's kinds of transaction for a watched channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Job {
    /// The closer's proof, for its partner.
    Update,
    /// A participant's claim of the other's locks.
    Unlock(Address),
    /// The settlement.
    Settle,
}

/// How a job ended.
pub(crate) enum Outcome {
    /// Mined, or refused by the contract as not needed (nothing more to do).
    Done,
    /// Failed for now (endpoint, timeout): tried again.
    Failed,
}

/// Sends the service's transactions one after another and reports how each ended. An unlock
/// is only sent when a lock is claimable (a secret registered in time): the contract takes one
/// unlock per locksroot and would otherwise take gas for nothing.
pub(crate) async fn send_all(
    mut txs: TxManager,
    registry: photon_chain::bindings::SecretRegistry::SecretRegistryInstance<DynProvider>,
    mut tasks: mpsc::UnboundedReceiver<Task>, done: mpsc::UnboundedSender<Report>,
) {
    use alloy::providers::Provider;
    while let Some(task) = tasks.recv().await {
        let Task { channel, job, generation, deadline, call } = task;
        let report = |outcome| Report { channel, job, generation, outcome };
        // still in time? (tasks wait for each other)
        if let Some(deadline) = deadline {
            match registry.provider().get_block_number().await {
                Ok(head) if head + 1 >= deadline => {
                    tracing::warn!(%channel, ?job, "too late to be mined inside the window");
                    let _ = done.send(report(Outcome::Done));
                    continue;
                }
                Ok(_) => {}
                Err(_) => {
                    let _ = done.send(report(Outcome::Failed));
                    continue;
                }
            }
        }
        if let ChainCall::UnlockDelegate { locks, skip, .. } = &call {
            let encoded = photon_primitives::lock::encode_locks(locks);
            match registry.claimableAmount(encoded.into(), skip.0).call().await {
                Ok(amount) if amount.is_zero() => {
                    tracing::info!(%channel, "no delegated lock is claimable: no unlock");
                    let _ = done.send(report(Outcome::Done));
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the secret registry");
                    let _ = done.send(report(Outcome::Failed));
                    continue;
                }
            }
        }
        let result = async {
            let pending = txs.send(&call).await?;
            txs.wait(pending.hash, Duration::from_millis(100), Duration::from_secs(600)).await?;
            Ok::<_, ChainError>(pending.hash)
        }
        .await;
        let outcome = match result {
            Ok(hash) => {
                tracing::info!(%hash, %channel, ?job, "monitor transaction mined");
                Outcome::Done
            }
            Err(ChainError::Refused(reason)) => {
                tracing::info!(%reason, %channel, ?job, "not needed: the contract refuses it");
                Outcome::Done
            }
            Err(e) => {
                tracing::warn!(error = %e, %channel, ?job, "monitor transaction failed; retrying");
                Outcome::Failed
            }
        };
        let _ = done.send(report(outcome));
    }
}

/// The follower and what it takes to start it again from a given block.
pub(crate) struct Follow {
    pub(crate) follower: ChainFollower<DynProvider>,
    pub(crate) provider: DynProvider,
    pub(crate) deployment: Deployment,
    pub(crate) config: FollowerConfig,
}

/// Follows the chain: watches closed channels it holds delegations for and acts for them.
/// Blocks are marked handled only after their events are: an event that could not be handled
/// is read again.
pub(crate) async fn watch_chain(
    mut follow: Follow, shared: Arc<Shared>, settings: MonitorSettings,
    tasks: mpsc::UnboundedSender<Task>, mut done: mpsc::UnboundedReceiver<Report>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ChainError> {
    let punish = settings.deployment.params.punish_blocks;
    let confirmations = settings.confirmations;
    let mut in_flight = std::collections::HashSet::new();
    let mut ticker = tokio::time::interval(settings.poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            Some(Report { channel, job, generation, outcome }) = done.recv() => {
                in_flight.remove(&(channel, job));
                if let Outcome::Done = outcome {
                    let marked =
                        shared.with_store(move |s| mark_done(s, channel, job, generation)).await;
                    if let Err(e) = marked {
                        tracing::error!(error = %e, "monitor storage failed");
                    }
                }
                continue;
            }
            _ = ticker.tick() => {}
        }
        let changes = match follow.follower.poll().await {
            Ok(changes) => changes,
            Err(e @ ChainError::DeepReorg { .. }) => {
                tracing::error!(error = %e, "the chain reorganised deeper than the confirmations");
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(error = %e, "chain poll failed; retrying");
                continue;
            }
        };
        let mut failed = false;
        for change in changes {
            let result = match change {
                StateChange::Chain(ChainEvent::ChannelClosed { channel_id, .. }) => {
                    watch_closed(&shared, channel_id).await
                }
                StateChange::Chain(ChainEvent::ChannelSettled { channel_id }) => shared
                    .with_store(move |s| s.forget(channel_id))
                    .await
                    .map_err(MonitorError::from),
                StateChange::Block(block) => {
                    shared.block.store(block, std::sync::atomic::Ordering::Relaxed);
                    let (flying, domain) = (in_flight.clone(), shared.domain.clone());
                    let due = shared
                        .with_store(move |s| {
                            due_jobs(s, &domain, block, punish, confirmations, &flying)
                        })
                        .await;
                    match due {
                        Ok(due) => {
                            for task in due {
                                in_flight.insert((task.channel, task.job));
                                let _ = tasks.send(task);
                            }
                            shared
                                .with_store(move |s| s.set_last_block(block))
                                .await
                                .map_err(MonitorError::from)
                        }
                        Err(e) => Err(e.into()),
                    }
                }
                _ => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "a chain event could not be handled; reading it again");
                failed = true;
                break;
            }
        }
        if failed {
            // start again after the last block fully handled
            let last = shared.with_store(|s| s.last_block()).await.ok().flatten();
            let config = FollowerConfig {
                from_block: last.map_or(follow.config.from_block, |b| b + 1),
                ..follow.config
            };
            follow.follower =
                ChainFollower::new(follow.provider.clone(), follow.deployment.clone(), config);
        }
    }
}

/// A channel closed: watched if we hold a delegation for it (the contract's view of it read
/// now, while it is closed).
async fn watch_closed(shared: &Arc<Shared>, channel_id: ChannelId) -> Result<(), MonitorError> {
    let held = shared.with_store(move |s| s.of_channel(channel_id)).await?;
    let Some(first) = held.first() else {
        return Ok(());
    };
    let info = shared
        .network
        .getChannelInfo(first.token, first.participant, first.partner)
        .call()
        .await
        .map_err(ChainError::from)?;
    if info.state != 2 {
        return Ok(()); // settled meanwhile
    }
    tracing::info!(%channel_id, closer = %info.closer, "a channel we guard was closed");
    let watch = crate::service::watch_of(first, &info);
    shared
        .with_store(move |s| {
            // watched already (an event read again, or a delegation after the close): kept
            if s.watch(channel_id)?.is_none() {
                s.put_watch(channel_id, &watch)?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}

/// Marks a watched channel's job done, unless a newer delegation re-armed the watch since
/// the job was built.
fn mark_done(
    store: &mut DelegationStore, channel: ChannelId, job: Job, generation: u64,
) -> Result<(), StoreError> {
    let Some(mut watch) = store.watch(channel)? else { return Ok(()) };
    if watch.generation != generation {
        return Ok(());
    }
    match job {
        Job::Update => watch.update_done = true,
        Job::Unlock(participant) => watch.unlocked.push(participant),
        Job::Settle => watch.settle_done = true,
    }
    store.put_watch(channel, &watch)
}

/// The transactions due at confirmed block `block` for every watched channel, but those in
/// flight.
fn due_jobs(
    store: &mut DelegationStore, domain: &Domain, block: u64, punish: u64, confirmations: u64,
    in_flight: &std::collections::HashSet<(ChannelId, Job)>,
) -> Result<Vec<Task>, StoreError> {
    let mut due = Vec::new();
    // the head is `confirmations` ahead of `block`; a transaction sent now lands after it
    let head = block + confirmations;
    for (channel, watch) in store.watches()? {
        let delegations: Vec<Delegation> = store.of_channel(channel)?;
        let idle = |job| !in_flight.contains(&(channel, job));
        let task = |job, deadline, call| Task {
            channel,
            job,
            generation: watch.generation,
            deadline,
            call,
        };
        if !watch.update_done && idle(Job::Update) && head < watch.settle_block {
            // only the closer's partner can be updated: the closer's proof for it
            let call = delegations
                .iter()
                .filter(|d| d.participant != watch.closer)
                .find_map(|d| d.update_call(domain).ok());
            if let Some(call) = call {
                due.push(task(Job::Update, Some(watch.settle_block), call));
            }
        }
        // One unlock per side and locksroot: as late as it helps — after every delegated lock
        // (not skipped) expired, so no registration can make one claimable any more — but
        // inside the window; for the closer's partner only once its update is in (the unlock
        // must match the stored locksroot).
        for d in &delegations {
            let job = Job::Unlock(d.participant);
            let skipped = |i: usize| d.skip.skips(i);
            let last = d
                .locks
                .iter()
                .enumerate()
                .filter(|(i, _)| !skipped(*i))
                .map(|(_, l)| l.expiration)
                .max();
            let Some(last) = last else { continue };
            let unlock_at =
                last.saturating_add(1).min(watch.settle_block.saturating_sub(UNLOCK_LEAD));
            let in_window = head >= unlock_at && head + 1 < watch.settle_block;
            let updated = d.participant == watch.closer || (watch.update_done && idle(Job::Update));
            if !watch.unlocked.contains(&d.participant) && idle(job) && in_window && updated {
                if let Some(call) = d.unlock_call() {
                    due.push(task(job, Some(watch.settle_block), call));
                }
            }
        }
        if !watch.settle_done && idle(Job::Settle) && block > watch.settle_block + punish {
            let (participant1, participant2) = watch.participants;
            let call = ChainCall::SettleFor { token: watch.token, participant1, participant2 };
            due.push(task(Job::Settle, None, call));
        }
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delegation::tests::{delegation, domain};
    use crate::store::Watch;
    use photon_primitives::Signer;

    /// When each transaction is due for a closed channel: Bob closed; Alice (the client) is
    /// updated at once, her delegated locks (expiring at 90 and 95) unlocked once the last one
    /// expired, and the channel settled after the windows; nothing twice, nothing in flight
    /// again.
    #[test]
    fn each_transaction_comes_at_its_time_and_once() {
        let (d, _, bob) = delegation();
        let domain = domain();
        let channel = d.channel_id(&domain);
        let mut store = DelegationStore::open_in_memory().unwrap();
        store.put(channel, &d).unwrap();
        let watch = Watch {
            token: d.token,
            participants: (d.participant, d.partner),
            closer: bob.address(),
            settle_block: 120,
            update_done: false,
            unlocked: Vec::new(),
            settle_done: false,
            generation: 0,
        };
        store.put_watch(channel, &watch).unwrap();
        let none = std::collections::HashSet::new();
        let (punish, confirmations) = (5, 2);
        let jobs = |store: &mut DelegationStore, block, flying: &std::collections::HashSet<_>| {
            due_jobs(store, &domain, block, punish, confirmations, flying)
                .unwrap()
                .into_iter()
                .map(|task| task.job)
                .collect::<Vec<_>>()
        };
        assert_eq!(jobs(&mut store, 60, &none), vec![Job::Update]);
        let flying: std::collections::HashSet<_> = [(channel, Job::Update)].into();
        assert!(jobs(&mut store, 61, &flying).is_empty(), "in flight: not sent again");
        let unlock = Job::Unlock(d.participant);
        assert!(!jobs(&mut store, 95, &none).contains(&unlock), "not before the update is in");
        mark_done(&mut store, channel, Job::Update, 0).unwrap();
        // the lock expiring at 95 is skipped (disposed): only the one at 90 counts
        assert!(jobs(&mut store, 88, &none).is_empty(), "head 90: a lock may still be registered");
        assert_eq!(jobs(&mut store, 89, &none), vec![unlock], "head 91: every lock expired");
        mark_done(&mut store, channel, unlock, 0).unwrap();
        assert!(jobs(&mut store, 125, &none).is_empty(), "the punish window is not over");
        assert_eq!(jobs(&mut store, 126, &none), vec![Job::Settle]);
        mark_done(&mut store, channel, Job::Settle, 0).unwrap();
        assert!(jobs(&mut store, 200, &none).is_empty());
        // locks expiring after the window are unlocked in its last blocks, never after
        let late = Watch { settle_block: 80, update_done: true, unlocked: vec![], ..watch };
        store.put_watch(channel, &late).unwrap();
        let unlocks = |store: &mut DelegationStore, block| {
            jobs(store, block, &none).into_iter().filter(|j| *j == unlock).count()
        };
        let seen: Vec<usize> = (71..=77).map(|b| unlocks(&mut store, b)).collect();
        assert_eq!(seen, vec![0, 1, 1, 1, 1, 1, 0], "heads 74 to 78: mined by 80 at the latest");
        // a job built before a newer delegation re-armed the watch does not count
        let rearmed = Watch { generation: 1, ..late.clone() };
        store.put_watch(channel, &rearmed).unwrap();
        mark_done(&mut store, channel, unlock, 0).unwrap();
        assert_eq!(unlocks(&mut store, 75), 1, "still to do for the newer delegation");
        mark_done(&mut store, channel, unlock, 1).unwrap();
        assert_eq!(unlocks(&mut store, 75), 0);
        // a client's own close: no update of its own proof
        let own = Watch { closer: d.participant, update_done: false, ..late };
        store.put_watch(channel, &own).unwrap();
        assert!(!jobs(&mut store, 10, &none).contains(&Job::Update));
    }
}
