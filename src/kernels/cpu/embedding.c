/* Token embedding: a row gather forward, a deterministic scatter-add backward. */
#include <string.h>

#include "ilr/kernels.h"

/* out (N, C) = wte (V, C)[tokens[n]]. */
void ilr_embedding_forward(float *out, const int *tokens, const float *wte, int N, int C) {
#pragma omp parallel for if ((long)N * C > 65536)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, wte + (size_t)tokens[n] * C, (size_t)C * sizeof(float));
}

/* dwte (V, C) += dout (N, C) scattered by token.  Threads own blocks of channels and walk the tokens in
 * order, so every element sums in the same order for any thread count. */
void ilr_embedding_backward(float *dwte, const float *dout, const int *tokens, int N, int C) {
#pragma omp parallel for if ((long)N * C > 65536)
    for (int c0 = 0; c0 < C; c0 += 64) {
        int c1 = c0 + 64 < C ? c0 + 64 : C;
        for (int n = 0; n < N; n++) {
            float *dst = dwte + (size_t)tokens[n] * C;
            const float *src = dout + (size_t)n * C;
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
}
