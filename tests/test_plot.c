/* SVG line charts (ilr/plot.h) and `ilr plot`: pixel mapping, ticks, line breaks, escaping, degenerate
 * data, smoothing, and the command's files, errors and determinism. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/level_accuracy.h"
#include "ilr/plot.h"
#include "test_util.h"

static char output[1 << 16];

#define run_cli(...) ilr_test_cli(output, sizeof output, __VA_ARGS__)

static void expect_in(const char *text, const char *phrase) {
    if (!strstr(text, phrase)) {
        print_error("text lacks \"%s\":\n%s\n", phrase, text);
        fail();
    }
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The points of the which-th polyline (from 0) into xy (x0, y0, x1, ...); returns how many. */
static int polyline_points(const char *svg, int which, double *xy, int max) {
    const char *p = svg;
    for (int i = 0; i <= which; i++) {
        p = strstr(p, "<polyline points=\"");
        assert_non_null(p);
        p += strlen("<polyline points=\"");
    }
    int n = 0, used;
    while (*p != '"' && n < max && sscanf(p, " %lf,%lf%n", &xy[2 * n], &xy[2 * n + 1], &used) == 2) p += used, n++;
    assert_int_equal(*p, '"');
    return n;
}

static double plot_w(int width) { return width - ILR_PLOT_LEFT - ILR_PLOT_RIGHT; }
static double plot_h(int height) { return height - ILR_PLOT_TOP - ILR_PLOT_BOTTOM; }

/* A document that ends, has no non-finite number printed, and opens as many tags as it closes groups. */
static void expect_valid(const char *svg) {
    expect_in(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"");
    assert_int_equal(strcmp(svg + strlen(svg) - 7, "</svg>\n"), 0);
    const char *bad[] = {"nan", "NAN", "inf", "INF", "-0.00"};
    for (int i = 0; i < 5; i++)
        if (strstr(svg, bad[i])) print_error("'%s' in:\n%s\n", bad[i], svg), fail();
    assert_int_equal(count(svg, "<g"), count(svg, "</g>"));
}

static char *render(const ilr_plot_series *series, int n, const ilr_plot_options *opt) {
    char *svg = NULL;
    int rc = ilr_plot_svg(series, n, opt, &svg);
    if (rc) print_error("%s\n", ilr_last_error());
    assert_int_equal(rc, 0);
    expect_valid(svg);
    return svg;
}

/* A known series lands on the pixels the documented geometry gives. */
static void test_mapping(void **state) {
    (void)state;
    const double x[] = {0, 1, 2, 3, 4}, y[] = {0, 2.5, 5, 7.5, 10};
    ilr_plot_series s = {"loss", x, y, 5};
    ilr_plot_options opt = ilr_plot_default_options();
    opt.y_min = 0, opt.y_max = 10;
    for (int size = 0; size < 2; size++) {
        opt.width = size ? 1000 : 0, opt.height = size ? 300 : 0;
        int width = size ? 1000 : ILR_PLOT_DEFAULT_WIDTH, height = size ? 300 : ILR_PLOT_DEFAULT_HEIGHT;
        char *svg = render(&s, 1, &opt);
        char head[128];
        snprintf(head, sizeof head, "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\"", width, height, width, height);
        expect_in(svg, head);
        assert_int_equal(count(svg, "<polyline"), 1);
        double xy[20];
        assert_int_equal(polyline_points(svg, 0, xy, 10), 5);
        for (int i = 0; i < 5; i++) {
            assert_true(fabs(xy[2 * i] - (ILR_PLOT_LEFT + x[i] / 4 * plot_w(width))) < 0.006);
            assert_true(fabs(xy[2 * i + 1] - (ILR_PLOT_TOP + (10 - y[i]) / 10 * plot_h(height))) < 0.006);
        }
        expect_in(svg, ">loss</text>");
        free(svg);
    }
    /* From the data: x spans it exactly, y with 5% of the range added on both sides. */
    opt = ilr_plot_default_options();
    char *svg = render(&s, 1, &opt);
    double xy[20];
    assert_int_equal(polyline_points(svg, 0, xy, 10), 5);
    assert_true(fabs(xy[0] - ILR_PLOT_LEFT) < 0.006 && fabs(xy[8] - (ILR_PLOT_LEFT + plot_w(720))) < 0.006);
    assert_true(fabs(xy[1] - (ILR_PLOT_TOP + 10.5 / 11 * plot_h(400))) < 0.006);
    assert_true(fabs(xy[9] - (ILR_PLOT_TOP + 0.5 / 11 * plot_h(400))) < 0.006);
    free(svg);
}

static void expect_ticks(double lo, double hi, double want_step, double want_first, int want_count) {
    double step, first;
    int n = ilr_plot_ticks(lo, hi, &step, &first);
    if (n != want_count || fabs(step - want_step) > 1e-12 * want_step || fabs(first - want_first) > 1e-9 * want_step) {
        print_error("ticks(%g, %g): %d from %g by %g, want %d from %g by %g\n", lo, hi, n, first, step, want_count,
                    want_first, want_step);
        fail();
    }
}

static void test_ticks(void **state) {
    (void)state;
    expect_ticks(0, 1, 0.2, 0, 6);              /* 0, 0.2, ..., 1 */
    expect_ticks(0, 37, 5, 0, 8);               /* 0, 5, ..., 35 */
    expect_ticks(-1.85, 38.85, 10, 0, 4);       /* 0..37 padded by 5%: 0, 10, 20, 30 */
    expect_ticks(0.3, 0.62, 0.05, 0.3, 7);      /* 0.3 .. 0.6 */
    expect_ticks(1, 1000, 200, 200, 5);
    expect_ticks(-3, 3, 1, -3, 7);
    expect_ticks(1e6, 1e6 + 80, 10, 1e6, 9);
    expect_ticks(0, 4e-7, 5e-8, 0, 9);
    double step, first;
    assert_int_equal(ilr_plot_ticks(1, 1, &step, &first), 0);
    assert_int_equal(ilr_plot_ticks(2, 1, &step, &first), 0);
    assert_int_equal(ilr_plot_ticks(0, INFINITY, &step, &first), 0);
    assert_int_equal(ilr_plot_ticks(NAN, 1, &step, &first), 0);
    /* Labels carry the decimals the step needs. */
    const double x[] = {0, 37}, y[] = {0, 1};
    ilr_plot_series s = {"a", x, y, 2};
    ilr_plot_options opt = ilr_plot_default_options();
    opt.y_min = 0, opt.y_max = 1;
    char *svg = render(&s, 1, &opt);
    const char *labels[] = {">0.0</text>", ">0.2</text>", ">0.4</text>", ">0.6</text>", ">0.8</text>", ">1.0</text>",
                            ">0</text>", ">5</text>", ">35</text>"};
    for (int i = 0; i < 9; i++) expect_in(svg, labels[i]);
    assert_null(strstr(svg, ">40</text>"));
    free(svg);
}

/* NaN and infinity break the line; a lone finite point between breaks is a dot. */
static void test_breaks(void **state) {
    (void)state;
    const double x[] = {0, 1, 2, 3, 4, 5, 6, 7}, y[] = {1, 2, NAN, 4, 5, 6, INFINITY, 3};
    const double x2[] = {0, INFINITY, 2, 3};
    const double y2[] = {1, 1, 2, 3};
    ilr_plot_series s[2] = {{"a", x, y, 8}, {"b", x2, y2, 4}};
    char *svg = render(s, 1, NULL);
    assert_int_equal(count(svg, "<polyline"), 2);
    double xy[16];
    assert_int_equal(polyline_points(svg, 0, xy, 8), 2);
    assert_int_equal(polyline_points(svg, 1, xy, 8), 3);
    assert_int_equal(count(svg, "<circle"), 1); /* the lone point (7, 3) */
    free(svg);
    svg = render(s, 2, NULL);
    assert_int_equal(count(svg, "<polyline"), 3); /* b: (2,2)-(3,3) after its infinite x; (0, 1) a dot */
    assert_int_equal(count(svg, "<circle"), 2);
    free(svg);
    ilr_plot_options opt = ilr_plot_default_options();
    opt.markers = 1;
    svg = render(s, 1, &opt);
    assert_int_equal(count(svg, "<circle"), 6 + 1); /* every finite point, and the legend's sample */
    free(svg);
}

static void test_escape(void **state) {
    (void)state;
    const double x[] = {0, 1}, y[] = {0, 1};
    ilr_plot_series s = {"it's \"q\" & <b>\xff\x01", x, y, 2};
    ilr_plot_options opt = ilr_plot_default_options();
    opt.title = "<&>";
    opt.x_label = "a&b";
    opt.y_label = "p < 0.05";
    char *svg = render(&s, 1, &opt);
    expect_in(svg, ">&lt;&amp;&gt;</text>");
    expect_in(svg, "<title>&lt;&amp;&gt;</title>");
    expect_in(svg, ">a&amp;b</text>");
    expect_in(svg, ">p &lt; 0.05</text>");
    expect_in(svg, ">it&apos;s &quot;q&quot; &amp; &lt;b&gt;?\?</text>");
    assert_null(strstr(svg, "<&>"));
    assert_null(strstr(svg, "<b>"));
    free(svg);
}

/* A constant series, a single point, an empty series, no series: valid documents, no division by zero. */
static void test_degenerate(void **state) {
    (void)state;
    const double x[] = {1, 2, 3}, y[] = {2, 2, 2}, one_x[] = {5}, one_y[] = {0}, zero[] = {0, 0};
    ilr_plot_series constant = {"c", x, y, 3}, single = {"s", one_x, one_y, 1}, empty = {"e", NULL, NULL, 0};
    ilr_plot_series same_x = {"v", zero, x, 2}, nothing_finite = {"n", x, (const double[]){NAN, NAN, NAN}, 3};
    char *svg = render(&constant, 1, NULL);
    double xy[8];
    assert_int_equal(polyline_points(svg, 0, xy, 4), 3);
    double mid = ILR_PLOT_TOP + plot_h(400) / 2; /* 2 +- 10% */
    for (int i = 0; i < 3; i++) assert_true(fabs(xy[2 * i + 1] - mid) < 0.006);
    expect_in(svg, ">1.80</text>");
    expect_in(svg, ">2.20</text>");
    free(svg);
    svg = render(&single, 1, NULL);
    assert_int_equal(count(svg, "<polyline"), 0);
    char dot[64];
    snprintf(dot, sizeof dot, "<circle cx=\"%.2f\" cy=\"%.2f\"", ILR_PLOT_LEFT + plot_w(720) / 2, mid);
    expect_in(svg, dot); /* 5 +- 0.5 on x, 0 +- 1 on y */
    free(svg);
    ilr_plot_series several[] = {empty, same_x, nothing_finite};
    svg = render(several, 3, NULL);
    expect_in(svg, ">e</text>");
    expect_in(svg, ">n</text>");
    free(svg);
    free(render(NULL, 0, NULL));
}

static void test_bad_input(void **state) {
    (void)state;
    const double x[] = {-1e308, 1e308}, y[] = {0, 1};
    ilr_plot_series s = {"a", x, y, 2}, bad = {"b", NULL, y, 2};
    ilr_plot_options opt = ilr_plot_default_options();
    char *svg = (char *)1;
    ILR_EXPECT_ERROR(ilr_plot_svg(&s, -1, NULL, &svg), ILR_EINVAL, "-1 series");
    assert_null(svg);
    ILR_EXPECT_ERROR(ilr_plot_svg(&bad, 1, NULL, &svg), ILR_EINVAL, "series 0 ('b')", "no x or y");
    s.n = -2;
    ILR_EXPECT_ERROR(ilr_plot_svg(&s, 1, NULL, &svg), ILR_EINVAL, "negative count");
    s.n = 2;
    ILR_EXPECT_ERROR(ilr_plot_svg(&s, 1, NULL, &svg), ILR_EINVAL, "too wide");
    s.n = 1;
    opt.width = 100;
    ILR_EXPECT_ERROR(ilr_plot_svg(&s, 1, &opt, &svg), ILR_EINVAL, "100 x 400");
    opt.width = 0, opt.y_min = 1, opt.y_max = 1;
    ILR_EXPECT_ERROR(ilr_plot_svg(&s, 1, &opt, &svg), ILR_EINVAL, "below y_max");
    opt.y_min = -INFINITY, opt.y_max = NAN;
    ILR_EXPECT_ERROR(ilr_plot_svg(&s, 1, &opt, &svg), ILR_EINVAL, "finite");
    assert_null(svg);
    /* One bound beyond all the data still gives a range. */
    opt.y_min = 5;
    free(render(&s, 1, &opt));
    opt.y_min = NAN, opt.y_max = -5;
    free(render(&s, 1, &opt));
}

static void test_smooth(void **state) {
    (void)state;
    const double y[] = {1, 2, 3, 4, 5}, gaps[] = {1, NAN, 3, 5};
    double out[5];
    ilr_plot_smooth(y, 5, 3, out);
    const double want[] = {1, 1.5, 2, 3, 4};
    for (int i = 0; i < 5; i++) assert_true(fabs(out[i] - want[i]) < 1e-12);
    ilr_plot_smooth(y, 5, 1, out);
    for (int i = 0; i < 5; i++) assert_true(out[i] == y[i]);
    ilr_plot_smooth(gaps, 4, 2, out);
    assert_true(out[0] == 1 && isnan(out[1]) && out[2] == 3 && out[3] == 4);
}

static void test_deterministic(void **state) {
    (void)state;
    double x[200], y[200];
    for (int i = 0; i < 200; i++) x[i] = i * 5, y[i] = sin(i * 0.1) / (1 + i * 0.01);
    ilr_plot_series s[9];
    for (int i = 0; i < 9; i++) s[i] = (ilr_plot_series){"series", x, y, 200 - 20 * i};
    ilr_plot_options opt = ilr_plot_default_options();
    opt.markers = 1, opt.title = "t";
    char *a = render(s, 9, &opt), *b = render(s, 9, &opt);
    assert_string_equal(a, b);
    expect_in(a, "stroke=\"#0072B2\"");
    expect_in(a, "stroke=\"#F0E442\"");
    expect_in(a, "stroke-dasharray=\"6 3\""); /* the 9th series: the palette again, dashed */
    free(a);
    free(b);
}

/* ---- ilr plot ---- */

static const char log_text[] = "{\"step\": 0, \"loss\": 2.0, \"acc\": 0.1, \"note\": \"start\"}\n"
                               "{\"step\": 1, \"loss\": 1.0}\n"
                               "\n"
                               "{\"loss\": 9}\n"
                               "{\"step\": 2, \"loss\": 0.5, \"acc\": 0.3}\n"
                               "{\"step\": 3, \"acc\": \"n/a\", \"lr\": 1e-3}\n";

static char *read_text(const char *path) {
    char *text;
    size_t len;
    assert_int_equal(ilr_file_read_all(path, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    return text;
}

static void test_cli_plot(void **state) {
    (void)state;
    char dir[256], log[256], svg_path[300], svg2[300];
    ilr_test_tmpdir(dir, "plot");
    ilr_test_write_file(log, dir, "run.jsonl", log_text, strlen(log_text));
    snprintf(svg_path, sizeof svg_path, "%s/out.svg", dir);
    assert_int_equal(run_cli("plot", log, "--y", "loss,acc", "--title", "Run <1>", "-o", svg_path, NULL), 0);
    expect_in(output, "loss 3 points, acc 2 points");
    char *svg = read_text(svg_path);
    expect_valid(svg);
    assert_int_equal(count(svg, "<polyline"), 2);
    double xy[16];
    assert_int_equal(polyline_points(svg, 0, xy, 8), 3);
    assert_int_equal(polyline_points(svg, 1, xy, 8), 2);
    expect_in(svg, ">loss</text>");
    expect_in(svg, ">acc</text>");
    expect_in(svg, ">Run &lt;1&gt;</text>");
    expect_in(svg, ">step</text>"); /* the x label */
    /* The same command gives the same bytes. */
    snprintf(svg2, sizeof svg2, "%s/again.svg", dir);
    assert_int_equal(run_cli("plot", log, "--y", "loss,acc", "--title", "Run <1>", "-o", svg2, NULL), 0);
    char *again = read_text(svg2);
    assert_string_equal(svg, again);
    free(again);
    free(svg);

    /* --smooth 2 draws 2, 1.5, 0.75; --y-min/--y-max fix the mapping. */
    assert_int_equal(run_cli("plot", log, "--y", "loss", "--smooth", "2", "--y-min", "0", "--y-max", "4", "-o",
                             svg_path, NULL), 0);
    expect_in(output, "loss 3 points (drawn as moving averages over 2 points)");
    svg = read_text(svg_path);
    assert_int_equal(polyline_points(svg, 0, xy, 8), 3);
    const double want[] = {2, 1.5, 0.75};
    for (int i = 0; i < 3; i++) {
        assert_true(fabs(xy[2 * i] - (ILR_PLOT_LEFT + i / 2.0 * plot_w(720))) < 0.006);
        assert_true(fabs(xy[2 * i + 1] - (ILR_PLOT_TOP + (4 - want[i]) / 4 * plot_h(400))) < 0.006);
    }
    free(svg);

    /* Several files: series named by --label, else by path; standard output by default. */
    assert_int_equal(run_cli("plot", log, log, "--label", "A", "--y", "acc", "--x", "step", "--markers", NULL), 0);
    expect_in(output, "<svg xmlns=");
    expect_in(output, ">A: acc</text>");
    char by_path[300];
    snprintf(by_path, sizeof by_path, ">%s: acc</text>", log);
    expect_in(output, by_path);
    expect_in(output, "wrote the SVG to standard output: A: acc 2 points");
    ilr_test_rmtree(dir);
}

static void test_cli_plot_errors(void **state) {
    (void)state;
    char dir[256], log[256], bad[256];
    ilr_test_tmpdir(dir, "plot-err");
    ilr_test_write_file(log, dir, "run.jsonl", log_text, strlen(log_text));
    const char bad_text[] = "{\"step\": 0, \"loss\": 1}\n{\"step\": 1, \"loss\": \n";
    ilr_test_write_file(bad, dir, "bad.jsonl", bad_text, strlen(bad_text));
    assert_int_equal(run_cli("plot", log, "--y", "los", NULL), 1);
    expect_in(output, "run.jsonl: no line has a number at key 'los' (the numeric keys are: step, loss, acc, lr)");
    assert_int_equal(run_cli("plot", log, "--y", "loss", "--x", "epoch", NULL), 1);
    expect_in(output, "no line has a number at the x key 'epoch'");
    assert_int_equal(run_cli("plot", bad, "--y", "loss", NULL), 1);
    expect_in(output, "bad.jsonl:2");
    assert_int_equal(run_cli("plot", log, NULL), 2);
    expect_in(output, "--y KEY is required");
    assert_int_equal(run_cli("plot", "--y", "loss", NULL), 2);
    expect_in(output, "expected one or more LOG.jsonl files");
    assert_int_equal(run_cli("plot", log, "--y", "loss,,acc", NULL), 2);
    assert_int_equal(run_cli("plot", log, "--y", "loss", "--smooth", "0", NULL), 2);
    assert_int_equal(run_cli("plot", log, "--y", "loss", "--y-min", "2", "--y-max", "1", NULL), 2);
    assert_int_equal(run_cli("plot", log, "--y", "loss", "--y-min", "nan", NULL), 2);
    assert_int_equal(run_cli("plot", log, "--y", "loss", "--label", "a", "--label", "b", NULL), 2);
    assert_int_equal(run_cli("plot", "--help", NULL), 0);
    expect_in(output, "usage: ilr plot");
    expect_in(output, "example: ilr plot");
    ilr_test_rmtree(dir);
}

/* Accuracy by level, as the trainers print and log it: levels without questions are left out, level 0
 * (no level given) is logged but not printed. */
static void test_level_accuracy(void **state) {
    (void)state;
    int correct[ILR_MAX_LEVEL + 1] = {[0] = 1, [1] = 2, [3] = 1, [9] = 0};
    int total[ILR_MAX_LEVEL + 1] = {[0] = 4, [1] = 3, [3] = 8, [9] = 5};
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    ilr_level_accuracy_print(f, correct, total);
    fclose(f);
    assert_string_equal(text, "  by level: L1 67%, L3 12%, L9 0%");
    free(text);
    json_t *j = ilr_level_accuracy_json(correct, total);
    assert_int_equal(json_object_size(j), 4);
    assert_float_equal(json_real_value(json_object_get(j, "0")), 0.25, 0);
    assert_float_equal(json_real_value(json_object_get(j, "1")), 2.0 / 3.0, 0);
    assert_float_equal(json_real_value(json_object_get(j, "3")), 0.125, 0);
    assert_float_equal(json_real_value(json_object_get(j, "9")), 0, 0);
    json_decref(j);
    int none[ILR_MAX_LEVEL + 1] = {0};
    f = open_memstream(&text, &n);
    ilr_level_accuracy_print(f, none, none);
    fclose(f);
    assert_string_equal(text, "");
    free(text);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mapping),     cmocka_unit_test(test_ticks),         cmocka_unit_test(test_breaks),
    cmocka_unit_test(test_escape),      cmocka_unit_test(test_degenerate),    cmocka_unit_test(test_bad_input),
    cmocka_unit_test(test_smooth),      cmocka_unit_test(test_deterministic), cmocka_unit_test(test_cli_plot),
    cmocka_unit_test(test_cli_plot_errors), cmocka_unit_test(test_level_accuracy),
};

ILR_TEST_GROUP(plot, tests)
