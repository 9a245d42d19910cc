/* Attention of new rows against key/value caches (the generation engine's; see include/ilr/kernels.h). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "ilr/kernels.h"

void ilr_attention_cached(float *out, const float *q, const float *k_cache, const float *v_cache, size_t seq_rows,
                          const int *seq, const int *pos, int n, int NH, int NKV, int HD, float *scores, int max_len) {
    int group = NH / NKV;
    size_t KD = (size_t)NKV * HD;
    float scale = 1.0f / sqrtf((float)HD);
#pragma omp parallel for schedule(dynamic, 1)
    for (int job = 0; job < n * NH; job++) {
        int i = job / NH, h = job % NH, kvh = h / group, len = pos[i] + 1;
        float *s = scores + (size_t)omp_get_thread_num() * max_len, max = -INFINITY, sum = 0;
        const float *qi = q + ((size_t)i * NH + h) * HD;
        const float *keys = k_cache + (size_t)seq[i] * seq_rows * KD + (size_t)kvh * HD;
        const float *values = v_cache + (size_t)seq[i] * seq_rows * KD + (size_t)kvh * HD;
        for (int t = 0; t < len; t++) {
            const float *k = keys + (size_t)t * KD;
            float dot = 0;
            for (int d = 0; d < HD; d++) dot += qi[d] * k[d];
            s[t] = dot * scale;
            max = fmaxf(max, s[t]);
        }
        for (int t = 0; t < len; t++) sum += s[t] = expf(s[t] - max);
        float *o = out + ((size_t)i * NH + h) * HD;
        memset(o, 0, sizeof(float) * HD);
        for (int t = 0; t < len; t++) {
            const float *v = values + (size_t)t * KD;
            float w = s[t] / sum;
            for (int d = 0; d < HD; d++) o[d] += w * v[d];
        }
    }
}
