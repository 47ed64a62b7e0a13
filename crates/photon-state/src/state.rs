//! The whole state of one node: its channels, the payments in flight, the chain's clock.

use crate::balance::Side;
use photon_primitives::eip712::Domain;
use photon_primitives::lock::{locked_amount, locksroot};
use photon_primitives::messages::{
    BalanceProofFields, MessageId, PaymentId, SettleFields, WithdrawFields,
};
use photon_primitives::SettleTimeout;
use photon_primitives::{
    Address, BlockNumber, ChannelId, Epoch, Lock, Nonce, Secret, SecretHash, Signature, SkipMask,
    TokenAmount, B256, U256,
};
use std::collections::{BTreeMap, BTreeSet};

pub use crate::fees::{FeePolicy, FeeSchedule, FeeScope};

/// Protocol parameters of a node.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// Blocks a node needs, at worst, to get a secret registered on chain. A lock that expires
    /// sooner than this is refused, and a node registers a secret this long before expiry.
    pub reveal_timeout: BlockNumber,
    /// How long (blocks) the locks of payments we initiate live.
    pub lock_timeout: BlockNumber,
    /// Blocks a withdrawal or cooperative settlement we co-sign stays valid.
    pub signature_validity: BlockNumber,
    /// Most pending locks one side of a channel may hold.
    pub max_locks: usize,
    /// Our fee as a mediator until a [`FeeSchedule`] change says otherwise.
    pub fee: FeePolicy,
    /// The contract's punish window after a settle window (blocks).
    pub punish_blocks: BlockNumber,
    /// Blocks after a lock's expiration before we remove it (the partner judges the removal
    /// by its own confirmed block, which may lag ours).
    pub expiry_margin: BlockNumber,
    /// Shortest settle timeout of a channel we mediate over or pay in (blocks): the time we
    /// have to notice a close and answer it, and to claim a lock received on it. At least
    /// `lock_timeout + reveal_timeout`, or our own payments could not be secured by the
    /// receiver.
    pub min_settle_timeout: SettleTimeout,
    /// Longest settle timeout of a channel we deposit into, mediate over or pay in (blocks):
    /// how long a partner's close may keep our deposit.
    pub max_settle_timeout: SettleTimeout,
    /// Whether we forward payments for others (a mediator earns fees but locks its own
    /// deposits for them); when not, a lock to forward is given back to its payer, which
    /// tries another route.
    pub mediate: bool,
}

impl Config {
    /// Whether a channel with this settle timeout (whoever opened it) is one we use.
    pub fn accepts_settle_timeout(&self, settle_timeout: SettleTimeout) -> bool {
        (self.min_settle_timeout..=self.max_settle_timeout).contains(&settle_timeout)
    }

    /// Why these parameters cannot secure payments, if they cannot: a lock must outlive the
    /// time to register its secret, and a channel's settle window must outlive a lock and that
    /// time together.
    pub fn problem(&self) -> Option<&'static str> {
        if self.reveal_timeout == 0 {
            Some("the reveal timeout must be at least one block")
        } else if self.lock_timeout <= self.reveal_timeout {
            Some("a lock must live longer than the reveal timeout")
        } else if self.min_settle_timeout.blocks() < self.lock_timeout + self.reveal_timeout {
            Some("the shortest settle timeout accepted must be at least the lock timeout plus the reveal timeout")
        } else if self.max_settle_timeout < self.min_settle_timeout {
            Some("the longest settle timeout accepted is below the shortest")
        } else {
            None
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            reveal_timeout: 10,
            lock_timeout: 50,
            signature_validity: 20,
            max_locks: 160,
            fee: FeePolicy::default(),
            punish_blocks: 257,
            expiry_margin: 2,
            min_settle_timeout: SettleTimeout(60),
            max_settle_timeout: SettleTimeout(100_000),
            mediate: true,
        }
    }
}

/// A balance proof with what makes it submittable on chain.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct SignedProof {
    /// The channel-state fields.
    pub fields: BalanceProofFields,
    /// The hash of the rest of the message that carried it.
    pub additional_hash: B256,
    /// The signer's signature.
    pub signature: Signature,
}

/// One participant's side of a channel in the current epoch.
#[derive(Clone, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EndState {
    /// Its deposit in this epoch.
    pub deposit: TokenAmount,
    /// Nonce of its latest balance proof.
    pub nonce: Nonce,
    /// Everything it has paid the other side in this epoch.
    pub transferred: TokenAmount,
    /// Its pending locks, in locksroot order.
    pub locks: Vec<Lock>,
    /// Its latest signed balance proof (the partner's is what we submit on chain).
    pub proof: Option<SignedProof>,
}

impl EndState {
    /// Sum of the pending locks.
    pub fn locked(&self) -> TokenAmount {
        self.locks.iter().map(|l| l.amount).sum()
    }

    /// The pending lock with this hash.
    pub fn lock(&self, secrethash: &SecretHash) -> Option<&Lock> {
        self.locks.iter().find(|l| &l.secrethash == secrethash)
    }

    /// The fields of this end's next balance proof with these amounts and locks.
    pub(crate) fn next_fields(
        &self, channel_id: ChannelId, epoch: Epoch, transferred: TokenAmount, locks: &[Lock],
    ) -> BalanceProofFields {
        BalanceProofFields {
            channel_id,
            epoch,
            nonce: self.nonce.next(),
            transferred_amount: transferred,
            locked_amount: locked_amount(locks).unwrap_or(TokenAmount::MAX),
            locksroot: locksroot(locks),
        }
    }
}

/// Where a channel is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum ChannelStatus {
    /// Transfers flow.
    Open,
    /// We sent the close transaction; no new transfers.
    Closing,
    /// Closed on chain at `block`.
    Closed {
        /// block of the close
        block: BlockNumber,
        /// whether we sent the unlock of the partner's locks
        unlock_sent: bool,
        /// whether we sent the settle transaction
        settle_sent: bool,
    },
}

/// A withdrawal being negotiated; dropped once its expiry block passes.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct PendingWithdraw {
    /// The fields both sign.
    pub fields: WithdrawFields,
    /// Our signature of them.
    pub our_signature: Signature,
    /// Whether we asked (true) or co-signed (false).
    pub requested_by_us: bool,
}

/// A cooperative settlement being negotiated. Its signatures never expire on chain, so once
/// either side signed, the channel takes no more transfers: it ends cooperatively or by a
/// unilateral close.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct PendingSettle {
    /// The fields both sign.
    pub fields: SettleFields,
    /// Our signature of them.
    pub our_signature: Signature,
    /// Whether we asked (true) or co-signed (false).
    pub requested_by_us: bool,
}

/// One channel as this node sees it.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct ChannelState {
    /// Channel id.
    pub id: ChannelId,
    /// Its token.
    pub token: Address,
    /// The other participant.
    pub partner: Address,
    /// Our side in the contract.
    pub our_side: Side,
    /// Settle timeout (blocks).
    pub settle_timeout: SettleTimeout,
    /// Current epoch.
    pub epoch: Epoch,
    /// Life-cycle status.
    pub status: ChannelStatus,
    /// Our end.
    pub ours: EndState,
    /// The partner's end.
    pub theirs: EndState,
    /// The partner's locks we disposed (by hash), until the partner removes them: never
    /// claimed on chain.
    pub disposed: BTreeMap<SecretHash, OurDisposal>,
    /// A withdrawal in negotiation; transfers wait until it is mined or expires.
    pub withdraw: Option<PendingWithdraw>,
    /// A cooperative settlement in negotiation; transfers stop for good.
    pub settle: Option<PendingSettle>,
    /// Disposals the partner signed for our locks: evidence should it claim one on chain.
    pub their_disposals: BTreeMap<SecretHash, TheirDisposal>,
    /// Locks (by hash) whose on-chain claim we asked the contract to reverse.
    pub punished: BTreeSet<SecretHash>,
    /// Where the on-chain unlocks of the partner's locks stand (its latest
    /// `ChannelUnlocked`): the locksroot and its unlock state, which the next unlock passes.
    pub their_unlock: Option<(photon_primitives::Locksroot, UnlockState)>,
    /// Why the channel needs attention: the partner refused one of our messages for good.
    pub attention: Option<String>,
}

/// A lock of the partner's that we gave up.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct OurDisposal {
    /// The partner's latest proof nonce our latest disposal of it covers (re-signed when a
    /// newer proof of the partner still holds the lock).
    pub nonce: Nonce,
    /// The payment the lock belonged to.
    pub payment_id: PaymentId,
}

/// The partner's signed disposal of one of our locks, kept as evidence.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct TheirDisposal {
    /// The lock.
    pub lock: Lock,
    /// Our proofs up to this nonce are covered.
    pub nonce: Nonce,
    /// The partner's signature of the `LockDisposal`.
    pub signature: Signature,
    /// Our pending locks at that nonce: what the partner unlocks should it close with that
    /// proof (lets us punish even when its unlock's input cannot be read).
    pub locks: Vec<Lock>,
}

/// The contract's unlock state of one locksroot (bit i: lock i): claimed, claimed by the
/// receiver itself, claim reversed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct UnlockState {
    /// The lock paid its receiver at an unlock.
    pub claimed: U256,
    /// ... in an unlock the receiver sent itself.
    pub direct: U256,
    /// The claim was reversed by a disposal.
    pub voided: U256,
}

/// Bit i set for each of `locks` whose hash is in `disposed`.
pub(crate) fn skip_mask(locks: &[Lock], disposed: &BTreeMap<SecretHash, OurDisposal>) -> SkipMask {
    SkipMask::of(
        locks
            .iter()
            .enumerate()
            .filter(|(_, l)| disposed.contains_key(&l.secrethash))
            .map(|(i, _)| i),
    )
}

impl ChannelState {
    /// The skip mask of an on-chain unlock of the partner's locks: bit i set for each lock we
    /// disposed (claiming one would forfeit the channel).
    pub fn unlock_skip(&self) -> SkipMask {
        skip_mask(&self.theirs.locks, &self.disposed)
    }

    /// What we can still send: deposit + received − sent − locked.
    pub fn our_capacity(&self) -> TokenAmount {
        (self.ours.deposit + self.theirs.transferred)
            .saturating_sub(self.ours.transferred + self.ours.locked())
    }

    /// What the partner can still send us.
    pub fn partner_capacity(&self) -> TokenAmount {
        (self.theirs.deposit + self.ours.transferred)
            .saturating_sub(self.theirs.transferred + self.theirs.locked())
    }

    /// Our balance ignoring locks: deposit + received − sent.
    pub fn our_balance(&self) -> TokenAmount {
        (self.ours.deposit + self.theirs.transferred).saturating_sub(self.ours.transferred)
    }

    /// The partner's balance ignoring locks.
    pub fn partner_balance(&self) -> TokenAmount {
        (self.theirs.deposit + self.ours.transferred).saturating_sub(self.theirs.transferred)
    }

    /// Tokens the contract holds for this channel.
    pub fn total(&self) -> TokenAmount {
        self.ours.deposit + self.theirs.deposit
    }

    /// Whether new transfers may use the channel.
    pub fn usable(&self) -> bool {
        self.status == ChannelStatus::Open && self.withdraw.is_none() && self.settle.is_none()
    }
}

/// A payment this node initiated.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct InitiatorTask {
    /// Payment id.
    pub payment_id: PaymentId,
    /// Token.
    pub token: Address,
    /// Target.
    pub target: Address,
    /// What the target must receive.
    pub amount: TokenAmount,
    /// The secret, unless only its hash is known (a swap).
    pub secret: Option<Secret>,
    /// sha256 of the secret.
    pub secrethash: SecretHash,
    /// Routes not tried yet.
    pub routes_left: Vec<crate::changes::Route>,
    /// Most fees the user accepts.
    pub fee_limit: TokenAmount,
    /// The channel and lock of the current attempt.
    pub attempt: Option<(ChannelId, Lock, TokenAmount)>,
    /// Whether the secret went to the target.
    pub secret_revealed: bool,
    /// What the payment tells the target (sent again with every route tried).
    pub data: Vec<u8>,
}

/// A payment passing through this node.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct MediatorTask {
    /// Payment id.
    pub payment_id: PaymentId,
    /// The channel we are paid on, and the lock.
    pub payer: (ChannelId, Lock),
    /// The channel we pay on, and the lock (none if we disposed).
    pub payee: Option<(ChannelId, Lock)>,
    /// The secret, once known.
    pub secret: Option<Secret>,
    /// Whether we registered the secret on chain.
    pub registered: bool,
    /// Whether the payer's lock is resolved (unlocked to us, removed or expired).
    pub payer_done: bool,
    /// Whether the payee's lock is resolved (we unlocked it, it was removed or disposed).
    pub payee_done: bool,
}

/// A payment to this node.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct TargetTask {
    /// Payment id.
    pub payment_id: PaymentId,
    /// Who pays.
    pub initiator: Address,
    /// The channel we are paid on, and the lock.
    pub payer: (ChannelId, Lock),
    /// The amount promised.
    pub amount: TokenAmount,
    /// The secret, once known.
    pub secret: Option<Secret>,
    /// Whether we registered the secret on chain.
    pub registered: bool,
    /// What the initiator told us with the payment, reported when it is paid.
    pub data: Vec<u8>,
}

/// Which side of a token swap we are on (see `docs/swaps.md`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum SwapRole {
    /// We hold the secret, pay first and reveal first (to claim the taker's lock).
    Maker,
    /// We were given the secret hash; we lock our side once the maker's lock is ours, and
    /// claim the maker's with the secret the maker's claim shows us.
    Taker,
}

/// One side of a swap: a token and an amount.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct SwapLeg {
    /// The token.
    pub token: Address,
    /// What the receiver of this side gets (fees of mediators come on top, paid by its payer).
    pub amount: TokenAmount,
}

/// Where a swap stands.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum SwapStatus {
    /// Maker: our lock is out, the taker's has not come. Taker: the maker's lock has not come.
    Waiting,
    /// Taker: we hold the maker's lock and sent ours; the maker has not revealed.
    Locked,
    /// The secret is out (the maker revealed it to claim the taker's lock): both sides
    /// complete now, off chain or through the secret registry.
    Revealed,
    /// We were paid what we asked.
    Completed,
    /// Over without an exchange: why.
    Failed(String),
    /// Cancelled by the user before the secret was out.
    Cancelled,
}

impl SwapStatus {
    /// Whether the swap is over.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed(_) | Self::Cancelled)
    }
}

/// A token swap this node takes part in, by its secret hash (see `docs/swaps.md`).
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Swap {
    /// Our side.
    pub role: SwapRole,
    /// The payment id of the lock we send.
    pub payment_id: PaymentId,
    /// The other party.
    pub counterparty: Address,
    /// What we pay.
    pub send: SwapLeg,
    /// What we are paid.
    pub receive: SwapLeg,
    /// The secret: the maker's from the start, the taker's once revealed.
    pub secret: Option<Secret>,
    /// Where it stands.
    pub status: SwapStatus,
    /// Block it was agreed at (the state change that made it).
    pub created: BlockNumber,
    /// Taker: the last block at which the maker's lock is taken. Maker: our lock's
    /// expiration once it is out.
    pub deadline: BlockNumber,
    /// Taker: the routes for our lock to the maker not tried yet.
    pub routes: Vec<crate::changes::Route>,
    /// Most fees we pay for our lock.
    pub fee_limit: TokenAmount,
    /// The lock we are paid with, on its channel, once taken.
    pub incoming: Option<(ChannelId, Lock)>,
    /// Maker: whether we registered the secret on chain for the incoming lock.
    pub registered: bool,
    /// The block it ended at.
    pub finished: Option<BlockNumber>,
}

/// Whether `registered` (secret hash → registration block) has the secret of `lock` registered
/// at or before its expiration: what makes the lock pay on chain. For callers that hold a
/// mutable borrow of another part of the state; others use [`ChainState::registered_in_time`].
pub(crate) fn in_time(registered: &BTreeMap<SecretHash, BlockNumber>, lock: &Lock) -> bool {
    registered.get(&lock.secrethash).is_some_and(|b| *b <= lock.expiration)
}

/// Our role in a payment, by secret hash.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub enum Task {
    /// We pay.
    Initiator(InitiatorTask),
    /// We forward.
    Mediator(MediatorTask),
    /// We are paid.
    Target(TargetTask),
}

impl Task {
    /// The secret of the lock we hold in this payment (as mediator or target), once known.
    pub fn payer_lock_secret(&self) -> Option<Secret> {
        match self {
            Self::Mediator(t) => t.secret,
            Self::Target(t) => t.secret,
            Self::Initiator(_) => None,
        }
    }
}

/// The whole state of a node.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ChainState {
    /// Our address.
    pub address: Address,
    /// The EIP-712 domain (chain id, contract) every signature is bound to.
    pub domain: Domain,
    /// Latest confirmed block.
    pub block: BlockNumber,
    /// Parameters.
    pub config: Config,
    /// Our channels (open or closed, not settled).
    pub channels: BTreeMap<ChannelId, ChannelState>,
    /// Payments in flight.
    pub tasks: BTreeMap<SecretHash, Task>,
    /// Secrets registered on chain, with their block.
    pub registered: BTreeMap<SecretHash, BlockNumber>,
    /// Next id for a message we send.
    pub next_message_id: MessageId,
    /// The fees we charge as a mediator.
    pub fees: FeeSchedule,
    /// Secrets given to us for payments we will receive (swaps): claimed at once.
    pub known_secrets: BTreeMap<SecretHash, Secret>,
    /// Every open channel of the network seen on chain, ours or not: (token, participant1,
    /// participant2). What routes are found on; part of the state so a restart keeps it.
    pub network: BTreeMap<ChannelId, (Address, Address, Address)>,
    /// Whether the node follows the chain up to its confirmed head, so that `block` is current
    /// and a secret can be registered in time (see
    /// [`StateChange::ChainSynced`](crate::StateChange::ChainSynced)).
    pub chain_synced: bool,
    /// Our channels that were settled (until re-opened): a late message about one is refused
    /// for good rather than retried as if the channel were not seen yet.
    #[serde(default)]
    pub settled: BTreeSet<ChannelId>,
    /// The token swaps we take part in, by secret hash: those in progress, and the latest
    /// finished ones ([`FINISHED_SWAPS_KEPT`]).
    pub swaps: BTreeMap<SecretHash, Swap>,
}

/// How many finished swaps the state keeps (the oldest finished is dropped first).
pub const FINISHED_SWAPS_KEPT: usize = 256;

impl ChainState {
    /// A node with no channels at block `block`.
    pub fn new(address: Address, domain: Domain, block: BlockNumber, config: Config) -> Self {
        Self {
            address,
            domain,
            block,
            config,
            channels: BTreeMap::new(),
            tasks: BTreeMap::new(),
            registered: BTreeMap::new(),
            next_message_id: 1,
            fees: FeeSchedule { default: config.fee, ..FeeSchedule::default() },
            known_secrets: BTreeMap::new(),
            network: BTreeMap::new(),
            chain_synced: true,
            settled: BTreeSet::new(),
            swaps: BTreeMap::new(),
        }
    }

    /// Our channel with `partner` for `token`.
    pub fn channel_with(&self, token: Address, partner: Address) -> Option<&ChannelState> {
        self.channels.values().find(|c| c.token == token && c.partner == partner)
    }

    /// Whether the secret of `lock` was registered on chain in time for it.
    pub fn registered_in_time(&self, lock: &Lock) -> bool {
        in_time(&self.registered, lock)
    }
}
