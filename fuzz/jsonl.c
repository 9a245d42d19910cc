/* libFuzzer target: JSON-lines input (ilr score's and the datasets' format) and token-id arrays.
 * Seeds: fuzz/corpus/jsonl. */
#include <stdlib.h>

#include "ilr/json.h"

static int take_ids(json_t *line, int line_number, const char *name, void *user) {
    (void)line_number;
    (void)user;
    int *ids = NULL, count = 0;
    if (ilr_json_get_token_ids(line, "ids", name, 1000, &ids, &count) == 0 && count) {
        volatile int sink = ids[count - 1];
        (void)sink;
    }
    free(ids);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_jsonl_parse((const char *)data, size, "fuzz.jsonl", take_ids, NULL);
    return 0;
}
