/* SwiGLU MLP activation: out = silu(gate) * up. */
#include <math.h>

#include "ilr/kernels.h"

/* out, gate, up: (N, FF). */
void ilr_swiglu_forward(float *out, const float *gate, const float *up, int N, int FF) {
    size_t n = (size_t)N * FF;
#pragma omp parallel for simd if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* dgate, dup (N, FF) += : silu'(g) = sig(g) (1 + g (1 - sig(g))). */
void ilr_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int N,
                         int FF) {
    size_t n = (size_t)N * FF;
#pragma omp parallel for simd if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i], sig = 1.0f / (1.0f + expf(-g));
        if (dgate) dgate[i] += dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
        if (dup) dup[i] += dout[i] * g * sig;
    }
}
