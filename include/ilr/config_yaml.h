/* Experiment configs in YAML (libyaml): `ilr train CONFIG.yaml key=value ...`.
 *
 * A command describes its options once, as a schema: a table of keys, each a dotted path
 * ("rollout.num_generations") with a type, a field of the command's options struct (by offsetof), a
 * default written as YAML text, a range or a set of choices, and one line of documentation.  From that
 * table this module sets defaults, loads a YAML file onto the struct, applies command-line overrides,
 * writes the resolved config back as YAML (with each key's doc as a comment) and prints the key list
 * for --help-config.  The struct owns its STRING fields; ilr_cfg_free releases them.
 *
 * The YAML is one document holding one mapping.  Nested mappings make dotted keys, so
 * `rollout: {num_generations: 8}` and `rollout.num_generations: 8` are the same, and a dotted key works at
 * any level.  Values are scalars, except for LIST keys: other sequences, and aliases, are refused.  A key
 * (or section) may appear once.  An empty file, or a file of comments, sets nothing.  `rollout:` with no
 * value names an empty section.
 *
 * A LIST key holds items, each a struct of its own schema (item_schema, item_size): in YAML a block or flow
 * sequence of mappings, each loaded like a document of its own against the item schema (nested sections or
 * dotted keys, the same scalar rules, unknown keys with suggestions, duplicates refused) onto that schema's
 * defaults.  The sequence replaces the items the field held; `[]` or null gives no items.
 *
 *   agents:                            # a LIST key; item schema: name, model, optim.lr
 *     - name: a
 *       model: build/agents/agent-a
 *       optim: {lr: 2.0e-4}
 *     - model: build/agents/agent-b    # sets neither name nor optim.lr
 *
 * The field (ilr_cfg_list) records which keys each item set, in the file or by an override, so that a caller
 * can let the keys an item did not set follow a top-level value (ilr_cfg_item_is_set).  An item schema holds
 * scalar keys only: a list inside an item is refused (ILR_EUNSUPPORTED).  On the command line a list item is
 * addressed by its 0-based index, `agents.1.model=DIR`: the index of an existing item sets its key, the
 * count appends an item (defaults, then that key), anything else is an error; `agents=[]` empties the list.
 * In a file the items are always a sequence (`agents.0.model:` is an error there).
 *
 * Scalars, the same in a file and on the command line:
 *   INT     long: a base-10 integer with optional sign ("1e3" and "8.0" are not integers)
 *   FLOAT   double: anything strtod reads whole ("1e-6", "0.04"); NaN and infinities are refused
 *   BOOL    int 0/1: true/false, yes/no, on/off, 1/0, in any case
 *   STRING  char * (malloc'ed, owned by the struct): any UTF-8 text; null, ~ and empty (unquoted in YAML)
 *           give NULL, and so does "" — a STRING field is NULL or non-empty
 *   ENUM    int: the index of the value in choices ("constant|cosine|linear"), case-sensitive
 *   LIST    ilr_cfg_list (above); as a scalar only null, or [] on the command line (no items)
 * A quoted scalar is the same text as an unquoted one for INT, FLOAT, BOOL and ENUM ("8" is 8).  INT and
 * FLOAT keys with min <= max are checked against [min, max].
 *
 * Errors are ILR_EINVAL for a bad value or an unknown key, ILR_EFORMAT for YAML syntax, a duplicate key or
 * a second document, ILR_EUNSUPPORTED for lists where no LIST key is and for aliases.  Each message starts with
 * where ("cfg.yaml:3:18" with 1-based line and column, or "command line"), names the key (an item's key with
 * its index: `agents[1].optim.lr` in a file, `agents.1.optim.lr` as written on the command line), what was
 * expected and what was found; an unknown key comes with the nearest valid key, or with
 * `ilr NAME --help-config` when none is close.
 * On an error, keys read before it may already be set; the struct stays valid for ilr_cfg_free.
 *
 * A schema must be sane (checked by assert in ilr_cfg_defaults): keys unique, made of [A-Za-z0-9_-]
 * components joined by dots, no key also a section of another ("a" and "a.b"), defaults that parse,
 * choices of [A-Za-z0-9_.+-] names ("share+fuse") starting with a letter or digit, docs of one line; a LIST key has the
 * default "[]" or "null" and an item schema (of at least one key, no LIST keys, fields inside item_size) that
 * is sane by the same rules; other keys have no item schema. */
#ifndef ILR_CONFIG_YAML_H
#define ILR_CONFIG_YAML_H

#include <stddef.h>
#include <stdio.h>

typedef enum { ILR_CFG_INT, ILR_CFG_FLOAT, ILR_CFG_BOOL, ILR_CFG_STRING, ILR_CFG_ENUM, ILR_CFG_LIST } ilr_cfg_type;

typedef struct ilr_cfg_schema ilr_cfg_schema;

typedef struct {
    const char *key;     /* dotted path: "rollout.num_generations" */
    ilr_cfg_type type;   /* the field: INT long, FLOAT double, BOOL int (0/1), STRING char *, ENUM int,
                          * LIST ilr_cfg_list */
    size_t offset;       /* offsetof(the options struct, field) */
    const char *def;     /* the default as YAML text: "8", "0.04", "true", "null", "cosine" */
    const char *doc;     /* one line, for the dump and for --help-config */
    const char *choices; /* ENUM only: "constant|cosine|linear" */
    double min, max;     /* INT/FLOAT inclusive range; min > max means unbounded */
    const ilr_cfg_schema *item_schema; /* LIST only: the keys of an item (offsets into the item struct) */
    size_t item_size;                  /* LIST only: sizeof the item struct */
} ilr_cfg_key;

struct ilr_cfg_schema {
    const ilr_cfg_key *keys;
    int n;
    const char *name; /* the command, for messages: "train" (`ilr train --help-config`) */
};

/* The field of a LIST key.  Owned by the struct that holds it (ilr_cfg_free releases it). */
typedef struct {
    void *items;        /* count structs of the key's item_size bytes (malloc'ed; NULL when never grown) */
    long count;
    unsigned char *set; /* count rows of item_schema->n flags: set[i * n + j] when item i set key j itself */
} ilr_cfg_list;

/* Sets every schema field of obj to its default, overwriting without freeing: call it once on a new struct
 * (whatever it holds; other fields are not touched), and ilr_cfg_free when done.  A STRING default that
 * cannot be allocated is left NULL; a LIST starts empty. */
void ilr_cfg_defaults(const ilr_cfg_schema *s, void *obj);
/* Frees the STRING fields and sets them NULL, and the LIST fields (their items' STRING fields too), leaving
 * them empty. */
void ilr_cfg_free(const ilr_cfg_schema *s, void *obj);

/* Whether item i of list (a LIST field whose item schema is item_schema) set item_key itself, in a file or by
 * an override, rather than taking the item schema's default: a caller lets the keys an item did not set
 * follow the top-level value, e.g.
 *     if (!ilr_cfg_item_is_set(&agent_schema, &c->agents, i, "optim.lr")) agent[i].lr = c->lr;
 * item_key must be a key of item_schema and i an index of the list (assert). */
int ilr_cfg_item_is_set(const ilr_cfg_schema *item_schema, const ilr_cfg_list *list, long i, const char *item_key);

/* Reads the YAML at path onto obj: only the keys it holds change. */
int ilr_cfg_load_file(const ilr_cfg_schema *s, void *obj, const char *path);
/* The same for text of len bytes; source_name is what messages call it (a path). */
int ilr_cfg_load_text(const ilr_cfg_schema *s, void *obj, const char *text, size_t len, const char *source_name);

/* Sets key to value (scalar text as above; NULL is null); origin starts messages ("command line").  key may
 * name a key of a list item, "agents.1.model", as described above. */
int ilr_cfg_set(const ilr_cfg_schema *s, void *obj, const char *key, const char *value, const char *origin);
/* Applies "a.b=value" from the command line (split at the first '='; nothing is trimmed). */
int ilr_cfg_override(const ilr_cfg_schema *s, void *obj, const char *assignment);

/* The key named key exactly, NULL if none. */
const ilr_cfg_key *ilr_cfg_find(const ilr_cfg_schema *s, const char *key);
/* The valid key nearest to key by edit distance, whole or by last component ("num_generation" ->
 * "rollout.num_generations"); NULL when none is within a third of its length (at least 1). */
const char *ilr_cfg_nearest(const ilr_cfg_schema *s, const char *key);

/* The resolved config as YAML text in *out (malloc'ed): nested maps by dotted prefix, keys in schema order
 * grouped by section, each with its doc as a trailing "# " comment; strings double-quoted and escaped,
 * floats in the fewest digits that read back exactly.  A LIST is a block sequence of mappings (`[]` when
 * empty) holding, for each item, only the keys it set (`- {}` when none), so that defaults and a caller's
 * inheritance apply again after a reload (a value a caller gave to a key the item did not set is not
 * written).  Loading it gives the same struct, set flags included.  ILR_EINVAL if an ENUM field holds no
 * valid index or a STRING field is not UTF-8 (set other than through this module). */
int ilr_cfg_dump(const ilr_cfg_schema *s, const void *obj, char **out);
/* The dump, written to path atomically. */
int ilr_cfg_save(const ilr_cfg_schema *s, const void *obj, const char *path);
/* Every key with its type (or choices) and range, default and doc, one a line; after a LIST key its item
 * keys, as "agents[].model".  ILR_EIO if writing fails. */
int ilr_cfg_print_help(const ilr_cfg_schema *s, FILE *out);

#endif
