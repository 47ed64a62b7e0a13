//! How the API's values look in its OpenAPI document: the JSON Schema of the types the API
//! borrows from elsewhere (addresses, 32-byte hashes), whose patterns say exactly what the
//! server's parsers take.

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;

/// The pattern of an address: 20 bytes in hex, `0x` first (or `0X`, or nothing).
pub const ADDRESS_PATTERN: &str = "^(0[xX])?[0-9a-fA-F]{40}$";

/// The pattern of a 32-byte value (hash, secret, channel id), as [`ADDRESS_PATTERN`].
pub const HASH32_PATTERN: &str = "^(0[xX])?[0-9a-fA-F]{64}$";

/// The pattern of decimal strings from `least` (0 or 1) to `most`, digits only, no leading
/// zero: exactly what [`crate::Amount`] reads when `most` is `u128::MAX`.
pub fn decimal_pattern(least: u8, most: u128) -> String {
    let top = most.to_string();
    let width = top.len();
    let mut ways: Vec<String> = Vec::new();
    if least == 0 {
        ways.push("0".into());
    }
    // fewer digits than `most`
    if width > 1 {
        ways.push(format!("[1-9][0-9]{{0,{}}}", width - 2));
    }
    // as many digits: a prefix of `most`, then a smaller digit, then any
    let digits: Vec<u8> = top.bytes().map(|b| b - b'0').collect();
    for (i, d) in digits.iter().enumerate() {
        let low = u8::from(i == 0);
        if *d > low {
            let rest = width - i - 1;
            let tail = if rest > 0 { format!("[0-9]{{{rest}}}") } else { String::new() };
            ways.push(format!("{}[{low}-{}]{tail}", &top[..i], d - 1));
        }
    }
    ways.push(top);
    format!("^({})$", ways.join("|"))
}

/// The pattern of an amount as a decimal string ([`crate::Amount`]): 0 to 2^128 - 1.
pub fn amount_pattern() -> String {
    decimal_pattern(0, u128::MAX)
}

/// The pattern of an amount that must not be zero (a payment, a deposit, a withdrawal).
pub fn positive_amount_pattern() -> String {
    decimal_pattern(1, u128::MAX)
}

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
            &positive_amount_pattern(),
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
            &amount_pattern(),
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
    fn decimal_patterns_take_exactly_the_numbers_up_to_their_bound() {
        assert_eq!(
            decimal_pattern(0, 255),
            "^(0|[1-9][0-9]{0,1}|[1-1][0-9]{2}|2[0-4][0-9]{1}|25[0-4]|255)$"
        );
        assert_eq!(decimal_pattern(1, 9), "^([1-8]|9)$");
        assert_eq!(decimal_pattern(1, 10), "^([1-9][0-9]{0,0}|10)$");
        let p = amount_pattern();
        assert!(
            p.ends_with(&format!("|{})$", u128::MAX)) && p.starts_with("^(0|[1-9][0-9]{0,37}|")
        );
    }

    #[test]
    fn the_patterns_are_the_derived_schemas_own() {
        let json = |s: RefOr<Schema>| serde_json::to_string(&s).unwrap();
        use utoipa::PartialSchema;
        assert!(json(Address::schema()).contains(&ADDRESS_PATTERN.replace('\\', "\\\\")));
        assert!(json(Hash32::schema()).contains(HASH32_PATTERN));
    }
}
