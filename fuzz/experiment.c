/* libFuzzer target: arbitrary bytes as an experiment file (`ilr experiment EXP.yaml`): the YAML, the
 * checks on top of it (names, seeds, set words, match and baseline), and, when it loads, the plan of cells
 * (which reads each method's train config: in the fuzzer that is a missing file or one of configs/) and
 * experiment.json of the plan.  Nothing may crash, leak or read out of bounds; errors are fine.
 * Seeds: fuzz/corpus/experiment. */
#include <stddef.h>
#include <stdint.h>

#include "ilr/experiment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_experiment_config c;
    if (ilr_experiment_load_text(&c, (const char *)data, size, "fuzz.yaml")) return 0;
    long seeds[ILR_EXPERIMENT_MAX_SEEDS];
    ilr_experiment_seeds(&c, seeds, ILR_EXPERIMENT_MAX_SEEDS);
    ilr_experiment_plan plan;
    if (!ilr_experiment_plan_make(&c, &plan)) {
        json_t *j = NULL;
        if (!ilr_experiment_json(&c, &plan, 0, &j)) json_decref(j);
        ilr_experiment_plan_free(&plan);
    }
    ilr_experiment_free(&c);
    return 0;
}
