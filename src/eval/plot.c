/* Line charts as SVG (see ilr/plot.h for the geometry, the tick rule and the drawing rules). */
#include "ilr/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "ilr/error.h"

/* Okabe & Ito's palette, yellow last: it is the faintest on white. */
static const char *const palette[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                      "#CC79A7", "#56B4E9", "#000000", "#F0E442"};
enum { PALETTE = sizeof palette / sizeof palette[0] };

/* Pixel coordinates beyond this are clamped: such points are far outside the picture anyway, and the
 * text stays short. */
#define PIXEL_LIMIT 1e6

typedef struct {
    double left, top, w, h;       /* the plot area in pixels */
    double x_lo, x_hi, y_lo, y_hi; /* the data range it shows */
} frame;

typedef struct {
    double x, y, w, h;
} box;

ilr_plot_options ilr_plot_default_options(void) {
    return (ilr_plot_options){.y_min = NAN, .y_max = NAN};
}

static double clamp_pixel(double v) {
    return v < -PIXEL_LIMIT ? -PIXEL_LIMIT : v > PIXEL_LIMIT ? PIXEL_LIMIT : v;
}

static double px_x(const frame *f, double x) {
    return clamp_pixel(f->left + (x - f->x_lo) / (f->x_hi - f->x_lo) * f->w);
}

static double px_y(const frame *f, double y) {
    return clamp_pixel(f->top + (f->y_hi - y) / (f->y_hi - f->y_lo) * f->h);
}

/* "%.2f" without "-0.00". */
static void put_num(FILE *out, double v) {
    fprintf(out, "%.2f", fabs(v) < 0.005 ? 0.0 : v);
}

/* Writes text (NULL: nothing) XML-escaped to out (NULL: only counts); invalid UTF-8, control characters
 * and the non-characters XML forbids become '?'.  Returns the number of characters a reader sees. */
static int put_text(FILE *out, const char *text) {
    int chars = 0;
    size_t len = text ? strlen(text) : 0;
    for (size_t i = 0; i < len; chars++) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &cp);
        const char *escaped = NULL;
        if (k <= 0 || (cp < 0x20 && !strchr("\t\n\r", (int)cp)) || cp == 0xFFFE || cp == 0xFFFF) escaped = "?";
        else if (cp == '&') escaped = "&amp;";
        else if (cp == '<') escaped = "&lt;";
        else if (cp == '>') escaped = "&gt;";
        else if (cp == '"') escaped = "&quot;";
        else if (cp == '\'') escaped = "&apos;";
        else if (cp < 0x20) escaped = " ";
        if (out && escaped) fputs(escaped, out);
        else if (out) fwrite(text + i, 1, (size_t)k, out);
        i += k > 0 ? (size_t)k : 1;
    }
    return chars;
}

/* ---- axes ---- */

int ilr_plot_ticks(double lo, double hi, double *step, double *first) {
    *step = 0;
    *first = lo;
    double raw = (hi - lo) / 8;
    if (!(raw > 0) || !isfinite(raw)) return 0;
    double base = pow(10, floor(log10(raw)));
    static const double mult[] = {1, 2, 5, 10};
    double s = 10 * base;
    for (int i = 0; i < 4; i++)
        if (mult[i] * base >= raw * (1 - 1e-9)) {
            s = mult[i] * base;
            break;
        }
    double k0 = ceil(lo / s - 1e-9), k1 = floor(hi / s + 1e-9);
    if (!(s > 0) || !isfinite(k0) || !isfinite(k1) || k1 < k0 || k1 - k0 > 8) return 0;
    *step = s;
    *first = k0 * s;
    return (int)(k1 - k0) + 1;
}

/* Widens a zero-width range around its value. */
static void widen(double *lo, double *hi) {
    if (*hi > *lo) return;
    double pad = fabs(*lo) > 1e-300 ? 0.1 * fabs(*lo) : 1;
    *lo -= pad;
    *hi += pad;
}

/* The range of the finite points of every series, on x (axis 0) or y (axis 1); 0 (and *lo, *hi left
 * alone) when there are none. */
static int data_range(const ilr_plot_series *series, int num_series, int axis, double *lo, double *hi) {
    double min = INFINITY, max = -INFINITY;
    for (int s = 0; s < num_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i], v = axis ? y : x;
            if (!isfinite(x) || !isfinite(y)) continue;
            min = fmin(min, v);
            max = fmax(max, v);
        }
    if (min > max) return 0;
    *lo = min, *hi = max;
    return 1;
}

static int make_frame(const ilr_plot_series *series, int num_series, const ilr_plot_options *opt, int width,
                      int height, frame *f) {
    *f = (frame){ILR_PLOT_LEFT, ILR_PLOT_TOP, width - ILR_PLOT_LEFT - ILR_PLOT_RIGHT,
                 height - ILR_PLOT_TOP - ILR_PLOT_BOTTOM, 0, 1, 0, 1};
    if (data_range(series, num_series, 0, &f->x_lo, &f->x_hi)) widen(&f->x_lo, &f->x_hi);
    if (!isnan(opt->y_min) && !isnan(opt->y_max) && !(opt->y_min < opt->y_max))
        return ILR_FAIL(ILR_EINVAL, "plot: y_min %g must be below y_max %g", opt->y_min, opt->y_max);
    double lo = 0, hi = 1;
    if (data_range(series, num_series, 1, &lo, &hi)) {
        double pad = 0.05 * (hi - lo);
        lo -= pad, hi += pad;
        widen(&lo, &hi);
    }
    if (!isnan(opt->y_min)) lo = opt->y_min;
    if (!isnan(opt->y_max)) hi = opt->y_max;
    if (!(hi > lo) && isnan(opt->y_max)) hi = lo, widen(&lo, &hi), lo = opt->y_min; /* all data below y_min */
    if (!(hi > lo)) lo = hi, widen(&lo, &hi), hi = opt->y_max;                    /* all data above y_max */
    f->y_lo = lo, f->y_hi = hi;
    if (!isfinite(f->x_hi - f->x_lo) || !isfinite(f->y_hi - f->y_lo) || !(f->y_hi - f->y_lo > 0))
        return ILR_FAIL(ILR_EINVAL, "plot: the data's range (x %g..%g, y %g..%g) is too wide for a double",
                        f->x_lo, f->x_hi, f->y_lo, f->y_hi);
    return 0;
}

/* Writes a tick value with as many decimals as step needs. */
static void put_tick_label(FILE *out, double v, double step, double max_abs) {
    if (fabs(v) < step * 1e-6) v = 0;
    if (max_abs >= 1e7 || step < 1e-5) {
        int digits = (int)floor(log10(max_abs)) - (int)floor(log10(step)) + 1;
        fprintf(out, "%.*g", digits < 1 ? 1 : digits > 17 ? 17 : digits, v);
    } else {
        int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
        fprintf(out, "%.*f", decimals, v);
    }
}

/* Gridlines and tick labels of one axis (0: x, 1: y). */
static void put_axis(FILE *out, const frame *f, int axis) {
    double lo = axis ? f->y_lo : f->x_lo, hi = axis ? f->y_hi : f->x_hi, step, first;
    int n = ilr_plot_ticks(lo, hi, &step, &first);
    double max_abs = fmax(fmax(fabs(first), fabs(first + (n - 1) * step)), step);
    for (int i = 0; i < n; i++) {
        double v = first + i * step;
        if (axis) {
            double y = px_y(f, v);
            fputs("<line x1=\"", out), put_num(out, f->left), fputs("\" y1=\"", out), put_num(out, y);
            fputs("\" x2=\"", out), put_num(out, f->left + f->w), fputs("\" y2=\"", out), put_num(out, y);
            fputs("\" stroke=\"#e0e0e0\"/>\n<text x=\"", out), put_num(out, f->left - 6);
            fputs("\" y=\"", out), put_num(out, y + 4), fputs("\" text-anchor=\"end\">", out);
        } else {
            double x = px_x(f, v);
            fputs("<line x1=\"", out), put_num(out, x), fputs("\" y1=\"", out), put_num(out, f->top);
            fputs("\" x2=\"", out), put_num(out, x), fputs("\" y2=\"", out), put_num(out, f->top + f->h);
            fputs("\" stroke=\"#e0e0e0\"/>\n<text x=\"", out), put_num(out, x);
            fputs("\" y=\"", out), put_num(out, f->top + f->h + 16), fputs("\" text-anchor=\"middle\">", out);
        }
        put_tick_label(out, v, step, max_abs);
        fputs("</text>\n", out);
    }
}

/* ---- series ---- */

static int finite_point(const ilr_plot_series *s, int i) {
    return i >= 0 && i < s->n && isfinite(s->x[i]) && isfinite(s->y[i]);
}

static void put_stroke(FILE *out, int index) {
    fprintf(out, "stroke=\"%s\" stroke-width=\"1.5\"%s", palette[index % PALETTE],
            index / PALETTE % 2 ? " stroke-dasharray=\"6 3\"" : "");
}

/* The runs of two or more finite points as polylines. */
static void put_lines(FILE *out, const frame *f, const ilr_plot_series *s, int index) {
    fputs("<g fill=\"none\" stroke-linejoin=\"round\" ", out);
    put_stroke(out, index);
    fputs(">\n", out);
    for (int i = 0; i < s->n; i++) {
        if (!finite_point(s, i) || !finite_point(s, i + 1)) continue;
        int start = !finite_point(s, i - 1);
        fputs(start ? "<polyline points=\"" : " ", out);
        if (start) put_num(out, px_x(f, s->x[i])), fputc(',', out), put_num(out, px_y(f, s->y[i])), fputc(' ', out);
        put_num(out, px_x(f, s->x[i + 1])), fputc(',', out), put_num(out, px_y(f, s->y[i + 1]));
        if (!finite_point(s, i + 2)) fputs("\"/>\n", out);
    }
    fputs("</g>\n", out);
}

/* Dots: at every finite point with markers, else at the points that have no finite neighbour. */
static void put_dots(FILE *out, const frame *f, const ilr_plot_series *s, int index, int markers) {
    int open = 0;
    for (int i = 0; i < s->n; i++) {
        if (!finite_point(s, i) || (!markers && (finite_point(s, i - 1) || finite_point(s, i + 1)))) continue;
        if (!open) fprintf(out, "<g fill=\"%s\">\n", palette[index % PALETTE]), open = 1;
        fputs("<circle cx=\"", out), put_num(out, px_x(f, s->x[i]));
        fputs("\" cy=\"", out), put_num(out, px_y(f, s->y[i])), fputs("\" r=\"2.5\"/>\n", out);
    }
    if (open) fputs("</g>\n", out);
}

/* ---- legend ---- */

static int inside(const box *b, double x, double y) {
    return x >= b->x && x <= b->x + b->w && y >= b->y && y <= b->y + b->h;
}

/* Drawn points (and points along each segment) that b covers. */
static long covered(const frame *f, const ilr_plot_series *series, int num_series, const box *b) {
    long n = 0;
    for (int s = 0; s < num_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            if (!finite_point(&series[s], i)) continue;
            double x = px_x(f, series[s].x[i]), y = px_y(f, series[s].y[i]);
            n += inside(b, x, y);
            if (!finite_point(&series[s], i + 1)) continue;
            double x1 = px_x(f, series[s].x[i + 1]), y1 = px_y(f, series[s].y[i + 1]);
            for (int k = 1; k < 4; k++) n += inside(b, x + (x1 - x) * k / 4, y + (y1 - y) * k / 4);
        }
    return n;
}

/* The legend's box: its size from the names, in the corner of the plot area that covers the fewest
 * points (ties: top right, top left, bottom right, bottom left). */
static box legend_box(const frame *f, const ilr_plot_series *series, int num_series) {
    int chars = 0;
    for (int s = 0; s < num_series; s++) {
        int c = put_text(NULL, series[s].name);
        if (c > chars) chars = c;
    }
    box b = {0, 0, fmin(40 + 7.0 * chars, f->w - 16), 8 + 18.0 * num_series}, best = b;
    long best_n = -1;
    for (int corner = 0; corner < 4; corner++) {
        b.x = corner % 2 ? f->left + 8 : f->left + f->w - 8 - b.w;
        b.y = corner / 2 ? f->top + f->h - 8 - b.h : f->top + 8;
        long n = covered(f, series, num_series, &b);
        if (best_n < 0 || n < best_n) best = b, best_n = n;
    }
    return best;
}

static void put_legend(FILE *out, const frame *f, const ilr_plot_series *series, int num_series, int markers) {
    if (num_series == 0) return;
    box b = legend_box(f, series, num_series);
    fputs("<rect x=\"", out), put_num(out, b.x), fputs("\" y=\"", out), put_num(out, b.y);
    fputs("\" width=\"", out), put_num(out, b.w), fputs("\" height=\"", out), put_num(out, b.h);
    fputs("\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n", out);
    for (int s = 0; s < num_series; s++) {
        double y = b.y + 4 + 18 * s + 9;
        fputs("<line x1=\"", out), put_num(out, b.x + 8), fputs("\" y1=\"", out), put_num(out, y);
        fputs("\" x2=\"", out), put_num(out, b.x + 30), fputs("\" y2=\"", out), put_num(out, y), fputs("\" ", out);
        put_stroke(out, s);
        fputs("/>\n", out);
        if (markers || series[s].n == 1) {
            fputs("<circle cx=\"", out), put_num(out, b.x + 19), fputs("\" cy=\"", out), put_num(out, y);
            fprintf(out, "\" r=\"2.5\" fill=\"%s\"/>\n", palette[s % PALETTE]);
        }
        fputs("<text x=\"", out), put_num(out, b.x + 36), fputs("\" y=\"", out), put_num(out, y + 4);
        fputs("\">", out);
        put_text(out, series[s].name);
        fputs("</text>\n", out);
    }
}

/* ---- the document ---- */

/* <text ATTRS>TEXT</text> when text is non-empty. */
static void put_label(FILE *out, const char *attrs, const char *text) {
    if (!text || !*text) return;
    fprintf(out, "<text %s>", attrs);
    put_text(out, text);
    fputs("</text>\n", out);
}

static void put_document(FILE *out, const frame *f, int width, int height, const ilr_plot_series *series,
                         int num_series, const ilr_plot_options *opt) {
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Arial, Helvetica, sans-serif\" font-size=\"12\">\n",
            width, height, width, height);
    if (opt->title && *opt->title) fputs("<title>", out), put_text(out, opt->title), fputs("</title>\n", out);
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<defs><clipPath id=\"ilr-plot-area\"><rect x=\"", out);
    put_num(out, f->left), fputs("\" y=\"", out), put_num(out, f->top), fputs("\" width=\"", out);
    put_num(out, f->w), fputs("\" height=\"", out), put_num(out, f->h), fputs("\"/></clipPath></defs>\n", out);
    char attrs[128];
    snprintf(attrs, sizeof attrs, "x=\"%.2f\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\"",
             width / 2.0);
    put_label(out, attrs, opt->title);
    fputs("<g font-size=\"11\" fill=\"#333333\">\n", out);
    put_axis(out, f, 0);
    put_axis(out, f, 1);
    fputs("</g>\n<rect x=\"", out);
    put_num(out, f->left), fputs("\" y=\"", out), put_num(out, f->top), fputs("\" width=\"", out);
    put_num(out, f->w), fputs("\" height=\"", out), put_num(out, f->h);
    fputs("\" fill=\"none\" stroke=\"#333333\"/>\n", out);
    snprintf(attrs, sizeof attrs, "x=\"%.2f\" y=\"%d\" text-anchor=\"middle\"", f->left + f->w / 2, height - 10);
    put_label(out, attrs, opt->x_label);
    snprintf(attrs, sizeof attrs, "transform=\"translate(18 %.2f) rotate(-90)\" text-anchor=\"middle\"",
             f->top + f->h / 2);
    put_label(out, attrs, opt->y_label);
    fputs("<g clip-path=\"url(#ilr-plot-area)\">\n", out);
    for (int s = 0; s < num_series; s++) {
        put_lines(out, f, &series[s], s);
        put_dots(out, f, &series[s], s, opt->markers);
    }
    fputs("</g>\n", out);
    put_legend(out, f, series, num_series, opt->markers);
    fputs("</svg>\n", out);
}

static int check_input(const ilr_plot_series *series, int num_series, const ilr_plot_options *opt, int *width,
                       int *height) {
    if (num_series < 0 || (num_series > 0 && !series))
        return ILR_FAIL(ILR_EINVAL, "plot: %d series (at %p)", num_series, (const void *)series);
    for (int s = 0; s < num_series; s++)
        if (series[s].n < 0 || (series[s].n > 0 && (!series[s].x || !series[s].y)))
            return ILR_FAIL(ILR_EINVAL, "plot: series %d ('%s') has %d points and %s", s,
                            series[s].name ? series[s].name : "", series[s].n,
                            series[s].n < 0 ? "a negative count" : "no x or y values");
    *width = opt->width ? opt->width : ILR_PLOT_DEFAULT_WIDTH;
    *height = opt->height ? opt->height : ILR_PLOT_DEFAULT_HEIGHT;
    if (*width < 200 || *width > 20000 || *height < 200 || *height > 20000)
        return ILR_FAIL(ILR_EINVAL, "plot: size %d x %d is outside 200..20000 pixels", *width, *height);
    if (isinf(opt->y_min) || isinf(opt->y_max))
        return ILR_FAIL(ILR_EINVAL, "plot: y_min and y_max must be finite or NaN (from the data)");
    return 0;
}

int ilr_plot_svg(const ilr_plot_series *series, int num_series, const ilr_plot_options *opt, char **svg) {
    *svg = NULL;
    ilr_plot_options defaults = ilr_plot_default_options();
    if (!opt) opt = &defaults;
    int width = 0, height = 0;
    frame f;
    int rc = check_input(series, num_series, opt, &width, &height);
    if (!rc) rc = make_frame(series, num_series, opt, width, height, &f);
    if (rc) return rc;
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    if (!out) return ILR_FAIL(ILR_ENOMEM, "plot: out of memory");
    put_document(out, &f, width, height, series, num_series, opt);
    int failed = ferror(out);
    failed |= fclose(out) != 0;
    if (failed) {
        free(buf);
        return ILR_FAIL(ILR_ENOMEM, "plot: out of memory writing the SVG");
    }
    *svg = buf;
    return 0;
}

void ilr_plot_smooth(const double *y, int n, int window, double *out) {
    double sum = 0;
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (isfinite(y[i])) sum += y[i], count++;
        if (window > 0 && i >= window && isfinite(y[i - window])) sum -= y[i - window], count--;
        out[i] = !isfinite(y[i]) ? NAN : window <= 1 ? y[i] : sum / count;
    }
}
