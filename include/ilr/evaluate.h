/* Evaluation of one model alone on a question set: greedy answers (pass@1), or k sampled answers per
 * question (avg@k), each scored by the task (include/ilr/task.h), tallied overall and by level.  The
 * trainers evaluate through their caller's hooks with this; it is `ilr eval`'s run (include/ilr/eval_run.h)
 * without records, so every accuracy ilr prints is counted in one place, and sampled answers draw the same
 * streams as `ilr eval --seed S` with the same seed (sample j of question i: stream i * k + j). */
#ifndef ILR_EVALUATE_H
#define ILR_EVALUATE_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "ilr/generate.h"
#include "ilr/level_accuracy.h"
#include "ilr/task.h"

typedef struct {
    int evaluated;
    int correct, total;            /* over every answer: total = questions x samples */
    double reward;                 /* mean */
    int level_correct[ILR_MAX_LEVEL + 1], level_total[ILR_MAX_LEVEL + 1]; /* level 0: none given */
} ilr_eval_result;

typedef struct {
    int samples;          /* 0: one greedy answer per question; k > 0: k answers sampled at temperature */
    float temperature;
    int max_new_tokens;
    uint64_t seed;        /* sampled answers: the same draws at every evaluation with the same seed */
} ilr_eval_options;

/* Answers every question of q with gen (tok decodes; its slots are used in waves) and scores them. */
int ilr_eval_questions(ilr_generator *gen, const ilr_tokenizer *tok, const ilr_task *t, const ilr_question_set *q,
                       const ilr_eval_options *o, ilr_eval_result *res);

double ilr_eval_accuracy(const ilr_eval_result *ev); /* correct / total (0 when empty) */
/* {"step", PREFIX_accuracy, PREFIX_reward, PREFIX_examples, PREFIX_accuracy_by_level} (no "step" when step < 0;
 * no prefix when it is empty). */
json_t *ilr_eval_result_json(const char *prefix, const ilr_eval_result *ev, long step);
/* "  WHAT WHEN accuracy 45.0% (225/500)  reward 0.512  by level: ..." and a newline. */
void ilr_eval_result_print(FILE *out, const char *what, const char *when, const ilr_eval_result *ev);

#endif
