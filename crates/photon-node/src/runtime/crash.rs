//! Crash switches for the crash tests, and the names they use.

use super::*;

/// Debug builds only: if the environment variable `PHOTON_CRASH_AT` names this point, the
/// process aborts here, as a crash would (no destructor runs, nothing is flushed). Points:
/// `after_commit:<Message>` (a received message of that kind is durable, its effects not yet
/// carried out), `before_send:<Message>` / `after_send:<Message>`, `before_tx:<call>` /
/// `after_tx:<call>`, where `<Message>` is a message kind such as `MediatedTransfer` and
/// `<call>` a contract call such as `RegisterSecret`.
pub fn crash_point(point: &str) {
    photon_storage::crash_point(point);
}

pub(super) fn call_name(call: &ChainCall) -> String {
    match call {
        ChainCall::Protocol(call) => {
            format!("{call:?}").split([' ', '{', '(']).next().unwrap_or("?").to_string()
        }
        other => format!("{other:?}").split([' ', '{', '(']).next().unwrap_or("?").to_string(),
    }
}
