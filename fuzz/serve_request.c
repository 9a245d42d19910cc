/* libFuzzer target: `ilr serve`'s request parser (POST /v1/completions and /v1/chat/completions bodies, outside
 * input from the network), both kinds on every input, and the error body built from whatever it reports.
 * Seeds: fuzz/corpus/serve_request. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int kind = ILR_SERVE_COMPLETIONS; kind <= ILR_SERVE_CHAT; kind++) {
        ilr_serve_request r;
        const char *param;
        if (ilr_serve_request_parse(&r, (ilr_serve_kind)kind, (const char *)data, size, &param)) {
            char *e = ilr_serve_error_json(ilr_last_error(), "invalid_request_error", param, NULL);
            assert(e); /* every message must make an error body */
            free(e);
            continue;
        }
        assert(r.model && r.n >= 1 && r.num_stop <= ILR_SERVE_MAX_STOP);
        assert(r.rounds >= 1 && r.rounds <= 16 && r.max_peer_tokens >= 1 && (r.compete == 0 || r.compete == 1));
        for (int i = 0; i < r.num_messages; i++) assert(strlen(r.messages[i].content) < size);
        for (int i = 0; i < r.num_stop; i++) assert(r.stop[i][0]);
        ilr_serve_request_free(&r);
    }
    return 0;
}
