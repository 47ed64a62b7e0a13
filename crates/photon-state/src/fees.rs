//! Mediation fees: what a mediator keeps of a lock it forwards, and the inverse a router
//! needs (how much a mediator must receive to forward a given amount).
//!
//! A mediator receiving a lock of `x` forwards `x − fee(x)` over the channel the path
//! names next, where
//!
//! ```text
//! fee(x)  = flat + ⌊x · rate / 1,000,000⌋
//! rate    = proportional_ppm                                   (no imbalance component)
//!         = proportional_ppm − imbalance_ppm · (2·ours − total) / total   when ours > total/2
//!         = proportional_ppm + imbalance_ppm · (total − 2·ours) / total   otherwise
//! ```
//!
//! `ours` is what the mediator can send over the outgoing channel before the payment and
//! `total` the two deposits: a payment that moves tokens from the fuller side to the
//! emptier one (it rebalances the channel) gets the proportional part cheaper, down to
//! zero; one that drains an already thin side pays more. The rate is fixed by the channel's
//! state before the payment, so `x − fee(x)` never decreases and grows by at most one per
//! unit of `x`: for every amount a next hop should receive there is an exact `x` that
//! delivers it ([`FeePolicy::receive_for`]), and a route's fees can be computed to the unit.

use photon_primitives::{Address, ChannelId, TokenAmount, U256};
use std::collections::BTreeMap;

/// Parts per million.
pub const PPM: u32 = 1_000_000;

/// A mediator's fee for forwarding over one channel (see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FeePolicy {
    /// Fixed part, in token units.
    pub flat: TokenAmount,
    /// Proportional part, in millionths.
    pub proportional_ppm: u32,
    /// Imbalance component, in millionths at full imbalance: the proportional rate moves by
    /// up to this much, down when the payment rebalances the channel, up when it does not.
    #[serde(default)]
    pub imbalance_ppm: u32,
}

/// `a · b / c` rounded down (`c > 0`), without overflow; saturates at `u128::MAX`.
fn mul_div(a: u128, b: u128, c: u128) -> u128 {
    if let Some(ab) = a.checked_mul(b) {
        return ab / c;
    }
    let q = U256::from(a) * U256::from(b) / U256::from(c);
    u128::try_from(q).unwrap_or(u128::MAX)
}

/// `⌊x · rate / 10⁶⌋` without overflow (`rate < 2³²`).
fn proportional(x: u128, rate: u32) -> u128 {
    let (ppm, rate) = (u128::from(PPM), u128::from(rate));
    x / ppm * rate + x % ppm * rate / ppm
}

impl FeePolicy {
    /// No fee.
    pub const FREE: Self = Self { flat: TokenAmount::ZERO, proportional_ppm: 0, imbalance_ppm: 0 };

    /// Whether a node may set this policy: rates of at most 100 %.
    pub fn is_valid(&self) -> bool {
        self.proportional_ppm <= PPM && self.imbalance_ppm <= PPM
    }

    /// The proportional rate (millionths) over a channel where we can send `ours` of the
    /// `total` deposits, before the payment.
    pub fn rate(&self, ours: TokenAmount, total: TokenAmount) -> u32 {
        let (ours, total) = (ours.0.min(total.0), total.0);
        if self.imbalance_ppm == 0 || total == 0 {
            return self.proportional_ppm;
        }
        let imbalance = u128::from(self.imbalance_ppm);
        if ours > total - ours {
            // rebalances (2·ours − total, without overflow)
            let excess = ours - (total - ours);
            let discount = mul_div(imbalance, excess, total) as u32;
            self.proportional_ppm.saturating_sub(discount)
        } else {
            let shortfall = (total - ours) - ours;
            let surcharge = mul_div(imbalance, shortfall, total) as u32;
            self.proportional_ppm.saturating_add(surcharge)
        }
    }

    /// The fee for forwarding a lock of `amount` (no imbalance component).
    pub fn fee(&self, amount: TokenAmount) -> TokenAmount {
        self.fee_at_rate(amount, self.proportional_ppm)
    }

    /// The fee for forwarding a lock of `amount` over a channel where we can send `ours` of
    /// the `total` deposits.
    pub fn fee_at(
        &self, amount: TokenAmount, ours: TokenAmount, total: TokenAmount,
    ) -> TokenAmount {
        self.fee_at_rate(amount, self.rate(ours, total))
    }

    /// The fee for forwarding a lock of `amount` at a given proportional `rate`
    /// ([`FeePolicy::rate`]).
    pub fn fee_at_rate(&self, amount: TokenAmount, rate: u32) -> TokenAmount {
        self.flat.saturating_add(TokenAmount(proportional(amount.0, rate)))
    }

    /// The smallest lock a mediator must receive to forward exactly `out` over a channel
    /// where it can send `ours` of the `total` deposits (`None`: no lock can, the rate is
    /// 100 % or more, or the amount overflows).
    pub fn receive_for(
        &self, out: TokenAmount, ours: TokenAmount, total: TokenAmount,
    ) -> Option<TokenAmount> {
        receive_at_rate(self.flat, self.rate(ours, total), out)
    }
}

/// The smallest lock a mediator charging `flat` plus `rate` millionths must receive to
/// forward exactly `out` (`None`: no lock can, the rate is 100 % or more, or the amount
/// overflows). [`FeePolicy::receive_for`] with the rate already known (routers keep it).
pub fn receive_at_rate(flat: TokenAmount, rate: u32, out: TokenAmount) -> Option<TokenAmount> {
    // g(x) = x − ⌊x·rate/10⁶⌋ must reach n = out + flat; g never decreases and grows
    // by 0 or 1 per unit, so its smallest such x gives exactly n
    let n = out.0.checked_add(flat.0)?;
    if rate == 0 {
        return Some(TokenAmount(n));
    }
    if rate >= PPM {
        return None;
    }
    if n < 1 << 40 {
        // the same in 64 bits (no 128-bit division): x ≤ n·10⁶ < 2⁶⁰
        let (n, rate, ppm) = (n as u64, u64::from(rate), u64::from(PPM));
        let keep = ppm - rate;
        let g = |x: u64| x - (x / ppm * rate + x % ppm * rate / ppm);
        let lo = if n == 0 { 0 } else { (n - 1) * ppm / keep + 1 };
        let mut hi = n * ppm / keep;
        if g(hi) < n {
            hi += 1;
        }
        let x = smallest(u128::from(lo), u128::from(hi), |x| g(x as u64) >= n);
        return Some(TokenAmount(x));
    }
    let (ppm, keep) = (u128::from(PPM), u128::from(PPM - rate));
    let g = |x: u128| x - proportional(x, rate);
    // every x ≤ ⌊(n−1)·10⁶/keep⌋ has g(x) < n; x = ⌈n·10⁶/keep⌉ has g(x) ≥ n
    let lo = if n == 0 { 0 } else { mul_div(n - 1, ppm, keep).checked_add(1)? };
    let mut hi = mul_div(n, ppm, keep);
    if g(hi) < n {
        hi = hi.checked_add(1)?;
    }
    if hi == u128::MAX && g(hi) < n {
        return None;
    }
    Some(TokenAmount(smallest(lo, hi, |x| g(x) >= n)))
}

/// The smallest `x` in `[lo, hi]` for which `reaches(x)` holds, `reaches` never turning
/// false again once true and holding at `hi` (binary search; `hi` if `lo > hi`).
fn smallest(lo: u128, mut hi: u128, reaches: impl Fn(u128) -> bool) -> u128 {
    let mut lo = lo.min(hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    hi
}

/// Which payments a fee policy applies to.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum FeeScope {
    /// Every channel without a more specific policy.
    Default,
    /// Channels of one token.
    Token(Address),
    /// One channel (the one a payment leaves us by).
    Channel(ChannelId),
}

/// The fees this node charges as a mediator: the most specific policy wins (channel, then
/// token, then default), judged on the channel the payment leaves by.
#[derive(Clone, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct FeeSchedule {
    /// Fallback.
    pub default: FeePolicy,
    /// Per token.
    pub tokens: BTreeMap<Address, FeePolicy>,
    /// Per channel.
    pub channels: BTreeMap<ChannelId, FeePolicy>,
}

impl FeeSchedule {
    /// The policy for forwarding over `channel` of `token`.
    pub fn policy(&self, token: Address, channel: ChannelId) -> FeePolicy {
        self.channels
            .get(&channel)
            .or_else(|| self.tokens.get(&token))
            .copied()
            .unwrap_or(self.default)
    }

    /// Sets the policy of a scope.
    pub fn set(&mut self, scope: FeeScope, policy: FeePolicy) {
        match scope {
            FeeScope::Default => self.default = policy,
            FeeScope::Token(t) => {
                self.tokens.insert(t, policy);
            }
            FeeScope::Channel(c) => {
                self.channels.insert(c, policy);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(flat: u128, ppm: u32, imbalance: u32) -> FeePolicy {
        FeePolicy { flat: TokenAmount(flat), proportional_ppm: ppm, imbalance_ppm: imbalance }
    }

    #[test]
    fn imbalance_makes_rebalancing_cheaper_and_draining_dearer() {
        let p = policy(0, 1_000, 2_000);
        let total = TokenAmount(1_000);
        assert_eq!(p.rate(TokenAmount(500), total), 1_000, "balanced: the proportional rate");
        assert_eq!(p.rate(TokenAmount(1_000), total), 0, "all ours: forwarding rebalances");
        assert_eq!(p.rate(TokenAmount(750), total), 0);
        assert_eq!(p.rate(TokenAmount(600), total), 600);
        assert_eq!(p.rate(TokenAmount(0), total), 3_000, "nothing ours: draining");
        assert_eq!(p.rate(TokenAmount(250), total), 2_000);
        assert_eq!(p.rate(TokenAmount(5_000), total), 0, "more than the deposits: as all");
        assert_eq!(p.rate(TokenAmount(1), TokenAmount::ZERO), 1_000, "no deposits");
        assert_eq!(p.fee_at(TokenAmount(1_000_000), TokenAmount(0), total), TokenAmount(3_000));
        assert_eq!(p.rate(TokenAmount(u128::MAX), TokenAmount(u128::MAX)), 0);
        assert_eq!(p.rate(TokenAmount(0), TokenAmount(u128::MAX)), 3_000);
    }

    #[test]
    fn receive_for_edge_cases() {
        let z = TokenAmount::ZERO;
        assert_eq!(policy(5, 0, 0).receive_for(TokenAmount(100), z, z), Some(TokenAmount(105)));
        assert_eq!(policy(0, PPM, 0).receive_for(TokenAmount(1), z, z), None, "100 %");
        assert_eq!(policy(1, 0, 0).receive_for(TokenAmount(u128::MAX), z, z), None, "overflow");
        assert_eq!(
            policy(0, 10_000, 0).receive_for(TokenAmount(198), z, z),
            Some(TokenAmount(199)),
            "1 %: 199 keeps 1 (1.99 rounded down) and forwards 198"
        );
        assert_eq!(
            policy(0, 10_000, 0).receive_for(TokenAmount(99), z, z),
            Some(TokenAmount(99)),
            "the proportional part rounds down: 99 keeps nothing"
        );
        let huge = policy(0, 999_999, 0).receive_for(TokenAmount(u128::MAX / 2), z, z);
        assert_eq!(huge, None, "needs more than a u128");
    }

    proptest! {
        /// The inverse is exact and the smallest: forwarding `receive_for(out)` gives `out`,
        /// one unit less gives less.
        #[test]
        fn receive_for_is_the_exact_smallest_inverse(
            out in prop_oneof![1u128..1 << 20, 1u128..1 << 40, 1u128..1 << 100],
            flat in prop_oneof![0u128..1_000, 0u128..1u128 << 40], ppm in 0u32..=PPM,
            imbalance in 0u32..=PPM, ours in 0u128..1u128 << 100, total in 0u128..1u128 << 100,
        ) {
            let p = policy(flat, ppm, imbalance);
            let (out, ours, total) = (TokenAmount(out), TokenAmount(ours), TokenAmount(total));
            match p.receive_for(out, ours, total) {
                Some(x) => {
                    prop_assert_eq!(x.0 - p.fee_at(x, ours, total).0, out.0);
                    let less = TokenAmount(x.0 - 1);
                    prop_assert!(less.0.saturating_sub(p.fee_at(less, ours, total).0) < out.0);
                }
                None => prop_assert!(p.rate(ours, total) >= PPM),
            }
        }

        /// What is forwarded never decreases with what is received.
        #[test]
        fn forwarding_is_monotone(
            x in 0u128..1u128 << 100, flat in 0u128..1_000, ppm in 0u32..PPM, imbalance in 0u32..=PPM,
            ours in 0u128..1u128 << 60, total in 0u128..1u128 << 60,
        ) {
            let p = policy(flat, ppm, imbalance);
            let (ours, total) = (TokenAmount(ours), TokenAmount(total));
            let out = |x: u128| x.saturating_sub(p.fee_at(TokenAmount(x), ours, total).0);
            prop_assert!(out(x + 1) >= out(x) && out(x + 1) <= out(x) + 1);
        }
    }
}
