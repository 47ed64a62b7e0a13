// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestERC20} from "./TestTokens.sol";

/// @title TestFeeToken
/// @notice Test only: an ERC20 that burns 1% of every transfer (a fee-on-transfer token), so
///         the recipient gets less than the stated amount.
contract TestFeeToken is TestERC20 {
    /// @param name_ token name
    /// @param symbol_ token symbol
    constructor(string memory name_, string memory symbol_) TestERC20(name_, symbol_) {}

    function _move(address from, address to, uint256 value) internal override {
        uint256 fee = value / 100;
        super._move(from, to, value - fee);
        super._move(from, address(0xdead), fee);
    }
}

/// @title TestForwarder
/// @notice Test only: a wrapper (multicall-like) contract that makes calls on behalf of
///         whoever calls it, so the outer transaction's input is not the inner call.
contract TestForwarder {
    /// @notice Calls `target` with `data` (data is XORed with `key`, so it never appears
    ///         verbatim in the transaction) and bubbles up a revert.
    /// @param target the contract to call
    /// @param data the call data, each byte XORed with key
    /// @param key the XOR key
    function forward(address target, bytes calldata data, uint8 key) external {
        bytes memory plain = data;
        for (uint256 i; i < plain.length; ++i) {
            plain[i] = plain[i] ^ bytes1(key);
        }
        (bool ok, bytes memory ret) = target.call(plain);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

/// @title TestHostileParticipant
/// @notice Test only: a contract that is a channel participant and refuses, or burns all the
///         gas of, the ERC223 transfers that pay it, so as to block a settlement that pays
///         both sides in one transaction.
contract TestHostileParticipant {
    /// @notice 0: accept tokens, 1: revert, 2: burn all the gas given.
    uint8 public mode;

    /// @notice Sets how tokenFallback behaves.
    /// @param mode_ 0 accept, 1 revert, 2 burn gas
    function setMode(uint8 mode_) external {
        mode = mode_;
    }

    /// @notice Makes any call as this participant (open, deposit, claim) and bubbles a revert.
    /// @param target the contract to call
    /// @param data the call data
    function execute(address target, bytes calldata data) external {
        (bool ok, bytes memory ret) = target.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
    }

    /// @notice ERC223 receiver hook.
    function tokenFallback(address, uint256, bytes calldata) external view {
        if (mode == 1) revert("refused");
        if (mode == 2) {
            while (true) {}
        }
    }
}
