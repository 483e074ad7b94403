#!/bin/sh
# `penny chat`: piped stdin as a batch of turns (answers only, no prompts or
# colours; the KV cache reused across turns; /reset, /system, /save, /load),
# then a session on a pseudo-terminal (python3's pty) for the interactive
# side: a two-turn conversation, /reset, Ctrl-C stopping an answer without
# quitting, Ctrl-C at the prompt, history saved, /exit.
set -u
B=${PENNY_BUILD:-build}
S=${PENNY_SHARED:-../shared}
P="$B/penny"
PY=${PYTHON:-/usr/bin/python3}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fails=$((fails + 1)); }

"$B/tests/tool_genmodel" "$T/small.gguf" --dim 64 --layers 2 --vocab 320 --ctx 2048 --seed 3 ||
    { echo "FAILED: tool_genmodel"; exit 1; }
STORIES="$S/models/stories260K.gguf"
M="$STORIES"
[ -f "$M" ] || M="$T/small.gguf"

# 1. batch: two turns, /reset, the first turn again (greedy: the same answer)
printf 'Hello there\nTell me a story\n/reset\nHello there\n' |
    "$P" chat -m "$M" --temp 0 -n 24 -v > "$T/out.txt" 2> "$T/err.txt"
rc=$?
[ $rc -eq 0 ] && ok "batch exit status" || { bad "batch rc=$rc"; cat "$T/err.txt"; }
[ "$(wc -l < "$T/err.txt")" -ge 4 ] || bad "batch: missing stats lines: $(cat "$T/err.txt")"
# every answer ends with a newline; answers 1 and 3 must be equal
n1=$(sed -n '1p' "$T/err.txt" | sed 's/.*: \([0-9]*\) tokens evaluated, \([0-9]*\) reused.*/\1 \2/')
n2=$(sed -n '2p' "$T/err.txt" | sed 's/.*: \([0-9]*\) tokens evaluated, \([0-9]*\) reused.*/\1 \2/')
n3=$(sed -n '4p' "$T/err.txt" | sed 's/.*: \([0-9]*\) tokens evaluated, \([0-9]*\) reused.*/\1 \2/')
set -- $n1; e1=$1 r1=$2
set -- $n2; e2=$1 r2=$2
set -- $n3; e3=$1 r3=$2
# A random model's answer need not tokenize back to the tokens it sampled,
# so only a real model (stories260K) shows reuse of the answer itself.
if [ "$M" = "$STORIES" ]; then
    [ "$r1" -eq 0 ] && [ "$r2" -gt "$e1" ] && [ "$e2" -lt "$r2" ] &&
        ok "turn 2 evaluates only its own tokens ($e2 new, $r2 reused)" ||
        bad "KV reuse across turns: turn1 $e1/$r1 turn2 $e2/$r2"
else
    [ "$r1" -eq 0 ] && [ "$r2" -ge $((e1 - 1)) ] && ok "turn 2 reuses turn 1's prompt ($r2 reused)" ||
        bad "KV reuse across turns: turn1 $e1/$r1 turn2 $e2/$r2"
fi
[ "$e3" -eq 1 ] && [ "$r3" -eq $((e1 - 1)) ] && ok "after /reset the same turn reuses the cache" ||
    bad "after /reset: $e3 evaluated, $r3 reused (first turn had $e1)"
grep -q 'conversation cleared' "$T/err.txt" && ok "/reset note on stderr" || bad "/reset note"
# penny's own styles and prompt (a random model may well print other escapes)
if grep -q "$(printf '\033\\[[012]m')" "$T/out.txt" || grep -q '^> ' "$T/out.txt"; then
    bad "batch output has prompts or ANSI codes"
else ok "batch output is plain"; fi
# the same greedy turn after /reset gives the same answer (compared via /save)
printf 'Hello there\n/save %s\n/reset\nHello there\n/save %s\n' "$T/a.json" "$T/b.json" |
    "$P" chat -m "$M" --temp 0 -n 24 > /dev/null 2>&1
"$PY" -c 'import json,sys; a,b=(json.load(open(f))["messages"] for f in sys.argv[1:]); sys.exit(not (a == b and len(a) == 2 and a[1]["content"]))' \
    "$T/a.json" "$T/b.json" && ok "same answer after /reset" || bad "answer after /reset differs"

# 2. /system, /save, /load
printf '/system You are terse.\nHi\n/save %s\n' "$T/conv.json" |
    "$P" chat -m "$M" --temp 0 -n 8 > /dev/null 2> "$T/err2.txt"
printf '/load %s\nAnd then?\n/save %s\n/system\n' "$T/conv.json" "$T/conv2.json" |
    "$P" chat -m "$M" --temp 0 -n 8 > /dev/null 2> "$T/err3.txt"
"$PY" - "$T/conv.json" "$T/conv2.json" <<'EOF' || fails=$((fails + 1))
import json, sys
a = json.load(open(sys.argv[1]))["messages"]
b = json.load(open(sys.argv[2]))["messages"]
roles = [m["role"] for m in b]
ok = [m["role"] for m in a] == ["system", "user", "assistant"] and a[0]["content"] == "You are terse." \
    and roles == ["system", "user", "assistant", "user", "assistant"] and b[:3] == a and b[3]["content"] == "And then?"
print("ok: /system, /save, /load" if ok else "FAILED: /save and /load: %r %r" % (a, b))
sys.exit(0 if ok else 1)
EOF
grep -q 'system prompt: You are terse.' "$T/err3.txt" && ok "/load restores the system prompt" ||
    bad "/system after /load: $(cat "$T/err3.txt")"
printf '/load %s\n' "$T/nope.json" | "$P" chat -m "$M" > /dev/null 2> "$T/err4.txt"
grep -q 'cannot read' "$T/err4.txt" && ok "/load of a missing file is reported" || bad "/load missing"
"$P" chat -m "$T/nope.gguf" < /dev/null > /dev/null 2> "$T/err5.txt"
[ $? -eq 1 ] && grep -q nope.gguf "$T/err5.txt" && ok "missing model file reported" || bad "missing model"
"$P" chat --bogus < /dev/null > /dev/null 2>&1; [ $? -eq 2 ] && ok "bad option: usage error" || bad "bad option rc"
# without -m: the built-in assistant (from the repository root), with its own template
if [ -f models/penny-assistant.gguf ]; then
    r=$(printf 'Hello\n' | "$P" chat --temp 0 -n 16 2> "$T/err6.txt")
    [ $? -eq 0 ] && [ -n "$r" ] && ok "default model answers: $r" || bad "default model: $(cat "$T/err6.txt")"
fi

# 3. interactive, on a pseudo-terminal
HOME="$T" "$PY" - "$P" "$T/small.gguf" "$T" <<'EOF' || fails=$((fails + 1))
import os, pty, select, sys, time
penny, model, home = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(penny, [penny, "chat", "-m", model, "-n", "100000", "--temp", "0"])
out = b""
fails = 0

def read_until(pat, timeout=20):
    global out
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pat in out:
            return True
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                d = os.read(fd, 65536)
            except OSError:
                return pat in out
            if not d:
                return pat in out
            out += d
    return pat in out

def check(name, cond):
    global fails
    print(("ok: " if cond else "FAILED: ") + name)
    if not cond:
        print("    terminal output: %r" % out[-400:])
    fails += 0 if cond else 1

def answer_then_stop(text):
    """Sends a turn, lets the answer stream, then Ctrl-C; True when it stopped."""
    global out
    out = b""
    os.write(fd, text + b"\r")
    t0 = time.time()  # wait until the answer is streaming (past the echoed line)
    while len(out) < len(text) + 60 and time.time() - t0 < 20:
        read_until(b"\0", 0.05)
    os.write(fd, b"\x03")
    return read_until(b"(stopped)", 10) and read_until(b"\n> ", 10)

check("banner and prompt", read_until(b"/help") and read_until(b"> "))
check("turn 1 answer streams, Ctrl-C stops it and the prompt returns", answer_then_stop(b"Hello"))
check("turn 2 the same way", answer_then_stop(b"Go on"))
out = b""
os.write(fd, b"\x03")  # Ctrl-C at the prompt must not quit
time.sleep(0.3)
os.write(fd, b"/reset\r")
check("Ctrl-C at the prompt keeps the program; /reset works", read_until(b"conversation cleared", 10))
check("colours on a terminal", b"\x1b[2m" in out)
out = b""
os.write(fd, "/system Réponds en français\r".encode())  # UTF-8 typed at the prompt
read_until(b"conversation cleared", 10)
os.write(fd, b"/system\r")
check("UTF-8 input at the prompt", read_until("system prompt: Réponds en français".encode(), 10))
os.write(fd, b"\x03\x03")  # two quick Ctrl-Cs at the prompt: still running
time.sleep(0.3)
out = b""
os.write(fd, b"/help\r")
check("two Ctrl-Cs at the prompt keep the program", read_until(b"/reset", 10))
os.write(fd, b"/exit\r")
deadline = time.time() + 10
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done or time.time() > deadline:
        break
    read_until(b"\0", 0.1)
check("/exit ends with status 0", done == pid and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0)
hist = open(os.path.join(home, ".penny_history"), errors="replace").read() if os.path.exists(os.path.join(home, ".penny_history")) else ""
check("history saved", "Hello" in hist and ("Go on" in hist or "Go\\040on" in hist))  # libedit escapes spaces
sys.exit(1 if fails else 0)
EOF

[ $fails -eq 0 ]
