/* libFuzzer target: the safetensors parser on arbitrary bytes, and fp32 reads of whatever it accepts.
 * Seeds: fuzz/corpus/safetensors, a link to the test corpus tests/data/safetensors (read recursively). */
#include <stdlib.h>
#include <string.h>

#include "ilr/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_st_file f;
    if (ilr_st_parse(&f, data, size, "fuzz.safetensors") != 0) return 0;
    for (int i = 0; i < f.num_tensors; i++) {
        const ilr_st_tensor *t = &f.tensors[i];
        if (!ilr_dtype_is_float_weight(t->dtype) || t->numel > (1 << 20)) continue;
        float *out = malloc(sizeof(float) * (size_t)(t->numel ? t->numel : 1));
        if (out && ilr_st_read_f32(&f, t, out) == 0 && t->numel) {
            volatile float sink = out[t->numel - 1];
            (void)sink;
        }
        free(out);
    }
    ilr_st_close(&f);
    return 0;
}
