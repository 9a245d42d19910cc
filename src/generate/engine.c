/* KV-cache forward pass for generation (see ilr/generate.h). */
#include "ilr/generate.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/block.h"
#include "ilr/error.h"
#include "ilr/kernels.h"
#ifdef ILR_CUDA
#include "engine_cuda.h"
#endif

static size_t kv_dim(const ilr_model_config *c) { return (size_t)c->num_kv_heads * c->head_dim; }

static float *cache_row(const ilr_generator *g, float *cache, int layer, int slot, int pos) {
    return cache + (((size_t)layer * g->slots + slot) * g->max_len + pos) * kv_dim(&g->model->config);
}

static const float *param(const ilr_generator *g, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = ilr_param_get(&g->model->table, kind, layer);
    return v ? g->model->params + v->offset : NULL;
}

/* The bf16 copy of a parameter; NULL when the generator reads fp32. */
static const uint16_t *param_bf16(const ilr_generator *g, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = g->params_bf16 ? ilr_param_get(&g->model->table, kind, layer) : NULL;
    return v ? g->params_bf16 + v->offset : NULL;
}


/* Per-call activations for max_tokens rows; run once to size the arena, once to place the buffers. */
static void layout(ilr_generator *g, ilr_arena *a, size_t *total) {
    const ilr_model_config *c = &g->model->config;
    size_t R = (size_t)g->max_tokens, C = (size_t)c->hidden_size, QD = (size_t)c->num_heads * c->head_dim;
    size_t KD = kv_dim(c), I = (size_t)c->intermediate_size, F = sizeof(float);
    g->x = ilr_arena_take(a, total, R * C * F);
    g->ln = ilr_arena_take(a, total, R * C * F);
    g->q = ilr_arena_take(a, total, R * QD * F);
    g->k = ilr_arena_take(a, total, R * KD * F);
    g->v = ilr_arena_take(a, total, R * KD * F);
    g->atty = ilr_arena_take(a, total, R * QD * F);
    g->tmp = ilr_arena_take(a, total, R * C * F);
    g->mid = ilr_arena_take(a, total, R * C * F);
    g->gate = ilr_arena_take(a, total, R * I * F);
    g->up = ilr_arena_take(a, total, R * I * F);
    g->act = ilr_arena_take(a, total, R * I * F);
    g->rows = ilr_arena_take(a, total, R * C * F);
    g->scores = ilr_arena_take(a, total, (size_t)omp_get_max_threads() * g->max_len * F);
    g->rope_cos = ilr_arena_take(a, total, (size_t)g->max_len * c->head_dim / 2 * F);
    g->rope_sin = ilr_arena_take(a, total, (size_t)g->max_len * c->head_dim / 2 * F);
}

/* What both devices keep on the host: the geometry, the slots' lengths, the rows' positions. */
static int init_common(ilr_generator *g, ilr_model *model, int slots, int max_len, ilr_device device) {
    memset(g, 0, sizeof *g);
    if (slots < 1 || max_len < 1) return ILR_FAIL(ILR_EINVAL, "generator: %d slots of %d tokens is empty", slots, max_len);
    g->model = model;
    g->device = device;
    g->slots = slots;
    g->max_len = max_len;
    g->max_tokens = slots > 256 ? slots : 256;
    g->length = calloc((size_t)slots, sizeof(int));
    g->pos = malloc(sizeof(int) * (size_t)g->max_tokens);
    g->wanted = malloc(sizeof(int) * (size_t)g->max_tokens);
    if (!g->length || !g->pos || !g->wanted) return ILR_FAIL(ILR_ENOMEM, "generator: out of memory");
    return 0;
}

int ilr_gen_init(ilr_generator *g, ilr_model *model, int slots, int max_len) {
    int rc = init_common(g, model, slots, max_len, ILR_DEVICE_CPU);
    if (rc) return ilr_gen_free(g), rc;
    const ilr_model_config *c = &model->config;
    size_t cache = (size_t)c->num_layers * slots * max_len * kv_dim(c) * sizeof(float);
    g->k_cache = ilr_aligned_alloc(cache, "KV cache (keys)");
    g->v_cache = g->k_cache ? ilr_aligned_alloc(cache, "KV cache (values)") : NULL;
    size_t total = 0;
    layout(g, NULL, &total);
    if (!g->v_cache || ilr_arena_init(&g->arena, total)) {
        ilr_gen_free(g);
        return ilr_last_error_code() ? ilr_last_error_code() : ILR_FAIL(ILR_ENOMEM, "generator: out of memory");
    }
    layout(g, &g->arena, &total);
    ilr_rope_scaling scaling = {c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                                c->rope_original_max_position};
    ilr_rope_table(g->rope_cos, g->rope_sin, max_len, c->head_dim, c->rope_theta, c->has_rope_scaling ? &scaling : NULL);
    return 0;
}

#ifndef ILR_CUDA
static int no_cuda(void) {
    return ILR_FAIL(ILR_EUNSUPPORTED, "generator on cuda: this ilr was built without the CUDA backend (make CUDA=1)");
}
#endif

int ilr_gen_init_cuda_shared(ilr_generator *g, ilr_model *model, int slots, int max_len, const float *params_f32,
                             const void *params_bf16) {
    int rc = init_common(g, model, slots, max_len, ILR_DEVICE_CUDA);
#ifdef ILR_CUDA
    if (!rc) rc = ilr_cuda_gen_create(g, params_f32, params_bf16);
#else
    if (!rc) rc = no_cuda();
#endif
    if (rc) ilr_gen_free(g);
    return rc;
}

int ilr_gen_init_on(ilr_generator *g, ilr_model *model, int slots, int max_len, ilr_device device) {
    if (device == ILR_DEVICE_CPU) return ilr_gen_init(g, model, slots, max_len);
    return ilr_gen_init_cuda_shared(g, model, slots, max_len, NULL, NULL);
}

/* Rows of W widened per sgemm of a many-row bf16 product. */
#define BF16_PANEL_ROWS 128

int ilr_gen_set_weights(ilr_generator *g, ilr_gen_weights weights) {
    if (g->gpu) return 0;
    ilr_aligned_free(g->params_bf16);
    ilr_aligned_free(g->panel);
    g->params_bf16 = NULL, g->panel = NULL, g->panel_floats = 0, g->acts_bf16 = 0;
    if (weights == ILR_GEN_WEIGHTS_F32) return 0;
    const ilr_model_config *c = &g->model->config;
    size_t widest = (size_t)c->hidden_size, qd = (size_t)c->num_heads * c->head_dim;
    widest = qd > widest ? qd : widest;
    widest = (size_t)c->intermediate_size > widest ? (size_t)c->intermediate_size : widest;
    g->params_bf16 = ilr_aligned_alloc(g->model->table.total * sizeof(uint16_t), "bf16 weights");
    g->panel = g->params_bf16 ? ilr_aligned_alloc(BF16_PANEL_ROWS * widest * sizeof(float), "bf16 panel") : NULL;
    if (!g->panel) return ilr_gen_set_weights(g, ILR_GEN_WEIGHTS_F32), ilr_last_error_code();
    g->panel_floats = BF16_PANEL_ROWS * widest;
    g->acts_bf16 = weights == ILR_GEN_WEIGHTS_BF16_ACT;
    return ilr_gen_weights_changed(g);
}

int ilr_gen_weights_parse(const char *name, ilr_gen_weights *out) {
    if (strcmp(name, "f32") == 0) return *out = ILR_GEN_WEIGHTS_F32, 0;
    if (strcmp(name, "bf16") == 0) return *out = ILR_GEN_WEIGHTS_BF16, 0;
    if (strcmp(name, "bf16-act") == 0) return *out = ILR_GEN_WEIGHTS_BF16_ACT, 0;
    return ILR_FAIL(ILR_EINVAL, "weights '%s': expected f32, bf16 or bf16-act", name);
}

const char *ilr_gen_weights_name(ilr_gen_weights weights) {
    return weights == ILR_GEN_WEIGHTS_BF16 ? "bf16" : weights == ILR_GEN_WEIGHTS_BF16_ACT ? "bf16-act" : "f32";
}

int ilr_gen_weights_changed(ilr_generator *g) {
#ifdef ILR_CUDA
    if (g->gpu) return ilr_cuda_gen_upload_weights(g);
#endif
    if (g->params_bf16) ilr_bf16_round(g->params_bf16, g->model->params, g->model->table.total);
    return 0;
}

void ilr_gen_free(ilr_generator *g) {
#ifdef ILR_CUDA
    ilr_cuda_gen_destroy(g);
#endif
    ilr_aligned_free(g->k_cache);
    ilr_aligned_free(g->v_cache);
    ilr_aligned_free(g->params_bf16);
    ilr_aligned_free(g->panel);
    free(g->length);
    free(g->pos);
    free(g->wanted);
    ilr_arena_free(&g->arena);
    memset(g, 0, sizeof *g);
}

void ilr_gen_reset_slot(ilr_generator *g, int slot) { g->length[slot] = 0; }

void ilr_gen_copy_slot(ilr_generator *g, int from, int to) {
    const ilr_model_config *c = &g->model->config;
#ifdef ILR_CUDA
    if (g->gpu && from != to) ilr_cuda_gen_copy_slot(g, from, to, g->length[from]);
#endif
    size_t n = (size_t)g->length[from] * kv_dim(c) * sizeof(float);
    for (int l = 0; l < c->num_layers && from != to && !g->gpu; l++) {
        memcpy(cache_row(g, g->k_cache, l, to, 0), cache_row(g, g->k_cache, l, from, 0), n);
        memcpy(cache_row(g, g->v_cache, l, to, 0), cache_row(g, g->v_cache, l, from, 0), n);
    }
    g->length[to] = g->length[from];
}

typedef struct {
    ilr_generator *g;
    int layer;
    const int *slots;
} cached_ctx;

/* Generation's attention: the new rows' keys and values join their slots' caches, then each row attends to
 * its slot's cached keys 0..pos[i] (its own included). */
static void cached_attention(void *ctx, const ilr_block_acts *a, int n) {
    const cached_ctx *cc = ctx;
    ilr_generator *g = cc->g;
    const ilr_model_config *c = &g->model->config;
    size_t KD = kv_dim(c);
    for (int i = 0; i < n; i++) {
        memcpy(cache_row(g, g->k_cache, cc->layer, cc->slots[i], g->pos[i]), a->k + i * KD, KD * sizeof(float));
        memcpy(cache_row(g, g->v_cache, cc->layer, cc->slots[i], g->pos[i]), a->v + i * KD, KD * sizeof(float));
    }
    ilr_attention_cached(a->atty, a->q, cache_row(g, g->k_cache, cc->layer, 0, 0), cache_row(g, g->v_cache, cc->layer, 0, 0),
                         (size_t)g->max_len, cc->slots, g->pos, n, c->num_heads, c->num_kv_heads, c->head_dim, g->scores,
                         g->max_len);
}

static void layer_forward(ilr_generator *g, int l, const int *slots, int n) {
    ilr_block_weights w;
    ilr_block_weights_of(g->model, l, &w);
    if (g->params_bf16) {
        w.q_h = param_bf16(g, ILR_P_Q_W, l), w.k_h = param_bf16(g, ILR_P_K_W, l), w.v_h = param_bf16(g, ILR_P_V_W, l);
        w.o_h = param_bf16(g, ILR_P_O_W, l), w.gate_h = param_bf16(g, ILR_P_GATE_W, l);
        w.up_h = param_bf16(g, ILR_P_UP_W, l), w.down_h = param_bf16(g, ILR_P_DOWN_W, l);
        w.panel = g->panel, w.panel_floats = g->panel_floats, w.acts_bf16 = g->acts_bf16;
    }
    /* (the norms' rstd go to tmp: inference does not keep them) */
    ilr_block_acts a = {g->ln, g->tmp, g->q, g->k, g->v, g->atty, g->mid, g->ln, g->tmp, g->gate, g->up, g->act};
    cached_ctx ctx = {g, l, slots};
    ilr_block_forward(&g->model->config, &w, &a, g->x, g->x, g->rope_cos, g->rope_sin, g->pos, n, cached_attention, &ctx);
}

/* Positions of the new tokens: each slot continues where it stands. */
static int assign_positions(ilr_generator *g, const int *slots, int n) {
    for (int i = 0; i < n; i++) {
        if (slots[i] < 0 || slots[i] >= g->slots)
            return ILR_FAIL(ILR_EINVAL, "generator: slot %d out of range [0, %d)", slots[i], g->slots);
        int before = 0;
        for (int j = 0; j < i; j++) before += slots[j] == slots[i];
        g->pos[i] = g->length[slots[i]] + before;
        if (g->pos[i] >= g->max_len)
            return ILR_FAIL(ILR_EINVAL, "generator: slot %d is full (%d tokens)", slots[i], g->max_len);
    }
    return 0;
}

/* The rows whose logits are wanted (want NULL: the last token of each slot in the call), in order. */
static int wanted_rows(const int *slots, int n, const unsigned char *want, int *rows) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        int last = 1;
        for (int j = i + 1; j < n && last; j++) last = slots[j] != slots[i];
        if (want ? want[i] : last) rows[m++] = i;
    }
    return m;
}

static int check_tokens(const ilr_generator *g, const int *tokens, int n) {
    int V = g->model->config.vocab_size;
    if (n < 1 || n > g->max_tokens)
        return ILR_FAIL(ILR_EINVAL, "generator: %d tokens in one call (1 to %d)", n, g->max_tokens);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V) return ILR_FAIL(ILR_EINVAL, "generator: token %d is not in [0, %d)", tokens[i], V);
    return 0;
}

static void advance_lengths(ilr_generator *g, const int *slots, int n) {
    for (int i = 0; i < n; i++) g->length[slots[i]] = g->pos[i] + 1 > g->length[slots[i]] ? g->pos[i] + 1 : g->length[slots[i]];
}

static void cpu_forward(ilr_generator *g, const int *slots, const int *tokens, int n, const int *rows, int m,
                        float *logits) {
    const ilr_model_config *c = &g->model->config;
    int C = c->hidden_size;
    ilr_embedding_forward(g->x, tokens, param(g, ILR_P_EMBED, -1), n, C);
    for (int l = 0; l < c->num_layers; l++) layer_forward(g, l, slots, n);
    for (int k = 0; k < m; k++) memcpy(g->rows + (size_t)k * C, g->x + (size_t)rows[k] * C, sizeof(float) * C);
    if (m) {
        ilr_rmsnorm_forward(g->ln, g->tmp, g->rows, param(g, ILR_P_FINAL_NORM, -1), m, C, (float)c->rms_norm_eps);
        ilr_param_kind head = c->tie_word_embeddings ? ILR_P_EMBED : ILR_P_LM_HEAD;
        if (g->params_bf16)
            ilr_matmul_bf16_forward(logits, g->ln, param_bf16(g, head, -1), NULL, m, C, c->vocab_size, g->acts_bf16,
                                    g->panel, g->panel_floats);
        else
            ilr_lm_head_logits(logits, g->ln, param(g, head, -1), m, C, c->vocab_size);
    }
}

int ilr_gen_forward(ilr_generator *g, const int *slots, const int *tokens, int n, const unsigned char *want_logits,
                    float *logits) {
    int rc = check_tokens(g, tokens, n);
    if (!rc) rc = assign_positions(g, slots, n);
    if (rc) return rc;
    int m = wanted_rows(slots, n, want_logits, g->wanted);
#ifdef ILR_CUDA
    if (g->gpu) rc = ilr_cuda_gen_forward(g, slots, tokens, n, g->wanted, m, logits, 0.0f, NULL, NULL, NULL);
    else
#endif
        cpu_forward(g, slots, tokens, n, g->wanted, m, logits);
    if (!rc) advance_lengths(g, slots, n);
    return rc;
}

int ilr_gen_samples_on_device(const ilr_generator *g, const ilr_sampler_params *p) {
    return g->gpu && p->top_k == 0 && p->top_p >= 1.0f && p->min_p == 0.0f &&
           (p->temperature == 0.0f || p->temperature >= 0.01f);
}

int ilr_gen_forward_sample(ilr_generator *g, const int *slots, const int *tokens, int n, float temperature,
                           const double *uniforms, int *ids, float *logprobs) {
    int rc = check_tokens(g, tokens, n);
    if (!rc) rc = assign_positions(g, slots, n);
    if (rc) return rc;
#ifdef ILR_CUDA
    if (g->gpu) {
        int m = wanted_rows(slots, n, NULL, g->wanted);
        rc = ilr_cuda_gen_forward(g, slots, tokens, n, g->wanted, m, NULL, temperature, uniforms, ids, logprobs);
        if (!rc) advance_lengths(g, slots, n);
        return rc;
    }
#endif
    (void)temperature, (void)uniforms, (void)ids, (void)logprobs;
    return ILR_FAIL(ILR_EUNSUPPORTED, "generator: drawing tokens on the device needs the GPU engine");
}

int ilr_gen_prefill(ilr_generator *g, int slot, const int *tokens, int n, float *logits) {
    int slots[256], rc = 0;
    for (int start = 0; start < n && !rc; start += 256) {
        int len = n - start < 256 ? n - start : 256;
        for (int i = 0; i < len; i++) slots[i] = slot;
        rc = ilr_gen_forward(g, slots, tokens + start, len, NULL, logits);
    }
    return rc;
}
