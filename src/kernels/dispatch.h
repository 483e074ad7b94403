/*
 * dispatch.h - the matrix-multiply kernels of every instruction set behind
 * one table per instruction set, and the one place that picks the table.
 *
 * op_matmul (ops.c) is the only user in the engine: it prepares the
 * activations once per call in the format the weight type's kernel reads
 * (kern_act_of), then splits the weight rows over the thread pool and calls
 * the kernel on tiles of rows x tokens. Every table has the same entries;
 * an entry an instruction set lacks (NULL) falls back to the scalar table,
 * whose kernels are the ground truth that tests/test_simd.c checks the
 * others against. Adding a SIMD kernel for a new type (e.g. Q4_K) means
 * filling its slot in kern_avx2 / kern_avx512 and, if it reads a new
 * activation format, adding that format here.
 *
 * The table in use is the best one this CPU runs, unless the environment
 * variable PENNY_CPU=scalar|avx2|avx512|neon forces one (an unknown or
 * unsupported choice logs a warning and falls back to the best available).
 */
#ifndef PENNY_KERNELS_DISPATCH_H
#define PENNY_KERNELS_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/types.h"

enum kern_isa { KERN_SCALAR, KERN_AVX2, KERN_AVX512, KERN_NEON, KERN_ISA_COUNT };

/* What a weight type's kernels read as activations. */
enum kern_act {
    KERN_ACT_F32, /* the f32 rows as given (F32, F16, BF16 and types without a kernel) */
    KERN_ACT_Q8,  /* rows of act_q8_unit (Q8_0, Q4_0 and K-quant weights) */
};

/*
 * Q8 activations: integer dot products against quantized weights (Q8_0,
 * Q4_0, K-quants) need the activations as 8-bit integers too. A row of n
 * activations (n % 32 == 0) is quantized in blocks of 32 with the Q8_0
 * formulas, except that the scale d stays f32 (an f16 d would add up to
 * 2^-11 relative error per block for no gain: activations are quantized
 * once per matmul and never stored):
 *     d = max |x| / 127,  q = round(x * (1/d)) half away from zero,
 *     |q| <= 127 (q = 0 when d = 0).
 * Blocks are kept in groups of four, laid out so one 512-bit load fetches
 * the first halves of four blocks, and groups in units of four (512
 * activations) that add the 16 block scales side by side. A row takes
 * ceil(n/512) units; the blocks missing from the last unit read as zeros
 * (q = 0, d = 0).
 */
typedef struct act_q8_group {
    int8_t lo[64];    /* q of elements 0..15 of blocks 0, 1, 2, 3 */
    int8_t hi[64];    /* q of elements 16..31 of blocks 0, 1, 2, 3 */
    float d[16];      /* d of block b in d[4b .. 4b+3] */
    int32_t nsum[16]; /* nsum[4b], nsum[4b+1] = -(sum of the q of elements 0..15,
                       * resp. 16..31, of block b); other lanes 0 */
} act_q8_group;

typedef struct act_q8_unit {
    act_q8_group g[4];
    float d[16];      /* d of block 4i + k (= g[i].d[4k]): the unit's scales in one load */
    int32_t nsum[16]; /* -(sum of the q of block 4i + k) */
} act_q8_unit;

_Static_assert(sizeof(act_q8_group) == 256, "act_q8_group layout");
_Static_assert(sizeof(act_q8_unit) == 1152, "act_q8_unit layout");

/* Group g (0-based, four blocks each) of a prepared Q8 row. */
static inline const act_q8_group *act_group(const void *row, int g) {
    return &((const act_q8_unit *)row)[g / 4].g[g % 4];
}

/* Writes one row of n activations x in the kernel format (n % 32 == 0). */
typedef void (*kern_prep_fn)(void *act, const float *x, int n);

/* y[t*ldy + r] = dot(row r of W, activation row t), r < nr, t < nt.
 * W: nr rows of n elements of the weight type, row_bytes apart.
 * act: nt prepared activation rows (format kern_act_of(type)), act_bytes
 * apart. Any nr, nt >= 1; n a multiple of the type's block size. */
typedef void (*kern_gemm_fn)(float *y, size_t ldy, const void *w, size_t row_bytes, const void *act,
                             size_t act_bytes, int n, int nr, int nt);

/* One token, part `part` (0-based) of `parts`: y[r] = dot(row r of W,
 * act) for the rows of that part, each equal to what gemm gives with
 * nt = 1. The parts together cover rows 0..nr-1 once; which rows form a
 * part is the kernel's choice (kern_vec_slice), so that op_matmul can hand
 * parts to threads as they come free while each part still reads its
 * weights as a few sequential streams far apart. */
typedef void (*kern_vec_fn)(float *y, const void *w, size_t row_bytes, const void *act, int n,
                            int nr, int part, int parts);

/* The rows of a part for a kernel that reads S streams at once: rows are S
 * lanes of L = nr / S rows (returned); a part takes the slice [*lo, *hi) of
 * every lane (row r of the slice with r + L, r + 2L, ...), and the last part
 * also the nr % S rows after the lanes. */
static inline int kern_vec_slice(int nr, int S, int part, int parts, int *lo, int *hi) {
    int L = nr / S;
    *lo = (int)((long)L * part / parts);
    *hi = (int)((long)L * (part + 1) / parts);
    return L;
}

/* A one-token kernel for rows side by side (as many as it takes):
 * y[r * ys] = dot(the row at w + r * rs, act) over n elements. */
typedef void (*kern_rows_fn)(float *y, size_t ys, const uint8_t *w, size_t rs, const void *act,
                             int n);

/* A kern_vec_fn from two of those: the part's slice of each of S lanes
 * through `many` (S rows L apart side by side), and for the last part the
 * nr % S rows left through `one`. */
static inline void kern_vec_lanes(int S, kern_rows_fn many, kern_rows_fn one, float *y,
                                  const void *w, size_t rb, const void *act, int n, int nr,
                                  int part, int parts) {
    const uint8_t *w8 = w;
    int lo, hi, L = kern_vec_slice(nr, S, part, parts, &lo, &hi);
    for (int r = lo; r < hi; r++)
        many(y + r, (size_t)L, w8 + (size_t)r * rb, (size_t)L * rb, act, n);
    if (part == parts - 1)
        for (int r = S * L; r < nr; r++) one(y + r, 1, w8 + (size_t)r * rb, rb, act, n);
}

typedef struct kern_ops {
    const char *name;              /* "scalar", "avx2", "avx512", "neon" */
    kern_prep_fn prep_q8;          /* f32 row -> act_q8_unit row */
    kern_gemm_fn gemm[TYPE_COUNT]; /* by weight type; NULL: the scalar one */
    /* Where gemm[type] has a one-token path that rounds differently from its
     * tiles: the tiles alone, for any nt (batch-invariant, docs/kernels.md).
     * NULL: gemm[type] is batch-invariant itself. */
    kern_gemm_fn multi[TYPE_COUNT];
    /* One token in parts; NULL: op_matmul cuts contiguous row ranges for
     * gemm[type]. */
    kern_vec_fn vec[TYPE_COUNT];
} kern_ops;

/* The table in use (chosen on the first call); never NULL. */
const kern_ops *kern_get(void);
/* The table of `isa`, or NULL if it is not compiled in or this CPU lacks
 * what it needs. */
const kern_ops *kern_ops_for(enum kern_isa isa);
/* Makes `isa` the table in use (tests, benchmarks); false if unavailable.
 * Not safe while a matmul runs. */
bool kern_use(enum kern_isa isa);
/* The best table this CPU runs, ignoring PENNY_CPU. */
enum kern_isa kern_best(void);

enum kern_act kern_act_of(uint32_t type);
/* Bytes of one prepared activation row of n elements. */
size_t kern_act_row_bytes(enum kern_act act, int n);
/* The kernel for `type` in table k, falling back to scalar; NULL for a type
 * with no kernel anywhere (op_matmul then uses the type's reference dot). */
kern_gemm_fn kern_gemm(const kern_ops *k, uint32_t type);
/* The kernel for `type` in table k for a call with nt tokens: for nt >= 2
 * the instruction set's multi-token kernel where it has one (gemm_*.c,
 * panels of rows), else kern_gemm. */
kern_gemm_fn kern_gemm_nt(const kern_ops *k, uint32_t type, int nt);
/* The kernel kern_gemm_nt gives for several tokens (k->multi[type], else
 * gemm[type]), for any nt (one too):
 * with it, output (row, token) is computed by the same operations in the
 * same order whatever the other tokens of the call (op_matmul_invariant). */
kern_gemm_fn kern_gemm_multi(const kern_ops *k, uint32_t type);

/* The per-instruction-set tables (kern_scalar.c, x86/, arm/). */
extern const kern_ops kern_scalar;
#if defined(__x86_64__)
extern const kern_ops kern_avx2;
extern const kern_ops kern_avx512;
/* x86/gemm_avx512.c: the AVX-512 panel kernels (kern_avx512.multi). Their
 * K chunks hold at most this many 32-value blocks; kern_avx512.c's
 * one-token version of the Q4_0 panel arithmetic chunks the same. */
enum { KERN_PANEL_KCB = 64 };
void kern_avx512_panel_q4_0(float *, size_t, const void *, size_t, const void *, size_t, int, int,
                            int);
void kern_avx512_panel_q8_0(float *, size_t, const void *, size_t, const void *, size_t, int, int,
                            int);
void kern_avx512_panel_q4_K(float *, size_t, const void *, size_t, const void *, size_t, int, int,
                            int);
void kern_avx512_panel_q5_K(float *, size_t, const void *, size_t, const void *, size_t, int, int,
                            int);
void kern_avx512_panel_q6_K(float *, size_t, const void *, size_t, const void *, size_t, int, int,
                            int);
#endif
#if defined(__aarch64__)
extern const kern_ops kern_neon;
#endif

#endif
