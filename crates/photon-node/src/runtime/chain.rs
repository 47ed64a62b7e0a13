//! The chain task: polls the follower on its own task and reports to the core loop.

use super::*;

/// The chain as the follower saw it at its last poll.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ChainView {
    pub(super) head: Option<u64>,
    pub(super) online: bool,
    pub(super) in_sync: bool,
}

/// One poll of the follower task: the state changes it read (none on error) and the view.
pub(super) struct ChainReport {
    pub(super) changes: Result<Vec<StateChange>, ChainError>,
    pub(super) view: ChainView,
}

/// Longest a poll of the chain may take; a poll still waiting is given up (that changes
/// nothing) and tried again.
pub(super) const POLL_TIMEOUT: Duration = Duration::from_secs(30);

/// How the chain task is driven from outside (a phone's life cycle): paused, or woken for a
/// poll now.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ChainControl {
    /// No polls (the app is in the background, or the device offline).
    pub(super) paused: bool,
    /// Bumped to ask for a poll at once.
    pub(super) wakes: u64,
}

/// Polls the chain every `interval` (and at once when woken) and reports to the node, until
/// the node stops; not while paused. A poll may take long (an endpoint that drops packets);
/// the node goes on meanwhile.
pub(super) async fn follow(
    mut follower: ChainFollower<DynProvider>, interval: Duration,
    reports: mpsc::Sender<ChainReport>, mut stop: watch::Receiver<bool>,
    mut control: watch::Receiver<ChainControl>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let paused = control.borrow_and_update().paused;
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            changed = control.changed() => {
                if changed.is_err() {
                    return; // the node is gone
                }
                if control.borrow().paused {
                    continue;
                }
                ticker.reset(); // woken: poll now, the next one an interval later
            }
            _ = ticker.tick(), if !paused => {}
        }
        let polled = tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            polled = tokio::time::timeout(POLL_TIMEOUT, follower.poll()) => polled,
        };
        let (changes, view) = match polled {
            Ok(changes) => {
                let view = ChainView {
                    head: follower.head(),
                    online: follower.online(),
                    in_sync: follower.in_sync(),
                };
                (changes, view)
            }
            // an endpoint that takes connections and never answers is as good as gone
            Err(_) => (
                Err(ChainError::NoAnswer(POLL_TIMEOUT)),
                ChainView { head: follower.head(), online: false, in_sync: false },
            ),
        };
        if reports.send(ChainReport { changes, view }).await.is_err() {
            return; // the node stopped
        }
    }
}
