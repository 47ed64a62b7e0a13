//! Scalar types with a meaning, and identifiers.

use alloy::primitives::keccak256;
use sha2::{Digest, Sha256};

pub use alloy::primitives::{Address, B256, U256};

/// An amount of tokens in the token's smallest unit. The contract stores amounts in 128 bits.
pub type TokenAmount = u128;
/// A block number; blocks are the protocol's only clock.
pub type BlockNumber = u64;
/// A balance proof's sequence number inside one channel epoch; `+1` on every change.
pub type Nonce = u64;
/// A channel's epoch: the block at which it was opened, bumped by every withdrawal. Every
/// signature carries it, so signatures of an earlier epoch are void.
pub type Epoch = u64;

/// Identifier of a channel: `keccak256(lower address, higher address, token, contract)`.
pub type ChannelId = B256;

/// Computes the channel id exactly as `TokensNetwork.channelIdentifier` does.
pub fn channel_id(a: Address, b: Address, token: Address, contract: Address) -> ChannelId {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 80];
    buf[..20].copy_from_slice(low.as_slice());
    buf[20..40].copy_from_slice(high.as_slice());
    buf[40..60].copy_from_slice(token.as_slice());
    buf[60..].copy_from_slice(contract.as_slice());
    keccak256(buf)
}

/// The preimage of a hash lock.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub struct Secret(pub B256);

/// `sha256(secret)`: sha256 rather than keccak so the same secret can lock Bitcoin and
/// Litecoin HTLCs in cross-chain swaps.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Debug,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct SecretHash(pub B256);

impl Secret {
    /// The hash that locks pay against.
    pub fn hash(&self) -> SecretHash {
        SecretHash(B256::from_slice(&Sha256::digest(self.0.as_slice())))
    }
}

impl From<B256> for Secret {
    fn from(b: B256) -> Self {
        Self(b)
    }
}

impl From<B256> for SecretHash {
    fn from(b: B256) -> Self {
        Self(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_id_ignores_participant_order() {
        let (a, b) = (Address::repeat_byte(1), Address::repeat_byte(2));
        let (t, c) = (Address::repeat_byte(3), Address::repeat_byte(4));
        assert_eq!(channel_id(a, b, t, c), channel_id(b, a, t, c));
        assert_ne!(channel_id(a, b, t, c), channel_id(a, b, c, t));
    }

    #[test]
    fn secret_hash_is_sha256() {
        // sha256 of 32 zero bytes
        let h = Secret(B256::ZERO).hash();
        assert_eq!(
            format!("{:x}", h.0),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }
}
