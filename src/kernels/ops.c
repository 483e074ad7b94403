/*
 * ops.c - scalar reference versions of the forward pass's operations:
 * RMS norm, matmul, rotary embedding, softmax, SwiGLU.
 *
 * Precision: the element-wise ops compute in double and round once to float,
 * so each output is within about one float ulp of the exact result (the
 * numpy float64 reference in tests/test_kernels_ref.py checks 1e-5
 * relative). In particular RoPE forms theta = pos * freq in double: in float,
 * at position 4096 the angle alone would be off by ~2e-4 radians. These ops
 * are O(n) per token next to the O(n^2) matmuls, so double costs nothing
 * that matters.
 *
 * The matmul is the exception: it is where the time goes, so it runs the
 * kernel table chosen for this CPU (dispatch.h). Quantized weights read
 * activations quantized to 8 bits (once per call, into caller-owned
 * scratch); F32, F16 and BF16 read the f32 activations.
 */
#include "kernels/ops.h"

#include <math.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/log.h"
#include "kernels/dispatch.h"
#include "kernels/types.h"

/* y[t] = x[t] * w / sqrt(mean(x[t]^2) + eps); sum of squares in double. */
void op_rmsnorm(float *y, const float *x, const float *w, int T, int n, float eps) {
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * n;
        float *yt = y + (size_t)t * n;
        double ss = 0.0;
        for (int i = 0; i < n; i++) ss += (double)xt[i] * (double)xt[i];
        double scale = 1.0 / sqrt(ss / n + (double)eps);
        for (int i = 0; i < n; i++) yt[i] = (float)((double)xt[i] * scale * (double)w[i]);
    }
}

/* ---- matmul ---- */

/* Weight bytes per row chunk (T > 1): a chunk stays in L2 while every token
 * passes over it, so weights come from memory once per matmul. */
#define MATMUL_CHUNK_BYTES (192 * 1024)
/* Rows per call of a panel kernel (gemm_*.c), in 16-row panels: it packs
 * them per K chunk into a per-thread buffer (about 40 KB a panel) and runs
 * each token group over all of them, so more panels read activations less. */
#define MATMUL_CHUNK_PANELS 8
/* Below this many activations, thread 0 prepares them alone (a second
 * pool_run would cost more than it saves). */
#define MATMUL_PREP_SERIAL 32768

/* Shared by all threads of one op_matmul call. */
typedef struct matmul_job {
    float *Y;         /* (T, n_out) */
    const uint8_t *W; /* n_out rows of row_bytes */
    const float *X;   /* (T, n_in) */
    void *act;        /* (T, act_bytes) prepared activations, or X itself */
    size_t row_bytes, act_bytes;
    int T, n_in, n_out;
    bool panels;         /* a panel kernel (gemm_*.c) with its own blocking */
    kern_gemm_fn gemm;   /* NULL: the type's reference dot on f32 X */
    type_dot_f32_fn dot; /* used when gemm is NULL */
    kern_prep_fn prep;
} matmul_job;

static void prep_rows(void *arg, int ith, int nth) {
    const matmul_job *j = arg;
    long lo, hi;
    pool_range(j->T, ith, nth, &lo, &hi);
    for (long t = lo; t < hi; t++)
        j->prep((uint8_t *)j->act + (size_t)t * j->act_bytes, j->X + (size_t)t * j->n_in, j->n_in);
}

/* Rows [lo, hi) with the reference dot, one (row, token) at a time. */
static void dot_rows(const matmul_job *j, long lo, long hi) {
    for (long o = lo; o < hi; o++) {
        const uint8_t *row = j->W + (size_t)o * j->row_bytes;
        for (int t = 0; t < j->T; t++)
            j->Y[(size_t)t * j->n_out + o] = j->dot(row, j->X + (size_t)t * j->n_in, j->n_in);
    }
}

/* Several tokens (or any, batch-invariant): thread ith takes a contiguous
 * range of whole 16-row panels (the multi-token kernels' unit), in chunks
 * that stay in cache while all tokens use them. One token: matvec.c. */
static void matmul_rows(void *arg, int ith, int nth) {
    const matmul_job *j = arg;
    long lo, hi;
    pool_range((j->n_out + 15) / 16, ith, nth, &lo, &hi);
    lo *= 16;
    hi = hi * 16 < j->n_out ? hi * 16 : j->n_out;
    if (!j->gemm) {
        dot_rows(j, lo, hi);
        return;
    }
    long chunk =
        j->panels ? MATMUL_CHUNK_PANELS * 16 : (long)(MATMUL_CHUNK_BYTES / j->row_bytes) / 16 * 16;
    if (chunk < 16) chunk = 16;
    for (long r = lo; r < hi; r += chunk) {
        int nr = (int)(hi - r < chunk ? hi - r : chunk);
        j->gemm(j->Y + r, (size_t)j->n_out, j->W + (size_t)r * j->row_bytes, j->row_bytes, j->act,
                j->act_bytes, j->n_in, nr, j->T);
    }
}

size_t op_matmul_scratch(uint32_t type, int T, int n_in) {
    enum kern_act act = kern_act_of(type);
    if (act == KERN_ACT_F32 || T <= 0) return 0;
    return (size_t)T * kern_act_row_bytes(act, n_in);
}

/* Points j->act at the prepared activations (in scratch, or a buffer
 * allocated here and returned for freeing); falls back to the reference
 * dot when there is no scratch and no memory for one. */
static void *matmul_act(matmul_job *j, void *scratch, size_t need) {
    void *own = NULL;
    if (!need) {
        j->act = (void *)j->X;
        return NULL;
    }
    if (!scratch) scratch = own = malloc(need);
    if (!scratch) {
        log_msg(LOG_WARN, "matmul: no memory for %zu bytes of activations; using the slow path",
                need);
        j->gemm = NULL;
    }
    j->act = scratch;
    return own;
}

/* A NULL pool runs on the calling thread (tests, tools). */
static void matmul(pool *p, void *scratch, float *Y, const void *W, uint32_t type, size_t row_bytes,
                   const float *X, int T, int n_in, int n_out) {
    const type_traits *tt = type_get(type);
    PENNY_ASSERT(tt && tt->supported && n_in % tt->block_size == 0 && T >= 1);
    const kern_ops *k = kern_get();
    kern_prep_fn prep = k->prep_q8 ? k->prep_q8 : kern_scalar.prep_q8;
    enum kern_act act = kern_act_of(type);
    matmul_job job = {.Y = Y,
                      .W = W,
                      .X = X,
                      .row_bytes = row_bytes,
                      .act_bytes = kern_act_row_bytes(act, n_in),
                      .T = T,
                      .n_in = n_in,
                      .n_out = n_out,
                      .gemm = kern_gemm_multi(k, type),
                      .dot = tt->dot_f32,
                      .prep = prep};
    job.panels = job.gemm != kern_gemm(k, type);
    if (!job.gemm) act = KERN_ACT_F32;
    void *own =
        matmul_act(&job, scratch, act == KERN_ACT_F32 ? 0 : op_matmul_scratch(type, T, n_in));
    if (job.gemm && job.act != X) {
        if (p && pool_size(p) > 1 && (long)T * n_in > MATMUL_PREP_SERIAL)
            pool_run(p, prep_rows, &job);
        else
            prep_rows(&job, 0, 1);
    }
    if (p)
        pool_run(p, matmul_rows, &job);
    else
        matmul_rows(&job, 0, 1);
    free(own);
}

void op_matmul(pool *p, void *scratch, float *Y, const void *W, uint32_t type, size_t row_bytes,
               const float *X, int T, int n_in, int n_out) {
    if (T == 1) {
        op_mm m = {Y, W, type, row_bytes, n_out};
        op_matmul_group(p, scratch, &m, 1, X, 1, n_in);
    } else {
        matmul(p, scratch, Y, W, type, row_bytes, X, T, n_in, n_out);
    }
}

void op_matmul_invariant(pool *p, void *scratch, float *Y, const void *W, uint32_t type,
                         size_t row_bytes, const float *X, int T, int n_in, int n_out) {
    matmul(p, scratch, Y, W, type, row_bytes, X, T, n_in, n_out);
}

/* Rotates pair (a, b) of every head of one token by the same angle. */
static void rope_pair(float *xt, int n_heads, int head_dim, int ia, int ib, double c, double s) {
    for (int h = 0; h < n_heads; h++) {
        float *xh = xt + (size_t)h * head_dim;
        double a = xh[ia], b = xh[ib];
        xh[ia] = (float)(a * c - b * s);
        xh[ib] = (float)(a * s + b * c);
    }
}

void op_rope(float *x, int T, int n_heads, int head_dim, int n_rot, const int32_t *pos,
             const float *freqs, int neox) {
    int half = n_rot / 2;
    for (int t = 0; t < T; t++) {
        float *xt = x + (size_t)t * n_heads * head_dim;
        for (int i = 0; i < half; i++) {
            double theta = (double)pos[t] * (double)freqs[i];
            double c = cos(theta), s = sin(theta);
            int ia = neox ? i : 2 * i, ib = neox ? i + half : 2 * i + 1;
            rope_pair(xt, n_heads, head_dim, ia, ib, c, s);
        }
    }
}

/* In place, subtracting the max first so exp never overflows. Two roundings
 * per element (exp to float, then the division). */
void op_softmax(float *x, int n) {
    if (n <= 0) return;
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        double e = exp((double)x[i] - (double)max);
        x[i] = (float)e;
        sum += e;
    }
    for (int i = 0; i < n; i++) x[i] = (float)((double)x[i] / sum);
}

/* out may alias gate or up. */
void op_swiglu(float *out, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * (double)up[i]);
    }
}

/* ---- the element-wise ops on the pool ---- */

/* Below this many elements a second thread costs more than it saves. */
#define PAR_MIN_ELEMS 16384

typedef struct elem_job {
    float *y;
    const float *a, *b, *w;
    int64_t n; /* swiglu: elements; rmsnorm: rows */
    int width; /* rmsnorm: row length */
    float eps;
} elem_job;

static void swiglu_part(void *arg, int ith, int nth) {
    const elem_job *j = arg;
    long lo, hi;
    pool_range(j->n, ith, nth, &lo, &hi);
    op_swiglu(j->y + lo, j->a + lo, j->b + lo, hi - lo);
}

void op_swiglu_par(pool *p, float *out, const float *gate, const float *up, int64_t n) {
    if (!p || pool_size(p) < 2 || n < PAR_MIN_ELEMS) {
        op_swiglu(out, gate, up, n);
        return;
    }
    elem_job j = {.y = out, .a = gate, .b = up, .n = n};
    pool_run(p, swiglu_part, &j);
}

static void rmsnorm_part(void *arg, int ith, int nth) {
    const elem_job *j = arg;
    long lo, hi;
    pool_range(j->n, ith, nth, &lo, &hi);
    op_rmsnorm(j->y + lo * j->width, j->a + lo * j->width, j->w, (int)(hi - lo), j->width, j->eps);
}

void op_rmsnorm_par(pool *p, float *y, const float *x, const float *w, int T, int n, float eps) {
    if (!p || pool_size(p) < 2 || T < 2 || (int64_t)T * n < PAR_MIN_ELEMS) {
        op_rmsnorm(y, x, w, T, n, eps);
        return;
    }
    elem_job j = {.y = y, .a = x, .w = w, .n = T, .width = n, .eps = eps};
    pool_run(p, rmsnorm_part, &j);
}
