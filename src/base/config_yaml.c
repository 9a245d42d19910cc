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

static void *field(void *obj, const ilr_cfg_key *k) { return (char *)obj + k->offset; }

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
        assert(!cfg_first_in_section(s, k->key, strlen(k->key)) && "a schema key is also a section");
        for (int j = 0; j < i; j++) assert(strcmp(s->keys[j].key, k->key) && "duplicate schema key");
        assert((k->type == ILR_CFG_ENUM) == (k->choices != NULL));
        size_t len;
        for (int c = 0; k->choices && cfg_choice(k, c, &len); c++)
            assert(is_name(cfg_choice(k, c, &len), len, "_.-") && isalnum((unsigned char)*cfg_choice(k, c, &len)));
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
    }
    return "?";
}

static int bad_value(const ilr_cfg_key *k, const char *text, size_t len) {
    const char *choices = k->type == ILR_CFG_ENUM ? k->choices : "";
    if (len == 0) return ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found nothing", k->key, cfg_expects(k), choices);
    return ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found '%.*s%s'", k->key, cfg_expects(k), choices,
                    SHOW(len), text, len > SHOWN ? "..." : "");
}

static int out_of_range(const ilr_cfg_key *k, const char *text, size_t len) {
    if (!cfg_has_range(k))
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
    if (overflow || (cfg_has_range(k) && (x < k->min || x > k->max))) return out_of_range(k, text, len);
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
        for (int c = 0; cfg_choice(k, c, &clen); c++)
            if (clen == len && memcmp(cfg_choice(k, c, &clen), text, len) == 0) return v->b = c, 0;
        return bad_value(k, text, len);
    }
    case ILR_CFG_STRING:
        v->str = NULL;
        if (len == 0 || (plain && cfg_is_null(text))) return 0;
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

int cfg_unknown_key(const ilr_cfg_schema *s, const char *key) {
    const char *near = ilr_cfg_nearest(s, key);
    if (near) return ILR_FAIL(ILR_EINVAL, "unknown key '%.*s' (did you mean '%s'?)", SHOWN, key, near);
    return ILR_FAIL(ILR_EINVAL, "unknown key '%.*s'; `ilr %s --help-config` lists the keys", SHOWN, key, s->name);
}

/* Sets key from scalar text; errors name the key but not where the text came from. */
int cfg_set_key(const ilr_cfg_schema *s, void *obj, const char *key, const char *text, size_t len, int plain) {
    const ilr_cfg_key *k = ilr_cfg_find(s, key);
    if (!k) {
        const ilr_cfg_key *inner = cfg_first_in_section(s, key, strlen(key));
        if (inner) return ILR_FAIL(ILR_EINVAL, "'%s' is a section of keys such as '%s', not a value", key, inner->key);
        return cfg_unknown_key(s, key);
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
    int rc = cfg_set_key(s, obj, key, value, strlen(value), 1);
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
