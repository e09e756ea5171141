// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title BtcSpv
/// @notice Bitcoin header, Merkle and transaction checks for SPV proofs, over
/// calldata. Hashes are in internal byte order (as serialised) throughout.
library BtcSpv {
    /// An SPV proof; hashes in internal byte order, `tx` and `coinbase` witness-stripped,
    /// `merkle` and `coinbaseMerkle` concatenated 32-byte siblings, leaf level first.
    struct Proof {
        bytes tx;
        uint256 txIndex;
        bytes merkle;
        bytes headers;
        bytes coinbase;
        bytes coinbaseMerkle;
    }

    error BadHeaderLength(uint256 length);
    error BadLink(uint256 index);
    error InsufficientWork(uint256 index);
    error BadBits(uint256 index);
    error BadMerkleNode();
    error BadMerkleIndex();
    error PhantomDuplicate();
    error MerkleMismatch();
    error BadTx();
    error Tx64Bytes();
    error CoinbaseDepthMismatch(uint256 txDepth, uint256 coinbaseDepth);
    error BadCoinbase();

    uint256 internal constant HEADER_BYTES = 80;
    uint256 internal constant EPOCH_BLOCKS = 2016;
    uint256 internal constant EPOCH_SECONDS = 1_209_600;

    function hash256(bytes memory b) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(sha256(b)));
    }

    function hash256Pair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return sha256(abi.encodePacked(sha256(abi.encodePacked(a, b))));
    }

    // ---------------------------------------------------------------- headers

    function header(bytes calldata headers, uint256 i) internal pure returns (bytes calldata) {
        return headers[i * HEADER_BYTES:(i + 1) * HEADER_BYTES];
    }

    function headerCount(bytes calldata headers) internal pure returns (uint256) {
        if (headers.length == 0 || headers.length % HEADER_BYTES != 0) revert BadHeaderLength(headers.length);
        return headers.length / HEADER_BYTES;
    }

    function prevHash(bytes calldata h) internal pure returns (bytes32) {
        return bytes32(h[4:36]);
    }

    function merkleRoot(bytes calldata h) internal pure returns (bytes32) {
        return bytes32(h[36:68]);
    }

    function timestamp(bytes calldata h) internal pure returns (uint32) {
        return uint32(le(h, 68, 4));
    }

    function bits(bytes calldata h) internal pure returns (uint32) {
        return uint32(le(h, 72, 4));
    }

    /// @notice The target an nBits value stands for; zero for negative, zero or oversized encodings.
    function bitsToTarget(uint32 nBits) internal pure returns (uint256) {
        uint256 exponent = nBits >> 24;
        uint256 mantissa = nBits & 0xffffff;
        if (mantissa == 0 || mantissa & 0x800000 != 0 || exponent > 32) return 0;
        return exponent <= 3 ? mantissa >> (8 * (3 - exponent)) : mantissa << (8 * (exponent - 3));
    }

    /// @notice Bitcoin Core's compact encoding of a target.
    function targetToBits(uint256 target) internal pure returns (uint32) {
        uint256 size = 0;
        while (size < 32 && target >> (8 * size) != 0) ++size;
        uint256 compact = size <= 3 ? target << (8 * (3 - size)) : target >> (8 * (size - 3));
        if (compact & 0x800000 != 0) {
            compact >>= 8;
            ++size;
        }
        return uint32(compact | (size << 24));
    }

    /// @notice The next epoch's nBits from the last header's target and the epoch's first and last timestamps.
    function retargetBits(uint256 lastTarget, uint256 firstTime, uint256 lastTime, uint256 powLimit) internal pure returns (uint32) {
        uint256 elapsed = lastTime > firstTime ? lastTime - firstTime : 0;
        if (elapsed < EPOCH_SECONDS / 4) elapsed = EPOCH_SECONDS / 4;
        if (elapsed > EPOCH_SECONDS * 4) elapsed = EPOCH_SECONDS * 4;
        uint256 next = (lastTarget * elapsed) / EPOCH_SECONDS;
        return targetToBits(next > powLimit ? powLimit : next);
    }

    /// @notice Checks header `i` meets the target its own bits give, and returns its hash.
    function checkWork(bytes calldata h, uint256 i, uint256 powLimit) internal pure returns (bytes32 digest) {
        uint256 target = bitsToTarget(bits(h));
        if (target == 0 || target > powLimit) revert BadBits(i);
        digest = hash256(h);
        if (reverse(digest) > target) revert InsufficientWork(i);
    }

    /// @notice A hash read as the little-endian integer proof of work compares.
    function reverse(bytes32 x) internal pure returns (uint256 v) {
        v = uint256(x);
        v = ((v >> 8) & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff)
            | ((v & 0x00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff) << 8);
        v = ((v >> 16) & 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff)
            | ((v & 0x0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff) << 16);
        v = ((v >> 32) & 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff)
            | ((v & 0x00000000ffffffff00000000ffffffff00000000ffffffff00000000ffffffff) << 32);
        v = ((v >> 64) & 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff)
            | ((v & 0x0000000000000000ffffffffffffffff0000000000000000ffffffffffffffff) << 64);
        v = (v >> 128) | (v << 128);
    }

    // ----------------------------------------------------------------- merkle

    /// @notice Folds `leaf` up `siblings` (32 bytes each, leaf level first) to `root`; returns the depth.
    /// @dev CVE-2012-2459: the index must fit the depth, and a running hash that is the right child
    /// and equals its left sibling is a duplicate the tree invented, not a transaction.
    function verifyMerkle(bytes32 leaf, bytes calldata siblings, uint256 index, bytes32 root) internal pure returns (uint256 depth) {
        if (siblings.length % 32 != 0) revert BadMerkleNode();
        depth = siblings.length / 32;
        if (depth > 32 || index >> depth != 0) revert BadMerkleIndex();
        bytes32 node = leaf;
        for (uint256 i = 0; i < depth; ++i) {
            bytes32 sibling = bytes32(siblings[i * 32:(i + 1) * 32]);
            if (index & 1 == 1) {
                if (node == sibling) revert PhantomDuplicate();
                node = hash256Pair(sibling, node);
            } else {
                node = hash256Pair(node, sibling);
            }
            index >>= 1;
        }
        if (node != root) revert MerkleMismatch();
    }

    /// @notice Proves a non-coinbase transaction is in the block of the proof's first header;
    /// returns its txid. The coinbase's branch must have the same depth: it pins the tree's
    /// height, so a 64-byte inner node cannot pass as a transaction on a shorter branch.
    function verifyInclusion(Proof calldata p) internal pure returns (bytes32 id) {
        headerCount(p.headers);
        bytes32 root = merkleRoot(header(p.headers, 0));
        id = txid(p.tx);
        if (p.txIndex == 0) revert BadMerkleIndex();
        uint256 depth = verifyMerkle(id, p.merkle, p.txIndex, root);
        requireCoinbase(p.coinbase);
        uint256 coinbaseDepth = verifyMerkle(txid(p.coinbase), p.coinbaseMerkle, 0, root);
        if (coinbaseDepth != depth) revert CoinbaseDepthMismatch(depth, coinbaseDepth);
    }

    // ----------------------------------------------------------- transactions

    /// @notice The txid of a witness-stripped transaction; 64-byte ones are refused, as they could be inner Merkle nodes.
    function txid(bytes calldata tx) internal pure returns (bytes32) {
        if (tx.length == 64) revert Tx64Bytes();
        return hash256(tx);
    }

    /// @notice Whether `tx` is a coinbase: one input spending the null outpoint.
    function requireCoinbase(bytes calldata tx) internal pure {
        (uint256 inputs, uint256 pos) = varint(tx, 4);
        if (inputs != 1 || pos + 36 > tx.length || bytes32(tx[pos:pos + 32]) != bytes32(0) || le(tx, pos + 32, 4) != 0xffffffff) {
            revert BadCoinbase();
        }
    }

    /// @notice Sums the outputs paying exactly `script`, and says whether an output is
    /// `OP_RETURN <32 bytes: tag>`. Walks the whole transaction, so a malformed one reverts.
    function scanOutputs(bytes calldata tx, bytes32 scriptHash, bytes32 tag) internal pure returns (uint256 paid, bool tagged) {
        (uint256 inputs, uint256 pos) = varint(tx, 4);
        if (inputs == 0) revert BadTx(); // also a witness marker: only stripped transactions are proved
        for (uint256 i = 0; i < inputs; ++i) {
            uint256 scriptLength;
            (scriptLength, pos) = varint(tx, pos + 36);
            pos += scriptLength + 4;
        }
        uint256 outputs;
        (outputs, pos) = varint(tx, pos);
        for (uint256 i = 0; i < outputs; ++i) {
            uint256 value = le(tx, pos, 8);
            uint256 scriptLength;
            (scriptLength, pos) = varint(tx, pos + 8);
            if (pos + scriptLength > tx.length) revert BadTx();
            bytes calldata script = tx[pos:pos + scriptLength];
            if (keccak256(script) == scriptHash) paid += value;
            else if (scriptLength == 34 && script[0] == 0x6a && script[1] == 0x20 && bytes32(script[2:34]) == tag) tagged = true;
            pos += scriptLength;
        }
        if (pos + 4 != tx.length) revert BadTx();
    }

    /// @notice A canonical CompactSize at `pos`, and the position after it.
    function varint(bytes calldata b, uint256 pos) internal pure returns (uint256 value, uint256 next) {
        if (pos >= b.length) revert BadTx();
        uint8 first = uint8(b[pos]);
        if (first < 0xfd) return (first, pos + 1);
        uint256 size = first == 0xfd ? 2 : first == 0xfe ? 4 : 8;
        value = le(b, pos + 1, size);
        if (value < (size == 2 ? 0xfd : size == 4 ? 0x10000 : 0x100000000)) revert BadTx();
        next = pos + 1 + size;
    }

    /// @notice `size` bytes at `pos`, little-endian.
    function le(bytes calldata b, uint256 pos, uint256 size) internal pure returns (uint256 value) {
        if (pos + size > b.length) revert BadTx();
        for (uint256 i = 0; i < size; ++i) value |= uint256(uint8(b[pos + i])) << (8 * i);
    }
}
