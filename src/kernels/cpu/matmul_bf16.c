/* Linear layers with bf16 weights, for inference (the CPU generator's --weights bf16): out = inp @ W^T + bias
 * with W (OUT, IN) stored as bf16 and everything else fp32, products accumulated in fp32.
 *
 * Decoding a few sequences is bound by reading W, so bf16 halves its time.  Few rows (N <= ILR_BF16_FEW_ROWS)
 * take a dot-product kernel that widens 8 weights at a time to fp32 in registers (a bf16 is the upper half of
 * an fp32: zero-extend, shift left 16) and FMAs them into fp32 accumulators, output columns split among the
 * OpenMP threads; each tile of weights is read once for all the rows.  Many rows (a prompt's prefill) are
 * compute-bound: panels of W's rows are widened into the caller's fp32 scratch and multiplied by sgemm. */
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

/* out[r, o + c] for R rows and COLS columns (R * COLS <= 8 accumulators: with the weights, within AVX2's 16
 * registers).  R and COLS are constants at each call, so the loops unroll into registers. */
static inline __attribute__((always_inline)) void tile(float *out, const float *inp, const uint16_t *w,
                                                         const float *bias, int R, int COLS, int o, int IN, int OUT) {
    __m256 acc[4][8];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < COLS; c++) acc[r][c] = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= IN; i += 8) {
        __m256 wv[8];
        for (int c = 0; c < COLS; c++) wv[c] = load8_bf16(w + (size_t)(o + c) * IN + i);
        for (int r = 0; r < R; r++) {
            __m256 x = _mm256_loadu_ps(inp + (size_t)r * IN + i);
            for (int c = 0; c < COLS; c++) acc[r][c] = _mm256_fmadd_ps(x, wv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < COLS; c++)
            out[(size_t)r * OUT + o + c] =
                dot_tail(hsum8(acc[r][c]), inp + (size_t)r * IN, w + (size_t)(o + c) * IN, i, IN, bias, o + c);
}

/* Rows 0..R) (R <= 4) at columns o..o+8). */
static void tile8(float *out, const float *inp, const uint16_t *w, const float *bias, int R, int o, int IN, int OUT) {
    switch (R) {
    case 1: tile(out, inp, w, bias, 1, 8, o, IN, OUT); break;
    case 2: tile(out, inp, w, bias, 2, 4, o, IN, OUT), tile(out, inp, w, bias, 2, 4, o + 4, IN, OUT); break;
    default:
        for (int c = 0; c < 8; c += 2)
            R == 3 ? tile(out, inp, w, bias, 3, 2, o + c, IN, OUT) : tile(out, inp, w, bias, 4, 2, o + c, IN, OUT);
    }
}

/* One column o for rows 0..R) (R <= 4): the columns past the last multiple of 8. */
static void tile1(float *out, const float *inp, const uint16_t *w, const float *bias, int R, int o, int IN, int OUT) {
    switch (R) {
    case 1: tile(out, inp, w, bias, 1, 1, o, IN, OUT); break;
    case 2: tile(out, inp, w, bias, 2, 1, o, IN, OUT); break;
    case 3: tile(out, inp, w, bias, 3, 1, o, IN, OUT); break;
    default: tile(out, inp, w, bias, 4, 1, o, IN, OUT);
    }
}
#else
/* Without AVX2 + FMA: the same tiles as plain loops. */
static void tile_plain(float *out, const float *inp, const uint16_t *w, const float *bias, int R, int COLS, int o,
                       int IN, int OUT) {
    for (int r = 0; r < R; r++)
        for (int c = o; c < o + COLS; c++)
            out[(size_t)r * OUT + c] = dot_tail(0.0f, inp + (size_t)r * IN, w + (size_t)c * IN, 0, IN, bias, c);
}
static void tile8(float *out, const float *inp, const uint16_t *w, const float *bias, int R, int o, int IN, int OUT) {
    tile_plain(out, inp, w, bias, R, 8, o, IN, OUT);
}
static void tile1(float *out, const float *inp, const uint16_t *w, const float *bias, int R, int o, int IN, int OUT) {
    tile_plain(out, inp, w, bias, R, 1, o, IN, OUT);
}
#endif

/* Few rows: tiles of 8 columns x 4 rows, the column tiles split among the threads. */
static void matmul_bf16_few(float *out, const float *inp, const uint16_t *w, const float *bias, int N, int IN, int OUT) {
    int tiles = (OUT + 7) / 8;
#pragma omp parallel for schedule(static) if ((long)OUT * IN > 32768)
    for (int t = 0; t < tiles; t++) {
        int o = t * 8;
        for (int n0 = 0; n0 < N; n0 += 4) {
            int R = N - n0 < 4 ? N - n0 : 4;
            float *orow = out + (size_t)n0 * OUT;
            const float *irow = inp + (size_t)n0 * IN;
            if (o + 8 <= OUT) tile8(orow, irow, w, bias, R, o, IN, OUT);
            else
                for (int c = o; c < OUT; c++) tile1(orow, irow, w, bias, R, c, IN, OUT);
        }
    }
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
                             int OUT, float *scratch, size_t scratch_floats) {
    if (N <= 0 || OUT <= 0) return;
    if (IN <= 0) {
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++) out[(size_t)n * OUT + o] = bias ? bias[o] : 0.0f;
        return;
    }
    if (N <= ILR_BF16_FEW_ROWS || !scratch || scratch_floats < (size_t)IN)
        matmul_bf16_few(out, inp, weight, bias, N, IN, OUT);
    else
        matmul_bf16_panels(out, inp, weight, bias, N, IN, OUT, scratch, scratch_floats);
}
