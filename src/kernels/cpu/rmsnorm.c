/* RMSNorm (Hugging Face Qwen2/Llama): out = x * rsqrt(mean(x^2) + eps) * weight, all in fp32. */
#include <math.h>

#include "ilr/kernels.h"

/* x, out: (N, C)   weight: (C)   rstd: (N). */
void ilr_rmsnorm_forward(float *out, float *rstd, const float *x, const float *weight, int N, int C, float eps) {
#pragma omp parallel for if ((long)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int c = 0; c < C; c++) ss += xr[c] * xr[c];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (int c = 0; c < C; c++) o[c] = (xr[c] * r) * weight[c];
        rstd[n] = r;
    }
}

/* dx (N, C) += dout * weight * r - x * r^3 / C * sum(dout * weight * x), row by row. */
static void rmsnorm_backward_x(float *dx, const float *dout, const float *x, const float *weight,
                               const float *rstd, int N, int C) {
#pragma omp parallel for if ((long)N * C > 32768)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (size_t)n * C, *d = dout + (size_t)n * C;
        float *g = dx + (size_t)n * C;
        float r = rstd[n], dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int c = 0; c < C; c++) dot += d[c] * weight[c] * xr[c];
        float k = dot * r * r * r / (float)C;
        for (int c = 0; c < C; c++) g[c] += d[c] * weight[c] * r - k * xr[c];
    }
}

/* dweight (C) += sum over rows of dout * x * r; blocks of channels in parallel, rows in order. */
static void rmsnorm_backward_weight(float *dweight, const float *dout, const float *x, const float *rstd, int N,
                                    int C) {
#pragma omp parallel for if ((long)N * C > 32768)
    for (int c0 = 0; c0 < C; c0 += 64) {
        int c1 = c0 + 64 < C ? c0 + 64 : C;
        for (int n = 0; n < N; n++) {
            const float *xr = x + (size_t)n * C, *d = dout + (size_t)n * C;
            float r = rstd[n];
            for (int c = c0; c < c1; c++) dweight[c] += d[c] * (xr[c] * r);
        }
    }
}

/* Accumulates into dx (N, C) and dweight (C). */
void ilr_rmsnorm_backward(float *dx, float *dweight, const float *dout, const float *x, const float *weight,
                          const float *rstd, int N, int C) {
    if (dx) rmsnorm_backward_x(dx, dout, x, weight, rstd, N, C);
    if (dweight) rmsnorm_backward_weight(dweight, dout, x, rstd, N, C);
}
