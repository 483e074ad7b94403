/*
 * cpu.h - what the processor we run on can do, detected once at run time.
 *
 * The library is compiled for the baseline of its architecture (x86-64 or
 * ARMv8-A), so one binary runs anywhere; faster kernels are compiled with
 * per-function target attributes and chosen from these flags by
 * kernels/dispatch.c. On x86 a feature counts only when the OS also saves
 * the registers it needs (XCR0 via xgetbv), which is what decides whether
 * AVX-512 code may run inside a VM or under a kernel that disabled it.
 */
#ifndef PENNY_BASE_CPU_H
#define PENNY_BASE_CPU_H

#include <stdbool.h>

typedef struct cpu_features {
    /* x86 */
    bool avx2, fma, f16c;
    bool avx512f, avx512dq, avx512bw, avx512vl;
    bool avx512vnni, avx512vbmi, avx512bf16, gfni;
    /* aarch64 */
    bool neon, dotprod;
} cpu_features;

/* Detected on the first call (thread-safe, idempotent); never NULL. */
const cpu_features *cpu_get(void);

/* Writes the names of the detected features, space separated, to buf. */
void cpu_describe(char *buf, int cap);

#endif
