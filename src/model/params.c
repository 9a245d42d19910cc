/* The parameter table: every tensor of a model as a named view into one contiguous fp32 buffer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/model.h"

/* Hugging Face's name of each kind within a layer ("model.layers.{i}." + suffix). */
static const char *const layer_suffix[ILR_P_KIND_COUNT] = {
    [ILR_P_ATTN_NORM] = "input_layernorm.weight",
    [ILR_P_Q_W] = "self_attn.q_proj.weight", [ILR_P_Q_B] = "self_attn.q_proj.bias",
    [ILR_P_K_W] = "self_attn.k_proj.weight", [ILR_P_K_B] = "self_attn.k_proj.bias",
    [ILR_P_V_W] = "self_attn.v_proj.weight", [ILR_P_V_B] = "self_attn.v_proj.bias",
    [ILR_P_O_W] = "self_attn.o_proj.weight",
    [ILR_P_MLP_NORM] = "post_attention_layernorm.weight",
    [ILR_P_GATE_W] = "mlp.gate_proj.weight", [ILR_P_UP_W] = "mlp.up_proj.weight",
    [ILR_P_DOWN_W] = "mlp.down_proj.weight",
};

static int is_global(ilr_param_kind k) { return k == ILR_P_EMBED || k == ILR_P_FINAL_NORM || k == ILR_P_LM_HEAD; }

/* Shape of kind under cfg; returns 0 when the model has no such tensor. */
static int kind_shape(const ilr_model_config *c, ilr_param_kind k, int64_t shape[2]) {
    int64_t H = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    int64_t q = (int64_t)c->num_heads * c->head_dim, kv = (int64_t)c->num_kv_heads * c->head_dim;
    int64_t rows = 0, cols = 0; /* cols 0: a vector */
    switch (k) {
    case ILR_P_EMBED: rows = V, cols = H; break;
    case ILR_P_ATTN_NORM: case ILR_P_MLP_NORM: case ILR_P_FINAL_NORM: rows = H; break;
    case ILR_P_Q_W: rows = q, cols = H; break;
    case ILR_P_K_W: case ILR_P_V_W: rows = kv, cols = H; break;
    case ILR_P_Q_B: rows = c->qkv_bias ? q : 0; break;
    case ILR_P_K_B: case ILR_P_V_B: rows = c->qkv_bias ? kv : 0; break;
    case ILR_P_O_W: rows = H, cols = q; break;
    case ILR_P_GATE_W: case ILR_P_UP_W: rows = I, cols = H; break;
    case ILR_P_DOWN_W: rows = H, cols = I; break;
    case ILR_P_LM_HEAD: rows = c->tie_word_embeddings ? 0 : V, cols = H; break;
    default: break;
    }
    shape[0] = rows;
    shape[1] = cols;
    return rows == 0 ? 0 : cols ? 2 : 1;
}

static void add_view(ilr_param_table *t, const ilr_model_config *c, ilr_param_kind k, int layer) {
    int64_t shape[2];
    int ndim = kind_shape(c, k, shape);
    if (!ndim) return;
    ilr_param_view *v = &t->views[t->count];
    memset(v, 0, sizeof *v);
    if (k == ILR_P_EMBED) snprintf(v->name, sizeof v->name, "model.embed_tokens.weight");
    else if (k == ILR_P_FINAL_NORM) snprintf(v->name, sizeof v->name, "model.norm.weight");
    else if (k == ILR_P_LM_HEAD) snprintf(v->name, sizeof v->name, "lm_head.weight");
    else snprintf(v->name, sizeof v->name, "model.layers.%d.%s", layer, layer_suffix[k]);
    v->kind = k;
    v->layer = is_global(k) ? -1 : layer;
    v->ndim = ndim;
    v->shape[0] = shape[0];
    v->shape[1] = ndim == 2 ? shape[1] : 0;
    v->numel = (size_t)shape[0] * (size_t)(ndim == 2 ? shape[1] : 1);
    v->offset = t->total;
    t->total += v->numel;
    /* Global kinds are looked up in slot num_layers. */
    t->lookup[(is_global(k) ? t->num_layers : layer) * ILR_P_KIND_COUNT + k] = t->count;
    t->count++;
}

int ilr_param_table_build(ilr_param_table *t, const ilr_model_config *c) {
    memset(t, 0, sizeof *t);
    int per_layer = ILR_P_DOWN_W - ILR_P_ATTN_NORM + 1, max = c->num_layers * per_layer + 3;
    t->num_layers = c->num_layers;
    t->views = calloc((size_t)max, sizeof *t->views);
    t->lookup = malloc(sizeof(int) * (size_t)(c->num_layers + 1) * ILR_P_KIND_COUNT);
    if (!t->views || !t->lookup) {
        ilr_param_table_free(t);
        return ILR_FAIL(ILR_ENOMEM, "out of memory for the parameter table of %d layers", c->num_layers);
    }
    for (int i = 0; i < (c->num_layers + 1) * ILR_P_KIND_COUNT; i++) t->lookup[i] = -1;
    add_view(t, c, ILR_P_EMBED, -1);
    for (int l = 0; l < c->num_layers; l++)
        for (int k = ILR_P_ATTN_NORM; k <= ILR_P_DOWN_W; k++) add_view(t, c, (ilr_param_kind)k, l);
    add_view(t, c, ILR_P_FINAL_NORM, -1);
    add_view(t, c, ILR_P_LM_HEAD, -1);
    return 0;
}

void ilr_param_table_free(ilr_param_table *t) {
    free(t->views);
    free(t->lookup);
    memset(t, 0, sizeof *t);
}

const ilr_param_view *ilr_param_get(const ilr_param_table *t, ilr_param_kind kind, int layer) {
    int slot = is_global(kind) ? t->num_layers : layer;
    if (slot < 0 || slot > t->num_layers) return NULL;
    int i = t->lookup[slot * ILR_P_KIND_COUNT + kind];
    return i < 0 ? NULL : &t->views[i];
}

const ilr_param_view *ilr_param_find(const ilr_param_table *t, const char *hf_name) {
    for (int i = 0; i < t->count; i++)
        if (strcmp(t->views[i].name, hf_name) == 0) return &t->views[i];
    return NULL;
}

int64_t ilr_config_param_count(const ilr_model_config *c) {
    int64_t total = 0, shape[2];
    for (int k = 0; k < ILR_P_KIND_COUNT; k++) {
        int ndim = kind_shape(c, (ilr_param_kind)k, shape);
        if (!ndim) continue;
        int64_t n = shape[0] * (ndim == 2 ? shape[1] : 1);
        total += is_global((ilr_param_kind)k) ? n : n * c->num_layers;
    }
    return total;
}
