// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title SecretRegistry
/// @notice Records the block at which the preimage of a hash lock was first made public.
/// @dev Hash locks use sha256 so that the same secret can lock Bitcoin and Litecoin HTLCs
///      for cross-chain swaps. A lock pays out iff its secret was registered here at a block
///      no later than the lock's expiration (see TokensNetwork.unlock).
contract SecretRegistry {
    /// @dev sha256(secret) => block number at which the secret was registered (0 = never).
    mapping(bytes32 => uint256) private revealBlock;

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
        return revealBlock[secrethash];
    }

    /// @notice Registration blocks of many secret hashes at once.
    /// @dev Called by TokensNetwork when it unlocks many locks in one transaction. The input is
    ///      the hashes packed back to back (32 bytes each, no ABI array header) and the output
    ///      is the blocks packed the same way, which keeps the per-lock overhead to a few gas.
    /// @param packedSecrethashes n * 32 bytes of sha256 hashes
    /// @return packedBlocks n * 32 bytes of registration blocks (0 = not registered)
    function revealBlocks(bytes calldata packedSecrethashes) external view returns (bytes memory packedBlocks) {
        uint256 len = packedSecrethashes.length;
        if (len % 32 != 0) revert MalformedHashes();
        packedBlocks = new bytes(len);
        assembly ("memory-safe") {
            mstore(0x20, revealBlock.slot)
            let out := add(packedBlocks, 0x20)
            let src := packedSecrethashes.offset
            for {
                let i := 0
            } lt(i, len) {
                i := add(i, 0x20)
            } {
                mstore(0x00, calldataload(add(src, i)))
                mstore(add(out, i), sload(keccak256(0x00, 0x40)))
            }
        }
    }

    /// @notice The input to revealBlocks was not a whole number of 32-byte hashes.
    error MalformedHashes();

    function _register(bytes32 secret) private returns (bool) {
        if (secret == bytes32(0)) return false;
        bytes32 secrethash = sha256(abi.encodePacked(secret));
        if (revealBlock[secrethash] != 0) return false;
        revealBlock[secrethash] = block.number;
        emit SecretRevealed(secrethash, secret);
        return true;
    }
}
