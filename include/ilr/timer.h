/* Wall-clock timing (monotonic). */
#ifndef ILR_TIMER_H
#define ILR_TIMER_H

/* Seconds since an arbitrary fixed point, monotonic, nanosecond resolution. */
double ilr_time_now(void);

typedef struct {
    double start;
} ilr_timer;

void ilr_timer_start(ilr_timer *t);
double ilr_timer_elapsed(const ilr_timer *t); /* seconds since start */

/* Formats a duration as "850 ms", "12.3 s", "4m05s", "2h13m". */
void ilr_format_duration(double seconds, char *out, unsigned long cap);
/* Formats a byte count as "512 B", "1.50 KiB", "2.00 GiB". */
void ilr_format_bytes(double bytes, char *out, unsigned long cap);

#endif
