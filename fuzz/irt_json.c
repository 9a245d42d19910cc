/* libFuzzer target: arbitrary bytes as an irt.json (`irt.file` of an ILR config, `ilr interact --irt`).  What
 * loads names agents and questions whose values are finite, each found by its name, and gives a probability
 * in [0, 1] for every pair.  Seeds: fuzz/corpus/irt_json. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ilr/error.h"
#include "ilr/irt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_irt_fit fit;
    if (ilr_irt_fit_parse((const char *)data, size, "fuzz.json", &fit) != 0) return 0;
    for (int i = 0; i < fit.num_agents; i++) {
        double g, se;
        if (ilr_irt_fit_gamma(&fit, fit.agents[i], &g, &se) || !isfinite(g)) abort();
        for (int q = 0; q < fit.num_questions && q < 64; q++) {
            double d, p;
            if (ilr_irt_fit_difficulty(&fit, fit.questions[q], &d, NULL) || !isfinite(d)) abort();
            p = ilr_irt_probability(g, d);
            if (!(p >= 0 && p <= 1)) abort();
        }
    }
    if (ilr_irt_fit_gamma(&fit, "", &(double){0}, NULL) == 0 && fit.num_agents == 0) abort();
    ilr_error_clear();
    ilr_irt_fit_free(&fit);
    return 0;
}
