/* A small pull scanner over JSON text, for the two big tables of tokenizer.json (model.vocab, 150k
 * entries, and model.merges): jansson builds a hash table and a string object per entry, which takes
 * 0.45 s for Qwen's 11 MB file; scanning in place takes a tenth of that.  Everything else in the file is
 * cut out as raw text with jscan_skip_value and parsed by jansson.  Errors name the line and column. */
#ifndef ILR_TOKENIZER_JSCAN_H
#define ILR_TOKENIZER_JSCAN_H

#include <stddef.h>

typedef struct {
    const char *text;
    size_t len, pos;
    const char *name; /* for messages */
    int depth;
} jscan;

/* Skips whitespace; returns the next character without consuming it, or 0 at the end. */
char jscan_peek(jscan *s);
/* Consumes the character c (after whitespace) or fails with a message. */
int jscan_expect(jscan *s, char c);
/* Reads a string into out (cap bytes, NUL-terminated, escapes decoded); *len gets its byte length. */
int jscan_string(jscan *s, char *out, size_t cap, size_t *len);
/* Reads an integer in [lo, hi]. */
int jscan_int(jscan *s, long long lo, long long hi, long long *out);
/* Skips one value of any kind; *start and *end (may be NULL) get its span. */
int jscan_skip_value(jscan *s, size_t *start, size_t *end);
/* Fails with "name:line:col: what". */
int jscan_fail(const jscan *s, const char *what);

#endif
