/*
 * readbw.h - the ways bench/bw.c and bench/matvec.c read memory to find how
 * fast this machine can stream it, the ceiling of token generation.
 *
 * A ceiling that a real program exceeds is no ceiling: a plain summing loop
 * can leave bandwidth unused (too few lines in flight, or narrow loads when
 * the file is built for baseline x86-64), so the figure is the best of
 * several methods, each timed in turn on the same buffer so that a shared
 * machine's load falls on all of them alike. The first method ("plain") is
 * the loop these benchmarks used before, kept for comparison.
 *
 * Header-only (static functions, libc and compiler builtins) so that bw.c
 * still builds on its own: `cc -O2 bench/bw.c -lpthread`.
 */
#ifndef PENNY_BENCH_READBW_H
#define PENNY_BENCH_READBW_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define RBW_X86 1
#define RBW_T512 __attribute__((target("avx512f")))
#define RBW_T256 __attribute__((target("avx2")))
#else
#define RBW_X86 0
#endif

/* How one method reads: vector width (0: the plain baseline loop),
 * software prefetch distance in bytes, non-temporal loads, independent
 * streams per thread, and how threads split the buffer (0: one contiguous
 * slice each; else chunks of `chunk` bytes dealt round-robin). */
typedef struct rbw_method {
    const char *name;
    int width, nt, streams;
    long prefetch;
    size_t chunk;
} rbw_method;

static const rbw_method rbw_methods[] = {
    {"plain", 0, 0, 1, 0, 0},
    {"avx2", 32, 0, 1, 0, 0},
    {"avx512", 64, 0, 1, 0, 0},
    {"avx512-pf1k", 64, 0, 1, 1024, 0},
    {"avx512-pf4k", 64, 0, 1, 4096, 0},
    {"avx512-nt", 64, 1, 1, 0, 0},
    {"avx512-4streams", 64, 0, 4, 0, 0},
    {"avx512-chunks1m", 64, 0, 1, 0, 1 << 20},
};
enum { RBW_COUNT = sizeof rbw_methods / sizeof rbw_methods[0] };

/* Eight 64-bit lanes: in the plain loop the compiler picks the loads the
 * build targets (SSE2 for baseline x86-64). */
typedef uint64_t rbw_lane8 __attribute__((vector_size(64)));

static uint64_t rbw_plain(const unsigned char *p, size_t n) {
    rbw_lane8 a = {0}, b = {0}, c = {0}, d = {0};
    for (size_t i = 0; i + 256 <= n; i += 256) {
        rbw_lane8 x[4];
        memcpy(x, p + i, 256);
        a += x[0], b += x[1], c += x[2], d += x[3];
    }
    rbw_lane8 s = a + b + c + d;
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

#if RBW_X86
/* 256 bytes per step, four accumulators, optional prefetch `pf` ahead. */
RBW_T512 static uint64_t rbw_avx512(const unsigned char *p, size_t n, long pf, int nt) {
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i + 256 <= n; i += 256) {
        const unsigned char *q = p + i;
        if (pf)
            for (int k = 0; k < 256; k += 64) __builtin_prefetch(q + pf + k, 0, 3);
        if (nt) {
            a = _mm512_add_epi64(a, _mm512_stream_load_si512((void *)q));
            b = _mm512_add_epi64(b, _mm512_stream_load_si512((void *)(q + 64)));
            c = _mm512_add_epi64(c, _mm512_stream_load_si512((void *)(q + 128)));
            d = _mm512_add_epi64(d, _mm512_stream_load_si512((void *)(q + 192)));
        } else {
            a = _mm512_add_epi64(a, _mm512_loadu_si512(q));
            b = _mm512_add_epi64(b, _mm512_loadu_si512(q + 64));
            c = _mm512_add_epi64(c, _mm512_loadu_si512(q + 128));
            d = _mm512_add_epi64(d, _mm512_loadu_si512(q + 192));
        }
    }
    return (uint64_t)_mm512_reduce_add_epi64(
        _mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
}

/* S streams (S <= 8): the range in S parts, 256 bytes of each in turn. */
RBW_T512 static uint64_t rbw_streams(const unsigned char *p, size_t n, int S) {
    size_t q = n / (size_t)S / 256 * 256;
    __m512i acc[8];
    for (int s = 0; s < 8; s++) acc[s] = _mm512_setzero_si512();
    for (size_t i = 0; i < q; i += 256)
        for (int s = 0; s < S; s++) {
            const unsigned char *b = p + (size_t)s * q + i;
            __m512i x = _mm512_add_epi64(_mm512_loadu_si512(b), _mm512_loadu_si512(b + 64));
            __m512i y = _mm512_add_epi64(_mm512_loadu_si512(b + 128), _mm512_loadu_si512(b + 192));
            acc[s] = _mm512_add_epi64(acc[s], _mm512_add_epi64(x, y));
        }
    for (int s = 1; s < 8; s++) acc[0] = _mm512_add_epi64(acc[0], acc[s]);
    return (uint64_t)_mm512_reduce_add_epi64(acc[0]);
}

RBW_T256 static uint64_t rbw_avx2(const unsigned char *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a = _mm256_add_epi64(a, _mm256_loadu_si256((const __m256i *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
        c = _mm256_add_epi64(c, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
        d = _mm256_add_epi64(d, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    uint64_t o[4];
    memcpy(o, &s, sizeof o);
    return o[0] + o[1] + o[2] + o[3];
}
#endif

/* Whether this CPU runs method m. */
static int rbw_usable(const rbw_method *m) {
#if RBW_X86
    if (m->width == 64) return __builtin_cpu_supports("avx512f");
    if (m->width == 32) return __builtin_cpu_supports("avx2");
    return 1;
#else
    return m->width == 0;
#endif
}

static uint64_t rbw_range(const rbw_method *m, const unsigned char *p, size_t n) {
#if RBW_X86
    if (m->width == 64 && m->streams > 1) return rbw_streams(p, n, m->streams);
    if (m->width == 64) return rbw_avx512(p, n, m->prefetch, m->nt);
    if (m->width == 32) return rbw_avx2(p, n);
#else
    (void)m;
#endif
    return rbw_plain(p, n);
}

/* Thread ith of nth reads its share of base[0..size) by method m (size a
 * multiple of 4096); returns a sum so the reads cannot be dropped. */
static uint64_t rbw_slice(const rbw_method *m, const unsigned char *base, size_t size, int ith,
                          int nth) {
    if (m->chunk) {
        uint64_t s = 0;
        for (size_t o = m->chunk * (size_t)ith; o < size; o += m->chunk * (size_t)nth)
            s += rbw_range(m, base + o, size - o < m->chunk ? size - o : m->chunk);
        return s;
    }
    size_t q = size / (size_t)nth / 4096 * 4096, lo = q * (size_t)ith;
    return rbw_range(m, base + lo, ith == nth - 1 ? size - lo : q);
}

#endif
