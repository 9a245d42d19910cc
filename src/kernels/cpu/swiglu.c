/* SwiGLU MLP activation: out = silu(gate) * up.  The sigmoid is ilr_sigmoid (no libm call), so both loops
 * vectorise: with expf they were scalar calls, 9 % of a world-grpo-a step. */
#include "ilr/exp_neg.h"
#include "ilr/kernels.h"

/* out, gate, up: (N, FF). */
void ilr_swiglu_forward(float *out, const float *gate, const float *up, int N, int FF) {
    size_t n = (size_t)N * FF;
#pragma omp parallel for simd if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g * ilr_sigmoid(g) * up[i];
    }
}

/* dgate, dup (N, FF) += : silu'(g) = sig(g) (1 + g (1 - sig(g))).  Either may be NULL; a loop per case, so
 * no branch inside stops vectorisation. */
void ilr_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int N,
                         int FF) {
    size_t n = (size_t)N * FF;
    if (dgate && dup) {
#pragma omp parallel for simd if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float g = gate[i], sig = ilr_sigmoid(g);
            dgate[i] += dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
            dup[i] += dout[i] * g * sig;
        }
    } else if (dgate) {
#pragma omp parallel for simd if (n > 65536)
        for (size_t i = 0; i < n; i++) {
            float g = gate[i], sig = ilr_sigmoid(g);
            dgate[i] += dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
        }
    } else if (dup) {
#pragma omp parallel for simd if (n > 65536)
        for (size_t i = 0; i < n; i++) dup[i] += dout[i] * gate[i] * ilr_sigmoid(gate[i]);
    }
}
