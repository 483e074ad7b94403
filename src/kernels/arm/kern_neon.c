/*
 * kern_neon.c - AArch64 Advanced SIMD matmul kernels with the dot-product
 * extension (sdot, ARMv8.2+: Cortex-A55/A76 and later, Apple M1, Graviton
 * 2 and later).
 *
 * The functions carry a target attribute, so the library itself stays
 * plain ARMv8-A and dispatch.c calls in only when HWCAP reports ASIMDDP.
 * Tested under qemu-user against the scalar table (tests/test_simd.c, run
 * by tests/test_simd_neon.sh), which is also how CI covers them; their
 * speed has not been measured on hardware.
 *
 * One (row, token) dot at a time, 16 values per step: quantized weights
 * become signed bytes (Q4_0: nibble - 8; Q6_K: q - 32; Q4_K/Q5_K: q, with
 * the mins' share taken from the activation block sums), sdot multiplies
 * them with the Q8 activations into four int32 lanes per block or half
 * block, exact, and each block's lanes are scaled into float accumulators.
 * Activation quantization rounds with fcvtas (ties away from zero), the
 * scalar roundf, so the bytes match the scalar quantizer's.
 */
#include <string.h>

#include "base/half.h"
#include "kernels/dispatch.h"
#include "kernels/kquants.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#define TGT __attribute__((target("arch=armv8.2-a+dotprod")))
#define TGT_INLINE TGT static inline __attribute__((always_inline))

/* ---- Q8 activations ---- */

/* 32 values to q bytes (first and second halves), returns d. */
TGT static float act_block(act_q8_group *g, int k, const float *x) {
    float32x4_t v[8], m = vdupq_n_f32(0.0f);
    for (int i = 0; i < 8; i++) {
        v[i] = vld1q_f32(x + 4 * i);
        m = vmaxq_f32(m, vabsq_f32(v[i]));
    }
    float amax = vmaxvq_f32(m);
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32x4_t q[8], lim = vdupq_n_s32(127);
    for (int i = 0; i < 8; i++) {
        q[i] = vcvtaq_s32_f32(vmulq_n_f32(v[i], id)); /* ties away; NaN -> 0 */
        q[i] = vmaxq_s32(vminq_s32(q[i], lim), vnegq_s32(lim));
    }
    for (int h = 0; h < 2; h++) {
        int16x8_t a = vcombine_s16(vmovn_s32(q[4 * h]), vmovn_s32(q[4 * h + 1]));
        int16x8_t b = vcombine_s16(vmovn_s32(q[4 * h + 2]), vmovn_s32(q[4 * h + 3]));
        int8x16_t bytes = vcombine_s8(vmovn_s16(a), vmovn_s16(b));
        vst1q_s8((h ? g->hi : g->lo) + 16 * k, bytes);
        g->nsum[4 * k + h] = -(vaddlvq_s16(a) + vaddlvq_s16(b));
    }
    vst1q_f32(g->d + 4 * k, vdupq_n_f32(d));
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

/* Block b of a prepared row: its two halves of q, its d and sum of q. */
typedef struct ablock {
    int8x16_t lo, hi;
    float d;
    int32_t sum_lo, sum_hi;
} ablock;

TGT_INLINE ablock act_at(const void *a, int b) {
    const act_q8_group *g = act_group(a, b / 4);
    int k = b % 4;
    ablock r = {vld1q_s8(g->lo + 16 * k), vld1q_s8(g->hi + 16 * k), g->d[4 * k], -g->nsum[4 * k],
                -g->nsum[4 * k + 1]};
    return r;
}

/* sum(w * q) of one block: int32 lanes, then float. */
TGT_INLINE float32x4_t block_dot(int8x16_t wlo, int8x16_t whi, const ablock *x) {
    int32x4_t s = vdotq_s32(vdotq_s32(vdupq_n_s32(0), wlo, x->lo), whi, x->hi);
    return vcvtq_f32_s32(s);
}

/* ---- per-type dots of one row with one prepared token ---- */

TGT static float dot_q8_0(const uint8_t *w, const void *a, int n) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int b = 0; b < n / 32; b++) {
        const block_q8_0 *blk = (const block_q8_0 *)w + b;
        ablock x = act_at(a, b);
        float32x4_t s = block_dot(vld1q_s8(blk->qs), vld1q_s8(blk->qs + 16), &x);
        acc = vfmaq_n_f32(acc, s, half_to_f32(blk->d) * x.d);
    }
    return vaddvq_f32(acc);
}

TGT static float dot_q4_0(const uint8_t *w, const void *a, int n) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    int8x16_t eight = vdupq_n_s8(8);
    for (int b = 0; b < n / 32; b++) {
        const block_q4_0 *blk = (const block_q4_0 *)w + b;
        uint8x16_t qs = vld1q_u8(blk->qs);
        int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(qs, vdupq_n_u8(15))), eight);
        int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(qs, 4)), eight);
        ablock x = act_at(a, b);
        acc = vfmaq_n_f32(acc, block_dot(lo, hi, &x), half_to_f32(blk->d) * x.d);
    }
    return vaddvq_f32(acc);
}

/* Q4_K/Q5_K sub-block j of superblock s: q bytes of its 32 values. */
TGT_INLINE void q45_bytes(const uint8_t *qs, const uint8_t *qh, int j, int8x16_t *lo,
                          int8x16_t *hi) {
    const uint8_t *p = qs + 32 * (j / 2);
    int shift = j % 2 ? 4 : 0;
    uint8x16_t a = vld1q_u8(p), b = vld1q_u8(p + 16);
    a = shift ? vshrq_n_u8(a, 4) : vandq_u8(a, vdupq_n_u8(15));
    b = shift ? vshrq_n_u8(b, 4) : vandq_u8(b, vdupq_n_u8(15));
    if (qh) { /* bit 4: bit j of qh[l] */
        uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << j)), sixteen = vdupq_n_u8(16);
        a = vorrq_u8(a, vandq_u8(vtstq_u8(vld1q_u8(qh), bit), sixteen));
        b = vorrq_u8(b, vandq_u8(vtstq_u8(vld1q_u8(qh + 16), bit), sixteen));
    }
    *lo = vreinterpretq_s8_u8(a);
    *hi = vreinterpretq_s8_u8(b);
}

/* d*sc*dx*sum(q*qx) into acc and dmin*m*dx*sum(qx) into *mins, over one
 * superblock's sub-blocks. */
TGT static float32x4_t sb_q45(float32x4_t acc, float *mins, const uint8_t *b, const uint8_t *qs,
                              const uint8_t *qh, const void *a, int s) {
    float d = half_to_f32((uint16_t)(b[0] | b[1] << 8));
    float dmin = half_to_f32((uint16_t)(b[2] | b[3] << 8));
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        kq_scale_min(b + 4, j, &sc, &m);
        int8x16_t lo, hi;
        q45_bytes(qs, qh, j, &lo, &hi);
        ablock x = act_at(a, 8 * s + j);
        acc = vfmaq_n_f32(acc, block_dot(lo, hi, &x), d * (float)sc * x.d);
        *mins += dmin * (float)m * x.d * (float)(x.sum_lo + x.sum_hi);
    }
    return acc;
}

TGT static float dot_q4_K(const uint8_t *w, const void *a, int n) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int s = 0; s < n / QK_K; s++) {
        const block_q4_K *blk = (const block_q4_K *)w + s;
        acc = sb_q45(acc, &mins, (const uint8_t *)blk, blk->qs, NULL, a, s);
    }
    return vaddvq_f32(acc) - mins;
}

TGT static float dot_q5_K(const uint8_t *w, const void *a, int n) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    float mins = 0.0f;
    for (int s = 0; s < n / QK_K; s++) {
        const block_q5_K *blk = (const block_q5_K *)w + s;
        acc = sb_q45(acc, &mins, (const uint8_t *)blk, blk->qs, blk->qh, a, s);
    }
    return vaddvq_f32(acc) - mins;
}

/* Q6_K: q - 32 of 16 values (block k of half h, second 16 if e) as bytes. */
TGT_INLINE int8x16_t q6_bytes(const block_q6_K *b, int h, int k, int e) {
    uint8x16_t low = vld1q_u8(b->ql + 64 * h + 32 * (k % 2) + 16 * e);
    low = k < 2 ? vandq_u8(low, vdupq_n_u8(15)) : vshrq_n_u8(low, 4);
    uint8x16_t top = vld1q_u8(b->qh + 32 * h + 16 * e);
    top = vshlq_n_u8(vandq_u8(vshlq_u8(top, vdupq_n_s8((int8_t)(-2 * k))), vdupq_n_u8(3)), 4);
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, top)), vdupq_n_s8(32));
}

TGT static float dot_q6_K(const uint8_t *w, const void *a, int n) {
    float32x4_t acc = vdupq_n_f32(0.0f);
    for (int s = 0; s < n / QK_K; s++) {
        const block_q6_K *blk = (const block_q6_K *)w + s;
        float d = half_to_f32(blk->d);
        for (int j = 0; j < 8; j++) {
            ablock x = act_at(a, 8 * s + j);
            int h = j / 4, k = j % 4;
            int32x4_t lo = vdotq_s32(vdupq_n_s32(0), q6_bytes(blk, h, k, 0), x.lo);
            int32x4_t hi = vdotq_s32(vdupq_n_s32(0), q6_bytes(blk, h, k, 1), x.hi);
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(lo), d * blk->scales[2 * j] * x.d);
            acc = vfmaq_n_f32(acc, vcvtq_f32_s32(hi), d * blk->scales[2 * j + 1] * x.d);
        }
    }
    return vaddvq_f32(acc);
}

/* ---- F32 / F16 / BF16 x f32 ---- */

TGT static float dot_f32(const uint8_t *w, const void *a, int n) {
    const float *x = a;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        float32x4_t w0, w1;
        memcpy(&w0, w + 4 * i, 16), memcpy(&w1, w + 4 * i + 16, 16);
        acc0 = vfmaq_f32(acc0, w0, vld1q_f32(x + i));
        acc1 = vfmaq_f32(acc1, w1, vld1q_f32(x + i + 4));
    }
    float tail = 0.0f;
    for (; i < n; i++) {
        float v;
        memcpy(&v, w + 4 * i, 4);
        tail += v * x[i];
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1)) + tail;
}

/* Eight 16-bit weights widened to two float vectors. */
TGT_INLINE void wide_f16(const uint8_t *p, float32x4_t *a, float32x4_t *b) {
    float16x8_t h;
    memcpy(&h, p, 16);
    *a = vcvt_f32_f16(vget_low_f16(h));
    *b = vcvt_high_f32_f16(h);
}

TGT_INLINE void wide_bf16(const uint8_t *p, float32x4_t *a, float32x4_t *b) {
    uint16x8_t h;
    memcpy(&h, p, 16);
    *a = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
    *b = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16));
}

#define DOT16(NAME, WIDEN, SCALAR)                                                                 \
    TGT static float NAME(const uint8_t *w, const void *a, int n) {                                \
        const float *x = a;                                                                        \
        float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0;                                         \
        int i = 0;                                                                                 \
        for (; i + 8 <= n; i += 8) {                                                               \
            float32x4_t w0, w1;                                                                    \
            WIDEN(w + 2 * i, &w0, &w1);                                                            \
            acc0 = vfmaq_f32(acc0, w0, vld1q_f32(x + i));                                          \
            acc1 = vfmaq_f32(acc1, w1, vld1q_f32(x + i + 4));                                      \
        }                                                                                          \
        float tail = 0.0f;                                                                         \
        for (; i < n; i++) {                                                                       \
            uint16_t h;                                                                            \
            memcpy(&h, w + 2 * i, 2);                                                              \
            tail += SCALAR(h) * x[i];                                                              \
        }                                                                                          \
        return vaddvq_f32(vaddq_f32(acc0, acc1)) + tail;                                           \
    }

DOT16(dot_f16, wide_f16, half_to_f32)
DOT16(dot_bf16, wide_bf16, bf16_to_f32)

/* ---- gemm: one dot per (row, token) ---- */

typedef float (*dot_fn)(const uint8_t *w, const void *a, int n);

static void gemm_dots(dot_fn dot, float *y, size_t ldy, const void *w, size_t rb, const void *act,
                      size_t ab, int n, int nr, int nt) {
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[(size_t)t * ldy + r] =
                dot((const uint8_t *)w + r * rb, (const uint8_t *)act + t * ab, n);
}

#define GEMM(NAME)                                                                                 \
    static void gemm_##NAME(float *y, size_t ldy, const void *w, size_t rb, const void *act,       \
                            size_t ab, int n, int nr, int nt) {                                    \
        gemm_dots(dot_##NAME, y, ldy, w, rb, act, ab, n, nr, nt);                                  \
    }

GEMM(f32)
GEMM(f16)
GEMM(bf16)
GEMM(q8_0)
GEMM(q4_0)
GEMM(q4_K)
GEMM(q5_K)
GEMM(q6_K)

const kern_ops kern_neon = {
    .name = "neon",
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
