/* Line charts as self-contained SVG 1.1 documents (training curves for `ilr plot`, reports and the README).
 *
 * Geometry: the plot area (the frame inside which data are drawn) spans pixels
 *   x in [ILR_PLOT_LEFT, width - ILR_PLOT_RIGHT],  y in [ILR_PLOT_TOP, height - ILR_PLOT_BOTTOM],
 * and a point (x, y) maps linearly onto it, y growing upwards:
 *   px = ILR_PLOT_LEFT + (x - x_lo) / (x_hi - x_lo) * (width - ILR_PLOT_LEFT - ILR_PLOT_RIGHT)
 *   py = ILR_PLOT_TOP + (y_hi - y) / (y_hi - y_lo) * (height - ILR_PLOT_TOP - ILR_PLOT_BOTTOM)
 * Axis ranges: x spans the finite data exactly; y spans opt->y_min..y_max where given, else the finite
 * data with 5% of their range added above and below.  A range of zero width (one point, a constant
 * series) is widened to v +- 10% of |v| (v +- 1 when v is 0); no data at all gives 0..1.
 *
 * Ticks (ilr_plot_ticks): the multiples of step inside the axis range, where step is the smallest
 * 1, 2 or 5 x 10^k that is at least a eighth of the range, so 3 to 9 ticks with a gridline each
 * (0..1 gives 0, 0.2, ..., 1; 0..37 gives 0, 5, ..., 35).  Tick labels have as many decimals as step needs.
 *
 * Series are drawn in order, as polylines in a fixed colour-blind-safe palette (Okabe & Ito: blue,
 * orange, bluish green, vermillion, reddish purple, sky blue, black, yellow; dashed from the 9th on),
 * clipped to the plot area.  A point whose x or y is NaN or infinite is skipped and breaks the line: each
 * run of finite points is one polyline, and a run of a single point is drawn as a dot.  The legend lists
 * every series (those with no points too) inside the corner of the plot area that covers the fewest
 * drawn points.  Text is XML-escaped; invalid UTF-8 and control characters become '?'.  Coordinates are
 * printed with two decimals: the same input gives the same bytes. */
#ifndef ILR_PLOT_H
#define ILR_PLOT_H

enum {
    ILR_PLOT_LEFT = 72,   /* pixels left of the plot area: y tick labels and the y label */
    ILR_PLOT_RIGHT = 16,  /* right of it */
    ILR_PLOT_TOP = 40,    /* above it: the title */
    ILR_PLOT_BOTTOM = 48, /* below it: x tick labels and the x label */
    ILR_PLOT_DEFAULT_WIDTH = 720,
    ILR_PLOT_DEFAULT_HEIGHT = 400,
};

typedef struct {
    const char *name; /* the legend's text (NULL: empty) */
    const double *x, *y;
    int n; /* points; 0: listed in the legend, nothing drawn */
} ilr_plot_series;

typedef struct {
    const char *title, *x_label, *y_label; /* NULL: none */
    int width, height;                     /* pixels, each in [200, 20000]; 0: 720 x 400 */
    double y_min, y_max;                   /* NAN: from the data (see above) */
    int markers;                           /* a dot at every point (sparse series such as eval accuracy) */
} ilr_plot_options;

/* Options with every field at its default (no text, 720 x 400, y from the data, no markers). */
ilr_plot_options ilr_plot_default_options(void);

/* Renders the chart into *svg (malloc'ed, NUL-terminated).  opt NULL: the defaults.  ILR_EINVAL on a
 * negative count, a series with n > 0 and no x or y, a size out of range, a y_min/y_max that is infinite
 * or not below the other, or data whose range overflows a double; *svg is NULL then. */
int ilr_plot_svg(const ilr_plot_series *series, int num_series, const ilr_plot_options *opt, char **svg);

/* The ticks of an axis from lo to hi (lo < hi, both finite): *step and the first tick *first (a multiple
 * of step, >= lo); returns the number of ticks (0 when there is no usable step; at most 9). */
int ilr_plot_ticks(double lo, double hi, double *step, double *first);

/* Trailing moving average: out[i] is the mean of the finite values among y[max(0, i - window + 1) .. i]
 * (fewer points at the start), and NaN where y[i] is not finite (so breaks stay breaks).  window <= 1
 * copies.  out must not overlap y. */
void ilr_plot_smooth(const double *y, int n, int window, double *out);

/* ---- charts of JSON-lines logs (train_log.jsonl, sft_log.jsonl) ---- */

typedef struct {
    double *x, *y;
    int n, cap;
} ilr_plot_curve;

void ilr_plot_curve_free(ilr_plot_curve *c);

/* Reads, for each key, the points (line[x_key], line[keys[k]]) of the lines of a JSONL log where both are
 * numbers (other lines are skipped) into curves[k] (zeroed by the caller; free each with ilr_plot_curve_free).
 * *numeric_keys (may be NULL) receives the keys that are numbers on some line, ", "-separated, in order of
 * first appearance (malloc'ed), for messages about a key that is not there.  A line that is not JSON is
 * ILR_EFORMAT naming file:line. */
int ilr_plot_read_log(const char *path, const char *x_key, const char *const *keys, int num_keys,
                      ilr_plot_curve *curves, char **numeric_keys);

/* A chart of keys from a log written atomically to svg_path, series named names[k] (NULL: the key).  A key
 * with no points is listed in the legend and drawn as nothing. */
int ilr_plot_log_svg(const char *log_path, const char *x_key, const char *const *keys, const char *const *names,
                     int num_keys, const ilr_plot_options *opt, const char *svg_path);

#endif
