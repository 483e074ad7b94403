#!/bin/sh
# data/model.sh OUT - the whole recipe of penny's built-in assistant
# (`make model`): data -> tokenizer -> isoFLOP scaling study (data/scaling.py)
# -> the compute-optimal shape for FINAL_FLOPS (data/fit_scaling.py) -> the
# learning rate of each architecture at that shape (optional: data/tune.py,
# the same grid for both) -> pretraining, with the GPT-2-style baseline at
# equal compute and its own learning rate beside it ->
# chat fine-tuning -> export -> F16 -> held-out evaluation -> the study's
# GPT-2-style baselines (the gap against compute). Every step is
# seeded and the trainer is deterministic for any thread count, so the same
# inputs give the same weights checksum (docs/model-card.md). The result is
# OUT/penny-assistant.gguf; `make model` copies it to models/.
# A stage whose log already ends with its final step is kept, so an
# interrupted run resumes where it stopped; REUSE=1 also keeps the tokenizer
# and token files. Budget (docs/model-card.md): about 45 minutes on an idle
# 2-core machine with the defaults, well inside the 2 hours allowed; run it
# under `nice -n 19` on a shared one.
# Environment: PENNY (default build/penny), BUDGETS, SIZES, FIRST_ONLY (the
# study, see data/scaling.py), FINAL_FLOPS (pretraining compute, default 2.5e13),
# LRS (default 3e-3: one value is used for both architectures; several, e.g.
# "3e-3 6e-3 1.2e-2", are all tried for both by data/tune.py at LR_BUDGET,
# default the study's largest budget, and each architecture takes its best;
# docs/model-card.md says why the shipped model keeps 3e-3),
# SFT_EPOCHS (passes over the chat tokens, default 6), SFT_THREADS (default 2),
# BASELINE=0 (skip the final GPT-2-style baseline).
set -eu
OUT=${1:?usage: data/model.sh OUT}
PENNY=${PENNY:-build/penny}
FINAL_FLOPS=${FINAL_FLOPS:-2.5e13}
LRS=${LRS:-3e-3}
SFT_EPOCHS=${SFT_EPOCHS:-6}
REUSE=${REUSE:-0}
D=$(dirname "$0")
export PENNY
mkdir -p "$OUT"
log() { echo "== model: $* ($(date -u +%H:%M:%S))" >&2; }
done_log() { grep -q '^final step' "$1" 2>/dev/null; }

log "data"
[ -s "$OUT/text/brown.txt" ] || "$D/build.sh" "$OUT"
python3 "$D/make_chat.py" "$OUT"

log "tokenizer"
[ "$REUSE" = 1 ] && [ -s "$OUT/pre.tok" ] || {
    "$PENNY" train-tokenizer --vocab 2048 -o "$OUT/tok.gguf" "$OUT"/text/*.txt
    "$PENNY" train-prepare -t "$OUT/tok.gguf" -o "$OUT/pre.tok" "$OUT"/text/*.txt
}
"$PENNY" train-prepare -t "$OUT/tok.gguf" --chat -o "$OUT/chat.tok" "$OUT/chat_train.jsonl"

log "isoFLOP scaling study"
python3 "$D/scaling.py" "$OUT"
python3 "$D/fit_scaling.py" "$OUT" "$FINAL_FLOPS" | tee "$OUT/scaling.md"
set -- $(sed -n 's/^choice //p' "$OUT/scaling.md")
dim=$1 layers=$2 steps=$3
log "chosen: dim $dim, $layers layers, $steps steps"

set -- $LRS
if [ $# -gt 1 ]; then
    budget=${LR_BUDGET:-$(echo "${BUDGETS:-1.5e12 6e12}" | awk '{ print $NF }')}
    log "learning rates $LRS for both architectures at $dim x $layers, $budget FLOPs"
    grid=$(for r in $LRS; do printf '%s ' "$dim:$layers:256:$r"; done)
    BUDGET=$budget TUNE=$grid python3 "$D/tune.py" "$OUT" | tee "$OUT/tune.md"
    set -- $(python3 "$D/tune.py" "$OUT" choose "$dim" "$layers")
    shift
fi
lr=$1 blr=${2:-$1}
log "learning rate $lr (Llama-style), $blr (GPT-2-style)"

# ARCH DIR STEPS KV THREADS LR [EXTRA...]: one pretraining run (the study's
# settings, only longer), skipped when its log is finished.
pretrain() {
    a=$1 dir=$2 n=$3 kv=$4 th=$5 r=$6
    shift 6
    done_log "$OUT/$dir.log" && return 0
    "$PENNY" train --arch "$a" --tokenizer "$OUT/tok.gguf" --data "$OUT/pre.tok" \
        --out "$OUT/$dir" --dim "$dim" --n_layer "$layers" --n_head 4 --n_kv_head "$kv" \
        --seq_len 256 --batch 8 --steps "$n" --lr "$r" --eval_every $((n / 8)) \
        --eval_batches 16 --ckpt_every 500 --resume 1 --seed 1 --threads "$th" "$@" \
        > "$OUT/$dir.log" 2>&1
}
if [ "${BASELINE:-1}" = 1 ]; then
    bsteps=$(python3 -c "import sys; sys.path.insert(0, '$D'); import fit_scaling as f; \
print(f.steps_for($FINAL_FLOPS, 'gpt2', $dim, $layers))")
    log "pretraining ($steps steps) and GPT-2-style baseline ($bsteps steps), $FINAL_FLOPS FLOPs each"
    pretrain llama pretrain "$steps" 2 1 "$lr" & p1=$!
    pretrain gpt2 baseline "$bsteps" 4 1 "$blr" & p2=$!
    wait $p1 && wait $p2
else
    log "pretraining ($steps steps, $FINAL_FLOPS FLOPs)"
    pretrain llama pretrain "$steps" 2 2 "$lr"
fi
grep -E '^(final|parameters|throughput)' "$OUT/pretrain.log" >&2

# Fine-tuning: SFT_EPOCHS passes over the chat tokens (the u64 count at byte
# 24 of the token file), 8 x 256 tokens a step.
ntok=$(od -A n -t u8 -j 24 -N 8 "$OUT/chat.tok" | tr -d ' ')
ssteps=$(awk -v e="$SFT_EPOCHS" -v n="$ntok" 'BEGIN { printf "%d", e * n / 2048 + 0.5 }')
log "fine-tuning: $ssteps steps ($SFT_EPOCHS passes over $ntok chat tokens)"
done_log "$OUT/sft.log" && [ -s "$OUT/sft-f32.gguf" ] ||
    "$PENNY" train --tokenizer "$OUT/tok.gguf" --data "$OUT/chat.tok" --out "$OUT/sft" \
        --init_from "$OUT/pretrain/checkpoint.bin" \
        --dim "$dim" --n_layer "$layers" --n_head 4 --n_kv_head 2 --seq_len 256 --batch 8 \
        --steps "$ssteps" --lr 2e-3 --warmup 10 --eval_every $((ssteps / 8)) --eval_batches 16 \
        --ckpt_every 0 --seed 2 --threads "${SFT_THREADS:-2}" --export "$OUT/sft-f32.gguf" --name penny-assistant \
        > "$OUT/sft.log" 2>&1
grep -E '^(final|parameters|throughput)' "$OUT/sft.log" >&2

log "F16 and evaluation"
"$PENNY" quantize "$OUT/sft-f32.gguf" "$OUT/penny-assistant.gguf" F16 >&2
python3 "$D/eval.py" "$PENNY" "$OUT/penny-assistant.gguf" "$OUT/chat_eval.jsonl" \
    "$OUT/transcripts.jsonl" | tee "$OUT/eval.md"
sha256sum "$OUT/penny-assistant.gguf" | tee "$OUT/sha256.txt"
if [ -s "$OUT/baseline.log" ]; then
    grep -E '^final' "$OUT/pretrain.log" | sed 's/^/llama: /'
    grep -E '^final' "$OUT/baseline.log" | sed 's/^/gpt2:  /'
fi | tee "$OUT/baseline.txt"

if [ "${BASELINE:-1}" = 1 ]; then
    log "GPT-2-style baselines of the study (the gap against compute)"
    python3 "$D/scaling.py" "$OUT" baselines
    python3 "$D/fit_scaling.py" "$OUT" "$FINAL_FLOPS" > "$OUT/scaling.md"
fi
log "done"
