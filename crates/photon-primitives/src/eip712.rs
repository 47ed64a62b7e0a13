//! Every structure a participant signs, defined once, as EIP-712 typed data.
//!
//! The domain binds chain id and contract address ([`Domain`]); each struct binds channel id
//! and epoch. `TokensNetwork` hashes the same type strings; the contract tests in
//! `photon-chain` sign with these definitions and have the contract verify them.

use crate::types::{Address, ChannelId, Epoch, Nonce, TokenAmount};
use alloy::primitives::B256;
use alloy::sol_types::{eip712_domain, Eip712Domain, SolStruct};

/// EIP-712 domain name of `TokensNetwork`.
pub const DOMAIN_NAME: &str = "Photon TokensNetwork";
/// EIP-712 domain version of `TokensNetwork`.
pub const DOMAIN_VERSION: &str = "1";

alloy::sol! {
    /// A sender's commitment to what it has transferred and locked in a channel epoch.
    #[derive(Debug, PartialEq, Eq)]
    struct BalanceProof {
        bytes32 channelId;
        uint64 epoch;
        uint64 nonce;
        uint128 transferredAmount;
        uint128 lockedAmount;
        bytes32 locksroot;
        bytes32 additionalHash;
    }

    /// Both participants' final balances for an immediate settlement.
    #[derive(Debug, PartialEq, Eq)]
    struct CooperativeSettle {
        bytes32 channelId;
        uint64 epoch;
        address participant1;
        uint128 balance1;
        address participant2;
        uint128 balance2;
    }

    /// A withdrawal of part of `participant`'s balance while the channel stays open.
    #[derive(Debug, PartialEq, Eq)]
    struct Withdraw {
        bytes32 channelId;
        uint64 epoch;
        address participant;
        uint128 participantBalance;
        uint128 amount;
        uint64 expiry;
    }

    /// The receiver of a lock gives it up; claiming it later on chain gets it punished.
    #[derive(Debug, PartialEq, Eq)]
    struct LockDisposal {
        bytes32 channelId;
        uint64 epoch;
        bytes32 lockHash;
    }

    /// Consent for a delegate to submit the partner's balance proof on one's behalf.
    #[derive(Debug, PartialEq, Eq)]
    struct DelegateUpdate {
        bytes32 channelId;
        uint64 epoch;
        bytes32 balanceProofHash;
    }

    /// Consent for a delegate to unlock the partner's locks on one's behalf.
    #[derive(Debug, PartialEq, Eq)]
    struct DelegateUnlock {
        bytes32 channelId;
        uint64 epoch;
        bytes32 locksroot;
        uint256 skip;
    }

    /// Off-chain only: the target of a payment asks the initiator for the secret.
    #[derive(Debug, PartialEq, Eq)]
    struct SecretRequest {
        uint64 paymentId;
        bytes32 secrethash;
        uint128 amount;
        uint64 expiration;
    }

    /// Off-chain only: a node reveals a secret to the node that paid it or will be paid.
    #[derive(Debug, PartialEq, Eq)]
    struct RevealSecret {
        bytes32 secret;
    }
}

impl BalanceProof {
    /// A balance proof with every field named.
    pub fn new(
        channel_id: ChannelId,
        epoch: Epoch,
        nonce: Nonce,
        transferred_amount: TokenAmount,
        locked_amount: TokenAmount,
        locksroot: B256,
        additional_hash: B256,
    ) -> Self {
        Self {
            channelId: channel_id,
            epoch,
            nonce,
            transferredAmount: transferred_amount,
            lockedAmount: locked_amount,
            locksroot,
            additionalHash: additional_hash,
        }
    }
}

/// The EIP-712 domain of one `TokensNetwork` deployment on one chain.
#[derive(Clone, Debug)]
pub struct Domain {
    inner: Eip712Domain,
}

impl Domain {
    /// The domain of the contract at `contract` on chain `chain_id`.
    pub fn new(chain_id: u64, contract: Address) -> Self {
        Self {
            inner: eip712_domain! {
                name: DOMAIN_NAME,
                version: DOMAIN_VERSION,
                chain_id: chain_id,
                verifying_contract: contract,
            },
        }
    }

    /// The domain separator (equals `TokensNetwork.domainSeparator()`).
    pub fn separator(&self) -> B256 {
        self.inner.hash_struct()
    }

    /// The digest to sign for any of the typed structs of this module.
    pub fn digest<T: SolStruct>(&self, value: &T) -> B256 {
        value.eip712_signing_hash(&self.inner)
    }

    /// Digest of a balance proof.
    pub fn balance_proof(&self, proof: &BalanceProof) -> B256 {
        self.digest(proof)
    }

    /// The consent a participant signs so a delegate may submit `proof` for it.
    pub fn delegate_update_for(&self, proof: &BalanceProof) -> B256 {
        self.digest(&DelegateUpdate {
            channelId: proof.channelId,
            epoch: proof.epoch,
            balanceProofHash: proof.eip712_hash_struct(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_strings_match_the_contract() {
        // TokensNetwork.sol hashes these exact strings.
        assert_eq!(
            BalanceProof::eip712_encode_type(),
            "BalanceProof(bytes32 channelId,uint64 epoch,uint64 nonce,uint128 transferredAmount,uint128 lockedAmount,bytes32 locksroot,bytes32 additionalHash)"
        );
        assert_eq!(
            CooperativeSettle::eip712_encode_type(),
            "CooperativeSettle(bytes32 channelId,uint64 epoch,address participant1,uint128 balance1,address participant2,uint128 balance2)"
        );
        assert_eq!(
            Withdraw::eip712_encode_type(),
            "Withdraw(bytes32 channelId,uint64 epoch,address participant,uint128 participantBalance,uint128 amount,uint64 expiry)"
        );
        assert_eq!(
            LockDisposal::eip712_encode_type(),
            "LockDisposal(bytes32 channelId,uint64 epoch,bytes32 lockHash)"
        );
    }

    #[test]
    fn digest_binds_chain_and_contract() {
        let proof = BalanceProof::new(B256::repeat_byte(1), 5, 1, 10, 0, B256::ZERO, B256::ZERO);
        let a = Domain::new(1, Address::repeat_byte(1)).balance_proof(&proof);
        assert_ne!(a, Domain::new(2, Address::repeat_byte(1)).balance_proof(&proof));
        assert_ne!(a, Domain::new(1, Address::repeat_byte(2)).balance_proof(&proof));
        let mut other_epoch = proof;
        other_epoch.epoch = 6;
        assert_ne!(a, Domain::new(1, Address::repeat_byte(1)).balance_proof(&other_epoch));
    }
}
