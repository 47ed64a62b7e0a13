// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SecretRegistry} from "./SecretRegistry.sol";

/// @dev The subset of ERC20 that the network uses. Return values are checked leniently
///      (tokens that return nothing are accepted) by TokensNetwork._call.
interface IERC20Minimal {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function balanceOf(address owner) external view returns (uint256);
}

/// @title TokensNetwork
/// @notice Payment channels for every ERC20 / ERC223 token in one contract.
/// @dev A channel between two addresses for one token is identified by
///      keccak256(abi.encodePacked(lower address, higher address, token, this contract)).
///      "participant1" is always the lower address. Every signature is EIP-712 typed data
///      bound to the chain id, this contract, the channel id and the channel's epoch. The epoch
///      is the block at which the channel was opened (or one more than the channel's previous
///      epoch, whichever is higher), bumped by every withdrawal, and kept when the channel is
///      settled, so it never repeats and every signature made before a withdrawal or before a
///      re-open is void.
///
///      Lifecycle: open -> deposits (either side, repeatable) -> either
///        * cooperativeSettle (both sign the final balances, paid out at once), or
///        * closeChannel (with the partner's latest balance proof) -> updateBalanceProof /
///          unlock by the partner or a delegate during the settle window -> punish window ->
///          settleChannel.
///      withdraw moves part of one side's balance on chain while the channel stays open.
///
///      Payouts never block each other: a push that fails is credited to the recipient, who
///      claims it later with claimPayout. Deposits are credited with what actually arrived
///      (fee-on-transfer tokens); rebasing tokens are not supported.
contract TokensNetwork {
    // ---------------------------------------------------------------- constants

    /// @notice EIP-712 domain name.
    string public constant NAME = "Photon TokensNetwork";
    /// @notice EIP-712 domain version.
    string public constant VERSION = "1";

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant BALANCE_PROOF_TYPEHASH = keccak256(
        "BalanceProof(bytes32 channelId,uint64 epoch,uint64 nonce,uint128 transferredAmount,uint128 lockedAmount,bytes32 locksroot,bytes32 additionalHash)"
    );
    bytes32 private constant COOPERATIVE_SETTLE_TYPEHASH = keccak256(
        "CooperativeSettle(bytes32 channelId,uint64 epoch,address participant1,uint128 balance1,address participant2,uint128 balance2)"
    );
    bytes32 private constant WITHDRAW_TYPEHASH = keccak256(
        "Withdraw(bytes32 channelId,uint64 epoch,address participant,uint128 participantDeposit,uint128 participantBalance,uint128 amount,uint64 expiry)"
    );
    bytes32 private constant LOCK_DISPOSAL_TYPEHASH =
        keccak256("LockDisposal(bytes32 channelId,uint64 epoch,uint64 nonce,bytes32 lockHash)");
    bytes32 private constant DELEGATE_UPDATE_TYPEHASH =
        keccak256("DelegateUpdate(bytes32 channelId,uint64 epoch,bytes32 balanceProofHash)");
    bytes32 private constant DELEGATE_UNLOCK_TYPEHASH =
        keccak256("DelegateUnlock(bytes32 channelId,uint64 epoch,bytes32 locksroot,uint256 skip)");

    /// @dev Mixed, with the unlock state, into a locksroot once its locks were unlocked, so no
    ///      lock is claimed twice and punishObsoleteUnlock can prove what an unlock claimed.
    bytes32 private constant UNLOCKED_TAG = keccak256("photon.unlocked.v2");

    /// @dev Gas a payout's token transfer gets: fixed, so that neither a recipient that burns
    ///      gas nor a caller that sends too little can choose whether a payout is transferred
    ///      or deferred. A transfer needing more is deferred (claimPayout forwards all gas).
    uint256 private constant PAYOUT_GAS = 100_000;
    /// @dev Gas kept after a payout's token call to credit a failed payout.
    uint256 private constant PAYOUT_GAS_RESERVE = 40_000;

    /// @notice Smallest minSettleTimeout a deployment may choose (blocks).
    uint256 public constant SETTLE_TIMEOUT_FLOOR = 5;

    /// @dev secp256k1 n / 2: signatures with a higher s are malleable twins and are refused.
    uint256 private constant HALF_CURVE_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice Bytes per lock in an unlock: uint128 amount, uint64 expiration, bytes32 secrethash.
    uint256 public constant LOCK_SIZE = 56;
    /// @notice Most locks one locksroot may hold (one bit each in the unlock skip mask).
    uint256 public constant MAX_LOCKS = 256;

    uint8 private constant STATE_NONE = 0;
    uint8 private constant STATE_OPEN = 1;
    uint8 private constant STATE_CLOSED = 2;

    uint8 private constant FLAG_CLOSER_2 = 1; // participant2 closed the channel
    uint8 private constant FLAG_LOCKS_1 = 2; // participant1's stored proof has a locksroot
    uint8 private constant FLAG_LOCKS_2 = 4; // participant2's stored proof has a locksroot
    uint8 private constant FLAG_PUNISHED_1 = 8; // participant1 unlocked a lock it had disposed
    uint8 private constant FLAG_PUNISHED_2 = 16; // participant2 unlocked a lock it had disposed

    // ---------------------------------------------------------------- storage

    /// @dev Slot 0 of a channel: what each side has on chain at the start of the epoch.
    struct Deposits {
        uint128 deposit1;
        uint128 deposit2;
    }

    /// @dev Slot 1 of a channel.
    struct Meta {
        uint40 epoch;
        uint32 settleTimeout;
        uint40 settleBlock; // closed: last block of the settle window
        uint8 state;
        uint8 flags;
        uint64 nonce1; // nonce of participant1's balance proof stored at close/update
        uint64 nonce2;
    }

    /// @dev Slot 2 of a channel: transferred amounts of the stored balance proofs, plus what
    ///      unlocks claimed. Only written once the channel is closed.
    struct Transferred {
        uint128 transferred1;
        uint128 transferred2;
    }

    struct Channel {
        Deposits deposits;
        Meta meta;
        Transferred transferred;
        bytes32 locksroot1;
        bytes32 locksroot2;
    }

    /// @notice The data of a balance proof that the contract needs; channel id and epoch come
    ///         from the channel itself.
    struct BalanceData {
        uint128 transferredAmount;
        uint128 lockedAmount;
        bytes32 locksroot;
        uint64 nonce;
        bytes32 additionalHash;
    }

    /// @notice What an unlock of one locksroot has done so far (bit i: lock i). Not stored:
    ///         its hash is mixed into the stored locksroot, and callers pass it back from the
    ///         latest ChannelUnlocked / ObsoleteUnlockPunished event of that locksroot.
    struct UnlockState {
        uint256 claimed; // the lock paid its receiver (secret registered in time at the unlock)
        uint256 direct; // ... in an unlock sent by the receiver itself (not by a delegate)
        uint256 voided; // the claim was reversed by a disposal (punishObsoleteUnlock)
    }

    mapping(bytes32 => Channel) private channels;

    /// @notice Payouts whose transfer failed (token => recipient => amount), to be claimed
    ///         with claimPayout.
    mapping(address => mapping(address => uint256)) public unclaimedPayout;

    /// @dev 1 outside a pull-and-credit, 2 inside: a token that calls back into a deposit
    ///      while it is pulled (a transfer hook) is refused, so that what arrived is never
    ///      measured by two deposits at once (with a fee, both would be credited in full).
    uint256 private pulling = 1;

    /// @notice The registry whose records decide which locks pay out.
    SecretRegistry public immutable secretRegistry;
    /// @notice Blocks after the settle window during which an obsolete unlock can be punished.
    uint256 public immutable punishBlocks;
    /// @notice Smallest settle timeout (blocks) a channel may be opened with.
    uint256 public immutable minSettleTimeout;
    /// @notice Largest settle timeout (blocks) a channel may be opened with.
    uint256 public immutable maxSettleTimeout;

    bytes32 private immutable cachedDomainSeparator;
    uint256 private immutable cachedChainId;

    // ---------------------------------------------------------------- events

    /// @notice A channel was opened. participant1 is the lower address; `epoch` is the epoch
    ///         every signature in it must carry.
    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed token,
        address participant1,
        address participant2,
        uint32 settleTimeout,
        uint64 epoch
    );
    /// @notice A participant's deposit changed by a deposit; `deposit` is its new total.
    event ChannelDeposit(bytes32 indexed channelId, address indexed participant, uint128 deposit);
    /// @notice A channel was closed by `closer` with its partner's proof (nonce 0: no proof).
    event ChannelClosed(
        bytes32 indexed channelId, address indexed closer, uint64 nonce, uint128 transferredAmount, bytes32 locksroot
    );
    /// @notice The stored balance proof of `participant` (its signer) was replaced.
    event BalanceProofUpdated(
        bytes32 indexed channelId,
        address indexed participant,
        uint64 nonce,
        uint128 transferredAmount,
        bytes32 locksroot
    );
    /// @notice Locks sent by `sender` under `locksroot` were unlocked; `claimed` more went to
    ///         its partner. `state` is the locksroot's unlock state afterwards.
    event ChannelUnlocked(
        bytes32 indexed channelId, address indexed sender, bytes32 locksroot, UnlockState state, uint128 claimed
    );
    /// @notice `cheater` had claimed a lock it disposed: the claim of `amount` was reversed
    ///         and, if the cheater claimed it itself, at settlement `beneficiary` gets all.
    ///         `state` is the locksroot's unlock state afterwards.
    event ObsoleteUnlockPunished(
        bytes32 indexed channelId,
        address indexed beneficiary,
        address cheater,
        bytes32 locksroot,
        UnlockState state,
        uint128 amount,
        bool forfeited
    );
    /// @notice A payout to `recipient` could not be transferred; it waits for claimPayout.
    event PayoutDeferred(address indexed token, address indexed recipient, uint256 amount);
    /// @notice `recipient` claimed a deferred payout and had it sent to `to`.
    event PayoutClaimed(address indexed token, address indexed recipient, address to, uint256 amount);
    /// @notice A closed channel was settled and paid out; the channel no longer exists.
    event ChannelSettled(bytes32 indexed channelId, uint128 payout1, uint128 payout2);
    /// @notice A channel was settled cooperatively and paid out; the channel no longer exists.
    event ChannelCooperativeSettled(bytes32 indexed channelId, uint128 payout1, uint128 payout2);
    /// @notice `participant` withdrew `amount`; the channel goes on from `epoch` with new deposits.
    event ChannelWithdraw(
        bytes32 indexed channelId,
        address indexed participant,
        uint128 amount,
        uint128 deposit1,
        uint128 deposit2,
        uint64 epoch
    );

    // ---------------------------------------------------------------- errors

    /// @notice The two participants are equal or zero.
    error InvalidParticipants();
    /// @notice The settle timeout is outside [minSettleTimeout, maxSettleTimeout].
    error InvalidSettleTimeout();
    /// @notice A channel between these participants for this token already exists.
    error ChannelExists();
    /// @notice The channel must be open for this call.
    error ChannelNotOpen();
    /// @notice The channel must be closed for this call.
    error ChannelNotClosed();
    /// @notice The settle window is over: proofs and unlocks are no longer accepted.
    error SettleWindowOver();
    /// @notice The punish window is over.
    error PunishWindowOver();
    /// @notice The channel cannot be settled before block `settleAfter` + 1.
    error SettleTooEarly(uint256 settleAfter);
    /// @notice Amount is zero.
    error ZeroAmount();
    /// @notice The channel's total would not fit in 128 bits.
    error DepositOverflow();
    /// @notice A token transfer failed or returned false.
    error TokenTransferFailed();
    /// @notice The signature is malformed or not by the expected signer.
    error InvalidSignature();
    /// @notice The proof's nonce does not exceed the stored one.
    error StaleNonce();
    /// @notice The balances do not add up to the channel's deposits, or exceed them.
    error InvalidBalances();
    /// @notice The withdrawal's expiry block has passed.
    error WithdrawExpired();
    /// @notice There is no stored locksroot for this side, or it was already unlocked.
    error NothingToUnlock();
    /// @notice The locks do not hash to the stored locksroot.
    error LocksrootMismatch();
    /// @notice The locks are not a whole number of LOCK_SIZE records or exceed MAX_LOCKS.
    error MalformedLocks();
    /// @notice The lock named for punishment was not claimed by the unlock.
    error LockNotClaimed();
    /// @notice The participant was already punished.
    error AlreadyPunished();
    /// @notice Token callback data is malformed or the caller is not the token.
    error InvalidCallback();
    /// @notice Only a participant may deposit, and only for itself.
    error NotParticipant();
    /// @notice There is no deferred payout to claim.
    error NothingToClaim();
    /// @notice Too little gas was left to pay out safely.
    error InsufficientGas();
    /// @notice The disposal does not cover the stored balance proof the lock was claimed from.
    error DisposalTooOld();
    /// @notice A token called back into a deposit while its tokens were being pulled.
    error Reentered();

    // ---------------------------------------------------------------- construction

    /// @param registry the SecretRegistry that decides which locks pay out
    /// @param punishBlocks_ blocks after the settle window reserved for punishments
    /// @param minSettleTimeout_ smallest allowed settle timeout in blocks (at least 1)
    /// @param maxSettleTimeout_ largest allowed settle timeout in blocks
    constructor(SecretRegistry registry, uint256 punishBlocks_, uint256 minSettleTimeout_, uint256 maxSettleTimeout_) {
        require(address(registry).code.length != 0, "registry is not a contract");
        require(
            minSettleTimeout_ >= SETTLE_TIMEOUT_FLOOR && minSettleTimeout_ <= maxSettleTimeout_,
            "bad settle timeout bounds"
        );
        require(maxSettleTimeout_ <= type(uint32).max, "settle timeout too large");
        require(punishBlocks_ >= 1 && punishBlocks_ <= maxSettleTimeout_, "bad punish window");
        secretRegistry = registry;
        punishBlocks = punishBlocks_;
        minSettleTimeout = minSettleTimeout_;
        maxSettleTimeout = maxSettleTimeout_;
        cachedChainId = block.chainid;
        cachedDomainSeparator = _buildDomainSeparator();
    }

    // ---------------------------------------------------------------- open and deposit

    /// @notice Opens a channel between the caller and `partner` for `token`, without a deposit.
    /// @param token the ERC20/ERC223 token of the channel
    /// @param partner the other participant
    /// @param settleTimeout blocks between a unilateral close and the end of its settle window
    /// @return channelId the new channel's identifier
    function openChannel(address token, address partner, uint32 settleTimeout) external returns (bytes32 channelId) {
        channelId = _open(token, msg.sender, partner, settleTimeout);
    }

    /// @notice Opens a channel and deposits `amount` for the caller in one transaction
    ///         (the caller must have approved this contract for `amount`).
    /// @param token the ERC20 token of the channel
    /// @param partner the other participant
    /// @param settleTimeout blocks between a unilateral close and the end of its settle window
    /// @param amount tokens to deposit for the caller
    /// @return channelId the new channel's identifier
    function openChannelWithDeposit(address token, address partner, uint32 settleTimeout, uint128 amount)
        external
        returns (bytes32 channelId)
    {
        channelId = _open(token, msg.sender, partner, settleTimeout);
        _credit(channelId, msg.sender < partner, msg.sender, _pull(token, msg.sender, amount));
    }

    /// @notice Deposits `amount` of the caller's tokens for the caller in an open channel
    ///         (the caller must have approved this contract for `amount`). Repeatable. Only a
    ///         participant deposits, for itself: a third party cannot move the balances that
    ///         pending cooperative settlements and withdrawals were signed for.
    /// @param token the channel's token
    /// @param participant who the deposit is credited to: must be the caller
    /// @param partner the other participant
    /// @param amount tokens to deposit (what arrives is credited)
    function deposit(address token, address participant, address partner, uint128 amount) external {
        if (msg.sender != participant) revert NotParticipant();
        bytes32 channelId = channelIdentifier(token, participant, partner);
        if (channels[channelId].meta.state != STATE_OPEN) revert ChannelNotOpen(); // before the pull
        _credit(channelId, participant < partner, participant, _pull(token, msg.sender, amount));
    }

    /// @notice ERC223 entry point: `token.transfer(this, value, abi.encode(partner, settleTimeout))`
    ///         deposits `value` for the sender. With a non-zero settleTimeout it opens the
    ///         channel first if it does not exist, and reverts if it exists with another
    ///         timeout (a partner who front-ran the open cannot impose its own).
    /// @param from the token holder who sent the tokens (the participant credited)
    /// @param value tokens received
    /// @param data abi.encode(address partner, uint32 settleTimeout)
    function tokenFallback(address from, uint256 value, bytes calldata data) external {
        _openOrDeposit(msg.sender, from, value, data);
    }

    /// @notice ERC20 `approveAndCall` entry point: the token calls this right after `from`
    ///         approved `value`; deposits what arrives for `from`, opening the channel first
    ///         as tokenFallback does.
    /// @param from the token holder who approved (the participant credited)
    /// @param value tokens approved and deposited
    /// @param token the token; must be the caller
    /// @param extraData abi.encode(address partner, uint32 settleTimeout)
    function receiveApproval(address from, uint256 value, address token, bytes calldata extraData) external {
        if (msg.sender != token) revert InvalidCallback();
        if (value > type(uint128).max) revert DepositOverflow();
        _openOrDeposit(token, from, _pull(token, from, uint128(value)), extraData);
    }

    // ---------------------------------------------------------------- cooperative paths

    /// @notice Settles an open channel at once with final balances signed by both participants.
    ///         Only possible with no pending locks (the balances must add up to the deposits).
    /// @param token the channel's token
    /// @param participant1 one participant (either order)
    /// @param balance1 its final balance
    /// @param participant2 the other participant
    /// @param balance2 its final balance
    /// @param signature1 participant1's signature of CooperativeSettle
    /// @param signature2 participant2's signature of CooperativeSettle
    function cooperativeSettle(
        address token,
        address participant1,
        uint128 balance1,
        address participant2,
        uint128 balance2,
        bytes calldata signature1,
        bytes calldata signature2
    ) external {
        if (participant2 < participant1) {
            (participant1, participant2) = (participant2, participant1);
            (balance1, balance2) = (balance2, balance1);
            (signature1, signature2) = (signature2, signature1);
        }
        bytes32 channelId = channelIdentifier(token, participant1, participant2);
        Channel storage c = channels[channelId];
        Meta memory m = c.meta;
        if (m.state != STATE_OPEN) revert ChannelNotOpen();
        Deposits memory d = c.deposits;
        if (uint256(balance1) + balance2 != uint256(d.deposit1) + d.deposit2) revert InvalidBalances();
        bytes32 digest = _digest(
            keccak256(
                abi.encode(
                    COOPERATIVE_SETTLE_TYPEHASH, channelId, m.epoch, participant1, balance1, participant2, balance2
                )
            )
        );
        if (_recover(digest, signature1) != participant1) revert InvalidSignature();
        if (_recover(digest, signature2) != participant2) revert InvalidSignature();

        delete c.deposits;
        c.meta = Meta(m.epoch, 0, 0, STATE_NONE, 0, 0, 0); // the epoch is never reused
        emit ChannelCooperativeSettled(channelId, balance1, balance2);
        _push(token, participant1, balance1);
        _push(token, participant2, balance2);
    }

    /// @notice Moves `amount` of `participant`'s balance on chain while the channel stays open.
    ///         Both participants sign; the epoch is bumped so every older signature is void, and
    ///         the channel continues with deposits equal to the balances after the withdrawal.
    ///         Both sign the withdrawer's deposit they assumed: a deposit made since (by either
    ///         side) stays with its depositor.
    /// @param token the channel's token
    /// @param participant who withdraws
    /// @param partner the other participant
    /// @param participantDeposit the withdrawer's on-chain deposit the balance was computed from
    /// @param participantBalance the withdrawer's off-chain balance before the withdrawal
    /// @param amount tokens to withdraw (at most participantBalance)
    /// @param expiry last block at which the withdrawal may be mined
    /// @param participantSignature participant's signature of Withdraw
    /// @param partnerSignature partner's signature of Withdraw
    function withdraw(
        address token,
        address participant,
        address partner,
        uint128 participantDeposit,
        uint128 participantBalance,
        uint128 amount,
        uint64 expiry,
        bytes calldata participantSignature,
        bytes calldata partnerSignature
    ) external {
        if (block.number > expiry) revert WithdrawExpired();
        if (amount == 0) revert ZeroAmount();
        bytes32 channelId = channelIdentifier(token, participant, partner);
        Channel storage c = channels[channelId];
        Meta memory m = c.meta;
        if (m.state != STATE_OPEN) revert ChannelNotOpen();
        Deposits memory d = c.deposits;
        uint256 total = uint256(d.deposit1) + d.deposit2;
        bytes32 digest = _digest(
            keccak256(
                abi.encode(
                    WITHDRAW_TYPEHASH,
                    channelId,
                    m.epoch,
                    participant,
                    participantDeposit,
                    participantBalance,
                    amount,
                    expiry
                )
            )
        );
        if (_recover(digest, participantSignature) != participant) revert InvalidSignature();
        if (_recover(digest, partnerSignature) != partner) revert InvalidSignature();

        // Deposits only grow within an epoch; what the withdrawer deposited since the signing
        // is added to its balance, everything else of the total is the partner's.
        uint256 current = participant < partner ? d.deposit1 : d.deposit2;
        if (current < participantDeposit) revert InvalidBalances();
        uint256 balance = uint256(participantBalance) + (current - participantDeposit);
        if (amount > balance || balance > total) revert InvalidBalances();
        uint128 newParticipantDeposit = uint128(balance - amount);
        uint128 newPartnerDeposit = uint128(total - balance);
        if (participant < partner) {
            d = Deposits(newParticipantDeposit, newPartnerDeposit);
        } else {
            d = Deposits(newPartnerDeposit, newParticipantDeposit);
        }
        c.deposits = d;
        m.epoch = uint40(block.number > m.epoch ? block.number : uint256(m.epoch) + 1);
        c.meta = m;
        emit ChannelWithdraw(channelId, participant, amount, d.deposit1, d.deposit2, m.epoch);
        _push(token, participant, amount);
    }

    // ---------------------------------------------------------------- unilateral close

    /// @notice Closes the channel unilaterally with the partner's latest balance proof
    ///         (nonce 0 and an empty signature if the partner never sent one). Starts the
    ///         settle window.
    /// @param token the channel's token
    /// @param partner the other participant
    /// @param proof the partner's balance proof
    /// @param partnerSignature the partner's signature of the balance proof
    function closeChannel(address token, address partner, BalanceData calldata proof, bytes calldata partnerSignature)
        external
    {
        bytes32 channelId = channelIdentifier(token, msg.sender, partner);
        Channel storage c = channels[channelId];
        Meta memory m = c.meta;
        if (m.state != STATE_OPEN) revert ChannelNotOpen();
        m.state = STATE_CLOSED;
        m.settleBlock = uint40(block.number + m.settleTimeout);
        bool partnerIs1 = partner < msg.sender;
        if (partnerIs1) m.flags |= FLAG_CLOSER_2;
        if (proof.nonce != 0) {
            _verifyBalanceProof(channelId, m.epoch, proof, partnerSignature, partner);
            _storeProof(c, m, partnerIs1, proof);
        }
        c.meta = m;
        if (proof.nonce != 0) {
            emit ChannelClosed(channelId, msg.sender, proof.nonce, proof.transferredAmount, proof.locksroot);
        } else {
            emit ChannelClosed(channelId, msg.sender, 0, 0, bytes32(0));
        }
    }

    /// @notice Replaces the stored balance proof of `partner` with a newer one during the
    ///         settle window. Either participant may submit the other's proof.
    /// @param token the channel's token
    /// @param partner the signer of the proof (the caller's partner)
    /// @param proof the partner's balance proof, with a nonce above the stored one
    /// @param partnerSignature the partner's signature of the balance proof
    function updateBalanceProof(
        address token,
        address partner,
        BalanceData calldata proof,
        bytes calldata partnerSignature
    ) external {
        _update(channelIdentifier(token, msg.sender, partner), partner < msg.sender, partner, proof, partnerSignature);
    }

    /// @notice updateBalanceProof on behalf of `participant`, by anyone holding its consent
    ///         (a delegate / monitoring service), at any time in the settle window.
    /// @param token the channel's token
    /// @param participant the beneficiary, who signed the consent
    /// @param partner the signer of the proof
    /// @param proof the partner's balance proof
    /// @param partnerSignature the partner's signature of the balance proof
    /// @param consentSignature participant's signature of DelegateUpdate for this proof
    function updateBalanceProofDelegate(
        address token,
        address participant,
        address partner,
        BalanceData calldata proof,
        bytes calldata partnerSignature,
        bytes calldata consentSignature
    ) external {
        bytes32 channelId = channelIdentifier(token, participant, partner);
        _update(channelId, partner < participant, partner, proof, partnerSignature);
        uint40 epoch = channels[channelId].meta.epoch;
        bytes32 consent = _digest(
            keccak256(abi.encode(DELEGATE_UPDATE_TYPEHASH, channelId, epoch, _balanceProofHash(channelId, epoch, proof)))
        );
        if (_recover(consent, consentSignature) != participant) revert InvalidSignature();
    }

    /// @notice Unlocks, in one transaction, every lock sent by `partner` under its stored
    ///         locksroot whose secret was registered at or before the lock's expiration; the
    ///         claimed amount goes to the caller at settlement. Locks whose bit is set in `skip`
    ///         are not claimed (e.g. locks the caller disposed). Repeatable during the settle
    ///         window: a later unlock claims the locks registered since, never a lock twice.
    /// @param token the channel's token
    /// @param partner the sender of the locks
    /// @param locks the locks, LOCK_SIZE bytes each, in the order that gives the locksroot
    /// @param skip bit i set: do not claim lock i
    /// @param prior the locksroot's unlock state (all zero before its first unlock)
    function unlock(address token, address partner, bytes calldata locks, uint256 skip, UnlockState calldata prior)
        external
    {
        _unlock(channelIdentifier(token, msg.sender, partner), partner < msg.sender, partner, locks, skip, prior, true);
    }

    /// @notice unlock on behalf of `participant`, by anyone holding its consent.
    /// @param token the channel's token
    /// @param participant the beneficiary (receiver of the locks), who signed the consent
    /// @param partner the sender of the locks
    /// @param locks the locks, LOCK_SIZE bytes each
    /// @param skip bit i set: do not claim lock i
    /// @param prior the locksroot's unlock state (all zero before its first unlock)
    /// @param consentSignature participant's signature of DelegateUnlock for this locksroot and skip
    function unlockDelegate(
        address token,
        address participant,
        address partner,
        bytes calldata locks,
        uint256 skip,
        UnlockState calldata prior,
        bytes calldata consentSignature
    ) external {
        bytes32 channelId = channelIdentifier(token, participant, partner);
        bytes32 consent = _digest(
            keccak256(
                abi.encode(
                    DELEGATE_UNLOCK_TYPEHASH, channelId, channels[channelId].meta.epoch, _hashLocks(locks), skip
                )
            )
        );
        if (_recover(consent, consentSignature) != participant) revert InvalidSignature();
        _unlock(channelId, partner < participant, partner, locks, skip, prior, false);
    }

    /// @notice Reverses the claim of a lock that `cheater` had signed away as disposed, in an
    ///         unlock of a balance proof the disposal covers (stored nonce <= the disposal's
    ///         nonce). The lock's amount goes back to `beneficiary`; if the cheater sent the
    ///         unlock itself (not through a delegate), at settlement `beneficiary` also
    ///         receives the whole channel. A lock that paid nothing at its unlock, or a
    ///         disposal of an older instance of the same lock bytes, proves nothing.
    /// @param token the channel's token
    /// @param beneficiary the sender of the lock
    /// @param cheater the receiver who disposed the lock and then claimed it
    /// @param locks the locks of the unlock, as passed to it
    /// @param prior the locksroot's current unlock state (from its latest event)
    /// @param index position of the disposed lock in `locks`
    /// @param disposalNonce the nonce in cheater's LockDisposal
    /// @param disposalSignature cheater's signature of LockDisposal for that lock
    function punishObsoleteUnlock(
        address token,
        address beneficiary,
        address cheater,
        bytes calldata locks,
        UnlockState calldata prior,
        uint256 index,
        uint64 disposalNonce,
        bytes calldata disposalSignature
    ) external {
        bytes32 channelId = channelIdentifier(token, beneficiary, cheater);
        Channel storage c = channels[channelId];
        Meta memory m = c.meta;
        if (m.state != STATE_CLOSED) revert ChannelNotClosed();
        if (block.number > uint256(m.settleBlock) + punishBlocks) revert PunishWindowOver();
        bool beneficiaryIs1 = beneficiary < cheater;
        bytes32 locksroot = _hashLocks(locks);
        if ((beneficiaryIs1 ? c.locksroot1 : c.locksroot2) != _tag(locksroot, prior)) revert NothingToUnlock();
        if (index >= locks.length / LOCK_SIZE || (prior.claimed >> index) & 1 == 0) revert LockNotClaimed();
        if ((prior.voided >> index) & 1 == 1) revert AlreadyPunished();
        if ((beneficiaryIs1 ? m.nonce1 : m.nonce2) > disposalNonce) revert DisposalTooOld();
        bytes calldata lock = locks[index * LOCK_SIZE:(index + 1) * LOCK_SIZE];
        bytes32 lockHash = keccak256(lock);
        bytes32 digest =
            _digest(keccak256(abi.encode(LOCK_DISPOSAL_TYPEHASH, channelId, m.epoch, disposalNonce, lockHash)));
        if (_recover(digest, disposalSignature) != cheater) revert InvalidSignature();

        uint128 amount = uint128(bytes16(lock[0:16]));
        Transferred memory t = c.transferred;
        if (beneficiaryIs1) t.transferred1 = t.transferred1 > amount ? t.transferred1 - amount : 0;
        else t.transferred2 = t.transferred2 > amount ? t.transferred2 - amount : 0;
        c.transferred = t;
        UnlockState memory next = UnlockState(prior.claimed, prior.direct, prior.voided | (uint256(1) << index));
        bytes32 tagged = _tag(locksroot, next);
        if (beneficiaryIs1) c.locksroot1 = tagged;
        else c.locksroot2 = tagged;
        bool forfeited = (prior.direct >> index) & 1 == 1;
        if (forfeited) {
            m.flags |= beneficiaryIs1 ? FLAG_PUNISHED_2 : FLAG_PUNISHED_1;
            c.meta = m;
        }
        emit ObsoleteUnlockPunished(channelId, beneficiary, cheater, locksroot, next, amount, forfeited);
    }

    /// @notice Sends the caller's deferred payouts of `token` (payouts whose transfer failed
    ///         at settlement) to `to`.
    /// @param token the token
    /// @param to where to send them
    function claimPayout(address token, address to) external {
        uint256 amount = unclaimedPayout[token][msg.sender];
        if (amount == 0) revert NothingToClaim();
        delete unclaimedPayout[token][msg.sender];
        emit PayoutClaimed(token, msg.sender, to, amount);
        _call(token, abi.encodeCall(IERC20Minimal.transfer, (to, amount)));
    }

    /// @notice Pays out a closed channel once the settle window and the punish window are
    ///         over, and deletes it. Anyone may call; the tokens go to the participants.
    /// @param token the channel's token
    /// @param participant1 one participant (either order)
    /// @param participant2 the other participant
    function settleChannel(address token, address participant1, address participant2) external {
        if (participant2 < participant1) (participant1, participant2) = (participant2, participant1);
        bytes32 channelId = channelIdentifier(token, participant1, participant2);
        Channel storage c = channels[channelId];
        Meta memory m = c.meta;
        if (m.state != STATE_CLOSED) revert ChannelNotClosed();
        uint256 settleAfter = uint256(m.settleBlock) + punishBlocks;
        if (block.number <= settleAfter) revert SettleTooEarly(settleAfter);
        Deposits memory d = c.deposits;
        uint256 total = uint256(d.deposit1) + d.deposit2;
        uint256 payout1;
        uint8 punished = m.flags & (FLAG_PUNISHED_1 | FLAG_PUNISHED_2);
        if (punished == FLAG_PUNISHED_2) {
            payout1 = total;
        } else if (punished != FLAG_PUNISHED_1) {
            // nobody punished, or both: the balance proofs (with reversed claims) decide
            Transferred memory t = c.transferred;
            // What participant1 ends with: its deposit, minus what it sent, plus what it got;
            // clamped so that nobody is paid more than the channel holds.
            uint256 credit = uint256(d.deposit1) + t.transferred2;
            payout1 = credit > t.transferred1 ? credit - t.transferred1 : 0;
            if (payout1 > total) payout1 = total;
        }
        uint256 payout2 = total - payout1;

        delete c.deposits;
        if (m.nonce1 != 0 || m.nonce2 != 0) delete c.transferred;
        if (m.flags & FLAG_LOCKS_1 != 0) delete c.locksroot1;
        if (m.flags & FLAG_LOCKS_2 != 0) delete c.locksroot2;
        c.meta = Meta(m.epoch, 0, 0, STATE_NONE, 0, 0, 0); // the epoch is never reused
        emit ChannelSettled(channelId, uint128(payout1), uint128(payout2));
        _push(token, participant1, payout1);
        _push(token, participant2, payout2);
    }

    // ---------------------------------------------------------------- views

    /// @notice The identifier of the channel between `a` and `b` (either order) for `token`.
    /// @param token the channel's token
    /// @param a one participant
    /// @param b the other participant
    /// @return the channel id
    function channelIdentifier(address token, address a, address b) public view returns (bytes32) {
        if (a == b || a == address(0) || b == address(0)) revert InvalidParticipants();
        (address p1, address p2) = a < b ? (a, b) : (b, a);
        return keccak256(abi.encodePacked(p1, p2, token, address(this)));
    }

    /// @notice State of a channel.
    /// @param token the channel's token
    /// @param a one participant
    /// @param b the other participant
    /// @return channelId the channel id
    /// @return state 0 none (never opened or settled), 1 open, 2 closed
    /// @return epoch the epoch every signature must carry
    /// @return settleTimeout the settle timeout in blocks
    /// @return settleBlock when closed, the last block of the settle window
    /// @return closer when closed, who closed it
    function getChannelInfo(address token, address a, address b)
        external
        view
        returns (bytes32 channelId, uint8 state, uint64 epoch, uint32 settleTimeout, uint64 settleBlock, address closer)
    {
        channelId = channelIdentifier(token, a, b);
        Meta memory m = channels[channelId].meta;
        (address p1, address p2) = a < b ? (a, b) : (b, a);
        closer = m.state == STATE_CLOSED ? (m.flags & FLAG_CLOSER_2 != 0 ? p2 : p1) : address(0);
        return (channelId, m.state, m.epoch, m.settleTimeout, m.settleBlock, closer);
    }

    /// @notice A participant's side of a channel.
    /// @param token the channel's token
    /// @param participant whose side
    /// @param partner the other participant
    /// @return depositAmount the participant's deposit (balance at the start of the epoch)
    /// @return nonce nonce of the participant's balance proof stored at close/update (0: none)
    /// @return transferredAmount its stored transferred amount plus what unlocks claimed
    /// @return locksroot its stored locksroot (tagged once unlocked)
    /// @return punished whether it was punished for an obsolete unlock
    function getParticipantInfo(address token, address participant, address partner)
        external
        view
        returns (uint128 depositAmount, uint64 nonce, uint128 transferredAmount, bytes32 locksroot, bool punished)
    {
        Channel storage c = channels[channelIdentifier(token, participant, partner)];
        Meta memory m = c.meta;
        if (participant < partner) {
            return (
                c.deposits.deposit1,
                m.nonce1,
                c.transferred.transferred1,
                c.locksroot1,
                m.flags & FLAG_PUNISHED_1 != 0
            );
        }
        return (
            c.deposits.deposit2, m.nonce2, c.transferred.transferred2, c.locksroot2, m.flags & FLAG_PUNISHED_2 != 0
        );
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    /// @return the domain separator
    function domainSeparator() public view returns (bytes32) {
        return block.chainid == cachedChainId ? cachedDomainSeparator : _buildDomainSeparator();
    }

    // ---------------------------------------------------------------- internals

    function _open(address token, address participant, address partner, uint32 settleTimeout)
        private
        returns (bytes32 channelId)
    {
        if (settleTimeout < minSettleTimeout || settleTimeout > maxSettleTimeout) revert InvalidSettleTimeout();
        channelId = channelIdentifier(token, participant, partner);
        Channel storage c = channels[channelId];
        Meta memory m = c.meta;
        if (m.state != STATE_NONE) revert ChannelExists();
        // A settled channel keeps its last epoch, so a re-open in the same block still moves on.
        uint40 epoch = uint40(block.number > m.epoch ? block.number : uint256(m.epoch) + 1);
        c.meta = Meta(epoch, settleTimeout, 0, STATE_OPEN, 0, 0, 0);
        (address p1, address p2) = participant < partner ? (participant, partner) : (partner, participant);
        emit ChannelOpened(channelId, token, p1, p2, settleTimeout, epoch);
    }

    function _openOrDeposit(address token, address from, uint256 value, bytes calldata data) private {
        if (data.length != 64) revert InvalidCallback();
        (address partner, uint32 settleTimeout) = abi.decode(data, (address, uint32));
        if (value > type(uint128).max) revert DepositOverflow();
        bytes32 channelId = channelIdentifier(token, from, partner);
        if (settleTimeout != 0) {
            Meta memory m = channels[channelId].meta;
            if (m.state == STATE_NONE) _open(token, from, partner, settleTimeout);
            else if (m.settleTimeout != settleTimeout) revert InvalidSettleTimeout();
        }
        _credit(channelId, from < partner, from, uint128(value));
    }

    function _credit(bytes32 channelId, bool is1, address participant, uint128 amount) private {
        if (amount == 0) revert ZeroAmount();
        Channel storage c = channels[channelId];
        if (c.meta.state != STATE_OPEN) revert ChannelNotOpen();
        Deposits memory d = c.deposits;
        if (uint256(d.deposit1) + d.deposit2 + amount > type(uint128).max) revert DepositOverflow();
        uint128 newDeposit;
        if (is1) {
            newDeposit = d.deposit1 + amount;
            d.deposit1 = newDeposit;
        } else {
            newDeposit = d.deposit2 + amount;
            d.deposit2 = newDeposit;
        }
        c.deposits = d;
        emit ChannelDeposit(channelId, participant, newDeposit);
    }

    function _update(
        bytes32 channelId,
        bool senderIs1,
        address sender,
        BalanceData calldata proof,
        bytes calldata signature
    ) private {
        Channel storage c = channels[channelId];
        Meta memory m = c.meta;
        if (m.state != STATE_CLOSED) revert ChannelNotClosed();
        if (block.number > m.settleBlock) revert SettleWindowOver();
        if (proof.nonce <= (senderIs1 ? m.nonce1 : m.nonce2)) revert StaleNonce();
        _verifyBalanceProof(channelId, m.epoch, proof, signature, sender);
        _storeProof(c, m, senderIs1, proof);
        c.meta = m;
        emit BalanceProofUpdated(channelId, sender, proof.nonce, proof.transferredAmount, proof.locksroot);
    }

    /// @dev Writes a verified proof of one side into storage; `m` is written back by the caller.
    function _storeProof(Channel storage c, Meta memory m, bool senderIs1, BalanceData calldata proof) private {
        Transferred memory t = c.transferred;
        uint8 lockFlag;
        if (senderIs1) {
            m.nonce1 = proof.nonce;
            t.transferred1 = proof.transferredAmount;
            lockFlag = FLAG_LOCKS_1;
        } else {
            m.nonce2 = proof.nonce;
            t.transferred2 = proof.transferredAmount;
            lockFlag = FLAG_LOCKS_2;
        }
        c.transferred = t;
        if (proof.locksroot != bytes32(0) || m.flags & lockFlag != 0) {
            if (senderIs1) c.locksroot1 = proof.locksroot;
            else c.locksroot2 = proof.locksroot;
            if (proof.locksroot != bytes32(0)) m.flags |= lockFlag;
            else m.flags &= ~lockFlag;
        }
    }

    function _unlock(
        bytes32 channelId,
        bool senderIs1,
        address sender,
        bytes calldata locks,
        uint256 skip,
        UnlockState calldata prior,
        bool direct
    ) private {
        Channel storage c = channels[channelId];
        Meta memory m = c.meta;
        if (m.state != STATE_CLOSED) revert ChannelNotClosed();
        if (block.number > m.settleBlock) revert SettleWindowOver();
        if (m.flags & (senderIs1 ? FLAG_LOCKS_1 : FLAG_LOCKS_2) == 0) revert NothingToUnlock();
        bytes32 locksroot = _hashLocks(locks);
        bytes32 stored = senderIs1 ? c.locksroot1 : c.locksroot2;
        // The first unlock finds the proof's locksroot and no prior state; later ones its tag.
        if (stored == locksroot) {
            if (prior.claimed | prior.direct | prior.voided != 0) revert LocksrootMismatch();
        } else if (stored != _tag(locksroot, prior)) {
            revert LocksrootMismatch();
        }

        (uint256 claimed, uint256 paid) = secretRegistry.claimable(locks, skip | prior.claimed);
        UnlockState memory next =
            UnlockState(prior.claimed | paid, direct ? prior.direct | paid : prior.direct, prior.voided);
        bytes32 tagged = _tag(locksroot, next);
        Transferred memory t = c.transferred;
        if (senderIs1) {
            t.transferred1 = _saturatingAdd(t.transferred1, claimed);
            c.locksroot1 = tagged;
        } else {
            t.transferred2 = _saturatingAdd(t.transferred2, claimed);
            c.locksroot2 = tagged;
        }
        c.transferred = t;
        emit ChannelUnlocked(
            channelId, sender, locksroot, next, uint128(claimed > type(uint128).max ? type(uint128).max : claimed)
        );
    }

    /// @dev What a locksroot becomes once unlocked: it names the lock set and its unlock state.
    function _tag(bytes32 locksroot, UnlockState memory state) private pure returns (bytes32) {
        return keccak256(abi.encode(UNLOCKED_TAG, locksroot, state.claimed, state.direct, state.voided));
    }

    function _hashLocks(bytes calldata locks) private pure returns (bytes32 locksroot) {
        uint256 len = locks.length;
        if (len == 0 || len % LOCK_SIZE != 0 || len > LOCK_SIZE * MAX_LOCKS) revert MalformedLocks();
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, locks.offset, len)
            locksroot := keccak256(ptr, len)
        }
    }

    function _saturatingAdd(uint128 a, uint256 b) private pure returns (uint128) {
        uint256 sum = uint256(a) + b;
        return sum > type(uint128).max ? type(uint128).max : uint128(sum);
    }

    function _balanceProofHash(bytes32 channelId, uint40 epoch, BalanceData calldata proof)
        private
        pure
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                BALANCE_PROOF_TYPEHASH,
                channelId,
                epoch,
                proof.nonce,
                proof.transferredAmount,
                proof.lockedAmount,
                proof.locksroot,
                proof.additionalHash
            )
        );
    }

    function _verifyBalanceProof(
        bytes32 channelId,
        uint40 epoch,
        BalanceData calldata proof,
        bytes calldata signature,
        address signer
    ) private view {
        if (_recover(_digest(_balanceProofHash(channelId, epoch, proof)), signature) != signer) {
            revert InvalidSignature();
        }
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256(bytes(NAME)), keccak256(bytes(VERSION)), block.chainid, address(this))
        );
    }

    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        if (signature.length != 65) revert InvalidSignature();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_CURVE_ORDER || (v != 27 && v != 28)) revert InvalidSignature();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
    }

    /// @dev Pulls `amount` from `from` and returns what actually arrived (at most `amount`,
    ///      so a token that re-enters a deposit during its transfer cannot be counted twice).
    function _pull(address token, address from, uint128 amount) private returns (uint128 received) {
        if (pulling != 1) revert Reentered();
        pulling = 2;
        uint256 before = _balanceOf(token);
        _call(token, abi.encodeCall(IERC20Minimal.transferFrom, (from, address(this), amount)));
        uint256 afterwards = _balanceOf(token);
        pulling = 1;
        uint256 arrived = afterwards > before ? afterwards - before : 0;
        received = arrived < amount ? uint128(arrived) : amount;
    }

    function _balanceOf(address token) private view returns (uint256) {
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeCall(IERC20Minimal.balanceOf, (address(this))));
        if (!ok || ret.length < 32) revert TokenTransferFailed();
        return abi.decode(ret, (uint256));
    }

    /// @dev Pays out; a transfer that fails (a reverting or gas-burning recipient, a token
    ///      blocklist) is credited to the recipient for claimPayout instead of blocking the
    ///      other participant's payout. The transfer always gets PAYOUT_GAS in full (else the
    ///      whole call reverts), so a failure is the recipient's or the token's doing.
    function _push(address token, address to, uint256 amount) private {
        if (amount == 0) return;
        if (gasleft() < PAYOUT_GAS + PAYOUT_GAS / 63 + PAYOUT_GAS_RESERVE) revert InsufficientGas();
        bytes memory data = abi.encodeCall(IERC20Minimal.transfer, (to, amount));
        bool ok;
        uint256 size;
        uint256 word;
        assembly ("memory-safe") {
            // at most one word of return data is copied: a recipient's huge revert message
            // cannot eat the gas kept for the credit
            ok := call(PAYOUT_GAS, token, 0, add(data, 32), mload(data), 0, 0)
            size := returndatasize()
            if gt(size, 31) {
                returndatacopy(0, 0, 32)
                word := mload(0)
            }
        }
        if (!ok || (size == 0 ? token.code.length == 0 : (size < 32 || word != 1))) {
            unclaimedPayout[token][to] += amount;
            emit PayoutDeferred(token, to, amount);
        }
    }

    /// @dev Calls a token and accepts `true` or no return data (from a contract) as success.
    function _call(address token, bytes memory data) private {
        (bool ok, bytes memory ret) = token.call(data);
        if (!ok || (ret.length == 0 ? token.code.length == 0 : (ret.length < 32 || abi.decode(ret, (uint256)) != 1))) {
            revert TokenTransferFailed();
        }
    }
}
