/*
 * cpu.c - run-time CPU feature detection: cpuid + xgetbv on x86-64,
 * getauxval(AT_HWCAP) on aarch64, nothing elsewhere (scalar code only).
 *
 * Detection runs once (pthread_once), so any thread may ask at any time.
 */
#include "base/cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__)
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

static cpu_features g_features;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)

/* XCR0: which register states the OS saves on a context switch. */
static unsigned long long read_xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static void detect(cpu_features *f) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = c & (1u << 27), avx = c & (1u << 28);
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = read_xcr0();
    bool ymm_ok = (xcr0 & 0x6) == 0x6;             /* SSE + AVX state */
    bool zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0; /* opmask + ZMM_Hi256 + Hi16_ZMM */
    if (!ymm_ok) return;
    f->fma = c & (1u << 12);
    f->f16c = c & (1u << 29);
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    f->avx2 = b & (1u << 5);
    if (zmm_ok) {
        f->avx512f = b & (1u << 16);
        f->avx512dq = b & (1u << 17);
        f->avx512bw = b & (1u << 30);
        f->avx512vl = b & (1u << 31);
        f->avx512vbmi = c & (1u << 1);
        f->avx512vnni = c & (1u << 11);
        f->gfni = c & (1u << 8);
        if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f->avx512bf16 = a & (1u << 5);
    }
}

#elif defined(__aarch64__) && defined(__linux__)

static void detect(cpu_features *f) {
    unsigned long hw = getauxval(AT_HWCAP);
    f->neon = hw & (1ul << 1);     /* HWCAP_ASIMD */
    f->dotprod = hw & (1ul << 20); /* HWCAP_ASIMDDP */
}

#else

static void detect(cpu_features *f) { (void)f; }

#endif

static void detect_once(void) {
    memset(&g_features, 0, sizeof g_features);
    detect(&g_features);
}

const cpu_features *cpu_get(void) {
    pthread_once(&g_once, detect_once);
    return &g_features;
}

void cpu_describe(char *buf, int cap) {
    const cpu_features *f = cpu_get();
    const struct {
        bool on;
        const char *name;
    } all[] = {{f->avx2, "avx2"},
               {f->fma, "fma"},
               {f->f16c, "f16c"},
               {f->avx512f, "avx512f"},
               {f->avx512dq, "avx512dq"},
               {f->avx512bw, "avx512bw"},
               {f->avx512vl, "avx512vl"},
               {f->avx512vnni, "avx512vnni"},
               {f->avx512vbmi, "avx512vbmi"},
               {f->avx512bf16, "avx512bf16"}, {f->gfni, "gfni"},
               {f->neon, "neon"},
               {f->dotprod, "dotprod"}};
    int len = 0;
    if (cap > 0) buf[0] = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!all[i].on || len >= cap) continue;
        int w = snprintf(buf + len, (size_t)(cap - len), "%s%s", len ? " " : "", all[i].name);
        if (w > 0) len += w;
    }
}
