//! The protocol core of the Photon Network: pure, deterministic, no I/O.
//!
//! ```text
//!   StateChange ──> transition(&mut ChainState, change, &dyn Signer) ──> Vec<Event>
//!   (block, chain event,                                              (send message,
//!    message, user action)                                             send transaction,
//!                                                                      payment done/failed)
//! ```
//! Time arrives only as block numbers, secrets and signatures only as inputs (the signer is
//! injected). A refused input returns a [`Rejection`] and leaves the state exactly as it was;
//! an accepted one mutates the state in place (no whole-state copy) and returns the events the
//! runtime must carry out after persisting the change.
//!
//! * [`balance`]: what each side owns and what settlement pays, shared with the contract.
//! * [`state`]: channels, ends, locks, payment tasks.
//! * [`changes`]: the inputs and outputs.
//! * direct transfers and chain events in `machine`, mediated payments in `mediated` (one
//!   module per role — initiator, mediator, target — with disposal and rerouting, expiry and
//!   on-chain secret registration shared),
//!   withdraw and cooperative settle negotiation in `negotiation`.

pub mod balance;
pub mod changes;
mod channel;
mod ctx;
mod error;
pub mod fees;
mod machine;
mod mediated;
mod negotiation;
pub mod state;

pub use balance::{BalanceError, ChannelBalances, Side};
pub use changes::{ChainEvent, ContractCall, Event, PaymentFailure, Route, StateChange};
pub use error::Rejection;
pub use machine::{task_role, transition};
pub use state::{
    ChainState, ChannelState, ChannelStatus, Config, FeePolicy, FeeSchedule, FeeScope, OurDisposal,
    Swap, SwapLeg, SwapRole, SwapStatus, Task, TheirDisposal, UnlockState,
};
