//! The node's side of the service: after each new balance proof from a partner, the node hands
//! its monitoring service the proof with its consents ([`Delegation::of_channel`]). Deliveries
//! run on their own tasks and never hold up the node; one that fails is tried again.

use crate::delegation::Delegation;
use photon_primitives::eip712::Domain;
use photon_primitives::{ChannelId, Epoch, Nonce, Signer, SkipMask};
use photon_state::state::ChannelState;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What identifies a delegation to the service: (epoch, nonce, skip mask).
type DelegationKey = (Epoch, Nonce, SkipMask);

/// A node's client of one monitoring service.
#[derive(Clone, Debug)]
pub struct MonitorClient {
    /// `PUT` endpoint of the service's delegations.
    url: String,
    http: reqwest::Client,
    /// Per channel, the (epoch, nonce, skip mask) the service has or is being sent (or refused
    /// for good).
    delegated: Arc<Mutex<HashMap<ChannelId, DelegationKey>>>,
}

impl MonitorClient {
    /// A client of the service at `url` (its base URL).
    pub fn new(url: &reqwest::Url) -> Self {
        Self {
            url: format!("{}/api/v1/delegations", url.as_str().trim_end_matches('/')),
            http: reqwest::Client::new(),
            delegated: Arc::default(),
        }
    }

    /// Gives the service every partner proof of `channels` it does not have yet, signed by
    /// `signer` for the deployment `domain`. Must be called inside a tokio runtime: each
    /// delivery runs on its own task; a failed one is tried again on a later call (after 5 s).
    pub fn delegate<'a>(
        &self, domain: &Domain, channels: impl IntoIterator<Item = &'a ChannelState>,
        signer: &dyn Signer,
    ) {
        let mut sent = self.delegated.lock().unwrap_or_else(|e| e.into_inner());
        for channel in channels {
            let Some(proof) = &channel.theirs.proof else { continue };
            let key = (proof.fields.epoch, proof.fields.nonce, channel.unlock_skip());
            if sent.get(&channel.id) == Some(&key) {
                continue;
            }
            let delegation = match Delegation::of_channel(domain, channel, signer) {
                Some(Ok(d)) => d,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "cannot sign a delegation");
                    continue;
                }
                None => continue,
            };
            sent.insert(channel.id, key);
            tokio::spawn(self.clone().send(channel.id, key, delegation));
        }
    }

    /// Delivers one delegation. 409: the service has this one or a newer one already; 400 /
    /// 403: it never will (not tried again until something changes); anything else: forgotten
    /// as sent after 5 s, so that the next call tries again.
    async fn send(self, id: ChannelId, key: DelegationKey, delegation: Delegation) {
        let url = &self.url;
        let answer =
            self.http.put(url).timeout(Duration::from_secs(10)).json(&delegation).send().await;
        let status = answer.as_ref().ok().map(|r| r.status().as_u16());
        if matches!(status, Some(400 | 403)) {
            tracing::error!(%url, ?status, "the monitoring service refuses our delegation");
        }
        let settled = matches!(status, Some(200..=299 | 400 | 403 | 409));
        if !settled {
            tracing::warn!(%url, answer = ?answer.map(|r| r.status()), "the monitoring service did not take a delegation; trying again");
            tokio::time::sleep(Duration::from_secs(5)).await;
            let mut sent = self.delegated.lock().unwrap_or_else(|e| e.into_inner());
            if sent.get(&id) == Some(&key) {
                sent.remove(&id);
            }
        }
    }
}
