//! A typed client of a node's API.

use crate::types::*;
use crate::Amount;
use photon_primitives::{Address, B256};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered (or the connection broke, or the request timed out).
    #[error("the API at {url} is not reachable: {source}")]
    Unreachable {
        /// The node's API.
        url: String,
        /// What the HTTP client saw.
        #[source]
        source: reqwest::Error,
    },
    /// The service answered with an error.
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
    #[error("the answer does not read as {what}: {source}")]
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

    /// One request to `path` (below the base URL), built further by `build`, whose answer
    /// reads as `T` (`what` names it in errors); an error answer `{"error": {"code",
    /// "message"}}` becomes [`ClientError::Api`]. Other services with the same conventions
    /// (the pathfinding service) are called through it.
    pub async fn call<T: DeserializeOwned>(
        &self, method: reqwest::Method, path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder, what: &'static str,
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
        &self, path: &str, what: &'static str,
    ) -> Result<T, ClientError> {
        self.call(reqwest::Method::GET, path, |r| r, what).await
    }

    async fn send<T: DeserializeOwned>(
        &self, method: reqwest::Method, path: &str, body: &(impl Serialize + ?Sized),
        what: &'static str,
    ) -> Result<T, ClientError> {
        self.call(method, path, |r| r.json(body), what).await
    }

    /// The routes a payment of `amount` to `target` would try now, in order.
    pub async fn routes(
        &self, token: Address, target: Address, amount: Amount,
    ) -> Result<Vec<RouteView>, ClientError> {
        let path = format!("/api/v1/paths/{token:?}/{target:?}");
        let query = [("amount", amount.to_string())];
        self.call(reqwest::Method::GET, &path, |r| r.query(&query), "routes").await
    }

    /// The node's account.
    pub async fn address(&self) -> Result<Address, ClientError> {
        Ok(self.get::<OurAddress>("/api/v1/address", "an address").await?.our_address)
    }

    /// The node's status.
    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get("/api/v1/status", "a status").await
    }

    /// Every token the node follows, with its symbol and decimals.
    pub async fn tokens(&self) -> Result<Vec<TokenView>, ClientError> {
        self.get("/api/v1/tokens", "tokens").await
    }

    /// A payment of the node's: where it stands.
    pub async fn payment(&self, payment_id: u64) -> Result<PaymentStatus, ClientError> {
        self.get(&format!("/api/v1/payments/{payment_id}"), "a payment").await
    }

    /// Cancels a payment of the node's whose secret went to no one.
    pub async fn cancel_payment(&self, payment_id: u64) -> Result<PaymentStatus, ClientError> {
        let path = format!("/api/v1/payments/{payment_id}");
        self.call(reqwest::Method::DELETE, &path, |r| r, "a payment").await
    }

    /// The secret of `secret_hash`, if the node knows it.
    pub async fn secret_of(&self, secret_hash: B256) -> Result<B256, ClientError> {
        let path = format!("/api/v1/secrets/{secret_hash}");
        Ok(self.get::<crate::SecretBody>(&path, "a secret").await?.secret)
    }

    /// Makes or takes a token swap.
    pub async fn start_swap(&self, swap: &crate::NewSwap) -> Result<crate::SwapView, ClientError> {
        self.send(reqwest::Method::POST, "/api/v1/swaps", swap, "a swap").await
    }

    /// The node's swaps, newest first.
    pub async fn swaps(&self) -> Result<Vec<crate::SwapView>, ClientError> {
        self.get("/api/v1/swaps", "swaps").await
    }

    /// A swap of the node's, by its secret hash.
    pub async fn swap(&self, secret_hash: B256) -> Result<crate::SwapView, ClientError> {
        self.get(&format!("/api/v1/swaps/{secret_hash}"), "a swap").await
    }

    /// Cancels a swap of the node's that still waits.
    pub async fn cancel_swap(&self, secret_hash: B256) -> Result<crate::SwapView, ClientError> {
        let path = format!("/api/v1/swaps/{secret_hash}");
        self.call(reqwest::Method::DELETE, &path, |r| r, "a swap").await
    }

    /// Asks the node to stop gracefully.
    pub async fn shutdown(&self) -> Result<Accepted, ClientError> {
        self.call(reqwest::Method::POST, "/api/v1/shutdown", |r| r, "an acceptance").await
    }

    /// Every channel of the node.
    pub async fn channels(&self) -> Result<Vec<ChannelView>, ClientError> {
        self.get("/api/v1/channels", "channels").await
    }

    /// The node's channel with `partner` for `token`; `None` if it has none.
    pub async fn channel(
        &self, token: Address, partner: Address,
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
        &self, token: Address, partner: Address, patch: &PatchChannel,
    ) -> Result<PatchAnswer, ClientError> {
        let path = format!("/api/v1/channels/{token:?}/{partner:?}");
        self.send(reqwest::Method::PATCH, &path, patch, "a channel change").await
    }

    /// Pays `target`; answers once the payment completed (or failed).
    pub async fn pay(
        &self, token: Address, target: Address, pay: &Pay,
    ) -> Result<PaymentOutcome, ClientError> {
        let path = format!("/api/v1/payments/{token:?}/{target:?}");
        self.send(reqwest::Method::POST, &path, pay, "a payment").await
    }

    /// Starts a payment and answers as soon as it is under way (`"wait": false`).
    pub async fn pay_async(
        &self, token: Address, target: Address, pay: &Pay,
    ) -> Result<PaymentStatus, ClientError> {
        let path = format!("/api/v1/payments/{token:?}/{target:?}");
        let pay = Pay { wait: Some(false), ..pay.clone() };
        self.send(reqwest::Method::POST, &path, &pay, "a payment").await
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
        self.post_secret("/api/v1/secrets", secret).await
    }

    /// Tells the node a secret in advance (it reveals it when paid with its hash).
    pub async fn know_secret(&self, secret: B256) -> Result<SecretAnswer, ClientError> {
        self.post_secret("/api/v1/known_secrets", secret).await
    }

    async fn post_secret(&self, path: &str, secret: B256) -> Result<SecretAnswer, ClientError> {
        self.send(reqwest::Method::POST, path, &SecretBody { secret }, "a secret").await
    }

    /// The node's fee schedule.
    pub async fn fees(&self) -> Result<FeeSchedule, ClientError> {
        self.get("/api/v1/fees", "a fee schedule").await
    }

    /// Sets a fee policy.
    pub async fn set_fee(&self, fee: &SetFee) -> Result<Accepted, ClientError> {
        self.send(reqwest::Method::PUT, "/api/v1/fees", fee, "an answer").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Amount;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-request HTTP server on 127.0.0.1 answering `status` with `body`; gives the
    /// base URL and, once served, the request line it saw.
    async fn serve_once(
        status: u16, body: &'static str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = vec![0u8; 8192];
            let n = socket.read(&mut buffer).await.unwrap();
            let request = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let answer = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            request.lines().next().unwrap_or_default().to_string()
        });
        (base, task)
    }

    #[tokio::test]
    async fn answers_decode_into_the_api_types_and_errors_keep_their_code() {
        let token = Address::repeat_byte(0xaa);
        let partner = Address::repeat_byte(0xbb);
        let (base, seen) = serve_once(
            200,
            r#"{"payment_id":7,"target":"0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","amount":"99999999999999999999999999999999999999","fee":"0","secrethash":null}"#,
        )
        .await;
        let pay = Pay { amount: Amount(5), ..Pay::default() };
        let outcome = Client::new(&base, None).pay(token, partner, &pay).await.unwrap();
        assert_eq!((outcome.payment_id, outcome.amount), (7, Amount(10u128.pow(38) - 1)));
        assert!(seen.await.unwrap().starts_with("POST /api/v1/payments/0xaaaa"));

        let (base, _) = serve_once(
            409,
            r#"{"error":{"code":"payment_failed","message":"no route to the target"}}"#,
        )
        .await;
        let err = Client::new(&base, None).pay(token, partner, &pay).await.unwrap_err();
        assert_eq!(err.status(), Some(409));
        assert!(err.to_string().contains("no route to the target"), "{err}");
        assert!(matches!(err, ClientError::Api { ref code, .. } if code == "payment_failed"));

        let (base, _) =
            serve_once(404, r#"{"error":{"code":"not_found","message":"no channel"}}"#).await;
        assert_eq!(Client::new(&base, None).channel(token, partner).await.unwrap(), None);

        let (base, _) = serve_once(200, r#"{"not":"a status"}"#).await;
        let err = Client::new(&base, None).status().await.unwrap_err();
        assert!(matches!(err, ClientError::Decode { what: "a status", .. }), "{err}");
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err =
            Client::new(&format!("http://127.0.0.1:{port}"), None).status().await.unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    }
}
