/* Byte-level BPE training (see ilr/tokenizer_train.h): word counting, then merges with incremental pair
 * counts, as Hugging Face tokenizers' BpeTrainer does.
 *
 * The merge loop keeps, for every adjacent pair of token ids, its count over all words (weighted by word
 * frequency) and the words it was formed in (segments of a shared position pool: the words it was in at
 * the start, then those where a later merge formed it).  A max-heap orders pairs by (count desc, left id
 * asc, right id asc); entries go stale when a merge changes a count and are refreshed when popped.  Merging
 * a pair rewrites only the words that hold it, and the changes around each occurrence (the pair before
 * and after lose one, the pairs with the new token gain one) update the counts; pairs that gained become
 * new heap entries with the words where they formed.  This is Hugging Face's algorithm; where its trainer
 * would emit the same merge twice (a merged token that already exists, rare), ilr merges each pair once. */
#include "ilr/tokenizer_train.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "ilr/progress.h"
#include "ilr/timer.h"
#include "internal.h"

/* The pre-tokenizer regexes, exactly as Qwen2/Qwen3's and Llama-3's tokenizer.json files and GPT-2's
 * ByteLevel pre-tokenizer have them. */
static const char *const regex_names[3] = {"qwen2", "llama3", "gpt2"};
static const char *const regex_patterns[3] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
};

#define DEFAULT_MAX_TOKEN_BYTES 256
#define MAX_TOKEN_BYTES_LIMIT 500 /* ilr_tok_load reads pieces of up to 1023 bytes of JSON text */
#define MAX_VOCAB (1 << 24)       /* ilr_tok_load's id limit */
#define PROGRESS_STEP (1 << 20)

const char *ilr_tok_regex_name(ilr_tok_regex regex) { return regex >= 0 && regex < 3 ? regex_names[regex] : "?"; }
const char *ilr_tok_regex_pattern(ilr_tok_regex regex) { return regex >= 0 && regex < 3 ? regex_patterns[regex] : NULL; }

int ilr_tok_regex_parse(const char *name, ilr_tok_regex *out) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, regex_names[i]) == 0) return *out = (ilr_tok_regex)i, 0;
    return ILR_FAIL(ILR_EINVAL, "unknown pre-tokenizer regex '%s' (qwen2, llama3 or gpt2)", name);
}

struct ilr_tok_trainer {
    ilr_tok_train_options opt;
    char **specials;
    size_t *special_len;
    unsigned char special_first[256]; /* bytes that start some special token */
    pcre2_code *re;
    pcre2_match_data *match;
    /* words counted: bytes -> index, and each one's count */
    ilr_strmap words;
    int64_t *word_count;
    size_t num_words, words_cap;
    int64_t bytes_fed, words_fed;
    double count_seconds;
    /* the vocabulary: pieces (ByteLevel text), byte lengths, piece -> id */
    char **pieces;
    uint32_t *tok_bytes;
    int num_tokens, tokens_cap;
    ilr_strmap piece_ids;
    int *merges; /* left, right, merged per merge */
    int num_merges;
    int ran;
    ilr_progress *progress; /* while feed_files runs */
    int64_t progress_pending;
};

/* ---------------------------------------------------------------- setup ---- */

static int check_options(const ilr_tok_train_options *o) {
    if (o->num_specials < 0 || (o->num_specials && !o->specials))
        return ILR_FAIL(ILR_EINVAL, "tokenizer train: bad special token list");
    long long need = 256LL + o->num_specials;
    if (o->vocab_size < need)
        return ILR_FAIL(ILR_EINVAL, "tokenizer train: vocabulary size %d is below the %lld it needs at least "
                        "(256 bytes + %d special tokens)", o->vocab_size, need, o->num_specials);
    if (o->vocab_size > MAX_VOCAB)
        return ILR_FAIL(ILR_EINVAL, "tokenizer train: vocabulary size %d is above the limit %d", o->vocab_size, MAX_VOCAB);
    if (o->min_frequency < 0)
        return ILR_FAIL(ILR_EINVAL, "tokenizer train: minimum frequency %lld is negative", (long long)o->min_frequency);
    if (o->max_token_bytes < 0 || o->max_token_bytes == 1 || o->max_token_bytes > MAX_TOKEN_BYTES_LIMIT)
        return ILR_FAIL(ILR_EINVAL, "tokenizer train: maximum token length %d bytes is outside [2, %d]",
                        o->max_token_bytes, MAX_TOKEN_BYTES_LIMIT);
    if (!ilr_tok_regex_pattern(o->regex)) return ILR_FAIL(ILR_EINVAL, "tokenizer train: unknown regex %d", (int)o->regex);
    for (int i = 0; i < o->num_specials; i++) {
        const char *s = o->specials[i];
        if (!s || !s[0]) return ILR_FAIL(ILR_EINVAL, "tokenizer train: special token %d is empty", i + 1);
        for (size_t k = 0, n = strlen(s); k < n;) {
            int complete, len = ilr_utf8_next((const unsigned char *)s + k, n - k, &complete);
            if (len < 0) return ILR_FAIL(ILR_EINVAL, "tokenizer train: special token '%s' is not valid UTF-8", s);
            k += (size_t)len;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(s, o->specials[j]) == 0)
                return ILR_FAIL(ILR_EINVAL, "tokenizer train: special token '%s' is given twice", s);
    }
    return 0;
}

static int compile_regex(ilr_tok_trainer *t) {
    int code;
    PCRE2_SIZE at;
    const char *pattern = ilr_tok_regex_pattern(t->opt.regex);
    t->re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!t->re)
        return ILR_FAIL(ILR_EINVAL, "tokenizer train: the %s regex does not compile", ilr_tok_regex_name(t->opt.regex));
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* the interpreter is used if JIT is unavailable */
    t->match = pcre2_match_data_create_from_pattern(t->re, NULL);
    return t->match ? 0 : ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
}

/* Appends a token with the given piece (ByteLevel text) and byte length; returns its id or a negative code. */
static int add_token(ilr_tok_trainer *t, const char *piece, uint32_t nbytes) {
    if (t->num_tokens == t->tokens_cap) {
        int cap = t->tokens_cap ? t->tokens_cap * 2 : 512;
        char **pieces = realloc(t->pieces, sizeof *pieces * (size_t)cap);
        if (pieces) t->pieces = pieces;
        uint32_t *bytes = pieces ? realloc(t->tok_bytes, sizeof *bytes * (size_t)cap) : NULL;
        if (!bytes) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory for %d tokens", cap);
        t->tok_bytes = bytes;
        t->tokens_cap = cap;
    }
    int id = t->num_tokens;
    if (!(t->pieces[id] = strdup(piece))) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
    t->tok_bytes[id] = nbytes;
    t->num_tokens++;
    int rc = ilr_strmap_put(&t->piece_ids, piece, strlen(piece), id);
    return rc ? rc : id;
}

/* The 256 byte tokens, ordered by their ByteLevel characters' code points (GPT-2's vocabulary order). */
static int add_byte_tokens(ilr_tok_trainer *t) {
    uint32_t byte_char[256];
    ilr_bytelevel_tables(byte_char);
    for (uint32_t cp = 0; cp < 324; cp++) {
        for (int b = 0; b < 256; b++) {
            if (byte_char[b] != cp) continue;
            char piece[3] = {0};
            if (cp < 0x80) piece[0] = (char)cp;
            else piece[0] = (char)(0xc0 | cp >> 6), piece[1] = (char)(0x80 | (cp & 0x3f));
            int rc = add_token(t, piece, 1);
            if (rc < 0) return rc;
        }
    }
    return 0;
}

int ilr_tok_trainer_new(ilr_tok_trainer **out, const ilr_tok_train_options *opt) {
    *out = NULL;
    int rc = check_options(opt);
    if (rc) return rc;
    ilr_tok_trainer *t = calloc(1, sizeof *t);
    if (!t) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
    t->opt = *opt;
    if (!t->opt.min_frequency) t->opt.min_frequency = 2;
    if (!t->opt.max_token_bytes) t->opt.max_token_bytes = DEFAULT_MAX_TOKEN_BYTES;
    int n = opt->num_specials;
    t->specials = calloc((size_t)n + 1, sizeof *t->specials);
    t->special_len = calloc((size_t)n + 1, sizeof *t->special_len);
    t->opt.specials = (const char *const *)t->specials;
    if (!t->specials || !t->special_len) rc = ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
    for (int i = 0; !rc && i < n; i++) {
        if (!(t->specials[i] = strdup(opt->specials[i]))) rc = ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
        else t->special_len[i] = strlen(t->specials[i]), t->special_first[(unsigned char)t->specials[i][0]] = 1;
    }
    if (!rc) rc = ilr_strmap_init(&t->words, 1 << 16);
    if (!rc) rc = ilr_strmap_init(&t->piece_ids, (size_t)opt->vocab_size);
    if (!rc) rc = compile_regex(t);
    if (!rc) rc = add_byte_tokens(t);
    if (rc) {
        ilr_tok_trainer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

void ilr_tok_trainer_free(ilr_tok_trainer *t) {
    if (!t) return;
    for (int i = 0; t->specials && i < t->opt.num_specials; i++) free(t->specials[i]);
    for (int i = 0; i < t->num_tokens; i++) free(t->pieces[i]);
    free(t->specials);
    free(t->special_len);
    free(t->pieces);
    free(t->tok_bytes);
    free(t->word_count);
    free(t->merges);
    ilr_strmap_free(&t->words);
    ilr_strmap_free(&t->piece_ids);
    pcre2_match_data_free(t->match);
    pcre2_code_free(t->re);
    free(t);
}

/* ------------------------------------------------------- word counting ---- */

static int count_word(ilr_tok_trainer *t, const char *w, size_t n) {
    int32_t idx = ilr_strmap_get(&t->words, w, n);
    if (idx < 0) {
        if (t->num_words >= INT32_MAX) return ILR_FAIL(ILR_EUNSUPPORTED, "tokenizer train: more than 2^31 distinct words");
        if (t->num_words == t->words_cap) {
            size_t cap = t->words_cap ? t->words_cap * 2 : 1 << 16;
            int64_t *counts = realloc(t->word_count, sizeof *counts * cap);
            if (!counts) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory for %zu words", cap);
            t->word_count = counts;
            t->words_cap = cap;
        }
        idx = (int32_t)t->num_words++;
        t->word_count[idx] = 0;
        if (ilr_strmap_put(&t->words, w, n, idx)) return ILR_ENOMEM;
    }
    t->word_count[idx]++;
    t->words_fed++;
    return 0;
}

static void note_progress(ilr_tok_trainer *t, int64_t bytes) {
    if (!t->progress) return;
    t->progress_pending += bytes;
    if (t->progress_pending >= PROGRESS_STEP) {
        ilr_progress_add(t->progress, t->progress_pending);
        t->progress_pending = 0;
    }
}

/* Splits s[0..n) by the regex with Isolated behaviour (matches and the gaps between them are words), as
 * ilr_tok_encode's pre-tokenizer does, and counts each word. */
static int split_and_count(ilr_tok_trainer *t, const char *s, size_t n) {
    size_t pos = 0, reported = 0;
    int rc = 0;
    while (pos < n && !rc) {
        int m = pcre2_match(t->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, t->match, NULL);
        if (m < 0) break; /* no more matches: the rest is one gap */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->match);
        size_t start = ov[0], end = ov[1];
        if (start > pos) rc = count_word(t, s + pos, start - pos);
        if (!rc && end > start) rc = count_word(t, s + start, end - start);
        if (end == start) { /* an empty match: step over one character */
            int complete, k = ilr_utf8_next((const unsigned char *)s + end, n - end, &complete);
            end += k > 0 ? (size_t)k : 1;
            if (!rc && end > pos) rc = count_word(t, s + pos, end - pos);
        }
        pos = end;
        if (pos - reported >= PROGRESS_STEP) note_progress(t, (int64_t)(pos - reported)), reported = pos;
    }
    if (!rc && pos < n) rc = count_word(t, s + pos, n - pos);
    note_progress(t, (int64_t)(n - reported));
    return rc;
}

static int is_ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return 0;
    return 1;
}

/* Appends n bytes to *buf (capacity *cap, *used filled). */
static int append(char **buf, size_t *cap, size_t *used, const void *data, size_t n) {
    if (*used + n > *cap) {
        size_t c = (*used + n) * 2;
        char *grown = realloc(*buf, c);
        if (!grown) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory for %zu bytes", c);
        *buf = grown, *cap = c;
    }
    memcpy(*buf + *used, data, n);
    *used += n;
    return 0;
}

/* NFC of s[0..n) into a new buffer.  NFC never changes an ASCII character nor joins anything to one that
 * comes before it, so only the runs of non-ASCII characters go through utf8proc, each with the ASCII
 * character before it (a combining mark may compose with it: e + U+0301 is é). */
static int nfc_text(const char *s, size_t n, char **out, size_t *out_len) {
    size_t cap = n + n / 8 + 16, used = 0;
    char *buf = malloc(cap);
    if (!buf) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory for %zu bytes", cap);
    int rc = 0;
    for (size_t pos = 0; pos < n && !rc;) {
        size_t start = pos;
        while (start < n && (unsigned char)s[start] < 0x80) start++;
        if (start > pos && start < n) start--; /* the ASCII character before the run goes with it */
        if ((rc = append(&buf, &cap, &used, s + pos, start - pos)) || start == n) break;
        size_t end = start + 1;
        while (end < n && (unsigned char)s[end] >= 0x80) end++;
        utf8proc_uint8_t *mapped = NULL;
        utf8proc_ssize_t len = utf8proc_map((const utf8proc_uint8_t *)s + start, (utf8proc_ssize_t)(end - start),
                                            &mapped, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (len < 0) rc = ILR_FAIL(ILR_EFORMAT, "tokenizer train: NFC: %s", utf8proc_errmsg(len));
        else rc = append(&buf, &cap, &used, mapped, (size_t)len);
        free(mapped);
        pos = end;
    }
    if (rc) return free(buf), rc;
    *out = buf;
    *out_len = used;
    return 0;
}

/* A span between special tokens: normalise if asked, split, count. */
static int count_span(ilr_tok_trainer *t, const char *s, size_t n) {
    if (!n) return 0;
    if (!t->opt.nfc || is_ascii(s, n)) return split_and_count(t, s, n);
    char *normal = NULL;
    size_t len = 0;
    int rc = nfc_text(s, n, &normal, &len);
    if (!rc) rc = split_and_count(t, normal, len);
    free(normal);
    return rc;
}

/* The length of the longest special token at s[i..n), 0 when none starts there. */
static size_t special_at(const ilr_tok_trainer *t, const char *s, size_t n, size_t i) {
    size_t best = 0;
    for (int k = 0; k < t->opt.num_specials; k++) {
        size_t len = t->special_len[k];
        if (len > best && len <= n - i && memcmp(s + i, t->specials[k], len) == 0) best = len;
    }
    return best;
}

int ilr_tok_trainer_feed(ilr_tok_trainer *t, const char *text, size_t len) {
    if (t->ran) return ILR_FAIL(ILR_EINVAL, "tokenizer train: feed after the merges were learned");
    char *clean = NULL;
    for (size_t i = 0; i < len;) { /* invalid UTF-8 becomes U+FFFD first, as in ilr_tok_encode */
        int complete, k = ilr_utf8_next((const unsigned char *)text + i, len - i, &complete);
        if (k < 0) {
            if (!(clean = ilr_utf8_sanitize(text, len, &len))) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
            text = clean;
            break;
        }
        i += (size_t)k;
    }
    t->bytes_fed += (int64_t)len;
    double start = ilr_time_now();
    size_t span = 0;
    int rc = 0;
    for (size_t i = 0; i < len && !rc;) {
        size_t special = t->special_first[(unsigned char)text[i]] ? special_at(t, text, len, i) : 0;
        if (!special) {
            i++;
            continue;
        }
        rc = count_span(t, text + span, i - span);
        note_progress(t, (int64_t)special);
        i += special;
        span = i;
    }
    if (!rc) rc = count_span(t, text + span, len - span);
    free(clean);
    t->count_seconds += ilr_time_now() - start;
    return rc;
}

int ilr_tok_trainer_feed_file(ilr_tok_trainer *t, const char *path) {
    ilr_mapped_file f;
    int rc = ilr_file_map(path, &f);
    if (rc) return rc;
    rc = ilr_tok_trainer_feed(t, (const char *)f.data, f.size);
    if (rc) ilr_error_prefix("%s", path);
    ilr_file_unmap(&f);
    return rc;
}

int ilr_tok_trainer_feed_files(ilr_tok_trainer *t, const char *const *paths, int n) {
    int64_t total = 0;
    for (int i = 0; i < n; i++) { /* every file is checked before the long work starts */
        struct stat st;
        if (stat(paths[i], &st) != 0) return ILR_FAIL(ILR_ENOTFOUND, "corpus file '%s' does not exist", paths[i]);
        if (S_ISDIR(st.st_mode)) return ILR_FAIL(ILR_EINVAL, "corpus file '%s' is a directory", paths[i]);
        total += st.st_size;
    }
    ilr_progress progress;
    if (t->opt.progress) {
        ilr_progress_begin(&progress, "counting words", total, "B");
        t->progress = &progress;
        t->progress_pending = 0;
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) rc = ilr_tok_trainer_feed_file(t, paths[i]);
    if (t->progress) {
        ilr_progress_add(&progress, t->progress_pending);
        ilr_progress_end(&progress);
        t->progress = NULL;
    }
    return rc;
}

/* --------------------------------------------------------- merge state ---- */

typedef struct {
    int64_t count;
    uint32_t left, right, pair;
} heap_entry;

typedef struct {
    size_t off;   /* in the pool */
    uint32_t len;
    int32_t next; /* the pair's previous segment, -1 at the end */
} segment;

typedef struct {
    uint32_t pair, word;
} formation;

typedef struct {
    ilr_tok_trainer *t;
    const int64_t *word_count;
    /* every distinct word as token ids, in place: sym[off[w] .. off[w] + len[w]) */
    uint32_t *sym, *len;
    size_t *off;
    /* pairs: (left << 32 | right) -> index, by open addressing */
    uint64_t *slot_key;
    int32_t *slot_pair;
    size_t slot_cap;
    /* per pair: key, count, the last word that formed it in this step, this step's formations (then the
     * segment being filled), its newest segment, merged yet */
    uint64_t *pkey;
    int64_t *pcount;
    int32_t *plast, *ptmp, *phead;
    unsigned char *pdone;
    size_t npairs, pcap;
    segment *seg;
    size_t nseg, seg_cap;
    uint32_t *pool; /* word indices */
    size_t pool_used, pool_cap;
    formation *step; /* this step's formations */
    size_t nstep, step_cap;
    uint32_t *touched; /* the pairs they formed, each once */
    size_t ntouched, touched_cap;
    heap_entry *heap;
    size_t nheap, heap_cap;
    int oom;
} bpe;

/* p grown (realloc) to hold need elements of size elem, *cap updated; on failure p is freed, *cap is 0 and
 * NULL is returned (the caller gives up). */
static void *reserve(void *p, size_t *cap, size_t need, size_t elem) {
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *q = realloc(p, n * elem);
    if (!q) {
        free(p);
        *cap = 0;
        ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory for %zu entries", n);
        return NULL;
    }
    *cap = n;
    return q;
}

/* 0 when arr has room for need elements (growing it if needed), else ILR_ENOMEM. */
#define RESERVE(arr, cap, need) \
    ((need) <= (cap) ? 0 : ((arr) = reserve((arr), &(cap), (need), sizeof *(arr))) ? 0 : ILR_ENOMEM)

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return x;
}

static int rehash(bpe *s, size_t cap) {
    uint64_t *keys = malloc(cap * sizeof *keys);
    int32_t *pairs = malloc(cap * sizeof *pairs);
    if (!keys || !pairs) return free(keys), free(pairs), ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
    memset(pairs, 0xff, cap * sizeof *pairs);
    for (size_t p = 0; p < s->npairs; p++) {
        size_t i = mix(s->pkey[p]) & (cap - 1);
        while (pairs[i] >= 0) i = (i + 1) & (cap - 1);
        keys[i] = s->pkey[p];
        pairs[i] = (int32_t)p;
    }
    free(s->slot_key), free(s->slot_pair);
    s->slot_key = keys, s->slot_pair = pairs, s->slot_cap = cap;
    return 0;
}

static int grow_pairs(bpe *s) {
    size_t cap = s->pcap, need = s->npairs + 1;
    if (need <= cap) return 0;
    cap = cap ? cap * 2 : 1 << 14;
    int rc = 0;
#define GROW_PAIR_ARRAY(a)                                                      \
    if (!rc) {                                                                  \
        void *q = realloc(s->a, cap * sizeof *s->a);                            \
        if (q) s->a = q;                                                        \
        else rc = ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory for %zu pairs", cap); \
    }
    GROW_PAIR_ARRAY(pkey) GROW_PAIR_ARRAY(pcount) GROW_PAIR_ARRAY(plast) GROW_PAIR_ARRAY(ptmp)
    GROW_PAIR_ARRAY(phead) GROW_PAIR_ARRAY(pdone)
#undef GROW_PAIR_ARRAY
    if (!rc) s->pcap = cap;
    return rc;
}

/* The index of pair (left, right), created (count 0) when new; -1 when out of memory. */
static int32_t pair_index(bpe *s, uint32_t left, uint32_t right) {
    uint64_t key = (uint64_t)left << 32 | right;
    size_t mask = s->slot_cap - 1, i = mix(key) & mask;
    while (s->slot_pair[i] >= 0) {
        if (s->slot_key[i] == key) return s->slot_pair[i];
        i = (i + 1) & mask;
    }
    if ((s->npairs + 1) * 2 > s->slot_cap || s->npairs >= INT32_MAX - 1) {
        if (s->npairs >= INT32_MAX - 1 || rehash(s, s->slot_cap * 2)) return s->oom = 1, -1;
        return pair_index(s, left, right);
    }
    if (grow_pairs(s)) return s->oom = 1, -1;
    int32_t p = (int32_t)s->npairs++;
    s->slot_key[i] = key;
    s->slot_pair[i] = p;
    s->pkey[p] = key;
    s->pcount[p] = 0;
    s->plast[p] = -1;
    s->ptmp[p] = 0;
    s->phead[p] = -1;
    s->pdone[p] = 0;
    return p;
}

/* Pair (left, right) gained (delta 1) or lost (delta -1) one occurrence in word w. */
static void change(bpe *s, uint32_t left, uint32_t right, int delta, uint32_t w) {
    int32_t p = pair_index(s, left, right);
    if (p < 0) return;
    s->pcount[p] += delta * s->word_count[w];
    if (delta < 0 || s->plast[p] == (int32_t)w) return;
    s->plast[p] = (int32_t)w;
    if (RESERVE(s->step, s->step_cap, s->nstep + 1)) {
        s->oom = 1;
        return;
    }
    if (s->ptmp[p]++ == 0) {
        if (RESERVE(s->touched, s->touched_cap, s->ntouched + 1)) {
            s->oom = 1;
            return;
        }
        s->touched[s->ntouched++] = (uint32_t)p;
    }
    s->step[s->nstep++] = (formation){(uint32_t)p, w};
}

static int heap_before(const heap_entry *x, const heap_entry *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->left != y->left) return x->left < y->left;
    return x->right < y->right;
}

static int heap_push(bpe *s, heap_entry e) {
    if (RESERVE(s->heap, s->heap_cap, s->nheap + 1)) return ILR_ENOMEM;
    size_t i = s->nheap++;
    while (i > 0 && heap_before(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
    return 0;
}

static heap_entry heap_pop(bpe *s) {
    heap_entry top = s->heap[0], last = s->heap[--s->nheap];
    size_t i = 0, n = s->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!heap_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

/* Files this step's formations: each touched pair gets a new segment of the pool with the words where it
 * formed, and (if its count is positive) a heap entry. */
static int flush_step(bpe *s) {
    if (s->oom) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
    if (RESERVE(s->pool, s->pool_cap, s->pool_used + s->nstep) || RESERVE(s->seg, s->seg_cap, s->nseg + s->ntouched))
        return ILR_ENOMEM;
    for (size_t k = 0; k < s->ntouched; k++) {
        uint32_t p = s->touched[k];
        s->seg[s->nseg] = (segment){s->pool_used, 0, s->phead[p]};
        s->phead[p] = (int32_t)s->nseg;
        s->pool_used += (size_t)s->ptmp[p];
        s->ptmp[p] = (int32_t)s->nseg++; /* from here on: the segment being filled */
        s->plast[p] = -1;
    }
    for (size_t k = 0; k < s->nstep; k++) {
        segment *g = &s->seg[s->ptmp[s->step[k].pair]];
        s->pool[g->off + g->len++] = s->step[k].word;
    }
    int rc = 0;
    for (size_t k = 0; k < s->ntouched && !rc; k++) {
        uint32_t p = s->touched[k];
        s->ptmp[p] = 0;
        if (!s->pdone[p] && s->pcount[p] > 0)
            rc = heap_push(s, (heap_entry){s->pcount[p], (uint32_t)(s->pkey[p] >> 32), (uint32_t)s->pkey[p], p});
    }
    s->nstep = s->ntouched = 0;
    return rc;
}

/* Replaces every (a, b) in word w, left to right, by z, recording the pair changes around each one. */
static void merge_word(bpe *s, uint32_t w, uint32_t a, uint32_t b, uint32_t z) {
    uint32_t *sym = s->sym + s->off[w], n = s->len[w], j = 0;
    const uint32_t *bytes = s->t->tok_bytes;
    uint32_t max = (uint32_t)s->t->opt.max_token_bytes;
    for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && sym[i] == a && sym[i + 1] == b) {
            if (j > 0) {
                change(s, sym[j - 1], a, -1, w);
                if (bytes[sym[j - 1]] + bytes[z] <= max) change(s, sym[j - 1], z, 1, w);
            }
            if (i + 2 < n) {
                change(s, b, sym[i + 2], -1, w);
                if (bytes[z] + bytes[sym[i + 2]] <= max) change(s, z, sym[i + 2], 1, w);
            }
            sym[j++] = z;
            i += 2;
        } else {
            sym[j++] = sym[i++];
        }
    }
    s->len[w] = j;
}

static void bpe_free(bpe *s) {
    free(s->sym), free(s->len), free(s->off);
    free(s->slot_key), free(s->slot_pair);
    free(s->pkey), free(s->pcount), free(s->plast), free(s->ptmp), free(s->phead), free(s->pdone);
    free(s->seg), free(s->pool), free(s->step), free(s->touched), free(s->heap);
}

/* Lays the words out as byte-token ids and counts the initial pairs. */
static int bpe_init(bpe *s, ilr_tok_trainer *t) {
    memset(s, 0, sizeof *s);
    s->t = t;
    s->word_count = t->word_count;
    uint32_t byte_char[256];
    int byte_id[256];
    ilr_bytelevel_tables(byte_char);
    for (int b = 0; b < 256; b++) { /* the id of byte b: how many bytes have a smaller character */
        byte_id[b] = 0;
        for (int c = 0; c < 256; c++) byte_id[b] += byte_char[c] < byte_char[b];
    }
    size_t n = t->num_words, total = 0;
    s->len = malloc(sizeof *s->len * (n ? n : 1));
    s->off = malloc(sizeof *s->off * (n ? n : 1));
    if (!s->len || !s->off) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory for %zu words", n);
    for (size_t cap = t->words.cap, i = 0; i < cap; i++) { /* the map's slots hold each word's bytes */
        if (!t->words.entries[i].hash) continue;
        int32_t w = t->words.entries[i].value;
        s->len[w] = t->words.entries[i].length;
        total += s->len[w];
    }
    for (size_t w = 0, at = 0; w < n; w++) s->off[w] = at, at += s->len[w];
    if (!(s->sym = malloc(sizeof *s->sym * (total ? total : 1))))
        return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory for %zu symbols", total);
    for (size_t cap = t->words.cap, i = 0; i < cap; i++) {
        if (!t->words.entries[i].hash) continue;
        int32_t w = t->words.entries[i].value;
        const unsigned char *bytes = (const unsigned char *)t->words.keys + t->words.entries[i].offset;
        for (uint32_t k = 0; k < s->len[w]; k++) s->sym[s->off[w] + k] = (uint32_t)byte_id[bytes[k]];
    }
    int rc = rehash(s, 1 << 15);
    for (size_t w = 0; w < n && !rc && !s->oom; w++) {
        const uint32_t *sym = s->sym + s->off[w];
        for (uint32_t k = 0; k + 1 < s->len[w]; k++) change(s, sym[k], sym[k + 1], 1, (uint32_t)w);
    }
    return rc ? rc : flush_step(s);
}

/* --------------------------------------------------------- merge loop ---- */

static int record_merge(ilr_tok_trainer *t, uint32_t a, uint32_t b, uint32_t z) {
    if (t->num_merges % 1024 == 0) {
        int *grown = realloc(t->merges, sizeof(int) * 3 * (size_t)(t->num_merges + 1024));
        if (!grown) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
        t->merges = grown;
    }
    int *m = t->merges + 3 * t->num_merges++;
    m[0] = (int)a, m[1] = (int)b, m[2] = (int)z;
    return 0;
}

/* The id of the token a + b in *z: an existing one with that text, or a new one; -1 (no merge) when the
 * text is a special token's, which the vocabulary may not hold as well. */
static int merged_token(ilr_tok_trainer *t, uint32_t a, uint32_t b, int *z) {
    size_t la = strlen(t->pieces[a]), lb = strlen(t->pieces[b]);
    char stack[1024], *piece = la + lb < sizeof stack ? stack : malloc(la + lb + 1);
    if (!piece) return ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory");
    memcpy(piece, t->pieces[a], la);
    memcpy(piece + la, t->pieces[b], lb + 1);
    int rc = 0, is_special = 0;
    for (int k = 0; k < t->opt.num_specials; k++) is_special |= strcmp(piece, t->specials[k]) == 0;
    *z = is_special ? -1 : ilr_strmap_get(&t->piece_ids, piece, la + lb);
    if (!is_special && *z < 0 && (rc = add_token(t, piece, t->tok_bytes[a] + t->tok_bytes[b])) >= 0) *z = rc, rc = 0;
    if (piece != stack) free(piece);
    return rc;
}

static int merge_loop(ilr_tok_trainer *t, bpe *s, ilr_tok_train_stats *st) {
    int target = t->opt.vocab_size - t->opt.num_specials, rc = 0;
    ilr_progress progress;
    if (t->opt.progress) ilr_progress_begin(&progress, "merging", target - t->num_tokens, "merges");
    while (t->num_tokens < target && s->nheap && !rc) {
        heap_entry top = heap_pop(s);
        if (s->pdone[top.pair]) continue;
        int64_t now = s->pcount[top.pair];
        if (top.count != now) { /* stale: requeue with the current count */
            top.count = now;
            if (now > 0) rc = heap_push(s, top);
            continue;
        }
        if (top.count < t->opt.min_frequency) {
            st->stopped_by_frequency = 1;
            break;
        }
        int z = -1;
        s->pdone[top.pair] = 1;
        if ((rc = merged_token(t, top.left, top.right, &z)) || z < 0) continue;
        if ((rc = record_merge(t, top.left, top.right, (uint32_t)z))) break;
        st->last_count = top.count;
        for (int32_t g = s->phead[top.pair]; g >= 0; g = s->seg[g].next)
            for (uint32_t k = 0; k < s->seg[g].len; k++)
                merge_word(s, s->pool[s->seg[g].off + k], top.left, top.right, (uint32_t)z);
        rc = flush_step(s);
        if (t->opt.progress) ilr_progress_update(&progress, t->num_merges);
    }
    if (!rc && t->num_tokens < target && !s->nheap) st->stopped_by_frequency = 1; /* every word is one token */
    if (t->opt.progress) ilr_progress_end(&progress);
    return rc;
}

int ilr_tok_trainer_run(ilr_tok_trainer *t, ilr_tok_train_stats *stats) {
    ilr_tok_train_stats st;
    memset(&st, 0, sizeof st);
    if (t->ran) return ILR_FAIL(ILR_EINVAL, "tokenizer train: the merges were already learned");
    if (!t->words_fed) return ILR_FAIL(ILR_EINVAL, "tokenizer train: the corpus is empty (no text to learn from)");
    t->ran = 1;
    double start = ilr_time_now();
    bpe s;
    int rc = bpe_init(&s, t);
    if (!rc) rc = merge_loop(t, &s, &st);
    bpe_free(&s);
    st.merge_seconds = ilr_time_now() - start;
    st.count_seconds = t->count_seconds;
    st.bytes = t->bytes_fed;
    st.words = t->words_fed;
    st.distinct_words = (int64_t)t->num_words;
    st.merges = t->num_merges;
    st.vocab_size = t->num_tokens + t->opt.num_specials;
    if (stats) *stats = st;
    return rc;
}

int ilr_tok_trainer_num_merges(const ilr_tok_trainer *t) { return t->num_merges; }

void ilr_tok_trainer_merge(const ilr_tok_trainer *t, int i, int *left, int *right, int *merged) {
    const int *m = t->merges + 3 * i;
    *left = m[0], *right = m[1], *merged = m[2];
}

const char *ilr_tok_trainer_piece(const ilr_tok_trainer *t, int id) {
    if (id >= 0 && id < t->num_tokens) return t->pieces[id];
    if (id >= t->num_tokens && id < t->num_tokens + t->opt.num_specials) return t->specials[id - t->num_tokens];
    return NULL;
}

/* -------------------------------------------------------------- output ---- */

static json_t *byte_level(void) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 0, "use_regex", 0);
}

static json_t *added_tokens(const ilr_tok_trainer *t) {
    json_t *list = json_array();
    for (int k = 0; list && k < t->opt.num_specials; k++)
        json_array_append_new(list, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", t->num_tokens + k, "content",
                                              t->specials[k], "single_word", 0, "lstrip", 0, "rstrip", 0,
                                              "normalized", 0, "special", 1));
    return list;
}

static json_t *bpe_model(const ilr_tok_trainer *t) {
    json_t *vocab = json_object(), *merges = json_array();
    for (int id = 0; vocab && id < t->num_tokens; id++) json_object_set_new(vocab, t->pieces[id], json_integer(id));
    for (int i = 0; merges && i < t->num_merges; i++)
        json_array_append_new(merges, json_pack("[s, s]", t->pieces[t->merges[3 * i]], t->pieces[t->merges[3 * i + 1]]));
    return json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                     "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                     "ignore_merges", 0, "vocab", vocab, "merges", merges);
}

static json_t *tokenizer_json(const ilr_tok_trainer *t) {
    json_t *split = json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex",
                              ilr_tok_regex_pattern(t->opt.regex), "behavior", "Isolated", "invert", 0);
    json_t *pre = json_pack("{s:s, s:[o, o]}", "type", "Sequence", "pretokenizers", split, byte_level());
    json_t *normalizer = t->opt.nfc ? json_pack("{s:s}", "type", "NFC") : json_null();
    return json_pack("{s:s, s:n, s:n, s:o, s:o, s:o, s:o, s:o, s:o}", "version", "1.0", "truncation", "padding",
                     "added_tokens", added_tokens(t), "normalizer", normalizer, "pre_tokenizer", pre,
                     "post_processor", byte_level(), "decoder", byte_level(), "model", bpe_model(t));
}

static json_t *tokenizer_config(const ilr_tok_trainer *t) {
    json_t *decoder = json_object();
    for (int k = 0; decoder && k < t->opt.num_specials; k++) {
        char id[16];
        snprintf(id, sizeof id, "%d", t->num_tokens + k);
        json_object_set_new(decoder, id, json_pack("{s:s, s:b, s:b, s:b, s:b, s:b}", "content", t->specials[k], "lstrip",
                                                   0, "normalized", 0, "rstrip", 0, "single_word", 0, "special", 1));
    }
    json_t *eos = t->opt.num_specials ? json_string(t->specials[0]) : json_null();
    return json_pack("{s:o, s:n, s:b, s:o, s:i, s:n, s:s}", "added_tokens_decoder", decoder, "bos_token",
                     "clean_up_tokenization_spaces", 0, "eos_token", eos, "model_max_length", 32768, "pad_token",
                     "tokenizer_class", "PreTrainedTokenizerFast");
}

static int dump(json_t *root, char **text, size_t *len) {
    char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    size_t n = s ? strlen(s) : 0;
    char *out = s ? realloc(s, n + 2) : NULL;
    if (!out) return free(s), ILR_FAIL(ILR_ENOMEM, "tokenizer train: out of memory writing JSON");
    out[n] = '\n', out[n + 1] = 0;
    *text = out;
    *len = n + 1;
    return 0;
}

int ilr_tok_trainer_json(const ilr_tok_trainer *t, char **text, size_t *len) {
    if (!t->ran) return ILR_FAIL(ILR_EINVAL, "tokenizer train: no merges learned yet (call ilr_tok_trainer_run)");
    return dump(tokenizer_json(t), text, len);
}

static int write_file(const char *dir, const char *name, char *text, size_t len) {
    char path[4096];
    int rc = ilr_path_join(path, sizeof path, dir, name);
    if (!rc) rc = ilr_file_write_atomic(path, text, len);
    free(text);
    return rc;
}

int ilr_tok_trainer_save(const ilr_tok_trainer *t, const char *dir) {
    char *text;
    size_t len;
    int rc = ilr_tok_trainer_json(t, &text, &len);
    if (rc) return rc;
    if (!ilr_dir_exists(dir) && (rc = ilr_mkdir_p(dir))) return free(text), rc;
    if ((rc = write_file(dir, "tokenizer.json", text, len))) return rc;
    if ((rc = dump(tokenizer_config(t), &text, &len))) return rc;
    return write_file(dir, "tokenizer_config.json", text, len);
}
