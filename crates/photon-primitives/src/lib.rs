//! Primitives of the Photon Network: the vocabulary every other crate speaks.
//!
//! ```text
//!   amounts, blocks, nonces ──┐
//!   ChannelId / epoch ────────┼──> EIP-712 typed structs ──> digest ──> Signer ──> Signature
//!   Lock / locksroot ─────────┘        (eip712.rs)                       (signer.rs)
//! ```
//!
//! * [`types`]: what a number means (`BlockNumber`, and the newtypes `TokenAmount`, `Nonce`,
//!   `Epoch`, `SettleTimeout`, `SkipMask`) and the identifiers (`ChannelId`, `Locksroot`,
//!   `SecretHash`, `Secret`); the newtypes serialise exactly as the values they wrap.
//! * [`lock`]: hash-time locks and the locksroot, byte for byte as the contract hashes them.
//! * [`eip712`]: every signed structure, defined once; the contract tests check each digest
//!   against `TokensNetwork`.
//! * [`signer`]: the [`Signer`] trait, a libsecp256k1 local signer and
//!   signature recovery.
//! * [`codec`]: the versioned binary wire encoding of every
//!   [`Message`](messages::Message): `"PHTN"`, version, kind byte, fixed-width big-endian
//!   fields; decoding never panics.
//!
//! ```
//! use photon_primitives::{eip712::{BalanceProof, Domain}, signer::{LocalSigner, Signer, recover}};
//! use photon_primitives::types::{Address, ChannelId, Epoch, Locksroot, Nonce, TokenAmount};
//!
//! let signer = LocalSigner::from_bytes(&[7u8; 32]).unwrap();
//! let domain = Domain::new(31337, Address::repeat_byte(0x11));
//! let channel = ChannelId::repeat_byte(1);
//! let (paid, locked) = (TokenAmount(30), TokenAmount::ZERO);
//! let proof = BalanceProof::new(channel, Epoch(1), Nonce(1), paid, locked, Locksroot::ZERO, Default::default());
//! let digest = domain.balance_proof(&proof);
//! let signature = signer.sign_digest(&digest).unwrap();
//! assert_eq!(recover(&digest, &signature).unwrap(), signer.address());
//! ```

pub mod codec;
pub mod eip712;
pub mod lock;
pub mod messages;
pub mod signer;
pub mod types;

pub use lock::Lock;
pub use signer::{LocalSigner, Signature, Signer};
pub use types::*;
