/* Grouped-query causal self-attention over a right-padded batch with per-sequence lengths.
 * Layouts: q, out (B, T, NH, HD); k, v (B, T, NKV, HD); att (B, NH, T, T).  Query head h reads kv head
 * h / (NH / NKV).  Only real tokens (t < lengths[b]) are ever read as queries or keys. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/kernels.h"

static float attention_dot(const float *a, const float *b, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* y (n) += a * x. */
static void attention_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* One real query row at position t: att (T) = softmax over keys 0..t of q.k * scale (zero after t),
 * out (HD) = att @ v.  k, v point at key 0 of this kv head; consecutive keys are kv_stride apart. */
static void attention_row_forward(float *out, float *att, const float *q, const float *k, const float *v, int t,
                                  int T, int kv_stride, int HD, float scale) {
    float maxv = -INFINITY, sum = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) {
        att[t2] = attention_dot(q, k + (size_t)t2 * kv_stride, HD) * scale;
        maxv = att[t2] > maxv ? att[t2] : maxv;
    }
    for (int t2 = 0; t2 <= t; t2++) {
        att[t2] = expf(att[t2] - maxv);
        sum += att[t2];
    }
    float inv = 1.0f / sum;
    for (int t2 = 0; t2 <= t; t2++) att[t2] *= inv;
    for (int t2 = t + 1; t2 < T; t2++) att[t2] = 0.0f;
    memset(out, 0, (size_t)HD * sizeof(float));
    for (int t2 = 0; t2 <= t; t2++) attention_axpy(out, att[t2], v + (size_t)t2 * kv_stride, HD);
}

/* q, out: (B, T, NH, HD)   k, v: (B, T, NKV, HD)   att: (B, NH, T, T).  Padding rows get out = 0, att = 0. */
void ilr_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                           const int *lengths, int B, int T, int NH, int NKV, int HD) {
    float scale = 1.0f / sqrtf((float)HD);
    int group = NH / NKV, kv_stride = NKV * HD;
#pragma omp parallel for collapse(3) schedule(dynamic, 4)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                size_t row = ((size_t)b * T + t) * NH + h;
                float *o = out + row * HD, *a = att + (((size_t)b * NH + h) * T + t) * T;
                if (t >= lengths[b]) {
                    memset(o, 0, (size_t)HD * sizeof(float));
                    memset(a, 0, (size_t)T * sizeof(float));
                    continue;
                }
                size_t kv0 = ((size_t)b * T * NKV + h / group) * HD;
                attention_row_forward(o, a, q + row * HD, k + kv0, v + kv0, t, T, kv_stride, HD, scale);
            }
}

/* One real query row at t: datt (t+1) = dout . v[t2];  returns D = sum att * datt (= dout . out), and
 * accumulates dq (HD) += scale * sum att (datt - D) k[t2] when dq is non-NULL. */
static float attention_row_backward_q(float *dq, float *datt, const float *dout, const float *att, const float *k,
                                      const float *v, int t, int kv_stride, int HD, float scale) {
    float D = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) {
        datt[t2] = attention_dot(dout, v + (size_t)t2 * kv_stride, HD);
        D += att[t2] * datt[t2];
    }
    if (dq)
        for (int t2 = 0; t2 <= t; t2++)
            attention_axpy(dq, scale * att[t2] * (datt[t2] - D), k + (size_t)t2 * kv_stride, HD);
    return D;
}

/* Pass 1, parallel over query rows: dq, and D[b, h, t] for pass 2 (when D is non-NULL). */
static void attention_backward_q(float *dq, float *D, const float *dout, const float *k, const float *v,
                                 const float *att, const int *lengths, int B, int T, int NH, int NKV, int HD) {
    float scale = 1.0f / sqrtf((float)HD);
    int group = NH / NKV, kv_stride = NKV * HD;
#pragma omp parallel for collapse(3) schedule(dynamic, 4)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                if (t >= lengths[b]) continue;
                float datt[t + 1];
                size_t row = ((size_t)b * T + t) * NH + h, kv0 = ((size_t)b * T * NKV + h / group) * HD;
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float d = attention_row_backward_q(dq ? dq + row * HD : NULL, datt, dout + row * HD, a, k + kv0,
                                                   v + kv0, t, kv_stride, HD, scale);
                if (D) D[((size_t)b * NH + h) * T + t] = d;
            }
}

/* Pass 2, parallel over (b, key t2, kv head g): every query (h in g, t >= t2) that read key t2 adds
 * dv[t2] += att dout and dk[t2] += scale * att (datt - D) q.  Each dk/dv row has one owner: no races. */
static void attention_backward_kv(float *dk, float *dv, const float *D, const float *dout, const float *q,
                                  const float *v, const float *att, const int *lengths, int B, int T, int NH,
                                  int NKV, int HD) {
    float scale = 1.0f / sqrtf((float)HD);
    int group = NH / NKV;
#pragma omp parallel for collapse(3) schedule(dynamic, 4)
    for (int b = 0; b < B; b++)
        for (int t2 = 0; t2 < T; t2++)
            for (int g = 0; g < NKV; g++) {
                int len = lengths[b];
                if (t2 >= len) continue;
                float gk[HD], gv[HD];
                memset(gk, 0, sizeof gk);
                memset(gv, 0, sizeof gv);
                size_t kvrow = ((size_t)b * T + t2) * NKV + g;
                for (int h = g * group; h < (g + 1) * group; h++)
                    for (int t = t2; t < len; t++) {
                        size_t row = ((size_t)b * T + t) * NH + h, bh = (size_t)b * NH + h;
                        float a = att[(bh * T + t) * T + t2];
                        const float *d = dout + row * HD;
                        if (dv) attention_axpy(gv, a, d, HD);
                        if (dk) {
                            float datt = attention_dot(d, v + kvrow * HD, HD);
                            attention_axpy(gk, scale * a * (datt - D[bh * T + t]), q + row * HD, HD);
                        }
                    }
                if (dk) attention_axpy(dk + kvrow * HD, 1.0f, gk, HD);
                if (dv) attention_axpy(dv + kvrow * HD, 1.0f, gv, HD);
            }
}

/* Accumulates into dq (B, T, NH, HD), dk and dv (B, T, NKV, HD).  D = scratch (B, NH, T): rowwise dout . out. */
void ilr_attention_backward(float *dq, float *dk, float *dv, float *scratch, const float *dout, const float *q,
                            const float *k, const float *v, const float *att, const int *lengths, int B, int T,
                            int NH, int NKV, int HD) {
    if (B <= 0 || T <= 0 || HD <= 0) return;
    float *D = dk ? scratch : NULL;
    if (dq || dk) attention_backward_q(dq, D, dout, k, v, att, lengths, B, T, NH, NKV, HD);
    if (dk || dv) attention_backward_kv(dk, dv, D, dout, q, v, att, lengths, B, T, NH, NKV, HD);
}
