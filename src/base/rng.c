/* PCG32 (XSH-RR), following the reference pcg32_srandom_r / pcg32_random_r of pcg-c (see rng.h). */
#include "ilr/rng.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

void ilr_rng_init(ilr_rng *rng, uint64_t seed, uint64_t stream) {
    rng->state = 0;
    rng->inc = (stream << 1) | 1u;
    ilr_rng_u32(rng);
    rng->state += seed;
    ilr_rng_u32(rng);
}

uint32_t ilr_rng_u32(ilr_rng *rng) {
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
}

uint64_t ilr_rng_u64(ilr_rng *rng) {
    uint64_t hi = ilr_rng_u32(rng);
    return (hi << 32) | ilr_rng_u32(rng);
}

/* Lemire's multiply-and-reject: the low word below (2^32 mod n) marks the biased draws. */
uint32_t ilr_rng_below(ilr_rng *rng, uint32_t n) {
    uint64_t m = (uint64_t)ilr_rng_u32(rng) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)ilr_rng_u32(rng) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float ilr_rng_uniform(ilr_rng *rng) { return (float)(ilr_rng_u32(rng) >> 8) * 0x1p-24f; }

double ilr_rng_uniform_f64(ilr_rng *rng) { return (double)(ilr_rng_u64(rng) >> 11) * 0x1p-53; }

/* One Box-Muller pair; u1 is taken in (0, 1] so log never sees 0. */
static void normal_pair(ilr_rng *rng, double *a, double *b) {
    double u1 = 1.0 - ilr_rng_uniform_f64(rng);
    double u2 = ilr_rng_uniform_f64(rng);
    double r = sqrt(-2.0 * log(u1));
    double theta = 6.283185307179586 * u2;
    *a = r * cos(theta);
    *b = r * sin(theta);
}

/* The struct has no room to cache the second value of a pair, so a single draw drops it. */
double ilr_rng_normal(ilr_rng *rng) {
    double a, b;
    normal_pair(rng, &a, &b);
    return a;
}

/* Uses both values of each pair, so it is not the same sequence as n calls of ilr_rng_normal. */
void ilr_rng_fill_normal(ilr_rng *rng, float *out, long n, float mean, float std) {
    long i = 0;
    for (; i + 1 < n; i += 2) {
        double a, b;
        normal_pair(rng, &a, &b);
        out[i] = mean + std * (float)a;
        out[i + 1] = mean + std * (float)b;
    }
    if (i < n) out[i] = mean + std * (float)ilr_rng_normal(rng);
}
