//! The REST API: JSON over HTTP, under `/api/v1`, documented in `docs/openapi.json` (served at
//! `/api/v1/openapi.json`). Amounts are decimal strings (they do not fit JSON numbers); numbers
//! are accepted on input. Errors are `{"error": {"code": "...", "message": "..."}}` with a 4xx
//! or 5xx status; every handler validates its input before the node sees it.

use crate::error::NodeError;
use crate::runtime::{ChannelAction, Command, NodeEvent, NodeHandle};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use photon_chain::DepositVia;
use photon_primitives::{Address, Secret, TokenAmount, B256};
use photon_storage::{Direction, PaymentFilter};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use std::sync::Arc;

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Every route of [`router`], as (method, path): the OpenAPI document must describe each.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/address"),
    ("get", "/api/v1/version"),
    ("get", "/api/v1/status"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/tokens"),
    ("get", "/api/v1/channels"),
    ("put", "/api/v1/channels"),
    ("get", "/api/v1/channels/{token}"),
    ("get", "/api/v1/channels/{token}/{partner}"),
    ("patch", "/api/v1/channels/{token}/{partner}"),
    ("get", "/api/v1/payments"),
    ("post", "/api/v1/payments/{token}/{target}"),
    ("get", "/api/v1/pending_transfers"),
    ("post", "/api/v1/secrets"),
    ("post", "/api/v1/known_secrets"),
    ("get", "/api/v1/fees"),
    ("put", "/api/v1/fees"),
    ("get", "/api/v1/events"),
];

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
            | NodeError::PaymentFailed { .. }
            | NodeError::PaymentDisputed { .. } => StatusCode::CONFLICT,
            NodeError::Chain(photon_chain::ChainError::Refused(_)) => StatusCode::CONFLICT,
            NodeError::Chain(_) | NodeError::ChainUnreachable(_) => StatusCode::BAD_GATEWAY,
            NodeError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
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

/// A token amount given as a decimal string or a JSON number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Amount(pub TokenAmount);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Self(TokenAmount::from(n))),
            Raw::Text(s) => s.trim().parse::<TokenAmount>().map(Self).map_err(|_| {
                serde::de::Error::custom(format!("`{s}` is not a token amount (a whole number)"))
            }),
        }
    }
}

fn body<T>(json: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    json.map(|Json(v)| v).map_err(|e| bad(format!("invalid request body: {}", e.body_text())))
}

/// A payment id unlikely to repeat: the clock's nanoseconds mixed with a process counter.
fn new_payment_id() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed).rotate_left(40)
}

/// A secret from a request: anything but zero.
fn secret(value: B256) -> ApiResult<Secret> {
    if value == B256::ZERO {
        return Err(bad("the zero secret is not a secret"));
    }
    Ok(Secret(value))
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
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/tokens", get(tokens))
        .route("/api/v1/channels", get(channels).put(open_channel))
        .route("/api/v1/channels/{token}", get(channels_of_token))
        .route("/api/v1/channels/{token}/{partner}", get(channel).patch(patch_channel))
        .route("/api/v1/payments", get(payments))
        .route("/api/v1/payments/{token}/{target}", post(pay))
        .route("/api/v1/pending_transfers", get(pending_transfers))
        .route("/api/v1/secrets", post(register_secret))
        .route("/api/v1/known_secrets", post(know_secret))
        .route("/api/v1/fees", get(fees).put(set_fee))
        .route("/api/v1/events", get(events))
        .layer(middleware::from_fn_with_state(ctx.clone(), auth))
        .with_state(ctx)
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

async fn address_of(State(ctx): State<Ctx>) -> Json<serde_json::Value> {
    Json(json!({ "our_address": ctx.node.address }))
}

async fn version() -> Json<serde_json::Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn status(State(ctx): State<Ctx>) -> ApiResult<Json<crate::runtime::Status>> {
    Ok(Json(ctx.node.ask(Command::Status).await?))
}

async fn tokens(State(ctx): State<Ctx>) -> ApiResult<Json<Vec<Address>>> {
    let mut tokens: Vec<Address> =
        ctx.node.ask(Command::Channels).await?.into_iter().map(|c| c.token).collect();
    tokens.sort();
    tokens.dedup();
    Ok(Json(tokens))
}

async fn channels(State(ctx): State<Ctx>) -> ApiResult<Json<Vec<crate::runtime::ChannelView>>> {
    Ok(Json(ctx.node.ask(Command::Channels).await?))
}

async fn channels_of_token(
    State(ctx): State<Ctx>,
    Path(token): Path<String>,
) -> ApiResult<Json<Vec<crate::runtime::ChannelView>>> {
    let token = address(&token, "token")?;
    Ok(Json(
        ctx.node.ask(Command::Channels).await?.into_iter().filter(|c| c.token == token).collect(),
    ))
}

async fn channel(
    State(ctx): State<Ctx>,
    Path((token, partner)): Path<(String, String)>,
) -> ApiResult<Json<crate::runtime::ChannelView>> {
    let (token, partner) = (address(&token, "token")?, address(&partner, "partner")?);
    ctx.node
        .ask(Command::Channels)
        .await?
        .into_iter()
        .find(|c| c.token == token && c.partner == partner)
        .map(Json)
        .ok_or_else(|| {
            ApiError(NodeError::NotFound(format!("no channel with {partner} for token {token}")))
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenRequest {
    token: String,
    partner: String,
    settle_timeout: Option<u32>,
    deposit: Option<Amount>,
    #[serde(default)]
    via: DepositVia,
}

async fn open_channel(
    State(ctx): State<Ctx>,
    request: Result<Json<OpenRequest>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let r = body(request)?;
    let (token, partner) = (address(&r.token, "token")?, address(&r.partner, "partner")?);
    let deposit = r.deposit.map(|a| a.0);
    let tx = ctx
        .node
        .ask(|reply| Command::OpenChannel {
            token,
            partner,
            settle_timeout: r.settle_timeout,
            deposit,
            via: r.via,
            reply,
        })
        .await??;
    Ok((StatusCode::CREATED, Json(json!({ "transaction_hash": tx }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchRequest {
    deposit: Option<Amount>,
    via: Option<DepositVia>,
    withdraw: Option<Amount>,
    state: Option<String>,
}

async fn patch_channel(
    State(ctx): State<Ctx>,
    Path((token, partner)): Path<(String, String)>,
    request: Result<Json<PatchRequest>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let (token, partner) = (address(&token, "token")?, address(&partner, "partner")?);
    let r = body(request)?;
    let given = [r.deposit.is_some(), r.withdraw.is_some(), r.state.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given != 1 {
        return Err(bad("give exactly one of `deposit`, `withdraw`, `state`"));
    }
    if r.via.is_some() && r.deposit.is_none() {
        return Err(bad("`via` goes with `deposit`"));
    }
    if let Some(Amount(amount)) = r.deposit {
        let via = r.via.unwrap_or_default();
        let tx =
            ctx.node.ask(|reply| Command::Deposit { token, partner, amount, via, reply }).await??;
        return Ok(Json(json!({ "transaction_hash": tx })));
    }
    let action = match (r.withdraw, r.state.as_deref()) {
        (Some(Amount(amount)), _) if amount > 0 => ChannelAction::Withdraw(amount),
        (Some(_), _) => return Err(bad("withdraw must be positive")),
        (None, Some("closed")) => ChannelAction::Close,
        (None, Some("settled")) => ChannelAction::CooperativeSettle,
        (None, Some(other)) => {
            return Err(bad(format!("state `{other}`: use `closed` or `settled`")))
        }
        (None, None) => return Err(bad("nothing to do")),
    };
    ctx.node.ask(|reply| Command::Channel { token, partner, action, reply }).await??;
    Ok(Json(json!({ "accepted": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    amount: Amount,
    payment_id: Option<u64>,
    secret: Option<B256>,
    secret_hash: Option<B256>,
    fee_limit: Option<Amount>,
    routes: Option<Vec<RouteRequest>>,
}

/// A candidate route: the hops (us first, the target last), alone or with the total fee its
/// mediators charge.
#[derive(Deserialize)]
#[serde(untagged)]
enum RouteRequest {
    Path(Vec<String>),
    WithFee { path: Vec<String>, fee: Amount },
}

async fn pay(
    State(ctx): State<Ctx>,
    Path((token, target)): Path<(String, String)>,
    request: Result<Json<PayRequest>, JsonRejection>,
) -> ApiResult<Json<crate::runtime::PaymentOutcome>> {
    let (token, target) = (address(&token, "token")?, address(&target, "target")?);
    let r = body(request)?;
    if r.amount.0 == 0 {
        return Err(bad("amount must be positive"));
    }
    let secret = r.secret.map(secret).transpose()?;
    let routes = match r.routes {
        None => None,
        Some(routes) => Some(
            routes
                .iter()
                .map(|route| {
                    let (path, fee) = match route {
                        RouteRequest::Path(path) => (path, 0),
                        RouteRequest::WithFee { path, fee } => (path, fee.0),
                    };
                    let path = path
                        .iter()
                        .map(|a| address(a, "route hop"))
                        .collect::<ApiResult<Vec<_>>>()?;
                    Ok(photon_state::Route { path, fee })
                })
                .collect::<ApiResult<Vec<_>>>()?,
        ),
    };
    let payment_id = r.payment_id.unwrap_or_else(new_payment_id);
    let ask = ctx.node.ask(|reply| Command::Pay {
        token,
        target,
        amount: r.amount.0,
        payment_id: Some(payment_id),
        secret,
        secrethash: r.secret_hash,
        fee_limit: r.fee_limit.map_or(TokenAmount::MAX, |a| a.0),
        routes,
        reply,
    });
    let outcome = tokio::time::timeout(ctx.node.payment_timeout, ask)
        .await
        .map_err(|_| ApiError(NodeError::Timeout(payment_id)))???;
    Ok(Json(outcome))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentsQuery {
    token: Option<String>,
    partner: Option<String>,
    direction: Option<Direction>,
    since: Option<u64>,
    until: Option<u64>,
    limit: Option<u32>,
}

async fn payments(
    State(ctx): State<Ctx>,
    query: Result<Query<PaymentsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<photon_storage::PaymentRecord>>> {
    let Query(q) = query.map_err(|e| bad(format!("invalid query: {}", e.body_text())))?;
    let filter = PaymentFilter {
        token: q.token.as_deref().map(|t| address(t, "token")).transpose()?,
        counterparty: q.partner.as_deref().map(|p| address(p, "partner")).transpose()?,
        direction: q.direction,
        since: q.since,
        until: q.until,
        limit: q.limit,
    };
    Ok(Json(ctx.node.ask(|reply| Command::Payments(filter, reply)).await??))
}

async fn pending_transfers(
    State(ctx): State<Ctx>,
) -> ApiResult<Json<Vec<crate::runtime::PendingTransfer>>> {
    Ok(Json(ctx.node.ask(Command::PendingTransfers).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretRequest {
    secret: B256,
}

async fn register_secret(
    State(ctx): State<Ctx>,
    request: Result<Json<SecretRequest>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let secret = secret(body(request)?.secret)?;
    let tx = ctx.node.ask(|reply| Command::RegisterSecret { secret, reply }).await??;
    Ok(Json(json!({ "transaction_hash": tx, "secrethash": secret.hash().0 })))
}

async fn know_secret(
    State(ctx): State<Ctx>,
    request: Result<Json<SecretRequest>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let secret = secret(body(request)?.secret)?;
    ctx.node.ask(|reply| Command::KnowSecret { secret, reply }).await??;
    Ok(Json(json!({ "secrethash": secret.hash().0 })))
}

fn policy_json(p: &photon_state::FeePolicy) -> serde_json::Value {
    json!({ "flat": p.flat.to_string(), "proportional_ppm": p.proportional_ppm })
}

async fn fees(State(ctx): State<Ctx>) -> ApiResult<Json<serde_json::Value>> {
    let schedule = ctx.node.ask(Command::Fees).await?;
    let tokens: serde_json::Map<String, serde_json::Value> =
        schedule.tokens.iter().map(|(t, p)| (format!("{t:?}"), policy_json(p))).collect();
    let channels: serde_json::Map<String, serde_json::Value> =
        schedule.channels.iter().map(|(c, p)| (format!("{c:?}"), policy_json(p))).collect();
    Ok(Json(
        json!({ "default": policy_json(&schedule.default), "tokens": tokens, "channels": channels }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeeRequest {
    token: Option<String>,
    partner: Option<String>,
    flat: Amount,
    proportional_ppm: u32,
}

async fn set_fee(
    State(ctx): State<Ctx>,
    request: Result<Json<FeeRequest>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let r = body(request)?;
    if r.proportional_ppm > 1_000_000 {
        return Err(bad("proportional_ppm is in millionths: at most 1000000"));
    }
    let token = r.token.as_deref().map(|t| address(t, "token")).transpose()?;
    let partner = r.partner.as_deref().map(|p| address(p, "partner")).transpose()?;
    let scope = match (token, partner) {
        (None, None) => photon_state::FeeScope::Default,
        (Some(token), None) => photon_state::FeeScope::Token(token),
        (Some(token), Some(partner)) => {
            let channel = ctx
                .node
                .ask(Command::Channels)
                .await?
                .into_iter()
                .find(|c| c.token == token && c.partner == partner)
                .ok_or_else(|| {
                    ApiError(NodeError::NotFound(format!(
                        "no channel with {partner} for token {token}"
                    )))
                })?;
            photon_state::FeeScope::Channel(channel.channel_id)
        }
        (None, Some(_)) => return Err(bad("a partner needs its token")),
    };
    let policy = photon_state::FeePolicy { flat: r.flat.0, proportional_ppm: r.proportional_ppm };
    ctx.node.ask(|reply| Command::SetFee { scope, policy, reply }).await??;
    Ok(Json(json!({ "accepted": true })))
}

async fn events(
    State(ctx): State<Ctx>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, std::convert::Infallible>>> {
    let stream = tokio_stream::wrappers::BroadcastStream::new(ctx.node.subscribe()).filter_map(
        |e| async move {
            let event: NodeEvent = e.ok()?;
            Some(Ok(SseEvent::default().json_data(&event).unwrap_or_default()))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_every_route_and_nothing_else() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented = Vec::new();
        for (path, item) in paths {
            for method in item.as_object().expect("path item").keys() {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut routes: Vec<(String, String)> =
            ROUTES.iter().map(|(m, p)| ((*m).into(), (*p).into())).collect();
        documented.sort();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
