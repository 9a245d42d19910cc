/* Linear layers for a few rows (decoding a batch of sequences): out = inp @ W^T + bias with W (OUT, IN) in fp32.
 *
 * sgemm packs W into its panel layout on every call; for 2-16 rows that copy reads and writes every weight once
 * more than the product itself does, and perf put OpenBLAS's copy routine (sgemm_incopy) above its kernel in a
 * batch-8 decode of the `small` model (33 % vs 26 % of the time).  Here weight rows are read where they lie, two
 * at a time, front to back with a software prefetch far ahead, each once per 8 input rows: 16 accumulators of 16
 * lanes, one per (input row, weight row), reduced together at the end.  The output columns are split among the
 * OpenMP threads.  One row (batch-1 decode) takes four weight rows at a time instead: with the prefetch it streams
 * the weights faster than OpenBLAS's sgemv, which caps near 30 GB/s on a machine that reads 60.
 *
 * A row's result does not depend on the other rows of the call: every (row, column) is the same sequence of
 * FMAs and the same reduction whatever the block it falls in (one row alone included), so a sequence decodes to the same bits alone or in a batch of up to
 * ILR_F32_FEW_ROWS.  AVX-512 builds only (elsewhere ilr_matmul_few_fits says no and sgemm takes them). */
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "ilr/kernels.h"

/* ILR_MATMUL_FEW=0: sgemm for every row count, to compare. */
static int few_off(void) {
    static int off = -1;
    return ilr_kernel_env_off(&off, "ILR_MATMUL_FEW");
}

#if defined(__AVX512F__)
enum { ONE_COLS = 4 };

/* How far ahead of each weight stream to prefetch, and into L2 (T1): 32 KB ahead took qwen2.5-0.5b's batch-1
 * decode from ~14 to ~21 tokens/s (sgemv: ~17) and batch 8 from ~91 to ~129, `small` batch 8 ~780 -> ~940 (2
 * threads, alternated runs); 4 KB into L1 (T0) was the first choice, 16-128 KB or T2 no better than 32 KB. */
enum { PREFETCH = 8192 };

int ilr_matmul_few_fits(int N, int IN, int OUT) {
    return N >= 1 && N <= ILR_F32_FEW_ROWS && IN > 0 && OUT > 0 && !few_off();
}

/* The 16 sums of v[0..16) (each the sum of its 16 lanes), in order: a tree of unpacks, shuffles and adds (45
 * instructions where 16 separate reductions take ~110).  Each sum combines its own lanes in a fixed order. */
static inline __m512 sum16(__m512 v[16]) {
    __m512 t[8], u[4], z[2];
    for (int k = 0; k < 8; k++) /* lane quads: [a0+a2, b0+b2, a1+a3, b1+b3] */
        t[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    for (int k = 0; k < 4; k++) /* lane quads: the quad sums of v[4k..4k+4) */
        u[k] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(t[2 * k], t[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int k = 0; k < 2; k++) /* quads 0 and 1 added, 2 and 3 added, of u[2k] then u[2k+1] */
        z[k] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(u[2 * k], u[2 * k + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(z[0], z[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* out[r, o] and out[r, o + 1] for rows 0..R) (R <= 8, a constant at each call so the loops unroll into
 * registers; two_cols 0: column o alone, its row read twice): 16 accumulators, one per (row, column), each
 * 16 wide; per 16 inputs, 2 weight loads and R input loads feed 2R FMAs.  The last IN % 16 in one masked step. */
static inline __attribute__((always_inline)) void dot_rows(float *out, const float *inp, const float *w,
                                                             const float *bias, int R, int o, int two_cols, int IN,
                                                             int OUT) {
    const float *w0 = w + (size_t)o * IN, *w1 = two_cols ? w0 + IN : w0;
    __m512 acc[16];
    for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= IN; i += 16) {
        _mm_prefetch((const char *)(w0 + i + PREFETCH), _MM_HINT_T1);
        _mm_prefetch((const char *)(w1 + i + PREFETCH), _MM_HINT_T1);
        __m512 a = _mm512_loadu_ps(w0 + i), b = _mm512_loadu_ps(w1 + i);
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_loadu_ps(inp + (size_t)r * IN + i);
            acc[2 * r] = _mm512_fmadd_ps(x, a, acc[2 * r]);
            acc[2 * r + 1] = _mm512_fmadd_ps(x, b, acc[2 * r + 1]);
        }
    }
    if (i < IN) {
        __mmask16 m = (__mmask16)((1u << (IN - i)) - 1);
        __m512 a = _mm512_maskz_loadu_ps(m, w0 + i), b = _mm512_maskz_loadu_ps(m, w1 + i);
        for (int r = 0; r < R; r++) {
            __m512 x = _mm512_maskz_loadu_ps(m, inp + (size_t)r * IN + i);
            acc[2 * r] = _mm512_fmadd_ps(x, a, acc[2 * r]);
            acc[2 * r + 1] = _mm512_fmadd_ps(x, b, acc[2 * r + 1]);
        }
    }
    float s[16] __attribute__((aligned(64)));
    _mm512_store_ps(s, sum16(acc));
    for (int r = 0; r < R; r++) {
        out[(size_t)r * OUT + o] = bias ? s[2 * r] + bias[o] : s[2 * r];
        if (two_cols) out[(size_t)r * OUT + o + 1] = bias ? s[2 * r + 1] + bias[o + 1] : s[2 * r + 1];
    }
}

/* One input row (batch-1 decode) against weight rows o .. o + cols (cols <= ONE_COLS): four weight streams at once
 * (two, as dot_rows reads, decoded qwen2.5-0.5b at a median 19.6 tokens/s against 23.0 in 6 alternated rounds;
 * eight no better than four), each column one accumulator stepping 16 inputs and the same reduction tree as
 * dot_rows, so the same bits as the row gets in a block of rows. */
static void dot_one(float *out, const float *x, const float *w, const float *bias, int o, int cols, int IN) {
    const float *wr[ONE_COLS];
    for (int c = 0; c < ONE_COLS; c++) wr[c] = w + (size_t)(o + (c < cols ? c : 0)) * IN;
    __m512 acc[16];
    for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= IN; i += 16) {
        __m512 xv = _mm512_loadu_ps(x + i);
        for (int c = 0; c < ONE_COLS; c++) {
            _mm_prefetch((const char *)(wr[c] + i + PREFETCH), _MM_HINT_T1);
            acc[c] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(wr[c] + i), acc[c]);
        }
    }
    if (i < IN) {
        __mmask16 m = (__mmask16)((1u << (IN - i)) - 1);
        __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        for (int c = 0; c < ONE_COLS; c++) acc[c] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(m, wr[c] + i), acc[c]);
    }
    float s[16] __attribute__((aligned(64)));
    _mm512_store_ps(s, sum16(acc));
    for (int c = 0; c < cols; c++) out[o + c] = bias ? s[c] + bias[o + c] : s[c];
}

/* Columns o and o + 1 (or o alone) for rows 0..R) (R <= 8). */
static void columns(float *out, const float *inp, const float *w, const float *bias, int R, int o, int two, int IN,
                    int OUT) {
    switch (R) {
    case 1: dot_rows(out, inp, w, bias, 1, o, two, IN, OUT); break;
    case 2: dot_rows(out, inp, w, bias, 2, o, two, IN, OUT); break;
    case 3: dot_rows(out, inp, w, bias, 3, o, two, IN, OUT); break;
    case 4: dot_rows(out, inp, w, bias, 4, o, two, IN, OUT); break;
    case 5: dot_rows(out, inp, w, bias, 5, o, two, IN, OUT); break;
    case 6: dot_rows(out, inp, w, bias, 6, o, two, IN, OUT); break;
    case 7: dot_rows(out, inp, w, bias, 7, o, two, IN, OUT); break;
    default: dot_rows(out, inp, w, bias, 8, o, two, IN, OUT);
    }
}

void ilr_matmul_few(float *out, const float *inp, const float *weight, const float *bias, int N, int IN, int OUT) {
    if (N == 1) {
        int groups = (OUT + ONE_COLS - 1) / ONE_COLS;
#pragma omp parallel for schedule(static) if ((long)OUT * IN > 32768)
        for (int q = 0; q < groups; q++) {
            int o = q * ONE_COLS;
            dot_one(out, inp, weight, bias, o, OUT - o < ONE_COLS ? OUT - o : ONE_COLS, IN);
        }
        return;
    }
    int pairs = (OUT + 1) / 2;
#pragma omp parallel for schedule(static) if ((long)OUT * IN > 32768)
    for (int p = 0; p < pairs; p++)
        for (int n0 = 0; n0 < N; n0 += 8)
            columns(out + (size_t)n0 * OUT, inp + (size_t)n0 * IN, weight, bias, N - n0 < 8 ? N - n0 : 8, 2 * p,
                    2 * p + 1 < OUT, IN, OUT);
}
#else
int ilr_matmul_few_fits(int N, int IN, int OUT) {
    (void)N, (void)IN, (void)OUT, (void)few_off;
    return 0;
}

void ilr_matmul_few(float *out, const float *inp, const float *weight, const float *bias, int N, int IN, int OUT) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            float s = 0.0f;
            for (int i = 0; i < IN; i++) s += inp[(size_t)n * IN + i] * weight[(size_t)o * IN + i];
            out[(size_t)n * OUT + o] = bias ? s + bias[o] : s;
        }
}
#endif
