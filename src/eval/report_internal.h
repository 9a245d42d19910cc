/* Shared by the report's gatherers and writers (src/eval/report*.c); see include/ilr/report.h. */
#ifndef ILR_REPORT_INTERNAL_H
#define ILR_REPORT_INTERNAL_H

#include <jansson.h>
#include <stdio.h>

/* The object at root/k1/k2/... (NULL-terminated keys), created where missing. */
json_t *report_obj(json_t *root, ...);

/* A STAT object ({"mean", "lo", "hi", "n", "ci", "values"}) from values x[0..n): the t interval for n >= 2;
 * for n == 1 lo/hi as given (NaN: null) and ci as given. */
json_t *report_stat(const double *x, int n, double lo1, double hi1, const char *ci1);

/* Adds (step, value) points to acc (an object {"sum": {STEP: [sum, count]}}) */
int report_acc_add(json_t *acc, const double *step, const double *value, int n);
/* The accumulated means as {"step": [...], "value": [...]} in step order, set into out (keeps other keys). */
void report_acc_finish(json_t *acc);

/* What the gatherers (report_gather.c) collect, cell by cell, before report_collect_finish turns it into
 * report.json's sections (report_collect.c).  Seeds are JSON integers, or null for a cell without one (the
 * base model), which pairs with every seed. */
typedef struct {
    json_t *rep;
    json_t *obs;     /* ROW/AGENT/BENCH/METRIC: [{"seed", "value", "lo", "hi", "eval_dir"}] */
    json_t *curves;  /* ROW/AGENT/CURVE: {"key", "seeds", "sum"} */
    json_t *ilr;     /* ROW: {"coop_share": [..], "mean_abs_shift": [..], "clipped_share": [..], "steps": {..}} */
    json_t *compute; /* ROW/SEED: {"generated_tokens", ..., "agents"} */
} report_collect;

/* One evaluation's "benchmarks" object (ilr eval's summary.json) as ROW's observations of agent at seed;
 * eval_dir (may be NULL) holds its samples.jsonl. */
int report_collect_eval(report_collect *c, const char *row, const char *agent, json_t *seed, const json_t *benchmarks,
                        const char *eval_dir);
/* One observation (lo/hi NaN when there is no interval). */
void report_collect_value(report_collect *c, const char *row, const char *agent, const char *bench, const char *metric,
                          json_t *seed, double value, double lo, double hi, const char *eval_dir);
/* A training directory's train_log.jsonl (its curves, coop share and calibration) and irt.json /
 * difficulty.json.  agents[0..n): the agents trained there; prefixed keys ("agent-a/reward") are used where
 * the log has them, else (one agent) the plain keys.  A directory without a log adds nothing. */
int report_collect_train_dir(report_collect *c, const char *row, const char *train_dir, const char *const *agents,
                             int num_agents);
/* Compute of one cell added to ROW at seed (NaN: not known). */
void report_collect_compute(report_collect *c, const char *row, json_t *seed, const char *agent, double generated,
                            double trained, double train_seconds, double eval_seconds);
/* Fills rep's "results", "differences" (against each name in against[0..n) that has results), "curves",
 * "ilr" and "compute". */
int report_collect_finish(report_collect *c, const char *const *against, int num_against);

/* The sum of the "seconds" of a benchmarks object. */
double report_eval_seconds(const json_t *benchmarks);

/* The gatherers of each kind of directory (report_gather*.c). */
int report_gather_experiment(const char *dir, json_t *exp, json_t *rep);
int report_gather_run(const char *dir, json_t *rep);
int report_gather_eval(const char *dir, json_t *summary, json_t *rep);

/* How a number is printed (the same in report.md and report.html). */
typedef enum {
    REPORT_PCT,   /* a fraction in percent, one decimal ("45.2"), data-scale 100 */
    REPORT_INT,   /* tokens, counts */
    REPORT_SEC,   /* seconds, one decimal */
    REPORT_REAL,  /* abilities, difficulties, shifts: three decimals */
} report_fmt;

/* Prints v as fmt says into buf (cap bytes); "—" (an em dash) when v is not a number. */
void report_format(char *buf, size_t cap, const json_t *v, report_fmt fmt);
/* Appends key to a JSON pointer path (RFC 6901: ~ as ~0, / as ~1). */
void report_path_push(char *path, size_t cap, const char *key);

#endif
