/* GRPO's arithmetic: group advantages, the clipped-ratio token loss with a k3 KL penalty, and the weights
 * that aggregate token losses into one number.  Pure functions of arrays (no model): the trainer
 * (ilr/grpo.h) calls them between a forward and a backward pass, and the tests check them against a
 * float64 reference.
 *
 * For completion k of a group of G with reward r_k:
 *     A_k = (r_k - mean r) / (std r + 1e-4)      scale "group" (std over the group, Bessel-corrected as
 *                                                 torch.std; TRL's scale_rewards="group")
 *     A_k = (r_k - mean r) / (std R + 1e-4)      scale "batch" (std over every reward of the step)
 *     A_k =  r_k - mean r                        scale "none" (Dr. GRPO: mean-only)
 * A group whose rewards are all equal gets A = 0 exactly (never NaN).
 *
 * For token t of a completion with log-probability l under the policy being trained, l_old under the policy
 * that sampled it (the stored rollout log-prob) and l_ref under the frozen reference:
 *     rho  = exp(l - l_old)
 *     loss = -min(rho * A, clip(rho, 1 - eps_low, 1 + eps_high) * A) + beta * (exp(l_ref - l) - (l_ref - l) - 1)
 * the second term being the k3 estimator of KL(pi || pi_ref) (Schulman), >= 0, skipped when beta = 0.
 * The derivative with respect to l is -rho * A where the unclipped term is the minimum (or the ratio lies
 * inside the clip range), 0 where the clipped term is, plus beta * (1 - exp(l_ref - l)).
 *
 * Aggregation over the S completions of one optimizer step (TRL's loss_type):
 *     grpo     sum_s (1 / (S * len_s)) sum_t loss      per-sequence mean, then the mean over sequences
 *     dapo     sum_s (1 / N) sum_t loss                 token mean, N = every trained token of the step
 *     dr_grpo  sum_s (1 / (S * L)) sum_t loss           token sum over a constant, L = max completion length
 * expressed as one weight per completion (ilr_grpo_sequence_weights), so that micro-batches of any size add
 * up to the same gradient.  A masked completion (truncated, with masking on) has weight 0; it does not count
 * in N, but it does in S, as in TRL (whose grpo and dr_grpo losses average over every sequence). */
#ifndef ILR_GRPO_LOSS_H
#define ILR_GRPO_LOSS_H

#define ILR_GRPO_STD_EPS 1e-4f

typedef enum { ILR_GRPO_SCALE_GROUP = 0, ILR_GRPO_SCALE_BATCH = 1, ILR_GRPO_SCALE_NONE = 2 } ilr_grpo_scale;
typedef enum { ILR_GRPO_LOSS_DAPO = 0, ILR_GRPO_LOSS_GRPO = 1, ILR_GRPO_LOSS_DR_GRPO = 2 } ilr_grpo_loss_type;

/* Advantages of num_groups groups of G rewards each (rewards and adv: num_groups * G, group-major).
 * zero_std_groups (may be NULL) receives the number of groups whose rewards are all equal. */
void ilr_grpo_advantages(float *adv, const float *rewards, int num_groups, int G, ilr_grpo_scale scale,
                         int *zero_std_groups);

/* The same for groups of any size: group g is [group_start[g], group_start[g + 1]); "batch" scale takes the
 * std of every reward in [group_start[0], group_start[num_groups]). */
void ilr_grpo_group_advantages(float *adv, const float *rewards, const int *group_start, int num_groups,
                               ilr_grpo_scale scale, int *zero_std_groups);

/* One weight per completion (S of them, lengths len, masked[s] != 0 to leave one out; masked may be NULL). */
void ilr_grpo_sequence_weights(float *weight, const int *len, const unsigned char *masked, int S,
                               ilr_grpo_loss_type type, int max_completion_len);

typedef struct {
    float eps_low, eps_high; /* the ratio's clip range [1 - eps_low, 1 + eps_high] */
    float beta;              /* KL coefficient; 0: no KL term (ref_logp may be NULL) */
} ilr_grpo_loss_params;

/* Sums over tokens for the step's metrics (unweighted: divide by tokens for means). */
typedef struct {
    double tokens;
    double kl;          /* k3 values */
    double low_clip;    /* tokens with rho < 1 - eps_low and A < 0 (the clip binds from below) */
    double high_clip;   /* tokens with rho > 1 + eps_high and A > 0 */
} ilr_grpo_token_stats;

/* The loss of the n tokens of one completion, times weight: returns weight * sum_t loss_t and writes
 * dloss/dl (times weight) to dlogp.  ref_logp may be NULL when beta is 0.  stats (may be NULL) accumulate. */
double ilr_grpo_token_loss(float *dlogp, const float *logp, const float *old_logp, const float *ref_logp, int n,
                           float advantage, float weight, const ilr_grpo_loss_params *p, ilr_grpo_token_stats *stats);

/* k3 estimate of KL for one token, exp(l_ref - l) - (l_ref - l) - 1, and its derivative in l. */
double ilr_grpo_kl_k3(double logp, double ref_logp, double *dkl_dlogp);

#endif
