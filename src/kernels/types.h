/*
 * types.h - tensor element types: block layouts, sizes, and the scalar
 * reference code (dequantize, quantize, dot) for each supported type.
 *
 * Type ids and block layouts are those of the GGUF ecosystem, so files made
 * elsewhere load bit-for-bit. The scalar functions here are the ground truth
 * that SIMD kernels are tested against.
 *
 * Block layouts (little-endian):
 *   F32   4 B/elem          F16  IEEE half, 2 B/elem     BF16  bfloat16, 2 B/elem
 *   Q8_0  32 elems: f16 d, int8 q[32]            (34 B); x = d * q
 *   Q4_0  32 elems: f16 d, uint8 qs[16]          (18 B); x = d * (nibble - 8),
 *         element j < 16 in the low nibble of qs[j], element j+16 in the high one
 */
#ifndef PENNY_KERNELS_TYPES_H
#define PENNY_KERNELS_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum penny_type {
    TYPE_F32 = 0, TYPE_F16 = 1, TYPE_Q4_0 = 2, TYPE_Q4_1 = 3, TYPE_Q5_0 = 6, TYPE_Q5_1 = 7,
    TYPE_Q8_0 = 8, TYPE_Q8_1 = 9, TYPE_Q2_K = 10, TYPE_Q3_K = 11, TYPE_Q4_K = 12,
    TYPE_Q5_K = 13, TYPE_Q6_K = 14, TYPE_Q8_K = 15, TYPE_BF16 = 30,
    TYPE_COUNT = 40
};

#define QK8_0 32
#define QK4_0 32

typedef struct block_q8_0 {
    uint16_t d; /* f16 scale */
    int8_t qs[QK8_0];
} block_q8_0;

typedef struct block_q4_0 {
    uint16_t d;
    uint8_t qs[QK4_0 / 2];
} block_q4_0;

_Static_assert(sizeof(block_q8_0) == 34, "Q8_0 block layout");
_Static_assert(sizeof(block_q4_0) == 18, "Q4_0 block layout");

/* Dequantizes n elements (n a multiple of the block size) from src to dst. */
typedef void (*type_to_f32_fn)(const void *src, float *dst, int64_t n);
/* Quantizes n elements (multiple of the block size). */
typedef void (*type_from_f32_fn)(const float *src, void *dst, int64_t n);
/* Dot product of n elements of a row of this type with f32 x. */
typedef float (*type_dot_f32_fn)(const void *row, const float *x, int64_t n);

typedef struct type_traits {
    const char *name;   /* "Q8_0"; NULL for ids that are not assigned */
    int64_t block_size; /* elements per block */
    size_t type_size;   /* bytes per block */
    bool supported;     /* penny can compute with it */
    type_to_f32_fn to_f32;
    type_from_f32_fn from_f32;
    type_dot_f32_fn dot_f32;
} type_traits;

/* NULL for an id that is not a known type. */
const type_traits *type_get(uint32_t type);
const char *type_name(uint32_t type); /* "type#N" style fallback never NULL */
/* Bytes for n elements; 0 if n is not a multiple of the block size or type unknown. */
size_t type_row_size(uint32_t type, int64_t n);

#endif
