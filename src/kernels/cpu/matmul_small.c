/* Products of narrow matrices, the shapes of the world's agents (widths 96-512) and of attention's heads:
 * C (M, N) = or += alpha A (M, K) @ B (K, N).  OpenBLAS spends a third of its time on them outside its
 * kernel (packing A, a pass that zeroes C when beta = 0, thread start-up per call); here B alone is packed,
 * once per call, into panels of 16 columns (Bp[p][k][0..16), zero past N) in a per-thread buffer, and a
 * 6 x 16 AVX2 tile reads A's rows where they lie, broadcasting one element at a time, and writes C once.
 * Weight gradients (A^T B with a long K) stay with sgemm: a tile that read both sides' rows in L2-sized
 * chunks of K measured 0.8-1.1x OpenBLAS on the world's shapes (bench/matmul_shapes) and was dropped. */
#include <stdlib.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "ilr/kernels.h"

enum { PANEL = 16, TILE_ROWS = 6 };

#if defined(__AVX2__) && defined(__FMA__)
#define SMALL_GEMM 1
/* The per-thread buffer of packed B: ILR_SMALL_GEMM_MAX_PACKED floats. */
static _Thread_local float packed_b[ILR_SMALL_GEMM_MAX_PACKED] __attribute__((aligned(32)));

/* One row's two accumulators times alpha into C[0..cols) (cols <= 16), added to it when accumulate. */
static inline void put_row(float *c, __m256 lo, __m256 hi, __m256 alpha, int cols, int accumulate) {
    lo = _mm256_mul_ps(lo, alpha), hi = _mm256_mul_ps(hi, alpha);
    if (cols == PANEL) {
        if (accumulate) lo = _mm256_add_ps(lo, _mm256_loadu_ps(c)), hi = _mm256_add_ps(hi, _mm256_loadu_ps(c + 8));
        _mm256_storeu_ps(c, lo);
        _mm256_storeu_ps(c + 8, hi);
    } else {
        float t[PANEL];
        _mm256_storeu_ps(t, lo);
        _mm256_storeu_ps(t + 8, hi);
        for (int j = 0; j < cols; j++) c[j] = accumulate ? c[j] + t[j] : t[j];
    }
}

/* The 6 x 16 tile's accumulators, named: GCC kept an array of them in registers but also stored it to the
 * stack every step, which halved the speed. */
#define TILE_ZERO                                                                                                  \
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00, \
           c40 = c00, c41 = c00, c50 = c00, c51 = c00
#define TILE_STEP(x0, x1, x2, x3, x4, x5)                                                                           \
    do {                                                                                                           \
        __m256 x_;                                                                                                 \
        x_ = _mm256_broadcast_ss(x0), c00 = _mm256_fmadd_ps(x_, b0, c00), c01 = _mm256_fmadd_ps(x_, b1, c01);      \
        x_ = _mm256_broadcast_ss(x1), c10 = _mm256_fmadd_ps(x_, b0, c10), c11 = _mm256_fmadd_ps(x_, b1, c11);      \
        x_ = _mm256_broadcast_ss(x2), c20 = _mm256_fmadd_ps(x_, b0, c20), c21 = _mm256_fmadd_ps(x_, b1, c21);      \
        x_ = _mm256_broadcast_ss(x3), c30 = _mm256_fmadd_ps(x_, b0, c30), c31 = _mm256_fmadd_ps(x_, b1, c31);      \
        x_ = _mm256_broadcast_ss(x4), c40 = _mm256_fmadd_ps(x_, b0, c40), c41 = _mm256_fmadd_ps(x_, b1, c41);      \
        x_ = _mm256_broadcast_ss(x5), c50 = _mm256_fmadd_ps(x_, b0, c50), c51 = _mm256_fmadd_ps(x_, b1, c51);      \
    } while (0)
#define TILE_PUT(C, ldc, R, cols, accumulate)                                                                      \
    do {                                                                                                           \
        __m256 al_ = _mm256_set1_ps(alpha);                                                                        \
        put_row(C, c00, c01, al_, cols, accumulate);                                                               \
        if (R > 1) put_row(C + (size_t)(ldc), c10, c11, al_, cols, accumulate);                                    \
        if (R > 2) put_row(C + (size_t)2 * (ldc), c20, c21, al_, cols, accumulate);                                \
        if (R > 3) put_row(C + (size_t)3 * (ldc), c30, c31, al_, cols, accumulate);                                \
        if (R > 4) put_row(C + (size_t)4 * (ldc), c40, c41, al_, cols, accumulate);                                \
        if (R > 5) put_row(C + (size_t)5 * (ldc), c50, c51, al_, cols, accumulate);                                \
    } while (0)

/* Row r of a 6-row tile that has R real rows: past R, the last real one again (computed, never stored). */
static inline int tile_row(int r, int R) { return r < R ? r : R - 1; }

/* C[r, 0..cols) for rows 0..R) (R <= 6, cols <= 16) = or += alpha A[r, 0..K) @ one panel. */
static void tile(float *C, int ldc, const float *A, int lda, const float *panel, int K, int R, int cols, float alpha,
                 int accumulate) {
    const float *a0 = A, *a1 = A + (size_t)tile_row(1, R) * lda, *a2 = A + (size_t)tile_row(2, R) * lda,
                *a3 = A + (size_t)tile_row(3, R) * lda, *a4 = A + (size_t)tile_row(4, R) * lda,
                *a5 = A + (size_t)tile_row(5, R) * lda;
    TILE_ZERO;
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_load_ps(panel + k * PANEL), b1 = _mm256_load_ps(panel + k * PANEL + 8);
        TILE_STEP(a0 + k, a1 + k, a2 + k, a3 + k, a4 + k, a5 + k);
    }
    TILE_PUT(C, ldc, R, cols, accumulate);
}

/* C (M, N; ldc) = or += alpha A (M, K; lda) @ Bp, blocks of 6 rows among the threads. */
static void gemm_packed(float *C, int ldc, const float *A, int lda, const float *Bp, int M, int N, int K, float alpha,
                        int accumulate) {
    int blocks = (M + TILE_ROWS - 1) / TILE_ROWS;
#pragma omp parallel for schedule(static) if ((long)M * N * K > 262144)
    for (int b = 0; b < blocks; b++) {
        int r0 = b * TILE_ROWS, R = M - r0 < TILE_ROWS ? M - r0 : TILE_ROWS;
        for (int p = 0; p * PANEL < N; p++) {
            int cols = N - p * PANEL < PANEL ? N - p * PANEL : PANEL;
            tile(C + (size_t)r0 * ldc + p * PANEL, ldc, A + (size_t)r0 * lda, lda, Bp + (size_t)p * K * PANEL, K, R,
                 cols, alpha, accumulate);
        }
    }
}

#else
#define SMALL_GEMM 0
#endif

/* ILR_SMALL_GEMM=0: OpenBLAS for everything, to compare. */
static int small_gemm_off(void) {
    static int off = -1;
    return ilr_kernel_env_off(&off, "ILR_SMALL_GEMM");
}

int ilr_small_gemm_fits(int M, int N, int K) {
    long padded = (long)(N + PANEL - 1) / PANEL * PANEL;
    return SMALL_GEMM && M > 0 && N > 0 && K > 0 && K <= ILR_SMALL_GEMM_MAX_K && padded * K <= ILR_SMALL_GEMM_MAX_PACKED &&
           !small_gemm_off();
}

#if SMALL_GEMM
size_t ilr_small_gemm_packed_floats(int N, int K) { return (size_t)(N + PANEL - 1) / PANEL * PANEL * (size_t)K; }

/* The 8 x 8 block at W's row n0, column k0 into the panels, transposed in registers: packing is one pass over
 * W, where writing one float at a time 64 bytes apart cost as much as the product at the decode's 32-64 rows. */
static void pack_block8(float *dst, const float *W, int ldw, int n0, int k0) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(W + (size_t)(n0 + i) * ldw + k0);
    for (int i = 0; i < 8; i += 2) t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44), r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44), r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* r[i] (i < 4): column k0 + i of rows n0..n0+3 in its low half, column k0 + 4 + i in its high half; r[i + 4]
     * the same of rows n0+4..n0+7.  dst is the panel's row k0 at column n0 % 16. */
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + (size_t)i * PANEL, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (size_t)(i + 4) * PANEL, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

void ilr_small_gemm_pack_nt(float *dst, const float *W, int ldw, int N, int K) {
    /* B = W^T: panel p, row k holds W[p * 16 + j, k] */
    int k8 = K / 8 * 8;
    for (int p = 0; p * PANEL < N; p++) {
        float *panel = dst + (size_t)p * K * PANEL;
        for (int j0 = 0; j0 < PANEL; j0 += 8) {
            int n0 = p * PANEL + j0;
            if (n0 + 8 <= N)
                for (int k = 0; k < k8; k += 8) pack_block8(panel + (size_t)k * PANEL + j0, W, ldw, n0, k);
            for (int j = j0; j < j0 + 8; j++) /* the rest: rows past N (zero), or columns past k8 */
                for (int k = n0 + 8 <= N ? k8 : 0; k < K; k++)
                    panel[k * PANEL + j] = p * PANEL + j < N ? W[(size_t)(p * PANEL + j) * ldw + k] : 0.0f;
        }
    }
}

void ilr_small_gemm_packed(float *C, int ldc, const float *A, int lda, const float *Bp, int M, int N, int K, float alpha,
                           int accumulate) {
    gemm_packed(C, ldc, A, lda, Bp, M, N, K, alpha, accumulate);
}

void ilr_small_gemm_nt(float *C, int ldc, const float *A, int lda, const float *W, int ldw, int M, int N, int K,
                       float alpha, int accumulate) {
    ilr_small_gemm_pack_nt(packed_b, W, ldw, N, K);
    gemm_packed(C, ldc, A, lda, packed_b, M, N, K, alpha, accumulate);
}

void ilr_small_gemm_nn(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                       float alpha, int accumulate) {
    /* panel p, row k holds B[k, p * 16 + j] */
    for (int p = 0; p * PANEL < N; p++) {
        int cols = N - p * PANEL < PANEL ? N - p * PANEL : PANEL;
        for (int k = 0; k < K; k++) {
            float *dst = packed_b + ((size_t)p * K + k) * PANEL;
            memcpy(dst, B + (size_t)k * ldb + p * PANEL, sizeof(float) * (size_t)cols);
            for (int j = cols; j < PANEL; j++) dst[j] = 0.0f;
        }
    }
    gemm_packed(C, ldc, A, lda, packed_b, M, N, K, alpha, accumulate);
}

#else
/* Never called where ilr_small_gemm_fits says no (always, without AVX2 + FMA). */
size_t ilr_small_gemm_packed_floats(int N, int K) { return (size_t)(N + PANEL - 1) / PANEL * PANEL * (size_t)K; }
void ilr_small_gemm_pack_nt(float *dst, const float *W, int ldw, int N, int K) { (void)dst, (void)W, (void)ldw, (void)N, (void)K; }
void ilr_small_gemm_packed(float *C, int ldc, const float *A, int lda, const float *Bp, int M, int N, int K, float alpha,
                           int accumulate) {
    (void)C, (void)ldc, (void)A, (void)lda, (void)Bp, (void)M, (void)N, (void)K, (void)alpha, (void)accumulate;
}
void ilr_small_gemm_nt(float *C, int ldc, const float *A, int lda, const float *W, int ldw, int M, int N, int K,
                       float alpha, int accumulate) {
    (void)C, (void)ldc, (void)A, (void)lda, (void)W, (void)ldw, (void)M, (void)N, (void)K, (void)alpha, (void)accumulate;
}
void ilr_small_gemm_nn(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                       float alpha, int accumulate) {
    (void)C, (void)ldc, (void)A, (void)lda, (void)B, (void)ldb, (void)M, (void)N, (void)K, (void)alpha, (void)accumulate;
}
#endif
