//! How the API's values look in its OpenAPI document: the JSON Schema of the types the API
//! borrows from elsewhere (addresses, 32-byte hashes), whose patterns say exactly what the
//! server's parsers take.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// The pattern of an address: 20 bytes in hex, `0x` first (or `0X`, or nothing).
pub const ADDRESS_PATTERN: &str = "^(0[xX])?[0-9a-fA-F]{40}$";

/// The pattern of a 32-byte value (hash, secret, channel id), as [`ADDRESS_PATTERN`].
pub const HASH32_PATTERN: &str = "^(0[xX])?[0-9a-fA-F]{64}$";

/// The pattern of an amount as a decimal string: a whole number of at most 38 digits, no
/// leading zero ([`crate::Amount::MAX_DIGITS`]).
pub const AMOUNT_PATTERN: &str = "^(0|[1-9][0-9]{0,37})$";

/// The pattern of an amount that must not be zero (a payment, a deposit, a withdrawal).
pub const POSITIVE_AMOUNT_PATTERN: &str = "^[1-9][0-9]{0,37}$";

/// An amount as a string or a number, at least `least`.
fn amount_schema(pattern: &str, least: u64, what: &str) -> RefOr<Schema> {
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .examples(["1000000000000000000"]);
    let number = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(least))
        .maximum(Some(u64::MAX));
    OneOfBuilder::new().item(text).item(number).description(Some(what)).into()
}

/// An amount that must not be zero (schema only: the value is an [`crate::Amount`]).
#[allow(dead_code)] // a schema, never a value
pub struct PositiveAmount(crate::Amount);

impl utoipa::PartialSchema for PositiveAmount {
    fn schema() -> RefOr<Schema> {
        amount_schema(
            POSITIVE_AMOUNT_PATTERN,
            1,
            "A token amount of at least 1 in the token's smallest unit: a decimal string (a \
             JSON number up to 2^64 - 1 is taken too).",
        )
    }
}

impl utoipa::ToSchema for PositiveAmount {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("PositiveAmount")
    }
}

/// An Ethereum address (schema only: the API's values are `photon_primitives::Address`).
#[derive(utoipa::ToSchema)]
#[schema(
    value_type = String,
    pattern = "^(0[xX])?[0-9a-fA-F]{40}$",
    examples("0x5FbDB2315678afecb367f032d93F642f64180aa3")
)]
#[allow(dead_code)] // a schema, never a value
pub struct Address(String);

/// 32 bytes in hex: a hash, a secret or a channel id (schema only).
#[derive(utoipa::ToSchema)]
#[schema(
    value_type = String,
    pattern = "^(0[xX])?[0-9a-fA-F]{64}$",
    examples("0x5fe7f977e71dba2ea1a68e21057beebb9be2ac30c6410aa38d4f3fbe41dcffd2")
)]
#[allow(dead_code)] // a schema, never a value
pub struct Hash32(String);

impl utoipa::PartialSchema for crate::Amount {
    fn schema() -> RefOr<Schema> {
        amount_schema(
            AMOUNT_PATTERN,
            0,
            "A token amount in the token's smallest unit: a decimal string (answers are \
             always strings; a JSON number up to 2^64 - 1 is taken on input).",
        )
    }
}

impl utoipa::ToSchema for crate::Amount {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Amount")
    }
}

/// A route's hops: us first, the target last, 2 to 32 of them.
fn hops() -> utoipa::openapi::schema::ArrayBuilder {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Address")))
        .min_items(Some(2))
        .max_items(Some(photon_primitives::messages::MAX_PATH_LEN))
}

impl utoipa::PartialSchema for crate::RouteSpec {
    fn schema() -> RefOr<Schema> {
        let with_fee = ObjectBuilder::new()
            .property("path", hops())
            .property("fee", RefOr::Ref(utoipa::openapi::Ref::from_schema_name("Amount")))
            .required("path")
            .required("fee");
        OneOfBuilder::new()
            .item(hops())
            .item(with_fee)
            .description(Some(
                "A route: its hops alone (no fee), or its hops and the total fee its mediators \
                 charge.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for crate::RouteSpec {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("RouteSpec")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        use utoipa::PartialSchema;
        schemas.push(("Address".into(), Address::schema()));
        schemas.push(("Amount".into(), crate::Amount::schema()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_patterns_are_the_derived_schemas_own() {
        let json = |s: RefOr<Schema>| serde_json::to_string(&s).unwrap();
        use utoipa::PartialSchema;
        assert!(json(Address::schema()).contains(&ADDRESS_PATTERN.replace('\\', "\\\\")));
        assert!(json(Hash32::schema()).contains(HASH32_PATTERN));
    }
}
