/* Accuracy by difficulty level (see include/ilr/level_accuracy.h). */
#include "ilr/level_accuracy.h"

void ilr_level_accuracy_print(FILE *out, const int *correct, const int *total) {
    int any = 0;
    for (int l = 1; l <= ILR_MAX_LEVEL; l++)
        if (total[l]) {
            fprintf(out, "%s L%d %.0f%%", any ? "," : "  by level:", l, 100.0 * correct[l] / total[l]);
            any = 1;
        }
}

json_t *ilr_level_accuracy_json(const int *correct, const int *total) {
    json_t *levels = json_object();
    for (int l = 0; l <= ILR_MAX_LEVEL; l++)
        if (total[l]) {
            char key[16];
            snprintf(key, sizeof key, "%d", l);
            json_object_set_new(levels, key, json_real((double)correct[l] / total[l]));
        }
    return levels;
}
