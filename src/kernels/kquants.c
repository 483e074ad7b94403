/*
 * kquants.c - scalar reference code for the K-quants Q4_K, Q5_K and Q6_K
 * (layouts in kquants.h): the ground truth for SIMD kernels, and penny's
 * own quantizer for them.
 *
 * Dequantization follows the format's float operations exactly, so files
 * quantized by any GGUF tool decode to that tool's values. Each block goes
 * through an unpacked form (one q per element, plain scale arrays) so that
 * the bit layout is written down in exactly one pack and one unpack
 * function per type.
 *
 * Quantization minimises the plain squared error in three stages:
 *  1. each sub-block gets a float (scale, min) by trying a spread of grid
 *     steps around range/levels and refitting each by least squares, then
 *     polishing the best by alternating rounding and refitting;
 *  2. the superblock scales d (and dmin) come from the largest sub-block
 *     values, and every sub-block picks the best integer scale (and min)
 *     among the neighbours of its float target, with its q rounded for
 *     exactly the values the decoder will compute (f16 d included);
 *  3. d and dmin are refit by least squares over the whole superblock for
 *     those integers and stage 2 is repeated while the error drops.
 * The search is deterministic: the same floats give the same bytes.
 */
#include "kernels/kquants.h"

#include <math.h>
#include <string.h>

#include "base/half.h"

enum { N_SUB45 = 8, SUB45 = 32, N_SUB6 = 16, SUB6 = 16 };

/* Steps tried around range/levels in stage 1: levels + k*FIT_STEP. */
#define FIT_STEPS 10
#define FIT_STEP 0.1f
/* Rounds of stage 3 (refit d, re-pick integers) at most. */
#define REFIT_ROUNDS 3

/* Nearest integer to v within [0, hi] (ties up); NaN gives 0. Written
 * without branches: these run in the quantizers' innermost loops. */
static int round_clamp(float v, int hi) {
    v = v > 0.0f ? v : 0.0f;
    v = v < (float)hi ? v : (float)hi;
    return (int)(v + 0.5f);
}

/* f16 of a non-negative (or any finite) scale, saturating instead of inf. */
static uint16_t scale_half(float v) {
    if (v > 65504.0f) v = 65504.0f;
    if (v < -65504.0f) v = -65504.0f;
    return half_from_f32(v);
}

/* ---- packing: the only place that knows where bits live ---- */

static void unpack_scales(const uint8_t *bytes, uint8_t *sc, uint8_t *m) {
    for (int j = 0; j < N_SUB45; j++) kq_scale_min(bytes, j, &sc[j], &m[j]);
}

static void pack_scales(uint8_t *bytes, const uint8_t *sc, const uint8_t *m) {
    for (int j = 0; j < 4; j++) {
        bytes[j] = (uint8_t)((sc[j] & 63) | (sc[j + 4] >> 4) << 6);
        bytes[j + 4] = (uint8_t)((m[j] & 63) | (m[j + 4] >> 4) << 6);
        bytes[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

/* Low four bits of q: element 64c+l in the low nibble of qs[32c+l],
 * element 64c+32+l in its high nibble. */
static void unpack_nibbles(const uint8_t *qs, uint8_t *q) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = qs[32 * c + l] & 15;
            q[64 * c + 32 + l] = qs[32 * c + l] >> 4;
        }
}

static void pack_nibbles(uint8_t *qs, const uint8_t *q) {
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            qs[32 * c + l] = (uint8_t)((q[64 * c + l] & 15) | (q[64 * c + 32 + l] & 15) << 4);
}

/* Q5_K bit 4 of element e: bit e/32 of qh[e%32]. */
static void unpack_q5(const block_q5_K *b, uint8_t *q) {
    unpack_nibbles(b->qs, q);
    for (int e = 0; e < QK_K; e++) q[e] |= (uint8_t)(((b->qh[e % 32] >> (e / 32)) & 1) << 4);
}

static void pack_q5(block_q5_K *b, const uint8_t *q) {
    pack_nibbles(b->qs, q);
    memset(b->qh, 0, sizeof b->qh);
    for (int e = 0; e < QK_K; e++) b->qh[e % 32] |= (uint8_t)(((q[e] >> 4) & 1) << (e / 32));
}

/* Q6_K element e, h = e/128, k = (e%128)/32, l = e%32: low nibble (k < 2)
 * or high nibble (k >= 2) of ql[64h + 32(k%2) + l], top bits 2k..2k+1 of
 * qh[32h + l]. */
static void unpack_q6(const block_q6_K *b, uint8_t *q) {
    for (int e = 0; e < QK_K; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        uint8_t lo = b->ql[64 * h + 32 * (k % 2) + l];
        lo = k < 2 ? lo & 15 : lo >> 4;
        q[e] = (uint8_t)(lo | ((b->qh[32 * h + l] >> (2 * k)) & 3) << 4);
    }
}

static void pack_q6(block_q6_K *b, const uint8_t *q) {
    memset(b->ql, 0, sizeof b->ql);
    memset(b->qh, 0, sizeof b->qh);
    for (int e = 0; e < QK_K; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32;
        b->ql[64 * h + 32 * (k % 2) + l] |= (uint8_t)((q[e] & 15) << (k < 2 ? 0 : 4));
        b->qh[32 * h + l] |= (uint8_t)(((q[e] >> 4) & 3) << (2 * k));
    }
}

/* ---- dequantization ---- */

/* Q4_K/Q5_K values: (d*sc)*q - dmin*m, each product exact in float. */
static void q45_values(uint16_t dh, uint16_t mh, const uint8_t *scales, const uint8_t *q,
                       float *y) {
    float d = half_to_f32(dh), dmin = half_to_f32(mh);
    uint8_t sc[N_SUB45], m[N_SUB45];
    unpack_scales(scales, sc, m);
    for (int j = 0; j < N_SUB45; j++) {
        float s = d * (float)sc[j];
        float mn = dmin * (float)m[j];
        for (int i = 0; i < SUB45; i++) y[SUB45 * j + i] = s * (float)q[SUB45 * j + i] - mn;
    }
}

static void q4_block_values(const block_q4_K *b, float *y) {
    uint8_t q[QK_K];
    unpack_nibbles(b->qs, q);
    q45_values(b->d, b->dmin, b->scales, q, y);
}

static void q5_block_values(const block_q5_K *b, float *y) {
    uint8_t q[QK_K];
    unpack_q5(b, q);
    q45_values(b->d, b->dmin, b->scales, q, y);
}

/* Q6_K values: d*scale*(q-32), exact in float (at most 23 significant bits). */
static void q6_block_values(const block_q6_K *b, float *y) {
    uint8_t q[QK_K];
    unpack_q6(b, q);
    float d = half_to_f32(b->d);
    for (int e = 0; e < QK_K; e++) y[e] = d * (float)b->scales[e / SUB6] * (float)(q[e] - 32);
}

void ref_q4_K_to_f32(const void *src, float *dst, int64_t n) {
    const block_q4_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) q4_block_values(&b[i], dst + i * QK_K);
}

void ref_q5_K_to_f32(const void *src, float *dst, int64_t n) {
    const block_q5_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) q5_block_values(&b[i], dst + i * QK_K);
}

void ref_q6_K_to_f32(const void *src, float *dst, int64_t n) {
    const block_q6_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++) q6_block_values(&b[i], dst + i * QK_K);
}

/* ---- dot products: exact dequantized weights, double accumulation ---- */

static double dot_block(const float *w, const float *x) {
    double s = 0.0;
    for (int e = 0; e < QK_K; e++) s += (double)w[e] * (double)x[e];
    return s;
}

float ref_q4_K_dot(const void *row, const float *x, int64_t n) {
    const block_q4_K *b = row;
    float w[QK_K];
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        q4_block_values(&b[i], w);
        sum += dot_block(w, x + i * QK_K);
    }
    return (float)sum;
}

float ref_q5_K_dot(const void *row, const float *x, int64_t n) {
    const block_q5_K *b = row;
    float w[QK_K];
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        q5_block_values(&b[i], w);
        sum += dot_block(w, x + i * QK_K);
    }
    return (float)sum;
}

float ref_q6_K_dot(const void *row, const float *x, int64_t n) {
    const block_q6_K *b = row;
    float w[QK_K];
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        q6_block_values(&b[i], w);
        sum += dot_block(w, x + i * QK_K);
    }
    return (float)sum;
}

/* ---- stage 1, affine sub-blocks (Q4_K, Q5_K): x ~ s*q + b, b <= 0 ---- */

typedef struct affine {
    float s, b;
    double err; /* squared error of the fit for the q it was made from */
} affine;

static void affine_assign(const float *x, int n, int nmax, float s, float b, uint8_t *q) {
    float is = s > 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < n; i++) q[i] = (uint8_t)round_clamp((x[i] - b) * is, nmax);
}

/* Least-squares s >= 0, b <= 0 for fixed q. The format's offset is -dmin*m
 * with m >= 0, so a sub-block's grid always reaches down to 0 or below. */
static affine affine_refit(const float *x, const uint8_t *q, int n) {
    double sq = 0, sqq = 0, sx = 0, sqx = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        double qi = q[i], xi = x[i];
        sq += qi, sqq += qi * qi, sx += xi, sqx += qi * xi, sxx += xi * xi;
    }
    double det = n * sqq - sq * sq, s = 0.0, b = sx / n;
    if (det > 0) {
        s = (n * sqx - sq * sx) / det;
        b = (sqq * sx - sq * sqx) / det;
    }
    if (b > 0) b = 0, s = sqq > 0 ? sqx / sqq : 0.0;
    if (s < 0) s = 0, b = fmin(0.0, sx / n);
    double err = sxx - 2 * s * sqx - 2 * b * sx + s * s * sqq + 2 * s * b * sq + n * b * b;
    return (affine){(float)s, (float)b, err};
}

static affine fit_affine(const float *x, int n, int nmax) {
    float lo = 0.0f, hi = x[0];
    for (int i = 0; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    if (!(hi > lo)) return (affine){0.0f, lo, 0.0};
    uint8_t q[SUB45];
    affine best = {0.0f, 0.0f, INFINITY};
    for (int k = -FIT_STEPS; k <= FIT_STEPS; k++) {
        affine_assign(x, n, nmax, (hi - lo) / ((float)nmax + (float)k * FIT_STEP), lo, q);
        affine f = affine_refit(x, q, n);
        if (f.err < best.err) best = f;
    }
    for (int it = 0; it < 4; it++) { /* each round can only lower the error */
        affine_assign(x, n, nmax, best.s, best.b, q);
        affine f = affine_refit(x, q, n);
        if (!(f.err < best.err)) break;
        best = f;
    }
    return best;
}

/* ---- stages 2 and 3 for Q4_K and Q5_K ---- */

typedef struct kblock45 {
    uint16_t d, dmin;
    uint8_t sc[N_SUB45], m[N_SUB45];
    uint8_t q[QK_K];
} kblock45;

/* Error of sub-block x for integers (sc, m) and the decoder's values;
 * writes the rounded q. */
static double sub45_error(const float *x, int nmax, float d, float dmin, int sc, int m,
                          uint8_t *q) {
    float s = d * (float)sc, mn = dmin * (float)m;
    float is = s > 0.0f ? 1.0f / s : 0.0f;
    double err = 0.0;
    for (int i = 0; i < SUB45; i++) {
        q[i] = (uint8_t)round_clamp((x[i] + mn) * is, nmax); /* is = 0: q = 0 */
        double e = (double)x[i] - (double)(s * (float)q[i] - mn);
        err += e * e;
    }
    return err;
}

/* Best (sc, m) for sub-block j among the neighbours of the float target. */
static double sub45_pick(const float *x, int nmax, float d, float dmin, affine f, kblock45 *kb,
                         int j) {
    int c_sc = d > 0.0f ? round_clamp(f.s / d, 63) : 0;
    int c_m = dmin > 0.0f ? round_clamp(-f.b / dmin, 63) : 0;
    uint8_t q[SUB45];
    double best = INFINITY;
    for (int sc = c_sc - 1; sc <= c_sc + 1; sc++)
        for (int m = c_m - 1; m <= c_m + 1; m++) {
            if (sc < 0 || sc > 63 || m < 0 || m > 63) continue;
            double e = sub45_error(x, nmax, d, dmin, sc, m, q);
            if (e < best) {
                best = e;
                kb->sc[j] = (uint8_t)sc, kb->m[j] = (uint8_t)m;
                memcpy(kb->q + SUB45 * j, q, SUB45);
            }
        }
    return best;
}

/* Least-squares d, dmin for the block's integers: x ~ d*(sc*q) - dmin*m.
 * Returns 0 and updates *d, *dmin when the fit is usable. */
static int refit_d_dmin(const float *x, const kblock45 *kb, float *d, float *dmin) {
    double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
    for (int e = 0; e < QK_K; e++) {
        double a = (double)kb->sc[e / SUB45] * kb->q[e], b = kb->m[e / SUB45];
        saa += a * a, sab += a * b, sbb += b * b, sax += a * x[e], sbx += b * x[e];
    }
    if (!(saa > 0)) return -1;
    double det = saa * sbb - sab * sab, nd = sax / saa, nm = 0.0;
    if (sbb > 0 && det > 1e-9 * saa * sbb) {
        nd = (sax * sbb - sab * sbx) / det;
        nm = (sab * sax - saa * sbx) / det;
        if (nm < 0) nd = sax / saa, nm = 0.0;
    }
    if (!(nd > 0)) return -1;
    *d = (float)nd, *dmin = sbb > 0 ? (float)nm : *dmin;
    return 0;
}

static double q45_assign(const float *x, int nmax, const affine *f, kblock45 *kb) {
    float d = half_to_f32(kb->d), dmin = half_to_f32(kb->dmin);
    double err = 0.0;
    for (int j = 0; j < N_SUB45; j++) err += sub45_pick(x + SUB45 * j, nmax, d, dmin, f[j], kb, j);
    return err;
}

static void q45_quantize(const float *x, int nmax, kblock45 *out) {
    affine f[N_SUB45];
    float maxs = 0.0f, maxm = 0.0f;
    for (int j = 0; j < N_SUB45; j++) {
        f[j] = fit_affine(x + SUB45 * j, SUB45, nmax);
        if (f[j].s > maxs) maxs = f[j].s;
        if (-f[j].b > maxm) maxm = -f[j].b;
    }
    float d = maxs / 63.0f, dmin = maxm / 63.0f;
    double best = INFINITY;
    for (int round = 0; round < REFIT_ROUNDS; round++) {
        kblock45 kb;
        kb.d = scale_half(d), kb.dmin = scale_half(dmin);
        double err = q45_assign(x, nmax, f, &kb);
        if (!(err < best)) break;
        best = err, *out = kb;
        if (refit_d_dmin(x, &kb, &d, &dmin)) break;
    }
    if (best == INFINITY) memset(out, 0, sizeof *out); /* NaN input */
}

void ref_q4_K_from_f32(const float *src, void *dst, int64_t n) {
    block_q4_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        kblock45 kb;
        q45_quantize(src + i * QK_K, 15, &kb);
        b[i].d = kb.d, b[i].dmin = kb.dmin;
        pack_scales(b[i].scales, kb.sc, kb.m);
        pack_nibbles(b[i].qs, kb.q);
    }
}

void ref_q5_K_from_f32(const float *src, void *dst, int64_t n) {
    block_q5_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        kblock45 kb;
        q45_quantize(src + i * QK_K, 31, &kb);
        b[i].d = kb.d, b[i].dmin = kb.dmin;
        pack_scales(b[i].scales, kb.sc, kb.m);
        pack_q5(&b[i], kb.q);
    }
}

/* ---- Q6_K: symmetric sub-blocks x ~ s*q, q in [-32, 31] ---- */

typedef struct sym {
    float s;
    double err;
} sym;

static void sym_assign(const float *x, int n, float s, int8_t *q) {
    float is = s != 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < n; i++) q[i] = (int8_t)(round_clamp(x[i] * is + 32.0f, 63) - 32);
}

static sym sym_refit(const float *x, const int8_t *q, int n) {
    double sqq = 0, sqx = 0, sxx = 0;
    for (int i = 0; i < n; i++)
        sqq += (double)q[i] * q[i], sqx += (double)q[i] * x[i], sxx += (double)x[i] * x[i];
    double s = sqq > 0 ? sqx / sqq : 0.0;
    return (sym){(float)s, sxx - s * sqx};
}

/* The largest |x| goes near -32 or near +31; the better grid wins. */
static sym fit_sym(const float *x, int n) {
    float amax = 0.0f, xm = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), xm = x[i];
    if (!(amax > 0.0f)) return (sym){0.0f, 0.0};
    int8_t q[SUB6];
    sym best = {0.0f, INFINITY};
    for (int k = -FIT_STEPS; k <= FIT_STEPS; k++) {
        float t[2] = {-xm / (32.0f + (float)k * FIT_STEP), xm / (31.0f + (float)k * FIT_STEP)};
        for (int side = 0; side < 2; side++) {
            sym_assign(x, n, t[side], q);
            sym f = sym_refit(x, q, n);
            if (f.err < best.err) best = f;
        }
    }
    for (int it = 0; it < 4; it++) {
        sym_assign(x, n, best.s, q);
        sym f = sym_refit(x, q, n);
        if (!(f.err < best.err)) break;
        best = f;
    }
    return best;
}

typedef struct kblock6 {
    uint16_t d;
    int8_t sc[N_SUB6];
    int8_t q[QK_K]; /* -32..31 */
} kblock6;

static double sub6_error(const float *x, float d, int sc, int8_t *q) {
    float s = d * (float)sc;
    float is = s != 0.0f ? 1.0f / s : 0.0f;
    double err = 0.0;
    for (int i = 0; i < SUB6; i++) {
        q[i] = (int8_t)(round_clamp(x[i] * is + 32.0f, 63) - 32);
        double e = (double)x[i] - (double)(s * (float)q[i]);
        err += e * e;
    }
    return err;
}

static double sub6_pick(const float *x, float d, float target, kblock6 *kb, int j) {
    int c = d != 0.0f ? round_clamp(target / d + 128.0f, 255) - 128 : 0;
    int8_t q[SUB6];
    double best = INFINITY;
    for (int sc = c - 1; sc <= c + 1; sc++) {
        if (sc < -128 || sc > 127) continue;
        double e = sub6_error(x, d, sc, q);
        if (e < best) {
            best = e, kb->sc[j] = (int8_t)sc;
            memcpy(kb->q + SUB6 * j, q, SUB6);
        }
    }
    return best;
}

static int refit_d6(const float *x, const kblock6 *kb, float *d) {
    double saa = 0, sax = 0;
    for (int e = 0; e < QK_K; e++) {
        double a = (double)kb->sc[e / SUB6] * kb->q[e];
        saa += a * a, sax += a * x[e];
    }
    if (!(saa > 0)) return -1;
    *d = (float)(sax / saa);
    return 0;
}

static void q6_quantize(const float *x, kblock6 *out) {
    sym f[N_SUB6];
    float smax = 0.0f;
    for (int j = 0; j < N_SUB6; j++) {
        f[j] = fit_sym(x + SUB6 * j, SUB6);
        if (fabsf(f[j].s) > fabsf(smax)) smax = f[j].s;
    }
    float d = smax / -128.0f; /* the widest sub-block gets scale -128 */
    double best = INFINITY;
    for (int round = 0; round < REFIT_ROUNDS; round++) {
        kblock6 kb;
        kb.d = scale_half(d);
        float dh = half_to_f32(kb.d);
        double err = 0.0;
        for (int j = 0; j < N_SUB6; j++) err += sub6_pick(x + SUB6 * j, dh, f[j].s, &kb, j);
        if (!(err < best)) break;
        best = err, *out = kb;
        if (refit_d6(x, &kb, &d)) break;
    }
    if (best == INFINITY) memset(out, 0, sizeof *out);
}

void ref_q6_K_from_f32(const float *src, void *dst, int64_t n) {
    block_q6_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        kblock6 kb;
        uint8_t q[QK_K];
        q6_quantize(src + i * QK_K, &kb);
        for (int e = 0; e < QK_K; e++) q[e] = (uint8_t)(kb.q[e] + 32);
        b[i].d = kb.d;
        memcpy(b[i].scales, kb.sc, sizeof b[i].scales);
        pack_q6(&b[i], q);
    }
}
