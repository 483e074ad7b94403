#!/bin/sh
# Checkpoints and determinism of `penny train`, end to end:
#  - the same seed gives the same weights checksum with 2 threads and with 1;
#  - a run killed with SIGKILL several times at random moments (checkpoints
#    every step, so kills land during writes too) and resumed each time ends
#    with exactly the checksum and loss curve of the uninterrupted run, and
#    every checkpoint left behind by a kill loads;
#  - SIGTERM stops a run with a checkpoint that resumes to the same result;
#  - a corrupt checkpoint and one made for another model shape are refused
#    with a clear message.
# Text: this repository's own sources and docs (real text, no download).
set -u
B=${PENNY_BUILD:-build}
P="$B/penny"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

cat src/train/*.c src/train/*.h include/penny.h > "$T/corpus.txt"
"$P" train-tokenizer --vocab 400 -o "$T/tok.gguf" "$T/corpus.txt" 2>/dev/null || { bad "train-tokenizer"; exit 1; }
"$P" train-prepare -t "$T/tok.gguf" -o "$T/data.tok" "$T/corpus.txt" 2>/dev/null || { bad "train-prepare"; exit 1; }
ARGS="--tokenizer $T/tok.gguf --data $T/data.tok --dim 32 --n_layer 2 --n_head 4 --n_kv_head 2
      --seq_len 32 --batch 4 --accum 2 --steps 150 --lr 2e-3 --eval_every 25 --eval_batches 2 --seed 7"
checksum() { sed -n 's/.*weights checksum \([0-9a-f]*\).*/\1/p' "$1"; }

# shellcheck disable=SC2086
"$P" train $ARGS --out "$T/a" --ckpt_every 0 --threads 2 > "$T/a.out" 2>"$T/a.err"
A=$(checksum "$T/a.out")
[ -n "$A" ] && ok "uninterrupted run: checksum $A" || { bad "run a: $(tail -3 "$T/a.err")"; exit 1; }
# shellcheck disable=SC2086
"$P" train $ARGS --out "$T/c" --ckpt_every 0 --threads 1 > "$T/c.out" 2>/dev/null
[ "$(checksum "$T/c.out")" = "$A" ] && ok "1 thread gives the same weights" || bad "1 thread: $(checksum "$T/c.out") != $A"

# Killed with SIGKILL at random moments, resumed after each kill.
rnd() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }
kills=0
for round in 1 2 3 4 5 6; do
    # shellcheck disable=SC2086
    "$P" train $ARGS --out "$T/b" --ckpt_every 1 --threads 2 --resume 1 > "$T/b.out" 2>"$T/b.err" &
    pid=$!
    ms=$(( $(rnd) % 400 + 100 ))
    sleep "0.$(printf '%03d' $ms)"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        kills=$((kills + 1))
        if [ -f "$T/b/checkpoint.bin" ]; then
            "$P" train-export "$T/b/checkpoint.bin" -t "$T/tok.gguf" -o "$T/b/probe.gguf" 2>"$T/probe.err" ||
                bad "checkpoint left by kill $kills does not load: $(cat "$T/probe.err")"
        fi
    else
        wait "$pid"
        break
    fi
done
# shellcheck disable=SC2086
"$P" train $ARGS --out "$T/b" --ckpt_every 1 --threads 2 --resume 1 > "$T/b.out" 2>"$T/b.err"
[ "$(checksum "$T/b.out")" = "$A" ] && ok "resumed after $kills kill(s): same checksum" ||
    bad "after $kills kills: checksum $(checksum "$T/b.out") != $A; $(tail -2 "$T/b.err")"
cmp -s "$T/a/loss.csv" "$T/b/loss.csv" && ok "same loss curve (loss.csv)" || bad "loss curves differ"
# Resuming a run that already finished (a kill can land after the last
# checkpoint) reports the same end rather than printing nothing.
# shellcheck disable=SC2086
"$P" train $ARGS --out "$T/b" --ckpt_every 1 --threads 2 --resume 1 > "$T/b2.out" 2>"$T/b2.err"
[ "$(checksum "$T/b2.out")" = "$A" ] && ok "resume of a finished run reports the same checksum" ||
    bad "resume of a finished run: '$(checksum "$T/b2.out")' != $A; $(tail -2 "$T/b2.err")"
[ "$kills" -ge 1 ] || bad "no run was killed (runs too fast for the test?)"

# SIGTERM: stops with a checkpoint; resuming reaches the same weights.
# shellcheck disable=SC2086
"$P" train $ARGS --out "$T/d" --ckpt_every 0 --threads 2 > "$T/d.out" 2>"$T/d.err" &
pid=$!
sleep 0.3
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
if grep -q "stopping at step" "$T/d.err"; then
    [ "$rc" -eq 0 ] && [ -f "$T/d/checkpoint.bin" ] && ok "SIGTERM: stopped with a checkpoint" || bad "SIGTERM: rc $rc"
    # shellcheck disable=SC2086
    "$P" train $ARGS --out "$T/d" --threads 2 --resume 1 > "$T/d.out" 2>/dev/null
    [ "$(checksum "$T/d.out")" = "$A" ] && ok "resumed after SIGTERM: same checksum" || bad "after SIGTERM: checksum differs"
else
    echo "note: the run finished before SIGTERM arrived"
fi

# A flipped byte is refused, and so is a checkpoint for another shape.
cp "$T/a/checkpoint.bin" "$T/bad.bin"
printf 'X' | dd of="$T/bad.bin" bs=1 seek=5000 conv=notrunc 2>/dev/null
mkdir -p "$T/e" && cp "$T/bad.bin" "$T/e/checkpoint.bin"
# shellcheck disable=SC2086
if "$P" train $ARGS --out "$T/e" --resume 1 > /dev/null 2>"$T/e.err"; then bad "corrupt checkpoint accepted"
else grep -q "checksum mismatch" "$T/e.err" && ok "corrupt checkpoint refused" || bad "corrupt: $(cat "$T/e.err")"; fi
mkdir -p "$T/f" && cp "$T/a/checkpoint.bin" "$T/f/checkpoint.bin"
# shellcheck disable=SC2086
if "$P" train $ARGS --dim 48 --out "$T/f" --resume 1 > /dev/null 2>"$T/f.err"; then bad "mismatched checkpoint accepted"
else grep -q "dim = 32, this run has 48" "$T/f.err" && ok "mismatched checkpoint refused" || bad "mismatch: $(cat "$T/f.err")"; fi
head -c 100 "$T/a/checkpoint.bin" > "$T/f/checkpoint.bin"
# shellcheck disable=SC2086
"$P" train $ARGS --out "$T/f" --resume 1 > /dev/null 2>"$T/f.err" && bad "truncated checkpoint accepted" ||
    { grep -q "truncated or corrupt\|not a penny checkpoint" "$T/f.err" && ok "truncated checkpoint refused" || bad "truncated: $(cat "$T/f.err")"; }

[ "$fails" -eq 0 ] && echo "test_train_resume: all passed" || echo "test_train_resume: $fails failed"
[ "$fails" -eq 0 ]
