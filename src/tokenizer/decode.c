/* Decoding ids to text, whole or streamed (see ilr/tokenizer.h). */
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "internal.h"

/* transformers' clean_up_tokenization: these replacements, in this order, each over the whole text. */
static void clean_up_spaces(char *s, size_t *len) {
    static const char *const pairs[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
                                           {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        size_t from = strlen(pairs[p][0]), to = strlen(pairs[p][1]), o = 0;
        for (size_t i = 0; i < *len;) {
            if (i + from <= *len && memcmp(s + i, pairs[p][0], from) == 0) {
                memcpy(s + o, pairs[p][1], to); /* to < from: writing never overtakes reading */
                o += to, i += from;
            } else {
                s[o++] = s[i++];
            }
        }
        *len = o;
        s[o] = 0;
    }
}

int ilr_tok_decode(const ilr_tokenizer *t, const int *ids, int n, unsigned flags, char **text, size_t *len) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab_size || !t->bytes[ids[i]])
            return ILR_FAIL(ILR_EINVAL, "tokenizer: id %d at position %d is not a token (vocabulary size %d)", ids[i], i,
                            t->vocab_size);
        total += t->byte_len[ids[i]];
    }
    char *raw = malloc(total + 1);
    if (!raw) return ILR_FAIL(ILR_ENOMEM, "tokenizer: out of memory decoding %d ids", n);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        if ((flags & ILR_TOK_SKIP_SPECIAL) && t->special[ids[i]]) continue;
        memcpy(raw + at, t->bytes[ids[i]], t->byte_len[ids[i]]);
        at += t->byte_len[ids[i]];
    }
    *text = ilr_utf8_sanitize(raw, at, len);
    free(raw);
    if (!*text) return ILR_FAIL(ILR_ENOMEM, "tokenizer: out of memory");
    if (t->cleanup_spaces && !(flags & ILR_TOK_NO_CLEANUP)) clean_up_spaces(*text, len);
    return 0;
}

void ilr_tok_stream_init(ilr_tok_stream *s) { s->npending = 0; }

/* Emits the complete characters of buf[n] (invalid subparts as U+FFFD) and keeps an unfinished tail. */
static int emit(ilr_tok_stream *s, const unsigned char *buf, size_t n, char *out, size_t cap, int final) {
    size_t o = 0, i = 0;
    while (i < n) {
        int complete, k = ilr_utf8_next(buf + i, n - i, &complete);
        if (k < 0 && !complete && !final) break; /* wait for the rest of this character */
        size_t len = k > 0 ? (size_t)k : 3;
        if (o + len > cap) return ILR_FAIL(ILR_EINVAL, "tokenizer: stream output buffer of %zu bytes is too small", cap);
        if (k > 0) memcpy(out + o, buf + i, len);
        else memcpy(out + o, "\xef\xbf\xbd", 3);
        o += len;
        i += k > 0 ? (size_t)k : (size_t)-k;
    }
    s->npending = (int)(n - i);
    memmove(s->pending, buf + i, n - i);
    return (int)o;
}

int ilr_tok_stream_push(const ilr_tokenizer *t, ilr_tok_stream *s, int id, char *out, size_t cap) {
    if (id < 0 || id >= t->vocab_size || !t->bytes[id])
        return ILR_FAIL(ILR_EINVAL, "tokenizer: id %d is not a token (vocabulary size %d)", id, t->vocab_size);
    size_t n = (size_t)s->npending + t->byte_len[id];
    unsigned char small[512], *buf = n <= sizeof small ? small : malloc(n);
    if (!buf) return ILR_FAIL(ILR_ENOMEM, "tokenizer: out of memory");
    memcpy(buf, s->pending, (size_t)s->npending);
    memcpy(buf + s->npending, t->bytes[id], t->byte_len[id]);
    int rc = emit(s, buf, n, out, cap, 0);
    if (buf != small) free(buf);
    return rc;
}

int ilr_tok_stream_flush(ilr_tok_stream *s, char *out, size_t cap) {
    unsigned char buf[8];
    size_t n = (size_t)s->npending;
    memcpy(buf, s->pending, n);
    return emit(s, buf, n, out, cap, 1);
}
