//! What each side of a channel owns within one epoch, and what settlement pays.
//!
//! A channel epoch starts from two deposits. Each side's balance proofs carry the total it
//! has *transferred* to the other. A side's balance is its deposit plus what it received
//! minus what it sent (and minus what it has locked, for what it may still send). A
//! withdrawal starts a new epoch whose deposits are the balances after it, with transfers
//! back at zero. [`ChannelBalances::settlement`] mirrors `TokensNetwork.settleChannel`
//! exactly, clamping included, so the node and the contract never disagree on a payout.

use photon_primitives::TokenAmount;

/// One of the two participants of a channel, by address order: `One` is the lower address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub enum Side {
    /// The lower address (the contract's participant1).
    One,
    /// The higher address (the contract's participant2).
    Two,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Self {
        match self {
            Self::One => Self::Two,
            Self::Two => Self::One,
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::One => 0,
            Self::Two => 1,
        }
    }
}

/// Why a balance change is refused. Refusals change nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BalanceError {
    /// The side does not have that much available.
    #[error("insufficient balance: {available} available, {requested} requested")]
    Insufficient {
        /// what the side could spend
        available: TokenAmount,
        /// what was asked for
        requested: TokenAmount,
    },
    /// The channel's total would not fit in 128 bits.
    #[error("channel total would overflow 128 bits")]
    Overflow,
    /// Zero amounts are not changes.
    #[error("amount must be positive")]
    ZeroAmount,
}

/// The balances of one channel epoch.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ChannelBalances {
    deposits: [TokenAmount; 2],
    transferred: [TokenAmount; 2],
}

impl ChannelBalances {
    /// A fresh epoch with these deposits (side One, side Two).
    pub fn new(deposit_one: TokenAmount, deposit_two: TokenAmount) -> Self {
        Self { deposits: [deposit_one, deposit_two], transferred: [TokenAmount(0), TokenAmount(0)] }
    }

    /// Tokens the contract holds for this channel.
    pub fn total(&self) -> TokenAmount {
        // Deposits are validated on entry to sum within 128 bits.
        self.deposits[0] + self.deposits[1]
    }

    /// The deposit of `side` in this epoch.
    pub fn deposit(&self, side: Side) -> TokenAmount {
        self.deposits[side.index()]
    }

    /// Total `side` has transferred to the other side in this epoch.
    pub fn transferred(&self, side: Side) -> TokenAmount {
        self.transferred[side.index()]
    }

    /// What `side` owns now: deposit + received − sent.
    pub fn balance(&self, side: Side) -> TokenAmount {
        let i = side.index();
        // transfers are validated against balances, so this never underflows
        self.deposits[i] + self.transferred[1 - i] - self.transferred[i]
    }

    /// Adds a deposit for `side`.
    pub fn deposit_more(&mut self, side: Side, amount: TokenAmount) -> Result<(), BalanceError> {
        if amount == 0 {
            return Err(BalanceError::ZeroAmount);
        }
        self.total().checked_add(amount).ok_or(BalanceError::Overflow)?;
        self.deposits[side.index()] += amount;
        Ok(())
    }

    /// `from` pays `amount` to the other side.
    pub fn transfer(&mut self, from: Side, amount: TokenAmount) -> Result<(), BalanceError> {
        if amount == 0 {
            return Err(BalanceError::ZeroAmount);
        }
        let available = self.balance(from);
        if amount > available {
            return Err(BalanceError::Insufficient { available, requested: amount });
        }
        self.transferred[from.index()] += amount;
        Ok(())
    }

    /// `side` takes `amount` on chain; the next epoch starts from the balances after it.
    pub fn withdraw(&mut self, side: Side, amount: TokenAmount) -> Result<(), BalanceError> {
        if amount == 0 {
            return Err(BalanceError::ZeroAmount);
        }
        let available = self.balance(side);
        if amount > available {
            return Err(BalanceError::Insufficient { available, requested: amount });
        }
        let mut next = [self.balance(Side::One), self.balance(Side::Two)];
        next[side.index()] -= amount;
        *self = Self::new(next[0], next[1]);
        Ok(())
    }

    /// What settlement pays (side One, side Two) when the contract holds these deposits and
    /// the given transferred amounts (which may come from any signed proofs, honest or not).
    /// Mirrors `TokensNetwork.settleChannel`: never more than the channel holds in total.
    pub fn settlement_of(
        deposits: [TokenAmount; 2], transferred: [TokenAmount; 2],
    ) -> [TokenAmount; 2] {
        let total = deposits[0].saturating_add(deposits[1]);
        let credit = deposits[0].saturating_add(transferred[1]);
        let one = credit.saturating_sub(transferred[0]).min(total);
        [one, total - one]
    }

    /// What settlement pays for the current balances.
    pub fn settlement(&self) -> [TokenAmount; 2] {
        Self::settlement_of(self.deposits, self.transferred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Deposit(Side, u64),
        Transfer(Side, u64),
        Withdraw(Side, u64),
    }

    fn side() -> impl Strategy<Value = Side> {
        prop_oneof![Just(Side::One), Just(Side::Two)]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (side(), 0..1_000u64).prop_map(|(s, a)| Op::Deposit(s, a)),
            (side(), 0..1_000u64).prop_map(|(s, a)| Op::Transfer(s, a)),
            (side(), 0..1_000u64).prop_map(|(s, a)| Op::Withdraw(s, a)),
        ]
    }

    proptest! {
        /// Tokens are neither created nor destroyed: what is in the channel plus what was
        /// withdrawn always equals what was deposited, and settlement pays exactly the balances.
        #[test]
        fn conservation(ops in prop::collection::vec(op(), 0..40)) {
            let mut c = ChannelBalances::default();
            let (mut deposited, mut withdrawn) = (0u128, 0u128);
            for op in ops {
                let before = c;
                let result = match op {
                    Op::Deposit(s, a) => c.deposit_more(s, a.into()).map(|()| deposited += u128::from(a)),
                    Op::Transfer(s, a) => c.transfer(s, a.into()),
                    Op::Withdraw(s, a) => c.withdraw(s, a.into()).map(|()| withdrawn += u128::from(a)),
                };
                if result.is_err() {
                    prop_assert_eq!(c, before, "a refused change changes nothing");
                }
                prop_assert_eq!(c.total() + TokenAmount(withdrawn), deposited);
                prop_assert_eq!(c.balance(Side::One) + c.balance(Side::Two), c.total());
                prop_assert_eq!(c.settlement(), [c.balance(Side::One), c.balance(Side::Two)]);
            }
        }

        /// Whatever transferred amounts a dishonest party signs, settlement pays exactly the
        /// channel total and no side more than it.
        #[test]
        fn settlement_never_exceeds_the_channel(d in any::<[u64; 2]>(), t in any::<[u128; 2]>()) {
            let deposits = [TokenAmount::from(d[0]), TokenAmount::from(d[1])];
            let [one, two] = ChannelBalances::settlement_of(deposits, t.map(TokenAmount));
            prop_assert_eq!(one + two, deposits[0] + deposits[1]);
        }
    }

    #[test]
    fn whitepaper_direct_then_mediated() {
        // Alice (side One) deposits 100 and pays Bob 30 directly, then 20 through Bob.
        let mut ab = ChannelBalances::new(TokenAmount(100), TokenAmount(0));
        ab.transfer(Side::One, TokenAmount(30)).unwrap();
        assert_eq!(
            (ab.balance(Side::One), ab.balance(Side::Two)),
            (TokenAmount(70), TokenAmount(30))
        );
        ab.transfer(Side::One, TokenAmount(20)).unwrap();
        assert_eq!(ab.settlement(), [50, 50]);
        assert_eq!(
            ab.transfer(Side::One, TokenAmount(51)),
            Err(BalanceError::Insufficient {
                available: TokenAmount(50),
                requested: TokenAmount(51)
            })
        );
    }
}
