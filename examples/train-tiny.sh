#!/bin/sh
# train-tiny.sh DIR - penny's whole training pipeline in about a minute:
# a byte-level BPE tokenizer and a ~130k-parameter Llama-style model trained
# on the first three books of the King James Bible (public domain; Debian
# package bible-kjv), exported to DIR/model.gguf, which `penny run` runs.
# Prints the final train and eval loss. Environment: PENNY (default
# build/penny), STEPS (default 300), THREADS (default: all cores).
set -eu
DIR=${1:?usage: examples/train-tiny.sh DIR}
PENNY=${PENNY:-build/penny}
STEPS=${STEPS:-300}
mkdir -p "$DIR"
command -v bible >/dev/null || { echo "train-tiny: needs the 'bible' command (apt-get install bible-kjv)" >&2; exit 1; }

# 1. Text: Genesis, Exodus and Leviticus (about 450 KB), one verse per line,
#    references ("Ge1:1") dropped.
bible -f gen1:1-lev27:34 2>/dev/null | sed -e 's/^[A-Za-z0-9]*:[0-9]* //' > "$DIR/kjv.txt"
[ -s "$DIR/kjv.txt" ] || { echo "train-tiny: no text from bible" >&2; exit 1; }

# 2. Tokenizer: 512 tokens (256 bytes, 251 merges, 5 chat tokens).
"$PENNY" train-tokenizer --vocab 512 -o "$DIR/tokenizer.gguf" "$DIR/kjv.txt"
"$PENNY" train-prepare -t "$DIR/tokenizer.gguf" -o "$DIR/kjv.tok" "$DIR/kjv.txt"

# 3. Model: width 64, 2 blocks, 4 heads sharing 2 key/value heads, tied
#    embeddings; 8 sequences of 128 tokens per step; 5% held out.
"$PENNY" train --tokenizer "$DIR/tokenizer.gguf" --data "$DIR/kjv.tok" --out "$DIR" \
    --dim 64 --n_layer 2 --n_head 4 --n_kv_head 2 --seq_len 128 \
    --batch 8 --steps "$STEPS" --lr 4e-3 --warmup 20 --eval_every 50 --eval_batches 8 \
    --ckpt_every 100 --seed 1 ${THREADS:+--threads "$THREADS"} \
    --export "$DIR/model.gguf" --name penny-tiny-kjv | tee "$DIR/result.txt"

echo "loss curve: $DIR/loss.png ($DIR/loss.csv); try: $PENNY run -m $DIR/model.gguf -p 'And God said'"
