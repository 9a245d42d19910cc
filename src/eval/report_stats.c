/* Intervals over seeds for reports (include/ilr/report.h): Student's t quantile and the t interval. */
#include <math.h>

#include "ilr/error.h"
#include "ilr/report.h"

/* t_{0.975, df} for df = 1..30 (exact to the digits given). */
static const double t975[30] = {
    12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851, 2.364624252, 2.306004135,
    2.262157163,  2.228138852, 2.200985160, 2.178812830, 2.160368656, 2.144786688, 2.131449546, 2.119905299,
    2.109815578,  2.100922040, 2.093024054, 2.085963447, 2.079613845, 2.073873068, 2.068657610, 2.063898562,
    2.059538553,  2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456};

double ilr_t_quantile975(int df) {
    if (df < 1) return NAN;
    if (df <= 30) return t975[df - 1];
    /* Cornish-Fisher expansion of t around the normal quantile z (Abramowitz & Stegun 26.7.5): beyond 30
     * degrees of freedom its error is below 1e-6. */
    const double z = 1.959963984540054, z2 = z * z, n = df;
    double g1 = (z2 + 1) * z / 4;
    double g2 = ((5 * z2 + 16) * z2 + 3) * z / 96;
    double g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384;
    double g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160;
    return z + g1 / n + g2 / (n * n) + g3 / (n * n * n) + g4 / (n * n * n * n);
}

int ilr_t_interval(const double *x, int n, ilr_ci95 *out) {
    if (n < 1) return ILR_FAIL(ILR_EINVAL, "a t interval needs at least one value, got %d", n);
    double mean = 0, ss = 0;
    for (int i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (int i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
    out->mean = mean;
    if (n < 2) {
        out->lo = out->hi = NAN;
        return 0;
    }
    double half = ilr_t_quantile975(n - 1) * sqrt(ss / (n - 1)) / sqrt((double)n);
    out->lo = mean - half;
    out->hi = mean + half;
    return 0;
}
