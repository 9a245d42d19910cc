/* The decoder on the GPU (see ilr/transformer_cuda.h): src/model/transformer.c's sequence of kernel calls with
 * the CUDA kernels of ilr/cuda.h.  Kept step for step parallel to the CPU file, so a reader can hold one
 * against the other. */
#include "ilr/transformer_cuda.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/kernels.h"
#include "ilr/transformer.h"

/* ---- sizing: one device allocation, laid out twice (first to size it, then to place the pointers) ---- */

typedef struct {
    char *base; /* NULL while sizing */
    size_t used;
} layout_cursor;

static void *take(layout_cursor *c, size_t bytes) {
    void *p = c->base ? c->base + c->used : NULL;
    c->used += (bytes + 255) / 256 * 256;
    return p;
}
#define TAKE_BF16(c, n) ((ilr_bf16 *)take((c), (n) * sizeof(ilr_bf16)))
#define TAKE_F32(c, n) ((float *)take((c), (n) * sizeof(float)))
#define TAKE_INT(c, n) ((int *)take((c), (n) * sizeof(int)))

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

static void layout(ilr_cuda_transformer *tr, layout_cursor *cur) {
    const ilr_model_config *c = &tr->model->config;
    size_t B = (size_t)tr->max_B, T = (size_t)tr->max_T, N = B * T, C = (size_t)c->hidden_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KD = (size_t)c->num_kv_heads * c->head_dim;
    size_t I = (size_t)c->intermediate_size, NH = (size_t)c->num_heads;
    for (int l = 0; l < c->num_layers; l++) {
        ilr_cuda_layer_acts *a = &tr->layers[l];
        a->resid = TAKE_BF16(cur, N * C);
        a->ln1 = TAKE_BF16(cur, N * C);
        a->ln1_rstd = TAKE_F32(cur, N);
        a->q = TAKE_BF16(cur, N * QD);
        a->k = TAKE_BF16(cur, N * KD);
        a->v = TAKE_BF16(cur, N * KD);
        a->atty = TAKE_BF16(cur, N * QD);
        a->lse = TAKE_F32(cur, B * NH * T);
        a->resid_mid = TAKE_BF16(cur, N * C);
        a->ln2 = TAKE_BF16(cur, N * C);
        a->ln2_rstd = TAKE_F32(cur, N);
        a->gate = TAKE_BF16(cur, N * I);
        a->up = TAKE_BF16(cur, N * I);
        a->act = TAKE_BF16(cur, N * I);
    }
    tr->resid_out = TAKE_BF16(cur, N * C);
    tr->lnf = TAKE_BF16(cur, N * C);
    tr->lnf_rstd = TAKE_F32(cur, N);
    tr->rope_cos = TAKE_F32(cur, T * (size_t)c->head_dim / 2);
    tr->rope_sin = TAKE_F32(cur, T * (size_t)c->head_dim / 2);
    tr->tokens = TAKE_INT(cur, N);
    tr->targets = TAKE_INT(cur, N);
    tr->pos = TAKE_INT(cur, N);
    tr->lengths = TAKE_INT(cur, B);
    tr->logprob_d = TAKE_F32(cur, N);
    tr->entropy_d = TAKE_F32(cur, N);
    tr->lse_d = TAKE_F32(cur, N);
    tr->dlogprob_d = TAKE_F32(cur, N);
    tr->d_resid = TAKE_BF16(cur, N * C);
    tr->d_ln = TAKE_BF16(cur, N * C);
    tr->d_lnf = TAKE_BF16(cur, N * C);
    tr->d_q = TAKE_BF16(cur, N * QD);
    tr->d_k = TAKE_BF16(cur, N * KD);
    tr->d_v = TAKE_BF16(cur, N * KD);
    tr->d_atty = TAKE_BF16(cur, N * QD);
    tr->d_gate = TAKE_BF16(cur, N * I);
    tr->d_up = TAKE_BF16(cur, N * I);
    tr->d_act = TAKE_BF16(cur, N * I);
    /* one scratch shared by the kernels that need one: they run one after another on the stream */
    size_t widest = max_size(max_size(C, QD), max_size(KD, I));
    size_t s = ilr_cuda_lm_head_scratch_floats((int)N, (int)C, tr->vocab_chunk);
    s = max_size(s, ilr_cuda_colsum_scratch_floats((int)N, (int)widest));
    s = max_size(s, ilr_cuda_attention_backward_scratch_floats((int)B, (int)T, (int)NH, c->head_dim));
    s = max_size(s, 1024);
    tr->scratch_floats = s;
    tr->scratch = TAKE_F32(cur, s);
}

int ilr_cuda_transformer_init(ilr_cuda_transformer *tr, ilr_model *model, int B, int T) {
    memset(tr, 0, sizeof *tr);
    const ilr_model_config *c = &model->config;
    if (B < 1 || T < 1) return ILR_FAIL(ILR_EINVAL, "transformer (CUDA): batch %d x %d tokens is empty", B, T);
    if (c->head_dim > 128 || c->head_dim % 2)
        return ILR_FAIL(ILR_EUNSUPPORTED, "transformer (CUDA): head_dim %d (the CUDA attention takes even sizes <= 128)",
                        c->head_dim);
    tr->model = model;
    tr->max_B = B, tr->max_T = T;
    tr->temperature = tr->last_temperature = 1.0f;
    tr->n_params = model->table.total;
    /* logit chunks of at most 64M floats (256 MiB) */
    size_t chunk = (64u << 20) / ((size_t)B * T);
    tr->vocab_chunk = (int)(chunk < 256 ? 256 : chunk > (size_t)c->vocab_size ? (size_t)c->vocab_size : chunk);
    tr->layers = calloc((size_t)c->num_layers, sizeof *tr->layers);
    size_t N = (size_t)B * T;
    tr->logprob = malloc(N * sizeof(float));
    tr->entropy = malloc(N * sizeof(float));
    tr->host_ints = malloc(3 * N * sizeof(int));
    if (!tr->layers || !tr->logprob || !tr->entropy || !tr->host_ints) {
        ilr_cuda_transformer_free(tr);
        return ILR_FAIL(ILR_ENOMEM, "transformer (CUDA): out of host memory");
    }
    layout_cursor cur = {NULL, 0};
    layout(tr, &cur);
    size_t np = tr->n_params;
    tr->arena_bytes = cur.used;
    tr->arena = ilr_cuda_alloc(cur.used, "activations");
    tr->params = ilr_cuda_alloc(np * sizeof(float), "parameters");
    tr->grads = ilr_cuda_alloc(np * sizeof(float), "gradients");
    tr->params_bf16 = ilr_cuda_alloc(np * sizeof(ilr_bf16), "bf16 parameters");
    if (!tr->arena || !tr->params || !tr->grads || !tr->params_bf16) {
        ilr_cuda_transformer_free(tr);
        return ilr_error_prefix("transformer (CUDA) for %d x %d tokens", B, T);
    }
    cur = (layout_cursor){tr->arena, 0};
    layout(tr, &cur);
    int rc = ilr_cuda_upload(tr->params, model->params, np * sizeof(float));
    float *cos_t = malloc(sizeof(float) * (size_t)T * c->head_dim / 2), *sin_t = malloc(sizeof(float) * (size_t)T * c->head_dim / 2);
    if (!rc && (!cos_t || !sin_t)) rc = ILR_FAIL(ILR_ENOMEM, "transformer (CUDA): out of host memory");
    if (!rc) {
        ilr_rope_scaling scaling = {c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                                    c->rope_original_max_position};
        ilr_rope_table(cos_t, sin_t, T, c->head_dim, c->rope_theta, c->has_rope_scaling ? &scaling : NULL);
        rc = ilr_cuda_upload(tr->rope_cos, cos_t, sizeof(float) * (size_t)T * c->head_dim / 2);
        if (!rc) rc = ilr_cuda_upload(tr->rope_sin, sin_t, sizeof(float) * (size_t)T * c->head_dim / 2);
    }
    free(cos_t);
    free(sin_t);
    if (!rc) {
        ilr_cuda_f32_to_bf16(tr->params_bf16, tr->params, np);
        ilr_cuda_transformer_zero_grad(tr);
        rc = ilr_cuda_sync();
    }
    if (rc) ilr_cuda_transformer_free(tr);
    return rc;
}

void ilr_cuda_transformer_free(ilr_cuda_transformer *tr) {
    ilr_cuda_free(tr->arena);
    ilr_cuda_free(tr->params);
    ilr_cuda_free(tr->grads);
    ilr_cuda_free(tr->params_bf16);
    ilr_cuda_free(tr->adam_m);
    ilr_cuda_free(tr->adam_v);
    free(tr->layers);
    free(tr->logprob);
    free(tr->entropy);
    free(tr->host_ints);
    memset(tr, 0, sizeof *tr);
}

size_t ilr_cuda_transformer_bytes(const ilr_cuda_transformer *tr) {
    size_t np = tr->n_params;
    return tr->arena_bytes + np * (2 * sizeof(float) + sizeof(ilr_bf16)) + (tr->adam_m ? 2 * np * sizeof(float) : 0);
}

void ilr_cuda_transformer_zero_grad(ilr_cuda_transformer *tr) { ilr_cuda_zero(tr->grads, tr->n_params * sizeof(float)); }

/* ---- parameters: the same offsets in the fp32 masters, their bf16 copies and the gradients ---- */

static const ilr_param_view *view(const ilr_cuda_transformer *tr, ilr_param_kind kind, int layer) {
    return ilr_param_get(&tr->model->table, kind, layer);
}
static const ilr_bf16 *wb(const ilr_cuda_transformer *tr, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = view(tr, kind, layer);
    return v ? tr->params_bf16 + v->offset : NULL;
}
static const float *wf(const ilr_cuda_transformer *tr, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = view(tr, kind, layer);
    return v ? tr->params + v->offset : NULL;
}
static float *gr(const ilr_cuda_transformer *tr, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = view(tr, kind, layer);
    return v ? tr->grads + v->offset : NULL;
}
static ilr_param_kind head_kind(const ilr_cuda_transformer *tr) {
    return tr->model->config.tie_word_embeddings ? ILR_P_EMBED : ILR_P_LM_HEAD;
}

/* ---- forward ---- */

static void layer_forward(ilr_cuda_transformer *tr, int l, ilr_bf16 *out) {
    const ilr_model_config *c = &tr->model->config;
    ilr_cuda_layer_acts *a = &tr->layers[l];
    int n = tr->B * tr->T, C = c->hidden_size, HD = c->head_dim, NH = c->num_heads, NKV = c->num_kv_heads;
    int I = c->intermediate_size;
    float eps = (float)c->rms_norm_eps;
    ilr_cuda_rmsnorm_forward(a->ln1, a->ln1_rstd, a->resid, wb(tr, ILR_P_ATTN_NORM, l), n, C, eps);
    ilr_cuda_matmul_forward(a->q, a->ln1, wb(tr, ILR_P_Q_W, l), wf(tr, ILR_P_Q_B, l), n, C, NH * HD);
    ilr_cuda_matmul_forward(a->k, a->ln1, wb(tr, ILR_P_K_W, l), wf(tr, ILR_P_K_B, l), n, C, NKV * HD);
    ilr_cuda_matmul_forward(a->v, a->ln1, wb(tr, ILR_P_V_W, l), wf(tr, ILR_P_V_B, l), n, C, NKV * HD);
    ilr_cuda_rope_forward(a->q, tr->rope_cos, tr->rope_sin, tr->pos, n, NH, HD);
    ilr_cuda_rope_forward(a->k, tr->rope_cos, tr->rope_sin, tr->pos, n, NKV, HD);
    ilr_cuda_attention_forward(a->atty, a->lse, a->q, a->k, a->v, tr->lengths, tr->packed ? tr->pos : NULL, tr->B,
                               tr->T, NH, NKV, HD);
    ilr_cuda_matmul_forward(a->resid_mid, a->atty, wb(tr, ILR_P_O_W, l), NULL, n, NH * HD, C);
    ilr_cuda_add(a->resid_mid, a->resid_mid, a->resid, (size_t)n * C);
    ilr_cuda_rmsnorm_forward(a->ln2, a->ln2_rstd, a->resid_mid, wb(tr, ILR_P_MLP_NORM, l), n, C, eps);
    ilr_cuda_matmul_forward(a->gate, a->ln2, wb(tr, ILR_P_GATE_W, l), NULL, n, C, I);
    ilr_cuda_matmul_forward(a->up, a->ln2, wb(tr, ILR_P_UP_W, l), NULL, n, C, I);
    ilr_cuda_swiglu_forward(a->act, a->gate, a->up, n, I);
    ilr_cuda_matmul_forward(out, a->act, wb(tr, ILR_P_DOWN_W, l), NULL, n, I, C);
    ilr_cuda_add(out, out, a->resid_mid, (size_t)n * C);
}

int ilr_cuda_transformer_forward(ilr_cuda_transformer *tr, const int *tokens, const int *lengths, const int *positions,
                                 const int *targets, int B, int T) {
    const ilr_model_config *c = &tr->model->config;
    assert(B <= tr->max_B && T <= tr->max_T);
    assert(tr->temperature > 0.0f);
    tr->B = B, tr->T = T;
    tr->packed = positions != NULL;
    int N = B * T, C = c->hidden_size, L = c->num_layers;
    int *tok = tr->host_ints, *tgt = tok + N, *pos = tgt + N;
    ilr_transformer_prepare_batch(tok, tgt, pos, tokens, lengths, positions, targets, B, T);
    int rc = ilr_cuda_upload(tr->tokens, tok, sizeof(int) * (size_t)N);
    if (!rc) rc = ilr_cuda_upload(tr->targets, tgt, sizeof(int) * (size_t)N);
    if (!rc) rc = ilr_cuda_upload(tr->pos, pos, sizeof(int) * (size_t)N);
    if (!rc) rc = ilr_cuda_upload(tr->lengths, lengths, sizeof(int) * (size_t)B);
    if (rc) return rc;
    ilr_cuda_embedding_forward(tr->layers[0].resid, tr->tokens, wb(tr, ILR_P_EMBED, -1), N, C);
    for (int l = 0; l < L; l++) layer_forward(tr, l, l + 1 < L ? tr->layers[l + 1].resid : tr->resid_out);
    ilr_cuda_rmsnorm_forward(tr->lnf, tr->lnf_rstd, tr->resid_out, wb(tr, ILR_P_FINAL_NORM, -1), N, C,
                             (float)c->rms_norm_eps);
    tr->last_temperature = tr->temperature;
    ilr_cuda_lm_head_logprob_forward(tr->logprob_d, tr->entropy_d, tr->lse_d, tr->lnf, wb(tr, head_kind(tr), -1),
                                     tr->targets, tr->temperature, N, C, c->vocab_size, tr->scratch, tr->vocab_chunk);
    rc = ilr_cuda_download(tr->logprob, tr->logprob_d, sizeof(float) * (size_t)N);
    if (!rc) rc = ilr_cuda_download(tr->entropy, tr->entropy_d, sizeof(float) * (size_t)N);
    if (!rc) rc = ilr_cuda_sync();
    return rc;
}

/* ---- backward ---- */

static void zero_bf16(ilr_bf16 *p, size_t n) { ilr_cuda_zero(p, n * sizeof(ilr_bf16)); }

/* On entry tr->d_resid holds d(loss)/d(layer l's output); on exit d(loss)/d(layer l's input). */
static void layer_backward(ilr_cuda_transformer *tr, int l) {
    const ilr_model_config *c = &tr->model->config;
    ilr_cuda_layer_acts *a = &tr->layers[l];
    int N = tr->B * tr->T, C = c->hidden_size, HD = c->head_dim, NH = c->num_heads, NKV = c->num_kv_heads;
    int I = c->intermediate_size;
    size_t NI = (size_t)N * I, NC = (size_t)N * C;
    float *s = tr->scratch;
    /* MLP */
    zero_bf16(tr->d_act, NI);
    ilr_cuda_matmul_backward(tr->d_act, gr(tr, ILR_P_DOWN_W, l), NULL, tr->d_resid, a->act, wb(tr, ILR_P_DOWN_W, l), N,
                             I, C, s);
    zero_bf16(tr->d_gate, NI);
    zero_bf16(tr->d_up, NI);
    ilr_cuda_swiglu_backward(tr->d_gate, tr->d_up, tr->d_act, a->gate, a->up, N, I);
    zero_bf16(tr->d_ln, NC);
    ilr_cuda_matmul_backward(tr->d_ln, gr(tr, ILR_P_GATE_W, l), NULL, tr->d_gate, a->ln2, wb(tr, ILR_P_GATE_W, l), N, C,
                             I, s);
    ilr_cuda_matmul_backward(tr->d_ln, gr(tr, ILR_P_UP_W, l), NULL, tr->d_up, a->ln2, wb(tr, ILR_P_UP_W, l), N, C, I, s);
    ilr_cuda_rmsnorm_backward(tr->d_resid, gr(tr, ILR_P_MLP_NORM, l), tr->d_ln, a->resid_mid, wb(tr, ILR_P_MLP_NORM, l),
                              a->ln2_rstd, N, C, s);
    /* attention */
    zero_bf16(tr->d_atty, (size_t)N * NH * HD);
    ilr_cuda_matmul_backward(tr->d_atty, gr(tr, ILR_P_O_W, l), NULL, tr->d_resid, a->atty, wb(tr, ILR_P_O_W, l), N,
                             NH * HD, C, s);
    zero_bf16(tr->d_q, (size_t)N * NH * HD);
    zero_bf16(tr->d_k, (size_t)N * NKV * HD);
    zero_bf16(tr->d_v, (size_t)N * NKV * HD);
    ilr_cuda_attention_backward(tr->d_q, tr->d_k, tr->d_v, tr->d_atty, a->atty, a->q, a->k, a->v, a->lse, tr->lengths,
                                tr->packed ? tr->pos : NULL, tr->B, tr->T, NH, NKV, HD, s);
    ilr_cuda_rope_backward(tr->d_q, tr->rope_cos, tr->rope_sin, tr->pos, N, NH, HD);
    ilr_cuda_rope_backward(tr->d_k, tr->rope_cos, tr->rope_sin, tr->pos, N, NKV, HD);
    zero_bf16(tr->d_ln, NC);
    ilr_cuda_matmul_backward(tr->d_ln, gr(tr, ILR_P_Q_W, l), gr(tr, ILR_P_Q_B, l), tr->d_q, a->ln1, wb(tr, ILR_P_Q_W, l),
                             N, C, NH * HD, s);
    ilr_cuda_matmul_backward(tr->d_ln, gr(tr, ILR_P_K_W, l), gr(tr, ILR_P_K_B, l), tr->d_k, a->ln1, wb(tr, ILR_P_K_W, l),
                             N, C, NKV * HD, s);
    ilr_cuda_matmul_backward(tr->d_ln, gr(tr, ILR_P_V_W, l), gr(tr, ILR_P_V_B, l), tr->d_v, a->ln1, wb(tr, ILR_P_V_W, l),
                             N, C, NKV * HD, s);
    ilr_cuda_rmsnorm_backward(tr->d_resid, gr(tr, ILR_P_ATTN_NORM, l), tr->d_ln, a->resid, wb(tr, ILR_P_ATTN_NORM, l),
                              a->ln1_rstd, N, C, s);
}

int ilr_cuda_transformer_backward(ilr_cuda_transformer *tr, const float *dlogprob) {
    const ilr_model_config *c = &tr->model->config;
    int N = tr->B * tr->T, C = c->hidden_size;
    int rc = ilr_cuda_upload(tr->dlogprob_d, dlogprob, sizeof(float) * (size_t)N);
    if (rc) return rc;
    zero_bf16(tr->d_lnf, (size_t)N * C);
    ilr_cuda_lm_head_logprob_backward(tr->d_lnf, gr(tr, head_kind(tr), -1), tr->dlogprob_d, tr->lnf,
                                      wb(tr, head_kind(tr), -1), tr->targets, tr->lse_d, tr->last_temperature, N, C,
                                      c->vocab_size, tr->scratch, tr->vocab_chunk);
    zero_bf16(tr->d_resid, (size_t)N * C);
    ilr_cuda_rmsnorm_backward(tr->d_resid, gr(tr, ILR_P_FINAL_NORM, -1), tr->d_lnf, tr->resid_out,
                              wb(tr, ILR_P_FINAL_NORM, -1), tr->lnf_rstd, N, C, tr->scratch);
    for (int l = c->num_layers - 1; l >= 0; l--) layer_backward(tr, l);
    ilr_cuda_embedding_backward(gr(tr, ILR_P_EMBED, -1), tr->d_resid, tr->tokens, N, C);
    return ilr_cuda_sync();
}

/* ---- the optimizer ---- */

static int alloc_moments(ilr_cuda_transformer *tr) {
    size_t n = tr->n_params;
    if (tr->adam_m) return 0;
    tr->adam_m = ilr_cuda_alloc(n * sizeof(float), "AdamW first moments");
    tr->adam_v = ilr_cuda_alloc(n * sizeof(float), "AdamW second moments");
    if (!tr->adam_m || !tr->adam_v) return ILR_ENOMEM;
    ilr_cuda_zero(tr->adam_m, n * sizeof(float));
    ilr_cuda_zero(tr->adam_v, n * sizeof(float));
    return 0;
}

int ilr_cuda_transformer_adamw_step(ilr_cuda_transformer *tr, const ilr_adamw_params *hp, float max_grad_norm,
                                    double *grad_norm) {
    size_t n = tr->n_params;
    int rc = alloc_moments(tr);
    if (rc) return rc;
    double norm = ilr_cuda_grad_norm(tr->grads, n, tr->scratch);
    if (grad_norm) *grad_norm = norm;
    /* torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) when that is below 1 */
    double coef = max_grad_norm > 0 ? max_grad_norm / (norm + 1e-6) : 1.0;
    ilr_cuda_adamw_update(tr->params, tr->params_bf16, tr->grads, tr->adam_m, tr->adam_v, n, hp, ++tr->adam_step,
                          coef < 1.0 ? (float)coef : 1.0f);
    return ilr_cuda_sync();
}

int ilr_cuda_transformer_download_params(ilr_cuda_transformer *tr) {
    return ilr_cuda_download(tr->model->params, tr->params, tr->n_params * sizeof(float));
}

int ilr_cuda_transformer_download_grads(const ilr_cuda_transformer *tr, float *grads) {
    return ilr_cuda_download(grads, tr->grads, tr->n_params * sizeof(float));
}

int ilr_cuda_transformer_download_moments(const ilr_cuda_transformer *tr, float *m, float *v) {
    if (!tr->adam_m) return ILR_FAIL(ILR_EINVAL, "transformer (CUDA): no optimizer step taken yet");
    int rc = ilr_cuda_download(m, tr->adam_m, tr->n_params * sizeof(float));
    return rc ? rc : ilr_cuda_download(v, tr->adam_v, tr->n_params * sizeof(float));
}

int ilr_cuda_transformer_upload_moments(ilr_cuda_transformer *tr, const float *m, const float *v, int step) {
    int rc = alloc_moments(tr);
    if (!rc) rc = ilr_cuda_upload(tr->adam_m, m, tr->n_params * sizeof(float));
    if (!rc) rc = ilr_cuda_upload(tr->adam_v, v, tr->n_params * sizeof(float));
    if (!rc) tr->adam_step = step;
    return rc;
}
