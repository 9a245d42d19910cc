/* ilr report: one directory of results — a training run (`ilr train`), an evaluation (`ilr eval`) or an
 * experiment (`ilr experiment`) — gathered into one JSON document, report.json, and written out as
 * report.md and report.html (one self-contained page: inline CSS and SVG charts, no scripts, nothing
 * fetched).  Every number either page shows is in report.json; in the HTML each sits in an element
 * with data-key="JSON pointer into report.json" (and data-scale="100" where shown in percent), printed
 * at the precision it is shown with.
 *
 * report.json (fractions stay fractions; a missing number is null):
 *   "report": 1, "kind": "run" | "eval" | "experiment", "dir", "title",
 *   "settings": {...}                 what was run (the experiment's seeds, agents, methods, eval settings;
 *                                     a run's method and steps; an eval's model and settings)
 *   "complete": bool, "missing": [text]   cells not done (failed, pending), each with why
 *   "baseline": name | null,  "rows": [method...],  "metrics": ["greedy", "avg@K"]
 *   "results":     {ROW: {AGENT: {BENCH: {METRIC: STAT}}}}
 *   "differences": {AGAINST: {ROW: {AGENT: {BENCH: {METRIC: STAT}}}}}   ROW - AGAINST, same agent and seed
 *   "curves":      {ROW: {AGENT: {CURVE: {"key", "seeds", "step": [..], "value": [..]}}}}   mean over seeds
 *   "ilr":         {ROW: {"coop_share": STAT, "mean_abs_shift": STAT, "clipped_share": STAT,
 *                         "steps": {"step", "coop_share", "mean_abs_shift", "clipped_share"},
 *                         "difficulty": {"from", "questions", "edges": [..], "counts": [..]},
 *                         "gamma": {AGENT: g}}}
 *   "compute":     {ROW: {"seeds", "generated_tokens", "trained_tokens", "train_seconds", "eval_seconds",
 *                         "agents": {AGENT: {"generated_tokens", "trained_tokens"}}}}   means over seeds
 * STAT: {"mean", "lo", "hi" (the 95 % interval), "n" (seeds), "ci" (how the interval was made), "values"}.
 * Intervals: with 2+ seeds, Student's t over the seeds (differences: over the per-seed differences); with
 * one seed, the evaluation's bootstrap over questions (differences: the paired bootstrap of
 * ilr_eval_compare over the two evaluations' samples.jsonl). */
#ifndef ILR_REPORT_H
#define ILR_REPORT_H

#include <jansson.h>

#include "ilr/eval_metrics.h"

/* t_{0.975, df}: the upper 97.5 % quantile of Student's t with df >= 1 degrees of freedom (a 95 % two-sided
 * interval), to 1e-6. */
double ilr_t_quantile975(int df);

/* The mean of x[0..n) with its 95 % t interval mean +- t_{0.975, n-1} * sd / sqrt(n) (sd with n - 1);
 * n == 1 gives lo = hi = NaN.  ILR_EINVAL when n < 1. */
int ilr_t_interval(const double *x, int n, ilr_ci95 *out);

/* Gathers dir (which kind: experiment.json, else train_summary.json or train_log.jsonl, else summary.json)
 * into *report (a new reference).  ILR_ENOTFOUND naming what was looked for when dir is none of them;
 * a malformed file is ILR_EFORMAT naming file:line:column. */
int ilr_report_build(const char *dir, json_t **report);

/* The pages of a report, malloc'ed and NUL-terminated. */
int ilr_report_markdown(const json_t *report, char **md);
int ilr_report_html(const json_t *report, char **html);

/* Builds the report of dir and writes out_dir/report.{json,md,html} atomically (out_dir NULL: dir).
 * *report (may be NULL) receives the document. */
int ilr_report_write(const char *dir, const char *out_dir, json_t **report);

#endif
