/*
 * kern_scalar.c - the scalar matmul kernels: the ground truth every SIMD
 * kernel is tested against, and the fallback on CPUs without one.
 *
 * F32, F16 and BF16 weights read f32 activations through their type's
 * reference dot (types_ref.c: double accumulation, nearly the exactly
 * rounded dot). Quantized weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) instead
 * read Q8 activations (dispatch.h): each block's integer dot sum(w_q * x_q)
 * is exact in int32, and the total over blocks of the scales times the
 * integer dots is formed in double and rounded once, so the result is the
 * nearly exactly rounded dot of the dequantized weights with the
 * dequantized activations. (For Q4_K / Q5_K "dequantized" means the affine
 * form d*sc*q - dmin*m in exact arithmetic; the format rounds each such
 * weight to float, a difference of at most half an ulp per weight.)
 * SIMD kernels compute the same integer sums, bit for bit, and differ only
 * in how they round the float accumulation.
 */
#include <math.h>
#include <string.h>

#include "base/half.h"
#include "kernels/dispatch.h"
#include "kernels/kquants.h"

/* ---- Q8 activations ---- */

/* roundf, clamped; NaN (non-finite input only) gives 0. */
static int8_t act_round(float v) {
    float r = roundf(v);
    if (!(r == r)) return 0;
    if (r > 127.0f) return 127;
    if (r < -127.0f) return -127;
    return (int8_t)r;
}

/* Quantizes block k (0..3) of group g from 32 values x; returns d. */
static float act_block(act_q8_group *g, int k, const float *x) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) {
        int8_t q = act_round(x[j] * id);
        if (j < 16)
            g->lo[16 * k + j] = q;
        else
            g->hi[16 * k + j - 16] = q;
        g->nsum[4 * k + j / 16] -= q; /* zeroed by prep_q8 */
    }
    for (int l = 0; l < 4; l++) g->d[4 * k + l] = d;
    return d;
}

static void prep_q8(void *act, const float *x, int n) {
    act_q8_unit *u = act;
    int nb = n / 32;
    for (int i = 0; i < (nb + 15) / 16; i++) {
        memset(&u[i], 0, sizeof u[i]);
        for (int b = 0; b < 16 && 16 * i + b < nb; b++) {
            act_q8_group *g = &u[i].g[b / 4];
            u[i].d[b] = act_block(g, b % 4, x + 32 * (16 * i + b));
            u[i].nsum[b] = g->nsum[4 * (b % 4)] + g->nsum[4 * (b % 4) + 1];
        }
    }
}

/* The q of element j (0..31) of block b of a prepared row. */
static int act_q(const void *a, int b, int j) {
    const act_q8_group *g = act_group(a, b / 4);
    int k = b % 4;
    return j < 16 ? g->lo[16 * k + j] : g->hi[16 * k + j - 16];
}

static float act_d(const void *a, int b) { return act_group(a, b / 4)->d[4 * (b % 4)]; }

/* ---- dots against Q8 activations ---- */

static float dot_q8_0(const void *row, const void *a, int n) {
    const block_q8_0 *w = row;
    double sum = 0.0;
    for (int b = 0; b < n / 32; b++) {
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += w[b].qs[j] * act_q(a, b, j);
        sum += (double)half_to_f32(w[b].d) * (double)act_d(a, b) * (double)isum;
    }
    return (float)sum;
}

static float dot_q4_0(const void *row, const void *a, int n) {
    const block_q4_0 *w = row;
    double sum = 0.0;
    for (int b = 0; b < n / 32; b++) {
        int32_t isum = 0;
        for (int j = 0; j < 16; j++) {
            isum += ((w[b].qs[j] & 15) - 8) * act_q(a, b, j);
            isum += ((w[b].qs[j] >> 4) - 8) * act_q(a, b, j + 16);
        }
        sum += (double)half_to_f32(w[b].d) * (double)act_d(a, b) * (double)isum;
    }
    return (float)sum;
}

/* ---- K-quants against Q8 activations (layouts in kquants.h) ---- */

/* q (0..15, resp. 0..31) of element e of a Q4_K / Q5_K superblock. */
static int q4_K_q(const uint8_t *qs, int e) {
    return (qs[32 * (e / 64) + e % 32] >> (e % 64 < 32 ? 0 : 4)) & 15;
}

static int q5_K_q(const block_q5_K *b, int e) {
    return q4_K_q(b->qs, e) | ((b->qh[e % 32] >> (e / 32)) & 1) << 4;
}

/* q (0..63) of element e of a Q6_K superblock; its value is d*scale*(q-32). */
static int q6_K_q(const block_q6_K *b, int e) {
    int h = e / 128, k = (e % 128) / 32, l = e % 32;
    int low = (b->ql[64 * h + 32 * (k % 2) + l] >> (k < 2 ? 0 : 4)) & 15;
    return low | ((b->qh[32 * h + l] >> (2 * k)) & 3) << 4;
}

/* Q4_K / Q5_K sub-block j of superblock i (activation block 8i+j):
 * d*sc*dx*sum(q*qx) - dmin*m*dx*sum(qx), the affine form of the weights. */
static double sub45(uint16_t dh, uint16_t mh, const uint8_t *scales, const int *q, const void *a,
                    int blk, int j) {
    uint8_t sc, m;
    kq_scale_min(scales, j, &sc, &m);
    int32_t isum = 0, xsum = 0;
    for (int l = 0; l < 32; l++) {
        isum += q[l] * act_q(a, blk, l);
        xsum += act_q(a, blk, l);
    }
    double dx = act_d(a, blk);
    return (double)half_to_f32(dh) * sc * dx * isum - (double)half_to_f32(mh) * m * dx * xsum;
}

static float dot_q4_K(const void *row, const void *a, int n) {
    const block_q4_K *w = row;
    double sum = 0.0;
    for (int i = 0; i < n / QK_K; i++)
        for (int j = 0; j < 8; j++) {
            int q[32];
            for (int l = 0; l < 32; l++) q[l] = q4_K_q(w[i].qs, 32 * j + l);
            sum += sub45(w[i].d, w[i].dmin, w[i].scales, q, a, 8 * i + j, j);
        }
    return (float)sum;
}

static float dot_q5_K(const void *row, const void *a, int n) {
    const block_q5_K *w = row;
    double sum = 0.0;
    for (int i = 0; i < n / QK_K; i++)
        for (int j = 0; j < 8; j++) {
            int q[32];
            for (int l = 0; l < 32; l++) q[l] = q5_K_q(&w[i], 32 * j + l);
            sum += sub45(w[i].d, w[i].dmin, w[i].scales, q, a, 8 * i + j, j);
        }
    return (float)sum;
}

/* Q6_K: scales per 16 elements, two per activation block. */
static float dot_q6_K(const void *row, const void *a, int n) {
    const block_q6_K *w = row;
    double sum = 0.0;
    for (int i = 0; i < n / QK_K; i++) {
        double d = half_to_f32(w[i].d);
        for (int s = 0; s < 16; s++) {
            int blk = 8 * i + s / 2;
            int32_t isum = 0;
            for (int l = 0; l < 16; l++) {
                int e = 16 * s + l;
                isum += (q6_K_q(&w[i], e) - 32) * act_q(a, blk, e % 32);
            }
            sum += d * w[i].scales[s] * act_d(a, blk) * isum;
        }
    }
    return (float)sum;
}

/* ---- gemm: every (row, token) pair, one dot each ---- */

#define GEMM_LOOP(DOT, ACT_T)                                                                      \
    for (int r = 0; r < nr; r++) {                                                                 \
        const uint8_t *row = (const uint8_t *)w + (size_t)r * row_bytes;                           \
        for (int t = 0; t < nt; t++)                                                               \
            y[(size_t)t * ldy + r] =                                                               \
                DOT(row, (const ACT_T *)((const uint8_t *)act + t * act_bytes), n);                \
    }

static void gemm_q8_0(float *y, size_t ldy, const void *w, size_t row_bytes, const void *act,
                      size_t act_bytes, int n, int nr, int nt) {
    GEMM_LOOP(dot_q8_0, void)
}

static void gemm_q4_0(float *y, size_t ldy, const void *w, size_t row_bytes, const void *act,
                      size_t act_bytes, int n, int nr, int nt) {
    GEMM_LOOP(dot_q4_0, void)
}

static void gemm_q4_K(float *y, size_t ldy, const void *w, size_t row_bytes, const void *act,
                      size_t act_bytes, int n, int nr, int nt) {
    GEMM_LOOP(dot_q4_K, void)
}

static void gemm_q5_K(float *y, size_t ldy, const void *w, size_t row_bytes, const void *act,
                      size_t act_bytes, int n, int nr, int nt) {
    GEMM_LOOP(dot_q5_K, void)
}

static void gemm_q6_K(float *y, size_t ldy, const void *w, size_t row_bytes, const void *act,
                      size_t act_bytes, int n, int nr, int nt) {
    GEMM_LOOP(dot_q6_K, void)
}

/* The reference dot of any type with f32 activations. */
static void gemm_any(float *y, size_t ldy, const void *w, size_t row_bytes, const void *act,
                     size_t act_bytes, int n, int nr, int nt, type_dot_f32_fn dot) {
    GEMM_LOOP(dot, float)
}

static void gemm_f32(float *y, size_t ldy, const void *w, size_t rb, const void *act, size_t ab,
                     int n, int nr, int nt) {
    gemm_any(y, ldy, w, rb, act, ab, n, nr, nt, type_get(TYPE_F32)->dot_f32);
}

static void gemm_f16(float *y, size_t ldy, const void *w, size_t rb, const void *act, size_t ab,
                     int n, int nr, int nt) {
    gemm_any(y, ldy, w, rb, act, ab, n, nr, nt, type_get(TYPE_F16)->dot_f32);
}

static void gemm_bf16(float *y, size_t ldy, const void *w, size_t rb, const void *act, size_t ab,
                      int n, int nr, int nt) {
    gemm_any(y, ldy, w, rb, act, ab, n, nr, nt, type_get(TYPE_BF16)->dot_f32);
}

/* Types without an entry here are computed by op_matmul with their
 * reference dot (types.h) on f32 activations. */
const kern_ops kern_scalar = {
    .name = "scalar",
    .prep_q8 = prep_q8,
    .gemm =
        {
            [TYPE_F32] = gemm_f32,
            [TYPE_F16] = gemm_f16,
            [TYPE_BF16] = gemm_bf16,
            [TYPE_Q8_0] = gemm_q8_0,
            [TYPE_Q4_0] = gemm_q4_0,
            [TYPE_Q4_K] = gemm_q4_K,
            [TYPE_Q5_K] = gemm_q5_K,
            [TYPE_Q6_K] = gemm_q6_K,
        },
};
