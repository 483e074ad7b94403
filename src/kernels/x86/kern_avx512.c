/*
 * kern_avx512.c - AVX-512 matmul kernels (F, BW, VL, DQ, VNNI, VBMI): the
 * fast path on Zen 4/5 and Ice Lake or later.
 *
 * Every function carries a target attribute instead of the file being built
 * with -mavx512*, so the rest of the library stays baseline x86-64 and
 * dispatch.c only calls in here after checking the CPU.
 *
 * Shape of every kernel: the caller gives nr weight rows and nt tokens; we
 * walk tokens in groups of up to TC (outer) and rows in groups of TR
 * (inner), so a few tokens' activations stay in L1 while the weight rows
 * stream past, and each tile keeps TR x TC accumulators in registers: a
 * weight vector is decoded once for TC tokens, an activation vector loaded
 * once for TR rows. One token (generation) is the TC = 1 case: a straight
 * pass over the rows, bound by memory bandwidth.
 *
 * Q4_0 / Q8_0 x Q8 activations: four weight blocks (128 values) at a time.
 * vpermt2b gathers the 16-byte halves of four blocks into one register in
 * the order of act_q8_group; vpdpbusd multiplies unsigned weight bytes by
 * signed activation bytes. Q4_0 nibbles are already unsigned (q + 8), Q8_0
 * bytes are made unsigned by flipping the sign bit (q + 128); the offset
 * times the activation block sum is subtracted exactly by starting the
 * integer accumulator at nsum << 3 (resp. << 7). So each block's integer
 * dot equals the scalar kernel's bit for bit; the float part (scale by
 * d_w * d_x, accumulate in 16 lanes, reduce) rounds differently.
 *
 * F32 / F16 / BF16 x f32: 16 values at a time, weights widened to f32
 * (vcvtph2ps, or a 16-bit shift for bf16), FMA in 16 lanes per (row, token);
 * a tail of n % 16 values is done in scalar float.
 */
#include <string.h>

#include "base/half.h"
#include "kernels/dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT                                                                                        \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma,"     \
                          "f16c")))
#define TGT_INLINE TGT static inline __attribute__((always_inline))

#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

enum { TR = 4, TC = 3 }; /* tile: rows x tokens */

/* ---- Q8 activations ---- */

/* roundf (half away from zero) of each lane, clamped to [-127, 127], NaN
 * to 0 (as the scalar act_round): the fractional part v - trunc(v) is
 * exact, so the tie test is exact. */
TGT_INLINE __m512 round_away(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 one = _mm512_or_ps(_mm512_set1_ps(1.0f),
                              _mm512_and_ps(v, _mm512_castsi512_ps(_mm512_set1_epi32(INT32_MIN))));
    __m512 r = _mm512_mask_add_ps(t, up, t, one);
    r = _mm512_max_ps(_mm512_min_ps(r, _mm512_set1_ps(127.0f)), _mm512_set1_ps(-127.0f));
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_ORD_Q), r); /* NaN -> 0 */
}

/* Block k of group g from 32 floats: the same float operations as the
 * scalar act_block, so the bytes are identical. */
TGT static void act_block(act_q8_group *g, int k, const float *x) {
    __m512 x0 = _mm512_loadu_ps(x), x1 = _mm512_loadu_ps(x + 16);
    float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(x0), _mm512_abs_ps(x1)));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    __m512i q0 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(x0, _mm512_set1_ps(id))));
    __m512i q1 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(x1, _mm512_set1_ps(id))));
    _mm_storeu_si128((__m128i *)(g->lo + 16 * k), _mm512_cvtsepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(g->hi + 16 * k), _mm512_cvtsepi32_epi8(q1));
    g->nsum[4 * k] = -_mm512_reduce_add_epi32(q0);
    g->nsum[4 * k + 1] = -_mm512_reduce_add_epi32(q1);
    _mm_storeu_ps(g->d + 4 * k, _mm_set1_ps(d));
}

TGT static void prep_q8(void *act, const float *x, int n) {
    act_q8_group *g = act;
    int nb = n / 32;
    for (int i = 0; i < (nb + 3) / 4; i++) {
        memset(&g[i], 0, sizeof g[i]);
        for (int k = 0; k < 4 && 4 * i + k < nb; k++) act_block(&g[i], k, x + 32 * (4 * i + k));
    }
}

/* ---- quantized weights: one group of four blocks, decoded ---- */

typedef struct wgroup {
    __m512i lo, hi; /* unsigned weight bytes in act_q8_group order */
    __m512 d;       /* d of block b in lanes 4b..4b+3 */
} wgroup;

/* vpermt2b index: byte j of each 16-byte half-block k at group offset
 * base + stride*k + j, from a 128-byte window starting at `win`. */
#define HALF_IDX(base, stride, win, k)                                                             \
    (char)((base) + (stride) * (k) + 0 - (win)), (char)((base) + (stride) * (k) + 1 - (win)),      \
        (char)((base) + (stride) * (k) + 2 - (win)), (char)((base) + (stride) * (k) + 3 - (win)),  \
        (char)((base) + (stride) * (k) + 4 - (win)), (char)((base) + (stride) * (k) + 5 - (win)),  \
        (char)((base) + (stride) * (k) + 6 - (win)), (char)((base) + (stride) * (k) + 7 - (win)),  \
        (char)((base) + (stride) * (k) + 8 - (win)), (char)((base) + (stride) * (k) + 9 - (win)),  \
        (char)((base) + (stride) * (k) + 10 - (win)),                                              \
        (char)((base) + (stride) * (k) + 11 - (win)),                                              \
        (char)((base) + (stride) * (k) + 12 - (win)),                                              \
        (char)((base) + (stride) * (k) + 13 - (win)),                                              \
        (char)((base) + (stride) * (k) + 14 - (win)), (char)((base) + (stride) * (k) + 15 - (win))

/* _mm512_set_epi8 takes bytes from the highest down; this takes a list in
 * memory order. */
TGT_INLINE __m512i bytes64(const char b[64]) { return _mm512_loadu_si512((const void *)b); }

/* Q4_0: 18-byte blocks, qs at +2. Windows p[0..63] and p[8..71] cover the
 * 72 bytes; offsets past 63 come from the second window (index 64 + off - 8). */
TGT_INLINE wgroup q4_0_group(const uint8_t *p) {
    static const char idx_b[64] = {HALF_IDX(2, 18, 0, 0), HALF_IDX(2, 18, 0, 1),
                                   HALF_IDX(2, 18, 0, 2), HALF_IDX(2 + 64 - 8, 18, 0, 3)};
    static const short idx_d[32] = {0, 0, 0, 0, 9, 9, 9, 9, 18, 18, 18, 18, 27, 27, 27, 27};
    __m512i a = _mm512_loadu_si512((const void *)p), b = _mm512_loadu_si512((const void *)(p + 8));
    __m512i qs = _mm512_permutex2var_epi8(a, bytes64(idx_b), b);
    __m512i m4 = _mm512_set1_epi8(15);
    wgroup g;
    g.lo = _mm512_and_si512(qs, m4);
    g.hi = _mm512_and_si512(_mm512_srli_epi16(qs, 4), m4);
    __m512i dw = _mm512_permutexvar_epi16(_mm512_loadu_si512((const void *)idx_d), a);
    g.d = _mm512_cvtph_ps(_mm512_castsi512_si256(dw));
    return g;
}

/* Q8_0: 34-byte blocks, qs at +2. First halves lie in p[0..127], second
 * halves in p[8..135]; the four d in p[0..127] (words 0, 17, 34, 51). */
TGT_INLINE wgroup q8_0_group(const uint8_t *p) {
    static const char idx_lo[64] = {HALF_IDX(2, 34, 0, 0), HALF_IDX(2, 34, 0, 1),
                                    HALF_IDX(2, 34, 0, 2), HALF_IDX(2, 34, 0, 3)};
    static const char idx_hi[64] = {HALF_IDX(18, 34, 8, 0), HALF_IDX(18, 34, 8, 1),
                                    HALF_IDX(18, 34, 8, 2), HALF_IDX(18, 34, 8, 3)};
    static const short idx_d[32] = {0, 0, 0, 0, 17, 17, 17, 17, 34, 34, 34, 34, 51, 51, 51, 51};
    __m512i a0 = _mm512_loadu_si512((const void *)p);
    __m512i a1 = _mm512_loadu_si512((const void *)(p + 64));
    __m512i b0 = _mm512_loadu_si512((const void *)(p + 8));
    __m512i b1 = _mm512_loadu_si512((const void *)(p + 72));
    __m512i flip = _mm512_set1_epi8((char)0x80);
    wgroup g;
    g.lo = _mm512_xor_si512(_mm512_permutex2var_epi8(a0, bytes64(idx_lo), a1), flip);
    g.hi = _mm512_xor_si512(_mm512_permutex2var_epi8(b0, bytes64(idx_hi), b1), flip);
    __m512i dw = _mm512_permutex2var_epi16(a0, _mm512_loadu_si512((const void *)idx_d), a1);
    g.d = _mm512_cvtph_ps(_mm512_castsi512_si256(dw));
    return g;
}

/* One weight group against one token's activation group. */
TGT_INLINE __m512 group_dot(__m512 acc, const wgroup *w, __m512i init, __m512i alo, __m512i ahi,
                            __m512 ad) {
    __m512i s = _mm512_dpbusd_epi32(init, w->lo, alo);
    s = _mm512_dpbusd_epi32(s, w->hi, ahi);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(w->d, ad), acc);
}

/* A tile of R rows x C tokens over groups [0, ng) of full weight groups,
 * then `tail` (0..3) blocks copied out to a zeroed group buffer. SHIFT: 3
 * for Q4_0, 7 for Q8_0; GB: bytes per weight group. */
#define QTILE(NAME, LOAD, SHIFT, GB, R, C)                                                         \
    TGT static void NAME##_##R##x##C(float *y, size_t ldy, const uint8_t *w, size_t rb,            \
                                     const uint8_t *act, size_t ab, int ng, int tail) {            \
        __m512 acc[R][C];                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] =          \
            _mm512_setzero_ps();                                                                   \
        for (int g = 0; g <= ng; g++) {                                                            \
            wgroup wg[R];                                                                          \
            if (g == ng) {                                                                         \
                if (!tail) break;                                                                  \
                UNROLL for (int r = 0; r < R; r++) {                                               \
                    uint8_t buf[4 * GB / 4 + 64] = {0};                                            \
                    memcpy(buf, w + r * rb + (size_t)g * GB, (size_t)tail * (GB / 4));             \
                    wg[r] = LOAD(buf);                                                             \
                }                                                                                  \
            } else {                                                                               \
                UNROLL for (int r = 0; r < R; r++) wg[r] = LOAD(w + r * rb + (size_t)g * GB);      \
            }                                                                                      \
            UNROLL for (int c = 0; c < C; c++) {                                                   \
                const act_q8_group *a = (const act_q8_group *)(act + c * ab) + g;                  \
                __m512i init = _mm512_slli_epi32(_mm512_loadu_si512(a->nsum), SHIFT);              \
                __m512i alo = _mm512_loadu_si512(a->lo), ahi = _mm512_loadu_si512(a->hi);          \
                __m512 ad = _mm512_loadu_ps(a->d);                                                 \
                UNROLL for (int r = 0; r < R; r++) acc[r][c] =                                     \
                    group_dot(acc[r][c], &wg[r], init, alo, ahi, ad);                              \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] =     \
            _mm512_reduce_add_ps(acc[r][c]);                                                       \
    }

typedef void (*qtile_fn)(float *y, size_t ldy, const uint8_t *w, size_t rb, const uint8_t *act,
                         size_t ab, int ng, int tail);

#define QTILES(NAME, LOAD, SHIFT, GB)                                                              \
    QTILE(NAME, LOAD, SHIFT, GB, 4, 1)                                                             \
    QTILE(NAME, LOAD, SHIFT, GB, 4, 2)                                                             \
    QTILE(NAME, LOAD, SHIFT, GB, 4, 3)                                                             \
    QTILE(NAME, LOAD, SHIFT, GB, 1, 1)                                                             \
    QTILE(NAME, LOAD, SHIFT, GB, 1, 2)                                                             \
    QTILE(NAME, LOAD, SHIFT, GB, 1, 3)                                                             \
    static const qtile_fn NAME##_tiles[2][TC] = {{NAME##_1x1, NAME##_1x2, NAME##_1x3},             \
                                                 {NAME##_4x1, NAME##_4x2, NAME##_4x3}};

QTILES(q4_0, q4_0_group, 3, 72)
QTILES(q8_0, q8_0_group, 7, 136)

/* Tokens in groups of TC (outer), rows in groups of TR (inner). */
static void qgemm(const qtile_fn tiles[2][TC], float *y, size_t ldy, const uint8_t *w, size_t rb,
                  const uint8_t *act, size_t ab, int n, int nr, int nt) {
    int nb = n / 32, ng = nb / 4, tail = nb % 4;
    for (int t = 0; t < nt; t += TC) {
        int c = nt - t < TC ? nt - t : TC;
        int r = 0;
        for (; r + TR <= nr; r += TR)
            tiles[1][c - 1](y + (size_t)t * ldy + r, ldy, w + r * rb, rb, act + t * ab, ab, ng,
                            tail);
        for (; r < nr; r++)
            tiles[0][c - 1](y + (size_t)t * ldy + r, ldy, w + r * rb, rb, act + t * ab, ab, ng,
                            tail);
    }
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
 * A 256-value superblock is two activation groups. Its sub-block scales
 * (and Q4_K/Q5_K mins) are decoded once into 16 floats, then spread to the
 * lanes of each group with one permute. Per group and token:
 *   Q4_K/Q5_K: isum = sum(q * qx) (q unsigned, no offset), then
 *     acc += isum * (d*sc * dx) + (dmin*m) * (dx * nsum), the second term
 *     being -dmin*m*dx*sum(qx), the mins' share;
 *   Q6_K: scales per 16 values, so the first and second halves of each
 *     block accumulate apart, each starting at -32 * its half's sum(qx)
 *     (nsum lanes 4b, 4b+1) to turn q (0..63) into q - 32. */

/* One group of a K superblock, decoded: unsigned q bytes in act_q8_group
 * order and two float vectors whose use depends on the type (see above). */
typedef struct kgroup {
    __m512i lo, hi;
    __m512 s0, s1;
} kgroup;

/* A token's activation group, with what the K kernels derive from it. */
typedef struct ktoken {
    __m512i lo, hi, init0, init1;
    __m512 d, xs;
} ktoken;

TGT_INLINE ktoken ktoken_load(const act_q8_group *a) {
    ktoken t;
    __m512i nsum = _mm512_loadu_si512(a->nsum);
    t.lo = _mm512_loadu_si512(a->lo);
    t.hi = _mm512_loadu_si512(a->hi);
    t.d = _mm512_loadu_ps(a->d);
    t.xs = _mm512_mul_ps(t.d, _mm512_cvtepi32_ps(nsum));
    t.init0 = _mm512_maskz_slli_epi32(0x1111, nsum, 5);
    t.init1 = _mm512_maskz_slli_epi32(0x2222, nsum, 5);
    return t;
}

/* Nibbles of 64 bytes, split: lo = [L0 H0 L2 H2], hi = [L1 H1 L3 H3] by
 * 16-byte lanes (L: low nibbles, H: high nibbles) for Q4_K/Q5_K, whose
 * sub-block 2i takes the low and 2i+1 the high nibbles of 32 bytes. */
TGT_INLINE void nibbles_q45(const uint8_t *p, __m512i *lo, __m512i *hi) {
    __m512i z = _mm512_loadu_si512((const void *)p), m4 = _mm512_set1_epi8(15);
    __m512i l = _mm512_and_si512(z, m4), h = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
    *lo = _mm512_permutex2var_epi64(l, _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), h);
    *hi = _mm512_permutex2var_epi64(l, _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15), h);
}

/* Q4_K/Q5_K: d*sc[0..7] then dmin*m[0..7] as 16 floats. */
TGT_INLINE __m512 scales_q45(const uint8_t *b) {
    uint32_t u[3], dd;
    memcpy(&dd, b, 4);
    memcpy(u, b + 4, 12);
    uint64_t sc =
        (u[0] & 0x3f3f3f3fu) | (uint64_t)((u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u)) << 32;
    uint64_t m = (u[1] & 0x3f3f3f3fu) |
                 (uint64_t)(((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u)) << 32;
    __m512 v =
        _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_set_epi64x((long long)m, (long long)sc)));
    __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dd)); /* d, dmin */
    __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return _mm512_mul_ps(v, _mm512_permutexvar_ps(pick, _mm512_castps128_ps512(dm)));
}

/* Sub-block scales (lanes 4b..4b+3 <- f[first + step*b]) of one group. */
TGT_INLINE __m512 spread(__m512 f, int first, int step) {
    __m512i i = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    i = _mm512_add_epi32(_mm512_mullo_epi32(i, _mm512_set1_epi32(step)), _mm512_set1_epi32(first));
    return _mm512_permutexvar_ps(i, f);
}

TGT_INLINE kgroup q4_K_group(const uint8_t *b, __m512 f, int g) {
    kgroup k;
    nibbles_q45(b + 16 + 64 * g, &k.lo, &k.hi);
    k.s0 = spread(f, 4 * g, 1);
    k.s1 = spread(f, 8 + 4 * g, 1);
    return k;
}

/* Q5_K: bit 4 of the q of sub-block j, element l is bit j of qh[l]. */
TGT_INLINE kgroup q5_K_group(const uint8_t *b, __m512 f, int g) {
    kgroup k;
    nibbles_q45(b + 48 + 64 * g, &k.lo, &k.hi);
    __m512i bit = _mm512_set_epi32(0, 0, 0, 0x08080808, 0, 0, 0, 0x04040404, 0, 0, 0, 0x02020202, 0,
                                   0, 0, 0x01010101);
    bit = _mm512_shuffle_epi8(bit, _mm512_setzero_si512()); /* byte 0 of each lane */
    bit = _mm512_slli_epi32(bit, 4 * g);
    __m512i q0 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(b + 16)));
    __m512i q1 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(b + 32)));
    __m512i sixteen = _mm512_set1_epi8(16);
    k.lo = _mm512_mask_add_epi8(k.lo, _mm512_test_epi8_mask(q0, bit), k.lo, sixteen);
    k.hi = _mm512_mask_add_epi8(k.hi, _mm512_test_epi8_mask(q1, bit), k.hi, sixteen);
    k.s0 = spread(f, 4 * g, 1);
    k.s1 = spread(f, 8 + 4 * g, 1);
    return k;
}

/* Q6_K: d*scales[0..15] as 16 floats. */
TGT_INLINE __m512 scales_q6(const uint8_t *b) {
    __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 192)));
    uint16_t dh;
    memcpy(&dh, b + 208, 2);
    __m128 d = _mm_cvtph_ps(_mm_cvtsi32_si128(dh));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(sc), _mm512_broadcastss_ps(d));
}

/* Two bits per element from qh (bits 2k, 2k+1 of qh[l] for block k of the
 * group), moved to bits 4, 5 and merged into the low nibbles. */
TGT_INLINE __m512i q6_top(__m512i low, const uint8_t *qh) {
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)qh));
    __m512i cnt = _mm512_set_epi32(0x00060006, 0x00060006, 0x00060006, 0x00060006, 0x00040004,
                                   0x00040004, 0x00040004, 0x00040004, 0x00020002, 0x00020002,
                                   0x00020002, 0x00020002, 0, 0, 0, 0);
    v = _mm512_slli_epi16(_mm512_srlv_epi16(v, cnt), 4);
    return _mm512_ternarylogic_epi32(v, _mm512_set1_epi8(0x30), low, 0xea); /* (v & m) | low */
}

TGT_INLINE kgroup q6_K_group(const uint8_t *b, __m512 f, int g) {
    kgroup k;
    __m512i z = _mm512_loadu_si512((const void *)(b + 64 * g)), m4 = _mm512_set1_epi8(15);
    __m512i l = _mm512_and_si512(z, m4), h = _mm512_and_si512(_mm512_srli_epi16(z, 4), m4);
    __m512i lo = _mm512_permutex2var_epi64(l, _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), h);
    __m512i hi = _mm512_permutex2var_epi64(l, _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15), h);
    k.lo = q6_top(lo, b + 128 + 32 * g);
    k.hi = q6_top(hi, b + 128 + 32 * g + 16);
    k.s0 = spread(f, 8 * g, 2);
    k.s1 = spread(f, 8 * g + 1, 2);
    return k;
}

TGT_INLINE __m512 kdot_q45(__m512 acc, const kgroup *w, const ktoken *t) {
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w->lo, t->lo);
    s = _mm512_dpbusd_epi32(s, w->hi, t->hi);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(w->s0, t->d), acc);
    return _mm512_fmadd_ps(w->s1, t->xs, acc);
}

TGT_INLINE __m512 kdot_q6(__m512 acc, const kgroup *w, const ktoken *t) {
    __m512i s0 = _mm512_dpbusd_epi32(t->init0, w->lo, t->lo);
    __m512i s1 = _mm512_dpbusd_epi32(t->init1, w->hi, t->hi);
    acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_mul_ps(w->s0, t->d), acc);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_mul_ps(w->s1, t->d), acc);
}

/* R rows x C tokens over ns superblocks of SB bytes. */
#define KTILE(NAME, SCALES, GROUP, DOT, SB, R, C)                                                  \
    TGT static void NAME##_##R##x##C(float *y, size_t ldy, const uint8_t *w, size_t rb,            \
                                     const uint8_t *act, size_t ab, int ns) {                      \
        __m512 acc[R][C];                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] =          \
            _mm512_setzero_ps();                                                                   \
        for (int i = 0; i < ns; i++) {                                                             \
            __m512 f[R];                                                                           \
            UNROLL for (int r = 0; r < R; r++) f[r] = SCALES(w + r * rb + (size_t)i * SB);         \
            for (int g = 0; g < 2; g++) {                                                          \
                kgroup kg[R];                                                                      \
                UNROLL for (int r = 0; r < R; r++) kg[r] =                                         \
                    GROUP(w + r * rb + (size_t)i * SB, f[r], g);                                   \
                UNROLL for (int c = 0; c < C; c++) {                                               \
                    ktoken t = ktoken_load((const act_q8_group *)(act + c * ab) + 2 * i + g);      \
                    UNROLL for (int r = 0; r < R; r++) acc[r][c] = DOT(acc[r][c], &kg[r], &t);     \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] =     \
            _mm512_reduce_add_ps(acc[r][c]);                                                       \
    }

typedef void (*ktile_fn)(float *y, size_t ldy, const uint8_t *w, size_t rb, const uint8_t *act,
                         size_t ab, int ns);

#define KTILES(NAME, SCALES, GROUP, DOT, SB)                                                       \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 4, 1)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 4, 2)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 4, 3)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 1, 1)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 1, 2)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 1, 3)                                                      \
    static const ktile_fn NAME##_tiles[2][TC] = {{NAME##_1x1, NAME##_1x2, NAME##_1x3},             \
                                                 {NAME##_4x1, NAME##_4x2, NAME##_4x3}};            \
    static void gemm_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,       \
                            size_t ab, int n, int nr, int nt) {                                    \
        for (int t = 0; t < nt; t += TC) {                                                         \
            int c = nt - t < TC ? nt - t : TC, r = 0;                                              \
            const uint8_t *a = (const uint8_t *)act + t * ab;                                      \
            for (; r + TR <= nr; r += TR)                                                          \
                NAME##_tiles[1][c - 1](y + (size_t)t * ldy + r, ldy, (const uint8_t *)w + r * rb,  \
                                       rb, a, ab, n / 256);                                        \
            for (; r < nr; r++)                                                                    \
                NAME##_tiles[0][c - 1](y + (size_t)t * ldy + r, ldy, (const uint8_t *)w + r * rb,  \
                                       rb, a, ab, n / 256);                                        \
        }                                                                                          \
    }

KTILES(q4_K, scales_q45, q4_K_group, kdot_q45, 144)
KTILES(q5_K, scales_q45, q5_K_group, kdot_q45, 176)
KTILES(q6_K, scales_q6, q6_K_group, kdot_q6, 210)

/* ---- F32 / F16 / BF16 weights x f32 activations ---- */

TGT_INLINE __m512 load_f32(const uint8_t *p) { return _mm512_loadu_ps(p); }
TGT_INLINE __m512 load_f16(const uint8_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}
TGT_INLINE __m512 load_bf16(const uint8_t *p) {
    __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
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

/* R rows x C tokens: 16 values at a time into R*C accumulators, the last
 * n % 16 in scalar float, added after the lane reduction. ES: bytes per
 * weight. Each (row, token) sees the same operations in the same order
 * whatever the tile, so results do not depend on how rows are split. */
#define FTILE(NAME, LOADV, VAL, ES, R, C)                                                          \
    TGT static void NAME##_##R##x##C(float *y, size_t ldy, const uint8_t *w, size_t rb,            \
                                     const uint8_t *act, size_t ab, int n) {                       \
        __m512 acc[R][C];                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] =          \
            _mm512_setzero_ps();                                                                   \
        int i = 0;                                                                                 \
        for (; i + 16 <= n; i += 16) {                                                             \
            __m512 wv[R];                                                                          \
            UNROLL for (int r = 0; r < R; r++) wv[r] = LOADV(w + r * rb + (size_t)i * ES);         \
            UNROLL for (int c = 0; c < C; c++) {                                                   \
                __m512 xv = _mm512_loadu_ps((const float *)(act + c * ab) + i);                    \
                UNROLL for (int r = 0; r < R; r++) acc[r][c] =                                     \
                    _mm512_fmadd_ps(wv[r], xv, acc[r][c]);                                         \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) {                    \
            const float *x = (const float *)(act + c * ab);                                        \
            float tail = 0.0f;                                                                     \
            for (int j = i; j < n; j++) tail += VAL(w + r * rb + (size_t)j * ES) * x[j];           \
            y[c * ldy + r] = _mm512_reduce_add_ps(acc[r][c]) + tail;                               \
        }                                                                                          \
    }

typedef void (*ftile_fn)(float *y, size_t ldy, const uint8_t *w, size_t rb, const uint8_t *act,
                         size_t ab, int n);

#define FTILES(NAME, LOADV, VAL, ES)                                                               \
    FTILE(NAME, LOADV, VAL, ES, 4, 1)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 4, 2)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 4, 3)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 1)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 2)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 3)                                                              \
    static const ftile_fn NAME##_tiles[2][TC] = {{NAME##_1x1, NAME##_1x2, NAME##_1x3},             \
                                                 {NAME##_4x1, NAME##_4x2, NAME##_4x3}};            \
    static void gemm_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,       \
                            size_t ab, int n, int nr, int nt) {                                    \
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
    }

FTILES(f32, load_f32, val_f32, 4)
FTILES(f16, load_f16, val_f16, 2)
FTILES(bf16, load_bf16, val_bf16, 2)

const kern_ops kern_avx512 = {
    .name = "avx512",
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

#endif
