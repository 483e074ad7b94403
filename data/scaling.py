#!/usr/bin/python3
"""scaling.py DIR [baselines] - the measured isoFLOP study that sizes
penny's built-in model (docs/model-card.md, "Why this size"), run by
data/model.sh.

At each compute budget (BUDGETS, FLOPs by the trainer's own per-token count)
every model shape of SIZES is trained from scratch on the same pretraining
tokens for that compute. With "baselines" (run after the final model, which
does not need them), the GPT-2-style baseline (`--arch gpt2`) is trained at
every budget with the shape that came out best, so the card can show how the
Llama-vs-GPT-2 gap moves with compute. data/fit_scaling.py reads the logs,
fits the compute-optimal size against compute and picks the final shape. Budgets run in increasing order, and from the second budget on
shapes smaller than the previous budget's best are skipped: the optimal size
only grows with compute, and the small shapes are the slowest runs. The
shapes of FIRST_ONLY run at the first budget only, to bracket its optimum
from below (they are not considered for the skipping or the baseline): the
trainer runs such narrow models at a few percent of peak, so at the larger
budgets they would take longer than all the other runs.

Runs go JOBS at a time (THREADS threads each, default 2 x 1: small models
scale poorly across threads); the trainer is deterministic for any thread
count, so this only changes wall time. A run whose log already ends with its
final step is kept (so an interrupted study resumes). Needs DIR/tok.gguf and
DIR/pre.tok. Writes DIR/scale/<budget>/<arch>-<dim>-<layers>.log and .../loss.csv.
Environment: PENNY, BUDGETS ("1.5e12 6e12"), SIZES ("64:2 96:3 128:4
192:6"), FIRST_ONLY ("48:2"), JOBS (2), THREADS (1). Standard library only.
"""
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fit_scaling as fs  # noqa: E402


def run_one(penny, d, budget, arch, dim, layers, threads):
    name = "{}-{}-{}".format(arch, dim, layers)
    out = os.path.join(d, "scale", budget, name)
    log = out + ".log"
    if fs.final_bpb(log) is not None:
        return
    steps = fs.steps_for(float(budget), arch, dim, layers)
    kv = 2 if arch == "llama" else 4
    cmd = [penny, "train", "--arch", arch,
           "--tokenizer", os.path.join(d, "tok.gguf"), "--data", os.path.join(d, "pre.tok"),
           "--out", out, "--dim", str(dim), "--n_layer", str(layers), "--n_head", "4",
           "--n_kv_head", str(kv), "--seq_len", "256", "--batch", "8", "--steps", str(steps),
           "--lr", "3e-3", "--eval_every", str(max(1, steps // 8)), "--eval_batches", "16",
           "--ckpt_every", "0", "--seed", "1", "--threads", str(threads)]
    print("scaling: {} FLOPs, {} {} x {}, {} steps".format(budget, arch, dim, layers, steps),
          file=sys.stderr, flush=True)
    with open(log, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)


def run_pool(jobs, n):
    """Runs the callables in jobs, n at a time, in order; raises on failure."""
    lock, errors, it = threading.Lock(), [], iter(jobs)

    def worker():
        while True:
            with lock:
                job = next(it, None)
            if job is None or errors:
                return
            try:
                job()
            except Exception as e:  # reported after the pool drains
                errors.append(e)

    ts = [threading.Thread(target=worker) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build/model"
    baselines = len(sys.argv) > 2 and sys.argv[2] == "baselines"
    penny = os.environ.get("PENNY", "build/penny")
    budgets = os.environ.get("BUDGETS", "1.5e12 6e12").split()

    def shapes(var, default):
        return [tuple(int(x) for x in v.split(":")) for v in os.environ.get(var, default).split()]

    sizes, first_only = shapes("SIZES", "64:2 96:3 128:4 192:6"), shapes("FIRST_ONLY", "48:2")
    jobs, threads = int(os.environ.get("JOBS", "2")), int(os.environ.get("THREADS", "1"))

    def best(budget, todo):
        res = {s: fs.final_bpb(os.path.join(d, "scale", budget, "llama-%d-%d.log" % s)) for s in todo}
        return min(res, key=res.get)

    prev_best, chosen = None, []
    for budget in budgets:
        os.makedirs(os.path.join(d, "scale", budget), exist_ok=True)
        todo = [s for s in sizes if prev_best is None or fs.params(*s) >= fs.params(*prev_best)]
        extra = first_only if prev_best is None else []
        if not baselines:  # the slowest runs (smallest shapes: lowest FLOP/s) first
            run_pool([lambda s=s: run_one(penny, d, budget, "llama", s[0], s[1], threads)
                      for s in extra + todo], jobs)
        prev_best = best(budget, todo)
        chosen.append((budget, prev_best))
    if baselines:
        run_pool([lambda b=b, s=s: run_one(penny, d, b, "gpt2", s[0], s[1], threads)
                  for b, s in reversed(chosen)], jobs)


if __name__ == "__main__":
    main()
