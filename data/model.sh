#!/bin/sh
# data/model.sh OUT - the whole recipe of penny's built-in assistant
# (`make model`): data -> tokenizer -> pretraining (measured scaling runs,
# the best shape at equal compute is kept) -> chat fine-tuning -> export ->
# F16 -> held-out evaluation. Every step is seeded and the trainer is
# deterministic for any thread count, so the same inputs give the same
# weights checksum (docs/model-card.md). The result is OUT/penny-assistant.gguf;
# `make model` copies it to models/. Environment: PENNY (default
# build/penny), FLOPS (pretraining compute per scaling run, default 1.5e12),
# SFT_FLOPS (fine-tuning compute, default 1e12).
set -eu
OUT=${1:?usage: data/model.sh OUT}
PENNY=${PENNY:-build/penny}
FLOPS=${FLOPS:-1.5e12}
SFT_FLOPS=${SFT_FLOPS:-1e12}
D=$(dirname "$0")
mkdir -p "$OUT"
log() { echo "== model: $* ($(date -u +%H:%M:%S))" >&2; }

log "data"
[ -s "$OUT/text/brown.txt" ] || "$D/build.sh" "$OUT"
python3 "$D/make_chat.py" "$OUT"

log "tokenizer"
"$PENNY" train-tokenizer --vocab 2048 -o "$OUT/tok.gguf" "$OUT"/text/*.txt
"$PENNY" train-prepare -t "$OUT/tok.gguf" -o "$OUT/pre.tok" "$OUT"/text/*.txt
"$PENNY" train-prepare -t "$OUT/tok.gguf" --chat -o "$OUT/chat.tok" "$OUT/chat_train.jsonl"

log "pretraining: scaling runs at $FLOPS FLOPs each"
PENNY=$PENNY FLOPS=$FLOPS "$D/scaling.sh" "$OUT" | tee "$OUT/scaling.txt"
# The shape with the lowest held-out bits per byte at equal compute.
best=$(for f in "$OUT"/scale-*.log; do
    printf '%s %s\n' "$(sed -n 's/^final step.*eval bpb \([0-9.]*\).*/\1/p' "$f")" "$f"
done | sort -n | head -1 | sed 's/.*scale-\([0-9]*\)-\([0-9]*\)\.log/\1 \2/')
set -- $best
dim=$1 layers=$2
log "best shape: dim $dim, $layers layers"

log "fine-tuning"
steps=$(awk -v d="$dim" -v l="$layers" -v c="$SFT_FLOPS" 'BEGIN {
    f = int((8 * d / 3 + 15) / 16) * 16
    fpt = 6 * (l * (d * (2 * d + d) + 3 * d * f + d * 256) + d * 2048)
    printf "%d", c / (fpt * 8 * 256) + 0.5 }')
"$PENNY" train --tokenizer "$OUT/tok.gguf" --data "$OUT/chat.tok" --out "$OUT/sft" \
    --init_from "$OUT/scale-$dim-$layers/checkpoint.bin" \
    --dim "$dim" --n_layer "$layers" --n_head 4 --n_kv_head 2 --seq_len 256 --batch 8 \
    --steps "$steps" --lr 2e-3 --warmup 10 --eval_every $((steps / 8)) --eval_batches 16 \
    --ckpt_every 0 --seed 2 --export "$OUT/sft-f32.gguf" --name penny-assistant \
    > "$OUT/sft.log" 2>&1
grep -E '^(final|parameters|throughput)' "$OUT/sft.log" >&2

log "F16 and evaluation"
"$PENNY" quantize "$OUT/sft-f32.gguf" "$OUT/penny-assistant.gguf" F16 >&2
python3 "$D/eval.py" "$PENNY" "$OUT/penny-assistant.gguf" "$OUT/chat_eval.jsonl" \
    "$OUT/transcripts.jsonl" | tee "$OUT/eval.md"
sha256sum "$OUT/penny-assistant.gguf" | tee "$OUT/sha256.txt"
