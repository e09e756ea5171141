// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title QantaraEscrow
/// @notice Holds renters' funds for GPU-rental orders and releases them only on
/// a settlement signed by a quorum of the current relayer set. A renter can
/// always reclaim an order nobody settled once its deadline has passed.
/// @dev Storage per order is one slot: the hash of its terms while open, then a
/// terminal marker. Callers pass the terms back in calldata, which keeps an
/// open at one fresh SSTORE and a settle at one warm rewrite.
contract QantaraEscrow {
    struct Order {
        address renter;
        address token; // address(0) is the chain's native asset
        uint256 amount;
        bytes32 providerId; // the provider's ed25519 public key
        address payout;
        uint64 start;
        uint32 slotLength;
        uint32 slots;
    }

    struct Settlement {
        bytes32 orderId;
        uint256 toProvider;
        uint256 toRenter;
        uint256 fee;
        address feeRecipient;
        uint32 upSlots;
        uint32 totalSlots;
        bytes32 heartbeatRoot;
    }

    error OrderExists(bytes32 orderId);
    error UnknownOrder(bytes32 orderId);
    error AlreadySettled(bytes32 orderId);
    error AlreadyRefunded(bytes32 orderId);
    error OrderMismatch(bytes32 orderId);
    error InvalidOrder(string reason);
    error WrongValue(uint256 expected, uint256 received);
    error TransferFailed(address token);
    error SplitMismatch(uint256 amount, uint256 total);
    error FeeTooHigh(uint256 fee, uint256 maxFee);
    error InvalidSlots(uint32 upSlots, uint32 totalSlots);
    error MissingFeeRecipient();
    error DeadlineNotReached(uint256 reclaimableAt);
    error BadSignatureLength(uint256 length);
    error NotEnoughSignatures(uint256 given, uint256 threshold);
    error InvalidSignature(uint256 index);
    error HighS(uint256 index);
    error DuplicateSigner(address signer);
    error SignersNotAscending(uint256 index);
    error NotRelayer(address signer);
    error InvalidRelayerSet(string reason);
    error NothingToClaim();

    event OrderOpened(
        bytes32 indexed orderId,
        address indexed renter,
        bytes32 indexed providerId,
        address token,
        uint256 amount,
        address payout,
        uint64 start,
        uint32 slotLength,
        uint32 slots
    );
    event OrderSettled(
        bytes32 indexed orderId,
        uint256 toProvider,
        uint256 toRenter,
        uint256 fee,
        address feeRecipient,
        uint32 upSlots,
        uint32 totalSlots,
        bytes32 heartbeatRoot
    );
    event OrderReclaimed(bytes32 indexed orderId, uint256 amount);
    event RelayerSetUpdated(uint64 indexed version, address[] members, uint8 threshold);
    event PaymentDeferred(address indexed to, address indexed token, uint256 amount);
    event Claimed(address indexed to, address indexed token, uint256 amount);

    bytes32 private constant SETTLED = bytes32(uint256(1));
    bytes32 private constant REFUNDED = bytes32(uint256(2));
    uint256 private constant HALF_CURVE_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;
    /// A recipient that reverts or burns gas must not block the other payees:
    /// native payments get a bounded gas stipend and fall back to `claimable`.
    uint256 private constant NATIVE_PAYMENT_GAS = 50_000;

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("QantaraEscrow");
    bytes32 private constant VERSION_HASH = keccak256("1");
    bytes32 private constant SETTLEMENT_TYPEHASH = keccak256(
        "Settlement(bytes32 orderId,uint256 toProvider,uint256 toRenter,uint256 fee,address feeRecipient,uint32 upSlots,uint32 totalSlots,bytes32 heartbeatRoot)"
    );
    bytes32 private constant RELAYER_SET_TYPEHASH =
        keccak256("RelayerSetUpdate(uint64 version,address[] members,uint8 threshold)");

    /// Upper bound on the relayer fee, in basis points of the order amount.
    uint16 public immutable maxFeeBps;
    /// Seconds after an order's end before its renter may reclaim it.
    uint64 public immutable reclaimGrace;

    /// orderId => hash of its terms while open, or SETTLED / REFUNDED.
    mapping(bytes32 => bytes32) public orderState;
    uint64 public relayerSetVersion;
    uint8 public threshold;
    mapping(uint64 => mapping(address => bool)) public isRelayer;
    address[] private members;
    /// recipient => token => amount whose push payment failed.
    mapping(address => mapping(address => uint256)) public claimable;

    constructor(address[] memory initialMembers, uint8 initialThreshold, uint16 maxFeeBps_, uint64 reclaimGrace_) {
        if (maxFeeBps_ > 10_000) revert InvalidOrder("maxFeeBps above 100%");
        maxFeeBps = maxFeeBps_;
        reclaimGrace = reclaimGrace_;
        _setRelayers(1, initialMembers, initialThreshold);
    }

    // ---------------------------------------------------------------- orders

    /// @notice Locks `o.amount` of `o.token` for an order. The id depends on the
    /// renter and a renter-chosen salt, so resubmitting the same open is refused
    /// rather than locking funds twice.
    function open(Order calldata o, bytes32 salt) external payable returns (bytes32 orderId) {
        if (o.renter != msg.sender) revert InvalidOrder("renter must be the sender");
        if (o.amount == 0) revert InvalidOrder("zero amount");
        if (o.slots == 0 || o.slotLength == 0) revert InvalidOrder("empty schedule");
        if (o.payout == address(0)) revert InvalidOrder("zero payout address");
        if (o.providerId == bytes32(0)) revert InvalidOrder("zero provider id");
        if (_end(o) <= block.timestamp) revert InvalidOrder("order already over");

        orderId = orderIdFor(msg.sender, salt);
        if (orderState[orderId] != bytes32(0)) revert OrderExists(orderId);
        orderState[orderId] = keccak256(abi.encode(o));

        if (o.token == address(0)) {
            if (msg.value != o.amount) revert WrongValue(o.amount, msg.value);
        } else {
            if (msg.value != 0) revert WrongValue(0, msg.value);
            // Fee-on-transfer and rebasing tokens would leave the escrow short of what it owes.
            uint256 before = _balanceOf(o.token);
            _callToken(o.token, abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), o.amount));
            uint256 received = _balanceOf(o.token) - before;
            if (received != o.amount) revert WrongValue(o.amount, received);
        }

        emit OrderOpened(orderId, o.renter, o.providerId, o.token, o.amount, o.payout, o.start, o.slotLength, o.slots);
    }

    /// @notice Pays an order exactly as a quorum of relayers signed it, once.
    /// @param signatures 65-byte (r, s, v) signatures, concatenated, signers strictly ascending.
    function settle(Order calldata o, Settlement calldata s, bytes calldata signatures) external {
        bytes32 orderId = s.orderId;
        _requireOpen(orderId, o);
        if (s.toProvider + s.toRenter + s.fee != o.amount) {
            revert SplitMismatch(o.amount, s.toProvider + s.toRenter + s.fee);
        }
        uint256 maxFee = (o.amount * maxFeeBps) / 10_000;
        if (s.fee > maxFee) revert FeeTooHigh(s.fee, maxFee);
        if (s.totalSlots != o.slots || s.upSlots > s.totalSlots) revert InvalidSlots(s.upSlots, s.totalSlots);
        if (s.fee != 0 && s.feeRecipient == address(0)) revert MissingFeeRecipient();

        _requireQuorum(_hashTypedData(_settlementStructHash(s)), signatures);

        orderState[orderId] = SETTLED;
        _pay(o.token, o.payout, s.toProvider);
        _pay(o.token, o.renter, s.toRenter);
        _pay(o.token, s.feeRecipient, s.fee);
        emit OrderSettled(orderId, s.toProvider, s.toRenter, s.fee, s.feeRecipient, s.upSlots, s.totalSlots, s.heartbeatRoot);
    }

    /// @notice Returns everything to the renter of an order nobody settled by
    /// its end plus the grace period. Anyone may call it; only the renter is paid.
    function reclaim(bytes32 orderId, Order calldata o) external {
        _requireOpen(orderId, o);
        uint256 reclaimableAt = _end(o) + reclaimGrace;
        if (block.timestamp < reclaimableAt) revert DeadlineNotReached(reclaimableAt);
        orderState[orderId] = REFUNDED;
        _pay(o.token, o.renter, o.amount);
        emit OrderReclaimed(orderId, o.amount);
    }

    /// @notice Withdraws a payment that could not be pushed to the caller.
    function claim(address token) external {
        uint256 amount = claimable[msg.sender][token];
        if (amount == 0) revert NothingToClaim();
        claimable[msg.sender][token] = 0;
        if (token == address(0)) {
            (bool ok,) = msg.sender.call{value: amount}("");
            if (!ok) revert TransferFailed(address(0));
        } else {
            _callToken(token, abi.encodeWithSelector(0xa9059cbb, msg.sender, amount));
        }
        emit Claimed(msg.sender, token, amount);
    }

    function orderIdFor(address renter, bytes32 salt) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), renter, salt));
    }

    // ------------------------------------------------------------ relayer set

    /// @notice Replaces the relayer set. Signed by a quorum of the current set
    /// over the next version number, so an update can be applied once only.
    function rotateRelayers(address[] calldata newMembers, uint8 newThreshold, bytes calldata signatures) external {
        uint64 next = relayerSetVersion + 1;
        bytes32 structHash = keccak256(
            abi.encode(RELAYER_SET_TYPEHASH, next, keccak256(abi.encodePacked(newMembers)), newThreshold)
        );
        _requireQuorum(_hashTypedData(structHash), signatures);
        _setRelayers(next, newMembers, newThreshold);
    }

    function relayerSet() external view returns (uint64 version, address[] memory current, uint8 currentThreshold) {
        return (relayerSetVersion, members, threshold);
    }

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    // -------------------------------------------------------------- internals

    function _requireOpen(bytes32 orderId, Order calldata o) private view {
        bytes32 state = orderState[orderId];
        if (state == keccak256(abi.encode(o))) return;
        if (state == SETTLED) revert AlreadySettled(orderId);
        if (state == REFUNDED) revert AlreadyRefunded(orderId);
        if (state == bytes32(0)) revert UnknownOrder(orderId);
        revert OrderMismatch(orderId);
    }

    function _end(Order calldata o) private pure returns (uint256) {
        return uint256(o.start) + uint256(o.slotLength) * uint256(o.slots);
    }

    function _setRelayers(uint64 version, address[] memory newMembers, uint8 newThreshold) private {
        uint256 n = newMembers.length;
        if (n == 0 || n > type(uint8).max) revert InvalidRelayerSet("size");
        if (newThreshold == 0 || newThreshold > n) revert InvalidRelayerSet("threshold");
        address last = address(0);
        for (uint256 i = 0; i < n; ++i) {
            address m = newMembers[i];
            if (m <= last) revert InvalidRelayerSet("members must be non-zero and strictly ascending");
            isRelayer[version][m] = true;
            last = m;
        }
        members = newMembers;
        relayerSetVersion = version;
        threshold = newThreshold;
        emit RelayerSetUpdated(version, newMembers, newThreshold);
    }

    function _requireQuorum(bytes32 digest, bytes calldata signatures) private view {
        if (signatures.length % 65 != 0) revert BadSignatureLength(signatures.length);
        uint256 count = signatures.length / 65;
        uint64 version = relayerSetVersion;
        uint256 needed = threshold;
        if (count < needed) revert NotEnoughSignatures(count, needed);
        address last = address(0);
        for (uint256 i = 0; i < count; ++i) {
            bytes32 r;
            bytes32 sv;
            uint8 v;
            assembly {
                let p := add(signatures.offset, mul(i, 65))
                r := calldataload(p)
                sv := calldataload(add(p, 32))
                v := byte(0, calldataload(add(p, 64)))
            }
            if (uint256(sv) > HALF_CURVE_ORDER) revert HighS(i);
            if (v != 27 && v != 28) revert InvalidSignature(i);
            address signer = ecrecover(digest, v, r, sv);
            if (signer == address(0)) revert InvalidSignature(i);
            if (signer == last) revert DuplicateSigner(signer);
            if (signer < last) revert SignersNotAscending(i);
            if (!isRelayer[version][signer]) revert NotRelayer(signer);
            last = signer;
        }
    }

    function _settlementStructHash(Settlement calldata s) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                SETTLEMENT_TYPEHASH,
                s.orderId,
                s.toProvider,
                s.toRenter,
                s.fee,
                s.feeRecipient,
                s.upSlots,
                s.totalSlots,
                s.heartbeatRoot
            )
        );
    }

    function _hashTypedData(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// Pushes a payment; if the recipient cannot take it, records it as claimable
    /// so that one bad payee never blocks a settlement or a refund.
    function _pay(address token, address to, uint256 amount) private {
        if (amount == 0) return;
        bool ok;
        if (token == address(0)) {
            assembly {
                ok := call(NATIVE_PAYMENT_GAS, to, amount, 0, 0, 0, 0)
            }
        } else {
            ok = _tryCallToken(token, abi.encodeWithSelector(0xa9059cbb, to, amount));
        }
        if (!ok) {
            claimable[to][token] += amount;
            emit PaymentDeferred(to, token, amount);
        }
    }

    function _callToken(address token, bytes memory data) private {
        if (!_tryCallToken(token, data)) revert TransferFailed(token);
    }

    /// Accepts tokens that return true and tokens that return nothing; reads at
    /// most one word of return data, so a token cannot return-bomb the caller.
    function _tryCallToken(address token, bytes memory data) private returns (bool ok) {
        assembly {
            mstore(0, 0)
            ok := call(gas(), token, 0, add(data, 32), mload(data), 0, 32)
            switch returndatasize()
            case 0 { ok := and(ok, gt(extcodesize(token), 0)) }
            default { ok := and(ok, and(gt(returndatasize(), 31), eq(mload(0), 1))) }
        }
    }

    function _balanceOf(address token) private view returns (uint256 balance) {
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeWithSelector(0x70a08231, address(this)));
        if (!ok || ret.length < 32) revert TransferFailed(token);
        balance = abi.decode(ret, (uint256));
    }
}
