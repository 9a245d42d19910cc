/* Metrics of a benchmark evaluation (ilr eval): per question a greedy verdict and k sampled verdicts; per
 * benchmark greedy pass@1, avg@k, unbiased pass@k, maj@k, each with a 95 % bootstrap interval over the
 * questions, by level where the data has levels; and the paired difference of two evaluations.
 *
 *   pass@k (Chen et al. 2021, "Evaluating Large Language Models Trained on Code"): with n answers of which c
 *     are right, 1 - C(n - c, k) / C(n, k), the chance that k answers drawn without replacement hold a right
 *     one; ilr eval reports it at k = n (every sampled answer), where it is "any answer right".
 *   maj@k: the answer given most often among the k (answers compared by the task: the math grader's equality,
 *     else exact text; a tie goes to the answer seen first), right or wrong as that answer was graded.
 *   Intervals: the 2.5th and 97.5th percentiles of the metric over `resamples` resamples of the questions
 *     with replacement (seeded; 1000 by default).  Paired: the same resample of questions for both sides, so
 *     a question's difficulty cancels out (the interval of a difference is narrower than either side's). */
#ifndef ILR_EVAL_METRICS_H
#define ILR_EVAL_METRICS_H

#include <stdint.h>

#include <jansson.h>

#include "ilr/level_accuracy.h"

/* 1 - C(n - c, k) / C(n, k); 0 when n < 1 or k < 1 or k > n. */
double ilr_pass_at_k(int n, int c, int k);

typedef struct {
    double mean, lo, hi; /* the value and its 95 % interval */
} ilr_ci95;

/* The mean of x[0..n) and its percentile bootstrap interval.  ILR_EINVAL when n < 1 or resamples < 1. */
int ilr_bootstrap_mean(const double *x, int n, int resamples, uint64_t seed, ilr_ci95 *out);
/* The mean of x[i] - y[i] with the paired bootstrap interval. */
int ilr_bootstrap_paired(const double *x, const double *y, int n, int resamples, uint64_t seed, ilr_ci95 *out);

/* The index in [0, k) of the majority answer: the one with the most answers equal to it (same(a, b, ctx)
 * decides; an answer equals itself); ties go to the lowest index.  NULL answers (none extracted) never win
 * unless every answer is NULL; -1 when k < 1. */
int ilr_majority(const char *const *answers, int k, int (*same)(const char *a, const char *b, void *ctx), void *ctx);

/* One question's verdicts. */
typedef struct {
    int greedy;   /* 1 right, 0 wrong, -1 not asked */
    int samples;  /* sampled answers */
    int correct;  /* of them, right */
    int majority; /* the majority answer is right: 1 / 0; -1 without samples */
    int level;    /* 0: unknown */
    double greedy_reward, sampled_reward; /* the task's reward of the greedy answer; summed over the samples */
} ilr_eval_question;

typedef struct {
    int questions, samples; /* samples: k, the fewest sampled answers of any question (0: none) */
    int has_greedy;
    ilr_ci95 greedy, avg, pass, maj;
    int level_questions[ILR_MAX_LEVEL + 1];
    double level_greedy[ILR_MAX_LEVEL + 1], level_avg[ILR_MAX_LEVEL + 1];
} ilr_bench_summary;

/* Summarises q[0..n).  ILR_EINVAL when n < 1. */
int ilr_bench_summarize(const ilr_eval_question *q, int n, int resamples, uint64_t seed, ilr_bench_summary *out);
/* {"questions", "samples", "greedy", "greedy_ci95": [lo, hi], "avg@k", "avg@k_ci95", "pass@k", "pass@k_ci95",
 *  "maj@k", "maj@k_ci95", "by_level": {"1": {"questions", "greedy", "avg@k"}, ...}} with k as run; fractions. */
json_t *ilr_bench_summary_json(const ilr_bench_summary *s);

#endif
