//! A token's optional ERC20 metadata: its `symbol` and `decimals`, for showing amounts in the
//! token's display unit. Tokens without them (both are optional in ERC20) are shown in
//! their smallest unit.

use alloy::primitives::Address;
use alloy::providers::Provider;

alloy::sol!(
    #[sol(rpc)]
    /// The optional metadata functions of ERC20.
    interface IERC20Metadata {
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
    }
);

/// What a token says of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenMetadata {
    /// Its ticker (e.g. `USDT`), if it has one.
    pub symbol: Option<String>,
    /// Digits of its smallest unit in its display unit (e.g. 6), if it says.
    pub decimals: Option<u8>,
}

/// Reads `token`'s metadata. A function the token lacks (a revert, no code, an answer that is
/// not what ERC20 says) leaves its field empty; only an unreachable RPC endpoint is an error
/// (the answer is not known, and must not be remembered as "none").
pub async fn token_metadata<P: Provider>(
    provider: &P, token: Address,
) -> crate::Result<TokenMetadata> {
    let contract = IERC20Metadata::new(token, provider);
    let symbol = match contract.symbol().call().await {
        Ok(symbol) => Some(symbol).filter(|s| is_ticker(s)),
        Err(alloy::contract::Error::TransportError(e)) if !e.is_error_resp() => {
            return Err(e.into())
        }
        Err(_) => None,
    };
    let decimals = match contract.decimals().call().await {
        // more than 38 digits would not fit an amount on the API
        Ok(decimals) => Some(decimals).filter(|d| *d <= 38),
        Err(alloy::contract::Error::TransportError(e)) if !e.is_error_resp() => {
            return Err(e.into())
        }
        Err(_) => None,
    };
    Ok(TokenMetadata { symbol, decimals })
}

/// A symbol worth showing: short, printable, no spaces.
fn is_ticker(s: &str) -> bool {
    !s.is_empty() && s.len() <= 16 && s.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_symbols_are_not_shown() {
        assert!(is_ticker("USDT") && is_ticker("W-ETH.e"));
        for odd in ["", "A B", "\u{202e}TDSU", "VERYLONGSYMBOLNAME1", "x\n"] {
            assert!(!is_ticker(odd), "{odd:?}");
        }
    }
}
