/* Attention on the GPU, flash-style (include/ilr/cuda.h): tiles of 32 queries x 32 keys in shared memory,
 * an online softmax, and no T x T matrix anywhere.  Forward keeps each row's log-sum-exp; backward recomputes
 * the probabilities and runs as two kernels so that every gradient element has one owner (no atomics, the
 * same bits every run): dK, dV per key tile (looping over the query heads of its group and the query tiles
 * after it), dQ per query tile.  Head sizes that are multiples of 16 go to the tensor-core kernels of
 * attention_mma.cu (the same algorithm); the kernels here, fp32 arithmetic on CUDA cores, take the others.
 *
 * Masks (kernels.h): query t of sequence b attends key t2 when t < lengths[b], t2 <= t, and t2 >= the start
 * of t's document (t - pos[b, t] when pos is given, else 0).  A document's start never decreases along t,
 * so a tile's first row has the earliest start of the tile. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"

/* attention_mma.cu: tensor-core kernels for head sizes that are multiples of 16 (1 when they took the call). */
int ilr_cuda_attention_forward_mma(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v,
                                   const int *lengths, const int *pos, int B, int T, int NH, int NKV, int HD);
int ilr_cuda_attention_backward_mma(bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *dout, const bf16 *q, const bf16 *k,
                                    const bf16 *v, const float *lse, const float *D, float *part, const int *lengths,
                                    const int *pos, int B, int T, int NH, int NKV, int HD);

/* ILR_CUDA_ATTENTION=cuda-cores keeps every head size on the kernels below (tests and benchmarks compare). */
static int tensor_cores_allowed(void) {
    const char *e = getenv("ILR_CUDA_ATTENTION");
    return !e || strcmp(e, "cuda-cores") != 0;
}

enum { TILE = 32, THREADS = 256, ROWS_PER_WARP = TILE / (THREADS / 32), MAX_HD = 128 };

__device__ __forceinline__ int doc_start(const int *pos, int b, int T, int t) { return pos ? t - pos[b * T + t] : 0; }

/* Loads rows t0..t0+TILE-1 of one head of a (B, T, H, HD) tensor into shared memory as fp32 times scale,
 * row r at r * stride; rows at or past len are zeros. */
__device__ void load_tile(float *dst, int stride, const bf16 *src, int b, int t0, int len, int T, int H, int h, int HD,
                          float scale) {
    for (int i = threadIdx.x; i < TILE * HD; i += THREADS) {
        int r = i / HD, d = i % HD, t = t0 + r;
        dst[r * stride + d] = t < len ? __bfloat162float(src[(((size_t)b * T + t) * H + h) * HD + d]) * scale : 0.0f;
    }
}

/* ---- forward: block = (query tile, head, sequence); warp w owns query rows 4w..4w+3, lane j owns key j ---- */

template <int DPL>
__global__ void __launch_bounds__(THREADS) attention_forward_kernel(bf16 *out, float *lse, const bf16 *q,
                                                                    const bf16 *k, const bf16 *v, const int *lengths,
                                                                    const int *pos, int T, int NH, int NKV, int HD,
                                                                    float scale) {
    extern __shared__ float sm[];
    float *Qs = sm, *Ks = Qs + TILE * HD, *Vs = Ks + TILE * (HD + 1);
    int q0 = blockIdx.x * TILE, h = blockIdx.y, b = blockIdx.z, g = h / (NH / NKV), len = lengths[b];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int row[ROWS_PER_WARP], start[ROWS_PER_WARP];
    float m[ROWS_PER_WARP], l[ROWS_PER_WARP], acc[ROWS_PER_WARP][DPL];
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        row[i] = q0 + warp * ROWS_PER_WARP + i;
        start[i] = row[i] < len ? doc_start(pos, b, T, row[i]) : 0;
        m[i] = -INFINITY, l[i] = 0.0f;
#pragma unroll
        for (int dd = 0; dd < DPL; dd++) acc[i][dd] = 0.0f;
    }
    if (q0 < len) {
        load_tile(Qs, HD, q, b, q0, len, T, NH, h, HD, scale);
        int k_end = min(q0 + TILE, len);
        for (int k0 = doc_start(pos, b, T, q0) / TILE * TILE; k0 < k_end; k0 += TILE) {
            __syncthreads();
            load_tile(Ks, HD + 1, k, b, k0, len, T, NKV, g, HD, 1.0f);
            load_tile(Vs, HD, v, b, k0, len, T, NKV, g, HD, 1.0f);
            __syncthreads();
            int key = k0 + lane;
            float s[ROWS_PER_WARP] = {0};
            for (int d = 0; d < HD; d++) {
                float kd = Ks[lane * (HD + 1) + d];
#pragma unroll
                for (int i = 0; i < ROWS_PER_WARP; i++) s[i] += Qs[(warp * ROWS_PER_WARP + i) * HD + d] * kd;
            }
#pragma unroll
            for (int i = 0; i < ROWS_PER_WARP; i++) {
                bool allowed = row[i] < len && key <= row[i] && key >= start[i];
                float si = allowed ? s[i] : -INFINITY;
                float m_new = fmaxf(m[i], warp_max(si));
                if (m_new == -INFINITY) continue; /* nothing allowed yet in this row (warp-uniform) */
                float alpha = expf(m[i] - m_new), p = allowed ? expf(si - m_new) : 0.0f;
                l[i] = l[i] * alpha + warp_sum(p);
                m[i] = m_new;
#pragma unroll
                for (int dd = 0; dd < DPL; dd++) acc[i][dd] *= alpha;
                for (int j = 0; j < TILE; j++) {
                    float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                    for (int dd = 0; dd < DPL; dd++)
                        if (dd * 32 + lane < HD) acc[i][dd] += pj * Vs[j * HD + dd * 32 + lane];
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        int t = row[i];
        if (t >= T) continue;
        bool real = t < len;
        bf16 *o = out + (((size_t)b * T + t) * NH + h) * HD;
#pragma unroll
        for (int dd = 0; dd < DPL; dd++)
            if (dd * 32 + lane < HD) o[dd * 32 + lane] = __float2bfloat16(real ? acc[i][dd] / l[i] : 0.0f);
        if (lane == 0) lse[((size_t)b * NH + h) * T + t] = real ? m[i] + logf(l[i]) : 0.0f;
    }
}

/* ---- backward ---- */

/* D[b, h, t] = sum_d dout * out (the softmax backward's row term); 0 on padding rows.  One warp per row. */
__global__ void attention_rowdot_kernel(float *D, const bf16 *dout, const bf16 *out, const int *lengths, int B, int T,
                                        int NH, int HD) {
    size_t rows = (size_t)B * T * NH, warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (warp >= rows) return;
    int h = (int)(warp % NH);
    size_t bt = warp / NH;
    int b = (int)(bt / T), t = (int)(bt % T);
    float s = 0.0f;
    for (int d = lane; d < HD; d += 32)
        s += __bfloat162float(dout[warp * HD + d]) * __bfloat162float(out[warp * HD + d]);
    s = warp_sum(s);
    if (lane == 0) D[((size_t)b * NH + h) * T + t] = t < lengths[b] ? s : 0.0f;
}

/* dK, dV: block = (key tile, kv head, sequence); warp w owns keys 4w..4w+3, lane j owns query row j. */
template <int DPL>
__global__ void __launch_bounds__(THREADS) attention_backward_kv_kernel(bf16 *dk, bf16 *dv, const bf16 *dout,
                                                                        const bf16 *q, const bf16 *k, const bf16 *v,
                                                                        const float *lse, const float *D,
                                                                        const int *lengths, const int *pos, int T,
                                                                        int NH, int NKV, int HD, float scale) {
    extern __shared__ float sm[];
    float *Ks = sm, *Vs = Ks + TILE * HD, *Qs = Vs + TILE * HD, *dOs = Qs + TILE * (HD + 1);
    float *lse_s = dOs + TILE * (HD + 1), *D_s = lse_s + TILE;
    int k0 = blockIdx.x * TILE, g = blockIdx.y, b = blockIdx.z, len = lengths[b], group = NH / NKV;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (k0 >= len) return; /* padding keys: no gradient */
    load_tile(Ks, HD, k, b, k0, len, T, NKV, g, HD, 1.0f);
    load_tile(Vs, HD, v, b, k0, len, T, NKV, g, HD, 1.0f);
    float dk_acc[ROWS_PER_WARP][DPL], dv_acc[ROWS_PER_WARP][DPL];
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++)
#pragma unroll
        for (int dd = 0; dd < DPL; dd++) dk_acc[i][dd] = dv_acc[i][dd] = 0.0f;
    int last_key = min(k0 + TILE, len) - 1;
    for (int h = g * group; h < (g + 1) * group; h++) {
        for (int q0 = k0; q0 < len; q0 += TILE) {
            if (doc_start(pos, b, T, q0) > last_key) break; /* every later row is in a later document */
            __syncthreads();
            load_tile(Qs, HD + 1, q, b, q0, len, T, NH, h, HD, scale);
            load_tile(dOs, HD + 1, dout, b, q0, len, T, NH, h, HD, 1.0f);
            if (threadIdx.x < TILE) {
                int t = q0 + threadIdx.x;
                lse_s[threadIdx.x] = t < len ? lse[((size_t)b * NH + h) * T + t] : 0.0f;
                D_s[threadIdx.x] = t < len ? D[((size_t)b * NH + h) * T + t] : 0.0f;
            }
            __syncthreads();
            int t = q0 + lane;
            int start = t < len ? doc_start(pos, b, T, t) : 0;
            float s[ROWS_PER_WARP] = {0}, dp[ROWS_PER_WARP] = {0};
            for (int d = 0; d < HD; d++) {
                float qd = Qs[lane * (HD + 1) + d], od = dOs[lane * (HD + 1) + d];
#pragma unroll
                for (int i = 0; i < ROWS_PER_WARP; i++) {
                    s[i] += qd * Ks[(warp * ROWS_PER_WARP + i) * HD + d];
                    dp[i] += od * Vs[(warp * ROWS_PER_WARP + i) * HD + d];
                }
            }
#pragma unroll
            for (int i = 0; i < ROWS_PER_WARP; i++) {
                int key = k0 + warp * ROWS_PER_WARP + i;
                bool allowed = t < len && key < len && key <= t && key >= start;
                float p = allowed ? expf(s[i] - lse_s[lane]) : 0.0f;
                float ds = p * (dp[i] - D_s[lane]);
                for (int j = 0; j < TILE; j++) {
                    float pj = __shfl_sync(0xffffffffu, p, j), dsj = __shfl_sync(0xffffffffu, ds, j);
#pragma unroll
                    for (int dd = 0; dd < DPL; dd++) {
                        int d = dd * 32 + lane;
                        if (d < HD) {
                            dv_acc[i][dd] += pj * dOs[j * (HD + 1) + d];
                            dk_acc[i][dd] += dsj * Qs[j * (HD + 1) + d]; /* Qs carries the scale */
                        }
                    }
                }
            }
        }
    }
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        int key = k0 + warp * ROWS_PER_WARP + i;
        if (key >= len) continue;
        size_t base = (((size_t)b * T + key) * NKV + g) * HD;
#pragma unroll
        for (int dd = 0; dd < DPL; dd++) {
            int d = dd * 32 + lane;
            if (d < HD) {
                dk[base + d] = __float2bfloat16(__bfloat162float(dk[base + d]) + dk_acc[i][dd]);
                dv[base + d] = __float2bfloat16(__bfloat162float(dv[base + d]) + dv_acc[i][dd]);
            }
        }
    }
}

/* dQ: block = (query tile, head, sequence); warp w owns rows 4w..4w+3, lane j owns key j. */
template <int DPL>
__global__ void __launch_bounds__(THREADS) attention_backward_q_kernel(bf16 *dq, const bf16 *dout, const bf16 *q,
                                                                       const bf16 *k, const bf16 *v, const float *lse,
                                                                       const float *D, const int *lengths,
                                                                       const int *pos, int T, int NH, int NKV, int HD,
                                                                       float scale) {
    extern __shared__ float sm[];
    float *Qs = sm, *dOs = Qs + TILE * HD, *Ks = dOs + TILE * HD, *Vs = Ks + TILE * (HD + 1);
    int q0 = blockIdx.x * TILE, h = blockIdx.y, b = blockIdx.z, g = h / (NH / NKV), len = lengths[b];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (q0 >= len) return;
    load_tile(Qs, HD, q, b, q0, len, T, NH, h, HD, scale);
    load_tile(dOs, HD, dout, b, q0, len, T, NH, h, HD, 1.0f);
    int row[ROWS_PER_WARP], start[ROWS_PER_WARP];
    float row_lse[ROWS_PER_WARP], row_D[ROWS_PER_WARP], acc[ROWS_PER_WARP][DPL];
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        row[i] = q0 + warp * ROWS_PER_WARP + i;
        bool real = row[i] < len;
        start[i] = real ? doc_start(pos, b, T, row[i]) : 0;
        row_lse[i] = real ? lse[((size_t)b * NH + h) * T + row[i]] : 0.0f;
        row_D[i] = real ? D[((size_t)b * NH + h) * T + row[i]] : 0.0f;
#pragma unroll
        for (int dd = 0; dd < DPL; dd++) acc[i][dd] = 0.0f;
    }
    int k_end = min(q0 + TILE, len);
    for (int k0 = doc_start(pos, b, T, q0) / TILE * TILE; k0 < k_end; k0 += TILE) {
        __syncthreads();
        load_tile(Ks, HD + 1, k, b, k0, len, T, NKV, g, HD, 1.0f);
        load_tile(Vs, HD + 1, v, b, k0, len, T, NKV, g, HD, 1.0f);
        __syncthreads();
        int key = k0 + lane;
        float s[ROWS_PER_WARP] = {0}, dp[ROWS_PER_WARP] = {0};
        for (int d = 0; d < HD; d++) {
            float kd = Ks[lane * (HD + 1) + d], vd = Vs[lane * (HD + 1) + d];
#pragma unroll
            for (int i = 0; i < ROWS_PER_WARP; i++) {
                s[i] += Qs[(warp * ROWS_PER_WARP + i) * HD + d] * kd;
                dp[i] += dOs[(warp * ROWS_PER_WARP + i) * HD + d] * vd;
            }
        }
#pragma unroll
        for (int i = 0; i < ROWS_PER_WARP; i++) {
            bool allowed = row[i] < len && key <= row[i] && key >= start[i];
            float p = allowed ? expf(s[i] - row_lse[i]) : 0.0f;
            float ds = p * (dp[i] - row_D[i]);
            for (int j = 0; j < TILE; j++) {
                float dsj = __shfl_sync(0xffffffffu, ds, j);
#pragma unroll
                for (int dd = 0; dd < DPL; dd++)
                    if (dd * 32 + lane < HD) acc[i][dd] += dsj * Ks[j * (HD + 1) + dd * 32 + lane];
            }
        }
    }
#pragma unroll
    for (int i = 0; i < ROWS_PER_WARP; i++) {
        if (row[i] >= len) continue;
        size_t base = (((size_t)b * T + row[i]) * NH + h) * HD;
#pragma unroll
        for (int dd = 0; dd < DPL; dd++) {
            int d = dd * 32 + lane;
            if (d < HD) dq[base + d] = __float2bfloat16(__bfloat162float(dq[base + d]) + acc[i][dd] * scale);
        }
    }
}

/* ---- launchers: the per-lane register count DPL = ceil(HD / 32) is a template parameter ---- */

/* Kernels with more than 48 KiB of dynamic shared memory must say so first (HD = 128 needs it). */
template <typename K> static void allow_smem(K kernel, size_t smem) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
}

#define DISPATCH_DPL(HD, ...)                \
    switch ((HD + 31) / 32) {                 \
    case 1: { constexpr int DPL = 1; __VA_ARGS__; } break; \
    case 2: { constexpr int DPL = 2; __VA_ARGS__; } break; \
    case 3: { constexpr int DPL = 3; __VA_ARGS__; } break; \
    default: { constexpr int DPL = 4; __VA_ARGS__; } break; \
    }

extern "C" void ilr_cuda_attention_forward(ilr_bf16 *out, float *lse, const ilr_bf16 *q, const ilr_bf16 *k,
                                           const ilr_bf16 *v, const int *lengths, const int *pos, int B, int T, int NH,
                                           int NKV, int HD) {
    if (tensor_cores_allowed() && ilr_cuda_attention_forward_mma(as_bf16(out), lse, as_bf16(q), as_bf16(k), as_bf16(v),
                                                                 lengths, pos, B, T, NH, NKV, HD)) {
        ILR_CUDA_LAUNCHED("attention forward (tensor cores)");
        return;
    }
    dim3 grid((T + TILE - 1) / TILE, NH, B);
    size_t smem = sizeof(float) * (size_t)(TILE * HD + TILE * (HD + 1) + TILE * HD);
    float scale = 1.0f / sqrtf((float)HD);
    DISPATCH_DPL(HD, {
        allow_smem(attention_forward_kernel<DPL>, smem);
        attention_forward_kernel<DPL><<<grid, THREADS, smem, ilr_cuda_stream>>>(
            as_bf16(out), lse, as_bf16(q), as_bf16(k), as_bf16(v), lengths, pos, T, NH, NKV, HD, scale);
    });
    ILR_CUDA_LAUNCHED("attention forward");
}

extern "C" size_t ilr_cuda_attention_backward_scratch_floats(int B, int T, int NH, int HD) {
    return (size_t)B * T * NH * (1 + 2 * (size_t)HD);
}

extern "C" void ilr_cuda_attention_backward(ilr_bf16 *dq, ilr_bf16 *dk, ilr_bf16 *dv, const ilr_bf16 *dout,
                                            const ilr_bf16 *out, const ilr_bf16 *q, const ilr_bf16 *k,
                                            const ilr_bf16 *v, const float *lse, const int *lengths, const int *pos,
                                            int B, int T, int NH, int NKV, int HD, float *scratch) {
    float scale = 1.0f / sqrtf((float)HD);
    size_t rows = (size_t)B * T * NH;
    attention_rowdot_kernel<<<(unsigned)((rows * 32 + 255) / 256), 256, 0, ilr_cuda_stream>>>(
        scratch, as_bf16(dout), as_bf16(out), lengths, B, T, NH, HD);
    ILR_CUDA_LAUNCHED("attention backward (row terms)");
    if (tensor_cores_allowed() &&
        ilr_cuda_attention_backward_mma(as_bf16(dq), as_bf16(dk), as_bf16(dv), as_bf16(dout), as_bf16(q), as_bf16(k),
                                        as_bf16(v), lse, scratch, scratch + rows, lengths, pos, B, T, NH, NKV, HD)) {
        ILR_CUDA_LAUNCHED("attention backward (tensor cores)");
        return;
    }
    dim3 grid_kv((T + TILE - 1) / TILE, NKV, B), grid_q((T + TILE - 1) / TILE, NH, B);
    size_t smem_kv = sizeof(float) * (size_t)(2 * TILE * HD + 2 * TILE * (HD + 1) + 2 * TILE);
    size_t smem_q = sizeof(float) * (size_t)(2 * TILE * HD + 2 * TILE * (HD + 1));
    DISPATCH_DPL(HD, {
        allow_smem(attention_backward_kv_kernel<DPL>, smem_kv);
        attention_backward_kv_kernel<DPL><<<grid_kv, THREADS, smem_kv, ilr_cuda_stream>>>(
            as_bf16(dk), as_bf16(dv), as_bf16(dout), as_bf16(q), as_bf16(k), as_bf16(v), lse, scratch, lengths, pos, T,
            NH, NKV, HD, scale);
        allow_smem(attention_backward_q_kernel<DPL>, smem_q);
        attention_backward_q_kernel<DPL><<<grid_q, THREADS, smem_q, ilr_cuda_stream>>>(
            as_bf16(dq), as_bf16(dout), as_bf16(q), as_bf16(k), as_bf16(v), lse, scratch, lengths, pos, T, NH, NKV, HD,
            scale);
    });
    ILR_CUDA_LAUNCHED("attention backward");
}
