//! What a node hands its monitoring service for one channel, and how the service checks it:
//! the partner's latest balance proof and the participant's consents, all bound to the chain,
//! the contract, the channel and its epoch.

use alloy::primitives::{Bytes, B256};
use photon_chain::txmanager::ChainCall;
use photon_primitives::eip712::{BalanceProof, Domain};
use photon_primitives::lock::locksroot;
use photon_primitives::messages::BalanceProofFields;
use photon_primitives::signer::recover;
use photon_primitives::TokenAmount;
use photon_primitives::{channel_id, Address, ChannelId, Lock, Signature, Signer, SkipMask};
use photon_primitives::{Epoch, Nonce};
use photon_state::state::{ChannelState, SignedProof};
use serde::{Deserialize, Serialize};

/// Token amounts as decimal strings, as in the rest of the API.
mod decimal {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|_| D::Error::custom(format!("`{text}` is not a token amount")))
    }
}

/// A lock of the partner's, as delegated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegatedLock {
    /// Tokens locked.
    #[serde(with = "decimal")]
    pub amount: u128,
    /// Last block at which a registration of the secret makes it pay.
    pub expiration: u64,
    /// `sha256(secret)`.
    pub secrethash: B256,
}

impl From<&Lock> for DelegatedLock {
    fn from(l: &Lock) -> Self {
        Self { amount: l.amount.0, expiration: l.expiration, secrethash: l.secrethash.0 }
    }
}

impl From<&DelegatedLock> for Lock {
    fn from(l: &DelegatedLock) -> Self {
        Self {
            amount: TokenAmount(l.amount),
            expiration: l.expiration,
            secrethash: photon_primitives::SecretHash(l.secrethash),
        }
    }
}

/// What a node gives its monitoring service for one channel: the partner's latest balance
/// proof and the participant's consents to submit it and to unlock the partner's locks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    /// The channel's token.
    pub token: Address,
    /// The client: who is guarded, and signed the consents.
    pub participant: Address,
    /// The client's partner, who signed the balance proof.
    pub partner: Address,
    /// The channel's epoch.
    pub epoch: u64,
    /// The proof's nonce.
    pub nonce: u64,
    /// What the partner has paid in this epoch.
    #[serde(with = "decimal")]
    pub transferred_amount: u128,
    /// Sum of the partner's pending locks.
    #[serde(with = "decimal")]
    pub locked_amount: u128,
    /// Root of the partner's pending locks.
    pub locksroot: photon_primitives::Locksroot,
    /// The proof's additional hash.
    pub additional_hash: B256,
    /// The partner's signature of the balance proof.
    pub partner_signature: Bytes,
    /// The participant's `DelegateUpdate` signature.
    pub update_consent: Bytes,
    /// The partner's pending locks (their locksroot is `locksroot`).
    #[serde(default)]
    pub locks: Vec<DelegatedLock>,
    /// Locks not to claim (the participant disposed of them).
    #[serde(default)]
    pub skip: SkipMask,
    /// The participant's `DelegateUnlock` signature, when there are locks.
    #[serde(default)]
    pub unlock_consent: Option<Bytes>,
}

/// Why a delegation is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DelegationError {
    /// A signature is not 65 bytes or does not recover.
    #[error("the {0} is not a valid signature")]
    BadSignature(&'static str),
    /// A signature is someone else's.
    #[error("the {what} is signed by {found}, not by {expected}")]
    WrongSigner {
        /// which signature
        what: &'static str,
        /// who should have signed
        expected: Address,
        /// who did
        found: Address,
    },
    /// The locks do not hash to the proof's locksroot, or are too many.
    #[error("the locks do not match the balance proof's locksroot (or are more than 256)")]
    Locks,
    /// Locks without the consent to unlock them.
    #[error("locks are delegated without an unlock consent")]
    MissingUnlockConsent,
    /// Participant and partner are the same, or the nonce is zero.
    #[error("not a channel's balance proof")]
    NotAProof,
}

fn signature(bytes: &Bytes, what: &'static str) -> Result<Signature, DelegationError> {
    let raw: [u8; 65] =
        bytes.as_ref().try_into().map_err(|_| DelegationError::BadSignature(what))?;
    Ok(Signature(raw))
}

fn check_signer(
    digest: &B256, bytes: &Bytes, what: &'static str, expected: Address,
) -> Result<(), DelegationError> {
    let found = recover(digest, &signature(bytes, what)?)
        .map_err(|_| DelegationError::BadSignature(what))?;
    if found == expected {
        Ok(())
    } else {
        Err(DelegationError::WrongSigner { what, expected, found })
    }
}

impl Delegation {
    /// The delegation of our channel `channel` for a monitoring service: the partner's latest
    /// proof and our consents. `None` while the partner has sent no proof.
    pub fn of_channel(
        domain: &Domain, channel: &ChannelState, signer: &dyn Signer,
    ) -> Option<Result<Self, photon_primitives::signer::SignatureError>> {
        let proof = channel.theirs.proof.as_ref()?;
        let f = &proof.fields;
        let typed = f.typed(proof.additional_hash);
        let skip = channel.unlock_skip();
        let locks = &channel.theirs.locks;
        let sign = || -> Result<Self, photon_primitives::signer::SignatureError> {
            let update_consent = signer.sign_digest(&domain.delegate_update_for(&typed))?;
            let unlock_consent = if locks.is_empty() {
                None
            } else {
                let digest = domain.delegate_unlock(f.channel_id, f.epoch, f.locksroot, skip);
                Some(Bytes::from(signer.sign_digest(&digest)?.0.to_vec()))
            };
            Ok(Self {
                token: channel.token,
                participant: signer.address(),
                partner: channel.partner,
                epoch: f.epoch.0,
                nonce: f.nonce.0,
                transferred_amount: f.transferred_amount.0,
                locked_amount: f.locked_amount.0,
                locksroot: f.locksroot,
                additional_hash: proof.additional_hash,
                partner_signature: Bytes::from(proof.signature.0.to_vec()),
                update_consent: Bytes::from(update_consent.0.to_vec()),
                locks: locks.iter().map(DelegatedLock::from).collect(),
                skip,
                unlock_consent,
            })
        };
        Some(sign())
    }

    /// The channel it is about, in the deployment `domain` names.
    pub fn channel_id(&self, domain: &Domain) -> ChannelId {
        channel_id(self.participant, self.partner, self.token, domain.contract())
    }

    fn fields(&self, domain: &Domain) -> BalanceProofFields {
        BalanceProofFields {
            channel_id: self.channel_id(domain),
            epoch: Epoch(self.epoch),
            nonce: Nonce(self.nonce),
            transferred_amount: TokenAmount(self.transferred_amount),
            locked_amount: TokenAmount(self.locked_amount),
            locksroot: self.locksroot,
        }
    }

    fn typed(&self, domain: &Domain) -> BalanceProof {
        self.fields(domain).typed(self.additional_hash)
    }

    /// The partner's locks.
    pub fn locks(&self) -> Vec<Lock> {
        self.locks.iter().map(Lock::from).collect()
    }

    /// Checks every signature and the locks against the deployment `domain`.
    pub fn check(&self, domain: &Domain) -> Result<(), DelegationError> {
        if self.participant == self.partner || self.nonce == 0 {
            return Err(DelegationError::NotAProof);
        }
        let typed = self.typed(domain);
        check_signer(
            &domain.balance_proof(&typed),
            &self.partner_signature,
            "partner's balance proof signature",
            self.partner,
        )?;
        check_signer(
            &domain.delegate_update_for(&typed),
            &self.update_consent,
            "update consent",
            self.participant,
        )?;
        if self.locks.len() > 256 || locksroot(&self.locks()) != self.locksroot {
            return Err(DelegationError::Locks);
        }
        if !self.locks.is_empty() {
            let consent =
                self.unlock_consent.as_ref().ok_or(DelegationError::MissingUnlockConsent)?;
            let digest = domain.delegate_unlock(
                ChannelId(typed.channelId),
                Epoch(self.epoch),
                self.locksroot,
                self.skip,
            );
            check_signer(&digest, consent, "unlock consent", self.participant)?;
        }
        Ok(())
    }

    pub(crate) fn update_call(&self, domain: &Domain) -> Result<ChainCall, DelegationError> {
        Ok(ChainCall::UpdateDelegate {
            token: self.token,
            participant: self.participant,
            partner: self.partner,
            proof: Box::new(SignedProof {
                fields: self.fields(domain),
                additional_hash: self.additional_hash,
                signature: signature(&self.partner_signature, "partner signature")?,
            }),
            consent: signature(&self.update_consent, "update consent")?,
        })
    }

    pub(crate) fn unlock_call(&self) -> Option<ChainCall> {
        let consent = signature(self.unlock_consent.as_ref()?, "unlock consent").ok()?;
        (!self.locks.is_empty()).then(|| ChainCall::UnlockDelegate {
            token: self.token,
            participant: self.participant,
            partner: self.partner,
            locks: self.locks(),
            skip: self.skip,
            // The service unlocks for an offline client: nobody unlocked this locksroot
            // before (if someone did, the contract refuses the call as not needed).
            prior: Default::default(),
            consent,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use photon_primitives::{LocalSigner, SecretHash};

    pub(crate) fn domain() -> Domain {
        Domain::new(7, Address::repeat_byte(0xC0))
    }

    /// Alice's delegation of her channel with Bob, holding Bob's proof with two locks.
    pub(crate) fn delegation() -> (Delegation, LocalSigner, LocalSigner) {
        let alice = LocalSigner::from_bytes(&[1; 32]).unwrap();
        let bob = LocalSigner::from_bytes(&[2; 32]).unwrap();
        let domain = domain();
        let token = Address::repeat_byte(0x70);
        let locks = vec![
            Lock {
                amount: TokenAmount(5),
                expiration: 90,
                secrethash: SecretHash(B256::repeat_byte(1)),
            },
            Lock {
                amount: TokenAmount(7),
                expiration: 95,
                secrethash: SecretHash(B256::repeat_byte(2)),
            },
        ];
        let id = channel_id(alice.address(), bob.address(), token, domain.contract());
        let fields = BalanceProofFields {
            channel_id: id,
            epoch: Epoch(3),
            nonce: Nonce(4),
            transferred_amount: TokenAmount(30),
            locked_amount: TokenAmount(12),
            locksroot: locksroot(&locks),
        };
        let additional = B256::repeat_byte(9);
        let typed = fields.typed(additional);
        let bob_sig = bob.sign_digest(&domain.balance_proof(&typed)).unwrap();
        let update = alice.sign_digest(&domain.delegate_update_for(&typed)).unwrap();
        let skip = SkipMask::of([1]);
        let unlock = alice
            .sign_digest(&domain.delegate_unlock(id, Epoch(3), fields.locksroot, skip))
            .unwrap();
        let d = Delegation {
            token,
            participant: alice.address(),
            partner: bob.address(),
            epoch: 3,
            nonce: 4,
            transferred_amount: 30,
            locked_amount: 12,
            locksroot: fields.locksroot,
            additional_hash: additional,
            partner_signature: Bytes::from(bob_sig.0.to_vec()),
            update_consent: Bytes::from(update.0.to_vec()),
            locks: locks.iter().map(DelegatedLock::from).collect(),
            skip,
            unlock_consent: Some(Bytes::from(unlock.0.to_vec())),
        };
        (d, alice, bob)
    }

    #[test]
    fn a_delegation_proves_itself_and_any_change_breaks_it() {
        let (d, alice, bob) = delegation();
        let domain = domain();
        assert_eq!(d.check(&domain), Ok(()));
        // through JSON and back: the same
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains("\"transferred_amount\":\"30\""), "{json}");
        assert_eq!(serde_json::from_str::<Delegation>(&json).unwrap(), d);
        let broken: Vec<(Delegation, &str)> = vec![
            (Delegation { transferred_amount: 31, ..d.clone() }, "partner's"),
            (Delegation { epoch: 4, ..d.clone() }, "partner's"),
            (
                Delegation { participant: bob.address(), partner: alice.address(), ..d.clone() },
                "partner's",
            ),
            (
                Delegation { update_consent: d.partner_signature.clone(), ..d.clone() },
                "update consent",
            ),
            (Delegation { skip: SkipMask::NONE, ..d.clone() }, "unlock consent"),
            (Delegation { locks: d.locks[..1].to_vec(), ..d.clone() }, "locks"),
            (Delegation { unlock_consent: None, ..d.clone() }, "without an unlock consent"),
            (
                Delegation { partner_signature: Bytes::from(vec![1, 2, 3]), ..d.clone() },
                "not a valid",
            ),
        ];
        for (bad, why) in broken {
            let err = bad.check(&domain).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
        // another chain or contract: nothing checks
        assert!(d.check(&Domain::new(8, domain.contract())).is_err());
        assert!(d.check(&Domain::new(7, Address::repeat_byte(0xC1))).is_err());
        let unknown = json.replace("\"nonce\":4", "\"nonce\":4,\"extra\":1");
        assert!(serde_json::from_str::<Delegation>(&unknown).is_err());
    }
}
