//! Scalar types with a meaning, and identifiers.

use alloy::primitives::keccak256;
use sha2::{Digest, Sha256};

pub use alloy::primitives::{Address, B256, U256};

/// An amount of tokens in the token's smallest unit. The contract stores amounts in 128 bits.
/// Reads and serialises as its number; `+` and `-` between amounts are the integer's (they
/// panic on overflow in debug builds); use the checked and saturating methods where input
/// decides.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TokenAmount(pub u128);

impl TokenAmount {
    /// No tokens.
    pub const ZERO: Self = Self(0);
    /// The largest amount.
    pub const MAX: Self = Self(u128::MAX);

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` below zero.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self + other`, at most [`TokenAmount::MAX`].
    pub const fn saturating_add(self, other: Self) -> Self {
        Self(self.0.saturating_add(other.0))
    }

    /// `self - other`, at least zero.
    pub const fn saturating_sub(self, other: Self) -> Self {
        Self(self.0.saturating_sub(other.0))
    }

    /// Whether this is no tokens.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl std::fmt::Display for TokenAmount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<u128> for TokenAmount {
    fn from(v: u128) -> Self {
        Self(v)
    }
}

macro_rules! amount_from {
    ($($t:ty),*) => {$(
        impl From<$t> for TokenAmount {
            fn from(v: $t) -> Self {
                Self(u128::from(v))
            }
        }
    )*};
}

amount_from!(u8, u16, u32, u64);

impl std::str::FromStr for TokenAmount {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// Amounts compare with plain numbers (`balance == 30`), as tests and checks read best.
impl PartialEq<u128> for TokenAmount {
    fn eq(&self, other: &u128) -> bool {
        self.0 == *other
    }
}

impl PartialOrd<u128> for TokenAmount {
    fn partial_cmp(&self, other: &u128) -> Option<std::cmp::Ordering> {
        self.0.partial_cmp(other)
    }
}

impl std::ops::Add for TokenAmount {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self(self.0 + other.0)
    }
}

impl std::ops::Sub for TokenAmount {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self(self.0 - other.0)
    }
}

impl std::ops::AddAssign for TokenAmount {
    fn add_assign(&mut self, other: Self) {
        self.0 += other.0;
    }
}

impl std::ops::SubAssign for TokenAmount {
    fn sub_assign(&mut self, other: Self) {
        self.0 -= other.0;
    }
}

impl std::iter::Sum for TokenAmount {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        Self(iter.map(|a| a.0).sum())
    }
}
/// A block number; blocks are the protocol's only clock.
pub type BlockNumber = u64;
/// Defines a `u64` newtype that reads and serialises as its number.
macro_rules! number {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, serde::Serialize,
            serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<u64> for $name {
            fn from(v: u64) -> Self {
                Self(v)
            }
        }
    };
}

number! {
    /// A balance proof's sequence number inside one channel epoch; `+1` on every change
    /// ([`Nonce::next`]), and a proof is only ever replaced by one with a higher nonce.
    Nonce
}

number! {
    /// A channel's epoch: the block at which it was opened, bumped by every withdrawal. Every
    /// signature carries it, so signatures of an earlier epoch are void.
    Epoch
}

impl Nonce {
    /// The nonce of the proof after this one.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

/// Defines a 32-byte newtype that reads, prints and serialises as its hex (`0x…`).
macro_rules! hash32 {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub B256);

        impl $name {
            /// All zero bytes.
            pub const ZERO: Self = Self(B256::ZERO);

            /// One repeated byte (tests).
            pub const fn repeat_byte(byte: u8) -> Self {
                Self(B256::repeat_byte(byte))
            }

            /// The bytes.
            pub fn as_slice(&self) -> &[u8] {
                self.0.as_slice()
            }
        }

        impl From<B256> for $name {
            fn from(b: B256) -> Self {
                Self(b)
            }
        }

        impl From<$name> for B256 {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

hash32! {
    /// Identifier of a channel: `keccak256(lower address, higher address, token, contract)`.
    ChannelId
}

hash32! {
    /// The root of a channel side's pending locks: `keccak256` of their packed encoding, zero
    /// when there are none ([`crate::lock::locksroot`]).
    Locksroot
}

impl ChannelId {
    /// An id from 32 bytes.
    ///
    /// # Panics
    /// If `bytes` is not 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(B256::from_slice(bytes))
    }
}

impl From<[u8; 32]> for ChannelId {
    fn from(b: [u8; 32]) -> Self {
        Self(B256::from(b))
    }
}

/// Computes the channel id exactly as `TokensNetwork.channelIdentifier` does.
pub fn channel_id(a: Address, b: Address, token: Address, contract: Address) -> ChannelId {
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 80];
    buf[..20].copy_from_slice(low.as_slice());
    buf[20..40].copy_from_slice(high.as_slice());
    buf[40..60].copy_from_slice(token.as_slice());
    buf[60..].copy_from_slice(contract.as_slice());
    ChannelId(keccak256(buf))
}

/// The preimage of a hash lock.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub struct Secret(pub B256);

/// `sha256(secret)`: sha256 rather than keccak so the same secret can lock Bitcoin and
/// Litecoin HTLCs in cross-chain swaps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
#[derive(serde::Serialize, serde::Deserialize)]
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

impl std::fmt::Display for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The blocks between a channel's close and its settlement, in which the partner can answer
/// with a newer balance proof and claim locks. The contract takes it as a `uint32`, within
/// the deployment's bounds; each node also has the range it accepts.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SettleTimeout(pub u32);

impl SettleTimeout {
    /// The timeout as a number of blocks, for block arithmetic.
    pub fn blocks(self) -> BlockNumber {
        BlockNumber::from(self.0)
    }
}

impl std::fmt::Display for SettleTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} blocks", self.0)
    }
}

impl TryFrom<u64> for SettleTimeout {
    type Error = std::num::TryFromIntError;

    fn try_from(blocks: u64) -> Result<Self, Self::Error> {
        u32::try_from(blocks).map(Self)
    }
}

/// Which locks of an unlocked set an on-chain unlock must not claim: bit `i` for the set's
/// `i`-th lock (the contract takes a `uint256`, so at most 256 locks). A node skips the locks
/// it disposed of: claiming one would forfeit the channel.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SkipMask(pub U256);

impl SkipMask {
    /// No lock skipped.
    pub const NONE: Self = Self(U256::ZERO);

    /// The mask skipping the locks at `indices` (indices past 255 cannot be skipped and are
    /// left out).
    pub fn of(indices: impl IntoIterator<Item = usize>) -> Self {
        Self(
            indices
                .into_iter()
                .filter(|i| *i < 256)
                .fold(U256::ZERO, |mask, i| mask | (U256::from(1u8) << i)),
        )
    }

    /// Whether the lock at `index` is skipped.
    pub fn skips(self, index: usize) -> bool {
        index < 256 && self.0.bit(index)
    }

    /// Whether a later mask `newer` skips everything this one does, and more.
    pub fn is_grown_by(self, newer: Self) -> bool {
        newer != self && newer.0 & self.0 == self.0
    }
}

impl std::fmt::Display for SkipMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#x}", self.0)
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
    fn skip_masks_name_lock_indices_and_grow() {
        let m = SkipMask::of([0, 3, 300]);
        assert!(m.skips(0) && m.skips(3) && !m.skips(1) && !m.skips(300));
        assert_eq!(m.0, U256::from(0b1001u8));
        assert!(m.is_grown_by(SkipMask::of([0, 3, 5])));
        assert!(!m.is_grown_by(m) && !m.is_grown_by(SkipMask::of([0, 5])));
        assert_eq!(SkipMask::NONE.to_string(), "0x0");
        assert_eq!(serde_json::to_string(&m).unwrap(), serde_json::to_string(&m.0).unwrap());
        assert_eq!(SettleTimeout(500).to_string(), "500 blocks");
        assert!(SettleTimeout::try_from(u64::from(u32::MAX) + 1).is_err());
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
