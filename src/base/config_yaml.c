/* YAML experiment configs (see include/ilr/config_yaml.h): the schema of typed keys, the scalar rules
 * shared by files and the command line, defaults and settings.  Reading YAML is in config_yaml_load.c,
 * writing it in config_yaml_dump.c. */
#include "ilr/config_yaml.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "config_yaml_internal.h"
#include "ilr/error.h"

/* ---- The schema ---- */

/* The first key of section prefix[0..len) (a key "prefix.*"), NULL when prefix is no section. */
const ilr_cfg_key *cfg_first_in_section(const ilr_cfg_schema *s, const char *prefix, size_t len) {
    for (int i = 0; i < s->n; i++)
        if (strncmp(s->keys[i].key, prefix, len) == 0 && s->keys[i].key[len] == '.') return &s->keys[i];
    return NULL;
}

const ilr_cfg_key *ilr_cfg_find(const ilr_cfg_schema *s, const char *key) {
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->keys[i].key, key) == 0) return &s->keys[i];
    return NULL;
}

/* The index-th choice of k: *len bytes at the returned pointer; NULL when there is none. */
const char *cfg_choice(const ilr_cfg_key *k, int index, size_t *len) {
    const char *p = k->choices;
    for (int i = 0; p; i++) {
        const char *bar = strchr(p, '|');
        *len = bar ? (size_t)(bar - p) : strlen(p);
        if (i == index) return p;
        p = bar ? bar + 1 : NULL;
    }
    return NULL;
}


/* ---- Scalars ---- */

typedef union {
    long i;
    double f;
    int b; /* BOOL and ENUM */
    char *str;
} cfg_value;

int cfg_is_null(const char *t) {
    return !t[0] || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

const char *cfg_expects(const ilr_cfg_key *k) {
    switch (k->type) {
    case ILR_CFG_INT: return "an integer";
    case ILR_CFG_FLOAT: return "a number";
    case ILR_CFG_BOOL: return "true or false";
    case ILR_CFG_STRING: return "a string";
    case ILR_CFG_ENUM: return "one of ";
    case ILR_CFG_LIST: return "a list of mappings (- key: value)";
    }
    return "?";
}

/* The errors of a value of k: name is what messages call the key ("optim.lr", "agents[1].optim.lr"). */
static int bad_value(const ilr_cfg_key *k, const char *name, const char *text, size_t len) {
    const char *choices = k->type == ILR_CFG_ENUM ? k->choices : "";
    if (len == 0) return ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found nothing", name, cfg_expects(k), choices);
    return ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found '%.*s%s'", name, cfg_expects(k), choices,
                    SHOW(len), text, len > SHOWN ? "..." : "");
}

static int out_of_range(const ilr_cfg_key *k, const char *name, const char *text, size_t len) {
    if (!cfg_has_range(k))
        return ILR_FAIL(ILR_EINVAL, "'%s' is out of range (a %s), found '%.*s'", name,
                        k->type == ILR_CFG_INT ? "64-bit integer" : "finite number", SHOW(len),
                        text);
    return ILR_FAIL(ILR_EINVAL, "'%s' must be from %.15g to %.15g, found '%.*s'", name, k->min, k->max,
                    SHOW(len), text);
}

static int is_utf8(const char *text, size_t len) {
    utf8proc_int32_t c;
    for (size_t i = 0; i < len;) {
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) return 0;
        i += (size_t)n;
    }
    return 1;
}

static int parse_number(const ilr_cfg_key *k, const char *name, const char *text, size_t len, cfg_value *v) {
    char *end;
    errno = 0;
    if (k->type == ILR_CFG_INT) v->i = strtol(text, &end, 10);
    else v->f = strtod(text, &end);
    if (len == 0 || isspace((unsigned char)text[0]) || end != text + len || (k->type == ILR_CFG_FLOAT && isnan(v->f)))
        return bad_value(k, name, text, len);
    double x = k->type == ILR_CFG_INT ? (double)v->i : v->f;
    int overflow = k->type == ILR_CFG_INT ? errno == ERANGE : isinf(x);
    if (overflow || (cfg_has_range(k) && (x < k->min || x > k->max))) return out_of_range(k, name, text, len);
    return 0;
}

/* Parses text (len bytes, NUL-terminated; plain: not quoted in YAML) as a value of k; a LIST takes only
 * the texts of an empty list.  name is what messages call the key. */
static int parse_value(const ilr_cfg_key *k, const char *name, const char *text, size_t len, int plain,
                       cfg_value *v) {
    static const char *const truths[] = {"true", "yes", "on", "1"}, *const falsehoods[] = {"false", "no", "off", "0"};
    if (memchr(text, 0, len)) return ILR_FAIL(ILR_EINVAL, "'%s' cannot hold a NUL byte", name);
    switch (k->type) {
    case ILR_CFG_INT:
    case ILR_CFG_FLOAT: return parse_number(k, name, text, len, v);
    case ILR_CFG_BOOL:
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(text, truths[i]) == 0) return v->b = 1, 0;
            if (strcasecmp(text, falsehoods[i]) == 0) return v->b = 0, 0;
        }
        return bad_value(k, name, text, len);
    case ILR_CFG_ENUM: {
        size_t clen;
        for (int c = 0; cfg_choice(k, c, &clen); c++)
            if (clen == len && memcmp(cfg_choice(k, c, &clen), text, len) == 0) return v->b = c, 0;
        return bad_value(k, name, text, len);
    }
    case ILR_CFG_STRING:
        v->str = NULL;
        if (len == 0 || (plain && cfg_is_null(text))) return 0;
        if (!is_utf8(text, len)) return ILR_FAIL(ILR_EINVAL, "'%s' expects UTF-8 text", name);
        if (!(v->str = strdup(text))) return ILR_FAIL(ILR_ENOMEM, "out of memory for '%s'", name);
        return 0;
    case ILR_CFG_LIST:
        if (plain && (cfg_is_null(text) || strcmp(text, "[]") == 0)) return 0;
        return bad_value(k, name, text, len);
    }
    return ILR_FAIL(ILR_EINVAL, "'%s' has an unknown type %d", name, (int)k->type);
}

static void store(const ilr_cfg_key *k, void *obj, cfg_value v) {
    switch (k->type) {
    case ILR_CFG_INT: *(long *)cfg_field(obj, k) = v.i; break;
    case ILR_CFG_FLOAT: *(double *)cfg_field(obj, k) = v.f; break;
    case ILR_CFG_BOOL:
    case ILR_CFG_ENUM: *(int *)cfg_field(obj, k) = v.b; break;
    case ILR_CFG_STRING:
        free(*(char **)cfg_field(obj, k));
        *(char **)cfg_field(obj, k) = v.str;
        break;
    case ILR_CFG_LIST: cfg_list_clear(k, cfg_field(obj, k)); break;
    }
}

#ifdef NDEBUG
#define check_schema(s) ((void)(s))
#else
static int is_name(const char *p, size_t len, const char *extra) {
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)p[i]) && !strchr(extra, p[i])) return 0;
    return 1;
}

static size_t field_size(ilr_cfg_type type) {
    static const size_t sizes[] = {sizeof(long), sizeof(double), sizeof(int), sizeof(char *), sizeof(int),
                                   sizeof(ilr_cfg_list)};
    return sizes[type];
}

static void check_schema(const ilr_cfg_schema *s);

/* A LIST key's item schema, and that other keys have none. */
static void check_list(const ilr_cfg_key *k) {
    assert((k->type == ILR_CFG_LIST) == (k->item_schema != NULL) && "LIST keys, and only they, have an item schema");
    if (!k->item_schema) return;
    const ilr_cfg_schema *items = k->item_schema;
    assert(items->n >= 1 && k->item_size > 0 && "an item schema has keys and a size");
    for (int i = 0; i < items->n; i++) {
        assert(items->keys[i].type != ILR_CFG_LIST && "an item schema holds no lists");
        assert(items->keys[i].offset + field_size(items->keys[i].type) <= k->item_size && "item field outside item");
    }
    check_schema(items);
}

/* Programmer errors in a schema (the header lists the rules). */
static void check_schema(const ilr_cfg_schema *s) {
    for (int i = 0; i < s->n; i++) {
        const ilr_cfg_key *k = &s->keys[i];
        for (const char *p = k->key, *dot; p; p = dot ? dot + 1 : NULL) {
            dot = strchr(p, '.');
            assert(is_name(p, dot ? (size_t)(dot - p) : strlen(p), "_-") && "schema key components are names");
        }
        assert(k->def && k->doc && !strchr(k->doc, '\n'));
        assert(!cfg_first_in_section(s, k->key, strlen(k->key)) && "a schema key is also a section");
        for (int j = 0; j < i; j++) assert(strcmp(s->keys[j].key, k->key) && "duplicate schema key");
        assert((k->type == ILR_CFG_ENUM) == (k->choices != NULL));
        size_t len;
        for (int c = 0; k->choices && cfg_choice(k, c, &len); c++)
            assert(is_name(cfg_choice(k, c, &len), len, "_.+-") && isalnum((unsigned char)*cfg_choice(k, c, &len)));
        cfg_value v;
        int rc = parse_value(k, k->key, k->def, strlen(k->def), 1, &v);
        assert((rc == 0 || rc == ILR_ENOMEM) && "a schema default does not parse");
        if (rc == 0 && k->type == ILR_CFG_STRING) free(v.str);
        check_list(k);
    }
}
#endif

/* ---- Keys ---- */

/* Edit distance counting a swap of two neighbouring characters as one edit ("stpes" -> "steps"); SIZE_MAX
 * when the lengths alone differ by more than limit or b is long. */
static size_t edit_distance(const char *a, const char *b, size_t limit) {
    enum { CAP = 256 };
    size_t n = strlen(a), m = strlen(b), rows[3][CAP];
    if (m >= CAP || (n > m ? n - m : m - n) > limit) return SIZE_MAX;
    size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= m; j++) prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best) best = prev[j] + 1;
            if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = prev2;
        prev2 = prev, prev = cur, cur = t;
    }
    return prev[m];
}

/* The distance from a to b when it is within a third of b's length (at least 1), else SIZE_MAX. */
static size_t close_distance(const char *a, const char *b) {
    size_t limit = strlen(b) / 3 > 1 ? strlen(b) / 3 : 1, d = edit_distance(a, b, limit);
    return d <= limit ? d : SIZE_MAX;
}

static const char *last_component(const char *key) {
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

const char *ilr_cfg_nearest(const ilr_cfg_schema *s, const char *key) {
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (int i = 0; i < s->n; i++) {
        size_t d = close_distance(key, s->keys[i].key);
        size_t d_last = close_distance(last_component(key), last_component(s->keys[i].key));
        if (d_last < d) d = d_last;
        if (d < best_d) best_d = d, best = s->keys[i].key;
    }
    return best;
}

/* The LIST key of s that key is inside ("agents" for "agents.1.model"), NULL if none. */
static const ilr_cfg_key *list_of(const ilr_cfg_schema *s, const char *key) {
    for (int i = 0; i < s->n; i++) {
        size_t len = strlen(s->keys[i].key);
        if (s->keys[i].type == ILR_CFG_LIST && strncmp(key, s->keys[i].key, len) == 0 && key[len] == '.')
            return &s->keys[i];
    }
    return NULL;
}

int cfg_unknown_key(const cfg_scope *sc, const char *name) {
    const char *key = name + sc->plen;
    const ilr_cfg_key *list = list_of(sc->s, key); /* only a file gets here with such a key */
    if (list)
        return ILR_FAIL(ILR_EINVAL, "'%.*s' is inside the list '%s': a file gives its items as a sequence "
                        "(%s: [{key: value}])", SHOWN, name, list->key, list->key);
    const char *near = ilr_cfg_nearest(sc->s, key);
    if (near)
        return ILR_FAIL(ILR_EINVAL, "unknown key '%.*s' (did you mean '%.*s%s'?)", SHOWN, name, (int)sc->plen, name,
                        near);
    return ILR_FAIL(ILR_EINVAL, "unknown key '%.*s'; `ilr %s --help-config` lists the keys", SHOWN, name,
                    sc->s->name);
}

int cfg_set_key(const cfg_scope *sc, const char *name, const char *text, size_t len, int plain) {
    const char *key = name + sc->plen;
    const ilr_cfg_key *k = ilr_cfg_find(sc->s, key);
    if (!k) {
        const ilr_cfg_key *inner = cfg_first_in_section(sc->s, key, strlen(key));
        if (inner)
            return ILR_FAIL(ILR_EINVAL, "'%s' is a section of keys such as '%.*s%s', not a value", name, (int)sc->plen,
                            name, inner->key);
        return cfg_unknown_key(sc, name);
    }
    cfg_value v;
    int rc = parse_value(k, name, text, len, plain, &v);
    if (rc) return rc;
    store(k, sc->obj, v);
    if (sc->set) sc->set[k - sc->s->keys] = 1;
    return 0;
}

/* Sets every field of s in obj to its default, overwriting without freeing. */
static void set_defaults(const ilr_cfg_schema *s, void *obj) {
    for (int i = 0; i < s->n; i++) {
        const ilr_cfg_key *k = &s->keys[i];
        cfg_value v = {0};
        int rc = parse_value(k, k->key, k->def, strlen(k->def), 1, &v);
        if (k->type == ILR_CFG_STRING) *(char **)cfg_field(obj, k) = NULL;
        if (k->type == ILR_CFG_LIST) memset(cfg_field(obj, k), 0, sizeof(ilr_cfg_list));
        if (rc == 0) store(k, obj, v);
    }
}

void ilr_cfg_defaults(const ilr_cfg_schema *s, void *obj) {
    check_schema(s);
    set_defaults(s, obj);
}

void ilr_cfg_free(const ilr_cfg_schema *s, void *obj) {
    for (int i = 0; i < s->n; i++) {
        const ilr_cfg_key *k = &s->keys[i];
        if (k->type == ILR_CFG_LIST) cfg_list_clear(k, cfg_field(obj, k));
        if (k->type != ILR_CFG_STRING) continue;
        free(*(char **)cfg_field(obj, k));
        *(char **)cfg_field(obj, k) = NULL;
    }
}

/* ---- Lists ---- */

int cfg_list_append(const ilr_cfg_key *k, ilr_cfg_list *list) {
    size_t count = (size_t)list->count + 1, n = (size_t)k->item_schema->n;
    void *items = realloc(list->items, count * k->item_size);
    if (items) list->items = items;
    unsigned char *set = items ? realloc(list->set, count * n) : NULL;
    if (set) list->set = set;
    if (!set) return ILR_FAIL(ILR_ENOMEM, "out of memory for item %ld of '%s'", list->count, k->key);
    void *item = cfg_item(k, list, list->count);
    memset(item, 0, k->item_size); /* fields outside the item schema start zero */
    set_defaults(k->item_schema, item);
    memset(cfg_item_set(k, list, list->count), 0, n);
    list->count++;
    return 0;
}

/* Removes the last item. */
static void list_pop(const ilr_cfg_key *k, ilr_cfg_list *list) {
    ilr_cfg_free(k->item_schema, cfg_item(k, list, --list->count));
}

void cfg_list_clear(const ilr_cfg_key *k, ilr_cfg_list *list) {
    while (list->count > 0) list_pop(k, list);
    free(list->items);
    free(list->set);
    memset(list, 0, sizeof *list);
}

int ilr_cfg_item_is_set(const ilr_cfg_schema *item_schema, const ilr_cfg_list *list, long i, const char *item_key) {
    const ilr_cfg_key *k = ilr_cfg_find(item_schema, item_key);
    assert(k && "not a key of the item schema");
    assert(i >= 0 && i < list->count && "not an item of the list");
    if (!k || i < 0 || i >= list->count) return 0;
    return list->set[(size_t)i * (size_t)item_schema->n + (size_t)(k - item_schema->keys)];
}

/* The index at text[0..len) (digits only) when it is at most count, else -1. */
static long parse_index(const char *text, size_t len, long count) {
    long i = 0;
    if (len == 0 || len > 18 || strspn(text, "0123456789") < len) return -1;
    for (size_t j = 0; j < len; j++) i = 10 * i + (text[j] - '0');
    return i <= count ? i : -1;
}

static int bad_index(const ilr_cfg_key *k, const char *name, const char *index, size_t len, long count) {
    char range[64] = "";
    if (count > 0) snprintf(range, sizeof range, "0 to %ld, or ", count - 1);
    return ILR_FAIL(ILR_EINVAL, "'%.*s': '%.*s' is not an item of '%s', which has %ld item%s (index %s%ld to add one)",
                    SHOWN, name, SHOW(len), index, k->key, count, count == 1 ? "" : "s", range, count);
}

/* Sets name, "agents.1.optim.lr", a key of item 1 of the list k: an item that is there, or a new one when 1
 * is the count.  A failed setting changes nothing. */
static int set_item_key(const ilr_cfg_key *k, void *obj, const char *name, const char *value) {
    ilr_cfg_list *list = cfg_field(obj, k);
    const char *index = name + strlen(k->key) + 1, *dot = strchr(index, '.');
    size_t len = dot ? (size_t)(dot - index) : strlen(index);
    long i = parse_index(index, len, list->count);
    if (i < 0) return bad_index(k, name, index, len, list->count);
    if (!dot || !dot[1])
        return ILR_FAIL(ILR_EINVAL, "'%.*s' is an item of '%s', not a value; set one of its keys: %s.%ld.KEY=VALUE",
                        SHOWN, name, k->key, k->key, i);
    int appended = i == list->count, rc = appended ? cfg_list_append(k, list) : 0;
    if (rc) return rc;
    cfg_scope item = {k->item_schema, cfg_item(k, list, i), cfg_item_set(k, list, i), (size_t)(dot + 1 - name)};
    rc = cfg_set_key(&item, name, value, strlen(value), 1);
    if (rc && appended) list_pop(k, list);
    return rc;
}

int ilr_cfg_set(const ilr_cfg_schema *s, void *obj, const char *key, const char *value, const char *origin) {
    if (!value) value = "";
    const ilr_cfg_key *list = list_of(s, key);
    cfg_scope top = {s, obj, NULL, 0};
    int rc = list ? set_item_key(list, obj, key, value) : cfg_set_key(&top, key, value, strlen(value), 1);
    return rc ? ilr_error_prefix("%s", origin) : 0;
}

int ilr_cfg_override(const ilr_cfg_schema *s, void *obj, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return ILR_FAIL(ILR_EINVAL, "command line: '%.*s' is not a setting; write KEY=VALUE, e.g. %s=%s", SHOWN,
                        assignment, s->n ? s->keys[0].key : "key", s->n ? s->keys[0].def : "value");
    char *key = strndup(assignment, (size_t)(eq - assignment));
    if (!key) return ILR_FAIL(ILR_ENOMEM, "command line: out of memory");
    int rc = ilr_cfg_set(s, obj, key, eq + 1, "command line");
    free(key);
    return rc;
}
