/* Attention of new rows against key/value caches (the generation engine's; see include/ilr/kernels.h).
 *
 * Decoding small models spends most of its time here (world-a at batch 64: half of the decode), so the
 * two passes over the cache have AVX2 paths for head sizes that are multiples of 8: the scores 8 keys at a
 * time with one horizontal reduction per 8 keys (one per key was the cost), and the weighted sum of values
 * in registers, 32 dimensions at a time (accumulating into memory stored and reloaded the output on every
 * key).  The scalar loops take the other sizes and the remainders. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ilr/exp_neg.h"
#include "ilr/kernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ILR_CACHED_AVX2 1

/* The 8 horizontal sums of a0..a7, in one vector. */
static inline __m256 sum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
    __m256 s0123 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    __m256 s4567 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
    return _mm256_add_ps(_mm256_permute2f128_ps(s0123, s4567, 0x20), _mm256_permute2f128_ps(s0123, s4567, 0x31));
}

/* s[t] = scale * q . keys[t] for the first multiple of 8 keys of [0, len); returns how many it did. */
static int scores8(float *s, const float *q, const float *keys, size_t KD, int HD, int len, float scale) {
    int t = 0;
    __m256 sc = _mm256_set1_ps(scale);
    for (; t + 8 <= len; t += 8) {
        const float *k = keys + (size_t)t * KD;
        __m256 a[8];
        for (int j = 0; j < 8; j++) a[j] = _mm256_setzero_ps();
        for (int d = 0; d < HD; d += 8) {
            __m256 qd = _mm256_loadu_ps(q + d);
            for (int j = 0; j < 8; j++) a[j] = _mm256_fmadd_ps(qd, _mm256_loadu_ps(k + j * KD + d), a[j]);
        }
        _mm256_storeu_ps(s + t, _mm256_mul_ps(sc, sum8(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])));
    }
    return t;
}

/* o = inv_sum * sum_t w[t] values[t], 32 then 8 dimensions at a time with the sums in registers, two keys at a
 * time into two sets of sums: one set waited on each FMA's latency (4 cycles a key at head size 32). */
static void weighted_values8(float *o, const float *w, const float *values, size_t KD, int HD, int len, float inv_sum) {
    __m256 scale = _mm256_set1_ps(inv_sum);
    int d = 0;
    for (; d + 32 <= HD; d += 32) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int t = 0;
        for (; t + 2 <= len; t += 2) {
            const float *v = values + (size_t)t * KD + d, *u = v + KD;
            __m256 wt = _mm256_set1_ps(w[t]), wu = _mm256_set1_ps(w[t + 1]);
            a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(v), a0);
            a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(v + 8), a1);
            a2 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(v + 16), a2);
            a3 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(v + 24), a3);
            b0 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(u), b0);
            b1 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(u + 8), b1);
            b2 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(u + 16), b2);
            b3 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(u + 24), b3);
        }
        if (t < len) {
            const float *v = values + (size_t)t * KD + d;
            __m256 wt = _mm256_set1_ps(w[t]);
            a0 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(v), a0);
            a1 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(v + 8), a1);
            a2 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(v + 16), a2);
            a3 = _mm256_fmadd_ps(wt, _mm256_loadu_ps(v + 24), a3);
        }
        _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_add_ps(a0, b0), scale));
        _mm256_storeu_ps(o + d + 8, _mm256_mul_ps(_mm256_add_ps(a1, b1), scale));
        _mm256_storeu_ps(o + d + 16, _mm256_mul_ps(_mm256_add_ps(a2, b2), scale));
        _mm256_storeu_ps(o + d + 24, _mm256_mul_ps(_mm256_add_ps(a3, b3), scale));
    }
    for (; d < HD; d += 8) {
        __m256 a = _mm256_setzero_ps(), b = a;
        int t = 0;
        for (; t + 2 <= len; t += 2) {
            a = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(values + (size_t)t * KD + d), a);
            b = _mm256_fmadd_ps(_mm256_set1_ps(w[t + 1]), _mm256_loadu_ps(values + (size_t)(t + 1) * KD + d), b);
        }
        if (t < len) a = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(values + (size_t)t * KD + d), a);
        _mm256_storeu_ps(o + d, _mm256_mul_ps(_mm256_add_ps(a, b), scale));
    }
}
#endif

void ilr_attention_cached(float *out, const float *q, const float *k_cache, const float *v_cache, size_t seq_rows,
                          const int *seq, const int *pos, int n, int NH, int NKV, int HD, float *scores, int max_len) {
    int group = NH / NKV;
    size_t KD = (size_t)NKV * HD;
    float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel for schedule(dynamic, 1)
    for (int job = 0; job < n * NH; job++) {
        int i = job / NH, h = job % NH, kvh = h / group, len = pos[i] + 1, t = 0;
        float *s = scores + (size_t)omp_get_thread_num() * max_len, max = -INFINITY, sum = 0;
        const float *qi = q + ((size_t)i * NH + h) * HD;
        const float *keys = k_cache + (size_t)seq[i] * seq_rows * KD + (size_t)kvh * HD;
        const float *values = v_cache + (size_t)seq[i] * seq_rows * KD + (size_t)kvh * HD;
#ifdef ILR_CACHED_AVX2
        if (HD % 8 == 0) t = scores8(s, qi, keys, KD, HD, len, scale);
#endif
        for (; t < len; t++) {
            const float *k = keys + (size_t)t * KD;
            float dot = 0;
            for (int d = 0; d < HD; d++) dot += qi[d] * k[d];
            s[t] = dot * scale;
        }
#pragma omp simd reduction(max : max)
        for (t = 0; t < len; t++) max = s[t] > max ? s[t] : max;
#pragma omp simd reduction(+ : sum)
        for (t = 0; t < len; t++) sum += s[t] = ilr_exp_neg(s[t] - max); /* vectorised; expf was a call a key */
        float *o = out + ((size_t)i * NH + h) * HD;
#ifdef ILR_CACHED_AVX2
        if (HD % 8 == 0) {
            weighted_values8(o, s, values, KD, HD, len, 1.0f / sum);
            continue;
        }
#endif
        memset(o, 0, sizeof(float) * HD);
        for (t = 0; t < len; t++) {
            const float *v = values + (size_t)t * KD;
            float w = s[t] / sum;
            for (int d = 0; d < HD; d++) o[d] += w * v[d];
        }
    }
}

/* ---- a run of one sequence's new rows (a prompt's prefill) ---- */

size_t ilr_attention_cached_run_scratch_floats(int max_len) { return (size_t)ILR_ATTENTION_RUN_BLOCK * (size_t)max_len; }

void ilr_attention_cached_run(float *out, const float *q, const float *keys, const float *values, int p0, int len,
                              int NH, int NKV, int HD, float *scratch, int max_len) {
    int group = NH / NKV, QD = NH * HD, KD = NKV * HD, blocks = (len + ILR_ATTENTION_RUN_BLOCK - 1) / ILR_ATTENTION_RUN_BLOCK;
    float scale = 1.0f / sqrtf((float)HD);
    size_t per_thread = ilr_attention_cached_run_scratch_floats(max_len);
#pragma omp parallel for schedule(dynamic, 1) if (NH * blocks > 1)
    for (int job = 0; job < NH * blocks; job++) {
        int h = job % NH, r0 = job / NH * ILR_ATTENTION_RUN_BLOCK, m = len - r0 < ILR_ATTENTION_RUN_BLOCK ? len - r0 : ILR_ATTENTION_RUN_BLOCK;
        int ctx = p0 + r0 + m; /* the block's last row sees keys 0 .. ctx - 1 */
        float *s = scratch + (size_t)omp_get_thread_num() * per_thread;
        const float *qh = q + (size_t)r0 * QD + (size_t)h * HD, *kh = keys + (size_t)(h / group) * HD;
        const float *vh = values + (size_t)(h / group) * HD;
        ilr_gemm_nt(s, ctx, qh, QD, kh, KD, m, ctx, HD, scale, 0);
        for (int i = 0; i < m; i++) { /* row i sees keys 0 .. p0 + r0 + i; softmax there, zero after */
            float *si = s + (size_t)i * ctx, max = -INFINITY, sum = 0.0f;
            int seen = p0 + r0 + i + 1;
#pragma omp simd reduction(max : max)
            for (int t = 0; t < seen; t++) max = si[t] > max ? si[t] : max;
#pragma omp simd reduction(+ : sum)
            for (int t = 0; t < seen; t++) sum += si[t] = ilr_exp_neg(si[t] - max);
            float inv = 1.0f / sum;
#pragma omp simd
            for (int t = 0; t < seen; t++) si[t] *= inv;
            for (int t = seen; t < ctx; t++) si[t] = 0.0f;
        }
        ilr_gemm_nn(out + (size_t)r0 * QD + (size_t)h * HD, QD, s, ctx, vh, KD, m, HD, ctx, 1.0f, 0);
    }
}
