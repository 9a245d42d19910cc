/* A step's completions, generated in shares by the ranks of a job, gathered on every rank (see include/ilr/grpo.h). */
#include <stdlib.h>
#include <string.h>

#include "ilr/dist.h"
#include "ilr/error.h"
#include "ilr/grpo.h"

/* One completion on the wire: a header, then count ids, count log-probs and text_len bytes of text. */
typedef struct {
    int count, reason, correct, formatted;
    float reward;
    int has_text;
    size_t text_len;
} wire_head;

static size_t wire_size(const ilr_gen_output *o) {
    return sizeof(wire_head) + (sizeof(int) + sizeof(float)) * (size_t)o->count + (o->text ? o->text_len : 0);
}

static char *put(char *at, const void *src, size_t n) { return n ? (char *)memcpy(at, src, n) + n : at; }

static const char *take(const char *at, const char *end, void *dst, size_t n) {
    if (!at || (size_t)(end - at) < n) return NULL;
    if (n) memcpy(dst, at, n);
    return at + n;
}

/* Reads one completion at `at` into o and s (may be NULL); NULL when the bytes end too soon or cannot be held. */
static const char *unpack(const char *at, const char *end, ilr_gen_output *o, ilr_task_score *s) {
    wire_head h;
    if (!(at = take(at, end, &h, sizeof h)) || h.count < 0) return NULL;
    memset(o, 0, sizeof *o);
    o->count = h.count, o->reason = (ilr_stop_reason)h.reason, o->text_len = h.text_len;
    if (s) memset(s, 0, sizeof *s), s->reward = h.reward, s->correct = h.correct, s->formatted = h.formatted, s->rule = "";
    o->ids = malloc(sizeof(int) * (size_t)(h.count ? h.count : 1));
    o->logprobs = malloc(sizeof(float) * (size_t)(h.count ? h.count : 1));
    if (h.has_text) o->text = malloc(h.text_len + 1);
    if (!o->ids || !o->logprobs || (h.has_text && !o->text)) return NULL;
    at = take(at, end, o->ids, sizeof(int) * (size_t)h.count);
    at = take(at, end, o->logprobs, sizeof(float) * (size_t)h.count);
    if (h.has_text && (at = take(at, end, o->text, h.text_len))) o->text[h.text_len] = 0;
    return at;
}

int ilr_rollout_allgather(ilr_gen_output *out, const ilr_task_score *score, int n, ilr_gen_output *all,
                          ilr_task_score *all_score, int total) {
    if (ilr_dist_size() == 1) { /* one process: the share is the whole */
        if (n != total) return ILR_FAIL(ILR_EINVAL, "rollout gather: %d completions, %d expected", n, total);
        for (int k = 0; k < n; k++) {
            all[k] = out[k], memset(&out[k], 0, sizeof out[k]);
            if (score) all_score[k] = score[k];
        }
        return 0;
    }
    size_t bytes = 0;
    for (int k = 0; k < n; k++) bytes += wire_size(&out[k]);
    char *mine = malloc(bytes ? bytes : 1), *at = mine;
    if (!mine) return ILR_FAIL(ILR_ENOMEM, "out of memory for %zu bytes of completions", bytes);
    for (int k = 0; k < n; k++) {
        const ilr_gen_output *o = &out[k];
        wire_head h;
        memset(&h, 0, sizeof h); /* padding too: the bytes go over the wire */
        h.count = o->count, h.reason = (int)o->reason;
        if (score) h.correct = score[k].correct, h.formatted = score[k].formatted, h.reward = score[k].reward;
        h.has_text = o->text != NULL, h.text_len = o->text ? o->text_len : 0;
        at = put(at, &h, sizeof h);
        at = put(at, o->ids, sizeof(int) * (size_t)o->count);
        at = put(at, o->logprobs, sizeof(float) * (size_t)o->count);
        at = put(at, o->text, h.text_len);
    }
    void *gathered = NULL;
    size_t got = 0;
    int rc = ilr_dist_allgather(NULL, mine, bytes, &gathered, &got, NULL);
    free(mine);
    const char *from = gathered, *end = from + got;
    int k = 0;
    for (; !rc && k < total && from && from < end; k++) from = unpack(from, end, &all[k], score ? &all_score[k] : NULL);
    if (!rc && (!from || k != total || from != end))
        rc = ILR_FAIL(ILR_EFORMAT, "rollout gather: the ranks' %zu bytes do not hold the step's %d completions", got, total);
    if (rc) for (int j = 0; j < total; j++) ilr_gen_output_free(&all[j]);
    free(gathered);
    return rc;
}

int ilr_generate_share(ilr_generator *g, const ilr_tokenizer *tok, const int *const *prompts, const int *lens, int n, int G,
                       const ilr_gen_options *opt, const ilr_dist_group *group, ilr_gen_output **mine, int *mine_n) {
    long lo, hi;
    ilr_dist_share(n, ilr_dist_group_rank(group), ilr_dist_group_size(group), &lo, &hi);
    *mine_n = (int)(hi - lo) * G;
    *mine = calloc((size_t)(*mine_n ? *mine_n : 1), sizeof **mine);
    if (!*mine) return *mine_n = 0, ILR_FAIL(ILR_ENOMEM, "out of memory for %d completions", (int)(hi - lo) * G);
    ilr_gen_options o = *opt;
    o.stream_offset = opt->stream_offset + (uint64_t)lo * (uint64_t)G; /* sequence k draws from stream k, as in one call */
    return *mine_n ? ilr_generate(g, tok, prompts + lo, lens + lo, (int)(hi - lo), G, &o, *mine) : 0;
}
