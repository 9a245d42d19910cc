/* Reading experiment configs from YAML (see include/ilr/config_yaml.h): libyaml's event parser, walked
 * mapping by mapping (a list's items each a mapping of its own), each scalar set through the schema's rules
 * with its file:line:col on an error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_yaml_internal.h"
#include "ilr/config_yaml.h"
#include "ilr/error.h"
#include "ilr/io.h"

typedef struct {
    const char *source, *text;
    size_t len;
    yaml_parser_t parser;
    char **seen; /* every key and section this file has given ("agents[1].optim.lr" in items), for duplicates */
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

static int load_mapping(loader *ld, const cfg_scope *sc, const char *prefix);

/* A mapping given as the value of path (the key at key_mark): a section, or an error. */
static int load_section(loader *ld, const cfg_scope *sc, const char *path, yaml_mark_t key_mark,
                        const yaml_event_t *value) {
    const char *key = path + sc->plen;
    const ilr_cfg_key *k = ilr_cfg_find(sc->s, key);
    if (k) {
        ILR_FAIL(ILR_EINVAL, "'%s' expects %s%s, found a mapping", path, cfg_expects(k), k->choices ? k->choices : "");
        return at(ld, value->start_mark);
    }
    if (cfg_first_in_section(sc->s, key, strlen(key))) return load_mapping(ld, sc, path);
    /* Not a section: name the first key inside it, so the suggestion can fix the whole path. */
    yaml_event_t first;
    int rc = next(ld, &first);
    if (rc) return rc;
    char *inner = first.type == YAML_SCALAR_EVENT ? join(path, (const char *)first.data.scalar.value) : NULL;
    cfg_unknown_key(sc, inner ? inner : path);
    rc = at(ld, inner ? first.start_mark : key_mark);
    free(inner);
    yaml_event_delete(&first);
    return rc;
}

static int load_scalar(loader *ld, const cfg_scope *sc, const char *path, yaml_mark_t key_mark,
                       const yaml_event_t *value) {
    const char *text = (const char *)value->data.scalar.value, *key = path + sc->plen;
    size_t len = value->data.scalar.length;
    int plain = value->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    int known = ilr_cfg_find(sc->s, key) != NULL;
    if (!known && plain && cfg_is_null(text) && cfg_first_in_section(sc->s, key, strlen(key)))
        return 0; /* "rollout:" */
    int rc = cfg_set_key(sc, path, text, len, plain);
    return rc ? at(ld, known ? value->start_mark : key_mark) : 0;
}

/* The error for an item (named name) that is not a mapping. */
static int not_an_item(const loader *ld, const char *name, const yaml_event_t *ev) {
    if (ev->type == YAML_ALIAS_EVENT) return not_a_value(ld, name, ev);
    const char *text = ev->type == YAML_SCALAR_EVENT ? (const char *)ev->data.scalar.value : NULL;
    size_t len = text ? ev->data.scalar.length : 0;
    if (text && len == 0 && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        ILR_FAIL(ILR_EINVAL, "'%s' expects a mapping of keys (- key: value; {} for none), found nothing", name);
    else if (text)
        ILR_FAIL(ILR_EINVAL, "'%s' expects a mapping of keys (- key: value), found '%.*s%s'", name, SHOW(len), text,
                 len > SHOWN ? "..." : "");
    else ILR_FAIL(ILR_EINVAL, "'%s' expects a mapping of keys (- key: value), found a list", name);
    return at(ld, ev->start_mark);
}

/* One item of the list k (named path), from its first event: appended to list and loaded onto its defaults. */
static int load_item(loader *ld, const ilr_cfg_key *k, ilr_cfg_list *list, const char *path, const yaml_event_t *ev) {
    char *name = malloc(strlen(path) + 24);
    if (!name) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", ld->source);
    sprintf(name, "%s[%ld]", path, list->count);
    int rc = ev->type == YAML_MAPPING_START_EVENT ? cfg_list_append(k, list) : not_an_item(ld, name, ev);
    if (!rc) {
        long i = list->count - 1;
        cfg_scope item = {k->item_schema, cfg_item(k, list, i), cfg_item_set(k, list, i), strlen(name) + 1};
        rc = load_mapping(ld, &item, name);
    }
    free(name);
    return rc;
}

/* The value of the LIST key k (named path), after its sequence start event, through its end: the items it
 * holds replace the list's. */
static int load_list(loader *ld, const cfg_scope *sc, const ilr_cfg_key *k, const char *path) {
    ilr_cfg_list *list = cfg_field(sc->obj, k);
    cfg_list_clear(k, list);
    for (;;) {
        yaml_event_t ev;
        int rc = next(ld, &ev);
        if (rc) return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) return yaml_event_delete(&ev), 0;
        rc = load_item(ld, k, list, path, &ev);
        yaml_event_delete(&ev);
        if (rc) return rc;
    }
}

/* One "key: value" of the mapping at prefix, after its key event. */
static int load_entry(loader *ld, const cfg_scope *sc, const char *prefix, const yaml_event_t *key) {
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
    const ilr_cfg_key *k = ilr_cfg_find(sc->s, path + sc->plen);
    if (value.type == YAML_SCALAR_EVENT) rc = load_scalar(ld, sc, path, key->start_mark, &value);
    else if (value.type == YAML_MAPPING_START_EVENT) rc = load_section(ld, sc, path, key->start_mark, &value);
    else if (value.type == YAML_SEQUENCE_START_EVENT && k && k->type == ILR_CFG_LIST) rc = load_list(ld, sc, k, path);
    else rc = not_a_value(ld, path, &value);
    yaml_event_delete(&value);
    return rc;
}

/* The entries of a mapping whose start event has been read, through its end. */
static int load_mapping(loader *ld, const cfg_scope *sc, const char *prefix) {
    for (;;) {
        yaml_event_t key;
        int rc = next(ld, &key);
        if (rc) return rc;
        if (key.type == YAML_MAPPING_END_EVENT) return yaml_event_delete(&key), 0;
        rc = load_entry(ld, sc, prefix, &key);
        yaml_event_delete(&key);
        if (rc) return rc;
    }
}

/* The root of the document: a mapping, or nothing at all. */
static int load_root(loader *ld, const cfg_scope *top, const yaml_event_t *root) {
    if (root->type == YAML_MAPPING_START_EVENT) return load_mapping(ld, top, "");
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
static int load_stream(loader *ld, const cfg_scope *top) {
    static const yaml_event_type_t expected[] = {YAML_STREAM_START_EVENT, YAML_DOCUMENT_START_EVENT,
                                                 YAML_NO_EVENT /* the root */, YAML_DOCUMENT_END_EVENT,
                                                 YAML_STREAM_END_EVENT};
    for (int step = 0; step < 5; step++) {
        yaml_event_t ev;
        int rc = next(ld, &ev);
        if (rc) return rc;
        if (step == 1 && ev.type == YAML_STREAM_END_EVENT) return yaml_event_delete(&ev), 0; /* empty */
        if (step == 2) rc = load_root(ld, top, &ev);
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
    loader ld = {.source = source_name, .text = text, .len = len};
    cfg_scope top = {s, obj, NULL, 0};
    if (!yaml_parser_initialize(&ld.parser)) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", source_name);
    yaml_parser_set_input_string(&ld.parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
    int rc = load_stream(&ld, &top);
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
