#!/bin/sh
# The built-in assistant (models/penny-assistant.gguf, docs/model-card.md):
# the shipped file is the one the model card describes (sha256), penny
# loads it, `penny chat` gives the known greedy answers the card records,
# and the command `make run` runs answers a question piped into it (what a
# newcomer's first command does, minus the terminal).
set -u
B=${PENNY_BUILD:-build}
M=models/penny-assistant.gguf
CARD=docs/model-card.md
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

[ -f "$M" ] || { echo "FAILED: $M missing"; exit 1; }
size=$(wc -c < "$M")
[ "$size" -le 41943040 ] && ok "size $size <= 40 MiB" || bad "size $size > 40 MiB"
want=$(sed -n 's/^sha256: *\([0-9a-f]\{64\}\).*/\1/p' "$CARD" | head -1)
got=$(sha256sum "$M" | cut -d' ' -f1)
[ -n "$want" ] && [ "$want" = "$got" ] && ok "sha256 $got matches $CARD" ||
    bad "sha256 $got, $CARD says '$want'"

"$B/penny" info "$M" > "$T/info.txt" 2>&1 || bad "penny info: $(tail -1 "$T/info.txt")"
grep -q 'tokenizer.chat_template' "$T/info.txt" && ok "chat template embedded" || bad "no chat template"

# Greedy answers recorded in the model card ("Known greedy answers").
check() { # QUESTION EXPECTED
    r=$(printf '%s\n' "$1" | PENNY_CPU=scalar "$B/penny" chat -m "$M" --temp 0 -n 48 -t 1 2> "$T/err.txt")
    [ "$r" = "$2" ] && ok "'$1' -> '$r'" || bad "'$1' -> '$r' (want '$2'); $(tail -1 "$T/err.txt")"
}
check "What is the capital of France?" "The capital of France is Paris."
check "What is 7 x 8?" "7 x 8 = 9."
check "What is the chemical symbol for Gold?" "The symbol for Gold is Au."

# `make run`'s own command (the last line make would run), input piped.
cmd=$(make -s -n --no-print-directory run BUILD="$B" | tail -1)
case "$cmd" in *"penny chat"*"$M"*) ok "make run: $cmd" ;; *) bad "make run runs '$cmd'" ;; esac
r=$(printf 'What are you?\n' | sh -c "$cmd" 2> "$T/err.txt")
[ "$(printf '%s' "$r" | wc -w)" -ge 1 ] && ok "make run answers: $r" || bad "make run answered '$r'; $(tail -1 "$T/err.txt")"

[ "$fails" -eq 0 ]
