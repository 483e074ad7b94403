#!/bin/sh
# data/baseline.sh OUT DIM LAYERS - the GPT-2-style baseline that the
# built-in model is compared with (docs/model-card.md): `penny train
# --arch gpt2` (LayerNorm, learned positions, GELU MLP of 4 dim, no
# grouped-query attention) at the same width and depth as the chosen Llama
# shape, on the same pretraining tokens, with the same batch, learning-rate
# schedule, seed and number of steps as data/model.sh's final pretraining
# (OUT/pretrain.log). By the trainer's count the two cost the same FLOPs per
# token (printed and compared at the end), so equal steps is equal compute.
# Writes OUT/baseline.log and OUT/baseline/loss.csv.
set -eu
OUT=${1:?usage: data/baseline.sh OUT DIM LAYERS}
dim=${2:?} layers=${3:?}
PENNY=${PENNY:-build/penny}
steps=$(sed -n 's/^final step \([0-9]*\):.*/\1/p' "$OUT/pretrain.log")
[ -n "$steps" ] || { echo "baseline.sh: no finished $OUT/pretrain.log" >&2; exit 1; }
"$PENNY" train --arch gpt2 --tokenizer "$OUT/tok.gguf" --data "$OUT/pre.tok" --out "$OUT/baseline" \
    --dim "$dim" --n_layer "$layers" --n_head 4 --n_kv_head 4 --seq_len 256 --batch 8 \
    --steps "$steps" --lr 3e-3 --eval_every $((steps / 8)) --eval_batches 16 \
    --ckpt_every 0 --seed 1 > "$OUT/baseline.log" 2>&1
# Equal compute: the two runs' FLOPs per token as the trainer printed them.
a=$(sed -n 's/^throughput.* \([0-9.]*\) MFLOP\/token.*/\1/p' "$OUT/pretrain.log")
b=$(sed -n 's/^throughput.* \([0-9.]*\) MFLOP\/token.*/\1/p' "$OUT/baseline.log")
echo "baseline: $steps steps each; MFLOP/token llama $a, gpt2 $b" >&2
grep -E '^final' "$OUT/pretrain.log" | sed 's/^/llama: /'
grep -E '^final' "$OUT/baseline.log" | sed 's/^/gpt2:  /'
