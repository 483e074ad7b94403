#!/usr/bin/python3
"""fit_scaling.py DIR - held-out loss against compute for the scaling runs
of data/scaling.sh (DIR/scale-DIM-LAYERS/loss.csv), and a power-law fit.

For every evaluation point of every run, compute = step x batch x seq_len x
FLOPs per token (the trainer's count). Prints a markdown table of the points
and, per shape, a least-squares fit of log(bpb) = log(a) - b log(C) over the
second half of its run (where warmup no longer dominates), then the shape
with the lowest held-out bpb at the common budget. Standard library only.
"""
import csv
import glob
import math
import os
import re
import sys

VOCAB, SEQ, BATCH = 2048, 256, 8


def flops_per_token(d, layers):
    f = (8 * d // 3 + 31) // 32 * 32  # the trainer rounds the MLP up to 32
    return 6 * (layers * (d * 3 * d + 3 * d * f + d * SEQ) + d * VOCAB)


def params(d, layers):
    f = (8 * d // 3 + 31) // 32 * 32  # the trainer rounds the MLP up to 32
    return VOCAB * d + layers * (d * d + 2 * d * d // 2 + d * d + 3 * d * f + 2 * d) + d


def fit(points):
    xs = [math.log(c) for c, _ in points]
    ys = [math.log(b) for _, b in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return float("nan"), float("nan")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return math.exp(my - slope * mx), -slope


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "build/model"
    runs = []
    for path in sorted(glob.glob(os.path.join(d, "scale-*", "loss.csv"))):
        m = re.search(r"scale-(\d+)-(\d+)", path)
        dim, layers = int(m.group(1)), int(m.group(2))
        fpt = flops_per_token(dim, layers)
        with open(path) as f:
            pts = [(int(r["step"]) * BATCH * SEQ * fpt, float(r["eval_bpb"]))
                   for r in csv.DictReader(f) if r["eval_bpb"]]
        runs.append((dim, layers, fpt, pts))
    print("| dim | layers | parameters | MFLOP/token | tokens | held-out bpb at 25/50/75/100% |"
          " fit bpb = a C^-b (second half) |")
    print("|---|---|---|---|---|---|---|")
    best = None
    for dim, layers, fpt, pts in runs:
        if not pts:
            continue
        q = [pts[max(0, round(len(pts) * k / 4) - 1)][1] for k in (1, 2, 3, 4)]
        a, b = fit(pts[len(pts) // 2:])
        tokens = pts[-1][0] / fpt
        print("| {} | {} | {:,} | {:.2f} | {:,.0f} | {} | a={:.3g}, b={:.3f} |".format(
            dim, layers, params(dim, layers), fpt / 1e6, tokens, " / ".join("%.3f" % x for x in q), a, b))
        if best is None or pts[-1][1] < best[2]:
            best = (dim, layers, pts[-1][1], pts[-1][0])
    if best:
        print("\nlowest held-out bpb at {:.2g} FLOPs: dim {}, {} layers, {:.3f} bpb".format(
            best[3], best[0], best[1], best[2]))


if __name__ == "__main__":
    main()
