/* The generation engine's model side: a KV cache of fixed slots and a forward pass over any set of new
 * tokens, each belonging to a slot at a position (prefill of a prompt, or one decode step of many
 * sequences at different lengths), returning next-token logits for the rows asked for.
 *
 * Slots: a sequence lives in one slot; ilr_gen_copy_slot shares a prompt's prefill among the G samples of a
 * group (prefill once, copy the cache).  Memory: layers x slots x max_len x 2 x kv_heads x head_dim floats. */
#ifndef ILR_GENERATE_H
#define ILR_GENERATE_H

#include <stdint.h>

#include "ilr/arena.h"
#include "ilr/device.h"
#include "ilr/model.h"
#include "ilr/sampler.h"
#include "ilr/tokenizer.h"

/* The weights the CPU engine's matmuls and LM head read: the model's fp32 parameters (the default), or a bf16
 * copy of them (round to nearest even; products still accumulate in fp32; embeddings, norms and biases stay
 * fp32).  Decoding few sequences is bound by reading the weights, so bf16 decodes up to twice as fast; logits
 * move by about 1e-2 (see README, "bf16 weights").  BF16_ACT: bf16 weights, and products of more than
 * ILR_BF16_FEW_ROWS rows (prefill, large batches) round the activations to bf16 too, as llama.cpp's bf16 does:
 * on a CPU with AVX512_BF16 twice bf16's prefill rate, log-probs a little further from fp32's (README); elsewhere
 * the same as BF16.  The GPU engine always reads bf16. */
typedef enum { ILR_GEN_WEIGHTS_F32 = 0, ILR_GEN_WEIGHTS_BF16 = 1, ILR_GEN_WEIGHTS_BF16_ACT = 2 } ilr_gen_weights;

typedef struct {
    ilr_model *model;   /* not owned */
    ilr_device device;  /* where the forward runs; on the GPU the cache and activations below are unused */
    void *gpu;          /* the GPU engine (src/generate/engine_cuda.c) */
    int slots, max_len; /* cache geometry */
    int max_tokens;     /* tokens per forward call (prefill is cut into chunks of this size) */
    float *k_cache, *v_cache; /* (layers, slots, max_len, kv_heads * head_dim) */
    int *length;        /* tokens held per slot */
    float *rope_cos, *rope_sin;
    ilr_arena arena;    /* per-call activations for max_tokens rows */
    float *x, *ln, *q, *k, *v, *atty, *tmp, *mid, *gate, *up, *act, *scores, *rows;
    int score_rows;     /* scores holds score_rows * max_len floats: a row per thread (the most of threads at init
                           and processors) */
    float *run_scores;  /* score_rows * ilr_attention_cached_run_scratch_floats(max_len): a prefill's score blocks */
    int *pos;           /* the rows' positions in the current call (max_tokens) */
    int *wanted;        /* the rows whose logits the current call returns (max_tokens) */
    int *added;         /* rows of the current call per slot while they are placed (slots; zero between calls) */
    int slot_runs;      /* the current call's runs of one slot's rows, when each slot's rows are together; else 0 */
    float *packed;      /* a small model's matrices packed for ilr_small_gemm_packed (row-split calls), or NULL */
    size_t *packed_at;  /* where each starts: layer * 7 + (q, k, v, o, gate, up, down), then the LM head */
    int weights_held;   /* ilr_gen_hold_weights depth */
    int packed_fresh;   /* packed holds the held weights */
    long split_calls;   /* calls whose rows were split between threads (to test and measure) */
    int part_rows;      /* a split call's rows go in parts of at most this many (128 after init) */
    uint16_t *params_bf16; /* bf16 copy of model->params, same offsets (ILR_GEN_WEIGHTS_BF16), else NULL */
    float *panel;          /* scratch for bf16 products of many rows (panel_floats) */
    size_t panel_floats;
    int acts_bf16;         /* ILR_GEN_WEIGHTS_BF16_ACT */
} ilr_generator;

/* A generator with `slots` sequences of at most max_len tokens each, on the CPU. */
int ilr_gen_init(ilr_generator *g, ilr_model *model, int slots, int max_len);
/* The same on a device.  On the GPU (make CUDA=1) the engine keeps a bf16 copy of the model's weights, the KV
 * cache in bf16 and computes as the GPU training forward does (ilr/cuda.h's precision); logits come back to the
 * host as fp32, or the GPU samples (ilr_generate does when the sampler has no top-k / top-p / min-p). */
int ilr_gen_init_on(ilr_generator *g, ilr_model *model, int slots, int max_len, ilr_device device);
/* On the GPU, reading the weights of a GPU training state instead of a copy of its own: params_f32 (the fp32
 * masters, for the biases) and params_bf16 (device pointers laid out like model->params, updated in place by
 * the optimizer), which must outlive the generator. */
int ilr_gen_init_cuda_shared(ilr_generator *g, ilr_model *model, int slots, int max_len, const float *params_f32,
                             const void *params_bf16);
/* Which weights a CPU generator reads (ILR_GEN_WEIGHTS_F32 after init).  BF16 makes the copy (2 bytes a
 * parameter) now; the generator then reads it until told ilr_gen_weights_changed.  Nothing on the GPU. */
int ilr_gen_set_weights(ilr_generator *g, ilr_gen_weights weights);
/* "f32", "bf16" or "bf16-act" -> *out; ILR_EINVAL otherwise. */
int ilr_gen_weights_parse(const char *name, ilr_gen_weights *out);
const char *ilr_gen_weights_name(ilr_gen_weights weights);
/* The host model's weights changed (an optimizer step): a generator holding its own copy of them (a GPU one, or
 * a CPU one reading bf16) makes it again; else nothing. */
int ilr_gen_weights_changed(ilr_generator *g);
void ilr_gen_free(ilr_generator *g);
/* Between these two the caller promises that the model's weights do not change (or calls
 * ilr_gen_weights_changed when they do): a CPU generator of a small model then packs its matrices for the
 * products once, where it otherwise packs them every call.  They nest; ilr_generate holds the weights while it
 * runs. */
void ilr_gen_hold_weights(ilr_generator *g);
void ilr_gen_release_weights(ilr_generator *g);
/* Forgets slot's tokens. */
void ilr_gen_reset_slot(ilr_generator *g, int slot);
/* Makes slot `to` hold a copy of slot `from`'s tokens (a shared prompt prefill). */
void ilr_gen_copy_slot(ilr_generator *g, int from, int to);

/* Appends n tokens: tokens[i] goes to slot slots[i] at that slot's next position (several tokens of one
 * slot must come in order).  For each i with want_logits[i] (NULL: the last token of each slot in this call
 * is wanted), the next-token logits are written to logits + k * V, k counting wanted rows in order.
 * Returns ILR_EINVAL when a slot would exceed max_len. */
int ilr_gen_forward(ilr_generator *g, const int *slots, const int *tokens, int n, const unsigned char *want_logits,
                    float *logits);
/* As ilr_gen_forward with the default rows (the last token of each slot), drawing each row's next token on the
 * device instead of returning logits: greedy when temperature is 0, else the inverse-CDF draw at uniforms[k]
 * (ilr_sample's, without filters); ids[k] and logprobs[k] (at temperature, 1 when greedy) for row k.  Only
 * where ilr_gen_samples_on_device says so. */
int ilr_gen_forward_sample(ilr_generator *g, const int *slots, const int *tokens, int n, float temperature,
                           const double *uniforms, int *ids, float *logprobs);
/* Whether this generator draws tokens with these sampler settings on its device (the GPU, without top-k, top-p
 * or min-p, at temperature 0 or >= 0.01). */
int ilr_gen_samples_on_device(const ilr_generator *g, const ilr_sampler_params *p);
/* Convenience: prefill a whole prompt into slot (chunked), writing the last token's logits (V). */
int ilr_gen_prefill(ilr_generator *g, int slot, const int *tokens, int n, float *logits);

/* ---- sampling loop ---- */

typedef struct {
    ilr_sampler_params sampler;
    int max_new_tokens;
    int ignore_eos;                 /* eos ids do not stop (llama.cpp's --ignore-eos); stop ids still do */
    const int *stop_ids;            /* stop tokens besides the model's eos ids (ilr_model_is_eos: config.json's
                                     * and generation_config.json's) */
    int num_stop_ids;
    const char *const *stop_strings; /* stop when the generated text contains one (needs a tokenizer) */
    int num_stop_strings;
    uint64_t seed;                  /* sequence k (prompt p, sample j: k = p * G + j) draws from stream k */
    uint64_t stream_offset;         /* ... from stream stream_offset + k (0 by default): a caller that splits one
                                     * list of prompts into calls keeps every sequence's draws */
} ilr_gen_options;

typedef enum { ILR_STOP_EOS, ILR_STOP_TOKEN, ILR_STOP_STRING, ILR_STOP_LENGTH } ilr_stop_reason;

const char *ilr_stop_reason_name(ilr_stop_reason reason); /* "eos", "stop_token", "stop_string", "length" */

typedef struct {
    int *ids;          /* generated tokens, the stopping token included */
    float *logprobs;   /* log softmax(logits / T)[token] at the sampler's temperature T (T = 1 when greedy),
                        * over the whole vocabulary, unfiltered by top-k / top-p / min-p (TRL's convention):
                        * what the training forward computes with ilr_transformer's temperature set to
                        * ilr_sampler_logprob_temperature(&options.sampler) */
    int count;
    char *text;        /* decoded text, cut before a stop string; NULL without a tokenizer */
    size_t text_len;
    ilr_stop_reason reason;
} ilr_gen_output;

void ilr_gen_output_free(ilr_gen_output *out);

/* One sequence of the sampling loop, for a caller that schedules sequences itself (a server batching requests
 * that come and go): ilr_generate is these steps over waves of prompts. */
typedef struct {
    int slot;
    int live;        /* 0 once stopped */
    ilr_rng rng;     /* stream `stream` of opt->seed (offset by opt->stream_offset), as ilr_generate's k-th */
    ilr_tok_stream stream;
} ilr_gen_seq;

/* A sequence in slot (its prompt already there) drawing from RNG stream `stream`; allocates out. */
int ilr_gen_seq_start(ilr_gen_seq *s, int slot, uint64_t stream, const ilr_gen_options *opt, ilr_gen_output *out);
/* Draws s's next token from its logits (V) and records it in out: 1 when s has now stopped (eos, stop token or
 * string, length), 0 when it goes on, or a negative ILR_E*.  The caller forwards the token into s's slot next. */
int ilr_gen_seq_draw(ilr_generator *g, const ilr_tokenizer *tok, ilr_gen_seq *s, const float *logits,
                     const ilr_gen_options *opt, ilr_sampler_scratch *scratch, ilr_gen_output *out);

/* Generates G samples for each of num_prompts prompts (token ids), G sequences sharing one prefill per
 * prompt; out has num_prompts * G entries (prompt-major).  tokenizer may be NULL when there are no stop
 * strings and no text is wanted.  Results depend only on the seed, never on batch composition; on the GPU they
 * repeat to the bit for the same call, but another batch composition may round the matmuls differently. */
int ilr_generate(ilr_generator *g, const ilr_tokenizer *tokenizer, const int *const *prompts, const int *prompt_lens,
                 int num_prompts, int G, const ilr_gen_options *opt, ilr_gen_output *out);

#endif
