/* The decoder's forward and backward passes on the CPU (Qwen2/Qwen2.5 and Llama-3, Hugging Face semantics)
 * and the training step (AdamW with global-norm clipping) over a model's contiguous parameter buffer.
 *
 * A transformer state is sized once for a batch of at most B sequences of at most T tokens: activations
 * live in one arena, gradients and AdamW moments in buffers laid out like the parameters.  Batches are
 * right-padded: sequence b holds lengths[b] real tokens at t < lengths[b].  The output of a forward pass
 * is, for each position with a target token, the log-probability of that target (and the entropy of the
 * position's distribution) from the fused, vocabulary-chunked LM head: B x T x V logits never exist.
 * The distribution is softmax(logits / temperature), temperature 1 unless the caller sets tr->temperature:
 * RL sets the rollout's sampling temperature, so that the log-probabilities (and the gradient) are those
 * of the distribution the tokens were drawn from, as the generation engine records them (TRL does the same).
 *
 * A forward-only state (ilr_transformer_init_forward_only; a frozen reference model) allocates no gradients,
 * no optimizer moments and no backward scratch, and keeps one layer's activations, reused by every layer:
 * the same log-probabilities bit for bit in a fraction of the memory.  Backward, zero_grad and the optimizer
 * on it are programmer errors, refused by an assert.
 *
 * A recomputing state (ilr_transformer_init_recompute; activation checkpointing) trains like a full one but
 * keeps only each layer's input from the forward pass; backward runs each layer's forward again, into one
 * layer's buffers reused by every layer, just before that layer's backward.  The same kernels in the same
 * order give the same log-probabilities and gradients bit for bit.  The price is a second forward pass
 * through every layer but the last (whose activations are still in the buffers), stopping before the MLP's
 * down-projection, which backward does not need: about 16 % more FLOPs per step at Qwen2.5-0.5B's shape, for
 * the activations of one layer instead of all of them (4 x 256 tokens: a 0.31 GiB arena instead of 2.32). */
#ifndef ILR_TRANSFORMER_H
#define ILR_TRANSFORMER_H

#include "ilr/arena.h"
#include "ilr/kernels.h"
#include "ilr/model.h"

typedef struct {
    float *resid;     /* (N, C) the layer's input (residual stream) */
    float *ln1, *ln1_rstd;
    float *q, *k, *v; /* after rotary embedding: (N, NH*HD), (N, NKV*HD), (N, NKV*HD) */
    float *att;       /* (B, NH, T, T) */
    float *atty;      /* (N, NH*HD) attention output before o_proj */
    float *resid_mid; /* (N, C) after the attention residual */
    float *ln2, *ln2_rstd;
    float *gate, *up, *act; /* (N, I): act = silu(gate) * up */
} ilr_layer_acts;

typedef struct {
    ilr_model *model;   /* weights, not owned */
    int max_B, max_T;   /* the sizes this state was made for */
    int forward_only;   /* made by ilr_transformer_init_forward_only: no grads, no backward */
    int recompute;      /* made by ilr_transformer_init_recompute: backward recomputes each layer's activations */
    float temperature;  /* > 0: forward computes log softmax(logits / temperature); init sets 1 */
    float last_temperature; /* the last forward's, which backward differentiates */
    int B, T;           /* the last forward pass's */
    int packed;         /* the last forward pass had documents packed in its rows (positions given) */
    int current_layer;  /* the layer the forward is in (its attention callback reads it) */
    int vocab_chunk;
    float *grads;       /* like model->params; ilr_transformer_zero_grad clears it; NULL when forward-only */
    float *adam_m, *adam_v; /* for the parameters ilr_transformer_moments_range gives */
    int adam_step;
    size_t shard_lo, shard_hi; /* ZeRO-1: the moments and the update cover parameters [shard_lo, shard_hi) only
                                  (ilr_transformer_shard_moments); both 0: all of them */
    ilr_arena arena;
    ilr_layer_acts *layers; /* per layer; forward-only and recomputing: all layers point at the same buffers
                               (but each recomputing layer keeps its own resid) */
    float *resid_out;   /* (N, C) output of the last layer */
    float *lnf, *lnf_rstd;
    float *rope_cos, *rope_sin; /* (max_T, HD/2) */
    int *tokens, *targets, *pos, *lengths;
    float *logprob, *entropy, *lse, *logits_scratch;
    /* backward scratch, reused across layers */
    float *d_resid, *d_ln, *d_q, *d_k, *d_v, *d_atty, *d_gate, *d_up, *d_act, *d_lnf, *d_att_scratch;
    size_t d_att_scratch_floats; /* the attention backward's buffers: one T x T per thread */
} ilr_transformer;

/* Sizes activations for batches up to B x T and allocates gradients (zeroed).  Temperature 1. */
int ilr_transformer_init(ilr_transformer *tr, ilr_model *model, int B, int T);
/* The same for forward passes only (a frozen reference model): no gradients, no backward scratch, one layer's
 * activations shared by all layers.  ilr_transformer_backward, _zero_grad, _alloc_moments and _adamw_step
 * must not be called on it (an assert refuses them). */
int ilr_transformer_init_forward_only(ilr_transformer *tr, ilr_model *model, int B, int T);
/* The same as ilr_transformer_init, but keeping only each layer's input through the forward pass (tr->recompute):
 * the same results bit for bit in less memory and more time. */
int ilr_transformer_init_recompute(ilr_transformer *tr, ilr_model *model, int B, int T);
void ilr_transformer_free(ilr_transformer *tr);
/* Bytes the state holds: activation arena, gradients and AdamW moments (not the model's parameters). */
size_t ilr_transformer_bytes(const ilr_transformer *tr);

/* tokens: (B, T) right-padded (padding ids are ignored), lengths: (B), targets: (B, T), -1 where no target.
 * Fills tr->logprob and tr->entropy (B*T, 0 where no target) under softmax(logits / tr->temperature).
 * B <= max_B, T <= max_T. */
void ilr_transformer_forward(ilr_transformer *tr, const int *tokens, const int *lengths, const int *targets,
                             int B, int T);
/* The same with several documents packed in a row ("sequence packing"): positions (B, T) restart at 0
 * where a document starts (position_ids in Hugging Face's padding-free packing) and rise by 1 within it;
 * rotary embeddings use them, and a token attends only to its own document.  NULL: one document per row.
 * A segment may also restart at a position s > 0: it then continues its document's first s tokens (a shared
 * prefix, e.g. a prompt whose completions follow one another), attending to them and to itself
 * (ilr_attention_forward's rule); the CPU's forward only. */
void ilr_transformer_forward_packed(ilr_transformer *tr, const int *tokens, const int *lengths,
                                    const int *positions, const int *targets, int B, int T);
/* The batch as the forward passes read it (the CPU's and the GPU's): tok, tgt, pos (B, T) get the tokens, the
 * targets and the positions (positions, or t when NULL) of real tokens, and token 0, no target (-1) and
 * position t at padding.  Packed positions must rise by 1 or restart at s, 0 <= s <= the length of the current
 * document's first run of positions 0, 1, ... (asserted). */
void ilr_transformer_prepare_batch(int *tok, int *tgt, int *pos, const int *tokens, const int *lengths,
                                   const int *positions, const int *targets, int B, int T);
/* Backward from d(loss)/d(logprob) (B*T) of the last forward, at that forward's temperature: accumulates
 * into tr->grads.  Not on a forward-only state. */
void ilr_transformer_backward(ilr_transformer *tr, const float *dlogprob);
void ilr_transformer_zero_grad(ilr_transformer *tr);
/* Full logits (B*T, V) of the last forward, not divided by the temperature (tests and inspection; allocates
 * nothing). */
void ilr_transformer_logits(const ilr_transformer *tr, float *out);

/* Next-token targets for a right-padded batch: targets[b,t] = tokens[b,t+1] for t < lengths[b]-1, else -1. */
void ilr_next_token_targets(int *targets, const int *tokens, const int *lengths, int B, int T);
/* Mean negative log-likelihood over positions with targets; fills dlogprob (B*T) with its gradient. */
float ilr_sft_loss(float *dlogprob, const float *logprob, const int *targets, int N);

/* ZeRO-1 (a rank's share of the optimizer): the moments and each step's update cover parameters [lo, hi) only;
 * the rest of the weights are left for the caller to bring (ilr_dist_allgather_shares).  Before the moments are
 * allocated (asserted). */
void ilr_transformer_shard_moments(ilr_transformer *tr, size_t lo, size_t hi);
/* The parameters [*lo, *hi) the moments cover: all of them, or the shard. */
void ilr_transformer_moments_range(const ilr_transformer *tr, size_t *lo, size_t *hi);
/* Allocates the AdamW moments (zeroed) if they are not yet; ILR_ENOMEM. */
int ilr_transformer_alloc_moments(ilr_transformer *tr);
/* One optimizer step on tr->grads: global-norm clipping to max_grad_norm (<= 0: none), then AdamW.
 * Returns the norm before clipping.  Moments are allocated on the first call.  The norm is over all of tr->grads;
 * a shard's step clips and updates only its own parameters (the others' gradients stay as they were). */
int ilr_transformer_adamw_step(ilr_transformer *tr, const ilr_adamw_params *hp, float max_grad_norm,
                               double *grad_norm);

/* FLOPs of one training step (forward + backward) on N real tokens of sequences of length T: 6 * matmul
 * parameters * N plus attention (12 * layers * T/2 * heads * head_dim per token, causal). */
double ilr_transformer_train_flops(const ilr_model_config *cfg, double tokens, double seq);
/* FLOPs of a forward pass (prefill or decode) of `tokens` rows of which `logit_rows` go through the LM head, the
 * rows seeing `context` cached positions in all (the sum over rows of position + 1): 2 * decoder-body matmul
 * parameters per row, 2 * vocab * hidden per logits row, 4 * layers * heads * head_dim per position seen. */
double ilr_transformer_infer_flops(const ilr_model_config *cfg, double tokens, double logit_rows, double context);

#endif
