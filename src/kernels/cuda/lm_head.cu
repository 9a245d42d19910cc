/* The fused LM head + log-softmax on the GPU (include/ilr/cuda.h; kernels.h's semantics): the logits of
 * `chunk` vocabulary rows at a time come from one cuBLAS product into fp32 scratch, and a row-wise kernel
 * folds them into a running (max, sum of exp, sum of exp * logit) per row, so N x V logits never exist.
 * Backward recomputes each chunk's logits, forms d logits in bf16 and accumulates dx (in fp32 scratch, added
 * to the bf16 dx once at the end) and dw with two more products. */
#include <math.h>

#include "common.cuh"

/* Scratch layout: logits (N x chunk fp32) | running state 4 x N | dlogits (N x chunk bf16) | dx (N x C fp32). */
static size_t align64(size_t n) { return (n + 63) / 64 * 64; }
extern "C" size_t ilr_cuda_lm_head_scratch_floats(int N, int C, int chunk) {
    size_t nc = (size_t)N * chunk;
    return align64(nc) + align64(4 * (size_t)N) + align64((nc + 1) / 2) + align64((size_t)N * C);
}

__device__ float block_max(float v, float *shared) {
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    return warp_max(lane < warps ? shared[lane] : -INFINITY);
}

/* One block per row: folds logits[n, 0..cur) / temperature into state (m, s, t, target logit). */
__global__ void lm_head_fold_kernel(float *state, const float *logits, const int *targets, int N, int cur, int v0,
                                    float inv_temp, int first) {
    __shared__ float shared[32];
    int n = blockIdx.x;
    const float *z = logits + (size_t)n * cur;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < cur; j += blockDim.x) mx = fmaxf(mx, z[j] * inv_temp);
    mx = block_max(mx, shared);
    float s = 0.0f, t = 0.0f;
    for (int j = threadIdx.x; j < cur; j += blockDim.x) {
        float zj = z[j] * inv_temp, e = expf(zj - mx);
        s += e;
        t += e * zj;
    }
    s = block_sum(s, shared);
    t = block_sum(t, shared);
    if (threadIdx.x != 0) return;
    float *m_ = state, *s_ = state + N, *t_ = state + 2 * (size_t)N, *tgt = state + 3 * (size_t)N;
    int target = targets[n];
    if (target >= v0 && target < v0 + cur) tgt[n] = z[target - v0] * inv_temp;
    if (first) {
        m_[n] = mx, s_[n] = s, t_[n] = t;
    } else {
        float M = fmaxf(m_[n], mx), a = expf(m_[n] - M), c = expf(mx - M);
        s_[n] = s_[n] * a + s * c;
        t_[n] = t_[n] * a + t * c;
        m_[n] = M;
    }
}

__global__ void lm_head_finish_kernel(float *logprob, float *entropy, float *lse, const float *state,
                                      const int *targets, int N) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) return;
    const float *m_ = state, *s_ = state + N, *t_ = state + 2 * (size_t)N, *tgt = state + 3 * (size_t)N;
    if (targets[n] < 0) {
        logprob[n] = 0.0f, lse[n] = 0.0f;
        if (entropy) entropy[n] = 0.0f;
        return;
    }
    float l = m_[n] + logf(s_[n]);
    lse[n] = l;
    logprob[n] = tgt[n] - l;
    if (entropy) entropy[n] = l - t_[n] / s_[n];
}

extern "C" void ilr_cuda_lm_head_logprob_forward(float *logprob, float *entropy, float *lse, const ilr_bf16 *x,
                                                 const ilr_bf16 *w, const int *targets, float temperature, int N,
                                                 int C, int V, float *scratch, int chunk) {
    float *logits = scratch, *state = scratch + align64((size_t)N * chunk);
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cur = V - v0 < chunk ? V - v0 : chunk;
        ilr_cuda_matmul_forward_f32(logits, x, w + (size_t)v0 * C, N, C, cur);
        lm_head_fold_kernel<<<N, 256, 0, ilr_cuda_stream>>>(state, logits, targets, N, cur, v0, 1.0f / temperature,
                                                            v0 == 0);
        ILR_CUDA_LAUNCHED("lm head forward");
    }
    lm_head_finish_kernel<<<(N + 255) / 256, 256, 0, ilr_cuda_stream>>>(logprob, entropy, lse, state, targets, N);
    ILR_CUDA_LAUNCHED("lm head forward (finish)");
}

/* d logit_j = dlogprob * (1[j == target] - p_j) / T, in bf16; 0 on rows without a target. */
__global__ void lm_head_dlogits_kernel(bf16 *dlogits, const float *logits, const float *dlogprob, const int *targets,
                                       const float *lse, int N, int cur, int v0, float inv_temp) {
    size_t total = (size_t)N * cur;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int n = (int)(i / cur), j = (int)(i % cur), target = targets[n];
        float d = 0.0f;
        if (target >= 0) {
            float p = expf(logits[i] * inv_temp - lse[n]);
            d = dlogprob[n] * ((v0 + j == target ? 1.0f : 0.0f) - p) * inv_temp;
        }
        dlogits[i] = __float2bfloat16(d);
    }
}

extern "C" void ilr_cuda_lm_head_logprob_backward(ilr_bf16 *dx, float *dw, const float *dlogprob, const ilr_bf16 *x,
                                                  const ilr_bf16 *w, const int *targets, const float *lse,
                                                  float temperature, int N, int C, int V, float *scratch, int chunk) {
    size_t nc = (size_t)N * chunk;
    float *logits = scratch;
    bf16 *dlogits = (bf16 *)(scratch + align64(nc) + align64(4 * (size_t)N));
    float *dx32 = scratch + align64(nc) + align64(4 * (size_t)N) + align64((nc + 1) / 2);
    if (dx) ilr_cuda_zero(dx32, sizeof(float) * (size_t)N * C);
    for (int v0 = 0; v0 < V; v0 += chunk) {
        int cur = V - v0 < chunk ? V - v0 : chunk;
        const ilr_bf16 *wc = w + (size_t)v0 * C;
        ilr_cuda_matmul_forward_f32(logits, x, wc, N, C, cur);
        lm_head_dlogits_kernel<<<blocks_for((size_t)N * cur, 256), 256, 0, ilr_cuda_stream>>>(
            dlogits, logits, dlogprob, targets, lse, N, cur, v0, 1.0f / temperature);
        ILR_CUDA_LAUNCHED("lm head backward");
        /* dx^T (C, N) += w_chunk^T (C, cur) @ dlogits^T (cur, N) */
        if (dx)
            ilr_cuda_gemm(CUBLAS_OP_N, CUBLAS_OP_N, C, N, cur, as_bf16(wc), C, dlogits, cur, 1.0f, dx32, CUDA_R_32F, C,
                          "lm head backward (x)");
        /* dw_chunk^T (C, cur) += x^T (C, N) @ dlogits (N, cur) */
        if (dw)
            ilr_cuda_gemm(CUBLAS_OP_N, CUBLAS_OP_T, C, cur, N, as_bf16(x), C, dlogits, cur, 1.0f, dw + (size_t)v0 * C,
                          CUDA_R_32F, C, "lm head backward (w)");
    }
    if (dx) ilr_cuda_accumulate_f32(dx, dx32, (size_t)N * C);
}
