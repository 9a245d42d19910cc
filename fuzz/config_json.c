/* libFuzzer target: config.json parsing on arbitrary bytes; what parses must also build a parameter
 * table and serialise back to a config that parses to the same values.
 * Seeds: fuzz/corpus/config_json (real Qwen2.5 and Llama-3 configs and broken variants). */
#include <assert.h>
#include <string.h>

#include "ilr/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_model_config c, back;
    if (ilr_config_parse((const char *)data, size, "config.json", &c) != 0) return 0;
    json_t *j = ilr_config_to_json(&c);
    int rc = ilr_config_from_json(j, "config.json", &back);
    json_decref(j);
    assert(rc == 0 && back.hidden_size == c.hidden_size && back.vocab_size == c.vocab_size);
    /* Keep the table small: the fuzzer should not allocate gigabytes for a huge config. */
    if ((long long)c.num_layers * 16 < 100000) {
        ilr_param_table t;
        if (ilr_param_table_build(&t, &c) == 0) ilr_param_table_free(&t);
    }
    ilr_config_param_count(&c);
    return 0;
}
