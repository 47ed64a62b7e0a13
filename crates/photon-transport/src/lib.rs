//! The peer-to-peer transport of the Photon Network, on libp2p.
//!
//! ```text
//!   node ──send(address, message)──> lane FIFO ──request──> peer ──> Incoming ──> its node
//!                                      ▲      one in flight            │
//!                                      └──────── Delivery ◄────────────┘  Ack | Retry | Reject
//! ```
//!
//! * **Identity.** A node's libp2p key *is* its Ethereum key (secp256k1): the peer id embeds
//!   the public key, so the Ethereum address of a peer is computed from its peer id
//!   ([`identity::address_of`]), and the Noise handshake — a signature by that key that the
//!   peer verifies — proves it. A message from "Bob" really is from Bob.
//! * **Delivery.** Messages about one channel with one peer (a *lane*; messages about no
//!   channel, the secret request and reveal, have one lane per peer) leave in order: one
//!   request in flight per lane carries the head of its queue (up to 256 messages), and the
//!   peer answers each one:
//!   [`Delivery::Ack`] (processed, or a duplicate of something processed), [`Delivery::Reject`]
//!   (never acceptable) or [`Delivery::Retry`] ("not yet": it came before something it depends
//!   on). The queue advances past the acknowledged and rejected prefix; the rest is sent again
//!   with backoff. Batching lets the receiver process many messages in one durable commit. A
//!   peer that is offline gets its messages when it is back; other peers' and other channels'
//!   lanes are not held up.
//! * **Discovery.** Bootstrap peers, then a Kademlia DHT in which every node provides the key
//!   of its own Ethereum address; a provider is only believed if its peer id maps to that
//!   address; and, when [`P2pConfig::mdns`] is on, multicast DNS on the local network (a
//!   peer found so is believed the same way: the session proves the key behind its peer id).

mod codec;
mod error;
pub mod identity;
mod nat;
mod service;

pub use error::TransportError;
pub use libp2p::Multiaddr;
pub use nat::{relay_key, RelayLimits, MAX_RELAYS, PRIVATE_AFTER, UNKNOWN_GRACE};
pub use photon_api::{Connection, NetworkStatus, Reachability};
pub use service::{start, Delivery, DeliveryReport, Incoming, P2pConfig, P2pTransport, PeerChange};
