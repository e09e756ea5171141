// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {BtcLightRelay} from "./BtcLightRelay.sol";
import {BtcSpv} from "./BtcSpv.sol";

/// @title QantaraEscrow
/// @notice Holds renters' funds for GPU-rental orders and releases them only on
/// a settlement signed by a quorum of the current relayer set. A renter can
/// always reclaim an order nobody settled once its deadline has passed.
/// Orders may ask for the provider's share in BTC: a solver quotes a rate when
/// the order opens, pays the provider's Bitcoin script after settlement, and is
/// repaid here only against an SPV proof of that payment.
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
        // The GPUs rented, packed: count (8 bits), class code (16), minimum VRAM in MiB (32), 8 zero bits.
        // Relayers read the class; the escrow only bounds the count.
        uint64 gpu;
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

    /// A BTC payout: the provider's share, converted at the solver's signed quote,
    /// paid to `script` on Bitcoin by `payoutDeadline`, else paid here to the order's payout address.
    /// The quote also bounds the order it opens (its token is signed too), so that it commits the
    /// solver to no worthless token, no larger order, no later order and no open-ended option on the rate.
    struct BtcPayout {
        bytes script;
        address solver;
        uint256 satsPerE18; // satoshis per 1e18 smallest units of the order's token
        uint64 payoutDeadline;
        uint256 maxAmount; // the most the order may lock, in the token's smallest units
        uint64 openBy; // unix seconds: no order opens with this quote after it
        uint64 latestEnd; // unix seconds: the order must end by then
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
    error BtcPayoutsDisabled();
    error InvalidBtcPayout(string reason);
    error BadQuoteSignature();
    error NotOwedInBtc(bytes32 orderId);
    error QuoteExpired(uint64 openBy);
    error AmountAboveQuote(uint256 amount, uint256 maxAmount);
    error OrderEndsAfterQuote(uint256 end, uint64 latestEnd);
    error ProofWindowClosed(uint256 closedAt);
    error ProofWindowOpen(uint256 closesAt);
    error PayoutMinedAfterDeadline(uint256 minedAt, uint64 deadline);
    error NotEnoughConfirmations(uint256 given, uint256 required);
    error PayoutAlreadyProved(bytes32 txid);
    error PayoutNotTagged(bytes32 orderId);
    error PayoutTooSmall(uint256 paid, uint256 owed);
    error WrongBtcNetwork(BtcLightRelay.Network expected, BtcLightRelay.Network relay);
    error RelayNotBoundHere(address relayEscrow);
    error PayoutAboveCap(uint256 sats, uint256 maxPayoutSats);

    event OrderOpened(
        bytes32 indexed orderId,
        address indexed renter,
        bytes32 indexed providerId,
        address token,
        uint256 amount,
        address payout,
        uint64 start,
        uint32 slotLength,
        uint32 slots,
        uint64 gpu
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
    event BtcPayoutRequested(
        bytes32 indexed orderId,
        address indexed solver,
        uint256 satsPerE18,
        uint64 payoutDeadline,
        uint256 maxAmount,
        uint64 openBy,
        uint64 latestEnd,
        bytes script
    );
    event BtcPayoutOwed(bytes32 indexed orderId, address indexed solver, uint256 sats, uint256 toProvider, uint64 payoutDeadline);
    event BtcPayoutProved(bytes32 indexed orderId, bytes32 indexed btcTxid, uint256 sats);
    event BtcPayoutFallback(bytes32 indexed orderId, uint256 toProvider);
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
    bytes32 private constant BTC_QUOTE_TYPEHASH = keccak256(
        "BtcQuote(bytes32 orderId,bytes32 scriptHash,address solver,address token,uint256 maxAmount,uint256 satsPerE18,uint64 openBy,uint64 latestEnd,uint64 payoutDeadline)"
    );
    /// Bounds on an order's schedule, the same in every chain family (src/order.ts ORDER_LIMITS):
    /// what a relayer spends per order must not grow with numbers an attacker picks.
    uint256 public constant MAX_SLOTS = 100_000;
    uint256 public constant MAX_SLOT_LENGTH = 86_400;
    uint256 public constant MAX_DURATION = 366 days;
    /// GPUs one order may rent (src/gpu/requirement.ts MAX_GPUS_PER_ORDER).
    uint256 public constant MAX_GPUS = 16;
    /// Below Bitcoin's dust limit a payout cannot be relayed, so such a share is paid on this chain.
    uint256 private constant BTC_DUST_SATS = 546;
    bytes32 private constant BTC_OWED = keccak256("qantara/btc-owed");
    /// How long after the payout deadline a payout Bitcoin dates by the deadline may still be proved;
    /// the fallback opens only then, so a solver that paid in time is never undercut by it.
    /// Six confirmations take about an hour; six hours leave room for slow blocks and a retarget.
    /// src/order.ts BTC_PROOF_GRACE_SECONDS holds the same number.
    uint256 public constant BTC_PROOF_GRACE = 6 hours;
    bytes32 private constant RELAYER_SET_TYPEHASH =
        keccak256("RelayerSetUpdate(uint64 version,address[] members,uint8 threshold)");
    bytes32 private constant RELAY_RETARGET_TYPEHASH =
        keccak256("RelayRetarget(address relay,uint64 epoch,bytes32 headersHash)");

    /// Upper bound on the relayer fee, in basis points of the order amount.
    uint16 public immutable maxFeeBps;
    /// Seconds after an order's end before its renter may reclaim it.
    uint64 public immutable reclaimGrace;
    /// Where Bitcoin's difficulty is known; address(0) when BTC payouts are off.
    BtcLightRelay public immutable btcRelay;
    /// Headers a payout proof must carry, its block included.
    uint256 public immutable btcConfirmations;
    /// The most satoshis one order may be owed, so the most one proof can release. Faking a proof
    /// takes `btcConfirmations` blocks at Bitcoin's difficulty, each a block reward forgone; the cap
    /// keeps an order worth less than that (docs/PROTOCOL.md section 7, "What a proof is worth").
    uint256 public immutable maxPayoutSats;
    /// Bitcoin txids already used to prove a payout: one payment never repays twice.
    mapping(bytes32 => bool) public btcPayoutUsed;

    /// orderId => hash of its terms while open, or SETTLED / REFUNDED.
    mapping(bytes32 => bytes32) public orderState;
    uint64 public relayerSetVersion;
    uint8 public threshold;
    mapping(uint64 => mapping(address => bool)) public isRelayer;
    address[] private members;
    /// recipient => token => amount whose push payment failed.
    mapping(address => mapping(address => uint256)) public claimable;

    constructor(
        address[] memory initialMembers,
        uint8 initialThreshold,
        uint16 maxFeeBps_,
        uint64 reclaimGrace_,
        BtcLightRelay btcRelay_,
        BtcLightRelay.Network btcNetwork_,
        uint8 btcConfirmations_,
        uint256 maxPayoutSats_
    ) {
        if (maxFeeBps_ > 10_000) revert InvalidOrder("maxFeeBps above 100%");
        if (address(btcRelay_) != address(0)) {
            // A regtest relay's proofs cost nothing: the network is named here, and must be the relay's.
            if (btcRelay_.network() != btcNetwork_) revert WrongBtcNetwork(btcNetwork_, btcRelay_.network());
            // A relay others can retarget is only as safe as they are: it must take retargets from us alone.
            if (btcRelay_.escrow() != address(this)) revert RelayNotBoundHere(btcRelay_.escrow());
            if (btcConfirmations_ == 0) revert InvalidBtcPayout("zero confirmations");
            if (maxPayoutSats_ == 0) revert InvalidBtcPayout("zero payout cap");
        }
        maxFeeBps = maxFeeBps_;
        reclaimGrace = reclaimGrace_;
        btcRelay = btcRelay_;
        btcConfirmations = btcConfirmations_;
        maxPayoutSats = maxPayoutSats_;
        _setRelayers(1, initialMembers, initialThreshold);
    }

    // ---------------------------------------------------------------- orders

    /// @notice Locks `o.amount` of `o.token` for an order. The id depends on the
    /// renter and a renter-chosen salt, so resubmitting the same open is refused
    /// rather than locking funds twice.
    function open(Order calldata o, bytes32 salt) external payable returns (bytes32 orderId) {
        orderId = orderIdFor(msg.sender, salt);
        _open(orderId, o, keccak256(abi.encode(o)));
    }

    /// @notice Opens an order whose provider is paid in BTC, at the rate the solver signed for this
    /// order id and token, within the quote's bounds: amount, open-by time and latest end. The most it
    /// can owe in BTC (its whole amount at the quote's rate) must be within `maxPayoutSats`.
    function openBtc(Order calldata o, BtcPayout calldata b, bytes calldata quoteSignature, bytes32 salt)
        external
        payable
        returns (bytes32 orderId)
    {
        if (address(btcRelay) == address(0)) revert BtcPayoutsDisabled();
        if (b.script.length == 0 || b.script.length > 128) revert InvalidBtcPayout("script length");
        if (b.solver == address(0) || b.satsPerE18 == 0) revert InvalidBtcPayout("quote");
        if (b.payoutDeadline <= _end(o)) revert InvalidBtcPayout("deadline before the order ends");
        if (block.timestamp > b.openBy) revert QuoteExpired(b.openBy);
        if (o.amount > b.maxAmount) revert AmountAboveQuote(o.amount, b.maxAmount);
        uint256 maxSats = (o.amount * b.satsPerE18) / 1e18;
        if (maxSats > maxPayoutSats) revert PayoutAboveCap(maxSats, maxPayoutSats);
        if (_end(o) > b.latestEnd) revert OrderEndsAfterQuote(_end(o), b.latestEnd);
        orderId = orderIdFor(msg.sender, salt);
        if (_recover(_hashTypedData(_quoteStructHash(orderId, o.token, b)), quoteSignature) != b.solver) revert BadQuoteSignature();
        _open(orderId, o, keccak256(abi.encode(o, b)));
        emit BtcPayoutRequested(orderId, b.solver, b.satsPerE18, b.payoutDeadline, b.maxAmount, b.openBy, b.latestEnd, b.script);
    }

    /// @notice Pays an order exactly as a quorum of relayers signed it, once.
    /// @param signatures 65-byte (r, s, v) signatures, concatenated, signers strictly ascending.
    function settle(Order calldata o, Settlement calldata s, bytes calldata signatures) external {
        bytes32 orderId = s.orderId;
        _requireOpen(orderId, keccak256(abi.encode(o)));
        _checkSettlement(o, s, signatures);
        orderState[orderId] = SETTLED;
        _pay(o.token, o.payout, s.toProvider);
        _pay(o.token, o.renter, s.toRenter);
        _pay(o.token, s.feeRecipient, s.fee);
        emit OrderSettled(orderId, s.toProvider, s.toRenter, s.fee, s.feeRecipient, s.upSlots, s.totalSlots, s.heartbeatRoot);
    }

    /// @notice Settles a BTC-payout order: renter and fee are paid now; the provider's share
    /// waits for a proof that the solver paid its satoshi equivalent on Bitcoin.
    function settleBtc(Order calldata o, BtcPayout calldata b, Settlement calldata s, bytes calldata signatures) external {
        bytes32 orderId = s.orderId;
        _requireOpen(orderId, keccak256(abi.encode(o, b)));
        _checkSettlement(o, s, signatures);
        uint256 sats = (s.toProvider * b.satsPerE18) / 1e18;
        if (sats < BTC_DUST_SATS) {
            orderState[orderId] = SETTLED;
            _pay(o.token, o.payout, s.toProvider);
        } else {
            orderState[orderId] = keccak256(abi.encode(BTC_OWED, o, b, s.toProvider));
            emit BtcPayoutOwed(orderId, b.solver, sats, s.toProvider, b.payoutDeadline);
        }
        _pay(o.token, o.renter, s.toRenter);
        _pay(o.token, s.feeRecipient, s.fee);
        emit OrderSettled(orderId, s.toProvider, s.toRenter, s.fee, s.feeRecipient, s.upSlots, s.totalSlots, s.heartbeatRoot);
    }

    /// @notice Repays the solver the provider's share against an SPV proof of a Bitcoin
    /// transaction, confirmed `btcConfirmations` deep, that pays the provider's script at
    /// least the owed satoshis and carries `OP_RETURN <orderId>`. Anyone may submit it:
    /// by the payout deadline, or up to BTC_PROOF_GRACE after it for a payout whose block
    /// Bitcoin dates by the deadline (the miner's timestamp, which Bitcoin keeps within
    /// about an hour behind and two hours ahead of the network's time).
    function proveBtcPayout(bytes32 orderId, Order calldata o, BtcPayout calldata b, uint256 toProvider, BtcSpv.Proof calldata p)
        external
    {
        if (orderState[orderId] != keccak256(abi.encode(BTC_OWED, o, b, toProvider))) revert NotOwedInBtc(orderId);
        uint256 closesAt = uint256(b.payoutDeadline) + BTC_PROOF_GRACE;
        if (block.timestamp > closesAt) revert ProofWindowClosed(closesAt);
        uint256 confirmations = btcRelay.validateChain(p.headers);
        if (confirmations < btcConfirmations) revert NotEnoughConfirmations(confirmations, btcConfirmations);
        if (block.timestamp > b.payoutDeadline) {
            uint256 minedAt = BtcSpv.timestamp(BtcSpv.header(p.headers, 0));
            if (minedAt > b.payoutDeadline) revert PayoutMinedAfterDeadline(minedAt, b.payoutDeadline);
        }
        bytes32 txid = BtcSpv.verifyInclusion(p);
        if (btcPayoutUsed[txid]) revert PayoutAlreadyProved(txid);
        (uint256 paid, bool tagged) = BtcSpv.scanOutputs(p.tx, keccak256(b.script), orderId);
        if (!tagged) revert PayoutNotTagged(orderId);
        uint256 owed = (toProvider * b.satsPerE18) / 1e18;
        if (paid < owed) revert PayoutTooSmall(paid, owed);
        btcPayoutUsed[txid] = true;
        orderState[orderId] = SETTLED;
        _pay(o.token, b.solver, toProvider);
        emit BtcPayoutProved(orderId, txid, paid);
    }

    /// @notice Once no proof can be accepted any more (BTC_PROOF_GRACE after the payout
    /// deadline) and none was, pays the provider's share to the order's payout address on
    /// this chain. Anyone may call it. Proof and fallback windows never overlap.
    function claimBtcFallback(bytes32 orderId, Order calldata o, BtcPayout calldata b, uint256 toProvider) external {
        if (orderState[orderId] != keccak256(abi.encode(BTC_OWED, o, b, toProvider))) revert NotOwedInBtc(orderId);
        uint256 closesAt = uint256(b.payoutDeadline) + BTC_PROOF_GRACE;
        if (block.timestamp <= closesAt) revert ProofWindowOpen(closesAt);
        orderState[orderId] = SETTLED;
        _pay(o.token, o.payout, toProvider);
        emit BtcPayoutFallback(orderId, toProvider);
    }

    /// @notice Moves the light relay to Bitcoin's next epoch with `headers`, approved by a quorum of the
    /// current relayer set over `RelayRetarget(relay, epoch, keccak256(headers))`, `epoch` the one the
    /// relay leaves: each signer read the same headers around height 2016 * (epoch + 1) from its own
    /// Bitcoin node. The relay takes retargets from this escrow only.
    function retargetRelay(bytes calldata headers, bytes calldata signatures) external {
        BtcLightRelay relay = btcRelay;
        if (address(relay) == address(0)) revert BtcPayoutsDisabled();
        bytes32 structHash = keccak256(abi.encode(RELAY_RETARGET_TYPEHASH, relay, relay.currentEpoch(), keccak256(headers)));
        _requireQuorum(_hashTypedData(structHash), signatures);
        relay.retarget(headers);
    }

    /// @notice Returns everything to the renter of an order nobody settled by
    /// its end plus the grace period. Anyone may call it; only the renter is paid.
    function reclaim(bytes32 orderId, Order calldata o) external {
        _reclaim(orderId, o, keccak256(abi.encode(o)));
    }

    function reclaimBtc(bytes32 orderId, Order calldata o, BtcPayout calldata b) external {
        _reclaim(orderId, o, keccak256(abi.encode(o, b)));
    }

    function _reclaim(bytes32 orderId, Order calldata o, bytes32 terms) private {
        _requireOpen(orderId, terms);
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

    function _open(bytes32 orderId, Order calldata o, bytes32 terms) private {
        if (o.renter != msg.sender) revert InvalidOrder("renter must be the sender");
        if (o.amount == 0) revert InvalidOrder("zero amount");
        if (o.slots == 0 || o.slotLength == 0) revert InvalidOrder("empty schedule");
        if (o.slots > MAX_SLOTS) revert InvalidOrder("too many slots");
        if (o.slotLength > MAX_SLOT_LENGTH) revert InvalidOrder("slot too long");
        if (uint256(o.slots) * o.slotLength > MAX_DURATION) revert InvalidOrder("order too long");
        if (o.amount < o.slots) revert InvalidOrder("amount below one unit per slot");
        uint256 gpus = o.gpu >> 56;
        if (gpus == 0 || gpus > MAX_GPUS || uint8(o.gpu) != 0) revert InvalidOrder("gpu requirement");
        if (o.payout == address(0)) revert InvalidOrder("zero payout address");
        if (o.providerId == bytes32(0)) revert InvalidOrder("zero provider id");
        if (_end(o) <= block.timestamp) revert InvalidOrder("order already over");

        if (orderState[orderId] != bytes32(0)) revert OrderExists(orderId);
        orderState[orderId] = terms;

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

        emit OrderOpened(orderId, o.renter, o.providerId, o.token, o.amount, o.payout, o.start, o.slotLength, o.slots, o.gpu);
    }

    function _checkSettlement(Order calldata o, Settlement calldata s, bytes calldata signatures) private view {
        if (s.toProvider + s.toRenter + s.fee != o.amount) {
            revert SplitMismatch(o.amount, s.toProvider + s.toRenter + s.fee);
        }
        uint256 maxFee = (o.amount * maxFeeBps) / 10_000;
        if (s.fee > maxFee) revert FeeTooHigh(s.fee, maxFee);
        if (s.totalSlots != o.slots || s.upSlots > s.totalSlots) revert InvalidSlots(s.upSlots, s.totalSlots);
        if (s.fee != 0 && s.feeRecipient == address(0)) revert MissingFeeRecipient();
        _requireQuorum(_hashTypedData(_settlementStructHash(s)), signatures);
    }

    /// One 65-byte signature's signer, low-s only; address(0) when it does not recover.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 sv = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(sv) > HALF_CURVE_ORDER || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, sv);
    }

    function _requireOpen(bytes32 orderId, bytes32 terms) private view {
        bytes32 state = orderState[orderId];
        if (state == terms) return;
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
        uint256 needed = threshold;
        if (count < needed) revert NotEnoughSignatures(count, needed);
        // The current set's membership slot is derived once, not once per signature.
        mapping(address => bool) storage current = isRelayer[relayerSetVersion];
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
            // One comparison on the path every valid set takes; which error it is, only when it fails.
            if (signer <= last) {
                if (signer == address(0)) revert InvalidSignature(i);
                if (signer == last) revert DuplicateSigner(signer);
                revert SignersNotAscending(i);
            }
            if (!current[signer]) revert NotRelayer(signer);
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

    /// The solver's EIP-712 quote: it binds the order's token, so no other token opens with it.
    function _quoteStructHash(bytes32 orderId, address token, BtcPayout calldata b) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                BTC_QUOTE_TYPEHASH,
                orderId,
                keccak256(b.script),
                b.solver,
                token,
                b.maxAmount,
                b.satsPerE18,
                b.openBy,
                b.latestEnd,
                b.payoutDeadline
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
