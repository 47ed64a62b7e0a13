//! Amounts in a token's display unit: what a person reads and types (`12.5` of a token with 6
//! decimals is 12,500,000 smallest units). The API itself carries smallest units only.

/// `raw` smallest units in the display unit of a token with `decimals` (`None`: the token
/// does not say; the smallest unit is shown): no trailing zeros, no exponent.
///
/// ```
/// use photon_api::units::format_amount;
/// assert_eq!(format_amount(12_500_000, Some(6)), "12.5");
/// assert_eq!(format_amount(5, Some(18)), "0.000000000000000005");
/// assert_eq!(format_amount(7, None), "7");
/// ```
pub fn format_amount(raw: u128, decimals: Option<u8>) -> String {
    let Some(decimals) = decimals.filter(|d| *d > 0) else { return raw.to_string() };
    let digits = format!("{raw:0>width$}", width = usize::from(decimals) + 1);
    let (whole, fraction) = digits.split_at(digits.len() - usize::from(decimals));
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{fraction}")
    }
}

/// `text` in the display unit of a token with `decimals`, as smallest units: `12.5`, `0.001`
/// or `7`. A token that does not say its decimals takes whole smallest units only.
///
/// ```
/// use photon_api::units::parse_amount;
/// assert_eq!(parse_amount("12.5", Some(6)), Ok(12_500_000));
/// assert!(parse_amount("0.0000001", Some(6)).is_err()); // finer than the smallest unit
/// assert!(parse_amount("1.5", None).is_err());
/// ```
pub fn parse_amount(text: &str, decimals: Option<u8>) -> Result<u128, String> {
    let bad = |why: &str| format!("`{text}` is not an amount: {why}");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return Err(bad("digits with at most one decimal point"));
    }
    let places = usize::from(decimals.unwrap_or(0));
    if fraction.len() > places {
        return Err(bad(&match decimals {
            Some(d) => format!("the token has {d} decimals"),
            None => "the token does not say its decimals; give smallest units".into(),
        }));
    }
    let padded = format!("{whole}{fraction:0<places$}");
    let raw: u128 = padded.parse().map_err(|_| bad("too large"))?;
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_parsing_agree() {
        for (raw, decimals) in
            [(0, Some(6)), (1, Some(6)), (1_000_000, Some(6)), (u128::MAX, Some(18)), (9, None)]
        {
            let text = format_amount(raw, decimals);
            assert_eq!(parse_amount(&text, decimals), Ok(raw), "{text}");
        }
        assert_eq!(format_amount(1_000_000, Some(6)), "1");
        assert_eq!(format_amount(1_230_000, Some(6)), "1.23");
        assert_eq!(parse_amount(".5", Some(1)), Ok(5));
        assert_eq!(parse_amount("5.", Some(1)), Ok(50));
        for bad in ["", ".", "1.2.3", "-1", "1e3", " 1", "0x10", "1,5"] {
            assert!(parse_amount(bad, Some(6)).is_err(), "{bad}");
        }
        assert!(parse_amount("340282366920938463463374607431768211456", None).is_err());
    }
}
