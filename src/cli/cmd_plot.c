/* ilr plot: line charts of JSONL training logs as SVG (src/eval/plot.c draws them). */
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/plot.h"

static const char plot_help[] =
    "usage: ilr plot LOG.jsonl [LOG2.jsonl ...] --y KEY[,KEY...] [options]\n\n"
    "Draws training curves from JSON-lines logs (one object per line, such as OUT/sft_log.jsonl) as an SVG\n"
    "line chart.  For each file and each --y key, one series of (x, y) from the lines that have both the x key\n"
    "and that key as numbers; other lines are skipped (a log mixes step lines and eval lines).  A line that\n"
    "is not a JSON object stops with its file and line; a key that is a number on no line of a file stops\n"
    "with the numeric keys that file does have.  Series are named by the key, or \"LABEL: key\" (\"FILE: key\"\n"
    "without --label) when several files are given.\n\n"
    "  --y KEY[,KEY...]  the keys to draw (required; may be repeated)\n"
    "  --x KEY           the horizontal axis (default step)\n"
    "  -o, --out FILE    the SVG, written atomically (default, or -: standard output)\n"
    "  --title T         the title above the chart (default: none)\n"
    "  --x-label L       the horizontal axis's label (default: the x key)\n"
    "  --y-label L       the vertical axis's label (default: the key when there is one, else none)\n"
    "  --y-min V         the bottom of the vertical axis (default: from the data, with 5% padding)\n"
    "  --y-max V         the top of the vertical axis (default: from the data, with 5% padding)\n"
    "  --smooth N        draw each series as its trailing moving average over N points (the point itself\n"
    "                    and the N-1 before it; fewer at the start).  The drawn values are smoothed, not\n"
    "                    the data: a smoothed curve lags and flattens peaks\n"
    "  --markers         a dot at every point (sparse series such as eval accuracy)\n"
    "  --label NAME      names the files in legends, in order (repeat once per file; unnamed files go by path)\n\n"
    "The chart: 720 x 400 pixels, ticks at 1, 2 or 5 x 10^k with gridlines, a colour-blind-safe palette,\n"
    "the legend in the emptiest corner; a point that is not finite breaks its line.  The same input gives\n"
    "the same bytes.  A one-line summary of the points per series goes to standard error.\n\n"
    "example: ilr plot out/sft/sft_log.jsonl --y loss,eval_loss --smooth 10 --title \"SFT\" -o loss.svg\n"
    "         ilr plot a/sft_log.jsonl b/sft_log.jsonl --label A --label B --y eval_accuracy --markers \\\n"
    "                  --y-min 0 --y-max 1 -o accuracy.svg\n";

typedef struct {
    const char **files, **labels;
    int num_files, num_labels;
    char **keys;
    int num_keys;
    const char *x_key, *out;
    int smooth;
    ilr_plot_options opt;
} plot_args;

typedef struct {
    ilr_plot_curve points;
    char *name;
} curve;

static void free_args(plot_args *a) {
    for (int k = 0; k < a->num_keys; k++) free(a->keys[k]);
    free(a->keys);
    free(a->files);
    free(a->labels);
}

/* Adds the keys of a --y value (comma-separated, none empty). */
static int add_keys(plot_args *a, const char *text) {
    for (const char *p = text;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0) return ilr_cli_usage_error("plot", "--y takes keys separated by commas, not '%s'", text);
        char **keys = realloc(a->keys, sizeof *keys * (a->num_keys + 1));
        if (!keys) return ilr_cli_usage_error("plot", "out of memory");
        a->keys = keys;
        if (!(a->keys[a->num_keys] = strndup(p, len))) return ilr_cli_usage_error("plot", "out of memory");
        a->num_keys++;
        p += len;
        if (!*p) return 0;
    }
}

enum { O_Y = 256, O_X, O_TITLE, O_XLABEL, O_YLABEL, O_YMIN, O_YMAX, O_SMOOTH, O_MARKERS, O_LABEL };

static int parse_option(plot_args *a, int c, const char *arg, const char *given) {
    long long v;
    switch (c) {
    case O_Y: return add_keys(a, arg);
    case O_X: a->x_key = arg; return 0;
    case 'o': a->out = arg; return 0;
    case O_TITLE: a->opt.title = arg; return 0;
    case O_XLABEL: a->opt.x_label = arg; return 0;
    case O_YLABEL: a->opt.y_label = arg; return 0;
    case O_YMIN: return ilr_cli_parse_double("plot", "--y-min", arg, -DBL_MAX, DBL_MAX, &a->opt.y_min);
    case O_YMAX: return ilr_cli_parse_double("plot", "--y-max", arg, -DBL_MAX, DBL_MAX, &a->opt.y_max);
    case O_SMOOTH:
        if (ilr_cli_parse_long("plot", "--smooth", arg, 1, 1000000, &v)) return 2;
        a->smooth = (int)v;
        return 0;
    case O_MARKERS: a->opt.markers = 1; return 0;
    case O_LABEL: a->labels[a->num_labels++] = arg; return 0;
    default: return ilr_cli_usage_error("plot", "unknown or incomplete option '%s'", given);
    }
}

/* Fills a from the command line; -1 after printing the help, 2 on a usage error. */
static int parse_args(int argc, char **argv, plot_args *a) {
    static const struct option longopts[] = {
        {"y", required_argument, 0, O_Y},          {"x", required_argument, 0, O_X},
        {"out", required_argument, 0, 'o'},        {"title", required_argument, 0, O_TITLE},
        {"x-label", required_argument, 0, O_XLABEL}, {"y-label", required_argument, 0, O_YLABEL},
        {"y-min", required_argument, 0, O_YMIN},   {"y-max", required_argument, 0, O_YMAX},
        {"smooth", required_argument, 0, O_SMOOTH}, {"markers", no_argument, 0, O_MARKERS},
        {"label", required_argument, 0, O_LABEL},  {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    *a = (plot_args){.x_key = "step", .smooth = 1, .opt = ilr_plot_default_options()};
    a->files = calloc((size_t)argc, sizeof *a->files);
    a->labels = calloc((size_t)argc, sizeof *a->labels);
    if (!a->files || !a->labels) return ilr_cli_usage_error("plot", "out of memory");
    optind = 0;
    opterr = 0;
    for (int c; (c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1;) {
        if (c == 'h') return printf("%s", plot_help), -1;
        int rc = parse_option(a, c, optarg, argv[optind - 1]);
        if (rc) return rc;
    }
    for (int i = optind; i < argc; i++) a->files[a->num_files++] = argv[i];
    if (a->num_files == 0) return ilr_cli_usage_error("plot", "expected one or more LOG.jsonl files");
    if (a->num_keys == 0) return ilr_cli_usage_error("plot", "--y KEY is required (e.g. --y loss,eval_accuracy)");
    if (a->num_labels > a->num_files)
        return ilr_cli_usage_error("plot", "%d --label for %d files", a->num_labels, a->num_files);
    if (!a->opt.y_label && a->num_keys == 1) a->opt.y_label = a->keys[0];
    if (!a->opt.x_label) a->opt.x_label = a->x_key;
    if (!isnan(a->opt.y_min) && !isnan(a->opt.y_max) && !(a->opt.y_min < a->opt.y_max))
        return ilr_cli_usage_error("plot", "--y-min %g must be below --y-max %g", a->opt.y_min, a->opt.y_max);
    return 0;
}

/* Reads one log into curves[0 .. num_keys), naming each; a key (or the x key) with no point is an error
 * that lists the keys the log has. */
static int read_log(const plot_args *a, int file, curve *curves) {
    const char *path = a->files[file];
    ilr_plot_curve *points = calloc((size_t)a->num_keys + 1, sizeof *points);
    const char **keys = calloc((size_t)a->num_keys + 1, sizeof *keys);
    char *numeric = NULL;
    int rc = points && keys ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int k = 0; !rc && k < a->num_keys; k++) keys[k] = a->keys[k];
    if (!rc) keys[a->num_keys] = a->x_key; /* its own curve: whether any line has an x */
    if (!rc) rc = ilr_plot_read_log(path, a->x_key, keys, a->num_keys + 1, points, &numeric);
    for (int i = 0; !rc && i <= a->num_keys; i++) {
        int k = (i + a->num_keys) % (a->num_keys + 1); /* the x key first */
        if (points[k].n == 0)
            rc = ILR_FAIL(ILR_ENOTFOUND, "%s: no line has a number at %s '%s' (the numeric keys are: %s)", path,
                          k == a->num_keys ? "the x key" : "key", keys[k], numeric && *numeric ? numeric : "none");
    }
    const char *prefix = file < a->num_labels ? a->labels[file] : a->num_files > 1 ? path : NULL;
    for (int k = 0; !rc && k < a->num_keys; k++) {
        curves[k].points = points[k];
        memset(&points[k], 0, sizeof points[k]);
        size_t len = (prefix ? strlen(prefix) + 2 : 0) + strlen(a->keys[k]) + 1;
        if (!(curves[k].name = malloc(len))) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
        else snprintf(curves[k].name, len, "%s%s%s", prefix ? prefix : "", prefix ? ": " : "", a->keys[k]);
    }
    for (int k = 0; points && k <= a->num_keys; k++) ilr_plot_curve_free(&points[k]);
    free(points);
    free(keys);
    free(numeric);
    return rc;
}

static int smooth_curve(curve *c, int window) {
    ilr_plot_curve *p = &c->points;
    if (window <= 1 || p->n == 0) return 0;
    double *out = malloc(sizeof *out * p->n);
    if (!out) return ILR_FAIL(ILR_ENOMEM, "out of memory smoothing '%s'", c->name);
    ilr_plot_smooth(p->y, p->n, window, out);
    free(p->y);
    p->y = out;
    return 0;
}

/* Renders the curves and writes the SVG to a->out (standard output when NULL or -). */
static int write_chart(const plot_args *a, const curve *curves, int num_curves) {
    ilr_plot_series *series = calloc((size_t)num_curves, sizeof *series);
    if (!series) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int i = 0; i < num_curves; i++)
        series[i] = (ilr_plot_series){curves[i].name, curves[i].points.x, curves[i].points.y, curves[i].points.n};
    char *svg = NULL;
    int rc = ilr_plot_svg(series, num_curves, &a->opt, &svg);
    free(series);
    if (rc) return rc;
    size_t len = strlen(svg);
    if (a->out && strcmp(a->out, "-") != 0) rc = ilr_file_write_atomic(a->out, svg, len);
    else if (fwrite(svg, 1, len, stdout) != len || fflush(stdout) != 0)
        rc = ILR_FAIL(ILR_EIO, "writing the SVG to standard output failed");
    free(svg);
    return rc;
}

static void print_summary(const plot_args *a, const curve *curves, int num_curves) {
    fprintf(stderr, "wrote %s:", a->out && strcmp(a->out, "-") != 0 ? a->out : "the SVG to standard output");
    for (int i = 0; i < num_curves; i++)
        fprintf(stderr, "%s %s %d point%s", i ? "," : "", curves[i].name, curves[i].points.n, curves[i].points.n == 1 ? "" : "s");
    if (a->smooth > 1) fprintf(stderr, " (drawn as moving averages over %d points)", a->smooth);
    fprintf(stderr, "\n");
}

int ilr_cmd_plot(int argc, char **argv) {
    plot_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) {
        free_args(&a);
        return rc < 0 ? 0 : rc;
    }
    int num_curves = a.num_files * a.num_keys;
    curve *curves = calloc((size_t)num_curves, sizeof *curves);
    if (!curves) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
    for (int f = 0; !rc && f < a.num_files; f++) rc = read_log(&a, f, curves + f * a.num_keys);
    for (int i = 0; !rc && i < num_curves; i++) rc = smooth_curve(&curves[i], a.smooth);
    if (!rc) rc = write_chart(&a, curves, num_curves);
    if (!rc) print_summary(&a, curves, num_curves);
    for (int i = 0; curves && i < num_curves; i++) ilr_plot_curve_free(&curves[i].points), free(curves[i].name);
    free(curves);
    free_args(&a);
    return rc ? ilr_cli_fail("plot") : 0;
}
