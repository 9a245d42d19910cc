/* The report's shared pieces (src/eval/report_internal.h): nested objects, STAT objects, per-step means,
 * number formats and JSON pointer paths. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/report.h"
#include "report_internal.h"

json_t *report_obj(json_t *root, ...) {
    va_list ap;
    va_start(ap, root);
    json_t *o = root;
    for (const char *k; o && (k = va_arg(ap, const char *));) {
        json_t *next = json_object_get(o, k);
        if (!json_is_object(next)) {
            next = json_object();
            if (json_object_set_new(o, k, next)) next = NULL;
        }
        o = next;
    }
    va_end(ap);
    return o;
}

static json_t *real_or_null(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *report_stat(const double *x, int n, double lo1, double hi1, const char *ci1) {
    json_t *s = json_object(), *values = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(values, real_or_null(x[i]));
    ilr_ci95 ci = {NAN, NAN, NAN};
    if (n >= 1) ilr_t_interval(x, n, &ci);
    if (n == 1) ci.lo = lo1, ci.hi = hi1;
    json_object_set_new(s, "mean", real_or_null(ci.mean));
    json_object_set_new(s, "lo", real_or_null(ci.lo));
    json_object_set_new(s, "hi", real_or_null(ci.hi));
    json_object_set_new(s, "n", json_integer(n));
    json_object_set_new(s, "ci", json_string(n >= 2 ? "t over seeds" : isfinite(lo1) && ci1 ? ci1 : "none"));
    json_object_set_new(s, "values", values);
    return s;
}

int report_acc_add(json_t *acc, const double *step, const double *value, int n) {
    json_t *sum = report_obj(acc, "sum", NULL);
    for (int i = 0; i < n; i++) {
        if (!isfinite(step[i]) || !isfinite(value[i])) continue;
        char key[32];
        snprintf(key, sizeof key, "%.17g", step[i]);
        json_t *cell = json_object_get(sum, key);
        if (!cell) json_object_set_new(sum, key, cell = json_pack("[f, i]", 0.0, 0));
        json_array_set_new(cell, 0, json_real(json_real_value(json_array_get(cell, 0)) + value[i]));
        json_array_set_new(cell, 1, json_integer(json_integer_value(json_array_get(cell, 1)) + 1));
    }
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void report_acc_finish(json_t *acc) {
    json_t *sum = json_object_get(acc, "sum");
    size_t n = json_object_size(sum);
    double *steps = malloc(sizeof *steps * (n + 1));
    json_t *xs = json_array(), *ys = json_array();
    if (steps) {
        const char *k;
        json_t *v;
        size_t i = 0;
        json_object_foreach(sum, k, v) steps[i++] = strtod(k, NULL);
        qsort(steps, n, sizeof *steps, cmp_double);
        for (i = 0; i < n; i++) {
            char key[32];
            snprintf(key, sizeof key, "%.17g", steps[i]);
            json_t *cell = json_object_get(sum, key);
            json_array_append_new(xs, json_real(steps[i]));
            json_array_append_new(ys, json_real(json_real_value(json_array_get(cell, 0)) /
                                                (double)json_integer_value(json_array_get(cell, 1))));
        }
    }
    free(steps);
    json_object_del(acc, "sum");
    json_object_set_new(acc, "step", xs);
    json_object_set_new(acc, "value", ys);
}

void report_format(char *buf, size_t cap, const json_t *v, report_fmt fmt) {
    if (!json_is_number(v)) {
        snprintf(buf, cap, "\u2014");
        return;
    }
    double x = json_number_value(v);
    switch (fmt) {
    case REPORT_PCT: snprintf(buf, cap, "%.1f", 100 * x); break;
    case REPORT_INT: snprintf(buf, cap, "%.0f", x); break;
    case REPORT_SEC: snprintf(buf, cap, "%.1f", x); break;
    case REPORT_REAL: snprintf(buf, cap, "%.3f", x); break;
    }
    if (strcmp(buf, "-0.0") == 0 || strcmp(buf, "-0") == 0 || strcmp(buf, "-0.000") == 0) memmove(buf, buf + 1, strlen(buf));
}

void report_path_push(char *path, size_t cap, const char *key) {
    size_t len = strlen(path);
    if (len + 1 < cap) path[len++] = '/';
    for (const char *p = key; *p && len + 2 < cap; p++) {
        if (*p == '~') path[len++] = '~', path[len++] = '0';
        else if (*p == '/') path[len++] = '~', path[len++] = '1';
        else path[len++] = *p;
    }
    path[len] = 0;
}
