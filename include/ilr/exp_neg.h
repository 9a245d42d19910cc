/* A vectorisable exp for arguments <= 0 (softmax weights, sigmoids), shared by the sampler and the kernels. */
#ifndef ILR_EXP_NEG_H
#define ILR_EXP_NEG_H

#include <math.h>
#include <stdint.h>

/* exp(x) for x <= 0 (larger x is taken as 0), free of branches and calls so that loops over it vectorise:
 * glibc's expf costs 2-3 ns a call (measured here), this about 0.3 ns in 16-wide AVX-512.  Cephes expf's
 * range reduction and polynomial: within 1 ulp of expf, relative error < 1e-7.  Results below 1.7e-38
 * (x < -87) flush to 0, and so do -inf and NaN. */
#ifdef __FMA__
#define ILR_MADD(a, b, c) fmaf(a, b, c) /* one instruction; without FMA hardware, fmaf is a slow libm call */
#else
#define ILR_MADD(a, b, c) ((a) * (b) + (c))
#endif

static inline float ilr_exp_neg(float x) {
    float xc = x > -87.0f ? x : -87.0f; /* NaN -> -87 */
    xc = xc < 0.0f ? xc : 0.0f;
    float n = ILR_MADD(xc, 1.44269504088896341f, 12582912.0f) - 12582912.0f; /* rounded (1.5 * 2^23) */
    float r = ILR_MADD(n, -0.693359375f, xc);
    r = ILR_MADD(n, 2.12194440e-4f, r);
    float q = ILR_MADD(1.9875691500e-4f, r, 1.3981999507e-3f);
    q = ILR_MADD(q, r, 8.3334519073e-3f);
    q = ILR_MADD(q, r, 4.1665795894e-2f);
    q = ILR_MADD(q, r, 1.6666665459e-1f);
    q = ILR_MADD(q, r, 5.0000001201e-1f);
    q = ILR_MADD(q, r * r, r) + 1.0f;
    union { int32_t bits; float value; } scale = {((int32_t)n + 127) << 23}; /* 2^n (a union: C11 allows it, and
                                                                               * unlike memcpy it vectorises in
                                                                               * store loops too) */
    /* A select between constants and a multiply: `x >= -87 ? q * scale : 0` would let the compiler sink
     * the polynomial into a branch, which -ftrapping-math then keeps it from vectorising. */
    return q * scale.value * (x >= -87.0f ? 1.0f : 0.0f);
}

/* The logistic sigmoid 1 / (1 + exp(-g)) from e = exp(-|g|) <= 1: 1 / (1 + e) for g >= 0, e / (1 + e) below;
 * no overflow, no libm call and no branch (a select by multiplication, as above), so loops vectorise; within
 * 2 ulp of the expf form.  NaN gives 0 (silu's g * sigmoid(g) is still NaN). */
static inline float ilr_sigmoid(float g) {
    float e = ilr_exp_neg(-fabsf(g)), r = 1.0f / (1.0f + e), nonneg = g >= 0.0f ? 1.0f : 0.0f;
    return r * (nonneg + (1.0f - nonneg) * e);
}

#endif

