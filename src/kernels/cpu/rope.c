/* Rotary position embedding, Hugging Face rotate_half layout (pairs i and i + HD/2), with optional llama3
 * frequency scaling. */
#include <math.h>

#include "ilr/kernels.h"

/* transformers' _compute_llama3_parameters for one frequency: long wavelengths are divided by factor, short
 * ones kept, the band between interpolated smoothly. */
static double rope_llama3_inv_freq(double inv_freq, const ilr_rope_scaling *s) {
    double orig = s->original_max_position;
    double low_freq_wavelen = orig / s->low_freq_factor, high_freq_wavelen = orig / s->high_freq_factor;
    double wavelen = 2.0 * M_PI / inv_freq;
    double inv_freq_llama = wavelen > low_freq_wavelen ? inv_freq / s->factor : inv_freq;
    double smooth = (orig / wavelen - s->low_freq_factor) / (s->high_freq_factor - s->low_freq_factor);
    double smoothed = (1.0 - smooth) * inv_freq_llama / s->factor + smooth * inv_freq_llama;
    int medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    return medium ? smoothed : inv_freq_llama;
}

/* cos, sin: (T, HD/2), angle = pos * inv_freq[j] in double, rounded to float. */
void ilr_rope_table(float *cos_table, float *sin_table, int T, int HD, double theta,
                    const ilr_rope_scaling *scaling) {
    int half = HD / 2;
    if (half <= 0 || T <= 0) return;
    double inv_freq[half];
    for (int j = 0; j < half; j++) {
        inv_freq[j] = 1.0 / pow(theta, (double)(2 * j) / HD);
        if (scaling && scaling->factor > 0) inv_freq[j] = rope_llama3_inv_freq(inv_freq[j], scaling);
    }
#pragma omp parallel for if ((long)T * half > 16384)
    for (int t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            double angle = (double)t * inv_freq[j];
            cos_table[(size_t)t * half + j] = (float)cos(angle);
            sin_table[(size_t)t * half + j] = (float)sin(angle);
        }
}

/* x: (N, H, HD) rotated in place by angle +pos[n] (sign = 1) or -pos[n] (sign = -1, the inverse). */
static void rope_rotate(float *x, const float *cos_table, const float *sin_table, const int *pos, int N, int H,
                        int HD, float sign) {
    int half = HD / 2;
#pragma omp parallel for if ((long)N * H * HD > 32768)
    for (long r = 0; r < (long)N * H; r++) {
        const float *c = cos_table + (size_t)pos[r / H] * half, *s = sin_table + (size_t)pos[r / H] * half;
        float *x1 = x + (size_t)r * HD, *x2 = x1 + half;
        for (int i = 0; i < half; i++) {
            float a = x1[i], b = x2[i], si = sign * s[i];
            x1[i] = a * c[i] - b * si;
            x2[i] = b * c[i] + a * si;
        }
    }
}

/* x: (N, H, HD) in place:  x'[i] = x[i] c - x[i + HD/2] s,  x'[i + HD/2] = x[i + HD/2] c + x[i] s. */
void ilr_rope_forward(float *x, const float *cos_table, const float *sin_table, const int *pos, int N, int H,
                      int HD) {
    rope_rotate(x, cos_table, sin_table, pos, N, H, HD, 1.0f);
}

/* dx: (N, H, HD) in place, the transposed (inverse) rotation.  Not accumulating. */
void ilr_rope_backward(float *dx, const float *cos_table, const float *sin_table, const int *pos, int N, int H,
                       int HD) {
    rope_rotate(dx, cos_table, sin_table, pos, N, H, HD, -1.0f);
}
