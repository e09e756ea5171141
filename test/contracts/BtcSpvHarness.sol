// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {BtcSpv} from "./BtcSpv.sol";

/// Test only: exposes BtcSpv's checks so they run on mainnet vectors, which no
/// relay can be anchored for (their epochs' first headers are not in the vectors).
contract BtcSpvHarness {
    uint256 private constant MAINNET_POW_LIMIT = 0x00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff;

    function verifyInclusion(BtcSpv.Proof calldata p) external pure returns (bytes32) {
        return BtcSpv.verifyInclusion(p);
    }

    function verifyMerkle(bytes32 leaf, bytes calldata siblings, uint256 index, bytes32 root) external pure returns (uint256) {
        return BtcSpv.verifyMerkle(leaf, siblings, index, root);
    }

    function scanOutputs(bytes calldata tx, bytes32 scriptHash, bytes32 tag) external pure returns (uint256 paid, bool tagged) {
        return BtcSpv.scanOutputs(tx, scriptHash, tag);
    }

    function retargetBits(uint32 lastBits, uint256 firstTime, uint256 lastTime) external pure returns (uint32) {
        return BtcSpv.retargetBits(BtcSpv.bitsToTarget(lastBits), firstTime, lastTime, MAINNET_POW_LIMIT);
    }

    /// Links and proof of work only; the relay adds the epoch rules.
    function checkChain(bytes calldata headers) external pure returns (uint256 count) {
        count = BtcSpv.headerCount(headers);
        bytes32 previous;
        for (uint256 i = 0; i < count; ++i) {
            bytes calldata h = BtcSpv.header(headers, i);
            if (i > 0 && BtcSpv.prevHash(h) != previous) revert BtcSpv.BadLink(i);
            previous = BtcSpv.checkWork(h, i, MAINNET_POW_LIMIT);
        }
    }
}
