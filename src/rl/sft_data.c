/* SFT examples: prompt/response JSONL tokenized into one flat id buffer, and packed into batches
 * (see include/ilr/sft.h and src/rl/sft_internal.h). */
#include <stdlib.h>
#include <string.h>

#include "ilr/chat.h"
#include "ilr/error.h"
#include "ilr/json.h"
#include "ilr/log.h"
#include "ilr/rng.h"
#include "sft_internal.h"

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 256;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*buf, cap2 * elem);
    if (!p) return ILR_FAIL(ILR_ENOMEM, "out of memory holding SFT examples");
    *buf = p;
    *cap = cap2;
    return 0;
}

typedef struct {
    sft_data *d;
    const ilr_tokenizer *tok;
    const ilr_chat_template *chat;
    int eos, seq;
    size_t ids_cap, ex_cap;
} load_state;

/* The prompt text the model sees: raw, or one user turn of the chat template with the generation prompt. */
static int prompt_text(const load_state *s, const char *prompt, char **text, unsigned *flags) {
    if (!s->chat) {
        *text = strdup(prompt);
        *flags = ILR_TOK_SPECIAL | ILR_TOK_ADD_SPECIAL;
        return *text ? 0 : ILR_FAIL(ILR_ENOMEM, "out of memory");
    }
    ilr_chat_message m = {"user", prompt, NULL};
    size_t len;
    *flags = ILR_TOK_SPECIAL;
    return ilr_chat_render(s->chat, &m, 1, ILR_CHAT_GENERATION, text, &len);
}

static int add_example(json_t *line, int line_number, const char *name, void *user) {
    load_state *s = user;
    sft_data *d = s->d;
    const char *prompt, *response, *answer = NULL;
    int64_t level = 0;
    char number[64];
    if (ilr_json_get_string(line, "prompt", 1, name, &prompt) || ilr_json_get_string(line, "response", 1, name, &response) ||
        ilr_json_get_int(line, "level", 0, name, 0, ILR_MAX_LEVEL, &level) < 0)
        return ilr_last_error_code(); /* name is "file:line" */
    json_t *a = json_object_get(line, "answer");
    if (json_is_string(a)) answer = json_string_value(a);
    else if (json_is_integer(a)) snprintf(number, sizeof number, "%lld", (long long)json_integer_value(a)), answer = number;
    else if (a && !json_is_null(a))
        return ILR_FAIL(ILR_EFORMAT, "%s:%d: \"answer\" must be a string or an integer", name, line_number);
    char *ptext = NULL;
    unsigned flags = 0;
    ilr_tok_ids p = {0}, r = {0};
    int rc = prompt_text(s, prompt, &ptext, &flags);
    if (!rc) rc = ilr_tok_encode(s->tok, ptext, strlen(ptext), flags, &p);
    if (!rc) rc = ilr_tok_encode(s->tok, response, strlen(response), 0, &r);
    free(ptext);
    if (rc) {
        ilr_tok_ids_free(&p);
        ilr_tok_ids_free(&r);
        return ilr_error_prefix("%s:%d", name, line_number);
    }
    int len = p.count + r.count + 1;
    if (p.count + 2 > s->seq) { /* not even one response token fits */
        d->skipped++;
        ilr_tok_ids_free(&p);
        ilr_tok_ids_free(&r);
        return 0;
    }
    if (len > s->seq) d->truncated++, len = s->seq;
    size_t at = d->num_ids;
    rc = grow((void **)&d->ids, &s->ids_cap, at + (size_t)len, sizeof(int));
    if (!rc) rc = grow((void **)&d->ex, &s->ex_cap, (size_t)d->n + 1, sizeof(sft_example));
    if (!rc) {
        memcpy(d->ids + at, p.ids, sizeof(int) * (size_t)p.count);
        int rn = len - p.count - 1 < r.count ? len - p.count : r.count; /* truncated: no eos */
        memcpy(d->ids + at + p.count, r.ids, sizeof(int) * (size_t)rn);
        if (p.count + rn < len) d->ids[at + (size_t)len - 1] = s->eos;
        sft_example *e = &d->ex[d->n++];
        e->offset = at;
        e->len = len;
        e->prompt_len = p.count;
        e->level = (int)level;
        e->response = strdup(response);
        e->answer = answer ? strdup(answer) : NULL;
        e->prompt = strdup(prompt);
        if (!e->response || !e->prompt || (answer && !e->answer)) rc = ILR_FAIL(ILR_ENOMEM, "out of memory");
        d->num_ids += (size_t)len;
        d->response_tokens += len - p.count;
        if (len > d->max_len) d->max_len = len;
        if (len - p.count > d->max_response) d->max_response = len - p.count;
    }
    ilr_tok_ids_free(&p);
    ilr_tok_ids_free(&r);
    return rc;
}

int sft_data_load(sft_data *d, const char *path, const ilr_tokenizer *tok, const ilr_chat_template *chat, int eos,
                  int seq) {
    memset(d, 0, sizeof *d);
    load_state s = {.d = d, .tok = tok, .chat = chat, .eos = eos, .seq = seq};
    int rc = ilr_jsonl_read(path, add_example, &s);
    if (!rc && d->n == 0)
        rc = ILR_FAIL(ILR_EFORMAT, "%s: no usable examples (%d skipped: prompt longer than --seq %d)", path, d->skipped, seq);
    if (rc) sft_data_free(d);
    else if (d->skipped || d->truncated)
        ILR_LOG_W("%s: %d examples skipped (prompt alone fills --seq %d), %d truncated to %d tokens", path, d->skipped, seq,
                  d->truncated, seq);
    return rc;
}

void sft_data_free(sft_data *d) {
    for (int i = 0; i < d->n; i++) free(d->ex[i].response), free(d->ex[i].answer), free(d->ex[i].prompt);
    free(d->ex);
    free(d->ids);
    free(d->order);
    memset(d, 0, sizeof *d);
}

/* The order of epoch e: a permutation drawn from stream (seed, e), so a resumed run sees the same data. */
static int shuffle_epoch(sft_data *d, uint64_t seed, long epoch, int shuffle) {
    if (!d->order) {
        d->order = malloc(sizeof(int) * (size_t)d->n);
        if (!d->order) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    }
    for (int i = 0; i < d->n; i++) d->order[i] = i;
    if (shuffle) {
        ilr_rng rng;
        ilr_rng_init(&rng, seed, 1000 + (uint64_t)epoch);
        for (int i = d->n - 1; i > 0; i--) {
            int j = (int)ilr_rng_below(&rng, (uint32_t)i + 1), t = d->order[i];
            d->order[i] = d->order[j], d->order[j] = t;
        }
    }
    d->order_epoch = epoch;
    return 0;
}

/* Fills rows of batch->T tokens from the cursor on, next-fit (pack) or one example per row.  Returns the
 * rows filled (0 when the data ran out: only with wrap 0). */
int sft_batch_fill(sft_data *d, sft_batch *b, sft_cursor *cur, int rows, int pack, uint64_t seed, int shuffle, int wrap) {
    int T = b->T, filled = 0;
    b->target_count = 0;
    b->real_tokens = 0;
    for (int row = 0; row < rows; row++) {
        int *tok = b->tokens + (size_t)row * T, *tgt = b->targets + (size_t)row * T, *pos = b->positions + (size_t)row * T;
        int used = 0;
        for (int t = 0; t < T; t++) tok[t] = 0, tgt[t] = -1, pos[t] = 0;
        for (;;) {
            if (cur->index >= d->n) {
                if (!wrap) break;
                cur->epoch++, cur->index = 0;
            }
            if (d->order_epoch != cur->epoch || !d->order)
                if (shuffle_epoch(d, seed, cur->epoch, shuffle)) return ilr_last_error_code();
            const sft_example *e = &d->ex[d->order[cur->index]];
            if (used > 0 && (!pack || used + e->len > T)) break;
            const int *ids = d->ids + e->offset;
            for (int t = 0; t < e->len; t++) {
                tok[used + t] = ids[t];
                pos[used + t] = t;
                tgt[used + t] = t + 1 >= e->prompt_len && t + 1 < e->len ? ids[t + 1] : -1;
                b->target_count += tgt[used + t] >= 0;
            }
            used += e->len;
            cur->index++;
        }
        b->lengths[row] = used;
        b->real_tokens += used;
        if (used) filled++;
        else break;
    }
    return filled;
}

int sft_batch_init(sft_batch *b, int rows, int T) {
    memset(b, 0, sizeof *b);
    size_t n = (size_t)rows * T;
    b->T = T;
    b->tokens = malloc(sizeof(int) * n);
    b->targets = malloc(sizeof(int) * n);
    b->positions = malloc(sizeof(int) * n);
    b->lengths = calloc((size_t)rows, sizeof(int));
    b->dlogprob = malloc(sizeof(float) * n);
    if (!b->tokens || !b->targets || !b->positions || !b->lengths || !b->dlogprob) {
        sft_batch_free(b);
        return ILR_FAIL(ILR_ENOMEM, "out of memory for a %d x %d batch", rows, T);
    }
    return 0;
}

void sft_batch_free(sft_batch *b) {
    free(b->tokens);
    free(b->targets);
    free(b->positions);
    free(b->lengths);
    free(b->dlogprob);
    memset(b, 0, sizeof *b);
}
