/* Encoding: added-token splitting, NFC, regex pre-tokenization and byte-level BPE (see ilr/tokenizer.h). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "ilr/error.h"
#include "internal.h"

/* Working memory of one encode call: BPE symbols and heap, and a cache of words already encoded. */
typedef struct {
    int *id, *prev, *next;
    uint64_t *heap; /* rank << 40 | position << 8 ... packed: see heap_key */
    int cap, heap_count;
    ilr_strmap cache;  /* word bytes -> offset of [count, ids...] in pool */
    int *pool;
    size_t pool_used, pool_cap;
    pcre2_match_data *match;
} encoder;

static int push_id(ilr_tok_ids *out, int id) {
    if (out->count == out->cap) {
        int cap = out->cap ? out->cap * 2 : 64;
        int *ids = realloc(out->ids, sizeof(int) * (size_t)cap);
        if (!ids) return ILR_FAIL(ILR_ENOMEM, "tokenizer: out of memory for %d ids", cap);
        out->ids = ids;
        out->cap = cap;
    }
    out->ids[out->count++] = id;
    return 0;
}

void ilr_tok_ids_free(ilr_tok_ids *ids) {
    free(ids->ids);
    memset(ids, 0, sizeof *ids);
}

static int grow_symbols(encoder *e, int n) {
    if (n <= e->cap) return 0;
    int cap = n * 2;
    int *id = realloc(e->id, sizeof(int) * (size_t)cap), *prev = id ? realloc(e->prev, sizeof(int) * (size_t)cap) : NULL;
    if (id) e->id = id;
    if (prev) e->prev = prev;
    int *next = prev ? realloc(e->next, sizeof(int) * (size_t)cap) : NULL;
    if (next) e->next = next;
    uint64_t *heap = next ? realloc(e->heap, sizeof(uint64_t) * (size_t)cap * 2) : NULL;
    if (!heap) return ILR_FAIL(ILR_ENOMEM, "tokenizer: out of memory for a word of %d bytes", n);
    e->heap = heap;
    e->cap = cap;
    return 0;
}

/* Heap entries order by merge rank, then by position (leftmost first), as Hugging Face's BPE does. */
static uint64_t heap_key(uint32_t rank, int pos) { return (uint64_t)rank << 32 | (uint32_t)pos; }

static void heap_push(encoder *e, uint64_t key) {
    int i = e->heap_count++;
    while (i > 0 && e->heap[(i - 1) / 2] > key) {
        e->heap[i] = e->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    e->heap[i] = key;
}

static uint64_t heap_pop(encoder *e) {
    uint64_t top = e->heap[0], last = e->heap[--e->heap_count];
    int i = 0, n = e->heap_count;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && e->heap[c + 1] < e->heap[c]) c++;
        if (e->heap[c] >= last) break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n) e->heap[i] = last;
    return top;
}

static int merge_of(const ilr_tokenizer *t, int a, int b, uint64_t *rank_and_id) {
    return ilr_u64map_get(&t->merges, (uint64_t)(uint32_t)a << 32 | (uint32_t)b, rank_and_id);
}

static void push_pair(const ilr_tokenizer *t, encoder *e, int pos) {
    uint64_t m;
    if (pos >= 0 && e->next[pos] >= 0 && merge_of(t, e->id[pos], e->id[e->next[pos]], &m))
        heap_push(e, heap_key((uint32_t)(m >> 32), pos));
}

/* BPE over the bytes of one word; appends the ids to out. */
static int bpe_word(const ilr_tokenizer *t, encoder *e, const unsigned char *w, int n, ilr_tok_ids *out) {
    if (t->ignore_merges || n == 1) {
        int whole = ilr_strmap_get(&t->bpe_ids, (const char *)w, (size_t)n);
        if (whole >= 0) return push_id(out, whole);
    }
    int rc = grow_symbols(e, n);
    if (rc) return rc;
    for (int i = 0; i < n; i++) {
        e->id[i] = t->byte_token[w[i]];
        if (e->id[i] < 0) return ILR_FAIL(ILR_EUNSUPPORTED, "tokenizer: the vocabulary has no token for byte 0x%02x", w[i]);
        e->prev[i] = i - 1;
        e->next[i] = i + 1 < n ? i + 1 : -1;
    }
    e->heap_count = 0;
    for (int i = 0; i + 1 < n; i++) push_pair(t, e, i);
    while (e->heap_count) {
        uint64_t key = heap_pop(e), m;
        int pos = (int)(uint32_t)key, right = e->next[pos];
        /* stale entries: the left symbol was merged away (id -1) or the pair changed since the push */
        if (e->id[pos] < 0 || right < 0 || !merge_of(t, e->id[pos], e->id[right], &m) || (m >> 32) != key >> 32)
            continue;
        e->id[pos] = (int)(uint32_t)m;
        e->id[right] = -1;
        e->next[pos] = e->next[right];
        if (e->next[right] >= 0) e->prev[e->next[right]] = pos;
        push_pair(t, e, e->prev[pos]);
        push_pair(t, e, pos);
    }
    for (int i = 0; i >= 0 && !rc; i = e->next[i]) rc = push_id(out, e->id[i]);
    return rc;
}

/* Words repeat: each distinct word of a call goes through BPE once. */
static int encode_word(const ilr_tokenizer *t, encoder *e, const unsigned char *w, int n, ilr_tok_ids *out) {
    int32_t at = ilr_strmap_get(&e->cache, (const char *)w, (size_t)n);
    if (at >= 0) {
        for (int i = 0; i < e->pool[at]; i++)
            if (push_id(out, e->pool[at + 1 + i])) return ILR_ENOMEM;
        return 0;
    }
    int start = out->count, rc = bpe_word(t, e, w, n, out);
    if (rc || n > 256) return rc; /* long words are rare: not worth caching */
    size_t need = (size_t)(out->count - start) + 1;
    if (e->pool_used + need > e->pool_cap) {
        size_t cap = (e->pool_used + need) * 2;
        int *pool = realloc(e->pool, sizeof(int) * cap);
        if (!pool) return 0; /* the cache is an optimisation only */
        e->pool = pool;
        e->pool_cap = cap;
    }
    e->pool[e->pool_used] = out->count - start;
    memcpy(e->pool + e->pool_used + 1, out->ids + start, sizeof(int) * (need - 1));
    ilr_strmap_put(&e->cache, (const char *)w, (size_t)n, (int32_t)e->pool_used);
    e->pool_used += need;
    return 0;
}

/* Pre-tokenizes a span (already normalised) by the split regex, Isolated behaviour: matches and the gaps
 * between them are words. */
static int split_words(const ilr_tokenizer *t, encoder *e, const char *s, size_t n, ilr_tok_ids *out) {
    if (!t->split) return n ? encode_word(t, e, (const unsigned char *)s, (int)n, out) : 0;
    size_t pos = 0;
    int rc = 0;
    while (pos < n && !rc) {
        int m = pcre2_match(t->split, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, e->match, NULL);
        if (m < 0) break; /* no more matches: the rest is one gap */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->match);
        size_t start = ov[0], end = ov[1];
        if (start > pos) rc = encode_word(t, e, (const unsigned char *)s + pos, (int)(start - pos), out);
        if (!rc && end > start) rc = encode_word(t, e, (const unsigned char *)s + start, (int)(end - start), out);
        if (end == start) { /* an empty match: step over one character */
            int complete, k = ilr_utf8_next((const unsigned char *)s + end, n - end, &complete);
            end += k > 0 ? (size_t)k : 1;
            if (!rc && end > pos) rc = encode_word(t, e, (const unsigned char *)s + pos, (int)(end - pos), out);
        }
        pos = end;
    }
    if (!rc && pos < n) rc = encode_word(t, e, (const unsigned char *)s + pos, (int)(n - pos), out);
    return rc;
}

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* A span between added tokens: normalise, add the prefix space if asked, split, BPE. */
static int encode_span(const ilr_tokenizer *t, encoder *e, const char *s, size_t n, ilr_tok_ids *out) {
    if (n == 0) return 0;
    utf8proc_uint8_t *normal = NULL;
    if (t->normalize_nfc && !is_ascii(s, n)) {
        utf8proc_ssize_t len = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &normal,
                                            UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (len < 0) return ILR_FAIL(ILR_EFORMAT, "tokenizer: NFC: %s", utf8proc_errmsg(len));
        s = (const char *)normal;
        n = (size_t)len;
    }
    char *spaced = NULL;
    if (t->add_prefix_space && s[0] != ' ') {
        spaced = malloc(n + 1);
        if (!spaced) return free(normal), ILR_FAIL(ILR_ENOMEM, "tokenizer: out of memory");
        spaced[0] = ' ';
        memcpy(spaced + 1, s, n);
        s = spaced;
        n++;
    }
    int rc = split_words(t, e, s, n, out);
    free(normal);
    free(spaced);
    return rc;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_word_byte(unsigned char c) { return c >= 0x80 || c == '_' || (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z'); }

/* The longest allowed added token at s[i], or NULL. */
static const ilr_added_token *added_at(const ilr_tokenizer *t, const char *s, size_t n, size_t i, unsigned flags) {
    for (int k = 0; k < t->num_added; k++) {
        const ilr_added_token *a = &t->added[k];
        if (a->special && !(flags & ILR_TOK_SPECIAL)) continue;
        if (a->len > n - i || s[i] != a->content[0] || memcmp(s + i, a->content, a->len) != 0) continue;
        if (a->single_word && ((i > 0 && is_word_byte((unsigned char)s[i - 1])) ||
                               (i + a->len < n && is_word_byte((unsigned char)s[i + a->len]))))
            continue;
        return a;
    }
    return NULL;
}

static int encode_text(const ilr_tokenizer *t, encoder *e, const char *s, size_t n, unsigned flags, ilr_tok_ids *out) {
    size_t span = 0;
    int rc = 0;
    unsigned char first_byte[256] = {0}; /* bytes that start some added token */
    for (int k = 0; k < t->num_added; k++) first_byte[(unsigned char)t->added[k].content[0]] = 1;
    for (size_t i = 0; i < n && !rc;) {
        const ilr_added_token *a = first_byte[(unsigned char)s[i]] ? added_at(t, s, n, i, flags) : NULL;
        if (!a) {
            i++;
            continue;
        }
        size_t end = i;
        if (a->lstrip)
            while (end > span && is_space(s[end - 1])) end--;
        rc = encode_span(t, e, s + span, end - span, out);
        if (!rc) rc = push_id(out, a->id);
        i += a->len;
        if (a->rstrip)
            while (i < n && is_space(s[i])) i++;
        span = i;
    }
    if (!rc) rc = encode_span(t, e, s + span, n - span, out);
    return rc;
}

int ilr_tok_encode(const ilr_tokenizer *t, const char *text, size_t len, unsigned flags, ilr_tok_ids *out) {
    char *clean = NULL;
    for (size_t i = 0; i < len;) { /* invalid UTF-8 becomes U+FFFD first */
        int complete, k = ilr_utf8_next((const unsigned char *)text + i, len - i, &complete);
        if (k < 0) {
            clean = ilr_utf8_sanitize(text, len, &len);
            if (!clean) return ILR_FAIL(ILR_ENOMEM, "tokenizer: out of memory");
            text = clean;
            break;
        }
        i += (size_t)k;
    }
    encoder e;
    memset(&e, 0, sizeof e);
    int rc = ilr_strmap_init(&e.cache, 1024);
    if (!rc && t->split && !(e.match = pcre2_match_data_create_from_pattern(t->split, NULL)))
        rc = ILR_FAIL(ILR_ENOMEM, "tokenizer: out of memory");
    for (int i = 0; !rc && (flags & ILR_TOK_ADD_SPECIAL) && i < t->nprefix; i++) rc = push_id(out, t->prefix[i]);
    if (!rc) rc = encode_text(t, &e, text, len, flags, out);
    for (int i = 0; !rc && (flags & ILR_TOK_ADD_SPECIAL) && i < t->nsuffix; i++) rc = push_id(out, t->suffix[i]);
    pcre2_match_data_free(e.match);
    ilr_strmap_free(&e.cache);
    free(e.id), free(e.prev), free(e.next), free(e.heap), free(e.pool);
    free(clean);
    return rc;
}
