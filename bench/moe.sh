#!/bin/sh
# bench/moe.sh - does mixture-of-experts generation cost follow the active
# parameters, not the total?
#
# Writes three random models of equal width and depth with tests' generator
# (build/tests/tool_genmodel, llama arch):
#   dense-active  dense FFN as wide as the MoE's used experts together
#   moe-EXU       EXPERTS experts of width FF, USED of them per token
#   dense-total   dense FFN as wide as all experts together
# then times generation (penny bench tgN: one token at a time) and a prompt
# (ppN: one batch) on each. If generation reads only the chosen experts,
# moe runs near dense-active and far above dense-total. Correctness comes
# first: tests/test_arch_ref.py checks the MoE forward passes against the
# float64 references before anything is timed.
#
# usage: bench/moe.sh [BUILD_DIR]
#   env: TYPE=Q8_0 DIM=1024 LAYERS=4 FF=2048 EXPERTS=8 USED=2 THREADS=2 N=64 P=64 REPS=3
set -eu
B=${1:-build}
TYPE=${TYPE:-Q8_0} DIM=${DIM:-1024} LAYERS=${LAYERS:-4} FF=${FF:-2048}
EXPERTS=${EXPERTS:-8} USED=${USED:-2} THREADS=${THREADS:-2} N=${N:-64} P=${P:-64} REPS=${REPS:-3}
GEN="$B/tests/tool_genmodel" PENNY="$B/penny"
[ -x "$GEN" ] && [ -x "$PENNY" ] || { echo "build first: make ($GEN, $PENNY)"; exit 2; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "== correctness: tests/test_arch_ref.py"
PENNY_BUILD="$B" ${PYTHON:-/usr/bin/python3} "$(dirname "$0")/../tests/test_arch_ref.py" > "$T/ref.log" ||
    { tail -20 "$T/ref.log"; echo "reference check failed: not timing"; exit 1; }
tail -1 "$T/ref.log"

common="--type $TYPE --dim $DIM --layers $LAYERS --heads 16 --kv-heads 4 --vocab 320 --ctx 1024 --seed 7"
"$GEN" "$T/dense-active.gguf" $common --ff $((FF * USED))
"$GEN" "$T/moe.gguf" $common --ff "$FF" --experts "$EXPERTS" --experts-used "$USED"
"$GEN" "$T/dense-total.gguf" $common --ff $((FF * EXPERTS))

# "name total active tg_tps pp_tps" per model
measure() {
    facts=$("$PENNY" info "$T/$1.gguf" | sed -n 's/^parameters: \([0-9]*\) total, \([0-9]*\) active.*/\1 \2/p')
    tg=$("$PENNY" bench -m "$T/$1.gguf" -p 0 -n "$N" -r "$REPS" -t "$THREADS" --json |
        sed -n 's/.*"median":\([0-9.]*\).*/\1/p')
    pp=$("$PENNY" bench -m "$T/$1.gguf" -p "$P" -n 0 -r "$REPS" -t "$THREADS" --json |
        sed -n 's/.*"median":\([0-9.]*\).*/\1/p')
    echo "$1 $facts $tg $pp"
}

{ measure dense-active; measure moe; measure dense-total; } > "$T/results"
echo
echo "$TYPE, width $DIM, $LAYERS layers, $EXPERTS experts of width $FF, $USED used; $THREADS threads, median of $REPS"
awk -v moe="moe-${EXPERTS}x${USED}" '
    NR == 1 { base = $4 }
    { name = $1 == "moe" ? moe : $1
      printf "%-14s %8.1fM params %8.1fM active   tg%s %8.1f t/s (%.2fx dense-active)   pp%s %8.1f t/s\n",
             name, $2 / 1e6, $3 / 1e6, "'"$N"'", $4, $4 / base, "'"$P"'", $5 }' "$T/results"
