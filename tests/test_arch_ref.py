"""test_arch_ref.py - penny's qwen2, qwen3, MoE and deepseek2 forward passes
against independent float64 references, plus model facts and malformed files.

Random-weight models written by build/tests/tool_genmodel (penny's GGUF
writer) run through penny (build/tests/tool_logits: every position's logits
of a 64-token prompt) and through tests/ref_qwen.py or ref_deepseek2.py
(float64 numpy, weights dequantized exactly by tests/pygguf.py). Each case
must meet

    err = max over positions t of  max_v |penny[t,v] - ref[t,v]| / max_v |ref[t,v]|
        <= TOL (1e-4).

Shapes exercise every option: GQA ratios (MHA, GQA, MQA), q/k/v biases,
per-head q/k norms, tied and untied output, YaRN, Mixtral and Qwen3-MoE
experts, and for deepseek2 q_lora on and off, split attn_k_b/attn_v_b and
legacy attn_kv_b, softmax and sigmoid gating, selection bias, expert groups,
shared experts, dense leading layers, weight normalisation and scaling -
each deepseek2 model through both the absorbed and the naive latent
attention. F32 and Q8_0 weights; several batch sizes (1: token-by-token
decoding) and thread counts.

Q8_0 weights multiply activations that penny rounds to 8-bit blocks; the
references round them the same way (tests/ref_act.py) and, as in
tests/test_forward_ref.py, may round up to MAX_TIES rounding ties the other
way when that explains a difference (the tolerance stays 1e-4). Some Q8_0
runs also use PENNY_CPU=scalar and one thread. Two models force the routing
(a selection bias) and fill every other expert with NaN: finite logits that
match the reference show those experts are never used.

Every run above uses an F32 KV cache (--kv-type f32), which the references
model exactly. Then the other cache types (KV_CASES): F16 and Q8_0 caches
on qwen3 and deepseek2 (both MLA paths: absorbed caches the latent row
[c, k_pe], naive the expanded per-head keys and values) against references
that round what penny's cache stores the same way (tests/ref_act.py cache();
F16 and Q8_0 rounding ties are resolved like the activations' when the
error exceeds the tolerance; unresolved F16 ties leave up to ~5e-5 here),
at 1e-4.

Then: `penny info` reports parameters (total / active, checked against the
file's tensors) and KV bytes per token for the default F16 cache and for
F32 and Q8_0, which for deepseek2 must equal (kv_lora_rank + rope dims) x
layers x 2 (F16), x 4 (F32), and ceil((kv_lora_rank + rope dims) / 32) x
34 x layers (Q8_0: one row of 32-element blocks); and files with missing or
inconsistent keys or tensors are refused with a message naming them.
Exits non-zero on any failure.
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
import pygguf  # noqa: E402
import ref_deepseek2  # noqa: E402
import ref_qwen  # noqa: E402

TOL = 1e-4
MAX_TIES = 4  # activation rounding ties the reference may round the other way per run
ROOT = os.path.dirname(HERE)
failures = []

DS = ["--arch", "deepseek2", "--heads", "4", "--kv-lora", "64", "--qk-nope", "32",
      "--rope-dims", "16", "--v-head", "32", "--experts", "8", "--experts-used", "2",
      "--ff-exp", "32"]

# (label, tool_genmodel flags, runs: list of tool_logits extra args)
ONE = [[]]
MLA = [["--mla", "absorbed"], ["--mla", "naive"]]
CASES = [
    ("qwen2 F32 GQA 8/2, qkv biases, tied", ["--arch", "qwen2", "--bias"], [[], ["--batch", "7"]]),
    ("qwen2 Q8_0 MHA 4/4, biases, untied, YaRN x4",
     ["--arch", "qwen2", "--type", "Q8_0", "--bias", "--heads", "4", "--kv-heads", "4", "--untied",
      "--yarn", "4", "--yarn-orig", "32"], [[], ["PENNY_CPU=scalar", "--threads", "1"]]),
    ("qwen3 F32 GQA 8/2, head_dim 32, q/k norms", ["--arch", "qwen3", "--head-dim", "32"],
     [[], ["--threads", "1"]]),
    ("qwen3 Q8_0 MQA 4/1, untied", ["--arch", "qwen3", "--type", "Q8_0", "--heads", "4",
                                     "--kv-heads", "1", "--untied"], ONE),
    ("llama+experts F32 8 experts top-2 (Mixtral)", ["--experts", "8", "--experts-used", "2"],
     [[], ["--batch", "7", "--threads", "1"], ["--batch", "1"]]),
    ("llama+experts Q8_0 4 experts top-1, untied",
     ["--type", "Q8_0", "--experts", "4", "--experts-used", "1", "--untied"],
     [[], ["PENNY_CPU=scalar", "--threads", "1"]]),
    ("qwen3moe F32 16 experts top-4, ff_exp 32",
     ["--arch", "qwen3moe", "--experts", "16", "--experts-used", "4", "--ff-exp", "32"],
     [[], ["--batch", "5"]]),
    ("qwen3moe Q8_0 8 experts top-2, GQA 8/4",
     ["--arch", "qwen3moe", "--type", "Q8_0", "--kv-heads", "4", "--experts", "8",
      "--experts-used", "2", "--ff-exp", "64"], ONE),
    ("deepseek2 F32 q_lora, k_b/v_b, softmax, 2 shared, dense lead, YaRN",
     DS + ["--q-lora", "64", "--shared", "2", "--dense-lead", "1", "--yarn", "4",
           "--yarn-orig", "32", "--yarn-log-mul", "0.0707"],
     MLA + [["--batch", "7"], ["--batch", "1"], ["--mla", "naive", "--batch", "1"]]),
    ("deepseek2 Q8_0 kv_b, sigmoid+bias, groups 4/2, norm, x2.5",
     DS + ["--type", "Q8_0", "--legacy-kvb", "--gating", "2", "--probs-bias", "--groups", "4",
           "--groups-used", "2", "--norm-w", "1", "--w-scale", "2.5", "--shared", "1"],
     MLA + [["PENNY_CPU=scalar", "--batch", "7"]]),
    ("deepseek2 F32 q_lora, kv_b, sigmoid groups 4/2 top-3, YaRN, 2 dense of 3",
     DS[:-6] + ["--experts", "16", "--experts-used", "3", "--ff-exp", "32", "--q-lora", "64",
                "--legacy-kvb", "--gating", "2", "--probs-bias", "--groups", "4",
                "--groups-used", "2", "--norm-w", "1", "--layers", "3", "--dense-lead", "2",
                "--yarn", "8", "--yarn-orig", "16", "--yarn-log-mul", "0.1", "--heads", "2"],
     MLA + [["--mla", "naive", "--batch", "3", "--threads", "1"]]),
    ("deepseek2 F32 sigmoid, experts 2..7 NaN (never computed)",
     DS + ["--gating", "2", "--route-only", "2", "--norm-w", "1"], MLA + [["--batch", "5"]]),
    ("qwen3moe F32 experts 3..7 NaN (never computed), top-3",
     ["--arch", "qwen3moe", "--experts", "8", "--experts-used", "3", "--ff-exp", "32",
      "--route-only", "3"], [[], ["--batch", "7"]]),
    ("deepseek2 Q8_0 q_lora, k_b/v_b, softmax groups 2/1, untied",
     DS + ["--type", "Q8_0", "--q-lora", "64", "--groups", "2", "--groups-used", "1",
           "--untied", "--heads", "8"], MLA),
]


def build_dir():
    b = os.environ.get("PENNY_BUILD", "build")
    return b if os.path.isabs(b) or os.path.isdir(b) else os.path.join(ROOT, b)


def tool(name):
    path = os.path.join(build_dir(), "tests", name)
    if not os.access(path, os.X_OK):
        sys.exit(f"FAIL: {path} not built (run make)")
    return path


def run(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise RuntimeError(f"{cmd[0]}: {e}") from e
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r.stdout


def fail(label, why):
    failures.append(label)
    print(f"FAIL {label}: {why}")


def penny_logits(model, ids, n_vocab, tmp, extra):
    """Every position's logits; extra: tool_logits flags, and "ENV=VALUE"
    items for its environment (e.g. PENNY_CPU=scalar)."""
    out = os.path.join(tmp, "logits.f32")
    env = dict(os.environ)
    env.update(e.split("=", 1) for e in extra if "=" in e)
    flags = [e for e in extra if "=" not in e]
    if "--kv-type" not in flags:
        flags += ["--kv-type", "f32"]
    r = subprocess.run([tool("tool_logits"), model, out, "--ids", ",".join(map(str, ids))] + flags,
                       capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"tool_logits {' '.join(extra)} exited {r.returncode}: {r.stderr.strip()[-2000:]}")
    got = np.fromfile(out, dtype="<f4")
    if got.size != len(ids) * n_vocab:
        raise RuntimeError(f"tool_logits wrote {got.size} floats, want {len(ids)}x{n_vocab}")
    return got.reshape(len(ids), n_vocab).astype(np.float64)


def rel_err(got, ref):
    """max over positions of ||got - ref||_inf / ||ref||_inf (inf if non-finite)."""
    if not np.all(np.isfinite(got)):
        return float("inf")
    return float(np.max(np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)))


def excess(got, ref):
    """Per position, how far the relative error exceeds TOL, summed (0: all within)."""
    e = np.abs(got - ref).max(axis=1) / np.abs(ref).max(axis=1)
    return float(np.sum(np.maximum(e - TOL, 0.0))) if np.all(np.isfinite(got)) else float("inf")


def resolve_ties(ref, ids, got, ties, err):
    """Rounds some of the reference's activation rounding ties the other way
    (see tests/ref_act.py), greedily: at each step the tie that most reduces
    the summed excess over TOL (so ties at different positions are each
    found), while that helps; at most MAX_TIES. A flip changes everything
    after it, so the ties are collected again after each one. Returns the
    error and the ties taken. The tolerance does not change."""
    taken, flips = [], []
    best_x = excess(got, ref.forward(ids))
    for _ in range(MAX_TIES):
        best = None
        for site, i, where in ties:
            if (site, i) in flips:
                continue
            want = ref.forward(ids, flips=flips + [(site, i)])
            x = excess(got, want)
            if x < best_x and (best is None or x < best[0]):
                best = (x, (site, i, where), rel_err(got, want))
        if best is None:
            break
        best_x, err = best[0], best[2]
        taken.append(best[1])
        flips.append(best[1][:2])
        if best_x == 0.0:
            break
        ties = []
        ref.forward(ids, flips=flips, ties=ties)
    return err, taken


def make_ref(model, kv="f32", mla="absorbed"):
    arch = pygguf.GGUFFile(model).get("general.architecture")
    if arch == "deepseek2":
        return ref_deepseek2.DeepSeek2Ref(model, kv=kv, mla=mla)
    return ref_qwen.DecoderRef(model, kv=kv)


# (label, tool_genmodel flags, cache type, MLA path, runs): other KV cache types
KV_CASES = [
    ("qwen3 F32 GQA 8/2, head_dim 32, q/k norms", ["--arch", "qwen3", "--head-dim", "32"], "f16",
     None, [[], ["--batch", "7", "PENNY_CPU=scalar"]]),
    ("qwen2 Q8_0 GQA 8/2, biases", ["--arch", "qwen2", "--type", "Q8_0", "--bias"], "q8_0", None,
     [[], ["--batch", "5"]]),
] + [(f"deepseek2 F32 q_lora, k_b/v_b, YaRN", DS + ["--q-lora", "64", "--shared", "1", "--yarn",
      "4", "--yarn-orig", "32", "--yarn-log-mul", "0.0707"], kv, mla,
      [["--mla", mla], ["--mla", mla, "--batch", "1", "PENNY_CPU=scalar"]])
     for kv in ("f16", "q8_0") for mla in ("absorbed", "naive")]


def test_case(i, label, flags, runs, tmp, kv="f32", mla="absorbed"):
    model = os.path.join(tmp, f"arch{i}.gguf")
    try:
        run([tool("tool_genmodel"), model, "--seed", str(300 + i)] + flags)
    except RuntimeError as e:
        return fail(label, e)
    ref = make_ref(model, kv, mla)
    if kv != "f32":
        runs = [r + ["--kv-type", kv] for r in runs]
    ids = [1] + [int(t) for t in np.random.RandomState(50 + i).randint(3, ref.n_vocab, 63)]
    ties = []
    want = ref.forward(ids, ties=ties)
    margin = getattr(ref, "router", None) and ref.router.min_margin
    note = f"  (routing margin {margin:.1e})" if margin else ""
    if ties:
        note += f" ({len(ties)} rounding ties)"
    for extra in runs:
        name = f"{label} {' '.join(extra)}".strip()
        try:
            got = penny_logits(model, ids, ref.n_vocab, tmp, extra)
        except RuntimeError as e:
            fail(name, e)
            continue
        err, taken = rel_err(got, want), []
        if err > TOL and ties:
            err, taken = resolve_ties(ref, ids, got, ties, err)
        if err > TOL:
            failures.append(name)
        print(f"{'ok  ' if err <= TOL else 'FAIL'} {name:72s} max rel err {err:.3e}{note}")
        for _, _, where in taken:
            print(f"     rounded the other way: the tie at {where}")


# ---- model facts: penny info ----

def info_facts(model):
    out = run([os.path.join(build_dir(), "penny"), "info", model])
    p = re.search(r"^parameters: (\d+) total, (\d+) active", out, re.M)
    kv = re.search(r"^KV cache: (\d+) bytes per token .*F16; --kv-type f32: (\d+), q8_0: (\d+)",
                   out, re.M)
    if not p or not kv:
        raise RuntimeError("penny info shows no parameters / KV cache lines")
    return int(p.group(1)), int(p.group(2)), tuple(int(kv.group(i)) for i in (1, 2, 3))


def expected_params(model):
    """(total, active) from the file: every tensor; minus unused routed experts."""
    g = pygguf.GGUFFile(model)
    total = sum(int(np.prod(t.ne)) for t in g.tensors.values())
    inactive = 0
    arch = g.get("general.architecture")
    n_used = g.get(f"{arch}.expert_used_count", 0)
    for name, t in g.tensors.items():
        if re.fullmatch(r"blk\.\d+\.ffn_(gate|up|down)_exps\.weight", name):
            inactive += int(np.prod(t.ne)) // t.ne[2] * (t.ne[2] - n_used)
    return total, total - inactive


def test_facts(tmp):
    cases = [("deepseek2", DS + ["--q-lora", "64", "--shared", "1", "--layers", "3",
                                 "--dense-lead", "1"]),
             ("qwen3moe", ["--arch", "qwen3moe", "--experts", "8", "--experts-used", "2",
                           "--ff-exp", "32"]),
             ("qwen2", ["--arch", "qwen2", "--bias"])]
    for arch, flags in cases:
        model = os.path.join(tmp, f"facts_{arch}.gguf")
        try:
            run([tool("tool_genmodel"), model] + flags)
            total, active, kv = info_facts(model)
        except RuntimeError as e:
            fail(f"info {arch}", e)
            continue
        g = pygguf.GGUFFile(model)
        key = lambda k: int(g.get(f"{arch}.{k}"))
        q8 = lambda n: -(-n // 32) * 34  # one vector in Q8_0 blocks, the last one padded
        if arch == "deepseek2":  # latent + shared rope key, per layer: (F16, F32, Q8_0)
            row = key("attention.kv_lora_rank") + key("rope.dimension_count")
            want_kv = tuple(x * key("block_count") for x in (row * 2, row * 4, q8(row)))
        else:  # keys and values of every KV head
            hk, kl, vl = (key("attention.head_count_kv"), key("attention.key_length"),
                          key("attention.value_length"))
            want_kv = tuple(hk * x * key("block_count")
                            for x in ((kl + vl) * 2, (kl + vl) * 4, q8(kl) + q8(vl)))
        want = expected_params(model)
        ok = (total, active) == want and kv == want_kv and (active < total) == (arch != "qwen2")
        if not ok:
            failures.append(f"info {arch}")
        print(f"{'ok  ' if ok else 'FAIL'} info {arch}: {total} params, {active} active "
              f"(want {want}), KV F16/F32/Q8_0 {kv} B/token (want {want_kv})")


# ---- malformed files ----

MALFORMED = [
    (["--experts", "8", "--experts-used", "2", "--set-u32", "llama.expert_count=6"],
     "llama.expert_count"),
    (["--arch", "qwen3moe", "--experts", "8", "--experts-used", "2", "--ff-exp", "32",
      "--set-u32", "qwen3moe.expert_used_count=9"], "qwen3moe.expert_used_count"),
    (["--arch", "qwen3moe", "--experts", "8", "--experts-used", "2", "--ff-exp", "32",
      "--omit-key", "qwen3moe.expert_feed_forward_length"], "qwen3moe.expert_feed_forward_length"),
    (["--arch", "qwen3moe", "--experts", "8", "--experts-used", "2", "--ff-exp", "32",
      "--set-u32", "qwen3moe.expert_feed_forward_length=64"], "expert_feed_forward_length"),
    (DS + ["--omit-key", "deepseek2.attention.kv_lora_rank"], "deepseek2.attention.kv_lora_rank"),
    (DS + ["--set-u32", "deepseek2.attention.kv_lora_rank=32"], "deepseek2.attention.key_length"),
    (DS + ["--set-u32", "deepseek2.expert_group_count=3"], "deepseek2.expert_group_count"),
    (DS + ["--set-u32", "deepseek2.expert_gating_func=3"], "deepseek2.expert_gating_func"),
    (DS + ["--set-u32", "deepseek2.leading_dense_block_count=5"],
     "deepseek2.leading_dense_block_count"),
    (DS + ["--yarn", "4"], "deepseek2.rope.scaling.yarn_log_multiplier"),
    (DS + ["--drop", "blk.1.attn_v_b.weight"], "blk.1.attn_v_b.weight"),
    (DS + ["--legacy-kvb", "--drop", "blk.0.attn_kv_b.weight"], "attn_kv_b"),
    (DS + ["--set-u32", "deepseek2.expert_count=16"], "deepseek2.expert_count"),
    (["--arch", "qwen3", "--drop", "blk.0.attn_k_norm.weight"], "blk.0.attn_k_norm.weight"),
    (["--arch", "qwen2", "--set-u32", "qwen2.attention.head_count_kv=3"],
     "qwen2.attention.head_count_kv"),
]


def test_malformed(tmp):
    model = os.path.join(tmp, "bad.gguf")
    for flags, want in MALFORMED:
        label = f"refuses {want} ({' '.join(flags[-2:])})"
        try:
            run([tool("tool_genmodel"), model] + flags)
        except RuntimeError as e:
            fail(label, e)
            continue
        r = subprocess.run([tool("tool_logits"), model, os.path.join(tmp, "x.f32"), "--ids", "1,2"],
                           capture_output=True, text=True)
        msg = r.stderr.strip()
        ok = r.returncode != 0 and want in msg and "bad.gguf" in msg
        if not ok:
            failures.append(label)
        print(f"{'ok  ' if ok else 'FAIL'} {label}: {msg[:160]}")


def main():
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="penny-arch-") as tmp:
        for i, (label, flags, runs) in enumerate(CASES):
            test_case(i, label, flags, runs, tmp)
        for i, (label, flags, kv, mla, runs) in enumerate(KV_CASES):
            test_case(100 + i, label, flags, runs, tmp, kv, mla)
        test_facts(tmp)
        test_malformed(tmp)
    print(f"whole test {time.perf_counter() - t0:.1f} s")
    if failures:
        print(f"FAILED: {', '.join(failures)}")
        return 1
    print("all architecture comparisons within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
