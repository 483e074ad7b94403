/*
 * test_batch_invariance.c - a token's matmul result must not depend on the
 * other tokens it is computed with.
 *
 * The server batches one decode token of each of several conversations into
 * one matmul (and prompt chunks with them); a user who sets a seed expects
 * the same answer whether or not others are being served at that moment
 * (issue 6). That holds only if every kernel computes output (row, token)
 * with the same float operations in the same order whatever the number of
 * tokens in the call and wherever the token sits in a tile: that is
 * op_matmul_invariant (the multi-token kernels for every T; op_matmul's
 * faster one-token kernels round differently). This test runs it for every
 * type and table this CPU has, on one and two threads, with T tokens and
 * compares each token's outputs, bit for bit, with a call on that token
 * alone.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "check.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"
#include "kernels/types.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float frand(void) {
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

/* n_out rows of n weights of `type`, quantized from uniform values. */
static uint8_t *weights(uint32_t type, int n_out, int n, size_t *row_bytes) {
    const type_traits *tt = type_get(type);
    *row_bytes = type_row_size(type, n);
    uint8_t *w = malloc(*row_bytes * (size_t)n_out);
    float *row = malloc(sizeof(float) * (size_t)n);
    if (!w || !row) abort();
    for (int r = 0; r < n_out; r++) {
        for (int i = 0; i < n; i++) row[i] = frand() * (1.0f + (float)(r % 5));
        tt->from_f32(row, w + (size_t)r * *row_bytes, n);
    }
    free(row);
    return w;
}

/* Activations with a spread of magnitudes, as real hidden states have. */
static float *acts(int T, int n) {
    float *x = malloc(sizeof(float) * (size_t)T * (size_t)n);
    if (!x) abort();
    for (int i = 0; i < T * n; i++) x[i] = frand() * ldexpf(1.0f, (i * 7) % 9 - 4);
    return x;
}

/* Runs op_matmul_invariant on T tokens and on each token alone; returns how
 * many tokens' outputs differ in any bit. */
static int compare(pool *p, uint32_t type, int n, int n_out, int T) {
    size_t rb;
    uint8_t *w = weights(type, n_out, n, &rb);
    float *x = acts(T, n);
    float *y = malloc(sizeof(float) * (size_t)T * (size_t)n_out);
    float *y1 = malloc(sizeof(float) * (size_t)n_out);
    if (!y || !y1) abort();
    op_matmul_invariant(p, NULL, y, w, type, rb, x, T, n, n_out);
    int bad = 0;
    for (int t = 0; t < T; t++) {
        op_matmul_invariant(p, NULL, y1, w, type, rb, x + (size_t)t * n, 1, n, n_out);
        if (memcmp(y1, y + (size_t)t * n_out, sizeof(float) * (size_t)n_out)) bad++;
    }
    free(w), free(x), free(y), free(y1);
    return bad;
}

int main(void) {
    static const uint32_t types[] = {TYPE_F32,  TYPE_F16,  TYPE_BF16, TYPE_Q8_0,
                                     TYPE_Q4_0, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K};
    static const int Ts[] = {2, 3, 4, 5, 7, 8, 9, 16, 33};
    /* n, n_out: one K chunk; several (2304: chunks of 3 and 2 units, the
     * last with 8 blocks of padding); rows past the last 16-row panel */
    static const int shapes[][2] = {{256, 37}, {2048, 67}, {2304, 19}};
    pool *p2 = NULL;
    CHECK(pool_new(2, &p2, NULL) == PENNY_OK);
    for (int isa = 0; isa < KERN_ISA_COUNT; isa++) {
        if (!kern_ops_for((enum kern_isa)isa) || !kern_use((enum kern_isa)isa)) continue;
        for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
            for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
                for (size_t k = 0; k < sizeof Ts / sizeof *Ts; k++) {
                    int n = shapes[si][0], n_out = shapes[si][1], T = Ts[k];
                    int bad = compare(NULL, types[ti], n, n_out, T);
                    CHECKF(bad == 0, "%s %s n=%d rows=%d T=%d: %d token(s) differ from alone",
                           kern_get()->name, type_name(types[ti]), n, n_out, T, bad);
                    bad = compare(p2, types[ti], n, n_out, T);
                    CHECKF(bad == 0, "%s %s n=%d rows=%d T=%d, 2 threads: %d token(s) differ",
                           kern_get()->name, type_name(types[ti]), n, n_out, T, bad);
                }
    }
    pool_free(p2);
    return check_done("test_batch_invariance");
}
