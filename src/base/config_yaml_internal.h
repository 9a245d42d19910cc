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

/* The first key of section prefix[0..len) (a key "prefix.*"), NULL when prefix is no section. */
const ilr_cfg_key *cfg_first_in_section(const ilr_cfg_schema *s, const char *prefix, size_t len);
/* The index-th choice of k: *len bytes at the returned pointer; NULL when there is none. */
const char *cfg_choice(const ilr_cfg_key *k, int index, size_t *len);
/* Whether t is YAML's null as a plain scalar: empty, ~, null, Null or NULL. */
int cfg_is_null(const char *t);
/* What a value of k is, for messages: "an integer", "one of " (followed by the choices). */
const char *cfg_expects(const ilr_cfg_key *k);
/* The error for an unknown key, with the nearest valid one. */
int cfg_unknown_key(const ilr_cfg_schema *s, const char *key);
/* Sets key from scalar text (len bytes, NUL-terminated; plain: not quoted in YAML); errors name the key but
 * not where the text came from. */
int cfg_set_key(const ilr_cfg_schema *s, void *obj, const char *key, const char *text, size_t len, int plain);

#endif
