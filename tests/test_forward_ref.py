"""test_forward_ref.py - penny's Llama forward pass against the float64 reference.

Runs prompts through penny (build/tests/tool_logits, all logits of every
position) and through tests/ref_llama.py (float64 numpy, weights read and
dequantized exactly by the independent tests/pygguf.py), and compares:

    err = max over positions t of  max_v |penny[t,v] - ref[t,v]| / max_v |ref[t,v]|

which must be <= TOL (1e-4) in every case. Weights are dequantized exactly on
both sides, so the error measures only penny's float32 arithmetic.

Cases: (1) stories260K.gguf from $PENNY_SHARED (default ../shared next to the
repo; SKIP when absent): first a self-check of the reference against
llama.cpp's greedy ids, then a 64-token prompt with the default batch,
--batch 7 (several batches) and --threads 1 vs 2, and llama-2-tiny-random.gguf
(real 32,000-token vocabulary, F16); (2) random models written
by build/tests/tool_genmodel: every weight type with GQA, plus untied output,
partial rope, linear rope scaling, rope_freqs with another base, a head
dimension other than dim/heads, MHA and MQA; (3) K-quants: an F32 random
model with dim 256 quantized by `penny quantize` to Q4_K, Q5_K, Q6_K and the
Q4_K_M mix, each also with PENNY_CPU=scalar.

KV cache: every case above runs with --kv-type f32 (the reference keeps
keys and values exact). (4) The cache types: F16 (penny's default) and
Q8_0 caches against a reference that rounds the cached keys and values the
same way (ref_llama kv="f16": round to nearest even half; kv="q8_0": GGUF
Q8_0 blocks of 32 per head, see ref_llama.quantize_kv_q8_0), on stories260K,
llama-2-tiny-random and random models (GQA, MHA, head_dim 32, several
batches, PENNY_CPU=scalar and avx2, one thread); the tolerance stays 1e-4.
The cache has rounding ties too - a Q8_0 element within 1e-4 of k + 1/2 in
units of its block's d, an F16 one within 1e-6 (relative) of the midpoint
between two halves, where penny's float32 value may correctly round the
other way (one such F16 element moved the logits by up to ~5e-5 here) -
and they are resolved like the activations' below.

Quantized weights (Q8_0, Q4_0, K-quants) multiply activations that penny
rounds to 8-bit blocks (src/kernels/dispatch.h); the reference rounds them the same way
(ref_llama.quantize_act_q8), so the error still measures only float32
arithmetic. One thing float32 arithmetic can do there: where an activation
sits on a rounding tie (x/d within 1e-4 of k + 1/2) its last bits decide
the rounding, and penny may round to the other neighbour, equally correct,
moving the logits by ~1e-3. When a comparison fails and the reference met
such ties, compare() retries with up to MAX_TIES of them rounded the other
way (in position order, see resolve_ties) and prints which; the
tolerance stays 1e-4. (It also does so above TOL/10, so that the errors
printed are those of the arithmetic.) The Q8_0 and Q4_0 cases also run with
PENNY_CPU=scalar and with one thread.
Exits non-zero on any failure; uses only numpy and the standard library.
"""

import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_llama  # noqa: E402

TOL = 1e-4
MAX_TIES = 8  # rounding ties the reference may round the other way per case
ROOT = os.path.dirname(HERE)
SHARED = os.environ.get("PENNY_SHARED", os.path.join(ROOT, "..", "shared"))
STORIES_PROMPT = [1, 403, 407, 261, 378]  # BOS + "Once upon a time"

failures = []
ref_seconds = 0.0


def build_dir():
    b = os.environ.get("PENNY_BUILD", "build")
    return b if os.path.isabs(b) or os.path.isdir(b) else os.path.join(ROOT, b)


def tool(name):
    path = os.path.join(build_dir(), "tests", name)
    if not os.access(path, os.X_OK):
        sys.exit(f"FAIL: {path} not built (run make)")
    return path


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True,
                       env=dict(os.environ, **env) if env else None)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r.stdout


def penny_logits(model, ids, n_vocab, tmp, threads=2, batch=None, cpu=None, kv="f32"):
    out = os.path.join(tmp, "logits.f32")
    cmd = [tool("tool_logits"), model, out, "--ids", ",".join(map(str, ids)),
           "--threads", str(threads), "--kv-type", kv]
    if batch:
        cmd += ["--batch", str(batch)]
    echoed = run(cmd, {"PENNY_CPU": cpu} if cpu else None).split()
    if [int(t) for t in echoed] != list(ids):
        raise RuntimeError("tool_logits echoed different token ids")
    got = np.fromfile(out, dtype="<f4")
    if got.size != len(ids) * n_vocab:
        raise RuntimeError(f"tool_logits wrote {got.size} floats, want {len(ids)}x{n_vocab}")
    return got.reshape(len(ids), n_vocab).astype(np.float64)


def rel_err(got, ref):
    """max over positions of ||got - ref||_inf / ||ref||_inf (inf if non-finite)."""
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.max(np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)))


_plain = {}  # (reference, ids) -> (logits, ties) of the forward without flips


def reference(ref, ids, flips=(), ties=None):
    global ref_seconds
    key = (id(ref), tuple(ids))
    if not flips and key in _plain and _plain[key][0] is ref:
        logits, found = _plain[key][1:]
    else:
        t0 = time.perf_counter()
        found = []
        logits = ref.forward(ids, flips=tuple(flips), ties=found)
        ref_seconds += time.perf_counter() - t0
        if not flips:
            _plain[key] = (ref, logits, found)
    if ties is not None:
        ties.extend(found)
    return logits


def positions_err(got, ref):
    """Per position: ||got - ref||_inf / ||ref||_inf."""
    return np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)


def first_off(got, ref):
    """The first position whose error exceeds TOL/10 (len if none)."""
    off = np.flatnonzero(~(positions_err(got, ref) <= TOL / 10))
    return int(off[0]) if off.size else len(got)


def resolve_ties(ref, ids, got, ties):
    """Rounds some of the reference's rounding ties the other way to follow
    penny. A tie at token t can only move the logits of positions >= t, so
    ties are settled in position order: at each step, the first position
    that is off (error above TOL/10) is explained by a tie of that token if
    one moves it on (the closest ties tried first), else by the earlier tie
    that moves it furthest. Rounding a tie the other way changes what
    follows it, so each step looks at the ties of the current reference.
    Returns the final error and the ties taken; only the ties' rounding
    changes, not the tolerance. (A bug is not explained away: each tie
    moves the logits in its own way, and the result must still fall within
    TOL.)"""
    taken = []
    p = first_off(got, reference(ref, ids))
    while p < len(ids) and len(taken) < MAX_TIES:
        flips = [t[:2] for t in taken]
        if taken:
            ties = []
            reference(ref, ids, flips=flips, ties=ties)
        free = sorted((t for t in ties if tuple(t[:2]) not in flips), key=lambda t: t[3])
        best = None
        for tie in [t for t in free if t[2] == p] + [t for t in free if t[2] < p]:
            if best and tie[2] < p and best[1][2] == p:
                break  # a tie of token p already helps
            q = first_off(got, reference(ref, ids, flips=flips + [tie[:2]]))
            if q > p and (best is None or q > best[0]):
                best = (q, tie)
            if best and best[1][2] == p and q > p:
                break
        if best is None:
            break
        taken.append(best[1])
        p = best[0]
    return rel_err(got, reference(ref, ids, flips=[t[:2] for t in taken])), taken


def compare(label, ref, model, ids, tmp, **kw):
    """Checks one penny run against the reference; returns penny's logits."""
    try:
        got = penny_logits(model, ids, ref.n_vocab, tmp, **kw)
    except RuntimeError as e:
        failures.append(label)
        print(f"FAIL {label}: {e}")
        return None
    ties = []
    err = rel_err(got, reference(ref, ids, ties=ties))
    taken = []
    if err > TOL / 10 and ties:  # a tie can also cost less than TOL; show it anyway
        err, taken = resolve_ties(ref, ids, got, ties)
    ok = err <= TOL
    if not ok:
        failures.append(label)
    note = f", {len(ties)} rounding ties" if ties else ""
    print(f"{'ok  ' if ok else 'FAIL'} {label:44s} max rel err {err:.3e} (tol {TOL:.0e}){note}")
    for tie in taken:
        print(f"     rounded the other way: the tie at {tie[4]}")
    return got


def self_check_rope():
    """NeoX ordering must equal normal ordering on de-interleaved dims."""
    rng = np.random.RandomState(0)
    x = rng.randn(5, 3, 10)
    ang = ref_llama.rope_angles(np.arange(5), 8, 10000.0)
    perm = np.r_[0:8:2, 1:8:2, 8, 9]
    a = ref_llama.rope(x, ang)[..., perm]
    b = ref_llama.rope(x[..., perm], ang, neox=True)
    if not np.allclose(a, b, rtol=0, atol=1e-12):
        failures.append("rope self-check")
        print("FAIL reference self-check: neox != permuted normal rope")


def stories_generated_ids():
    """llama.cpp's greedy continuation, from reference/stories260K.txt."""
    path = os.path.join(SHARED, "reference", "stories260K.txt")
    with open(path, encoding="utf-8") as f:
        m = re.search(r"generated ids[^:]*:\s*\[([0-9, ]+)\]", f.read())
    return [int(t) for t in m.group(1).split(",")]


def test_stories(tmp):
    model = os.path.join(SHARED, "models", "stories260K.gguf")
    if not os.path.exists(model):
        print(f"SKIP stories260K: {model} not found (set PENNY_SHARED)")
        return
    ref = ref_llama.LlamaRef(model)
    gen = stories_generated_ids()
    seq = STORIES_PROMPT + gen
    # Teacher-forced argmax == greedy decoding: the reference must reproduce
    # llama.cpp's 64 greedy tokens exactly.
    am = reference(ref, seq).argmax(axis=1)[len(STORIES_PROMPT) - 1:-1]
    if list(am) != gen:
        failures.append("stories260K reference greedy")
        print(f"FAIL reference greedy ids differ from llama.cpp: {list(am)}")
    else:
        print(f"ok   reference reproduces llama.cpp's {len(gen)} greedy ids")
    ids = seq[:64]
    t2 = compare("stories260K threads 2", ref, model, ids, tmp, threads=2)
    compare("stories260K threads 2 --batch 7", ref, model, ids, tmp, threads=2, batch=7)
    t1 = compare("stories260K threads 1", ref, model, ids, tmp, threads=1)
    compare("stories260K PENNY_CPU=scalar", ref, model, ids, tmp, cpu="scalar")
    if t1 is not None and t2 is not None:
        print(f"     threads 1 vs 2: max abs diff {np.abs(t1 - t2).max():.3e}")


def test_tiny_random(tmp):
    """A 32,000-token vocabulary with F16 weights (dim 8, one layer)."""
    model = os.path.join(SHARED, "models", "llama-2-tiny-random.gguf")
    if not os.path.exists(model):
        print(f"SKIP llama-2-tiny-random: {model} not found (set PENNY_SHARED)")
        return
    ref = ref_llama.LlamaRef(model)
    ids = [1] + [int(t) for t in np.random.RandomState(7).randint(3, ref.n_vocab, 63)]
    compare("llama-2-tiny-random F16 vocab 32000", ref, model, ids, tmp)


# (label, tool_genmodel flags); seeds differ per case
RANDOM_CASES = [(f"{t} GQA 8/2", ["--type", t]) for t in ["F32", "F16", "BF16", "Q8_0", "Q4_0"]] + [
    ("Q8_0 untied output", ["--type", "Q8_0", "--untied"]),
    ("F16 rope-dims 4 of 8", ["--type", "F16", "--rope-dims", "4"]),
    ("F32 rope-linear 4", ["--type", "F32", "--rope-linear", "4"]),
    ("BF16 rope_freqs, base 500000", ["--type", "BF16", "--rope-freqs", "--rope-base", "500000"]),
    ("Q8_0 head_dim 32 (4x32 != dim 64)", ["--type", "Q8_0", "--heads", "4", "--head-dim", "32"]),
    ("Q4_0 MHA 8/8", ["--type", "Q4_0", "--kv-heads", "8"]),
    ("F32 MQA 8/1 untied", ["--type", "F32", "--kv-heads", "1", "--untied"]),
]


def test_random(tmp):
    for i, (label, flags) in enumerate(RANDOM_CASES):
        model = os.path.join(tmp, f"random{i}.gguf")
        try:
            run([tool("tool_genmodel"), model, "--seed", str(100 + i)] + flags)
        except RuntimeError as e:
            failures.append(label)
            print(f"FAIL {label}: {e}")
            continue
        ref = ref_llama.LlamaRef(model)
        rng = np.random.RandomState(i)
        ids = [1] + [int(t) for t in rng.randint(3, ref.n_vocab, 63)]
        compare(f"random {label}", ref, model, ids, tmp)
        if i == 0:
            compare(f"random {label} --batch 7", ref, model, ids, tmp, batch=7)
        if flags[1] in ("Q8_0", "Q4_0") and len(flags) == 2:
            compare(f"random {label} PENNY_CPU=scalar", ref, model, ids, tmp, cpu="scalar")
            compare(f"random {label} --threads 1", ref, model, ids, tmp, threads=1)


# (label, `penny quantize` type); the F32 source model is shared
KQUANT_CASES = [("Q4_K", "Q4_K"), ("Q5_K", "Q5_K"), ("Q6_K", "Q6_K"), ("Q4_K_M mix", "Q4_K_M")]


def penny_cli():
    path = os.path.join(build_dir(), "penny")
    if not os.access(path, os.X_OK):
        sys.exit(f"FAIL: {path} not built (run make)")
    return path


def test_kquants(tmp):
    src = os.path.join(tmp, "kq-f32.gguf")
    run([tool("tool_genmodel"), src, "--seed", "200", "--dim", "256", "--ff", "512",
         "--heads", "4", "--kv-heads", "2", "--untied"])
    for i, (label, qtype) in enumerate(KQUANT_CASES):
        model = os.path.join(tmp, f"kq{i}.gguf")
        try:
            run([penny_cli(), "quantize", src, model, qtype])
        except RuntimeError as e:
            failures.append(label)
            print(f"FAIL {label}: {e}")
            continue
        ref = ref_llama.LlamaRef(model)
        ids = [1] + [int(t) for t in np.random.RandomState(50 + i).randint(3, ref.n_vocab, 63)]
        compare(f"quantized {label} (dim 256)", ref, model, ids, tmp)
        compare(f"quantized {label} PENNY_CPU=scalar", ref, model, ids, tmp, cpu="scalar")


# (label, tool_genmodel flags, runs: compare() keyword sets); F16 and Q8_0 caches
KV_RANDOM = [
    ("F32 GQA 8/2", ["--type", "F32"],
     [{}, {"batch": 7}, {"cpu": "scalar"}, {"cpu": "avx2", "threads": 1}]),
    ("Q8_0 MHA 8/8", ["--type", "Q8_0", "--kv-heads", "8"], [{}, {"batch": 5}]),
    ("F16 head_dim 32 (4x32), MQA 4/1", ["--type", "F16", "--heads", "4", "--kv-heads", "1",
                                          "--head-dim", "32"], [{}, {"cpu": "scalar"}]),
]


def test_kv_types(tmp):
    stories = os.path.join(SHARED, "models", "stories260K.gguf")
    tiny = os.path.join(SHARED, "models", "llama-2-tiny-random.gguf")
    for kv in ("f16", "q8_0"):
        for path, label in ((stories, "stories260K"), (tiny, "llama-2-tiny-random")):
            if not os.path.exists(path):
                print(f"SKIP {label} --kv-type {kv}: {path} not found")
                continue
            ref = ref_llama.LlamaRef(path, kv=kv)
            rng = np.random.RandomState(7)
            ids = [1] + [int(t) for t in rng.randint(3, ref.n_vocab, 63)]
            compare(f"{label} --kv-type {kv}", ref, path, ids, tmp, kv=kv)
            if label == "stories260K":
                compare(f"{label} --kv-type {kv} --batch 7 threads 1", ref, path, ids, tmp,
                        kv=kv, batch=7, threads=1)
        for i, (label, flags, runs) in enumerate(KV_RANDOM):
            model = os.path.join(tmp, f"kv{i}.gguf")
            if not os.path.exists(model):
                run([tool("tool_genmodel"), model, "--seed", str(400 + i)] + flags)
            ref = ref_llama.LlamaRef(model, kv=kv)
            ids = [1] + [int(t) for t in np.random.RandomState(80 + i).randint(3, ref.n_vocab, 63)]
            for kw in runs:
                extra = " ".join(f"--{k} {v}" if k != "cpu" else f"PENNY_CPU={v}"
                                 for k, v in kw.items())
                compare(f"random {label} --kv-type {kv} {extra}".strip(), ref, model, ids, tmp,
                        kv=kv, **kw)


def main():
    t0 = time.perf_counter()
    self_check_rope()
    with tempfile.TemporaryDirectory(prefix="penny-fwd-") as tmp:
        test_stories(tmp)
        test_tiny_random(tmp)
        test_random(tmp)
        test_kquants(tmp)
        test_kv_types(tmp)
    print(f"float64 reference forward passes: {ref_seconds:.2f} s; "
          f"whole test {time.perf_counter() - t0:.1f} s")
    if failures:
        print(f"FAILED: {', '.join(failures)}")
        return 1
    print("all forward-pass comparisons within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
