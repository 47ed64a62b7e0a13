//! The REST API: JSON over HTTP, under `/api/v1`. Its OpenAPI document is generated from the
//! handlers and their types ([`openapi`]), served at `/api/v1/openapi.json` and kept in
//! `docs/openapi.json`. Request and answer types are [`photon_api`]'s (shared with the typed
//! client): amounts are decimal strings (they do not fit JSON numbers); numbers are accepted on
//! input. Errors are `{"error": {"code": "...", "message": "..."}}` with a 4xx or 5xx status
//! (5xx only for the node's or the chain's failures, never for what a client sent); every
//! handler validates its input before the node sees it.

use crate::error::NodeError;
use crate::runtime::{ChannelAction, Command, NodeEvent, NodeHandle};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use photon_api::{
    Accepted, Amount, ErrorBody, FeePolicy, FeeSchedule, Goal, OpenChannel, OurAddress,
    PatchAnswer, PatchChannel, Pay, Payment, PaymentStatus, PaymentsQuery, SecretAnswer,
    SecretBody, SetFee, Transaction, Version,
};
use photon_primitives::{Address, TokenAmount};
use serde_json::json;
use std::sync::Arc;

pub use crate::openapi::{openapi, ROUTES};

/// The OpenAPI document as the handlers declare it (see [`openapi`] for the one served).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Photon node API",
        description = "The REST API of a Photon node: channels, payments, fees and events. Amounts are \
            decimal strings in the token's smallest unit."
    ),
    paths(
        address_of, version, openapi_document, status, tokens, network, channels, channels_of_token,
        channel, open_channel, patch_channel, payments, pay, payment, cancel_payment, paths,
        pending_transfers, register_secret, know_secret, fees, set_fee, events, peer, shutdown,
        transactions, swaps, start_swap, swap, cancel_swap, secret_of
    ),
    components(schemas(photon_api::NodeEvent)),
    tags(
        (name = "node", description = "The node itself"),
        (name = "channels", description = "Payment channels"),
        (name = "payments", description = "Payments, routes and secrets"),
        (name = "fees", description = "Mediation fees"),
        (name = "swaps", description = "Token swaps with another node (see docs/swaps.md)"),
    )
)]
pub(crate) struct ApiDoc;

#[derive(Clone)]
struct Ctx {
    node: NodeHandle,
    token: Option<Arc<str>>,
}

/// An API error response.
#[derive(Debug)]
pub struct ApiError(NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        Self(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            NodeError::BadRequest(_) => StatusCode::BAD_REQUEST,
            NodeError::NotFound(_) => StatusCode::NOT_FOUND,
            NodeError::Rejected(_)
            | NodeError::Refused(_)
            | NodeError::PaymentFailed { .. }
            | NodeError::PaymentDisputed { .. } => StatusCode::CONFLICT,
            NodeError::Chain(photon_chain::ChainError::Refused(_)) => StatusCode::CONFLICT,
            NodeError::Chain(_) | NodeError::ChainUnreachable(_) => StatusCode::BAD_GATEWAY,
            NodeError::Storage(_) | NodeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            NodeError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            NodeError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        };
        let body = json!({ "error": { "code": self.0.code(), "message": self.0.to_string() } });
        (status, Json(body)).into_response()
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(NodeError::BadRequest(message.into()))
}

type ApiResult<T> = Result<T, ApiError>;

fn body<T>(json: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    json.map(|Json(v)| v).map_err(|e| bad(format!("invalid request body: {}", e.body_text())))
}

fn address(text: &str, what: &str) -> ApiResult<Address> {
    text.parse().map_err(|_| bad(format!("{what} `{text}` is not an address")))
}

/// The router of the API over `node`; with `token`, every request needs
/// `Authorization: Bearer <token>`.
pub fn router(node: NodeHandle, token: Option<String>) -> Router {
    let ctx = Ctx { node, token: token.map(Into::into) };
    Router::new()
        .route("/api/v1/address", get(address_of))
        .route("/api/v1/version", get(version))
        .route("/api/v1/status", get(status))
        .route("/api/v1/openapi.json", get(openapi_document))
        .route("/api/v1/tokens", get(tokens))
        .route("/api/v1/network", get(network))
        .route("/api/v1/channels", get(channels).put(open_channel))
        .route("/api/v1/channels/{token}", get(channels_of_token))
        .route("/api/v1/channels/{token}/{partner}", get(channel).patch(patch_channel))
        .route("/api/v1/payments", get(payments))
        .route("/api/v1/payments/{token}/{target}", post(pay))
        .route("/api/v1/payments/{payment_id}", get(payment).delete(cancel_payment))
        .route("/api/v1/paths/{token}/{target}", get(paths))
        .route("/api/v1/pending_transfers", get(pending_transfers))
        .route("/api/v1/secrets", post(register_secret))
        .route("/api/v1/known_secrets", post(know_secret))
        .route("/api/v1/secrets/{secret_hash}", get(secret_of))
        .route("/api/v1/fees", get(fees).put(set_fee))
        .route("/api/v1/events", get(events))
        .route("/api/v1/peers/{address}", get(peer))
        .route("/api/v1/transactions", get(transactions))
        .route("/api/v1/shutdown", post(shutdown))
        .route("/api/v1/swaps", get(swaps).post(start_swap))
        .route("/api/v1/swaps/{secret_hash}", get(swap).delete(cancel_swap))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(ctx.clone(), auth))
        .with_state(ctx)
}

/// What the API address serves: the API ([`router`]), and with `ui` the web dashboard
/// ([`crate::ui`]) at `/ui/`, whose files need no token (the API calls it makes do).
pub fn app(node: NodeHandle, token: Option<String>, ui: bool) -> Router {
    let open = token.is_none();
    let api = router(node, token);
    let app = if ui { crate::ui::router().merge(api) } else { api };
    app.layer(middleware::from_fn_with_state(open, browser_guard))
}

/// What a browser may not do to the node (the dashboard puts the API in reach of web pages):
/// a request another site makes (`Sec-Fetch-Site: cross-site`, or an `Origin` that is not the
/// address asked) is refused, so no page elsewhere can pay, close or shut down through the
/// user's browser; and without an API token (`open`), only requests addressed to an IP address
/// or `localhost` are answered, so a name a hostile site points at 127.0.0.1 (DNS rebinding)
/// reaches nothing. Clients that are not browsers send neither header.
async fn browser_guard(State(open): State<bool>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text("host").unwrap_or("");
    let refuse = |why: String| {
        let body = json!({ "error": { "code": "forbidden", "message": why } });
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    };
    if text("sec-fetch-site") == Some("cross-site") {
        return refuse("requests from another site are refused".into());
    }
    if let Some(origin) = text("origin") {
        let from = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if !from.eq_ignore_ascii_case(host) {
            return refuse(format!("requests from {origin} are refused (this is {host})"));
        }
    }
    if open && !addressed_directly(host) {
        return refuse(format!(
            "requests to {host} are refused: without --api-token the API answers only requests \
             addressed to an IP address or localhost"
        ));
    }
    next.run(request).await
}

/// Whether a `Host` header names an IP address or `localhost` (with or without a port).
fn addressed_directly(host: &str) -> bool {
    if host.parse::<std::net::SocketAddr>().is_ok() || host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    name.eq_ignore_ascii_case("localhost")
        || name.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok()
}

async fn not_found() -> ApiError {
    ApiError(NodeError::NotFound("no such endpoint; see /api/v1/openapi.json".into()))
}

async fn auth(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    if let Some(token) = &ctx.token {
        let expected = format!("Bearer {token}");
        let given = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            let body = json!({ "error": { "code": "unauthorized", "message": "missing or wrong bearer token" } });
            return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
        }
    }
    next.run(request).await
}

/// The node's account.
#[utoipa::path(get, path = "/api/v1/address", operation_id = "getAddress", tag = "node",
    responses((status = 200, description = "The node's account", body = OurAddress), Failures))]
async fn address_of(State(ctx): State<Ctx>) -> Json<OurAddress> {
    Json(OurAddress { our_address: ctx.node.address })
}

/// The node's software version.
#[utoipa::path(get, path = "/api/v1/version", operation_id = "getVersion", tag = "node",
    responses((status = 200, description = "The version", body = Version), Failures))]
async fn version() -> Json<Version> {
    Json(Version { version: env!("CARGO_PKG_VERSION").to_string() })
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "getOpenApi", tag = "node",
    responses((status = 200, description = "The API's OpenAPI 3.1 document", body = Object), Failures))]
async fn openapi_document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::openapi::document()).into_response()
}

/// The node's status: its chain, its block, its peers and network.
#[utoipa::path(get, path = "/api/v1/status", operation_id = "getStatus", tag = "node",
    responses((status = 200, description = "The status", body = photon_api::Status), Failures))]
async fn status(State(ctx): State<Ctx>) -> ApiResult<Json<crate::runtime::Status>> {
    Ok(Json(ctx.node.status().await?))
}

/// Every token the node follows (its channels', the network's), with its symbol and decimals.
#[utoipa::path(get, path = "/api/v1/tokens", operation_id = "listTokens", tag = "channels",
    responses((status = 200, description = "The tokens, by address", body = [photon_api::TokenView]), Failures))]
async fn tokens(State(ctx): State<Ctx>) -> ApiResult<Json<Vec<photon_api::TokenView>>> {
    Ok(Json(ctx.node.tokens().await?))
}

/// Every open channel of the network the node knows of (its own and others'): the graph
/// routes are found on.
#[utoipa::path(get, path = "/api/v1/network", operation_id = "listNetwork", tag = "channels",
    responses((status = 200, description = "The channels", body = [photon_api::NetworkChannel]), Failures))]
async fn network(State(ctx): State<Ctx>) -> ApiResult<Json<Vec<photon_api::NetworkChannel>>> {
    Ok(Json(ctx.node.network().await?))
}

/// Every channel of the node not settled.
#[utoipa::path(get, path = "/api/v1/channels", operation_id = "listChannels", tag = "channels",
    responses((status = 200, description = "The channels", body = [photon_api::ChannelView]), Failures))]
async fn channels(State(ctx): State<Ctx>) -> ApiResult<Json<Vec<crate::runtime::ChannelView>>> {
    Ok(Json(ctx.node.channels().await?))
}

/// The node's channels in one token.
#[utoipa::path(get, path = "/api/v1/channels/{token}", operation_id = "listChannelsOfToken", tag = "channels",
    params(("token" = String, Path, description = "The token", pattern = "^(0[xX])?[0-9a-fA-F]{40}$")),
    responses((status = 200, description = "The channels", body = [photon_api::ChannelView]), Failures))]
async fn channels_of_token(
    State(ctx): State<Ctx>, Path(token): Path<String>,
) -> ApiResult<Json<Vec<crate::runtime::ChannelView>>> {
    let token = address(&token, "token")?;
    Ok(Json(ctx.node.channels().await?.into_iter().filter(|c| c.token == token).collect()))
}

/// The node's channel with a partner in a token.
#[utoipa::path(get, path = "/api/v1/channels/{token}/{partner}", operation_id = "getChannel", tag = "channels",
    params(
        ("token" = String, Path, description = "The token", pattern = "^(0[xX])?[0-9a-fA-F]{40}$"),
        ("partner" = String, Path, description = "The partner", pattern = "^(0[xX])?[0-9a-fA-F]{40}$"),
    ),
    responses(
        (status = 200, description = "The channel", body = photon_api::ChannelView),
        (status = 404, description = "No such channel (`not_found`)", body = ErrorBody),
        Failures,
    ))]
async fn channel(
    State(ctx): State<Ctx>, Path((token, partner)): Path<(String, String)>,
) -> ApiResult<Json<crate::runtime::ChannelView>> {
    let (token, partner) = (address(&token, "token")?, address(&partner, "partner")?);
    Ok(Json(ctx.node.channel(token, partner).await?))
}

/// Opens a channel (with a first deposit if given); answers once mined.
#[utoipa::path(put, path = "/api/v1/channels", operation_id = "openChannel", tag = "channels",
    request_body = OpenChannel,
    responses(
        (status = 201, description = "Opened; the transaction", body = Transaction),
        (status = 409, description = "Refused: a channel exists, a settle timeout outside the accepted range, \
            ourselves as partner, a deposit path the token lacks (`rejected`, `chain_refused`)", body = ErrorBody),
        (status = 502, description = "The chain failed (`chain_error`)", body = ErrorBody),
        Failures,
    ))]
async fn open_channel(
    State(ctx): State<Ctx>, request: Result<Json<OpenChannel>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let tx = ctx.node.open_channel(body(request)?).await?;
    Ok((StatusCode::CREATED, Json(Transaction { transaction_hash: tx })))
}

/// Deposits more, withdraws, closes or settles cooperatively: one change per request.
#[utoipa::path(patch, path = "/api/v1/channels/{token}/{partner}", operation_id = "patchChannel", tag = "channels",
    params(
        ("token" = String, Path, description = "The token", pattern = "^(0[xX])?[0-9a-fA-F]{40}$"),
        ("partner" = String, Path, description = "The partner", pattern = "^(0[xX])?[0-9a-fA-F]{40}$"),
    ),
    request_body = PatchChannel,
    responses(
        (status = 200, description = "A deposit's transaction, or the change taken", body = PatchAnswer),
        (status = 404, description = "No such channel (`not_found`)", body = ErrorBody),
        (status = 409, description = "The channel cannot take it now (`rejected`, `chain_refused`)", body = ErrorBody),
        (status = 502, description = "The chain failed (`chain_error`)", body = ErrorBody),
        Failures,
    ))]
async fn patch_channel(
    State(ctx): State<Ctx>, Path((token, partner)): Path<(String, String)>,
    request: Result<Json<PatchChannel>, JsonRejection>,
) -> ApiResult<Json<PatchAnswer>> {
    let (token, partner) = (address(&token, "token")?, address(&partner, "partner")?);
    let action = match body(request)? {
        PatchChannel::Deposit(d) => {
            let tx = ctx.node.deposit(token, partner, d.deposit, d.via.unwrap_or_default()).await?;
            return Ok(Json(PatchAnswer { transaction_hash: Some(tx), accepted: None }));
        }
        PatchChannel::Withdraw(w) => ChannelAction::Withdraw(TokenAmount(w.withdraw.0)),
        PatchChannel::State(s) => match s.state {
            Goal::Closed => ChannelAction::Close,
            Goal::Settled => ChannelAction::CooperativeSettle,
        },
    };
    ctx.node.channel_action(token, partner, action).await?;
    Ok(Json(PatchAnswer { transaction_hash: None, accepted: Some(true) }))
}

/// Pays the target: waits for the outcome, or (`"wait": false`) answers 202 as soon as the
/// payment is under way. A retried request with the same `payment_id` never pays twice.
#[utoipa::path(post, path = "/api/v1/payments/{token}/{target}", operation_id = "pay", tag = "payments",
    params(
        ("token" = String, Path, description = "The token", pattern = "^(0[xX])?[0-9a-fA-F]{40}$"),
        ("target" = String, Path, description = "Who is paid", pattern = "^(0[xX])?[0-9a-fA-F]{40}$"),
    ),
    request_body = Pay,
    responses(
        (status = 200, description = "Paid", body = photon_api::PaymentOutcome),
        (status = 202, description = "Under way (`\"wait\": false`): follow it at /api/v1/payments/{payment_id}", body = PaymentStatus),
        (status = 404, description = "No route (`not_found`)", body = ErrorBody),
        (status = 409, description = "Failed, disputed, refused, or its id was used for another payment \
            (`payment_failed`, `payment_disputed`, `rejected`, `payment_id_used`)", body = ErrorBody),
        (status = 504, description = "Not done in time; it may still finish (`timeout`)", body = ErrorBody),
        Failures,
    ))]
async fn pay(
    State(ctx): State<Ctx>, Path((token, target)): Path<(String, String)>,
    request: Result<Json<Pay>, JsonRejection>,
) -> ApiResult<Response> {
    let (token, target) = (address(&token, "token")?, address(&target, "target")?);
    let request = body(request)?;
    if request.wait == Some(false) {
        let status = ctx.node.pay_async(token, target, request).await?;
        return Ok((StatusCode::ACCEPTED, Json(status)).into_response());
    }
    Ok(Json(ctx.node.pay(token, target, request).await?).into_response())
}

fn payment_id(text: &str) -> ApiResult<u64> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| bad(format!("payment id `{text}` is not a whole number below 2^64")))
}

/// Where a payment of ours stands.
#[utoipa::path(get, path = "/api/v1/payments/{payment_id}", operation_id = "getPayment", tag = "payments",
    params(("payment_id" = u64, Path, description = "The payment's id")),
    responses(
        (status = 200, description = "The payment", body = PaymentStatus),
        (status = 404, description = "No payment of ours with this id (`not_found`)", body = ErrorBody),
        Failures,
    ))]
async fn payment(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Json<PaymentStatus>> {
    Ok(Json(ctx.node.payment_status(payment_id(&id)?).await?))
}

/// Cancels a payment of ours whose secret went to no one: it fails at once, and its lock can
/// only expire.
#[utoipa::path(delete, path = "/api/v1/payments/{payment_id}", operation_id = "cancelPayment", tag = "payments",
    params(("payment_id" = u64, Path, description = "The payment's id")),
    responses(
        (status = 200, description = "Cancelled: the payment, failed", body = PaymentStatus),
        (status = 404, description = "No payment of ours with this id (`not_found`)", body = ErrorBody),
        (status = 409, description = "Over, or its secret is out (`rejected`)", body = ErrorBody),
        Failures,
    ))]
async fn cancel_payment(
    State(ctx): State<Ctx>, Path(id): Path<String>,
) -> ApiResult<Json<PaymentStatus>> {
    Ok(Json(ctx.node.cancel_payment(payment_id(&id)?).await?))
}

/// `GET /api/v1/paths/{token}/{target}?amount=`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PathsQuery {
    /// What the target would receive (at least 1; the pattern is the positive amounts', set
    /// in [`crate::openapi`]).
    #[param(value_type = String)]
    amount: Option<String>,
}

/// The routes a payment would try, in order.
#[utoipa::path(get, path = "/api/v1/paths/{token}/{target}", operation_id = "findPaths", tag = "payments",
    params(
        ("token" = String, Path, description = "The token", pattern = "^(0[xX])?[0-9a-fA-F]{40}$"),
        ("target" = String, Path, description = "Who would be paid", pattern = "^(0[xX])?[0-9a-fA-F]{40}$"),
        PathsQuery,
    ),
    responses((status = 200, description = "The routes, best first", body = [photon_api::RouteView]), Failures))]
async fn paths(
    State(ctx): State<Ctx>, Path((token, target)): Path<(String, String)>,
    query: Result<Query<PathsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<photon_api::RouteView>>> {
    let (token, target) = (address(&token, "token")?, address(&target, "target")?);
    let Query(q) = query.map_err(|e| bad(e.body_text()))?;
    let text = q.amount.ok_or_else(|| bad("`amount` is required"))?;
    let amount: Amount = text.parse().map_err(|e: String| bad(e))?;
    if amount.0 == 0 {
        return Err(bad("amount must be positive"));
    }
    let amount = TokenAmount(amount.0);
    // no route to ourselves
    if target == ctx.node.address {
        return Ok(Json(Vec::new()));
    }
    let found = match &ctx.node.pfs {
        Some(pfs) => match pfs.paths(token, ctx.node.address, target, amount, 3).await {
            Ok(paths) => Some(paths),
            Err(e) => {
                tracing::warn!(error = %e, "the pathfinding service did not answer");
                None
            }
        },
        None => None,
    };
    let routes =
        ctx.node.ask(|reply| Command::Routes { token, target, amount, found, reply }).await?;
    Ok(Json(
        routes
            .into_iter()
            .map(|(route, source)| photon_api::RouteView {
                path: route.path,
                fee: Amount(route.fee.0),
                source: match source {
                    crate::runtime::RouteSource::Pfs => photon_api::RouteSource::Pfs,
                    crate::runtime::RouteSource::Local => photon_api::RouteSource::Local,
                },
            })
            .collect(),
    ))
}

/// The payment history, newest first.
#[utoipa::path(get, path = "/api/v1/payments", operation_id = "listPayments", tag = "payments",
    params(PaymentsQuery),
    responses((status = 200, description = "The rows", body = [Payment]), Failures))]
async fn payments(
    State(ctx): State<Ctx>, query: Result<Query<PaymentsQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<Payment>>> {
    let Query(q) = query.map_err(|e| bad(format!("invalid query: {}", e.body_text())))?;
    Ok(Json(ctx.node.payments(q).await?))
}

/// Payments in flight, whatever our part in them.
#[utoipa::path(get, path = "/api/v1/pending_transfers", operation_id = "listPendingTransfers", tag = "payments",
    responses((status = 200, description = "The payments in flight", body = [photon_api::PendingTransfer]), Failures))]
async fn pending_transfers(
    State(ctx): State<Ctx>,
) -> ApiResult<Json<Vec<crate::runtime::PendingTransfer>>> {
    Ok(Json(ctx.node.pending_transfers().await?))
}

/// Registers a secret on chain; answers once mined.
#[utoipa::path(post, path = "/api/v1/secrets", operation_id = "registerSecret", tag = "payments",
    request_body = SecretBody,
    responses(
        (status = 200, description = "Registered", body = SecretAnswer),
        (status = 409, description = "The zero secret, or the chain refused it (`refused`, `chain_refused`)", body = ErrorBody),
        (status = 502, description = "The chain failed (`chain_error`)", body = ErrorBody),
        Failures,
    ))]
async fn register_secret(
    State(ctx): State<Ctx>, request: Result<Json<SecretBody>, JsonRejection>,
) -> ApiResult<Json<SecretAnswer>> {
    let secret = crate::calls::secret(body(request)?.secret)?;
    let tx = ctx.node.register_secret(secret).await?;
    Ok(Json(SecretAnswer { transaction_hash: Some(tx), secrethash: secret.hash().0 }))
}

/// Accepts payments locked with the secret's hash by revealing it at once (swaps).
#[utoipa::path(post, path = "/api/v1/known_secrets", operation_id = "knowSecret", tag = "payments",
    request_body = SecretBody,
    responses(
        (status = 200, description = "In force", body = SecretAnswer),
        (status = 409, description = "The zero secret (`refused`)", body = ErrorBody),
        Failures,
    ))]
async fn know_secret(
    State(ctx): State<Ctx>, request: Result<Json<SecretBody>, JsonRejection>,
) -> ApiResult<Json<SecretAnswer>> {
    let secret = crate::calls::secret(body(request)?.secret)?;
    ctx.node.know_secret(secret).await?;
    Ok(Json(SecretAnswer { transaction_hash: None, secrethash: secret.hash().0 }))
}

/// The secret of a hash, if this node knows it: given (`POST /known_secrets`), learned when a
/// payment it made locked with the hash only completed (one leg of a swap across chains: the
/// secret then claims the other leg), or held in a payment in flight.
#[utoipa::path(get, path = "/api/v1/secrets/{secret_hash}", operation_id = "getSecret", tag = "payments",
    params(("secret_hash" = String, Path, description = "The secret's hash", pattern = "^(0[xX])?[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The secret", body = SecretBody),
        (status = 404, description = "Not known to this node (`not_found`)", body = ErrorBody),
        Failures,
    ))]
async fn secret_of(
    State(ctx): State<Ctx>, Path(hash): Path<String>,
) -> ApiResult<Json<SecretBody>> {
    Ok(Json(SecretBody { secret: ctx.node.secret_of(secret_hash(&hash)?).await? }))
}

fn policy_view(p: &photon_state::FeePolicy) -> FeePolicy {
    FeePolicy {
        flat: Amount(p.flat.0),
        proportional_ppm: p.proportional_ppm,
        imbalance_ppm: p.imbalance_ppm,
    }
}

/// The mediation fee schedule.
#[utoipa::path(get, path = "/api/v1/fees", operation_id = "getFees", tag = "fees",
    responses((status = 200, description = "The schedule", body = FeeSchedule), Failures))]
async fn fees(State(ctx): State<Ctx>) -> ApiResult<Json<FeeSchedule>> {
    let schedule = ctx.node.fees().await?;
    Ok(Json(FeeSchedule {
        default: policy_view(&schedule.default),
        tokens: schedule.tokens.iter().map(|(t, p)| (format!("{t:?}"), policy_view(p))).collect(),
        channels: schedule
            .channels
            .iter()
            .map(|(c, p)| (format!("{c:?}"), policy_view(p)))
            .collect(),
    }))
}

/// Sets the default mediation fee, a token's (`token`), or a channel's (`token` and
/// `partner`).
#[utoipa::path(put, path = "/api/v1/fees", operation_id = "setFee", tag = "fees",
    request_body = SetFee,
    responses(
        (status = 200, description = "In force", body = Accepted),
        (status = 404, description = "No channel with that partner (`not_found`)", body = ErrorBody),
        Failures,
    ))]
async fn set_fee(
    State(ctx): State<Ctx>, request: Result<Json<SetFee>, JsonRejection>,
) -> ApiResult<Json<Accepted>> {
    let r = body(request)?;
    let policy = photon_state::FeePolicy {
        flat: TokenAmount(r.flat.0),
        proportional_ppm: r.proportional_ppm,
        imbalance_ppm: r.imbalance_ppm,
    };
    ctx.node.set_fee(r.token, r.partner, policy).await?;
    Ok(Json(Accepted { accepted: true }))
}

/// The node's events as server-sent events, each `data` a JSON [`NodeEvent`]; the stream
/// ends when the node stops.
#[utoipa::path(get, path = "/api/v1/events", operation_id = "streamEvents", tag = "node",
    responses(
        (status = 200, description = "Server-sent events, each `data` one JSON NodeEvent",
            content_type = "text/event-stream", body = String),
        Failures,
    ))]
async fn events(
    State(ctx): State<Ctx>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let node = ctx.node.clone();
    // the stream ends when the node stops, so that the server's graceful shutdown does not
    // wait for its listeners to hang up
    let stream = tokio_stream::wrappers::BroadcastStream::new(ctx.node.subscribe())
        .filter_map(|e| async move {
            let event: NodeEvent = e.ok()?;
            Some(Ok(SseEvent::default().json_data(&event).unwrap_or_default()))
        })
        .take_until(async move { node.stopping().await });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Whether the node reaches a peer now, and how (direct, or through a relay).
#[utoipa::path(get, path = "/api/v1/peers/{address}", operation_id = "getPeer", tag = "node",
    params(("address" = String, Path, description = "The peer's address", pattern = "^(0[xX])?[0-9a-fA-F]{40}$")),
    responses((status = 200, description = "The peer", body = photon_api::PeerStatus), Failures))]
async fn peer(
    State(ctx): State<Ctx>, Path(peer): Path<String>,
) -> ApiResult<Json<photon_api::PeerStatus>> {
    Ok(Json(ctx.node.peer(address(&peer, "peer")?).await?))
}

/// The node's recent transactions (the last 1,000 since it started), newest first: those the
/// protocol asked for and those requests asked for, with their state and hash.
#[utoipa::path(get, path = "/api/v1/transactions", operation_id = "listTransactions", tag = "node",
    responses((status = 200, description = "The transactions", body = [photon_api::TransactionView]), Failures))]
async fn transactions(State(ctx): State<Ctx>) -> Json<Vec<photon_api::TransactionView>> {
    Json(ctx.node.transactions.list())
}

/// Our token swaps: those in progress and the latest finished, newest first.
#[utoipa::path(get, path = "/api/v1/swaps", operation_id = "listSwaps", tag = "swaps",
    responses((status = 200, description = "The swaps", body = [photon_api::SwapView]), Failures))]
async fn swaps(State(ctx): State<Ctx>) -> ApiResult<Json<Vec<photon_api::SwapView>>> {
    Ok(Json(ctx.node.swaps().await?))
}

/// Makes (`"role": "maker"`: the node makes the secret and pays `send` to the counterparty at
/// once) or takes (`"role": "taker"`, with the maker's `secret_hash`: the node pays `send` to
/// the maker once the maker's payment of `receive` is locked to it) a token swap. Either both
/// payments complete or neither does; the maker's answer carries the `secret_hash` to give
/// the taker.
#[utoipa::path(post, path = "/api/v1/swaps", operation_id = "startSwap", tag = "swaps",
    request_body = photon_api::NewSwap,
    responses(
        (status = 201, description = "Under way", body = photon_api::SwapView),
        (status = 404, description = "No route to the counterparty for our side (`not_found`)", body = ErrorBody),
        (status = 409, description = "Refused: ourselves as counterparty, a secret hash in use, \
            or timeouts too short for a swap (`refused`, `rejected`)", body = ErrorBody),
        Failures,
    ))]
async fn start_swap(
    State(ctx): State<Ctx>, request: Result<Json<photon_api::NewSwap>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<photon_api::SwapView>)> {
    let swap = ctx.node.start_swap(body(request)?).await?;
    Ok((StatusCode::CREATED, Json(swap)))
}

fn secret_hash(text: &str) -> ApiResult<photon_primitives::B256> {
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    valid
        .then(|| text.parse().ok())
        .flatten()
        .ok_or_else(|| bad(format!("secret hash `{text}` is not 32 bytes of hex")))
}

/// A swap of ours, by the secret hash its payments are locked with.
#[utoipa::path(get, path = "/api/v1/swaps/{secret_hash}", operation_id = "getSwap", tag = "swaps",
    params(("secret_hash" = String, Path, description = "The swap's secret hash", pattern = "^(0[xX])?[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "The swap", body = photon_api::SwapView),
        (status = 404, description = "No swap of ours with this hash (`not_found`)", body = ErrorBody),
        Failures,
    ))]
async fn swap(
    State(ctx): State<Ctx>, Path(hash): Path<String>,
) -> ApiResult<Json<photon_api::SwapView>> {
    Ok(Json(ctx.node.swap(secret_hash(&hash)?).await?))
}

/// Cancels a swap of ours that is still `waiting` (its secret is out to no one): a maker's
/// payment can then only expire, a taker pays nothing.
#[utoipa::path(delete, path = "/api/v1/swaps/{secret_hash}", operation_id = "cancelSwap", tag = "swaps",
    params(("secret_hash" = String, Path, description = "The swap's secret hash", pattern = "^(0[xX])?[0-9a-fA-F]{64}$")),
    responses(
        (status = 200, description = "Cancelled: the swap", body = photon_api::SwapView),
        (status = 404, description = "No swap of ours with this hash (`not_found`)", body = ErrorBody),
        (status = 409, description = "Locked, revealed or over (`rejected`)", body = ErrorBody),
        Failures,
    ))]
async fn cancel_swap(
    State(ctx): State<Ctx>, Path(hash): Path<String>,
) -> ApiResult<Json<photon_api::SwapView>> {
    Ok(Json(ctx.node.cancel_swap(secret_hash(&hash)?).await?))
}

/// Stops the node gracefully: it takes no more requests, makes durable what it is doing and
/// exits (`photon run` ends). Payments in flight are kept and go on when it starts again.
#[utoipa::path(post, path = "/api/v1/shutdown", operation_id = "shutdown", tag = "node",
    responses((status = 202, description = "Stopping", body = Accepted), Failures))]
async fn shutdown(State(ctx): State<Ctx>) -> (StatusCode, Json<Accepted>) {
    tracing::info!("shutdown asked through the API");
    ctx.node.shutdown();
    (StatusCode::ACCEPTED, Json(Accepted { accepted: true }))
}

/// The error answers any operation may give.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a schema, never a value
pub(crate) enum Failures {
    /// The request is malformed: a path, query or body the schema refuses, or a value the
    /// node cannot take (`bad_request`).
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// The API needs its bearer token (`unauthorized`).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The node failed (`storage_error`, `internal_error`).
    #[response(status = 500)]
    Internal(ErrorBody),
    /// The node is shutting down (`stopped`).
    #[response(status = 503)]
    Stopped(ErrorBody),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asks `path` of a server behind the browser guard (`open`: no token) with `headers`.
    async fn status_of(open: bool, headers: &[(&str, &str)]) -> u16 {
        let app = Router::new()
            .route("/x", get(|| async { "ok" }).post(|| async { "ok" }))
            .layer(middleware::from_fn_with_state(open, browser_guard));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut request = reqwest::Client::new().post(format!("http://{address}/x"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap().status().as_u16()
    }

    #[tokio::test]
    async fn browsers_of_other_sites_and_rebound_names_are_refused() {
        // a client that is no browser, and the dashboard itself
        assert_eq!(status_of(true, &[]).await, 200);
        assert_eq!(status_of(true, &[("sec-fetch-site", "same-origin")]).await, 200);
        // another site's page, by either header
        assert_eq!(status_of(false, &[("sec-fetch-site", "cross-site")]).await, 403);
        assert_eq!(status_of(false, &[("origin", "http://evil.example")]).await, 403);
        // a name pointed at 127.0.0.1: refused without a token, left to the token with one
        assert_eq!(status_of(true, &[("host", "evil.example:5001")]).await, 403);
        assert_eq!(status_of(false, &[("host", "evil.example:5001")]).await, 200);
        assert_eq!(status_of(true, &[("host", "localhost:5001")]).await, 200);
        assert_eq!(status_of(true, &[("host", "[::1]:5001")]).await, 200);
    }

    #[test]
    fn direct_addresses_are_ip_literals_or_localhost() {
        for host in ["127.0.0.1", "127.0.0.1:5001", "[::1]:80", "::1", "localhost", "LOCALHOST:1"] {
            assert!(addressed_directly(host), "{host}");
        }
        for host in
            ["", "evil.example", "localhost.evil.example:5001", "127.0.0.1.nip.io", "localhost:x"]
        {
            assert!(!addressed_directly(host), "{host}");
        }
    }
}
