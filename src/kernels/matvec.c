/*
 * matvec.c - one-token matmuls (generation): op_matmul with T = 1 and
 * op_matmul_group, several matrices on the same input in one pass.
 *
 * Generation reads every weight once per token, so what matters here is
 * keeping both cores streaming weights until the last row: the rows of
 * every matrix of the call are cut into parts (kern_vec_fn: each part the
 * same slice of a few far-apart row lanes) and threads take parts from one
 * shared counter as they come free. Memory bandwidth is not shared evenly
 * between cores, and other processes take cores away, so an equal static
 * split left the faster thread waiting at the join. Grouping q, k, v (and
 * gate, up) makes one join out of three (two) and quantizes the input to
 * Q8 once instead of once per matrix.
 *
 * A row's result does not depend on which thread or part takes it, nor on
 * the other matrices of the group: the one-token kernels give every row the
 * same arithmetic. So outputs are the same for any thread count and equal
 * separate op_matmul calls bit for bit.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/log.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "kernels/types.h"

/* About this many parts per thread and matrix, but not below
 * VEC_PART_ROWS rows a part (a part call costs a few hundred cycles). */
#define VEC_PARTS_PER_THREAD 8
#define VEC_PART_ROWS 64

typedef struct vec_mat {
    float *Y;
    const uint8_t *W;
    size_t row_bytes;
    int n_out;
    const void *act;     /* prepared activations, or X */
    kern_gemm_fn gemm;   /* NULL: the type's reference dot on f32 X */
    kern_vec_fn vec;     /* NULL: parts are contiguous row ranges for gemm */
    type_dot_f32_fn dot; /* used when gemm is NULL */
    bool q8;             /* gemm reads Q8 activations */
    int parts, end;      /* parts of this matrix; end: first part of the next */
} vec_mat;

typedef struct vec_job {
    vec_mat m[OP_MM_MAX];
    int n, n_in, total;
    const float *X;
    atomic_int next; /* the next part to take, over all matrices */
} vec_job;

static int vec_parts(int n_out, int nth) {
    int parts = n_out / VEC_PART_ROWS;
    if (parts > nth * VEC_PARTS_PER_THREAD) parts = nth * VEC_PARTS_PER_THREAD;
    return parts < 1 ? 1 : parts;
}

static void vec_part(const vec_job *j, const vec_mat *m, int part) {
    if (m->vec) {
        m->vec(m->Y, m->W, m->row_bytes, m->act, j->n_in, m->n_out, part, m->parts);
        return;
    }
    long lo = (long)m->n_out * part / m->parts, hi = (long)m->n_out * (part + 1) / m->parts;
    if (hi == lo) return;
    if (m->gemm) {
        m->gemm(m->Y + lo, (size_t)m->n_out, m->W + (size_t)lo * m->row_bytes, m->row_bytes, m->act,
                0, j->n_in, (int)(hi - lo), 1);
        return;
    }
    for (long o = lo; o < hi; o++) m->Y[o] = m->dot(m->W + (size_t)o * m->row_bytes, j->X, j->n_in);
}

static void vec_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    vec_job *j = arg;
    for (;;) {
        int c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= j->total) return;
        int i = 0;
        while (c >= j->m[i].end) i++;
        vec_part(j, &j->m[i], c - (j->m[i].end - j->m[i].parts));
    }
}

/* Fills j->m from mm; returns whether any matrix reads Q8 activations. */
static bool vec_setup(vec_job *j, const kern_ops *k, const op_mm *mm, int n, int nth) {
    bool any = false;
    for (int i = 0; i < n; i++) {
        const type_traits *tt = type_get(mm[i].type);
        PENNY_ASSERT(tt && tt->supported && j->n_in % tt->block_size == 0);
        vec_mat *m = &j->m[i];
        *m = (vec_mat){.Y = mm[i].Y,
                       .W = mm[i].W,
                       .row_bytes = mm[i].row_bytes,
                       .n_out = mm[i].n_out,
                       .act = j->X,
                       .gemm = kern_gemm(k, mm[i].type),
                       .dot = tt->dot_f32,
                       .parts = vec_parts(mm[i].n_out, nth)};
        if (m->gemm) m->vec = k->vec[mm[i].type];
        m->q8 = m->gemm && kern_act_of(mm[i].type) == KERN_ACT_Q8;
        any |= m->q8;
        j->total += m->parts;
        m->end = j->total;
    }
    j->n = n;
    return any;
}

/* Quantizes X once for every Q8 matrix (into scratch, or a buffer returned
 * for freeing); without memory those matrices take the reference dot. */
static void *vec_prepare(vec_job *j, const kern_ops *k, void *scratch) {
    size_t need = kern_act_row_bytes(KERN_ACT_Q8, j->n_in);
    void *own = scratch ? NULL : malloc(need), *act = scratch ? scratch : own;
    if (act)
        (k->prep_q8 ? k->prep_q8 : kern_scalar.prep_q8)(act, j->X, j->n_in);
    else
        log_msg(LOG_WARN, "matmul: no memory for %zu bytes of activations; using the slow path",
                need);
    for (int i = 0; i < j->n; i++) {
        vec_mat *m = &j->m[i];
        if (!m->q8) continue;
        m->act = act;
        if (!act) m->gemm = NULL, m->vec = NULL;
    }
    return own;
}

static void matvec(pool *p, void *scratch, const op_mm *mm, int n, const float *X, int n_in) {
    PENNY_ASSERT(n >= 1 && n <= OP_MM_MAX);
    const kern_ops *k = kern_get();
    vec_job j = {.n_in = n_in, .X = X};
    atomic_init(&j.next, 0);
    void *own = vec_setup(&j, k, mm, n, p ? pool_size(p) : 1) ? vec_prepare(&j, k, scratch) : NULL;
    if (p)
        pool_run(p, vec_worker, &j);
    else
        vec_worker(&j, 0, 1);
    free(own);
}

void op_matmul_group(pool *p, void *scratch, const op_mm *mm, int n, const float *X, int T,
                     int n_in) {
    if (T == 1) {
        matvec(p, scratch, mm, n, X, n_in);
        return;
    }
    for (int i = 0; i < n; i++)
        op_matmul(p, scratch, mm[i].Y, mm[i].W, mm[i].type, mm[i].row_bytes, X, T, n_in,
                  mm[i].n_out);
}
