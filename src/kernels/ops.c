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
 * that matters. The matmul uses each type's reference dot (double
 * accumulation, see types_ref.c).
 */
#include "kernels/ops.h"

#include <math.h>

#include "base/err.h"
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

/* Shared by all threads of one op_matmul call. */
typedef struct matmul_job {
    float *Y;         /* (T, n_out) */
    const uint8_t *W; /* n_out rows of row_bytes */
    const float *X;   /* (T, n_in) */
    size_t row_bytes;
    int T, n_in, n_out;
    type_dot_f32_fn dot;
} matmul_job;

/* Thread ith takes a contiguous range of output rows and reads each weight
 * row once, for all T tokens. */
static void matmul_rows(void *arg, int ith, int nth) {
    const matmul_job *j = arg;
    long lo, hi;
    pool_range(j->n_out, ith, nth, &lo, &hi);
    for (long o = lo; o < hi; o++) {
        const uint8_t *row = j->W + (size_t)o * j->row_bytes;
        for (int t = 0; t < j->T; t++) {
            const float *xt = j->X + (size_t)t * j->n_in;
            j->Y[(size_t)t * j->n_out + o] = j->dot(row, xt, j->n_in);
        }
    }
}

/* A NULL pool runs on the calling thread (tests, tools). */
void op_matmul(pool *p, float *Y, const void *W, uint32_t type, size_t row_bytes, const float *X,
               int T, int n_in, int n_out) {
    const type_traits *tt = type_get(type);
    PENNY_ASSERT(tt && tt->dot_f32 && n_in % tt->block_size == 0);
    matmul_job job = {Y, W, X, row_bytes, T, n_in, n_out, tt->dot_f32};
    if (p)
        pool_run(p, matmul_rows, &job);
    else
        matmul_rows(&job, 0, 1);
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
