/* CPU kernels of the decoder, each a forward/backward pair over contiguous fp32 buffers (llm.c style).
 *
 * Shapes in the comment above each function.  Sizes: N tokens (= B * T of a padded batch), C hidden,
 * NH query heads, NKV key/value heads, HD head dim, FF intermediate (MLP) width, V vocabulary.  Outputs come first,
 * then inputs, then sizes.  Backward functions ACCUMULATE (+=) into their gradient outputs unless the
 * comment says otherwise; any gradient output may be NULL to skip it.  Matmuls go through BLAS sgemm;
 * the rest is OpenMP-parallel and written to vectorise.  A kernel knows nothing of models. */
#ifndef ILR_KERNELS_H
#define ILR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ---- linear layers ---- */

/* out (N, OUT) = inp (N, IN) @ weight (OUT, IN)^T + bias (OUT) (bias may be NULL).  Overwrites out. */
void ilr_matmul_forward(float *out, const float *inp, const float *weight, const float *bias, int N, int IN,
                        int OUT);
/* dinp (N, IN) += dout @ weight;  dweight (OUT, IN) += dout^T @ inp;  dbias (OUT) += column sums of dout. */
void ilr_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                         const float *weight, int N, int IN, int OUT);

/* Strided products for the kernels (attention's heads): C (M, N; ldc) = alpha A (M, K; lda) @ B^T with B (N, K;
 * ldb) (_nt) or @ B with B (K, N; ldb) (_nn), or += when accumulate; the small products where they fit, else sgemm. */
void ilr_gemm_nt(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K, float alpha,
                 int accumulate);
void ilr_gemm_nn(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K, float alpha,
                 int accumulate);

/* Whether the kernel switch `name` is off (name=0 in the environment, to compare with the path it replaces): read
 * once into *cache (starts at -1), which is read and written atomically: several threads may multiply at once
 * (ilr serve runs a scheduler thread per model). */
int ilr_kernel_env_off(int *cache, const char *name);

/* ---- products of narrow matrices (src/kernels/cpu/matmul_small.c) ---- */

/* The linear layers, attention and the LM head take these instead of sgemm where the inner dimension is at
 * most ILR_SMALL_GEMM_MAX_K and B packs into ILR_SMALL_GEMM_MAX_PACKED floats (N rounded up to 16, times K).
 * AVX2 + FMA builds only;
 * ILR_SMALL_GEMM=0 in the environment sends everything to sgemm (to compare). */
#define ILR_SMALL_GEMM_MAX_K 512
#define ILR_SMALL_GEMM_MAX_PACKED 65536
/* Whether C (M, N) = A (M, K) @ B takes the small path (ilr_small_gemm_nt / _nn). */
int ilr_small_gemm_fits(int M, int N, int K);
/* C (M, N; ldc) = alpha A (M, K; lda) @ W (N, K; ldw)^T, or += when accumulate. */
void ilr_small_gemm_nt(float *C, int ldc, const float *A, int lda, const float *W, int ldw, int M, int N, int K,
                       float alpha, int accumulate);
/* The same in two halves, for a W read by many products (the CPU generator packs a small model's weights once a
 * call): dst (ilr_small_gemm_packed_floats(N, K), 32-byte aligned) = W (N, K; ldw)^T packed, then
 * C (M, N; ldc) = alpha A (M, K; lda) @ that, or += when accumulate.  Only where ilr_small_gemm_fits. */
size_t ilr_small_gemm_packed_floats(int N, int K);
void ilr_small_gemm_pack_nt(float *dst, const float *W, int ldw, int N, int K);
void ilr_small_gemm_packed(float *C, int ldc, const float *A, int lda, const float *Bp, int M, int N, int K, float alpha,
                           int accumulate);
/* C (M, N; ldc) = alpha A (M, K; lda) @ B (K, N; ldb), or += when accumulate. */
void ilr_small_gemm_nn(float *C, int ldc, const float *A, int lda, const float *B, int ldb, int M, int N, int K,
                       float alpha, int accumulate);

/* ---- linear layers for a few rows (decoding; src/kernels/cpu/matmul_few.c) ---- */

/* Up to this many rows ilr_matmul_forward reads fp32 weights where they lie instead of sgemm's packed copy (or
 * sgemv, for one row). */
#define ILR_F32_FEW_ROWS 16
/* Whether ilr_matmul_few takes (N, IN) @ (OUT, IN)^T: AVX-512 builds, 1..ILR_F32_FEW_ROWS rows, unless
 * ILR_MATMUL_FEW=0 is in the environment. */
int ilr_matmul_few_fits(int N, int IN, int OUT);
/* out (N, OUT) = inp (N, IN) @ weight (OUT, IN)^T + bias (OUT, or NULL); overwrites out.  A row's result is the
 * same bits whatever the other rows of the call. */
void ilr_matmul_few(float *out, const float *inp, const float *weight, const float *bias, int N, int IN, int OUT);

/* ---- linear layers with bf16 weights (inference; src/kernels/cpu/matmul_bf16.c) ---- */

/* Up to this many rows a product reads the bf16 weights directly (AVX2); more rows are multiplied in bf16 by
 * ilr_matmul_bf16_dp where the build has AVX512_BF16, else panels of the weights are widened into scratch for
 * sgemm. */
#define ILR_BF16_FEW_ROWS 16

/* out (N, OUT) = inp (N, IN) @ weight (OUT, IN)^T + bias (OUT), weight in bf16 (ilr/bf16.h), accumulated in fp32
 * (bias may be NULL).  Overwrites out.  acts_bf16 0: the activations keep fp32's precision (to ~2^-17 on the
 * AVX512_BF16 path); 1: the many-row path rounds them to bf16 too, twice as fast on AVX512_BF16 (elsewhere the
 * same as 0).  scratch: scratch_floats >= IN floats for the many-row path (more: wider panels and more rows per
 * packing; the AVX512_BF16 path needs ilr_matmul_bf16_dp_scratch(32, IN, !acts_bf16) and falls back to panels
 * below that; NULL: every N takes the few-row kernel). */
void ilr_matmul_bf16_forward(float *out, const float *inp, const uint16_t *weight, const float *bias, int N, int IN,
                             int OUT, int acts_bf16, float *scratch, size_t scratch_floats);
/* The same product for many rows multiplied in bf16 (AVX512_BF16's vdpbf16ps, src/kernels/cpu/matmul_bf16_dp.c):
 * the activations rounded to bf16 (to nearest even), the products exact, summed in fp32; with split each
 * activation is hi + lo, both bf16 (x to about 2^-17 relative), at twice the arithmetic.  Overwrites out.
 * Uses ilr_matmul_bf16_dp_scratch(rows, IN, split) floats of scratch per `rows` rows packed at once (at least
 * 32; N is taken in chunks of what scratch_floats holds).  Returns -1, touching nothing, where the build has no
 * AVX512_BF16 or scratch holds fewer than 32 rows; 0 when done. */
int ilr_matmul_bf16_dp(float *out, const float *inp, const uint16_t *weight, const float *bias, int N, int IN, int OUT,
                       int split, float *scratch, size_t scratch_floats);
size_t ilr_matmul_bf16_dp_scratch(int rows, int IN, int split);
/* 1 where this build has ilr_matmul_bf16_dp's kernel (compiled for AVX512F/BW/VL + AVX512_BF16), else 0. */
int ilr_matmul_bf16_dp_available(void);
/* dst (n) = src rounded to bf16 (to nearest even), in parallel. */
void ilr_bf16_round(uint16_t *dst, const float *src, size_t n);

/* ---- embedding ---- */

/* out (N, C) = wte[tokens[n]] for each n (wte (V, C)).  Overwrites out. */
void ilr_embedding_forward(float *out, const int *tokens, const float *wte, int N, int C);
/* dwte (V, C) += dout rows scattered by token (deterministic: the same sum order for any thread count). */
void ilr_embedding_backward(float *dwte, const float *dout, const int *tokens, int N, int C);

/* ---- RMSNorm (Hugging Face: x * rsqrt(mean(x^2) + eps) * weight, in fp32) ---- */

/* x, out: (N, C)   weight: (C)   rstd: (N), kept for backward.  Overwrites out and rstd. */
void ilr_rmsnorm_forward(float *out, float *rstd, const float *x, const float *weight, int N, int C, float eps);
/* Accumulates into dx (N, C) and dweight (C). */
void ilr_rmsnorm_backward(float *dx, float *dweight, const float *dout, const float *x, const float *weight,
                          const float *rstd, int N, int C);

/* ---- rotary position embedding (Hugging Face rotate_half layout) ---- */

/* llama3 rope scaling (transformers' _compute_llama3_parameters); factor 0 means none. */
typedef struct {
    double factor, low_freq_factor, high_freq_factor;
    int original_max_position;
} ilr_rope_scaling;

/* cos, sin: (T, HD/2) for positions 0..T-1: inv_freq[j] = theta^(-2j/HD) (llama3-scaled when scaling is
 * non-NULL with factor > 0), angle = pos * inv_freq[j], computed in double and rounded to float. */
void ilr_rope_table(float *cos_table, float *sin_table, int T, int HD, double theta,
                    const ilr_rope_scaling *scaling);
/* x: (N, H, HD), rotated in place by position pos[n]:  for i < HD/2, with c = cos[pos][i], s = sin[pos][i]:
 *   x'[i] = x[i] c - x[i + HD/2] s,   x'[i + HD/2] = x[i + HD/2] c + x[i] s. */
void ilr_rope_forward(float *x, const float *cos_table, const float *sin_table, const int *pos, int N, int H,
                      int HD);
/* dx: (N, H, HD), the gradient w.r.t. the rotated x, turned in place into the gradient w.r.t. the input
 * (the inverse rotation).  Not accumulating. */
void ilr_rope_backward(float *dx, const float *cos_table, const float *sin_table, const int *pos, int N, int H,
                       int HD);

/* ---- attention: grouped-query, causal, per-sequence lengths in a right-padded batch ---- */

/* q: (B, T, NH, HD)   k, v: (B, T, NKV, HD)   out: (B, T, NH, HD)   att: (B, NH, T, T) probabilities, kept
 * for backward.  Sequence b holds real tokens at t < lengths[b]; query head h reads kv head h / (NH/NKV).
 * Scores are q.k / sqrt(HD), causal (key t2 <= query t).  Rows of padding tokens (t >= lengths[b]) give
 * out = 0 and att = 0, and padding keys are never attended (they are causally after every real token).
 * pos: NULL, or (B, T) positions of packed segments: a segment starts at t = 0 and wherever pos[t] is not
 * pos[t-1] + 1.  A segment whose first position is 0 starts a document (packed documents attend only to
 * themselves; pos[t] is then t minus the document's start); one whose first position is s > 0 attends to its
 * document's first s tokens (a prefix the document's segments share: they must be that document's positions
 * 0..s-1) and causally to its own tokens.  Only keys inside the mask are computed; att holds each query's
 * probabilities at the keys' own columns, 0 elsewhere.  (The CUDA kernels know documents only.)
 * Overwrites out and att. */
void ilr_attention_forward(float *out, float *att, const float *q, const float *k, const float *v,
                           const int *lengths, const int *pos, int B, int T, int NH, int NKV, int HD);
/* Accumulates into dq (B, T, NH, HD), dk and dv (B, T, NKV, HD) (a shared prefix's dk and dv get all its
 * segments' terms).  Padding rows contribute nothing.
 * scratch: scratch_floats floats, overwritten, at least ilr_attention_backward_scratch_floats(T, 1); with
 * (T, n) up to n threads work at once (each in a T x T buffer).  The kernel allocates nothing. */
void ilr_attention_backward(float *dq, float *dk, float *dv, float *scratch, size_t scratch_floats, const float *dout,
                            const float *q, const float *k, const float *v, const float *att, const int *lengths,
                            const int *pos, int B, int T, int NH, int NKV, int HD);
/* The scratch the backward needs for sequences of T tokens on `threads` threads: threads * T * T floats. */
size_t ilr_attention_backward_scratch_floats(int T, int threads);

/* Attention of n new rows against key/value caches (generation).  Row i's query heads (q: (n, NH, HD))
 * attend to keys 0..pos[i] of cached sequence seq[i], whose token t is the row (seq[i] * seq_rows + t) of
 * k_cache and v_cache ((sequences * seq_rows, NKV * HD)); query head h reads kv head h / (NH / NKV).
 * out: (n, NH, HD).  scores: max_len floats per thread (omp_get_max_threads()), pos[i] < max_len. */
void ilr_attention_cached(float *out, const float *q, const float *k_cache, const float *v_cache, size_t seq_rows,
                          const int *seq, const int *pos, int n, int NH, int NKV, int HD, float *scores, int max_len);
/* The same for a run of len new rows of one sequence at positions p0 .. p0 + len - 1 (a prompt's prefill), their
 * keys and values already in the cache: keys, values are the sequence's cache rows 0.. (row stride NKV * HD).  The
 * rows go in blocks of ILR_ATTENTION_RUN_BLOCK, each head's scores against the keys a matrix product (the row kernel
 * above reads every key once per row).  scratch: ilr_attention_cached_run_scratch_floats(max_len) floats per thread
 * (omp_get_max_threads()), p0 + len <= max_len. */
#define ILR_ATTENTION_RUN_BLOCK 32
size_t ilr_attention_cached_run_scratch_floats(int max_len);
void ilr_attention_cached_run(float *out, const float *q, const float *keys, const float *values, int p0, int len,
                              int NH, int NKV, int HD, float *scratch, int max_len);

/* ---- SwiGLU MLP activation ---- */

/* out (N, FF) = silu(gate) * up, silu(x) = x / (1 + exp(-x)).  Overwrites out. */
void ilr_swiglu_forward(float *out, const float *gate, const float *up, int N, int FF);
/* Accumulates into dgate and dup (N, FF).  (Not named I: <complex.h>, which cblas.h includes, defines I.) */
void ilr_swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int N,
                         int FF);

/* ---- elementwise ---- */

/* out[i] = a[i] + b[i] (out may alias a or b). */
void ilr_add_forward(float *out, const float *a, const float *b, size_t n);
/* dst[i] += src[i]. */
void ilr_accumulate(float *dst, const float *src, size_t n);

/* ---- fused LM head + log-softmax, chunked over the vocabulary ---- */

/* x: (N, C) final hidden states   w: (V, C) LM head   targets: (N), -1 for positions to skip.
 * temperature T > 0: the distribution is softmax(x[n] @ w^T / T) (T = 1: the model's own).
 * For each n with targets[n] >= 0:  logprob[n] = log softmax(x[n] @ w^T / T)[targets[n]],
 * entropy[n] = -sum_j p_j log p_j of that distribution (entropy may be NULL), lse[n] = logsumexp of the
 * scaled logits (kept for backward).  Skipped positions get 0.  The logits are formed `chunk` vocabulary rows
 * at a time in scratch (N * chunk floats), never all N x V at once.  Overwrites logprob, entropy, lse. */
void ilr_lm_head_logprob_forward(float *logprob, float *entropy, float *lse, const float *x, const float *w,
                                 const int *targets, float temperature, int N, int C, int V, float *scratch,
                                 int chunk);
/* From dlogprob (N) (0 where targets[n] < 0) and the forward's lse at the same temperature T:
 * d logit_j = dlogprob * (1[j == target] - p_j) / T.  Accumulates dx (N, C) += dlogits @ w and
 * dw (V, C) += dlogits^T @ x, chunk by chunk. */
void ilr_lm_head_logprob_backward(float *dx, float *dw, const float *dlogprob, const float *x, const float *w,
                                  const int *targets, const float *lse, float temperature, int N, int C, int V,
                                  float *scratch, int chunk);
/* Full logits for inspection and tests: out (N, V) = x @ w^T. */
void ilr_lm_head_logits(float *out, const float *x, const float *w, int N, int C, int V);

/* ---- optimizer ---- */

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} ilr_adamw_params;

/* One AdamW step (PyTorch's torch.optim.AdamW): p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * p -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps).  step counts from 1. */
void ilr_adamw_update(float *params, const float *grads, float *m, float *v, size_t n, const ilr_adamw_params *hp,
                      int step);
/* sqrt(sum g^2), accumulated in double. */
double ilr_grad_norm(const float *g, size_t n);
/* g *= s. */
void ilr_scale(float *g, size_t n, float s);

#endif
