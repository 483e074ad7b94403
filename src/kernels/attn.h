/*
 * attn.h - attention of a block of queries over a KV cache stored as F32,
 * F16 or Q8_0, walked in tiles of ATTN_TILE keys with an online softmax.
 *
 * A full row of scores is never built: each query keeps a running maximum m
 * and sum l of exp(score - m), and its output accumulator is rescaled by
 * exp(m_old - m_new) whenever a tile raises the maximum. That keeps memory
 * per query constant whatever the context length, and no exponent ever sees
 * a positive argument, so large scores cannot overflow.
 *
 * Queries of one call share one KV head (the heads of a GQA group, and
 * several tokens of one sequence), so each tile of keys and values is
 * converted to f32 once for all of them. The implementation is chosen like
 * the matmul kernels: the table kern_get() returns (PENNY_CPU included)
 * picks the scalar, AVX2+F16C or AVX-512 code; other tables (NEON) use
 * the scalar code.
 */
#ifndef PENNY_KERNELS_ATTN_H
#define PENNY_KERNELS_ATTN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/dispatch.h"

enum {
    ATTN_TILE = 64, /* keys per tile */
    ATTN_QMAX = 32  /* queries per call */
};

/* Cached rows of one KV head: position p's vector of `dim` elements starts
 * at data + p*stride bytes, as TYPE_F32, TYPE_F16 or TYPE_Q8_0 (blocks of
 * 32 from the vector's start, the last one zero-padded: ceil(dim/32)*34
 * bytes). */
typedef struct attn_rows {
    const void *data;
    size_t stride;
    uint32_t type;
} attn_rows;

/* out[i] (dv floats) = softmax_p(scale * q[i].k_p) . v_p over positions
 * p < n_keys[i], for i < nq <= ATTN_QMAX; q[i] has dk floats. Every
 * n_keys[i] >= 1. With v_in_k, values are the first dv elements of the
 * key vectors (dv <= dk; v is ignored). */
typedef struct attn_args {
    float *const *out;
    const float *const *q;
    const int *n_keys;
    int nq, dk, dv;
    float scale;
    attn_rows k, v;
    bool v_in_k;
} attn_args;

/* Floats of scratch one call needs (one buffer per thread). */
size_t attn_scratch_floats(int dk, int dv);

/* Runs a with the implementation in use (kern_get()); scratch has
 * attn_scratch_floats(a->dk, a->dv) floats. */
void attn_run(const attn_args *a, float *scratch);

/* The same with a given instruction set's code (tests); false, doing
 * nothing, when this CPU or build lacks it. */
bool attn_run_isa(enum kern_isa isa, const attn_args *a, float *scratch);

/* Bytes of one cached vector of dim elements of a cache type. */
size_t attn_row_bytes(uint32_t type, int dim);

/* Writes dim floats x as one cached vector of `type` (Q8_0: GGUF block
 * formula, the last block zero-padded). */
void attn_store(void *dst, uint32_t type, const float *x, int dim);

#endif
