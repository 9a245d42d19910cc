/* The evaluation `ilr train` and the demo hook into the trainers (include/ilr/trainer.h): each agent alone on
 * data.eval (greedy, periodically) and data.test (greedy and, with data.eval_samples = k, avg@k sampled at
 * rollout.temperature; before the first step and after the last), logged, printed and kept for the summary;
 * and curve.svg drawn from the run's log at the end. */
#ifndef ILR_CLI_TRAIN_EVAL_H
#define ILR_CLI_TRAIN_EVAL_H

#include "ilr/dataset.h"
#include "ilr/evaluate.h"
#include "ilr/task.h"
#include "ilr/train_config.h"
#include "ilr/trainer.h"

typedef struct {
    ilr_eval_result eval_before, eval_after, test_before, test_after, test_sampled_before, test_sampled_after;
} train_eval_results;

typedef struct {
    const ilr_train_config *c;
    int multi;                        /* several agents: log keys and lines name the agent */
    ilr_task task;
    ilr_dataset eval_ds, test_ds;
    ilr_question_set eval_q[ILR_MAX_AGENTS], test_q[ILR_MAX_AGENTS];
    train_eval_results results[ILR_MAX_AGENTS];
} train_eval;

/* Loads data.eval and data.test (when set) for the run c describes.  multi: an ILR run (several agents). */
int train_eval_init(train_eval *e, const ilr_train_config *c, int multi);
void train_eval_free(train_eval *e);
/* The hooks to hand to the trainer. */
ilr_train_hooks train_eval_hooks(train_eval *e);
/* OUTPUT_DIR/curve.svg: reward and accuracy per step and held-out accuracy, from the run's log; with
 * several agents, one series per agent. */
int train_write_curve(const ilr_train_config *c, const char *const *agent_names, int num_agents);

/* A whole `ilr train` run: the trainer of c's method with these hooks, then the curve. */
typedef struct {
    long steps;
    int interrupted;
    double seconds;
    train_eval_results results[ILR_MAX_AGENTS]; /* each agent's evaluations */
} train_run_outcome;

int train_run(const ilr_train_config *c, int resume, train_run_outcome *out);

#endif
