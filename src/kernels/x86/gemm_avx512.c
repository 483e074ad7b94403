/*
 * gemm_avx512.c - AVX-512 matmul kernels for several tokens at once (prompt
 * batches and the server's multi-sequence steps, nt >= 2).
 *
 * Why a separate path: the tiles in kern_avx512.c keep one accumulator per
 * (row, token) whose 16 lanes span the row's elements, so every block ends
 * in shuffles and every output in a horizontal sum; with many tokens that
 * work, not the multiplies, bounds the speed. Here vector lanes are ROWS:
 * a panel of 16 weight rows is decoded, one K chunk at a time, into a
 * buffer where each 32-value block is eight vectors of "16 rows x 4
 * consecutive values" (unsigned bytes) plus the rows' block scales as float
 * vectors. The microkernel holds one block's eight vectors in registers
 * and runs up to 16 tokens over them: each token's four activation bytes
 * are broadcast and one vpdpbusd adds 16 rows x 4 products, eight of them
 * give every row's integer block dot in its own lane, and one conversion,
 * one multiply and one FMA apply the row scales times the token's block
 * scale (K-quants: one more FMA for the mins; Q6_K scales each half of a
 * block). Nothing is summed across lanes, ever. The weights stay as the
 * file has them (mmapped, never repacked at load); the decoding is paid
 * once per panel and K chunk and shared by every token of the call.
 *
 * Three drivers, by token count: up to 16 tokens the microkernel decodes
 * each block itself (QMKF; K-quants each superblock into an L1 buffer) and
 * panels go one after the other while the next one is prefetched; up to
 * 31, one panel at a time is packed into a stack buffer; from 32, all
 * panels of the call are packed into a per-thread buffer and each token
 * group runs over all of them, so its activations are read once per chunk.
 *
 * Offsets are exact integers, as elsewhere: Q4_0 nibbles are q + 8 and
 * Q8_0 bytes q + 128 (sign bit flipped), Q6_K q is q + 32, so each token's
 * block dot starts from 8 (128, 32) times the activation block's nsum;
 * each block's integer dot equals the scalar kernel's. The float part
 * accumulates per lane, block after block within a K chunk (fixed by n),
 * then chunk after chunk into y: the same operations for a (row, token)
 * whichever driver, panel slot or token group it falls in, so results
 * depend neither on the thread split nor on the other tokens of the call
 * (batch invariance, tests/test_batch_invariance.c).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

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
#define UNROLL _Pragma("GCC unroll 16")
#endif

/* Keeps v in a register (the compiler would otherwise fold the load into
 * every instruction that uses it, once per token). */
#define KEEP(v) __asm__("" : "+v"(v))

enum {
    PR = 16,              /* rows per panel: one per lane */
    KCB = KERN_PANEL_KCB, /* blocks of 32 per K chunk at most (a multiple of 16) */
    NRMAX = 16,           /* tokens per microkernel call at most */
    /* from this many tokens, all panels of a call are packed first (the
     * per-thread buffer) so each token group's activations are read once */
    MULTI_PANEL_T = 32,
    PF_AHEAD = 16, /* blocks ahead that the row prefetches reach (a multiple of 8) */
};

/* One 32-value block of a panel: q[j] = values 4j..4j+3 of the 16 rows
 * (row r in bytes 4r..4r+3), s = per-row scales (meaning by type). */
typedef struct pblk {
    uint8_t q[8][64];
    float s[2][16];
} pblk;

/* Per token of a group and block of a chunk: where the block's integer dot
 * starts (i0; i1 for a second half), or a float term (f). */
typedef struct taux {
    int32_t i0[NRMAX][KCB];
    int32_t i1[NRMAX][KCB];
    float f[NRMAX][KCB];
} taux;

/* ---- packing helpers ---- */

/* Lane L = 16 bytes at p[i + 4L] + off. */
TGT_INLINE __m512i rows4(const uint8_t *const p[PR], int i, size_t off) {
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[i] + off)));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p[i + 4] + off)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p[i + 8] + off)), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p[i + 12] + off)), 3);
}

/* 16 bytes at p[r] + off for the 16 rows -> t[j] lane r = bytes 4j..4j+3
 * of row r: a 4 x 4 transpose of dwords inside each 128-bit lane. */
TGT_INLINE void rows16(const uint8_t *const p[PR], size_t off, __m512i t[4]) {
    __m512i z0 = rows4(p, 0, off), z1 = rows4(p, 1, off);
    __m512i z2 = rows4(p, 2, off), z3 = rows4(p, 3, off);
    __m512i a = _mm512_unpacklo_epi32(z0, z1), b = _mm512_unpackhi_epi32(z0, z1);
    __m512i c = _mm512_unpacklo_epi32(z2, z3), d = _mm512_unpackhi_epi32(z2, z3);
    t[0] = _mm512_unpacklo_epi64(a, c);
    t[1] = _mm512_unpackhi_epi64(a, c);
    t[2] = _mm512_unpacklo_epi64(b, d);
    t[3] = _mm512_unpackhi_epi64(b, d);
}

/* Offsets of the 16 rows from row 0, for gathers. */
TGT_INLINE __m512i row_index(const uint8_t *const p[PR]) {
    __m512i b = _mm512_set1_epi64((long long)(uintptr_t)p[0]);
    __m512i a0 = _mm512_sub_epi64(_mm512_loadu_si512((const void *)p), b);
    __m512i a1 = _mm512_sub_epi64(_mm512_loadu_si512((const void *)(p + 8)), b);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(a0)),
                              _mm512_cvtepi64_epi32(a1), 1);
}

/* The f16 at p[r] + off (hi: + off + 2) of the 16 rows, as floats: one
 * gather of 4 bytes per row (collecting them with scalar stores would
 * stall the vector load that follows, as a failed store forward). */
TGT_INLINE __m512 rows_f16(const uint8_t *const p[PR], size_t off, int hi) {
    __m512i v = _mm512_i32gather_epi32(row_index(p), p[0] + off, 1);
    if (hi) v = _mm512_srli_epi32(v, 16);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

/* ---- Q4_0 and Q8_0 ---- */

/* Q4_0 block b (18 bytes: f16 d, 16 bytes of nibbles) of the 16 rows,
 * decoded into w[8] and the row scales. */
TGT_INLINE void dec_q4_0(const uint8_t *const p[PR], int b, __m512i w[8], __m512 *d) {
    size_t off = (size_t)b * 18;
    __m512i t[4], m4 = _mm512_set1_epi8(15);
    rows16(p, off + 2, t);
    for (int j = 0; j < 4; j++) {
        w[j] = _mm512_and_si512(t[j], m4);
        w[4 + j] = _mm512_and_si512(_mm512_srli_epi16(t[j], 4), m4);
    }
    *d = rows_f16(p, off, 0);
}

/* Q8_0 block b (34 bytes: f16 d, 32 signed bytes), as unsigned q + 128. */
TGT_INLINE void dec_q8_0(const uint8_t *const p[PR], int b, __m512i w[8], __m512 *d) {
    size_t off = (size_t)b * 34;
    __m512i flip = _mm512_set1_epi8((char)0x80);
    for (int h = 0; h < 2; h++) {
        rows16(p, off + 2 + 16 * h, w + 4 * h);
        for (int j = 0; j < 4; j++) w[4 * h + j] = _mm512_xor_si512(w[4 * h + j], flip);
    }
    *d = rows_f16(p, off, 0);
}

#define PACK_DEC(NAME)                                                                             \
    TGT static void pack_##NAME(pblk *o, const uint8_t *const p[PR], int b) {                      \
        __m512i w[8];                                                                              \
        __m512 d;                                                                                  \
        dec_##NAME(p, b, w, &d);                                                                   \
        for (int j = 0; j < 8; j++) _mm512_storeu_si512(o->q[j], w[j]);                            \
        _mm512_storeu_ps(o->s[0], d);                                                              \
    }
PACK_DEC(q4_0)
PACK_DEC(q8_0)

/* ---- K-quants (layouts in kquants.h): one superblock = 8 blocks ---- */

/* Q4_K/Q5_K: d*sc_j and dmin*m_j of the 8 sub-blocks into o[j].s. */
TGT static void k45_scales(pblk *o, const uint8_t *const p[PR], size_t off) {
    __m512i t[4];
    rows16(p, off + 4, t); /* t[0..2]: the 12 packed scale bytes, 4 per lane */
    __m512 d = rows_f16(p, off, 0), dmin = rows_f16(p, off, 1);
    __m512i m6 = _mm512_set1_epi32(63), m4 = _mm512_set1_epi32(15), m2 = _mm512_set1_epi32(3);
    for (int j = 0; j < 8; j++) {
        __m512i sc, m;
        if (j < 4) {
            sc = _mm512_and_si512(_mm512_srli_epi32(t[0], 8 * j), m6);
            m = _mm512_and_si512(_mm512_srli_epi32(t[1], 8 * j), m6);
        } else {
            unsigned i = 8 * (j - 4);
            __m512i hs = _mm512_and_si512(_mm512_srli_epi32(t[0], i + 6), m2);
            __m512i hm = _mm512_and_si512(_mm512_srli_epi32(t[1], i + 6), m2);
            sc = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(t[2], i), m4),
                                 _mm512_slli_epi32(hs, 4));
            m = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(t[2], i + 4), m4),
                                _mm512_slli_epi32(hm, 4));
        }
        _mm512_storeu_ps(o[j].s[0], _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc)));
        _mm512_storeu_ps(o[j].s[1], _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(m)));
    }
}

/* Q4_K/Q5_K nibbles: sub-blocks 2i (low) and 2i+1 (high) from 32 bytes
 * at qs + 32i; Q5 adds bit j of qh[l] as bit 4 (qh at off + 16). */
TGT_INLINE void k45_quants(pblk *o, const uint8_t *const p[PR], size_t off, size_t qs, int q5) {
    __m512i m4 = _mm512_set1_epi8(15), h[8];
    if (q5) {
        rows16(p, off + 16, h);
        rows16(p, off + 32, h + 4);
    }
    for (int i = 0; i < 4; i++) {
        __m512i t[8];
        rows16(p, off + qs + 32 * i, t);
        rows16(p, off + qs + 32 * i + 16, t + 4);
        for (int m = 0; m < 8; m++) {
            __m512i lo = _mm512_and_si512(t[m], m4);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(t[m], 4), m4);
            if (q5) {
                __m512i one = _mm512_set1_epi8(1);
                __m512i b0 = _mm512_and_si512(_mm512_srli_epi16(h[m], 2 * i), one);
                __m512i b1 = _mm512_and_si512(_mm512_srli_epi16(h[m], 2 * i + 1), one);
                lo = _mm512_or_si512(lo, _mm512_slli_epi16(b0, 4));
                hi = _mm512_or_si512(hi, _mm512_slli_epi16(b1, 4));
            }
            _mm512_storeu_si512(o[2 * i].q[m], lo);
            _mm512_storeu_si512(o[2 * i + 1].q[m], hi);
        }
    }
}

TGT static void pack_q4_K(pblk *o, const uint8_t *const p[PR], int sb) {
    size_t off = (size_t)sb * 144;
    k45_scales(o, p, off);
    k45_quants(o, p, off, 16, 0);
}

TGT static void pack_q5_K(pblk *o, const uint8_t *const p[PR], int sb) {
    size_t off = (size_t)sb * 176;
    k45_scales(o, p, off);
    k45_quants(o, p, off, 48, 1);
}

/* Q6_K: block 4h + k, element l: low bits from ql[64h + 32(k%2) + l]
 * (nibble k/2), top two from bits 2k, 2k+1 of qh[32h + l]; scales per 16. */
TGT static void pack_q6_K(pblk *o, const uint8_t *const p[PR], int sb) {
    size_t off = (size_t)sb * 210;
    __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m512i L[16], H[8];
        for (int c = 0; c < 4; c++) rows16(p, off + 64 * h + 16 * c, L + 4 * c);
        rows16(p, off + 128 + 32 * h, H);
        rows16(p, off + 128 + 32 * h + 16, H + 4);
        for (int k = 0; k < 4; k++)
            for (int m = 0; m < 8; m++) {
                __m512i lo =
                    _mm512_and_si512(_mm512_srli_epi16(L[8 * (k % 2) + m], 4 * (k / 2)), m4);
                __m512i hi = _mm512_and_si512(_mm512_srli_epi16(H[m], 2 * k), m2);
                _mm512_storeu_si512(o[4 * h + k].q[m],
                                    _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4)));
            }
    }
    __m512i t[4];
    rows16(p, off + 192, t);
    __m512 d = rows_f16(p, off + 206, 1); /* 4-byte reads stay in the block */
    for (int j = 0; j < 8; j++)
        for (int half = 0; half < 2; half++) {
            unsigned pos = (unsigned)(2 * (j % 2) + half); /* byte of the dword t[j / 2] */
            __m512i v = _mm512_srai_epi32(_mm512_slli_epi32(t[j / 2], 24 - 8 * pos), 24);
            _mm512_storeu_ps(o[j].s[half], _mm512_mul_ps(d, _mm512_cvtepi32_ps(v)));
        }
}

/* Prefetches bytes [off, off + len) of the 16 rows. Sixteen rows are
 * sixteen streams advancing a few bytes per block, more than the hardware
 * prefetchers follow: from DRAM, with few tokens, the kernels waited on
 * memory (Q4_0, 8 tokens: 0.77x the tiles' speed without this). */
TGT_INLINE void prefetch_rows(const uint8_t *const p[PR], size_t off, size_t len) {
    for (size_t o = 0; o < len; o += 64)
        for (int r = 0; r < PR; r++) _mm_prefetch((const char *)p[r] + off + o, _MM_HINT_T0);
}

typedef void (*pack_fn)(pblk *o, const uint8_t *const p[PR], int b);

/* Blocks [b0, b0 + nbk) of rows w .. w + (nrow-1)*rb into o; blocks past
 * the row (>= nb) are zero, missing rows repeat the last one (their lanes
 * are never stored). SB: the blocks one call of `pack` fills. */
TGT static void pack_panel(pack_fn pack, int sb, pblk *o, const uint8_t *w, size_t rb, int nrow,
                           int b0, int nbk, int nb) {
    const uint8_t *p[PR];
    for (int r = 0; r < PR; r++) p[r] = w + (size_t)(r < nrow ? r : nrow - 1) * rb;
    size_t step = rb * (size_t)sb / (size_t)nb; /* bytes per pack call */
    int b = 0;
    for (; b < nbk && b0 + b < nb; b += sb) {
        prefetch_rows(p, (size_t)((b0 + b) / sb + PF_AHEAD * 8 / sb) * step, step);
        pack(o + b, p, (b0 + b) / sb);
    }
    if (b < nbk) memset(o + b, 0, sizeof(pblk) * (size_t)(nbk - b));
}

/* Integer start of every block's dot: nsum << shift, per unit. */
TGT static void aux_nsum(taux *ax, const uint8_t *act, size_t ab, int nt, int nu, int shift) {
    for (int t = 0; t < nt; t++)
        for (int u = 0; u < nu; u++) {
            const act_q8_unit *un = (const act_q8_unit *)(act + (size_t)t * ab) + u;
            __m512i v = _mm512_slli_epi32(_mm512_loadu_si512(un->nsum), (unsigned)shift);
            _mm512_storeu_si512(&ax->i0[t][16 * u], v);
        }
}

/* s += w (16 rows x 4 unsigned bytes) . the 4 signed bytes at p, broadcast
 * from memory inside the instruction: compilers load the broadcast with a
 * separate instruction, which on Zen 4 competes with vpdpbusd for a pipe. */
TGT_INLINE __m512i dpb(__m512i s, __m512i w, const int8_t *p) {
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(s) : "v"(w), "m"(*(const int32_t *)p));
    return s;
}

/* Stores (add: adds to) the 16 row lanes of `v` for the first nrow rows. */
TGT_INLINE void put_rows(float *y, __m512 v, int nrow, bool add) {
    __mmask16 m = (__mmask16)((1u << nrow) - 1);
    if (add) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, y));
    _mm512_mask_storeu_ps(y, m, v);
}

/* The microkernel: NR tokens x one panel over nu units (16 blocks each)
 * of the chunk; act points at token 0's first unit. KIND 0 (Q4_0, Q8_0):
 * s[0] = d_w, the dot starts at i0; KIND 1 (Q4_K, Q5_K): s[0] = d*sc,
 * s[1] = dmin*m, the mins' share is s[1] * f (f = d_x * nsum); KIND 2
 * (Q6_K): the two halves of a block (scales per 16 values) start at i0 and
 * i1 and are scaled by s[0] and s[1]. */
/* The token loop over one decoded block (w, s0, s1) of group ga, block k
 * of the group, b of the chunk. */
#define QTOK(KIND, NR)                                                                             \
    UNROLL for (int t = 0; t < NR; t++) {                                                          \
        const act_q8_group *a = (const act_q8_group *)(ga + (size_t)t * ab);                       \
        __m512i z0 = KIND == 1 ? _mm512_setzero_si512() : _mm512_set1_epi32(ax->i0[t][b]);         \
        __m512i z1 = KIND == 2 ? _mm512_set1_epi32(ax->i1[t][b]) : _mm512_setzero_si512();         \
        UNROLL for (int j = 0; j < 4; j++) {                                                       \
            z0 = dpb(z0, w[j], a->lo + 16 * k + 4 * j);                                            \
            z1 = dpb(z1, w[4 + j], a->hi + 16 * k + 4 * j);                                        \
        }                                                                                          \
        __m512 dx = _mm512_set1_ps(a->d[4 * k]);                                                   \
        if (KIND == 2) {                                                                           \
            __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(z0), s0);                                  \
            f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(z1), s1, f);                                    \
            acc[t] = _mm512_fmadd_ps(f, dx, acc[t]);                                               \
        } else {                                                                                   \
            __m512i z = _mm512_add_epi32(z0, z1);                                                  \
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(z), _mm512_mul_ps(s0, dx), acc[t]);        \
            if (KIND == 1) acc[t] = _mm512_fmadd_ps(s1, _mm512_set1_ps(ax->f[t][b]), acc[t]);      \
        }                                                                                          \
    }

#define QMK(NAME, KIND, NR)                                                                        \
    TGT static void NAME##_mk##NR(float *y, size_t ldy, int nrow, const pblk *pk, int nu,          \
                                  const uint8_t *act, size_t ab, const taux *ax, bool add) {       \
        __m512 acc[NR];                                                                            \
        UNROLL for (int t = 0; t < NR; t++) acc[t] = _mm512_setzero_ps();                          \
        for (int g = 0; g < 4 * nu; g++) {                                                         \
            const uint8_t *ga = act + (size_t)(g / 4) * sizeof(act_q8_unit) +                      \
                                (size_t)(g % 4) * sizeof(act_q8_group);                            \
            UNROLL for (int k = 0; k < 4; k++) {                                                   \
                const pblk *pb = pk + 4 * g + k;                                                   \
                int b = 4 * g + k;                                                                 \
                __m512i w[8];                                                                      \
                UNROLL for (int j = 0; j < 8; j++) {                                               \
                    w[j] = _mm512_loadu_si512(pb->q[j]);                                           \
                    KEEP(w[j]);                                                                    \
                }                                                                                  \
                __m512 s0 = _mm512_loadu_ps(pb->s[0]), s1 = s0;                                    \
                if (KIND) s1 = _mm512_loadu_ps(pb->s[1]);                                          \
                QTOK(KIND, NR);                                                                    \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int t = 0; t < NR; t++) put_rows(y + (size_t)t * ldy, acc[t], nrow, add);      \
    }

/* Group g's share (pfs bytes) of the next panel, which lies right after
 * this one in memory: fetched in one sequential sweep while this panel
 * runs (sixteen rows read side by side are sixteen streams, which the
 * hardware prefetchers do not follow). NULL: no next panel. */
TGT_INLINE void prefetch_next(const char *pf, int g, size_t pfs) {
    if (!pf) return;
    for (size_t o = 0; o < pfs; o += 64) _mm_prefetch(pf + (size_t)g * pfs + o, _MM_HINT_T1);
}

/* Few tokens: the microkernel decodes each block of the 16 rows itself (the
 * vectors pack_* would store), so nothing goes through memory and the
 * decoding shuffles overlap the multiplies; blocks from nb on are zero.
 * Q4_0 and Q8_0, whose blocks decode on their own. */
#define QMKF(NAME, BB, NR)                                                                         \
    TGT static void NAME##_fk##NR(float *y, size_t ldy, int nrow, const uint8_t *const p[PR],      \
                                  int b0, int nb, int nu, const uint8_t *act, size_t ab,           \
                                  const taux *ax, bool add, const char *pf, size_t pfs) {          \
        __m512 acc[NR];                                                                            \
        UNROLL for (int t = 0; t < NR; t++) acc[t] = _mm512_setzero_ps();                          \
        for (int g = 0; g < 4 * nu; g++) {                                                         \
            const uint8_t *ga = act + (size_t)(g / 4) * sizeof(act_q8_unit) +                      \
                                (size_t)(g % 4) * sizeof(act_q8_group);                            \
            prefetch_next(pf, g, pfs);                                                             \
            UNROLL for (int k = 0; k < 4; k++) {                                                   \
                int b = 4 * g + k;                                                                 \
                __m512i w[8];                                                                      \
                __m512 s0 = _mm512_setzero_ps(), s1;                                               \
                if (b0 + b < nb)                                                                   \
                    dec_##NAME(p, b0 + b, w, &s0);                                                 \
                else                                                                               \
                    UNROLL for (int j = 0; j < 8; j++) w[j] = _mm512_setzero_si512();              \
                s1 = s0;                                                                           \
                QTOK(0, NR);                                                                       \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int t = 0; t < NR; t++) put_rows(y + (size_t)t * ldy, acc[t], nrow, add);      \
    }

/* The same for K-quants: each superblock of the 16 rows is packed into an
 * L1 buffer of 8 blocks just before its two groups run. */
#define QMKF8(NAME, KIND, SBB, NR)                                                                 \
    TGT static void NAME##_fk##NR(float *y, size_t ldy, int nrow, const uint8_t *const p[PR],      \
                                  int b0, int nb, int nu, const uint8_t *act, size_t ab,           \
                                  const taux *ax, bool add, const char *pf, size_t pfs) {          \
        __m512 acc[NR];                                                                            \
        pblk sb[8];                                                                                \
        UNROLL for (int t = 0; t < NR; t++) acc[t] = _mm512_setzero_ps();                          \
        for (int g = 0; g < 4 * nu; g++) {                                                         \
            const uint8_t *ga = act + (size_t)(g / 4) * sizeof(act_q8_unit) +                      \
                                (size_t)(g % 4) * sizeof(act_q8_group);                            \
            prefetch_next(pf, g, pfs);                                                             \
            if (g % 2 == 0) {                                                                      \
                if (b0 + 4 * g < nb)                                                               \
                    pack_##NAME(sb, p, (b0 + 4 * g) / 8);                                          \
                else                                                                               \
                    memset(sb, 0, sizeof sb);                                                      \
            }                                                                                      \
            UNROLL for (int k = 0; k < 4; k++) {                                                   \
                const pblk *pb = sb + 4 * (g % 2) + k;                                             \
                int b = 4 * g + k;                                                                 \
                __m512i w[8];                                                                      \
                UNROLL for (int j = 0; j < 8; j++) {                                               \
                    w[j] = _mm512_loadu_si512(pb->q[j]);                                           \
                    KEEP(w[j]);                                                                    \
                }                                                                                  \
                __m512 s0 = _mm512_loadu_ps(pb->s[0]), s1 = _mm512_loadu_ps(pb->s[1]);             \
                QTOK(KIND, NR);                                                                    \
            }                                                                                      \
        }                                                                                          \
        UNROLL for (int t = 0; t < NR; t++) put_rows(y + (size_t)t * ldy, acc[t], nrow, add);      \
    }

typedef void (*fk_fn)(float *y, size_t ldy, int nrow, const uint8_t *const p[PR], int b0, int nb,
                      int nu, const uint8_t *act, size_t ab, const taux *ax, bool add,
                      const char *pf, size_t pfs);

enum { FUSED_T = 8 }; /* tokens per QMKF call; up to twice as many take this path */

#define QMKFS(NAME, BB)                                                                            \
    QMKF(NAME, BB, 1)                                                                              \
    QMKF(NAME, BB, 2)                                                                              \
    QMKF(NAME, BB, 3)                                                                              \
    QMKF(NAME, BB, 4)                                                                              \
    QMKF(NAME, BB, 5)                                                                              \
    QMKF(NAME, BB, 6)                                                                              \
    QMKF(NAME, BB, 7)                                                                              \
    QMKF(NAME, BB, 8)                                                                              \
    static const fk_fn NAME##_fks[FUSED_T] = {NAME##_fk1, NAME##_fk2, NAME##_fk3, NAME##_fk4,      \
                                              NAME##_fk5, NAME##_fk6, NAME##_fk7, NAME##_fk8};
QMKFS(q4_0, 18)
QMKFS(q8_0, 34)

#define QMKF8S(NAME, KIND, SBB)                                                                    \
    QMKF8(NAME, KIND, SBB, 1)                                                                      \
    QMKF8(NAME, KIND, SBB, 2)                                                                      \
    QMKF8(NAME, KIND, SBB, 3)                                                                      \
    QMKF8(NAME, KIND, SBB, 4)                                                                      \
    QMKF8(NAME, KIND, SBB, 5)                                                                      \
    QMKF8(NAME, KIND, SBB, 6)                                                                      \
    QMKF8(NAME, KIND, SBB, 7)                                                                      \
    QMKF8(NAME, KIND, SBB, 8)                                                                      \
    static const fk_fn NAME##_fks[FUSED_T] = {NAME##_fk1, NAME##_fk2, NAME##_fk3, NAME##_fk4,      \
                                              NAME##_fk5, NAME##_fk6, NAME##_fk7, NAME##_fk8};
QMKF8S(q4_K, 1, 144)
QMKF8S(q5_K, 1, 176)
QMKF8S(q6_K, 2, 210)

typedef void (*mk_fn)(float *y, size_t ldy, int nrow, const pblk *pk, int nu, const uint8_t *act,
                      size_t ab, const taux *ax, bool add);

/* Token group sizes, largest first; a call's nt is covered greedily. */
static const int k_nr[5] = {16, 8, 4, 2, 1};

#define QMKS(NAME, KIND)                                                                           \
    QMK(NAME, KIND, 16)                                                                            \
    QMK(NAME, KIND, 8)                                                                             \
    QMK(NAME, KIND, 4)                                                                             \
    QMK(NAME, KIND, 2)                                                                             \
    QMK(NAME, KIND, 1)                                                                             \
    static const mk_fn NAME##_mks[5] = {NAME##_mk16, NAME##_mk8, NAME##_mk4, NAME##_mk2,           \
                                        NAME##_mk1};

QMKS(q4_0, 0)
QMKS(q8_0, 0)
QMKS(q4_K, 1)
QMKS(q6_K, 2)

/* What a type plugs into the driver. */
typedef struct qkind {
    pack_fn pack;
    int sb; /* blocks per pack call (K-quants: a superblock) */
    void (*aux)(taux *ax, const uint8_t *act, size_t ab, int nt, int nu);
    const mk_fn *mks;
    const fk_fn *fks; /* NULL: always packed */
} qkind;

TGT static void aux_q4_0(taux *ax, const uint8_t *act, size_t ab, int nt, int nu) {
    aux_nsum(ax, act, ab, nt, nu, 3);
}
TGT static void aux_q8_0(taux *ax, const uint8_t *act, size_t ab, int nt, int nu) {
    aux_nsum(ax, act, ab, nt, nu, 7);
}

/* Q4_K/Q5_K: f = d_x * nsum per block. */
TGT static void aux_q45(taux *ax, const uint8_t *act, size_t ab, int nt, int nu) {
    for (int t = 0; t < nt; t++)
        for (int u = 0; u < nu; u++) {
            const act_q8_unit *un = (const act_q8_unit *)(act + (size_t)t * ab) + u;
            __m512 v = _mm512_cvtepi32_ps(_mm512_loadu_si512(un->nsum));
            _mm512_storeu_ps(&ax->f[t][16 * u], _mm512_mul_ps(v, _mm512_loadu_ps(un->d)));
        }
}

/* Q6_K: each half's dot starts at 32 * its nsum (q - 32). The group keeps
 * the halves' nsum in lanes 4k and 4k + 1. */
TGT static void aux_q6(taux *ax, const uint8_t *act, size_t ab, int nt, int nu) {
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    for (int t = 0; t < nt; t++)
        for (int u = 0; u < nu; u++) {
            const act_q8_unit *un = (const act_q8_unit *)(act + (size_t)t * ab) + u;
            __m512i n[4];
            for (int g = 0; g < 4; g++) n[g] = _mm512_loadu_si512(un->g[g].nsum);
            __m512i a = _mm512_permutex2var_epi32(n[0], idx, n[1]); /* blocks 0..7 */
            __m512i b = _mm512_permutex2var_epi32(n[2], idx, n[3]); /* blocks 8..15 */
            __m512i h0 = _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0));
            __m512i h1 = _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(3, 2, 3, 2));
            _mm512_storeu_si512(&ax->i0[t][16 * u], _mm512_slli_epi32(h0, 5));
            _mm512_storeu_si512(&ax->i1[t][16 * u], _mm512_slli_epi32(h1, 5));
        }
}

static const qkind k_q4_0 = {pack_q4_0, 1, aux_q4_0, q4_0_mks, q4_0_fks};
static const qkind k_q8_0 = {pack_q8_0, 1, aux_q8_0, q8_0_mks, q8_0_fks};
static const qkind k_q4_K = {pack_q4_K, 8, aux_q45, q4_K_mks, q4_K_fks};
static const qkind k_q5_K = {pack_q5_K, 8, aux_q45, q4_K_mks, q5_K_fks};
static const qkind k_q6_K = {pack_q6_K, 8, aux_q6, q6_K_mks, q6_K_fks};

/* ---- the driver ---- */

/* A per-thread buffer for the panels of a whole call, kept between calls
 * (prompt matmuls come in long runs of the same shapes) and freed when its
 * thread ends; NULL when memory is short (the caller then packs one panel
 * at a time on the stack). */
static pthread_key_t g_buf_key;
static pthread_once_t g_buf_once = PTHREAD_ONCE_INIT;
static _Thread_local void *t_buf;
static _Thread_local size_t t_cap;

static void buf_key_init(void) {
    if (pthread_key_create(&g_buf_key, free) != 0) g_buf_key = (pthread_key_t)-1;
}

static void *pack_buf(size_t need) {
    if (need <= t_cap) return t_buf;
    pthread_once(&g_buf_once, buf_key_init);
    if (g_buf_key == (pthread_key_t)-1) return NULL;
    free(t_buf);
    t_buf = malloc(need);
    t_cap = t_buf ? need : 0;
    pthread_setspecific(g_buf_key, t_buf);
    return t_buf;
}

/* Few tokens (one group, QMKF): panels outer, so that each panel's rows
 * are read once, front to back, while the next panel is prefetched. */
TGT static void qgemm_fused(const qkind *K, float *y, size_t ldy, const uint8_t *w, size_t rb,
                            const uint8_t *act, size_t ab, int nu, int cu, int nb, int nr, int nt) {
    taux ax;
    size_t pfs = ((size_t)PR * rb / (size_t)(4 * nu) + 63) & ~(size_t)63; /* per group */
    for (int r0 = 0; r0 < nr; r0 += PR) {
        int nrow = nr - r0 < PR ? nr - r0 : PR;
        const uint8_t *p[PR];
        for (int r = 0; r < PR; r++) p[r] = w + (size_t)(r0 + (r < nrow ? r : nrow - 1)) * rb;
        const char *next = r0 + PR < nr ? (const char *)w + (size_t)(r0 + PR) * rb : NULL;
        for (int u0 = 0; u0 < nu; u0 += cu) {
            int ncu = nu - u0 < cu ? nu - u0 : cu;
            const uint8_t *a = act + (size_t)u0 * sizeof(act_q8_unit);
            for (int t0 = 0; t0 < nt; t0 += FUSED_T) { /* the second group finds the rows in L1 */
                int c = nt - t0 < FUSED_T ? nt - t0 : FUSED_T;
                K->aux(&ax, a + (size_t)t0 * ab, ab, c, ncu);
                K->fks[c - 1](y + (size_t)t0 * ldy + r0, ldy, nrow, p, 16 * u0, nb, ncu,
                              a + (size_t)t0 * ab, ab, &ax, u0 > 0,
                              next && t0 == 0 ? next + (size_t)(4 * u0) * pfs : NULL, pfs);
            }
        }
    }
}

/* K chunks of at most KCB blocks; in each, the call's panels (all of them
 * when the per-thread buffer holds them, else one at a time) are packed,
 * then every token group runs over the packed panels: the group's
 * activations stay in L1 while the panels stream from L2. */
TGT static void qgemm(const qkind *K, float *y, size_t ldy, const uint8_t *w, size_t rb,
                      const uint8_t *act, size_t ab, int n, int nr, int nt) {
    int nb = n / 32, nu = (nb + 15) / 16, npan = (nr + PR - 1) / PR;
    int nch = (16 * nu + KCB - 1) / KCB, cu = (nu + nch - 1) / nch; /* units per chunk */
    size_t per = (size_t)16 * cu;                                   /* blocks per panel */
    if (K->fks && nt <= 2 * FUSED_T) {
        qgemm_fused(K, y, ldy, w, rb, act, ab, nu, cu, nb, nr, nt);
        return;
    }
    pblk stack_pk[KCB], *pk = stack_pk;
    int mp = 1;
    if (nt >= MULTI_PANEL_T && npan > 1) {
        pblk *h = pack_buf(sizeof(pblk) * per * (size_t)npan);
        if (h) pk = h, mp = npan;
    }
    taux ax;
    for (int r0 = 0; r0 < nr; r0 += mp * PR) {
        int np = (nr - r0 + PR - 1) / PR < mp ? (nr - r0 + PR - 1) / PR : mp;
        for (int u0 = 0; u0 < nu; u0 += cu) {
            int ncu = nu - u0 < cu ? nu - u0 : cu;
            for (int p = 0; p < np; p++) {
                int rp = r0 + p * PR, nrow = nr - rp < PR ? nr - rp : PR;
                pack_panel(K->pack, K->sb, pk + p * per, w + (size_t)rp * rb, rb, nrow, 16 * u0,
                           16 * ncu, nb);
            }
            for (int t0 = 0; t0 < nt;) {
                int i = 0;
                while (k_nr[i] > nt - t0) i++;
                const uint8_t *a = act + (size_t)t0 * ab + (size_t)u0 * sizeof(act_q8_unit);
                K->aux(&ax, a, ab, k_nr[i], ncu);
                for (int p = 0; p < np; p++) {
                    int rp = r0 + p * PR, nrow = nr - rp < PR ? nr - rp : PR;
                    K->mks[i](y + (size_t)t0 * ldy + rp, ldy, nrow, pk + p * per, ncu, a, ab, &ax,
                              u0 > 0);
                }
                t0 += k_nr[i];
            }
        }
    }
}

/* The entry points, listed in kern_avx512.multi (kern_avx512.c). */
#define PANEL_GEMM(NAME)                                                                           \
    void kern_avx512_panel_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act, \
                                  size_t ab, int n, int nr, int nt) {                              \
        qgemm(&k_##NAME, y, ldy, w, rb, act, ab, n, nr, nt);                                       \
    }
PANEL_GEMM(q4_0)
PANEL_GEMM(q8_0)
PANEL_GEMM(q4_K)
PANEL_GEMM(q5_K)
PANEL_GEMM(q6_K)

#endif
