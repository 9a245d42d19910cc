/* ilr eval's work on one benchmark: every question answered greedily and/or k times sampled, each answer
 * graded by the task, one JSON line per answer appended to samples.jsonl, and the per-question verdicts the
 * metrics need (include/ilr/eval_metrics.h).  Resumable: the lines of an earlier, interrupted run are read
 * back (ilr_eval_records_load) and the questions they complete are not asked again.
 *
 * A samples.jsonl line: {"bench", "question" (the item's id), "sample" (0..k-1, or "greedy"), "prompt" (the
 * text the model read, chat template included), "completion", "answer" (as extracted; "" when none),
 * "correct" (bool), "rule" (what decided: the math grader's rule, "checker", the sandbox's status)}.  A
 * question's lines are written together with one write and flushed, so a killed run leaves whole questions
 * (a cut last line is ignored when read back).
 *
 * Sampled answers are reproducible whatever the batching and across resumes: sample j of question i draws
 * from stream i * k + j of the seed. */
#ifndef ILR_EVAL_RUN_H
#define ILR_EVAL_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "ilr/eval_metrics.h"
#include "ilr/generate.h"
#include "ilr/progress.h"
#include "ilr/task.h"

typedef struct {
    const char *bench;          /* the name written in each line */
    const ilr_task *task;
    const ilr_question_set *q;  /* the questions in the model's tokens */
    ilr_generator *gen;
    const ilr_tokenizer *tok;
    int greedy;                 /* one greedy answer per question */
    int samples;                /* k sampled answers per question (0: none) */
    float temperature, top_p;
    int max_new_tokens;
    uint64_t seed;
    FILE *records;              /* samples.jsonl, opened for appending (NULL: no records) */
    const unsigned char *done;  /* q->n flags: answered in an earlier run, skipped (NULL: none) */
    ilr_progress *progress;     /* advanced by one per question asked (NULL: none) */
} ilr_eval_run;

/* Asks every question not done; fills out[i] (q->n entries) for them. */
int ilr_eval_run_bench(const ilr_eval_run *r, ilr_eval_question *out);

/* Whether two answers of the task are the same answer (majority votes): the math grader's equality for math,
 * equal text otherwise. */
int ilr_eval_same_answer(const ilr_task *t, const char *a, const char *b);

/* Reads the lines of bench in path (a missing file is no lines) and, for each question of q whose greedy
 * answer (when greedy) and samples 0..k-1 are all there, sets done[i] = 1 and out[i]; the last line of each
 * (question, sample) counts.  A line that is not JSON is an error naming path:line, except a cut last line. */
int ilr_eval_records_load(const char *path, const char *bench, const ilr_task *t, const ilr_question_set *q, int greedy,
                          int samples, unsigned char *done, ilr_eval_question *out);

/* One line of samples.jsonl as read back; the strings live as long as the callback runs. */
typedef struct {
    const char *bench, *question, *answer;
    int sample; /* -1: the greedy answer */
    int correct;
} ilr_eval_record;

/* Calls fn for every record of path in order (stopping at its non-zero return).  A cut last line (a killed
 * run) is skipped; any other line that is not a record is ILR_EFORMAT naming path:line. */
int ilr_eval_records_read(const char *path, int (*fn)(const ilr_eval_record *r, void *user), void *user);
/* The same over size bytes in memory; path names them in errors. */
int ilr_eval_records_parse(const char *data, size_t size, const char *path,
                           int (*fn)(const ilr_eval_record *r, void *user), void *user);

/* Drops a cut last line (a run killed mid-write) from path, so that appending starts a new line. */
int ilr_eval_records_repair(const char *path);

/* Two finished evaluations (directories holding samples.jsonl) compared question by question, per benchmark
 * of dir_a that dir_b also has: {BENCH: {"questions", "greedy_a", "greedy_b", "greedy_diff" (a - b),
 * "greedy_diff_ci95", "avg_a", "avg_b", "avg_diff", "avg_diff_ci95"}} (the paired bootstrap over the questions
 * both hold; the avg entries when both sampled).  *out is the caller's. */
int ilr_eval_compare(const char *dir_a, const char *dir_b, int resamples, uint64_t seed, json_t **out);

#endif
