#!/bin/sh
# test_quantize.sh - `penny quantize` end to end, on random Llama models from
# tool_genmodel (no downloads):
#  - every TYPE converts an F32 model; the quantized model loads, generates,
#    and its logits stay close to the F32 model's: rms(logits - f32 logits)
#    / rms(f32 logits) over 16 positions within a per-type tolerance (about
#    1.6 times what was measured when the test was written, see below);
#  - the tensor types follow docs/quantize.md (Q4_K_M / Q5_K_M mix, tied
#    output, 1-D tensors F32, rows not a multiple of 256 -> Q8_0, rows not
#    a multiple of 32 -> left in the input type) and
#    general.file_type is set; every other metadata pair is copied;
#  - F16 and BF16 inputs work; quantized inputs, unknown types and missing
#    files fail with a clear message and leave no file behind.
set -u
B=${PENNY_BUILD:-build}
P="$B/penny"
GEN="$B/tests/tool_genmodel"
LOGITS="$B/tests/tool_logits"
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

IDS=1,50,300,17,77,12,301,3,99,250,260,310,200,7,8,9
# model: dim 256 (K-quant rows need multiples of 256), 4 layers, GQA 4/2
"$GEN" "$T/f32.gguf" --dim 256 --ff 256 --layers 4 --heads 4 --kv-heads 2 --vocab 320 --untied \
    --seed 11 || { echo "FAILED: tool_genmodel"; exit 1; }
"$LOGITS" "$T/f32.gguf" "$T/f32.logits" --ids $IDS > /dev/null || { echo "FAILED: f32 logits"; exit 1; }

# relative rms logit error of $1 against the F32 model, printed with 4 digits
logit_err() {
    "$PY" -c "
import sys, numpy as np
a = np.fromfile('$T/f32.logits', '<f4').astype(float)
b = np.fromfile('$1', '<f4').astype(float)
if a.shape != b.shape or not np.isfinite(b).all(): print('inf'); sys.exit()
print('%.4f' % (np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(a ** 2))))"
}

# type: tolerance on the relative rms logit error, general.file_type
# (measured when written: F16 0.0009, BF16 0.0070, Q8_0 0.020, Q6_K 0.071,
#  Q5_K_M 0.130, Q5_K 0.135, Q4_K_M 0.282, Q4_K 0.295, Q4_0 0.330; F32 exactly
#  0. A random model amplifies weight error several times into the logits.)
for spec in F32:0:0 F16:0.003:1 BF16:0.015:32 Q8_0:0.035:7 Q6_K:0.12:18 Q5_K_M:0.21:17 \
    Q5_K:0.22:16 Q4_K_M:0.45:15 Q4_K:0.47:14 Q4_0:0.53:2; do
    ty=${spec%%:*}; rest=${spec#*:}; tol=${rest%%:*}; ft=${rest#*:}
    out="$T/m-$ty.gguf"
    if ! "$P" quantize "$T/f32.gguf" "$out" "$ty" > "$T/q.out" 2> "$T/q.err"; then
        bad "quantize $ty: $(tail -2 "$T/q.err")"; continue
    fi
    [ -s "$T/q.out" ] && bad "quantize $ty wrote to stdout"
    grep -q "wrote $out" "$T/q.err" && grep -q "\[ *[0-9]*/[0-9]*\]" "$T/q.err" ||
        bad "quantize $ty: no progress/summary on stderr"
    "$P" info "$out" > "$T/info-$ty.txt" 2>&1 || bad "info $ty"
    grep -q "general.file_type *= $ft\$" "$T/info-$ty.txt" || bad "$ty: general.file_type != $ft"
    if ! "$LOGITS" "$out" "$T/q.logits" --ids $IDS > /dev/null 2> "$T/l.err"; then
        bad "$ty logits: $(cat "$T/l.err")"; continue
    fi
    err=$(logit_err "$T/q.logits")
    if "$PY" -c "import sys; sys.exit(0 if float('$err') <= $tol else 1)"; then
        ok "$ty: logits rel rms error $err <= $tol"
    else bad "$ty: logits rel rms error $err > $tol"; fi
done

# a quantized model generates through the CLI
"$P" run -m "$T/m-Q4_K_M.gguf" -p "ab" -n 8 --temp 0 > "$T/run.txt" 2> "$T/run.err" && [ -s "$T/run.txt" ] &&
    ok "penny run on Q4_K_M" || bad "penny run on Q4_K_M: $(cat "$T/run.err")"

# tensor types: "name type" pairs from penny info
types() { awk '$1 ~ /\.weight$/ {print $1, $2}' "$1"; }
want_type() { # file name type
    got=$(types "$1" | awk -v n="$2" '$1 == n {print $2}')
    [ "$got" = "$3" ] || { bad "$(basename "$1"): $2 is '$got', want $3"; return 1; }
}
I="$T/info-Q4_K_M.txt"
# 4 layers: layers 2 and 3 get more bits (i >= 7n/8, or (i - n/8) % 3 == 2)
n=0
for spec in token_embd.weight:Q4_K output.weight:Q6_K output_norm.weight:F32 \
    blk.0.attn_v.weight:Q4_K blk.1.attn_v.weight:Q4_K blk.2.attn_v.weight:Q6_K \
    blk.3.attn_v.weight:Q6_K blk.0.ffn_down.weight:Q4_K blk.1.ffn_down.weight:Q4_K \
    blk.2.ffn_down.weight:Q6_K blk.3.ffn_down.weight:Q6_K blk.2.attn_q.weight:Q4_K \
    blk.3.ffn_up.weight:Q4_K blk.3.attn_norm.weight:F32; do
    want_type "$I" "${spec%%:*}" "${spec#*:}" || n=$((n + 1))
done
[ "$(types "$T/info-Q5_K_M.txt" | awk '$2 == "Q6_K"' | wc -l)" -eq 5 ] &&
    [ "$(types "$T/info-Q5_K_M.txt" | awk '$2 == "Q5_K"' | wc -l)" -eq 25 ] &&
    [ "$n" -eq 0 ] && ok "Q4_K_M / Q5_K_M tensor types" || bad "Q5_K_M tensor types"
[ "$(types "$T/info-Q6_K.txt" | awk '$2 != "Q6_K" && $2 != "F32"' | wc -l)" -eq 0 ] &&
    ok "Q6_K: every matrix Q6_K" || bad "Q6_K: other types present"

# metadata: every pair copied except general.file_type (+ quantization_version)
kvs() { awk '/^metadata:/ {on=1; next} /^tensors:/ {on=0} on && NF' "$1" |
    grep -v -e 'general.file_type' -e 'general.quantization_version'; }
"$P" info "$T/f32.gguf" > "$T/info-F32in.txt"
kvs "$T/info-F32in.txt" > "$T/kv0"
kvs "$I" > "$T/kv1"
cmp -s "$T/kv0" "$T/kv1" && [ "$(wc -l < "$T/kv0")" -gt 10 ] && ok "metadata copied" ||
    { bad "metadata differs"; diff "$T/kv0" "$T/kv1" | head; }
grep -q "general.quantization_version *= 2" "$I" && ok "quantization_version" ||
    bad "quantization_version missing"

# tied output: token_embd is the output matrix too, so it gets Q6_K
"$GEN" "$T/tied.gguf" --dim 256 --ff 256 --layers 2 --heads 4 --kv-heads 2 --vocab 300 --seed 3
"$P" quantize "$T/tied.gguf" "$T/tied-q.gguf" Q4_K_M 2> /dev/null && "$P" info "$T/tied-q.gguf" > "$T/tied.txt" &&
    want_type "$T/tied.txt" token_embd.weight Q6_K && ok "tied token_embd -> Q6_K"

# rows of 64: no K-quant fits, Q8_0 instead, with a warning; the model runs
"$GEN" "$T/small.gguf" --seed 5
if "$P" quantize "$T/small.gguf" "$T/small-q.gguf" Q4_K_M 2> "$T/small.err"; then
    "$P" info "$T/small-q.gguf" > "$T/small.txt"
    [ "$(types "$T/small.txt" | awk '$2 != "Q8_0" && $2 != "F32"' | wc -l)" -eq 0 ] &&
        grep -q "Q8_0" "$T/small.err" && "$LOGITS" "$T/small-q.gguf" "$T/s.logits" --ids 1,2,3 > /dev/null &&
        ok "rows of 64 fall back to Q8_0" || { bad "fallback"; cat "$T/small.err"; }
else bad "quantize small: $(cat "$T/small.err")"; fi

# rows of 16 and 24 fit no block type: they stay in the input's F16
"$GEN" "$T/odd.gguf" --type F16 --dim 16 --heads 2 --kv-heads 1 --ff 24 --seed 4
if "$P" quantize "$T/odd.gguf" "$T/odd-q.gguf" Q6_K 2> "$T/odd.err"; then
    "$P" info "$T/odd-q.gguf" > "$T/odd.txt"
    [ "$(types "$T/odd.txt" | awk '$2 != "F16" && $2 != "F32"' | wc -l)" -eq 0 ] &&
        want_type "$T/odd.txt" blk.0.ffn_down.weight F16 && want_type "$T/odd.txt" blk.0.attn_norm.weight F32 &&
        "$LOGITS" "$T/odd-q.gguf" "$T/o.logits" --ids 1,2,3 > /dev/null &&
        ok "rows of 16/24 stay F16" || bad "odd rows"
else bad "quantize odd: $(cat "$T/odd.err")"; fi

# F16 and BF16 inputs
for in in F16 BF16; do
    "$GEN" "$T/in-$in.gguf" --type $in --dim 256 --ff 256 --layers 1 --heads 4 --kv-heads 2 --seed 9
    "$P" quantize "$T/in-$in.gguf" "$T/in-$in-q.gguf" Q4_K 2> "$T/e.txt" &&
        "$LOGITS" "$T/in-$in-q.gguf" "$T/x.logits" --ids 1,2,3 > /dev/null &&
        ok "$in input -> Q4_K" || bad "$in input: $(cat "$T/e.txt")"
done

# refusals: no output file, clear message, non-zero exit
refuse() { # label expected-text args...
    label=$1; text=$2; shift 2
    rm -f "$T/no.gguf"
    if "$P" quantize "$@" 2> "$T/r.err"; then bad "$label: accepted"
    elif ! grep -q "$text" "$T/r.err"; then bad "$label: message: $(cat "$T/r.err")"
    elif [ -e "$T/no.gguf" ]; then bad "$label: left an output file"
    else ok "$label refused"; fi
}
refuse "quantized input" "F32, F16 or BF16" "$T/m-Q8_0.gguf" "$T/no.gguf" Q4_K
refuse "unknown type" "Q4_K_M" "$T/f32.gguf" "$T/no.gguf" Q3_K
refuse "missing input" "no-such" "$T/no-such.gguf" "$T/no.gguf" Q4_K
refuse "missing directory" "nodir" "$T/f32.gguf" "$T/nodir/no.gguf" Q4_K
"$P" quantize "$T/f32.gguf" 2> /dev/null && bad "missing arguments accepted" || ok "usage error"
ls "$T" | grep -q "quantize\." && bad "temporary files left: $(ls "$T" | grep quantize)" ||
    ok "no temporary files left"

[ "$fails" -eq 0 ] || { echo "$fails failures"; exit 1; }
echo "all quantize tests passed"
