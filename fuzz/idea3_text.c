/* libFuzzer target: arbitrary model text in the Idea3 discussion: as a critique (its verdict), and as a peer's
 * solution and critique assembled into the analysis and fusion prompts of the world's and math's templates
 * (every byte passes; the text stays in the prompt as it was).  Seeds: fuzz/corpus/idea3_text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/idea3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ilr_idea3_prompts world, math;
    static int loaded;
    if (!loaded) {
        if (ilr_idea3_prompts_load(&world, "prompts/world", 1) || ilr_idea3_prompts_load(&math, "prompts/idea3/math", 0)) abort();
        loaded = 1;
    }
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0; /* model text reaches Idea3 as a NUL-terminated string */
    int v = ilr_idea3_verdict(text);
    if (v < -1 || v > 1) abort();
    const ilr_idea3_prompts *sets[2] = {&world, &math};
    for (int k = 0; k < 2; k++) {
        char *a = NULL, *f = NULL;
        const char *peers[1] = {text}, *reviews[1] = {text};
        if (ilr_idea3_analyse_prompt(sets[k], (ilr_stance)(size & 1), "Q", text, &a)) abort();
        if (ilr_idea3_fuse_prompt(sets[k], ILR_COMPETE, "Q", text, peers, reviews, 1, &f)) abort();
        if (!strstr(a, text) || !strstr(f, text)) abort();
        free(a);
        free(f);
    }
    free(text);
    ilr_error_clear();
    return 0;
}
