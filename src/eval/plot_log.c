/* Charts of JSON-lines logs (see include/ilr/plot.h): the points of a log's keys, and their chart. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/plot.h"

void ilr_plot_curve_free(ilr_plot_curve *c) {
    free(c->x);
    free(c->y);
    memset(c, 0, sizeof *c);
}

static int push_point(ilr_plot_curve *c, double x, double y, const char *where) {
    if (c->n == c->cap) {
        if (c->cap >= (1 << 28)) return ILR_FAIL(ILR_EINVAL, "%s: more than %d points in one series", where, 1 << 28);
        int cap = c->cap ? 2 * c->cap : 256;
        double *nx = realloc(c->x, sizeof *nx * cap);
        if (nx) c->x = nx;
        double *ny = nx ? realloc(c->y, sizeof *ny * cap) : NULL;
        if (!ny) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", where);
        c->y = ny;
        c->cap = cap;
    }
    c->x[c->n] = x;
    c->y[c->n] = y;
    c->n++;
    return 0;
}

typedef struct {
    const char *x_key;
    const char *const *keys;
    int num_keys;
    ilr_plot_curve *curves;
    json_t *numeric; /* the keys with a number on some line, in order of first appearance */
} log_reader;

static int read_line(json_t *line, int line_number, const char *name, void *user) {
    log_reader *r = user;
    const char *key;
    json_t *value;
    json_object_foreach(line, key, value)
        if (json_is_number(value) && !json_object_get(r->numeric, key)) json_object_set_new(r->numeric, key, json_true());
    const json_t *x = json_object_get(line, r->x_key);
    if (!json_is_number(x)) return 0;
    for (int k = 0; k < r->num_keys; k++) {
        const json_t *y = json_object_get(line, r->keys[k]);
        int rc = json_is_number(y) ? push_point(&r->curves[k], json_number_value(x), json_number_value(y), name) : 0;
        if (rc) return rc;
    }
    return 0;
}

static char *join_keys(json_t *keys) {
    size_t len = 1;
    const char *k;
    json_t *v;
    json_object_foreach(keys, k, v) len += strlen(k) + 2;
    char *out = malloc(len);
    if (!out) return NULL;
    out[0] = 0;
    json_object_foreach(keys, k, v) {
        if (out[0]) strcat(out, ", ");
        strcat(out, k);
    }
    return out;
}

int ilr_plot_read_log(const char *path, const char *x_key, const char *const *keys, int num_keys,
                      ilr_plot_curve *curves, char **numeric_keys) {
    log_reader r = {x_key, keys, num_keys, curves, json_object()};
    int rc = r.numeric ? ilr_jsonl_read(path, read_line, &r) : ILR_FAIL(ILR_ENOMEM, "out of memory");
    if (!rc && numeric_keys && !(*numeric_keys = join_keys(r.numeric))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    json_decref(r.numeric);
    return rc;
}

int ilr_plot_log_svg(const char *log_path, const char *x_key, const char *const *keys, const char *const *names,
                     int num_keys, const ilr_plot_options *opt, const char *svg_path) {
    ilr_plot_curve *curves = calloc((size_t)num_keys, sizeof *curves);
    ilr_plot_series *series = calloc((size_t)num_keys, sizeof *series);
    int rc = curves && series ? ilr_plot_read_log(log_path, x_key, keys, num_keys, curves, NULL)
                              : ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < num_keys; k++)
        series[k] = (ilr_plot_series){names && names[k] ? names[k] : keys[k], curves[k].x, curves[k].y, curves[k].n};
    char *svg = NULL;
    if (!rc) rc = ilr_plot_svg(series, num_keys, opt, &svg);
    if (!rc) rc = ilr_file_write_atomic(svg_path, svg, strlen(svg));
    free(svg);
    for (int k = 0; curves && k < num_keys; k++) ilr_plot_curve_free(&curves[k]);
    free(curves);
    free(series);
    return rc;
}
