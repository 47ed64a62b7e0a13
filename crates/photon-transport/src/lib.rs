//! The peer-to-peer transport of the Photon Network, on libp2p.
//!
//! ```text
//!   node ──send(address, message)──> per-peer FIFO ──request──> peer ──> Incoming ──> its node
//!                                      ▲      one in flight            │
//!                                      └──────── Delivery ◄────────────┘  Ack | Retry | Reject
//! ```
//!
//! * **Identity.** A node's libp2p key *is* its Ethereum key (secp256k1): the peer id embeds
//!   the public key, so the Ethereum address of a peer is computed from its peer id
//!   ([`identity::address_of`]), and the Noise handshake — a signature by that key that the
//!   peer verifies — proves it. A message from "Bob" really is from Bob.
//! * **Delivery.** Messages to one peer leave in order, one at a time, each retried with
//!   backoff until the peer answers [`Delivery::Ack`] (processed, or a duplicate of something
//!   processed) or [`Delivery::Reject`] (never acceptable); [`Delivery::Retry`] means "not yet"
//!   (it arrived before something it depends on). A peer that is offline gets its messages when
//!   it is back; other peers' queues are not held up.
//! * **Discovery.** Bootstrap peers, then a Kademlia DHT in which every node provides the key
//!   of its own Ethereum address; a provider is only believed if its peer id maps to that
//!   address. mDNS on the local network behind the `mdns` feature.

mod codec;
mod error;
pub mod identity;
mod service;

pub use error::TransportError;
pub use libp2p::Multiaddr;
pub use service::{start, Delivery, Incoming, P2pConfig, P2pTransport};
