/* The CUDA backend's row-wise and elementwise kernels: conversion, add, embedding, RMSNorm, rotary, SwiGLU,
 * AdamW, the gradient norm, and the fixed-order column sums they share (include/ilr/cuda.h). */
#include <math.h>

#include "common.cuh"

#define GRID_STRIDE(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

/* ---- conversion and elementwise ---- */

__global__ void f32_to_bf16_kernel(bf16 *dst, const float *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] = __float2bfloat16(src[i]);
}
__global__ void add_kernel(bf16 *out, const bf16 *a, const bf16 *b, size_t n) {
    GRID_STRIDE(i, n) out[i] = __float2bfloat16(__bfloat162float(a[i]) + __bfloat162float(b[i]));
}
__global__ void accumulate_f32_kernel(bf16 *dst, const float *src, size_t n) {
    GRID_STRIDE(i, n) dst[i] = __float2bfloat16(__bfloat162float(dst[i]) + src[i]);
}

extern "C" void ilr_cuda_f32_to_bf16(ilr_bf16 *dst, const float *src, size_t n) {
    f32_to_bf16_kernel<<<blocks_for(n, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(dst), src, n);
    ILR_CUDA_LAUNCHED("f32_to_bf16");
}
extern "C" void ilr_cuda_add(ilr_bf16 *out, const ilr_bf16 *a, const ilr_bf16 *b, size_t n) {
    add_kernel<<<blocks_for(n, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(out), as_bf16(a), as_bf16(b), n);
    ILR_CUDA_LAUNCHED("add");
}
extern "C" void ilr_cuda_accumulate_f32(ilr_bf16 *dst, const float *src, size_t n) {
    accumulate_f32_kernel<<<blocks_for(n, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(dst), src, n);
    ILR_CUDA_LAUNCHED("accumulate");
}

/* ---- fixed-order column sums of f(n, c) over rows n of an (N, C) matrix ----
 * Pass 1: blocks of 32 columns x a range of rows; 8 row-lanes per column, each summing every 8th row of the
 * range, combined in lane order.  Pass 2: the partial sums of each column added in range order.  No atomics:
 * the same bits on every run. */

enum { COLSUM_ROWS_PER_RANGE = 64, COLSUM_MAX_RANGES = 256 };

static int colsum_ranges(int N) {
    int r = (N + COLSUM_ROWS_PER_RANGE - 1) / COLSUM_ROWS_PER_RANGE;
    return r < 1 ? 1 : r > COLSUM_MAX_RANGES ? COLSUM_MAX_RANGES : r;
}

extern "C" size_t ilr_cuda_colsum_scratch_floats(int N, int C) { return (size_t)colsum_ranges(N) * C; }

struct col_bf16 {
    const bf16 *x;
    __device__ float operator()(size_t n, int c, int C) const { return __bfloat162float(x[n * C + c]); }
};
struct col_rmsnorm_weight { /* dout * x * rstd */
    const bf16 *dout, *x;
    const float *rstd;
    __device__ float operator()(size_t n, int c, int C) const {
        return __bfloat162float(dout[n * C + c]) * (__bfloat162float(x[n * C + c]) * rstd[n]);
    }
};

template <typename F>
__global__ void colsum_partial_kernel(float *partial, F f, int N, int C, int ranges) {
    __shared__ float s[8][33];
    int c = blockIdx.x * 32 + threadIdx.x, r = blockIdx.y;
    int per = (N + ranges - 1) / ranges, n0 = r * per, n1 = min(N, n0 + per);
    float sum = 0.0f;
    if (c < C)
        for (int n = n0 + threadIdx.y; n < n1; n += 8) sum += f((size_t)n, c, C);
    s[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float t = 0.0f;
        for (int y = 0; y < 8; y++) t += s[y][threadIdx.x];
        partial[(size_t)r * C + c] = t;
    }
}

__global__ void colsum_finish_kernel(float *out, const float *partial, int C, int ranges) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float t = 0.0f;
    for (int r = 0; r < ranges; r++) t += partial[(size_t)r * C + c];
    out[c] += t;
}

template <typename F> static void colsum(float *out, F f, int N, int C, float *scratch) {
    int ranges = colsum_ranges(N);
    dim3 grid((C + 31) / 32, ranges), block(32, 8);
    colsum_partial_kernel<<<grid, block, 0, ilr_cuda_stream>>>(scratch, f, N, C, ranges);
    colsum_finish_kernel<<<(C + 255) / 256, 256, 0, ilr_cuda_stream>>>(out, scratch, C, ranges);
    ILR_CUDA_LAUNCHED("column sums");
}

void ilr_cuda_colsum_bf16(float *out, const bf16 *x, int N, int C, float *scratch) {
    colsum(out, col_bf16{x}, N, C, scratch);
}

/* ---- embedding ---- */

__global__ void embedding_forward_kernel(bf16 *out, const int *tokens, const bf16 *wte, int N, int C) {
    GRID_STRIDE(i, (size_t)N * C) {
        size_t n = i / C;
        out[i] = wte[(size_t)tokens[n] * C + i % C];
    }
}

/* One thread per column walks the rows in order: deterministic, and rows of one token never race. */
__global__ void embedding_backward_kernel(float *dwte, const bf16 *dout, const int *tokens, int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    for (int n = 0; n < N; n++) dwte[(size_t)tokens[n] * C + c] += __bfloat162float(dout[(size_t)n * C + c]);
}

extern "C" void ilr_cuda_embedding_forward(ilr_bf16 *out, const int *tokens, const ilr_bf16 *wte, int N, int C) {
    embedding_forward_kernel<<<blocks_for((size_t)N * C, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(out), tokens,
                                                                                           as_bf16(wte), N, C);
    ILR_CUDA_LAUNCHED("embedding forward");
}
extern "C" void ilr_cuda_embedding_backward(float *dwte, const ilr_bf16 *dout, const int *tokens, int N, int C) {
    embedding_backward_kernel<<<(C + 127) / 128, 128, 0, ilr_cuda_stream>>>(dwte, as_bf16(dout), tokens, N, C);
    ILR_CUDA_LAUNCHED("embedding backward");
}

/* ---- RMSNorm: one block per row ---- */

__global__ void rmsnorm_forward_kernel(bf16 *out, float *rstd, const bf16 *x, const bf16 *weight, int C, float eps) {
    __shared__ float shared[32];
    size_t n = blockIdx.x;
    const bf16 *xr = x + n * C;
    float ss = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float v = __bfloat162float(xr[c]);
        ss += v * v;
    }
    ss = block_sum(ss, shared);
    float r = rsqrtf(ss / (float)C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        out[n * C + c] = __float2bfloat16(__bfloat162float(xr[c]) * r * __bfloat162float(weight[c]));
    if (threadIdx.x == 0) rstd[n] = r;
}

__global__ void rmsnorm_backward_kernel(bf16 *dx, const bf16 *dout, const bf16 *x, const bf16 *weight,
                                        const float *rstd, int C) {
    __shared__ float shared[32];
    size_t n = blockIdx.x;
    const bf16 *xr = x + n * C, *d = dout + n * C;
    float r = rstd[n], dot = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x)
        dot += __bfloat162float(d[c]) * __bfloat162float(weight[c]) * __bfloat162float(xr[c]);
    dot = block_sum(dot, shared);
    float k = dot * r * r * r / (float)C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float g = __bfloat162float(d[c]) * __bfloat162float(weight[c]) * r - k * __bfloat162float(xr[c]);
        dx[n * C + c] = __float2bfloat16(__bfloat162float(dx[n * C + c]) + g);
    }
}

extern "C" void ilr_cuda_rmsnorm_forward(ilr_bf16 *out, float *rstd, const ilr_bf16 *x, const ilr_bf16 *weight, int N,
                                         int C, float eps) {
    rmsnorm_forward_kernel<<<N, 256, 0, ilr_cuda_stream>>>(as_bf16(out), rstd, as_bf16(x), as_bf16(weight), C, eps);
    ILR_CUDA_LAUNCHED("rmsnorm forward");
}
extern "C" void ilr_cuda_rmsnorm_backward(ilr_bf16 *dx, float *dweight, const ilr_bf16 *dout, const ilr_bf16 *x,
                                          const ilr_bf16 *weight, const float *rstd, int N, int C, float *scratch) {
    if (dx) {
        rmsnorm_backward_kernel<<<N, 256, 0, ilr_cuda_stream>>>(as_bf16(dx), as_bf16(dout), as_bf16(x), as_bf16(weight),
                                                                rstd, C);
        ILR_CUDA_LAUNCHED("rmsnorm backward");
    }
    if (dweight) colsum(dweight, col_rmsnorm_weight{as_bf16(dout), as_bf16(x), rstd}, N, C, scratch);
}

/* ---- rotary embedding: one thread per (row, head, pair) ---- */

__global__ void rope_kernel(bf16 *x, const float *cos_table, const float *sin_table, const int *pos, int N, int H,
                            int HD, float sign) {
    int half = HD / 2;
    GRID_STRIDE(i, (size_t)N * H * half) {
        size_t row = i / half; /* (n, h) */
        int j = (int)(i % half);
        size_t n = row / H;
        float c = cos_table[(size_t)pos[n] * half + j], s = sign * sin_table[(size_t)pos[n] * half + j];
        bf16 *v = x + row * HD;
        float a = __bfloat162float(v[j]), b = __bfloat162float(v[j + half]);
        v[j] = __float2bfloat16(a * c - b * s);
        v[j + half] = __float2bfloat16(b * c + a * s);
    }
}

extern "C" void ilr_cuda_rope_forward(ilr_bf16 *x, const float *cos_table, const float *sin_table, const int *pos, int N,
                                      int H, int HD) {
    rope_kernel<<<blocks_for((size_t)N * H * HD / 2, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(x), cos_table, sin_table,
                                                                                       pos, N, H, HD, 1.0f);
    ILR_CUDA_LAUNCHED("rope forward");
}
/* The gradient of a rotation is the inverse rotation: the same with -sin. */
extern "C" void ilr_cuda_rope_backward(ilr_bf16 *dx, const float *cos_table, const float *sin_table, const int *pos,
                                       int N, int H, int HD) {
    rope_kernel<<<blocks_for((size_t)N * H * HD / 2, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(dx), cos_table, sin_table,
                                                                                       pos, N, H, HD, -1.0f);
    ILR_CUDA_LAUNCHED("rope backward");
}

/* ---- SwiGLU ---- */

__global__ void swiglu_forward_kernel(bf16 *out, const bf16 *gate, const bf16 *up, size_t n) {
    GRID_STRIDE(i, n) {
        float g = __bfloat162float(gate[i]);
        out[i] = __float2bfloat16(g / (1.0f + expf(-g)) * __bfloat162float(up[i]));
    }
}

__global__ void swiglu_backward_kernel(bf16 *dgate, bf16 *dup, const bf16 *dout, const bf16 *gate, const bf16 *up,
                                       size_t n) {
    GRID_STRIDE(i, n) {
        float g = __bfloat162float(gate[i]), d = __bfloat162float(dout[i]), sig = 1.0f / (1.0f + expf(-g));
        if (dgate)
            dgate[i] = __float2bfloat16(__bfloat162float(dgate[i]) +
                                        d * __bfloat162float(up[i]) * sig * (1.0f + g * (1.0f - sig)));
        if (dup) dup[i] = __float2bfloat16(__bfloat162float(dup[i]) + d * g * sig);
    }
}

extern "C" void ilr_cuda_swiglu_forward(ilr_bf16 *out, const ilr_bf16 *gate, const ilr_bf16 *up, int N, int FF) {
    size_t n = (size_t)N * FF;
    swiglu_forward_kernel<<<blocks_for(n, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(out), as_bf16(gate), as_bf16(up), n);
    ILR_CUDA_LAUNCHED("swiglu forward");
}
extern "C" void ilr_cuda_swiglu_backward(ilr_bf16 *dgate, ilr_bf16 *dup, const ilr_bf16 *dout, const ilr_bf16 *gate,
                                         const ilr_bf16 *up, int N, int FF) {
    size_t n = (size_t)N * FF;
    swiglu_backward_kernel<<<blocks_for(n, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(dgate), as_bf16(dup), as_bf16(dout),
                                                                            as_bf16(gate), as_bf16(up), n);
    ILR_CUDA_LAUNCHED("swiglu backward");
}

/* ---- AdamW and the gradient norm ---- */

__global__ void adamw_kernel(float *params, bf16 *params_bf16, const float *grads, float *m, float *v, size_t n,
                             float decay, float step_size, float bc2_sqrt, float one_b1, float b2, float one_b2,
                             float eps, float grad_scale) {
    GRID_STRIDE(i, n) {
        float g = grads[i] * grad_scale, p = params[i] * decay;
        float mi = m[i] + one_b1 * (g - m[i]);
        float vi = b2 * v[i] + one_b2 * g * g;
        p = p - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
        params[i] = p;
        m[i] = mi;
        v[i] = vi;
        if (params_bf16) params_bf16[i] = __float2bfloat16(p);
    }
}

extern "C" void ilr_cuda_adamw_update(float *params, ilr_bf16 *params_bf16, const float *grads, float *m, float *v,
                                      size_t n, const ilr_adamw_params *hp, int step, float grad_scale) {
    double bc1 = 1.0 - pow(hp->beta1, step), bc2 = 1.0 - pow(hp->beta2, step);
    float decay = (float)(1.0 - (double)hp->lr * hp->weight_decay), step_size = (float)(hp->lr / bc1);
    adamw_kernel<<<blocks_for(n, 256), 256, 0, ilr_cuda_stream>>>(
        params, as_bf16(params_bf16), grads, m, v, n, decay, step_size, (float)sqrt(bc2), (float)(1.0 - hp->beta1),
        hp->beta2, (float)(1.0 - hp->beta2), hp->eps, grad_scale);
    ILR_CUDA_LAUNCHED("adamw");
}

enum { NORM_BLOCKS = 1024 };

/* Block b sums the squares of a fixed, contiguous share of g. */
__global__ void sumsq_kernel(float *partial, const float *g, size_t n) {
    __shared__ float shared[32];
    size_t per = (n + gridDim.x - 1) / gridDim.x, i0 = blockIdx.x * per, i1 = i0 + per < n ? i0 + per : n;
    float s = 0.0f;
    for (size_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) s += g[i] * g[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

extern "C" double ilr_cuda_grad_norm(const float *g, size_t n, float *scratch) {
    float part[NORM_BLOCKS];
    sumsq_kernel<<<NORM_BLOCKS, 256, 0, ilr_cuda_stream>>>(scratch, g, n);
    ILR_CUDA_LAUNCHED("grad norm");
    if (ilr_cuda_download(part, scratch, sizeof part)) return NAN;
    double total = 0.0;
    for (int b = 0; b < NORM_BLOCKS; b++) total += part[b];
    return sqrt(total);
}
