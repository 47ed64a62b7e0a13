//! The REST API: JSON over HTTP, under `/api/v1`, documented in `docs/openapi.json` (served at
//! `/api/v1/openapi.json`). Its request and answer types are [`photon_api`]'s (shared with the
//! typed client): amounts are decimal strings (they do not fit JSON numbers); numbers are
//! accepted on input. Errors are `{"error": {"code": "...", "message": "..."}}` with a 4xx or
//! 5xx status; every handler validates its input before the node sees it.

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
use photon_api::{
    Accepted, Amount, FeePolicy, FeeSchedule, Goal, OpenChannel, OurAddress, PatchAnswer,
    PatchChannel, Pay, Payment, PaymentStatus, PaymentsQuery, SecretAnswer, SecretBody, SetFee,
    Transaction,
};
use photon_primitives::{Address, TokenAmount};
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
    ("get", "/api/v1/payments/{payment_id}"),
    ("delete", "/api/v1/payments/{payment_id}"),
    ("get", "/api/v1/paths/{token}/{target}"),
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
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/tokens", get(tokens))
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

async fn address_of(State(ctx): State<Ctx>) -> Json<OurAddress> {
    Json(OurAddress { our_address: ctx.node.address })
}

async fn version() -> Json<serde_json::Value> {
    Json(json!({ "version": env!("CARGO_PKG_VERSION") }))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn status(State(ctx): State<Ctx>) -> ApiResult<Json<crate::runtime::Status>> {
    Ok(Json(ctx.node.status().await?))
}

async fn tokens(State(ctx): State<Ctx>) -> ApiResult<Json<Vec<Address>>> {
    Ok(Json(ctx.node.tokens().await?))
}

async fn channels(State(ctx): State<Ctx>) -> ApiResult<Json<Vec<crate::runtime::ChannelView>>> {
    Ok(Json(ctx.node.channels().await?))
}

async fn channels_of_token(
    State(ctx): State<Ctx>, Path(token): Path<String>,
) -> ApiResult<Json<Vec<crate::runtime::ChannelView>>> {
    let token = address(&token, "token")?;
    Ok(Json(ctx.node.channels().await?.into_iter().filter(|c| c.token == token).collect()))
}

async fn channel(
    State(ctx): State<Ctx>, Path((token, partner)): Path<(String, String)>,
) -> ApiResult<Json<crate::runtime::ChannelView>> {
    let (token, partner) = (address(&token, "token")?, address(&partner, "partner")?);
    Ok(Json(ctx.node.channel(token, partner).await?))
}

async fn open_channel(
    State(ctx): State<Ctx>, request: Result<Json<OpenChannel>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Transaction>)> {
    let tx = ctx.node.open_channel(body(request)?).await?;
    Ok((StatusCode::CREATED, Json(Transaction { transaction_hash: tx })))
}

async fn patch_channel(
    State(ctx): State<Ctx>, Path((token, partner)): Path<(String, String)>,
    request: Result<Json<PatchChannel>, JsonRejection>,
) -> ApiResult<Json<PatchAnswer>> {
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
    if let Some(amount) = r.deposit {
        let tx = ctx.node.deposit(token, partner, amount, r.via.unwrap_or_default()).await?;
        return Ok(Json(PatchAnswer { transaction_hash: Some(tx), accepted: None }));
    }
    let action = match (r.withdraw, r.state) {
        (Some(Amount(amount)), _) => ChannelAction::Withdraw(TokenAmount(amount)),
        (None, Some(Goal::Closed)) => ChannelAction::Close,
        (None, Some(Goal::Settled)) => ChannelAction::CooperativeSettle,
        (None, None) => return Err(bad("nothing to do")),
    };
    ctx.node.channel_action(token, partner, action).await?;
    Ok(Json(PatchAnswer { transaction_hash: None, accepted: Some(true) }))
}

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
    text.parse().map_err(|_| bad(format!("payment id `{text}` is not a whole number below 2^64")))
}

async fn payment(State(ctx): State<Ctx>, Path(id): Path<String>) -> ApiResult<Json<PaymentStatus>> {
    Ok(Json(ctx.node.payment_status(payment_id(&id)?).await?))
}

async fn cancel_payment(
    State(ctx): State<Ctx>, Path(id): Path<String>,
) -> ApiResult<Json<PaymentStatus>> {
    Ok(Json(ctx.node.cancel_payment(payment_id(&id)?).await?))
}

/// `GET /api/v1/paths/{token}/{target}?amount=`.
#[derive(serde::Deserialize)]
struct PathsQuery {
    amount: Option<String>,
}

async fn paths(
    State(ctx): State<Ctx>, Path((token, target)): Path<(String, String)>,
    query: Result<axum::extract::Query<PathsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<photon_api::RouteView>>> {
    let (token, target) = (address(&token, "token")?, address(&target, "target")?);
    let axum::extract::Query(q) = query.map_err(|e| bad(e.body_text()))?;
    let text = q.amount.ok_or_else(|| bad("`amount` is required"))?;
    let amount: Amount = text.parse().map_err(|e: String| bad(e))?;
    if amount.0 == 0 {
        return Err(bad("amount must be positive"));
    }
    if target == ctx.node.address {
        return Err(bad("cannot pay ourselves"));
    }
    let amount = TokenAmount(amount.0);
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

async fn payments(
    State(ctx): State<Ctx>,
    query: Result<Query<PaymentsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<Payment>>> {
    let Query(q) = query.map_err(|e| bad(format!("invalid query: {}", e.body_text())))?;
    Ok(Json(ctx.node.payments(q).await?))
}

async fn pending_transfers(
    State(ctx): State<Ctx>,
) -> ApiResult<Json<Vec<crate::runtime::PendingTransfer>>> {
    Ok(Json(ctx.node.pending_transfers().await?))
}

async fn register_secret(
    State(ctx): State<Ctx>, request: Result<Json<SecretBody>, JsonRejection>,
) -> ApiResult<Json<SecretAnswer>> {
    let secret = crate::calls::secret(body(request)?.secret)?;
    let tx = ctx.node.register_secret(secret).await?;
    Ok(Json(SecretAnswer { transaction_hash: Some(tx), secrethash: secret.hash().0 }))
}

async fn know_secret(
    State(ctx): State<Ctx>, request: Result<Json<SecretBody>, JsonRejection>,
) -> ApiResult<Json<SecretAnswer>> {
    let secret = crate::calls::secret(body(request)?.secret)?;
    ctx.node.know_secret(secret).await?;
    Ok(Json(SecretAnswer { transaction_hash: None, secrethash: secret.hash().0 }))
}

fn policy_view(p: &photon_state::FeePolicy) -> FeePolicy {
    FeePolicy {
        flat: Amount(p.flat.0),
        proportional_ppm: p.proportional_ppm,
        imbalance_ppm: p.imbalance_ppm,
    }
}

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
