/* Elementwise helpers: residual add and gradient accumulation. */
#include "ilr/kernels.h"

/* out (n) = a + b; out may alias a or b. */
void ilr_add_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd if (parallel : n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* dst (n) += src. */
void ilr_accumulate(float *dst, const float *src, size_t n) {
#pragma omp parallel for simd if (parallel : n > 65536)
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}
