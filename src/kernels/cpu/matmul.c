/* Linear layers: out = inp @ weight^T + bias, and its backward; products through BLAS sgemm, or through the
 * narrow-matrix tile (matmul_small.c) or the few-row kernel (matmul_few.c) where those fit. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/kernels.h"

/* out (N, OUT) = inp (N, IN) @ weight (OUT, IN)^T + bias (OUT); bias rows are copied in, then sgemm adds. */
void ilr_matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int IN,
                        int OUT) {
    if (N <= 0 || OUT <= 0) return;
    size_t row = (size_t)OUT * sizeof(float);
    if (bias) {
#pragma omp parallel for if ((long)N * OUT > 65536)
        for (int n = 0; n < N; n++) memcpy(out + (size_t)n * OUT, bias, row);
    } else if (IN <= 0) {
        memset(out, 0, row * (size_t)N);
    }
    if (IN <= 0) return;
    if (N > 1 && ilr_small_gemm_fits(N, OUT, IN))
        ilr_small_gemm_nt(out, OUT, inp, IN, weight, IN, N, OUT, IN, 1.0f, bias != NULL);
    else if (ilr_matmul_few_fits(N, IN, OUT)) /* decoding (1-16 rows): the weights read where they lie */
        ilr_matmul_few(out, inp, weight, bias, N, IN, OUT);
    else if (N == 1) /* one token (batch-1 decoding): a matrix-vector product, bound by reading the weights */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, OUT, IN, 1.0f, weight, IN, inp, 1, bias ? 1.0f : 0.0f, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, inp, IN, weight, IN,
                    bias ? 1.0f : 0.0f, out, OUT);
}

int ilr_kernel_env_off(int *cache, const char *name) {
    int v = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv(name);
        v = e && strcmp(e, "0") == 0;
        __atomic_store_n(cache, v, __ATOMIC_RELAXED);
    }
    return v;
}

void ilr_gemm_nt(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K, float alpha,
                 int accumulate) {
    if (ilr_small_gemm_fits(M, N, K)) ilr_small_gemm_nt(C, ldc, A, lda, B, ldb, M, N, K, alpha, accumulate);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, A, lda, B, ldb, accumulate ? 1.0f : 0.0f,
                     C, ldc);
}

void ilr_gemm_nn(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K, float alpha,
                 int accumulate) {
    if (ilr_small_gemm_fits(M, N, K)) ilr_small_gemm_nn(C, ldc, A, lda, B, ldb, M, N, K, alpha, accumulate);
    else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, accumulate ? 1.0f : 0.0f,
                     C, ldc);
}

/* dbias (OUT) += column sums of dout (N, OUT); blocks of columns in parallel, rows in order. */
static void matmul_backward_bias(float *dbias, const float *dout, int N, int OUT) {
#pragma omp parallel for if ((long)N * OUT > 65536)
    for (int o0 = 0; o0 < OUT; o0 += 64) {
        int o1 = o0 + 64 < OUT ? o0 + 64 : OUT;
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OUT;
            for (int o = o0; o < o1; o++) dbias[o] += d[o];
        }
    }
}

/* dinp (N, IN) += dout (N, OUT) @ weight (OUT, IN);  dweight (OUT, IN) += dout^T @ inp;  dbias (OUT) += sums. */
void ilr_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int N, int IN, int OUT) {
    if (N <= 0 || OUT <= 0) return;
    if (dinp && IN > 0 && ilr_small_gemm_fits(N, IN, OUT))
        ilr_small_gemm_nn(dinp, IN, dout, OUT, weight, IN, N, IN, OUT, 1.0f, 1);
    else if (dinp && IN > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT, weight, IN, 1.0f,
                    dinp, IN);
    if (dweight && IN > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, OUT, inp, IN, 1.0f,
                    dweight, IN);
    if (dbias) matmul_backward_bias(dbias, dout, N, OUT);
}
