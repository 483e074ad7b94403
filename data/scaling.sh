#!/bin/sh
# data/scaling.sh DIR - small measured scaling runs that choose the built-in
# model's size (docs/model-card.md, "Why this size"). Every model shape in
# SIZES is trained on the same pretraining tokens for the same compute
# (FLOPS, by the trainer's own FLOPs-per-token count), two threads each, all
# at once; the held-out bits per byte at equal compute say which shape uses
# compute best, and the per-run curves (DIR/<shape>/loss.csv) give loss
# against compute. Needs DIR/tok.gguf and DIR/pre.tok (make model's first
# steps). Environment: PENNY, FLOPS (default 1.5e12), SIZES ("dim:layers ...").
set -eu
DIR=${1:?usage: data/scaling.sh DIR}
PENNY=${PENNY:-build/penny}
FLOPS=${FLOPS:-1.5e12}
SIZES=${SIZES:-"64:2 96:3 128:4"}
VOCAB=2048 SEQ=256 BATCH=8
for s in $SIZES; do
    d=${s%%:*} l=${s##*:}
    # The trainer's count (src/train/model.c): 6 x (layers x (projections +
    # causal attention) + output), 4 heads sharing 2 key/value heads.
    steps=$(awk -v d="$d" -v l="$l" -v v=$VOCAB -v t=$SEQ -v b=$BATCH -v c="$FLOPS" 'BEGIN {
        f = int((8 * d / 3 + 15) / 16) * 16
        fpt = 6 * (l * (d * (2 * d + d) + 3 * d * f + d * t) + d * v)
        printf "%d", c / (fpt * b * t) + 0.5 }')
    echo "scaling: dim $d, $l layers, $steps steps" >&2
    "$PENNY" train --tokenizer "$DIR/tok.gguf" --data "$DIR/pre.tok" --out "$DIR/scale-$d-$l" \
        --dim "$d" --n_layer "$l" --n_head 4 --n_kv_head 2 --seq_len $SEQ --batch $BATCH \
        --steps "$steps" --lr 3e-3 --eval_every $((steps / 8)) --eval_batches 16 \
        --ckpt_every 0 --seed 1 --threads 2 > "$DIR/scale-$d-$l.log" 2>&1 &
done
wait
for s in $SIZES; do
    d=${s%%:*} l=${s##*:}
    printf 'dim %s layers %s: ' "$d" "$l"; grep -E '^(final|parameters|throughput)' "$DIR/scale-$d-$l.log" | tr '\n' ' '; echo
done
