#!/bin/sh
# data/model.sh OUT - the whole recipe of penny's built-in assistant
# (`make model`): data -> tokenizer -> measured scaling runs (the best shape
# at equal compute is kept) -> pretraining -> chat fine-tuning -> export ->
# F16 -> held-out evaluation -> GPT-2-style baseline at equal compute. Every
# step is seeded and the trainer is deterministic for any thread count, so
# the same inputs give the same weights checksum (docs/model-card.md). The
# result is OUT/penny-assistant.gguf; `make model` copies it to models/.
# Environment: PENNY (default build/penny), FLOPS (compute per scaling run,
# default 1.5e12), FINAL_FLOPS (pretraining compute of the chosen shape,
# default 4e12; equal to FLOPS: keep the scaling run itself), SFT_FLOPS
# (fine-tuning compute, default 5e12), BASELINE=0 (skip the GPT-2-style
# baseline), REUSE=1 (keep the tokenizer, token files, scaling runs and
# final pretraining already in OUT).
set -eu
OUT=${1:?usage: data/model.sh OUT}
PENNY=${PENNY:-build/penny}
FLOPS=${FLOPS:-1.5e12}
SFT_FLOPS=${SFT_FLOPS:-5e12}
FINAL_FLOPS=${FINAL_FLOPS:-4e12}
D=$(dirname "$0")
mkdir -p "$OUT"
log() { echo "== model: $* ($(date -u +%H:%M:%S))" >&2; }

log "data"
[ -s "$OUT/text/brown.txt" ] || "$D/build.sh" "$OUT"
python3 "$D/make_chat.py" "$OUT"

REUSE=${REUSE:-0}
log "tokenizer"
[ "$REUSE" = 1 ] && [ -s "$OUT/pre.tok" ] || {
    "$PENNY" train-tokenizer --vocab 2048 -o "$OUT/tok.gguf" "$OUT"/text/*.txt
    "$PENNY" train-prepare -t "$OUT/tok.gguf" -o "$OUT/pre.tok" "$OUT"/text/*.txt
}
"$PENNY" train-prepare -t "$OUT/tok.gguf" --chat -o "$OUT/chat.tok" "$OUT/chat_train.jsonl"

log "pretraining: scaling runs at $FLOPS FLOPs each"
[ "$REUSE" = 1 ] && [ -s "$OUT/scaling.txt" ] ||
    PENNY=$PENNY FLOPS=$FLOPS "$D/scaling.sh" "$OUT" > "$OUT/scaling.txt"
python3 "$D/fit_scaling.py" "$OUT" | tee "$OUT/scaling.md"
# The shape with the lowest held-out bits per byte at equal compute.
best=$(for f in "$OUT"/scale-*.log; do
    printf '%s %s\n' "$(sed -n 's/^final step.*eval bpb \([0-9.]*\).*/\1/p' "$f")" "$f"
done | sort -n | head -1 | sed 's/.*scale-\([0-9]*\)-\([0-9]*\)\.log/\1 \2/')
set -- $best
dim=$1 layers=$2
log "best shape: dim $dim, $layers layers"

# Optimizer steps of 8 x 256 tokens that spend $1 FLOPs on the chosen shape.
steps_for() {
    awk -v d="$dim" -v l="$layers" -v c="$1" 'BEGIN {
        f = int((8 * d / 3 + 15) / 16) * 16
        fpt = 6 * (l * (d * (2 * d + d) + 3 * d * f + d * 256) + d * 2048)
        printf "%d", c / (fpt * 8 * 256) + 0.5 }'
}

# The chosen shape trained again, from scratch, on FINAL_FLOPS (same
# settings as its scaling run, only longer); by default the scaling run's
# own checkpoint is used.
init="$OUT/scale-$dim-$layers/checkpoint.bin"
if [ "$FINAL_FLOPS" != "$FLOPS" ] && [ "$REUSE" = 1 ] && grep -q '^final step' "$OUT/pretrain.log" 2>/dev/null; then
    init="$OUT/pretrain/checkpoint.bin"
elif [ "$FINAL_FLOPS" != "$FLOPS" ]; then
    log "pretraining dim $dim, $layers layers on $FINAL_FLOPS FLOPs"
    steps=$(steps_for "$FINAL_FLOPS")
    "$PENNY" train --tokenizer "$OUT/tok.gguf" --data "$OUT/pre.tok" --out "$OUT/pretrain" \
        --dim "$dim" --n_layer "$layers" --n_head 4 --n_kv_head 2 --seq_len 256 --batch 8 \
        --steps "$steps" --lr 3e-3 --eval_every $((steps / 8)) --eval_batches 16 \
        --ckpt_every 0 --seed 1 > "$OUT/pretrain.log" 2>&1
    grep -E '^(final|parameters|throughput)' "$OUT/pretrain.log" >&2
    init="$OUT/pretrain/checkpoint.bin"
fi

log "fine-tuning on $SFT_FLOPS FLOPs"
steps=$(steps_for "$SFT_FLOPS")
"$PENNY" train --tokenizer "$OUT/tok.gguf" --data "$OUT/chat.tok" --out "$OUT/sft" \
    --init_from "$init" \
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

if [ "${BASELINE:-1}" = 1 ] && [ -s "$OUT/pretrain.log" ]; then
    log "GPT-2-style baseline"
    PENNY=$PENNY "$D/baseline.sh" "$OUT" "$dim" "$layers" | tee "$OUT/baseline.txt"
fi
