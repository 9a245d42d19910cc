/* One decoder layer's forward pass (see include/ilr/block.h). */
#include "ilr/block.h"

#include <stddef.h>
#include <string.h>

#include "ilr/kernels.h"

static const float *weight(const ilr_model *m, ilr_param_kind kind, int layer) {
    const ilr_param_view *v = ilr_param_get(&m->table, kind, layer);
    return v ? m->params + v->offset : NULL;
}

void ilr_block_weights_of(const ilr_model *m, int l, ilr_block_weights *w) {
    memset(w, 0, sizeof *w);
    w->attn_norm = weight(m, ILR_P_ATTN_NORM, l);
    w->q_w = weight(m, ILR_P_Q_W, l), w->q_b = weight(m, ILR_P_Q_B, l);
    w->k_w = weight(m, ILR_P_K_W, l), w->k_b = weight(m, ILR_P_K_B, l);
    w->v_w = weight(m, ILR_P_V_W, l), w->v_b = weight(m, ILR_P_V_B, l);
    w->o_w = weight(m, ILR_P_O_W, l);
    w->mlp_norm = weight(m, ILR_P_MLP_NORM, l);
    w->gate_w = weight(m, ILR_P_GATE_W, l), w->up_w = weight(m, ILR_P_UP_W, l), w->down_w = weight(m, ILR_P_DOWN_W, l);
}

/* out (n, OUT) = inp (n, IN) @ W^T + b, from W's bf16 copy w16 or its packed copy wp when there is one. */
static void linear(float *out, const float *inp, const float *w32, const uint16_t *w16, const float *wp, const float *b,
                   int n, int IN, int OUT, const ilr_block_weights *w) {
    if (w16) {
        ilr_matmul_bf16_forward(out, inp, w16, b, n, IN, OUT, w->acts_bf16, w->panel, w->panel_floats);
    } else if (wp) {
        for (int i = 0; i < n && b; i++) memcpy(out + (size_t)i * OUT, b, sizeof(float) * (size_t)OUT);
        ilr_small_gemm_packed(out, OUT, inp, IN, wp, n, OUT, IN, 1.0f, b != NULL);
    } else {
        ilr_matmul_forward(out, inp, w32, b, n, IN, OUT);
    }
}

void ilr_block_forward(const ilr_model_config *c, const ilr_block_weights *w, const ilr_block_acts *a, const float *in,
                       float *out, const float *rope_cos, const float *rope_sin, const int *pos, int n,
                       ilr_block_attention attention, void *ctx) {
    int C = c->hidden_size, HD = c->head_dim, NH = c->num_heads, NKV = c->num_kv_heads, I = c->intermediate_size;
    float eps = (float)c->rms_norm_eps;
    ilr_rmsnorm_forward(a->ln1, a->rstd1, in, w->attn_norm, n, C, eps);
    linear(a->q, a->ln1, w->q_w, w->q_h, w->q_p, w->q_b, n, C, NH * HD, w);
    linear(a->k, a->ln1, w->k_w, w->k_h, w->k_p, w->k_b, n, C, NKV * HD, w);
    linear(a->v, a->ln1, w->v_w, w->v_h, w->v_p, w->v_b, n, C, NKV * HD, w);
    ilr_rope_forward(a->q, rope_cos, rope_sin, pos, n, NH, HD);
    ilr_rope_forward(a->k, rope_cos, rope_sin, pos, n, NKV, HD);
    attention(ctx, a, n);
    linear(a->mid, a->atty, w->o_w, w->o_h, w->o_p, NULL, n, NH * HD, C, w);
    ilr_add_forward(a->mid, a->mid, in, (size_t)n * C);
    ilr_rmsnorm_forward(a->ln2, a->rstd2, a->mid, w->mlp_norm, n, C, eps);
    linear(a->gate, a->ln2, w->gate_w, w->gate_h, w->gate_p, NULL, n, C, I, w);
    linear(a->up, a->ln2, w->up_w, w->up_h, w->up_p, NULL, n, C, I, w);
    ilr_swiglu_forward(a->act, a->gate, a->up, n, I);
    if (!out) return;
    linear(out, a->act, w->down_w, w->down_h, w->down_p, NULL, n, I, C, w);
    ilr_add_forward(out, out, a->mid, (size_t)n * C);
}
