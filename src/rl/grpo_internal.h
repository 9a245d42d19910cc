/* The GRPO trainer's parts, shared by src/rl/grpo.c (the loop, checkpoints, logs) and src/rl/grpo_rollout.c
 * (questions, prompts, rewards, evaluation).  Not a public header. */
#ifndef ILR_GRPO_INTERNAL_H
#define ILR_GRPO_INTERNAL_H

#include <stdio.h>

#include "ilr/chat.h"
#include "ilr/dataset.h"
#include "ilr/generate.h"
#include "ilr/grpo.h"
#include "ilr/reward.h"
#include "ilr/tokenizer.h"
#include "ilr/transformer.h"

/* Questions with their prompts already tokenised. */
typedef struct {
    ilr_dataset ds;
    int n;          /* items used (a prefix of ds when a maximum was set) */
    int **ids;      /* prompt ids per item */
    int *lens;
    int max_prompt;
} grpo_data;

typedef struct {
    const ilr_train_config *c;
    const char *from;        /* where the weights came from: the model, or the checkpoint resumed */
    ilr_model model, ref_model;
    ilr_transformer tr, ref_tr;
    int has_ref;
    ilr_tokenizer *tok;
    ilr_chat_template *chat;
    ilr_generator gen;
    int task;                /* resolved: never ILR_TRAIN_TASK_AUTO */
    char *world_template;    /* world-arith: the solve prompt template */
    grpo_data train, eval, test;
    ilr_reward_math_options math_opt;
    ilr_reward_code_options code_opt;
    /* data order: epoch e visits train items in the permutation drawn from (seed, e) */
    long epoch;
    int index;
    int *order;
    long order_epoch;
    FILE *log;
} grpo_run;

/* One rollout batch: S = prompts * G completions, prompt-major. */
typedef struct {
    int prompts, G, S;
    int *item;               /* (prompts) train item of each question */
    ilr_gen_output *out;     /* (S) */
    float *reward, *adv, *weight;
    int *correct, *formatted;
    unsigned char *masked;
    int *len;                /* completion tokens (S) */
} grpo_rollout;

int grpo_data_load(grpo_run *r, grpo_data *d, const char *spec, long max_items);
void grpo_data_free(grpo_data *d);

/* Rewards of n completions of data items (item_of[k] for completion k). */
int grpo_rewards(grpo_run *r, const grpo_data *d, const int *item_of, const ilr_gen_output *out, int n, float *reward,
                 int *correct, int *formatted);

/* Answers to the data's items, graded: greedy (samples 0), or `samples` per question at temperature
 * (counts are then over every sample: accuracy is avg@samples). */
int grpo_evaluate(grpo_run *r, const grpo_data *d, int samples, float temperature, ilr_grpo_eval *ev);

#endif
