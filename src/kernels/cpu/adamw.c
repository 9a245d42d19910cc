/* Optimizer kernels: the AdamW step (PyTorch torch.optim.AdamW), the global gradient norm, scaling. */
#include <math.h>

#include "ilr/kernels.h"

/* params, grads, m, v: (n).  PyTorch's order: decay first, then m.lerp_(g, 1-b1), v = b2 v + (1-b2) g^2,
 * p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).  Scalars are formed in double, as Python does. */
void ilr_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, const ilr_adamw_params *hp,
                      int step) {
    double bc1 = 1.0 - pow(hp->beta1, step), bc2 = 1.0 - pow(hp->beta2, step);
    float decay = (float)(1.0 - (double)hp->lr * hp->weight_decay), step_size = (float)(hp->lr / bc1);
    float bc2_sqrt = (float)sqrt(bc2), one_b1 = (float)(1.0 - hp->beta1), one_b2 = (float)(1.0 - hp->beta2);
    float b2 = hp->beta2, eps = hp->eps;
#pragma omp parallel for simd if (parallel : n > 65536)
    for (size_t i = 0; i < n; i++) {
        float g = grads[i], p = params[i] * decay;
        float mi = m[i] + one_b1 * (g - m[i]);
        float vi = b2 * v[i] + one_b2 * g * g;
        params[i] = p - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
        m[i] = mi;
        v[i] = vi;
    }
}

/* sqrt(sum g^2) over g (n), in double.  A fixed split into 64 parts summed in order: the same bits for any
 * thread count. */
double ilr_grad_norm(const float *g, size_t n) {
    enum { PARTS = 64 };
    double part[PARTS], total = 0.0;
#pragma omp parallel for if (n > 65536)
    for (int p = 0; p < PARTS; p++) {
        size_t i0 = n / PARTS * p + (p < (int)(n % PARTS) ? (size_t)p : n % PARTS);
        size_t i1 = i0 + n / PARTS + (p < (int)(n % PARTS) ? 1 : 0);
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (size_t i = i0; i < i1; i++) s += (double)g[i] * g[i];
        part[p] = s;
    }
    for (int p = 0; p < PARTS; p++) total += part[p];
    return sqrt(total);
}

/* g (n) *= s. */
void ilr_scale(float *g, size_t n, float s) {
#pragma omp parallel for simd if (parallel : n > 65536)
    for (size_t i = 0; i < n; i++) g[i] *= s;
}
