/* Linear layers with bf16 weights, for inference (the CPU generator's --weights bf16): out = inp @ W^T + bias
 * with W (OUT, IN) stored as bf16 and everything else fp32, products accumulated in fp32.
 *
 * Decoding a few sequences is bound by reading W, so bf16 halves its time.  Few rows (N <= ILR_BF16_FEW_ROWS)
 * take a dot-product kernel that widens 8 weights at a time to fp32 in registers (a bf16 is the upper half of
 * an fp32: zero-extend, shift left 16) and FMAs them into fp32 accumulators, output columns split among the
 * OpenMP threads; each weight row is streamed front to back once for up to 4 input rows.  Many rows (a
 * prompt's prefill) are compute-bound: where the build has AVX512_BF16 they are multiplied in bf16
 * (matmul_bf16_dp.c, vdpbf16ps: 2.4x sgemm's rate with the activations rounded to bf16, 1.2x with them split
 * into hi + lo); elsewhere panels of W's rows are widened into the caller's fp32 scratch and multiplied by
 * sgemm. */
#include <cblas.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "ilr/bf16.h"
#include "ilr/kernels.h"

void ilr_bf16_round(uint16_t *dst, const float *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) dst[i] = ilr_f32_to_bf16(src[i]);
}

/* dst (n) = src widened to fp32 (exact). */
static void widen(float *dst, const uint16_t *src, size_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)src[i] << 16;
        memcpy(dst + i, &bits, 4);
    }
}

/* The tail of a dot product past the last full block of 8, and the bias. */
static inline float dot_tail(float sum, const float *x, const uint16_t *w, int from, int IN, const float *bias, int o) {
    for (int i = from; i < IN; i++) sum += x[i] * ilr_bf16_to_f32(w[i]);
    return bias ? sum + bias[o] : sum;
}

#if defined(__AVX2__) && defined(__FMA__)
/* 8 bf16 at p, widened to fp32. */
static inline __m256 load8_bf16(const uint16_t *p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* out[r, o] for rows 0..R) (R <= 4): weight row o read front to back, one sequential stream the hardware
 * prefetcher follows (interleaving 8 rows' streams, as an earlier version did, streamed ~25 % slower on one
 * core), U accumulators per row for the FMA latency.  R and U are constants at each call, so the loops unroll
 * into registers. */
static inline __attribute__((always_inline)) void dot_rows(float *out, const float *inp, const uint16_t *w,
                                                             const float *bias, int R, int U, int o, int IN, int OUT) {
    const uint16_t *wo = w + (size_t)o * IN;
    __m256 acc[4][4];
    for (int r = 0; r < R; r++)
        for (int u = 0; u < U; u++) acc[r][u] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 * U <= IN; i += 8 * U)
        for (int u = 0; u < U; u++) {
            __m256 wv = load8_bf16(wo + i + 8 * u);
            for (int r = 0; r < R; r++)
                acc[r][u] = _mm256_fmadd_ps(_mm256_loadu_ps(inp + (size_t)r * IN + i + 8 * u), wv, acc[r][u]);
        }
    for (; i + 8 <= IN; i += 8) {
        __m256 wv = load8_bf16(wo + i);
        for (int r = 0; r < R; r++) acc[r][0] = _mm256_fmadd_ps(_mm256_loadu_ps(inp + (size_t)r * IN + i), wv, acc[r][0]);
    }
    for (int r = 0; r < R; r++) {
        for (int u = 1; u < U; u++) acc[r][0] = _mm256_add_ps(acc[r][0], acc[r][u]);
        out[(size_t)r * OUT + o] = dot_tail(hsum8(acc[r][0]), inp + (size_t)r * IN, wo, i, IN, bias, o);
    }
}

/* Column o for rows 0..R) (R <= 4). */
static void column(float *out, const float *inp, const uint16_t *w, const float *bias, int R, int o, int IN, int OUT) {
    switch (R) {
    case 1: dot_rows(out, inp, w, bias, 1, 4, o, IN, OUT); break;
    case 2: dot_rows(out, inp, w, bias, 2, 2, o, IN, OUT); break;
    case 3: dot_rows(out, inp, w, bias, 3, 2, o, IN, OUT); break;
    default: dot_rows(out, inp, w, bias, 4, 2, o, IN, OUT);
    }
}
#else
/* Without AVX2 + FMA: the same as a plain loop. */
static void column(float *out, const float *inp, const uint16_t *w, const float *bias, int R, int o, int IN, int OUT) {
    for (int r = 0; r < R; r++)
        out[(size_t)r * OUT + o] = dot_tail(0.0f, inp + (size_t)r * IN, w + (size_t)o * IN, 0, IN, bias, o);
}
#endif

/* Few rows: the output columns split among the threads, each weight row read once per 4 input rows (the
 * later reads of a row find it in L1). */
static void matmul_bf16_few(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int IN, int OUT) {
#pragma omp parallel for schedule(static) if ((long)OUT * IN > 32768)
    for (int o = 0; o < OUT; o++)
        for (int n0 = 0; n0 < N; n0 += 4)
            column(out + (size_t)n0 * OUT, inp + (size_t)n0 * IN, w, bias, N - n0 < 4 ? N - n0 : 4, o, IN, OUT);
}

/* Many rows: panels of W's rows widened into scratch, each multiplied by sgemm into its columns of out. */
static void matmul_bf16_panels(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int IN,
                               int OUT, float *scratch, size_t scratch_floats) {
    int P = scratch_floats / (size_t)IN < (size_t)OUT ? (int)(scratch_floats / (size_t)IN) : OUT;
    if (bias) {
#pragma omp parallel for if ((long)N * OUT > 65536)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OUT, bias, (size_t)OUT * sizeof(float));
    }
    for (int o0 = 0; o0 < OUT; o0 += P) {
        int p = OUT - o0 < P ? OUT - o0 : P;
        widen(scratch, w + (size_t)o0 * IN, (size_t)p * IN);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, p, IN, 1.0f, inp, IN, scratch, IN, bias ? 1.0f : 0.0f,
                    out + o0, OUT);
    }
}

void ilr_matmul_bf16_forward(float *out, const float *inp, const uint16_t *weight, const float *bias, int N, int IN,
                             int OUT, int acts_bf16, float *scratch, size_t scratch_floats) {
    if (N <= 0 || OUT <= 0) return;
    if (IN <= 0) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++) out[(size_t)n * OUT + o] = bias ? bias[o] : 0.0f;
        return;
    }
    if (N > ILR_BF16_FEW_ROWS && scratch && !ilr_matmul_bf16_dp(out, inp, weight, bias, N, IN, OUT, !acts_bf16, scratch,
                                                                 scratch_floats))
        return;
    if (N <= ILR_BF16_FEW_ROWS || !scratch || scratch_floats < (size_t)IN)
        matmul_bf16_few(out, inp, weight, bias, N, IN, OUT);
    else
        matmul_bf16_panels(out, inp, weight, bias, N, IN, OUT, scratch, scratch_floats);
}
