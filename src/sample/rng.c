/*
 * rng.c - the sampler's random numbers: xoshiro256** seeded through
 * splitmix64.
 *
 * Sampling must be reproducible: the same seed and the same logits give the
 * same tokens on every machine, so nothing here touches rand(), time or any
 * other process-wide state. xoshiro256** is small, fast and statistically
 * strong; splitmix64 spreads a single 64-bit seed (even 0) over its 256-bit
 * state, which must never be all zeros.
 */
#include "sample/sampler.h"

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* One step of splitmix64: advances *state and returns a well-mixed word. */
static uint64_t splitmix64_next(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

void rng_seed(rng *r, uint64_t seed) {
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64_next(&sm);
}

uint64_t rng_next(rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* The top 53 bits fill a double's mantissa exactly, so every value is a
 * multiple of 2^-53 in [0, 1) and the result is the same on every platform. */
double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }
