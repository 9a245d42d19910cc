/* Monotonic wall-clock time and human-readable durations and sizes (see include/ilr/timer.h). */
#include "ilr/timer.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

double ilr_time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ilr_timer_start(ilr_timer *t) { t->start = ilr_time_now(); }

double ilr_timer_elapsed(const ilr_timer *t) { return ilr_time_now() - t->start; }

/* The thresholds sit just below each unit's rollover so that rounding never prints "1000 ms" or "60.0 s". */
void ilr_format_duration(double seconds, char *out, unsigned long cap) {
    if (!(seconds > 0)) seconds = 0; /* negative and NaN read as 0 */
    if (seconds < 0.9995) {
        snprintf(out, cap, "%.0f ms", seconds * 1e3);
    } else if (seconds < 59.95) {
        snprintf(out, cap, "%.1f s", seconds);
    } else if (seconds < 3599.5) {
        long s = lround(seconds);
        snprintf(out, cap, "%ldm%02lds", s / 60, s % 60);
    } else {
        double minutes = seconds / 60.0;
        long m = minutes < 9e15 ? lround(minutes) : 0;
        snprintf(out, cap, "%ldh%02ldm", m / 60, m % 60);
    }
}

void ilr_format_bytes(double bytes, char *out, unsigned long cap) {
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (!(bytes > 0)) bytes = 0;
    if (bytes < 1023.5) {
        snprintf(out, cap, "%.0f B", bytes);
        return;
    }
    double v = bytes / 1024.0;
    int u = 0;
    while (v >= 1023.995 && u < 5) { /* would print as "1024.00" */
        v /= 1024.0;
        u++;
    }
    snprintf(out, cap, "%.2f %s", v, units[u]);
}
