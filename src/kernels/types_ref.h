/*
 * types_ref.h - scalar reference conversions and dot products per type.
 * The ground truth for every SIMD kernel; simple on purpose.
 * n is always a multiple of the type's block size.
 */
#ifndef PENNY_KERNELS_TYPES_REF_H
#define PENNY_KERNELS_TYPES_REF_H

#include <stdint.h>

void ref_f32_to_f32(const void *src, float *dst, int64_t n);
void ref_f32_from_f32(const float *src, void *dst, int64_t n);
float ref_f32_dot(const void *row, const float *x, int64_t n);
void ref_f16_to_f32(const void *src, float *dst, int64_t n);
void ref_f16_from_f32(const float *src, void *dst, int64_t n);
float ref_f16_dot(const void *row, const float *x, int64_t n);
void ref_bf16_to_f32(const void *src, float *dst, int64_t n);
void ref_bf16_from_f32(const float *src, void *dst, int64_t n);
float ref_bf16_dot(const void *row, const float *x, int64_t n);
void ref_q8_0_to_f32(const void *src, float *dst, int64_t n);
void ref_q8_0_from_f32(const float *src, void *dst, int64_t n);
float ref_q8_0_dot(const void *row, const float *x, int64_t n);
void ref_q4_0_to_f32(const void *src, float *dst, int64_t n);
void ref_q4_0_from_f32(const float *src, void *dst, int64_t n);
float ref_q4_0_dot(const void *row, const float *x, int64_t n);

#endif
