/* The report's pages (include/ilr/report.h): one walk over report.json — title and settings, missing cells,
 * results, differences, curves, ILR interaction and calibration, compute — written through a sink that is
 * either HTML (inline CSS and SVG, every number in an element with data-key) or Markdown (the same tables;
 * the charts are in the HTML page). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/plot.h"
#include "ilr/report.h"
#include "report_internal.h"

typedef struct {
    FILE *f;
    int html;
    int col; /* cells written in the current row (Markdown) */
} sink;

static void esc(sink *s, const char *t) {
    for (; t && *t; t++) {
        if (s->html && *t == '<') fputs("&lt;", s->f);
        else if (s->html && *t == '>') fputs("&gt;", s->f);
        else if (s->html && *t == '&') fputs("&amp;", s->f);
        else if (s->html && *t == '"') fputs("&quot;", s->f);
        else if (!s->html && (*t == '|' || *t == '*' || *t == '_' || *t == '`')) fprintf(s->f, "\\%c", *t);
        else if (!s->html && *t == '\n') fputc(' ', s->f);
        else fputc(*t, s->f);
    }
}

static void heading(sink *s, int level, const char *text) {
    if (s->html) fprintf(s->f, "<h%d>", level), esc(s, text), fprintf(s->f, "</h%d>\n", level);
    else fprintf(s->f, "\n%.*s ", level, "######"), esc(s, text), fputs("\n\n", s->f);
}

static void para(sink *s, const char *text) {
    if (s->html) fputs("<p>", s->f), esc(s, text), fputs("</p>\n", s->f);
    else esc(s, text), fputs("\n\n", s->f);
}

static void table_begin(sink *s, const char *const *headers, int n) {
    if (s->html) {
        fputs("<table>\n<tr>", s->f);
        for (int i = 0; i < n; i++) fputs("<th>", s->f), esc(s, headers[i]), fputs("</th>", s->f);
        fputs("</tr>\n", s->f);
    } else {
        fputs("|", s->f);
        for (int i = 0; i < n; i++) fputs(" ", s->f), esc(s, headers[i]), fputs(" |", s->f);
        fputs("\n|", s->f);
        for (int i = 0; i < n; i++) fputs(i < 1 ? "---|" : "---:|", s->f);
        fputs("\n", s->f);
    }
}
static void table_end(sink *s) { fputs(s->html ? "</table>\n" : "\n", s->f); }
static void row_begin(sink *s) { fputs(s->html ? "<tr>" : "|", s->f); }
static void row_end(sink *s) { fputs(s->html ? "</tr>\n" : "\n", s->f); }
static void cell_open(sink *s) { fputs(s->html ? "<td>" : " ", s->f); }
static void cell_close(sink *s) { fputs(s->html ? "</td>" : " |", s->f); }

static void cell_text(sink *s, const char *text) { cell_open(s), esc(s, text), cell_close(s); }

/* A number with its JSON pointer (HTML: a span with data-key, and data-scale when in percent). */
static void number(sink *s, const json_t *v, const char *path, report_fmt fmt) {
    char text[64];
    report_format(text, sizeof text, v, fmt);
    if (s->html && json_is_number(v)) {
        fputs("<span data-key=\"", s->f), esc(s, path), fputs("\"", s->f);
        if (fmt == REPORT_PCT) fputs(" data-scale=\"100\"", s->f);
        fprintf(s->f, ">%s</span>", text);
    } else fputs(text, s->f);
}

static void cell_number(sink *s, const json_t *v, const char *path, report_fmt fmt) {
    cell_open(s), number(s, v, path, fmt), cell_close(s);
}

/* A STAT: mean [lo, hi]. */
static void cell_stat(sink *s, const json_t *stat, const char *path, report_fmt fmt) {
    char p[1024];
    cell_open(s);
    snprintf(p, sizeof p, "%s/mean", path);
    number(s, json_object_get(stat, "mean"), p, fmt);
    if (json_is_number(json_object_get(stat, "lo"))) {
        fputs(s->html ? " <span class=\"ci\">[" : " [", s->f);
        snprintf(p, sizeof p, "%s/lo", path);
        number(s, json_object_get(stat, "lo"), p, fmt);
        fputs(", ", s->f);
        snprintf(p, sizeof p, "%s/hi", path);
        number(s, json_object_get(stat, "hi"), p, fmt);
        fputs(s->html ? "]</span>" : "]", s->f);
    }
    cell_close(s);
}

static void cell_stat_n(sink *s, const json_t *stat, const char *path) {
    char p[1024];
    snprintf(p, sizeof p, "%s/n", path);
    cell_number(s, json_object_get(stat, "n"), p, REPORT_INT);
}

static void path_of(char *out, size_t cap, const char *const *keys, int n) {
    out[0] = 0;
    for (int i = 0; i < n; i++) report_path_push(out, cap, keys[i]);
}

/* ---- sections ---- */

/* A settings value as text, numbers with their paths. */
static void setting_value(sink *s, const json_t *v, char *path, size_t cap) {
    size_t len = strlen(path), i;
    const char *k;
    json_t *e;
    if (json_is_integer(v)) number(s, v, path, REPORT_INT);
    else if (json_is_real(v)) number(s, v, path, REPORT_REAL);
    else if (json_is_string(v)) esc(s, json_string_value(v));
    else if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            char idx[32];
            snprintf(idx, sizeof idx, "%zu", i);
            if (i) fputs(", ", s->f);
            report_path_push(path, cap, idx);
            setting_value(s, e, path, cap);
            path[len] = 0;
        }
    } else if (json_is_object(v)) {
        int first = 1;
        json_object_foreach((json_t *)v, k, e) {
            fputs(first ? "" : "; ", s->f), first = 0;
            esc(s, k), fputs(" ", s->f);
            report_path_push(path, cap, k);
            setting_value(s, e, path, cap);
            path[len] = 0;
        }
    } else fputs(json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null", s->f);
}

static void section_settings(sink *s, const json_t *rep) {
    const char *headers[2] = {"setting", "value"};
    table_begin(s, headers, 2);
    row_begin(s), cell_text(s, "kind"), cell_text(s, json_string_value(json_object_get(rep, "kind"))), row_end(s);
    row_begin(s), cell_text(s, "directory"), cell_text(s, json_string_value(json_object_get(rep, "dir"))), row_end(s);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(rep, "settings"), k, v) {
        char path[1024] = "";
        const char *keys[2] = {"settings", k};
        path_of(path, sizeof path, keys, 2);
        row_begin(s), cell_text(s, k), cell_open(s), setting_value(s, v, path, sizeof path), cell_close(s), row_end(s);
    }
    table_end(s);
    json_t *missing = json_object_get(rep, "missing");
    if (json_array_size(missing)) {
        heading(s, 3, "Not done (left out of every table)");
        size_t i;
        json_array_foreach(missing, i, v) {
            fputs(s->html ? "<p class=\"warn\">" : "- ", s->f);
            esc(s, json_string_value(v));
            fputs(s->html ? "</p>\n" : "\n", s->f);
        }
        if (!s->html) fputs("\n", s->f);
    }
}

/* results or differences/AGAINST: a row per (row, agent, benchmark), a column per metric. */
static void stat_table(sink *s, const json_t *rep, const json_t *tree, const char *root, const char *against) {
    const json_t *metrics = json_object_get(rep, "metrics");
    int nm = (int)json_array_size(metrics);
    const char *headers[16] = {"method", "agent", "benchmark"};
    char names[12][80];
    for (int m = 0; m < nm && m < 12; m++)
        snprintf(names[m], sizeof names[m], "%s%s (95 %% CI)", json_string_value(json_array_get(metrics, m)),
                 against ? " diff" : ""), headers[3 + m] = names[m];
    if (nm > 12) nm = 12;
    headers[3 + nm] = "n";
    table_begin(s, headers, 4 + nm);
    size_t r;
    json_t *rowname;
    json_array_foreach(json_object_get(rep, "rows"), r, rowname) {
        const char *row = json_string_value(rowname), *agent, *bench;
        json_t *ab, *bm;
        json_object_foreach(json_object_get(tree, row), agent, ab) json_object_foreach(ab, bench, bm) {
            row_begin(s);
            cell_text(s, row), cell_text(s, agent), cell_text(s, bench);
            const json_t *any = NULL;
            char base[1024];
            for (int m = 0; m < nm; m++) {
                const char *metric = json_string_value(json_array_get(metrics, m));
                const json_t *st = json_object_get(bm, metric);
                const char *keys[6] = {root, row, agent, bench, metric};
                const char *dkeys[7] = {root, against, row, agent, bench, metric};
                if (against) path_of(base, sizeof base, dkeys, 6);
                else path_of(base, sizeof base, keys, 5);
                if (st) cell_stat(s, st, base, REPORT_PCT), any = any ? any : st;
                else cell_text(s, "\u2014");
            }
            if (any) {
                for (int m = 0; m < nm; m++) {
                    const char *metric = json_string_value(json_array_get(metrics, m));
                    if (json_object_get(bm, metric) == any) {
                        const char *keys[6] = {root, row, agent, bench, metric};
                        const char *dkeys[7] = {root, against, row, agent, bench, metric};
                        if (against) path_of(base, sizeof base, dkeys, 6);
                        else path_of(base, sizeof base, keys, 5);
                        break;
                    }
                }
                cell_stat_n(s, any, base);
            } else cell_text(s, "\u2014");
            row_end(s);
        }
    }
    table_end(s);
}

static void section_results(sink *s, const json_t *rep) {
    heading(s, 2, "Results");
    para(s, "Accuracy in percent of each model alone: the mean over seeds with its 95 % interval (Student's t over "
            "the seeds; with one seed, the evaluation's bootstrap over questions), and n, the seeds.");
    stat_table(s, rep, json_object_get(rep, "results"), "results", NULL);
    const char *against;
    json_t *tree;
    json_object_foreach(json_object_get(rep, "differences"), against, tree) {
        char title[256];
        snprintf(title, sizeof title, "Paired differences: method \u2212 %s", against);
        heading(s, 3, title);
        para(s, "Percentage points, paired by agent and seed; 95 % interval by Student's t over the per-seed "
                "differences (one seed: the paired bootstrap over questions of the two evaluations).");
        stat_table(s, rep, tree, "differences", against);
    }
}

/* An SVG chart inline (HTML only). */
static void chart(sink *s, const ilr_plot_series *series, int n, const ilr_plot_options *opt) {
    if (!s->html) return;
    char *svg = NULL;
    if (ilr_plot_svg(series, n, opt, &svg)) {
        ilr_error_clear();
        return;
    }
    const char *body = strstr(svg, "<svg");
    fputs("<figure>", s->f);
    fputs(body ? body : svg, s->f);
    fputs("</figure>\n", s->f);
    free(svg);
}

/* A curve object {"step": [..], "value": [..]} as a series (arrays malloc'ed into xs/ys). */
static int curve_series(const json_t *c, const char *name, ilr_plot_series *out, double **xs, double **ys) {
    const json_t *x = json_object_get(c, "step"), *y = json_object_get(c, "value");
    int n = (int)json_array_size(x);
    *xs = malloc(sizeof **xs * (n + 1)), *ys = malloc(sizeof **ys * (n + 1));
    if (!*xs || !*ys) return 0;
    for (int i = 0; i < n; i++) {
        (*xs)[i] = json_number_value(json_array_get(x, i));
        (*ys)[i] = json_number_value(json_array_get(y, i));
    }
    *out = (ilr_plot_series){name, *xs, *ys, n};
    return 1;
}

static void section_curves(sink *s, const json_t *rep) {
    const json_t *curves = json_object_get(rep, "curves");
    if (json_object_size(curves) == 0) return;
    heading(s, 2, "Training curves");
    para(s, s->html ? "Per training step, each method's mean over its seeds (a step counts the seeds that logged it); "
                      "the log key is in each legend.  Only the curves the logs have are drawn."
                    : "The training curves (reward, accuracy, KL where logged, completion length) are charts in report.html.");
    if (!s->html) return;
    static const char *const names[4] = {"reward", "accuracy", "kl", "length"};
    /* the agents in order of first appearance */
    json_t *agents = json_array();
    const char *row, *agent;
    json_t *ra, *ac;
    json_object_foreach((json_t *)curves, row, ra) json_object_foreach(ra, agent, ac) {
        size_t i;
        json_t *a;
        int seen = 0;
        json_array_foreach(agents, i, a) seen |= strcmp(json_string_value(a), agent) == 0;
        if (!seen) json_array_append_new(agents, json_string(agent));
    }
    for (int k = 0; k < 4; k++) {
        size_t i;
        json_t *a;
        json_array_foreach(agents, i, a) {
            ilr_plot_series series[32];
            double *xs[32] = {0}, *ys[32] = {0};
            char labels[32][256];
            int n = 0;
            json_object_foreach((json_t *)curves, row, ra) {
                const json_t *c = json_object_get(json_object_get(ra, json_string_value(a)), names[k]);
                if (!c || n >= 32) continue;
                snprintf(labels[n], sizeof labels[n], "%s (%s, %lld seed%s)", row,
                         json_string_value(json_object_get(c, "key")),
                         (long long)json_integer_value(json_object_get(c, "seeds")),
                         json_integer_value(json_object_get(c, "seeds")) == 1 ? "" : "s");
                if (curve_series(c, labels[n], &series[n], &xs[n], &ys[n])) n++;
                else free(xs[n]), free(ys[n]), xs[n] = ys[n] = NULL;
            }
            if (n > 0) {
                char title[256];
                snprintf(title, sizeof title, "%s \u2014 %s", names[k], json_string_value(a));
                ilr_plot_options opt = ilr_plot_default_options();
                opt.title = title, opt.x_label = "step", opt.y_label = names[k];
                chart(s, series, n, &opt);
            }
            for (int j = 0; j < 32; j++) free(xs[j]), free(ys[j]);
        }
    }
    json_decref(agents);
}

static void histogram(sink *s, const json_t *h, const json_t *gamma, const char *row) {
    const json_t *edges = json_object_get(h, "edges"), *counts = json_object_get(h, "counts");
    int bins = (int)json_array_size(counts);
    if (bins < 1 || !s->html) return;
    /* the bars as a step outline, each ability as a vertical line from 0 to the tallest bar */
    double *x = malloc(sizeof *x * (2 * bins + 2)), *y = malloc(sizeof *y * (2 * bins + 2)), top = 0;
    if (!x || !y) {
        free(x), free(y);
        return;
    }
    int n = 0;
    for (int b = 0; b < bins; b++) {
        double c = (double)json_integer_value(json_array_get(counts, b));
        top = fmax(top, c);
        x[n] = json_number_value(json_array_get(edges, b)), y[n++] = c;
        x[n] = json_number_value(json_array_get(edges, b + 1)), y[n++] = c;
    }
    ilr_plot_series series[17];
    double gx[16][2], gy[16][2];
    char labels[16][128];
    int ns = 0;
    series[ns++] = (ilr_plot_series){"training questions", x, y, n};
    const char *agent;
    json_t *g;
    json_object_foreach((json_t *)gamma, agent, g) {
        if (ns > 16 || !json_is_number(g)) continue;
        int i = ns - 1;
        gx[i][0] = gx[i][1] = json_number_value(g);
        gy[i][0] = 0, gy[i][1] = top;
        snprintf(labels[i], sizeof labels[i], "ability \u03b3 of %s", agent);
        series[ns++] = (ilr_plot_series){labels[i], gx[i], gy[i], 2};
    }
    char title[256];
    snprintf(title, sizeof title, "difficulty of the training questions \u2014 %s", row);
    ilr_plot_options opt = ilr_plot_default_options();
    opt.title = title, opt.x_label = "difficulty D (IRT, 1PL)", opt.y_label = "questions", opt.y_min = 0;
    opt.y_max = top > 0 ? top * 1.05 : 1;
    chart(s, series, ns, &opt);
    free(x), free(y);
}

static void section_ilr(sink *s, const json_t *rep) {
    const json_t *ilr = json_object_get(rep, "ilr");
    if (json_object_size(ilr) == 0) return;
    heading(s, 2, "Interaction and calibration (ILR)");
    para(s, "coop share: the share of training questions solved cooperatively (IRT: cooperate when the agents' "
            "mean P < 0.5); calibration: the mean |calibrated \u2212 raw reward| per rollout and the share of "
            "peer terms clipped, averaged over steps; mean over seeds with a t interval.");
    const char *headers[7] = {"method", "coop share % (95 % CI)", "n", "mean |shift| (95 % CI)", "n",
                              "clipped % (95 % CI)", "n"};
    table_begin(s, headers, 7);
    const char *row;
    json_t *r;
    static const char *const keys[3] = {"coop_share", "mean_abs_shift", "clipped_share"};
    static const report_fmt fmts[3] = {REPORT_PCT, REPORT_REAL, REPORT_PCT};
    json_object_foreach((json_t *)ilr, row, r) {
        row_begin(s), cell_text(s, row);
        for (int k = 0; k < 3; k++) {
            char path[1024] = "";
            const char *p[3] = {"ilr", row, keys[k]};
            path_of(path, sizeof path, p, 3);
            const json_t *st = json_object_get(r, keys[k]);
            if (st) cell_stat(s, st, path, fmts[k]), cell_stat_n(s, st, path);
            else cell_text(s, "\u2014"), cell_text(s, "\u2014");
        }
        row_end(s);
    }
    table_end(s);
    json_object_foreach((json_t *)ilr, row, r) {
        const json_t *gamma = json_object_get(r, "gamma"), *h = json_object_get(r, "difficulty");
        if (json_object_size(gamma) || h) {
            char title[256];
            snprintf(title, sizeof title, "%s: abilities and difficulties", row);
            heading(s, 3, title);
            const char *hd[2] = {"", "value"};
            table_begin(s, hd, 2);
            const char *agent;
            json_t *g;
            json_object_foreach((json_t *)gamma, agent, g) {
                char path[1024] = "", label[256];
                const char *p[4] = {"ilr", row, "gamma", agent};
                path_of(path, sizeof path, p, 4);
                snprintf(label, sizeof label, "ability \u03b3 of %s", agent);
                row_begin(s), cell_text(s, label), cell_number(s, g, path, REPORT_REAL), row_end(s);
            }
            if (h) {
                char path[1024] = "";
                const char *p[4] = {"ilr", row, "difficulty", "questions"};
                path_of(path, sizeof path, p, 4);
                row_begin(s), cell_text(s, "training questions with a difficulty");
                cell_number(s, json_object_get(h, "questions"), path, REPORT_INT), row_end(s);
                row_begin(s), cell_text(s, "from"), cell_text(s, json_string_value(json_object_get(h, "from"))), row_end(s);
            }
            table_end(s);
            histogram(s, h, gamma, row);
        }
        const json_t *steps = json_object_get(r, "steps");
        if (s->html && json_object_size(steps)) {
            ilr_plot_series series[3];
            double *xs[3] = {0}, *ys[3] = {0};
            int n = 0;
            for (int k = 0; k < 3; k++) {
                const json_t *c = json_object_get(steps, keys[k]);
                if (c && curve_series(c, keys[k], &series[n], &xs[n], &ys[n])) n++;
            }
            char title[256];
            snprintf(title, sizeof title, "interaction and calibration per step \u2014 %s (mean over seeds)", row);
            ilr_plot_options opt = ilr_plot_default_options();
            opt.title = title, opt.x_label = "step", opt.y_min = 0;
            chart(s, series, n, &opt);
            for (int k = 0; k < 3; k++) free(xs[k]), free(ys[k]);
        }
    }
}

static void section_compute(sink *s, const json_t *rep) {
    const json_t *compute = json_object_get(rep, "compute");
    if (json_object_size(compute) == 0) return;
    heading(s, 2, "Compute");
    para(s, "Per method, the mean over seeds of the totals of its cells: tokens generated and trained on (all "
            "agents, then each agent), and wall time of training and of the evaluations, in seconds.");
    const char *headers[7] = {"method", "agent", "seeds", "generated tokens", "trained tokens", "train s", "eval s"};
    table_begin(s, headers, 7);
    static const char *const keys[4] = {"generated_tokens", "trained_tokens", "train_seconds", "eval_seconds"};
    const char *row;
    json_t *c;
    json_object_foreach((json_t *)compute, row, c) {
        row_begin(s), cell_text(s, row), cell_text(s, "all");
        char path[1024] = "";
        const char *p0[3] = {"compute", row, "seeds"};
        path_of(path, sizeof path, p0, 3);
        cell_number(s, json_object_get(c, "seeds"), path, REPORT_INT);
        for (int k = 0; k < 4; k++) {
            const char *p[3] = {"compute", row, keys[k]};
            path_of(path, sizeof path, p, 3);
            cell_number(s, json_object_get(c, keys[k]), path, k < 2 ? REPORT_INT : REPORT_SEC);
        }
        row_end(s);
        const char *agent;
        json_t *a;
        json_object_foreach(json_object_get(c, "agents"), agent, a) {
            row_begin(s), cell_text(s, row), cell_text(s, agent), cell_text(s, "");
            for (int k = 0; k < 2; k++) {
                const char *p[5] = {"compute", row, "agents", agent, keys[k]};
                path_of(path, sizeof path, p, 5);
                cell_number(s, json_object_get(a, keys[k]), path, REPORT_INT);
            }
            cell_text(s, ""), cell_text(s, "");
            row_end(s);
        }
    }
    table_end(s);
}

static const char css[] =
    "body{font-family:'DejaVu Sans',sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222;"
    "background:#fff;line-height:1.4}\n"
    "h1{font-size:1.6em;border-bottom:2px solid #0072b2}h2{font-size:1.3em;margin-top:1.6em;color:#0072b2}\n"
    "table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
    "th{background:#eef3f8}td:first-child,th:first-child{text-align:left}.ci{color:#666;font-size:.9em}\n"
    "td:nth-child(2):last-child,th:nth-child(2):last-child{text-align:left}\n" /* the settings: text */
    ".warn{color:#a33}figure{margin:8px 0}svg{max-width:100%;height:auto}\n";

static int render(const json_t *rep, int html, char **out) {
    char *buf = NULL;
    size_t len = 0;
    sink s = {open_memstream(&buf, &len), html, 0};
    if (!s.f) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    const char *title = json_string_value(json_object_get(rep, "title"));
    if (html) {
        fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", s.f);
        esc(&s, title);
        fprintf(s.f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
    }
    heading(&s, 1, title ? title : "ilr report");
    section_settings(&s, rep);
    section_results(&s, rep);
    section_curves(&s, rep);
    section_ilr(&s, rep);
    section_compute(&s, rep);
    para(&s, "Written by ilr report from report.json (every number shown is there).");
    if (html) fputs("</body>\n</html>\n", s.f);
    if (fclose(s.f) != 0) {
        free(buf);
        return ILR_FAIL(ILR_ENOMEM, "out of memory writing the report");
    }
    *out = buf;
    return 0;
}

int ilr_report_markdown(const json_t *report, char **md) { return render(report, 0, md); }
int ilr_report_html(const json_t *report, char **html) { return render(report, 1, html); }

int ilr_report_write(const char *dir, const char *out_dir, json_t **report) {
    json_t *rep = NULL;
    char *md = NULL, *html = NULL, path[4096];
    int rc = ilr_report_build(dir, &rep);
    if (!out_dir) out_dir = dir;
    if (!rc) rc = ilr_mkdir_p(out_dir);
    if (!rc) rc = ilr_report_markdown(rep, &md);
    if (!rc) rc = ilr_report_html(rep, &html);
    if (!rc) rc = ilr_path_join(path, sizeof path, out_dir, "report.json");
    if (!rc) rc = ilr_json_save_file(path, rep);
    if (!rc) rc = ilr_path_join(path, sizeof path, out_dir, "report.md");
    if (!rc) rc = ilr_file_write_atomic(path, md, strlen(md));
    if (!rc) rc = ilr_path_join(path, sizeof path, out_dir, "report.html");
    if (!rc) rc = ilr_file_write_atomic(path, html, strlen(html));
    free(md), free(html);
    if (!rc && report) *report = rep;
    else json_decref(rep);
    return rc;
}
