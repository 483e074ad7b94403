/*
 * attn.c - speed of the attention kernel (src/kernels/attn.c) alone, per
 * instruction set and cache type, on one thread: GFLOP/s counting
 * 2*(dk + dv) flops per (query, key) pair, for a prompt-like block (32
 * queries, a GQA group of 8 x 4 tokens) and a decoding-like one (8 queries,
 * one token of a group of 8) and a single query (one token of multi-head
 * attention) over n cached keys. Checks each result
 * against the scalar code first (relative 1e-4), so a fast wrong kernel
 * shows as an error, not a number. Times are the thread's CPU time, so a
 * busy shared machine slows the numbers less than wall time would.
 *
 * usage: build/bench/attn [N_KEYS (default 2048)] [DK (default 64)]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/attn.h"
#include "kernels/types.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
}

/* Seconds per call (best of several timed batches of calls). */
static double time_calls(enum kern_isa isa, const attn_args *a, float *scratch) {
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        int calls = 0;
        double t0 = now(), t;
        do {
            attn_run_isa(isa, a, scratch);
            calls++;
        } while ((t = now() - t0) < 0.05);
        best = t / calls < best ? t / calls : best;
    }
    return best;
}

static void run(uint32_t type, int n, int dk, int nq) {
    static const char *names[] = {"scalar", "avx2", "avx512", "neon"};
    unsigned seed = 1;
    size_t kb = attn_row_bytes(type, dk);
    char *k = malloc(kb * (size_t)n), *v = malloc(kb * (size_t)n);
    float *x = malloc(sizeof(float) * (size_t)dk), *q = malloc(sizeof(float) * (size_t)(nq * dk));
    float *out = malloc(sizeof(float) * (size_t)(2 * nq * dk));
    float *scratch = malloc(sizeof(float) * attn_scratch_floats(dk, dk));
    for (int p = 0; p < n; p++) {
        for (int d = 0; d < dk; d++) x[d] = frand(&seed);
        attn_store(k + (size_t)p * kb, type, x, dk);
        for (int d = 0; d < dk; d++) x[d] = frand(&seed);
        attn_store(v + (size_t)p * kb, type, x, dk);
    }
    for (int i = 0; i < nq * dk; i++) q[i] = frand(&seed);
    const float *qp[ATTN_QMAX];
    float *op[ATTN_QMAX];
    int nk[ATTN_QMAX];
    for (int i = 0; i < nq; i++) qp[i] = q + i * dk, nk[i] = n - (nq - 1 - i) / 8;
    attn_args a = {.out = op,
                   .q = qp,
                   .n_keys = nk,
                   .nq = nq,
                   .dk = dk,
                   .dv = dk,
                   .scale = 1.0f / sqrtf((float)dk),
                   .k = {k, kb, type},
                   .v = {v, kb, type}};
    for (int i = 0; i < nq; i++) op[i] = out + i * dk;
    attn_run_isa(KERN_SCALAR, &a, scratch);
    printf("%-4s n %5d dk %3d nq %2d:", type_name(type), n, dk, nq);
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        for (int i = 0; i < nq; i++) op[i] = out + (size_t)(nq + i) * dk;
        if (!attn_run_isa((enum kern_isa)isa, &a, scratch)) continue;
        double err = 0.0;
        for (int i = 0; i < nq * dk; i++) err = fmax(err, fabs(out[nq * dk + i] - out[i]));
        if (!(err <= 1e-4)) {
            printf(" %s WRONG (max diff %.2e)", names[isa], err);
            continue;
        }
        double s = time_calls((enum kern_isa)isa, &a, scratch);
        printf("  %s %6.1f GFLOP/s", names[isa], 2.0 * 2 * dk * (double)n * nq / s * 1e-9);
    }
    printf("\n");
    free(k), free(v), free(x), free(q), free(out), free(scratch);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 2048, dk = argc > 2 ? atoi(argv[2]) : 64;
    if (n < 1 || dk < 1) {
        fprintf(stderr, "usage: %s [N_KEYS] [DK]\n", argv[0]);
        return 2;
    }
    const uint32_t types[] = {TYPE_F32, TYPE_F16, TYPE_Q8_0};
    for (int t = 0; t < 3; t++) {
        run(types[t], n, dk, 32);
        run(types[t], n, dk, 8);
        run(types[t], n, dk, 1);
    }
    return 0;
}
