#!/usr/bin/env python3
"""The provider's side of Qantara's compute challenge (docs/PROTOCOL.md §9).

One resident process per GPU host, started by the agent, speaking JSON lines
on stdin/stdout (the "Provider helper" part of §9 lists the requests). It
derives A and B from the challenge seed, computes C = A·B exactly, commits to
C's rows with the positional Merkle root, keeps C in host memory for its
holder (the relayer that asked) until that holder's next commit or release,
and answers a reveal with the drawn rows and their paths.

Backends: `torch` (CUDA through PyTorch; has never run on a GPU, see §9) and
`cpu-test` (pure Python, n ≤ 256, for the tests only). The protocol and the
commitment use the standard library alone.
"""

import argparse
import base64
import ctypes
import hashlib
import json
import os
import re
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor

VERSION = 1
MAX_N = 16384
CHALLENGE_ROWS = 64
# A request is under 400 bytes; anything near this bound is not from the agent.
MAX_LINE = 4096
# Commitments kept at once, one per holder (a relayer), in host memory: 1 GiB each at n = 16384.
MAX_HOLDERS = 8
# A commitment no reveal came for within this long is dropped: a reveal follows its commit within seconds.
HOLD_SECONDS = 120
MASK32 = 0xFFFFFFFF
HEX32 = re.compile(r"0x[0-9a-f]{64}")
OPS = {
    "hello": (),
    "commit": ("seed", "n", "holder"),
    "answer": ("seed", "n", "revealSeed", "holder"),
    "release": ("holder",),
    "baseline": ("n",),
}
# PROTOCOL.md §9's test vector: seed 0x00…1f, n = 5.
VECTOR_SEED = bytes(range(32))
VECTOR_ROOT = "0xdc33aa3023400091af20fae9df81d55dde821d51474f09d6323e86b4b90d479f"


# The derivation is written with operators alone, so the same code runs on Python
# ints (cpu-test) and on int64 tensors (torch), which have no uint32: every
# value stays in [0, 2^49), shifts of non-negative values are logical, and `% 9`
# sees the unsigned value.
def mul32(x, k):
    """(x·k) mod 2^32 for x, k < 2^32, in halves so no product reaches 2^63 (int64 overflow)."""
    return ((x & 0xFFFF) * k + ((((x >> 16) * k) & 0xFFFF) << 16)) & MASK32


def fmix32(x):
    x = x ^ (x >> 16)
    x = mul32(x, 0x85EBCA6B)
    x = x ^ (x >> 13)
    x = mul32(x, 0xC2B2AE35)
    return x ^ (x >> 16)


def entries(counter, k0, k1):
    return fmix32(fmix32(counter ^ k0) ^ k1) % 9 - 4


def matrix_keys(seed, n):
    digest = hashlib.sha256(b"qantara/gpu-challenge/v1\n" + seed + n.to_bytes(4, "big")).digest()
    return [int.from_bytes(digest[4 * k : 4 * k + 4], "big") for k in range(8)]


def drawn_rows(reveal_seed, n):
    rows = []
    t = 0
    while len(rows) < min(CHALLENGE_ROWS, n):
        block = hashlib.sha256(b"qantara/gpu-reveal/rows/v1\n" + reveal_seed + t.to_bytes(4, "big")).digest()
        i = int.from_bytes(block[:4], "big") % n
        if i not in rows:
            rows.append(i)
        t += 1
    return rows


def merkle_levels(leaves):
    levels = [leaves]
    while len(levels[-1]) > 1:
        level = levels[-1]
        levels.append(
            [
                hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() if i + 1 < len(level) else level[i]
                for i in range(0, len(level), 2)
            ]
        )
    return levels


def merkle_path(levels, index):
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append("0x" + level[sibling].hex())
        index //= 2
    return path


def hash_rows(leaves, view, first, start, end, row_bytes, _keepalive):
    """Leaves of rows start…end of a host chunk; `_keepalive` holds the memory `view` points into."""
    for j in range(start, end):
        h = hashlib.sha256(b"\x00")
        h.update(view[j * row_bytes : (j + 1) * row_bytes])
        leaves[first + j] = h.digest()


class BackendError(Exception):
    def __init__(self, code, detail):
        super().__init__(detail)
        self.code = code


class CpuTestBackend:
    """Pure Python, O(n³) in the interpreter: reference for tests and the torch self-test; no prover."""

    name = "cpu-test"
    device = "cpu (pure Python, tests only)"
    kernel = "python"
    max_n = 256

    def commit(self, seed, n):
        keys = matrix_keys(seed, n)
        t0 = time.perf_counter()
        a, b = (
            [[entries((m * n + i) * n + j, keys[2 * m], keys[2 * m + 1]) for j in range(n)] for i in range(n)]
            for m in (0, 1)
        )
        t1 = time.perf_counter()
        c = []
        for row in a:
            acc = [0] * n
            for aik, bk in zip(row, b):
                if aik:
                    acc = [x + aik * y for x, y in zip(acc, bk)]
            c.append(acc)
        t2 = time.perf_counter()
        held = [struct.pack(f"<{n}i", *row) for row in c]
        leaves = [hashlib.sha256(b"\x00" + row).digest() for row in held]
        return leaves, {"generate": t1 - t0, "matmul": t2 - t1, "hash": time.perf_counter() - t2}, held

    def rows(self, held, indices):
        return [held[i] for i in indices]

    def baseline(self, n):
        a = [[(i * 7 + j * 3) % 9 - 4 for j in range(n)] for i in range(n)]
        t0 = time.perf_counter()
        for row in a:
            acc = [0] * n
            for aik, bk in zip(row, a):
                acc = [x + aik * y for x, y in zip(acc, bk)]
        return time.perf_counter() - t0


def host_view(tensor):
    """The bytes of a contiguous CPU tensor, without numpy; valid while the tensor lives."""
    size = tensor.numel() * tensor.element_size()
    return memoryview((ctypes.c_char * size).from_address(tensor.data_ptr()))


class TorchBackend:
    """CUDA through PyTorch. It has never run on a GPU, so a self-test at start refuses an inexact kernel."""

    name = "torch"
    max_n = MAX_N

    def __init__(self):
        try:
            import torch
        except ImportError as err:
            raise BackendError("BACKEND_UNAVAILABLE", f"torch is not installed ({err})") from err
        if not torch.cuda.is_available():
            raise BackendError("BACKEND_UNAVAILABLE", "torch sees no CUDA device")
        if sys.byteorder != "little":
            raise BackendError(
                "BACKEND_UNAVAILABLE", "rows are committed as int32le; this host is big-endian"
            )
        self.torch = torch
        self.dev = torch.device("cuda")
        self.device = torch.cuda.get_device_name(self.dev)
        # Products of entries in [−4, 4] summed in fp16 would round; only fp32 (or int32) sums are exact.
        torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
        # hashlib releases the GIL on buffers over 2 KiB, so threads hash rows in parallel.
        self.pool = ThreadPoolExecutor(os.cpu_count() or 4)
        self.kernel = self.choose_kernel()

    def choose_kernel(self):
        """The first kernel whose roots and rows match the pure-Python reference, at sizes that cross the
        chunk boundaries (3-row chunks) and the int8 padding."""
        reference = CpuTestBackend()
        cases = []
        for seed, n in ((VECTOR_SEED, 5), (bytes(range(100, 132)), 37), (bytes(range(100, 132)), 64)):
            leaves, _, held = reference.commit(seed, n)
            root = merkle_levels(leaves)[-1][0]
            if n == 5 and "0x" + root.hex() != VECTOR_ROOT:
                raise BackendError("SELF_TEST_FAILED", "the pure-Python reference misses PROTOCOL.md's root")
            cases.append((seed, n, root, reference.rows(held, [0, n // 2, n - 1])))
        failures = []
        for kernel in ("int8", "fp16"):
            self.kernel = kernel
            try:
                if all(self.matches(seed, n, root, rows) for seed, n, root, rows in cases):
                    return kernel
                failures.append(f"{kernel}: C differs from the reference")
            except Exception as err:  # noqa: BLE001 — a kernel this torch or GPU lacks: try the next
                failures.append(f"{kernel}: {type(err).__name__}: {err}")
        raise BackendError("SELF_TEST_FAILED", f"no exact kernel on {self.device}: {'; '.join(failures)}")

    def matches(self, seed, n, root, rows):
        leaves, _, held = self.commit(seed, n, chunk_rows=3)
        return merkle_levels(leaves)[-1][0] == root and self.rows(held, [0, n // 2, n - 1]) == rows

    def padded(self, n):
        # torch._int_mm wants over 16 rows and sizes a multiple of 8; zero padding keeps C's corner exact.
        return max(24, -(-n // 8) * 8) if self.kernel == "int8" else n

    def dtype(self):
        return self.torch.int8 if self.kernel == "int8" else self.torch.float16

    def mm(self, a, b):
        """The bare library matmul: int8 with int32 accumulation, or fp16 with fp32 accumulation and out."""
        if self.kernel == "int8":
            return self.torch._int_mm(a, b)
        return self.torch.mm(a, b, out_dtype=self.torch.float32)

    def generate(self, keys, m, n, chunk_rows):
        torch = self.torch
        size = self.padded(n)
        out = torch.zeros((size, size), dtype=self.dtype(), device=self.dev)
        cols = torch.arange(n, dtype=torch.int64, device=self.dev)
        for i0 in range(0, n, chunk_rows):
            i1 = min(n, i0 + chunk_rows)
            rows = torch.arange(m * n + i0, m * n + i1, dtype=torch.int64, device=self.dev)
            out[i0:i1, :n] = entries(rows[:, None] * n + cols, keys[2 * m], keys[2 * m + 1]).to(out.dtype)
        return out

    def commit(self, seed, n, chunk_rows=None):
        torch = self.torch
        # Row chunks of about 2^24 entries bound the int64 temporaries of the derivation to 128 MiB each.
        chunk = chunk_rows or max(1, (1 << 24) // n)
        keys = matrix_keys(seed, n)
        t0 = time.perf_counter()
        a = self.generate(keys, 0, n, chunk)
        b = self.generate(keys, 1, n, chunk)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        c = self.mm(a, b)[:n, :n]
        if c.dtype != torch.int32:
            c = c.to(torch.int32)
        del a, b
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        leaves, held = self.hash_device_rows(c, n, chunk)
        t3 = time.perf_counter()
        # C lives on in host memory only: the GPU's memory goes back to the renter as soon as C is committed.
        del c
        torch.cuda.empty_cache()
        return leaves, {"generate": t1 - t0, "matmul": t2 - t1, "hash": t3 - t2}, held

    def hash_device_rows(self, c, n, chunk_rows):
        """Copies C to host memory chunk by chunk while the pool hashes the chunks already copied; returns the
        leaves and the host copy of C."""
        torch = self.torch
        leaves = [None] * n
        row_bytes = 4 * n
        job_rows = max(1, (1 << 23) // row_bytes)
        jobs = []
        held = torch.empty((n, n), dtype=torch.int32, pin_memory=True)
        for i0 in range(0, n, chunk_rows):
            i1 = min(n, i0 + chunk_rows)
            host = held[i0:i1]
            host.copy_(c[i0:i1])
            view = host_view(host)
            for j0 in range(0, i1 - i0, job_rows):
                jobs.append(
                    self.pool.submit(
                        hash_rows, leaves, view, i0, j0, min(i1 - i0, j0 + job_rows), row_bytes, host
                    )
                )
        for job in jobs:
            job.result()
        return leaves, held

    def rows(self, held, indices):
        picked = held.index_select(0, self.torch.tensor(indices, dtype=self.torch.int64)).contiguous()
        view = host_view(picked)
        row_bytes = 4 * picked.shape[1]
        return [bytes(view[k * row_bytes : (k + 1) * row_bytes]) for k in range(len(indices))]

    def baseline(self, n):
        """Median of three synchronised runs of the bare kernel on random entries in [−4, 4], warmed up."""
        torch = self.torch
        size = self.padded(n)
        a = torch.randint(-4, 5, (size, size), dtype=self.dtype(), device=self.dev)
        b = torch.randint(-4, 5, (size, size), dtype=self.dtype(), device=self.dev)
        self.mm(a, b)
        torch.cuda.synchronize()
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            self.mm(a, b)
            torch.cuda.synchronize()
            samples.append(time.perf_counter() - t0)
        del a, b
        torch.cuda.empty_cache()
        return sorted(samples)[1]


BACKENDS = {"torch": TorchBackend, "cpu-test": CpuTestBackend}


def ms(seconds):
    return round(seconds * 1000, 3)


class Helper:
    def __init__(self, backend_name):
        self.backend = None
        self.unavailable = None
        # holder → (seed, n, levels, C, when): one commitment per relayer, so no relayer's commit drops another's.
        self.committed = {}
        try:
            self.backend = BACKENDS[backend_name]()
        except BackendError as err:
            self.unavailable = err

    def handle(self, line):
        try:
            req = json.loads(line)
        except (ValueError, RecursionError) as err:
            return fail(None, "BAD_JSON", str(err))
        if not isinstance(req, dict):
            return fail(None, "BAD_REQUEST", "a request is a JSON object")
        rid = req.get("id")
        if type(rid) is not int or not 0 <= rid < 2**53:
            return fail(None, "BAD_REQUEST", "id must be an integer in 0…2^53−1")
        op = req.get("op")
        if op not in OPS:
            return fail(rid, "UNKNOWN_OP", f"unknown op {str(op)[:40]!r}")
        if set(req) != {"id", "op", *OPS[op]}:
            return fail(rid, "BAD_REQUEST", f"{op} takes exactly the fields {', '.join(OPS[op]) or 'none'}")
        try:
            args = parse_fields(req, self.backend.max_n if self.backend else MAX_N)
        except BackendError as err:
            return fail(rid, err.code, str(err))
        if self.unavailable:
            return fail(rid, self.unavailable.code, str(self.unavailable))
        try:
            return {"id": rid, "ok": True, **getattr(self, "op_" + op)(**args)}
        except BackendError as err:
            return fail(rid, err.code, str(err))
        except Exception as err:  # noqa: BLE001 — a CUDA or memory error fails this request, not the helper
            self.committed.pop(args.get("holder"), None)
            return fail(rid, "BACKEND_FAILED", f"{type(err).__name__}: {err}"[:1000])

    def op_hello(self):
        b = self.backend
        return {
            "backend": b.name,
            "device": b.device,
            "kernel": b.kernel,
            "maxN": b.max_n,
            "version": VERSION,
        }

    def drop_stale(self):
        now = time.monotonic()
        for holder in [h for h, c in self.committed.items() if now - c[4] > HOLD_SECONDS]:
            del self.committed[holder]

    def op_commit(self, seed, n, holder):
        self.drop_stale()
        self.committed.pop(holder, None)
        while len(self.committed) >= MAX_HOLDERS:
            del self.committed[next(iter(self.committed))]
        leaves, timed, held = self.backend.commit(seed, n)
        t0 = time.perf_counter()
        levels = merkle_levels(leaves)
        tree = time.perf_counter() - t0
        self.committed[holder] = (seed, n, levels, held, time.monotonic())
        return {
            "root": "0x" + levels[-1][0].hex(),
            "ms": {
                "generate": ms(timed["generate"]),
                "matmul": ms(timed["matmul"]),
                "commit": ms(timed["hash"] + tree),
            },
        }

    def op_answer(self, seed, n, revealSeed, holder):
        self.drop_stale()
        committed = self.committed.get(holder)
        if committed is None or committed[:2] != (seed, n):
            raise BackendError("NOT_COMMITTED", "no committed C for this seed and size")
        levels, held = committed[2:4]
        indices = drawn_rows(revealSeed, n)
        values = self.backend.rows(held, indices)
        return {
            "rows": [
                {"index": i, "values": base64.b64encode(v).decode("ascii"), "path": merkle_path(levels, i)}
                for i, v in zip(indices, values, strict=True)
            ]
        }

    def op_release(self, holder):
        self.committed.pop(holder, None)
        return {}

    def op_baseline(self, n):
        return {"kernel": self.backend.kernel, "ms": {"matmul": ms(self.backend.baseline(n))}}


def parse_fields(req, max_n):
    args = {}
    for key in ("seed", "revealSeed", "holder"):
        if key in req:
            value = req[key]
            if not isinstance(value, str) or not HEX32.fullmatch(value):
                raise BackendError("BAD_REQUEST", f"{key} must be 32 bytes of lower-case 0x hex")
            args[key] = value if key == "holder" else bytes.fromhex(value[2:])
    if "n" in req:
        n = req["n"]
        if type(n) is not int or not 1 <= n <= MAX_N:
            raise BackendError("BAD_REQUEST", f"n must be an integer in 1…{MAX_N}")
        if n > max_n:
            raise BackendError("N_UNSUPPORTED", f"this backend takes n up to {max_n}")
        args["n"] = n
    return args


def fail(rid, code, detail):
    return {"id": rid, "ok": False, "error": code, "detail": detail}


def discard_line(stdin):
    while True:
        rest = stdin.readline(MAX_LINE + 1)
        if not rest or rest.endswith(b"\n"):
            return


def serve(helper, stdin, out):
    while True:
        line = stdin.readline(MAX_LINE + 1)
        if not line:
            return
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            discard_line(stdin)
            reply = fail(None, "LINE_TOO_LONG", f"a request line is at most {MAX_LINE} bytes")
        else:
            reply = helper.handle(line)
        out.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
        out.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=sorted(BACKENDS), required=True)
    args = parser.parse_args()
    # Replies own file descriptor 1; anything else writing there (a library's banner, a print) goes to stderr.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    helper = Helper(args.backend)
    if helper.unavailable:
        print(
            f"qantara-gpu-helper: backend {args.backend} unavailable: {helper.unavailable}", file=sys.stderr
        )
    else:
        b = helper.backend
        print(f"qantara-gpu-helper: backend {b.name} on {b.device}, kernel {b.kernel}", file=sys.stderr)
    serve(helper, sys.stdin.buffer, out)


if __name__ == "__main__":
    main()
