/* The experiment config of `ilr train`: every key, its type, default and meaning in one table
 * (src/rl/train_config.c), read from YAML and command-line overrides by ilr/config_yaml.h.
 *
 * Defaults follow TRL's GRPOConfig where the paper is silent (learning rate 1e-6, 8 generations, epsilon
 * 0.2 both sides, beta 0 (no reference model), loss_type dapo, scale_rewards group, one iteration, no
 * masking of truncated completions, temperature 1, max_grad_norm 1, AdamW 0.9/0.999, no weight decay,
 * linear decay without warmup).  `ilr train --help-config` prints the table; README lists it too. */
#ifndef ILR_TRAIN_CONFIG_H
#define ILR_TRAIN_CONFIG_H

#include "ilr/config_yaml.h"

#define ILR_MAX_AGENTS 8

enum { ILR_METHOD_GRPO = 0, ILR_METHOD_ILR = 1, ILR_METHOD_ILR_COOP = 2, ILR_METHOD_ILR_COMP = 3, ILR_METHOD_ILR_RANDOM = 4,
       ILR_METHOD_ILR_NO_CALIBRATION = 5 };
enum { ILR_TRAIN_FUSE = 0, ILR_TRAIN_SHARE_FUSE = 1, ILR_TRAIN_ALL = 2 };      /* ilr.train_stages */
enum { ILR_DIFFICULTY_FIT = 0, ILR_DIFFICULTY_LEVEL = 1, ILR_DIFFICULTY_SELF_RATING = 2 }; /* irt.difficulty */

/* One agent of an ILR run (the `agents:` list).  The optimizer keys it does not set take the top-level
 * optim.* values (ilr_train_agent_resolve). */
typedef struct {
    char *name, *model;
    double lr, weight_decay, max_grad_norm, min_lr_ratio;
    long warmup_steps;
    long ranks;                    /* agent-parallel: how many of the job's ranks are this agent's (0: unset) */
} ilr_agent_config;


typedef struct {
    int method;
    char *model, *output_dir;
    ilr_cfg_list agents;           /* ILR: ilr_agent_config items */
    long seed;
    /* data */
    char *train_data, *eval_data, *test_data, *template_path;
    int task, chat, math_extract; /* task: an ilr_task_type (include/ilr/task.h) */
    long eval_max, test_max, eval_samples;
    /* rollout */
    long prompts_per_step, num_generations, max_new_tokens, max_prompt_tokens;
    double temperature, top_p, min_p;
    long top_k;
    int rollout_weights; /* an ilr_gen_weights */
    /* reward */
    double format_weight;
    /* grpo */
    int scale_rewards, loss_type, mask_truncated, share_prompt;
    double epsilon, epsilon_high, beta;
    long num_iterations;
    /* optimizer */
    double lr, weight_decay, adam_beta1, adam_beta2, adam_eps, max_grad_norm, min_lr_ratio;
    long warmup_steps, micro_batch;
    int lr_schedule;
    /* ILR */
    int interaction, rule, calibration, train_stages;
    double coop_probability;
    long analyse_max_new_tokens, fuse_max_new_tokens, max_peer_tokens, discussion_max_prompt_tokens;
    char *idea3_prompts;
    /* IRT */
    char *irt_file, *irt_data;
    int irt_difficulty;
    long irt_samples, irt_data_max, irt_refit_every;
    double irt_prior_sd;
    /* the fair baseline: a GRPO run's generation budget */
    long budget_generated_tokens;
    char *budget_match;
    /* run */
    long steps, log_every, eval_every, save_every, keep_checkpoints;
    double max_minutes;
    int quiet, save_rollouts, print_config;
    int device; /* an ilr_device */
    int recompute; /* train.recompute: activation recomputation in each policy's training step */
    int zero1;     /* train.zero1: each policy's AdamW moments sharded over the ranks that train it (ZeRO-1) */
} ilr_train_config;

const ilr_cfg_schema *ilr_train_config_schema(void);
const ilr_cfg_schema *ilr_train_agent_schema(void);

/* 1 for the ILR methods (interaction, calibration and Idea3 from the ilr.* keys, adjusted by the method). */
int ilr_train_is_ilr(const ilr_train_config *c);
/* Agent i of an ILR run with every key resolved: its name (the model directory's last component when it
 * sets none), model, and the top-level optim.* value for each optimizer key it did not set. */
void ilr_train_agent_resolve(const ilr_train_config *c, int i, ilr_agent_config *out);

/* Defaults, then the YAML file (NULL: none), then each "key=value" override in order; then the cross-key
 * checks (a model and an output directory are given, the batch divides into micro-batches...).  On failure
 * the config is freed. */
int ilr_train_config_load(ilr_train_config *c, const char *path, char *const *overrides, int num_overrides);
void ilr_train_config_free(ilr_train_config *c);

#endif
