// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title SecretRegistry
/// @notice Records the block at which the preimage of a hash lock was first made public.
/// @dev Hash locks use sha256 so that the same secret can lock Bitcoin and Litecoin HTLCs
///      for cross-chain swaps. A lock pays out iff its secret was registered here at a block
///      no later than the lock's expiration (see TokensNetwork.unlock).
contract SecretRegistry {
    // Storage layout: the block at which a secret was registered (0 = never) lives in the
    // storage slot whose number is sha256(secret). The contract has no other storage, and
    // sha256 outputs never collide with anything, so no mapping hash is needed: that saves a
    // keccak256 per look-up in the hot loop of unlocks.

    /// @notice A secret became public on chain.
    /// @param secrethash sha256 of the secret
    /// @param secret the secret itself, so that nodes following the chain learn it
    event SecretRevealed(bytes32 indexed secrethash, bytes32 secret);

    /// @notice Registers one secret.
    /// @param secret the preimage; zero is not a valid secret
    /// @return registered true if the secret was newly registered by this call, false if it
    ///         is zero or was already registered (the earlier block is kept)
    function registerSecret(bytes32 secret) external returns (bool registered) {
        return _register(secret);
    }

    /// @notice Registers several secrets in one transaction.
    /// @param secrets the preimages
    /// @return allRegistered true only if every secret was newly registered by this call
    function registerSecretBatch(bytes32[] calldata secrets) external returns (bool allRegistered) {
        allRegistered = true;
        uint256 n = secrets.length;
        for (uint256 i; i < n; ) {
            if (!_register(secrets[i])) allRegistered = false;
            unchecked {
                ++i;
            }
        }
    }

    /// @notice Block number at which the secret with this sha256 hash was registered.
    /// @param secrethash sha256(secret)
    /// @return blockNumber the registration block, or 0 if the secret was never registered
    function getSecretRevealBlockHeight(bytes32 secrethash) external view returns (uint256 blockNumber) {
        assembly ("memory-safe") {
            blockNumber := sload(secrethash)
        }
    }

    /// @notice The sum of the amounts of the locks whose secret was registered at or before
    ///         the lock's expiration: what an unlock of these locks pays to their receiver.
    /// @param locks packed locks, 56 bytes each: uint128 amount, uint64 expiration,
    ///        bytes32 secrethash (sha256 of the secret)
    /// @param skip bit i set: lock i is not counted
    /// @return claimed the sum of the amounts of the counted locks
    function claimableAmount(bytes calldata locks, uint256 skip) external view returns (uint256 claimed) {
        (claimed,) = _claimable(locks, skip);
    }

    /// @notice claimableAmount, plus which locks it counted: what TokensNetwork records at an
    ///         unlock, so that the unlock is later judged by what paid when it happened.
    /// @dev Written in assembly so that a lock costs little more than its calldata and one
    ///      storage read. Skipped locks are not even looked up.
    /// @param locks packed locks, 56 bytes each (at most 256)
    /// @param skip bit i set: lock i is not counted
    /// @return claimed the sum of the amounts of the counted locks
    /// @return paid bit i set: lock i was counted (its secret was registered in time)
    function claimable(bytes calldata locks, uint256 skip) external view returns (uint256 claimed, uint256 paid) {
        return _claimable(locks, skip);
    }

    /// @notice The locks are not a whole number of 56-byte records, or more than 256.
    error MalformedLocks();

    function _claimable(bytes calldata locks, uint256 skip) private view returns (uint256 claimed, uint256 paid) {
        uint256 len = locks.length;
        if (len % 56 != 0 || len > 56 * 256) revert MalformedLocks();
        assembly ("memory-safe") {
            let end := add(locks.offset, len)
            // A lock counts iff 0 < revealed <= expiration, i.e. revealed - 1 < expiration in
            // wrapping arithmetic; counted branch-free. head = amount (16 bytes) | expiration
            // (8 bytes) | the first 8 bytes of the secrethash.
            let i := 0
            switch skip
            case 0 {
                for {
                    let p := locks.offset
                } lt(p, end) {
                    p := add(p, 56)
                    i := add(i, 1)
                } {
                    let head := calldataload(p)
                    let ok := lt(sub(sload(calldataload(add(p, 24))), 1), and(shr(64, head), 0xffffffffffffffff))
                    claimed := add(claimed, mul(shr(128, head), ok))
                    paid := or(paid, shl(i, ok))
                }
            }
            default {
                for {
                    let p := locks.offset
                } lt(p, end) {
                    p := add(p, 56)
                    i := add(i, 1)
                } {
                    if iszero(and(shr(i, skip), 1)) {
                        let head := calldataload(p)
                        let ok := lt(sub(sload(calldataload(add(p, 24))), 1), and(shr(64, head), 0xffffffffffffffff))
                        claimed := add(claimed, mul(shr(128, head), ok))
                        paid := or(paid, shl(i, ok))
                    }
                }
            }
        }
    }

    function _register(bytes32 secret) private returns (bool) {
        if (secret == bytes32(0)) return false;
        bytes32 secrethash = sha256(abi.encodePacked(secret));
        uint256 registered;
        assembly ("memory-safe") {
            registered := sload(secrethash)
        }
        if (registered != 0) return false;
        assembly ("memory-safe") {
            sstore(secrethash, number())
        }
        emit SecretRevealed(secrethash, secret);
        return true;
    }
}
