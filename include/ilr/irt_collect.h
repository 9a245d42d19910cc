/* The response matrix IRT fits (include/ilr/irt.h), collected: each agent answers each question k times,
 * sampled as in training, through its generation engine, and each answer is graded by the task.  `ilr irt
 * collect` writes the lines; `ilr train` collects on the calibration questions itself when it has no irt.json. */
#ifndef ILR_IRT_COLLECT_H
#define ILR_IRT_COLLECT_H

#include <stdint.h>
#include <stdio.h>

#include "ilr/generate.h"
#include "ilr/irt.h"
#include "ilr/task.h"

typedef struct {
    const char *name;
    ilr_generator *gen;
    const ilr_tokenizer *tok;
    const ilr_question_set *q;  /* the questions in this agent's tokens */
} ilr_irt_collect_agent;

typedef struct {
    int samples;          /* k answers per agent and question */
    float temperature;
    int max_new_tokens;
    uint64_t seed;
    int quiet;            /* no progress bar */
} ilr_irt_collect_options;

/* For agents[0..m), answers to items[0..n) of their sets (items NULL: every question of the sets, which
 * must be over the same dataset), added to r as (agent name, question id, correct) and, when out is not
 * NULL, written to it as JSON lines {"agent", "question", "correct"}.  *generated_tokens (may be NULL)
 * receives the completion tokens per agent. */
int ilr_irt_collect(const ilr_irt_collect_agent *agents, int m, const ilr_task *t, const int *items, int n,
                    const ilr_irt_collect_options *o, ilr_irt_responses *r, FILE *out, long *generated_tokens);

#endif
