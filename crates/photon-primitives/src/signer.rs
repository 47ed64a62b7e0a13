//! Signing and recovery of 65-byte Ethereum signatures (`r ‖ s ‖ v`, `v` ∈ {27, 28}).
//!
//! libsecp256k1 (the `secp256k1` crate) is used rather than the pure-Rust k256: it recovers
//! about five times as many signatures per second, which is what message throughput needs.
//! Its signatures are byte-identical (RFC 6979, low `s`).

use crate::types::Address;
use alloy::primitives::{keccak256, B256};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SecretKey};

/// A 65-byte signature: `r ‖ s ‖ v` with `v` = 27 or 28, as `ecrecover` and the contract
/// take it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub struct Signature(#[serde(with = "sig_serde")] pub [u8; 65]);

mod sig_serde {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8; 65], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 65], D::Error> {
        let v: Vec<u8> = Vec::deserialize(d)?;
        v.try_into().map_err(|_| D::Error::custom("a signature is 65 bytes"))
    }
}

impl Signature {
    /// The signature bytes.
    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }
}

/// Why signing or recovering failed.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// The private key is zero or not below the curve order.
    #[error("invalid private key")]
    InvalidKey,
    /// `v` is not 27 or 28, `s` is in the upper half of the curve order, or the point
    /// does not exist.
    #[error("malformed signature")]
    Malformed,
    /// No public key recovers from this signature and digest.
    #[error("signature does not recover to any key")]
    Unrecoverable,
}

/// Something that signs 32-byte digests for one Ethereum address: a local key now; a
/// hardware wallet or a phone's keystore later.
pub trait Signer: Send + Sync {
    /// The address whose key signs.
    fn address(&self) -> Address;
    /// Signs a 32-byte digest (already EIP-712 hashed).
    fn sign_digest(&self, digest: &B256) -> Result<Signature, SignatureError>;

    /// Who signed `digest`: ECDSA recovery under the contract's rules ([`recover`]).
    /// Overridden only by benchmarks that measure the state machine without cryptography.
    fn recover(&self, digest: &B256, signature: &Signature) -> Result<Address, SignatureError> {
        recover(digest, signature)
    }
}

/// A signer holding its private key in memory.
#[derive(Clone)]
pub struct LocalSigner {
    key: SecretKey,
    address: Address,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner").field("address", &self.address).finish_non_exhaustive()
    }
}

impl LocalSigner {
    /// A signer from 32 private-key bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, SignatureError> {
        let key = SecretKey::from_secret_bytes(*bytes).map_err(|_| SignatureError::InvalidKey)?;
        let address = address_of(&PublicKey::from_secret_key(&key));
        Ok(Self { key, address })
    }

    /// The private key bytes (to hand to a transaction signer).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_secret_bytes()
    }
}

impl Signer for LocalSigner {
    fn address(&self) -> Address {
        self.address
    }

    fn sign_digest(&self, digest: &B256) -> Result<Signature, SignatureError> {
        let sig =
            RecoverableSignature::sign_ecdsa_recoverable(Message::from_digest(digest.0), &self.key);
        let (recid, rs) = sig.serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = 27 + recid.to_u8();
        Ok(Signature(out))
    }
}

/// The address that signed `digest`, under the same rules as the contract: `v` ∈ {27, 28}
/// and low `s` only (so a signature has no malleable twin).
pub fn recover(digest: &B256, signature: &Signature) -> Result<Address, SignatureError> {
    let bytes = signature.as_bytes();
    let v = bytes[64];
    if v != 27 && v != 28 || !is_low_s(&bytes[32..64]) {
        return Err(SignatureError::Malformed);
    }
    let recid = RecoveryId::try_from(i32::from(v - 27)).map_err(|_| SignatureError::Malformed)?;
    let sig = RecoverableSignature::from_compact(&bytes[..64], recid)
        .map_err(|_| SignatureError::Malformed)?;
    let key = sig
        .recover_ecdsa(Message::from_digest(digest.0))
        .map_err(|_| SignatureError::Unrecoverable)?;
    Ok(address_of(&key))
}

/// secp256k1 n / 2, big endian.
const HALF_ORDER: [u8; 32] = [
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
];

fn is_low_s(s: &[u8]) -> bool {
    s <= &HALF_ORDER[..]
}

fn address_of(key: &PublicKey) -> Address {
    let uncompressed = key.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_key_has_known_address() {
        // anvil's first development account
        let key: [u8; 32] = alloy::hex::decode_to_array(
            "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        )
        .unwrap();
        let signer = LocalSigner::from_bytes(&key).unwrap();
        assert_eq!(format!("{:?}", signer.address()), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    }

    #[test]
    fn sign_then_recover() {
        let signer = LocalSigner::from_bytes(&[3u8; 32]).unwrap();
        let digest = B256::repeat_byte(0xab);
        let sig = signer.sign_digest(&digest).unwrap();
        assert_eq!(recover(&digest, &sig).unwrap(), signer.address());
        assert_ne!(recover(&B256::repeat_byte(0xac), &sig).ok(), Some(signer.address()));
    }

    #[test]
    fn high_s_and_bad_v_are_refused() {
        let signer = LocalSigner::from_bytes(&[3u8; 32]).unwrap();
        let digest = B256::repeat_byte(1);
        let mut sig = signer.sign_digest(&digest).unwrap();
        sig.0[64] = 29;
        assert_eq!(recover(&digest, &sig), Err(SignatureError::Malformed));
        sig.0[64] = 27;
        sig.0[32..64].copy_from_slice(&[0xff; 32]);
        assert_eq!(recover(&digest, &sig), Err(SignatureError::Malformed));
    }

    #[test]
    fn zero_key_is_refused() {
        assert_eq!(LocalSigner::from_bytes(&[0u8; 32]).unwrap_err(), SignatureError::InvalidKey);
    }
}
