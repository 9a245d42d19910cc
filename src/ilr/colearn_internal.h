/* The parts of the co-learning trainer (include/ilr/colearn.h): setup and the loop (colearn.c), the IRT
 * setup (colearn_irt.c) and one step's discussion, rewards and updates (colearn_step.c).  Not public. */
#ifndef ILR_COLEARN_INTERNAL_H
#define ILR_COLEARN_INTERNAL_H

#include <stdio.h>

#include "ilr/calibration.h"
#include "ilr/colearn.h"
#include "ilr/dist.h"
#include "ilr/grpo.h"
#include "ilr/idea3.h"
#include "ilr/interaction.h"
#include "ilr/irt.h"
#include "ilr/policy.h"
#include "ilr/task.h"

typedef struct {
    ilr_agent_config cfg;            /* resolved (name and model borrowed from the config) */
    ilr_policy policy;
    ilr_question_set train;          /* the training questions in this agent's tokens (share prompts) */
    ilr_question_set calib;          /* the calibration questions (when answers are collected here) */
    ilr_grpo_update_params hp;
    double gamma;                    /* IRT ability */
    long generated_tokens, trained_tokens;
} colearn_agent;

typedef struct {
    const ilr_train_config *c;
    const ilr_train_hooks *hooks;
    int m;
    colearn_agent agents[ILR_MAX_AGENTS];
    ilr_task task;
    ilr_dataset ds;                  /* training questions */
    ilr_dataset calib_ds;            /* irt.data, when answers are collected here */
    int collect;                     /* no irt.file and not resumed: collect answers and fit at the start */
    FILE *solo_log;                  /* irt.refit_every: irt_responses.jsonl, the solo answers of every step */
    ilr_idea3_prompts prompts;
    ilr_interaction interaction;
    ilr_irt_fit irt;
    ilr_irt_responses running;       /* irt.refit_every: the calibration answers and the solo answers since */
    double *difficulty;              /* (ds.count) D of each training question */
    int max_new[3];                  /* per stage */
    ilr_trainer trainer;
    FILE *rollouts;                  /* train.save_rollouts */
    ilr_data_order order;
    long start_step;
    ilr_colearn_result *res;         /* the loop's, for the step callback */
    /* agent-parallel (agents[i].ranks): agent i is held, run and trained by job ranks [first_rank[i], first_rank[i]
     * + num_ranks[i]) alone, and this rank serves agent `mine` with the ranks of `group`; every rank still holds
     * every agent's tokenizer and runs the step's text work (prompts, scores, calibration, records) for all.
     * Data-parallel (unset): mine is -1, group NULL (the job), and every rank serves every agent. */
    int mine;
    int first_rank[ILR_MAX_AGENTS], num_ranks[ILR_MAX_AGENTS];
    ilr_dist_group *group;
} colearn_run;

/* Whether this rank holds, runs and trains agent i (every agent, data-parallel). */
static inline int colearn_serves(const colearn_run *r, int i) { return r->mine < 0 || r->mine == i; }
/* The job rank that writes agent i and sends what only agent i's ranks know (rank 0, data-parallel). */
static inline int colearn_leader(const colearn_run *r, int i) { return r->mine < 0 ? 0 : r->first_rank[i]; }

/* colearn_irt.c: gamma of every agent and D of every training question, from irt.file, a run's irt.json
 * (resume), or answers collected on irt.data now (saved as irt.json and responses.jsonl). */
int colearn_irt_setup(colearn_run *r, int resume);
/* irt.refit_every: adds a step's solo answers (to the running matrix and irt_responses.jsonl) and, every N
 * steps, refits the abilities with the difficulties of the questions answered so far. */
int colearn_irt_observe(colearn_run *r, long step, const int *items, int P, int G, ilr_task_score *const *share);
/* The calibration questions are opened before the agents are sized (their prompts must fit). */
int colearn_irt_open_data(colearn_run *r, int resume);

typedef struct {
    double seconds[3];               /* per stage: generation and scoring */
    double update_seconds;
    int coop;                        /* questions discussed cooperatively */
    ilr_calibration_stats calib;
} colearn_step_stats;

/* colearn_step.c: one step (questions, discussion, rewards, updates); its log line in *line. */
int colearn_step(colearn_run *r, long step, json_t **line, colearn_step_stats *st);

#endif
