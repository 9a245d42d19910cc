/* The token sampler of the generation engine: greedy, temperature, top-k, top-p, min-p.
 *
 * Semantics follow Hugging Face transformers' logits warpers, applied in their order to the logits of one
 * position (V floats, fp32):
 *   1. temperature: z = logits / T (fp32 division, as the warper divides);
 *   2. top-k: keep the tokens whose z is >= the k-th largest z; every token tied with the k-th value is kept
 *      (HF removes only `z < topk_values[..., -1]`);
 *   3. top-p: on softmax(z) renormalised over the survivors, sort descending and keep the smallest prefix
 *      whose mass reaches top_p: a token is removed when the mass of the tokens before it is >= top_p (HF:
 *      ascending cumulative sum <= 1 - top_p); the most likely token is always kept.  A token that reaches
 *      top_p exactly ends the prefix.  Among tokens of equal probability the lower id comes first (HF's
 *      unstable sort leaves that order unspecified);
 *   4. min-p: keep the tokens whose probability is >= min_p * (the largest probability), on the distribution
 *      left by the previous filters (the ratio does not depend on renormalisation: exp(z - max z) >= min_p).
 * Then one draw u = ilr_rng_uniform_f64(rng) picks, by inverse CDF over the kept ids in increasing id order
 * (accumulated in double), the first id whose cumulative unnormalised weight exp(z - max z) exceeds u times
 * the kept total.  Temperature 0 is greedy: the argmax of the logits (the lowest id among ties), no filters,
 * no draw.  Logits of -inf have probability 0 and are never drawn; NaN logits are treated as probability 0.
 * If logits / T overflows (a tiny T), the call degenerates to greedy.  Weights exp(z - max z) come from a
 * vectorised fp32 exp within 1 ulp of expf; those below 1.7e-38 (z more than 87 below the top) count as 0.
 *
 * Cost per call: O(V) passes over the logits, no sort of the vocabulary (top-k uses a k-element heap; top-p
 * buckets the probabilities by magnitude and sorts only the bucket the cut falls in), no malloc. */
#ifndef ILR_SAMPLER_H
#define ILR_SAMPLER_H

#include "ilr/rng.h"

typedef struct {
    float temperature; /* 0: greedy (argmax, ties to the lowest id) */
    int top_k;         /* 0: off (so is any k >= V) */
    float top_p;       /* 1: off */
    float min_p;       /* 0: off */
} ilr_sampler_params;

/* Scratch for one sampler call over a vocabulary of V: allocate once per thread and reuse for every call
 * with a vocabulary of at most V.  Owns probs (V floats: the unnormalised weights by id, and the top-k heap
 * before them) and index (2V ints: the candidate ids, then work space for the top-p boundary bucket). */
typedef struct {
    float *probs;
    int *index;
    int V;
} ilr_sampler_scratch;

/* ILR_EINVAL for V < 1, ILR_ENOMEM when allocation fails (s is left empty, safe to free). */
int ilr_sampler_scratch_init(ilr_sampler_scratch *s, int V);
void ilr_sampler_scratch_free(ilr_sampler_scratch *s);

/* Draws a token id from logits (V, V <= s->V), using rng (each sequence has its own stream, so results do
 * not depend on batch composition).  Consumes exactly one ilr_rng_uniform_f64 draw when temperature > 0,
 * none when greedy.  *logprob (may be NULL) gets log softmax(logits / T)[id] at the sampling temperature T
 * (T = 1 when greedy) over the whole vocabulary, NOT filtered by top-k / top-p / min-p (as TRL computes it):
 * the log-probability the training forward computes for that token at the same temperature
 * (ilr_sampler_logprob_temperature).  If logits / T overflows fp32 it is formed in double.
 * Parameters are expected to pass ilr_sampler_params_check; out-of-range values act as "off" (top_k <= 0,
 * top_p >= 1, min_p <= 0) or as greedy (temperature <= 0). */
int ilr_sample(const float *logits, int V, const ilr_sampler_params *p, ilr_rng *rng, ilr_sampler_scratch *s,
               float *logprob);

/* The temperature of the log-probabilities ilr_sample reports: p->temperature, or 1 when greedy (<= 0).  A
 * trainer sets its forward's temperature (ilr_transformer's) to this to score tokens as they were drawn. */
float ilr_sampler_logprob_temperature(const ilr_sampler_params *p);

/* The ids the filters keep (for tests and inspection): writes them in increasing id order to keep (room for
 * V ints), returns the count (>= 1).  Greedy keeps only the argmax.  Tokens of probability 0 (logit -inf)
 * count as kept when no filter removes them, as in HF. */
int ilr_sampler_kept(const float *logits, int V, const ilr_sampler_params *p, ilr_sampler_scratch *s, int *keep);

/* 0, or ILR_EINVAL with a message naming the field for out-of-range values: temperature < 0 or not finite,
 * top_k < 0, top_p outside (0, 1], min_p outside [0, 1). */
int ilr_sampler_params_check(const ilr_sampler_params *p);

#endif
