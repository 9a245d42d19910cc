/* libFuzzer target: arbitrary bytes as a prompt template (prompts/ files are user-editable), rendered with a
 * fixed set of variables.  Seeds: fuzz/corpus/template. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *tmpl = malloc(size + 1), *out = NULL;
    if (!tmpl) return 0;
    memcpy(tmpl, data, size);
    tmpl[size] = 0;
    static const ilr_template_var vars[] = {{"question", "What is 2 + 3?"}, {"own", "5"}, {"peer", ""}};
    if (ilr_template_render(tmpl, "fuzz", vars, 3, &out) == 0 && strlen(out) > size * 15 + 1) abort();
    free(out);
    free(tmpl);
    return 0;
}
