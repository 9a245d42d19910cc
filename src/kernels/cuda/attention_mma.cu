/* Attention on tensor cores (mma.sync m16n8k16, bf16 in, fp32 accumulation) for head sizes that are a multiple
 * of 16 up to 128: the same algorithm, masks and outputs as the CUDA-core kernels in attention.cu (which keep
 * the other head sizes), with each warp computing 16 rows of a tile product at a time.
 *
 * Tiles: forward and dQ take 64 query rows per block (4 warps x 16) against 64 keys at a time; dK/dV take 64
 * keys per block (4 warps x 16) of one query head against 32 query rows at a time (a group's query heads
 * in parallel, their partial sums added in a fixed order afterwards).  Operands live in shared memory as bf16 rows
 * padded by 8 elements (16 bytes) against bank conflicts.  A probability tile produced as an accumulator is
 * fed straight back as the A operand of the next product (the accumulator layout of two n-tiles is the A
 * layout of one k-slab), so P never leaves registers.
 *
 * Fragment layouts (PTX ISA, mma.m16n8k16 with .bf16), g = lane / 4, c = lane % 4:
 *   A (16 x 16): reg0 = (g, 2c..2c+1), reg1 = (g+8, 2c..), reg2 = (g, 2c+8..), reg3 = (g+8, 2c+8..)
 *   B (16 x 8):  reg0 = (k 2c..2c+1, n g), reg1 = (k 2c+8..2c+9, n g)
 *   C (16 x 8):  c0, c1 = (g, 2c..2c+1), c2, c3 = (g+8, 2c..2c+1) */
#include <math.h>
#include <stdint.h>

#include "common.cuh"

namespace {

enum { WARPS = 4, MMA_THREADS = 128, QT = 64, KT = 64, BQT = 32 };

__device__ __forceinline__ void mma(float c[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

__device__ __forceinline__ uint32_t pack(bf16 lo, bf16 hi) {
    return (uint32_t)__bfloat16_as_ushort(lo) | ((uint32_t)__bfloat16_as_ushort(hi) << 16);
}
__device__ __forceinline__ uint32_t pack_f(float lo, float hi) { return pack(__float2bfloat16(lo), __float2bfloat16(hi)); }
__device__ __forceinline__ uint32_t pair(const bf16 *p) { return *reinterpret_cast<const uint32_t *>(p); }

/* A = tile[row0.., col0..] (rows contiguous in k). */
__device__ __forceinline__ void frag_a(uint32_t a[4], const bf16 *tile, int ld, int row0, int col0, int g, int c) {
    const bf16 *p = tile + (row0 + g) * ld + col0 + 2 * c;
    a[0] = pair(p), a[1] = pair(p + 8 * ld), a[2] = pair(p + 8), a[3] = pair(p + 8 * ld + 8);
}
/* B[k][n] = tile[n0 + n][k0 + k] (the tile's rows are B's columns: a K or Q tile in S = Q K^T). */
__device__ __forceinline__ void frag_b_rows(uint32_t b[2], const bf16 *tile, int ld, int n0, int k0, int g, int c) {
    const bf16 *p = tile + (n0 + g) * ld + k0 + 2 * c;
    b[0] = pair(p), b[1] = pair(p + 8);
}
/* B[k][n] = tile[k0 + k][n0 + n] (a V or dO tile in P V): ldmatrix .trans hands each lane its two k-adjacent
 * elements of column g from rows that lanes 0..15 address (rows k0..k0+15, 16-byte aligned: ld * 2 bytes and
 * n0 * 2 bytes are multiples of 16). */
__device__ __forceinline__ void frag_b_cols(uint32_t b[2], const bf16 *tile, int ld, int k0, int n0, int g, int c) {
    int lane = g * 4 + c;
    uint32_t addr = (uint32_t)__cvta_generic_to_shared(tile + (k0 + (lane & 15)) * ld + n0);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];"
                 : "=r"(b[0]), "=r"(b[1])
                 : "r"(addr)
                 : "memory");
}
/* Accumulators of n-tiles 2j and 2j+1 as the A operand of k-slab j. */
__device__ __forceinline__ void acc_as_a(uint32_t a[4], const float lo[4], const float hi[4]) {
    a[0] = pack_f(lo[0], lo[1]), a[1] = pack_f(lo[2], lo[3]), a[2] = pack_f(hi[0], hi[1]), a[3] = pack_f(hi[2], hi[3]);
}

/* rows t0..t0+rows-1 of head h of a (B, T, H, HD) tensor into a bf16 tile with row stride HD + 8; zeros past len. */
template <int HD>
__device__ void load_rows(bf16 *dst, const bf16 *src, int rows, int b, int t0, int len, int T, int H, int h) {
    constexpr int LD = HD + 8;
    for (int i = threadIdx.x; i < rows * HD / 2; i += blockDim.x) {
        int r = i / (HD / 2), d = 2 * (i % (HD / 2)), t = t0 + r;
        uint32_t v = 0;
        if (t < len) v = pair(src + (((size_t)b * T + t) * H + h) * HD + d);
        *reinterpret_cast<uint32_t *>(dst + r * LD + d) = v;
    }
}

__device__ __forceinline__ int doc_start(const int *pos, int b, int T, int t) { return pos ? t - pos[b * T + t] : 0; }

/* Two products of a warp's 16 rows over the head dim at once, sharing the loop: o1 = A1 B1^T and o2 = A2 B2^T,
 * the A rows from row a_row of A1 / A2, the B rows NCOLS8 blocks of 8 from row 0 of B1 / B2 (tiles of leading
 * dimension HD + 8).  The backward's S = Q K^T with dP = dO V^T, and their transposes. */
template <int HD, int NCOLS8>
__device__ __forceinline__ void two_products(float (&o1)[NCOLS8][4], float (&o2)[NCOLS8][4], const bf16 *A1,
                                             const bf16 *A2, const bf16 *B1, const bf16 *B2, int a_row, int g, int c) {
    constexpr int LD = HD + 8;
#pragma unroll
    for (int nt = 0; nt < NCOLS8; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) o1[nt][e] = o2[nt][e] = 0.0f;
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++) {
        uint32_t a1[4], a2[4];
        frag_a(a1, A1, LD, a_row, ks * 16, g, c);
        frag_a(a2, A2, LD, a_row, ks * 16, g, c);
#pragma unroll
        for (int nt = 0; nt < NCOLS8; nt++) {
            uint32_t b1[2], b2[2];
            frag_b_rows(b1, B1, LD, nt * 8, ks * 16, g, c);
            frag_b_rows(b2, B2, LD, nt * 8, ks * 16, g, c);
            mma(o1[nt], a1, b1);
            mma(o2[nt], a2, b2);
        }
    }
}

/* ---- forward: block = (64 queries, head, sequence), warp w owns rows 16w..16w+15 ---- */

template <int HD>
__global__ void __launch_bounds__(MMA_THREADS) forward_kernel(bf16 *out, float *lse, const bf16 *q, const bf16 *k,
                                                              const bf16 *v, const int *lengths, const int *pos, int T,
                                                              int NH, int NKV, float scale) {
    constexpr int LD = HD + 8, NT = HD / 8;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *Qs = reinterpret_cast<bf16 *>(smem_raw), *Ks = Qs + QT * LD, *Vs = Ks + KT * LD;
    int q0 = blockIdx.x * QT, h = blockIdx.y, b = blockIdx.z, grp = h / (NH / NKV), len = lengths[b];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    int rows[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8}, start[2];
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}, o[NT][4];
    for (int i = 0; i < 2; i++) start[i] = rows[i] < len ? doc_start(pos, b, T, rows[i]) : 0;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;
    if (q0 < len) {
        load_rows<HD>(Qs, q, QT, b, q0, len, T, NH, h);
        int k_end = min(q0 + QT, len);
        for (int k0 = doc_start(pos, b, T, q0) / KT * KT; k0 < k_end; k0 += KT) {
            __syncthreads();
            load_rows<HD>(Ks, k, KT, b, k0, len, T, NKV, grp);
            load_rows<HD>(Vs, v, KT, b, k0, len, T, NKV, grp);
            __syncthreads();
            float s[KT / 8][4];
#pragma unroll
            for (int nt = 0; nt < KT / 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.0f;
#pragma unroll
            for (int ks = 0; ks < HD / 16; ks++) {
                uint32_t a[4];
                frag_a(a, Qs, LD, warp * 16, ks * 16, g, c);
#pragma unroll
                for (int nt = 0; nt < KT / 8; nt++) {
                    uint32_t bb[2];
                    frag_b_rows(bb, Ks, LD, nt * 8, ks * 16, g, c);
                    mma(s[nt], a, bb);
                }
            }
            /* mask, scale, online softmax per row (the 4 lanes of a group share a row) */
            float row_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int nt = 0; nt < KT / 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int r = e / 2, key = k0 + nt * 8 + 2 * c + (e & 1);
                    bool ok = rows[r] < len && key <= rows[r] && key >= start[r];
                    s[nt][e] = ok ? s[nt][e] * scale : -INFINITY;
                    row_max[r] = fmaxf(row_max[r], s[nt][e]);
                }
            float alpha[2], m_new[2], row_sum[2] = {0.0f, 0.0f};
#pragma unroll
            for (int r = 0; r < 2; r++) {
                row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(0xffffffffu, row_max[r], 1));
                row_max[r] = fmaxf(row_max[r], __shfl_xor_sync(0xffffffffu, row_max[r], 2));
                m_new[r] = fmaxf(m[r], row_max[r]);
                alpha[r] = m_new[r] == -INFINITY ? 1.0f : expf(m[r] - m_new[r]);
            }
#pragma unroll
            for (int nt = 0; nt < KT / 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int r = e / 2;
                    s[nt][e] = s[nt][e] == -INFINITY ? 0.0f : expf(s[nt][e] - m_new[r]);
                    row_sum[r] += s[nt][e];
                }
#pragma unroll
            for (int r = 0; r < 2; r++) {
                row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 1);
                row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 2);
                l[r] = l[r] * alpha[r] + row_sum[r];
                m[r] = m_new[r];
            }
#pragma unroll
            for (int nt = 0; nt < NT; nt++) o[nt][0] *= alpha[0], o[nt][1] *= alpha[0], o[nt][2] *= alpha[1], o[nt][3] *= alpha[1];
            /* O += P V */
#pragma unroll
            for (int j = 0; j < KT / 16; j++) {
                uint32_t a[4];
                acc_as_a(a, s[2 * j], s[2 * j + 1]);
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    uint32_t bb[2];
                    frag_b_cols(bb, Vs, LD, j * 16, nt * 8, g, c);
                    mma(o[nt], a, bb);
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int t = rows[r];
        if (t >= T) continue;
        bool real = t < len && l[r] > 0.0f;
        float inv = real ? 1.0f / l[r] : 0.0f;
        bf16 *dst = out + (((size_t)b * T + t) * NH + h) * HD;
#pragma unroll
        for (int nt = 0; nt < NT; nt++)
            *reinterpret_cast<uint32_t *>(dst + nt * 8 + 2 * c) = pack_f(o[nt][2 * r] * inv, o[nt][2 * r + 1] * inv);
        if (c == 0) lse[((size_t)b * NH + h) * T + t] = real ? m[r] + logf(l[r]) : 0.0f;
    }
}

/* ---- dK, dV: block = (64 keys, kv head, sequence), warp w owns keys 16w..16w+15, 32 query rows at a time ---- */

template <int HD>
__global__ void __launch_bounds__(MMA_THREADS) backward_kv_kernel(bf16 *dk, bf16 *dv, float *part_dk, float *part_dv,
                                                                  const bf16 *dout, const bf16 *q, const bf16 *k,
                                                                  const bf16 *v, const float *lse, const float *D,
                                                                  const int *lengths, const int *pos, int T, int NH,
                                                                  int NKV, float scale) {
    constexpr int LD = HD + 8, NT = HD / 8;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *Ks = reinterpret_cast<bf16 *>(smem_raw), *Vs = Ks + KT * LD, *Qs = Vs + KT * LD, *dOs = Qs + BQT * LD;
    float *lse_s = reinterpret_cast<float *>(dOs + BQT * LD), *D_s = lse_s + BQT;
    int k0 = blockIdx.x * KT, h = blockIdx.y, b = blockIdx.z, len = lengths[b], grp = h / (NH / NKV);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    if (k0 >= len) return;
    load_rows<HD>(Ks, k, KT, b, k0, len, T, NKV, grp);
    load_rows<HD>(Vs, v, KT, b, k0, len, T, NKV, grp);
    float dk_acc[NT][4], dv_acc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk_acc[nt][e] = dv_acc[nt][e] = 0.0f;
    int keys[2] = {k0 + warp * 16 + g, k0 + warp * 16 + g + 8}, last_key = min(k0 + KT, len) - 1;
    {
        for (int q0 = k0; q0 < len; q0 += BQT) {
            if (doc_start(pos, b, T, q0) > last_key) break;
            __syncthreads();
            load_rows<HD>(Qs, q, BQT, b, q0, len, T, NH, h);
            load_rows<HD>(dOs, dout, BQT, b, q0, len, T, NH, h);
            if (threadIdx.x < BQT) {
                int t = q0 + threadIdx.x;
                lse_s[threadIdx.x] = t < len ? lse[((size_t)b * NH + h) * T + t] : 0.0f;
                D_s[threadIdx.x] = t < len ? D[((size_t)b * NH + h) * T + t] : 0.0f;
            }
            __syncthreads();
            /* S^T = K Q^T and dP^T = V dO^T: 16 keys x 32 queries per warp */
            float st[BQT / 8][4], dpt[BQT / 8][4];
            two_products<HD, BQT / 8>(st, dpt, Ks, Vs, Qs, dOs, warp * 16, g, c);
            /* P^T and dS^T = P^T (dP^T - D), masked */
#pragma unroll
            for (int nt = 0; nt < BQT / 8; nt++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int key = keys[e / 2], qi = nt * 8 + 2 * c + (e & 1), t = q0 + qi;
                    bool ok = t < len && key < len && key <= t && key >= doc_start(pos, b, T, t);
                    float p = ok ? expf(st[nt][e] * scale - lse_s[qi]) : 0.0f;
                    st[nt][e] = p;
                    dpt[nt][e] = p * (dpt[nt][e] - D_s[qi]);
                }
            /* dV += P^T dO, dK += dS^T Q (scale applied at the end) */
#pragma unroll
            for (int j = 0; j < BQT / 16; j++) {
                uint32_t ap[4], ads[4];
                acc_as_a(ap, st[2 * j], st[2 * j + 1]);
                acc_as_a(ads, dpt[2 * j], dpt[2 * j + 1]);
#pragma unroll
                for (int nt = 0; nt < NT; nt++) {
                    uint32_t bo[2], bq[2];
                    frag_b_cols(bo, dOs, LD, j * 16, nt * 8, g, c);
                    frag_b_cols(bq, Qs, LD, j * 16, nt * 8, g, c);
                    mma(dv_acc[nt], ap, bo);
                    mma(dk_acc[nt], ads, bq);
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (keys[r] >= len) continue;
        size_t base = (((size_t)b * T + keys[r]) * NKV + grp) * HD, part = (((size_t)b * T + keys[r]) * NH + h) * HD;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            int d = nt * 8 + 2 * c;
            for (int e = 0; e < 2; e++) {
                if (part_dk) { /* one query head's share; backward_kv_reduce_kernel adds the group's in order */
                    part_dk[part + d + e] = dk_acc[nt][2 * r + e] * scale;
                    part_dv[part + d + e] = dv_acc[nt][2 * r + e];
                } else {
                    dk[base + d + e] = __float2bfloat16(__bfloat162float(dk[base + d + e]) + dk_acc[nt][2 * r + e] * scale);
                    dv[base + d + e] = __float2bfloat16(__bfloat162float(dv[base + d + e]) + dv_acc[nt][2 * r + e]);
                }
            }
        }
    }
}

/* dk, dv (B, T, NKV, HD) += the sums over each kv head's query heads of the partial gradients (B, T, NH, HD), in
 * head order; padding keys (never written) are skipped. */
__global__ void backward_kv_reduce_kernel(bf16 *dk, bf16 *dv, const float *part_dk, const float *part_dv,
                                          const int *lengths, int B, int T, int NH, int NKV, int HD) {
    size_t total = (size_t)B * T * NKV * HD;
    int group = NH / NKV;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int d = (int)(i % HD), g = (int)(i / HD % NKV);
        size_t bt = i / ((size_t)HD * NKV);
        int b = (int)(bt / T), t = (int)(bt % T);
        if (t >= lengths[b]) continue;
        float sk = 0.0f, sv = 0.0f;
        for (int j = 0; j < group; j++) {
            size_t p = (bt * NH + (size_t)g * group + j) * HD + d;
            sk += part_dk[p], sv += part_dv[p];
        }
        dk[i] = __float2bfloat16(__bfloat162float(dk[i]) + sk);
        dv[i] = __float2bfloat16(__bfloat162float(dv[i]) + sv);
    }
}

/* ---- dQ: block = (64 queries, head, sequence), warp w owns rows 16w..16w+15, 64 keys at a time ---- */

template <int HD>
__global__ void __launch_bounds__(MMA_THREADS) backward_q_kernel(bf16 *dq, const bf16 *dout, const bf16 *q,
                                                                 const bf16 *k, const bf16 *v, const float *lse,
                                                                 const float *D, const int *lengths, const int *pos,
                                                                 int T, int NH, int NKV, float scale) {
    constexpr int LD = HD + 8, NT = HD / 8;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *Qs = reinterpret_cast<bf16 *>(smem_raw), *dOs = Qs + QT * LD, *Ks = dOs + QT * LD, *Vs = Ks + KT * LD;
    int q0 = blockIdx.x * QT, h = blockIdx.y, b = blockIdx.z, grp = h / (NH / NKV), len = lengths[b];
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c = lane % 4;
    if (q0 >= len) return;
    load_rows<HD>(Qs, q, QT, b, q0, len, T, NH, h);
    load_rows<HD>(dOs, dout, QT, b, q0, len, T, NH, h);
    int rows[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8}, start[2];
    float row_lse[2], row_D[2], acc[NT][4];
    for (int r = 0; r < 2; r++) {
        bool real = rows[r] < len;
        start[r] = real ? doc_start(pos, b, T, rows[r]) : 0;
        row_lse[r] = real ? lse[((size_t)b * NH + h) * T + rows[r]] : 0.0f;
        row_D[r] = real ? D[((size_t)b * NH + h) * T + rows[r]] : 0.0f;
    }
#pragma unroll
    for (int nt = 0; nt < NT; nt++) acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.0f;
    int k_end = min(q0 + QT, len);
    for (int k0 = doc_start(pos, b, T, q0) / KT * KT; k0 < k_end; k0 += KT) {
        __syncthreads();
        load_rows<HD>(Ks, k, KT, b, k0, len, T, NKV, grp);
        load_rows<HD>(Vs, v, KT, b, k0, len, T, NKV, grp);
        __syncthreads();
        float s[KT / 8][4], dp[KT / 8][4];
        two_products<HD, KT / 8>(s, dp, Qs, dOs, Ks, Vs, warp * 16, g, c);
#pragma unroll
        for (int nt = 0; nt < KT / 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int r = e / 2, key = k0 + nt * 8 + 2 * c + (e & 1);
                bool ok = rows[r] < len && key <= rows[r] && key >= start[r];
                float p = ok ? expf(s[nt][e] * scale - row_lse[r]) : 0.0f;
                s[nt][e] = p * (dp[nt][e] - row_D[r]); /* dS */
            }
#pragma unroll
        for (int j = 0; j < KT / 16; j++) {
            uint32_t a[4];
            acc_as_a(a, s[2 * j], s[2 * j + 1]);
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
                uint32_t bk[2];
                frag_b_cols(bk, Ks, LD, j * 16, nt * 8, g, c);
                mma(acc[nt], a, bk);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        if (rows[r] >= len) continue;
        size_t base = (((size_t)b * T + rows[r]) * NH + h) * HD;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            int d = nt * 8 + 2 * c;
            for (int e = 0; e < 2; e++)
                dq[base + d + e] = __float2bfloat16(__bfloat162float(dq[base + d + e]) + acc[nt][2 * r + e] * scale);
        }
    }
}

template <typename K> void allow_smem(K kernel, size_t smem) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
}

template <int HD>
void forward(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v, const int *lengths, const int *pos,
             int B, int T, int NH, int NKV) {
    size_t smem = sizeof(bf16) * (size_t)(QT + 2 * KT) * (HD + 8);
    allow_smem(forward_kernel<HD>, smem);
    dim3 grid((T + QT - 1) / QT, NH, B);
    forward_kernel<HD><<<grid, MMA_THREADS, smem, ilr_cuda_stream>>>(out, lse, q, k, v, lengths, pos, T, NH, NKV,
                                                                     1.0f / sqrtf((float)HD));
}

/* One dK/dV block per (key tile, query head, sequence): with grouped-query attention the heads of a group write
 * fp32 partials (part: 2 x B x T x NH x HD floats) that a second kernel adds in head order. */
template <int HD>
void backward(bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *dout, const bf16 *q, const bf16 *k, const bf16 *v,
              const float *lse, const float *D, float *part, const int *lengths, const int *pos, int B, int T, int NH,
              int NKV) {
    float scale = 1.0f / sqrtf((float)HD);
    size_t smem_kv = sizeof(bf16) * (size_t)(2 * KT + 2 * BQT) * (HD + 8) + 2 * BQT * sizeof(float);
    size_t smem_q = sizeof(bf16) * (size_t)(2 * QT + 2 * KT) * (HD + 8);
    allow_smem(backward_kv_kernel<HD>, smem_kv);
    allow_smem(backward_q_kernel<HD>, smem_q);
    dim3 grid_kv((T + KT - 1) / KT, NH, B), grid_q((T + QT - 1) / QT, NH, B);
    size_t n_part = (size_t)B * T * NH * HD;
    float *part_dk = NH > NKV ? part : NULL, *part_dv = NH > NKV ? part + n_part : NULL;
    backward_kv_kernel<HD><<<grid_kv, MMA_THREADS, smem_kv, ilr_cuda_stream>>>(
        dk, dv, part_dk, part_dv, dout, q, k, v, lse, D, lengths, pos, T, NH, NKV, scale);
    if (part_dk)
        backward_kv_reduce_kernel<<<blocks_for((size_t)B * T * NKV * HD, 256), 256, 0, ilr_cuda_stream>>>(
            dk, dv, part_dk, part_dv, lengths, B, T, NH, NKV, HD);
    backward_q_kernel<HD><<<grid_q, MMA_THREADS, smem_q, ilr_cuda_stream>>>(dq, dout, q, k, v, lse, D, lengths, pos, T,
                                                                            NH, NKV, scale);
}

} // namespace

#define DISPATCH_HD16(HD, ...)                                         \
    switch (HD) {                                                      \
    case 16: { constexpr int H16 = 16; __VA_ARGS__; } return 1;        \
    case 32: { constexpr int H16 = 32; __VA_ARGS__; } return 1;        \
    case 48: { constexpr int H16 = 48; __VA_ARGS__; } return 1;        \
    case 64: { constexpr int H16 = 64; __VA_ARGS__; } return 1;        \
    case 80: { constexpr int H16 = 80; __VA_ARGS__; } return 1;        \
    case 96: { constexpr int H16 = 96; __VA_ARGS__; } return 1;        \
    case 112: { constexpr int H16 = 112; __VA_ARGS__; } return 1;      \
    case 128: { constexpr int H16 = 128; __VA_ARGS__; } return 1;      \
    default: return 0;                                                 \
    }

/* 1 when the tensor-core kernels took the call (HD a multiple of 16, <= 128), 0 to leave it to attention.cu. */
int ilr_cuda_attention_forward_mma(bf16 *out, float *lse, const bf16 *q, const bf16 *k, const bf16 *v,
                                   const int *lengths, const int *pos, int B, int T, int NH, int NKV, int HD) {
    DISPATCH_HD16(HD, forward<H16>(out, lse, q, k, v, lengths, pos, B, T, NH, NKV));
}

int ilr_cuda_attention_backward_mma(bf16 *dq, bf16 *dk, bf16 *dv, const bf16 *dout, const bf16 *q, const bf16 *k,
                                    const bf16 *v, const float *lse, const float *D, float *part, const int *lengths,
                                    const int *pos, int B, int T, int NH, int NKV, int HD) {
    DISPATCH_HD16(HD, backward<H16>(dq, dk, dv, dout, q, k, v, lse, D, part, lengths, pos, B, T, NH, NKV));
}
