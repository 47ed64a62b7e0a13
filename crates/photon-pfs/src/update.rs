//! What nodes tell the service, signed: per channel, the sender's capacity and fee
//! ([`ChannelUpdate`]); per node, that it is online ([`Heartbeat`]).
//!
//! Both are EIP-712 structs of the deployment's domain (chain id and `TokensNetwork`
//! address), so an update signed for one deployment is worthless on another, and carry a
//! nonce the service only takes increasing: a replayed or reordered update is refused. A
//! node's nonces are milliseconds since 1970 (or one more than its last, if the clock went
//! back), so they keep increasing across restarts without being stored.

use crate::api::Hex65;
use photon_api::Amount;
use photon_primitives::eip712::{self, Domain};
use photon_primitives::signer::{recover, SignatureError};
use photon_primitives::{Address, ChannelId, Signature, Signer, TokenAmount};
use photon_state::FeePolicy;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// A participant's capacity and fee over one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelUpdate {
    /// The channel's token.
    pub token: Address,
    /// The channel.
    pub channel_id: ChannelId,
    /// Increases with every update of this sender for this channel.
    pub nonce: u64,
    /// What the sender can send over the channel now, net of its pending locks.
    pub capacity: Amount,
    /// Flat part of its fee to forward over this channel.
    pub fee_flat: Amount,
    /// Proportional part, in millionths.
    pub fee_ppm: u32,
    /// Imbalance component, in millionths at full imbalance.
    #[serde(default)]
    pub imbalance_ppm: u32,
    /// The sender does not forward over this channel.
    #[serde(default)]
    pub disabled: bool,
    /// The sender's signature.
    pub signature: Hex65,
}

/// A node is online.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    /// The node.
    pub address: Address,
    /// Increases with every heartbeat.
    pub nonce: u64,
    /// The node's signature.
    pub signature: Hex65,
}

/// Why an update or heartbeat is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UpdateError {
    /// The signature does not recover.
    #[error("bad signature: {0}")]
    Signature(#[from] SignatureError),
    /// The heartbeat is not signed by the address it names.
    #[error("signed by {signer}, not by {claimed}")]
    WrongSigner {
        /// who signed
        signer: Address,
        /// who it claims to be from
        claimed: Address,
    },
    /// No open channel with that id (or of another token).
    #[error("no open channel {0} of this token")]
    UnknownChannel(ChannelId),
    /// The signer is not in the channel.
    #[error("{0} is not a participant of channel {1}")]
    NotParticipant(Address, ChannelId),
    /// The nonce is not above the last one taken.
    #[error("nonce {nonce} is not above the last one taken ({last})")]
    StaleNonce {
        /// the update's
        nonce: u64,
        /// the last one taken
        last: u64,
    },
    /// A rate above 100 %.
    #[error("fee rates are in millionths: at most 1000000")]
    InvalidFee,
    /// The nonce (milliseconds since 1970) is too far from the service's clock: an old
    /// message replayed, or a sender's clock far off.
    #[error(
        "nonce {nonce} is more than {window} s from the service's clock ({now} ms): \
             an old message, or a clock that is off"
    )]
    NotFresh {
        /// the message's
        nonce: u64,
        /// the service's clock (ms)
        now: u64,
        /// the window (s)
        window: u64,
    },
    /// A heartbeat from a node without a channel.
    #[error("{0} has no channel here")]
    NoChannel(Address),
}

impl ChannelUpdate {
    /// The update `signer` signs for `domain`.
    #[allow(clippy::too_many_arguments)]
    pub fn signed(
        domain: &Domain, signer: &dyn Signer, token: Address, channel_id: ChannelId, nonce: u64,
        capacity: TokenAmount, fee: FeePolicy, disabled: bool,
    ) -> Result<Self, SignatureError> {
        let mut update = Self {
            token,
            channel_id,
            nonce,
            capacity: Amount(capacity.0),
            fee_flat: Amount(fee.flat.0),
            fee_ppm: fee.proportional_ppm,
            imbalance_ppm: fee.imbalance_ppm,
            disabled,
            signature: Hex65([0; 65]),
        };
        update.signature = Hex65(signer.sign_digest(&update.digest(domain))?.0);
        Ok(update)
    }

    /// The digest signed.
    pub fn digest(&self, domain: &Domain) -> photon_primitives::B256 {
        domain.digest(&eip712::CapacityUpdate {
            channelId: self.channel_id.0,
            token: self.token,
            nonce: self.nonce,
            capacity: self.capacity.0,
            feeFlat: self.fee_flat.0,
            feePpm: self.fee_ppm,
            imbalancePpm: self.imbalance_ppm,
            disabled: self.disabled,
        })
    }

    /// Who signed it (not yet whether it may).
    pub fn signer(&self, domain: &Domain) -> Result<Address, UpdateError> {
        Ok(recover(&self.digest(domain), &Signature(self.signature.0))?)
    }

    /// The fee policy it announces.
    pub fn fee(&self) -> FeePolicy {
        FeePolicy {
            flat: TokenAmount(self.fee_flat.0),
            proportional_ppm: self.fee_ppm,
            imbalance_ppm: self.imbalance_ppm,
        }
    }
}

impl Heartbeat {
    /// The heartbeat `signer` signs for `domain`.
    pub fn signed(
        domain: &Domain, signer: &dyn Signer, nonce: u64,
    ) -> Result<Self, SignatureError> {
        let digest = domain.digest(&eip712::Heartbeat { nonce });
        Ok(Self {
            address: signer.address(),
            nonce,
            signature: Hex65(signer.sign_digest(&digest)?.0),
        })
    }

    /// Checks it is signed by the address it names.
    pub fn check(&self, domain: &Domain) -> Result<(), UpdateError> {
        let digest = domain.digest(&eip712::Heartbeat { nonce: self.nonce });
        let signer = recover(&digest, &Signature(self.signature.0))?;
        if signer != self.address {
            return Err(UpdateError::WrongSigner { signer, claimed: self.address });
        }
        Ok(())
    }
}

/// A node's nonces: milliseconds since 1970, or one more than the last if the clock did not
/// move on.
#[derive(Debug, Default)]
pub struct NonceClock(AtomicU64);

impl NonceClock {
    /// The next nonce.
    pub fn next(&self) -> u64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut last = self.0.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.0.compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }
}
