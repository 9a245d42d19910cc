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

enum { ILR_TRAIN_TASK_AUTO = 0, ILR_TRAIN_TASK_WORLD_ARITH = 1, ILR_TRAIN_TASK_MATH = 2, ILR_TRAIN_TASK_CODE = 3 };

typedef struct {
    int method;
    char *model, *output_dir;
    long seed;
    /* data */
    char *train_data, *eval_data, *test_data, *template_path;
    int task, chat, math_extract;
    long eval_max, test_max, eval_samples;
    /* rollout */
    long prompts_per_step, num_generations, max_new_tokens, max_prompt_tokens;
    double temperature, top_p, min_p;
    long top_k;
    /* reward */
    double format_weight;
    /* grpo */
    int scale_rewards, loss_type, mask_truncated;
    double epsilon, epsilon_high, beta;
    long num_iterations;
    /* optimizer */
    double lr, weight_decay, adam_beta1, adam_beta2, adam_eps, max_grad_norm, min_lr_ratio;
    long warmup_steps, micro_batch;
    int lr_schedule;
    /* run */
    long steps, log_every, eval_every, save_every, keep_checkpoints;
    double max_minutes;
    int quiet;
} ilr_train_config;

const ilr_cfg_schema *ilr_train_config_schema(void);

/* Defaults, then the YAML file (NULL: none), then each "key=value" override in order; then the cross-key
 * checks (a model and an output directory are given, the batch divides into micro-batches...).  On failure
 * the config is freed. */
int ilr_train_config_load(ilr_train_config *c, const char *path, char *const *overrides, int num_overrides);
void ilr_train_config_free(ilr_train_config *c);

#endif
