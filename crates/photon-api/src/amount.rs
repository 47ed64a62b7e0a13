//! Token amounts on the API.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A token amount in the token's smallest unit: a decimal string on the API (e.g. `"30"`),
/// digits only, no leading zero, at most 2^128 - 1 (what the contract holds); a JSON number is
/// accepted on input up to 2^64 - 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u128);

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Amount {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let canonical = s == "0" || !s.starts_with('0');
        let parsed = if digits && canonical { s.parse().ok() } else { None };
        parsed.map(Self).ok_or_else(|| {
            format!(
                "`{s}` is not a token amount (a whole number in smallest units: digits only, \
                 no leading zero, at most {})",
                u128::MAX
            )
        })
    }
}

impl From<u128> for Amount {
    fn from(v: u128) -> Self {
        Self(v)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Self(u128::from(n))),
            Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimal_strings_and_numbers_are_taken() {
        let big = Amount(u128::MAX);
        let json = serde_json::to_string(&big).unwrap();
        assert_eq!(json, format!("\"{}\"", u128::MAX));
        assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), big);
        assert_eq!(serde_json::from_str::<Amount>("30").unwrap(), Amount(30));
        let too_long = "\"340282366920938463463374607431768211456\"".to_string(); // 2^128
        for bad in
            ["\"-1\"", "\"1.5\"", "\"\"", "-1", "1.5", "null", "\"0x10\"", "\"007\"", "\" 5\""]
                .into_iter()
                .chain([too_long.as_str()])
        {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad}");
        }
    }
}
