/* The generation engine on the GPU (see src/generate/engine_cuda.h): engine.c's forward over a KV cache, with
 * the CUDA kernels of ilr/cuda.h, layer for layer as src/model/block.c runs it on the CPU. */
#include "engine_cuda.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/cuda.h"
#include "ilr/error.h"
#include "ilr/kernels.h"

typedef struct {
    int own_weights;
    ilr_bf16 *params;           /* device, laid out like model->params (own or shared) */
    const float **bias;         /* host array [layer * 3 + 0/1/2] of device fp32 q/k/v biases (NULL: none) */
    float *own_bias;            /* device: the biases of an own copy */
    ilr_bf16 *k_cache, *v_cache; /* (layers, slots, max_len, KD) */
    void *arena;                /* activations and staging, one allocation */
    int fused_qkv, fused_gate_up; /* the weights lie next to each other: one product instead of three / two */
    ilr_bf16 *x, *ln, *qkv, *q, *atty, *gate_up, *act, *rows_x, *lnf;
    float *rstd, *logits, *rope_cos, *rope_sin, *logprobs;
    int *ints, *ids; /* ints: slots | tokens | pos | rows, R each */
    double *uniforms;
    int *host_ints;  /* staging for the upload */
    int use_graphs;  /* decode steps replay captured graphs (ILR_CUDA_GRAPHS=0 turns them off) */
    struct {
        int rows;
        float temperature;
        ilr_cuda_graph *graph;
    } graphs[64];
    int num_graphs;
} gpu_engine;

#define GPU(g) ((gpu_engine *)(g)->gpu)

static size_t kv_dim(const ilr_model_config *c) { return (size_t)c->num_kv_heads * c->head_dim; }

/* ---- sizing: the arena laid out twice (to size it, then to place the pointers) ---- */

static void *take(char *base, size_t *used, size_t bytes) {
    void *p = base ? base + *used : NULL;
    *used += (bytes + 255) / 256 * 256;
    return p;
}

static size_t layout(ilr_generator *g, gpu_engine *e, char *base) {
    const ilr_model_config *c = &g->model->config;
    size_t R = (size_t)g->max_tokens, C = (size_t)c->hidden_size, QD = (size_t)c->num_heads * c->head_dim;
    size_t KD = kv_dim(c), I = (size_t)c->intermediate_size, V = (size_t)c->vocab_size, B2 = sizeof(ilr_bf16);
    size_t used = 0, half = (size_t)g->max_len * c->head_dim / 2;
    e->x = take(base, &used, R * C * B2);
    e->ln = take(base, &used, R * C * B2);
    e->qkv = take(base, &used, R * (QD + 2 * KD) * B2); /* the products, before bias and rotation */
    e->q = take(base, &used, R * QD * B2);              /* the rotated queries */
    e->atty = take(base, &used, R * QD * B2);
    e->gate_up = take(base, &used, R * 2 * I * B2);
    e->act = take(base, &used, R * I * B2);
    e->rows_x = take(base, &used, R * C * B2);
    e->lnf = take(base, &used, R * C * B2);
    e->rstd = take(base, &used, R * sizeof(float));
    e->logits = take(base, &used, R * V * sizeof(float));
    e->rope_cos = take(base, &used, half * sizeof(float));
    e->rope_sin = take(base, &used, half * sizeof(float));
    e->logprobs = take(base, &used, R * sizeof(float));
    e->ids = take(base, &used, R * sizeof(int));
    e->ints = take(base, &used, 4 * R * sizeof(int) + R * sizeof(double));
    e->uniforms = base ? (double *)(e->ints + 4 * R) : NULL;
    return used;
}

static const ilr_param_view *view(const ilr_generator *g, ilr_param_kind kind, int layer) {
    return ilr_param_get(&g->model->table, kind, layer);
}
static const ilr_bf16 *wb(const ilr_generator *g, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = view(g, kind, layer);
    return v ? GPU(g)->params + v->offset : NULL;
}

/* Whether the weights of kinds a, b (and c, unless it is a itself) follow one another in every layer. */
static int adjacent(const ilr_generator *g, ilr_param_kind a, ilr_param_kind b, ilr_param_kind c) {
    for (int l = 0; l < g->model->config.num_layers; l++) {
        const ilr_param_view *va = view(g, a, l), *vb = view(g, b, l), *vc = view(g, c, l);
        if (vb->offset != va->offset + va->numel || (c != a && vc->offset != vb->offset + vb->numel)) return 0;
    }
    return 1;
}

/* The q/k/v biases: views into the shared fp32 masters, or packed into own_bias (uploaded when own). */
static int place_biases(ilr_generator *g, const float *shared_f32) {
    gpu_engine *e = GPU(g);
    const ilr_model_config *c = &g->model->config;
    static const ilr_param_kind kinds[3] = {ILR_P_Q_B, ILR_P_K_B, ILR_P_V_B};
    size_t total = 0;
    for (int l = 0; l < c->num_layers; l++)
        for (int j = 0; j < 3; j++) {
            const ilr_param_view *v = view(g, kinds[j], l);
            total += v ? v->numel : 0;
        }
    if (!total) return 0;
    e->bias = calloc((size_t)c->num_layers * 3, sizeof *e->bias);
    if (!e->bias) return ILR_FAIL(ILR_ENOMEM, "generator (CUDA): out of host memory");
    if (!shared_f32 && !(e->own_bias = ilr_cuda_alloc(total * sizeof(float), "biases"))) return ilr_last_error_code();
    size_t at = 0;
    for (int l = 0; l < c->num_layers; l++)
        for (int j = 0; j < 3; j++) {
            const ilr_param_view *v = view(g, kinds[j], l);
            if (!v) continue;
            e->bias[l * 3 + j] = shared_f32 ? shared_f32 + v->offset : e->own_bias + at;
            at += v->numel;
        }
    return 0;
}

int ilr_cuda_gen_upload_weights(ilr_generator *g) {
    gpu_engine *e = GPU(g);
    if (!e->own_weights) return 0;
    const ilr_model *m = g->model;
    /* through an fp32 staging piece of the arena (the logits, R x V floats), converted on the device */
    size_t stage = (size_t)g->max_tokens * m->config.vocab_size, n = m->table.total;
    int rc = 0;
    for (size_t at = 0; at < n && !rc; at += stage) {
        size_t len = n - at < stage ? n - at : stage;
        rc = ilr_cuda_upload(e->logits, m->params + at, len * sizeof(float));
        if (!rc) ilr_cuda_f32_to_bf16(e->params + at, e->logits, len);
    }
    static const ilr_param_kind kinds[3] = {ILR_P_Q_B, ILR_P_K_B, ILR_P_V_B};
    for (int l = 0; l < m->config.num_layers && e->bias && !rc; l++)
        for (int j = 0; j < 3 && !rc; j++) {
            const ilr_param_view *v = view(g, kinds[j], l);
            if (v) rc = ilr_cuda_upload((void *)e->bias[l * 3 + j], m->params + v->offset, v->numel * sizeof(float));
        }
    return rc ? rc : ilr_cuda_sync();
}

int ilr_cuda_gen_create(ilr_generator *g, const float *shared_f32, const void *shared_bf16) {
    const ilr_model_config *c = &g->model->config;
    if (!ilr_cuda_attention_cached_supported(c->num_heads, c->num_kv_heads, c->head_dim))
        return ILR_FAIL(ILR_EUNSUPPORTED, "generator (CUDA): %d query heads over %d KV heads of size %d (the GPU's "
                        "cached attention takes groups of <= 16 heads of sizes multiple of 8, <= 128)",
                        c->num_heads, c->num_kv_heads, c->head_dim);
    int rc = ilr_cuda_init(0);
    if (rc) return rc;
    gpu_engine *e = calloc(1, sizeof *e);
    if (!e) return ILR_FAIL(ILR_ENOMEM, "generator (CUDA): out of host memory");
    g->gpu = e;
    size_t bytes = layout(g, e, NULL), n = g->model->table.total;
    /* one slot more than asked for: the padding rows of a replayed decode graph write there */
    size_t cache = (size_t)c->num_layers * (g->slots + 1) * g->max_len * kv_dim(c) * sizeof(ilr_bf16);
    e->own_weights = shared_bf16 == NULL;
    e->use_graphs = !(getenv("ILR_CUDA_GRAPHS") && strcmp(getenv("ILR_CUDA_GRAPHS"), "0") == 0);
    e->host_ints = malloc(4 * (size_t)g->max_tokens * sizeof(int) + (size_t)g->max_tokens * sizeof(double));
    e->arena = ilr_cuda_alloc(bytes, "generation activations");
    e->k_cache = e->arena ? ilr_cuda_alloc(cache, "KV cache (keys)") : NULL;
    e->v_cache = e->k_cache ? ilr_cuda_alloc(cache, "KV cache (values)") : NULL;
    e->params = shared_bf16 ? (ilr_bf16 *)shared_bf16 : e->v_cache ? ilr_cuda_alloc(n * sizeof(ilr_bf16), "bf16 weights") : NULL;
    if (!e->params || !e->host_ints) {
        rc = e->host_ints ? ilr_last_error_code() : ILR_FAIL(ILR_ENOMEM, "generator (CUDA): out of host memory");
        ilr_cuda_gen_destroy(g);
        return ilr_error_prefix("generator (CUDA) with %d slots of %d tokens", g->slots, g->max_len);
    }
    layout(g, e, e->arena);
    e->fused_qkv = adjacent(g, ILR_P_Q_W, ILR_P_K_W, ILR_P_V_W);        /* Llama: no biases between them */
    e->fused_gate_up = adjacent(g, ILR_P_GATE_W, ILR_P_UP_W, ILR_P_GATE_W);
    rc = place_biases(g, shared_f32);
    float *cos_t = malloc(sizeof(float) * (size_t)g->max_len * c->head_dim / 2);
    float *sin_t = malloc(sizeof(float) * (size_t)g->max_len * c->head_dim / 2);
    if (!rc && (!cos_t || !sin_t)) rc = ILR_FAIL(ILR_ENOMEM, "generator (CUDA): out of host memory");
    if (!rc) {
        ilr_rope_scaling scaling = {c->rope_factor, c->rope_low_freq_factor, c->rope_high_freq_factor,
                                    c->rope_original_max_position};
        ilr_rope_table(cos_t, sin_t, g->max_len, c->head_dim, c->rope_theta, c->has_rope_scaling ? &scaling : NULL);
        rc = ilr_cuda_upload(e->rope_cos, cos_t, sizeof(float) * (size_t)g->max_len * c->head_dim / 2);
        if (!rc) rc = ilr_cuda_upload(e->rope_sin, sin_t, sizeof(float) * (size_t)g->max_len * c->head_dim / 2);
    }
    free(cos_t);
    free(sin_t);
    if (!rc) rc = ilr_cuda_gen_upload_weights(g);
    if (rc) ilr_cuda_gen_destroy(g);
    return rc;
}

void ilr_cuda_gen_destroy(ilr_generator *g) {
    gpu_engine *e = GPU(g);
    if (!e) return;
    for (int i = 0; i < e->num_graphs; i++) ilr_cuda_graph_free(e->graphs[i].graph);
    if (e->own_weights) ilr_cuda_free(e->params);
    ilr_cuda_free(e->own_bias);
    ilr_cuda_free(e->k_cache);
    ilr_cuda_free(e->v_cache);
    ilr_cuda_free(e->arena);
    free(e->bias);
    free(e->host_ints);
    free(e);
    g->gpu = NULL;
}

static ilr_bf16 *cache_at(const ilr_generator *g, ilr_bf16 *cache, int layer, int slot) {
    return cache + ((size_t)layer * (g->slots + 1) + slot) * g->max_len * kv_dim(&g->model->config);
}

void ilr_cuda_gen_copy_slot(ilr_generator *g, int from, int to, int tokens) {
    size_t bytes = (size_t)tokens * kv_dim(&g->model->config) * sizeof(ilr_bf16);
    for (int l = 0; l < g->model->config.num_layers && bytes; l++) {
        ilr_cuda_copy(cache_at(g, GPU(g)->k_cache, l, to), cache_at(g, GPU(g)->k_cache, l, from), bytes);
        ilr_cuda_copy(cache_at(g, GPU(g)->v_cache, l, to), cache_at(g, GPU(g)->v_cache, l, from), bytes);
    }
}

/* One layer over n rows, the residual stream e->x updated in place (block.c's sequence, with the residual adds
 * folded into the output products and bias, rotation and the cache write into one kernel). */
static void layer_forward(ilr_generator *g, int l, const int *slots_d, const int *pos_d, int n) {
    gpu_engine *e = GPU(g);
    const ilr_model_config *c = &g->model->config;
    int C = c->hidden_size, HD = c->head_dim, NH = c->num_heads, NKV = c->num_kv_heads, I = c->intermediate_size;
    int QD = NH * HD, KD = NKV * HD;
    size_t R = (size_t)g->max_tokens;
    float eps = (float)c->rms_norm_eps;
    const float *const *bias = e->bias ? e->bias + 3 * l : NULL;
    ilr_cuda_rmsnorm_forward(e->ln, e->rstd, e->x, wb(g, ILR_P_ATTN_NORM, l), n, C, eps);
    const ilr_bf16 *q = e->qkv, *k, *v;
    size_t q_stride, kv_stride;
    if (e->fused_qkv) {
        ilr_cuda_matmul_forward(e->qkv, e->ln, wb(g, ILR_P_Q_W, l), NULL, n, C, QD + 2 * KD);
        k = q + QD, v = k + KD, q_stride = kv_stride = (size_t)QD + 2 * KD;
    } else {
        k = q + R * QD, v = k + R * KD, q_stride = (size_t)QD, kv_stride = (size_t)KD;
        ilr_cuda_matmul_forward(e->qkv, e->ln, wb(g, ILR_P_Q_W, l), NULL, n, C, QD);
        ilr_cuda_matmul_forward((ilr_bf16 *)k, e->ln, wb(g, ILR_P_K_W, l), NULL, n, C, KD);
        ilr_cuda_matmul_forward((ilr_bf16 *)v, e->ln, wb(g, ILR_P_V_W, l), NULL, n, C, KD);
    }
    ilr_bf16 *kc = cache_at(g, e->k_cache, l, 0), *vc = cache_at(g, e->v_cache, l, 0);
    ilr_cuda_qkv_rope_append(e->q, kc, vc, q, k, v, q_stride, kv_stride, bias ? bias[0] : NULL, bias ? bias[1] : NULL,
                             bias ? bias[2] : NULL, e->rope_cos, e->rope_sin, slots_d, pos_d, n, NH, NKV, HD, g->max_len);
    ilr_cuda_attention_cached(e->atty, e->q, kc, vc, g->max_len, slots_d, pos_d, n, NH, NKV, HD);
    ilr_cuda_matmul_forward_accumulate(e->x, e->atty, wb(g, ILR_P_O_W, l), n, QD, C);
    ilr_cuda_rmsnorm_forward(e->ln, e->rstd, e->x, wb(g, ILR_P_MLP_NORM, l), n, C, eps);
    if (e->fused_gate_up) {
        ilr_cuda_matmul_forward(e->gate_up, e->ln, wb(g, ILR_P_GATE_W, l), NULL, n, C, 2 * I);
        ilr_cuda_swiglu_fused(e->act, e->gate_up, n, I);
    } else {
        ilr_bf16 *up = e->gate_up + R * I;
        ilr_cuda_matmul_forward(e->gate_up, e->ln, wb(g, ILR_P_GATE_W, l), NULL, n, C, I);
        ilr_cuda_matmul_forward(up, e->ln, wb(g, ILR_P_UP_W, l), NULL, n, C, I);
        ilr_cuda_swiglu_forward(e->act, e->gate_up, up, n, I);
    }
    ilr_cuda_matmul_forward_accumulate(e->x, e->act, wb(g, ILR_P_DOWN_W, l), n, I, C);
}

/* The device work of a call, from the uploaded ints: n rows through the layers, rows rows[0..m) through the final
 * norm and the LM head into e->logits, then (sample) each of them drawn into e->ids / e->logprobs. */
static void forward_on_device(ilr_generator *g, int n, int m, int sample, float temperature) {
    gpu_engine *e = GPU(g);
    const ilr_model_config *c = &g->model->config;
    int C = c->hidden_size, V = c->vocab_size, R = g->max_tokens;
    const int *slots_d = e->ints, *tokens_d = e->ints + R, *pos_d = e->ints + 2 * R, *rows_d = e->ints + 3 * R;
    ilr_cuda_embedding_forward(e->x, tokens_d, wb(g, ILR_P_EMBED, -1), n, C);
    for (int l = 0; l < c->num_layers; l++) layer_forward(g, l, slots_d, pos_d, n);
    if (!m) return;
    ilr_cuda_gather_rows(e->rows_x, e->x, rows_d, m, C);
    ilr_cuda_rmsnorm_forward(e->lnf, e->rstd, e->rows_x, wb(g, ILR_P_FINAL_NORM, -1), m, C, (float)c->rms_norm_eps);
    ilr_param_kind head = c->tie_word_embeddings ? ILR_P_EMBED : ILR_P_LM_HEAD;
    ilr_cuda_matmul_forward_f32(e->logits, e->lnf, wb(g, head, -1), m, C, V);
    if (sample) ilr_cuda_sample(e->ids, e->logprobs, e->logits, m, V, temperature, e->uniforms);
}

/* Decode steps of one token per slot are replayed from a graph captured for a padded row count (multiples of 8
 * up to 64, of 32 beyond): hundreds of launches become one.  The padding rows go to the spare slot. */
static int padded_rows(const ilr_generator *g, int n) {
    int p = n <= 64 ? (n + 7) / 8 * 8 : (n + 31) / 32 * 32;
    return p < g->max_tokens ? p : g->max_tokens;
}

static ilr_cuda_graph *graph_for(ilr_generator *g, int rows, float temperature, int *rc) {
    gpu_engine *e = GPU(g);
    for (int i = 0; i < e->num_graphs; i++)
        if (e->graphs[i].rows == rows && e->graphs[i].temperature == temperature) return e->graphs[i].graph;
    if (e->num_graphs == (int)(sizeof e->graphs / sizeof e->graphs[0])) return NULL; /* plain launches */
    ilr_cuda_graph *graph = NULL;
    *rc = ilr_cuda_capture_begin();
    if (*rc) return NULL;
    forward_on_device(g, rows, rows, 1, temperature);
    if ((*rc = ilr_cuda_capture_end(&graph))) return NULL;
    e->graphs[e->num_graphs].rows = rows;
    e->graphs[e->num_graphs].temperature = temperature;
    e->graphs[e->num_graphs++].graph = graph;
    return graph;
}

int ilr_cuda_gen_forward(ilr_generator *g, const int *slots, const int *tokens, int n, const int *rows, int m,
                         float *logits, float temperature, const double *uniforms, int *ids, float *logprobs) {
    gpu_engine *e = GPU(g);
    int V = g->model->config.vocab_size, R = g->max_tokens;
    int decode = !logits && m == n && e->use_graphs && !ilr_cuda_profiling();
    for (int k = 0; k < m && decode; k++) decode = rows[k] == k; /* one token per slot */
    int padded = decode ? padded_rows(g, n) : n;
    /* one upload: slots | tokens | pos | rows (R ints each), then the uniforms */
    int *h = e->host_ints;
    double *u = (double *)(h + 4 * R);
    memcpy(h, slots, sizeof(int) * (size_t)n);
    memcpy(h + R, tokens, sizeof(int) * (size_t)n);
    memcpy(h + 2 * R, g->pos, sizeof(int) * (size_t)n);
    memcpy(h + 3 * R, rows, sizeof(int) * (size_t)m);
    for (int i = n; i < padded; i++) h[i] = g->slots, h[R + i] = 0, h[2 * R + i] = 0, h[3 * R + i] = i;
    size_t bytes = 4 * (size_t)R * sizeof(int);
    if (!logits) {
        for (int k = 0; k < padded; k++) u[k] = temperature > 0.0f && k < m ? uniforms[k] : 0.0;
        bytes += sizeof(double) * (size_t)padded;
    }
    int rc = ilr_cuda_upload(e->ints, h, bytes);
    if (rc) return rc;
    ilr_cuda_graph *graph = decode ? graph_for(g, padded, temperature, &rc) : NULL;
    if (rc) return rc;
    if (graph) ilr_cuda_graph_launch(graph);
    else forward_on_device(g, n, m, !logits, temperature);
    if (m && logits) {
        rc = ilr_cuda_download(logits, e->logits, sizeof(float) * (size_t)m * V);
    } else if (m) {
        rc = ilr_cuda_download(ids, e->ids, sizeof(int) * (size_t)m);
        if (!rc) rc = ilr_cuda_download(logprobs, e->logprobs, sizeof(float) * (size_t)m);
    }
    return rc ? rc : ilr_cuda_sync();
}
