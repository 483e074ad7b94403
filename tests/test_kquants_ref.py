#!/usr/bin/env python3
"""test_kquants_ref.py - checks penny's K-quant reference code (Q4_K, Q5_K,
Q6_K) against the independent numpy decoders of tests/pygguf.py, which are
written from the GGUF block layouts, not from penny's C code.

The C side is reached through build/tests/tool_kernels ($PENNY_BUILD) with
raw little-endian files in a temporary directory.

What is demanded:
  dequantization  bit-exact, on random block bytes (any q, any scale byte,
                  f16 scales normal, subnormal, negative and zero) and on
                  penny's own quantized blocks
  quantization    the blocks decode (numpy) to what penny decodes; every q
                  is the nearest level its decoded sub-block scale and min
                  allow (up to 1e-6 of a step for rounding); the RMSE beats
                  a textbook min/max quantizer with unrounded float scales
                  by a stated margin (RMSE at most 0.95x the textbook's for
                  Q4_K, 0.96x for Q5_K, 0.97x for Q6_K; measured 0.85-0.96)
  dot             |c - ref| <= 1e-6 |ref| + 1e-12 sum|w x|, ref the float64
                  dot of the numpy-decoded weights (penny adds in double
                  and rounds once)
Exit status 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pygguf  # noqa: E402

ROOT = os.path.dirname(HERE)
TYPES = {"Q4_K": (pygguf.GGML_Q4_K, 144), "Q5_K": (pygguf.GGML_Q5_K, 176),
         "Q6_K": (pygguf.GGML_Q6_K, 210)}
MARGIN = {"Q4_K": 0.95, "Q5_K": 0.96, "Q6_K": 0.97}

failures = []
rng = np.random.default_rng(20250601)


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg, file=sys.stderr)


def tool_path():
    b = os.environ.get("PENNY_BUILD", "build")
    for base in ([b] if os.path.isabs(b) else [os.path.join(os.getcwd(), b), os.path.join(ROOT, b)]):
        p = os.path.join(base, "tests", "tool_kernels")
        if os.path.isfile(p):
            return p
    sys.exit(f"tool_kernels not found under {b}/tests (run make first)")


TOOL = tool_path()
TMP = tempfile.TemporaryDirectory(prefix="penny_kquants_")


def tmp(name):
    return os.path.join(TMP.name, name)


def run(*args):
    r = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"tool_kernels {' '.join(map(str, args))}: {r.stderr.strip()}")


def decode(type_, raw):
    ggml_type, size = TYPES[type_]
    return pygguf.dequantize(raw, ggml_type, len(raw) // size * 256)


def penny_dequant(type_, raw):
    with open(tmp("r.bin"), "wb") as f:
        f.write(raw)
    run("dequant", type_, tmp("r.bin"), tmp("y.f32"))
    return np.fromfile(tmp("y.f32"), "<f4").astype(np.float64)


def penny_quant(type_, x32):
    x32.tofile(tmp("x.f32"))
    run("quantize", type_, tmp("x.f32"), tmp("q.bin"))
    with open(tmp("q.bin"), "rb") as f:
        return f.read()


def same_float(a, b):
    return ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))


# ---- dequantization of arbitrary blocks ----

def f16_scales(n):
    """Finite f16 bit patterns: random normal ones, subnormals, +-0, negatives."""
    bits = rng.integers(0, 0x10000, n).astype(np.uint16)
    bits = np.where((bits & 0x7C00) == 0x7C00, bits & 0x83FF, bits)  # no inf/nan
    special = np.array([0x0000, 0x8000, 0x0001, 0x03FF, 0x3C00, 0xBC00, 0x7BFF], np.uint16)
    bits[:len(special)] = special[:n]
    return bits


def random_blocks(type_, nb):
    size = TYPES[type_][1]
    b = rng.integers(0, 256, (nb, size)).astype(np.uint8)
    where = [0, 2] if type_ != "Q6_K" else [208]
    for off in where:
        b[:, off:off + 2] = f16_scales(nb).view(np.uint8).reshape(nb, 2)
    return b.tobytes()


def check_dequant(type_):
    raw = random_blocks(type_, 256)
    got, want = penny_dequant(type_, raw), decode(type_, raw)
    bad = ~same_float(got, want)
    if got.shape != want.shape or bad.any():
        i = int(np.argmax(bad)) if got.shape == want.shape else -1
        fail(f"dequant {type_} random blocks: element {i} got {got[i]!r} want {want[i]!r}")
    # all-zero and all-0xff blocks too
    for fill in (0x00, 0xFF):
        raw = bytes([fill]) * TYPES[type_][1] * 2
        if type_ == "Q6_K" or fill == 0:
            got, want = penny_dequant(type_, raw), decode(type_, raw)
            if not same_float(got, want).all():
                fail(f"dequant {type_} blocks of {fill:#x}")


# ---- quantization ----

def inputs(n):
    """Named float32 inputs of n elements (n a multiple of 256)."""
    g = rng.standard_normal(n)
    t3 = rng.standard_normal(n) / np.sqrt(rng.chisquare(3, n) / 3)
    scales = np.repeat(10.0 ** rng.uniform(-3, 1, n // 256), 256)
    spikes = rng.standard_normal(n) * np.where(rng.random(n) < 0.003, 15.0, 1.0)
    return {
        "gauss": 0.02 * g,
        "student-t3": 0.02 * t3,
        "laplace": 0.02 * rng.laplace(size=n),
        "block-scales": g * scales,
        "spikes": 0.02 * spikes,
        "offset": 0.02 * g + 0.05,
    }


def levels(type_, raw):
    """Per element: step s, offset o (value = s*q - o), q and q_max, decoded
    from the block bytes with numpy alone."""
    ggml_type, size = TYPES[type_]
    b = np.frombuffer(raw, np.uint8).reshape(-1, size)
    if type_ == "Q6_K":
        d = pygguf._half(b[:, 208:210].copy().view("<u2")).astype(np.float32)
        sc = b[:, 192:208].view(np.int8).astype(np.float32)
        s = np.repeat(d * sc, 16, axis=1).astype(np.float64)
        vals = decode(type_, raw).reshape(-1, 256)
        q = np.where(s != 0, np.rint(vals / np.where(s != 0, s, 1)), 0) + 32
        return s.ravel(), (32 * s).ravel(), q.ravel(), 63
    d = pygguf._half(b[:, 0:2].copy().view("<u2")).astype(np.float32)
    dmin = pygguf._half(b[:, 2:4].copy().view("<u2")).astype(np.float32)
    sc, m = pygguf._k_scales(b[:, 4:16])
    s = np.repeat(d * sc.astype(np.float32), 32, axis=1).astype(np.float64)
    o = np.repeat(dmin * m.astype(np.float32), 32, axis=1).astype(np.float64)
    vals = decode(type_, raw).reshape(-1, 256)
    q = np.where(s != 0, np.rint((vals + o) / np.where(s != 0, s, 1)), 0)
    return s.ravel(), o.ravel(), q.ravel(), 15 if type_ == "Q4_K" else 31


def textbook(type_, x):
    """Min/max grids with exact float scales: the baseline to beat."""
    if type_ == "Q6_K":
        xb = x.reshape(-1, 16)
        amax = np.abs(xb).max(axis=1, keepdims=True)
        s = np.where(amax > 0, amax / 31, 1)
        return (np.clip(np.rint(xb / s), -32, 31) * s).ravel()
    xb = x.reshape(-1, 32)
    lo, hi = np.minimum(xb.min(axis=1, keepdims=True), 0), xb.max(axis=1, keepdims=True)
    nmax = 15 if type_ == "Q4_K" else 31
    s = np.where(hi > lo, (hi - lo) / nmax, 1)
    return (np.clip(np.rint((xb - lo) / s), 0, nmax) * s + lo).ravel()


def rmse(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)))


def check_quantize(type_, label, x):
    x32 = x.astype(np.float32)
    xd = x32.astype(np.float64)
    raw = penny_quant(type_, x32)
    vals = decode(type_, raw)
    if not same_float(vals, penny_dequant(type_, raw)).all():
        fail(f"quantize {type_} {label}: numpy and penny decode the blocks differently")
    s, o, q, qmax = levels(type_, raw)
    err = np.abs(xd - vals)
    for nb in (q - 1, q + 1):
        alt = np.abs(xd - (s * nb - o))
        worse = (nb >= 0) & (nb <= qmax) & (alt < err - 1e-6 * np.abs(s))
        if worse.any():
            i = int(np.argmax(worse))
            fail(f"quantize {type_} {label}: element {i} x={xd[i]!r} q={q[i]:.0f} "
                 f"is not the nearest level")
            break
    ours, base = rmse(xd, vals), rmse(xd, textbook(type_, xd))
    ok = ours <= MARGIN[type_] * base
    if not ok:
        fail(f"quantize {type_} {label}: rmse {ours:.4g} vs textbook {base:.4g}")
    return ours / base


def check_dot(type_, rows, n):
    w = (0.02 * rng.standard_normal(rows * n)).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    raw = penny_quant(type_, w)
    with open(tmp("w.bin"), "wb") as f:
        f.write(raw)
    x.tofile(tmp("x.f32"))
    run("dot", type_, tmp("w.bin"), tmp("x.f32"), rows, n, tmp("d.f32"))
    got = np.fromfile(tmp("d.f32"), "<f4").astype(np.float64)
    prod = decode(type_, raw).reshape(rows, n) * x.astype(np.float64)[None, :]
    want = prod.sum(axis=1)
    tol = 1e-6 * np.abs(want) + 1e-12 * np.abs(prod).sum(axis=1)
    if not (np.abs(got - want) <= tol).all():
        i = int(np.argmax(np.abs(got - want) - tol))
        fail(f"dot {type_} rows={rows} n={n}: row {i} got {got[i]!r} want {want[i]!r}")


def main():
    for type_ in TYPES:
        check_dequant(type_)
        ratios = {label: check_quantize(type_, label, x) for label, x in inputs(8192).items()}
        for rows, n in ((1, 256), (3, 512), (7, 4096)):
            check_dot(type_, rows, n)
        print(f"{type_}: rmse / textbook min-max rmse:",
              ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        return 1
    print("all K-quant checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
