#!/bin/sh
# Chat templates rendered by penny must equal @huggingface/jinja's output
# byte for byte: DeepSeek-V3, Qwen3, Llama 3/3.1 (from the npm tokenizer
# packages), Mistral, and a template covering the rest of the subset, over
# conversations with system prompts, several turns, assistant prefill, tool
# calls and reasoning (see template_compare.mjs).
set -u
B=${PENNY_BUILD:-build}
HERE=$(dirname "$0")
TOOL="$B/tests/tool_template"
[ -x "$TOOL" ] || { echo "FAILED: $TOOL not built"; exit 1; }
sh "$HERE/npm_install.sh" build/npm || exit 1
node "$HERE/template_compare.mjs" "$TOOL" "$(cd build/npm && pwd)/node_modules"
