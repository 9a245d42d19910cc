/* YAML experiment configs (see include/ilr/config_yaml.h): a schema of typed keys, libyaml's event parser
 * for files, the same scalar rules for the command line, and a dump that reads back to the same struct. */
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
#include <yaml.h>

#include "ilr/error.h"
#include "ilr/io.h"

#define SHOWN 80 /* a message quotes at most this many bytes of a value or key */
#define SHOW(len) (int)((len) > SHOWN ? SHOWN : (len))

/* ---- The schema ---- */

static void *field(void *obj, const ilr_cfg_key *k) { return (char *)obj + k->offset; }
static const void *cfield(const void *obj, const ilr_cfg_key *k) { return (const char *)obj + k->offset; }
static int has_range(const ilr_cfg_key *k) { return k->min <= k->max; }

/* The first key of section prefix[0..len) (a key "prefix.*"), NULL when prefix is no section. */
static const ilr_cfg_key *first_in_section(const ilr_cfg_schema *s, const char *prefix, size_t len) {
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
static const char *choice(const ilr_cfg_key *k, int index, size_t *len) {
    const char *p = k->choices;
    for (int i = 0; p; i++) {
        const char *bar = strchr(p, '|');
        *len = bar ? (size_t)(bar - p) : strlen(p);
        if (i == index) return p;
        p = bar ? bar + 1 : NULL;
    }
    return NULL;
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

/* Programmer errors in a schema (the header lists the rules). */
static void check_schema(const ilr_cfg_schema *s) {
    for (int i = 0; i < s->n; i++) {
        const ilr_cfg_key *k = &s->keys[i];
        for (const char *p = k->key, *dot; p; p = dot ? dot + 1 : NULL) {
            dot = strchr(p, '.');
            assert(is_name(p, dot ? (size_t)(dot - p) : strlen(p), "_-") && "schema key components are names");
        }
        assert(k->def && k->doc && !strchr(k->doc, '\n'));
        assert(!first_in_section(s, k->key, strlen(k->key)) && "a schema key is also a section");
        for (int j = 0; j < i; j++) assert(strcmp(s->keys[j].key, k->key) && "duplicate schema key");
        assert((k->type == ILR_CFG_ENUM) == (k->choices != NULL));
        size_t len;
        for (int c = 0; k->choices && choice(k, c, &len); c++)
            assert(is_name(choice(k, c, &len), len, "_.-") && isalnum((unsigned char)*choice(k, c, &len)));
    }
}
#endif

/* ---- Scalars ---- */

typedef union {
    long i;
    double f;
    int b; /* BOOL and ENUM */
    char *str;
} cfg_value;

static int is_null(const char *t) {
    return !t[0] || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static const char *expects(const ilr_cfg_key *k) {
    switch (k->type) {
    case ILR_CFG_INT: return "an integer";
    case ILR_CFG_FLOAT: return "a number";
    case ILR_CFG_BOOL: return "true or false";
    case ILR_CFG_STRING: return "a string";
    case ILR_CFG_ENUM: return "one of ";
    }
    return "?";
}

static int bad_value(const ilr_cfg_key *k, const char *text, size_t len) {
    const char *choices = k->type == ILR_CFG_ENUM ? k->choices : "";
    if (len == 0) return ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found nothing", k->key, expects(k), choices);
    return ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found '%.*s%s'", k->key, expects(k), choices,
                    SHOW(len), text, len > SHOWN ? "..." : "");
}

static int out_of_range(const ilr_cfg_key *k, const char *text, size_t len) {
    if (!has_range(k))
        return ILR_FAIL(ILR_EINVAL, "'%s' is out of range (a %s), found '%.*s'", k->key,
                        k->type == ILR_CFG_INT ? "64-bit integer" : "finite number", SHOW(len),
                        text);
    return ILR_FAIL(ILR_EINVAL, "'%s' must be from %.15g to %.15g, found '%.*s'", k->key, k->min, k->max,
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

static int parse_number(const ilr_cfg_key *k, const char *text, size_t len, cfg_value *v) {
    char *end;
    errno = 0;
    if (k->type == ILR_CFG_INT) v->i = strtol(text, &end, 10);
    else v->f = strtod(text, &end);
    if (len == 0 || isspace((unsigned char)text[0]) || end != text + len || (k->type == ILR_CFG_FLOAT && isnan(v->f)))
        return bad_value(k, text, len);
    double x = k->type == ILR_CFG_INT ? (double)v->i : v->f;
    int overflow = k->type == ILR_CFG_INT ? errno == ERANGE : isinf(x);
    if (overflow || (has_range(k) && (x < k->min || x > k->max))) return out_of_range(k, text, len);
    return 0;
}

/* Parses text (len bytes, NUL-terminated; plain: not quoted in YAML) as a value of k. */
static int parse_value(const ilr_cfg_key *k, const char *text, size_t len, int plain, cfg_value *v) {
    static const char *const truths[] = {"true", "yes", "on", "1"}, *const falsehoods[] = {"false", "no", "off", "0"};
    if (memchr(text, 0, len)) return ILR_FAIL(ILR_EINVAL, "'%s' cannot hold a NUL byte", k->key);
    switch (k->type) {
    case ILR_CFG_INT:
    case ILR_CFG_FLOAT: return parse_number(k, text, len, v);
    case ILR_CFG_BOOL:
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(text, truths[i]) == 0) return v->b = 1, 0;
            if (strcasecmp(text, falsehoods[i]) == 0) return v->b = 0, 0;
        }
        return bad_value(k, text, len);
    case ILR_CFG_ENUM: {
        size_t clen;
        for (int c = 0; choice(k, c, &clen); c++)
            if (clen == len && memcmp(choice(k, c, &clen), text, len) == 0) return v->b = c, 0;
        return bad_value(k, text, len);
    }
    case ILR_CFG_STRING:
        v->str = NULL;
        if (len == 0 || (plain && is_null(text))) return 0;
        if (!is_utf8(text, len)) return ILR_FAIL(ILR_EINVAL, "'%s' expects UTF-8 text", k->key);
        if (!(v->str = strdup(text))) return ILR_FAIL(ILR_ENOMEM, "out of memory for '%s'", k->key);
        return 0;
    }
    return ILR_FAIL(ILR_EINVAL, "'%s' has an unknown type %d", k->key, (int)k->type);
}

static void store(const ilr_cfg_key *k, void *obj, cfg_value v) {
    switch (k->type) {
    case ILR_CFG_INT: *(long *)field(obj, k) = v.i; break;
    case ILR_CFG_FLOAT: *(double *)field(obj, k) = v.f; break;
    case ILR_CFG_BOOL:
    case ILR_CFG_ENUM: *(int *)field(obj, k) = v.b; break;
    case ILR_CFG_STRING:
        free(*(char **)field(obj, k));
        *(char **)field(obj, k) = v.str;
        break;
    }
}

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

static int unknown_key(const ilr_cfg_schema *s, const char *key) {
    const char *near = ilr_cfg_nearest(s, key);
    if (near) return ILR_FAIL(ILR_EINVAL, "unknown key '%.*s' (did you mean '%s'?)", SHOWN, key, near);
    return ILR_FAIL(ILR_EINVAL, "unknown key '%.*s'; `ilr %s --help-config` lists the keys", SHOWN, key, s->name);
}

/* Sets key from scalar text; errors name the key but not where the text came from. */
static int set_key(const ilr_cfg_schema *s, void *obj, const char *key, const char *text, size_t len, int plain) {
    const ilr_cfg_key *k = ilr_cfg_find(s, key);
    if (!k) {
        const ilr_cfg_key *inner = first_in_section(s, key, strlen(key));
        if (inner) return ILR_FAIL(ILR_EINVAL, "'%s' is a section of keys such as '%s', not a value", key, inner->key);
        return unknown_key(s, key);
    }
    cfg_value v;
    int rc = parse_value(k, text, len, plain, &v);
    if (!rc) store(k, obj, v);
    return rc;
}

void ilr_cfg_defaults(const ilr_cfg_schema *s, void *obj) {
    check_schema(s);
    for (int i = 0; i < s->n; i++) {
        const ilr_cfg_key *k = &s->keys[i];
        cfg_value v = {0};
        int rc = parse_value(k, k->def, strlen(k->def), 1, &v);
        assert((rc == 0 || rc == ILR_ENOMEM) && "a schema default does not parse");
        if (k->type == ILR_CFG_STRING) *(char **)field(obj, k) = NULL; /* overwritten, not freed */
        if (rc == 0) store(k, obj, v);
    }
}

void ilr_cfg_free(const ilr_cfg_schema *s, void *obj) {
    for (int i = 0; i < s->n; i++) {
        if (s->keys[i].type != ILR_CFG_STRING) continue;
        free(*(char **)field(obj, &s->keys[i]));
        *(char **)field(obj, &s->keys[i]) = NULL;
    }
}

int ilr_cfg_set(const ilr_cfg_schema *s, void *obj, const char *key, const char *value, const char *origin) {
    if (!value) value = "";
    int rc = set_key(s, obj, key, value, strlen(value), 1);
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

/* ---- Loading YAML ---- */

typedef struct {
    const ilr_cfg_schema *s;
    void *obj;
    const char *source, *text;
    size_t len;
    yaml_parser_t parser;
    char **seen; /* every key and section this file has given, for duplicates */
    size_t *seen_line, num_seen, cap_seen;
} loader;

/* Prefixes the current message with "source:LINE:COL" (1-based); returns the code. */
static int at(const loader *ld, yaml_mark_t m) {
    return ilr_error_prefix("%s:%zu:%zu", ld->source, m.line + 1, m.column + 1);
}

static int syntax_error(const loader *ld) {
    const yaml_parser_t *p = &ld->parser;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_MEMORY_ERROR) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory parsing YAML", ld->source);
    if (p->error == YAML_READER_ERROR) {
        size_t line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < ld->len; i++) {
            if (ld->text[i] == '\n') line++, col = 1;
            else col++;
        }
        return ILR_FAIL(ILR_EFORMAT, "%s:%zu:%zu: not YAML text: %s (byte 0x%02x)", ld->source, line, col, problem,
                        (unsigned)p->problem_value & 0xff);
    }
    yaml_mark_t m = p->problem_mark, c = p->context_mark;
    if (p->context)
        return ILR_FAIL(ILR_EFORMAT, "%s:%zu:%zu: YAML syntax error: %s (%s at %zu:%zu)", ld->source, m.line + 1,
                        m.column + 1, problem, p->context, c.line + 1, c.column + 1);
    return ILR_FAIL(ILR_EFORMAT, "%s:%zu:%zu: YAML syntax error: %s", ld->source, m.line + 1, m.column + 1, problem);
}

static int next(loader *ld, yaml_event_t *ev) {
    if (yaml_parser_parse(&ld->parser, ev)) return 0;
    memset(ev, 0, sizeof *ev); /* safe to yaml_event_delete */
    return syntax_error(ld);
}

/* The error for a value that is a list or an alias (or anything but a scalar or mapping) under key. */
static int not_a_value(const loader *ld, const char *key, const yaml_event_t *ev) {
    if (ev->type == YAML_SEQUENCE_START_EVENT)
        ILR_FAIL(ILR_EUNSUPPORTED, "'%.*s': lists are not supported here; give one value (key: value)", SHOWN, key);
    else if (ev->type == YAML_ALIAS_EVENT)
        ILR_FAIL(ILR_EUNSUPPORTED, "'%.*s': aliases (*name) are not supported here; write the value out", SHOWN, key);
    else ILR_FAIL(ILR_EFORMAT, "'%.*s': expected a value (YAML event %d)", SHOWN, key, (int)ev->type);
    return at(ld, ev->start_mark);
}

/* Records path (taking it) as given in this file; a duplicate is an error (path is freed then too). */
static int record(loader *ld, char *path, yaml_mark_t m) {
    for (size_t i = 0; i < ld->num_seen; i++) {
        if (strcmp(ld->seen[i], path)) continue;
        ILR_FAIL(ILR_EFORMAT, "duplicate key '%.*s' (first given at line %zu)", SHOWN, path, ld->seen_line[i]);
        free(path);
        return at(ld, m);
    }
    if (ld->num_seen == ld->cap_seen) {
        size_t cap = ld->cap_seen ? 2 * ld->cap_seen : 16;
        char **seen = realloc(ld->seen, cap * sizeof *seen);
        if (seen) ld->seen = seen;
        size_t *lines = seen ? realloc(ld->seen_line, cap * sizeof *lines) : NULL;
        if (lines) ld->seen_line = lines;
        if (!lines) return free(path), ILR_FAIL(ILR_ENOMEM, "%s: out of memory", ld->source);
        ld->cap_seen = cap;
    }
    ld->seen[ld->num_seen] = path;
    ld->seen_line[ld->num_seen++] = m.line + 1;
    return 0;
}

static char *join(const char *prefix, const char *name) {
    size_t a = strlen(prefix), b = strlen(name);
    char *path = malloc(a + b + 2);
    if (!path) return NULL;
    memcpy(path, prefix, a);
    path[a] = '.';
    memcpy(path + (a ? a + 1 : 0), name, b + 1);
    return path;
}

static int load_mapping(loader *ld, const char *prefix);

/* A mapping given as the value of path (the key at key_mark): a section, or an error. */
static int load_section(loader *ld, const char *path, yaml_mark_t key_mark, const yaml_event_t *value) {
    const ilr_cfg_key *k = ilr_cfg_find(ld->s, path);
    if (k) {
        ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found a mapping", k->key, expects(k), k->choices ? k->choices : "");
        return at(ld, value->start_mark);
    }
    if (first_in_section(ld->s, path, strlen(path))) return load_mapping(ld, path);
    /* Not a section: name the first key inside it, so the suggestion can fix the whole path. */
    yaml_event_t first;
    int rc = next(ld, &first);
    if (rc) return rc;
    char *inner = first.type == YAML_SCALAR_EVENT ? join(path, (const char *)first.data.scalar.value) : NULL;
    unknown_key(ld->s, inner ? inner : path);
    rc = at(ld, inner ? first.start_mark : key_mark);
    free(inner);
    yaml_event_delete(&first);
    return rc;
}

static int load_scalar(loader *ld, const char *path, yaml_mark_t key_mark, const yaml_event_t *value) {
    const char *text = (const char *)value->data.scalar.value;
    size_t len = value->data.scalar.length;
    int plain = value->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    int known = ilr_cfg_find(ld->s, path) != NULL;
    if (!known && plain && is_null(text) && first_in_section(ld->s, path, strlen(path))) return 0; /* "rollout:" */
    int rc = set_key(ld->s, ld->obj, path, text, len, plain);
    return rc ? at(ld, known ? value->start_mark : key_mark) : 0;
}

/* One "key: value" of the mapping at prefix, after its key event. */
static int load_entry(loader *ld, const char *prefix, const yaml_event_t *key) {
    if (key->type != YAML_SCALAR_EVENT) {
        ILR_FAIL(ILR_EUNSUPPORTED, "a key must be a name, not a %s",
                 key->type == YAML_ALIAS_EVENT ? "alias" : "list or mapping");
        return at(ld, key->start_mark);
    }
    const char *name = (const char *)key->data.scalar.value;
    if (strlen(name) != key->data.scalar.length) {
        ILR_FAIL(ILR_EFORMAT, "a key cannot hold a NUL byte");
        return at(ld, key->start_mark);
    }
    char *path = join(prefix, name);
    if (!path) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", ld->source);
    int rc = record(ld, path, key->start_mark); /* ld owns path now */
    if (rc) return rc;
    yaml_event_t value;
    if ((rc = next(ld, &value))) return rc;
    if (value.type == YAML_SCALAR_EVENT) rc = load_scalar(ld, path, key->start_mark, &value);
    else if (value.type == YAML_MAPPING_START_EVENT) rc = load_section(ld, path, key->start_mark, &value);
    else rc = not_a_value(ld, path, &value);
    yaml_event_delete(&value);
    return rc;
}

/* The entries of a mapping whose start event has been read, through its end. */
static int load_mapping(loader *ld, const char *prefix) {
    for (;;) {
        yaml_event_t key;
        int rc = next(ld, &key);
        if (rc) return rc;
        if (key.type == YAML_MAPPING_END_EVENT) return yaml_event_delete(&key), 0;
        rc = load_entry(ld, prefix, &key);
        yaml_event_delete(&key);
        if (rc) return rc;
    }
}

/* The root of the document: a mapping, or nothing at all. */
static int load_root(loader *ld, const yaml_event_t *root) {
    if (root->type == YAML_MAPPING_START_EVENT) return load_mapping(ld, "");
    if (root->type == YAML_SCALAR_EVENT && root->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        is_null((const char *)root->data.scalar.value))
        return 0;
    if (root->type == YAML_SCALAR_EVENT)
        ILR_FAIL(ILR_EFORMAT, "a config is a mapping of keys (key: value), found the scalar '%.*s'", SHOWN,
                 (const char *)root->data.scalar.value);
    else if (root->type == YAML_SEQUENCE_START_EVENT)
        ILR_FAIL(ILR_EUNSUPPORTED, "lists are not supported here; a config is a mapping of keys (key: value)");
    else ILR_FAIL(ILR_EUNSUPPORTED, "a config is a mapping of keys (key: value), found an alias");
    return at(ld, root->start_mark);
}

/* The whole event stream: its start, one document (or none) with its root, and the end. */
static int load_stream(loader *ld) {
    static const yaml_event_type_t expected[] = {YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT,
                                                 YAML_NO_EVENT /* the root */, YAML_DOCUMENT_END_EVENT,
                                                 YAML_STREAM_END_EVENT};
    for (int step = 0; step < 5; step++) {
        yaml_event_t ev;
        int rc = next(ld, &ev);
        if (rc) return rc;
        if (step == 1 && ev.type == YAML_STREAM_END_EVENT) return yaml_event_delete(&ev), 0; /* empty */
        if (step == 2) rc = load_root(ld, &ev);
        else if (ev.type != expected[step]) {
            if (step == 4) ILR_FAIL(ILR_EFORMAT, "a config is one YAML document; a second one starts here");
            else ILR_FAIL(ILR_EFORMAT, "unexpected YAML event %d", (int)ev.type);
            rc = at(ld, ev.start_mark);
        }
        yaml_event_delete(&ev);
        if (rc) return rc;
    }
    return 0;
}

int ilr_cfg_load_text(const ilr_cfg_schema *s, void *obj, const char *text, size_t len, const char *source_name) {
    loader ld = {.s = s, .obj = obj, .source = source_name, .text = text, .len = len};
    if (!yaml_parser_initialize(&ld.parser)) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", source_name);
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
    int rc = load_stream(&ld);
    yaml_parser_delete(&ld.parser);
    for (size_t i = 0; i < ld.num_seen; i++) free(ld.seen[i]);
    free(ld.seen);
    free(ld.seen_line);
    return rc;
}

int ilr_cfg_load_file(const ilr_cfg_schema *s, void *obj, const char *path) {
    char *text;
    size_t size;
    int rc = ilr_file_read_all(path, &text, &size);
    if (rc) return rc;
    rc = ilr_cfg_load_text(s, obj, text, size, path);
    free(text);
    return rc;
}

/* ---- Writing YAML ---- */

/* str as a YAML double-quoted scalar: what YAML cannot hold raw (controls, line breaks, the BOM and the
 * non-characters U+FFFE/U+FFFF) escaped. */
static int write_quoted(FILE *f, const ilr_cfg_key *k, const char *str) {
    fputc('"', f);
    for (size_t i = 0, len = strlen(str); i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)str + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) return ILR_FAIL(ILR_EINVAL, "'%s' holds text that is not UTF-8", k->key);
        if (c == '"' || c == '\\') fprintf(f, "\\%c", (char)c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", (unsigned)c);
        else if ((c >= 0x80 && c <= 0x9f) || c == 0x2028 || c == 0x2029 || c == 0xfeff ||
                 (c >= 0xfffe && c <= 0xffff))
            fprintf(f, "\\u%04x", (unsigned)c);
        else fwrite(str + i, 1, (size_t)n, f);
        i += (size_t)n;
    }
    fputc('"', f);
    return 0;
}

/* The fewest significant digits that read back to x, with ".0" when it would read as an integer. */
static void write_float(FILE *f, double x) {
    char buf[40];
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, x);
        if (strtod(buf, NULL) == x) break;
    }
    fprintf(f, "%s%s", buf, strspn(buf, "-0123456789") == strlen(buf) ? ".0" : "");
}

static int write_value(FILE *f, const ilr_cfg_key *k, const void *obj) {
    const void *p = cfield(obj, k);
    switch (k->type) {
    case ILR_CFG_INT: fprintf(f, "%ld", *(const long *)p); return 0;
    case ILR_CFG_FLOAT: write_float(f, *(const double *)p); return 0;
    case ILR_CFG_BOOL: fputs(*(const int *)p ? "true" : "false", f); return 0;
    case ILR_CFG_STRING:
        if (!*(char *const *)p) return fputs("null", f), 0;
        return write_quoted(f, k, *(char *const *)p);
    case ILR_CFG_ENUM: {
        size_t len;
        const char *c = *(const int *)p >= 0 ? choice(k, *(const int *)p, &len) : NULL;
        if (!c) return ILR_FAIL(ILR_EINVAL, "'%s' holds choice %d, which is not one of %s", k->key, *(const int *)p,
                                k->choices);
        fprintf(f, "%.*s", (int)len, c);
        return 0;
    }
    }
    return ILR_FAIL(ILR_EINVAL, "'%s' has an unknown type %d", k->key, (int)k->type);
}

#define DOC_COLUMN 40 /* trailing comments start here when the line is shorter */

/* The keys of section prefix[0..plen) ("" or "rollout."), in schema order with each subsection whole at
 * the place of its first key. */
static int write_section(FILE *f, const ilr_cfg_schema *s, const void *obj, const char *prefix, size_t plen,
                         int depth) {
    for (int i = 0; i < s->n; i++) {
        const ilr_cfg_key *k = &s->keys[i];
        if (strncmp(k->key, prefix, plen) != 0) continue;
        const char *rest = k->key + plen, *dot = strchr(rest, '.');
        int rc = 0;
        if (!dot) {
            long start = ftell(f);
            fprintf(f, "%*s%s: ", 2 * depth, "", rest);
            rc = write_value(f, k, obj);
            int used = (int)(ftell(f) - start);
            fprintf(f, "%*s# %s\n", used + 2 < DOC_COLUMN ? DOC_COLUMN - used : 2, "", k->doc);
        } else {
            size_t sub = (size_t)(dot - k->key) + 1; /* "rollout.sampling." */
            int first = 1;
            for (int j = 0; j < i && first; j++) first = strncmp(s->keys[j].key, k->key, sub) != 0;
            if (!first) continue;
            fprintf(f, "%*s%.*s:\n", 2 * depth, "", (int)(dot - rest), rest);
            rc = write_section(f, s, obj, k->key, sub, depth + 1);
        }
        if (rc) return rc;
    }
    return 0;
}

int ilr_cfg_dump(const ilr_cfg_schema *s, const void *obj, char **out) {
    size_t size = 0;
    *out = NULL;
    FILE *f = open_memstream(out, &size);
    if (!f) return ILR_FAIL(ILR_ENOMEM, "out of memory writing the %s config", s->name);
    fprintf(f, "# ilr %s configuration\n", s->name);
    int rc = write_section(f, s, obj, "", 0, 0);
    if (fclose(f) != 0 && !rc) rc = ILR_FAIL(ILR_ENOMEM, "out of memory writing the %s config", s->name);
    if (rc) free(*out), *out = NULL;
    return rc;
}

int ilr_cfg_save(const ilr_cfg_schema *s, const void *obj, const char *path) {
    char *text;
    int rc = ilr_cfg_dump(s, obj, &text);
    if (rc) return ilr_error_prefix("%s", path);
    rc = ilr_file_write_atomic(path, text, strlen(text));
    free(text);
    return rc;
}

/* "int 1..64", "float", "bool", "string" or the choices. */
static void type_text(const ilr_cfg_key *k, char *out, size_t cap) {
    static const char *const names[] = {"int", "float", "bool", "string", ""};
    if (k->type == ILR_CFG_ENUM) snprintf(out, cap, "%s", k->choices);
    else if ((k->type == ILR_CFG_INT || k->type == ILR_CFG_FLOAT) && has_range(k))
        snprintf(out, cap, "%s %.15g..%.15g", names[k->type], k->min, k->max);
    else snprintf(out, cap, "%s", names[k->type]);
}

int ilr_cfg_print_help(const ilr_cfg_schema *s, FILE *out) {
    int kw = 3, tw = 4, dw = 7;
    char type[256];
    for (int i = 0; i < s->n; i++) {
        type_text(&s->keys[i], type, sizeof type);
        if ((int)strlen(s->keys[i].key) > kw) kw = (int)strlen(s->keys[i].key);
        if ((int)strlen(type) > tw) tw = (int)strlen(type);
        if ((int)strlen(s->keys[i].def) > dw) dw = (int)strlen(s->keys[i].def);
    }
    fprintf(out, "Keys of `ilr %s`'s config: in CONFIG.yaml (nested maps or dotted keys), or KEY=VALUE after it.\n\n",
            s->name);
    fprintf(out, "  %-*s  %-*s  %-*s  %s\n", kw, "KEY", tw, "TYPE", dw, "DEFAULT", "MEANING");
    for (int i = 0; i < s->n; i++) {
        type_text(&s->keys[i], type, sizeof type);
        fprintf(out, "  %-*s  %-*s  %-*s  %s\n", kw, s->keys[i].key, tw, type, dw, s->keys[i].def, s->keys[i].doc);
    }
    if (fflush(out) != 0 || ferror(out)) return ILR_FAIL(ILR_EIO, "writing the %s config keys failed", s->name);
    return 0;
}
