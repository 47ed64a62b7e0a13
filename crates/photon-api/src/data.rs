//! The bytes a payer sends with a payment, on the API.

use photon_primitives::messages::MAX_DATA_LEN;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a payer tells the payee with a payment (an invoice number, a memo): at most
/// [`MAX_DATA_LEN`] bytes, written on the API as `0x` and two lowercase or uppercase hex digits
/// a byte (`"0x"` is no data). It travels signed with the payment, and every mediator on the
/// way can read it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PaymentData(pub Vec<u8>);

/// The pattern of [`PaymentData`].
pub const PAYMENT_DATA_PATTERN: &str = "^0x([0-9a-fA-F]{2}){0,256}$";
const _: () = assert!(MAX_DATA_LEN == 256, "keep PAYMENT_DATA_PATTERN's bound in step");

impl PaymentData {
    /// Whether there is no data.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for PaymentData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("0x")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::str::FromStr for PaymentData {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "`{s}` is not payment data (`0x` then two hex digits a byte, at most \
                 {MAX_DATA_LEN} bytes)"
            )
        };
        let hex = s.strip_prefix("0x").ok_or_else(bad)?;
        if hex.len() % 2 != 0 || hex.len() / 2 > MAX_DATA_LEN {
            return Err(bad());
        }
        let digit = |c: u8| (c as char).to_digit(16).ok_or_else(bad);
        let bytes = hex
            .as_bytes()
            .chunks_exact(2)
            .map(|pair| Ok(u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).unwrap_or(0)))
            .collect::<Result<Vec<u8>, String>>()?;
        Ok(Self(bytes))
    }
}

impl Serialize for PaymentData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PaymentData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for PaymentData {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(PAYMENT_DATA_PATTERN))
            .max_length(Some(2 + 2 * MAX_DATA_LEN))
            .description(Some(
                "Bytes the payer sends with the payment (at most 256), as `0x` and two hex \
                 digits a byte; signed with the payment and readable by every mediator.",
            ))
            .examples(["0x696e766f6963652d3432"])
            .into()
    }
}

impl utoipa::ToSchema for PaymentData {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("PaymentData")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_reads_and_writes_as_hex_within_its_bound() {
        let d: PaymentData = serde_json::from_str("\"0x696E766f696365\"").unwrap();
        assert_eq!(d.0, b"invoice");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"0x696e766f696365\"");
        assert_eq!("0x".parse::<PaymentData>(), Ok(PaymentData::default()));
        let most = format!("0x{}", "ab".repeat(MAX_DATA_LEN));
        assert_eq!(most.parse::<PaymentData>().unwrap().0.len(), MAX_DATA_LEN);
        for bad in ["", "69", "0x6", "0xzz", "0X69", " 0x69", "0x+1", "0x69 ", "0xé1"] {
            assert!(bad.parse::<PaymentData>().is_err(), "{bad:?}");
        }
        assert!(format!("0x{}", "ab".repeat(MAX_DATA_LEN + 1)).parse::<PaymentData>().is_err());
        assert!(serde_json::from_str::<PaymentData>("[1, 2]").is_err());
    }
}
