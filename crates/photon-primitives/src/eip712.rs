//! Every structure a participant signs, defined once, as EIP-712 typed data.
//!
//! The domain binds chain id and contract address ([`Domain`]); each struct binds channel id
//! and epoch. `TokensNetwork` hashes the same type strings; the contract tests in
//! `photon-chain` sign with these definitions and have the contract verify them.

use crate::types::Locksroot;
use crate::types::{Address, ChannelId, Epoch, Nonce, TokenAmount};
use alloy::primitives::{keccak256, Keccak256, B256};
use alloy::sol_types::{eip712_domain, Eip712Domain, SolStruct};
use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

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
        uint128 participantDeposit;
        uint128 participantBalance;
        uint128 amount;
        uint64 expiry;
    }

    /// The receiver of a lock gives it up, as held in the sender's balance proofs up to
    /// `nonce`; claiming it later from one of those proofs gets the claim reversed.
    #[derive(Debug, PartialEq, Eq)]
    struct LockDisposal {
        bytes32 channelId;
        uint64 epoch;
        uint64 nonce;
        bytes32 lockHash;
    }

    /// Consent for a delegate to submit the partner's balance proof on one's behalf.
    #[derive(Debug, PartialEq, Eq)]
    struct DelegateUpdate {
        bytes32 channelId;
        uint64 epoch;
        bytes32 balanceProofHash;
    }

    /// What a participant tells a pathfinding service about its side of a channel: what it
    /// can send over it now and what it charges to forward over it (never seen on chain).
    #[derive(Debug, PartialEq, Eq)]
    struct CapacityUpdate {
        bytes32 channelId;
        address token;
        uint64 nonce;
        uint128 capacity;
        uint128 feeFlat;
        uint32 feePpm;
        uint32 imbalancePpm;
        bool disabled;
    }

    /// A node tells a pathfinding service it is online (never seen on chain).
    #[derive(Debug, PartialEq, Eq)]
    struct Heartbeat {
        uint64 nonce;
    }

    /// Consent for a delegate to unlock the partner's locks on one's behalf.
    #[derive(Debug, PartialEq, Eq)]
    struct DelegateUnlock {
        bytes32 channelId;
        uint64 epoch;
        bytes32 locksroot;
        uint256 skip;
    }
}

impl BalanceProof {
    /// A balance proof with every field named.
    pub fn new(
        channel_id: ChannelId, epoch: Epoch, nonce: Nonce, transferred_amount: TokenAmount,
        locked_amount: TokenAmount, locksroot: Locksroot, additional_hash: B256,
    ) -> Self {
        Self {
            channelId: channel_id.0,
            epoch: epoch.0,
            nonce: nonce.0,
            transferredAmount: transferred_amount.0,
            lockedAmount: locked_amount.0,
            locksroot: locksroot.0,
            additionalHash: additional_hash,
        }
    }
}

/// The EIP-712 domain of one `TokensNetwork` deployment on one chain. The separator is
/// computed once; type hashes once per type (digests are on every message's hot path).
#[derive(Clone, Debug)]
pub struct Domain {
    inner: Eip712Domain,
    separator: B256,
    chain_id: u64,
    contract: Address,
}

/// A domain serializes as its chain id and contract.
impl serde::Serialize for Domain {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&(self.chain_id, self.contract), serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Domain {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (chain_id, contract): (u64, Address) = serde::Deserialize::deserialize(deserializer)?;
        Ok(Self::new(chain_id, contract))
    }
}

impl Domain {
    /// The domain of the contract at `contract` on chain `chain_id`.
    pub fn new(chain_id: u64, contract: Address) -> Self {
        let inner = eip712_domain! {
            name: DOMAIN_NAME,
            version: DOMAIN_VERSION,
            chain_id: chain_id,
            verifying_contract: contract,
        };
        let separator = inner.hash_struct();
        Self { inner, separator, chain_id, contract }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The `TokensNetwork` contract.
    pub fn contract(&self) -> Address {
        self.contract
    }

    /// The domain separator (equals `TokensNetwork.domainSeparator()`).
    pub fn separator(&self) -> B256 {
        self.separator
    }

    /// The alloy domain value.
    pub fn eip712_domain(&self) -> &Eip712Domain {
        &self.inner
    }

    /// The digest to sign for any of the typed structs of this module: the same value as
    /// alloy's `eip712_signing_hash`, without recomputing the separator and type hash.
    pub fn digest<T: SolStruct + 'static>(&self, value: &T) -> B256 {
        let mut input = [0u8; 66];
        input[0] = 0x19;
        input[1] = 0x01;
        input[2..34].copy_from_slice(self.separator.as_slice());
        input[34..].copy_from_slice(hash_struct(value).as_slice());
        keccak256(input)
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
            balanceProofHash: hash_struct(proof),
        })
    }

    /// The consent a participant signs so a delegate may unlock, in the channel's epoch, the
    /// partner's locks whose locksroot is `locksroot`, skipping those set in `skip`.
    pub fn delegate_unlock(
        &self, channel_id: ChannelId, epoch: Epoch, locksroot: Locksroot,
        skip: crate::types::SkipMask,
    ) -> B256 {
        self.digest(&DelegateUnlock {
            channelId: channel_id.0,
            epoch: epoch.0,
            locksroot: locksroot.0,
            skip: skip.0,
        })
    }
}

/// EIP-712 `hashStruct` with the type hash cached per type.
pub fn hash_struct<T: SolStruct + 'static>(value: &T) -> B256 {
    let mut hasher = Keccak256::new();
    hasher.update(type_hash::<T>());
    hasher.update(value.eip712_encode_data());
    hasher.finalize()
}

fn type_hash<T: SolStruct + 'static>() -> B256 {
    static CACHE: LazyLock<RwLock<HashMap<TypeId, B256>>> = LazyLock::new(Default::default);
    let id = TypeId::of::<T>();
    if let Some(hash) = CACHE.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return *hash;
    }
    let hash = keccak256(T::eip712_encode_type().as_bytes());
    CACHE.write().unwrap_or_else(|e| e.into_inner()).insert(id, hash);
    hash
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
            "Withdraw(bytes32 channelId,uint64 epoch,address participant,uint128 participantDeposit,uint128 participantBalance,uint128 amount,uint64 expiry)"
        );
        assert_eq!(
            LockDisposal::eip712_encode_type(),
            "LockDisposal(bytes32 channelId,uint64 epoch,uint64 nonce,bytes32 lockHash)"
        );
    }

    #[test]
    fn cached_digests_equal_alloys() {
        let domain = Domain::new(31337, Address::repeat_byte(7));
        let proof = BalanceProof::new(
            ChannelId(B256::repeat_byte(1)),
            Epoch(5),
            Nonce(9),
            TokenAmount(10),
            TokenAmount(3),
            Locksroot(B256::repeat_byte(2)),
            B256::repeat_byte(3),
        );
        assert_eq!(domain.separator(), domain.eip712_domain().hash_struct());
        for _ in 0..2 {
            assert_eq!(domain.digest(&proof), proof.eip712_signing_hash(domain.eip712_domain()));
        }
        let disposal = LockDisposal {
            channelId: B256::repeat_byte(4),
            epoch: 1,
            nonce: 9,
            lockHash: B256::repeat_byte(5),
        };
        assert_eq!(domain.digest(&disposal), disposal.eip712_signing_hash(domain.eip712_domain()));
        let consent = DelegateUpdate {
            channelId: proof.channelId,
            epoch: 5,
            balanceProofHash: proof.eip712_hash_struct(),
        };
        assert_eq!(
            domain.delegate_update_for(&proof),
            consent.eip712_signing_hash(domain.eip712_domain())
        );
        let unlock = DelegateUnlock {
            channelId: proof.channelId,
            epoch: 5,
            locksroot: B256::repeat_byte(6),
            skip: crate::types::SkipMask::of([0, 2]).0,
        };
        assert_eq!(
            domain.delegate_unlock(
                ChannelId(unlock.channelId),
                Epoch(5),
                Locksroot(unlock.locksroot),
                crate::types::SkipMask(unlock.skip)
            ),
            unlock.eip712_signing_hash(domain.eip712_domain())
        );
    }

    #[test]
    fn digest_binds_chain_and_contract() {
        let proof = BalanceProof::new(
            ChannelId(B256::repeat_byte(1)),
            Epoch(5),
            Nonce(1),
            TokenAmount(10),
            TokenAmount(0),
            Locksroot(B256::ZERO),
            B256::ZERO,
        );
        let a = Domain::new(1, Address::repeat_byte(1)).balance_proof(&proof);
        assert_ne!(a, Domain::new(2, Address::repeat_byte(1)).balance_proof(&proof));
        assert_ne!(a, Domain::new(1, Address::repeat_byte(2)).balance_proof(&proof));
        let mut other_epoch = proof;
        other_epoch.epoch = 6;
        assert_ne!(a, Domain::new(1, Address::repeat_byte(1)).balance_proof(&other_epoch));
    }
}
