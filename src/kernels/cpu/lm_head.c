/* Fused LM head + log-softmax at a temperature T, chunked over the vocabulary: per chunk of `chunk` vocabulary
 * rows, sgemm the logits divided by T (sgemm's alpha = 1/T, exactly 1 at T = 1) into the caller's scratch
 * (N, chunk) and fold them into per-row online statistics, so N x V logits never exist at once.  While the
 * chunks run, the outputs hold the running state: lse[n] the running max m, logprob[n] the running
 * s = sum exp(l - m), entropy[n] the running a = sum exp(l - m) (l - m) (<= 0), so no allocation is needed.
 * At the end lse = m + log s, entropy = log s - a / s (a sum of non-negative terms, no cancellation) and
 * logprob = x[n] . w[target] / T - lse, that one logit formed again as a dot product in double (no output is
 * left to carry it across chunks).  Backward forms the gradient w.r.t. the scaled logits and applies the
 * chain rule's 1/T as the alpha of the sgemms that carry it into dx and dw. */
#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ilr/kernels.h"

/* Folds one row's chunk of logits l (cv) into (m, s, a); a may be NULL.  The first chunk sets m (s == 0). */
static void lm_head_fold_chunk(float *m, float *s, float *a, const float *l, int cv) {
    float cm = -INFINITY;
    double cs = 0.0, ca = 0.0; /* float sums over a long chunk would lose ~1e-6 */
#pragma omp simd reduction(max : cm)
    for (int j = 0; j < cv; j++) cm = l[j] > cm ? l[j] : cm;
    if (*s == 0.0f) {
        *m = cm;
    } else if (cm > *m) { /* rescale to the new max: e' = e exp(m - cm), (l - cm) = (l - m) + (m - cm) */
        float sc = expf(*m - cm);
        if (a) *a = sc * (*a + (*m - cm) * *s);
        *s *= sc;
        *m = cm;
    }
    float mm = *m;
#pragma omp simd reduction(+ : cs, ca)
    for (int j = 0; j < cv; j++) {
        float d = l[j] - mm, e = expf(d);
        cs += e;
        ca += e * d;
    }
    *s = (float)(*s + cs);
    if (a) *a = (float)(*a + ca);
}

/* Scaled logit of row n's target, x[n] . w[target] / T, in double (the same dot product sgemm forms per chunk). */
static double lm_head_target_logit(const float *x, const float *w, int target, int C, float temperature) {
    double acc = 0.0;
    const float *wt = w + (size_t)target * C;
    for (int c = 0; c < C; c++) acc += (double)x[c] * wt[c];
    return acc / temperature;
}

/* scratch (N, cv) = x (N, C) @ w (cv, C)^T / T: one chunk's scaled logits. */
static void lm_head_logits(float *scratch, const float *x, const float *w, float inv_t, int N, int C, int cv) {
    if (ilr_small_gemm_fits(N, cv, C))
        ilr_small_gemm_nt(scratch, cv, x, C, w, C, N, cv, C, inv_t, 0);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, cv, C, inv_t, x, C, w, C, 0.0f, scratch, cv);
}

/* Turns the running state into lse, entropy and logprob; skipped rows get 0. */
static void lm_head_finish(float *logprob, float *entropy, float *lse, const float *x, const float *w,
                           const int *targets, float temperature, int N, int C) {
#pragma omp parallel for if ((long)N * C > 32768)
    for (int n = 0; n < N; n++) {
        if (targets[n] < 0) {
            logprob[n] = lse[n] = 0.0f;
            if (entropy) entropy[n] = 0.0f;
            continue;
        }
        double log_s = log((double)logprob[n]), L = lse[n] + log_s;
        double lp = lm_head_target_logit(x + (size_t)n * C, w, targets[n], C, temperature) - L;
        if (entropy) entropy[n] = (float)(log_s - entropy[n] / (double)logprob[n]);
        logprob[n] = (float)(lp < 0.0 ? lp : 0.0);
        lse[n] = (float)L;
    }
}

/* x: (N, C)  w: (V, C)  targets: (N), -1 skips  ->  logprob, entropy (may be NULL), lse: (N), all at
 * temperature T.  scratch: N * chunk floats. */
void ilr_lm_head_logprob_forward(float *logprob, float *entropy, float *lse, const float *x, const float *w,
                                 const int *targets, float temperature, int N, int C, int V, float *scratch,
                                 int chunk) {
    assert(chunk > 0 && temperature > 0.0f);
    float inv_t = 1.0f / temperature;
    if (N <= 0) return;
    chunk = chunk < V ? chunk : V;
    for (int n = 0; n < N; n++) {
        lse[n] = -INFINITY;
        logprob[n] = 0.0f;
        if (entropy) entropy[n] = 0.0f;
    }
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cv = V - v0 < chunk ? V - v0 : chunk;
        lm_head_logits(scratch, x, w + (size_t)v0 * C, inv_t, N, C, cv);
#pragma omp parallel for if ((long)N * cv > 32768)
        for (int n = 0; n < N; n++)
            if (targets[n] >= 0)
                lm_head_fold_chunk(&lse[n], &logprob[n], entropy ? &entropy[n] : NULL, scratch + (size_t)n * cv,
                                   cv);
    }
    lm_head_finish(logprob, entropy, lse, x, w, targets, temperature, N, C);
}

/* One row's dlogits over a chunk, in place over its logits l (cv): g (onehot - exp(l - lse)); t is the
 * target's index within the chunk (outside [0, cv) when it lies elsewhere). */
static void lm_head_dlogits_row(float *l, float g, int t, float lse, int cv) {
    if (g == 0.0f) {
        memset(l, 0, (size_t)cv * sizeof(float));
        return;
    }
    int has_t = t >= 0 && t < cv;
    float lt = has_t ? l[t] : 0.0f;
    for (int j = 0; j < cv; j++) l[j] = -g * expf(l[j] - lse);
    if (has_t) l[t] = g * (1.0f - expf(lt - lse));
}

/* dx (N, C) += dlogits @ w / T;  dw (V, C) += dlogits^T @ x / T, chunk by chunk (scaled logits recomputed in
 * scratch, dlogits w.r.t. them). */
void ilr_lm_head_logprob_backward(float *dx, float *dw, const float *dlogprob, const float *x, const float *w,
                                  const int *targets, const float *lse, float temperature, int N, int C, int V,
                                  float *scratch, int chunk) {
    assert(chunk > 0 && temperature > 0.0f);
    float inv_t = 1.0f / temperature;
    if (N <= 0 || (!dx && !dw)) return;
    chunk = chunk < V ? chunk : V;
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cv = V - v0 < chunk ? V - v0 : chunk;
        const float *wc = w + (size_t)v0 * C;
        lm_head_logits(scratch, x, wc, inv_t, N, C, cv);
#pragma omp parallel for if ((long)N * cv > 32768)
        for (int n = 0; n < N; n++)
            lm_head_dlogits_row(scratch + (size_t)n * cv, targets[n] >= 0 ? dlogprob[n] : 0.0f, targets[n] - v0,
                                lse[n], cv);
        if (dx && ilr_small_gemm_fits(N, C, cv))
            ilr_small_gemm_nn(dx, C, scratch, cv, wc, C, N, C, cv, inv_t, 1);
        else if (dx)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, cv, inv_t, scratch, cv, wc, C, 1.0f, dx, C);
        if (dw)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cv, C, N, inv_t, scratch, cv, x, C, 1.0f,
                        dw + (size_t)v0 * C, C);
    }
}

/* out (N, V) = x (N, C) @ w (V, C)^T. */
void ilr_lm_head_logits(float *out, const float *x, const float *w, int N, int C, int V) {
    if (N <= 0 || V <= 0) return;
    ilr_matmul_forward(out, x, w, NULL, N, C, V); /* one row (decoding) takes the matrix-vector path */
}
