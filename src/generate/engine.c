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


/* Models whose weights fit a core's cache: a decode step of theirs is ~25 kernels of microseconds each, and
 * an OpenMP region around every one of them cost more than it saved (2 threads decoded world-a 1.1-1.3x as
 * fast as 1).  There each thread runs the whole stack on its share of the rows instead, its kernels alone
 * (nested regions have one thread).  Only when each slot's rows are together in the call (a batch of decode
 * steps, or of prompts): a slot's rows then stay with one thread, and no row reads a cache entry another thread
 * writes.  ILR_GEN_ROW_SPLIT=0 turns it off (to compare). */
#define ROW_SPLIT_MAX_PARAMS (2u << 20)
#define ROW_SPLIT_MIN_ROWS 8
#define ROW_SPLIT_PART_ROWS 128

/* The seven matrices of a layer in packing order, then the LM head (packed index layers * 7). */
static const ilr_param_kind packed_kinds[7] = {ILR_P_Q_W, ILR_P_K_W, ILR_P_V_W, ILR_P_O_W, ILR_P_GATE_W, ILR_P_UP_W,
                                               ILR_P_DOWN_W};

static ilr_param_kind head_kind(const ilr_model_config *c) { return c->tie_word_embeddings ? ILR_P_EMBED : ILR_P_LM_HEAD; }

/* Matrix j of the packing order: its parameter, and (out, in) its shape. */
static const float *packed_source(const ilr_generator *g, int j, int *out, int *in) {
    const ilr_model_config *c = &g->model->config;
    int C = c->hidden_size, QD = c->num_heads * c->head_dim, KD = (int)kv_dim(c), I = c->intermediate_size;
    int L = c->num_layers, kind = j < L * 7 ? j % 7 : -1;
    static const int outs[7] = {0, 1, 1, 2, 3, 3, 2}, ins[7] = {2, 2, 2, 0, 2, 2, 3}; /* 0 QD, 1 KD, 2 C, 3 I */
    int dims[4] = {QD, KD, C, I};
    if (kind < 0) return *out = c->vocab_size, *in = C, param(g, head_kind(c), -1);
    *out = dims[outs[kind]], *in = dims[ins[kind]];
    return param(g, packed_kinds[kind], j / 7);
}

/* For a small model: room for every matrix packed (ilr_small_gemm_pack_nt), which a row-split call fills once
 * and its threads then share, where each product would pack its own each time.  0 where one does not fit. */
static int packed_init(ilr_generator *g) {
    int count = g->model->config.num_layers * 7 + 1;
    size_t total = 0;
    g->packed_at = malloc(sizeof(size_t) * (size_t)count);
    if (!g->packed_at) return ILR_FAIL(ILR_ENOMEM, "generator: out of memory");
    for (int j = 0; j < count; j++) {
        int out, in;
        packed_source(g, j, &out, &in);
        if (!ilr_small_gemm_fits(ILR_SMALL_GEMM_MAX_K, out, in)) return free(g->packed_at), g->packed_at = NULL, 0;
        g->packed_at[j] = total;
        total += ilr_small_gemm_packed_floats(out, in);
    }
    g->packed = ilr_aligned_alloc(total * sizeof(float), "generator: packed weights");
    return g->packed ? 0 : ilr_last_error_code();
}

static void pack_matrix(ilr_generator *g, int j) {
    int out, in;
    const float *w = packed_source(g, j, &out, &in);
    ilr_small_gemm_pack_nt(g->packed + g->packed_at[j], w, in, out, in);
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
    /* a row per thread: the attention kernels index it by omp_get_thread_num(), so room for as many threads as
     * a team may have later too (the processors, when the count asked for now is lower) */
    g->score_rows = omp_get_max_threads() > omp_get_num_procs() ? omp_get_max_threads() : omp_get_num_procs();
    g->scores = ilr_arena_take(a, total, (size_t)g->score_rows * g->max_len * F);
    g->run_scores = ilr_arena_take(a, total, (size_t)g->score_rows * ilr_attention_cached_run_scratch_floats(g->max_len) * F);
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
    if (device == ILR_DEVICE_CPU && model->table.total <= ROW_SPLIT_MAX_PARAMS && g->max_tokens < 2048)
        g->max_tokens = 2048; /* a small model's prompts prefilled together (a few MiB of activations) */
    g->part_rows = ROW_SPLIT_PART_ROWS;
    g->length = calloc((size_t)slots, sizeof(int));
    g->pos = malloc(sizeof(int) * (size_t)g->max_tokens);
    g->wanted = malloc(sizeof(int) * (size_t)g->max_tokens);
    g->added = calloc((size_t)slots, sizeof(int));
    if (!g->length || !g->pos || !g->wanted || !g->added) return ILR_FAIL(ILR_ENOMEM, "generator: out of memory");
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
    if (model->table.total <= ROW_SPLIT_MAX_PARAMS && (rc = packed_init(g))) return ilr_gen_free(g), rc;
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
    g->packed_fresh = 0;
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
    free(g->added);
    free(g->packed_at);
    ilr_aligned_free(g->packed);
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

/* Rows [lo, lo + n) of the current call, and the attention scores buffer of the thread that runs them. */
typedef struct {
    int lo, n;
    float *scores, *run_scores; /* the attention kernels' scratch for the thread(s) that run the part */
    int packed;                 /* g->packed holds this call's weights */
} row_part;

typedef struct {
    ilr_generator *g;
    int layer;
    const int *slots, *pos;
    float *scores, *run_scores;
} cached_ctx;

/* Rows of one slot at consecutive positions from which a prompt's prefill takes the blocked kernel. */
#define ATTENTION_RUN_MIN_ROWS 16

/* Generation's attention: the new rows' keys and values join their slots' caches, then each row attends to
 * its slot's cached keys 0..pos[i] (its own included). */
static void cached_attention(void *ctx, const ilr_block_acts *a, int n) {
    const cached_ctx *cc = ctx;
    ilr_generator *g = cc->g;
    const ilr_model_config *c = &g->model->config;
    size_t KD = kv_dim(c);
    for (int i = 0; i < n; i++) {
        memcpy(cache_row(g, g->k_cache, cc->layer, cc->slots[i], cc->pos[i]), a->k + i * KD, KD * sizeof(float));
        memcpy(cache_row(g, g->v_cache, cc->layer, cc->slots[i], cc->pos[i]), a->v + i * KD, KD * sizeof(float));
    }
    /* runs of one slot's rows at consecutive positions (a prefill) take the blocked kernel, the rest the row kernel */
    size_t QD = (size_t)c->num_heads * c->head_dim;
    const float *k0 = cache_row(g, g->k_cache, cc->layer, 0, 0), *v0 = cache_row(g, g->v_cache, cc->layer, 0, 0);
    for (int i = 0, rows_from = 0; i <= n; ) {
        int j = i + 1;
        while (i < n && j < n && cc->slots[j] == cc->slots[i] && cc->pos[j] == cc->pos[j - 1] + 1) j++;
        int run = i < n && j - i >= ATTENTION_RUN_MIN_ROWS;
        if ((run || i == n) && i > rows_from) /* the rows before this run, one by one */
            ilr_attention_cached(a->atty + rows_from * QD, a->q + rows_from * QD, k0, v0, (size_t)g->max_len,
                                 cc->slots + rows_from, cc->pos + rows_from, i - rows_from, c->num_heads, c->num_kv_heads,
                                 c->head_dim, cc->scores, g->max_len);
        if (i == n) break;
        if (run) {
            ilr_attention_cached_run(a->atty + i * QD, a->q + i * QD, cache_row(g, g->k_cache, cc->layer, cc->slots[i], 0),
                                     cache_row(g, g->v_cache, cc->layer, cc->slots[i], 0), cc->pos[i], j - i, c->num_heads,
                                     c->num_kv_heads, c->head_dim, cc->run_scores, g->max_len);
            rows_from = j;
        }
        i = j;
    }
}

static void layer_forward(ilr_generator *g, int l, const int *slots, row_part part) {
    const ilr_model_config *c = &g->model->config;
    size_t lo = (size_t)part.lo, C = (size_t)c->hidden_size, QD = (size_t)c->num_heads * c->head_dim, KD = kv_dim(c);
    size_t I = (size_t)c->intermediate_size;
    ilr_block_weights w;
    ilr_block_weights_of(g->model, l, &w);
    if (g->params_bf16) {
        w.q_h = param_bf16(g, ILR_P_Q_W, l), w.k_h = param_bf16(g, ILR_P_K_W, l), w.v_h = param_bf16(g, ILR_P_V_W, l);
        w.o_h = param_bf16(g, ILR_P_O_W, l), w.gate_h = param_bf16(g, ILR_P_GATE_W, l);
        w.up_h = param_bf16(g, ILR_P_UP_W, l), w.down_h = param_bf16(g, ILR_P_DOWN_W, l);
        w.panel = g->panel, w.panel_floats = g->panel_floats, w.acts_bf16 = g->acts_bf16;
    } else if (part.packed) {
        const float **packed[7] = {&w.q_p, &w.k_p, &w.v_p, &w.o_p, &w.gate_p, &w.up_p, &w.down_p};
        for (int j = 0; j < 7; j++) *packed[j] = g->packed + g->packed_at[l * 7 + j];
    }
    /* (the norms' rstd go to tmp: inference does not keep them) */
    float *ln = g->ln + lo * C, *tmp = g->tmp + lo * C;
    ilr_block_acts a = {ln, tmp, g->q + lo * QD, g->k + lo * KD, g->v + lo * KD, g->atty + lo * QD, g->mid + lo * C,
                        ln, tmp, g->gate + lo * I, g->up + lo * I, g->act + lo * I};
    cached_ctx ctx = {g, l, slots + lo, g->pos + lo, part.scores, part.run_scores};
    float *x = g->x + lo * C;
    ilr_block_forward(c, &w, &a, x, x, g->rope_cos, g->rope_sin, g->pos + lo, part.n, cached_attention, &ctx);
}

/* Places the call's rows: each slot continues where it stands (pos), the rows whose logits are wanted (want
 * NULL: the last token of each slot in the call) in order (g->wanted, *m of them), and how many runs of one
 * slot's rows the call is made of when each slot's rows are together (g->slot_runs; 0 when they are not).
 * g->added counts a slot's rows while it runs, zero again after. */
static int place_rows(ilr_generator *g, const int *slots, int n, const unsigned char *want, int *m) {
    int rc = 0, i = 0, runs = 0, together = 1;
    for (; i < n && !rc; i++) {
        if (slots[i] < 0 || slots[i] >= g->slots) {
            rc = ILR_FAIL(ILR_EINVAL, "generator: slot %d out of range [0, %d)", slots[i], g->slots);
            break;
        }
        int starts = i == 0 || slots[i] != slots[i - 1];
        runs += starts;
        together &= !starts || g->added[slots[i]] == 0; /* a new run of a slot seen before: apart */
        g->pos[i] = g->length[slots[i]] + g->added[slots[i]]++;
        if (g->pos[i] >= g->max_len) rc = ILR_FAIL(ILR_EINVAL, "generator: slot %d is full (%d tokens)", slots[i], g->max_len);
    }
    *m = 0;
    for (int j = 0; j < n && !rc; j++) /* the slot's last row is at length + added - 1 */
        if (want ? want[j] : g->pos[j] == g->length[slots[j]] + g->added[slots[j]] - 1) g->wanted[(*m)++] = j;
    for (int j = 0; j < i; j++) g->added[slots[j]] = 0;
    g->slot_runs = together ? runs : 0;
    return rc;
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

/* The whole stack for rows part.lo .. + n (their tokens and slots from index lo); then the final norm and the
 * logits of wanted rows k0..k1 (all in the part) into logits' rows k0..k1.  The norm's rows go to the part's own
 * rows of rows/ln/tmp, so parts may run at once. */
static void forward_part(ilr_generator *g, const int *slots, const int *tokens, row_part part, int k0, int k1,
                         float *logits) {
    const ilr_model_config *c = &g->model->config;
    size_t C = (size_t)c->hidden_size, lo = (size_t)part.lo;
    ilr_embedding_forward(g->x + lo * C, tokens + lo, param(g, ILR_P_EMBED, -1), part.n, (int)C);
    for (int l = 0; l < c->num_layers; l++) layer_forward(g, l, slots, part);
    int m = k1 - k0;
    if (m <= 0) return;
    float *rows = g->rows + lo * C, *ln = g->ln + lo * C;
    for (int k = 0; k < m; k++) memcpy(rows + (size_t)k * C, g->x + (size_t)g->wanted[k0 + k] * C, sizeof(float) * C);
    ilr_rmsnorm_forward(ln, g->tmp + lo * C, rows, param(g, ILR_P_FINAL_NORM, -1), m, (int)C, (float)c->rms_norm_eps);
    ilr_param_kind head = head_kind(c);
    float *out = logits + (size_t)k0 * c->vocab_size;
    if (g->params_bf16)
        ilr_matmul_bf16_forward(out, ln, param_bf16(g, head, -1), NULL, m, (int)C, c->vocab_size, g->acts_bf16,
                                g->panel, g->panel_floats);
    else if (part.packed)
        ilr_small_gemm_packed(out, c->vocab_size, ln, (int)C, g->packed + g->packed_at[c->num_layers * 7], m,
                              c->vocab_size, (int)C, 1.0f, 0);
    else
        ilr_lm_head_logits(out, ln, param(g, head, -1), m, (int)C, c->vocab_size);
}

static int row_split_setting(void) {
    static int off = -1;
    return !ilr_kernel_env_off(&off, "ILR_GEN_ROW_SPLIT");
}

/* How many threads split the call's rows (1: the kernels share each product instead). */
static int row_split_threads(const ilr_generator *g, int n) {
    int setting = row_split_setting(), threads = omp_get_max_threads();
    if (!setting || !g->packed || g->slot_runs < 2 || g->params_bf16 || threads < 2 || omp_in_parallel()) return 1;
    int most = n / ROW_SPLIT_MIN_ROWS;
    most = most < g->slot_runs ? most : g->slot_runs;
    most = most < g->score_rows ? most : g->score_rows; /* a scores row per thread */
    return most < 2 ? 1 : most < threads ? most : threads;
}

/* The first row at or after i that starts a run of one slot's rows (n when none does). */
static int run_start_from(const int *slots, int n, int i) {
    while (i > 0 && i < n && slots[i] == slots[i - 1]) i++;
    return i;
}

static void cpu_forward(ilr_generator *g, const int *slots, const int *tokens, int n, int m, float *logits) {
    int threads = row_split_threads(g, n);
    if (threads == 1) {
        /* one thread: the packed matrices still spare each product its packing while the weights are held (a
         * rank of an MPI run with one thread each); a few rows take the unpacked path's matrix-vector products */
        int packed = g->packed && g->weights_held && n >= ROW_SPLIT_MIN_ROWS && !g->params_bf16 && row_split_setting();
        if (packed && !g->packed_fresh) {
            for (int j = 0; j <= g->model->config.num_layers * 7; j++) pack_matrix(g, j);
            g->packed_fresh = 1;
        }
        forward_part(g, slots, tokens, (row_part){0, n, g->scores, g->run_scores, packed}, 0, m, logits);
        return;
    }
    int pack = !(g->weights_held && g->packed_fresh);
#pragma omp parallel num_threads(threads)
    {
        if (pack) {
#pragma omp for schedule(dynamic, 1)
            for (int j = 0; j <= g->model->config.num_layers * 7; j++) pack_matrix(g, j);
        }
        /* this thread's rows: its even share, both ends moved on to where a slot's run starts (a slot's rows stay
         * with one thread, which runs them in order: each part's keys and values are cached before the next) */
        int t = omp_get_thread_num(), T = omp_get_num_threads();
        int lo = run_start_from(slots, n, (int)((long)n * t / T)), hi = run_start_from(slots, n, (int)((long)n * (t + 1) / T));
        float *scores = g->scores + (size_t)t * g->max_len;
        float *run_scores = g->run_scores + (size_t)t * ilr_attention_cached_run_scratch_floats(g->max_len);
        /* in parts of at most part_rows rows: a part's activations stay in the core's cache with the weights */
        for (int at = lo, k0 = 0; at < hi; at += g->part_rows) {
            int end = at + g->part_rows < hi ? at + g->part_rows : hi, k1;
            while (k0 < m && g->wanted[k0] < at) k0++;
            for (k1 = k0; k1 < m && g->wanted[k1] < end;) k1++;
            forward_part(g, slots, tokens, (row_part){at, end - at, scores, run_scores, 1}, k0, k1, logits);
        }
    }
    g->packed_fresh = g->weights_held > 0;
    g->split_calls++;
}

void ilr_gen_hold_weights(ilr_generator *g) { g->weights_held++; }

void ilr_gen_release_weights(ilr_generator *g) {
    if (g->weights_held > 0 && --g->weights_held == 0) g->packed_fresh = 0;
}

int ilr_gen_forward(ilr_generator *g, const int *slots, const int *tokens, int n, const unsigned char *want_logits,
                    float *logits) {
    int m, rc = check_tokens(g, tokens, n);
    if (!rc) rc = place_rows(g, slots, n, want_logits, &m);
    if (rc) return rc;
#ifdef ILR_CUDA
    if (g->gpu) rc = ilr_cuda_gen_forward(g, slots, tokens, n, g->wanted, m, logits, 0.0f, NULL, NULL, NULL);
    else
#endif
        cpu_forward(g, slots, tokens, n, m, logits);
    if (!rc) advance_lengths(g, slots, n);
    return rc;
}

int ilr_gen_samples_on_device(const ilr_generator *g, const ilr_sampler_params *p) {
    return g->gpu && p->top_k == 0 && p->top_p >= 1.0f && p->min_p == 0.0f &&
           (p->temperature == 0.0f || p->temperature >= 0.01f);
}

int ilr_gen_forward_sample(ilr_generator *g, const int *slots, const int *tokens, int n, float temperature,
                           const double *uniforms, int *ids, float *logprobs) {
    int m, rc = check_tokens(g, tokens, n);
    if (!rc) rc = place_rows(g, slots, n, NULL, &m);
    if (rc) return rc;
#ifdef ILR_CUDA
    if (g->gpu) {
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
