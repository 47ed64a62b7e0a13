//! The service's REST API types, shared by the service and its client. Every amount is a
//! decimal string ([`Amount`]); addresses and hashes are `0x` hex.

use crate::router::Route;
use photon_api::Amount;
use photon_primitives::{Address, ChannelId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 65-byte signature as `0x` hex.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex65(pub [u8; 65]);

impl std::fmt::Debug for Hex65 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl Serialize for Hex65 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{self:?}"))
    }
}

impl<'de> Deserialize<'de> for Hex65 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(&text))
            .map_err(|_| serde::de::Error::custom("a signature is 0x and 130 hex digits"))?;
        let bytes: [u8; 65] =
            bytes.try_into().map_err(|_| serde::de::Error::custom("a signature is 65 bytes"))?;
        Ok(Self(bytes))
    }
}

/// `POST /api/v1/updates`: at most [`MAX_UPDATES`] channel updates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Updates {
    /// The updates.
    pub updates: Vec<crate::update::ChannelUpdate>,
}

/// Most updates in one request.
pub const MAX_UPDATES: usize = 1_000;

/// The answer to `POST /api/v1/updates`: how many were taken, and why the others were not.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdatesAnswer {
    /// Updates taken.
    pub accepted: usize,
    /// Updates refused, by their index in the request.
    pub refused: Vec<Refusal>,
}

/// One refused update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    /// Its index in the request.
    pub index: usize,
    /// A stable code: `bad_signature`, `unknown_channel`, `not_participant`, `stale_nonce`,
    /// `invalid_fee`.
    pub code: String,
    /// Words for a person.
    pub message: String,
}

/// One hop of a path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopView {
    /// The channel.
    pub channel_id: ChannelId,
    /// Who sends over it.
    pub from: Address,
    /// Who receives.
    pub to: Address,
    /// The lock's amount on this channel.
    pub amount: Amount,
    /// What `from` keeps as a mediator (zero for the payer).
    pub fee: Amount,
    /// `from`'s fee over this channel: flat part.
    pub fee_flat: Amount,
    /// Proportional part (millionths).
    pub fee_ppm: u32,
    /// Imbalance component (millionths).
    pub imbalance_ppm: u32,
}

/// A path that carries the amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathView {
    /// Payer, mediators, target.
    pub path: Vec<Address>,
    /// All the mediators' fees: the payer sends `amount + fee`.
    pub fee: Amount,
    /// Hop by hop.
    pub hops: Vec<HopView>,
}

impl From<&Route> for PathView {
    fn from(route: &Route) -> Self {
        Self {
            path: route.nodes(),
            fee: Amount(route.fee.0),
            hops: route
                .hops
                .iter()
                .map(|h| HopView {
                    channel_id: h.channel_id,
                    from: h.from,
                    to: h.to,
                    amount: Amount(h.amount.0),
                    fee: Amount(h.fee.0),
                    fee_flat: Amount(h.policy.flat.0),
                    fee_ppm: h.policy.proportional_ppm,
                    imbalance_ppm: h.policy.imbalance_ppm,
                })
                .collect(),
        }
    }
}

/// The answer to `GET /api/v1/paths`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathsAnswer {
    /// Cheapest first; never empty (no path is a 404 `no_route`).
    pub paths: Vec<PathView>,
}

/// `GET /api/v1/paths` query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathsQuery {
    /// The token.
    pub token: Address,
    /// The payer.
    pub from: Address,
    /// The target.
    pub to: Address,
    /// What the target must receive.
    pub amount: Amount,
    /// Most paths (default 3, at most [`MAX_PATHS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_paths: Option<usize>,
}

/// Most paths one query may ask for.
pub const MAX_PATHS: usize = 10;

/// `GET /api/v1/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PfsStatus {
    /// Chain id of the deployment.
    pub chain_id: u64,
    /// `TokensNetwork` address.
    pub tokens_network: Address,
    /// Last confirmed block read.
    pub block: u64,
    /// Open channels known.
    pub channels: usize,
    /// Nodes online (a heartbeat or update within `offline_after_s`).
    pub online: usize,
    /// Seconds without a heartbeat or update after which a node is routed around; nodes
    /// send heartbeats well within it.
    pub offline_after_s: u64,
}

/// An error answer: `{"error": {"code": "...", "message": "..."}}`.
pub type ErrorBody = photon_api::ErrorBody;
