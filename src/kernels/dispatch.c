/*
 * dispatch.c - picks the kernel table for this CPU: the one place that maps
 * CPU features (base/cpu.h) and PENNY_CPU to an implementation.
 *
 * Requirements per table: avx2 = AVX2 + FMA + F16C; avx512 = F, BW, VL, DQ,
 * VNNI, VBMI and GFNI (Ice Lake, Zen 4 and later; Skylake-X and Cascade
 * Lake lack VBMI and get avx2); neon = Advanced SIMD with the dot-product
 * extension.
 */
#include "kernels/dispatch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/log.h"

static const char *const k_names[KERN_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

static _Atomic(const kern_ops *) g_active;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

const kern_ops *kern_ops_for(enum kern_isa isa) {
    const cpu_features *f = cpu_get();
    switch (isa) {
    case KERN_SCALAR: return &kern_scalar;
#if defined(__x86_64__)
    case KERN_AVX2: return f->avx2 && f->fma && f->f16c ? &kern_avx2 : NULL;
    case KERN_AVX512:
        return f->avx2 && f->fma && f->f16c && f->avx512f && f->avx512bw && f->avx512vl &&
                       f->avx512dq && f->avx512vnni && f->avx512vbmi && f->gfni
                   ? &kern_avx512
                   : NULL;
#endif
#if defined(__aarch64__)
    case KERN_NEON: return f->neon && f->dotprod ? &kern_neon : NULL;
#endif
    default: (void)f; return NULL;
    }
}

enum kern_isa kern_best(void) {
    for (int i = KERN_ISA_COUNT - 1; i > 0; i--)
        if (kern_ops_for((enum kern_isa)i)) return (enum kern_isa)i;
    return KERN_SCALAR;
}

/* PENNY_CPU, if set and usable; otherwise the best table. */
static void choose(void) {
    enum kern_isa best = kern_best();
    const kern_ops *k = kern_ops_for(best);
    const char *want = getenv("PENNY_CPU");
    if (want && *want) {
        int i = 0;
        while (i < KERN_ISA_COUNT && strcmp(want, k_names[i]) != 0) i++;
        const kern_ops *forced = i < KERN_ISA_COUNT ? kern_ops_for((enum kern_isa)i) : NULL;
        if (forced)
            k = forced;
        else
            log_msg(LOG_WARN, "PENNY_CPU=%s: %s; using %s (choices: scalar, avx2, avx512, neon)",
                    want, i < KERN_ISA_COUNT ? "not supported by this CPU or build" : "unknown",
                    k_names[best]);
    }
    atomic_store(&g_active, k);
}

const kern_ops *kern_get(void) {
    const kern_ops *k = atomic_load_explicit(&g_active, memory_order_acquire);
    if (k) return k;
    pthread_once(&g_once, choose);
    return atomic_load(&g_active);
}

bool kern_use(enum kern_isa isa) {
    const kern_ops *k = kern_ops_for(isa);
    if (!k) return false;
    pthread_once(&g_once, choose);
    atomic_store(&g_active, k);
    return true;
}

enum kern_act kern_act_of(uint32_t type) {
    switch (type) {
    case TYPE_Q8_0:
    case TYPE_Q4_0:
    case TYPE_Q4_K:
    case TYPE_Q5_K:
    case TYPE_Q6_K: return KERN_ACT_Q8;
    default: return KERN_ACT_F32;
    }
}

size_t kern_act_row_bytes(enum kern_act act, int n) {
    if (act == KERN_ACT_Q8) return (size_t)(n + 511) / 512 * sizeof(act_q8_unit);
    return (size_t)n * sizeof(float);
}

kern_gemm_fn kern_gemm(const kern_ops *k, uint32_t type) {
    if (type >= TYPE_COUNT) return NULL;
    return k->gemm[type] ? k->gemm[type] : kern_scalar.gemm[type];
}

kern_gemm_fn kern_gemm_multi(const kern_ops *k, uint32_t type) {
    if (type < TYPE_COUNT && k->multi[type]) return k->multi[type];
    return kern_gemm(k, type);
}

kern_gemm_fn kern_gemm_nt(const kern_ops *k, uint32_t type, int nt) {
    return nt >= 2 ? kern_gemm_multi(k, type) : kern_gemm(k, type);
}
