/* A progress bar on stderr for long work: done/total, rate, ETA.  On a terminal it redraws one line
 * (at most 10 times a second); when stderr is not a terminal it prints a plain line at most every
 * 10 seconds (and at the end), so logs stay readable. */
#ifndef ILR_PROGRESS_H
#define ILR_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    char label[48];
    char unit[16];
    int64_t total; /* 0 when unknown */
    int64_t done;
    double start, last_draw;
    int is_tty;
    int quiet;
    FILE *stream; /* stderr unless a test redirects it */
} ilr_progress;

void ilr_progress_begin(ilr_progress *p, const char *label, int64_t total, const char *unit);
/* Sets the done count; draws when due. */
void ilr_progress_update(ilr_progress *p, int64_t done);
/* Adds to the done count; draws when due. */
void ilr_progress_add(ilr_progress *p, int64_t delta);
/* Draws the final state and ends the line. */
void ilr_progress_end(ilr_progress *p);
/* Formats "done/total unit, rate unit/s, ETA" into out (used for both kinds of output; testable). */
void ilr_progress_format(const ilr_progress *p, double now, char *out, size_t cap);

#endif
