/* GRPO, opened up into the pieces a trainer composes: a rollout batch (completions with rewards set by the
 * caller, grouped for their baselines), advantages and loss weights over it, the policy update (mu optimizer
 * steps of the clipped-ratio loss, include/ilr/grpo_loss.h), step metrics under TRL's names; and the
 * single-agent trainer built from them (`ilr train` with method grpo).  ILR (include/ilr/colearn.h) builds
 * its co-learning loop from the same pieces; GRPO knows nothing of ILR.
 *
 * The single-agent trainer, a step: prompts_per_step questions in the data order (shuffled per epoch from
 * the seed), num_generations completions each (sampling streams from (seed, step), so a step's rollouts
 * depend only on the weights, the seed and the step), rewards from the task (include/ilr/task.h), group
 * advantages, then num_iterations optimizer steps over the batch in micro-batches, each against the stored
 * rollout log-probs and, when beta > 0, with the k3 KL to the frozen starting model.
 *
 * Its run directory (output_dir; include/ilr/trainer.h):
 *   config.yaml          the resolved config (every key), written before the first step
 *   train_log.jsonl      one line per step with TRL's metric names, and what the evaluation hook logs
 *   checkpoint-STEP/     every save_every steps and on SIGINT/SIGTERM: a model directory + trainer state
 *   latest               the name of the newest complete checkpoint
 *   the final model      config.json, model.safetensors and tokenizer files, after the last step
 *   train_summary.json   steps, time, rewards, and what the evaluation hook adds
 * Resuming continues from the newest checkpoint: weights, AdamW moments and step, the data cursor; the
 * sampling streams follow from the step.  On the same build and thread count a resumed run ends with the
 * same weights, bit for bit, as one that never stopped. */
#ifndef ILR_GRPO_H
#define ILR_GRPO_H

#include <stdint.h>

#include <jansson.h>

#include "ilr/generate.h"
#include "ilr/grpo_loss.h"
#include "ilr/policy.h"
#include "ilr/schedule.h"
#include "ilr/task.h"
#include "ilr/train_config.h"
#include "ilr/trainer.h"

/* ---- a batch of completions to learn from ---- */
typedef struct {
    int S, cap;
    int **prompt;              /* (S) the prompt's ids (owned copies) */
    int *prompt_len;
    ilr_gen_output *out;       /* (S) the completions (moved in) */
    float *reward;             /* (S) the reward its advantage is computed from (ILR: calibrated) */
    int *correct, *formatted;  /* (S) */
    float *adv, *weight;       /* (S) set by ilr_rollout_batch_finish */
    unsigned char *masked;     /* (S) no loss (truncated, with masking on) */
    int *group_start;          /* (num_groups + 1): group g is [group_start[g], group_start[g + 1]) */
    int num_groups, group_cap;
} ilr_rollout_batch;

void ilr_rollout_batch_init(ilr_rollout_batch *b);
void ilr_rollout_batch_free(ilr_rollout_batch *b);
/* Starts a group: the completions added next share one baseline (a question's G samples). */
int ilr_rollout_batch_group(ilr_rollout_batch *b);
/* Adds a completion: the prompt is copied, *out moved into the batch (and zeroed). */
int ilr_rollout_batch_add(ilr_rollout_batch *b, const int *prompt, int prompt_len, ilr_gen_output *out,
                          const ilr_task_score *score);
/* Advantages per group (scale), masks (truncated completions when mask_truncated) and the aggregation
 * weights (loss_type; max_new_tokens is dr_grpo's constant).  *zero_std: groups whose rewards are all equal. */
void ilr_rollout_batch_finish(ilr_rollout_batch *b, ilr_grpo_scale scale, ilr_grpo_loss_type loss_type,
                              int max_new_tokens, int mask_truncated, int *zero_std);

/* ---- data parallel (include/ilr/dist.h) ---- */
/* Every rank's n completions and scores (the rank's share of a step, out moved from), concatenated in rank order
 * into all and all_score (total entries, zeroed by the caller), the same on every rank; in one process, out is
 * moved into all.  Scores keep reward, correct and formatted; score and all_score may be NULL (no scores). */
int ilr_rollout_allgather(ilr_gen_output *out, const ilr_task_score *score, int n, ilr_gen_output *all,
                          ilr_task_score *all_score, int total);
/* This rank's share of ilr_generate over the ranks of group (NULL: the job): the completions of its share of the n
 * prompts (sequence k still drawing from stream opt->stream_offset + k) in *mine (*mine_n of them, malloc'd; the
 * caller frees each and the array, also on failure).  ilr_rollout_allgather then gives every rank all n * G. */
int ilr_generate_share(ilr_generator *g, const ilr_tokenizer *tok, const int *const *prompts, const int *lens, int n, int G,
                       const ilr_gen_options *opt, const ilr_dist_group *group, ilr_gen_output **mine, int *mine_n);

/* ---- the policy update ---- */
typedef struct {
    ilr_grpo_loss_params loss;
    int num_iterations;       /* mu */
    int micro_batch;          /* rows per forward/backward pass, at most the training state's (ilr_policy_prepare) */
    int share_prompt;         /* completions of one prompt share a row's copy of it (CPU; see ilr_grpo_update) */
    float temperature;        /* the sampling temperature: the loss's log-probs are taken at it */
    ilr_lr_schedule lr;       /* over optimizer steps */
    float adam_beta1, adam_beta2, adam_eps, weight_decay, max_grad_norm;
} ilr_grpo_update_params;

typedef struct {
    double loss, grad_norm, learning_rate; /* loss: mean over the mu iterations; the rest of the last */
    double entropy, entropy_tokens;        /* sum over the trained tokens of every iteration */
    ilr_grpo_token_stats tok;              /* over every iteration */
    long trained_tokens;                   /* completion tokens with a loss, once per batch */
} ilr_grpo_update_stats;

/* num_iterations optimizer steps of p over b (each the whole batch in micro-batches, gradients accumulated).
 * A micro-batch is micro_batch rows (at most the training state's p->ts.max_B) of at most p->ts.max_T tokens
 * (ilr_policy_prepare sizes them).  A row is one completion after its prompt, or with share_prompt (on the CPU)
 * documents packed first-fit, longest first: each a copy of a prompt's first P - 1 tokens and then, for each of
 * its completions (those whose prompt ids are identical), the segment [p_{P-1}, c_1, ..., c_n] at positions P-1,
 * P, ..., attending to the prefix and to itself (ilr_attention_forward's shared-prefix rule); a prompt whose
 * completions do not fit one row makes several documents.  The log-probabilities are the same to float rounding,
 * a prompt's FLOPs spent once a document, and rows carry little padding.  Over several ranks rows are dealt whole.
 * Over several ranks, every rank holds the whole batch b and trains its share of it; gradients and statistics
 * are summed over the ranks, so every rank takes the same optimizer step, the single process's to float
 * rounding. */
int ilr_grpo_update(ilr_policy *p, const ilr_rollout_batch *b, const ilr_grpo_update_params *hp,
                    ilr_grpo_update_stats *st);
/* The update parameters a train config gives. */
void ilr_grpo_update_params_from_config(ilr_grpo_update_params *hp, const ilr_train_config *c);

/* ---- step metrics ---- */
/* The rollout side of a step (over the batch's completions). */
typedef struct {
    double reward, reward_std, reward_std_all;  /* reward_std: mean over groups of the group's std (TRL) */
    double accuracy, format_rate, frac_reward_zero_std;
    double mean_length, mean_terminated_length, clipped_ratio;
    int min_length, max_length;
} ilr_grpo_metrics;

void ilr_grpo_metrics_compute(ilr_grpo_metrics *m, const ilr_rollout_batch *b, int zero_std);
/* Adds the rollout metrics to j under TRL's names, each prefixed (prefix "" or "agent-a/"); task names the
 * reward's key rewards/TASK/mean. */
void ilr_grpo_metrics_json(json_t *j, const ilr_grpo_metrics *m, const char *prefix, const char *task);
/* Adds the update's: loss, grad_norm, learning_rate, entropy, kl (when has_kl), clip_ratio/{low,high,region}_mean
 * (per trained token) and trained_tokens. */
void ilr_grpo_update_json(json_t *j, const ilr_grpo_update_stats *st, const char *prefix, int has_kl);

/* ---- the single-agent trainer ---- */
typedef struct {
    long steps;                    /* the last step done */
    int interrupted;               /* stopped by SIGINT/SIGTERM (a checkpoint was written) */
    int timed_out;                 /* stopped by train.max_minutes */
    int budget_spent;              /* stopped by budget.generated_tokens / budget.match before train.steps */
    double seconds;                /* wall clock of the steps of this process */
    double first_reward, last_reward;
    long generated_tokens;         /* completion tokens sampled by this run's steps, resumed ones included */
} ilr_grpo_result;

/* The sampling seed of rollout step `step` of a run seeded `seed` (a resumed step samples what it would have). */
uint64_t ilr_grpo_step_seed(long seed, long step);

/* Runs (or, with resume != 0, continues) the run c describes; hooks (may be NULL) evaluate.  0 when it
 * finished or was interrupted cleanly; a negative ILR_E* with a message otherwise. */
int ilr_grpo_run(const ilr_train_config *c, int resume, const ilr_train_hooks *hooks, ilr_grpo_result *res);

#endif
