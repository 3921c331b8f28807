// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Callee of TraceProbe: stores, logs, reverts with a reason, burns gas and self-destructs.
contract TraceChild {
    uint256 public stored;

    event Poked(address indexed by, uint256 value);

    constructor() payable {}

    function poke(uint256 v) external payable returns (uint256) {
        stored = v;
        emit Poked(msg.sender, v);
        return v * 2;
    }

    function peek() external view returns (uint256) {
        return stored;
    }

    function fail(string calldata why) external pure {
        revert(why);
    }

    function burn() external pure returns (uint256 n) {
        while (true) n++;
    }

    function destroy(address payable to) external {
        selfdestruct(to);
    }
}

/// One contract whose calls exercise every frame type a call tracer reports.
contract TraceProbe {
    // Slot 0 as in TraceChild: the DELEGATECALL and CALLCODE into poke() write it here.
    uint256 public stored;
    TraceChild public child;

    event Nested(uint256 sum);

    constructor() payable {
        child = new TraceChild();
    }

    /// CALL (with value), STATICCALL, DELEGATECALL and CALLCODE into the child, with logs.
    function nested(uint256 v) external payable returns (uint256 sum) {
        sum = child.poke{value: msg.value}(v);
        sum += child.peek();
        (bool ok, bytes memory out) = address(child).delegatecall(abi.encodeCall(TraceChild.poke, (v + 1)));
        require(ok, "delegatecall failed");
        sum += abi.decode(out, (uint256));
        address target = address(child);
        bytes memory input = abi.encodeCall(TraceChild.poke, (v + 2));
        uint256 callcodeOk;
        assembly {
            callcodeOk := callcode(gas(), target, 0, add(input, 32), mload(input), 0, 32)
            sum := add(sum, mload(0))
        }
        require(callcodeOk == 1, "callcode failed");
        emit Nested(sum);
    }

    /// CREATE and CREATE2 of fresh children, one destroyed in the same transaction (EIP-6780).
    function spawn(bytes32 salt) external payable returns (address created, address created2) {
        TraceChild a = new TraceChild{value: msg.value}();
        TraceChild b = new TraceChild{salt: salt}();
        a.destroy(payable(msg.sender));
        return (address(a), address(b));
    }

    /// A caught inner revert with a reason, then the transaction itself reverts with one.
    function failWithReason(string calldata why) external {
        stored = 1;
        try child.fail(why) {} catch {}
        revert(string.concat("outer: ", why));
    }

    /// An inner call that runs out of gas, caught.
    function starve() external returns (bool ok) {
        stored = 2;
        (ok,) = address(child).call{gas: 30_000}(abi.encodeCall(TraceChild.burn, ()));
    }
}
