/*
 * kern_avx512.c - AVX-512 matmul kernels (F, BW, VL, DQ, VNNI, VBMI, GFNI):
 * the fast path on Zen 4/5 and Ice Lake or later.
 *
 * Every function carries a target attribute instead of the file being built
 * with -mavx512*, so the rest of the library stays baseline x86-64 and
 * dispatch.c only calls in here after checking the CPU.
 *
 * Several tokens (prompt batches): the caller gives nr weight rows and nt
 * tokens; we walk tokens in groups of up to TC (outer) and rows in groups
 * of TR (inner), so a few tokens' activations stay in L1 while the weight
 * rows stream past, and each tile keeps TR x TC accumulators in registers:
 * a weight vector is decoded once for TC tokens, an activation vector
 * loaded once for TR rows.
 *
 * One token (generation) reads every weight once, so there the work per
 * weight byte is what counts: the "unit" kernels take 16 blocks (two
 * K-quant superblocks) per step, sum each block's integer lanes into one
 * lane first (block_sums), and then convert and scale all 16 blocks with
 * one conversion and one FMA. Rows go four (the K-quants: two) side by
 * side, row r with r + nr/4, ...: far-apart sequential streams that share
 * the activation loads; op_matmul hands threads slices of those quarters
 * as they come free (kern_vec_fn, kern_vec_lanes).
 *
 * Quantized weights x Q8 activations: four blocks (128 values) at a time.
 * A byte permute (vpermt2b, or vpermt2q for the K-quants' nibble layout)
 * puts the 16-byte halves of four blocks into one register in the order of
 * act_q8_group; vpdpbusd multiplies unsigned weight bytes by signed
 * activation bytes. Q4_0 nibbles are q + 8 and Q8_0 bytes become q + 128 by
 * flipping the sign bit; the offset times the activation block sum is
 * subtracted exactly in integers (nsum). So each block's integer dot equals
 * the scalar kernel's bit for bit; the float part (scales, accumulation
 * order, final reduction) rounds differently.
 *
 * F32 / F16 / BF16 x f32: 16 values at a time, weights widened to f32
 * (vcvtph2ps, or a 16-bit shift for bf16), FMA in 16 lanes per (row, token)
 * (one token: four accumulators per row, see FUNIT); a tail of n % 16
 * values is done in scalar float.
 */
#include <string.h>

#include "base/half.h"
#include "kernels/dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT                                                                                        \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,gfni,avx2,"    \
                          "fma,f16c")))
#define TGT_INLINE TGT static inline __attribute__((always_inline))

#if defined(__clang__)
#define UNROLL _Pragma("clang loop unroll(full)")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

enum { TR = 4, TC = 3 }; /* tile: rows x tokens */
enum { FTC = 6 };        /* float tiles: tokens */

/* Keeps v in a register: without this the compiler folds the load into
 * each FMA that uses it, loading the same weights once per token. */
#define KEEP(v) __asm__("" : "+v"(v))

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
TGT static float act_block(act_q8_group *g, int k, const float *x) {
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

/* One weight group (four blocks) of R rows against C tokens, into ACC;
 * row r's group starts at PTR(r). */
#define QGROUP(LOAD, SHIFT, R, C, ACC, G, PTR)                                                     \
    do {                                                                                           \
        wgroup wg[R];                                                                              \
        UNROLL for (int r = 0; r < R; r++) wg[r] = LOAD(PTR(r));                                   \
        UNROLL for (int c = 0; c < C; c++) {                                                       \
            const act_q8_group *a = act_group(act + c * ab, G);                                    \
            __m512i init = _mm512_slli_epi32(_mm512_loadu_si512(a->nsum), SHIFT);                  \
            __m512i alo = _mm512_loadu_si512(a->lo), ahi = _mm512_loadu_si512(a->hi);              \
            __m512 ad = _mm512_loadu_ps(a->d);                                                     \
            UNROLL for (int r = 0; r < R; r++) ACC[r][c] =                                         \
                group_dot(ACC[r][c], &wg[r], init, alo, ahi, ad);                                  \
        }                                                                                          \
    } while (0)

/* A tile of R rows x C tokens over ng full weight groups, then `tail`
 * (0..3) blocks copied out to zeroed buffers. SHIFT: 3 for Q4_0, 7 for
 * Q8_0; GB: bytes per weight group. With one token, even and odd groups
 * go to separate accumulators: one FMA chain per row would otherwise bound
 * the loop at the FMA latency per group. */
#define QTILE(NAME, LOAD, SHIFT, GB, R, C)                                                         \
    TGT static void NAME##_##R##x##C(float *y, size_t ldy, const uint8_t *w, size_t rb,            \
                                     const uint8_t *act, size_t ab, int ng, int tail) {            \
        const size_t gb = GB;                                                                      \
        __m512 acc[R][C], acc2[R][C];                                                              \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) acc[r][c] =          \
            acc2[r][c] = _mm512_setzero_ps();                                                      \
        int g = 0;                                                                                 \
        if (C == 1)                                                                                \
            for (; g + 2 <= ng; g += 2) {                                                          \
                QGROUP(LOAD, SHIFT, R, C, acc, g, WPTR);                                           \
                QGROUP(LOAD, SHIFT, R, C, acc2, g + 1, WPTR1);                                     \
            }                                                                                      \
        for (; g < ng; g++) QGROUP(LOAD, SHIFT, R, C, acc, g, WPTR);                               \
        if (tail) {                                                                                \
            uint8_t buf[R][GB + 64];                                                               \
            memset(buf, 0, sizeof buf);                                                            \
            UNROLL for (int r = 0; r < R; r++)                                                     \
                memcpy(buf[r], w + r * rb + (size_t)ng * GB, (size_t)tail * (GB / 4));             \
            QGROUP(LOAD, SHIFT, R, C, acc2, ng, BPTR);                                             \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int c = 0; c < C; c++) y[c * ldy + r] =     \
            _mm512_reduce_add_ps(_mm512_add_ps(acc[r][c], acc2[r][c]));                            \
    }
#define WPTR(r) (w + (r)*rb + (size_t)g * gb)
#define WPTR1(r) (w + (r)*rb + (size_t)(g + 1) * gb)
#define BPTR(r) (buf[r])

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

/* ---- one token: 16 blocks per step, one float scale per block ----
 *
 * Generation reads every weight once, so the work per weight block must be
 * small enough to keep up with memory. Scaling four lanes per block (as
 * above) converts every block's d twice (f16 d_w and the integer sum); here
 * the integer lanes of four groups are first summed to one lane per block,
 * so 16 blocks share one int -> float conversion, one f16 -> float
 * conversion of their d_w and one multiply-add. */

/* Lane 4k + g = the sum of lanes 4k..4k+3 of z[g] (block k of group g):
 * the blocks in "block_T" order, not 4g + k, because in-lane unpacks do
 * it in six shuffles where a block-ordered result needs six cross-lane
 * permutes (vpermt2d), which cost more here: one token in cache, 1
 * thread, Q4_0 31.5 -> 36.0 GB/s, Q4_K 25.1 -> 26.0, Q6_K 23.3 -> 24.8.
 * Scales and offsets are permuted to that order once per unit instead. */
TGT_INLINE __m512i block_sums(const __m512i z[4]) {
    __m512i a =
        _mm512_add_epi32(_mm512_unpacklo_epi32(z[0], z[1]), _mm512_unpackhi_epi32(z[0], z[1]));
    __m512i b =
        _mm512_add_epi32(_mm512_unpacklo_epi32(z[2], z[3]), _mm512_unpackhi_epi32(z[2], z[3]));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}

/* Lane 4k + g <- lane 4g + k: block order to block_sums' (its own
 * inverse). */
TGT_INLINE __m512i block_T(void) {
    return _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
}

/* (x >> 4) & 15 in every byte, in one instruction (a GF(2) bit matrix). */
TGT_INLINE __m512i high_nibbles(__m512i x) {
    return _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64(0x1020408000000000LL), 0);
}

/* Q4_0 unit of one row: its integer lanes without the -8 offset (added per
 * block later) into z[g], its 16 f16 d into words 0..15 of *dw. The 288
 * bytes are read as five 64-byte windows (the fifth 32 bytes): group g
 * (72 bytes from 72g) lies in windows g and g + 1, so one two-table byte
 * permute per group gathers its quants; the d come from the same windows. */
TGT_INLINE void q4_0_unit_row(const uint8_t *p, const act_q8_unit *u, __m512i z[4], __m512i *dw) {
    static const char idx_b[4][64] = {{HALF_IDX(2, 18, 0, 0), HALF_IDX(2, 18, 0, 1),
                                       HALF_IDX(2, 18, 0, 2), HALF_IDX(2, 18, 0, 3)},
                                      {HALF_IDX(10, 18, 0, 0), HALF_IDX(10, 18, 0, 1),
                                       HALF_IDX(10, 18, 0, 2), HALF_IDX(10, 18, 0, 3)},
                                      {HALF_IDX(18, 18, 0, 0), HALF_IDX(18, 18, 0, 1),
                                       HALF_IDX(18, 18, 0, 2), HALF_IDX(18, 18, 0, 3)},
                                      {HALF_IDX(26, 18, 0, 0), HALF_IDX(26, 18, 0, 1),
                                       HALF_IDX(26, 18, 0, 2), HALF_IDX(26, 18, 0, 3)}};
    /* d of block b at byte 18b: words of windows 0-1 (blocks 0..7), then of
     * window 2 (8..10), 3 (11..14) and 4 (15). */
    static const short idx_d01[32] = {0, 9, 18, 27, 36, 45, 54, 63};
    static const short idx_d[32] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 17, 26, 3, 12, 21, 30, 7};
    __m512i win[5];
    UNROLL for (int k = 0; k < 4; k++) win[k] = _mm512_loadu_si512((const void *)(p + 64 * k));
    win[4] = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(p + 256)));
    UNROLL for (int g = 0; g < 4; g++) {
        __m512i qs = _mm512_permutex2var_epi8(win[g], bytes64(idx_b[g]), win[g + 1]);
        __m512i lo = _mm512_and_si512(qs, _mm512_set1_epi8(15));
        __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(u->g[g].lo));
        z[g] = _mm512_dpbusd_epi32(s, high_nibbles(qs), _mm512_loadu_si512(u->g[g].hi));
    }
    __m512i di = _mm512_loadu_si512((const void *)idx_d);
    __m512i d =
        _mm512_permutex2var_epi16(win[0], _mm512_loadu_si512((const void *)idx_d01), win[1]);
    d = _mm512_mask_permutexvar_epi16(d, 0x0700, di, win[2]);
    d = _mm512_mask_permutexvar_epi16(d, 0x7800, di, win[3]);
    *dw = _mm512_mask_permutexvar_epi16(d, 0x8000, di, win[4]);
}

/* Q8_0 group g of a unit (see q8_0_group), without the -128 offset. */
TGT_INLINE void q8_0_unit_group(const uint8_t *p, const act_q8_group *a, int g, __m512i *z,
                                __m512i *dw) {
    static const char idx_lo[64] = {HALF_IDX(2, 34, 0, 0), HALF_IDX(2, 34, 0, 1),
                                    HALF_IDX(2, 34, 0, 2), HALF_IDX(2, 34, 0, 3)};
    static const char idx_hi[64] = {HALF_IDX(18, 34, 8, 0), HALF_IDX(18, 34, 8, 1),
                                    HALF_IDX(18, 34, 8, 2), HALF_IDX(18, 34, 8, 3)};
    static const char idx_d[64] = {0, 1, 34, 35, 4, 5, 38, 39, 0, 1, 34, 35, 4, 5, 38, 39,
                                   0, 1, 34, 35, 4, 5, 38, 39, 0, 1, 34, 35, 4, 5, 38, 39};
    __m512i a0 = _mm512_loadu_si512((const void *)p);
    __m512i a1 = _mm512_loadu_si512((const void *)(p + 64));
    __m512i b0 = _mm512_loadu_si512((const void *)(p + 8));
    __m512i b1 = _mm512_loadu_si512((const void *)(p + 72));
    __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i lo = _mm512_xor_si512(_mm512_permutex2var_epi8(a0, bytes64(idx_lo), a1), flip);
    __m512i hi = _mm512_xor_si512(_mm512_permutex2var_epi8(b0, bytes64(idx_hi), b1), flip);
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(a->lo));
    *z = _mm512_dpbusd_epi32(s, hi, _mm512_loadu_si512(a->hi));
    *dw = _mm512_mask_permutexvar_epi8(*dw, (__mmask64)0x0f << (8 * g), bytes64(idx_d), a0);
    *dw = _mm512_mask_permutexvar_epi8(*dw, (__mmask64)0xf0 << (8 * g), bytes64(idx_d), a1);
}

TGT_INLINE void q8_0_unit_row(const uint8_t *p, const act_q8_unit *u, __m512i z[4], __m512i *dw) {
    *dw = _mm512_setzero_si512();
    UNROLL for (int g = 0; g < 4; g++) q8_0_unit_group(p + 136 * g, &u->g[g], g, &z[g], dw);
}

/* R rows x one token over nu units of UB weight bytes (then `tail` blocks
 * of a last unit, copied to zeroed buffers). SHIFT: the weights' offset
 * (8 or 128) as a shift, subtracted per block through the unit's nsum. */
#define UTILE(NAME, ROW, UB, SHIFT, R)                                                             \
    TGT static void NAME##_unit_##R(float *y, size_t ys, const uint8_t *w, size_t rb,              \
                                    const void *act, int n) {                                      \
        int nu = n / 32 / 16, tail = n / 32 % 16;                                                  \
        __m512 acc[R];                                                                             \
        UNROLL for (int r = 0; r < R; r++) acc[r] = _mm512_setzero_ps();                           \
        for (int i = 0; i < nu + (tail > 0); i++) {                                                \
            const act_q8_unit *u = (const act_q8_unit *)act + i;                                   \
            const uint8_t *p[R];                                                                   \
            uint8_t buf[R][UB + 64];                                                               \
            UNROLL for (int r = 0; r < R; r++) p[r] = w + r * rb + (size_t)i * UB;                 \
            if (i == nu) {                                                                         \
                memset(buf, 0, sizeof buf);                                                        \
                UNROLL for (int r = 0; r < R; r++) {                                               \
                    memcpy(buf[r], p[r], (size_t)tail *(UB / 16));                                 \
                    p[r] = buf[r];                                                                 \
                }                                                                                  \
            }                                                                                      \
            __m512 dx = _mm512_permutexvar_ps(block_T(), _mm512_loadu_ps(u->d));                   \
            __m512i off = _mm512_permutexvar_epi32(                                                \
                block_T(), _mm512_slli_epi32(_mm512_loadu_si512(u->nsum), SHIFT));                 \
            UNROLL for (int r = 0; r < R; r++) {                                                   \
                __m512i z[4], dw;                                                                  \
                ROW(p[r], u, z, &dw);                                                              \
                __m512 d = _mm512_mul_ps(                                                          \
                    _mm512_permutexvar_ps(block_T(), _mm512_cvtph_ps(_mm512_castsi512_si256(dw))), \
                    dx);                                                                           \
                __m512i sums = _mm512_add_epi32(block_sums(z), off);                               \
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), d, acc[r]);                     \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) y[r * ys] = _mm512_reduce_add_ps(acc[r]);               \
    }

UTILE(q4_0, q4_0_unit_row, 288, 3, 1)
UTILE(q4_0, q4_0_unit_row, 288, 3, 4)
UTILE(q8_0, q8_0_unit_row, 544, 7, 1)
UTILE(q8_0, q8_0_unit_row, 544, 7, 4)

/* One token: four rows far apart side by side (kern_vec_lanes with S = 4:
 * r, r + nr/4, r + nr/2, r + 3nr/4), so that the activation loads serve
 * four rows and the weights arrive as sequential streams far apart, then
 * the nr % 4 rows left one at a time. Measured here (2 threads, 5632x2048
 * and 2048x5632 from DRAM, passes alternating): pairs 15-35% faster than
 * one row at a time for every type, four rows 3-7% faster again for Q4_0
 * and Q8_0 (in cache Q8_0 +27%) but slower for the K-quants, which stay in
 * pairs. Rows next to each other side by side (interleaved streams a row
 * apart) were 2x slower, and streams 16 or 128 rows apart 10-35% slower
 * than a quarter of the matrix apart; software prefetch 0.5-4 KB ahead did
 * not help either way. A row's arithmetic is the same whichever kernel
 * takes it. */
static void vec_q4_0(float *y, const void *w, size_t rb, const void *act, int n, int nr, int part,
                     int parts) {
    kern_vec_lanes(4, q4_0_unit_4, q4_0_unit_1, y, w, rb, act, n, nr, part, parts);
}

static void vec_q8_0(float *y, const void *w, size_t rb, const void *act, int n, int nr, int part,
                     int parts) {
    kern_vec_lanes(4, q8_0_unit_4, q8_0_unit_1, y, w, rb, act, n, nr, part, parts);
}

static void gemm_q4_0(float *y, size_t ldy, const void *w, size_t rb, const void *act, size_t ab,
                      int n, int nr, int nt) {
    if (nt == 1)
        vec_q4_0(y, w, rb, act, n, nr, 0, 1);
    else
        qgemm(q4_0_tiles, y, ldy, w, rb, act, ab, n, nr, nt);
}

/* ---- one token, batch-invariant (Q4_0): the panel arithmetic ----
 *
 * The server needs a token's result to be the same whatever else is in the
 * batch, so its one-token steps use the multi-token kernels
 * (kern_avx512.multi), whose panel kernels (gemm_avx512.c) were 2x slower
 * for one token than the kernels above: they transpose 16 rows of every
 * block for a single token's use. Here the same arithmetic comes out of
 * row-wise decoding. Per (row, token) the panel kernels compute, over the
 * blocks b of each K chunk (cu units, as they chunk), in order:
 *   acc = fma(float(idot_b), d_w(b) * d_x(b), acc),
 * idot_b the exact integer block dot, then y = acc for the first chunk and
 * y = acc + y after. Here each of 16 rows is decoded one unit (16 blocks)
 * at a time as in UTILE, giving float(idot) and d_w * d_x in block lanes;
 * two 16 x 16 transposes turn them into row lanes, and the same FMAs run
 * in the same order, so results equal the panel kernels' bit for bit
 * (tests/test_batch_invariance.c compares one token against many).
 * Measured (2 threads, 22528 x 2048 from DRAM, alternating, best of 30):
 * Q4_0 15-17 -> 19-20 GB/s. Q8_0 went the other way (21-28 -> 18-19: its
 * scales take eight masked permutes a row and unit to gather) and keeps
 * the panel kernel. Both stay well below the one-token kernels (43-52 GB/s
 * that hour), which round differently. */

/* v[i] lane j <-> v[j] lane i. */
TGT_INLINE void transpose16(__m512 v[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* u[4i + c]: rows 4i..4i+3 of columns c, c+4, c+8, c+12 */
        u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int c = 0; c < 4; c++) {
        __m512 a = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        __m512 b = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        __m512 e = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xdd);
        __m512 f = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xdd);
        v[c] = _mm512_shuffle_f32x4(a, b, 0x88);
        v[c + 8] = _mm512_shuffle_f32x4(a, b, 0xdd);
        v[c + 4] = _mm512_shuffle_f32x4(e, f, 0x88);
        v[c + 12] = _mm512_shuffle_f32x4(e, f, 0xdd);
    }
}

/* Units [u0, u0 + ncu) of 16 rows (rows past nrow repeat the last): the
 * chunk's accumulators in row lanes. `pf`: the next panel's share to
 * prefetch per unit, or NULL (sixteen rows side by side are sixteen
 * streams, which the hardware prefetchers do not follow). */
#define INV_CHUNK(NAME, ROW, UB, SHIFT)                                                            \
    TGT static __m512 NAME##_inv_chunk(const uint8_t *w, size_t rb, int nrow, const uint8_t *act,  \
                                       int u0, int ncu, int nu, int tail, const char *pf,          \
                                       size_t pfs) {                                               \
        __m512 acc = _mm512_setzero_ps();                                                          \
        for (int u = u0; u < u0 + ncu; u++) {                                                      \
            const act_q8_unit *au = (const act_q8_unit *)act + u;                                  \
            __m512 dx = _mm512_loadu_ps(au->d), S[16], D[16];                                      \
            __m512i off = _mm512_permutexvar_epi32(                                                \
                block_T(), _mm512_slli_epi32(_mm512_loadu_si512(au->nsum), SHIFT));                \
            if (pf)                                                                                \
                for (size_t o = 0; o < pfs; o += 64)                                               \
                    _mm_prefetch(pf + (size_t)(u - u0) * pfs + o, _MM_HINT_T1);                    \
            for (int i = 0; i < 16; i++) {                                                         \
                const uint8_t *p = w + (size_t)(i < nrow ? i : nrow - 1) * rb + (size_t)u * UB;    \
                uint8_t buf[UB + 64];                                                              \
                if (u == nu - 1 && tail) {                                                         \
                    memset(buf, 0, sizeof buf);                                                    \
                    memcpy(buf, p, (size_t)tail *(UB / 16));                                       \
                    p = buf;                                                                       \
                }                                                                                  \
                __m512i z[4], dw;                                                                  \
                ROW(p, au, z, &dw);                                                                \
                S[i] = _mm512_cvtepi32_ps(_mm512_add_epi32(block_sums(z), off));                   \
                D[i] = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(dw)), dx);             \
            }                                                                                      \
            transpose16(S);                                                                        \
            transpose16(D);                                                                        \
            /* S in block_T order: block b is S[T(b)]; blocks in order, as the panels */           \
            UNROLL for (int b = 0; b < 16; b++) acc =                                              \
                _mm512_fmadd_ps(S[b % 4 * 4 + b / 4], D[b], acc);                                  \
        }                                                                                          \
        return acc;                                                                                \
    }

/* One token: panels of 16 rows, the panel kernels' K chunks. */
#define INV1(NAME, ROW, UB, SHIFT)                                                                 \
    INV_CHUNK(NAME, ROW, UB, SHIFT)                                                                \
    TGT static void NAME##_inv1(float *y, const uint8_t *w, size_t rb, const uint8_t *act, int n,  \
                                int nr) {                                                          \
        int nb = n / 32, nu = (nb + 15) / 16, tail = nb % 16;                                      \
        int nch = (16 * nu + KERN_PANEL_KCB - 1) / KERN_PANEL_KCB, cu = (nu + nch - 1) / nch;      \
        size_t pfs = ((size_t)16 * rb / (size_t)nu + 63) & ~(size_t)63; /* per unit */             \
        for (int r0 = 0; r0 < nr; r0 += 16) {                                                      \
            int nrow = nr - r0 < 16 ? nr - r0 : 16;                                                \
            __mmask16 m = (__mmask16)((1u << nrow) - 1);                                           \
            const char *next = r0 + 16 < nr ? (const char *)w + (size_t)(r0 + 16) * rb : NULL;     \
            for (int u0 = 0; u0 < nu; u0 += cu) {                                                  \
                int ncu = nu - u0 < cu ? nu - u0 : cu;                                             \
                __m512 acc = NAME##_inv_chunk(w + (size_t)r0 * rb, rb, nrow, act, u0, ncu, nu,     \
                                              tail, next ? next + (size_t)u0 * pfs : NULL, pfs);   \
                if (u0 > 0) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, y + r0));            \
                _mm512_mask_storeu_ps(y + r0, m, acc);                                             \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* kern_avx512.multi: one token here, several in the panel kernels. */                         \
    static void multi_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,      \
                             size_t ab, int n, int nr, int nt) {                                   \
        if (nt == 1)                                                                               \
            NAME##_inv1(y, w, rb, act, n, nr);                                                     \
        else                                                                                       \
            kern_avx512_panel_##NAME(y, ldy, w, rb, act, ab, n, nr, nt);                           \
    }

INV1(q4_0, q4_0_unit_row, 288, 3)

static void gemm_q8_0(float *y, size_t ldy, const void *w, size_t rb, const void *act, size_t ab,
                      int n, int nr, int nt) {
    if (nt == 1)
        vec_q8_0(y, w, rb, act, n, nr, 0, 1);
    else
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
    __m512i z = _mm512_loadu_si512((const void *)p);
    __m512i l = _mm512_and_si512(z, _mm512_set1_epi8(15)), h = high_nibbles(z);
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

/* Q5_K: bit 4 of the q of sub-block j, element l is bit j of qh[l]; adds
 * those of group g to its nibbles. */
TGT_INLINE void q5_bits(const uint8_t *b, int g, __m512i *lo, __m512i *hi) {
    __m512i bit = _mm512_set_epi32(0, 0, 0, 0x08080808, 0, 0, 0, 0x04040404, 0, 0, 0, 0x02020202, 0,
                                   0, 0, 0x01010101);
    bit = _mm512_shuffle_epi8(bit, _mm512_setzero_si512()); /* byte 0 of each lane */
    bit = _mm512_slli_epi32(bit, 4 * g);
    __m512i q0 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(b + 16)));
    __m512i q1 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(b + 32)));
    __m512i sixteen = _mm512_set1_epi8(16);
    *lo = _mm512_mask_add_epi8(*lo, _mm512_test_epi8_mask(q0, bit), *lo, sixteen);
    *hi = _mm512_mask_add_epi8(*hi, _mm512_test_epi8_mask(q1, bit), *hi, sixteen);
}

TGT_INLINE kgroup q5_K_group(const uint8_t *b, __m512 f, int g) {
    kgroup k;
    nibbles_q45(b + 48 + 64 * g, &k.lo, &k.hi);
    q5_bits(b, g, &k.lo, &k.hi);
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

/* Q6_K group g: q (0..63) bytes in act_q8_group order. */
TGT_INLINE void q6_bytes(const uint8_t *b, int g, __m512i *lo, __m512i *hi) {
    __m512i z = _mm512_loadu_si512((const void *)(b + 64 * g));
    __m512i l = _mm512_and_si512(z, _mm512_set1_epi8(15)), h = high_nibbles(z);
    __m512i a = _mm512_permutex2var_epi64(l, _mm512_setr_epi64(0, 1, 4, 5, 8, 9, 12, 13), h);
    __m512i c = _mm512_permutex2var_epi64(l, _mm512_setr_epi64(2, 3, 6, 7, 10, 11, 14, 15), h);
    *lo = q6_top(a, b + 128 + 32 * g);
    *hi = q6_top(c, b + 128 + 32 * g + 16);
}

TGT_INLINE kgroup q6_K_group(const uint8_t *b, __m512 f, int g) {
    kgroup k;
    q6_bytes(b, g, &k.lo, &k.hi);
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

/* ---- K-quants, one token: two superblocks (a unit, 16 blocks) per step,
 * integer lanes summed per block first (see block_sums) ---- */

/* d*sc (in block_T order) and dmin*m (in block order) of the 16 sub-blocks
 * of two Q4_K/Q5_K superblocks: the 12 packed scale bytes (kquants.h) of both are unpacked at
 * once, each superblock in one 128-bit lane. */
TGT_INLINE void scales2_q45(const uint8_t *b0, const uint8_t *b1, __m512 *ds, __m512 *dm) {
    const __m256i ia = _mm256_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15, 4,
                                        5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m256i ib = _mm256_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11,
                                        -1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11);
    const __m256i m1 = _mm256_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0,
                                        63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
    const __m256i m2 = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15, 0, 0, 0,
                                        0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15);
    const __m256i m3 = _mm256_setr_epi8(0, 0, 0, 0, 48, 48, 48, 48, 0, 0, 0, 0, 48, 48, 48, 48, 0,
                                        0, 0, 0, 48, 48, 48, 48, 0, 0, 0, 0, 48, 48, 48, 48);
    __m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)b1),
                                 _mm_loadu_si128((const __m128i *)b0));
    __m256i a = _mm256_shuffle_epi8(v, ia), b = _mm256_shuffle_epi8(v, ib);
    __m256i r =
        _mm256_or_si256(_mm256_and_si256(a, m1), _mm256_and_si256(_mm256_srli_epi16(a, 4), m2));
    r = _mm256_or_si256(r, _mm256_and_si256(_mm256_srli_epi16(b, 2), m3)); /* [sc 0..7, m 0..7] */
    r = _mm256_permute4x64_epi64(r, _MM_SHUFFLE(3, 1, 2, 0));              /* sc, sc, m, m */
    /* the scales in block_T order, the mins as they are */
    const __m256i tr = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15, 0, 1,
                                        2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    r = _mm256_shuffle_epi8(r, tr);
    uint32_t d0, d1;
    memcpy(&d0, b0, 4), memcpy(&d1, b1, 4);
    __m128 dd = _mm_cvtph_ps(_mm_set_epi32(0, 0, (int)d1, (int)d0)); /* d0, dmin0, d1, dmin1 */
    __m512 dv = _mm512_castps128_ps512(dd);
    __m512i half_t = _mm512_setr_epi32(0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2, 0, 0, 2, 2);
    __m512i half = _mm512_setr_epi32(1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3);
    *ds = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(r))),
                        _mm512_permutexvar_ps(half_t, dv));
    *dm = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(r, 1))),
                        _mm512_permutexvar_ps(half, dv));
}

/* Stands in for the missing second superblock of a row's last unit. */
static const uint8_t k_zero_sb[256];

/* Integer lanes of Q4_K / Q5_K group g (0..3 in the unit) of row p. */
TGT_INLINE __m512i k45_lanes(__m512i lo, __m512i hi, const act_q8_group *a) {
    __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(a->lo));
    return _mm512_dpbusd_epi32(s, hi, _mm512_loadu_si512(a->hi));
}

/* Q4_K (Q5 = 0) or Q5_K (Q5 = 1): R rows, ns superblocks of SB bytes. */
#define KUNIT45(NAME, Q5, SB, R)                                                                   \
    TGT static void NAME##_unit_##R(float *y, size_t ys, const uint8_t *w, size_t rb,              \
                                    const void *act, int n) {                                      \
        int ns = n / 256;                                                                          \
        __m512 acc[R], accm[R];                                                                    \
        UNROLL for (int r = 0; r < R; r++) acc[r] = accm[r] = _mm512_setzero_ps();                 \
        for (int s = 0; s < ns; s += 2) {                                                          \
            const act_q8_unit *u = (const act_q8_unit *)act + s / 2;                               \
            __m512 dx = _mm512_loadu_ps(u->d);                                                     \
            __m512 xs = _mm512_mul_ps(dx, _mm512_cvtepi32_ps(_mm512_loadu_si512(u->nsum)));        \
            __m512 dxt = _mm512_permutexvar_ps(block_T(), dx);                                     \
            UNROLL for (int r = 0; r < R; r++) {                                                   \
                __m512i z[4];                                                                      \
                const uint8_t *bs[2];                                                              \
                UNROLL for (int h = 0; h < 2; h++) {                                               \
                    const uint8_t *b = s + h < ns ? w + r * rb + (size_t)(s + h) * SB : k_zero_sb; \
                    bs[h] = b;                                                                     \
                    UNROLL for (int g = 0; g < 2; g++) {                                           \
                        __m512i lo, hi;                                                            \
                        nibbles_q45(b + 16 + 32 * Q5 + 64 * g, &lo, &hi);                          \
                        if (Q5) q5_bits(b, g, &lo, &hi);                                           \
                        z[2 * h + g] = k45_lanes(lo, hi, &u->g[2 * h + g]);                        \
                    }                                                                              \
                }                                                                                  \
                __m512 ds, dm;                                                                     \
                scales2_q45(bs[0], bs[1], &ds, &dm);                                               \
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block_sums(z)),                        \
                                         _mm512_mul_ps(ds, dxt), acc[r]);                          \
                accm[r] = _mm512_fmadd_ps(dm, xs, accm[r]);                                        \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) y[r * ys] =                                             \
            _mm512_reduce_add_ps(_mm512_add_ps(acc[r], accm[r]));                                  \
    }

/* Q6_K: first and second halves of each block apart (scales per 16). */
#define KUNIT6(NAME, R)                                                                            \
    TGT static void NAME##_unit_##R(float *y, size_t ys, const uint8_t *w, size_t rb,              \
                                    const void *act, int n) {                                      \
        int ns = n / 256;                                                                          \
        /* scale 2b (2b + 1) of each block b, in block_T order */                                  \
        const __m512i even =                                                                       \
            _mm512_setr_epi32(0, 8, 16, 24, 2, 10, 18, 26, 4, 12, 20, 28, 6, 14, 22, 30);          \
        const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));                          \
        __m512 acc[R], acc2[R];                                                                    \
        UNROLL for (int r = 0; r < R; r++) acc[r] = acc2[r] = _mm512_setzero_ps();                 \
        for (int s = 0; s < ns; s += 2) {                                                          \
            const act_q8_unit *u = (const act_q8_unit *)act + s / 2;                               \
            __m512 dx = _mm512_permutexvar_ps(block_T(), _mm512_loadu_ps(u->d));                   \
            UNROLL for (int r = 0; r < R; r++) {                                                   \
                __m512i z0[4], z1[4];                                                              \
                __m512 f[2];                                                                       \
                UNROLL for (int h = 0; h < 2; h++) {                                               \
                    const uint8_t *b =                                                             \
                        s + h < ns ? w + r * rb + (size_t)(s + h) * 210 : k_zero_sb;               \
                    f[h] = scales_q6(b);                                                           \
                    UNROLL for (int g = 0; g < 2; g++) {                                           \
                        ktoken t = ktoken_load(&u->g[2 * h + g]);                                  \
                        __m512i lo, hi;                                                            \
                        q6_bytes(b, g, &lo, &hi);                                                  \
                        z0[2 * h + g] = _mm512_dpbusd_epi32(t.init0, lo, t.lo);                    \
                        z1[2 * h + g] = _mm512_dpbusd_epi32(t.init1, hi, t.hi);                    \
                    }                                                                              \
                }                                                                                  \
                __m512 s0 = _mm512_mul_ps(_mm512_permutex2var_ps(f[0], even, f[1]), dx);           \
                __m512 s1 = _mm512_mul_ps(_mm512_permutex2var_ps(f[0], odd, f[1]), dx);            \
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block_sums(z0)), s0, acc[r]);          \
                acc2[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(block_sums(z1)), s1, acc2[r]);        \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int r = 0; r < R; r++) y[r * ys] =                                             \
            _mm512_reduce_add_ps(_mm512_add_ps(acc[r], acc2[r]));                                  \
    }

KUNIT45(q4_K, 0, 144, 1)
KUNIT45(q4_K, 0, 144, 2)
KUNIT45(q5_K, 1, 176, 1)
KUNIT45(q5_K, 1, 176, 2)
KUNIT6(q6_K, 1)
KUNIT6(q6_K, 2)

/* R rows x C tokens over ns superblocks of SB bytes (R = 2: a decoded
 * K group takes four registers, and four rows of them would spill). */
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
                    ktoken t = ktoken_load(act_group(act + c * ab, 2 * i + g));                    \
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
    KTILE(NAME, SCALES, GROUP, DOT, SB, 2, 1)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 2, 2)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 2, 3)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 1, 1)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 1, 2)                                                      \
    KTILE(NAME, SCALES, GROUP, DOT, SB, 1, 3)                                                      \
    static const ktile_fn NAME##_tiles[2][TC] = {{NAME##_1x1, NAME##_1x2, NAME##_1x3},             \
                                                 {NAME##_2x1, NAME##_2x2, NAME##_2x3}};            \
    static void gemm_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,       \
                            size_t ab, int n, int nr, int nt) {                                    \
        if (nt == 1) {                                                                             \
            kern_vec_lanes(2, NAME##_unit_2, NAME##_unit_1, y, w, rb, act, n, nr, 0, 1);           \
            return;                                                                                \
        }                                                                                          \
        for (int t = 0; t < nt; t += TC) {                                                         \
            int c = nt - t < TC ? nt - t : TC, r = 0;                                              \
            const uint8_t *a = (const uint8_t *)act + t * ab;                                      \
            for (; r + 2 <= nr; r += 2)                                                            \
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

/* One token: rows r and r + nr/2 side by side (kern_vec_lanes with S =
 * 2), then the odd row left. */
#define KVEC(NAME)                                                                                 \
    static void vec_##NAME(float *y, const void *w, size_t rb, const void *act, int n, int nr,     \
                           int part, int parts) {                                                  \
        kern_vec_lanes(2, NAME##_unit_2, NAME##_unit_1, y, w, rb, act, n, nr, part, parts);        \
    }
KVEC(q4_K)
KVEC(q5_K)
KVEC(q6_K)

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
            UNROLL for (int r = 0; r < R; r++) {                                                   \
                wv[r] = LOADV(w + r * rb + (size_t)i * ES);                                        \
                KEEP(wv[r]);                                                                       \
            }                                                                                      \
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

/* One token, R rows (ys, rs apart): 64 values per step into four
 * accumulators per row (with one, each step would wait for the previous
 * FMA: 32 bytes of F16 per FMA latency, below what memory delivers); then
 * 16 at a time, then the n % 16 tail in scalar float. A row gets the same
 * operations in the same order whatever R. */
#define FUNIT(NAME, LOADV, VAL, ES, R)                                                             \
    TGT static void NAME##_unit_##R(float *y, size_t ys, const uint8_t *w, size_t rs,              \
                                    const void *act, int n) {                                      \
        const float *x = act;                                                                      \
        __m512 a[R][4];                                                                            \
        UNROLL for (int r = 0; r < R; r++) UNROLL for (int k = 0; k < 4; k++) a[r][k] =            \
            _mm512_setzero_ps();                                                                   \
        int i = 0;                                                                                 \
        for (; i + 64 <= n; i += 64) UNROLL for (int r = 0; r < R; r++) {                          \
                const uint8_t *p = w + r * rs + (size_t)i * ES;                                    \
                UNROLL for (int k = 0; k < 4; k++) a[r][k] = _mm512_fmadd_ps(                      \
                    LOADV(p + 16 * k * ES), _mm512_loadu_ps(x + i + 16 * k), a[r][k]);             \
            }                                                                                      \
        for (; i + 16 <= n; i += 16)                                                               \
            UNROLL for (int r = 0; r < R; r++) a[r][0] = _mm512_fmadd_ps(                          \
                LOADV(w + r * rs + (size_t)i * ES), _mm512_loadu_ps(x + i), a[r][0]);              \
        UNROLL for (int r = 0; r < R; r++) {                                                       \
            float tail = 0.0f;                                                                     \
            for (int j = i; j < n; j++) tail += VAL(w + r * rs + (size_t)j * ES) * x[j];           \
            __m512 s =                                                                             \
                _mm512_add_ps(_mm512_add_ps(a[r][0], a[r][1]), _mm512_add_ps(a[r][2], a[r][3]));   \
            y[r * ys] = _mm512_reduce_add_ps(s) + tail;                                            \
        }                                                                                          \
    }

#define FTILES(NAME, LOADV, VAL, ES)                                                               \
    FTILE(NAME, LOADV, VAL, ES, 4, 1)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 4, 2)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 4, 3)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 4, 4)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 4, 5)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 4, 6)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 1)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 2)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 3)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 4)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 5)                                                              \
    FTILE(NAME, LOADV, VAL, ES, 1, 6)                                                              \
    FUNIT(NAME, LOADV, VAL, ES, 1)                                                                 \
    FUNIT(NAME, LOADV, VAL, ES, 4)                                                                 \
    static const ftile_fn NAME##_tiles[2][FTC] = {                                                 \
        {NAME##_1x1, NAME##_1x2, NAME##_1x3, NAME##_1x4, NAME##_1x5, NAME##_1x6},                  \
        {NAME##_4x1, NAME##_4x2, NAME##_4x3, NAME##_4x4, NAME##_4x5, NAME##_4x6}};                 \
    /* One token: four rows far apart side by side, as Q4_0 (with pairs, */                        \
    /* 2048 x 5632 F16 ran 20% slower here: each x load serves fewer rows) */                      \
    static void vec_##NAME(float *y, const void *w, size_t rb, const void *x, int n, int nr,       \
                           int part, int parts) {                                                  \
        kern_vec_lanes(4, NAME##_unit_4, NAME##_unit_1, y, w, rb, x, n, nr, part, parts);          \
    }                                                                                              \
    /* Tiles for any nt, one too: batch-invariant (docs/kernels.md). */                            \
    static void multi_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,      \
                             size_t ab, int n, int nr, int nt) {                                   \
        for (int t = 0; t < nt; t += FTC) {                                                        \
            int c = nt - t < FTC ? nt - t : FTC, r = 0;                                            \
            const uint8_t *a = (const uint8_t *)act + t * ab;                                      \
            for (; nt > 1 && r + TR <= nr; r += TR) /* one token: one stream */                    \
                NAME##_tiles[1][c - 1](y + (size_t)t * ldy + r, ldy, (const uint8_t *)w + r * rb,  \
                                       rb, a, ab, n);                                              \
            for (; r < nr; r++)                                                                    \
                NAME##_tiles[0][c - 1](y + (size_t)t * ldy + r, ldy, (const uint8_t *)w + r * rb,  \
                                       rb, a, ab, n);                                              \
        }                                                                                          \
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
    /* the float types' tiles; the quantized types' panel kernels (gemm_avx512.c) */
    .multi = {[TYPE_F32] = multi_f32,
              [TYPE_F16] = multi_f16,
              [TYPE_BF16] = multi_bf16,
              [TYPE_Q8_0] = kern_avx512_panel_q8_0,
              [TYPE_Q4_0] = multi_q4_0,
              [TYPE_Q4_K] = kern_avx512_panel_q4_K,
              [TYPE_Q5_K] = kern_avx512_panel_q5_K,
              [TYPE_Q6_K] = kern_avx512_panel_q6_K},
    .vec = {[TYPE_F32] = vec_f32,
            [TYPE_F16] = vec_f16,
            [TYPE_BF16] = vec_bf16,
            [TYPE_Q8_0] = vec_q8_0,
            [TYPE_Q4_0] = vec_q4_0,
            [TYPE_Q4_K] = vec_q4_K,
            [TYPE_Q5_K] = vec_q5_K,
            [TYPE_Q6_K] = vec_q6_K},
};

#endif
