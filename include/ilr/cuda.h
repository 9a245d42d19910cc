/* The CUDA backend's kernels (built with `make CUDA=1`; src/kernels/cuda/): the operations of kernels.h on an
 * NVIDIA GPU, in bf16 with fp32 accumulation.
 *
 * Precision: activations and their gradients are bf16 (ilr_bf16, the upper 16 bits of an IEEE float, round to
 * nearest even); weights are read as bf16 copies of fp32 master weights; everything that is summed across
 * rows or steps is fp32: weight gradients, RMSNorm's rstd, attention's log-sum-exp, log-probabilities,
 * AdamW's moments.  Matmuls are cuBLAS bf16 x bf16 with fp32 accumulation.
 *
 * Conventions are kernels.h's: outputs first, shapes in the comment, backward ACCUMULATES (+=) into gradient
 * outputs.  Every pointer given to a kernel is device memory unless the comment says host.  Kernels are queued
 * on one stream and return nothing; ilr_cuda_sync() waits and reports the first error (as an ilr error).
 * Every reduction runs in a fixed order: the same inputs give the same bits on every run. */
#ifndef ILR_CUDA_H
#define ILR_CUDA_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ilr/bf16.h"
#include "ilr/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t ilr_bf16; /* converted on the host by include/ilr/bf16.h's ilr_f32_to_bf16 / ilr_bf16_to_f32 */

/* ---- device and memory ---- */

/* The number of CUDA devices the driver sees; 0 when there is no driver or no device (never an error). */
int ilr_cuda_device_count(void);
/* Selects the device, creates the stream and the cuBLAS handle.  Idempotent.  An ilr error when it fails. */
int ilr_cuda_init(int device);

typedef struct {
    char name[256];
    int cc_major, cc_minor, sm_count;
    size_t total_bytes, free_bytes, l2_bytes;
    int driver_version, runtime_version;
} ilr_cuda_info;
int ilr_cuda_get_info(ilr_cuda_info *info);

/* Device memory; NULL (an ilr error naming `what` and the size) when it fails.  ilr_cuda_free(NULL) is fine. */
void *ilr_cuda_alloc(size_t bytes, const char *what);
void ilr_cuda_free(void *p);
/* Host <-> device copies (synchronous).  An ilr error when they fail. */
int ilr_cuda_upload(void *dst, const void *host_src, size_t bytes);
int ilr_cuda_download(void *host_dst, const void *src, size_t bytes);
/* dst = src, both device memory (queued). */
void ilr_cuda_copy(void *dst, const void *src, size_t bytes);
/* dst = 0 (bytes), queued. */
void ilr_cuda_zero(void *dst, size_t bytes);
/* Waits for the queued work; an ilr error when any of it failed. */
int ilr_cuda_sync(void);
/* The most device memory this process's ilr_cuda_alloc allocations held at once (since the last reset). */
size_t ilr_cuda_peak_bytes(void);
void ilr_cuda_reset_peak(void);

/* Milliseconds between two points of the stream (CUDA events): ilr_cuda_timer_start, then queue work, then
 * ilr_cuda_timer_ms (which waits for it). */
void ilr_cuda_timer_start(void);
double ilr_cuda_timer_ms(void);

/* CUDA graphs: the launches queued between _capture_begin and _capture_end are recorded, not run, and replayed
 * by ilr_cuda_graph_launch with the same arguments (the device memory they read may change between replays).
 * Nothing may wait for the stream or allocate while capturing (so not with ILR_CUDA_PROFILE). */
typedef struct ilr_cuda_graph ilr_cuda_graph;
int ilr_cuda_capture_begin(void);
int ilr_cuda_capture_end(ilr_cuda_graph **graph);
void ilr_cuda_graph_launch(ilr_cuda_graph *graph);
void ilr_cuda_graph_free(ilr_cuda_graph *graph);

/* The profile: with ILR_CUDA_PROFILE=1 in the environment every launch waits for the stream and the time since
 * the previous launch ended is added to the launch's name (host gaps included).  ilr_cuda_profiling() says
 * whether it is on; _reset clears it; _print writes one line per name, largest first, in ms per `per` (e.g.
 * the number of steps). */
int ilr_cuda_profiling(void);
void ilr_cuda_profile_reset(void);
void ilr_cuda_profile_print(FILE *out, double per);

/* ---- conversion and elementwise ---- */

void ilr_cuda_f32_to_bf16(ilr_bf16 *dst, const float *src, size_t n);
/* out = a + b (out may alias a or b). */
void ilr_cuda_add(ilr_bf16 *out, const ilr_bf16 *a, const ilr_bf16 *b, size_t n);
/* dst += src (fp32 into bf16). */
void ilr_cuda_accumulate_f32(ilr_bf16 *dst, const float *src, size_t n);

/* ---- linear layers (cuBLAS) ---- */

/* out (N, OUT) = inp (N, IN) @ weight (OUT, IN)^T + bias (OUT, fp32; may be NULL).  Overwrites out. */
void ilr_cuda_matmul_forward(ilr_bf16 *out, const ilr_bf16 *inp, const ilr_bf16 *weight, const float *bias, int N,
                             int IN, int OUT);
/* out (N, OUT) += inp @ weight^T, in one product (cuBLAS's beta = 1: one rounding to bf16): a residual add. */
void ilr_cuda_matmul_forward_accumulate(ilr_bf16 *out, const ilr_bf16 *inp, const ilr_bf16 *weight, int N, int IN,
                                        int OUT);
/* The same with an fp32 output (the LM head's logits). */
void ilr_cuda_matmul_forward_f32(float *out, const ilr_bf16 *inp, const ilr_bf16 *weight, int N, int IN, int OUT);
/* dinp (N, IN) += dout @ weight;  dweight (OUT, IN, fp32) += dout^T @ inp;  dbias (OUT, fp32) += column sums of
 * dout.  scratch: ilr_cuda_colsum_scratch_floats(N, OUT) floats when dbias is given (else may be NULL). */
void ilr_cuda_matmul_backward(ilr_bf16 *dinp, float *dweight, float *dbias, const ilr_bf16 *dout, const ilr_bf16 *inp,
                              const ilr_bf16 *weight, int N, int IN, int OUT, float *scratch);
/* Scratch for the fixed-order column sums of an (N, C) matrix (dbias, RMSNorm's dweight). */
size_t ilr_cuda_colsum_scratch_floats(int N, int C);
/* A general product for benchmarks: C (m, n) = A (m, k) @ B (n, k)^T, row-major bf16. */
void ilr_cuda_gemm_bench(ilr_bf16 *c, const ilr_bf16 *a, const ilr_bf16 *b, int m, int n, int k);

/* ---- embedding ---- */

/* out (N, C) = wte[tokens[n]] (wte (V, C) bf16). */
void ilr_cuda_embedding_forward(ilr_bf16 *out, const int *tokens, const ilr_bf16 *wte, int N, int C);
/* dwte (V, C, fp32) += dout rows scattered by token, each column summed over n in order. */
void ilr_cuda_embedding_backward(float *dwte, const ilr_bf16 *dout, const int *tokens, int N, int C);

/* ---- RMSNorm ---- */

/* out (N, C) = x * rstd * weight, rstd (N, fp32) = rsqrt(mean(x^2) + eps), computed in fp32. */
void ilr_cuda_rmsnorm_forward(ilr_bf16 *out, float *rstd, const ilr_bf16 *x, const ilr_bf16 *weight, int N, int C,
                              float eps);
/* dx (N, C) += ...;  dweight (C, fp32) += column sums of dout * x * rstd.  scratch: colsum_scratch(N, C). */
void ilr_cuda_rmsnorm_backward(ilr_bf16 *dx, float *dweight, const ilr_bf16 *dout, const ilr_bf16 *x,
                               const ilr_bf16 *weight, const float *rstd, int N, int C, float *scratch);

/* ---- rotary embedding (tables as kernels.h's ilr_rope_table makes them, on the device) ---- */

void ilr_cuda_rope_forward(ilr_bf16 *x, const float *cos_table, const float *sin_table, const int *pos, int N, int H,
                           int HD);
void ilr_cuda_rope_backward(ilr_bf16 *dx, const float *cos_table, const float *sin_table, const int *pos, int N, int H,
                            int HD);

/* ---- attention: kernels.h's masks (causal, right padding, packed documents by pos), flash-style ----
 * No T x T matrix is kept: forward saves each row's log-sum-exp, lse (B, NH, T) fp32, and backward recomputes
 * the probabilities tile by tile.  HD <= 128; multiples of 16 run on tensor cores (mma.sync, bf16 operands, fp32
 * accumulation; P and dS rounded to bf16 as operands), the others on CUDA cores in fp32.  The environment
 * variable ILR_CUDA_ATTENTION=cuda-cores sends every size to the CUDA-core kernels. */

/* q: (B, T, NH, HD)  k, v: (B, T, NKV, HD)  out: (B, T, NH, HD); padding rows give out = 0. */
void ilr_cuda_attention_forward(ilr_bf16 *out, float *lse, const ilr_bf16 *q, const ilr_bf16 *k, const ilr_bf16 *v,
                                const int *lengths, const int *pos, int B, int T, int NH, int NKV, int HD);
/* Accumulates into dq, dk, dv.  out and lse are the forward's.  scratch: ilr_cuda_attention_backward_scratch_floats
 * floats (each row's softmax term, and the query heads' partial dK, dV before a group's are added). */
size_t ilr_cuda_attention_backward_scratch_floats(int B, int T, int NH, int HD);
void ilr_cuda_attention_backward(ilr_bf16 *dq, ilr_bf16 *dk, ilr_bf16 *dv, const ilr_bf16 *dout, const ilr_bf16 *out,
                                 const ilr_bf16 *q, const ilr_bf16 *k, const ilr_bf16 *v, const float *lse,
                                 const int *lengths, const int *pos, int B, int T, int NH, int NKV, int HD,
                                 float *scratch);

/* ---- SwiGLU ---- */

void ilr_cuda_swiglu_forward(ilr_bf16 *out, const ilr_bf16 *gate, const ilr_bf16 *up, int N, int FF);
void ilr_cuda_swiglu_backward(ilr_bf16 *dgate, ilr_bf16 *dup, const ilr_bf16 *dout, const ilr_bf16 *gate,
                              const ilr_bf16 *up, int N, int FF);

/* ---- fused LM head + log-softmax (kernels.h's semantics), chunked over the vocabulary ---- */

/* Scratch floats for N rows and `chunk` vocabulary rows at a time (forward and backward). */
size_t ilr_cuda_lm_head_scratch_floats(int N, int C, int chunk);
void ilr_cuda_lm_head_logprob_forward(float *logprob, float *entropy, float *lse, const ilr_bf16 *x, const ilr_bf16 *w,
                                      const int *targets, float temperature, int N, int C, int V, float *scratch,
                                      int chunk);
/* dx (N, C) += ..., dw (V, C, fp32) += ... from dlogprob (N, fp32). */
void ilr_cuda_lm_head_logprob_backward(ilr_bf16 *dx, float *dw, const float *dlogprob, const ilr_bf16 *x,
                                       const ilr_bf16 *w, const int *targets, const float *lse, float temperature,
                                       int N, int C, int V, float *scratch, int chunk);

/* ---- generation (the KV-cache engine, src/generate/engine_cuda.c) ----
 * A layer's cache is (slots, max_len, KD) bf16, KD = NKV * HD. */

/* Row i's new query, key and value (q, k, v read with row strides q_stride and kv_stride in elements; the fp32
 * biases may be NULL): bias added, the rotation at pos[i] applied to q and k, q into q_out (n, NH * HD), k and v
 * into the caches at slot slots[i], position pos[i]; each value rounded to bf16 once. */
void ilr_cuda_qkv_rope_append(ilr_bf16 *q_out, ilr_bf16 *k_cache, ilr_bf16 *v_cache, const ilr_bf16 *q, const ilr_bf16 *k,
                              const ilr_bf16 *v, size_t q_stride, size_t kv_stride, const float *q_bias,
                              const float *k_bias, const float *v_bias, const float *cos_table, const float *sin_table,
                              const int *slots, const int *pos, int n, int NH, int NKV, int HD, int max_len);
/* out (n, I) = silu(gate) * up of gate_up (n, 2I), each row gate then up (one product of adjacent weights). */
void ilr_cuda_swiglu_fused(ilr_bf16 *out, const ilr_bf16 *gate_up, int n, int I);
/* out (n, NH * HD): row i's query heads attend to keys 0..pos[i] of slot slots[i]'s cache (its own included). */
void ilr_cuda_attention_cached(ilr_bf16 *out, const ilr_bf16 *q, const ilr_bf16 *k_cache, const ilr_bf16 *v_cache,
                               int max_len, const int *slots, const int *pos, int n, int NH, int NKV, int HD);
/* Whether ilr_cuda_attention_cached takes these heads (a group of <= 16 query heads per KV head, HD a multiple of
 * 8, <= 128). */
int ilr_cuda_attention_cached_supported(int NH, int NKV, int HD);
/* out (m, C) = x[rows[r]]. */
void ilr_cuda_gather_rows(ilr_bf16 *out, const ilr_bf16 *x, const int *rows, int m, int C);
/* One token for each of n rows of logits (n, V): greedy at temperature 0 (the lowest id of the largest logit),
 * else the inverse-CDF draw at uniforms[r] (device, one double per row) over softmax(logits / temperature), as
 * ilr_sample without top-k / top-p / min-p; logprobs[r] = log softmax(logits / T)[ids[r]] (T = 1 when greedy). */
void ilr_cuda_sample(int *ids, float *logprobs, const float *logits, int n, int V, float temperature,
                     const double *uniforms);

/* ---- optimizer ---- */

/* AdamW (kernels.h's ilr_adamw_update) on fp32 params with grads scaled by grad_scale first; writes the bf16
 * copy of the updated params into params_bf16 (may be NULL). */
void ilr_cuda_adamw_update(float *params, ilr_bf16 *params_bf16, const float *grads, float *m, float *v, size_t n,
                           const ilr_adamw_params *hp, int step, float grad_scale);
/* sqrt(sum g^2): fp32 block sums in a fixed order, added in double on the host.  scratch: 1024 floats. */
double ilr_cuda_grad_norm(const float *g, size_t n, float *scratch);

#ifdef __cplusplus
}
#endif

#endif
