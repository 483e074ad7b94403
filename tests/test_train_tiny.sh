#!/bin/sh
# Runs examples/train-tiny.sh (real text: the King James Bible from Debian's
# bible-kjv) and checks that training worked: the held-out loss fell from
# ln(512) = 6.24 below 3.7 nats per token (it ends near 3.4), the
# loss curve files exist, and penny runs the exported GGUF model and
# generates text from it, also after `penny quantize` to Q8_0.
set -u
B=${PENNY_BUILD:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }
command -v bible >/dev/null || { echo "FAILED: 'bible' missing (scripts/install-deps.sh installs bible-kjv)"; exit 1; }

if ! PENNY="$B/penny" sh examples/train-tiny.sh "$T" > "$T/out.txt" 2> "$T/err.txt"; then
    echo "FAILED: train-tiny.sh"; tail -5 "$T/err.txt"; exit 1
fi
cat "$T/out.txt"
eval_loss=$(sed -n 's/.*eval loss \([0-9.]*\),.*/\1/p' "$T/out.txt")
train_loss=$(sed -n 's/.*train loss \([0-9.]*\),.*/\1/p' "$T/out.txt")
awk -v e="$eval_loss" 'BEGIN { exit !(e > 0 && e < 3.7) }' && ok "eval loss $eval_loss < 3.7" || bad "eval loss '$eval_loss' not below 3.7"
awk -v t="$train_loss" 'BEGIN { exit !(t > 0 && t < 3.7) }' && ok "train loss $train_loss < 3.7" || bad "train loss '$train_loss' not below 3.7"
[ "$(wc -l < "$T/loss.csv")" -eq 301 ] && ok "loss.csv has 300 steps" || bad "loss.csv rows: $(wc -l < "$T/loss.csv")"
head -c 8 "$T/loss.png" | od -An -c | grep -q 'P   N   G' && ok "loss.png is a PNG" || bad "loss.png"

"$B/penny" run -m "$T/model.gguf" -p "And God said" -n 32 --temp 0 > "$T/gen.txt" 2> "$T/gen.err"
words=$(wc -w < "$T/gen.txt")
[ "$words" -ge 5 ] && ok "penny run generates: $(head -c 80 "$T/gen.txt" | tr '\n' ' ')" ||
    bad "penny run: $words words; $(tail -2 "$T/gen.err")"
grep -qi "the\|and\|LORD" "$T/gen.txt" && ok "generated text has English words" || bad "generated: $(cat "$T/gen.txt")"
# penny quantize takes the export (every row length is a multiple of 32).
if "$B/penny" quantize "$T/model.gguf" "$T/q8.gguf" Q8_0 > "$T/q.out" 2>&1 &&
    "$B/penny" run -m "$T/q8.gguf" -p "And God said" -n 16 --temp 0 > "$T/q8.txt" 2>/dev/null && [ -s "$T/q8.txt" ]; then
    ok "Q8_0 quantization of the export runs: $(head -c 60 "$T/q8.txt" | tr '\n' ' ')"
else bad "quantize/run Q8_0: $(tail -2 "$T/q.out")"; fi

[ "$fails" -eq 0 ] && echo "test_train_tiny: all passed" || echo "test_train_tiny: $fails failed"
[ "$fails" -eq 0 ]
