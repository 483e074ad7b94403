#!/bin/sh
# bench/serve/run.sh - `penny serve` under load, and its throughput as
# streams are added. Not part of CI (it runs for minutes).
#
#   bench/serve/run.sh scale [MODEL.gguf]   tokens/s at 1, 2, 4, 8, 16 streams
#   bench/serve/run.sh load  [MODEL.gguf]   60 s at 64 connections; RSS every 5 s
#
# Without MODEL, scale uses a random ~1B Llama (Q8_0, written once to
# build/bench/serve-1b.gguf by tests/tool_genmodel) and load a small random
# model. PENNY_BUILD=build-asan runs the server under AddressSanitizer (load
# then also checks for leaks at exit). Environment: LEVELS, TOKENS,
# DURATION, CONNECTIONS, PARALLEL, QUEUE.
set -eu
MODE=${1:?usage: run.sh scale|load [MODEL.gguf]}
B=${PENNY_BUILD:-build}
HERE=$(dirname "$0")
mkdir -p build/bench
MODEL=${2:-}
if [ -z "$MODEL" ]; then
    if [ "$MODE" = scale ]; then
        MODEL=build/bench/serve-1b.gguf
        [ -f "$MODEL" ] || "$B/tests/tool_genmodel" "$MODEL" --type Q8_0 --dim 2048 --layers 22 \
            --heads 32 --kv-heads 4 --ff 5632 --vocab 32000 --ctx 2048 --seed 1
    else
        MODEL=build/bench/serve-small.gguf
        [ -f "$MODEL" ] || "$B/tests/tool_genmodel" "$MODEL" --dim 128 --layers 4 --heads 4 \
            --kv-heads 2 --ff 344 --vocab 320 --ctx 2048 --seed 5
    fi
fi
LOG=build/bench/serve-$MODE.log
if [ "$MODE" = scale ]; then ARGS="--parallel ${PARALLEL:-16} --ctx 512"
else ARGS="--parallel ${PARALLEL:-8} --queue ${QUEUE:-16}"; fi
# shellcheck disable=SC2086
"$B/penny" serve -m "$MODEL" --port 0 $ARGS 2> "$LOG" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
PORT=
while [ -z "$PORT" ]; do
    sleep 0.2
    kill -0 $PID || { cat "$LOG"; exit 1; }
    PORT=$(sed -n 's/.* on http:\/\/[^:]*:\([0-9]*\)\/.*/\1/p' "$LOG")
done
URL=http://127.0.0.1:$PORT
echo "server: $(sed -n 1p "$LOG")"
rc=0
if [ "$MODE" = scale ]; then
    node "$HERE/scale.mjs" "$URL" "${LEVELS:-1,2,4,8,16}" "${TOKENS:-64}" || rc=1
else
    ( while kill -0 $PID 2>/dev/null; do
          echo "rss_kb $(awk '/VmRSS/ {print $2}' /proc/$PID/status 2>/dev/null) busy $(curl -s "$URL/metrics" | awk '/^penny_slots_busy/ {print $2}')"
          sleep 5
      done ) &
    MON=$!
    node "$HERE/load.mjs" "$URL" "${DURATION:-60}" "${CONNECTIONS:-64}" || rc=1
    kill $MON 2>/dev/null || true
fi
kill -TERM $PID
wait $PID || { echo "server exit status $? (a leak report under ASan?)"; tail -30 "$LOG"; rc=1; }
trap - EXIT
exit $rc
