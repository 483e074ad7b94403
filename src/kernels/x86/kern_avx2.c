/*
 * kern_avx2.c - AVX2 + FMA + F16C matmul kernels: the path for x86-64 CPUs
 * without (usable) AVX-512, Haswell onwards.
 *
 * Same structure as kern_avx512.c (tiles of TR rows x TC tokens, tokens
 * outer, each weight group decoded once per tile), in 256-bit registers:
 * a four-block group of act_q8_group is two halves of two blocks each.
 * Integer dots use vpmaddubsw (unsigned x signed bytes -> pairs summed to
 * saturating int16) and vpmaddwd against ones (-> int32 lanes, the lanes of
 * vpdpbusd). Nothing can saturate: Q4_0 nibbles (0..15) times |q| <= 127
 * gives at most 3810 per pair; Q8_0 uses |w| (<= 128) times q * sign(w),
 * at most 32512 per pair. Q4_0 then subtracts 8 * sum(q) through the
 * activation's nsum lanes, as on AVX-512, so every block's integer dot
 * equals the scalar one.
 */
#include <string.h>

#include "base/half.h"
#include "kernels/dispatch.h"
#include "kernels/kquants.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma,f16c")))
#define TGT_INLINE TGT static inline __attribute__((always_inline))

#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

enum { TR = 2, TC = 2 }; /* 16 registers: a smaller tile than AVX-512 */

/* ---- Q8 activations ---- */

/* roundf of each lane, clamped to [-127, 127], NaN to 0 (see kern_avx512.c). */
TGT_INLINE __m256 round_away(__m256 v) {
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    __m256 frac = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(v, t));
    __m256 up = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    __m256 r = _mm256_add_ps(t, _mm256_and_ps(up, _mm256_or_ps(_mm256_set1_ps(1.0f), sign)));
    r = _mm256_max_ps(_mm256_min_ps(r, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-127.0f));
    return _mm256_and_ps(r, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
}

TGT_INLINE float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

TGT_INLINE int hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

TGT_INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 int32 lanes (two registers) to 16 saturated bytes. */
TGT_INLINE __m128i pack16(__m256i a, __m256i b) {
    __m256i w = _mm256_packs_epi32(a, b); /* a0-3 b0-3 | a4-7 b4-7 */
    __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
    __m128i bytes = _mm_packs_epi16(lo, hi); /* a0-3 b0-3 a4-7 b4-7 */
    return _mm_shuffle_epi32(bytes, _MM_SHUFFLE(3, 1, 2, 0));
}

/* Block k of group g from 32 floats: the scalar act_block's float ops. */
TGT static float act_block(act_q8_group *g, int k, const float *x) {
    __m256 v[4], absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        m = _mm256_max_ps(m, _mm256_and_ps(v[i], absmask));
    }
    float amax = hmax8(m);
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m256i q[4];
    for (int i = 0; i < 4; i++)
        q[i] = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v[i], _mm256_set1_ps(id))));
    _mm_storeu_si128((__m128i *)(g->lo + 16 * k), pack16(q[0], q[1]));
    _mm_storeu_si128((__m128i *)(g->hi + 16 * k), pack16(q[2], q[3]));
    g->nsum[4 * k] = -hsum8i(_mm256_add_epi32(q[0], q[1]));
    g->nsum[4 * k + 1] = -hsum8i(_mm256_add_epi32(q[2], q[3]));
    _mm_storeu_ps(g->d + 4 * k, _mm_set1_ps(d));
    return d;
}

TGT static void prep_q8(void *act, const float *x, int n) {
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

/* ---- quantized weights: one group of four blocks, decoded ---- */

/* Half h holds blocks 2h, 2h+1. Q4_0: u = nibbles, s unused. Q8_0: u = |w|,
 * s = w (its signs go onto the activations). */
typedef struct wgroup {
    __m256i u[2][2], s[2][2]; /* [half][first or second 16 of each block] */
    __m256 d[2];              /* d of block 2h+b in lanes 4b..4b+3 of d[h] */
} wgroup;

/* The four f16 scales at p + stride*b, expanded to two registers. */
TGT_INLINE void group_scales(__m256 d[2], const uint8_t *p, size_t stride) {
    uint16_t h[4];
    for (int b = 0; b < 4; b++) memcpy(&h[b], p + stride * b, 2);
    __m128 f =
        _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, (short)h[3], (short)h[2], (short)h[1], (short)h[0]));
    __m256 f8 = _mm256_castps128_ps256(f);
    d[0] = _mm256_permutevar8x32_ps(f8, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
    d[1] = _mm256_permutevar8x32_ps(f8, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3));
}

TGT_INLINE __m256i load2x16(const uint8_t *a, const uint8_t *b) {
    return _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b),
                            _mm_loadu_si128((const __m128i *)a));
}

TGT_INLINE wgroup q4_0_group(const uint8_t *p) {
    wgroup g;
    __m256i m4 = _mm256_set1_epi8(15);
    for (int h = 0; h < 2; h++) {
        __m256i v = load2x16(p + 36 * h + 2, p + 36 * h + 20);
        g.u[h][0] = _mm256_and_si256(v, m4);
        g.u[h][1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        g.s[h][0] = g.s[h][1] = _mm256_setzero_si256();
    }
    group_scales(g.d, p, 18);
    return g;
}

TGT_INLINE wgroup q8_0_group(const uint8_t *p) {
    wgroup g;
    for (int h = 0; h < 2; h++)
        for (int e = 0; e < 2; e++) {
            g.s[h][e] = load2x16(p + 68 * h + 2 + 16 * e, p + 68 * h + 36 + 16 * e);
            g.u[h][e] = _mm256_abs_epi8(g.s[h][e]);
        }
    group_scales(g.d, p, 34);
    return g;
}

/* int32 lanes of one half: Q4_0 nibbles x q, pairs of int16 added first
 * (no overflow: 4 * 3810), then the -8 * sum(q) correction. */
TGT_INLINE __m256i half_q4_0(const wgroup *w, int h, __m256i alo, __m256i ahi, __m256i nsum) {
    __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w->u[h][0], alo),
                                 _mm256_maddubs_epi16(w->u[h][1], ahi));
    __m256i s = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    return _mm256_add_epi32(s, _mm256_slli_epi32(nsum, 3));
}

/* int32 lanes of one half: Q8_0 |w| x (q * sign w); int16 pairs near the
 * int16 limit, so each product set widens on its own. */
TGT_INLINE __m256i half_q8_0(const wgroup *w, int h, __m256i alo, __m256i ahi, __m256i nsum) {
    (void)nsum;
    __m256i one = _mm256_set1_epi16(1);
    __m256i a = _mm256_maddubs_epi16(w->u[h][0], _mm256_sign_epi8(alo, w->s[h][0]));
    __m256i b = _mm256_maddubs_epi16(w->u[h][1], _mm256_sign_epi8(ahi, w->s[h][1]));
    return _mm256_add_epi32(_mm256_madd_epi16(a, one), _mm256_madd_epi16(b, one));
}

#define QTILE(NAME, LOAD, HALF, GB, R, C)                                                          \
    TGT static void NAME##_##R##x##C(float *y, size_t ldy, const uint8_t *w, size_t rb,            \
                                     const uint8_t *act, size_t ab, int ng, int tail) {            \
        __m256 acc[R][C];                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] =          \
            _mm256_setzero_ps();                                                                   \
        for (int g = 0; g <= ng; g++) {                                                            \
            wgroup wg[R];                                                                          \
            if (g == ng) {                                                                         \
                if (!tail) break;                                                                  \
                UNROLL for (int r = 0; r < R; r++) {                                               \
                    uint8_t buf[GB] = {0};                                                         \
                    memcpy(buf, w + r * rb + (size_t)g * GB, (size_t)tail * (GB / 4));             \
                    wg[r] = LOAD(buf);                                                             \
                }                                                                                  \
            } else {                                                                               \
                UNROLL for (int r = 0; r < R; r++) wg[r] = LOAD(w + r * rb + (size_t)g * GB);      \
            }                                                                                      \
            UNROLL for (int c = 0; c < C; c++) {                                                   \
                const act_q8_group *a = act_group(act + c * ab, g);                                \
                for (int h = 0; h < 2; h++) {                                                      \
                    __m256i alo = _mm256_loadu_si256((const __m256i *)(a->lo + 32 * h));           \
                    __m256i ahi = _mm256_loadu_si256((const __m256i *)(a->hi + 32 * h));           \
                    __m256i ns = _mm256_loadu_si256((const __m256i *)(a->nsum + 8 * h));           \
                    __m256 ad = _mm256_loadu_ps(a->d + 8 * h);                                     \
                    UNROLL for (int r = 0; r < R; r++) {                                           \
                        __m256i s = HALF(&wg[r], h, alo, ahi, ns);                                 \
                        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s),                         \
                                                    _mm256_mul_ps(wg[r].d[h], ad), acc[r][c]);     \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] =     \
            hsum8(acc[r][c]);                                                                      \
    }

typedef void (*qtile_fn)(float *y, size_t ldy, const uint8_t *w, size_t rb, const uint8_t *act,
                         size_t ab, int ng, int tail);

#define QTILES(NAME, LOAD, HALF, GB)                                                               \
    QTILE(NAME, LOAD, HALF, GB, 2, 1)                                                              \
    QTILE(NAME, LOAD, HALF, GB, 2, 2)                                                              \
    QTILE(NAME, LOAD, HALF, GB, 1, 1)                                                              \
    QTILE(NAME, LOAD, HALF, GB, 1, 2)                                                              \
    static const qtile_fn NAME##_tiles[2][TC] = {{NAME##_1x1, NAME##_1x2},                         \
                                                 {NAME##_2x1, NAME##_2x2}};

QTILES(q4_0, q4_0_group, half_q4_0, 72)
QTILES(q8_0, q8_0_group, half_q8_0, 136)

static void qgemm(const qtile_fn tiles[2][TC], float *y, size_t ldy, const uint8_t *w, size_t rb,
                  const uint8_t *act, size_t ab, int n, int nr, int nt) {
    int nb = n / 32, ng = nb / 4, tail = nb % 4;
    for (int t = 0; t < nt; t += TC) {
        int c = nt - t < TC ? nt - t : TC, r = 0;
        for (; nt > 1 && r + TR <= nr; r += TR) /* one token: one stream */
            tiles[1][c - 1](y + (size_t)t * ldy + r, ldy, w + r * rb, rb, act + t * ab, ab, ng,
                            tail);
        for (; r < nr; r++)
            tiles[0][c - 1](y + (size_t)t * ldy + r, ldy, w + r * rb, rb, act + t * ab, ab, ng,
                            tail);
    }
}

/* One token, part `part` of `parts` (kern_vec_fn): rows r and r + nr/2
 * side by side through a two-row tile, so the activation loads serve both
 * and the weights arrive as two sequential streams far apart (as in
 * kern_avx512.c; rows next to each other were slower there), then the odd
 * row alone. A tile gives each row the arithmetic of the one-row tile that
 * gemm uses for one token. Only Q8_0 takes it: these kernels are
 * compute-bound (10-26 GB/s a core here, in cache), and in cache the two-row
 * tile was 7% faster for Q8_0, 12% slower for Q4_0 (16 registers) and even
 * for the K-quants, so those keep one row at a time in contiguous parts. */
static void qvec(const qtile_fn tiles[2][TC], float *y, const uint8_t *w, size_t rb,
                 const uint8_t *act, int n, int nr, int part, int parts) {
    int nb = n / 32, ng = nb / 4, tail = nb % 4, lo, hi;
    int L = kern_vec_slice(nr, 2, part, parts, &lo, &hi);
    for (int r = lo; r < hi; r++) {
        float two[2];
        tiles[1][0](two, 1, w + r * rb, (size_t)L * rb, act, 0, ng, tail);
        y[r] = two[0], y[r + L] = two[1];
    }
    if (part == parts - 1)
        for (int r = 2 * L; r < nr; r++) tiles[0][0](y + r, 1, w + r * rb, rb, act, 0, ng, tail);
}

static void vec_q8_0(float *y, const void *w, size_t rb, const void *act, int n, int nr, int part,
                     int parts) {
    qvec(q8_0_tiles, y, w, rb, act, n, nr, part, parts);
}

static void gemm_q4_0(float *y, size_t ldy, const void *w, size_t rb, const void *act, size_t ab,
                      int n, int nr, int nt) {
    qgemm(q4_0_tiles, y, ldy, w, rb, act, ab, n, nr, nt);
}

static void gemm_q8_0(float *y, size_t ldy, const void *w, size_t rb, const void *act, size_t ab,
                      int n, int nr, int nt) {
    qgemm(q8_0_tiles, y, ldy, w, rb, act, ab, n, nr, nt);
}

/* ---- K-quants (layouts in kquants.h) x Q8 activations ----
 *
 * As in kern_avx512.c, per superblock the scales become floats once; per
 * group (four blocks) and half h (two blocks) the q bytes are laid out like
 * the activations' halves. Q4_K/Q5_K: pairs of q (<= 31) times |qx| <= 127
 * stay within int16 even summed over both halves (4 * 31 * 127); the mins'
 * share is dmin*m*dx*nsum. Q6_K (q <= 63): halves apart, each starting at
 * -32 * its half's sum of qx. */

typedef struct kgroup {
    __m256i u[2][2];     /* [half][first or second 16 values of each block] */
    __m256 s0[2], s1[2]; /* per half: see the type's dot */
} kgroup;

/* The bytes of q (16 bytes) in lane 0 and q >> shift in lane 1, 4 bits. */
TGT_INLINE __m256i nib2(const uint8_t *q, int shift) {
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q));
    v = _mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, shift, shift, shift, shift));
    return _mm256_and_si256(v, _mm256_set1_epi8(15));
}

/* Lanes 4b..4b+3 of half h <- f[first + b] for b = 0, 1 (in-register). */
TGT_INLINE __m256 spread2(__m256 f, int first) {
    return _mm256_permutevar8x32_ps(f, _mm256_setr_epi32(first, first, first, first, first + 1,
                                                         first + 1, first + 1, first + 1));
}

/* d*sc[0..7] and dmin*m[0..7] of a Q4_K/Q5_K superblock. */
TGT_INLINE void scales_q45(const uint8_t *b, __m256 *ds, __m256 *dm) {
    uint8_t sc[8], m[8];
    UNROLL for (int j = 0; j < 8; j++) kq_scale_min(b + 4, j, &sc[j], &m[j]);
    uint16_t dh[2];
    memcpy(dh, b, 4);
    __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(dh[0] | (uint32_t)dh[1] << 16)));
    __m128i v = _mm_set_epi64x(0, 0);
    memcpy(&v, sc, 8);
    *ds = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)), _mm256_broadcastss_ps(dd));
    memcpy(&v, m, 8);
    *dm = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)),
                        _mm256_permutevar8x32_ps(_mm256_castps128_ps256(dd), _mm256_set1_epi32(1)));
}

TGT_INLINE kgroup q4_K_group(const uint8_t *b, const __m256 f[2], int g) {
    kgroup k;
    const uint8_t *q = b + 16 + 64 * g;
    UNROLL for (int h = 0; h < 2; h++) {
        k.u[h][0] = nib2(q + 32 * h, 4);
        k.u[h][1] = nib2(q + 32 * h + 16, 4);
        k.s0[h] = spread2(f[0], 4 * g + 2 * h);
        k.s1[h] = spread2(f[1], 4 * g + 2 * h);
    }
    return k;
}

/* Q5_K: bit 4 of the q of sub-block j, element l, is bit j of qh[l]. */
TGT_INLINE __m256i q5_bit(const uint8_t *qh, int j) {
    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qh));
    v = _mm256_srlv_epi32(v, _mm256_setr_epi32(j, j, j, j, j + 1, j + 1, j + 1, j + 1));
    return _mm256_slli_epi16(_mm256_and_si256(v, _mm256_set1_epi8(1)), 4);
}

TGT_INLINE kgroup q5_K_group(const uint8_t *b, const __m256 f[2], int g) {
    kgroup k;
    const uint8_t *q = b + 48 + 64 * g;
    UNROLL for (int h = 0; h < 2; h++) {
        int j = 4 * g + 2 * h;
        k.u[h][0] = _mm256_or_si256(nib2(q + 32 * h, 4), q5_bit(b + 16, j));
        k.u[h][1] = _mm256_or_si256(nib2(q + 32 * h + 16, 4), q5_bit(b + 32, j));
        k.s0[h] = spread2(f[0], j);
        k.s1[h] = spread2(f[1], j);
    }
    return k;
}

/* Q6_K: d*scales[0..7] and d*scales[8..15]. */
TGT_INLINE void scales_q6(const uint8_t *b, __m256 *lo, __m256 *hi) {
    __m128i sc = _mm_loadu_si128((const __m128i *)(b + 192));
    uint16_t dh;
    memcpy(&dh, b + 208, 2);
    __m256 d = _mm256_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(dh)));
    *lo = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)), d);
    *hi = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8))), d);
}

/* Q6_K: 4 low bits from ql (low nibbles for blocks 0, 1 of the group, high
 * for 2, 3), 2 high bits from qh (bits 2k, 2k+1 for block k). */
TGT_INLINE __m256i q6_half(const uint8_t *ql, const uint8_t *qh, int h, int e) {
    __m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(ql + 32 + 16 * e)),
                                 _mm_loadu_si128((const __m128i *)(ql + 16 * e)));
    v = _mm256_and_si256(h ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(15));
    int s = 4 * h;
    __m256i t = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qh + 16 * e)));
    t = _mm256_srlv_epi32(t, _mm256_setr_epi32(s, s, s, s, s + 2, s + 2, s + 2, s + 2));
    t = _mm256_slli_epi16(_mm256_and_si256(t, _mm256_set1_epi8(3)), 4);
    return _mm256_or_si256(v, t);
}

TGT_INLINE kgroup q6_K_group(const uint8_t *b, const __m256 f[2], int g) {
    kgroup k;
    UNROLL for (int h = 0; h < 2; h++) {
        UNROLL for (int e = 0; e < 2; e++) k.u[h][e] = q6_half(b + 64 * g, b + 128 + 32 * g, h, e);
        k.s0[h] =
            _mm256_permutevar8x32_ps(f[g], _mm256_setr_epi32(4 * h, 4 * h, 4 * h, 4 * h, 4 * h + 2,
                                                             4 * h + 2, 4 * h + 2, 4 * h + 2));
        k.s1[h] = _mm256_permutevar8x32_ps(f[g], _mm256_setr_epi32(4 * h + 1, 4 * h + 1, 4 * h + 1,
                                                                   4 * h + 1, 4 * h + 3, 4 * h + 3,
                                                                   4 * h + 3, 4 * h + 3));
    }
    return k;
}

TGT_INLINE void scales_q6f(const uint8_t *b, __m256 f[2]) { scales_q6(b, &f[0], &f[1]); }
TGT_INLINE void scales_q45f(const uint8_t *b, __m256 f[2]) { scales_q45(b, &f[0], &f[1]); }

/* One half of a group against one token's half: Q4_K/Q5_K. */
TGT_INLINE __m256 kdot_q45(__m256 acc, const kgroup *w, int h, __m256i alo, __m256i ahi, __m256 ad,
                           __m256i nsum) {
    __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w->u[h][0], alo),
                                 _mm256_maddubs_epi16(w->u[h][1], ahi));
    __m256i s = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(w->s0[h], ad), acc);
    return _mm256_fmadd_ps(w->s1[h], _mm256_mul_ps(ad, _mm256_cvtepi32_ps(nsum)), acc);
}

/* Q6_K: each half of each block from -32 * its sum of qx (nsum lanes). */
TGT_INLINE __m256 kdot_q6(__m256 acc, const kgroup *w, int h, __m256i alo, __m256i ahi, __m256 ad,
                          __m256i nsum) {
    __m256i one = _mm256_set1_epi16(1);
    __m256i i0 =
        _mm256_slli_epi32(_mm256_and_si256(nsum, _mm256_setr_epi32(-1, 0, 0, 0, -1, 0, 0, 0)), 5);
    __m256i i1 =
        _mm256_slli_epi32(_mm256_and_si256(nsum, _mm256_setr_epi32(0, -1, 0, 0, 0, -1, 0, 0)), 5);
    __m256i s0 =
        _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(w->u[h][0], alo), one), i0);
    __m256i s1 =
        _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(w->u[h][1], ahi), one), i1);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_mul_ps(w->s0[h], ad), acc);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_mul_ps(w->s1[h], ad), acc);
}

#define KTILE(NAME, SCALES, GROUP, DOT, SB, R, C)                                                  \
    TGT static void NAME##_##R##x##C(float *y, size_t ldy, const uint8_t *w, size_t rb,            \
                                     const uint8_t *act, size_t ab, int ns) {                      \
        __m256 acc[R][C];                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] =          \
            _mm256_setzero_ps();                                                                   \
        for (int i = 0; i < ns; i++) {                                                             \
            __m256 f[R][2];                                                                        \
            UNROLL for (int r = 0; r < R; r++) SCALES(w + r * rb + (size_t)i * SB, f[r]);          \
            for (int g = 0; g < 2; g++) {                                                          \
                kgroup kg[R];                                                                      \
                UNROLL for (int r = 0; r < R; r++) kg[r] =                                         \
                    GROUP(w + r * rb + (size_t)i * SB, f[r], g);                                   \
                UNROLL for (int c = 0; c < C; c++) {                                               \
                    const act_q8_group *a = act_group(act + c * ab, 2 * i + g);                    \
                    UNROLL for (int h = 0; h < 2; h++) {                                           \
                        __m256i alo = _mm256_loadu_si256((const __m256i *)(a->lo + 32 * h));       \
                        __m256i ahi = _mm256_loadu_si256((const __m256i *)(a->hi + 32 * h));       \
                        __m256i ns8 = _mm256_loadu_si256((const __m256i *)(a->nsum + 8 * h));      \
                        __m256 ad = _mm256_loadu_ps(a->d + 8 * h);                                 \
                        UNROLL for (int r = 0; r < R; r++) acc[r][c] =                             \
                            DOT(acc[r][c], &kg[r], h, alo, ahi, ad, ns8);                          \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] =     \
            hsum8(acc[r][c]);                                                                      \
    }

typedef void (*ktile_fn)(float *y, size_t ldy, const uint8_t *w, size_t rb, const uint8_t *act,
                         size_t ab, int ns);

#define KTILES(NAME, SCALES, GROUP, DOT, SB)                                                       \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 2, 1)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 2, 2)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 1, 1)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 1, 2)                                                      \
    static const ktile_fn NAME##_tiles[2][TC] = {{NAME##_1x1, NAME##_1x2},                         \
                                                 {NAME##_2x1, NAME##_2x2}};                        \
    static void gemm_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,       \
                            size_t ab, int n, int nr, int nt) {                                    \
        for (int t = 0; t < nt; t += TC) {                                                         \
            int c = nt - t < TC ? nt - t : TC, r = 0;                                              \
            const uint8_t *a = (const uint8_t *)act + t * ab;                                      \
            for (; nt > 1 && r + TR <= nr; r += TR)                                                \
                NAME##_tiles[1][c - 1](y + (size_t)t * ldy + r, ldy, (const uint8_t *)w + r * rb,  \
                                       rb, a, ab, n / 256);                                        \
            for (; r < nr; r++)                                                                    \
                NAME##_tiles[0][c - 1](y + (size_t)t * ldy + r, ldy, (const uint8_t *)w + r * rb,  \
                                       rb, a, ab, n / 256);                                        \
        }                                                                                          \
    }

KTILES(q4_K, scales_q45f, q4_K_group, kdot_q45, 144)
KTILES(q5_K, scales_q45f, q5_K_group, kdot_q45, 176)
KTILES(q6_K, scales_q6f, q6_K_group, kdot_q6, 210)

/* ---- F32 / F16 / BF16 weights x f32 activations ---- */

TGT_INLINE __m256 load_f32(const uint8_t *p) { return _mm256_loadu_ps((const float *)p); }
TGT_INLINE __m256 load_f16(const uint8_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
TGT_INLINE __m256 load_bf16(const uint8_t *p) {
    __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}
static float val_f32(const uint8_t *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}
static float val_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return half_to_f32(h);
}
static float val_bf16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return bf16_to_f32(h);
}

/* 8 values at a time, two accumulators per (row, token) so that one
 * FMA chain's latency does not bound a single-token pass; scalar tail. */
#define FTILE(NAME, LOADV, VAL, ES, R, C)                                                          \
    TGT static void NAME##_##R##x##C(float *y, size_t ldy, const uint8_t *w, size_t rb,            \
                                     const uint8_t *act, size_t ab, int n) {                       \
        __m256 acc[R][C][2];                                                                       \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c][0] =       \
            acc[r][c][1] = _mm256_setzero_ps();                                                    \
        int i = 0;                                                                                 \
        for (; i + 16 <= n; i += 16) {                                                             \
            UNROLL for (int e = 0; e < 2; e++) {                                                   \
                __m256 wv[R];                                                                      \
                UNROLL for (int r = 0; r < R; r++) wv[r] =                                         \
                    LOADV(w + r * rb + (size_t)(i + 8 * e) * ES);                                  \
                UNROLL for (int c = 0; c < C; c++) {                                               \
                    __m256 xv = _mm256_loadu_ps((const float *)(act + c * ab) + i + 8 * e);        \
                    UNROLL for (int r = 0; r < R; r++) acc[r][c][e] =                              \
                        _mm256_fmadd_ps(wv[r], xv, acc[r][c][e]);                                  \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {                    \
            const float *x = (const float *)(act + c * ab);                                        \
            float tail = 0.0f;                                                                     \
            for (int j = i; j < n; j++) tail += VAL(w + r * rb + (size_t)j * ES) * x[j];           \
            y[c * ldy + r] = hsum8(_mm256_add_ps(acc[r][c][0], acc[r][c][1])) + tail;              \
        }                                                                                          \
    }

typedef void (*ftile_fn)(float *y, size_t ldy, const uint8_t *w, size_t rb, const uint8_t *act,
                         size_t ab, int n);

/* One token, R rows (ys, rs apart): 32 values per step into four
 * accumulators per row, so that no FMA waits for the previous one; then 8
 * at a time, then the n % 8 tail in scalar float. A row gets the same
 * operations in the same order whatever R. The caller pairs row r with row
 * r + nr/2: two sequential streams far apart (adjacent rows side by side
 * read at half speed from DRAM here; see kern_avx512.c's vec_q4_0). The
 * quantized one-token kernels stay one row at a time: a two-row tile
 * spills 16 registers and was slower. */
#define FUNIT(NAME, LOADV, VAL, ES, R)                                                             \
    TGT static void NAME##_unit_##R(float *y, size_t ys, const uint8_t *w, size_t rs,              \
                                    const void *act, int n) {                                      \
        const float *x = act;                                                                      \
        __m256 a[R][4];                                                                            \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int k = 0; k < 4; k++) a[r][k] =            \
            _mm256_setzero_ps();                                                                   \
        int i = 0;                                                                                 \
        for (; i + 32 <= n; i += 32) UNROLL for (int r = 0; r < R; r++) {                          \
                const uint8_t *p = w + r * rs + (size_t)i * ES;                                    \
                UNROLL for (int k = 0; k < 4; k++) a[r][k] = _mm256_fmadd_ps(                      \
                    LOADV(p + 8 * k * ES), _mm256_loadu_ps(x + i + 8 * k), a[r][k]);               \
            }                                                                                      \
        for (; i + 8 <= n; i += 8)                                                                 \
            UNROLL for (int r = 0; r < R; r++) a[r][0] = _mm256_fmadd_ps(                          \
                LOADV(w + r * rs + (size_t)i * ES), _mm256_loadu_ps(x + i), a[r][0]);              \
        UNROLL for (int r = 0; r < R; r++) {                                                       \
            float tail = 0.0f;                                                                     \
            for (int j = i; j < n; j++) tail += VAL(w + r * rs + (size_t)j * ES) * x[j];           \
            __m256 s =                                                                             \
                _mm256_add_ps(_mm256_add_ps(a[r][0], a[r][1]), _mm256_add_ps(a[r][2], a[r][3]));   \
            y[r * ys] = hsum8(s) + tail;                                                           \
        }                                                                                          \
    }

#define FTILES(NAME, LOADV, VAL, ES)                                                               \
    FUNIT(NAME, LOADV, VAL, ES, 1)                                                                 \
    FUNIT(NAME, LOADV, VAL, ES, 2)                                                                 \
    FTILE(NAME, LOADV, VAL, ES, 2, 1)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 2, 2)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 1)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 2)                                                              \
    static const ftile_fn NAME##_tiles[2][TC] = {{NAME##_1x1, NAME##_1x2},                         \
                                                 {NAME##_2x1, NAME##_2x2}};                        \
    /* Tiles for any nt, one too: batch-invariant (docs/kernels.md). */                            \
    static void multi_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,      \
                             size_t ab, int n, int nr, int nt) {                                   \
        for (int t = 0; t < nt; t += TC) {                                                         \
            int c = nt - t < TC ? nt - t : TC, r = 0;                                              \
            const uint8_t *a = (const uint8_t *)act + t * ab;                                      \
            for (; r + TR <= nr; r += TR)                                                          \
                NAME##_tiles[1][c - 1](y + (size_t)t * ldy + r, ldy, (const uint8_t *)w + r * rb,  \
                                       rb, a, ab, n);                                              \
            for (; r < nr; r++)                                                                    \
                NAME##_tiles[0][c - 1](y + (size_t)t * ldy + r, ldy, (const uint8_t *)w + r * rb,  \
                                       rb, a, ab, n);                                              \
        }                                                                                          \
    }                                                                                              \
    /* One token in parts: rows r and r + nr/2 side by side (see qvec). */                         \
    static void vec_##NAME(float *y, const void *w, size_t rb, const void *x, int n, int nr,       \
                           int part, int parts) {                                                  \
        kern_vec_lanes(2, NAME##_unit_2, NAME##_unit_1, y, w, rb, x, n, nr, part, parts);          \
    }                                                                                              \
    static void gemm_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,       \
                            size_t ab, int n, int nr, int nt) {                                    \
        if (nt > 1) {                                                                              \
            multi_##NAME(y, ldy, w, rb, act, ab, n, nr, nt);                                       \
            return;                                                                                \
        }                                                                                          \
        vec_##NAME(y, w, rb, act, n, nr, 0, 1);                                                    \
    }

FTILES(f32, load_f32, val_f32, 4)
FTILES(f16, load_f16, val_f16, 2)
FTILES(bf16, load_bf16, val_bf16, 2)

const kern_ops kern_avx2 = {
    .name = "avx2",
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
    .multi = {[TYPE_F32] = multi_f32, [TYPE_F16] = multi_f16, [TYPE_BF16] = multi_bf16},
    .vec = {[TYPE_F32] = vec_f32,
            [TYPE_F16] = vec_f16,
            [TYPE_BF16] = vec_bf16,
            [TYPE_Q8_0] = vec_q8_0},
};

#endif
