/*
 * types_ref.c - scalar reference conversions and dot products for F32, F16,
 * BF16, Q8_0 and Q4_0: the ground truth every faster kernel is checked
 * against, so clarity wins over speed here.
 *
 * Quantizers follow the GGUF ecosystem's reference formulas exactly (same
 * float operations in the same order), so a file quantized by penny has the
 * same bytes as one quantized elsewhere. Each multiply and add is its own
 * statement: the formats are defined with separately rounded float
 * operations, and a compiler must not fuse them into one FMA.
 *
 * Dot products accumulate in double. Every dequantized weight is an exact
 * float (an f16 scale times a small integer), and a float times a float is
 * exact in double, so the only errors are the double additions (about 1e-16
 * relative to sum |w*x|) and the final rounding to float. That makes the
 * reference nearly the exactly rounded dot, which SIMD kernels (float
 * accumulation, any order) can be compared against with a tolerance that
 * reflects only their own error. Order: quantized types sum each 32-element
 * block in double, scale it by d, and add the block into a double total;
 * F32/F16/BF16 add products one by one in element order.
 */
#include "kernels/types_ref.h"

#include <math.h>
#include <string.h>

#include "base/half.h"
#include "kernels/types.h"

/* ---- F32 ---- */

void ref_f32_to_f32(const void *src, float *dst, int64_t n) {
    memmove(dst, src, (size_t)n * sizeof(float));
}

void ref_f32_from_f32(const float *src, void *dst, int64_t n) {
    memmove(dst, src, (size_t)n * sizeof(float));
}

float ref_f32_dot(const void *row, const float *x, int64_t n) {
    const float *w = row;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)w[i] * (double)x[i];
    return (float)sum;
}

/* ---- F16 (IEEE binary16, round to nearest even) ---- */

void ref_f16_to_f32(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = half_to_f32(h[i]);
}

void ref_f16_from_f32(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = half_from_f32(src[i]);
}

float ref_f16_dot(const void *row, const float *x, int64_t n) {
    const uint16_t *h = row;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)half_to_f32(h[i]) * (double)x[i];
    return (float)sum;
}

/* ---- BF16 (upper half of an f32, round to nearest even, NaN kept quiet) ---- */

void ref_bf16_to_f32(const void *src, float *dst, int64_t n) {
    const uint16_t *h = src;
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(h[i]);
}

void ref_bf16_from_f32(const float *src, void *dst, int64_t n) {
    uint16_t *h = dst;
    for (int64_t i = 0; i < n; i++) h[i] = bf16_from_f32(src[i]);
}

float ref_bf16_dot(const void *row, const float *x, int64_t n) {
    const uint16_t *h = row;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += (double)bf16_to_f32(h[i]) * (double)x[i];
    return (float)sum;
}

/* ---- Q8_0: d = amax/127, q = round(x/d) half away from zero ---- */

void ref_q8_0_to_f32(const void *src, float *dst, int64_t n) {
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        float d = half_to_f32(b[i].d);
        for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = d * (float)b[i].qs[j];
    }
}

/* roundf of a finite in-range value; NaN and out-of-range values (only from
 * non-finite input) get a defined result instead of an undefined cast. */
static int8_t q8_round(float v) {
    float r = roundf(v);
    if (!(r == r)) return 0;
    if (r > 127.0f) return 127;
    if (r < -127.0f) return -127;
    return (int8_t)r;
}

static void q8_0_block(const float *x, block_q8_0 *b) {
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++) {
        float a = fabsf(x[j]);
        if (a > amax) amax = a;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = half_from_f32(d);
    for (int j = 0; j < QK8_0; j++) b->qs[j] = q8_round(x[j] * id);
}

void ref_q8_0_from_f32(const float *src, void *dst, int64_t n) {
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) q8_0_block(src + i * QK8_0, &b[i]);
}

float ref_q8_0_dot(const void *row, const float *x, int64_t n) {
    const block_q8_0 *b = row;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *xb = x + i * QK8_0;
        double s = 0.0;
        for (int j = 0; j < QK8_0; j++) s += (double)b[i].qs[j] * (double)xb[j];
        sum += (double)half_to_f32(b[i].d) * s;
    }
    return (float)sum;
}

/* ---- Q4_0: d = max/-8 (max = signed value of largest magnitude) ---- */

void ref_q4_0_to_f32(const void *src, float *dst, int64_t n) {
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        float d = half_to_f32(b[i].d);
        float *y = dst + i * QK4_0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
            y[j + QK4_0 / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

/* min(15, trunc(x*id + 8.5)); the product is rounded before the add. */
static uint8_t q4_nibble(float x, float id) {
    float s = x * id;
    float v = s + 8.5f;
    if (!(v >= 0.0f)) return 0; /* NaN (non-finite input only) */
    if (v >= 15.0f) return 15;
    return (uint8_t)v;
}

static void q4_0_block(const float *x, block_q4_0 *b) {
    float amax = 0.0f, max = 0.0f; /* the first element of largest magnitude wins */
    for (int j = 0; j < QK4_0; j++) {
        float a = fabsf(x[j]);
        if (a > amax) {
            amax = a;
            max = x[j];
        }
    }
    float d = max / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    b->d = half_from_f32(d);
    for (int j = 0; j < QK4_0 / 2; j++) {
        uint8_t lo = q4_nibble(x[j], id), hi = q4_nibble(x[j + QK4_0 / 2], id);
        b->qs[j] = (uint8_t)(lo | (hi << 4));
    }
}

void ref_q4_0_from_f32(const float *src, void *dst, int64_t n) {
    block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK4_0; i++) q4_0_block(src + i * QK4_0, &b[i]);
}

float ref_q4_0_dot(const void *row, const float *x, int64_t n) {
    const block_q4_0 *b = row;
    double sum = 0.0;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float *xb = x + i * QK4_0;
        double s = 0.0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            s += (double)((b[i].qs[j] & 0x0f) - 8) * (double)xb[j];
            s += (double)((b[i].qs[j] >> 4) - 8) * (double)xb[j + QK4_0 / 2];
        }
        sum += (double)half_to_f32(b[i].d) * s;
    }
    return (float)sum;
}
