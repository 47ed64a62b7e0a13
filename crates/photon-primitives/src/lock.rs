//! Hash-time locks and the locksroot.
//!
//! A lock is packed into [`LOCK_SIZE`] bytes: `amount` (uint128, big endian),
//! `expiration` (uint64), `secrethash` (32 bytes). The locksroot of a set of pending locks is
//! `keccak256` of their packed concatenation in order (zero for no locks), so the contract can
//! check a whole set and unlock it in one transaction.

use crate::types::Locksroot;
use crate::types::{BlockNumber, SecretHash, TokenAmount};
use alloy::primitives::{keccak256, B256};

/// Bytes per packed lock; equals `TokensNetwork.LOCK_SIZE`.
pub const LOCK_SIZE: usize = 56;
/// Most locks one locksroot may hold; equals `TokensNetwork.MAX_LOCKS`.
pub const MAX_LOCKS: usize = 256;

/// A hash-time lock: `amount` pays out to the receiver iff the secret of `secrethash` is
/// registered on chain at a block no later than `expiration`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub struct Lock {
    /// Tokens locked.
    pub amount: TokenAmount,
    /// Last block at which registering the secret still makes the lock pay.
    pub expiration: BlockNumber,
    /// `sha256(secret)`.
    pub secrethash: SecretHash,
}

impl Lock {
    /// The packed encoding the contract hashes.
    pub fn encode(&self) -> [u8; LOCK_SIZE] {
        let mut out = [0u8; LOCK_SIZE];
        out[..16].copy_from_slice(&self.amount.0.to_be_bytes());
        out[16..24].copy_from_slice(&self.expiration.to_be_bytes());
        out[24..].copy_from_slice(self.secrethash.0.as_slice());
        out
    }

    /// Decodes one packed lock.
    pub fn decode(bytes: &[u8; LOCK_SIZE]) -> Self {
        let mut amount = [0u8; 16];
        amount.copy_from_slice(&bytes[..16]);
        let mut expiration = [0u8; 8];
        expiration.copy_from_slice(&bytes[16..24]);
        Self {
            amount: TokenAmount(u128::from_be_bytes(amount)),
            expiration: u64::from_be_bytes(expiration),
            secrethash: SecretHash(B256::from_slice(&bytes[24..])),
        }
    }

    /// `keccak256` of the packed lock: what a lock disposal signs.
    pub fn hash(&self) -> B256 {
        keccak256(self.encode())
    }
}

/// Packs locks back to back, in order, as `unlock` and `punishObsoleteUnlock` take them.
pub fn encode_locks(locks: &[Lock]) -> Vec<u8> {
    let mut out = Vec::with_capacity(locks.len() * LOCK_SIZE);
    for lock in locks {
        out.extend_from_slice(&lock.encode());
    }
    out
}

/// Unpacks locks packed by [`encode_locks`]; `None` unless the length is a whole number of
/// locks, at least one and at most [`MAX_LOCKS`] (what the contract accepts).
pub fn decode_locks(bytes: &[u8]) -> Option<Vec<Lock>> {
    if bytes.is_empty()
        || !bytes.len().is_multiple_of(LOCK_SIZE)
        || bytes.len() > LOCK_SIZE * MAX_LOCKS
    {
        return None;
    }
    bytes
        .chunks_exact(LOCK_SIZE)
        .map(|chunk| <&[u8; LOCK_SIZE]>::try_from(chunk).ok().map(Lock::decode))
        .collect()
}

/// The locksroot of an ordered set of locks; zero for the empty set.
pub fn locksroot(locks: &[Lock]) -> Locksroot {
    if locks.is_empty() {
        Locksroot::ZERO
    } else {
        Locksroot(keccak256(encode_locks(locks)))
    }
}

/// The sum of the amounts of `locks`, or `None` on overflow.
pub fn locked_amount(locks: &[Lock]) -> Option<TokenAmount> {
    locks.iter().try_fold(TokenAmount::ZERO, |sum, lock| sum.checked_add(lock.amount))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_lock() -> impl Strategy<Value = Lock> {
        (any::<u128>(), any::<u64>(), any::<[u8; 32]>()).prop_map(|(amount, expiration, h)| Lock {
            amount: TokenAmount(amount),
            expiration,
            secrethash: SecretHash(B256::from(h)),
        })
    }

    proptest! {
        #[test]
        fn encoding_round_trips(lock in arb_lock()) {
            prop_assert_eq!(Lock::decode(&lock.encode()), lock);
        }

        #[test]
        fn lock_lists_round_trip(locks in prop::collection::vec(arb_lock(), 1..20)) {
            prop_assert_eq!(decode_locks(&encode_locks(&locks)), Some(locks));
        }

        #[test]
        fn only_whole_lock_lists_decode(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let whole = !bytes.is_empty() && bytes.len().is_multiple_of(LOCK_SIZE);
            prop_assert_eq!(decode_locks(&bytes).is_some(), whole);
        }

        #[test]
        fn locksroot_depends_on_every_lock(locks in prop::collection::vec(arb_lock(), 1..8), i in any::<prop::sample::Index>()) {
            let mut changed = locks.clone();
            let k = i.index(changed.len());
            changed[k].amount.0 = changed[k].amount.0.wrapping_add(1);
            prop_assert_ne!(locksroot(&locks), locksroot(&changed));
        }
    }

    #[test]
    fn too_many_locks_do_not_decode() {
        assert!(decode_locks(&vec![0u8; LOCK_SIZE * MAX_LOCKS]).is_some());
        assert!(decode_locks(&vec![0u8; LOCK_SIZE * (MAX_LOCKS + 1)]).is_none());
    }

    #[test]
    fn empty_set_has_zero_root() {
        assert_eq!(locksroot(&[]), Locksroot(B256::ZERO));
    }

    #[test]
    fn packed_layout_is_amount_expiration_hash() {
        let lock = Lock {
            amount: TokenAmount(0x0102),
            expiration: 0x0304,
            secrethash: SecretHash(B256::repeat_byte(9)),
        };
        let bytes = lock.encode();
        assert_eq!(&bytes[14..16], &[1, 2]);
        assert_eq!(&bytes[22..24], &[3, 4]);
        assert_eq!(&bytes[24..], &[9u8; 32]);
    }
}
