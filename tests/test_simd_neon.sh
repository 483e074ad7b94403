#!/bin/sh
# test_simd_neon.sh - the SIMD kernel tests (tests/test_simd.c, and
# test_batch_invariance.c, test_attn.c) for AArch64:
# cross-compiled with Debian's aarch64 toolchain and run under qemu-user,
# which reports the dot-product extension, so the NEON table is checked
# against the scalar one like the x86 tables. Only the kernel layer is
# built (src/base, src/kernels), statically, with the project's warnings.
# Skips (exit 0) when gcc-aarch64-linux-gnu or qemu-user is missing.
set -eu
CC=${AARCH64_CC:-aarch64-linux-gnu-gcc}
QEMU=${QEMU_AARCH64:-qemu-aarch64}
if ! command -v "$CC" >/dev/null 2>&1 || ! command -v "$QEMU" >/dev/null 2>&1; then
    echo "SKIP: $CC or $QEMU not installed (scripts/install-deps.sh installs them)"
    exit 0
fi
cd "$(dirname "$0")/.."
B=${PENNY_BUILD:-build}
mkdir -p "$B/tests"
out="$B/tests/simd_aarch64" # not test_*: run.sh would execute it natively
"$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static -Iinclude -Isrc -o "$out" \
    tests/test_simd.c src/base/err.c src/base/log.c src/base/pool.c src/base/cpu.c \
    src/kernels/*.c src/kernels/x86/*.c src/kernels/arm/*.c -lm -lpthread
PENNY_TEST_QUICK=1 "$QEMU" "$out"
# The batch-invariance contract (tests/test_batch_invariance.c) on NEON too.
inv="$B/tests/batch_invariance_aarch64"
"$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static -Iinclude -Isrc -o "$inv" \
    tests/test_batch_invariance.c src/base/err.c src/base/log.c src/base/pool.c src/base/cpu.c \
    src/kernels/*.c src/kernels/x86/*.c src/kernels/arm/*.c -lm -lpthread
"$QEMU" "$inv"
# NEON attention against the float64 reference, as the x86 ones.
att="$B/tests/attn_aarch64"
"$CC" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -static -Iinclude -Isrc -o "$att" \
    tests/test_attn.c src/base/err.c src/base/log.c src/base/pool.c src/base/cpu.c \
    src/kernels/*.c src/kernels/x86/*.c src/kernels/arm/*.c -lm -lpthread
if ! "$QEMU" "$att" > "$att.log" 2>&1; then
    cat "$att.log"
    exit 1
fi
tail -n 1 "$att.log"
