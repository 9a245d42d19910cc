/* What `ilr report DIR` reads (include/ilr/report.h): an experiment's experiment.json and its cells, a
 * training run's train_summary.json and train_log.jsonl, or an evaluation's summary.json. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/report.h"
#include "report_internal.h"

static double num_or_nan(const json_t *v) { return json_is_number(v) ? json_number_value(v) : NAN; }

/* dir/rel, or rel itself when absolute. */
static int resolve(char *out, size_t cap, const char *dir, const char *rel) {
    if (rel[0] == '/') return snprintf(out, cap, "%s", rel) < (int)cap ? 0 : ILR_FAIL(ILR_EINVAL, "path too long: %s", rel);
    return ilr_path_join(out, cap, dir, rel);
}

static void add_row(json_t *rows, const char *name) {
    size_t i;
    json_t *v;
    json_array_foreach(rows, i, v) if (strcmp(json_string_value(v), name) == 0) return;
    json_array_append_new(rows, json_string(name));
}

static void add_metric(json_t *metrics, const char *name) { add_row(metrics, name); }

/* The metrics that appear in results, greedy first. */
static void list_metrics(json_t *rep) {
    json_t *metrics = json_array(), *ra, *ab, *bm, *v;
    const char *row, *agent, *bench, *metric;
    json_object_foreach(json_object_get(rep, "results"), row, ra) json_object_foreach(ra, agent, ab)
        json_object_foreach(ab, bench, bm) json_object_foreach(bm, metric, v) add_metric(metrics, metric);
    json_t *sorted = json_array();
    size_t i;
    json_array_foreach(metrics, i, v) if (strcmp(json_string_value(v), "greedy") == 0) json_array_append(sorted, v);
    json_array_foreach(metrics, i, v) if (strcmp(json_string_value(v), "greedy") != 0) json_array_append(sorted, v);
    json_decref(metrics);
    json_object_set_new(rep, "metrics", sorted);
}

/* ---- an experiment ---- */

static int gather_cell(report_collect *c, const char *dir, json_t *cell, json_t *rep) {
    const char *id = json_string_value(json_object_get(cell, "id"));
    const char *method = json_string_value(json_object_get(cell, "method"));
    const char *rel = json_string_value(json_object_get(cell, "dir"));
    json_t *seed = json_object_get(cell, "seed"), *models = json_object_get(cell, "models");
    if (!id || !method) return ILR_FAIL(ILR_EFORMAT, "%s/experiment.json: a cell without a string \"id\" and \"method\"", dir);
    const char *status = json_string_value(json_object_get(cell, "status"));
    if (!status || strcmp(status, "done") != 0) {
        const char *err = json_string_value(json_object_get(cell, "error"));
        char text[1024];
        snprintf(text, sizeof text, "%s: %s%s%s", id, status ? status : "no status", err ? ": " : "", err ? err : "");
        json_array_append_new(json_object_get(rep, "missing"), json_string(text));
        return 0;
    }
    add_row(json_object_get(rep, "rows"), method);
    char path[4096];
    const char *agents[64];
    int num_agents = 0;
    double train_s = num_or_nan(json_object_get(cell, "train_seconds"));
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *agent = json_string_value(json_object_get(m, "agent"));
        const char *eval_dir = json_string_value(json_object_get(m, "eval_dir"));
        json_t *summary = json_object_get(m, "summary");
        if (!agent) return ILR_FAIL(ILR_EFORMAT, "%s/experiment.json: cell %s: a model without \"agent\"", dir, id);
        if (num_agents < 64) agents[num_agents++] = agent;
        if (eval_dir && resolve(path, sizeof path, dir, eval_dir)) return ILR_EINVAL;
        if (json_is_object(summary)) {
            int rc = report_collect_eval(c, method, agent, seed, summary, eval_dir ? path : NULL);
            if (rc) return ilr_error_prefix("%s/experiment.json: cell %s", dir, id);
        }
        report_collect_compute(c, method, seed, agent, num_or_nan(json_object_get(m, "generated_tokens")),
                               num_or_nan(json_object_get(m, "trained_tokens")), i == 0 ? train_s : NAN,
                               json_is_object(summary) ? report_eval_seconds(summary) : NAN);
    }
    if (rel && num_agents > 0) {
        if (resolve(path, sizeof path, dir, rel)) return ILR_EINVAL;
        int rc = report_collect_train_dir(c, method, path, agents, num_agents);
        if (rc) return rc;
    }
    return 0;
}

static void experiment_settings(json_t *exp, json_t *rep) {
    json_t *s = json_object(), *v;
    static const char *const keys[] = {"name", "file", "baseline", "seeds", "eval", "seconds"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if ((v = json_object_get(exp, keys[i]))) json_object_set(s, keys[i], v);
    json_t *agents = json_array(), *methods = json_array(), *a;
    size_t i;
    json_array_foreach(json_object_get(exp, "agents"), i, a) {
        json_t *n = json_object_get(a, "name");
        if (json_is_string(n)) json_array_append(agents, n);
    }
    json_array_foreach(json_object_get(exp, "methods"), i, a) {
        json_t *n = json_object_get(a, "name");
        if (json_is_string(n)) json_array_append(methods, n);
    }
    json_object_set_new(s, "agents", agents);
    json_object_set_new(s, "methods", methods);
    json_object_set_new(rep, "settings", s);
}

int report_gather_experiment(const char *dir, json_t *exp, json_t *rep) {
    json_t *cells = json_object_get(exp, "cells");
    if (!json_is_array(cells))
        return ILR_FAIL(ILR_EFORMAT, "%s/experiment.json: \"cells\" must be an array, not %s", dir, ilr_json_type_name(cells));
    const char *name = json_string_value(json_object_get(exp, "name"));
    char title[512];
    snprintf(title, sizeof title, "Experiment %s", name ? name : dir);
    json_object_set_new(rep, "title", json_string(title));
    experiment_settings(exp, rep);
    json_t *baseline = json_object_get(exp, "baseline");
    json_object_set(rep, "baseline", json_is_string(baseline) ? baseline : json_null());
    report_collect c = {rep, json_object(), json_object(), json_object(), json_object()};
    /* rows in the order base, the methods as listed, then any other method a cell names */
    size_t i;
    json_t *cell, *m;
    json_array_foreach(cells, i, cell) {
        const char *method = json_string_value(json_object_get(cell, "method"));
        if (method && strcmp(method, "base") == 0) add_row(json_object_get(rep, "rows"), "base");
    }
    int rc = 0;
    json_array_foreach(cells, i, cell) if (!rc) rc = gather_cell(&c, dir, cell, rep);
    /* reorder rows: base, listed methods, the rest */
    json_t *rows = json_object_get(rep, "rows"), *ordered = json_array(), *r;
    size_t j;
    json_array_foreach(rows, j, r) if (strcmp(json_string_value(r), "base") == 0) add_row(ordered, "base");
    json_array_foreach(json_object_get(exp, "methods"), i, m) {
        const char *n = json_string_value(json_object_get(m, "name"));
        json_array_foreach(rows, j, r) if (n && strcmp(json_string_value(r), n) == 0) add_row(ordered, n);
    }
    json_array_foreach(rows, j, r) add_row(ordered, json_string_value(r));
    json_object_set_new(rep, "rows", ordered);
    json_object_set_new(rep, "complete", json_boolean(json_array_size(json_object_get(rep, "missing")) == 0 &&
                                                      json_is_true(json_object_get(exp, "complete"))));
    const char *against[2] = {json_string_value(baseline), "base"};
    if (against[0] && strcmp(against[0], "base") == 0) against[1] = NULL;
    if (!rc) rc = report_collect_finish(&c, against, 2);
    json_decref(c.obs), json_decref(c.curves), json_decref(c.ilr), json_decref(c.compute);
    return rc;
}

/* ---- a training run ---- */

/* The agents a run trained: train_summary.json's "agents" (ILR), else the one agent "agent". */
static int run_agents(json_t *summary, const char **agents, int cap) {
    int n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(summary, "agents"), k, v) if (n < cap) agents[n++] = k;
    if (n == 0) agents[n++] = "agent";
    return n;
}

/* The run's own evaluation before and after training (train_summary.json's test_before/test_after: greedy,
 * and sampled as avg@K with K = sampled examples / greedy examples). */
static void run_results(report_collect *c, const char *method, const char *agent, json_t *s) {
    static const char *const when[2][2] = {{"test_before", "test_sampled_before"}, {"test_after", "test_sampled_after"}};
    json_t *seed = json_integer(1);
    for (int w = 0; w < 2; w++) {
        const char *row = w ? method : "start";
        json_t *g = json_object_get(s, when[w][0]), *sm = json_object_get(s, when[w][1]);
        double ge = num_or_nan(json_object_get(g, "examples")), se = num_or_nan(json_object_get(sm, "examples"));
        if (json_is_number(json_object_get(g, "accuracy")))
            report_collect_value(c, row, agent, "test", "greedy", seed, num_or_nan(json_object_get(g, "accuracy")), NAN,
                                 NAN, NULL);
        if (json_is_number(json_object_get(sm, "accuracy"))) {
            char metric[32] = "avg";
            if (ge > 0 && se > 0 && fmod(se, ge) == 0) snprintf(metric, sizeof metric, "avg@%.0f", se / ge);
            report_collect_value(c, row, agent, "test", metric, seed, num_or_nan(json_object_get(sm, "accuracy")), NAN,
                                 NAN, NULL);
        }
        if (json_object_get(c->obs, row)) add_row(json_object_get(c->rep, "rows"), row);
    }
    json_decref(seed);
}

int report_gather_run(const char *dir, json_t *rep) {
    char path[4096];
    json_t *summary = NULL;
    int rc = ilr_path_join(path, sizeof path, dir, "train_summary.json");
    if (!rc && ilr_file_exists(path)) rc = ilr_json_load_file(path, &summary);
    if (rc) return rc;
    if (!summary) summary = json_object(); /* a run still going (or killed): the log alone */
    const char *method = json_string_value(json_object_get(summary, "method"));
    if (!method) method = "run";
    char title[4200];
    snprintf(title, sizeof title, "Training run %s", dir);
    json_object_set_new(rep, "title", json_string(title));
    json_t *settings = json_object(), *v;
    json_object_set_new(settings, "method", json_string(method));
    static const char *const keys[] = {"steps", "seconds", "timed_out", "coop_share"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if ((v = json_object_get(summary, keys[i]))) json_object_set(settings, keys[i], v);
    if (!ilr_path_join(path, sizeof path, dir, "config.yaml") && ilr_file_exists(path))
        json_object_set_new(settings, "config", json_string(path));
    json_object_set_new(rep, "settings", settings);
    json_object_set_new(rep, "baseline", json_string("start"));
    json_object_set_new(rep, "complete", json_boolean(json_object_size(summary) > 0));
    if (json_object_size(summary) == 0)
        json_array_append_new(json_object_get(rep, "missing"), json_string("train_summary.json: the run has not finished"));
    report_collect c = {rep, json_object(), json_object(), json_object(), json_object()};
    const char *agents[64];
    int n = run_agents(summary, agents, 64);
    json_t *one = json_integer(1);
    for (int a = 0; a < n; a++) {
        json_t *s = json_object_get(json_object_get(summary, "agents"), agents[a]);
        if (!s) s = summary;
        run_results(&c, method, agents[a], s);
        report_collect_compute(&c, method, one, agents[a], num_or_nan(json_object_get(s, "generated_tokens")),
                               num_or_nan(json_object_get(s, "trained_tokens")),
                               a == 0 ? num_or_nan(json_object_get(summary, "seconds")) : NAN, NAN);
    }
    json_decref(one);
    add_row(json_object_get(rep, "rows"), method);
    rc = report_collect_train_dir(&c, method, dir, agents, n);
    const char *against[1] = {"start"};
    if (!rc) rc = report_collect_finish(&c, against, 1);
    json_decref(c.obs), json_decref(c.curves), json_decref(c.ilr), json_decref(c.compute);
    json_decref(summary);
    return rc;
}

/* ---- an evaluation ---- */

int report_gather_eval(const char *dir, json_t *summary, json_t *rep) {
    json_t *benches = json_object_get(summary, "benchmarks");
    if (!json_is_object(benches))
        return ILR_FAIL(ILR_EFORMAT, "%s/summary.json: \"benchmarks\" must be an object, not %s", dir,
                        ilr_json_type_name(benches));
    const char *model = json_string_value(json_object_get(summary, "model"));
    if (!model) model = "model";
    char title[4200];
    snprintf(title, sizeof title, "Evaluation of %s", model);
    json_object_set_new(rep, "title", json_string(title));
    json_t *settings = json_object();
    json_object_set_new(settings, "model", json_string(model));
    json_t *s = json_object_get(summary, "settings");
    if (json_is_object(s)) json_object_update(settings, s);
    json_object_set_new(rep, "settings", settings);
    json_object_set_new(rep, "baseline", json_null());
    json_object_set_new(rep, "complete", json_true());
    report_collect c = {rep, json_object(), json_object(), json_object(), json_object()};
    int rc = report_collect_eval(&c, "eval", model, NULL, benches, dir);
    /* the paper's five-benchmark average, when the evaluation has it */
    const char *k;
    json_t *v;
    json_object_foreach(summary, k, v) {
        if (strncmp(k, "five_benchmark_average_", 23) != 0 || !json_is_number(v)) continue;
        report_collect_value(&c, "eval", model, "five-benchmark average", k + 23, NULL, json_number_value(v), NAN, NAN, NULL);
    }
    report_collect_compute(&c, "eval", NULL, NULL, NAN, NAN, NAN, report_eval_seconds(benches));
    add_row(json_object_get(rep, "rows"), "eval");
    if (!rc) rc = report_collect_finish(&c, NULL, 0);
    json_decref(c.obs), json_decref(c.curves), json_decref(c.ilr), json_decref(c.compute);
    return rc;
}

/* ---- which kind ---- */

int ilr_report_build(const char *dir, json_t **report) {
    *report = NULL;
    if (!ilr_dir_exists(dir)) return ILR_FAIL(ILR_ENOTFOUND, "%s: no such directory", dir);
    char exp[4096], summary[4096], log[4096], eval[4096];
    if (ilr_path_join(exp, sizeof exp, dir, "experiment.json") || ilr_path_join(summary, sizeof summary, dir, "train_summary.json") ||
        ilr_path_join(log, sizeof log, dir, "train_log.jsonl") || ilr_path_join(eval, sizeof eval, dir, "summary.json"))
        return ILR_FAIL(ILR_EINVAL, "path too long: %s", dir);
    json_t *rep = json_object(), *doc = NULL;
    json_object_set_new(rep, "report", json_integer(1));
    json_object_set_new(rep, "kind", json_null());
    json_object_set_new(rep, "dir", json_string(dir));
    json_object_set_new(rep, "missing", json_array());
    json_object_set_new(rep, "rows", json_array());
    int rc;
    if (ilr_file_exists(exp)) {
        json_object_set_new(rep, "kind", json_string("experiment"));
        rc = ilr_json_load_file(exp, &doc);
        if (!rc && !json_is_object(doc)) rc = ILR_FAIL(ILR_EFORMAT, "%s: expected a JSON object", exp);
        if (!rc) rc = report_gather_experiment(dir, doc, rep);
    } else if (ilr_file_exists(summary) || ilr_file_exists(log)) {
        json_object_set_new(rep, "kind", json_string("run"));
        rc = report_gather_run(dir, rep);
    } else if (ilr_file_exists(eval)) {
        json_object_set_new(rep, "kind", json_string("eval"));
        rc = ilr_json_load_file(eval, &doc);
        if (!rc && !json_is_object(doc)) rc = ILR_FAIL(ILR_EFORMAT, "%s: expected a JSON object", eval);
        if (!rc) rc = report_gather_eval(dir, doc, rep);
    } else {
        rc = ILR_FAIL(ILR_ENOTFOUND,
                      "%s is not an experiment, a training run or an evaluation: it has no experiment.json "
                      "(ilr experiment), no train_summary.json or train_log.jsonl (ilr train) and no summary.json "
                      "(ilr eval)", dir);
    }
    json_decref(doc);
    if (!rc) list_metrics(rep);
    if (rc) json_decref(rep);
    else *report = rep;
    return rc;
}
