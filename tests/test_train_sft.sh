#!/bin/sh
# Fine-tuning end to end: pretrain briefly (options from a --config file),
# then `penny train --init_from`
# on chat JSONL (loss only on assistant turns) must drive the assistant-token
# loss down (by more than 1 nat per token), a checkpoint of another shape is
# refused as a starting point, and the exported model carries the chat
# template and generates after an <|assistant|> prompt.
set -u
B=${PENNY_BUILD:-build}
P="$B/penny"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

cat src/train/*.c docs/training.md > "$T/corpus.txt"
awk 'BEGIN { for (i = 0; i < 400; i++) { a = (i * 7) % 10; b = (i * 3) % 10;
       printf "{\"messages\":[{\"role\":\"user\",\"content\":\"What is %d plus %d?\"},", a, b;
       printf "{\"role\":\"assistant\",\"content\":\"%d plus %d is %d.\"}]}\n", a, b, a + b } }' > "$T/chat.jsonl"
"$P" train-tokenizer --vocab 400 -o "$T/tok.gguf" "$T/corpus.txt" 2>/dev/null &&
    "$P" train-prepare -t "$T/tok.gguf" -o "$T/text.tok" "$T/corpus.txt" 2>/dev/null &&
    "$P" train-prepare -t "$T/tok.gguf" --chat -o "$T/chat.tok" "$T/chat.jsonl" 2>/dev/null || { bad "prepare"; exit 1; }
SHAPE="--tokenizer $T/tok.gguf --dim 48 --n_layer 2 --n_head 4 --seq_len 48 --batch 8 --threads 2"
# Pretraining options from a config file (later flags still apply).
printf '# pretraining\nsteps = 40   # short\nlr = 3e-3\n\ndata = %s\n' "$T/text.tok" > "$T/pre.conf"
# shellcheck disable=SC2086
"$P" train $SHAPE --config "$T/pre.conf" --out "$T/pre" > "$T/pre.out" 2>&1 || { bad "pretrain: $(tail -2 "$T/pre.out")"; exit 1; }
grep -q "final step 40:" "$T/pre.out" && ok "options from --config" || bad "config file: $(tail -2 "$T/pre.out")"
printf 'steps = 40\nlr 3e-3\n' > "$T/bad.conf"
"$P" train --config "$T/bad.conf" > /dev/null 2> "$T/bad.err" && bad "bad config accepted" ||
    { grep -q "bad.conf:2: expected 'key = value'" "$T/bad.err" && ok "bad config line reported" || bad "$(cat "$T/bad.err")"; }
# shellcheck disable=SC2086
"$P" train $SHAPE --data "$T/chat.tok" --out "$T/sft" --init_from "$T/pre/checkpoint.bin" \
    --steps 80 --lr 3e-3 --warmup 5 --export "$T/sft.gguf" > "$T/sft.out" 2> "$T/sft.err" || { bad "sft: $(tail -2 "$T/sft.err")"; exit 1; }
first=$(sed -n 2p "$T/sft/loss.csv" | cut -d, -f2)
last=$(tail -1 "$T/sft/loss.csv" | cut -d, -f2)
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 1.0) }' && ok "assistant loss fell from $first to $last" ||
    bad "assistant loss $first -> $last"
# shellcheck disable=SC2086
"$P" train $SHAPE --dim 32 --data "$T/chat.tok" --out "$T/x" --init_from "$T/pre/checkpoint.bin" \
    --steps 1 > /dev/null 2> "$T/x.err" && bad "init_from of another shape accepted" ||
    { grep -q "dim = 48, this run has 32" "$T/x.err" && ok "init_from of another shape refused" || bad "$(cat "$T/x.err")"; }
"$P" info "$T/sft.gguf" 2>&1 | grep -q "tokenizer.chat_template" && ok "chat template embedded" || bad "no chat template"
"$P" run -m "$T/sft.gguf" --special -p "<|user|>What is 3 plus 4?<|end|><|assistant|>" -n 12 --temp 0 > "$T/gen.txt" 2>&1 &&
    grep -q "plus" "$T/gen.txt" && ok "answers in the trained form: $(head -c 60 "$T/gen.txt")" || bad "generation: $(cat "$T/gen.txt")"
[ "$fails" -eq 0 ] && echo "test_train_sft: all passed" || echo "test_train_sft: $fails failed"
[ "$fails" -eq 0 ]
