/* Reading experiment configs from YAML (see include/ilr/config_yaml.h): libyaml's event parser, walked
 * mapping by mapping, each scalar set through the schema's rules with its file:line:col on an error. */
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_yaml_internal.h"
#include "ilr/config_yaml.h"
#include "ilr/error.h"
#include "ilr/io.h"

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
        ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found a mapping", k->key, cfg_expects(k), k->choices ? k->choices : "");
        return at(ld, value->start_mark);
    }
    if (cfg_first_in_section(ld->s, path, strlen(path))) return load_mapping(ld, path);
    /* Not a section: name the first key inside it, so the suggestion can fix the whole path. */
    yaml_event_t first;
    int rc = next(ld, &first);
    if (rc) return rc;
    char *inner = first.type == YAML_SCALAR_EVENT ? join(path, (const char *)first.data.scalar.value) : NULL;
    cfg_unknown_key(ld->s, inner ? inner : path);
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
    if (!known && plain && cfg_is_null(text) && cfg_first_in_section(ld->s, path, strlen(path))) return 0; /* "rollout:" */
    int rc = cfg_set_key(ld->s, ld->obj, path, text, len, plain);
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
        cfg_is_null((const char *)root->data.scalar.value))
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
