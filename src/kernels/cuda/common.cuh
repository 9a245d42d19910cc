/* Shared by the CUDA kernels (the .cu files of src/kernels/cuda): the stream, the cuBLAS handle, bf16 helpers. */
#ifndef ILR_CUDA_COMMON_CUH
#define ILR_CUDA_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

extern "C" {
#include "ilr/cuda.h"
#include "ilr/error.h"
}

typedef __nv_bfloat16 bf16;

/* The one stream every kernel is queued on, and the cuBLAS handle bound to it (ilr_cuda_init makes them). */
extern cudaStream_t ilr_cuda_stream;
extern cublasHandle_t ilr_cuda_blas;

static inline const bf16 *as_bf16(const ilr_bf16 *p) { return reinterpret_cast<const bf16 *>(p); }
static inline bf16 *as_bf16(ilr_bf16 *p) { return reinterpret_cast<bf16 *>(p); }

static inline unsigned blocks_for(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b > 65535u * 32u ? 65535u * 32u : b); /* grid-stride loops cover the rest */
}

/* C (m x n column-major, ldc) = op(A) op(B) + beta C: A and B bf16, C bf16 or fp32 (ctype), fp32 accumulation. */
void ilr_cuda_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const bf16 *a, int lda, const bf16 *b,
                   int ldb, float beta, void *c, cudaDataType_t ctype, int ldc, const char *what);

/* Records a launch error at the call site (ilr_cuda_sync reports the first one). */
void ilr_cuda_check_launch(const char *what, const char *file, int line);
#define ILR_CUDA_LAUNCHED(what) ilr_cuda_check_launch((what), __FILE__, __LINE__)

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Sum over a block of blockDim.x (a multiple of 32, <= 1024) threads, the same order every time; every thread
 * gets the result.  shared: 32 floats. */
__device__ __forceinline__ float block_sum(float v, float *shared) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    float t = lane < warps ? shared[lane] : 0.0f;
    return warp_sum(t);
}

#endif
