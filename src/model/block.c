/* One decoder layer's forward pass (see include/ilr/block.h). */
#include "ilr/block.h"

#include <stddef.h>

#include "ilr/kernels.h"

static const float *weight(const ilr_model *m, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = ilr_param_get(&m->table, kind, layer);
    return v ? m->params + v->offset : NULL;
}

void ilr_block_weights_of(const ilr_model *m, int l, ilr_block_weights *w) {
    w->attn_norm = weight(m, ILR_P_ATTN_NORM, l);
    w->q_w = weight(m, ILR_P_Q_W, l), w->q_b = weight(m, ILR_P_Q_B, l);
    w->k_w = weight(m, ILR_P_K_W, l), w->k_b = weight(m, ILR_P_K_B, l);
    w->v_w = weight(m, ILR_P_V_W, l), w->v_b = weight(m, ILR_P_V_B, l);
    w->o_w = weight(m, ILR_P_O_W, l);
    w->mlp_norm = weight(m, ILR_P_MLP_NORM, l);
    w->gate_w = weight(m, ILR_P_GATE_W, l), w->up_w = weight(m, ILR_P_UP_W, l), w->down_w = weight(m, ILR_P_DOWN_W, l);
}

void ilr_block_forward(const ilr_model_config *c, const ilr_block_weights *w, const ilr_block_acts *a, const float *in,
                       float *out, const float *rope_cos, const float *rope_sin, const int *pos, int n,
                       ilr_block_attention attention, void *ctx) {
    int C = c->hidden_size, HD = c->head_dim, NH = c->num_heads, NKV = c->num_kv_heads, I = c->intermediate_size;
    float eps = (float)c->rms_norm_eps;
    ilr_rmsnorm_forward(a->ln1, a->rstd1, in, w->attn_norm, n, C, eps);
    ilr_matmul_forward(a->q, a->ln1, w->q_w, w->q_b, n, C, NH * HD);
    ilr_matmul_forward(a->k, a->ln1, w->k_w, w->k_b, n, C, NKV * HD);
    ilr_matmul_forward(a->v, a->ln1, w->v_w, w->v_b, n, C, NKV * HD);
    ilr_rope_forward(a->q, rope_cos, rope_sin, pos, n, NH, HD);
    ilr_rope_forward(a->k, rope_cos, rope_sin, pos, n, NKV, HD);
    attention(ctx, a, n);
    ilr_matmul_forward(a->mid, a->atty, w->o_w, NULL, n, NH * HD, C);
    ilr_add_forward(a->mid, a->mid, in, (size_t)n * C);
    ilr_rmsnorm_forward(a->ln2, a->rstd2, a->mid, w->mlp_norm, n, C, eps);
    ilr_matmul_forward(a->gate, a->ln2, w->gate_w, NULL, n, C, I);
    ilr_matmul_forward(a->up, a->ln2, w->up_w, NULL, n, C, I);
    ilr_swiglu_forward(a->act, a->gate, a->up, n, I);
    if (!out) return;
    ilr_matmul_forward(out, a->act, w->down_w, NULL, n, I, C);
    ilr_add_forward(out, out, a->mid, (size_t)n * C);
}
