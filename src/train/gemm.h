/*
 * gemm.h - the single-precision matrix product behind every training matmul.
 *
 * Training spends nearly all its time in three products per linear layer
 * (forward, input gradient, weight gradient), each a different transpose of
 * the same shapes. One strided routine serves all three: A and B are read
 * through (row stride, column stride) pairs and packed into cache-sized
 * panels, so the micro-kernel always sees contiguous data.
 *
 * Determinism: every element of C is computed by one thread, summing over k
 * in a fixed order, so results do not depend on the thread count or on how
 * tiles were handed out. That is what makes resumed, re-run and multi-rank
 * training reproduce the same weights.
 */
#ifndef PENNY_TRAIN_GEMM_H
#define PENNY_TRAIN_GEMM_H

#include <stdbool.h>

#include "base/pool.h"

typedef struct tr_gemm tr_gemm;

/* Packing buffers for each of the pool's threads; p may be NULL (one thread). */
penny_status tr_gemm_new(pool *p, tr_gemm **out, penny_error *err);
void tr_gemm_free(tr_gemm *g);

/* Rounds A and B to bfloat16 (products still summed in fp32), which
 * doubles the multiply rate on CPUs with AVX512-BF16; a no-op elsewhere.
 * Returns whether the bf16 path is in use. */
bool tr_gemm_set_bf16(tr_gemm *g, bool on);

/* Sizes the shared packing buffer for products with M x K up to n
 * elements, so that later calls never allocate (tr_gemm_run asserts if one
 * would have to and cannot). */
penny_status tr_gemm_reserve(tr_gemm *g, size_t n, penny_error *err);

/* C(m,n) = [C(m,n) +] sum_k A(m,k) * B(k,n) for m < M, n < N, where
 *   A(m,k) = a[m*ars + k*acs], B(k,n) = b[k*brs + n*bcs], C(m,n) = c[m*ldc + n].
 * accumulate false overwrites C. */
void tr_gemm_run(tr_gemm *g, float *c, long ldc, const float *a, long ars, long acs, const float *b,
                 long brs, long bcs, int M, int N, int K, bool accumulate);

/* Peak multiply-add rate of the pool's threads in GFLOP/s, measured with a
 * register-only loop of FMA (or, with bf16 on a CPU that has it,
 * VDPBF16PS) instructions, about 50 ms: the denominator of MFU. */
double tr_gemm_peak_gflops(pool *p, bool bf16);

/* Name of the micro-kernel in use ("avx512", "portable"). */
const char *tr_gemm_kernel(void);

#endif
