/* A seedable random number generator with independent streams (PCG32, O'Neill 2014).
 *
 * ilr_rng_init(&r, seed, stream): the same (seed, stream) always gives the same sequence, and different
 * streams of one seed are independent.  Give each independent consumer (a parameter tensor, a data loader,
 * a sampler thread) its own stream so results do not depend on thread count or call order. */
#ifndef ILR_RNG_H
#define ILR_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t state;
    uint64_t inc; /* odd; selects the stream */
} ilr_rng;

void ilr_rng_init(ilr_rng *rng, uint64_t seed, uint64_t stream);
uint32_t ilr_rng_u32(ilr_rng *rng);
uint64_t ilr_rng_u64(ilr_rng *rng);
/* Uniform in [0, n), unbiased; n > 0. */
uint32_t ilr_rng_below(ilr_rng *rng, uint32_t n);
/* Uniform in [0, 1) with 24 random bits (every value exactly representable as float). */
float ilr_rng_uniform(ilr_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double ilr_rng_uniform_f64(ilr_rng *rng);
/* Standard normal (Box-Muller on 53-bit uniforms). */
double ilr_rng_normal(ilr_rng *rng);
/* Fills out[n] with normal(mean, std) values. */
void ilr_rng_fill_normal(ilr_rng *rng, float *out, long n, float mean, float std);

#endif
