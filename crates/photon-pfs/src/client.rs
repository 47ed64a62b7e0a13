//! The node's side of the service: [`PfsClient`] asks for paths; [`Publisher`] tells the
//! service the node's capacities and fees (only what changed, batched, at most a few
//! requests a second) and keeps it told the node is online.

use crate::api::{PathView, PathsAnswer, PfsStatus, Updates, UpdatesAnswer, MAX_UPDATES};
use crate::update::{ChannelUpdate, Heartbeat, NonceClock};
use photon_api::{Client, ClientError};
use photon_primitives::eip712::Domain;
use photon_primitives::{Address, ChannelId, LocalSigner, TokenAmount};
use photon_state::FeePolicy;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// A client of one pathfinding service.
#[derive(Clone, Debug)]
pub struct PfsClient {
    api: Client,
}

impl PfsClient {
    /// A client of the service at `url` (its base URL); every request gives up after
    /// `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Self {
        let http = reqwest::Client::builder().timeout(timeout).build().unwrap_or_default();
        Self { api: Client::with_http(url, None, http) }
    }

    /// The service's base URL.
    pub fn url(&self) -> &str {
        self.api.base()
    }

    /// Up to `max_paths` paths for `amount` of `token` from `from` to `to`, cheapest first;
    /// empty when the service knows none.
    pub async fn paths(
        &self, token: Address, from: Address, to: Address, amount: TokenAmount, max_paths: usize,
    ) -> Result<Vec<PathView>, ClientError> {
        let query = [
            ("token", format!("{token:?}")),
            ("from", format!("{from:?}")),
            ("to", format!("{to:?}")),
            ("amount", amount.0.to_string()),
            ("max_paths", max_paths.to_string()),
        ];
        let answer = self
            .api
            .call::<PathsAnswer>(
                reqwest::Method::GET,
                "/api/v1/paths",
                |r| r.query(&query),
                "paths",
            )
            .await;
        match answer {
            Ok(a) => Ok(a.paths),
            Err(ClientError::Api { status: 404, code, .. }) if code == "no_route" => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Hands over signed updates (at most [`MAX_UPDATES`]).
    pub async fn updates(&self, updates: Vec<ChannelUpdate>) -> Result<UpdatesAnswer, ClientError> {
        let body = Updates { updates };
        self.api
            .call(reqwest::Method::POST, "/api/v1/updates", |r| r.json(&body), "an answer")
            .await
    }

    /// Says the node is online.
    pub async fn heartbeat(&self, heartbeat: &Heartbeat) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .api
            .call(reqwest::Method::POST, "/api/v1/heartbeats", |r| r.json(heartbeat), "an answer")
            .await?;
        Ok(())
    }

    /// The service's status.
    pub async fn status(&self) -> Result<PfsStatus, ClientError> {
        self.api.call(reqwest::Method::GET, "/api/v1/status", |r| r, "a status").await
    }
}

/// What a node announces about one of its channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Announce {
    /// The channel's token.
    pub token: Address,
    /// The channel.
    pub channel_id: ChannelId,
    /// What the node can send over it now.
    pub capacity: TokenAmount,
    /// Its fee to forward over it.
    pub fee: FeePolicy,
    /// It does not forward over it (closing, negotiating a withdrawal).
    pub disabled: bool,
}

/// Keeps a service told about a node's channels and that the node is online.
#[derive(Debug, Clone)]
pub struct Publisher {
    offers: mpsc::UnboundedSender<Vec<Announce>>,
}

impl Publisher {
    /// Starts the publishing task (inside a tokio runtime): updates at most every
    /// `interval`, heartbeats as often as the service asks (a third of its offline window).
    pub fn start(
        client: PfsClient, domain: Domain, signer: LocalSigner, interval: Duration,
    ) -> Self {
        let (offers, rx) = mpsc::unbounded_channel();
        tokio::spawn(publish(client, domain, signer, interval, rx));
        Self { offers }
    }

    /// The node's channels as they are now; only what differs from what the service was
    /// told is sent.
    pub fn offer(&self, channels: Vec<Announce>) {
        let _ = self.offers.send(channels);
    }
}

async fn publish(
    client: PfsClient, domain: Domain, signer: LocalSigner, interval: Duration,
    mut offers: mpsc::UnboundedReceiver<Vec<Announce>>,
) {
    use tokio::time::Instant;
    /// How long a refused update, or a service that did not answer, is left alone.
    const BACK_OFF: Duration = Duration::from_secs(2);
    let nonces = NonceClock::default();
    let mut told: HashMap<ChannelId, Announce> = HashMap::new();
    let mut latest: HashMap<ChannelId, Announce> = HashMap::new();
    // channels whose update was refused (not confirmed there yet, say): not before
    let mut held: HashMap<ChannelId, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut heartbeat_every = Duration::from_secs(10);
    let (mut next_heartbeat, mut next_updates) = (Instant::now(), Instant::now());
    loop {
        tokio::select! {
            offer = offers.recv() => {
                let Some(offer) = offer else { return };
                latest = offer.into_iter().map(|a| (a.channel_id, a)).collect();
                continue;
            }
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        if now >= next_heartbeat {
            if let Ok(status) = client.status().await {
                heartbeat_every = Duration::from_secs((status.offline_after_s / 3).max(1));
            }
            next_heartbeat = match Heartbeat::signed(&domain, &signer, nonces.next()) {
                Ok(h) => match client.heartbeat(&h).await {
                    Ok(()) => now + heartbeat_every,
                    Err(e) => {
                        tracing::debug!(error = %e, url = client.url(), "heartbeat not taken");
                        now + BACK_OFF
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "cannot sign a heartbeat");
                    now + heartbeat_every
                }
            };
        }
        if now < next_updates {
            continue;
        }
        told.retain(|id, _| latest.contains_key(id));
        held.retain(|id, until| latest.contains_key(id) && now < *until);
        let changed: Vec<Announce> = latest
            .values()
            .filter(|a| told.get(&a.channel_id) != Some(*a) && !held.contains_key(&a.channel_id))
            .copied()
            .collect();
        for chunk in changed.chunks(MAX_UPDATES) {
            let mut sent: Vec<(Announce, ChannelUpdate)> = Vec::with_capacity(chunk.len());
            for a in chunk {
                let update = ChannelUpdate::signed(
                    &domain,
                    &signer,
                    a.token,
                    a.channel_id,
                    nonces.next(),
                    a.capacity,
                    a.fee,
                    a.disabled,
                );
                match update {
                    Ok(u) => sent.push((*a, u)),
                    Err(e) => tracing::error!(error = %e, "cannot sign a capacity update"),
                }
            }
            let updates = sent.iter().map(|(_, u)| u.clone()).collect();
            match client.updates(updates).await {
                Ok(answer) => {
                    for r in &answer.refused {
                        tracing::debug!(code = %r.code, message = %r.message, "update refused");
                    }
                    for (i, (a, _)) in sent.iter().enumerate() {
                        if answer.refused.iter().any(|r| r.index == i) {
                            // offered again after a while (the service may not have seen the
                            // channel confirmed yet)
                            held.insert(a.channel_id, now + BACK_OFF);
                        } else {
                            told.insert(a.channel_id, *a);
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, url = client.url(), "updates not taken; trying again");
                    next_updates = now + BACK_OFF;
                    break;
                }
            }
        }
    }
}

/// The fee a hop's sender announced, from a path answer.
pub fn hop_policy(hop: &crate::api::HopView) -> FeePolicy {
    FeePolicy {
        flat: TokenAmount(hop.fee_flat.0),
        proportional_ppm: hop.fee_ppm,
        imbalance_ppm: hop.imbalance_ppm,
    }
}
