/* A progress line on stderr: redrawn in place on a terminal, plain lines in logs (see progress.h). */
#include "ilr/progress.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ilr/timer.h"

#define TTY_INTERVAL 0.1   /* seconds between redraws on a terminal */
#define LOG_INTERVAL 10.0  /* seconds between lines when stderr is a file or pipe */

void ilr_progress_begin(ilr_progress *p, const char *label, int64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total > 0 ? total : 0;
    p->start = p->last_draw = ilr_time_now();
    p->stream = stderr;
    p->is_tty = isatty(fileno(stderr));
    const char *env = getenv("ILR_PROGRESS");
    p->quiet = env && strcmp(env, "0") == 0;
}

/* A rate with about three significant digits. */
static void format_rate(double rate, char *out, size_t cap) {
    int decimals = rate >= 100 ? 0 : rate >= 10 ? 1 : 2;
    snprintf(out, cap, "%.*f", decimals, rate);
}

/* final: the line ends with the elapsed time instead of an ETA. */
static void format_line(const ilr_progress *p, double now, int final, char *out, size_t cap) {
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    const char *sp = p->unit[0] ? " " : "";
    char rate_s[32], time_s[32];
    format_rate(rate, rate_s, sizeof rate_s);
    if (final)
        ilr_format_duration(elapsed, time_s, sizeof time_s);
    else if (p->total > 0 && rate > 0)
        ilr_format_duration((double)(p->total - p->done) / rate, time_s, sizeof time_s);
    else
        snprintf(time_s, sizeof time_s, "?");
    int n;
    if (p->total > 0) {
        int pct = (int)(100.0 * (double)p->done / (double)p->total);
        n = snprintf(out, cap, "%s: %lld/%lld%s%s (%d%%), %s%s%s/s", p->label, (long long)p->done,
                     (long long)p->total, sp, p->unit, pct, rate_s, sp, p->unit);
    } else {
        n = snprintf(out, cap, "%s: %lld%s%s, %s%s%s/s", p->label, (long long)p->done, sp, p->unit, rate_s,
                     sp, p->unit);
    }
    if (n < 0 || (size_t)n >= cap) return;
    if (final) snprintf(out + n, cap - (size_t)n, ", elapsed %s", time_s);
    else if (p->total > 0) snprintf(out + n, cap - (size_t)n, ", ETA %s", time_s);
}

void ilr_progress_format(const ilr_progress *p, double now, char *out, size_t cap) {
    format_line(p, now, 0, out, cap);
}

/* "\033[K" clears what a longer previous line left to the right. */
static void draw(ilr_progress *p, double now, int final) {
    char line[256];
    format_line(p, now, final, line, sizeof line);
    if (p->is_tty) fprintf(p->stream, "\r%s\033[K%s", line, final ? "\n" : "");
    else fprintf(p->stream, "%s\n", line);
    fflush(p->stream);
    p->last_draw = now;
}

static void maybe_draw(ilr_progress *p) {
    if (p->quiet) return;
    double now = ilr_time_now();
    if (now - p->last_draw >= (p->is_tty ? TTY_INTERVAL : LOG_INTERVAL)) draw(p, now, 0);
}

void ilr_progress_update(ilr_progress *p, int64_t done) {
    p->done = done;
    maybe_draw(p);
}

void ilr_progress_add(ilr_progress *p, int64_t delta) {
    p->done += delta;
    maybe_draw(p);
}

void ilr_progress_end(ilr_progress *p) {
    if (!p->quiet) draw(p, ilr_time_now(), 1);
}
