/*
 * ops.h - the numeric operations of the forward pass (scalar reference
 * versions; per-ISA variants come later behind the same signatures).
 *
 * Argument order: outputs, inputs, then dimensions. Row-major activations:
 * x[t*n + i] is element i of token t.
 */
#ifndef PENNY_KERNELS_OPS_H
#define PENNY_KERNELS_OPS_H

#include <stdint.h>

#include "base/pool.h"

/* y[t] = x[t] / rms(x[t]) * w, for T rows of n. y may alias x. */
void op_rmsnorm(float *y, const float *x, const float *w, int T, int n, float eps);

/* Y[t][o] = dot(W row o, X[t]) for t < T, o < n_out; W is n_out rows of
 * n_in elements of `type` with row stride in bytes `row_bytes`. Rows are
 * split across the pool's threads; each weight row is read once for all T
 * tokens. */
void op_matmul(pool *p, float *Y, const void *W, uint32_t type, size_t row_bytes, const float *X,
               int T, int n_in, int n_out);

/* Rotary embedding, in place, on T tokens of n_heads heads of head_dim;
 * the first n_rot dims of each head rotate. neox: pairs (i, i+n_rot/2)
 * instead of adjacent (2i, 2i+1). freqs[i] = per-pair inverse frequency
 * (n_rot/2 entries, scaling already applied). pos[t] = position of token t. */
void op_rope(float *x, int T, int n_heads, int head_dim, int n_rot, const int32_t *pos,
             const float *freqs, int neox);

void op_softmax(float *x, int n);
/* out[i] = silu(gate[i]) * up[i] */
void op_swiglu(float *out, const float *gate, const float *up, int64_t n);

#endif
