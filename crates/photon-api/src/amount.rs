//! Token amounts on the API.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A token amount in the token's smallest unit: a decimal string on the API (e.g. `"30"`) of
/// at most [`Amount::MAX_DIGITS`] digits and no leading zero; a JSON number is accepted on
/// input up to 2^64 - 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u128);

impl std::fmt::Display for Amount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Amount {
    /// Most digits of an amount on the API: 10^38 - 1 smallest units (10^20 tokens of 18
    /// decimals) is the largest amount it carries.
    pub const MAX_DIGITS: usize = 38;
}

impl std::str::FromStr for Amount {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let canonical = s == "0" || !s.starts_with('0');
        if !digits || !canonical || s.len() > Self::MAX_DIGITS {
            return Err(format!(
                "`{s}` is not a token amount (a whole number in smallest units: digits only, \
                 no leading zero, at most {} digits)",
                Self::MAX_DIGITS
            ));
        }
        s.parse().map(Self).map_err(|_| format!("`{s}` is not a token amount"))
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
        let big = Amount(10u128.pow(38) - 1);
        let json = serde_json::to_string(&big).unwrap();
        assert_eq!(json, format!("\"{}\"", 10u128.pow(38) - 1));
        assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), big);
        assert_eq!(serde_json::from_str::<Amount>("30").unwrap(), Amount(30));
        let too_long = format!("\"1{}\"", "0".repeat(Amount::MAX_DIGITS));
        assert_eq!(
            serde_json::from_str::<Amount>(&format!("\"{}\"", "9".repeat(Amount::MAX_DIGITS)))
                .unwrap(),
            Amount(10u128.pow(38) - 1)
        );
        for bad in
            ["\"-1\"", "\"1.5\"", "\"\"", "-1", "1.5", "null", "\"0x10\"", "\"007\"", "\" 5\""]
                .into_iter()
                .chain([too_long.as_str()])
        {
            assert!(serde_json::from_str::<Amount>(bad).is_err(), "{bad}");
        }
    }
}
