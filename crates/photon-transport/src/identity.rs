//! A node's libp2p identity is its Ethereum key.

use crate::TransportError;
use alloy::primitives::keccak256;
use libp2p::identity::{secp256k1, Keypair, PublicKey};
use libp2p::PeerId;
use photon_primitives::Address;

/// The libp2p keypair of an Ethereum private key.
pub fn keypair(private_key: &[u8; 32]) -> Result<Keypair, TransportError> {
    let mut bytes = *private_key;
    let secret = secp256k1::SecretKey::try_from_bytes(&mut bytes)
        .map_err(|e| TransportError::Key(e.to_string()))?;
    Ok(Keypair::from(secp256k1::Keypair::from(secret)))
}

/// The Ethereum address of a peer: its id embeds its secp256k1 public key. `None` for peers
/// with other key types (not Photon nodes).
pub fn address_of(peer: &PeerId) -> Option<Address> {
    let multihash = peer.as_ref();
    if multihash.code() != 0 {
        return None; // hashed ids do not carry the key
    }
    let key = PublicKey::try_decode_protobuf(multihash.digest()).ok()?.try_into_secp256k1().ok()?;
    let uncompressed = key.to_bytes_uncompressed();
    Some(Address::from_slice(&keccak256(&uncompressed[1..])[12..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use photon_primitives::{LocalSigner, Signer};

    #[test]
    fn a_peer_id_tells_its_ethereum_address() {
        let key = [7u8; 32];
        let signer = LocalSigner::from_bytes(&key).unwrap();
        let peer = PeerId::from(keypair(&key).unwrap().public());
        assert_eq!(address_of(&peer), Some(signer.address()));
        let other = PeerId::from(keypair(&[8u8; 32]).unwrap().public());
        assert_ne!(address_of(&other), Some(signer.address()));
        assert!(keypair(&[0u8; 32]).is_err());
        // an ed25519 peer is not a Photon node
        assert_eq!(address_of(&PeerId::from(Keypair::generate_ed25519().public())), None);
    }
}
