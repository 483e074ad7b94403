/*
 * test_simd.c - every matmul kernel table this CPU can run (scalar, avx2,
 * avx512, neon) against the scalar table, the ground truth.
 *
 *  - Q8 activation quantization: identical bytes to the scalar quantizer on
 *    random rows, exact rounding ties, zero blocks, tiny and infinite values.
 *  - Exact data (small integers times powers of two, chosen so that every
 *    product and every partial sum is exact in float): each kernel's result
 *    must equal the scalar result bit for bit. For Q8_0 / Q4_0 this pins
 *    down the integer dot of every block (including the extreme bytes -128,
 *    127 and the nibbles 0, 15, where a saturating multiply would show).
 *  - Random data: |simd - scalar| <= (n/16 + 8) * 2^-24 * sum|w*x|, a bound
 *    on float accumulation error in any order over 16 lanes (the sum over
 *    the dequantized weights and activations); the scalar result is the
 *    nearly exactly rounded dot.
 *  - op_matmul with this table on 1 and 2 threads: identical bytes, and
 *    within the same bound of the scalar table.
 * tests/test_simd_neon.sh runs this file for AArch64 under qemu-user.
 * Shapes are awkward on purpose: n = 32, 64, 96, 4096, 11008 (96 is not a
 * multiple of the four-block groups; F32/F16/BF16 also 1, 8, 20, 100, 4100,
 * which leave a tail past the vector loop), row counts 1, 5, 13, 37, 67 (not
 * multiples of the row tiles or of 16-row panels), T = 1, 2, 3, 7, 8, 16, 17, 21,
 * 24, 33, 40, 64 (not multiples of the token groups either).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/half.h"
#include "base/pool.h"
#include "check.h"
#include "kernels/dispatch.h"
#include "kernels/kquants.h"
#include "kernels/ops.h"
#include "kernels/types.h"

static const uint32_t k_types[] = {TYPE_F32,  TYPE_F16,  TYPE_BF16, TYPE_Q8_0,
                                   TYPE_Q4_0, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K};
#define N_TYPES (sizeof k_types / sizeof k_types[0])
static const int k_ns[] = {32, 64, 96, 4096, 11008};
static const int k_ns_K[] = {256, 768, 4096, 11008}; /* K-quants: whole superblocks */
#define N_NS (sizeof k_ns / sizeof k_ns[0])

/* PENNY_TEST_QUICK set (emulated runs, e.g. NEON under qemu): rows longer
 * than 1024 and T = 7 are left out. */
static bool g_quick;

static bool is_kquant(uint32_t t) { return t == TYPE_Q4_K || t == TYPE_Q5_K || t == TYPE_Q6_K; }

/* ---- helpers ---- */

static uint64_t g_rng = 0x2545f4914f6cdd1du;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int rng_int(int lo, int hi) { return lo + (int)(rng_next() % (uint64_t)(hi - lo + 1)); }
static float rng_unit(void) { return (float)((double)(rng_next() >> 11) * 0x1p-52 - 1.0); }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* The f32 value of activation element i of a prepared Q8 row. */
static double act_value(const void *a, int i) {
    const act_q8_group *g = act_group(a, i / 128);
    int b = (i / 32) % 4, j = i % 32;
    int q = j < 16 ? g->lo[16 * b + j] : g->hi[16 * b + j - 16];
    return (double)g->d[4 * b] * q;
}

/* ---- activation quantization ---- */

static void check_prep_row(const kern_ops *k, const float *x, int n, const char *what) {
    size_t bytes = kern_act_row_bytes(KERN_ACT_Q8, n);
    uint8_t *want = xmalloc(bytes), *got = xmalloc(bytes);
    memset(want, 0xaa, bytes);
    memset(got, 0x55, bytes);
    kern_scalar.prep_q8(want, x, n);
    k->prep_q8(got, x, n);
    CHECKF(memcmp(want, got, bytes) == 0, "%s prep_q8 %s n=%d", k->name, what, n);
    free(want), free(got);
}

/* Ties x*id = k + 0.5 exactly (d = 1 when max |x| = 127), zeros, huge and
 * tiny magnitudes, infinities. */
static void fill_special(float *x, int n) {
    for (int i = 0; i < n; i++) {
        int b = i / 32, j = i % 32;
        switch (b % 6) {
        case 0: x[i] = j == 0 ? 127.0f : (float)rng_int(-126, 125) + 0.5f; break;
        case 1: x[i] = 0.0f; break;
        case 2: x[i] = rng_unit() * 1e-41f; break; /* subnormal d: 1/d overflows */
        case 3: x[i] = rng_unit() * 3e38f; break;
        case 4: x[i] = j == 5 ? -INFINITY : rng_unit(); break;
        default: x[i] = j == 0 ? -127.0f : 0.49999997f * (float)(j % 3 - 1); break;
        }
    }
}

static void test_prep(const kern_ops *k) {
    for (size_t i = 0; i < N_NS; i++) {
        int n = k_ns[i];
        float *x = xmalloc(sizeof(float) * n);
        for (int j = 0; j < n; j++) x[j] = rng_unit() * (float)(1 << (j % 7));
        check_prep_row(k, x, n, "random");
        fill_special(x, n);
        check_prep_row(k, x, n, "special values");
        free(x);
    }
}

/* The scalar quantizer itself: ties away from zero, exact scales. */
static void test_prep_scalar(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = j == 0 ? 127.0f : (j % 2 ? 2.5f : -2.5f);
    act_q8_unit u;
    kern_scalar.prep_q8(&u, x, 32);
    const act_q8_group g = u.g[0];
    CHECK(u.d[0] == 1.0f && u.d[1] == 0.0f && u.g[1].d[0] == 0.0f);
    CHECK(u.nsum[0] == -(127 + 3 * 8 - 3 * 7) && u.nsum[1] == 0);
    CHECK(g.d[0] == 1.0f && g.d[3] == 1.0f && g.d[4] == 0.0f);
    CHECK(g.lo[0] == 127 && g.lo[1] == 3 && g.lo[2] == -3 && g.hi[15] == 3);
    CHECK(g.nsum[0] == -(127 + 3 * 8 - 3 * 7) && g.nsum[1] == 0 && g.nsum[2] == 0 &&
          g.nsum[4] == 0);
    CHECK(g.lo[16] == 0 && g.hi[63] == 0); /* missing blocks read as zero */
}

/* ---- weight and activation data ---- */

/* A matrix of nr rows x n: the weights in `type`, their f32 values, and
 * the range that made them. */
typedef struct wmat {
    uint32_t type;
    int n, nr;
    size_t rb;
    uint8_t *w;
    float *wf; /* dequantized */
} wmat;

static void wmat_alloc(wmat *m, uint32_t type, int n, int nr) {
    m->type = type, m->n = n, m->nr = nr;
    m->rb = type_row_size(type, n);
    m->w = xmalloc(m->rb * nr);
    m->wf = xmalloc(sizeof(float) * n * nr);
}

static void wmat_free(wmat *m) { free(m->w), free(m->wf); }

/* Realistic weights: uniform values quantized by the type's quantizer. */
static void wmat_random(wmat *m) {
    const type_traits *tt = type_get(m->type);
    for (int r = 0; r < m->nr; r++) {
        float *row = m->wf + (size_t)r * m->n;
        for (int i = 0; i < m->n; i++) row[i] = rng_unit() * 0.5f;
        tt->from_f32(row, m->w + r * m->rb, m->n);
        tt->to_f32(m->w + r * m->rb, row, m->n);
    }
}

static void random_bytes(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rng_next();
}

/* The 12 scale bytes of Q4_K/Q5_K from 6-bit sc[8], m[8] (kquants.h). */
static void pack_k_scales(uint8_t *b, const int *sc, const int *m) {
    memset(b, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            b[j] = (uint8_t)sc[j], b[j + 4] = (uint8_t)m[j];
        } else {
            b[j + 4] = (uint8_t)((sc[j] & 15) | (m[j] & 15) << 4);
            b[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            b[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

/* Raw K-quant superblocks: every q bit pattern, sub-block scales and mins
 * up to smax (Q6_K: -smax..smax), d and dmin powers of two. */
static void k_exact_row(uint32_t type, uint8_t *row, int n, int smax) {
    size_t sb = type_row_size(type, 256);
    for (int i = 0; i < n / 256; i++) {
        uint8_t *b = row + i * sb;
        random_bytes(b, sb);
        uint16_t d = half_from_f32(ldexpf(1.0f, rng_int(-1, 0)));
        uint16_t dmin = half_from_f32(ldexpf(1.0f, rng_int(-1, 0)));
        if (type == TYPE_Q6_K) {
            block_q6_K *q = (block_q6_K *)b;
            for (int j = 0; j < 16; j++) q->scales[j] = (int8_t)rng_int(-smax, smax);
            q->d = d;
        } else {
            int sc[8], m[8];
            for (int j = 0; j < 8; j++) sc[j] = rng_int(0, smax), m[j] = rng_int(0, smax);
            memcpy(b, &d, 2), memcpy(b + 2, &dmin, 2);
            pack_k_scales(b + 4, sc, m);
        }
    }
}

/* Exact weights: integers up to wmax times 2^e (e per row, in -1..1); for
 * quantized types the raw quants are set directly (every byte / nibble
 * possible) with power-of-two scales (K-quants: sub-block scales <= wmax). */
static void wmat_exact(wmat *m, int wmax) {
    const type_traits *tt = type_get(m->type);
    for (int r = 0; r < m->nr; r++) {
        uint8_t *row = m->w + r * m->rb;
        float scale = ldexpf(1.0f, rng_int(-1, 1));
        if (m->type == TYPE_Q8_0) {
            block_q8_0 *b = (block_q8_0 *)row;
            for (int i = 0; i < m->n / 32; i++) {
                b[i].d = half_from_f32(scale);
                for (int j = 0; j < 32; j++) b[i].qs[j] = (int8_t)rng_int(-wmax, wmax - 1);
            }
        } else if (m->type == TYPE_Q4_0) {
            block_q4_0 *b = (block_q4_0 *)row;
            for (int i = 0; i < m->n / 32; i++) {
                b[i].d = half_from_f32(scale);
                for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)rng_int(0, 255);
            }
        } else if (is_kquant(m->type)) {
            k_exact_row(m->type, row, m->n, wmax);
        } else {
            float *f = m->wf + (size_t)r * m->n;
            for (int i = 0; i < m->n; i++) f[i] = (float)rng_int(-wmax, wmax) * scale;
            tt->from_f32(f, row, m->n);
        }
        tt->to_f32(row, m->wf + (size_t)r * m->n, m->n);
    }
}

/* Exact activations: each 32-block has max |x| = 127 * 2^e (so the Q8 scale
 * is 2^e exactly) and integer multiples of 2^e up to qmax elsewhere. */
static void fill_exact(float *x, int n, int qmax) {
    float scale = ldexpf(1.0f, rng_int(-1, 0));
    for (int i = 0; i < n; i++) {
        int q = i % 32 == 7 ? (rng_int(0, 1) ? 127 : -127) : rng_int(-qmax, qmax);
        x[i] = (float)q * scale;
    }
}

/* Largest weight magnitude for which every partial sum stays below 2^24
 * units (with qmax-sized activations and one 127 per block); for K-quants
 * the largest sub-block scale, 0 if none is small enough. */
static int exact_wmax(uint32_t type, int n, int *qmax) {
    int full = type == TYPE_Q8_0 ? 128 : type == TYPE_Q4_0 ? 8 : 127;
    *qmax = 127;
    if (is_kquant(type)) { /* |q| <= 15, 31, 32; scales and x units down to 1/4 */
        *qmax = 15;
        int qw = type == TYPE_Q4_K ? 16 : 33, smax = (int)(0x1p24 / ((double)n * qw * 19 * 4));
        return smax < 63 ? smax : 63;
    }
    if ((double)n * full * 127 * 2 < 0x1p24) return full; /* up to 2x for e = 1 */
    *qmax = 15;
    if (type == TYPE_Q4_0) return 8;
    return (int)(0x1p24 / 2 / ((double)n * (15 + 127.0 / 32) + 1));
}

/* ---- gemm against the scalar kernel ---- */

/* Prepared activations of nt rows for `type` (the f32 rows themselves for
 * f32-activation types); *ab = bytes per row. */
static void *prepare(const kern_ops *k, uint32_t type, const float *x, int n, int nt, size_t *ab) {
    enum kern_act act = kern_act_of(type);
    *ab = kern_act_row_bytes(act, n);
    uint8_t *a = xmalloc(*ab * nt);
    for (int t = 0; t < nt; t++) {
        if (act == KERN_ACT_Q8)
            k->prep_q8(a + t * *ab, x + (size_t)t * n, n);
        else
            memcpy(a + t * *ab, x + (size_t)t * n, sizeof(float) * n);
    }
    return a;
}

/* sum over i of |w_i * x_i| for every (row, token), with x as the kernel
 * sees it (Q8-rounded for Q8 activations). */
static void magnitudes(double *mag, const wmat *m, const void *act, size_t ab, int nt) {
    for (int t = 0; t < nt; t++) {
        const uint8_t *a = (const uint8_t *)act + t * ab;
        for (int r = 0; r < m->nr; r++) {
            const float *w = m->wf + (size_t)r * m->n;
            double s = 0;
            for (int i = 0; i < m->n; i++) {
                double xv =
                    kern_act_of(m->type) == KERN_ACT_Q8 ? act_value(a, i) : ((const float *)a)[i];
                s += fabs(w[i] * xv);
            }
            mag[(size_t)t * m->nr + r] = s;
        }
    }
}

/* One token in parts (kern_vec_fn): for several part counts, the parts run
 * in reverse order must cover every row once and give, bit for bit, what
 * gemm gives for one token (`ref`). */
static void compare_vec(const kern_ops *k, const wmat *m, const void *act, const float *ref) {
    kern_vec_fn vec = k->vec[m->type];
    if (!vec) return;
    float *got = xmalloc(sizeof(float) * m->nr);
    static const int counts[] = {1, 2, 3, 7, 40};
    for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
        memset(got, 0xff, sizeof(float) * m->nr); /* NaN: a row no part wrote */
        for (int part = counts[ci] - 1; part >= 0; part--)
            vec(got, m->w, m->rb, act, m->n, m->nr, part, counts[ci]);
        for (int r = 0; r < m->nr; r++)
            CHECKF(memcmp(&got[r], &ref[r], 4) == 0,
                   "%s vec %s n=%d rows=%d parts=%d: row %d got %.9g want %.9g", k->name,
                   type_name(m->type), m->n, m->nr, counts[ci], r, got[r], ref[r]);
    }
    free(got);
}

/* Runs table k and the scalar table on the same data and compares: bit for
 * bit when `exact`, else within the accumulation bound. Both of k's kernels
 * for nt tokens: the one op_matmul uses (kern_gemm_nt) and the multi-token
 * one that batch-invariant evaluation uses for every nt (kern_gemm_multi). */
static void compare_gemm(const kern_ops *k, const wmat *m, const float *x, int nt, bool exact) {
    size_t ab, ny = (size_t)nt * m->nr;
    void *act = prepare(&kern_scalar, m->type, x, m->n, nt, &ab);
    float *want = xmalloc(sizeof(float) * ny), *got = xmalloc(sizeof(float) * ny);
    kern_gemm(&kern_scalar, m->type)(want, m->nr, m->w, m->rb, act, ab, m->n, m->nr, nt);
    double *mag = exact ? NULL : xmalloc(sizeof(double) * ny);
    if (mag) magnitudes(mag, m, act, ab, nt);
    kern_gemm_fn fns[2] = {kern_gemm_nt(k, m->type, nt), kern_gemm_multi(k, m->type)};
    for (int f = 0; f < (fns[1] != fns[0] ? 2 : 1); f++) {
        memset(got, 0xff, sizeof(float) * ny);
        fns[f](got, m->nr, m->w, m->rb, act, ab, m->n, m->nr, nt);
        int bad = 0;
        for (size_t i = 0; i < ny && bad < 3; i++) {
            double tol = exact ? 0.0 : (m->n / 16.0 + 8) * 0x1p-24 * mag[i];
            bool ok = exact ? memcmp(&want[i], &got[i], 4) == 0 : fabs(got[i] - want[i]) <= tol;
            if (!ok) bad++;
            CHECKF(ok, "%s%s %s %s n=%d rows=%d T=%d: [t %zu, row %zu] got %.9g want %.9g tol %.3g",
                   k->name, f ? " (multi)" : "", type_name(m->type), exact ? "exact" : "random",
                   m->n, m->nr, nt, i / m->nr, i % m->nr, got[i], want[i], tol);
        }
        if (f == 0 && nt == 1) compare_vec(k, m, act, got);
    }
    free(act), free(want), free(got), free(mag);
}

static void test_gemm_shape(const kern_ops *k, uint32_t type, int n, int nr, int nt) {
    wmat m;
    wmat_alloc(&m, type, n, nr);
    float *x = xmalloc(sizeof(float) * n * nt);
    int qmax, wmax = exact_wmax(type, n, &qmax);
    if (wmax > 0) {
        wmat_exact(&m, wmax);
        for (int t = 0; t < nt; t++) fill_exact(x + (size_t)t * n, n, qmax);
        compare_gemm(k, &m, x, nt, true);
    }
    wmat_random(&m);
    for (int i = 0; i < n * nt; i++) x[i] = rng_unit();
    compare_gemm(k, &m, x, nt, false);
    wmat_free(&m);
    free(x);
}

static void test_gemm(const kern_ops *k) {
    static const int rows[] = {1, 5, 13};
    /* every float tile width up to 6; 21 = 16 + 4 + 1 panel token groups */
    static const int toks[] = {1, 2, 3, 5, 7, 8, 16, 21};
    enum { NK = sizeof toks / sizeof toks[0] };
    for (size_t ti = 0; ti < N_TYPES; ti++)
        for (size_t ni = 0; ni < N_NS; ni++) {
            bool kq = is_kquant(k_types[ti]);
            if (kq && ni == N_NS - 1) continue;
            int n = kq ? k_ns_K[ni] : k_ns[ni], big = n > 1024;
            if (g_quick && n > 1024) continue;
            for (size_t ri = 0; ri < 3; ri++)
                for (size_t ki = 0; ki < NK; ki++)
                    if (!big || ki < 2 || (ri == 2 && ki < 4)) /* big n: T up to 7 here */
                        test_gemm_shape(k, k_types[ti], n, rows[ri], toks[ki]);
            test_gemm_shape(k, k_types[ti], n, 13, big ? 9 : 64);
            /* panels of 16 rows + 5; from 32 tokens all panels are packed first */
            if (!big) test_gemm_shape(k, k_types[ti], n, 37, 24);
            test_gemm_shape(k, k_types[ti], n, 37, big ? 33 : 40);
        }
    /* element types: lengths that leave a tail past the vector loop */
    static const int odd[] = {1, 8, 20, 100, 4100};
    for (size_t ti = 0; ti < 3; ti++)
        for (size_t ni = 0; ni < (g_quick ? 4u : 5u); ni++)
            for (size_t ki = 0; ki < NK; ki++)
                test_gemm_shape(k, k_types[ti], odd[ni], 5, toks[ki]);
}

/* The scalar kernels that read Q8 activations against each type's own
 * reference dot (types.h) on the dequantized activations: an independent
 * decoding of the weights. The dots differ only in rounding (and, for
 * Q4_K / Q5_K, in the format rounding each weight d*sc*q - dmin*m to float,
 * half an ulp per weight). */
static void test_scalar_q8(void) {
    for (size_t ti = 3; ti < N_TYPES; ti++) {
        uint32_t type = k_types[ti];
        int n = is_kquant(type) ? 768 : 96, nt = 3;
        wmat m;
        wmat_alloc(&m, type, n, 5);
        wmat_random(&m);
        float *x = xmalloc(sizeof(float) * n * nt), *xq = xmalloc(sizeof(float) * n), y[15];
        double mag[15];
        for (int i = 0; i < n * nt; i++) x[i] = rng_unit();
        size_t ab;
        void *act = prepare(&kern_scalar, type, x, n, nt, &ab);
        kern_gemm(&kern_scalar, type)(y, m.nr, m.w, m.rb, act, ab, n, m.nr, nt);
        magnitudes(mag, &m, act, ab, nt);
        for (int t = 0; t < nt; t++) {
            for (int i = 0; i < n; i++) xq[i] = (float)act_value((uint8_t *)act + t * ab, i);
            for (int r = 0; r < m.nr; r++) {
                double want = type_get(type)->dot_f32(m.w + r * m.rb, xq, n);
                double got = y[t * m.nr + r], tol = 0x1p-22 * mag[t * m.nr + r];
                CHECKF(fabs(got - want) <= tol, "scalar %s Q8 dot: got %.9g want %.9g",
                       type_name(type), got, want);
            }
        }
        free(x), free(xq), free(act);
        wmat_free(&m);
    }
}

/* ---- op_matmul: thread splits and the table in use ---- */

static void run_matmul(pool *p, float *y, const wmat *m, const float *x, int T) {
    op_matmul(p, NULL, y, m->w, m->type, m->rb, x, T, m->n, m->nr);
}

static void test_matmul(const kern_ops *k, enum kern_isa isa, pool *p1, pool *p2) {
    static const int toks[] = {1, 2, 3, 7, 64};
    for (size_t ti = 0; ti < N_TYPES; ti++)
        for (size_t ki = 0; ki < 5; ki++) {
            int n = toks[ki] == 64 ? 256 : g_quick ? 1024 : 4096, nr = 67, T = toks[ki];
            if (is_kquant(k_types[ti]) && T > 3) continue; /* slow scalar path */
            if (g_quick && T > 3 && T < 64) continue;
            wmat m;
            wmat_alloc(&m, k_types[ti], n, nr);
            wmat_random(&m);
            float *x = xmalloc(sizeof(float) * n * T);
            for (int i = 0; i < n * T; i++) x[i] = rng_unit();
            size_t ny = (size_t)T * nr, ab;
            float *y1 = xmalloc(4 * ny), *y2 = xmalloc(4 * ny), *y0 = xmalloc(4 * ny);
            double *mag = xmalloc(sizeof(double) * ny);
            CHECK(kern_use(isa) && kern_get() == k);
            run_matmul(p1, y1, &m, x, T);
            run_matmul(p2, y2, &m, x, T);
            CHECK(kern_use(KERN_SCALAR));
            run_matmul(NULL, y0, &m, x, T);
            CHECKF(memcmp(y1, y2, 4 * ny) == 0, "%s %s T=%d: 1 and 2 threads differ", k->name,
                   type_name(m.type), T);
            void *act = prepare(&kern_scalar, m.type, x, n, T, &ab);
            magnitudes(mag, &m, act, ab, T);
            int bad = 0;
            for (size_t i = 0; i < ny; i++)
                bad += !(fabs(y1[i] - y0[i]) <= (n / 16.0 + 8) * 0x1p-24 * mag[i]);
            CHECKF(bad == 0, "%s %s T=%d: %d outputs off the scalar matmul", k->name,
                   type_name(m.type), T, bad);
            free(act), free(x), free(y0), free(y1), free(y2), free(mag);
            wmat_free(&m);
        }
}

/* op_matmul_group on matrices of mixed types (one of them without a
 * one-token kernel of its own in some tables, a Q8 and a float activation
 * format side by side) equals separate op_matmul calls bit for bit, for 1
 * and 2 threads, one token and several. */
static void test_matmul_group(const kern_ops *k, enum kern_isa isa, pool *p1, pool *p2) {
    static const uint32_t types[] = {TYPE_Q4_K, TYPE_F16, TYPE_Q6_K, TYPE_Q4_0};
    static const int rows[] = {300, 37, 150, 5}; /* 4, 1, 2 and 1 parts */
    enum { N = 4, NIN = 512 };
    wmat m[N];
    op_mm mm[N];
    float *want[N];
    for (int i = 0; i < N; i++) {
        wmat_alloc(&m[i], types[i], NIN, rows[i]);
        wmat_random(&m[i]);
    }
    CHECK(kern_use(isa) && kern_get() == k);
    for (int T = 1; T <= 3; T += 2) {
        float *x = xmalloc(sizeof(float) * NIN * T);
        for (int i = 0; i < NIN * T; i++) x[i] = rng_unit();
        for (int i = 0; i < N; i++) {
            want[i] = xmalloc(sizeof(float) * rows[i] * T);
            run_matmul(p2, want[i], &m[i], x, T);
        }
        for (int pi = 0; pi < 2; pi++)
            for (int n = 1; n <= N; n++) {
                for (int i = 0; i < n; i++) {
                    mm[i] = (op_mm){xmalloc(sizeof(float) * rows[i] * T), m[i].w, m[i].type,
                                    m[i].rb, rows[i]};
                    memset(mm[i].Y, 0xff, sizeof(float) * rows[i] * T);
                }
                op_matmul_group(pi ? p2 : p1, NULL, mm, n, x, T, NIN);
                for (int i = 0; i < n; i++) {
                    CHECKF(memcmp(mm[i].Y, want[i], sizeof(float) * rows[i] * T) == 0,
                           "%s group of %d, matrix %d (%s), T=%d, %d threads: differs", k->name, n,
                           i, type_name(types[i]), T, pi + 1);
                    free(mm[i].Y);
                }
            }
        for (int i = 0; i < N; i++) free(want[i]);
        free(x);
    }
    for (int i = 0; i < N; i++) wmat_free(&m[i]);
}

/* The element-wise ops split over the pool equal the serial ones bit for
 * bit (sizes below, at and above the split threshold). */
static void test_elementwise_par(pool *p2) {
    static const int64_t sizes[] = {100, 16384, 40000, 5 * 4096 + 3};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int64_t n = sizes[si];
        float *g = xmalloc(sizeof(float) * n), *u = xmalloc(sizeof(float) * n);
        float *a = xmalloc(sizeof(float) * n), *b = xmalloc(sizeof(float) * n);
        float w[4096];
        for (int64_t i = 0; i < n; i++) g[i] = 8 * rng_unit(), u[i] = rng_unit();
        for (int i = 0; i < 4096; i++) w[i] = rng_unit();
        op_swiglu(a, g, u, n);
        op_swiglu_par(p2, b, g, u, n);
        CHECKF(memcmp(a, b, sizeof(float) * n) == 0, "swiglu_par n=%lld differs", (long long)n);
        for (int width = 64; width <= 4096; width *= 8) {
            int T = (int)(n / width);
            if (T < 1) continue;
            op_rmsnorm(a, g, w, T, width, 1e-5f);
            op_rmsnorm_par(p2, b, g, w, T, width, 1e-5f);
            CHECKF(memcmp(a, b, sizeof(float) * T * width) == 0, "rmsnorm_par %d x %d differs", T,
                   width);
        }
        free(g), free(u), free(a), free(b);
    }
}

/* ---- dispatch ---- */

/* The table a fresh process picks under PENNY_CPU=env (read once per
 * process, so each case runs in a child); -1 on error. */
static int child_pick(const char *env) {
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("PENNY_CPU", env, 1);
        const kern_ops *k = kern_get();
        for (int i = 0; i < KERN_ISA_COUNT; i++)
            if (kern_ops_for((enum kern_isa)i) == k) _exit(i);
        _exit(99);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) return -1;
    return WEXITSTATUS(st);
}

static void test_dispatch(void) {
    int best = (int)kern_best();
    CHECK(kern_ops_for(KERN_SCALAR) == &kern_scalar);
    CHECK(kern_ops_for((enum kern_isa)best) != NULL);
    for (int i = best + 1; i < KERN_ISA_COUNT; i++) CHECK(kern_ops_for((enum kern_isa)i) == NULL);
    CHECK(child_pick("scalar") == KERN_SCALAR);
    CHECK(child_pick("") == best);
    fprintf(stderr, "(two warnings about PENNY_CPU expected)\n");
    CHECK(child_pick("no-such-cpu") == best);
    CHECK(child_pick("neon") == (kern_ops_for(KERN_NEON) ? KERN_NEON : best));
    CHECK(child_pick("avx2") == (kern_ops_for(KERN_AVX2) ? KERN_AVX2 : best));
    CHECK(kern_act_of(TYPE_Q4_0) == KERN_ACT_Q8 && kern_act_of(TYPE_F16) == KERN_ACT_F32);
    CHECK(kern_act_row_bytes(KERN_ACT_Q8, 96) == 1152);
    CHECK(kern_act_row_bytes(KERN_ACT_Q8, 4096) == 8 * 1152);
    CHECK(op_matmul_scratch(TYPE_Q8_0, 3, 4096) == 3 * 8 * 1152);
    CHECK(op_matmul_scratch(TYPE_F32, 3, 64) == 0);
}

int main(void) {
    pool *p1 = NULL, *p2 = NULL;
    penny_error err;
    if (pool_new(1, &p1, &err) || pool_new(2, &p2, &err)) {
        fprintf(stderr, "pool_new: %s\n", err.message);
        return 1;
    }
    g_quick = getenv("PENNY_TEST_QUICK") != NULL;
    test_dispatch();
    test_prep_scalar();
    test_scalar_q8();
    test_elementwise_par(p2);
    for (int i = 0; i < KERN_ISA_COUNT; i++) {
        const kern_ops *k = kern_ops_for((enum kern_isa)i);
        if (!k) {
            fprintf(stderr, "isa %d: not available here, skipped\n", i);
            continue;
        }
        fprintf(stderr, "testing %s\n", k->name);
        if (k != &kern_scalar) { /* the others against it */
            test_prep(k);
            test_gemm(k);
        }
        test_matmul(k, (enum kern_isa)i, p1, p2);
        test_matmul_group(k, (enum kern_isa)i, p1, p2);
    }
    pool_free(p1);
    pool_free(p2);
    return check_done("test_simd");
}
