/*
 * attn.c - tiled attention with an online softmax over an F32, F16 or Q8_0
 * KV cache (see attn.h), in scalar C, AVX2+FMA+F16C and AVX-512.
 *
 * One driver (attn_exec) walks the keys in tiles of ATTN_TILE positions;
 * the work inside a tile goes through a small table of steps, one table
 * per instruction set, each step with the same contract as its scalar
 * version (which the tests check the others against):
 *   load    cached vectors of the tile -> f32 rows padded to 32 floats
 *   scores  S = Q K^T for the block of queries (q already scaled)
 *   max / exp_sum   the online-softmax update of one query's scores
 *   accum   O = O * c + P V for the block of queries
 * Queries are padded to a multiple of 4 (except a single query, which has
 * its own one-row steps: one-token decoding of multi-head attention) and
 * keys to a multiple of 4 with zero rows, so the vector steps only handle
 * full register blocks.
 */
#include "kernels/attn.h"

#include <math.h>
#include <string.h>

#include "base/half.h"
#include "kernels/types.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

typedef struct attn_impl {
    /* one cached vector (dim elements of `type`) -> dimp floats, zero-padded */
    void (*load_row)(float *dst, const void *src, uint32_t type, int dim, int dimp);
    /* s[i*ATTN_TILE + j] = q_i . k_j, i < nq4 (1 or a multiple of 4), j < nt4;
     * rows of dkp floats */
    void (*scores)(float *s, const float *q, int nq4, const float *k, int nt4, int dkp);
    float (*max)(const float *p, int n);
    /* p[j] = exp(p[j] - m) for j < n; returns their sum */
    float (*exp_sum)(float *p, int n, float m);
    /* o_i = o_i * c_i + sum_{j<nt} p[i*ATTN_TILE + j] v_j, i < nq4; v rows ldv apart */
    void (*accum)(float *o, const float *p, int nq4, const float *c, const float *v, int ldv,
                  int nt, int dvp);
} attn_impl;

static int pad32(int n) { return (n + 31) & ~31; }
static int pad4(int n) { return (n + 3) & ~3; }

size_t attn_row_bytes(uint32_t type, int dim) {
    switch (type) {
    case TYPE_F16: return (size_t)dim * 2;
    case TYPE_Q8_0: return (size_t)(dim + QK8_0 - 1) / QK8_0 * sizeof(block_q8_0);
    default: return (size_t)dim * 4;
    }
}

void attn_store(void *dst, uint32_t type, const float *x, int dim) {
    if (type == TYPE_F32) {
        memcpy(dst, x, sizeof(float) * (size_t)dim);
    } else if (type == TYPE_F16) {
        uint16_t *h = dst;
        for (int i = 0; i < dim; i++) h[i] = half_from_f32(x[i]);
    } else {
        const type_traits *tt = type_get(TYPE_Q8_0);
        block_q8_0 *b = dst;
        for (int i = 0; i < dim; i += QK8_0) {
            float blk[QK8_0] = {0};
            int n = dim - i < QK8_0 ? dim - i : QK8_0;
            memcpy(blk, x + i, sizeof(float) * (size_t)n);
            tt->from_f32(blk, b++, QK8_0);
        }
    }
}

size_t attn_scratch_floats(int dk, int dv) {
    size_t dkp = (size_t)pad32(dk), dvp = (size_t)pad32(dv);
    return ATTN_QMAX * dkp + ATTN_TILE * dkp + ATTN_TILE * dvp + ATTN_QMAX * ATTN_TILE +
           ATTN_QMAX * dvp + 3 * ATTN_QMAX;
}

/* ---- scalar ---- */

static void load_row_scalar(float *dst, const void *src, uint32_t type, int dim, int dimp) {
    if (type == TYPE_F32) {
        memcpy(dst, src, sizeof(float) * (size_t)dim);
    } else if (type == TYPE_F16) {
        const uint16_t *h = src;
        for (int i = 0; i < dim; i++) dst[i] = half_to_f32(h[i]);
    } else {
        const block_q8_0 *b = src;
        for (int i = 0; i < dim; i += QK8_0, b++) {
            float d = half_to_f32(b->d);
            for (int j = 0; j < QK8_0; j++) dst[i + j] = d * (float)b->qs[j];
        }
        return; /* whole blocks fill dimp, padding included */
    }
    memset(dst + dim, 0, sizeof(float) * (size_t)(dimp - dim));
}

static void scores_scalar(float *s, const float *q, int nq4, const float *k, int nt4, int dkp) {
    for (int i = 0; i < nq4; i++)
        for (int j = 0; j < nt4; j++) {
            float acc = 0.0f;
            for (int d = 0; d < dkp; d++) acc += q[(size_t)i * dkp + d] * k[(size_t)j * dkp + d];
            s[i * ATTN_TILE + j] = acc;
        }
}

static float max_scalar(const float *p, int n) {
    float m = p[0];
    for (int i = 1; i < n; i++) m = p[i] > m ? p[i] : m;
    return m;
}

static float exp_sum_scalar(float *p, int n, float m) {
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += p[i] = expf(p[i] - m);
    return sum;
}

static void accum_scalar(float *o, const float *p, int nq4, const float *c, const float *v, int ldv,
                         int nt, int dvp) {
    for (int i = 0; i < nq4; i++) {
        float *oi = o + (size_t)i * dvp;
        for (int d = 0; d < dvp; d++) oi[d] *= c[i];
        for (int j = 0; j < nt; j++) {
            float pj = p[i * ATTN_TILE + j];
            const float *vj = v + (size_t)j * ldv;
            for (int d = 0; d < dvp; d++) oi[d] += pj * vj[d];
        }
    }
}

static const attn_impl impl_scalar = {load_row_scalar, scores_scalar, max_scalar, exp_sum_scalar,
                                      accum_scalar};

/* ---- AVX2 + FMA + F16C ---- */

#if defined(__x86_64__)
#define TGT2 __attribute__((target("avx2,fma,f16c")))

static TGT2 void load_row_avx2(float *dst, const void *src, uint32_t type, int dim, int dimp) {
    int i = 0;
    if (type == TYPE_F16) {
        const uint16_t *h = src;
        for (; i + 8 <= dim; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
        for (; i < dim; i++) dst[i] = half_to_f32(h[i]);
    } else if (type == TYPE_Q8_0) {
        const block_q8_0 *b = src;
        for (; i < dim; i += QK8_0, b++) {
            __m256 d = _mm256_set1_ps(half_to_f32(b->d));
            for (int j = 0; j < QK8_0; j += 8) {
                __m128i q8 = _mm_loadl_epi64((const __m128i *)(b->qs + j));
                __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
                _mm256_storeu_ps(dst + i + j, _mm256_mul_ps(d, f));
            }
        }
        return;
    } else {
        memcpy(dst, src, sizeof(float) * (size_t)dim);
        i = dim;
    }
    for (; i < dimp; i++) dst[i] = 0.0f;
}

/* [sum a, sum b, sum c, sum d] */
static TGT2 __m128 hsum4_avx2(__m256 a, __m256 b, __m256 c, __m256 d) {
    __m256 ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));
    __m256 cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));
    __m256d x = _mm256_castps_pd(ab), y = _mm256_castps_pd(cd);
    __m256 s = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(x, y)),
                             _mm256_castpd_ps(_mm256_unpackhi_pd(x, y)));
    return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

/* One query x 4 keys. */
static TGT2 void scores1_avx2(float *s, const float *q, const float *k, int nt4, int dkp) {
    for (int j = 0; j < nt4; j += 4) {
        const float *k0 = k + (size_t)j * dkp, *k1 = k0 + dkp, *k2 = k1 + dkp, *k3 = k2 + dkp;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < dkp; d += 8) {
            __m256 x = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(k0 + d), a0);
            a1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(k1 + d), a1);
            a2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(k2 + d), a2);
            a3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(k3 + d), a3);
        }
        _mm_storeu_ps(s + j, hsum4_avx2(a0, a1, a2, a3));
    }
}

/* Blocks of 2 queries x 4 keys: 8 accumulators. */
static TGT2 void scores_avx2(float *s, const float *q, int nq4, const float *k, int nt4, int dkp) {
    if (nq4 == 1) {
        scores1_avx2(s, q, k, nt4, dkp);
        return;
    }
    for (int i = 0; i < nq4; i += 2)
        for (int j = 0; j < nt4; j += 4) {
            const float *q0 = q + (size_t)i * dkp, *q1 = q0 + dkp;
            const float *k0 = k + (size_t)j * dkp, *k1 = k0 + dkp, *k2 = k1 + dkp, *k3 = k2 + dkp;
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
            __m256 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            for (int d = 0; d < dkp; d += 8) {
                __m256 x0 = _mm256_loadu_ps(q0 + d), x1 = _mm256_loadu_ps(q1 + d);
                __m256 y = _mm256_loadu_ps(k0 + d);
                a00 = _mm256_fmadd_ps(x0, y, a00), a10 = _mm256_fmadd_ps(x1, y, a10);
                y = _mm256_loadu_ps(k1 + d);
                a01 = _mm256_fmadd_ps(x0, y, a01), a11 = _mm256_fmadd_ps(x1, y, a11);
                y = _mm256_loadu_ps(k2 + d);
                a02 = _mm256_fmadd_ps(x0, y, a02), a12 = _mm256_fmadd_ps(x1, y, a12);
                y = _mm256_loadu_ps(k3 + d);
                a03 = _mm256_fmadd_ps(x0, y, a03), a13 = _mm256_fmadd_ps(x1, y, a13);
            }
            _mm_storeu_ps(s + i * ATTN_TILE + j, hsum4_avx2(a00, a01, a02, a03));
            _mm_storeu_ps(s + (i + 1) * ATTN_TILE + j, hsum4_avx2(a10, a11, a12, a13));
        }
}

/* exp(x) for x <= 0 (clamped at -87: the result stays a normal float):
 * x = n ln2 + r, |r| <= ln2/2, exp(r) by its degree-6 Taylor polynomial
 * (relative error < 2e-7), times 2^n through the exponent bits. */
static TGT2 __m256 exp_avx2(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(0.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static TGT2 float hsum_avx2(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static TGT2 float max_avx2(const float *p, int n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(p + i));
    float t[8], r = p[0];
    _mm256_storeu_ps(t, m);
    for (int j = 0; j < 8; j++) r = t[j] > r ? t[j] : r;
    for (; i < n; i++) r = p[i] > r ? p[i] : r;
    return r;
}

static TGT2 float exp_sum_avx2(float *p, int n, float m) {
    __m256 vm = _mm256_set1_ps(m), sum = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(p + i), vm));
        _mm256_storeu_ps(p + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    float s = hsum_avx2(sum);
    if (i < n) {
        float t[8];
        for (int j = 0; j < 8; j++) t[j] = i + j < n ? p[i + j] : m;
        _mm256_storeu_ps(t, exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(t), vm)));
        for (; i < n; i++) s += p[i] = t[i & 7];
    }
    return s;
}

/* One query, 16 output floats at a time. */
static TGT2 void accum1_avx2(float *o, const float *p, float c, const float *v, int ldv, int nt,
                             int dvp) {
    for (int d = 0; d < dvp; d += 16) {
        __m256 a = _mm256_mul_ps(_mm256_set1_ps(c), _mm256_loadu_ps(o + d));
        __m256 b = _mm256_mul_ps(_mm256_set1_ps(c), _mm256_loadu_ps(o + d + 8));
        for (int j = 0; j < nt; j++) {
            __m256 w = _mm256_set1_ps(p[j]);
            a = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + (size_t)j * ldv + d), a);
            b = _mm256_fmadd_ps(w, _mm256_loadu_ps(v + (size_t)j * ldv + d + 8), b);
        }
        _mm256_storeu_ps(o + d, a), _mm256_storeu_ps(o + d + 8, b);
    }
}

/* Blocks of 4 queries x 16 output floats: 8 accumulators. */
static TGT2 void accum_avx2(float *o, const float *p, int nq4, const float *c, const float *v,
                            int ldv, int nt, int dvp) {
    if (nq4 == 1) {
        accum1_avx2(o, p, c[0], v, ldv, nt, dvp);
        return;
    }
    for (int i = 0; i < nq4; i += 4)
        for (int d = 0; d < dvp; d += 16) {
            float *o0 = o + (size_t)i * dvp + d, *o1 = o0 + dvp, *o2 = o1 + dvp, *o3 = o2 + dvp;
            const float *p0 = p + i * ATTN_TILE, *p1 = p0 + ATTN_TILE, *p2 = p1 + ATTN_TILE,
                        *p3 = p2 + ATTN_TILE;
            __m256 c0 = _mm256_set1_ps(c[i]), c1 = _mm256_set1_ps(c[i + 1]);
            __m256 c2 = _mm256_set1_ps(c[i + 2]), c3 = _mm256_set1_ps(c[i + 3]);
            __m256 a0 = _mm256_mul_ps(c0, _mm256_loadu_ps(o0)),
                   b0 = _mm256_mul_ps(c0, _mm256_loadu_ps(o0 + 8));
            __m256 a1 = _mm256_mul_ps(c1, _mm256_loadu_ps(o1)),
                   b1 = _mm256_mul_ps(c1, _mm256_loadu_ps(o1 + 8));
            __m256 a2 = _mm256_mul_ps(c2, _mm256_loadu_ps(o2)),
                   b2 = _mm256_mul_ps(c2, _mm256_loadu_ps(o2 + 8));
            __m256 a3 = _mm256_mul_ps(c3, _mm256_loadu_ps(o3)),
                   b3 = _mm256_mul_ps(c3, _mm256_loadu_ps(o3 + 8));
            for (int j = 0; j < nt; j++) {
                const float *vj = v + (size_t)j * ldv + d;
                __m256 x = _mm256_loadu_ps(vj), y = _mm256_loadu_ps(vj + 8), w;
                w = _mm256_set1_ps(p0[j]), a0 = _mm256_fmadd_ps(w, x, a0),
                b0 = _mm256_fmadd_ps(w, y, b0);
                w = _mm256_set1_ps(p1[j]), a1 = _mm256_fmadd_ps(w, x, a1),
                b1 = _mm256_fmadd_ps(w, y, b1);
                w = _mm256_set1_ps(p2[j]), a2 = _mm256_fmadd_ps(w, x, a2),
                b2 = _mm256_fmadd_ps(w, y, b2);
                w = _mm256_set1_ps(p3[j]), a3 = _mm256_fmadd_ps(w, x, a3),
                b3 = _mm256_fmadd_ps(w, y, b3);
            }
            _mm256_storeu_ps(o0, a0), _mm256_storeu_ps(o0 + 8, b0);
            _mm256_storeu_ps(o1, a1), _mm256_storeu_ps(o1 + 8, b1);
            _mm256_storeu_ps(o2, a2), _mm256_storeu_ps(o2 + 8, b2);
            _mm256_storeu_ps(o3, a3), _mm256_storeu_ps(o3 + 8, b3);
        }
}

static const attn_impl impl_avx2 = {load_row_avx2, scores_avx2, max_avx2, exp_sum_avx2, accum_avx2};

/* ---- AVX-512 (F only) ---- */

#define TGT5 __attribute__((target("avx512f,avx2,fma,f16c")))

static TGT5 void load_row_avx512(float *dst, const void *src, uint32_t type, int dim, int dimp) {
    int i = 0;
    if (type == TYPE_F16) {
        const uint16_t *h = src;
        for (; i + 16 <= dim; i += 16)
            _mm512_storeu_ps(dst + i,
                             _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
        for (; i < dim; i++) dst[i] = half_to_f32(h[i]);
    } else if (type == TYPE_Q8_0) {
        const block_q8_0 *b = src;
        for (; i < dim; i += QK8_0, b++) {
            __m512 d = _mm512_set1_ps(half_to_f32(b->d));
            __m512 lo =
                _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b->qs)));
            __m512 hi = _mm512_cvtepi32_ps(
                _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b->qs + 16))));
            _mm512_storeu_ps(dst + i, _mm512_mul_ps(d, lo));
            _mm512_storeu_ps(dst + i + 16, _mm512_mul_ps(d, hi));
        }
        return;
    } else {
        for (; i + 16 <= dim; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_loadu_ps((const float *)src + i));
        memcpy(dst + i, (const float *)src + i, sizeof(float) * (size_t)(dim - i));
        i = dim;
    }
    for (; i < dimp; i++) dst[i] = 0.0f;
}

/* [sum a, sum b, sum c, sum d] */
static TGT5 __m128 hsum4_avx512(__m512 a, __m512 b, __m512 c, __m512 d) {
    __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
    __m512d x = _mm512_castps_pd(ab), y = _mm512_castps_pd(cd);
    __m512d s = _mm512_castps_pd(_mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)),
                                               _mm512_castpd_ps(_mm512_unpackhi_pd(x, y))));
    __m256 h = _mm256_add_ps(_mm256_castpd_ps(_mm512_castpd512_pd256(s)),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(s, 1)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* One query x 4 keys. */
static TGT5 void scores1_avx512(float *s, const float *q, const float *k, int nt4, int dkp) {
    for (int j = 0; j < nt4; j += 4) {
        const float *k0 = k + (size_t)j * dkp, *k1 = k0 + dkp, *k2 = k1 + dkp, *k3 = k2 + dkp;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int d = 0; d < dkp; d += 16) {
            __m512 x = _mm512_loadu_ps(q + d);
            a0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(k0 + d), a0);
            a1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(k1 + d), a1);
            a2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(k2 + d), a2);
            a3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(k3 + d), a3);
        }
        _mm_storeu_ps(s + j, hsum4_avx512(a0, a1, a2, a3));
    }
}

/* Blocks of 4 queries x 4 keys: 16 accumulators. */
static TGT5 void scores_avx512(float *s, const float *q, int nq4, const float *k, int nt4,
                               int dkp) {
    if (nq4 == 1) {
        scores1_avx512(s, q, k, nt4, dkp);
        return;
    }
    for (int i = 0; i < nq4; i += 4)
        for (int j = 0; j < nt4; j += 4) {
            const float *q0 = q + (size_t)i * dkp, *q1 = q0 + dkp, *q2 = q1 + dkp, *q3 = q2 + dkp;
            const float *k0 = k + (size_t)j * dkp, *k1 = k0 + dkp, *k2 = k1 + dkp, *k3 = k2 + dkp;
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00;
            __m512 a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00;
            __m512 a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            for (int d = 0; d < dkp; d += 16) {
                __m512 y0 = _mm512_loadu_ps(k0 + d), y1 = _mm512_loadu_ps(k1 + d);
                __m512 y2 = _mm512_loadu_ps(k2 + d), y3 = _mm512_loadu_ps(k3 + d);
                __m512 x = _mm512_loadu_ps(q0 + d);
                a00 = _mm512_fmadd_ps(x, y0, a00), a01 = _mm512_fmadd_ps(x, y1, a01);
                a02 = _mm512_fmadd_ps(x, y2, a02), a03 = _mm512_fmadd_ps(x, y3, a03);
                x = _mm512_loadu_ps(q1 + d);
                a10 = _mm512_fmadd_ps(x, y0, a10), a11 = _mm512_fmadd_ps(x, y1, a11);
                a12 = _mm512_fmadd_ps(x, y2, a12), a13 = _mm512_fmadd_ps(x, y3, a13);
                x = _mm512_loadu_ps(q2 + d);
                a20 = _mm512_fmadd_ps(x, y0, a20), a21 = _mm512_fmadd_ps(x, y1, a21);
                a22 = _mm512_fmadd_ps(x, y2, a22), a23 = _mm512_fmadd_ps(x, y3, a23);
                x = _mm512_loadu_ps(q3 + d);
                a30 = _mm512_fmadd_ps(x, y0, a30), a31 = _mm512_fmadd_ps(x, y1, a31);
                a32 = _mm512_fmadd_ps(x, y2, a32), a33 = _mm512_fmadd_ps(x, y3, a33);
            }
            _mm_storeu_ps(s + i * ATTN_TILE + j, hsum4_avx512(a00, a01, a02, a03));
            _mm_storeu_ps(s + (i + 1) * ATTN_TILE + j, hsum4_avx512(a10, a11, a12, a13));
            _mm_storeu_ps(s + (i + 2) * ATTN_TILE + j, hsum4_avx512(a20, a21, a22, a23));
            _mm_storeu_ps(s + (i + 3) * ATTN_TILE + j, hsum4_avx512(a30, a31, a32, a33));
        }
}

/* As exp_avx2, with the exponent applied by VSCALEFPS. */
static TGT5 __m512 exp_avx512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(0.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static TGT5 float max_avx512(const float *p, int n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(p + i));
    if (i < n)
        m = _mm512_max_ps(m, _mm512_mask_loadu_ps(m, (__mmask16)((1u << (n - i)) - 1), p + i));
    return _mm512_reduce_max_ps(m);
}

static TGT5 float exp_sum_avx512(float *p, int n, float m) {
    __m512 vm = _mm512_set1_ps(m), sum = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(p + i), vm));
        _mm512_storeu_ps(p + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_mask_loadu_ps(vm, k, p + i), vm));
        _mm512_mask_storeu_ps(p + i, k, e);
        sum = _mm512_mask_add_ps(sum, k, sum, e);
    }
    return _mm512_reduce_add_ps(sum);
}

/* One query, 32 output floats at a time. */
static TGT5 void accum1_avx512(float *o, const float *p, float c, const float *v, int ldv, int nt,
                               int dvp) {
    for (int d = 0; d < dvp; d += 32) {
        __m512 a = _mm512_mul_ps(_mm512_set1_ps(c), _mm512_loadu_ps(o + d));
        __m512 b = _mm512_mul_ps(_mm512_set1_ps(c), _mm512_loadu_ps(o + d + 16));
        for (int j = 0; j < nt; j++) {
            __m512 w = _mm512_set1_ps(p[j]);
            a = _mm512_fmadd_ps(w, _mm512_loadu_ps(v + (size_t)j * ldv + d), a);
            b = _mm512_fmadd_ps(w, _mm512_loadu_ps(v + (size_t)j * ldv + d + 16), b);
        }
        _mm512_storeu_ps(o + d, a), _mm512_storeu_ps(o + d + 16, b);
    }
}

/* Blocks of 4 queries x 32 output floats: 8 accumulators. */
static TGT5 void accum_avx512(float *o, const float *p, int nq4, const float *c, const float *v,
                              int ldv, int nt, int dvp) {
    if (nq4 == 1) {
        accum1_avx512(o, p, c[0], v, ldv, nt, dvp);
        return;
    }
    for (int i = 0; i < nq4; i += 4)
        for (int d = 0; d < dvp; d += 32) {
            float *o0 = o + (size_t)i * dvp + d, *o1 = o0 + dvp, *o2 = o1 + dvp, *o3 = o2 + dvp;
            const float *p0 = p + i * ATTN_TILE, *p1 = p0 + ATTN_TILE, *p2 = p1 + ATTN_TILE,
                        *p3 = p2 + ATTN_TILE;
            __m512 c0 = _mm512_set1_ps(c[i]), c1 = _mm512_set1_ps(c[i + 1]);
            __m512 c2 = _mm512_set1_ps(c[i + 2]), c3 = _mm512_set1_ps(c[i + 3]);
            __m512 a0 = _mm512_mul_ps(c0, _mm512_loadu_ps(o0)),
                   b0 = _mm512_mul_ps(c0, _mm512_loadu_ps(o0 + 16));
            __m512 a1 = _mm512_mul_ps(c1, _mm512_loadu_ps(o1)),
                   b1 = _mm512_mul_ps(c1, _mm512_loadu_ps(o1 + 16));
            __m512 a2 = _mm512_mul_ps(c2, _mm512_loadu_ps(o2)),
                   b2 = _mm512_mul_ps(c2, _mm512_loadu_ps(o2 + 16));
            __m512 a3 = _mm512_mul_ps(c3, _mm512_loadu_ps(o3)),
                   b3 = _mm512_mul_ps(c3, _mm512_loadu_ps(o3 + 16));
            for (int j = 0; j < nt; j++) {
                const float *vj = v + (size_t)j * ldv + d;
                __m512 x = _mm512_loadu_ps(vj), y = _mm512_loadu_ps(vj + 16), w;
                w = _mm512_set1_ps(p0[j]), a0 = _mm512_fmadd_ps(w, x, a0),
                b0 = _mm512_fmadd_ps(w, y, b0);
                w = _mm512_set1_ps(p1[j]), a1 = _mm512_fmadd_ps(w, x, a1),
                b1 = _mm512_fmadd_ps(w, y, b1);
                w = _mm512_set1_ps(p2[j]), a2 = _mm512_fmadd_ps(w, x, a2),
                b2 = _mm512_fmadd_ps(w, y, b2);
                w = _mm512_set1_ps(p3[j]), a3 = _mm512_fmadd_ps(w, x, a3),
                b3 = _mm512_fmadd_ps(w, y, b3);
            }
            _mm512_storeu_ps(o0, a0), _mm512_storeu_ps(o0 + 16, b0);
            _mm512_storeu_ps(o1, a1), _mm512_storeu_ps(o1 + 16, b1);
            _mm512_storeu_ps(o2, a2), _mm512_storeu_ps(o2 + 16, b2);
            _mm512_storeu_ps(o3, a3), _mm512_storeu_ps(o3 + 16, b3);
        }
}

static const attn_impl impl_avx512 = {load_row_avx512, scores_avx512, max_avx512, exp_sum_avx512,
                                      accum_avx512};
#endif

/* ---- NEON (AArch64) ---- */

#if defined(__aarch64__)
static void load_row_neon(float *dst, const void *src, uint32_t type, int dim, int dimp) {
    int i = 0;
    if (type == TYPE_F16) {
        const uint16_t *h = src;
        for (; i + 4 <= dim; i += 4)
            vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))));
        for (; i < dim; i++) dst[i] = half_to_f32(h[i]);
    } else if (type == TYPE_Q8_0) {
        const block_q8_0 *b = src;
        for (; i < dim; i += QK8_0, b++) {
            float32x4_t d = vdupq_n_f32(half_to_f32(b->d));
            for (int j = 0; j < QK8_0; j += 8) {
                int16x8_t q = vmovl_s8(vld1_s8(b->qs + j));
                vst1q_f32(dst + i + j, vmulq_f32(d, vcvtq_f32_s32(vmovl_s16(vget_low_s16(q)))));
                vst1q_f32(dst + i + j + 4, vmulq_f32(d, vcvtq_f32_s32(vmovl_high_s16(q))));
            }
        }
        return;
    } else {
        memcpy(dst, src, sizeof(float) * (size_t)dim);
        i = dim;
    }
    for (; i < dimp; i++) dst[i] = 0.0f;
}

/* Queries [i, i + nq) (nq <= 2) x keys [j, j + 4), four lanes per pair. */
static void scores_block_neon(float *s, const float *q, int nq, const float *k, int dkp) {
    float32x4_t a[2][4];
    for (int r = 0; r < nq; r++)
        for (int c = 0; c < 4; c++) a[r][c] = vdupq_n_f32(0.0f);
    for (int d = 0; d < dkp; d += 4)
        for (int c = 0; c < 4; c++) {
            float32x4_t y = vld1q_f32(k + (size_t)c * dkp + d);
            for (int r = 0; r < nq; r++)
                a[r][c] = vfmaq_f32(a[r][c], vld1q_f32(q + (size_t)r * dkp + d), y);
        }
    for (int r = 0; r < nq; r++)
        for (int c = 0; c < 4; c++) s[r * ATTN_TILE + c] = vaddvq_f32(a[r][c]);
}

static void scores_neon(float *s, const float *q, int nq4, const float *k, int nt4, int dkp) {
    int step = nq4 == 1 ? 1 : 2;
    for (int i = 0; i < nq4; i += step)
        for (int j = 0; j < nt4; j += 4)
            scores_block_neon(s + i * ATTN_TILE + j, q + (size_t)i * dkp, step, k + (size_t)j * dkp,
                              dkp);
}

/* exp(x) for x <= 0, as exp_avx2: x = n ln2 + r, a degree-6 polynomial of
 * r, times 2^n through the exponent bits. */
static float32x4_t exp_neon(float32x4_t x) {
    x = vminq_f32(vmaxq_f32(x, vdupq_n_f32(-87.0f)), vdupq_n_f32(0.0f));
    float32x4_t n = vrndnq_f32(vmulq_f32(x, vdupq_n_f32(1.44269504f)));
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    static const float c[6] = {1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
    float32x4_t p = vdupq_n_f32(1.0f / 720);
    for (int i = 0; i < 6; i++) p = vfmaq_f32(vdupq_n_f32(c[i]), p, r);
    int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static float max_neon(const float *p, int n) {
    float32x4_t m = vdupq_n_f32(-INFINITY);
    int i = 0;
    for (; i + 4 <= n; i += 4) m = vmaxq_f32(m, vld1q_f32(p + i));
    float r = vmaxvq_f32(m);
    for (; i < n; i++) r = p[i] > r ? p[i] : r;
    return r;
}

static float exp_sum_neon(float *p, int n, float m) {
    float32x4_t vm = vdupq_n_f32(m), sum = vdupq_n_f32(0.0f);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp_neon(vsubq_f32(vld1q_f32(p + i), vm));
        vst1q_f32(p + i, e);
        sum = vaddq_f32(sum, e);
    }
    float s = vaddvq_f32(sum);
    if (i < n) {
        float t[4];
        for (int j = 0; j < 4; j++) t[j] = i + j < n ? p[i + j] : m;
        vst1q_f32(t, exp_neon(vsubq_f32(vld1q_f32(t), vm)));
        for (; i < n; i++) s += p[i] = t[i & 3];
    }
    return s;
}

/* Queries [i, i + nq) (nq <= 4) x 8 output floats: 2 accumulators each. */
static void accum_block_neon(float *o, const float *p, int nq, const float *c, const float *v,
                             int ldv, int nt, int dvp) {
    float32x4_t a[4][2];
    for (int r = 0; r < nq; r++)
        for (int h = 0; h < 2; h++)
            a[r][h] = vmulq_n_f32(vld1q_f32(o + (size_t)r * dvp + 4 * h), c[r]);
    for (int j = 0; j < nt; j++) {
        float32x4_t x = vld1q_f32(v + (size_t)j * ldv), y = vld1q_f32(v + (size_t)j * ldv + 4);
        for (int r = 0; r < nq; r++) {
            float w = p[r * ATTN_TILE + j];
            a[r][0] = vfmaq_n_f32(a[r][0], x, w);
            a[r][1] = vfmaq_n_f32(a[r][1], y, w);
        }
    }
    for (int r = 0; r < nq; r++)
        for (int h = 0; h < 2; h++) vst1q_f32(o + (size_t)r * dvp + 4 * h, a[r][h]);
}

static void accum_neon(float *o, const float *p, int nq4, const float *c, const float *v, int ldv,
                       int nt, int dvp) {
    int step = nq4 == 1 ? 1 : 4;
    for (int i = 0; i < nq4; i += step)
        for (int d = 0; d < dvp; d += 8)
            accum_block_neon(o + (size_t)i * dvp + d, p + i * ATTN_TILE, step, c + i, v + d, ldv,
                             nt, dvp);
}

static const attn_impl impl_neon = {load_row_neon, scores_neon, max_neon, exp_sum_neon, accum_neon};
#endif

/* ---- the driver ---- */

/* Rows p0..p0+nt-1 of r into dst (rows of dimp floats), zero rows up to nt4. */
static void load_tile(const attn_impl *im, float *dst, const attn_rows *r, int p0, int nt, int dim,
                      int dimp) {
    for (int j = 0; j < nt; j++)
        im->load_row(dst + (size_t)j * dimp, (const char *)r->data + (size_t)(p0 + j) * r->stride,
                     r->type, dim, dimp);
    memset(dst + (size_t)nt * dimp, 0, sizeof(float) * (size_t)(pad4(nt) - nt) * (size_t)dimp);
}

/* The online-softmax step of one query over a tile whose first `valid`
 * scores s count: s becomes exp(s - m_new) (0 past valid), *l and *m are
 * updated, and the factor for the old accumulator is returned. */
static float softmax_tile(const attn_impl *im, float *s, int valid, int nt, float *m, float *l) {
    if (valid > nt) valid = nt;
    if (valid <= 0) {
        memset(s, 0, sizeof(float) * (size_t)nt);
        return 1.0f;
    }
    float mx = im->max(s, valid), mn = mx > *m ? mx : *m;
    float c = *m == -INFINITY ? 0.0f : expf(*m - mn);
    float sum = im->exp_sum(s, valid, mn);
    memset(s + valid, 0, sizeof(float) * (size_t)(nt - valid));
    *l = *l * c + sum;
    *m = mn;
    return c;
}

static void attn_exec(const attn_impl *im, const attn_args *a, float *scratch) {
    int dkp = pad32(a->dk), dvp = pad32(a->dv), nq4 = a->nq == 1 ? 1 : pad4(a->nq), nmax = 0;
    float *Q = scratch, *K = Q + (size_t)ATTN_QMAX * dkp, *V = K + (size_t)ATTN_TILE * dkp;
    float *S = V + (size_t)ATTN_TILE * dvp, *O = S + ATTN_QMAX * ATTN_TILE;
    float *M = O + (size_t)ATTN_QMAX * dvp, *L = M + ATTN_QMAX, *C = L + ATTN_QMAX;
    memset(Q, 0, sizeof(float) * (size_t)nq4 * dkp);
    memset(O, 0, sizeof(float) * (size_t)nq4 * dvp);
    for (int i = 0; i < nq4; i++) {
        M[i] = -INFINITY, L[i] = 0.0f;
        if (i >= a->nq) continue;
        for (int d = 0; d < a->dk; d++) Q[(size_t)i * dkp + d] = a->q[i][d] * a->scale;
        nmax = a->n_keys[i] > nmax ? a->n_keys[i] : nmax;
    }
    for (int p0 = 0; p0 < nmax; p0 += ATTN_TILE) {
        int nt = nmax - p0 < ATTN_TILE ? nmax - p0 : ATTN_TILE;
        load_tile(im, K, &a->k, p0, nt, a->dk, dkp);
        im->scores(S, Q, nq4, K, pad4(nt), dkp);
        for (int i = 0; i < nq4; i++)
            C[i] = softmax_tile(im, S + i * ATTN_TILE, i < a->nq ? a->n_keys[i] - p0 : 0, nt, &M[i],
                                &L[i]);
        const float *v = K;
        int ldv = dkp;
        if (!a->v_in_k) {
            load_tile(im, V, &a->v, p0, nt, a->dv, dvp);
            v = V, ldv = dvp;
        }
        im->accum(O, S, nq4, C, v, ldv, nt, dvp);
    }
    for (int i = 0; i < a->nq; i++) {
        float inv = 1.0f / L[i];
        for (int d = 0; d < a->dv; d++) a->out[i][d] = O[(size_t)i * dvp + d] * inv;
    }
}

static const attn_impl *impl_for(enum kern_isa isa) {
    if (!kern_ops_for(isa)) return NULL;
    switch (isa) {
    case KERN_SCALAR: return &impl_scalar;
#if defined(__x86_64__)
    case KERN_AVX2: return &impl_avx2;
    case KERN_AVX512: return &impl_avx512;
#endif
#if defined(__aarch64__)
    case KERN_NEON: return &impl_neon;
#endif
    default: return &impl_scalar;
    }
}

void attn_run(const attn_args *a, float *scratch) {
    const kern_ops *k = kern_get();
    const attn_impl *im = &impl_scalar;
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++)
        if (kern_ops_for((enum kern_isa)isa) == k) im = impl_for((enum kern_isa)isa);
    attn_exec(im, a, scratch);
}

bool attn_run_isa(enum kern_isa isa, const attn_args *a, float *scratch) {
    const attn_impl *im = impl_for(isa);
    if (!im) return false;
    attn_exec(im, a, scratch);
    return true;
}
