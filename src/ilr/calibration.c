/* Perception Calibration (see include/ilr/calibration.h). */
#include "ilr/calibration.h"

#include <math.h>

double ilr_calibration_term(double x, const float *r, int G, double bound, int *clipped) {
    double mean = 0, lo = r[0], hi = r[0];
    for (int k = 0; k < G; k++) {
        mean += r[k];
        if (r[k] < lo) lo = r[k];
        if (r[k] > hi) hi = r[k];
    }
    mean /= G;
    /* equal rewards: their mean is that value exactly (a rounded sum could put x a hair off it) */
    double d = hi == lo ? x - lo : x - mean;
    *clipped = 0;
    if (hi == lo) {
        *clipped = d != 0;
        return d > 0 ? bound : d < 0 ? -bound : 0.0;
    }
    double f = d / (hi - lo);
    if (f > bound) return *clipped = 1, bound;
    if (f < -bound) return *clipped = 1, -bound;
    return f;
}

void ilr_calibrate(float *out, const float *rewards, int m, int G, ilr_calibration_stats *stats) {
    double bound = 1.0 / (m - 1);
    for (int i = 0; i < m; i++)
        for (int k = 0; k < G; k++) {
            double x = rewards[i * G + k], shift = 0;
            for (int l = 0; l < m; l++) {
                if (l == i) continue;
                int clipped;
                shift += ilr_calibration_term(x, rewards + l * G, G, bound, &clipped);
                if (stats) stats->terms++, stats->clipped += clipped;
            }
            out[i * G + k] = (float)(x + shift);
            if (stats) stats->shift_abs_sum += fabs(shift), stats->shifts++;
        }
}
