//! Contract tests: the committed artifacts, deployed on a real anvil per test, every function's
//! success path and every revert path, with signatures made by `photon-primitives`.

mod adversary;
mod artifacts;
mod channel_close;
mod cooperative;
mod follower;
mod fund_safety;
mod helpers;
mod open_deposit;
mod properties;
mod registry;
mod txmanager;
mod unlock;
mod withdraw;
