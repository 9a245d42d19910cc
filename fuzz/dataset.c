/* libFuzzer target: arbitrary bytes as a JSONL dataset file, loaded with the default mapping and with every
 * registry mapping (each gold format, id filters and exclusions), then every item's prompt rendered.
 * Seeds: fuzz/corpus/dataset. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/dataset.h"

static const char *const templates[] = {"{{question}}!", "{{question}}{{prompt}}{{entry_point}}", "{{question}}{{tests}}"};

static void load(const uint8_t *data, size_t size, const ilr_dataset_mapping *m) {
    ilr_dataset ds;
    if (ilr_dataset_parse((const char *)data, size, "fuzz.jsonl", m, &ds)) return;
    if (ds.count <= 0 || !ds.items) abort();
    int t = ds.format == ILR_GOLD_CODE_HUMANEVAL ? 1 : ds.format == ILR_GOLD_CODE_MBPP ? 2 : 0;
    ds.template_text = strdup(templates[t]);
    ds.template_path = strdup("fuzz-template");
    for (int i = 0; i < ds.count && ds.template_text; i++) {
        char *p = NULL;
        if (ds.kind == ILR_TASK_MATH && (!ds.items[i].gold || !ds.items[i].gold[0])) abort();
        if (ilr_dataset_prompt(&ds, i, &p) || !p) abort(); /* every item renders with its kind's placeholders */
        free(p);
    }
    ilr_dataset_free(&ds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    load(data, size, NULL);
    for (int i = 0; i < ilr_dataset_registry_count(); i++) load(data, size, &ilr_dataset_registry_get(i)->mapping);
    return 0;
}
