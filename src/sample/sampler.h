/*
 * sampler.h - internal view of the sampler (the public API is penny.h).
 *
 * The chain, applied to a copy of the logits: penalties (repetition,
 * presence, frequency over the last N accepted tokens) -> top-k -> top-p ->
 * min-p -> temperature -> draw from the distribution with the seeded RNG.
 * temperature <= 0 is greedy (argmax after penalties, lowest id on ties).
 * Same seed and same inputs give the same tokens on every machine.
 */
#ifndef PENNY_SAMPLE_SAMPLER_H
#define PENNY_SAMPLE_SAMPLER_H

#include <stdint.h>

/* splitmix64-seeded xoshiro256** */
typedef struct rng {
    uint64_t s[4];
} rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 53 bits. */
double rng_uniform(rng *r);

#endif
