/* libFuzzer target: tokenizer.json parsing (the in-place scanner for vocab/merges, jansson for the rest)
 * and, for whatever loads, an encode/decode round trip.  Seeds: fuzz/corpus/tokenizer_json. */
#include <stdlib.h>
#include <string.h>

#include "ilr/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_tokenizer *t;
    if (ilr_tok_parse(&t, (const char *)data, size, "fuzz.json") != 0) return 0;
    static const char text[] = "the cat <|end|> in 12345 héllo 你好\n\n";
    ilr_tok_ids ids = {0};
    if (ilr_tok_encode(t, text, sizeof text - 1, ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL, &ids) == 0) {
        char *back;
        size_t len;
        if (ilr_tok_decode(t, ids.ids, ids.count, 0, &back, &len) == 0) free(back);
    }
    ilr_tok_ids_free(&ids);
    ilr_tok_free(t);
    return 0;
}
