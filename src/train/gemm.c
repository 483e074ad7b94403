/*
 * gemm.c - cache-blocked, packed single-precision GEMM on the thread pool.
 *
 * All of A is first packed once, by all threads, into MR-row panels per
 * KC-deep slice. C is then cut into tasks of whole column blocks (NC wide,
 * as tall as load balance allows) handed out from an atomic counter; for
 * each KC slice a task packs its B block into NR-column panels (zero-padded
 * at the edges) and runs an MR x NR micro-kernel over every panel pair. Each
 * element is packed about once, next to K multiply-adds per element of C. The micro-kernel keeps
 * the whole MR x NR accumulator in registers and writes it to a small tile, which is then added to
 * C; the extra pass costs 1/KC of the arithmetic and keeps edge handling out of the hot loop.
 *
 * Sizes: a KC x NR panel of B (32 KiB) stays in L1 and the packed B block
 * (KC x NC, 256 KiB) in L2, while MR-row panels of A stream through. On x86-64 CPUs
 * with AVX-512 the micro-kernel uses 16 zmm accumulators with FMA; elsewhere
 * a portable loop computes the same sums (in the same k order, but without
 * fused multiply-adds, so the last bits may differ between the two).
 */
#include "train/gemm.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/half.h"

#define MR 8
#define NR 32
#define KC 256
#define NC 256

struct tr_gemm {
    pool *pool;
    int nth;
    float *apack;   /* all of A, packed: (K/KC blocks, M/MR panels, kc, MR) */
    size_t apack_n; /* floats allocated */
    float **bpack;  /* (nth) KC*NC floats each */
    bool bf16;      /* inputs rounded to bfloat16, products summed in fp32 */
};

/* c[i*ldc + j] (+)= sum_k ap[k][i] * bp[k][j] for an MR x NR tile; ap is
 * (kc, MR), bp (kc, NR); store overwrites instead of adding. */
typedef void (*ukr_fn)(int kc, const float *ap, const float *bp, float *c, long ldc, bool store);

static void ukr_portable(int kc, const float *restrict ap, const float *restrict bp,
                         float *restrict c, long ldc, bool store) {
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++, ap += MR, bp += NR)
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++) acc[i][j] += ap[i] * bp[j];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++)
            c[i * ldc + j] = store ? acc[i][j] : c[i * ldc + j] + acc[i][j];
}

static ukr_fn pick_kernel(const char **name);
/* The bf16 micro-kernel: kp pairs of k, A panel (kp, MR) and B panel
 * (kp, NR) of 32-bit words each holding two bf16 (lower one first). */
typedef void (*ukr_bf16_fn)(int kp, const uint32_t *ap, const uint32_t *bp, float *c, long ldc,
                            bool store);

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX512_KERNEL 1

__attribute__((target("avx512f"))) static void ukr_avx512(int kc, const float *restrict ap,
                                                          const float *restrict bp,
                                                          float *restrict c, long ldc, bool store) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++, ap += MR, bp += NR) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(ap[i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        if (!store) {
            c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(ci));
            c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(ci + 16));
        }
        _mm512_storeu_ps(ci, c0[i]);
        _mm512_storeu_ps(ci + 16, c1[i]);
    }
}

/* The bfloat16 variant: A and B are packed as pairs of bf16 along k (one
 * 32-bit word per pair), and VDPBF16PS adds both products of a pair into
 * the fp32 accumulator: twice the multiply rate of fp32 FMA. */

__attribute__((target("avx512f,avx512bf16"))) static void
ukr_bf16(int kp, const uint32_t *restrict ap, const uint32_t *restrict bp, float *restrict c,
         long ldc, bool store) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < kp; p++, ap += MR, bp += NR) {
        __m512bh b0 = (__m512bh)_mm512_load_si512(bp), b1 = (__m512bh)_mm512_load_si512(bp + 16);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[i]);
            c0[i] = _mm512_dpbf16_ps(c0[i], a, b0);
            c1[i] = _mm512_dpbf16_ps(c1[i], a, b1);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        if (!store) {
            c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(ci));
            c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(ci + 16));
        }
        _mm512_storeu_ps(ci, c0[i]);
        _mm512_storeu_ps(ci + 16, c1[i]);
    }
}

/* Vector bf16 packing (VCVTNEPS2BF16 rounds to nearest even like
 * bf16_from_f32; it flushes denormals, which VDPBF16PS ignores anyway). */

/* dst[c] = pair(lo[c], hi[c]) for c < 16: two rows contiguous along n. */
__attribute__((target("avx512f,avx512bf16"))) static void
pairs_rows16(uint32_t *dst, const float *lo, const float *hi) {
    __m512i a = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(lo)));
    __m512i b = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(hi)));
    _mm512_storeu_si512(dst, _mm512_or_si512(a, _mm512_slli_epi32(b, 16)));
}

/* The same for 8 columns. */
__attribute__((target("avx512f,avx512bf16"))) static void
pairs_rows8(uint32_t *dst, const float *lo, const float *hi) {
    __m512i both =
        _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_castps_si256(_mm256_loadu_ps(lo))),
                           _mm256_castps_si256(_mm256_loadu_ps(hi)), 1);
    __m512i w = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_castsi512_ps(both)));
    __m256i a = _mm512_castsi512_si256(w), b = _mm512_extracti64x4_epi64(w, 1);
    _mm256_storeu_si256((__m256i *)(void *)dst, _mm256_or_si256(a, _mm256_slli_epi32(b, 16)));
}

/* dst[i * stride] = pair(src[2i], src[2i+1]) for i < 16: a run contiguous along k. */
__attribute__((target("avx512f,avx512bf16"))) static void pairs_run16(uint32_t *dst, int stride,
                                                                      const float *src) {
    __m512i w = (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + 16), _mm512_loadu_ps(src));
    __m512i idx =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32(stride));
    _mm512_i32scatter_epi32(dst, idx, w, 4);
}

static bool cpu_has_bf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
}
/* 16 independent FMA chains of 16 lanes: enough in flight to fill both
 * FMA pipes. Returns a value that depends on every lane (so the loop stays). */
__attribute__((target("avx512f"))) static float peak_avx512(long iters) {
    __m512 acc[16], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
    }
    for (int i = 1; i < 16; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

/* The same for VDPBF16PS: each instruction is 32 multiply-adds per lane pair. */
__attribute__((target("avx512f,avx512bf16"))) static float peak_bf16(long iters) {
    __m512 acc[16];
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80),
             b = (__m512bh)_mm512_set1_epi32(0x33d633d6);
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    for (int i = 1; i < 16; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}
#else
static bool cpu_has_bf16(void) { return false; }
#endif

static float peak_portable(long iters) {
    float acc[16][8];
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) acc[i][j] = (float)(i + j);
    for (long k = 0; k < iters; k++)
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 8; j++) acc[i][j] = acc[i][j] * 0.999999f + 1e-7f;
    float s = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++) s += acc[i][j];
    return s;
}

typedef struct peak_job {
    long iters;
    int lanes; /* multiply-adds per instruction */
    bool bf16;
    _Atomic float sink;
} peak_job;

static void peak_worker(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    peak_job *j = arg;
#ifdef HAVE_AVX512_KERNEL
    if (j->bf16) {
        j->sink = peak_bf16(j->iters);
        return;
    }
    if (j->lanes == 16) {
        j->sink = peak_avx512(j->iters);
        return;
    }
#endif
    j->sink = peak_portable(j->iters);
}

double tr_gemm_peak_gflops(pool *p, bool bf16) {
    const char *name;
    pick_kernel(&name);
    bf16 = bf16 && cpu_has_bf16();
    peak_job j = {2000000, bf16 ? 32 : strcmp(name, "avx512") ? 8 : 16, bf16, 0};
    int nth = p ? pool_size(p) : 1;
    struct timespec t0, t1;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (p)
            pool_run(p, peak_worker, &j);
        else
            peak_worker(&j, 0, 1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        double flops = 2.0 * 16 * j.lanes * (double)j.iters * nth;
        if (s > 0 && flops / s / 1e9 > best) best = flops / s / 1e9;
    }
    return best;
}

static ukr_fn pick_kernel(const char **name) {
#ifdef HAVE_AVX512_KERNEL
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        if (name) *name = "avx512";
        return ukr_avx512;
    }
#endif
    if (name) *name = "portable";
    return ukr_portable;
}

const char *tr_gemm_kernel(void) {
    const char *name;
    pick_kernel(&name);
    return name;
}

penny_status tr_gemm_new(pool *p, tr_gemm **out, penny_error *err) {
    *out = NULL;
    tr_gemm *g = calloc(1, sizeof *g);
    if (!g) return err_set(err, PENNY_ERR_NOMEM, "gemm: out of memory");
    g->pool = p;
    g->nth = p ? pool_size(p) : 1;
    g->bpack = calloc((size_t)g->nth, sizeof *g->bpack);
    bool ok = g->bpack != NULL;
    for (int i = 0; ok && i < g->nth; i++)
        ok = (g->bpack[i] = aligned_alloc(64, sizeof(float) * KC * NC));
    if (!ok) {
        tr_gemm_free(g);
        return err_set(err, PENNY_ERR_NOMEM, "gemm: out of memory (packing buffers)");
    }
    *out = g;
    return PENNY_OK;
}

void tr_gemm_free(tr_gemm *g) {
    if (!g) return;
    for (int i = 0; g->bpack && i < g->nth; i++) free(g->bpack[i]);
    free(g->bpack);
    free(g->apack);
    free(g);
}

typedef struct gemm_job {
    float *c;
    long ldc;
    const float *a, *b;
    long ars, acs, brs, bcs;
    int M, N, K, Mp; /* Mp: M rounded up to MR */
    bool accumulate;
    int tiles_n, n_tiles, mch;
    atomic_int next;
    tr_gemm *g;
    ukr_fn ukr;
    ukr_bf16_fn ukr16; /* non-NULL: the bf16 path */
} gemm_job;

/* Packed panel of A for k-block k0 (depth kc) and rows [m0, m0+MR). */
static float *a_panel(const gemm_job *j, int k0, int kc, int m0) {
    return j->g->apack + (size_t)k0 * j->Mp + (size_t)m0 * kc;
}

/* Packs rows [m0, m0+MR) x cols [k0, k0+kc) of A, zero rows past M. */
static void pack_a_panel(const gemm_job *j, int m0, int k0, int kc) {
    float *dst = a_panel(j, k0, kc, m0);
    int mr = j->M - m0 < MR ? j->M - m0 : MR;
    const float *src = j->a + (long)m0 * j->ars + (long)k0 * j->acs;
    if (j->ars == 1 && mr == MR) { /* columns contiguous: copy MR at a time */
        for (int k = 0; k < kc; k++)
            memcpy(dst + k * MR, src + (long)k * j->acs, sizeof(float) * MR);
        return;
    }
    for (int i = 0; i < MR; i++) {
        const float *s = src + (long)i * j->ars;
        for (int k = 0; k < kc; k++) dst[k * MR + i] = i < mr ? s[(long)k * j->acs] : 0.0f;
    }
}

/* ---- bf16 packing: pairs along k, each pair one 32-bit word ---- */

static uint32_t pair16(float lo, float hi) {
    return (uint32_t)bf16_from_f32(lo) | (uint32_t)bf16_from_f32(hi) << 16;
}

static uint32_t *a_panel16(const gemm_job *j, int k0, int kc, int m0) {
    int kp = (kc + 1) / 2;
    return (uint32_t *)(void *)j->g->apack + (size_t)(k0 / 2) * j->Mp + (size_t)m0 * kp;
}

static void pack_a_panel16(const gemm_job *j, int m0, int k0, int kc) {
    uint32_t *dst = a_panel16(j, k0, kc, m0);
    int mr = j->M - m0 < MR ? j->M - m0 : MR, kp = (kc + 1) / 2, p0 = 0;
    const float *s0 = j->a + (long)m0 * j->ars + (long)k0 * j->acs;
#ifdef HAVE_AVX512_KERNEL
    if (j->ars == 1 && mr == MR) { /* columns of MR contiguous: rows k, k+1 */
        for (; 2 * p0 + 1 < kc; p0++)
            pairs_rows8(dst + p0 * MR, s0 + (long)(2 * p0) * j->acs,
                        s0 + (long)(2 * p0 + 1) * j->acs);
    } else if (j->acs == 1) { /* rows contiguous along k */
        for (; 2 * p0 + 32 <= kc; p0 += 16)
            for (int i = 0; i < MR; i++) {
                if (i < mr)
                    pairs_run16(dst + p0 * MR + i, MR, s0 + (long)i * j->ars + 2 * p0);
                else
                    for (int p = p0; p < p0 + 16; p++) dst[p * MR + i] = 0;
            }
    }
#endif
    for (int i = 0; i < MR; i++) {
        const float *s = s0 + (long)i * j->ars;
        for (int p = p0; p < kp; p++) {
            float lo = i < mr ? s[(long)(2 * p) * j->acs] : 0.0f;
            float hi = i < mr && 2 * p + 1 < kc ? s[(long)(2 * p + 1) * j->acs] : 0.0f;
            dst[p * MR + i] = pair16(lo, hi);
        }
    }
}

/* One NR-column panel of B as bf16 pairs, w valid columns; returns the
 * first pair index not yet packed (vector paths do whole runs). */
static int pack_b16_fast(uint32_t *dst, const gemm_job *j, const float *base, int w, int kc) {
    int p0 = 0;
#ifdef HAVE_AVX512_KERNEL
    if (w == NR && j->bcs == 1) { /* rows contiguous along n */
        for (; 2 * p0 + 1 < kc; p0++) {
            const float *lo = base + (long)(2 * p0) * j->brs, *hi = lo + j->brs;
            pairs_rows16(dst + (size_t)p0 * NR, lo, hi);
            pairs_rows16(dst + (size_t)p0 * NR + 16, lo + 16, hi + 16);
        }
    } else if (w == NR && j->brs == 1) { /* columns contiguous along k */
        for (; 2 * p0 + 32 <= kc; p0 += 16)
            for (int c = 0; c < NR; c++)
                pairs_run16(dst + (size_t)p0 * NR + c, NR, base + (long)c * j->bcs + 2 * p0);
    }
#else
    (void)dst, (void)j, (void)base, (void)w, (void)kc;
#endif
    return p0;
}

static void pack_b16(uint32_t *dst, const gemm_job *j, int n0, int nc, int k0, int kc) {
    int kp = (kc + 1) / 2;
    for (int q = 0; q < nc; q += NR, dst += (size_t)NR * kp) {
        int w = nc - q < NR ? nc - q : NR;
        const float *base = j->b + (long)k0 * j->brs + (long)(n0 + q) * j->bcs;
        for (int p = pack_b16_fast(dst, j, base, w, kc); p < kp; p++) {
            const float *s = base + (long)(2 * p) * j->brs;
            bool two = 2 * p + 1 < kc;
            for (int c = 0; c < NR; c++)
                dst[(size_t)p * NR + c] =
                    c < w ? pair16(s[(long)c * j->bcs], two ? s[j->brs + (long)c * j->bcs] : 0.0f)
                          : 0;
        }
    }
}

static void pack_a_worker(void *arg, int ith, int nth) {
    gemm_job *j = arg;
    long panels = j->Mp / MR, lo, hi;
    pool_range(panels, ith, nth, &lo, &hi);
    for (int k0 = 0; k0 < j->K; k0 += KC)
        for (long p = lo; p < hi; p++) {
            int kc = j->K - k0 < KC ? j->K - k0 : KC;
            if (j->ukr16)
                pack_a_panel16(j, (int)p * MR, k0, kc);
            else
                pack_a_panel(j, (int)p * MR, k0, kc);
        }
}

/* Packs rows [k0, k0+kc) x cols [n0, n0+nc) of B into NR-column panels. */
static void pack_b(float *dst, const gemm_job *j, int n0, int nc, int k0, int kc) {
    for (int p = 0; p < nc; p += NR, dst += (size_t)NR * kc) {
        int w = nc - p < NR ? nc - p : NR;
        const float *src = j->b + (long)k0 * j->brs + (long)(n0 + p) * j->bcs;
        if (j->bcs == 1) {
            for (int k = 0; k < kc; k++) {
                memcpy(dst + (size_t)k * NR, src + (long)k * j->brs, sizeof(float) * (size_t)w);
                for (int q = w; q < NR; q++) dst[(size_t)k * NR + q] = 0.0f;
            }
        } else {
            for (int q = 0; q < NR; q++) {
                const float *s = src + (long)q * j->bcs;
                for (int k = 0; k < kc; k++)
                    dst[(size_t)k * NR + q] = q < w ? s[(long)k * j->brs] : 0.0f;
            }
        }
    }
}

/* Adds (or stores) the valid mr x nr corner of a tile into C. */
static void put_tile(const gemm_job *j, const float *tile, int m0, int n0, int mr, int nr,
                     bool store) {
    for (int i = 0; i < mr; i++) {
        float *crow = j->c + (long)(m0 + i) * j->ldc + n0;
        const float *t = tile + i * NR;
        if (store)
            memcpy(crow, t, sizeof(float) * (size_t)nr);
        else
            for (int q = 0; q < nr; q++) crow[q] += t[q];
    }
}

/* One task: rows [m0, m0+mch) x columns [n0, n0+NC) of C, all of K. */
static void run_tile(gemm_job *j, int ith, int tile) {
    int m0 = (tile / j->tiles_n) * j->mch, n0 = (tile % j->tiles_n) * NC;
    int mc = j->M - m0 < j->mch ? j->M - m0 : j->mch, nc = j->N - n0 < NC ? j->N - n0 : NC;
    float *bp = j->g->bpack[ith];
    _Alignas(64) float tile_buf[MR * NR];
    for (int k0 = 0; k0 < j->K; k0 += KC) {
        int kc = j->K - k0 < KC ? j->K - k0 : KC, kp = (kc + 1) / 2;
        if (j->ukr16)
            pack_b16((uint32_t *)(void *)bp, j, n0, nc, k0, kc);
        else
            pack_b(bp, j, n0, nc, k0, kc);
        bool store = k0 == 0 && !j->accumulate;
        for (int p = 0; p < mc; p += MR) {
            int mr = mc - p < MR ? mc - p : MR;
            for (int q = 0; q < nc; q += NR) {
                int nr = nc - q < NR ? nc - q : NR;
                bool full = mr == MR && nr == NR;
                float *cp = full ? j->c + (long)(m0 + p) * j->ldc + n0 + q : tile_buf;
                long ldc = full ? j->ldc : NR;
                if (j->ukr16)
                    j->ukr16(kp, a_panel16(j, k0, kc, m0 + p),
                             (const uint32_t *)(void *)bp + (size_t)q * kp, cp, ldc,
                             full ? store : true);
                else
                    j->ukr(kc, a_panel(j, k0, kc, m0 + p), bp + (size_t)q * kc, cp, ldc,
                           full ? store : true);
                if (!full) put_tile(j, tile_buf, m0 + p, n0 + q, mr, nr, store);
            }
        }
    }
}

static void gemm_worker(void *arg, int ith, int nth) {
    (void)nth;
    gemm_job *j = arg;
    for (int t; (t = atomic_fetch_add(&j->next, 1)) < j->n_tiles;) run_tile(j, ith, t);
}

static void run_pool(tr_gemm *g, pool_fn fn, gemm_job *j) {
    if (g->pool && g->nth > 1)
        pool_run(g->pool, fn, j);
    else
        fn(j, 0, 1);
}

/* Grows the packed-A buffer; false when out of memory (an invariant for
 * the trainer, which sizes everything up front). */
static bool reserve_a(tr_gemm *g, size_t n) {
    if (n <= g->apack_n) return true;
    free(g->apack);
    g->apack = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
    g->apack_n = g->apack ? n : 0;
    return g->apack != NULL;
}

bool tr_gemm_set_bf16(tr_gemm *g, bool on) {
    g->bf16 = on && cpu_has_bf16();
    return g->bf16;
}

penny_status tr_gemm_reserve(tr_gemm *g, size_t n, penny_error *err) {
    if (!reserve_a(g, n + (size_t)MR * 1024))
        return err_set(err, PENNY_ERR_NOMEM, "gemm: out of memory (%zu floats of packing)", n);
    return PENNY_OK;
}

void tr_gemm_run(tr_gemm *g, float *c, long ldc, const float *a, long ars, long acs, const float *b,
                 long brs, long bcs, int M, int N, int K, bool accumulate) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int m = 0; m < M && !accumulate; m++)
            memset(c + (long)m * ldc, 0, sizeof(float) * (size_t)N);
        return;
    }
    gemm_job j = {c,          ldc, a, b, ars, acs, brs,  bcs, M, N, K, (M + MR - 1) / MR * MR,
                  accumulate, 0,   0, 0, 0,   g,   NULL, NULL};
    j.ukr = pick_kernel(NULL);
#ifdef HAVE_AVX512_KERNEL
    if (g->bf16) j.ukr16 = ukr_bf16;
#endif
    PENNY_ASSERT(reserve_a(g, (size_t)j.Mp * K));
    run_pool(g, pack_a_worker, &j);
    /* Row chunks: as tall as possible while leaving two tasks per thread. */
    j.tiles_n = (N + NC - 1) / NC;
    j.mch = j.Mp;
    while (j.mch > 4 * MR && j.tiles_n * ((M + j.mch - 1) / j.mch) < 2 * g->nth)
        j.mch = (j.mch / 2 + MR - 1) / MR * MR;
    j.n_tiles = j.tiles_n * ((M + j.mch - 1) / j.mch);
    atomic_init(&j.next, 0);
    run_pool(g, gemm_worker, &j);
}
