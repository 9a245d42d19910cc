/* Grouped-query causal self-attention over a right-padded batch with per-sequence lengths, optionally with
 * several segments packed in a row: a segment starts where pos is not the previous position + 1; one whose first
 * position is 0 starts a document, and one whose first position is s > 0 attends to its document's first s tokens
 * (a prefix shared by the document's segments) and causally to itself.  Each segment is attended on its own: its
 * causal block, and the (len, s) rectangle against the prefix.
 * Layouts: q, out (B, T, NH, HD); k, v (B, T, NKV, HD); att (B, NH, T, T).  Query head h reads kv head
 * h / (NH / NKV).  Only real tokens (t < lengths[b]) are ever read as queries or keys.
 *
 * The inner products run through BLAS sgemm, one (b, h) head at a time: the len real tokens of a head are a
 * strided matrix (row stride NH*HD for q/out/dq, NKV*HD for k/v/dk/dv), and only the causal part of each
 * len x len product is formed, in row blocks of ATT_BLOCK.  Heads run in parallel with single-threaded sgemm
 * when there are at least as many tasks as threads, otherwise in order with sgemm using the threads.  The
 * backward's per-thread buffers come from the caller (ilr_attention_backward_scratch_floats); it never allocates. */
#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/exp_neg.h"
#include "ilr/kernels.h"

enum { ATT_BLOCK = 64 }; /* rows per causal block: the part above the diagonal costs at most this much */

/* Row strides of one head's token matrices and the score scale. */
typedef struct {
    int T, qs, ks, HD; /* T: att's row stride; qs = NH * HD (q, out, dq, dout), ks = NKV * HD (k, v, dk, dv) */
    float scale;
} attn_dims;

/* The end of the segment that starts at t in a row of len tokens: the next t whose position is not its
 * predecessor's + 1, or len. */
static int attention_span_end(const int *pos_row, int t, int len) {
    int e = t + 1;
    if (pos_row)
        while (e < len && pos_row[e] == pos_row[e - 1] + 1) e++;
    else e = len;
    return e;
}

/* The shared prefix of the segment that starts at t: its first position (0 without positions), the length of
 * the prefix that starts its document at *doc; a segment of prefix 0 starts a document (*doc = t). */
static int attention_span_prefix(const int *pos_row, int t, int *doc) {
    int s = pos_row ? pos_row[t] : 0;
    if (s == 0) *doc = t;
    assert(s >= 0 && s <= t - *doc);
    return s;
}

static int attention_min(int a, int b) { return a < b ? a : b; }

/* Real length of sequence b, clamped to [0, T]. */
static int attention_len(const int *lengths, int b, int T) {
    int len = lengths[b];
    return len < 0 ? 0 : len > T ? T : len;
}

/* c (len, len; ldc) = alpha * a (len, K; lda) @ b (len, K; ldb)^T, on the causal part only: the row block
 * r0..r1 gets columns 0..r1; entries after r1 are not written. */
static void attention_gemm_causal_abt(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int len,
                                      int K, float alpha) {
    for (int r0 = 0; r0 < len; r0 += ATT_BLOCK) {
        int m = attention_min(ATT_BLOCK, len - r0);
        ilr_gemm_nt(c + (size_t)r0 * ldc, ldc, a + (size_t)r0 * lda, lda, b, ldb, m, r0 + m, K, alpha, 0);
    }
}

/* c (len, N; ldc) = p (len, len; ldp) @ b (len, N; ldb), or += when accumulate, p lower triangular (zero after
 * the diagonal; only its causal blocks are read). */
static void attention_gemm_causal_ab(float *c, int ldc, const float *p, int ldp, const float *b, int ldb, int len,
                                     int N, int accumulate) {
    for (int r0 = 0; r0 < len; r0 += ATT_BLOCK) {
        int m = attention_min(ATT_BLOCK, len - r0);
        ilr_gemm_nn(c + (size_t)r0 * ldc, ldc, p + (size_t)r0 * ldp, ldp, b, ldb, m, N, r0 + m, 1.0f, accumulate);
    }
}

/* c (len, N; ldc) += p (len, len; ldp)^T @ b (len, N; ldb), p lower triangular: the row block c0..c1 of c
 * reads p's rows c0..len-1 and columns c0..c1. */
static void attention_gemm_causal_atb(float *c, int ldc, const float *p, int ldp, const float *b, int ldb, int len,
                                      int N) {
    for (int c0 = 0; c0 < len; c0 += ATT_BLOCK) {
        int m = attention_min(ATT_BLOCK, len - c0);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, N, len - c0, 1.0f, p + (size_t)c0 * ldp + c0, ldp,
                    b + (size_t)c0 * ldb, ldb, 1.0f, c + (size_t)c0 * ldc, ldc);
    }
}

/* c (M, N; ldc) += a (K, M)^T @ b (K, N). */
static void attention_gemm_tn_acc(float *c, int ldc, const float *a, int lda, const float *b, int ldb, int M, int N,
                                  int K) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, a, lda, b, ldb, 1.0f, c, ldc);
}

/* a (n): scores, in place -> softmax (max-subtracted). */
static void attention_softmax(float *a, int n) {
    float maxv = -INFINITY, sum = 0.0f;
    for (int j = 0; j < n; j++) maxv = a[j] > maxv ? a[j] : maxv;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) sum += a[j] = ilr_exp_neg(a[j] - maxv); /* vectorised; expf was a call a score */
    float inv = 1.0f / sum;
    for (int j = 0; j < n; j++) a[j] *= inv;
}

/* The same over the scores of a prefix, pre (s), and of the segment's own keys, own (n): one distribution. */
static void attention_softmax2(float *pre, int s, float *own, int n) {
    float maxv = -INFINITY, sum = 0.0f;
    for (int j = 0; j < s; j++) maxv = pre[j] > maxv ? pre[j] : maxv;
    for (int j = 0; j < n; j++) maxv = own[j] > maxv ? own[j] : maxv;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < s; j++) sum += pre[j] = ilr_exp_neg(pre[j] - maxv);
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < n; j++) sum += own[j] = ilr_exp_neg(own[j] - maxv);
    float inv = 1.0f / sum;
    for (int j = 0; j < s; j++) pre[j] *= inv;
    for (int j = 0; j < n; j++) own[j] *= inv;
}

/* att (len rows, row stride T): rows t hold scores at columns 0..t, which become their softmax, and whatever
 * the causal block product left at columns t+1..len-1, which become zero.  (The slice outside the span's
 * block is zeroed by the caller.) */
static void attention_softmax_rows(float *att, int len, int T) {
    for (int t = 0; t < len; t++) {
        float *a = att + (size_t)t * T;
        attention_softmax(a, t + 1);
        memset(a + t + 1, 0, (size_t)(len - t - 1) * sizeof(float));
    }
}

/* The same for a segment with a shared prefix: row t's distribution spans pre's s columns and att's 0..t
 * (both row stride T). */
static void attention_softmax_rows_prefix(float *pre, float *att, int s, int len, int T) {
    for (int t = 0; t < len; t++) {
        float *a = att + (size_t)t * T;
        attention_softmax2(pre + (size_t)t * T, s, a, t + 1);
        memset(a + t + 1, 0, (size_t)(len - t - 1) * sizeof(float));
    }
}

/* One span of one (b, h).  q, out: the span's first token in head h (row stride qs); k, v: the same token
 * in its kv head (row stride ks); att: the span's diagonal block of the (T, T) slice of (b, h).
 * out (len, HD) = softmax(causal(q k^T * scale)) @ v.
 * With a shared prefix (s > 0): kp, vp, the document's first token in the kv head; pre, the span's rows of the
 * slice at the document's first column; the scores against the prefix's s keys join the causal ones in each row's
 * softmax. */
static void attention_head_forward(float *out, float *att, float *pre, const float *q, const float *k, const float *v,
                                   const float *kp, const float *vp, int s, int len, const attn_dims *d) {
    attention_gemm_causal_abt(att, d->T, q, d->qs, k, d->ks, len, d->HD, d->scale);
    if (s == 0) {
        attention_softmax_rows(att, len, d->T);
        attention_gemm_causal_ab(out, d->qs, att, d->T, v, d->ks, len, d->HD, 0);
        return;
    }
    ilr_gemm_nt(pre, d->T, q, d->qs, kp, d->ks, len, s, d->HD, d->scale, 0); /* the prefix rectangle */
    attention_softmax_rows_prefix(pre, att, s, len, d->T);
    attention_gemm_causal_ab(out, d->qs, att, d->T, v, d->ks, len, d->HD, 0);
    ilr_gemm_nn(out, d->qs, pre, d->T, vp, d->ks, len, d->HD, s, 1.0f, 1);
}

/* q, out: (B, T, NH, HD)   k, v: (B, T, NKV, HD)   att: (B, NH, T, T).  Padding rows get out = 0, att = 0. */
void ilr_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                           const int *lengths, const int *pos, int B, int T, int NH, int NKV, int HD) {
    if (B <= 0 || T <= 0 || NH <= 0 || HD <= 0) return;
    attn_dims d = {T, NH * HD, NKV * HD, HD, 1.0f / sqrtf((float)HD)};
    int group = NH / NKV, tasks = B * NH;
#pragma omp parallel for schedule(dynamic, 1) if (tasks >= omp_get_max_threads())
    for (int bh = 0; bh < tasks; bh++) {
        int b = bh / NH, h = bh % NH, len = attention_len(lengths, b, T);
        size_t qo = (size_t)b * T * NH * HD + (size_t)h * HD, ko = ((size_t)b * T * NKV + h / group) * HD;
        float *slice = att + (size_t)bh * T * T;
        memset(slice, 0, (size_t)T * T * sizeof(float));
        const int *pos_row = pos ? pos + (size_t)b * T : NULL;
        for (int s0 = 0, s1, doc = 0; s0 < len; s0 = s1) {
            s1 = attention_span_end(pos_row, s0, len);
            int s = attention_span_prefix(pos_row, s0, &doc);
            attention_head_forward(out + qo + (size_t)s0 * d.qs, slice + (size_t)s0 * T + s0,
                                   slice + (size_t)s0 * T + doc, q + qo + (size_t)s0 * d.qs, k + ko + (size_t)s0 * d.ks,
                                   v + ko + (size_t)s0 * d.ks, k + ko + (size_t)doc * d.ks, v + ko + (size_t)doc * d.ks,
                                   s, s1 - s0, &d);
        }
        for (int t = len; t < T; t++) memset(out + qo + (size_t)t * d.qs, 0, (size_t)HD * sizeof(float));
    }
}

/* ds (len, np + len; ld) holds dP = dout v^T: against the np prefix keys in its first np columns, against the
 * span's own keys on the causal blocks after them; becomes dS = scale * P (dP - D) with D_t = sum_j P_tj dP_tj
 * (over both), zero after the diagonal.  att: P of the own keys, pre: P of the prefix keys (len rows, row
 * stride T; pre unread when np = 0). */
static void attention_softmax_backward_rows(float *ds, int ld, const float *pre, const float *att, int np, int len,
                                            int T, float scale) {
    for (int t = 0; t < len; t++) {
        float *sp = ds + (size_t)t * ld, *s = sp + np, D = 0.0f;
        const float *p = att + (size_t)t * T, *pp = pre ? pre + (size_t)t * T : NULL;
        for (int j = 0; j < np; j++) D += pp[j] * sp[j];
        for (int j = 0; j <= t; j++) D += p[j] * s[j];
        for (int j = 0; j < np; j++) sp[j] = scale * pp[j] * (sp[j] - D);
        for (int j = 0; j <= t; j++) s[j] = scale * p[j] * (s[j] - D);
        memset(s + t + 1, 0, (size_t)(len - t - 1) * sizeof(float));
    }
}

/* One span's gradient pointers: its own rows (dq, dk, dv) and, for dk and dv, its document's first (the prefix's). */
typedef struct {
    float *dq, *dk, *dv, *dkp, *dvp;
} attn_grads;

/* One span of one (b, h), pointers as in attention_head_forward plus dout (row stride qs) and ds, a
 * (len, s + len) buffer.
 * Accumulates dq (len, HD) += dS k, dk (len, HD) += dS^T q, dv (len, HD) += P^T dout (any may be NULL), and with
 * a shared prefix (s > 0) the prefix's terms: dq += dS_pre kp, dkp (s, HD) += dS_pre^T q, dvp (s, HD) += P_pre^T dout. */
static void attention_head_backward(const attn_grads *g, float *ds, const float *dout, const float *q, const float *k,
                                    const float *v, const float *kp, const float *vp, const float *att,
                                    const float *pre, int s, int len, const attn_dims *d) {
    int ld = s + len;
    if (g->dq || g->dk) {
        if (s) ilr_gemm_nt(ds, ld, dout, d->qs, vp, d->ks, len, s, d->HD, 1.0f, 0);
        attention_gemm_causal_abt(ds + s, ld, dout, d->qs, v, d->ks, len, d->HD, 1.0f);
        attention_softmax_backward_rows(ds, ld, s ? pre : NULL, att, s, len, d->T, d->scale);
        if (g->dq) attention_gemm_causal_ab(g->dq, d->qs, ds + s, ld, k, d->ks, len, d->HD, 1);
        if (g->dq && s) ilr_gemm_nn(g->dq, d->qs, ds, ld, kp, d->ks, len, d->HD, s, 1.0f, 1);
        if (g->dk) attention_gemm_causal_atb(g->dk, d->ks, ds + s, ld, q, d->qs, len, d->HD);
        if (g->dk && s) attention_gemm_tn_acc(g->dkp, d->ks, ds, ld, q, d->qs, s, d->HD, len);
    }
    if (g->dv) attention_gemm_causal_atb(g->dv, d->ks, att, d->T, dout, d->qs, len, d->HD);
    if (g->dv && s) attention_gemm_tn_acc(g->dvp, d->ks, pre, d->T, dout, d->qs, s, d->HD, len);
}

size_t ilr_attention_backward_scratch_floats(int T, int threads) {
    return (size_t)(threads > 1 ? threads : 1) * (size_t)T * (size_t)T;
}

/* Accumulates into dq (B, T, NH, HD), dk and dv (B, T, NKV, HD).  Parallel over (b, kv head g), the group's
 * query heads and a row's spans in order inside, so each dk/dv row (a shared prefix's included) has one writer.
 * Each thread works in a buffer of scratch of the largest span's len * (s + len) floats: as many threads as
 * scratch holds buffers, at most. */
void ilr_attention_backward(float *dq, float *dk, float *dv, float *scratch, size_t scratch_floats, const float *dout,
                            const float *q, const float *k, const float *v, const float *att, const int *lengths,
                            const int *pos, int B, int T, int NH, int NKV, int HD) {
    if (B <= 0 || T <= 0 || NH <= 0 || HD <= 0 || !(dq || dk || dv)) return;
    attn_dims d = {T, NH * HD, NKV * HD, HD, 1.0f / sqrtf((float)HD)};
    int tasks = B * NKV;
    const int group = NH / NKV;
    size_t L2 = 0; /* the largest span's buffer: len * (s + len) <= T * T, as s <= the span's start */
    for (int b = 0; b < B; b++) {
        int len = attention_len(lengths, b, T);
        const int *pos_row = pos ? pos + (size_t)b * T : NULL;
        for (int s0 = 0, s1, doc = 0; s0 < len; s0 = s1) {
            s1 = attention_span_end(pos_row, s0, len);
            size_t need = (size_t)(s1 - s0) * (size_t)(attention_span_prefix(pos_row, s0, &doc) + s1 - s0);
            L2 = need > L2 ? need : L2;
        }
    }
    if (L2 == 0) return;
    assert(scratch_floats >= (size_t)T * T); /* ilr_attention_backward_scratch_floats(T, 1) at least */
    /* fewer tasks than threads: one at a time, each with the threads of its matrix products */
    size_t buffers = scratch_floats / L2;
    int threads = tasks >= omp_get_max_threads() ? omp_get_max_threads() : 1;
    if ((size_t)threads > buffers) threads = (int)buffers;
    float *buf = (dq || dk) ? scratch : NULL;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
    for (int bg = 0; bg < tasks; bg++) {
        int b = bg / NKV, g = bg % NKV, len = attention_len(lengths, b, T);
        float *ds = buf ? buf + (size_t)omp_get_thread_num() * L2 : NULL;
        const int *pos_row = pos ? pos + (size_t)b * T : NULL;
        size_t ko = ((size_t)b * T * NKV + g) * HD;
        for (int h = g * group; h < (g + 1) * group; h++) {
            size_t qo = (size_t)b * T * NH * HD + (size_t)h * HD;
            const float *slice = att + ((size_t)b * NH + h) * T * T;
            for (int s0 = 0, s1, doc = 0; s0 < len; s0 = s1) {
                s1 = attention_span_end(pos_row, s0, len);
                int s = attention_span_prefix(pos_row, s0, &doc);
                size_t qs0 = qo + (size_t)s0 * d.qs, ks0 = ko + (size_t)s0 * d.ks, kp = ko + (size_t)doc * d.ks;
                attn_grads gr = {dq ? dq + qs0 : NULL, dk ? dk + ks0 : NULL, dv ? dv + ks0 : NULL, dk ? dk + kp : NULL,
                                 dv ? dv + kp : NULL};
                attention_head_backward(&gr, ds, dout + qs0, q + qs0, k + ks0, v + ks0, k + kp, v + kp,
                                        slice + (size_t)s0 * T + s0, slice + (size_t)s0 * T + doc, s, s1 - s0, &d);
            }
        }
    }
}
