/* The report's observations (src/eval/report_internal.h): evaluations, training logs and compute gathered
 * cell by cell, then turned into report.json's results, differences, curves, ILR and compute sections. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/eval_run.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/plot.h"
#include "ilr/report.h"
#include "report_internal.h"

static double num_or_nan(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

void report_collect_value(report_collect *c, const char *row, const char *agent, const char *bench, const char *metric,
                          json_t *seed, double value, double lo, double hi, const char *eval_dir) {
    json_t *m = report_obj(c->obs, row, agent, bench, NULL);
    json_t *list = json_object_get(m, metric);
    if (!list) json_object_set_new(m, metric, list = json_array());
    json_t *o = json_pack("{s:O, s:f}", "seed", seed ? seed : json_null(), "value", value);
    if (isfinite(lo) && isfinite(hi)) json_object_set_new(o, "lo", json_real(lo)), json_object_set_new(o, "hi", json_real(hi));
    if (eval_dir) json_object_set_new(o, "eval_dir", json_string(eval_dir));
    json_array_append_new(list, o);
}

double report_eval_seconds(const json_t *benchmarks) {
    double s = 0;
    const char *k;
    json_t *b;
    json_object_foreach((json_t *)benchmarks, k, b) {
        double v = num_or_nan(json_object_get(b, "seconds"));
        if (isfinite(v)) s += v;
    }
    return s;
}

/* The avg@K key of a benchmark entry (NULL when it sampled nothing). */
static const char *avg_key(const json_t *b) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)b, k, v)
        if (strncmp(k, "avg@", 4) == 0 && !strstr(k, "_ci95") && json_is_number(v)) return k;
    return NULL;
}

int report_collect_eval(report_collect *c, const char *row, const char *agent, json_t *seed, const json_t *benchmarks,
                        const char *eval_dir) {
    const char *bench;
    json_t *b;
    json_object_foreach((json_t *)benchmarks, bench, b) {
        if (!json_is_object(b)) return ILR_FAIL(ILR_EFORMAT, "benchmark '%s' of %s is not an object", bench, row);
        const char *metrics[2] = {json_is_number(json_object_get(b, "greedy")) ? "greedy" : NULL, avg_key(b)};
        for (int i = 0; i < 2; i++) {
            if (!metrics[i]) continue;
            char ci_key[64];
            snprintf(ci_key, sizeof ci_key, "%s_ci95", metrics[i]);
            const json_t *ci = json_object_get(b, ci_key);
            report_collect_value(c, row, agent, bench, metrics[i], seed, num_or_nan(json_object_get(b, metrics[i])),
                                 num_or_nan(json_array_get(ci, 0)), num_or_nan(json_array_get(ci, 1)), eval_dir);
        }
    }
    return 0;
}

void report_collect_compute(report_collect *c, const char *row, json_t *seed, const char *agent, double generated,
                            double trained, double train_seconds, double eval_seconds) {
    char key[32];
    if (json_is_integer(seed)) snprintf(key, sizeof key, "%lld", (long long)json_integer_value(seed));
    else snprintf(key, sizeof key, "-");
    json_t *s = report_obj(c->compute, row, key, NULL);
    const char *names[4] = {"generated_tokens", "trained_tokens", "train_seconds", "eval_seconds"};
    double v[4] = {generated, trained, train_seconds, eval_seconds};
    for (int i = 0; i < 4; i++) {
        if (!isfinite(v[i])) continue;
        double old = num_or_nan(json_object_get(s, names[i]));
        json_object_set_new(s, names[i], json_real((isfinite(old) ? old : 0) + v[i]));
        if (i < 2 && agent) {
            json_t *a = report_obj(s, "agents", agent, NULL);
            double o = num_or_nan(json_object_get(a, names[i]));
            json_object_set_new(a, names[i], json_real((isfinite(o) ? o : 0) + v[i]));
        }
    }
}

/* ---- training directories ---- */

enum { NUM_CURVES = 4, MAX_ALT = 2, NUM_ILR_KEYS = 3 };
static const struct {
    const char *name;
    const char *keys[MAX_ALT]; /* the first with points counts */
} curve_defs[NUM_CURVES] = {
    {"reward", {"reward", NULL}},
    {"accuracy", {"accuracy", NULL}},
    {"kl", {"kl", NULL}},
    {"length", {"completions/mean_length", "fuse/mean_length"}},
};
static const char *const ilr_keys[NUM_ILR_KEYS] = {"coop_share", "calibration/mean_abs_shift", "calibration/clipped_share"};
static const char *const ilr_names[NUM_ILR_KEYS] = {"coop_share", "mean_abs_shift", "clipped_share"};

static void append_value(json_t *obj, const char *key, double v) {
    json_t *a = json_object_get(obj, key);
    if (!a) json_object_set_new(obj, key, a = json_array());
    json_array_append_new(a, json_real(v));
}

/* The difficulty histogram of a difficulty.json ({question: D}) with bins of 0.5 (wider when that makes more
 * than 40). */
static int difficulty_histogram(const char *path, json_t **out) {
    json_t *d = NULL;
    int rc = ilr_json_load_file(path, &d);
    if (rc) return rc;
    if (!json_is_object(d) || json_object_size(d) == 0) {
        json_decref(d);
        return ILR_FAIL(ILR_EFORMAT, "%s: expected an object {question id: difficulty}", path);
    }
    double lo = INFINITY, hi = -INFINITY;
    const char *k;
    json_t *v;
    json_object_foreach(d, k, v) {
        if (!json_is_number(v)) {
            json_decref(d);
            return ILR_FAIL(ILR_EFORMAT, "%s: question '%s' has a %s difficulty, not a number", path, k,
                            ilr_json_type_name(v));
        }
        double x = json_number_value(v);
        lo = fmin(lo, x), hi = fmax(hi, x);
    }
    double width = 0.5;
    while ((hi - lo) / width > 40) width *= 2;
    double first = floor(lo / width) * width;
    int bins = (int)floor((hi - first) / width) + 1;
    int *counts = calloc((size_t)bins, sizeof *counts);
    if (!counts) {
        json_decref(d);
        return ILR_FAIL(ILR_ENOMEM, "out of memory");
    }
    json_object_foreach(d, k, v) {
        int b = (int)floor((json_number_value(v) - first) / width);
        counts[b < 0 ? 0 : b >= bins ? bins - 1 : b]++;
    }
    json_t *edges = json_array(), *cs = json_array();
    for (int b = 0; b <= bins; b++) json_array_append_new(edges, json_real(first + b * width));
    for (int b = 0; b < bins; b++) json_array_append_new(cs, json_integer(counts[b]));
    *out = json_pack("{s:s, s:I, s:o, s:o}", "from", path, "questions", (json_int_t)json_object_size(d), "edges", edges,
                     "counts", cs);
    free(counts);
    json_decref(d);
    return 0;
}

/* irt.json's gamma and the histogram of difficulty.json, once per row (the first training directory that has
 * them; the fit is the same for every seed of a config). */
static int collect_irt(report_collect *c, const char *row, const char *train_dir) {
    json_t *r = report_obj(c->ilr, row, NULL);
    char path[4096];
    int rc = 0;
    if (!json_object_get(r, "difficulty") && !ilr_path_join(path, sizeof path, train_dir, "difficulty.json") &&
        ilr_file_exists(path)) {
        json_t *h = NULL;
        if ((rc = difficulty_histogram(path, &h))) return rc;
        json_object_set_new(r, "difficulty", h);
    }
    if (!json_object_get(r, "gamma") && !ilr_path_join(path, sizeof path, train_dir, "irt.json") && ilr_file_exists(path)) {
        json_t *irt = NULL;
        if ((rc = ilr_json_load_file(path, &irt))) return rc;
        json_t *g = json_object_get(irt, "gamma");
        if (json_is_object(g)) json_object_set(r, "gamma", g);
        json_decref(irt);
    }
    return 0;
}

/* The run's overall coop share from train_summary.json (the per-step shares' mean, fallback, otherwise). */
static double summary_coop_share(const char *train_dir, double fallback) {
    char path[4096];
    json_t *s = NULL;
    if (ilr_path_join(path, sizeof path, train_dir, "train_summary.json") || !ilr_file_exists(path)) return fallback;
    if (ilr_json_load_file(path, &s)) {
        ilr_error_clear();
        return fallback;
    }
    double v = num_or_nan(json_object_get(s, "coop_share"));
    json_decref(s);
    return isfinite(v) ? v : fallback;
}

static double curve_mean(const ilr_plot_curve *p) {
    double s = 0;
    int n = 0;
    for (int i = 0; i < p->n; i++)
        if (isfinite(p->y[i])) s += p->y[i], n++;
    return n ? s / n : NAN;
}

int report_collect_train_dir(report_collect *c, const char *row, const char *train_dir, const char *const *agents,
                             int num_agents) {
    char log[4096];
    if (ilr_path_join(log, sizeof log, train_dir, "train_log.jsonl")) return ILR_FAIL(ILR_EINVAL, "path too long: %s", train_dir);
    if (!ilr_file_exists(log)) return 0;
    /* keys: per agent (prefixed) every curve alternative, then the plain ones, then the ILR keys */
    int per = NUM_CURVES * MAX_ALT, nk = (num_agents + 1) * per + NUM_ILR_KEYS;
    char **keys = calloc((size_t)nk, sizeof *keys);
    ilr_plot_curve *pts = calloc((size_t)nk, sizeof *pts);
    int rc = keys && pts ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int a = 0; !rc && a <= num_agents; a++)
        for (int k = 0; k < NUM_CURVES; k++)
            for (int j = 0; j < MAX_ALT; j++) {
                const char *key = curve_defs[k].keys[j];
                if (!key) key = "\x01none";
                size_t len = strlen(key) + (a < num_agents ? strlen(agents[a]) + 2 : 1);
                char *s = keys[a * per + k * MAX_ALT + j] = malloc(len);
                if (!s) { rc = ILR_FAIL(ILR_ENOMEM, "out of memory"); break; }
                if (a < num_agents) snprintf(s, len, "%s/%s", agents[a], key);
                else snprintf(s, len, "%s", key);
            }
    for (int i = 0; !rc && i < NUM_ILR_KEYS; i++)
        if (!(keys[(num_agents + 1) * per + i] = strdup(ilr_keys[i]))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (!rc) rc = ilr_plot_read_log(log, "step", (const char *const *)keys, nk, pts, NULL);
    for (int a = 0; !rc && a < num_agents; a++) {
        /* the prefixed keys when the log has any for this agent, else (one agent) the plain ones */
        int prefixed = 0;
        for (int i = 0; i < per; i++) prefixed |= pts[a * per + i].n > 0;
        if (!prefixed && num_agents > 1) continue;
        int base = prefixed ? a * per : num_agents * per;
        for (int k = 0; k < NUM_CURVES; k++) {
            for (int j = 0; j < MAX_ALT; j++) {
                const ilr_plot_curve *p = &pts[base + k * MAX_ALT + j];
                if (p->n == 0) continue;
                json_t *acc = report_obj(c->curves, row, agents[a], curve_defs[k].name, NULL);
                json_object_set_new(acc, "key", json_string(keys[base + k * MAX_ALT + j]));
                json_object_set_new(acc, "seeds", json_integer(json_integer_value(json_object_get(acc, "seeds")) + 1));
                report_acc_add(acc, p->x, p->y, p->n);
                break;
            }
        }
    }
    int has_ilr = 0;
    for (int i = 0; !rc && i < NUM_ILR_KEYS; i++) {
        const ilr_plot_curve *p = &pts[(num_agents + 1) * per + i];
        if (p->n == 0) continue;
        has_ilr = 1;
        json_t *r = report_obj(c->ilr, row, NULL);
        append_value(r, ilr_names[i], i == 0 ? summary_coop_share(train_dir, curve_mean(p)) : curve_mean(p));
        report_acc_add(report_obj(r, "steps", ilr_names[i], NULL), p->x, p->y, p->n);
    }
    if (!rc && has_ilr) rc = collect_irt(c, row, train_dir);
    for (int i = 0; keys && i < nk; i++) free(keys[i]);
    for (int i = 0; pts && i < nk; i++) ilr_plot_curve_free(&pts[i]);
    free(keys);
    free(pts);
    return rc;
}

/* ---- finishing ---- */

static double obs_num(const json_t *o, const char *k) { return num_or_nan(json_object_get(o, k)); }

static void finish_results(report_collect *c) {
    json_t *results = report_obj(c->rep, "results", NULL);
    const char *row, *agent, *bench, *metric;
    json_t *ra, *ab, *bm, *list;
    json_object_foreach(c->obs, row, ra) json_object_foreach(ra, agent, ab) json_object_foreach(ab, bench, bm)
        json_object_foreach(bm, metric, list) {
        int n = (int)json_array_size(list);
        double *x = malloc(sizeof *x * (n + 1));
        if (!x) continue;
        for (int i = 0; i < n; i++) x[i] = obs_num(json_array_get(list, i), "value");
        json_t *first = json_array_get(list, 0);
        json_object_set_new(report_obj(results, row, agent, bench, NULL), metric,
                            report_stat(x, n, obs_num(first, "lo"), obs_num(first, "hi"), "bootstrap over questions"));
        free(x);
    }
}

/* The paired bootstrap interval of a one-seed difference from the two evaluations' samples.jsonl. */
static void paired_interval(const char *dir_a, const char *dir_b, const char *bench, const char *metric, double *lo,
                            double *hi) {
    *lo = *hi = NAN;
    if (!dir_a || !dir_b) return;
    json_t *cmp = NULL;
    if (ilr_eval_compare(dir_a, dir_b, 1000, 1, &cmp)) {
        ilr_error_clear();
        return;
    }
    const json_t *ci = json_object_get(json_object_get(cmp, bench), strcmp(metric, "greedy") == 0 ? "greedy_diff_ci95" : "avg_diff_ci95");
    if (json_is_array(ci)) *lo = num_or_nan(json_array_get(ci, 0)), *hi = num_or_nan(json_array_get(ci, 1));
    json_decref(cmp);
}

/* ROW - AGAINST per agent, benchmark and metric, paired by seed (a null seed pairs with every seed). */
static void finish_differences(report_collect *c, const char *against) {
    json_t *base = json_object_get(c->obs, against);
    if (!base) return;
    json_t *diffs = report_obj(c->rep, "differences", against, NULL);
    const char *row, *agent, *bench, *metric;
    json_t *ra, *ab, *bm, *list;
    json_object_foreach(c->obs, row, ra) {
        if (strcmp(row, against) == 0) continue;
        json_object_foreach(ra, agent, ab) json_object_foreach(ab, bench, bm) json_object_foreach(bm, metric, list) {
            json_t *blist = json_object_get(json_object_get(json_object_get(base, agent), bench), metric);
            if (!blist) continue;
            size_t n = json_array_size(list), i, j;
            double *x = malloc(sizeof *x * (n + 1));
            int m = 0;
            const char *dir_a = NULL, *dir_b = NULL;
            for (i = 0; x && i < n; i++) {
                json_t *o = json_array_get(list, i), *seed = json_object_get(o, "seed");
                for (j = 0; j < json_array_size(blist); j++) {
                    json_t *b = json_array_get(blist, j), *bseed = json_object_get(b, "seed");
                    if (json_is_null(bseed) || json_equal(seed, bseed)) {
                        x[m++] = obs_num(o, "value") - obs_num(b, "value");
                        dir_a = json_string_value(json_object_get(o, "eval_dir"));
                        dir_b = json_string_value(json_object_get(b, "eval_dir"));
                        break;
                    }
                }
            }
            if (m > 0) {
                double lo = NAN, hi = NAN;
                if (m == 1) paired_interval(dir_a, dir_b, bench, metric, &lo, &hi);
                json_object_set_new(report_obj(diffs, row, agent, bench, NULL), metric,
                                    report_stat(x, m, lo, hi, "paired bootstrap over questions"));
            }
            free(x);
        }
    }
    if (json_object_size(diffs) == 0) json_object_del(report_obj(c->rep, "differences", NULL), against);
}

static void finish_curves(report_collect *c) {
    const char *row, *agent, *name;
    json_t *ra, *ac, *acc;
    json_object_foreach(c->curves, row, ra) json_object_foreach(ra, agent, ac) json_object_foreach(ac, name, acc)
        report_acc_finish(acc);
    json_object_set(c->rep, "curves", c->curves);
}

static void finish_ilr(report_collect *c) {
    const char *row;
    json_t *r;
    json_object_foreach(c->ilr, row, r) {
        for (int i = 0; i < NUM_ILR_KEYS; i++) {
            json_t *vals = json_object_get(r, ilr_names[i]);
            if (!json_is_array(vals)) continue;
            int n = (int)json_array_size(vals);
            double *x = malloc(sizeof *x * (n + 1));
            if (!x) continue;
            for (int k = 0; k < n; k++) x[k] = num_or_nan(json_array_get(vals, k));
            json_object_set_new(r, ilr_names[i], report_stat(x, n, NAN, NAN, NULL));
            free(x);
        }
        json_t *steps = json_object_get(r, "steps"), *acc;
        const char *k;
        json_object_foreach(steps, k, acc) report_acc_finish(acc);
    }
    json_object_set(c->rep, "ilr", c->ilr);
}

static void finish_compute(report_collect *c) {
    json_t *out = report_obj(c->rep, "compute", NULL);
    const char *row, *seed, *k;
    json_t *rs, *s, *v;
    static const char *const names[4] = {"generated_tokens", "trained_tokens", "train_seconds", "eval_seconds"};
    json_object_foreach(c->compute, row, rs) {
        json_t *o = report_obj(out, row, NULL);
        double n = (double)json_object_size(rs);
        json_object_set_new(o, "seeds", json_integer((json_int_t)n));
        for (int i = 0; i < 4; i++) {
            double sum = 0;
            int have = 0;
            json_object_foreach(rs, seed, s) {
                double x = num_or_nan(json_object_get(s, names[i]));
                if (isfinite(x)) sum += x, have++;
            }
            json_object_set_new(o, names[i], have ? json_real(sum / have) : json_null());
        }
        json_object_foreach(rs, seed, s) json_object_foreach(json_object_get(s, "agents"), k, v) {
            json_t *a = report_obj(o, "agents", k, NULL);
            for (int i = 0; i < 2; i++) {
                double x = num_or_nan(json_object_get(v, names[i])), old = num_or_nan(json_object_get(a, names[i]));
                if (isfinite(x)) json_object_set_new(a, names[i], json_real((isfinite(old) ? old : 0) + x / n));
            }
        }
    }
}

int report_collect_finish(report_collect *c, const char *const *against, int num_against) {
    finish_results(c);
    report_obj(c->rep, "differences", NULL);
    for (int i = 0; i < num_against; i++)
        if (against[i]) finish_differences(c, against[i]);
    finish_curves(c);
    finish_ilr(c);
    finish_compute(c);
    return 0;
}
