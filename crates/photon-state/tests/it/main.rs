#![allow(unreachable_pub)]
//! The protocol core driven through an in-memory network of state machines.

mod flows;
mod harness;
mod properties;
mod rejections;
mod swaps;
