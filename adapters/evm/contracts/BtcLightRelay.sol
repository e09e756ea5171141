// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {BtcSpv} from "./BtcSpv.sol";

/// @title BtcLightRelay
/// @notice Knows Bitcoin's difficulty per epoch, nothing else: proofs carry their
/// own headers, and a chain of headers is accepted when it links, every header
/// meets its own target, and that target is the current or the previous epoch's.
/// Each header of such a chain carries at least an epoch's difficulty, so
/// `n` headers prove at least `n` times that much work.
/// @dev In the spirit of tBTC v2's LightRelay. Retargets are checked exactly
/// against Bitcoin's rule, but the relay cannot see heights: that the headers
/// sit at the epoch boundary (height 2016k) is attested by a quorum of the
/// escrow's relayers, each from its own Bitcoin node. So the relay takes
/// retargets from one caller only, `escrow`, fixed at deployment, which forwards
/// one only with a quorum's signatures (security review #11). The escrow is
/// deployed right after the relay, at the address its deployer's next nonce
/// gives, and refuses a relay bound to anything else. The network is fixed at
/// deployment and must be named: regtest (one target for ever, no retargets)
/// exists for local devnets only.
contract BtcLightRelay {
    enum Network {
        Mainnet,
        Regtest
    }

    error NotOwner();
    error NotAuthorized(address caller);
    error AlreadyInitialized();
    error NotInitialized();
    error GenesisNotAtEpochStart(uint256 height);
    error InvalidProofLength(uint256 proofLength);
    error WrongHeaderCount(uint256 given, uint256 expected);
    error UnexpectedBits(uint256 index, uint32 bits, uint32 expected);
    error NoRetargetOnRegtest();
    error RetargetKeepsBits();
    error NoEscrow();
    error HeaderFromTheFuture(uint256 index, uint32 time, uint256 latest);

    event Genesis(uint256 height, uint32 bits, uint64 proofLength);
    event Retarget(uint64 indexed epoch, uint32 oldBits, uint32 newBits);
    event ProofLengthChanged(uint64 proofLength);
    event OwnershipTransferred(address indexed owner);

    uint256 private constant MAINNET_POW_LIMIT = 0x00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff;
    uint256 private constant REGTEST_POW_LIMIT = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff;
    /// Bitcoin refuses a header dated more than two hours past its network time; so does a retarget here,
    /// against this chain's clock. A fake epoch 4x easier needs its last header dated 8 weeks after the
    /// epoch's first: this makes whoever pushes one wait those weeks, every time.
    uint256 private constant MAX_FUTURE_SECONDS = 2 hours;

    Network public immutable network;
    uint256 public immutable powLimit;
    /// The only caller of `retarget`: the escrow, which forwards a retarget signed by a quorum of its relayers.
    address public immutable escrow;
    address public owner;
    bool public ready;
    /// Headers on each side of a retarget a relayer must submit.
    uint64 public proofLength;
    uint64 public currentEpoch;
    /// Timestamp of the current epoch's first header: the start of its retarget window.
    uint32 public epochStartTime;
    mapping(uint256 => uint32) public epochBits;

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    constructor(Network network_, address escrow_) {
        if (escrow_ == address(0)) revert NoEscrow();
        network = network_;
        powLimit = network_ == Network.Mainnet ? MAINNET_POW_LIMIT : REGTEST_POW_LIMIT;
        escrow = escrow_;
        owner = msg.sender;
        emit OwnershipTransferred(msg.sender);
    }

    /// @notice Anchors the relay at the first header of an epoch (any header on regtest).
    function genesis(bytes calldata genesisHeader, uint256 height, uint64 proofLength_) external onlyOwner {
        if (ready) revert AlreadyInitialized();
        if (genesisHeader.length != BtcSpv.HEADER_BYTES) revert BtcSpv.BadHeaderLength(genesisHeader.length);
        if (network == Network.Mainnet && height % BtcSpv.EPOCH_BLOCKS != 0) revert GenesisNotAtEpochStart(height);
        if (proofLength_ == 0 || proofLength_ > 100) revert InvalidProofLength(proofLength_);
        BtcSpv.checkWork(genesisHeader, 0, powLimit);
        uint32 nBits = BtcSpv.bits(genesisHeader);
        currentEpoch = uint64(height / BtcSpv.EPOCH_BLOCKS);
        epochBits[currentEpoch] = nBits;
        epochStartTime = BtcSpv.timestamp(genesisHeader);
        proofLength = proofLength_;
        ready = true;
        emit Genesis(height, nBits, proofLength_);
    }

    function setProofLength(uint64 proofLength_) external onlyOwner {
        if (proofLength_ == 0 || proofLength_ > 100) revert InvalidProofLength(proofLength_);
        proofLength = proofLength_;
        emit ProofLengthChanged(proofLength_);
    }

    function transferOwnership(address next) external onlyOwner {
        owner = next;
        emit OwnershipTransferred(next);
    }

    /// @notice Moves the relay to the next epoch: `proofLength` headers that end the
    /// current epoch, then `proofLength` that open the next, whose bits must be exactly
    /// what Bitcoin's retarget rule gives for the epoch's first and last timestamps.
    /// Only from `escrow`; neither timestamp the rule reads may be more than two hours ahead of this chain's clock.
    function retarget(bytes calldata headers) external {
        if (msg.sender != escrow) revert NotAuthorized(msg.sender);
        if (!ready) revert NotInitialized();
        if (network != Network.Mainnet) revert NoRetargetOnRegtest();
        uint256 n = proofLength;
        uint256 count = BtcSpv.headerCount(headers);
        if (count != 2 * n) revert WrongHeaderCount(count, 2 * n);
        uint32 oldBits = epochBits[currentEpoch];
        bytes32 previous;
        for (uint256 i = 0; i < n; ++i) previous = _linkedHeader(headers, i, previous, oldBits);
        uint32 lastTime = _notFromTheFuture(headers, n - 1);
        uint32 nextStart = _notFromTheFuture(headers, n);
        uint32 newBits = BtcSpv.retargetBits(BtcSpv.bitsToTarget(oldBits), epochStartTime, lastTime, powLimit);
        // Equal bits would hide where the boundary is; Bitcoin's rule makes that all but impossible.
        if (newBits == oldBits) revert RetargetKeepsBits();
        for (uint256 i = n; i < 2 * n; ++i) previous = _linkedHeader(headers, i, previous, newBits);
        uint64 epoch = currentEpoch + 1;
        currentEpoch = epoch;
        epochBits[epoch] = newBits;
        epochStartTime = nextStart;
        emit Retarget(epoch, oldBits, newBits);
    }

    /// @notice Checks a proof's own headers: linked, each meeting its target, each at
    /// the current or previous epoch's bits, the previous epoch's only before the current's.
    /// @return count headers in the chain, the confirmations it proves
    function validateChain(bytes calldata headers) external view returns (uint256 count) {
        if (!ready) revert NotInitialized();
        count = BtcSpv.headerCount(headers);
        uint64 epoch = currentEpoch;
        uint32 current = epochBits[epoch];
        uint32 before = epoch == 0 ? 0 : epochBits[epoch - 1];
        bool inCurrent = false;
        bytes32 previous;
        for (uint256 i = 0; i < count; ++i) {
            bytes calldata h = BtcSpv.header(headers, i);
            uint32 nBits = BtcSpv.bits(h);
            if (nBits == current) inCurrent = true;
            else if (inCurrent || nBits != before || before == 0) revert UnexpectedBits(i, nBits, current);
            if (i > 0 && BtcSpv.prevHash(h) != previous) revert BtcSpv.BadLink(i);
            previous = BtcSpv.checkWork(h, i, powLimit);
        }
    }

    function _notFromTheFuture(bytes calldata headers, uint256 i) private view returns (uint32 time) {
        time = BtcSpv.timestamp(BtcSpv.header(headers, i));
        if (time > block.timestamp + MAX_FUTURE_SECONDS) revert HeaderFromTheFuture(i, time, block.timestamp + MAX_FUTURE_SECONDS);
    }

    function _linkedHeader(bytes calldata headers, uint256 i, bytes32 previous, uint32 expectedBits) private view returns (bytes32) {
        bytes calldata h = BtcSpv.header(headers, i);
        uint32 nBits = BtcSpv.bits(h);
        if (nBits != expectedBits) revert UnexpectedBits(i, nBits, expectedBits);
        if (i > 0 && BtcSpv.prevHash(h) != previous) revert BtcSpv.BadLink(i);
        return BtcSpv.checkWork(h, i, powLimit);
    }
}
