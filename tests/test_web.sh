#!/bin/sh
# The chat page served by `penny serve`, tested in headless Chromium through
# playwright-core (test_web.mjs) against a random model (long answers, to
# stop) and stories260K from ../shared when present (real words), both
# with an API key. Needs Debian's chromium (scripts/install-deps.sh); playwright-core is
# installed once into build/npm. The screenshot is kept as an artifact in
# $PENNY_BUILD/tests/artifacts/web-chat.png.
set -u
B=${PENNY_BUILD:-build}
HERE=$(dirname "$0")
P="$B/penny"
NPM_DIR=build/npm
PW="$NPM_DIR/node_modules/playwright-core"
T=$(mktemp -d)
PIDS=
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; rm -rf "$T"' EXIT

[ -x "$P" ] || { echo "FAILED: $P not built"; exit 1; }
[ -x /usr/bin/chromium ] || { echo "FAILED: /usr/bin/chromium missing (scripts/install-deps.sh)"; exit 1; }
if [ ! -f "$PW/package.json" ]; then
    mkdir -p "$NPM_DIR"
    npm install --silent --no-audit --no-fund --prefix "$NPM_DIR" playwright-core@1.64.1 ||
        { echo "FAILED: npm install playwright-core"; exit 1; }
fi
"$B/tests/tool_genmodel" "$T/small.gguf" --dim 256 --layers 4 --heads 8 --kv-heads 4 --ff 688 \
    --vocab 320 --ctx 4096 --seed 7 ||
    { echo "FAILED: tool_genmodel"; exit 1; }

KEY=web-key-$$
PIDS=
# start NAME ARGS...: penny serve in the background; sets PORT.
start() {
    name=$1; shift
    : > "$T/$name.log"
    "$P" serve --port 0 --api-key "$KEY" "$@" 2> "$T/$name.log" &
    PID=$!
    PIDS="$PIDS $PID"
    PORT=
    i=0
    while [ $i -lt 200 ] && [ -z "$PORT" ] && kill -0 $PID 2>/dev/null; do
        PORT=$(sed -n 's/.* on http:\/\/[^:]*:\([0-9]*\)\/.*/\1/p' "$T/$name.log")
        [ -z "$PORT" ] && sleep 0.05
        i=$((i + 1))
    done
    [ -n "$PORT" ] || { echo "FAILED: $name server did not start"; cat "$T/$name.log"; exit 1; }
}

start small -m "$T/small.gguf" --parallel 2
SMALL_PORT=$PORT
STORIES="${PENNY_SHARED:-../shared}/models/stories260K.gguf"
STORIES_PORT=
if [ -f "$STORIES" ]; then
    start stories -m "$STORIES" --parallel 1
    STORIES_PORT=$PORT
fi

mkdir -p "$B/tests/artifacts" "$T/profile"
CHROME_PROFILE="$T/profile" STORIES_PORT="$STORIES_PORT" \
    node "$HERE/test_web.mjs" "$PW" "$SMALL_PORT" "$KEY" "$B/tests/artifacts/web-chat.png"
rc=$?
for p in $PIDS; do
    kill -TERM $p
    wait $p || { echo "FAILED: server $p exit status $?"; rc=1; }
done
PIDS=
exit $rc
