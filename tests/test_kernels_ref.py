#!/usr/bin/env python3
"""test_kernels_ref.py - checks penny's scalar reference kernels against an
independent float64 numpy implementation written from the format
definitions (GGUF block layouts, IEEE half, bfloat16), not from the C code.

The C side is reached through build/tests/tool_kernels ($PENNY_BUILD), with
raw little-endian files in a temporary directory. numpy parses the block
bytes itself with structured dtypes.

What is demanded:
  dequantization     bit-exact (every dequantized value is exact in float32)
  quantization       identical bytes. numpy reproduces the quantizers' float32
                     operations (x*id rounded, then +8.5 rounded for Q4_0), so
                     identical bytes are expected everywhere; on random data a
                     q may still differ by 1 where x/d is within 1e-6 of a .5
                     tie (counted and printed; expected 0). Hand-made exact
                     ties must match with no allowance.
  dot, matmul        |c - ref| <= 1e-5 |ref| + 1e-12 sum|w x|   (the second
                     term only matters under heavy cancellation); matmuls
                     with Q8_0 / Q4_0 weights against x rounded to 8-bit
                     blocks as penny does (ref_llama.quantize_act_q8)
  rope, rmsnorm,
  softmax, swiglu    1e-5 relative per element (plus a tiny absolute term for
                     results in float32's subnormal range or cancellation)
Exit status 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_llama  # noqa: E402  (quantize_act_q8)

# tool_kernels runs the scalar kernel table; test_simd.c checks the SIMD
# tables against it.
os.environ["PENNY_CPU"] = "scalar"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_0"]
Q8_0 = np.dtype([("d", "<u2"), ("q", "i1", (32,))])
Q4_0 = np.dtype([("d", "<u2"), ("qs", "u1", (16,))])
assert Q8_0.itemsize == 34 and Q4_0.itemsize == 18

failures = []
rng = np.random.default_rng(20240229)
np.seterr(all="ignore")  # NaN, inf and overflow inputs are deliberate; results are checked


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg, file=sys.stderr)
    return 0


def tool_path():
    b = os.environ.get("PENNY_BUILD", "build")
    for base in ([b] if os.path.isabs(b) else [os.path.join(os.getcwd(), b), os.path.join(ROOT, b)]):
        p = os.path.join(base, "tests", "tool_kernels")
        if os.path.isfile(p):
            return p
    sys.exit(f"tool_kernels not found under {b}/tests (run make first)")


TOOL = tool_path()
TMP = tempfile.TemporaryDirectory(prefix="penny_kernels_")


def tmp(name):
    return os.path.join(TMP.name, name)


def run(*args):
    r = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"tool_kernels {' '.join(map(str, args))}: {r.stderr.strip()}")


def put(name, arr):
    arr.tofile(tmp(name))
    return tmp(name)


def get_bytes(name):
    with open(tmp(name), "rb") as f:
        return f.read()


def get(name, dtype):
    return np.fromfile(tmp(name), dtype=dtype)


# ---- format definitions (float64 values from bit patterns) ----

def f16_value(bits):
    """IEEE binary16: (-1)^s * 2^(e-15) * 1.m, subnormal 2^-14 * 0.m."""
    b = bits.astype(np.int64)
    sign = np.where(b & 0x8000, -1.0, 1.0)
    e, m = (b >> 10) & 31, b & 1023
    v = np.where(e == 0, np.ldexp(m.astype(np.float64), -24),
                 np.ldexp((m + 1024).astype(np.float64), (e - 25).astype(np.int32)))
    v = np.where(e == 31, np.where(m == 0, np.inf, np.nan), v)
    return sign * v


def bf16_value(bits):
    """bfloat16 is the upper 16 bits of a float32."""
    return (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def f16_from(x32):
    return x32.astype(np.float16).view(np.uint16)  # numpy rounds to nearest even


def bf16_from(x32):
    """Nearest bfloat16, ties to even mantissa, overflow past max+half ulp to inf."""
    u = x32.view(np.uint32)
    sign = (u >> 16) & 0x8000
    a = u & 0x7FFFFFFF
    lo = a & 0xFFFF0000
    hi = lo + 0x10000
    mag = np.abs(x32.astype(np.float64))
    lov = lo.view(np.float32).astype(np.float64)
    hiv = np.where(hi == 0x7F800000, 2.0**128, hi.view(np.float32).astype(np.float64))
    dl, dh = mag - lov, hiv - mag
    up = (dh < dl) | ((dh == dl) & (((lo >> 16) & 1) == 1))
    out = np.where(up, hi, lo) >> 16
    out = np.where(a == 0x7F800000, 0x7F80, out)  # inf stays inf
    return (out | sign).astype(np.uint16)


def round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def ties(xb, d):
    """Mask of elements whose x/d lies within 1e-6 of a .5 tie."""
    t = xb.astype(np.float64) / d.astype(np.float64)[:, None]
    return np.abs(t - np.floor(t) - 0.5) < 1e-6


def q8_0_quantize(x32):
    """d = amax/127, id = 1/d, q = round(x*id) half away from zero, all float32."""
    xb = x32.reshape(-1, 32)
    d = np.abs(xb).max(axis=1) / np.float32(127)
    idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    q = round_half_away((xb * idv[:, None]).astype(np.float64))
    out = np.zeros(len(xb), Q8_0)
    out["d"], out["q"] = f16_from(d), q.astype(np.int8)
    return out, ties(xb, d)


def q4_0_quantize(x32):
    """max = signed value of the first largest |x|; d = max/-8; id = 1/d;
    nibble = min(15, trunc(x*id + 8.5)), products and sums rounded to float32."""
    xb = x32.reshape(-1, 32)
    mx = xb[np.arange(len(xb)), np.argmax(np.abs(xb), axis=1)]
    d = (mx / np.float32(-8)).astype(np.float32)
    idv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    v = (xb * idv[:, None]).astype(np.float32) + np.float32(8.5)
    n = np.minimum(15, np.trunc(v.astype(np.float64)).astype(np.int64))
    out = np.zeros(len(xb), Q4_0)
    out["d"] = f16_from(d)
    out["qs"] = (n[:, :16] | (n[:, 16:] << 4)).astype(np.uint8)
    return out, ties(xb, d)


def dequant(type_, raw):
    """float64 values of a row of `type_` given as bytes."""
    if type_ == "F32":
        return np.frombuffer(raw, "<f4").astype(np.float64)
    if type_ == "F16":
        return f16_value(np.frombuffer(raw, "<u2"))
    if type_ == "BF16":
        return bf16_value(np.frombuffer(raw, "<u2"))
    if type_ == "Q8_0":
        b = np.frombuffer(raw, Q8_0)
        return (f16_value(b["d"])[:, None] * b["q"].astype(np.float64)).ravel()
    b = np.frombuffer(raw, Q4_0)
    lo, hi = (b["qs"] & 15).astype(np.int64) - 8, (b["qs"] >> 4).astype(np.int64) - 8
    return (f16_value(b["d"])[:, None] * np.concatenate([lo, hi], axis=1)).ravel()


def quantize(type_, x32):
    """Expected bytes and tie mask for quantizing x32 to type_."""
    none = np.zeros(x32.shape, bool)
    if type_ == "F32":
        return x32.tobytes(), none
    if type_ == "F16":
        return f16_from(x32).tobytes(), none
    if type_ == "BF16":
        return bf16_from(x32).tobytes(), none
    blocks, tie = (q8_0_quantize if type_ == "Q8_0" else q4_0_quantize)(x32)
    return blocks.tobytes(), tie.ravel()


# ---- test inputs ----

def inputs(type_, n):
    """Named float32 vectors of length n covering the value ranges."""
    big = 6e4 if type_ == "F16" else 1e5  # F16 overflows past 65504
    nb = n // 32
    zeros = rng.standard_normal(n).astype(np.float32)
    zeros.reshape(nb, 32)[:: 2] = 0  # every other block all zeros
    if nb == 1:
        zeros[:] = 0
    scaled = rng.standard_normal(n) * np.repeat(10.0 ** rng.uniform(-4, 3, nb), 32)
    return {
        "normal": rng.standard_normal(n).astype(np.float32),
        "uniform": rng.uniform(-1, 1, n).astype(np.float32),
        "zeros": zeros,
        "large": (rng.uniform(-1, 1, n) * big).astype(np.float32),
        "tiny": (rng.standard_normal(n) * 1e-6).astype(np.float32),
        "block_scales": scaled.astype(np.float32),
    }


def same_float(a, b):
    """Equal values with equal signs (so -0 != +0), NaN equal to NaN."""
    return ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))


# ---- checks ----

def check_quantize(type_, x32, label, allow_ties=True):
    run("quantize", type_, put("x.f32", x32), tmp("q.bin"))
    got = get_bytes("q.bin")
    want, tie = quantize(type_, x32)
    if len(got) != len(want):
        return fail(f"quantize {type_} {label}: {len(got)} bytes, want {len(want)}")
    if got == want:
        return 0
    if type_ in ("F32", "F16", "BF16"):
        g, w = np.frombuffer(got, bits_dtype(type_)), np.frombuffer(want, bits_dtype(type_))
        bad = (g != w) & ~(np.isnan(dequant(type_, got)) & np.isnan(dequant(type_, want)))
        if bad.any():
            i = int(np.argmax(bad))
            fail(f"quantize {type_} {label}: element {i} x={x32[i]!r} got {g[i]:#x} want {w[i]:#x}")
        return 0
    return compare_blocks(type_, got, want, tie, x32, label, allow_ties)


def bits_dtype(type_):
    return "<u4" if type_ == "F32" else "<u2"


def compare_blocks(type_, got, want, tie, x32, label, allow_ties):
    """Scales must match exactly; q may differ by one only at a near-tie."""
    dt = Q8_0 if type_ == "Q8_0" else Q4_0
    g, w = np.frombuffer(got, dt), np.frombuffer(want, dt)
    if (g["d"] != w["d"]).any():
        i = int(np.argmax(g["d"] != w["d"]))
        return fail(f"quantize {type_} {label}: block {i} d {g['d'][i]:#x} want {w['d'][i]:#x}")
    if type_ == "Q8_0":
        gq, wq = g["q"].astype(int).ravel(), w["q"].astype(int).ravel()
    else:
        gq = np.concatenate([g["qs"] & 15, g["qs"] >> 4], axis=1).astype(int).ravel()
        wq = np.concatenate([w["qs"] & 15, w["qs"] >> 4], axis=1).astype(int).ravel()
    diff = gq != wq
    excused = diff & tie & (np.abs(gq - wq) == 1) if allow_ties else np.zeros_like(diff)
    if (diff & ~excused).any():
        i = int(np.argmax(diff & ~excused))
        return fail(f"quantize {type_} {label}: element {i} x={x32[i]!r} q {gq[i]} want {wq[i]}")
    return int(excused.sum())


def check_dequant(type_, raw, label):
    with open(tmp("r.bin"), "wb") as f:
        f.write(raw)
    run("dequant", type_, tmp("r.bin"), tmp("y.f32"))
    got = get("y.f32", "<f4").astype(np.float64)
    want = dequant(type_, raw)
    if got.shape != want.shape:
        return fail(f"dequant {type_} {label}: {got.size} values, want {want.size}")
    bad = ~same_float(got, want)
    if bad.any():
        i = int(np.argmax(bad))
        fail(f"dequant {type_} {label}: element {i} got {got[i]!r} want {want[i]!r}")


def rel_check(what, got, want, rel, absolute):
    err = np.abs(got - want)
    tol = rel * np.abs(want) + absolute
    bad = ~(err <= tol) & ~same_float(got, want)
    if bad.any():
        i = int(np.argmax(bad))
        fail(f"{what}: element {i} got {got.flat[i]!r} want {want.flat[i]!r}")
    r = np.where(want != 0, err / np.abs(want), 0.0)
    return float(np.nanmax(r)) if r.size else 0.0


def check_dot(type_, w32, x32, rows, n, label):
    run("quantize", type_, put("w.f32", w32), tmp("w.bin"))
    raw = get_bytes("w.bin")
    run("dot", type_, tmp("w.bin"), put("x.f32", x32), rows, n, tmp("d.f32"))
    got = get("d.f32", "<f4").astype(np.float64)
    wd = dequant(type_, raw).reshape(rows, n)
    prod = wd * x32.astype(np.float64)[None, :]
    want = prod.sum(axis=1)
    return rel_check(f"dot {type_} {label} n={n}", got, want, 1e-5, 1e-12 * np.abs(prod).sum(axis=1))


def random_block_bytes(type_, nb):
    """Arbitrary blocks with finite scales (normal and subnormal) and any q."""
    dt = Q8_0 if type_ == "Q8_0" else Q4_0
    b = np.zeros(nb, dt)
    d = rng.integers(0, 0x10000, nb).astype(np.uint16)
    b["d"] = np.where((d & 0x7C00) == 0x7C00, d & 0x83FF, d)  # exponent 31 -> subnormal
    if type_ == "Q8_0":
        b["q"] = rng.integers(-128, 128, (nb, 32))
    else:
        b["qs"] = rng.integers(0, 256, (nb, 16))
    return b.tobytes()


def test_types():
    n_ties = 0
    rel_max = {}
    for type_ in TYPES:
        for n in (32, 64, 4096):
            for label, x in inputs(type_, n).items():
                n_ties += check_quantize(type_, x, f"{label} n={n}")
                run("quantize", type_, put("x.f32", x), tmp("q.bin"))
                check_dequant(type_, get_bytes("q.bin"), f"{label} n={n}")
                rows = 4
                w = np.concatenate([x] + [inputs(type_, n)[label] for _ in range(rows - 1)])
                xs = rng.standard_normal(n).astype(np.float32)
                r = check_dot(type_, w, xs, rows, n, label)
                rel_max[type_] = max(rel_max.get(type_, 0.0), r)
    print(f"quantize: near-tie q differences excused: {n_ties}")
    print("dot max relative error:", {k: f"{v:.2e}" for k, v in rel_max.items()})


def test_exact_ties():
    """Exact .5 ties (d = 1 exactly): no allowance. Q8_0 rounds half away
    from zero; Q4_0 truncates x + 8.5, and 8 clamps to 15."""
    x = np.zeros(64, np.float32)
    x[:12] = [127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5, -126.5, 3.5, -3.5, 0.25]
    x[32:44] = [-127, 64.5, -64.5, 0.5, -0.5, 100.5, -100.5, 2.5, -2.5, 1, -1, 0]
    check_quantize("Q8_0", x, "exact ties", allow_ties=False)
    y = np.zeros(64, np.float32)
    y[:10] = [-8, 0.5, -0.5, 8, 7.5, -7.5, 1.5, -1.5, 6.5, -6.5]
    y[16:20] = [2.5, -2.5, 3.5, -3.5]
    y[32:42] = [8, 0.5, -0.5, -8, 7.5, -7.5, 1.5, -1.5, 6.5, -6.5]
    check_quantize("Q4_0", y, "exact ties", allow_ties=False)


def test_half_specials():
    """Ties between neighbouring halves/bf16s, overflow, subnormals, NaN, inf."""
    h = rng.integers(0, 0x7BFF, 4000).astype(np.uint16)
    a, b = f16_value(h), f16_value(h + 1)
    mids = ((a + b) / 2).astype(np.float32)  # exact in float32
    special = np.array([65504, 65519.99, 65520, 65536, 1e10, -1e10, 2**-25, 3 * 2**-25, 2**-24,
                        1e-40, -1e-40, -0.0, np.inf, -np.inf, np.nan, 6.1e-5, 6.0e-5], np.float32)
    for x in (mids, -mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(0)),
              special):
        check_quantize("F16", x.astype(np.float32), "specials")
    hb = rng.integers(0, 0x7F7F, 4000).astype(np.uint16)
    a, b = bf16_value(hb), bf16_value(hb + 1)
    mids = (a + (b - a) / 2).astype(np.float32)
    top = np.array([0x7F7F8000, 0x7F7F7FFF, 0x00008000, 0x00018000, 0x80018000, 0x7F800000,
                    0xFF800000, 0x7FC00000], np.uint32).view(np.float32)
    for x in (mids, -mids, np.nextafter(mids, np.float32(np.inf)), np.nextafter(mids, np.float32(0)),
              top, special):
        check_quantize("BF16", x.astype(np.float32), "specials")
    all16 = np.arange(0x10000, dtype=np.uint16).tobytes()
    check_dequant("F16", all16, "all patterns")
    check_dequant("BF16", all16, "all patterns")
    if not (np.isnan(f16_value(np.arange(0x10000, dtype=np.uint16)))
            == np.isnan(np.arange(0x10000, dtype=np.uint16).view(np.float16))).all():
        fail("f16_value disagrees with numpy's float16 about NaN")


def test_random_blocks():
    for type_ in ("Q8_0", "Q4_0"):
        check_dequant(type_, random_block_bytes(type_, 2048), "random bytes")


def test_matmul():
    for type_ in TYPES:
        n_out, n_in, T = 37, 256, 3
        w = rng.standard_normal(n_out * n_in).astype(np.float32)
        x = rng.standard_normal(T * n_in).astype(np.float32)
        run("quantize", type_, put("w.f32", w), tmp("w.bin"))
        wd = dequant(type_, get_bytes("w.bin")).reshape(n_out, n_in)
        xd = x.astype(np.float64).reshape(T, n_in)
        if type_ in ("Q8_0", "Q4_0"):  # these multiply Q8-rounded activations
            xd = ref_llama.quantize_act_q8(x.reshape(T, n_in))
        want = xd @ wd.T
        mag = np.abs(xd) @ np.abs(wd.T)
        outs = []
        for threads in (1, 2):
            run("matmul", type_, tmp("w.bin"), put("x.f32", x), n_out, n_in, T, threads, tmp("y.f32"))
            outs.append(get("y.f32", "<f4").reshape(T, n_out))
            rel_check(f"matmul {type_} threads={threads}", outs[-1].astype(np.float64), want, 1e-5,
                      1e-12 * mag)
        if outs[0].tobytes() != outs[1].tobytes():
            fail(f"matmul {type_}: 1 and 2 threads differ")


def rope_ref(x, pos, freqs, n_heads, head_dim, n_rot, neox):
    y = x.astype(np.float64).reshape(len(pos), n_heads, head_dim).copy()
    half = n_rot // 2
    theta = pos.astype(np.float64)[:, None] * freqs.astype(np.float64)[None, :]  # (T, half)
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    ia = np.arange(half) if neox else 2 * np.arange(half)
    ib = ia + half if neox else ia + 1
    a, b = y[:, :, ia].copy(), y[:, :, ib].copy()
    y[:, :, ia], y[:, :, ib] = a * c - b * s, a * s + b * c
    return y.ravel(), np.abs(a) + np.abs(b)


def test_rope():
    for neox in (0, 1):
        for head_dim, n_rot in ((64, 64), (64, 32), (16, 16), (128, 64)):
            T, nh = 5, 3
            x = (rng.standard_normal(T * nh * head_dim) * 4).astype(np.float32)
            pos = np.array([0, 1, 17, 4095, 100000][:T], np.int32)
            freqs = (10000.0 ** (-2.0 * np.arange(n_rot // 2) / n_rot)).astype(np.float32)
            freqs *= np.float32(rng.uniform(0.5, 1.0))
            mode = "neox" if neox else "normal"
            run("rope", mode, put("x.f32", x), put("p.i32", pos), put("f.f32", freqs), T, nh,
                head_dim, n_rot, tmp("y.f32"))
            got = get("y.f32", "<f4").astype(np.float64)
            want, pair = rope_ref(x, pos, freqs, nh, head_dim, n_rot, neox)
            absolute = np.full(want.shape, 1e-30)
            idx = np.arange(want.size).reshape(T, nh, head_dim)
            half = n_rot // 2
            ia = np.arange(half) if neox else 2 * np.arange(half)
            for cols in (ia, ia + half if neox else ia + 1):
                absolute[idx[:, :, cols].ravel()] = 1e-12 * pair.ravel()
            rel_check(f"rope {mode} hd={head_dim} n_rot={n_rot}", got, want, 1e-5, absolute)
            tail = np.arange(want.size) % head_dim >= n_rot
            if (got[tail] != x.astype(np.float64)[tail]).any():
                fail(f"rope {mode}: dims past n_rot changed")


def test_rmsnorm():
    for T, n, eps, scale in ((1, 64, 1e-5, 1.0), (4, 4096, 1e-6, 30.0), (2, 288, 1e-5, 1e-3),
                             (1, 32, 1e-5, 0.0)):
        x = (rng.standard_normal(T * n) * scale).astype(np.float32)
        w = rng.uniform(-2, 2, n).astype(np.float32)
        run("rmsnorm", put("x.f32", x), put("w.f32", w), T, n, repr(eps), tmp("y.f32"))
        got = get("y.f32", "<f4").astype(np.float64)
        xd = x.astype(np.float64).reshape(T, n)
        e = float(np.float32(eps))
        want = (xd / np.sqrt((xd * xd).mean(axis=1, keepdims=True) + e) * w.astype(np.float64))
        rel_check(f"rmsnorm T={T} n={n}", got, want.ravel(), 1e-5, 1e-30)


def test_softmax():
    rows, n = 6, 300
    x = (rng.standard_normal((rows, n)) * np.array([1, 10, 100, 1000, 0.01, 50])[:, None])
    x = x.astype(np.float32)
    x[5, ::3] = -np.inf  # masked entries
    run("softmax", put("x.f32", x), rows, n, tmp("y.f32"))
    got = get("y.f32", "<f4").astype(np.float64)
    xd = x.astype(np.float64)
    e = np.exp(xd - xd.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    rel_check("softmax", got, want.ravel(), 1e-5, 1e-30)
    run("softmax", put("x.f32", np.array([-7.0], np.float32)), 1, 1, tmp("y.f32"))
    if get("y.f32", "<f4")[0] != 1.0:
        fail("softmax of one element is not 1")


def test_swiglu():
    n = 10000
    g = (rng.standard_normal(n) * np.repeat([0.1, 1, 10, 100], n // 4)).astype(np.float32)
    u = rng.standard_normal(n).astype(np.float32)
    run("swiglu", put("g.f32", g), put("u.f32", u), tmp("y.f32"))
    got = get("y.f32", "<f4").astype(np.float64)
    gd = g.astype(np.float64)
    want = gd / (1.0 + np.exp(-gd)) * u.astype(np.float64)
    rel_check("swiglu", got, want, 1e-5, 1e-30)


def main():
    test_half_specials()
    test_exact_ties()
    test_random_blocks()
    test_types()
    test_matmul()
    test_rope()
    test_rmsnorm()
    test_softmax()
    test_swiglu()
    print(f"test_kernels_ref: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
