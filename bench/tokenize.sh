#!/bin/sh
# Tokenizer benchmark: the full corpus of tests/tokenizer_corpus.mjs (about
# 6 MB: KJV Bible, GCIDE, Moby-Dick, State of the Union addresses, generated
# hard cases), checked first (ids equal to transformers.js and
# @huggingface/tokenizers for Llama 3, Qwen 3, DeepSeek V3, Mistral, GPT-4o,
# GPT-3.5, and to llama-tokenizer-js for the Llama-2 GGUF; decode(encode(x))
# == x), then encode throughput in MB/s of penny and of each reference in
# the same run. penny's time is tok_encode alone (tool_tokenize --time, one
# thread, special tokens parsed), the references' the encode calls.
#
#   sh bench/tokenize.sh [BYTES]        (run from the repository root after make)
set -eu
B=${PENNY_BUILD:-build}
S=${PENNY_SHARED:-../shared}
BYTES=${1:-6000000}
[ -x "$B/tests/tool_tokenize" ] || make "$B/tests/tool_tokenize"
sh tests/npm_install.sh build/npm
GGUF="$S/models/llama-2-tiny-random.gguf"
[ -f "$GGUF" ] || GGUF=
node tests/tokenizer_compare.mjs "$B/tests/tool_tokenize" "$(pwd)/build/npm/node_modules" "$BYTES" $GGUF --bench
