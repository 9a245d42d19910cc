/* The CUDA backend's generation kernels (include/ilr/cuda.h): the new rows' queries, keys and values (bias,
 * rotation, the KV cache's writes), the cached attention of new rows over their slots' caches, SwiGLU of a fused
 * gate/up product, row gathers, and the sampler's greedy and temperature-only draws.  A layer's cache is
 * (slots, max_len, KD) bf16. */
#include <math.h>

#include "common.cuh"

/* ---- the new rows' queries, keys and values: bias, rotary, into the cache, in one pass ----
 * One block per row.  q, k, v are read with row strides (views into one fused product, or three), each value
 * rounded to bf16 once at the end. */

__device__ __forceinline__ float biased(const bf16 *x, const float *bias, int e) {
    return __bfloat162float(x[e]) + (bias ? bias[e] : 0.0f);
}

__global__ void qkv_rope_append_kernel(bf16 *q_out, bf16 *k_cache, bf16 *v_cache, const bf16 *q, const bf16 *k,
                                       const bf16 *v, size_t q_stride, size_t kv_stride, const float *q_bias,
                                       const float *k_bias, const float *v_bias, const float *cos_table,
                                       const float *sin_table, const int *slots, const int *pos, int NH, int NKV,
                                       int HD, size_t slot_stride) {
    int i = blockIdx.x, half = HD / 2, KD = NKV * HD;
    const float *c = cos_table + (size_t)pos[i] * half, *sn = sin_table + (size_t)pos[i] * half;
    const bf16 *qr = q + i * q_stride, *kr = k + i * kv_stride, *vr = v + i * kv_stride;
    bf16 *kc = k_cache + (size_t)slots[i] * slot_stride + (size_t)pos[i] * KD;
    bf16 *vc = v_cache + (size_t)slots[i] * slot_stride + (size_t)pos[i] * KD;
    for (int t = threadIdx.x; t < (NH + NKV) * half; t += blockDim.x) { /* one rotated pair per thread */
        int h = t / half, j = t % half, e = (h < NH ? h : h - NH) * HD + j;
        const bf16 *src = h < NH ? qr : kr;
        const float *bias = h < NH ? q_bias : k_bias;
        float a = biased(src, bias, e), b = biased(src, bias, e + half);
        bf16 *dst = h < NH ? q_out + (size_t)i * NH * HD : kc;
        dst[e] = __float2bfloat16(a * c[j] - b * sn[j]);
        dst[e + half] = __float2bfloat16(b * c[j] + a * sn[j]);
    }
    for (int e = threadIdx.x; e < KD; e += blockDim.x) vc[e] = __float2bfloat16(biased(vr, v_bias, e));
}

extern "C" void ilr_cuda_qkv_rope_append(ilr_bf16 *q_out, ilr_bf16 *k_cache, ilr_bf16 *v_cache, const ilr_bf16 *q,
                                         const ilr_bf16 *k, const ilr_bf16 *v, size_t q_stride, size_t kv_stride,
                                         const float *q_bias, const float *k_bias, const float *v_bias,
                                         const float *cos_table, const float *sin_table, const int *slots,
                                         const int *pos, int n, int NH, int NKV, int HD, int max_len) {
    qkv_rope_append_kernel<<<n, 128, 0, ilr_cuda_stream>>>(
        as_bf16(q_out), as_bf16(k_cache), as_bf16(v_cache), as_bf16(q), as_bf16(k), as_bf16(v), q_stride, kv_stride,
        q_bias, k_bias, v_bias, cos_table, sin_table, slots, pos, NH, NKV, HD, (size_t)max_len * NKV * HD);
    ILR_CUDA_LAUNCHED("qkv_rope_append");
}

/* ---- SwiGLU of a fused gate/up product: row r holds gate (I) then up (I) ---- */

__global__ void swiglu_fused_kernel(bf16 *out, const bf16 *gate_up, int n, int I) {
    size_t total = (size_t)n * I;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / I, j = i % I;
        float g = __bfloat162float(gate_up[r * 2 * I + j]), u = __bfloat162float(gate_up[r * 2 * I + I + j]);
        out[i] = __float2bfloat16(g / (1.0f + expf(-g)) * u);
    }
}

extern "C" void ilr_cuda_swiglu_fused(ilr_bf16 *out, const ilr_bf16 *gate_up, int n, int I) {
    swiglu_fused_kernel<<<blocks_for((size_t)n * I, 256), 256, 0, ilr_cuda_stream>>>(as_bf16(out), as_bf16(gate_up), n, I);
    ILR_CUDA_LAUNCHED("swiglu (fused gate/up)");
}

/* ---- cached attention ----
 * One block per (row, KV head): the group's query heads share every key and value the block reads.  Keys go
 * by in tiles of KEYS_PER_TILE: one thread per key forms that key's scores for all the group's heads (the
 * queries in shared memory, the key in 16-byte loads), one warp per head folds the tile into the head's
 * running max and sum (online softmax), then each warp takes every fourth key of the tile and each lane the
 * dims lane, lane + 32, ... of every head of the group: a value row is read once per block, coalesced, for
 * all the heads.  The four warps' partial sums are added in warp order at the end.  Fixed order throughout:
 * the same inputs give the same bits. */

enum {
    KEYS_PER_TILE = 128, CACHED_THREADS = 128, CACHED_WARPS = CACHED_THREADS / 32, MAX_GROUP = 16, MAX_HEAD_DIM = 128,
    MAX_DIMS_PER_LANE = MAX_HEAD_DIM / 32
};

__global__ void __launch_bounds__(CACHED_THREADS) attention_cached_kernel(bf16 *out, const bf16 *q, const bf16 *k_cache,
                                                                          const bf16 *v_cache, const int *slots,
                                                                          const int *pos, int NH, int NKV, int HD,
                                                                          int G, size_t slot_stride, float scale) {
    extern __shared__ float shared[];
    /* this block's G query heads h0 .. h0 + G - 1 (all of a KV head's group, or a part of it) */
    int i = blockIdx.x, h0 = blockIdx.y * G, kvh = h0 / (NH / NKV), KD = NKV * HD;
    float *qs = shared;                       /* (G, HD) */
    float *p = qs + G * HD;                   /* (G, KEYS_PER_TILE): scores, then weights */
    float *run_max = p + G * KEYS_PER_TILE;   /* (G) */
    float *run_sum = run_max + MAX_GROUP;     /* (G) */
    float *rescale = run_sum + MAX_GROUP;     /* (G) */
    int len = pos[i] + 1;
    const bf16 *K = k_cache + (size_t)slots[i] * slot_stride + (size_t)kvh * HD;
    const bf16 *V = v_cache + (size_t)slots[i] * slot_stride + (size_t)kvh * HD;
    for (int e = threadIdx.x; e < G * HD; e += blockDim.x)
        qs[e] = __bfloat162float(q[(size_t)i * NH * HD + (size_t)h0 * HD + e]) * scale;
    if (threadIdx.x < G) run_max[threadIdx.x] = -INFINITY, run_sum[threadIdx.x] = 0.0f;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float acc[MAX_GROUP][MAX_DIMS_PER_LANE];
#pragma unroll
    for (int g = 0; g < MAX_GROUP; g++)
#pragma unroll
        for (int u = 0; u < MAX_DIMS_PER_LANE; u++) acc[g][u] = 0.0f;
    __syncthreads();
    for (int j0 = 0; j0 < len; j0 += KEYS_PER_TILE) {
        int j = j0 + threadIdx.x;
        if (j < len) { /* this thread's key: its score for each head of the group */
            const bf16 *kr = K + (size_t)j * KD;
            float sc[MAX_GROUP];
#pragma unroll
            for (int g = 0; g < MAX_GROUP; g++) sc[g] = 0.0f;
            for (int d = 0; d < HD; d += 8) {
                uint4 raw = *reinterpret_cast<const uint4 *>(kr + d);
                const __nv_bfloat162 *k2 = reinterpret_cast<const __nv_bfloat162 *>(&raw);
                float kf[8];
#pragma unroll
                for (int u = 0; u < 4; u++) {
                    float2 f = __bfloat1622float2(k2[u]);
                    kf[2 * u] = f.x, kf[2 * u + 1] = f.y;
                }
#pragma unroll
                for (int g = 0; g < MAX_GROUP; g++)
                    if (g < G)
#pragma unroll
                        for (int u = 0; u < 8; u++) sc[g] += qs[g * HD + d + u] * kf[u];
            }
#pragma unroll
            for (int g = 0; g < MAX_GROUP; g++)
                if (g < G) p[g * KEYS_PER_TILE + threadIdx.x] = sc[g];
        } else {
            for (int g = 0; g < G; g++) p[g * KEYS_PER_TILE + threadIdx.x] = -INFINITY;
        }
        __syncthreads();
        for (int g = warp; g < G; g += CACHED_WARPS) { /* one warp per head: the tile into the running softmax */
            float m = -INFINITY;
            for (int t = lane; t < KEYS_PER_TILE; t += 32) m = fmaxf(m, p[g * KEYS_PER_TILE + t]);
            m = warp_max(m);
            float m_new = fmaxf(run_max[g], m), sum = 0.0f;
            for (int t = lane; t < KEYS_PER_TILE; t += 32) {
                float w = expf(p[g * KEYS_PER_TILE + t] - m_new); /* -inf -> 0 */
                p[g * KEYS_PER_TILE + t] = w;
                sum += w;
            }
            sum = warp_sum(sum);
            if (lane == 0) {
                float r = expf(run_max[g] - m_new); /* the first tile: exp(-inf) = 0 */
                rescale[g] = r;
                run_sum[g] = run_sum[g] * r + sum;
                run_max[g] = m_new;
            }
        }
        __syncthreads();
#pragma unroll
        for (int g = 0; g < MAX_GROUP; g++)
            if (g < G)
#pragma unroll
                for (int u = 0; u < MAX_DIMS_PER_LANE; u++) acc[g][u] *= rescale[g];
        int tile = len - j0 < KEYS_PER_TILE ? len - j0 : KEYS_PER_TILE;
        for (int t = warp; t < tile; t += CACHED_WARPS) { /* this warp's keys of the tile */
            const bf16 *vr = V + (size_t)(j0 + t) * KD;
            float vf[MAX_DIMS_PER_LANE];
#pragma unroll
            for (int u = 0; u < MAX_DIMS_PER_LANE; u++)
                vf[u] = lane + 32 * u < HD ? __bfloat162float(vr[lane + 32 * u]) : 0.0f;
#pragma unroll
            for (int g = 0; g < MAX_GROUP; g++)
                if (g < G) {
                    float w = p[g * KEYS_PER_TILE + t];
#pragma unroll
                    for (int u = 0; u < MAX_DIMS_PER_LANE; u++) acc[g][u] += w * vf[u];
                }
        }
        __syncthreads();
    }
    /* the warps' partial sums, added in warp order through shared memory (qs is free now) */
    for (int w = 1; w < CACHED_WARPS; w++) {
        if (warp == w)
#pragma unroll
            for (int g = 0; g < MAX_GROUP; g++)
#pragma unroll
                for (int u = 0; u < MAX_DIMS_PER_LANE; u++)
                    if (g < G && lane + 32 * u < HD) qs[g * HD + lane + 32 * u] = acc[g][u];
        __syncthreads();
        if (warp == 0)
#pragma unroll
            for (int g = 0; g < MAX_GROUP; g++)
#pragma unroll
                for (int u = 0; u < MAX_DIMS_PER_LANE; u++)
                    if (g < G && lane + 32 * u < HD) acc[g][u] += qs[g * HD + lane + 32 * u];
        __syncthreads();
    }
    if (warp == 0)
#pragma unroll
        for (int g = 0; g < MAX_GROUP; g++)
#pragma unroll
            for (int u = 0; u < MAX_DIMS_PER_LANE; u++)
                if (g < G && lane + 32 * u < HD)
                    out[(size_t)i * NH * HD + (size_t)(h0 + g) * HD + lane + 32 * u] =
                        __float2bfloat16(acc[g][u] / run_sum[g]);
}

extern "C" int ilr_cuda_attention_cached_supported(int NH, int NKV, int HD) {
    return NKV > 0 && NH % NKV == 0 && NH / NKV <= MAX_GROUP && HD % 8 == 0 && HD <= 128;
}

extern "C" void ilr_cuda_attention_cached(ilr_bf16 *out, const ilr_bf16 *q, const ilr_bf16 *k_cache,
                                          const ilr_bf16 *v_cache, int max_len, const int *slots, const int *pos, int n,
                                          int NH, int NKV, int HD) {
    /* A block per (row, KV head) shares each key among the group's heads; when that leaves the GPU's SMs short of
     * blocks (decode at small batches), the group is split over several blocks, each rereading the keys (from L2).
     * Measured on an H200 (the ratio to the matmuls of the same run, since runs vary): qwen2.5-1.5b's groups of 6
     * at batch 64 split in 3 took the attention from 1.15x to 0.44x the matmul time; qwen2.5-0.5b's groups of 7
     * split in 7 (one head a block) went from 0.73x to 0.94x: single heads only where there are few rows. */
    static int sms;
    if (!sms) {
        int dev = 0;
        cudaGetDevice(&dev);
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev);
        if (sms < 1) sms = 1;
    }
    int group = NH / NKV, G = group;
    int single_heads_pay = (long)n * NH <= 2L * sms;
    for (int split = 1; split <= group; split++) /* the fewest splits that give two blocks an SM */
        if (group % split == 0 && (group / split > 1 || split == 1 || single_heads_pay)) {
            G = group / split;
            if ((long)n * NKV * split >= 2L * sms) break;
        }
    size_t shared = sizeof(float) * ((size_t)G * HD + (size_t)G * KEYS_PER_TILE + 3 * MAX_GROUP);
    dim3 grid((unsigned)n, (unsigned)(NH / G));
    attention_cached_kernel<<<grid, CACHED_THREADS, shared, ilr_cuda_stream>>>(
        as_bf16(out), as_bf16(q), as_bf16(k_cache), as_bf16(v_cache), slots, pos, NH, NKV, HD, G,
        (size_t)max_len * NKV * HD, 1.0f / sqrtf((float)HD));
    ILR_CUDA_LAUNCHED("attention_cached");
}

/* ---- row gather ---- */

__global__ void gather_rows_kernel(bf16 *out, const bf16 *x, const int *rows, int C) {
    int r = blockIdx.x;
    for (int c = threadIdx.x; c < C; c += blockDim.x) out[(size_t)r * C + c] = x[(size_t)rows[r] * C + c];
}

extern "C" void ilr_cuda_gather_rows(ilr_bf16 *out, const ilr_bf16 *x, const int *rows, int m, int C) {
    gather_rows_kernel<<<m, 256, 0, ilr_cuda_stream>>>(as_bf16(out), as_bf16(x), rows, C);
    ILR_CUDA_LAUNCHED("gather_rows");
}

/* ---- sampling: one block per row ----
 * Greedy: the largest logit, its lowest id (NaN never wins), and its log-probability at temperature 1.
 * Temperature T: weights w = exp(x / T - max), and the inverse-CDF draw of the host sampler: the first id whose
 * cumulative weight exceeds u * total, u the row's uniform draw.  Each thread owns a contiguous run of ids so
 * the cumulative order is the id order; the run sums are added in double, in thread order. */

enum { SAMPLE_THREADS = 1024 };

__device__ __forceinline__ bool better(float x, int id, float best, int best_id) {
    return x > best || (x == best && id < best_id && !isnan(x));
}

__global__ void __launch_bounds__(SAMPLE_THREADS) sample_kernel(int *ids, float *logprobs, const float *logits, int V,
                                                                float temperature, const double *uniforms) {
    __shared__ float best_x[SAMPLE_THREADS / 32];
    __shared__ int best_i[SAMPLE_THREADS / 32];
    __shared__ double run_sum[SAMPLE_THREADS];
    int r = blockIdx.x, t = threadIdx.x;
    const float *x = logits + (size_t)r * V;
    int per = (V + SAMPLE_THREADS - 1) / SAMPLE_THREADS, lo = t * per, hi = min(V, lo + per);
    /* argmax: lowest id among the largest */
    float bx = -INFINITY;
    int bi = V;
    for (int j = lo; j < hi; j++)
        if (x[j] > bx) bx = x[j], bi = j;
    for (int o = 16; o > 0; o >>= 1) {
        float ox = __shfl_xor_sync(0xffffffffu, bx, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (better(ox, oi, bx, bi)) bx = ox, bi = oi;
    }
    if (t % 32 == 0) best_x[t / 32] = bx, best_i[t / 32] = bi;
    __syncthreads();
    if (t < 32) {
        bx = t < SAMPLE_THREADS / 32 ? best_x[t] : -INFINITY;
        bi = t < SAMPLE_THREADS / 32 ? best_i[t] : V;
        for (int o = 16; o > 0; o >>= 1) {
            float ox = __shfl_xor_sync(0xffffffffu, bx, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (better(ox, oi, bx, bi)) bx = ox, bi = oi;
        }
        if (t == 0) best_x[0] = bx, best_i[0] = bi == V ? 0 : bi;
    }
    __syncthreads();
    float xmax = best_x[0];
    float T = temperature > 0.0f ? temperature : 1.0f, zmax = xmax / T;
    double s = 0.0;
    for (int j = lo; j < hi; j++) s += (double)expf(x[j] / T - zmax);
    run_sum[t] = s;
    __syncthreads();
    if (t == 0) {
        double total = 0.0;
        for (int u = 0; u < SAMPLE_THREADS; u++) total += run_sum[u];
        int id = best_i[0];
        if (temperature > 0.0f && total > 0.0) { /* the run holding u * total, then the id within it */
            double target = uniforms[r] * total, cum = 0.0;
            int u = 0;
            while (u + 1 < SAMPLE_THREADS && cum + run_sum[u] <= target) cum += run_sum[u++];
            int a = u * per, b = min(V, a + per), last = -1;
            for (int j = a; j < b; j++) {
                float w = expf(x[j] / T - zmax);
                if (w > 0.0f) {
                    cum += w;
                    last = j;
                    if (cum > target) break;
                }
            }
            if (last >= 0) id = last;
        }
        ids[r] = id;
        logprobs[r] = (float)((double)(x[id] / T) - (double)zmax - log(total));
    }
}

extern "C" void ilr_cuda_sample(int *ids, float *logprobs, const float *logits, int n, int V, float temperature,
                                const double *uniforms) {
    sample_kernel<<<n, SAMPLE_THREADS, 0, ilr_cuda_stream>>>(ids, logprobs, logits, V, temperature, uniforms);
    ILR_CUDA_LAUNCHED("sample");
}
