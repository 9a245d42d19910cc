/* Loading tokenizer.json: vocabulary, merges, added tokens, normalizer, pre-tokenizer, post-processor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"
#include "internal.h"
#include "jscan.h"

/* GPT-2's pre-tokenizer regex, used by ByteLevel with use_regex true. */
static const char gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int compile_split(ilr_tokenizer *t, const char *pattern, const char *name) {
    int code;
    PCRE2_SIZE at;
    if (t->split) return ILR_FAIL(ILR_EUNSUPPORTED, "%s: more than one splitting pre-tokenizer", name);
    t->split = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!t->split) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return ILR_FAIL(ILR_EFORMAT, "%s: pre-tokenizer regex does not compile at offset %zu: %s", name, (size_t)at,
                        (const char *)msg);
    }
    pcre2_jit_compile(t->split, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
    return 0;
}

/* Supported: null; ByteLevel; Split(Isolated, not inverted) with a Regex or String pattern; a Sequence of
 * those. */
static int parse_pre_tokenizer(ilr_tokenizer *t, const json_t *pre, const char *name) {
    if (!pre || json_is_null(pre)) return 0;
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (!type) return ILR_FAIL(ILR_EFORMAT, "%s: pre_tokenizer has no \"type\"", name);
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(pre, "pretokenizers"), i, item) {
            int rc = parse_pre_tokenizer(t, item, name);
            if (rc) return rc;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        t->add_prefix_space = json_is_true(json_object_get(pre, "add_prefix_space"));
        const json_t *use_regex = json_object_get(pre, "use_regex");
        return (!use_regex || json_is_true(use_regex)) ? compile_split(t, gpt2_regex, name) : 0;
    }
    if (strcmp(type, "Split") == 0) {
        const char *behavior = json_string_value(json_object_get(pre, "behavior"));
        const json_t *pattern = json_object_get(pre, "pattern");
        const char *regex = json_string_value(json_object_get(pattern, "Regex"));
        const char *literal = json_string_value(json_object_get(pattern, "String"));
        if (!behavior || strcmp(behavior, "Isolated") || json_is_true(json_object_get(pre, "invert")))
            return ILR_FAIL(ILR_EUNSUPPORTED, "%s: Split pre-tokenizer with behavior '%s'%s (only Isolated)", name,
                            behavior ? behavior : "?", json_is_true(json_object_get(pre, "invert")) ? ", inverted" : "");
        if (regex) return compile_split(t, regex, name);
        if (literal) {
            char quoted[1024];
            snprintf(quoted, sizeof quoted, "\\Q%s\\E", literal);
            return compile_split(t, quoted, name);
        }
        return ILR_FAIL(ILR_EFORMAT, "%s: Split pre-tokenizer without a Regex or String pattern", name);
    }
    return ILR_FAIL(ILR_EUNSUPPORTED, "%s: pre-tokenizer type '%s' is not supported (ByteLevel, Split, Sequence)",
                    name, type);
}

static int parse_normalizer(ilr_tokenizer *t, const json_t *norm, const char *name) {
    if (!norm || json_is_null(norm)) return 0;
    const char *type = json_string_value(json_object_get(norm, "type"));
    if (type && strcmp(type, "NFC") == 0) return t->normalize_nfc = 1, 0;
    if (type && strcmp(type, "Sequence") == 0 && json_array_size(json_object_get(norm, "normalizers")) == 0) return 0;
    return ILR_FAIL(ILR_EUNSUPPORTED, "%s: normalizer '%s' is not supported (NFC or none)", name, type ? type : "?");
}

/* The special tokens a TemplateProcessing "single" template puts around the text. */
static int parse_template(ilr_tokenizer *t, const json_t *post, const char *name) {
    const json_t *specials = json_object_get(post, "special_tokens");
    int seen_text = 0;
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(post, "single"), i, item) {
        if (json_object_get(item, "Sequence")) {
            seen_text = 1;
            continue;
        }
        const char *id = json_string_value(json_object_get(json_object_get(item, "SpecialToken"), "id"));
        const json_t *ids = json_object_get(json_object_get(specials, id ? id : ""), "ids");
        if (!id || !json_is_array(ids))
            return ILR_FAIL(ILR_EFORMAT, "%s: post_processor template item %zu is not a known special token", name, i);
        size_t j;
        json_t *v;
        json_array_foreach(ids, j, v) {
            int **list = seen_text ? &t->suffix : &t->prefix, *count = seen_text ? &t->nsuffix : &t->nprefix;
            int *grown = realloc(*list, sizeof(int) * (size_t)(*count + 1));
            if (!grown) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", name);
            *list = grown;
            (*list)[(*count)++] = (int)json_integer_value(v);
        }
    }
    return 0;
}

static int parse_post_processor(ilr_tokenizer *t, const json_t *post, const char *name) {
    if (!post || json_is_null(post)) return 0;
    const char *type = json_string_value(json_object_get(post, "type"));
    if (!type) return ILR_FAIL(ILR_EFORMAT, "%s: post_processor has no \"type\"", name);
    if (strcmp(type, "ByteLevel") == 0) return 0;
    if (strcmp(type, "TemplateProcessing") == 0) return parse_template(t, post, name);
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(post, "processors"), i, item) {
            int rc = parse_post_processor(t, item, name);
            if (rc) return rc;
        }
        return 0;
    }
    return ILR_FAIL(ILR_EUNSUPPORTED, "%s: post_processor '%s' is not supported", name, type);
}

/* Records piece for id (vocabulary when bpe, else an added token). */
static void *chunk_alloc(ilr_tokenizer *t, size_t n) {
    if (!t->chunks || t->chunks->used + n > t->chunks->cap) {
        size_t cap = n > (1u << 20) ? n : (1u << 20);
        ilr_tok_chunk *c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        *c = (ilr_tok_chunk){.next = t->chunks, .cap = cap};
        t->chunks = c;
    }
    void *p = t->chunks->data + t->chunks->used;
    t->chunks->used += n;
    return p;
}

static int set_piece(ilr_tokenizer *t, int id, const char *piece, size_t len, int bpe, const char *name) {
    if (t->pieces[id] && strcmp(t->pieces[id], piece) != 0 && bpe)
        return ILR_FAIL(ILR_EFORMAT, "%s: id %d is used by two vocabulary entries", name, id);
    t->pieces[id] = chunk_alloc(t, len + 1); /* an added token over a vocabulary id replaces it */
    t->bytes[id] = chunk_alloc(t, len + 1);
    if (!t->pieces[id] || !t->bytes[id]) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", name);
    memcpy(t->pieces[id], piece, len);
    t->pieces[id][len] = 0;
    int n = bpe ? ilr_bytelevel_decode(piece, len, t->bytes[id]) : -1;
    if (n < 0) { /* not ByteLevel text (added tokens): the piece's own bytes */
        memcpy(t->bytes[id], piece, len);
        n = (int)len;
    }
    t->byte_len[id] = (uint32_t)n;
    if ((size_t)n > t->max_piece_bytes) t->max_piece_bytes = (size_t)n;
    int rc = ilr_strmap_put(&t->piece_ids, piece, len, id);
    if (!rc && bpe) rc = ilr_strmap_put(&t->bpe_ids, (const char *)t->bytes[id], (size_t)n, id);
    return rc;
}

/* model.vocab and model.merges are scanned in place (see jscan.h); spans are byte ranges of the file. */
typedef struct {
    const char *text, *name;
    size_t vocab_start, vocab_end, merges_start, merges_end; /* 0, 0 when absent */
} big_tables;

static jscan scan_span(const big_tables *b, size_t start, size_t end) {
    return (jscan){.text = b->text, .len = end, .pos = start, .name = b->name};
}

/* Calls fn(piece, len, id) for each entry of the vocab object. */
static int each_vocab(ilr_tokenizer *t, const big_tables *b, int (*fn)(ilr_tokenizer *, const char *, size_t, int, const char *)) {
    jscan s = scan_span(b, b->vocab_start, b->vocab_end);
    char piece[1024];
    int rc = jscan_expect(&s, '{');
    if (!rc && jscan_peek(&s) == '}') return 0;
    while (!rc) {
        size_t len;
        long long id;
        if ((rc = jscan_string(&s, piece, sizeof piece, &len)) || (rc = jscan_expect(&s, ':')) ||
            (rc = jscan_int(&s, 0, (1 << 24) - 1, &id)) || (rc = fn(t, piece, len, (int)id, b->name)))
            break;
        char c = jscan_peek(&s);
        s.pos++;
        if (c == '}') break;
        if (c != ',') rc = (s.pos--, jscan_fail(&s, "expected ',' or '}' in model.vocab"));
    }
    return rc;
}

static int note_max(ilr_tokenizer *t, const char *piece, size_t len, int id, const char *name) {
    (void)piece, (void)len, (void)name;
    if (id + 1 > t->vocab_size) t->vocab_size = id + 1;
    return 0;
}

static int add_vocab_piece(ilr_tokenizer *t, const char *piece, size_t len, int id, const char *name) {
    if (t->pieces[id]) return ILR_FAIL(ILR_EFORMAT, "%s: model.vocab gives id %d to two pieces", name, id);
    if (ilr_strmap_get(&t->piece_ids, piece, len) >= 0)
        return ILR_FAIL(ILR_EFORMAT, "%s: model.vocab lists \"%s\" twice", name, piece);
    return set_piece(t, id, piece, len, 1, name);
}

static int parse_vocab(ilr_tokenizer *t, const big_tables *b) {
    int rc = each_vocab(t, b, add_vocab_piece);
    for (int byte = 0; byte < 256 && !rc; byte++) {
        unsigned char c = (unsigned char)byte;
        t->byte_token[byte] = ilr_strmap_get(&t->bpe_ids, (const char *)&c, 1);
    }
    return rc;
}

/* One merge, "left right" or ["left", "right"]: its result is the vocabulary entry left+right. */
static int add_merge(ilr_tokenizer *t, const char *left, size_t left_len, const char *right, size_t right_len,
                     size_t rank, const char *name) {
    char joined[2048];
    if (left_len + right_len >= sizeof joined) return ILR_FAIL(ILR_EFORMAT, "%s: merge %zu is too long", name, rank);
    memcpy(joined, left, left_len);
    memcpy(joined + left_len, right, right_len);
    int a = ilr_strmap_get(&t->piece_ids, left, left_len), b = ilr_strmap_get(&t->piece_ids, right, right_len);
    int merged = ilr_strmap_get(&t->piece_ids, joined, left_len + right_len);
    if (a < 0 || b < 0 || merged < 0)
        return ILR_FAIL(ILR_EFORMAT, "%s: merge %zu (\"%.*s\" + \"%.*s\") uses a piece that is not in the vocabulary",
                        name, rank, (int)left_len, left, (int)right_len, right);
    /* a repeated merge takes its last rank, as Hugging Face's map insertion does */
    uint64_t key = (uint64_t)a << 32 | (uint32_t)b;
    return ilr_u64map_put(&t->merges, key, (uint64_t)rank << 32 | (uint32_t)merged);
}

static int parse_one_merge(ilr_tokenizer *t, jscan *s, size_t rank) {
    char left[1024], right[1024];
    size_t left_len, right_len;
    int rc;
    if (jscan_peek(s) == '[') {
        s->pos++;
        if ((rc = jscan_string(s, left, sizeof left, &left_len)) || (rc = jscan_expect(s, ',')) ||
            (rc = jscan_string(s, right, sizeof right, &right_len)) || (rc = jscan_expect(s, ']')))
            return rc;
    } else {
        if ((rc = jscan_string(s, left, sizeof left, &left_len))) return rc;
        char *space = memchr(left, ' ', left_len);
        if (!space || memchr(space + 1, ' ', left_len - (size_t)(space - left) - 1))
            return ILR_FAIL(ILR_EFORMAT, "%s: merge %zu \"%s\" is not two pieces separated by one space", s->name,
                            rank, left);
        right_len = left_len - (size_t)(space - left) - 1;
        memcpy(right, space + 1, right_len);
        left_len = (size_t)(space - left);
    }
    return add_merge(t, left, left_len, right, right_len, rank, s->name);
}

static int parse_merges(ilr_tokenizer *t, const big_tables *b) {
    if (ilr_u64map_init(&t->merges, 1024)) return ILR_ENOMEM;
    if (!b->merges_end) return 0;
    jscan s = scan_span(b, b->merges_start, b->merges_end);
    int rc = jscan_expect(&s, '[');
    if (!rc && jscan_peek(&s) == ']') return 0;
    for (size_t rank = 0; !rc; rank++) {
        if ((rc = parse_one_merge(t, &s, rank))) break;
        char c = jscan_peek(&s);
        s.pos++;
        if (c == ']') break;
        if (c != ',') rc = (s.pos--, jscan_fail(&s, "expected ',' or ']' in model.merges"));
    }
    return rc;
}

static int compare_added(const void *a, const void *b) {
    const ilr_added_token *x = a, *y = b;
    return x->len < y->len ? 1 : x->len > y->len ? -1 : 0;
}

static int parse_added(ilr_tokenizer *t, const json_t *added, const char *name) {
    size_t n = json_array_size(added), i;
    t->added = calloc(n + 1, sizeof *t->added);
    if (!t->added) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", name);
    json_t *a;
    json_array_foreach(added, i, a) {
        const char *content = json_string_value(json_object_get(a, "content"));
        const json_t *id = json_object_get(a, "id");
        if (!content || !content[0] || !json_is_integer(id) || json_integer_value(id) < 0)
            return ILR_FAIL(ILR_EFORMAT, "%s: added_tokens[%zu] needs a non-empty \"content\" and an \"id\"", name, i);
        ilr_added_token *tok = &t->added[t->num_added++];
        tok->content = strdup(content);
        tok->len = strlen(content);
        tok->id = (int)json_integer_value(id);
        tok->special = json_is_true(json_object_get(a, "special"));
        tok->lstrip = json_is_true(json_object_get(a, "lstrip"));
        tok->rstrip = json_is_true(json_object_get(a, "rstrip"));
        tok->single_word = json_is_true(json_object_get(a, "single_word"));
        if (!tok->content) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", name);
        int rc = set_piece(t, tok->id, content, tok->len, 0, name);
        if (rc) return rc;
        t->special[tok->id] = (unsigned char)tok->special;
    }
    qsort(t->added, (size_t)t->num_added, sizeof *t->added, compare_added);
    return 0;
}

static int check_model(const json_t *model, const big_tables *b, const char *name) {
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!type || strcmp(type, "BPE") != 0)
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: model type '%s' is not supported (byte-level BPE)", name,
                        type ? type : "?");
    if (!b->vocab_end) return ILR_FAIL(ILR_EFORMAT, "%s: model has no \"vocab\" object", name);
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: BPE with byte_fallback (SentencePiece style) is not supported", name);
    const char *prefix = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *suffix = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((prefix && prefix[0]) || (suffix && suffix[0]))
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: BPE with a subword prefix or word suffix is not supported", name);
    return 0;
}

static int build(ilr_tokenizer *t, const json_t *root, const big_tables *b, const char *name) {
    const json_t *model = json_object_get(root, "model"), *added = json_object_get(root, "added_tokens");
    if (!json_is_object(model)) return ILR_FAIL(ILR_EFORMAT, "%s: expected a \"model\" object", name);
    if (added && !json_is_array(added)) return ILR_FAIL(ILR_EFORMAT, "%s: added_tokens is not an array", name);
    int rc = check_model(model, b, name);
    if (rc || (rc = each_vocab(t, b, note_max))) return rc;
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        if (id < 0 || id >= (1 << 24)) return ILR_FAIL(ILR_EFORMAT, "%s: added_tokens[%zu] has id %lld", name, i, (long long)id);
        if (id + 1 > t->vocab_size) t->vocab_size = (int)id + 1;
    }
    if (t->vocab_size == 0) return ILR_FAIL(ILR_EFORMAT, "%s: the vocabulary is empty", name);
    t->pieces = calloc((size_t)t->vocab_size, sizeof *t->pieces);
    t->bytes = calloc((size_t)t->vocab_size, sizeof *t->bytes);
    t->byte_len = calloc((size_t)t->vocab_size, sizeof *t->byte_len);
    t->special = calloc((size_t)t->vocab_size, 1);
    if (!t->pieces || !t->bytes || !t->byte_len || !t->special) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", name);
    if ((rc = ilr_strmap_init(&t->piece_ids, (size_t)t->vocab_size)) ||
        (rc = ilr_strmap_init(&t->bpe_ids, (size_t)t->vocab_size)))
        return rc;
    t->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    if ((rc = parse_vocab(t, b)) || (rc = parse_merges(t, b)) || (rc = parse_added(t, added, name)) ||
        (rc = parse_normalizer(t, json_object_get(root, "normalizer"), name)) ||
        (rc = parse_pre_tokenizer(t, json_object_get(root, "pre_tokenizer"), name)) ||
        (rc = parse_post_processor(t, json_object_get(root, "post_processor"), name)))
        return rc;
    return 0;
}

/* Scans an object's members: the big tables' spans are recorded, every other member is parsed by jansson
 * into into.  model_level: the "model" object, whose vocab and merges are the big tables. */
static int scan_object(jscan *s, json_t *into, big_tables *b, int model_level) {
    int rc = jscan_expect(s, '{');
    if (!rc && jscan_peek(s) == '}') return s->pos++, 0;
    char key[256];
    while (!rc) {
        size_t start, end;
        if ((rc = jscan_string(s, key, sizeof key, NULL)) || (rc = jscan_expect(s, ':'))) break;
        if (json_object_get(into, key) || (model_level && ((!strcmp(key, "vocab") && b->vocab_end) ||
                                                           (!strcmp(key, "merges") && b->merges_end))))
            return jscan_fail(s, "duplicate key");
        if (!model_level && strcmp(key, "model") == 0) {
            json_t *model = json_object();
            json_object_set_new(into, key, model);
            rc = scan_object(s, model, b, 1);
        } else if ((rc = jscan_skip_value(s, &start, &end))) {
            break;
        } else if (model_level && strcmp(key, "vocab") == 0) {
            b->vocab_start = start, b->vocab_end = end;
        } else if (model_level && strcmp(key, "merges") == 0) {
            b->merges_start = start, b->merges_end = end;
        } else {
            json_t *value = NULL;
            char name[300];
            snprintf(name, sizeof name, "%s: key '%s'", s->name, key);
            if ((rc = ilr_json_parse_flags(s->text + start, end - start, name, JSON_DECODE_ANY, &value))) break;
            json_object_set_new(into, key, value);
        }
        char c = jscan_peek(s);
        s->pos++;
        if (c == '}') break;
        if (c != ',') rc = (s->pos--, jscan_fail(s, "expected ',' or '}'"));
    }
    return rc;
}

int ilr_tok_parse(ilr_tokenizer **out, const char *json, size_t len, const char *name) {
    *out = NULL;
    jscan s = {.text = json, .len = len, .name = name};
    big_tables b = {.text = json, .name = name};
    json_t *root = json_object();
    int rc = scan_object(&s, root, &b, 0);
    if (!rc && jscan_peek(&s)) rc = jscan_fail(&s, "text after the top-level object");
    ilr_tokenizer *t = rc ? NULL : calloc(1, sizeof *t);
    if (!rc && !t) rc = ILR_FAIL(ILR_ENOMEM, "%s: out of memory", name);
    if (!rc) rc = build(t, root, &b, name);
    json_decref(root);
    if (rc) {
        ilr_tok_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

/* Settings of tokenizer_config.json that change what the tokenizer does (when the file is there). */
static int read_config(ilr_tokenizer *t, const char *dir) {
    char path[4096];
    json_t *config = NULL;
    int rc = ilr_path_join(path, sizeof path, dir, "tokenizer_config.json");
    if (rc || !ilr_file_exists(path)) return rc;
    if ((rc = ilr_json_load_file_flags(path, JSON_DECODE_INT_AS_REAL, &config))) return rc;
    t->cleanup_spaces = json_is_true(json_object_get(config, "clean_up_tokenization_spaces"));
    json_decref(config);
    return 0;
}

int ilr_tok_load(ilr_tokenizer **out, const char *path) {
    char file[4096];
    int is_dir = ilr_dir_exists(path);
    int rc = is_dir ? ilr_path_join(file, sizeof file, path, "tokenizer.json") : (snprintf(file, sizeof file, "%s", path), 0);
    if (rc) return rc;
    char *text;
    size_t len;
    *out = NULL;
    if ((rc = ilr_file_read_all(file, &text, &len))) return rc;
    rc = ilr_tok_parse(out, text, len, file);
    free(text);
    if (!rc && is_dir && (rc = read_config(*out, path))) {
        ilr_tok_free(*out);
        *out = NULL;
    }
    return rc;
}

void ilr_tok_free(ilr_tokenizer *t) {
    if (!t) return;
    for (ilr_tok_chunk *c = t->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    for (int i = 0; i < t->num_added; i++) free(t->added[i].content);
    free(t->pieces);
    free(t->bytes);
    free(t->byte_len);
    free(t->special);
    free(t->added);
    free(t->prefix);
    free(t->suffix);
    ilr_strmap_free(&t->piece_ids);
    ilr_strmap_free(&t->bpe_ids);
    ilr_u64map_free(&t->merges);
    pcre2_code_free(t->split);
    free(t);
}

int ilr_tok_vocab_size(const ilr_tokenizer *t) { return t->vocab_size; }
const char *ilr_tok_piece(const ilr_tokenizer *t, int id) { return id >= 0 && id < t->vocab_size ? t->pieces[id] : NULL; }
int ilr_tok_id(const ilr_tokenizer *t, const char *piece) { return ilr_strmap_get(&t->piece_ids, piece, strlen(piece)); }
int ilr_tok_is_special(const ilr_tokenizer *t, int id) { return id >= 0 && id < t->vocab_size && t->special[id]; }
size_t ilr_tok_max_piece_bytes(const ilr_tokenizer *t) { return t->max_piece_bytes; }
