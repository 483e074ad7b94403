/*
 * test_kernels.c - unit tests of the scalar reference kernels: half/bf16
 * conversions (exhaustive over all 16-bit patterns, and every rounding tie),
 * quantize/dequantize error bounds and exact bytes on hand-made blocks, dot
 * products against a double sum of dequantized weights, matmul thread
 * splits against a naive loop (bit-exact, scalar kernel table), and the
 * element-wise ops.
 *
 * The float64 numpy cross-check of the same kernels lives in
 * test_kernels_ref.py; this file covers what is easiest to state in C.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/half.h"
#include "base/pool.h"
#include "check.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "kernels/types.h"

static const uint32_t k_types[] = {TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q8_0, TYPE_Q4_0};
#define N_TYPES (sizeof k_types / sizeof k_types[0])

/* ---- deterministic random numbers (splitmix64) ---- */

static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static uint64_t rng_next(void) {
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_unit(void) { return (float)((double)(rng_next() >> 11) * 0x1p-52 - 1.0); }

static void fill(float *x, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_unit() * scale;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* ---- half ---- */

/* Value of a finite half, straight from the IEEE definition. */
static double half_value(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static int is_half_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }

static void test_half_all_patterns(void) {
    int bad_value = 0, bad_trip = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = half_to_f32(h);
        if (is_half_nan(h)) {
            bad_value += !isnan(f) || (signbit(f) != 0) != ((h & 0x8000) != 0);
            bad_trip += !is_half_nan(half_from_f32(f));
            continue;
        }
        if ((h & 0x7fff) == 0x7c00)
            bad_value += !isinf(f) || (signbit(f) != 0) != ((h & 0x8000) != 0);
        else
            bad_value += half_f32_bits(f) != half_f32_bits((float)half_value(h));
        bad_trip += half_from_f32(f) != h;
    }
    CHECKF(bad_value == 0, "%d half patterns decode wrongly", bad_value);
    CHECKF(bad_trip == 0, "%d half patterns do not round-trip", bad_trip);
}

/* Every midpoint between neighbouring halves is a tie that must go to the
 * even one; a float just either side must go to the nearer one. */
static void test_half_ties(void) {
    int bad = 0;
    for (uint16_t h = 0; h < 0x7bff; h++) {
        float a = half_to_f32(h), b = half_to_f32((uint16_t)(h + 1));
        float m = (a + b) / 2; /* exact: halves have 11-bit significands */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : h;
        bad += half_from_f32(m) != even;
        bad += half_from_f32(-m) != (even | 0x8000);
        bad += half_from_f32(nextafterf(m, INFINITY)) != h + 1;
        bad += half_from_f32(nextafterf(m, 0.0f)) != h;
    }
    CHECKF(bad == 0, "%d half rounding errors at ties", bad);
    CHECK(half_from_f32(65504.0f) == 0x7bff);
    CHECK(half_from_f32(nextafterf(65520.0f, 0.0f)) == 0x7bff);
    CHECK(half_from_f32(65520.0f) == 0x7c00); /* tie with 2^16, odd mantissa: inf */
    CHECK(half_from_f32(1e10f) == 0x7c00);
    CHECK(half_from_f32(-3.4e38f) == 0xfc00);
    CHECK(half_from_f32(INFINITY) == 0x7c00);
    CHECK(half_from_f32(-INFINITY) == 0xfc00);
    CHECK(half_from_f32(0x1p-25f) == 0x0000); /* tie between 0 and the smallest subnormal */
    CHECK(half_from_f32(0x1.000002p-25f) == 0x0001);
    CHECK(half_from_f32(0x3p-25f) == 0x0002); /* tie 1.5 subnormal units: to even */
    CHECK(half_from_f32(1e-40f) == 0x0000);   /* float subnormal */
    CHECK(half_from_f32(-1e-40f) == 0x8000);
    CHECK(half_from_f32(-0.0f) == 0x8000);
    CHECK(is_half_nan(half_from_f32(NAN)));
    CHECK(is_half_nan(half_from_f32(half_bits_f32(0x7f800001u)))); /* NaN payload below half's */
    CHECK(half_from_f32(-NAN) & 0x8000);
}

/* ---- bf16 ---- */

static int is_bf16_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f); }

static void test_bf16(void) {
    int bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = bf16_to_f32(h);
        bad += half_f32_bits(f) != (i << 16);
        bad += is_bf16_nan(h) ? !is_bf16_nan(bf16_from_f32(f)) : bf16_from_f32(f) != h;
    }
    CHECKF(bad == 0, "%d bf16 patterns fail the round trip", bad);
    bad = 0;
    for (uint16_t h = 0; h < 0x7f7f; h++) {
        float a = bf16_to_f32(h), b = bf16_to_f32((uint16_t)(h + 1));
        float m = a + (b - a) / 2; /* exact: 9 significant bits */
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : h;
        bad += bf16_from_f32(m) != even;
        bad += bf16_from_f32(-m) != (even | 0x8000);
        bad += bf16_from_f32(nextafterf(m, INFINITY)) != h + 1;
        bad += bf16_from_f32(nextafterf(m, 0.0f)) != h;
    }
    CHECKF(bad == 0, "%d bf16 rounding errors at ties", bad);
    CHECK(bf16_from_f32(half_bits_f32(0x7f7f8000u)) == 0x7f80); /* tie above max, odd: inf */
    CHECK(bf16_from_f32(half_bits_f32(0x7f7f7fffu)) == 0x7f7f);
    CHECK(bf16_from_f32(INFINITY) == 0x7f80);
    CHECK(bf16_from_f32(-INFINITY) == 0xff80);
    CHECK(bf16_from_f32(half_bits_f32(0x7f800001u)) == 0x7fc0); /* signalling NaN made quiet */
    CHECK(bf16_from_f32(half_bits_f32(0xff810000u)) == 0xffc1);
    CHECK(bf16_from_f32(half_bits_f32(0x7fffffffu)) == 0x7fff); /* no carry into the sign */
}

/* ---- quantization ---- */

static void test_quant_exact_blocks(void) {
    float x[32] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, 126.5f, -127.0f};
    block_q8_0 q8;
    type_get(TYPE_Q8_0)->from_f32(x, &q8, 32);
    const int8_t want8[8] = {127, 3, -3, 1, -1, 2, 127, -127}; /* ties away from zero */
    CHECK(q8.d == 0x3c00);
    CHECK(memcmp(q8.qs, want8, 8) == 0);
    for (int j = 8; j < 32; j++) CHECK(q8.qs[j] == 0);

    float y[32] = {-8.0f, 0.5f, -0.5f, 8.0f, 7.4f, 0.0f, -7.9f, 3.49f};
    y[16] = 1.0f, y[17] = -6.0f;
    block_q4_0 q4;
    type_get(TYPE_Q4_0)->from_f32(y, &q4, 32);
    /* nibble = min(15, trunc(x + 8.5)) with d = -8/-8 = 1 */
    const uint8_t lo[8] = {0, 9, 8, 15, 15, 8, 0, 11};
    CHECK(q4.d == 0x3c00);
    for (int j = 0; j < 8; j++) CHECKF((q4.qs[j] & 15) == lo[j], "j=%d", j);
    CHECK(q4.qs[0] >> 4 == 9 && q4.qs[1] >> 4 == 2 && q4.qs[2] >> 4 == 8);
}

static void test_quant_zero_and_nonfinite(void) {
    float z[64] = {0};
    block_q8_0 q8[2];
    block_q4_0 q4[2];
    float back[64];
    type_get(TYPE_Q8_0)->from_f32(z, q8, 64);
    type_get(TYPE_Q4_0)->from_f32(z, q4, 64);
    CHECK(q8[0].d == 0 && q8[1].qs[5] == 0);
    CHECK(q4[0].d == 0x8000 && q4[1].qs[3] == 0x88); /* d = 0 / -8 = -0 */
    type_get(TYPE_Q4_0)->to_f32(q4, back, 64);
    for (int i = 0; i < 64; i++) CHECK(back[i] == 0.0f);
    /* Non-finite input has no meaningful result, only a defined one. */
    z[3] = NAN, z[4] = 1.0f, z[40] = INFINITY;
    type_get(TYPE_Q8_0)->from_f32(z, q8, 64);
    type_get(TYPE_Q4_0)->from_f32(z, q4, 64);
    CHECK(q8[0].qs[3] == 0 && q8[0].qs[4] == 127);
}

/* Max |x - dequant(quant(x))| over one block, against a per-type bound. */
static void check_block_error(uint32_t type, const float *x, const float *y, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    /* storing d as f16 costs 2^-11 relative, or 2^-25 absolute once subnormal */
    double d8 = amax / 127.0, d4 = amax / 8.0;
    double e8 = fmax(d8 * 0x1p-11, 0x1p-25), e4 = fmax(d4 * 0x1p-11, 0x1p-25);
    for (int j = 0; j < n; j++) {
        double e = fabs((double)x[j] - y[j]), bound;
        switch (type) {
        case TYPE_F32: bound = 0; break;
        case TYPE_F16: bound = fabs(x[j]) * 0x1p-11 + 0x1p-25; break;
        case TYPE_BF16: bound = fabs(x[j]) * 0x1p-8; break;
        /* half a step, plus the f16 rounding of d times the largest q */
        case TYPE_Q8_0: bound = d8 * 0.5 + 127 * e8; break;
        /* the extreme element on the far side clamps to 7: one full step */
        default: bound = d4 + 8 * e4; break;
        }
        if (!(e <= bound)) {
            CHECKF(e <= bound, "%s x=%g y=%g bound %g", type_name(type), x[j], y[j], bound);
            return;
        }
    }
}

static void test_quant_error_bounds(void) {
    enum { N = 4096 };
    float *x = xmalloc(N * sizeof(float)), *y = xmalloc(N * sizeof(float));
    void *q = xmalloc(type_row_size(TYPE_F32, N));
    const float scales[] = {1.0f, 1e-3f, 3e4f, 1e-5f};
    for (size_t k = 0; k < N_TYPES; k++) {
        const type_traits *tt = type_get(k_types[k]);
        for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
            fill(x, N, scales[s]);
            tt->from_f32(x, q, N);
            tt->to_f32(q, y, N);
            for (int b = 0; b < N; b += 32) check_block_error(k_types[k], x + b, y + b, 32);
        }
    }
    free(x), free(y), free(q);
}

/* ---- dot and matmul ---- */

static void test_dot(void) {
    const int ns[] = {32, 64, 4096};
    for (size_t k = 0; k < N_TYPES; k++) {
        const type_traits *tt = type_get(k_types[k]);
        for (size_t i = 0; i < 3; i++) {
            int n = ns[i];
            float *w = xmalloc(n * sizeof(float)), *x = xmalloc(n * sizeof(float));
            float *wd = xmalloc(n * sizeof(float));
            void *row = xmalloc(type_row_size(k_types[k], n));
            fill(w, n, 2.0f), fill(x, n, 1.0f);
            tt->from_f32(w, row, n);
            tt->to_f32(row, wd, n);
            double ref = 0, mag = 0;
            for (int j = 0; j < n; j++) ref += (double)wd[j] * x[j], mag += fabs(wd[j] * x[j]);
            double got = tt->dot_f32(row, x, n);
            /* double accumulation: only the final rounding to float remains */
            CHECKF(fabs(got - ref) <= 0x1p-23 * fabs(ref) + 1e-12 * mag,
                   "%s n=%d got %.9g ref %.9g", tt->name, n, got, ref);
            free(w), free(x), free(wd), free(row);
        }
    }
}

/* One (row, token) at a time: the type's reference dot, or for Q8_0 / Q4_0
 * (which multiply Q8-rounded activations, kernels/dispatch.h) the scalar
 * kernel on the token's activations quantized by the scalar table. */
static void naive_matmul(float *Y, const uint8_t *W, uint32_t type, size_t rb, const float *X,
                         int T, int n_in, int n_out) {
    const type_traits *tt = type_get(type);
    size_t ab = kern_act_row_bytes(KERN_ACT_Q8, n_in);
    void *a = xmalloc(ab);
    for (int t = 0; t < T; t++) {
        kern_scalar.prep_q8(a, X + t * n_in, n_in);
        for (int o = 0; o < n_out; o++) {
            float *y = &Y[t * n_out + o];
            if (kern_act_of(type) == KERN_ACT_Q8)
                kern_scalar.gemm[type](y, 1, W + o * rb, rb, a, ab, n_in, 1, 1);
            else
                *y = tt->dot_f32(W + o * rb, X + t * n_in, n_in);
        }
    }
    free(a);
}

static void check_matmul_shape(pool *p1, pool *p2, uint32_t type, int n_out, int n_in, int T) {
    const type_traits *tt = type_get(type);
    size_t rb = type_row_size(type, n_in), ny = (size_t)T * n_out * sizeof(float);
    float *w = xmalloc((size_t)n_out * n_in * sizeof(float));
    uint8_t *W = xmalloc(rb * n_out);
    float *X = xmalloc((size_t)T * n_in * sizeof(float));
    float *ref = xmalloc(ny), *y = xmalloc(ny);
    fill(w, (int64_t)n_out * n_in, 1.0f), fill(X, (int64_t)T * n_in, 1.0f);
    for (int o = 0; o < n_out; o++) tt->from_f32(w + (size_t)o * n_in, W + o * rb, n_in);
    naive_matmul(ref, W, type, rb, X, T, n_in, n_out);
    pool *ps[3] = {NULL, p1, p2};
    for (int i = 0; i < 3; i++) {
        memset(y, 0xff, ny);
        op_matmul(ps[i], NULL, y, W, type, rb, X, T, n_in, n_out);
        CHECKF(memcmp(y, ref, ny) == 0, "%s %dx%d T=%d pool %d", tt->name, n_out, n_in, T, i);
    }
    free(w), free(W), free(X), free(ref), free(y);
}

static void test_matmul(void) {
    pool *p1 = NULL, *p2 = NULL;
    penny_error err;
    CHECK(pool_new(1, &p1, &err) == PENNY_OK);
    CHECK(pool_new(2, &p2, &err) == PENNY_OK);
    if (!p1 || !p2) goto done;
    CHECK(pool_size(p2) == 2);
    CHECK(kern_use(KERN_SCALAR)); /* the SIMD tables are tested in test_simd.c */
    for (size_t k = 0; k < N_TYPES; k++) {
        check_matmul_shape(p1, p2, k_types[k], 1, 32, 1);
        check_matmul_shape(p1, p2, k_types[k], 5, 64, 3);
        check_matmul_shape(p1, p2, k_types[k], 67, 256, 7);
    }
done:
    pool_free(p1);
    pool_free(p2);
}

/* ---- element-wise ops ---- */

static int close_rel(double got, double want, double rel) {
    return fabs(got - want) <= rel * fabs(want) + 1e-30;
}

static void test_rope_values(void) {
    const float freqs[2] = {1.0f, 0.5f};
    const int32_t pos[1] = {2};
    float x[8] = {1, 0, 0, 1, 1, 0, 0, 1}; /* two heads of 4 */
    op_rope(x, 1, 2, 4, 4, pos, freqs, 0);
    const double want[4] = {cos(2.0), sin(2.0), -sin(1.0), cos(1.0)};
    for (int i = 0; i < 8; i++) CHECKF(close_rel(x[i], want[i % 4], 1e-7), "normal i=%d", i);
    float y[4] = {1, 0, 0, 1};
    op_rope(y, 1, 1, 4, 4, pos, freqs, 1); /* pairs (0,2), (1,3) */
    const double wn[4] = {cos(2.0), -sin(1.0), sin(2.0), cos(1.0)};
    for (int i = 0; i < 4; i++) CHECKF(close_rel(y[i], wn[i], 1e-7), "neox i=%d", i);
}

/* Position 0 is the identity, dims past n_rot stay put, and rotating by a
 * then b equals rotating by a+b. */
static void test_rope_properties(void) {
    enum { T = 3, H = 2, D = 16, R = 8 };
    float freqs[R / 2], x[T * H * D], a[T * H * D], b[T * H * D];
    for (int i = 0; i < R / 2; i++) freqs[i] = powf(10000.0f, -2.0f * i / R);
    fill(x, T * H * D, 3.0f);
    for (int neox = 0; neox < 2; neox++) {
        const int32_t zero[T] = {0, 0, 0}, p1[T] = {5, 100, 4000}, p2[T] = {7, 1, 96};
        const int32_t sum[T] = {12, 101, 4096};
        memcpy(a, x, sizeof x);
        op_rope(a, T, H, D, R, zero, freqs, neox);
        CHECK(memcmp(a, x, sizeof x) == 0);
        op_rope(a, T, H, D, R, p1, freqs, neox);
        op_rope(a, T, H, D, R, p2, freqs, neox);
        memcpy(b, x, sizeof x);
        op_rope(b, T, H, D, R, sum, freqs, neox);
        int bad = 0;
        for (int i = 0; i < T * H * D; i++) {
            bad += fabsf(a[i] - b[i]) > 1e-5f * 3.0f;
            if (i % D >= R) bad += a[i] != x[i] || b[i] != x[i];
        }
        CHECKF(bad == 0, "neox=%d: %d rope mismatches", neox, bad);
    }
}

static void test_rmsnorm(void) {
    float x[2] = {3.0f, 4.0f}, w[2] = {1.0f, 2.0f}, y[2];
    op_rmsnorm(y, x, w, 1, 2, 0.0f);
    double r = sqrt(12.5);
    CHECK(close_rel(y[0], 3.0 / r, 1e-7) && close_rel(y[1], 8.0 / r, 1e-7));
    op_rmsnorm(x, x, w, 1, 2, 0.0f); /* in place */
    CHECK(x[0] == y[0] && x[1] == y[1]);
    enum { T = 3, N = 1000 };
    static float a[T * N], ones[N];
    for (int i = 0; i < N; i++) ones[i] = 1.0f;
    fill(a, T * N, 50.0f);
    op_rmsnorm(a, a, ones, T, N, 1e-6f);
    for (int t = 0; t < T; t++) {
        double ss = 0;
        for (int i = 0; i < N; i++) ss += (double)a[t * N + i] * a[t * N + i];
        CHECKF(fabs(ss / N - 1.0) < 1e-5, "t=%d mean square %.9f", t, ss / N);
    }
    float e[2] = {1.0f, -1.0f}, ew[2] = {1.0f, 1.0f};
    op_rmsnorm(e, e, ew, 1, 2, 3.0f); /* eps inside the root: 1/sqrt(1 + 3) */
    CHECK(e[0] == 0.5f && e[1] == -0.5f);
    float z[4] = {0}, zw[4] = {1, 1, 1, 1};
    op_rmsnorm(z, z, zw, 1, 4, 1e-5f); /* eps keeps zeros finite */
    CHECK(z[0] == 0.0f && z[3] == 0.0f);
}

static void test_softmax(void) {
    float a[3] = {0.0f, 1.0f, 2.0f}, b[3] = {1000.0f, 1001.0f, 1002.0f};
    op_softmax(a, 3);
    op_softmax(b, 3);
    double s = exp(0.0) + exp(1.0) + exp(2.0);
    CHECK(close_rel(a[0], 1.0 / s, 1e-7) && close_rel(a[2], exp(2.0) / s, 1e-7));
    CHECK(memcmp(a, b, sizeof a) == 0); /* shift invariant, no overflow */
    float one[1] = {-123.0f};
    op_softmax(one, 1);
    CHECK(one[0] == 1.0f);
    float m[4] = {-INFINITY, 0.0f, -INFINITY, 0.0f}; /* masked entries */
    op_softmax(m, 4);
    CHECK(m[0] == 0.0f && m[2] == 0.0f && m[1] == 0.5f && m[3] == 0.5f);
}

static void test_swiglu(void) {
    float g[5] = {0.0f, 20.0f, -100.0f, 1.0f, -1.0f}, u[5] = {3.0f, 1.0f, 1.0f, 2.0f, -2.0f};
    op_swiglu(g, g, u, 5); /* out aliases gate */
    CHECK(g[0] == 0.0f);
    CHECK(close_rel(g[1], 20.0 / (1.0 + exp(-20.0)), 1e-7));
    CHECK(fabsf(g[2]) < 1e-40f);
    CHECK(close_rel(g[3], 2.0 / (1.0 + exp(-1.0)), 1e-7));
    CHECK(close_rel(g[4], 2.0 / (1.0 + exp(1.0)), 1e-7));
}

int main(void) {
    test_half_all_patterns();
    test_half_ties();
    test_bf16();
    test_quant_exact_blocks();
    test_quant_zero_and_nonfinite();
    test_quant_error_bounds();
    test_dot();
    test_matmul();
    test_rope_values();
    test_rope_properties();
    test_rmsnorm();
    test_softmax();
    test_swiglu();
    return check_done("test_kernels");
}
