#!/bin/sh
# `penny serve` end to end: real servers on loopback (any free port), driven
# by the official `openai` npm client in test_serve.mjs, three groups:
#   api      stories260K from ../shared (skipped when absent)
#   queue    a small random model (tool_genmodel), one slot, queue of one
#   latency  the same model, four slots, 16-token prefill chunks
# Each server must stop cleanly on SIGTERM (exit 0; under ASan that also
# means no leaks). npm packages are installed once into build/npm.
set -u
B=${PENNY_BUILD:-build}
S=${PENNY_SHARED:-../shared}
HERE=$(dirname "$0")
P="$B/penny"
PY=${PYTHON:-/usr/bin/python3}
NPM_DIR=build/npm
OPENAI="$NPM_DIR/node_modules/openai"
T=$(mktemp -d)
fails=0
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

[ -x "$P" ] || { echo "FAILED: $P not built"; exit 1; }
if [ ! -f "$OPENAI/package.json" ]; then
    mkdir -p "$NPM_DIR"
    npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" openai@6.30.1 ||
        { echo "FAILED: npm install openai"; exit 1; }
fi

# start NAME ARGS...: runs penny serve in the background, waits for its
# "serving ... on http://HOST:PORT/" line and sets PORT.
start() {
    name=$1; shift
    : > "$T/$name.log"
    "$P" serve --port 0 "$@" 2> "$T/$name.log" &
    SERVER_PID=$!
    PORT=
    i=0
    while [ $i -lt 200 ] && [ -z "$PORT" ]; do
        PORT=$(sed -n 's/.* on http:\/\/[^:]*:\([0-9]*\)\/.*/\1/p' "$T/$name.log")
        kill -0 "$SERVER_PID" 2>/dev/null || break
        [ -z "$PORT" ] && sleep 0.05
        i=$((i + 1))
    done
    [ -n "$PORT" ] || { echo "FAILED: $name server did not start"; cat "$T/$name.log"; SERVER_PID=; return 1; }
}

# stop NAME: SIGTERM, and the server must exit 0 within 10 s.
stop() {
    kill -TERM "$SERVER_PID"
    i=0
    while kill -0 "$SERVER_PID" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "FAILED: $1 server did not stop on SIGTERM"; kill -KILL "$SERVER_PID"; fails=$((fails + 1))
    fi
    wait "$SERVER_PID"; rc=$?
    SERVER_PID=
    if [ $rc -eq 0 ]; then echo "ok: $1 server stopped cleanly"
    else echo "FAILED: $1 server exit status $rc"; tail -30 "$T/$1.log"; fails=$((fails + 1)); fi
}

group() { # name model-id: runs one group of test_serve.mjs against $PORT
    MODEL_ID=$2 node "$HERE/test_serve.mjs" "$1" "$OPENAI" "$PORT" "$KEY" || fails=$((fails + 1))
}

# seeded OUT: a sampled completion from the server on $PORT, for comparisons
seeded() {
    curl -s -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
        -d '{"prompt":"The little bird","max_tokens":48,"temperature":0.9,"seed":5,"ignore_eos":true}' \
        "http://127.0.0.1:$PORT/v1/completions" > "$1"
}

KEY=test-key-$$
STORIES="$S/models/stories260K.gguf"
if [ -f "$STORIES" ]; then
    EXPECT_GREEDY=$("$P" run -m "$STORIES" -p "Once upon a time" -n 24 --temp 0 2>/dev/null)
    export EXPECT_GREEDY
    if start api -m "$STORIES" --api-key "$KEY" --parallel 16 --ctx 256 --max-body 65536; then
        group api stories260K
        seeded "$T/t_all.json"
        stop api
    else fails=$((fails + 1)); fi
    # the same seeded request on one thread gives the same tokens
    if start one-thread -m "$STORIES" --api-key "$KEY" --parallel 2 --ctx 256 -t 1; then
        seeded "$T/t_one.json"
        stop one-thread
        if "$PY" -c 'import json,sys; a,b=(json.load(open(f))["choices"][0]["text"] for f in sys.argv[1:]); sys.exit(not (a == b and len(a) > 20))' \
            "$T/t_all.json" "$T/t_one.json"; then echo "ok: one thread gives the same tokens as all cores"
        else echo "FAILED: thread count changed the output"; fails=$((fails + 1)); fi
    else fails=$((fails + 1)); fi
else
    echo "SKIP: api group: $STORIES not present (set PENNY_SHARED)"
fi

# without -m: the built-in assistant, through its own chat template
KEY=no-key-needed
if [ -f models/penny-assistant.gguf ] && start builtin --parallel 2; then
    curl -s "http://127.0.0.1:$PORT/v1/models" > "$T/models.json"
    curl -s -H "Content-Type: application/json" "http://127.0.0.1:$PORT/v1/chat/completions" \
        -d '{"messages":[{"role":"user","content":"What are you?"}],"max_tokens":24,"temperature":0}' \
        > "$T/builtin.json"
    stop builtin
    if "$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); r=json.load(open(sys.argv[2])); sys.exit(not (m["data"][0]["id"] == "penny-assistant" and r["choices"][0]["message"]["content"] and r["usage"]["prompt_tokens"] > 3))' \
        "$T/models.json" "$T/builtin.json"; then echo "ok: default model serves chat through its template"
    else echo "FAILED: default model: $(cat "$T/models.json" "$T/builtin.json")"; fails=$((fails + 1)); fi
fi

# a random model, big enough that generation takes measurable time
"$B/tests/tool_genmodel" "$T/small.gguf" --dim 128 --layers 4 --heads 4 --kv-heads 2 --ff 344 \
    --vocab 320 --ctx 2048 --seed 5 || { echo "FAILED: tool_genmodel"; exit 1; }
KEY=no-key-needed
if start queue -m "$T/small.gguf" --parallel 1 --queue 1; then
    group queue small
    stop queue
else fails=$((fails + 1)); fi
if start latency -m "$T/small.gguf" --parallel 4 --chunk 16; then
    group latency small
    stop latency
else fails=$((fails + 1)); fi

[ $fails -eq 0 ]
