/* KV-cache forward pass for generation (see ilr/generate.h). */
#include "ilr/generate.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/block.h"
#include "ilr/error.h"
#include "ilr/kernels.h"

static size_t kv_dim(const ilr_model_config *c) { return (size_t)c->num_kv_heads * c->head_dim; }

static float *cache_row(const ilr_generator *g, float *cache, int layer, int slot, int pos) {
    return cache + (((size_t)layer * g->slots + slot) * g->max_len + pos) * kv_dim(&g->model->config);
}

static const float *param(const ilr_generator *g, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = ilr_param_get(&g->model->table, kind, layer);
    return v ? g->model->params + v->offset : NULL;
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
    g->pos = ilr_arena_take(a, total, R * sizeof(int));
    g->rope_cos = ilr_arena_take(a, total, (size_t)g->max_len * c->head_dim / 2 * F);
    g->rope_sin = ilr_arena_take(a, total, (size_t)g->max_len * c->head_dim / 2 * F);
}

int ilr_gen_init(ilr_generator *g, ilr_model *model, int slots, int max_len) {
    memset(g, 0, sizeof *g);
    const ilr_model_config *c = &model->config;
    if (slots < 1 || max_len < 1) return ILR_FAIL(ILR_EINVAL, "generator: %d slots of %d tokens is empty", slots, max_len);
    g->model = model;
    g->slots = slots;
    g->max_len = max_len;
    g->max_tokens = slots > 256 ? slots : 256;
    size_t cache = (size_t)c->num_layers * slots * max_len * kv_dim(c) * sizeof(float);
    g->k_cache = ilr_aligned_alloc(cache, "KV cache (keys)");
    g->v_cache = g->k_cache ? ilr_aligned_alloc(cache, "KV cache (values)") : NULL;
    g->length = calloc((size_t)slots, sizeof(int));
    size_t total = 0;
    layout(g, NULL, &total);
    if (!g->v_cache || !g->length || ilr_arena_init(&g->arena, total)) {
        ilr_gen_free(g);
        return ilr_last_error_code() ? ilr_last_error_code() : ILR_FAIL(ILR_ENOMEM, "generator: out of memory");
    }
    layout(g, &g->arena, &total);
    ilr_rope_scaling scaling = {c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                                c->rope_original_max_position};
    ilr_rope_table(g->rope_cos, g->rope_sin, max_len, c->head_dim, c->rope_theta, c->has_rope_scaling ? &scaling : NULL);
    return 0;
}

void ilr_gen_free(ilr_generator *g) {
    ilr_aligned_free(g->k_cache);
    ilr_aligned_free(g->v_cache);
    free(g->length);
    ilr_arena_free(&g->arena);
    memset(g, 0, sizeof *g);
}

void ilr_gen_reset_slot(ilr_generator *g, int slot) { g->length[slot] = 0; }

void ilr_gen_copy_slot(ilr_generator *g, int from, int to) {
    const ilr_model_config *c = &g->model->config;
    size_t n = (size_t)g->length[from] * kv_dim(c) * sizeof(float);
    for (int l = 0; l < c->num_layers && from != to; l++) {
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

int ilr_gen_forward(ilr_generator *g, const int *slots, const int *tokens, int n, const unsigned char *want_logits,
                    float *logits) {
    const ilr_model_config *c = &g->model->config;
    int C = c->hidden_size, V = c->vocab_size;
    if (n < 1 || n > g->max_tokens)
        return ILR_FAIL(ILR_EINVAL, "generator: %d tokens in one call (1 to %d)", n, g->max_tokens);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V) return ILR_FAIL(ILR_EINVAL, "generator: token %d is not in [0, %d)", tokens[i], V);
    int rc = assign_positions(g, slots, n);
    if (rc) return rc;
    ilr_embedding_forward(g->x, tokens, param(g, ILR_P_EMBED, -1), n, C);
    for (int l = 0; l < c->num_layers; l++) layer_forward(g, l, slots, n);
    int rows = 0;
    for (int i = 0; i < n; i++) {
        int last = 1; /* default: the last token of each slot in this call */
        for (int j = i + 1; j < n && last; j++) last = slots[j] != slots[i];
        if (want_logits ? !want_logits[i] : !last) continue;
        memcpy(g->rows + (size_t)rows * C, g->x + (size_t)i * C, sizeof(float) * C);
        rows++;
    }
    for (int i = 0; i < n; i++) g->length[slots[i]] = g->pos[i] + 1 > g->length[slots[i]] ? g->pos[i] + 1 : g->length[slots[i]];
    if (rows) {
        ilr_rmsnorm_forward(g->ln, g->tmp, g->rows, param(g, ILR_P_FINAL_NORM, -1), rows, C, (float)c->rms_norm_eps);
        ilr_param_kind head = c->tie_word_embeddings ? ILR_P_EMBED : ILR_P_LM_HEAD;
        ilr_lm_head_logits(logits, g->ln, param(g, head, -1), rows, C, V);
    }
    return 0;
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
