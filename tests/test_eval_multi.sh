#!/bin/sh
# penny_eval_multi runs one forward pass over several sequences (continuous
# batching): each sequence must get the logits it gets when evaluated alone,
# for dense, MoE and latent-attention (absorbed MLA) models: within 1e-5 with
# the fastest kernels, bit for bit with batch-invariant contexts.
set -u
B=${PENNY_BUILD:-build}
S=${PENNY_SHARED:-../shared}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
check() {
    if "$B/tests/tool_eval_multi" "$1" > "$T/out" 2>&1 && tail -1 "$T/out" | grep -qx ok; then
        echo "ok: $2"
    else
        echo "FAILED: $2"; tail -5 "$T/out"; fails=$((fails + 1))
    fi
    # batch-invariant contexts (as penny serve uses): equal bit for bit
    if "$B/tests/tool_eval_multi" "$1" --exact > "$T/out" 2>&1 && tail -1 "$T/out" | grep -qx ok; then
        echo "ok: $2, batch-invariant: identical logits"
    else
        echo "FAILED: $2, batch-invariant"; grep -v 'diff 0$' "$T/out" | tail -5; fails=$((fails + 1))
    fi
}
G="$B/tests/tool_genmodel"
"$G" "$T/llama.gguf" --type Q8_0 >/dev/null && check "$T/llama.gguf" "llama Q8_0 (GQA)"
"$G" "$T/moe.gguf" --arch qwen3moe --type Q8_0 --experts 4 --experts-used 2 --ff-exp 64 >/dev/null &&
    check "$T/moe.gguf" "qwen3moe (experts grouped across sequences)"
"$G" "$T/ds.gguf" --arch deepseek2 --experts 4 --experts-used 2 --ff-exp 64 --kv-lora 32 --q-lora 32 \
    --shared 1 --dense-lead 1 --heads 4 --kv-heads 4 --qk-nope 16 --rope-dims 16 --v-head 16 >/dev/null &&
    check "$T/ds.gguf" "deepseek2 absorbed MLA"
[ -f "$S/models/stories260K.gguf" ] && check "$S/models/stories260K.gguf" "stories260K"
[ $fails -eq 0 ]
