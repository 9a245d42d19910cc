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

#include "ilr/exp_neg.h"
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
        float d = l[j] - mm, e = ilr_exp_neg(d); /* d <= 0; vectorised, where expf is a call per logit */
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

/* The next run of rows with a target at or after *from: [*start, *end), or 0 when none is left.  Products
 * run per run, so prompt and padding rows (a third of a GRPO batch's) cost nothing; when nearly every row has
 * a target the whole batch is one run. */
static int lm_head_next_run(const int *targets, int N, int *from, int *start, int *end) {
    int n = *from;
    while (n < N && targets[n] < 0) n++;
    if (n >= N) return 0;
    *start = n;
    while (n < N && targets[n] >= 0) n++;
    *end = *from = n;
    return 1;
}

/* Whether most rows have targets: then one product over all N beats one per run. */
static int lm_head_dense(const int *targets, int N) {
    int with = 0;
    for (int n = 0; n < N; n++) with += targets[n] >= 0;
    return with >= N - N / 8;
}

/* scratch rows of the runs (every row when dense) = x's rows @ w (cv, C)^T / T. */
static void lm_head_run_logits(float *scratch, const float *x, const float *w, const int *targets, int dense,
                               float inv_t, int N, int C, int cv) {
    if (dense) {
        lm_head_logits(scratch, x, w, inv_t, N, C, cv);
        return;
    }
    for (int from = 0, a, b; lm_head_next_run(targets, N, &from, &a, &b);)
        lm_head_logits(scratch + (size_t)a * cv, x + (size_t)a * C, w, inv_t, b - a, C, cv);
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
    int dense = lm_head_dense(targets, N);
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cv = V - v0 < chunk ? V - v0 : chunk;
        lm_head_run_logits(scratch, x, w + (size_t)v0 * C, targets, dense, inv_t, N, C, cv);
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
#pragma omp simd
    for (int j = 0; j < cv; j++) l[j] = -g * ilr_exp_neg(l[j] - lse); /* l <= lse */
    if (has_t) l[t] = g * (1.0f - expf(lt - lse));
}

/* dx rows a..b) += dlogits (scratch rows, cv wide) @ w (cv, C) / T. */
static void lm_head_dx(float *dx, const float *scratch, const float *w, float inv_t, int a, int b, int C, int cv) {
    if (ilr_small_gemm_fits(b - a, C, cv))
        ilr_small_gemm_nn(dx + (size_t)a * C, C, scratch + (size_t)a * cv, cv, w, C, b - a, C, cv, inv_t, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b - a, C, cv, inv_t, scratch + (size_t)a * cv, cv, w, C,
                    1.0f, dx + (size_t)a * C, C);
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
    int dense = lm_head_dense(targets, N);
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cv = V - v0 < chunk ? V - v0 : chunk;
        const float *wc = w + (size_t)v0 * C;
        lm_head_run_logits(scratch, x, wc, targets, dense, inv_t, N, C, cv);
#pragma omp parallel for if ((long)N * cv > 32768)
        for (int n = 0; n < N; n++) /* rows without a target get dlogits 0 (dw's product reads every row) */
            lm_head_dlogits_row(scratch + (size_t)n * cv, targets[n] >= 0 ? dlogprob[n] : 0.0f, targets[n] - v0,
                                lse[n], cv);
        if (dx && dense)
            lm_head_dx(dx, scratch, wc, inv_t, 0, N, C, cv);
        else if (dx)
            for (int from = 0, a, b; lm_head_next_run(targets, N, &from, &a, &b);)
                lm_head_dx(dx, scratch, wc, inv_t, a, b, C, cv);
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
