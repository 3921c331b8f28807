// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// Records, inside a transaction, what BLOCKHASH and the EIP-2935 history contract return
/// for heights relative to the block the transaction runs in.
contract BlockHashes {
    address constant HISTORY = 0x0000F90827F1C53a10cb7A02335B175320002935;

    uint256 public recordedAt;
    bytes32 public minus1;
    bytes32 public minus2;
    bytes32 public minus256;
    bytes32 public minus257;
    bytes32 public current;
    /// The history contract's answers (its `get` path: the 32-byte block number as calldata).
    bytes32 public historyMinus1;
    bytes32 public historyMinus257;

    function record() external {
        uint256 n = block.number;
        recordedAt = n;
        minus1 = blockhash(n - 1);
        minus2 = blockhash(n - 2);
        minus256 = blockhash(n - 256);
        minus257 = blockhash(n - 257);
        current = blockhash(n);
        historyMinus1 = history(n - 1);
        historyMinus257 = history(n - 257);
    }

    function history(uint256 number) internal view returns (bytes32) {
        (bool ok, bytes memory out) = HISTORY.staticcall(abi.encode(number));
        require(ok && out.length == 32, "history contract call failed");
        return abi.decode(out, (bytes32));
    }
}
