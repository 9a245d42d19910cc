/* One decoder layer's forward pass, written once for the training forward (src/model/transformer.c) and the
 * generation engine (src/generate/engine.c): Qwen2 and Llama alike,
 *   ln1 = rmsnorm(in);  q, k, v = ln1 W (+ bias: Qwen2);  rope(q, k);  atty = attention(q, k, v)
 *   mid = in + atty W_o;  ln2 = rmsnorm(mid);  act = silu(ln2 W_gate) * (ln2 W_up);  out = mid + act W_down
 * Only the attention differs between the two (causal over the batch's rows, or over each sequence's KV
 * cache), so it is the caller's callback; a new architecture is one edit here.  out may be in (generation
 * updates its residual stream in place): in is read only before out is written.  out NULL stops at act:
 * the training backward recomputing a layer's activations needs none of what comes after. */
#ifndef ILR_BLOCK_H
#define ILR_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "ilr/model.h"

typedef struct {
    const float *attn_norm, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *mlp_norm, *gate_w, *up_w, *down_w;
    /* bf16 copies of the seven matrices (the CPU generator's --weights bf16), read instead of the fp32 ones where
     * set, and scratch of panel_floats for their many-row products (ilr_matmul_bf16_forward, which rounds the
     * activations to bf16 too when acts_bf16: --weights bf16-act) */
    const uint16_t *q_h, *k_h, *v_h, *o_h, *gate_h, *up_h, *down_h;
    float *panel;
    size_t panel_floats;
    int acts_bf16;
    /* the seven matrices transposed and packed for ilr_small_gemm_packed (the CPU generator of a small model),
     * read instead of the fp32 ones where set */
    const float *q_p, *k_p, *v_p, *o_p, *gate_p, *up_p, *down_p;
} ilr_block_weights;

/* Layer l's weights in m (the biases NULL where the architecture has none; no bf16 copies). */
void ilr_block_weights_of(const ilr_model *m, int layer, ilr_block_weights *w);

/* The layer's activations for n rows: ln1, ln2, mid (n, C); rstd1, rstd2 (n); q, atty (n, NH * HD); k, v
 * (n, NKV * HD); gate, up, act (n, I). */
typedef struct {
    float *ln1, *rstd1, *q, *k, *v, *atty, *mid, *ln2, *rstd2, *gate, *up, *act;
} ilr_block_acts;

/* Fills a->atty from a->q, a->k, a->v (rope applied) for the n rows. */
typedef void (*ilr_block_attention)(void *ctx, const ilr_block_acts *a, int n);

/* pos: the n rows' positions (the rotary table's rows). */
void ilr_block_forward(const ilr_model_config *c, const ilr_block_weights *w, const ilr_block_acts *a, const float *in,
                       float *out, const float *rope_cos, const float *rope_sin, const int *pos, int n,
                       ilr_block_attention attention, void *ctx);

#endif
