/* Decoder forward/backward and the AdamW step (see ilr/transformer.h).  Each layer is the same sequence of
 * kernel calls; backward walks it in reverse with one running residual gradient. */
#include "ilr/transformer.h"

#include <assert.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "ilr/block.h"
#include "ilr/error.h"

/* ---- sizing and allocation ---- */

/* Takes n floats from the arena, or (arena NULL) only adds their size to *total. */
static float *take(ilr_arena *arena, size_t *total, size_t n) { return ilr_arena_take(arena, total, n * sizeof(float)); }

/* One layer's activations but its input (resid, laid out by the caller). */
static void layout_layer(const ilr_transformer *tr, ilr_layer_acts *a, ilr_arena *arena, size_t *total) {
    const ilr_model_config *c = &tr->model->config;
    size_t B = (size_t)tr->max_B, T = (size_t)tr->max_T, N = B * T, C = (size_t)c->hidden_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KD = (size_t)c->num_kv_heads * c->head_dim;
    size_t I = (size_t)c->intermediate_size, NH = (size_t)c->num_heads;
    a->ln1 = take(arena, total, N * C);
    a->ln1_rstd = take(arena, total, N);
    a->q = take(arena, total, N * QD);
    a->k = take(arena, total, N * KD);
    a->v = take(arena, total, N * KD);
    a->att = take(arena, total, B * NH * T * T);
    a->atty = take(arena, total, N * QD);
    a->resid_mid = take(arena, total, N * C);
    a->ln2 = take(arena, total, N * C);
    a->ln2_rstd = take(arena, total, N);
    a->gate = take(arena, total, N * I);
    a->up = take(arena, total, N * I);
    a->act = take(arena, total, N * I);
}

/* Lays out every activation; run once to size the arena and once to fill the pointers.  A training state
 * keeps every layer's activations for backward.  A forward-only state keeps one layer's, which every layer
 * reuses in turn, and a residual stream that alternates between two buffers (a layer reads one and writes
 * the other); it has no backward scratch.  A recomputing state shares one layer's activations as well, but
 * keeps every layer's input (backward recomputes the rest from it). */
static void layout(ilr_transformer *tr, ilr_arena *arena, size_t *total) {
    const ilr_model_config *c = &tr->model->config;
    size_t B = (size_t)tr->max_B, T = (size_t)tr->max_T, N = B * T, C = (size_t)c->hidden_size;
    size_t QD = (size_t)c->num_heads * c->head_dim, KD = (size_t)c->num_kv_heads * c->head_dim;
    size_t I = (size_t)c->intermediate_size;
    int L = c->num_layers, shared_acts = tr->forward_only || tr->recompute;
    float *alternating[2] = {NULL, NULL};
    if (tr->forward_only) alternating[0] = take(arena, total, N * C), alternating[1] = take(arena, total, N * C);
    if (shared_acts) layout_layer(tr, &tr->layers[0], arena, total);
    for (int l = 0; l < L; l++) {
        if (shared_acts) tr->layers[l] = tr->layers[0];
        tr->layers[l].resid = tr->forward_only ? alternating[l % 2] : take(arena, total, N * C);
        if (!shared_acts) layout_layer(tr, &tr->layers[l], arena, total);
    }
    tr->resid_out = tr->forward_only ? alternating[L % 2] : take(arena, total, N * C);
    tr->lnf = take(arena, total, N * C);
    tr->lnf_rstd = take(arena, total, N);
    tr->rope_cos = take(arena, total, T * (size_t)c->head_dim / 2);
    tr->rope_sin = take(arena, total, T * (size_t)c->head_dim / 2);
    tr->tokens = (int *)take(arena, total, N);
    tr->targets = (int *)take(arena, total, N);
    tr->pos = (int *)take(arena, total, N);
    tr->lengths = (int *)take(arena, total, B);
    tr->logprob = take(arena, total, N);
    tr->entropy = take(arena, total, N);
    tr->lse = take(arena, total, N);
    tr->logits_scratch = take(arena, total, N * (size_t)tr->vocab_chunk);
    if (tr->forward_only) return;
    tr->d_resid = take(arena, total, N * C);
    tr->d_ln = take(arena, total, N * C);
    tr->d_lnf = take(arena, total, N * C);
    tr->d_q = take(arena, total, N * QD);
    tr->d_k = take(arena, total, N * KD);
    tr->d_v = take(arena, total, N * KD);
    tr->d_atty = take(arena, total, N * QD);
    tr->d_gate = take(arena, total, N * I);
    tr->d_up = take(arena, total, N * I);
    tr->d_act = take(arena, total, N * I);
    tr->d_att_scratch_floats = ilr_attention_backward_scratch_floats((int)T, omp_get_max_threads());
    tr->d_att_scratch = take(arena, total, tr->d_att_scratch_floats);
}

typedef enum { KEEP_ALL_ACTIVATIONS, FORWARD_ONLY, RECOMPUTE } activation_mode;

/* Logit chunks of at most 16M floats (64 MiB), at least 256 vocabulary rows. */
static int vocab_chunk(const ilr_model_config *c, int B, int T) {
    size_t chunk = (16u << 20) / ((size_t)B * T);
    return (int)(chunk < 256 ? 256 : chunk > (size_t)c->vocab_size ? (size_t)c->vocab_size : chunk);
}

/* ilr inspect's figures.  The activations are what a training state for 1 x seq tokens reserves (the same
 * layout, sized without allocating): every layer's activations, attention probabilities included, the
 * logit chunk and the backward's scratch (which holds a T x T buffer per OpenMP thread). */
void ilr_model_memory_estimate(const ilr_model_config *c, int seq, ilr_memory_estimate *out) {
    int64_t P = ilr_config_param_count(c), kv = (int64_t)c->num_kv_heads * c->head_dim;
    out->params = P * 4;
    out->kv_cache_per_token = 2 * (int64_t)c->num_layers * kv * 4;
    out->inference = out->params + out->kv_cache_per_token * seq;
    out->training_state = out->params * 4;
    size_t arena = 0;
    ilr_model model = {.config = *c};
    ilr_transformer tr = {.model = &model, .max_B = 1, .max_T = seq, .vocab_chunk = vocab_chunk(c, 1, seq)};
    if (seq > 0 && (tr.layers = calloc((size_t)c->num_layers, sizeof *tr.layers))) layout(&tr, NULL, &arena);
    free(tr.layers);
    out->activations_per_token = seq > 0 ? (int64_t)(arena / (size_t)seq) : 0;
    out->training = out->training_state + (int64_t)arena;
}

static int init(ilr_transformer *tr, ilr_model *model, int B, int T, activation_mode mode) {
    memset(tr, 0, sizeof *tr);
    const ilr_model_config *c = &model->config;
    if (B < 1 || T < 1) return ILR_FAIL(ILR_EINVAL, "transformer: batch %d x %d tokens is empty", B, T);
    tr->model = model;
    tr->max_B = B;
    tr->max_T = T;
    tr->forward_only = mode == FORWARD_ONLY;
    tr->recompute = mode == RECOMPUTE;
    tr->temperature = tr->last_temperature = 1.0f;
    tr->vocab_chunk = vocab_chunk(c, B, T);
    tr->layers = calloc((size_t)c->num_layers, sizeof *tr->layers);
    if (!tr->layers) return ILR_FAIL(ILR_ENOMEM, "transformer: out of memory");
    size_t total = 0;
    layout(tr, NULL, &total);
    int rc = ilr_arena_init(&tr->arena, total);
    if (rc) {
        ilr_transformer_free(tr);
        return ilr_error_prefix("activations for %d x %d tokens", B, T);
    }
    layout(tr, &tr->arena, &total);
    if (!tr->forward_only) {
        tr->grads = ilr_aligned_alloc(model->table.total * sizeof(float), "gradients");
        if (!tr->grads) {
            ilr_transformer_free(tr);
            return ILR_ENOMEM;
        }
        ilr_transformer_zero_grad(tr);
    }
    ilr_rope_scaling scaling = {c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                                c->rope_original_max_position};
    ilr_rope_table(tr->rope_cos, tr->rope_sin, T, c->head_dim, c->rope_theta, c->has_rope_scaling ? &scaling : NULL);
    return 0;
}

int ilr_transformer_init(ilr_transformer *tr, ilr_model *model, int B, int T) {
    return init(tr, model, B, T, KEEP_ALL_ACTIVATIONS);
}

int ilr_transformer_init_forward_only(ilr_transformer *tr, ilr_model *model, int B, int T) {
    return init(tr, model, B, T, FORWARD_ONLY);
}

int ilr_transformer_init_recompute(ilr_transformer *tr, ilr_model *model, int B, int T) {
    return init(tr, model, B, T, RECOMPUTE);
}

size_t ilr_transformer_bytes(const ilr_transformer *tr) {
    size_t params = tr->model->table.total * sizeof(float), lo, hi;
    ilr_transformer_moments_range(tr, &lo, &hi);
    return tr->arena.capacity + (tr->grads ? params : 0) + (tr->adam_m ? 2 * (hi - lo) * sizeof(float) : 0);
}

void ilr_transformer_free(ilr_transformer *tr) {
    ilr_arena_free(&tr->arena);
    free(tr->layers);
    ilr_aligned_free(tr->grads);
    ilr_aligned_free(tr->adam_m);
    ilr_aligned_free(tr->adam_v);
    memset(tr, 0, sizeof *tr);
}

void ilr_transformer_zero_grad(ilr_transformer *tr) {
    assert(!tr->forward_only && "zero_grad on a forward-only transformer");
    memset(tr->grads, 0, tr->model->table.total * sizeof(float));
}

/* ---- parameters ---- */

static const float *param(const ilr_transformer *tr, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = ilr_param_get(&tr->model->table, kind, layer);
    return v ? tr->model->params + v->offset : NULL;
}

static float *grad(const ilr_transformer *tr, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = ilr_param_get(&tr->model->table, kind, layer);
    return v ? tr->grads + v->offset : NULL;
}

/* The LM head is the embedding when tied. */
static ilr_param_kind head_kind(const ilr_transformer *tr) {
    return tr->model->config.tie_word_embeddings ? ILR_P_EMBED : ILR_P_LM_HEAD;
}

/* ---- forward ---- */

/* The training forward's attention: causal over each row of the batch (packed documents apart). */
static void batch_attention(void *ctx, const ilr_block_acts *b, int n) {
    (void)n;
    const ilr_transformer *tr = ctx;
    const ilr_model_config *c = &tr->model->config;
    ilr_layer_acts *a = &tr->layers[tr->current_layer];
    ilr_attention_forward(b->atty, a->att, b->q, b->k, b->v, tr->lengths, tr->packed ? tr->pos : NULL, tr->B, tr->T,
                          c->num_heads, c->num_kv_heads, c->head_dim);
}

/* out NULL: only the activations backward reads (a recomputation). */
static void layer_forward(ilr_transformer *tr, int l, float *out) {
    ilr_layer_acts *a = &tr->layers[l];
    ilr_block_weights w;
    ilr_block_weights_of(tr->model, l, &w);
    ilr_block_acts b = {a->ln1, a->ln1_rstd, a->q, a->k, a->v, a->atty, a->resid_mid, a->ln2, a->ln2_rstd,
                        a->gate, a->up, a->act};
    tr->current_layer = l;
    ilr_block_forward(&tr->model->config, &w, &b, a->resid, out, tr->rope_cos, tr->rope_sin, tr->pos, tr->B * tr->T,
                      batch_attention, tr);
}

void ilr_transformer_prepare_batch(int *tok, int *tgt, int *pos, const int *tokens, const int *lengths,
                                   const int *positions, const int *targets, int B, int T) {
    for (int b = 0; b < B; b++) {
        int doc = 0, first = 0; /* the document's start and its first segment's length: later segments' prefixes */
        for (int t = 0; t < T; t++) {
            int i = b * T + t, real = t < lengths[b];
            tok[i] = real ? tokens[i] : 0; /* padding ids may be anything; embed id 0 there */
            tgt[i] = real ? targets[i] : -1;
            pos[i] = positions && real ? positions[i] : t;
            if (!positions || !real) continue;
            if (positions[i] == 0) doc = t, first = 0;
            if (first == t - doc && positions[i] == t - doc) first++;
            assert(t != 0 || positions[i] == 0);
            assert(t == 0 || positions[i] == positions[i - 1] + 1 || (positions[i] >= 0 && positions[i] <= first));
        }
    }
}

void ilr_transformer_forward(ilr_transformer *tr, const int *tokens, const int *lengths, const int *targets,
                             int B, int T) {
    ilr_transformer_forward_packed(tr, tokens, lengths, NULL, targets, B, T);
}

void ilr_transformer_forward_packed(ilr_transformer *tr, const int *tokens, const int *lengths,
                                    const int *positions, const int *targets, int B, int T) {
    const ilr_model_config *c = &tr->model->config;
    assert(B <= tr->max_B && T <= tr->max_T);
    assert(tr->temperature > 0.0f);
    tr->B = B;
    tr->T = T;
    tr->packed = positions != NULL;
    int N = B * T, C = c->hidden_size, L = c->num_layers;
    memcpy(tr->lengths, lengths, sizeof(int) * (size_t)B);
    ilr_transformer_prepare_batch(tr->tokens, tr->targets, tr->pos, tokens, lengths, positions, targets, B, T);
    ilr_embedding_forward(tr->layers[0].resid, tr->tokens, param(tr, ILR_P_EMBED, -1), N, C);
    for (int l = 0; l < L; l++) layer_forward(tr, l, l + 1 < L ? tr->layers[l + 1].resid : tr->resid_out);
    ilr_rmsnorm_forward(tr->lnf, tr->lnf_rstd, tr->resid_out, param(tr, ILR_P_FINAL_NORM, -1), N, C,
                        (float)c->rms_norm_eps);
    tr->last_temperature = tr->temperature;
    ilr_lm_head_logprob_forward(tr->logprob, tr->entropy, tr->lse, tr->lnf, param(tr, head_kind(tr), -1),
                                tr->targets, tr->temperature, N, C, c->vocab_size, tr->logits_scratch,
                                tr->vocab_chunk);
}

void ilr_transformer_logits(const ilr_transformer *tr, float *out) {
    const ilr_model_config *c = &tr->model->config;
    ilr_lm_head_logits(out, tr->lnf, param(tr, head_kind(tr), -1), tr->B * tr->T, c->hidden_size, c->vocab_size);
}

/* ---- backward ---- */

static void zero(float *p, size_t n) { memset(p, 0, n * sizeof(float)); }

/* On entry tr->d_resid holds d(loss)/d(layer l's output); on exit d(loss)/d(layer l's input). */
static void layer_backward(ilr_transformer *tr, int l) {
    const ilr_model_config *c = &tr->model->config;
    ilr_layer_acts *a = &tr->layers[l];
    int N = tr->B * tr->T, C = c->hidden_size, HD = c->head_dim, NH = c->num_heads, NKV = c->num_kv_heads;
    int I = c->intermediate_size;
    size_t NI = (size_t)N * I, NC = (size_t)N * C;
    /* MLP: out = resid_mid + down(silu(gate(ln2)) * up(ln2)) */
    zero(tr->d_act, NI);
    ilr_matmul_backward(tr->d_act, grad(tr, ILR_P_DOWN_W, l), NULL, tr->d_resid, a->act, param(tr, ILR_P_DOWN_W, l),
                        N, I, C);
    zero(tr->d_gate, NI);
    zero(tr->d_up, NI);
    ilr_swiglu_backward(tr->d_gate, tr->d_up, tr->d_act, a->gate, a->up, N, I);
    zero(tr->d_ln, NC);
    ilr_matmul_backward(tr->d_ln, grad(tr, ILR_P_GATE_W, l), NULL, tr->d_gate, a->ln2, param(tr, ILR_P_GATE_W, l), N,
                        C, I);
    ilr_matmul_backward(tr->d_ln, grad(tr, ILR_P_UP_W, l), NULL, tr->d_up, a->ln2, param(tr, ILR_P_UP_W, l), N, C, I);
    ilr_rmsnorm_backward(tr->d_resid, grad(tr, ILR_P_MLP_NORM, l), tr->d_ln, a->resid_mid,
                         param(tr, ILR_P_MLP_NORM, l), a->ln2_rstd, N, C);
    /* attention: resid_mid = resid + o(attention(rope(q(ln1)), rope(k(ln1)), v(ln1))) */
    zero(tr->d_atty, (size_t)N * NH * HD);
    ilr_matmul_backward(tr->d_atty, grad(tr, ILR_P_O_W, l), NULL, tr->d_resid, a->atty, param(tr, ILR_P_O_W, l), N,
                        NH * HD, C);
    zero(tr->d_q, (size_t)N * NH * HD);
    zero(tr->d_k, (size_t)N * NKV * HD);
    zero(tr->d_v, (size_t)N * NKV * HD);
    ilr_attention_backward(tr->d_q, tr->d_k, tr->d_v, tr->d_att_scratch, tr->d_att_scratch_floats, tr->d_atty, a->q, a->k, a->v, a->att, tr->lengths,
                           tr->packed ? tr->pos : NULL, tr->B,
                           tr->T, NH, NKV, HD);
    ilr_rope_backward(tr->d_q, tr->rope_cos, tr->rope_sin, tr->pos, N, NH, HD);
    ilr_rope_backward(tr->d_k, tr->rope_cos, tr->rope_sin, tr->pos, N, NKV, HD);
    zero(tr->d_ln, NC);
    ilr_matmul_backward(tr->d_ln, grad(tr, ILR_P_Q_W, l), grad(tr, ILR_P_Q_B, l), tr->d_q, a->ln1,
                        param(tr, ILR_P_Q_W, l), N, C, NH * HD);
    ilr_matmul_backward(tr->d_ln, grad(tr, ILR_P_K_W, l), grad(tr, ILR_P_K_B, l), tr->d_k, a->ln1,
                        param(tr, ILR_P_K_W, l), N, C, NKV * HD);
    ilr_matmul_backward(tr->d_ln, grad(tr, ILR_P_V_W, l), grad(tr, ILR_P_V_B, l), tr->d_v, a->ln1,
                        param(tr, ILR_P_V_W, l), N, C, NKV * HD);
    ilr_rmsnorm_backward(tr->d_resid, grad(tr, ILR_P_ATTN_NORM, l), tr->d_ln, a->resid, param(tr, ILR_P_ATTN_NORM, l),
                         a->ln1_rstd, N, C);
}

void ilr_transformer_backward(ilr_transformer *tr, const float *dlogprob) {
    assert(!tr->forward_only && "backward on a forward-only transformer");
    const ilr_model_config *c = &tr->model->config;
    int N = tr->B * tr->T, C = c->hidden_size;
    zero(tr->d_lnf, (size_t)N * C);
    ilr_lm_head_logprob_backward(tr->d_lnf, grad(tr, head_kind(tr), -1), dlogprob, tr->lnf,
                                 param(tr, head_kind(tr), -1), tr->targets, tr->lse, tr->last_temperature, N, C,
                                 c->vocab_size, tr->logits_scratch, tr->vocab_chunk);
    zero(tr->d_resid, (size_t)N * C);
    ilr_rmsnorm_backward(tr->d_resid, grad(tr, ILR_P_FINAL_NORM, -1), tr->d_lnf, tr->resid_out,
                         param(tr, ILR_P_FINAL_NORM, -1), tr->lnf_rstd, N, C);
    for (int l = c->num_layers - 1; l >= 0; l--) {
        /* the last layer's activations are still in the shared buffers, from the forward pass */
        if (tr->recompute && l < c->num_layers - 1) layer_forward(tr, l, NULL);
        layer_backward(tr, l);
    }
    ilr_embedding_backward(grad(tr, ILR_P_EMBED, -1), tr->d_resid, tr->tokens, N, C);
}

/* ---- losses and the optimizer ---- */

void ilr_next_token_targets(int *targets, const int *tokens, const int *lengths, int B, int T) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) targets[b * T + t] = t + 1 < lengths[b] ? tokens[b * T + t + 1] : -1;
}

float ilr_sft_loss(float *dlogprob, const float *logprob, const int *targets, int N) {
    double sum = 0;
    int count = 0;
    for (int i = 0; i < N; i++)
        if (targets[i] >= 0) sum += logprob[i], count++;
    for (int i = 0; i < N; i++) dlogprob[i] = targets[i] >= 0 && count ? -1.0f / (float)count : 0.0f;
    return count ? (float)(-sum / count) : 0.0f;
}

void ilr_transformer_shard_moments(ilr_transformer *tr, size_t lo, size_t hi) {
    assert(!tr->adam_m && lo < hi && hi <= tr->model->table.total && "a shard of the moments before they exist");
    tr->shard_lo = lo, tr->shard_hi = hi;
}

void ilr_transformer_moments_range(const ilr_transformer *tr, size_t *lo, size_t *hi) {
    int sharded = tr->shard_hi > 0;
    *lo = sharded ? tr->shard_lo : 0;
    *hi = sharded ? tr->shard_hi : tr->model->table.total;
}

int ilr_transformer_alloc_moments(ilr_transformer *tr) {
    assert(!tr->forward_only && "optimizer state for a forward-only transformer");
    if (tr->adam_m) return 0;
    size_t lo, hi;
    ilr_transformer_moments_range(tr, &lo, &hi);
    size_t n = hi - lo;
    tr->adam_m = ilr_aligned_alloc(n * sizeof(float), "AdamW first moments");
    tr->adam_v = ilr_aligned_alloc(n * sizeof(float), "AdamW second moments");
    if (!tr->adam_m || !tr->adam_v) return ILR_ENOMEM;
    zero(tr->adam_m, n);
    zero(tr->adam_v, n);
    return 0;
}

int ilr_transformer_adamw_step(ilr_transformer *tr, const ilr_adamw_params *hp, float max_grad_norm,
                               double *grad_norm) {
    size_t lo, hi;
    ilr_transformer_moments_range(tr, &lo, &hi);
    int rc = ilr_transformer_alloc_moments(tr);
    if (rc) return rc;
    double norm = ilr_grad_norm(tr->grads, tr->model->table.total);
    if (grad_norm) *grad_norm = norm;
    /* torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) when that is below 1 */
    double coef = max_grad_norm > 0 ? max_grad_norm / (norm + 1e-6) : 1.0;
    if (coef < 1.0) ilr_scale(tr->grads + lo, hi - lo, (float)coef);
    /* elementwise: a shard's parameters get the bits the whole array's update gives them */
    ilr_adamw_update(tr->model->params + lo, tr->grads + lo, tr->adam_m, tr->adam_v, hi - lo, hp, ++tr->adam_step);
    return 0;
}

double ilr_transformer_train_flops(const ilr_model_config *c, double tokens, double seq) {
    double params = (double)ilr_config_param_count(c);
    double embed = (double)c->vocab_size * c->hidden_size;
    /* Embedding lookups cost nothing; the LM head (the embedding itself when tied) is a matmul. */
    double matmul_params = c->tie_word_embeddings ? params : params - embed;
    double attention = 12.0 * c->num_layers * (seq / 2) * c->num_heads * c->head_dim;
    return tokens * (6.0 * matmul_params + attention);
}

double ilr_transformer_infer_flops(const ilr_model_config *c, double tokens, double logit_rows, double context) {
    double embed = (double)c->vocab_size * c->hidden_size;
    double body = (double)ilr_config_param_count(c) - embed - (c->tie_word_embeddings ? 0.0 : embed);
    return 2.0 * body * tokens + 2.0 * embed * logit_rows + 4.0 * c->num_layers * c->num_heads * c->head_dim * context;
}
