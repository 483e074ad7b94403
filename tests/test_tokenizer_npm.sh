#!/bin/sh
# Compares penny's SentencePiece token ids on the real Llama-2 vocabulary
# (llama-2-tiny-random.gguf) with an independent tokenizer from npm,
# llama-tokenizer-js, over ~530 varied texts (see test_tokenizer_npm.mjs).
# The package is installed once into build/npm (kept between runs). Skips,
# exit 0, only when the model file is absent; a failed install fails.
set -u
B=${PENNY_BUILD:-build}
S=${PENNY_SHARED:-../shared}
GGUF="$S/models/llama-2-tiny-random.gguf"
TOOL="$B/tests/tool_tokenize"
NPM_DIR=build/npm
PKG=llama-tokenizer-js@1.2.2
REF="$NPM_DIR/node_modules/llama-tokenizer-js"

if [ ! -f "$GGUF" ]; then echo "SKIP: $GGUF not present (set PENNY_SHARED)"; exit 0; fi
[ -x "$TOOL" ] || { echo "FAILED: $TOOL not built"; exit 1; }
if [ ! -f "$REF/llama-tokenizer.js" ]; then
    mkdir -p "$NPM_DIR"
    npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" "$PKG" ||
        { echo "FAILED: npm install $PKG"; exit 1; }
fi
node "$(dirname "$0")/test_tokenizer_npm.mjs" "$REF" "$TOOL" "$GGUF"
