/* libFuzzer target: arbitrary model text through the world checker and analysis (what a model writes is
 * outside input), against a fixed question, and the first line as a question of its own.
 * Seeds: fuzz/corpus/world_check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/rng.h"
#include "ilr/world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    ilr_world_problem p;
    ilr_world_verdict v;
    if (ilr_world_parse_question("Compute (12+7)*3-5.", &p)) abort();
    if (ilr_world_check_problem(&p, text, size, &v)) abort();
    if (v.correct && v.given != 52) abort();
    if (v.first_wrong < -1 || v.steps < 0 || (v.well_formed && v.steps < 1)) abort();
    char *an = NULL;
    if (ilr_world_analyse(&p, text, size, &an) || !an) abort();
    if (v.first_wrong < 0 && v.correct && strcmp(an, "All steps are correct.") != 0) abort();
    free(an);
    /* the first line as a question; when it is one, its own worked solution must check correct */
    const char *nl = memchr(text, '\n', size);
    size_t qlen = nl ? (size_t)(nl - text) : size;
    char *question = malloc(qlen + 1);
    if (!question) return 0;
    memcpy(question, text, qlen);
    question[qlen] = 0;
    if (ilr_world_parse_question(question, &p) == 0) {
        char *sol = NULL;
        if (ilr_world_solution(&p, &sol)) abort();
        if (ilr_world_check_problem(&p, sol, strlen(sol), &v) || !v.correct || v.first_wrong != -1) abort();
        free(sol);
        ilr_world_check(question, text + qlen, size - qlen, &v);
        /* a flawed solution, when one fits the bounds, checks wrong at its recorded step */
        ilr_rng rng;
        ilr_rng_init(&rng, size, 1);
        ilr_world_flaw f;
        if (p.ops >= 1 && ilr_world_flawed_solution(&p, ILR_WORLD_SKIP, &rng, &sol, &f) == 0) {
            if (ilr_world_check_problem(&p, sol, strlen(sol), &v) || v.correct || v.first_wrong != f.step) abort();
            free(sol);
        }
    }
    free(question);
    return 0;
}
