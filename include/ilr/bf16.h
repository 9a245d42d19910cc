/* bf16 ("brain float"): the upper 16 bits of an IEEE fp32, 8 exponent bits and 7 mantissa bits.  Model files
 * store weights in it, and the CPU generator can read its matrices in it (half the bytes of fp32, and batch-1
 * decoding is bound by reading the weights).  Conversions for the host; fp32 -> bf16 rounds to nearest even. */
#ifndef ILR_BF16_H
#define ILR_BF16_H

#include <stdint.h>
#include <string.h>

/* bf16 -> fp32, exact. */
static inline float ilr_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* fp32 -> bf16, round to nearest even; NaN stays NaN (quiet), infinities stay infinite. */
static inline uint16_t ilr_f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x0040u); /* quiet NaN */
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

#endif
