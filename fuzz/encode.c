/* libFuzzer target: encoding arbitrary bytes (invalid UTF-8 included) with a real tokenizer, decoding the
 * result, and streaming-decoding ids taken from the input.  The tokenizer is $ILR_FUZZ_TOKENIZER, else
 * ../shared/data/tokenizers/qwen3, else the tiny one in fuzz/corpus/tokenizer_json.
 * Seeds: fuzz/corpus/encode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/tokenizer.h"

static ilr_tokenizer *tokenizer;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *env = getenv("ILR_FUZZ_TOKENIZER");
    const char *paths[] = {env ? env : "", "../shared/data/tokenizers/qwen3", "fuzz/corpus/tokenizer_json/tiny.json"};
    for (int i = 0; i < 3 && !tokenizer; i++)
        if (paths[i][0] && ilr_tok_load(&tokenizer, paths[i]) == 0) fprintf(stderr, "encode fuzzer: tokenizer %s\n", paths[i]);
    if (!tokenizer) abort(); /* a harness problem, not a finding */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ilr_tok_ids ids = {0};
    unsigned flags = size && (data[0] & 1) ? ILR_TOK_SPECIAL : 0;
    if (ilr_tok_encode(tokenizer, (const char *)data, size, flags, &ids) == 0) {
        char *back;
        size_t len;
        if (ilr_tok_decode(tokenizer, ids.ids, ids.count, ILR_TOK_NO_CLEANUP, &back, &len) == 0) free(back);
    }
    ilr_tok_ids_free(&ids);
    ilr_tok_stream s;
    ilr_tok_stream_init(&s);
    char out[1024];
    int vocab = ilr_tok_vocab_size(tokenizer);
    for (size_t i = 0; i + 3 <= size; i += 3) {
        int id = (int)((data[i] | data[i + 1] << 8 | data[i + 2] << 16) % (unsigned)vocab);
        if (ilr_tok_stream_push(tokenizer, &s, id, out, sizeof out) < 0) break;
    }
    ilr_tok_stream_flush(&s, out, sizeof out);
    return 0;
}
