/* The config module's parts (include/ilr/config_yaml.h) shared by src/base/config_yaml.c (the schema, scalars
 * and settings), config_yaml_load.c (reading YAML) and config_yaml_dump.c (writing it, and the key list).
 * Not a public header. */
#ifndef ILR_CONFIG_YAML_INTERNAL_H
#define ILR_CONFIG_YAML_INTERNAL_H

#include <stddef.h>

#include "ilr/config_yaml.h"

#define SHOWN 80 /* a message quotes at most this many bytes of a value or key */
#define SHOW(len) (int)((len) > SHOWN ? SHOWN : (len))

static inline int cfg_has_range(const ilr_cfg_key *k) { return k->min <= k->max; }
static inline void *cfg_field(void *obj, const ilr_cfg_key *k) { return (char *)obj + k->offset; }
static inline const void *cfg_cfield(const void *obj, const ilr_cfg_key *k) { return (const char *)obj + k->offset; }

/* Where settings go: a schema and its struct, and inside a list item the item's set flags (one per key of s)
 * and the length of the item's part of the names that messages use ("agents[1]." of "agents[1].optim.lr" in
 * a file, "agents.1." on the command line). */
typedef struct {
    const ilr_cfg_schema *s;
    void *obj;
    unsigned char *set; /* NULL at the top level */
    size_t plen;
} cfg_scope;

/* The first key of section prefix[0..len) (a key "prefix.*"), NULL when prefix is no section. */
const ilr_cfg_key *cfg_first_in_section(const ilr_cfg_schema *s, const char *prefix, size_t len);
/* The index-th choice of k: *len bytes at the returned pointer; NULL when there is none. */
const char *cfg_choice(const ilr_cfg_key *k, int index, size_t *len);
/* Whether t is YAML's null as a plain scalar: empty, ~, null, Null or NULL. */
int cfg_is_null(const char *t);
/* What a value of k is, for messages: "an integer", "one of " (followed by the choices). */
const char *cfg_expects(const ilr_cfg_key *k);
/* The error for name, a key unknown in sc (name + sc->plen is the key in sc->s), with the nearest valid one. */
int cfg_unknown_key(const cfg_scope *sc, const char *name);
/* Sets name (name + sc->plen is the key in sc->s) from scalar text (len bytes, NUL-terminated; plain: not
 * quoted in YAML) and marks it set; errors name the key but not where the text came from. */
int cfg_set_key(const cfg_scope *sc, const char *name, const char *text, size_t len, int plain);

/* Item i of the LIST field list of k, and its row of set flags. */
static inline void *cfg_item(const ilr_cfg_key *k, const ilr_cfg_list *list, long i) {
    return (char *)list->items + (size_t)i * k->item_size;
}
static inline unsigned char *cfg_item_set(const ilr_cfg_key *k, const ilr_cfg_list *list, long i) {
    return list->set + (size_t)i * (size_t)k->item_schema->n;
}
/* Appends an item with the item schema's defaults and nothing set (ILR_ENOMEM). */
int cfg_list_append(const ilr_cfg_key *k, ilr_cfg_list *list);
/* Frees the items and the arrays: no items. */
void cfg_list_clear(const ilr_cfg_key *k, ilr_cfg_list *list);

#endif
