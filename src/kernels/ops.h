/*
 * ops.h - the numeric operations of the forward pass. The matmul runs
 * per-ISA kernels (kernels/dispatch.h); the others are scalar.
 *
 * Argument order: outputs, inputs, then dimensions. Row-major activations:
 * x[t*n + i] is element i of token t.
 */
#ifndef PENNY_KERNELS_OPS_H
#define PENNY_KERNELS_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"

/* y[t] = x[t] / rms(x[t]) * w, for T rows of n. y may alias x. */
void op_rmsnorm(float *y, const float *x, const float *w, int T, int n, float eps);

/* Y[t][o] = dot(W row o, X[t]) for t < T, o < n_out; W is n_out rows of
 * n_in elements of `type` with row stride in bytes `row_bytes`. Rows are
 * split across the pool's threads (NULL pool: the calling thread).
 *
 * Computed by the kernels of the table dispatch.h picks for this CPU
 * (PENNY_CPU forces one). Quantized weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)
 * are multiplied with the activations quantized to 8-bit blocks of 32
 * (dispatch.h: act_q8_group), so for those types Y is the dot with
 * Q8-rounded X, not with X itself (about 0.2% relative per element, mostly
 * averaging out). F32, F16 and BF16 weights use X exactly. SIMD kernels
 * accumulate in float in their own order (tolerances in tests/test_simd.c);
 * the result does not depend on the thread count.
 *
 * scratch: op_matmul_scratch(type, T, n_in) bytes (any alignment) that the
 * call may overwrite, so the decode loop never allocates; NULL makes the
 * call allocate (tests, tools). */
size_t op_matmul_scratch(uint32_t type, int T, int n_in);
void op_matmul(pool *p, void *scratch, float *Y, const void *W, uint32_t type, size_t row_bytes,
               const float *X, int T, int n_in, int n_out);
/* One matmul of a group that shares its input (q, k, v; gate, up). */
typedef struct op_mm {
    float *Y;
    const void *W;
    uint32_t type;
    size_t row_bytes;
    int n_out;
} op_mm;
enum { OP_MM_MAX = 4 };
/* op_matmul of each of the n <= OP_MM_MAX matrices mm on the same X; scratch
 * as for op_matmul, for the largest of them. For one token X is quantized
 * once and all of them run in one pass over the pool, with one join
 * (matvec.c); the outputs are those of separate op_matmul calls bit for
 * bit. */
void op_matmul_group(pool *p, void *scratch, const op_mm *mm, int n, const float *X, int T,
                     int n_in);
/* As op_matmul, but each token's outputs are bit for bit those of a call with
 * that token alone or in any other batch (the multi-token kernels also for
 * one token; tests/test_batch_invariance.c). A server needs this so that
 * concurrent requests do not change each other's results; for one token it
 * is slower than op_matmul, whose one-token kernels round differently. */
void op_matmul_invariant(pool *p, void *scratch, float *Y, const void *W, uint32_t type,
                         size_t row_bytes, const float *X, int T, int n_in, int n_out);

/* Rotary embedding, in place, on T tokens of n_heads heads of head_dim;
 * the first n_rot dims of each head rotate. neox: pairs (i, i+n_rot/2)
 * instead of adjacent (2i, 2i+1). freqs[i] = per-pair inverse frequency
 * (n_rot/2 entries, scaling already applied). pos[t] = position of token t. */
void op_rope(float *x, int T, int n_heads, int head_dim, int n_rot, const int32_t *pos,
             const float *freqs, int neox);

void op_softmax(float *x, int n);
/* out[i] = silu(gate[i]) * up[i] */
void op_swiglu(float *out, const float *gate, const float *up, int64_t n);

/* op_rmsnorm and op_swiglu with the work split over the pool's threads when
 * there is enough of it (a prompt batch: 3% of its time ran on one thread
 * while the others waited); results are the same bit for bit. */
void op_rmsnorm_par(pool *p, float *y, const float *x, const float *w, int T, int n, float eps);
void op_swiglu_par(pool *p, float *out, const float *gate, const float *up, int64_t n);

#endif
