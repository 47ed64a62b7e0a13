//! A typed client of a node's API.

use crate::types::*;
use photon_primitives::{Address, B256};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered (or the connection broke, or the request timed out).
    #[error("the node's API at {url} is not reachable: {source}")]
    Unreachable {
        /// The node's API.
        url: String,
        /// What the HTTP client saw.
        #[source]
        source: reqwest::Error,
    },
    /// The node answered with an error.
    #[error("{status}: {message} ({code})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error's stable code.
        code: String,
        /// Its message.
        message: String,
    },
    /// The answer is not what the API promises.
    #[error("the node's answer does not read as {what}: {source}")]
    Decode {
        /// What was expected.
        what: &'static str,
        /// Why it does not read.
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one node's REST API.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client of the API at `base` (e.g. `http://127.0.0.1:5001`), sending `token` as a
    /// bearer token when given.
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self::with_http(base, token, reqwest::Client::new())
    }

    /// [`Client::new`] on a given HTTP client (e.g. one keeping many connections).
    pub fn with_http(base: &str, token: Option<String>, http: reqwest::Client) -> Self {
        Self { base: base.trim_end_matches('/').to_string(), token, http }
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        what: &'static str,
    ) -> Result<T, ClientError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let unreachable = |source| ClientError::Unreachable { url: self.base.clone(), source };
        let response = build(request).send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => (body.error.code, body.error.message),
                Err(_) => ("unknown".into(), String::from_utf8_lossy(&bytes).into_owned()),
            };
            return Err(ClientError::Api { status: status.as_u16(), code, message });
        }
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode { what, source })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &'static str,
    ) -> Result<T, ClientError> {
        self.call(reqwest::Method::GET, path, |r| r, what).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &(impl Serialize + ?Sized),
        what: &'static str,
    ) -> Result<T, ClientError> {
        self.call(method, path, |r| r.json(body), what).await
    }

    /// The node's account.
    pub async fn address(&self) -> Result<Address, ClientError> {
        Ok(self.get::<OurAddress>("/api/v1/address", "an address").await?.our_address)
    }

    /// The node's status.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/api/v1/status", "a status").await
    }

    /// Every channel of the node.
    pub async fn channels(&self) -> Result<Vec<ChannelView>, ClientError> {
        self.get("/api/v1/channels", "channels").await
    }

    /// The node's channel with `partner` for `token`; `None` if it has none.
    pub async fn channel(
        &self,
        token: Address,
        partner: Address,
    ) -> Result<Option<ChannelView>, ClientError> {
        match self.get(&format!("/api/v1/channels/{token:?}/{partner:?}"), "a channel").await {
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Opens a channel (and deposits, if asked); answers once mined.
    pub async fn open_channel(&self, open: &OpenChannel) -> Result<Transaction, ClientError> {
        self.send(reqwest::Method::PUT, "/api/v1/channels", open, "a transaction").await
    }

    /// Deposits, withdraws, closes or settles a channel.
    pub async fn patch_channel(
        &self,
        token: Address,
        partner: Address,
        patch: &PatchChannel,
    ) -> Result<PatchAnswer, ClientError> {
        let path = format!("/api/v1/channels/{token:?}/{partner:?}");
        self.send(reqwest::Method::PATCH, &path, patch, "a channel change").await
    }

    /// Pays `target`; answers once the payment completed (or failed).
    pub async fn pay(
        &self,
        token: Address,
        target: Address,
        pay: &Pay,
    ) -> Result<PaymentOutcome, ClientError> {
        let path = format!("/api/v1/payments/{token:?}/{target:?}");
        self.send(reqwest::Method::POST, &path, pay, "a payment").await
    }

    /// The payment history, newest first.
    pub async fn payments(&self, query: &PaymentsQuery) -> Result<Vec<Payment>, ClientError> {
        let what = "payments";
        self.call(reqwest::Method::GET, "/api/v1/payments", |r| r.query(query), what).await
    }

    /// The payments in flight.
    pub async fn pending_transfers(&self) -> Result<Vec<PendingTransfer>, ClientError> {
        self.get("/api/v1/pending_transfers", "pending transfers").await
    }

    /// Registers a secret on chain.
    pub async fn register_secret(&self, secret: B256) -> Result<SecretAnswer, ClientError> {
        let body = SecretBody { secret };
        self.send(reqwest::Method::POST, "/api/v1/secrets", &body, "a secret").await
    }

    /// Tells the node a secret in advance (it reveals it when paid with its hash).
    pub async fn know_secret(&self, secret: B256) -> Result<SecretAnswer, ClientError> {
        let body = SecretBody { secret };
        self.send(reqwest::Method::POST, "/api/v1/known_secrets", &body, "a secret").await
    }

    /// The node's fee schedule.
    pub async fn fees(&self) -> Result<FeeSchedule, ClientError> {
        self.get("/api/v1/fees", "a fee schedule").await
    }

    /// Sets a fee policy.
    pub async fn set_fee(&self, fee: &SetFee) -> Result<Accepted, ClientError> {
        self.send(reqwest::Method::PUT, "/api/v1/fees", fee, "an answer").await
    }

    /// A client whose requests give up after `timeout`.
    pub fn with_timeout(&self, timeout: Duration) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|source| ClientError::Unreachable { url: self.base.clone(), source })?;
        Ok(Self { http, ..self.clone() })
    }
}
