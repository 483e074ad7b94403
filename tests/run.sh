#!/bin/sh
# Runs every test against the build in $1 (default build/): C test programs
# build/tests/test_*, then tests/test_*.py (numpy references) and
# tests/test_*.sh (CLI-level tests). Exits non-zero if any test fails.
# Tests that need ../shared/ (real model files) find it via PENNY_SHARED.
B=${1:-build}
export PENNY_BUILD="$B"
: "${PENNY_SHARED:=$(cd "$(dirname "$0")/../.." && pwd)/shared}"
export PENNY_SHARED
PY=${PYTHON:-/usr/bin/python3}
fail=0; n=0
run() {
    n=$((n + 1))
    if "$@" >"$B/tests/last.log" 2>&1; then
        echo "PASS $*"
    else
        echo "FAIL $*"; sed 's/^/    /' "$B/tests/last.log" | tail -40; fail=$((fail + 1))
    fi
}
mkdir -p "$B/tests"
for t in "$B"/tests/test_*; do [ -x "$t" ] && [ -f "$t" ] && case "$t" in *.d|*.log) ;; *) run "$t" ;; esac; done
for t in tests/test_*.py; do [ -f "$t" ] && run "$PY" "$t"; done
for t in tests/test_*.sh; do [ -f "$t" ] && run sh "$t"; done
echo "$((n - fail))/$n tests passed"
[ "$fail" -eq 0 ]
