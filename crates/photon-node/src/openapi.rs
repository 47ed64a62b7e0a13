//! The API's OpenAPI document, generated from the handlers and their types ([`crate::api`])
//! so it cannot drift from them, then completed with what the generator cannot say: the
//! bearer token, links between operations (a payment's id leads to its status), the
//! dependency of a fee's `partner` on its `token`, and the exact range of unsigned integers.
//!
//! The generator writes OpenAPI 3.1; the document is served as OpenAPI 3.0.3 (nullable
//! values as `nullable: true`), which more client generators read and in which an integer is
//! never written `2.0`. `docs/openapi.json` is a copy (a test keeps it equal).

use serde_json::{json, Value};
use std::sync::OnceLock;
use utoipa::OpenApi;

/// Every route of [`crate::api::router`], as (method, path): the document describes each,
/// and nothing else.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/address"),
    ("get", "/api/v1/version"),
    ("get", "/api/v1/status"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/tokens"),
    ("get", "/api/v1/network"),
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
    ("get", "/api/v1/secrets/{secret_hash}"),
    ("get", "/api/v1/fees"),
    ("put", "/api/v1/fees"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/peers/{address}"),
    ("post", "/api/v1/shutdown"),
    ("get", "/api/v1/transactions"),
    ("get", "/api/v1/swaps"),
    ("post", "/api/v1/swaps"),
    ("get", "/api/v1/swaps/{secret_hash}"),
    ("delete", "/api/v1/swaps/{secret_hash}"),
];

/// The OpenAPI document of the API.
pub fn openapi() -> Value {
    let mut doc = serde_json::to_value(crate::api::ApiDoc::openapi())
        .unwrap_or_else(|e| json!({ "error": format!("the OpenAPI document failed: {e}") }));
    to_openapi_30(&mut doc);
    doc["openapi"] = json!("3.0.3");
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    doc["info"]["license"] = json!({ "name": "MIT OR Apache-2.0" });
    // the bearer token (`--api-token`): every operation asks for it; a node run without one
    // takes any request
    doc["components"]["securitySchemes"] =
        json!({ "bearer": { "type": "http", "scheme": "bearer" } });
    doc["security"] = json!([{ "bearer": [] }]);
    // the query's amount is a positive amount
    let amount = doc
        .pointer_mut("/paths/~1api~1v1~1paths~1{token}~1{target}/get/parameters")
        .and_then(Value::as_array_mut)
        .and_then(|ps| ps.iter_mut().find(|p| p["name"] == "amount"));
    if let Some(amount) = amount {
        amount["schema"]["pattern"] = json!(photon_api::schema::positive_amount_pattern());
    }
    // a fee's partner names a channel: it needs the token
    if let Some(set_fee) = doc.pointer_mut("/components/schemas/SetFee") {
        set_fee["anyOf"] =
            json!([{ "not": { "required": ["partner"] } }, { "required": ["token"] }]);
    }
    // a maker's node makes the secret and its lock lives the lock timeout; a taker needs the
    // maker's hash
    if let Some(new_swap) = doc.pointer_mut("/components/schemas/NewSwap") {
        new_swap["oneOf"] = json!([
            {
                "properties": { "role": { "enum": ["maker"] } },
                "not": { "anyOf": [{ "required": ["secret_hash"] }, { "required": ["expiry"] }] }
            },
            { "properties": { "role": { "enum": ["taker"] } }, "required": ["secret_hash"] }
        ]);
    }
    link(
        &mut doc,
        "/api/v1/payments/{token}/{target}",
        "post",
        "202",
        &[
            ("GetPayment", "getPayment", json!({ "payment_id": "$response.body#/payment_id" })),
            (
                "CancelPayment",
                "cancelPayment",
                json!({ "payment_id": "$response.body#/payment_id" }),
            ),
        ],
    );
    link(
        &mut doc,
        "/api/v1/payments/{token}/{target}",
        "post",
        "200",
        &[("GetPayment", "getPayment", json!({ "payment_id": "$response.body#/payment_id" }))],
    );
    let swap = json!({ "secret_hash": "$response.body#/secret_hash" });
    link(
        &mut doc,
        "/api/v1/swaps",
        "post",
        "201",
        &[("GetSwap", "getSwap", swap.clone()), ("CancelSwap", "cancelSwap", swap)],
    );
    let channel = json!({ "token": "$request.body#/token", "partner": "$request.body#/partner" });
    link(
        &mut doc,
        "/api/v1/channels",
        "put",
        "201",
        &[("GetChannel", "getChannel", channel.clone()), ("PatchChannel", "patchChannel", channel)],
    );
    doc
}

/// Rewrites the generator's OpenAPI 3.1 schemas as OpenAPI 3.0.3 ones, and gives unsigned
/// integers their whole range (`format: int64` would cap them at 2^63 - 1).
fn to_openapi_30(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // `type: [T, "null"]` → `type: T, nullable: true`
            if let Some(Value::Array(types)) = map.get("type") {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                if kept.len() == 1 && types.len() == 2 {
                    map.insert("type".into(), kept[0].clone());
                    map.insert("nullable".into(), json!(true));
                }
            }
            // `oneOf: [{type: null}, S]` → `allOf: [S], nullable: true`
            if let Some(Value::Array(items)) = map.get("oneOf") {
                let null = json!({ "type": "null" });
                if items.contains(&null) {
                    let kept: Vec<Value> = items.iter().filter(|i| **i != null).cloned().collect();
                    map.remove("oneOf");
                    let key = if kept.len() == 1 { "allOf" } else { "oneOf" };
                    map.insert(key.into(), Value::Array(kept));
                    map.insert("nullable".into(), json!(true));
                }
            }
            if let Some(Value::Array(examples)) = map.remove("examples") {
                if let Some(first) = examples.into_iter().next() {
                    map.insert("example".into(), first);
                }
            }
            map.remove("propertyNames");
            let unsigned = map.get("type") == Some(&json!("integer"))
                && map.get("minimum").and_then(Value::as_u64).is_some();
            if unsigned && !map.contains_key("maximum") {
                let most = match map.get("format").and_then(Value::as_str) {
                    Some("int32") => u64::from(u32::MAX),
                    _ => u64::MAX,
                };
                map.remove("format");
                map.insert("maximum".into(), json!(most));
            }
            for v in map.values_mut() {
                to_openapi_30(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_openapi_30),
        _ => {}
    }
}

/// Adds links to the `status` answer of `method` `path`.
fn link(doc: &mut Value, path: &str, method: &str, status: &str, links: &[(&str, &str, Value)]) {
    let pointer = format!("/paths/{}/{method}/responses/{status}", path.replace('/', "~1"));
    let Some(response) = doc.pointer_mut(&pointer) else { return };
    for (name, operation, parameters) in links {
        response["links"][*name] = json!({ "operationId": operation, "parameters": parameters });
    }
}

/// [`openapi`] as served: pretty JSON, built once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&openapi()).unwrap_or_default();
        text.push('\n');
        text
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_describes_every_route_and_nothing_else() {
        let doc = openapi();
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

    #[test]
    fn every_link_names_an_operation_of_the_document() {
        let doc = openapi();
        let mut operations = Vec::new();
        for item in doc["paths"].as_object().expect("paths").values() {
            for op in item.as_object().expect("item").values() {
                operations.push(op["operationId"].as_str().expect("an id").to_string());
            }
        }
        let text = doc.to_string();
        let mut links = 0;
        for (i, _) in text.match_indices("\"operationId\":\"") {
            let rest = &text[i + 15..];
            let id = &rest[..rest.find('"').expect("closed")];
            assert!(operations.iter().any(|o| o == id), "{id}");
            links += 1;
        }
        assert!(links > operations.len(), "links are there");
    }

    /// `docs/openapi.json` is the served document: regenerate it with
    /// `PHOTON_WRITE_OPENAPI=1 cargo test -p photon-node openapi`.
    #[test]
    fn docs_openapi_json_is_the_generated_document() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        if std::env::var_os("PHOTON_WRITE_OPENAPI").is_some() {
            std::fs::write(path, document()).expect("written");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == document(),
            "docs/openapi.json differs from the generated document; run \
             PHOTON_WRITE_OPENAPI=1 cargo test -p photon-node openapi and commit it"
        );
    }
}
