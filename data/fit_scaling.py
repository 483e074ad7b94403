#!/usr/bin/python3
"""fit_scaling.py DIR [FINAL_FLOPS] - reads the isoFLOP study of
data/scaling.py (DIR/scale/<budget>/<arch>-<dim>-<layers>.log and loss.csv)
and chooses the built-in model's final shape and token count.

Per budget: the held-out bits per byte of every shape at equal compute, the
best shape, and a parabola in log(parameters) through the best shape and its
neighbours, whose minimum estimates the compute-optimal size N_opt(C). A
least-squares power law N_opt = k C^a over the budgets is extrapolated to
FINAL_FLOPS, and the final shape is the one of the ladder (dim = 32 x layers)
closest to it in log(parameters). Also the GPT-2-style baseline of each
budget against the Llama run of the same shape (the gap). Prints markdown tables, then
a last line "choice DIM LAYERS STEPS" for data/model.sh. The trend is fitted
over the budgets whose optimum lies inside the measured shapes (when at
least two do). Standard library only.
"""
import csv
import glob
import math
import os
import re
import sys

VOCAB, SEQ, BATCH = 2048, 256, 8
LADDER = [(32 * k, k) for k in range(2, 9)]  # 64 x 2 ... 256 x 8


def ffn(arch, d):
    return 4 * d if arch == "gpt2" else (8 * d // 3 + 31) // 32 * 32  # as the trainer


def flops_per_token(arch, d, layers, seq=SEQ, kv=2):
    """The trainer's count (src/train/model.c): 4 heads, llama with kv key/value heads."""
    proj = d * 4 * d if arch == "gpt2" else d * (2 * d + 2 * d * kv // 4)
    mlp = (2 if arch == "gpt2" else 3) * d * ffn(arch, d)
    return 6 * (layers * (proj + mlp + d * seq) + d * VOCAB)


def params(d, layers, arch="llama"):
    if arch == "gpt2":
        blk = 4 * d * d + 2 * d * ffn(arch, d) + 4 * d
        return VOCAB * d + SEQ * d + layers * blk + 2 * d
    return VOCAB * d + layers * (3 * d * d + 3 * d * ffn(arch, d) + 2 * d) + d


def steps_for(flops, arch, d, layers):
    return int(flops / (flops_per_token(arch, d, layers) * BATCH * SEQ) + 0.5)


def final_bpb(log):
    try:
        with open(log) as f:
            for line in f:
                m = re.match(r"final step \d+:.*eval bpb ([0-9.]+)", line)
                if m:
                    return float(m.group(1))
    except OSError:
        pass
    return None


def load(d):
    """{budget: {(arch, dim, layers): bpb}} of the finished runs."""
    out = {}
    for log in glob.glob(os.path.join(d, "scale", "*", "*.log")):
        m = re.search(r"scale/([^/]+)/(llama|gpt2)-(\d+)-(\d+)\.log$", log)
        bpb = final_bpb(log)
        if m and bpb is not None:
            out.setdefault(float(m.group(1)), {})[(m.group(2), int(m.group(3)), int(m.group(4)))] = bpb
    return out


def parabola_min(pts):
    """Vertex of the parabola through three (x, y) points, or None if not convex."""
    (x1, y1), (x2, y2), (x3, y3) = pts
    den = (x1 - x2) * (x1 - x3) * (x2 - x3)
    a = (x3 * (y2 - y1) + x2 * (y1 - y3) + x1 * (y3 - y2)) / den
    b = (x3 * x3 * (y1 - y2) + x2 * x2 * (y3 - y1) + x1 * x1 * (y2 - y3)) / den
    return -b / (2 * a) if a > 0 else None


def n_opt(runs):
    """Compute-optimal parameters at one budget from its llama runs."""
    shapes = sorted((params(dm, ly), bpb) for (arch, dm, ly), bpb in runs.items() if arch == "llama")
    i = min(range(len(shapes)), key=lambda k: shapes[k][1])
    if len(shapes) < 3:
        return shapes[i][0], "best measured"
    j = min(max(i - 1, 0), len(shapes) - 3)
    x = parabola_min([(math.log(n), b) for n, b in shapes[j:j + 3]])
    if x is None:
        return shapes[i][0], "best measured (no convex fit)"
    lo, hi = math.log(shapes[0][0]), math.log(shapes[-1][0])
    return math.exp(x), "parabola" + ("" if lo <= x <= hi else ", outside the measured range")


def powerlaw(pts):
    xs, ys = [math.log(c) for c, _ in pts], [math.log(n) for _, n in pts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return math.exp(my - slope * mx), slope


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build/model"
    final = float(sys.argv[2]) if len(sys.argv) > 2 else 1e14
    data = load(d)
    print("| FLOPs | dim x layers | parameters | tokens | tokens/parameter | held-out bpb |")
    print("|---|---|---|---|---|---|")
    opts = []
    for c in sorted(data):
        runs = data[c]
        llama = {k: v for k, v in runs.items() if k[0] == "llama"}
        best = min(llama, key=llama.get)
        for k in sorted(llama, key=lambda k: k[1]):
            tok = steps_for(c, *k) * BATCH * SEQ
            n = params(k[1], k[2])
            mark = "**%.4f**" % llama[k] if k == best else "%.4f" % llama[k]
            print("| {:.2g} | {} x {} | {:,} | {:,} | {:.1f} | {} |".format(c, k[1], k[2], n, tok, tok / n, mark))
        n, how = n_opt(runs)
        opts.append((c, n, how, best))
    print("\n| FLOPs | best shape | N_opt (fit) | how |")
    print("|---|---|---|---|")
    for c, n, how, best in opts:
        print("| {:.2g} | {} x {} | {:,.0f} | {} |".format(c, best[1], best[2], n, how))
    # Budgets whose optimum lies inside the measured shapes; an optimum at
    # the edge of the ladder is only a bound and would bias the trend.
    inside = [(c, n) for c, n, how, _ in opts if how == "parabola"]
    pts = inside if len(inside) >= 2 else [(c, n) for c, n, _, _ in opts]
    if len(pts) >= 2:
        k, a = powerlaw(pts)
        target = k * final ** a
        print("\nN_opt = {:.4g} x C^{:.3f} (fit over {} budgets: {}); at {:.3g} FLOPs: {:,.0f} parameters".format(
            k, a, len(pts), ", ".join("%.2g" % c for c, _ in pts), final, target))
    else:
        target = opts[-1][1]
    shape = min(LADDER, key=lambda s: abs(math.log(params(*s)) - math.log(target)))
    print("\n| FLOPs | shape | Llama bpb | GPT-2-style bpb | Llama better by |")
    print("|---|---|---|---|---|")
    for c in sorted(data):  # every baseline against the Llama run of its shape
        for (arch, dm, ly), g in sorted(data[c].items()):
            lm = data[c].get(("llama", dm, ly))
            if arch == "gpt2" and lm is not None:
                print("| {:.2g} | {} x {} | {:.4f} | {:.4f} | {:.1f}% |".format(
                    c, dm, ly, lm, g, 100 * (g - lm) / g))
    steps = steps_for(final, "llama", *shape)
    print("\nfinal: {} x {} ({:,} parameters), {} steps = {:,} tokens ({:.1f} per parameter)".format(
        shape[0], shape[1], params(*shape), steps, steps * BATCH * SEQ, steps * BATCH * SEQ / params(*shape)))
    print("choice {} {} {}".format(shape[0], shape[1], steps))


if __name__ == "__main__":
    main()
