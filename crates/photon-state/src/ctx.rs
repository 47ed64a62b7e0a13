//! What a handler of a state change works with.

use crate::changes::Event;
use crate::state::ChainState;
use photon_primitives::Signer;

/// The state being changed, the node's signer (which also recovers the partner's
/// signatures), and the events the change produces, in order: every handler of
/// [`transition`](crate::transition) takes one.
pub(crate) struct Ctx<'a> {
    /// The node's state.
    pub(crate) state: &'a mut ChainState,
    /// Signs our messages; recovers others'.
    pub(crate) signer: &'a dyn Signer,
    /// What the runtime carries out once the change is durable.
    pub(crate) events: &'a mut Vec<Event>,
}
