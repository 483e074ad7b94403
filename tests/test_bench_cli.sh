#!/bin/sh
# Functional tests of `penny bench` and `penny perplexity` on stories260K:
# bench's table and --json lines have the documented fields and sane values
# (no timing assertions: CI machines are shared), and perplexity on a short
# text equals llama-perplexity's numbers for the same file and settings.
set -u
B=${PENNY_BUILD:-build}
P="$B/penny"
S=${PENNY_SHARED:-../shared}
STORIES="$S/models/stories260K.gguf"
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

if [ ! -f "$STORIES" ]; then echo "SKIP: $STORIES not present (set PENNY_SHARED)"; exit 0; fi

# ---- bench --json: one object per test with the documented fields ----
if "$P" bench -m "$STORIES" -p 16 -n 8 -r 2 -t 1 --json > "$T/b.json" 2> "$T/b.err"; then
    ok "bench --json runs"
else bad "bench --json failed: $(cat "$T/b.err")"; fi
# 1171200 = bytes of all tensors of stories260K (tests/pygguf.py agrees).
if "$PY" - "$T/b.json" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 2, lines
objs = [json.loads(l) for l in lines]
assert [o["test"] for o in objs] == ["pp16", "tg8"], objs
for o in objs:
    assert o["tokens_per_s"] > 0 and o["stddev"] >= 0, o
    assert o["best"] >= o["median"] > 0, o
    assert o["threads"] == 1 and o["reps"] == 2 and o["n_batch"] == 16, o
    assert o["model_bytes"] == 1171200, o
    assert o["peak_rss_bytes"] > o["model_bytes"], o
    assert "llama" in o["model"], o
EOF
then ok "bench --json fields"; else bad "bench --json fields: $(cat "$T/b.json")"; fi

# -n 0 skips generation; the table names the test
"$P" bench -m "$STORIES" -p 8 -n 0 -r 1 --json > "$T/p.json" 2>/dev/null
[ "$(wc -l < "$T/p.json")" -eq 1 ] && grep -q '"test":"pp8"' "$T/p.json" && ok "bench -n 0" ||
    bad "bench -n 0: $(cat "$T/p.json")"
"$P" bench -m "$STORIES" -p 8 -n 4 -r 1 > "$T/table.txt" 2>&1
grep -q '^| pp8 ' "$T/table.txt" && grep -q '^| tg4 ' "$T/table.txt" && ok "bench table" ||
    bad "bench table: $(cat "$T/table.txt")"

# -d: both tests after a cache of D tokens, named as llama-bench names them;
# the context holds D + max(p, n), so a depth that fills it would fail
"$P" bench -m "$STORIES" -p 8 -n 4 -d 40 -r 2 -t 1 --json > "$T/d.json" 2> "$T/d.err"
grep -q '"test":"pp8 @ d40".*"n_depth":40' "$T/d.json" &&
    grep -q '"test":"tg4 @ d40".*"n_depth":40' "$T/d.json" && ok "bench -d" ||
    bad "bench -d: $(cat "$T/d.json" "$T/d.err")"
"$P" bench -m "$STORIES" -p 0 -n 4 -d 300 -r 1 -t 1 > "$T/d2.txt" 2>&1 &&
    grep -q '^| tg4 @ d300 ' "$T/d2.txt" && ok "bench -d without -p (batches of 512)" ||
    bad "bench -d without -p: $(cat "$T/d2.txt")"
"$P" bench -m "$STORIES" -n 4 -d -1 > /dev/null 2>&1; [ $? -eq 2 ] && ok "bench -d -1 exits 2" ||
    bad "bench -d -1"
"$P" bench -m "$STORIES" -p 8 -n 4 -r 1 -t 2 --batch-invariant --json > "$T/i.json" 2>&1 &&
    grep -q '"test":"tg4"' "$T/i.json" && ok "bench --batch-invariant" ||
    bad "bench --batch-invariant: $(cat "$T/i.json")"

# bad input fails cleanly
"$P" bench -p 8 > /dev/null 2>&1; [ $? -eq 2 ] && ok "bench without -m exits 2" || bad "bench without -m"
"$P" bench -m "$T/missing.gguf" -r 1 > /dev/null 2> "$T/e.txt"
[ $? -eq 1 ] && grep -q missing.gguf "$T/e.txt" && ok "bench on a missing file" || bad "bench missing file"

# ---- perplexity: llama-perplexity's definition, and its numbers ----
cat > "$T/story.txt" <<'EOF'
Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her red ball. One day, she saw a big dog near the trees. The dog was sad because it was lost. Lily said, "Do not be sad, dog. I will help you find your home." They walked and walked until they saw a small house with a blue door. A kind old man came out and smiled. "Thank you for bringing my dog back," he said. Lily was happy. She went home and told her mom about the dog. Her mom gave her a big hug and a cookie.
Tom had a toy car. It was fast and shiny. He liked to race it on the floor of his room. One morning, the car would not go. Tom was sad. His dad looked at the car and found a small rock stuck in the wheel. He took the rock out, and the car could go again. Tom laughed and raced the car all day. At night, he put the car next to his bed and went to sleep.
EOF
# Reference: llama.cpp 34af94cd, `llama-perplexity -m stories260K.gguf -f story.txt -c 64 -t 2`
# printed [1]2.8161,[2]2.8351,[3]3.2864,[4]3.7327,[5]3.8422,[6]3.9673,
# and "Final estimate: PPL = 3.9673 +/- 0.46631" (389 tokens, 6 chunks). Its KV
# cache is F16, so agreement is to about 1e-4 relative; we allow 1e-3.
"$P" perplexity -m "$STORIES" -f "$T/story.txt" --ctx 64 > "$T/ppl.txt" 2> "$T/ppl.err"
if "$PY" - "$T/ppl.txt" <<'EOF'
import re, sys
out = open(sys.argv[1]).read()
run = [float(v) for v in re.findall(r"\[\d+\]([0-9.]+),", out)]
want = [2.8161, 2.8351, 3.2864, 3.7327, 3.8422, 3.9673]
assert len(run) == len(want), run
for g, w in zip(run, want):
    assert abs(g - w) <= 1e-3 * w, (g, w)
m = re.search(r"Final estimate: PPL = ([0-9.]+) \+/- ([0-9.]+)", out)
assert m, out
assert abs(float(m.group(1)) - 3.9673) <= 1e-3 * 3.9673, m.group(0)
assert abs(float(m.group(2)) - 0.46631) <= 1e-3 * 0.46631 + 1e-5, m.group(0)
EOF
then ok "perplexity equals llama-perplexity's"; else bad "perplexity: $(cat "$T/ppl.txt" "$T/ppl.err")"; fi

# small batches and --chunks give the same running values (F16 cache: 2.8171, 2.8356;
# F32: 2.815x, 2.834x)
"$P" perplexity -m "$STORIES" -f "$T/story.txt" --ctx 64 -b 7 --chunks 2 -t 1 > "$T/ppl2.txt" 2>/dev/null
grep -q '^\[1\]2.81[5-7][0-9],\[2\]2.83[4-6][0-9],$' "$T/ppl2.txt" && ok "perplexity -b 7 --chunks 2" ||
    bad "perplexity -b 7 --chunks 2: $(cat "$T/ppl2.txt")"

# a text shorter than two contexts is refused with the count
"$P" perplexity -m "$STORIES" -f "$T/story.txt" --ctx 512 > /dev/null 2> "$T/short.err"
[ $? -eq 1 ] && grep -q "389 tokens" "$T/short.err" && ok "perplexity: too few tokens" ||
    bad "perplexity too few tokens: $(cat "$T/short.err")"
"$P" perplexity -m "$STORIES" -f "$T/nothere.txt" > /dev/null 2>&1
[ $? -eq 1 ] && ok "perplexity: missing text file" || bad "perplexity missing text file"

[ "$fails" -eq 0 ] && echo "all bench/perplexity CLI tests passed"
[ "$fails" -eq 0 ]
