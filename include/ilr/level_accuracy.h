/* Accuracy by difficulty level, as the trainers and the evaluation print and log it (a tally shared by rl/ and
 * eval/, so it lives in base/): a dataset line's optional "level"
 * (0-ILR_MAX_LEVEL; 0 when none is given) tallied as correct / total per level. */
#ifndef ILR_LEVEL_ACCURACY_H
#define ILR_LEVEL_ACCURACY_H

#include <stdio.h>

#include <jansson.h>

#define ILR_MAX_LEVEL 9

/* "  by level: L1 69%, L2 72%" over levels 1..ILR_MAX_LEVEL with questions (nothing when none); no newline. */
void ilr_level_accuracy_print(FILE *out, const int *correct, const int *total);
/* {"0": 0.41, "1": 0.69, ...}: the accuracy of every level 0..ILR_MAX_LEVEL with questions (a new reference). */
json_t *ilr_level_accuracy_json(const int *correct, const int *total);

#endif
