// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title TestERC20
/// @notice A plain ERC20 with public minting, for tests, benchmarks and the demo only.
contract TestERC20 {
    /// @notice Token name.
    string public name;
    /// @notice Token symbol.
    string public symbol;
    /// @notice Decimals of the display unit.
    uint8 public constant decimals = 18;
    /// @notice Tokens in existence.
    uint256 public totalSupply;
    /// @notice Balance of each holder.
    mapping(address => uint256) public balanceOf;
    /// @notice Allowance of each (owner, spender) pair.
    mapping(address => mapping(address => uint256)) public allowance;

    /// @notice ERC20 transfer event.
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice ERC20 approval event.
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @param name_ token name
    /// @param symbol_ token symbol
    constructor(string memory name_, string memory symbol_) {
        name = name_;
        symbol = symbol_;
    }

    /// @notice Creates `value` tokens for `to`. Anyone may mint: this is a test token.
    /// @param to recipient
    /// @param value amount
    function mint(address to, uint256 value) external {
        totalSupply += value;
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    /// @notice ERC20 transfer.
    /// @param to recipient
    /// @param value amount
    /// @return always true (reverts on failure)
    function transfer(address to, uint256 value) public virtual returns (bool) {
        _move(msg.sender, to, value);
        return true;
    }

    /// @notice ERC20 transferFrom.
    /// @param from owner
    /// @param to recipient
    /// @param value amount
    /// @return always true (reverts on failure)
    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= value, "allowance too low");
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    /// @notice ERC20 approve.
    /// @param spender who may spend
    /// @param value how much
    /// @return always true
    function approve(address spender, uint256 value) public returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function _move(address from, address to, uint256 value) internal virtual {
        require(balanceOf[from] >= value, "balance too low");
        unchecked {
            balanceOf[from] -= value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}

/// @dev ERC223 receiver interface.
interface IERC223Recipient {
    /// @notice Called by an ERC223 token after it moved tokens to the recipient.
    /// @param from the sender
    /// @param value amount received
    /// @param data data passed with the transfer
    function tokenFallback(address from, uint256 value, bytes calldata data) external;
}

/// @title TestERC223
/// @notice An ERC223 token for tests: transfers to contracts call their tokenFallback.
contract TestERC223 is TestERC20 {
    /// @param name_ token name
    /// @param symbol_ token symbol
    constructor(string memory name_, string memory symbol_) TestERC20(name_, symbol_) {}

    /// @notice ERC223 transfer with data; calls `to.tokenFallback` when `to` is a contract.
    /// @param to recipient
    /// @param value amount
    /// @param data passed to tokenFallback
    /// @return always true (reverts on failure)
    function transfer(address to, uint256 value, bytes calldata data) external returns (bool) {
        _move(msg.sender, to, value);
        if (to.code.length != 0) IERC223Recipient(to).tokenFallback(msg.sender, value, data);
        return true;
    }

    /// @notice ERC223 transfer without data; still notifies contracts (which may refuse).
    /// @param to recipient
    /// @param value amount
    /// @return always true (reverts on failure)
    function transfer(address to, uint256 value) public override returns (bool) {
        _move(msg.sender, to, value);
        if (to.code.length != 0) IERC223Recipient(to).tokenFallback(msg.sender, value, "");
        return true;
    }
}

/// @dev The receiver side of approveAndCall.
interface IApprovalReceiver {
    /// @notice Called by the token right after `from` approved `value` for the receiver.
    /// @param from the owner who approved
    /// @param value the amount approved
    /// @param token the token
    /// @param extraData data passed to approveAndCall
    function receiveApproval(address from, uint256 value, address token, bytes calldata extraData) external;
}

/// @title TestApproveAndCallToken
/// @notice An ERC20 with the `approveAndCall` extension, for tests.
contract TestApproveAndCallToken is TestERC20 {
    /// @param name_ token name
    /// @param symbol_ token symbol
    constructor(string memory name_, string memory symbol_) TestERC20(name_, symbol_) {}

    /// @notice Approves `spender` for `value` and calls its receiveApproval in one transaction.
    /// @param spender the contract to approve and call
    /// @param value amount approved
    /// @param extraData passed to receiveApproval
    /// @return always true (reverts on failure)
    function approveAndCall(address spender, uint256 value, bytes calldata extraData) external returns (bool) {
        approve(spender, value);
        IApprovalReceiver(spender).receiveApproval(msg.sender, value, address(this), extraData);
        return true;
    }
}
