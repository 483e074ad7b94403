#!/usr/bin/python3
"""tune.py DIR [table | choose DIM LAYERS] - the paired tuning study of the built-in model
against its GPT-2-style baseline (docs/model-card.md, "Tuning both
architectures").

Every setting of the grid (TUNE: "DIM:LAYERS:SEQ:LR[:KV]" items) is trained
twice from scratch, once as the Llama-style model (`--arch llama`, KV
key/value heads, default 2) and once as the GPT-2-style baseline (`--arch
gpt2`, always 4 of 4 heads: no grouped-query attention), at the same
compute (BUDGET FLOPs by the trainer's own per-token count), on the same
tokens, with the same seed, batch of 2048 tokens (8 x 256, 4 x 512, ...),
schedule and evaluation (32,768 held-out tokens), so each architecture is
tuned over the same grid. "table" only prints the results: every run, then
for each shape and context each architecture at its best learning rate, and
the gap between the two bests. "choose DIM LAYERS" prints "lr LLAMA GPT2",
each architecture's best learning rate for that shape at context 256 (Llama
with 2 key/value heads) at the largest budget that has both, for
data/model.sh (with several LRS). Held-out sequences depend on the context
length, so bpb is comparable across architectures at one context, not
across contexts.

Runs go JOBS at a time, THREADS threads each (default 2 x 1); a run whose log
already ends with its final step is kept. Needs DIR/tok.gguf and DIR/pre.tok.
Writes DIR/tune/<budget>/<arch>-<dim>x<layers>-s<seq>-lr<lr>[-kv<kv>].log.
Environment: PENNY, BUDGET (1.5e12), TUNE, JOBS, THREADS. Standard library only.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fit_scaling as fs  # noqa: E402
import scaling  # noqa: E402

GRID = "64:2:256:3e-3 64:2:256:6e-3 64:2:256:1.2e-2 64:2:256:2e-2"
TOKENS_PER_STEP = 2048


def name(arch, dim, layers, seq, lr, kv=2):
    tail = "-kv%d" % kv if arch == "llama" and kv != 2 else ""
    return "{}-{}x{}-s{}-lr{}{}".format(arch, dim, layers, seq, lr, tail)


def run_one(penny, d, budget, arch, dim, layers, seq, lr, kv, threads):
    out = os.path.join(d, "tune", budget, name(arch, dim, layers, seq, lr, kv))
    log = out + ".log"
    if fs.final_bpb(log) is not None:
        return
    batch = TOKENS_PER_STEP // seq
    kv = kv if arch == "llama" else 4
    steps = int(float(budget) / (fs.flops_per_token(arch, dim, layers, seq, kv) * TOKENS_PER_STEP) + 0.5)
    cmd = [penny, "train", "--arch", arch,
           "--tokenizer", os.path.join(d, "tok.gguf"), "--data", os.path.join(d, "pre.tok"),
           "--out", out, "--dim", str(dim), "--n_layer", str(layers), "--n_head", "4",
           "--n_kv_head", str(kv), "--seq_len", str(seq),
           "--batch", str(batch), "--steps", str(steps), "--lr", lr,
           "--eval_every", str(max(1, steps // 8)), "--eval_batches", str(32768 // TOKENS_PER_STEP),
           "--ckpt_every", "0", "--seed", "1", "--threads", str(threads)]
    print("tune: {} FLOPs, {}, {} steps".format(budget, name(arch, dim, layers, seq, lr, kv), steps),
          file=sys.stderr, flush=True)
    with open(log, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)


def grid():
    out = []
    for item in os.environ.get("TUNE", GRID).split():
        f = item.split(":")
        out.append((int(f[0]), int(f[1]), int(f[2]), f[3], int(f[4]) if len(f) > 4 else 2))
    return out


def table(d, budget):
    """Prints every finished run and each setting's best per architecture."""
    res = {}
    for f in sorted(os.listdir(os.path.join(d, "tune", budget))):
        m = re.match(r"(llama|gpt2)-(\d+)x(\d+)-s(\d+)-lr([0-9.e+-]+?)(?:-kv(\d+))?\.log$", f)
        bpb = fs.final_bpb(os.path.join(d, "tune", budget, f))
        if m and bpb is not None:
            kv = int(m.group(6) or 2) if m.group(1) == "llama" else 4
            res[(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5), kv)] = bpb
    keys = sorted({k[1:5] + (k[5] if k[0] == "llama" else 2,) for k in res},
                  key=lambda k: (k[0], k[1], k[2], k[4], float(k[3])))
    print("| FLOPs | dim x layers | context | lr | Llama kv heads | Llama bpb | GPT-2-style bpb | Llama better by |")
    print("|---|---|---|---|---|---|---|---|")
    for k in keys:
        lm, gp = res.get(("llama",) + k), res.get(("gpt2",) + k[:4] + (4,))
        gap = "%.1f%%" % (100 * (gp - lm) / gp) if lm and gp else ""
        print("| {} | {} x {} | {} | {} | {} | {} | {} | {} |".format(
            budget, k[0], k[1], k[2], k[3], k[4], "%.4f" % lm if lm else "", "%.4f" % gp if gp else "", gap))
    print("\n| FLOPs | dim x layers | context | Llama best (lr, kv heads) | GPT-2-style best (lr) | Llama better by |")
    print("|---|---|---|---|---|---|")
    for s in sorted({k[:3] for k in keys}):
        best = {}
        for a in ("llama", "gpt2"):
            runs = {k[4:]: v for k, v in res.items() if k[0] == a and k[1:4] == s}
            if runs:
                lr = min(runs, key=runs.get)
                best[a] = (runs[lr], lr)
        if len(best) == 2:
            (lm, (llr, lkv)), (gp, (glr, _)) = best["llama"], best["gpt2"]
            print("| {} | {} x {} | {} | {:.4f} ({}, {}) | {:.4f} ({}) | {:.1f}% |".format(
                budget, s[0], s[1], s[2], lm, llr, lkv, gp, glr, 100 * (gp - lm) / gp))


def choose(d, dim, layers):
    """(llama lr, gpt2 lr): the best of each at the largest budget with both."""
    top = os.path.join(d, "tune")
    budgets = [b for b in os.listdir(top) if os.path.isdir(os.path.join(top, b))]
    for budget in sorted(budgets, key=float, reverse=True):
        best = {}
        for a in ("llama", "gpt2"):
            pre = "{}-{}x{}-s256-lr".format(a, dim, layers)
            runs = {f[len(pre):-4]: fs.final_bpb(os.path.join(d, "tune", budget, f))
                    for f in os.listdir(os.path.join(d, "tune", budget))
                    if f.startswith(pre) and f.endswith(".log") and "-kv" not in f}
            runs = {k: v for k, v in runs.items() if v is not None}
            if runs:
                best[a] = min(runs, key=runs.get)
        if len(best) == 2:
            return best["llama"], best["gpt2"]
    raise SystemExit("tune.py: no finished pair for {} x {} in {}/tune".format(dim, layers, d))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build/model"
    budget = os.environ.get("BUDGET", "1.5e12")
    if len(sys.argv) > 4 and sys.argv[2] == "choose":
        print("lr %s %s" % choose(d, int(sys.argv[3]), int(sys.argv[4])))
        return
    os.makedirs(os.path.join(d, "tune", budget), exist_ok=True)
    if not (len(sys.argv) > 2 and sys.argv[2] == "table"):
        penny = os.environ.get("PENNY", "build/penny")
        jobs, threads = int(os.environ.get("JOBS", "2")), int(os.environ.get("THREADS", "1"))
        scaling.run_pool([lambda a=a, g=g: run_one(penny, d, budget, a, *g, threads)
                          for g in grid() for a in ("llama", "gpt2")], jobs)
    table(d, budget)


if __name__ == "__main__":
    main()
