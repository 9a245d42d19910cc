/* libFuzzer target: arbitrary bytes as an IRT response file (`ilr irt fit --responses`).  What reads must fit:
 * Newton converges (the log posterior is strictly concave), every parameter and standard error is finite
 * and mean D = 0.  Seeds: fuzz/corpus/irt_responses. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ilr/irt.h"

static void check_fit(const ilr_irt_responses *r) {
    ilr_irt_options opt = ilr_irt_options_default();
    ilr_irt_fit fit;
    if (ilr_irt_fit_run(r, &opt, &fit) != 0) abort();
    double mean = 0;
    for (int q = 0; q < fit.num_questions; q++) {
        if (!isfinite(fit.difficulty[q]) || !isfinite(fit.difficulty_se[q])) abort();
        mean += fit.difficulty[q] / fit.num_questions;
    }
    for (int i = 0; i < fit.num_agents; i++)
        if (!isfinite(fit.gamma[i]) || !isfinite(fit.gamma_se[i])) abort();
    if (fabs(mean) > 1e-9 || !isfinite(fit.log_posterior)) abort();
    double gamma, se;
    if (ilr_irt_fit_gamma(&fit, r->agents[0], &gamma, &se) != 0 || gamma != fit.gamma[0]) abort();
    ilr_irt_fit_free(&fit);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_irt_responses r;
    ilr_irt_responses_init(&r);
    if (ilr_irt_responses_parse((const char *)data, size, "fuzz.jsonl", &r) == 0) check_fit(&r);
    ilr_irt_responses_free(&r);
    return 0;
}
