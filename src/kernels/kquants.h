/*
 * kquants.h - the K-quant block types Q4_K, Q5_K and Q6_K: block layouts,
 * and the scalar reference code (dequantize, quantize, dot) that every
 * faster kernel is tested against.
 *
 * These are the types inside the common Q4_K_M / Q5_K_M files, so the
 * layouts are exactly those of the GGUF ecosystem: a file quantized
 * elsewhere dequantizes here to the same float values, bit for bit.
 *
 * A superblock holds QK_K = 256 elements, element e = 0..255 (little-endian).
 *
 *   Q4_K (144 B): f16 d, f16 dmin, u8 scales[12], u8 qs[128].
 *     Eight sub-blocks of 32 (sub-block e/32), each with a 6-bit scale sc and
 *     a 6-bit min m; q is 0..15 and x = (d*sc)*q - (dmin*m), each product
 *     rounded to float (both are exact) and the difference rounded once.
 *     q of element e: byte qs[32*(e/64) + e%32], low nibble when e%64 < 32,
 *     high nibble otherwise.
 *   Q5_K (176 B): f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128].
 *     As Q4_K with q = 0..31: the low four bits sit where Q4_K keeps q, and
 *     bit 4 is bit (e/32) of qh[e%32].
 *   Q6_K (210 B): u8 ql[128], u8 qh[64], i8 scales[16], f16 d.
 *     Sixteen sub-blocks of 16 (scale scales[e/16]); q is 0..63 and
 *     x = d*scale*(q-32), exact in float. With h = e/128, k = (e%128)/32,
 *     l = e%32: the low four bits of q are in ql[64h + 32*(k%2) + l], low
 *     nibble for k < 2, high nibble for k >= 2; the top two bits are bits
 *     2k, 2k+1 of qh[32h + l].
 *
 * The 12 scale bytes of Q4_K/Q5_K (sub-block j, 6-bit sc_j and m_j):
 *   j < 4:  sc_j = bytes[j] & 63,  m_j = bytes[j+4] & 63
 *   j >= 4: sc_j = (bytes[j+4] & 15) | (bytes[j-4] >> 6) << 4
 *           m_j  = (bytes[j+4] >> 4) | (bytes[j]   >> 6) << 4
 */
#ifndef PENNY_KERNELS_KQUANTS_H
#define PENNY_KERNELS_KQUANTS_H

#include <stdint.h>

#define QK_K 256
#define K_SCALE_BYTES 12

typedef struct block_q4_K {
    uint16_t d;    /* f16 scale of the sub-block scales */
    uint16_t dmin; /* f16 scale of the sub-block mins */
    uint8_t scales[K_SCALE_BYTES];
    uint8_t qs[QK_K / 2];
} block_q4_K;

typedef struct block_q5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[K_SCALE_BYTES];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;

typedef struct block_q6_K {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;

_Static_assert(sizeof(block_q4_K) == 144, "Q4_K block layout");
_Static_assert(sizeof(block_q5_K) == 176, "Q5_K block layout");
_Static_assert(sizeof(block_q6_K) == 210, "Q6_K block layout");

/* 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes. */
static inline void kq_scale_min(const uint8_t *bytes, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = bytes[j] & 63;
        *m = bytes[j + 4] & 63;
    } else {
        *sc = (uint8_t)((bytes[j + 4] & 15) | (bytes[j - 4] >> 6) << 4);
        *m = (uint8_t)((bytes[j + 4] >> 4) | (bytes[j] >> 6) << 4);
    }
}

/* n is a multiple of QK_K throughout. Quantizers accept any finite input
 * (non-finite input gives defined but meaningless blocks) and search the
 * scales for the least squared error; see kquants.c. Dot products add the
 * dequantized weights times x in double, in element order, and round once. */
void ref_q4_K_to_f32(const void *src, float *dst, int64_t n);
void ref_q4_K_from_f32(const float *src, void *dst, int64_t n);
float ref_q4_K_dot(const void *row, const float *x, int64_t n);
void ref_q5_K_to_f32(const void *src, float *dst, int64_t n);
void ref_q5_K_from_f32(const float *src, void *dst, int64_t n);
float ref_q5_K_dot(const void *row, const float *x, int64_t n);
void ref_q6_K_to_f32(const void *src, float *dst, int64_t n);
void ref_q6_K_from_f32(const float *src, void *dst, int64_t n);
float ref_q6_K_dot(const void *row, const float *x, int64_t n);

#endif
