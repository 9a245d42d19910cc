/* JSON through jansson, with errors that name the file, the line and column (syntax), or the key
 * (a value of the wrong type or range).  Duplicate keys are rejected. */
#ifndef ILR_JSON_H
#define ILR_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Parses text of len bytes; name is what errors call the input ("config.json").  *out is a new reference. */
int ilr_json_parse(const char *text, size_t len, const char *name, json_t **out);
int ilr_json_load_file(const char *path, json_t **out);
/* The same with extra jansson decoding flags, e.g. JSON_DECODE_INT_AS_REAL for files that hold integers
 * beyond 64 bits (tokenizer_config.json's model_max_length). */
int ilr_json_parse_flags(const char *text, size_t len, const char *name, size_t flags, json_t **out);
int ilr_json_load_file_flags(const char *path, size_t flags, json_t **out);
/* Serialises with 2-space indent, keys in insertion order, reals with 16 significant digits (so 1e-05
 * prints as 1e-05), atomically, ending with a newline. */
int ilr_json_save_file(const char *path, const json_t *root);

/* Typed getters from an object.  When the key is absent: return 1 and leave *out alone if !required,
 * else ILR_ENOTFOUND.  A value of the wrong type or out of range is ILR_EFORMAT naming name and key.
 * Return 0 when the value was read. */
int ilr_json_get_int(const json_t *obj, const char *key, int required, const char *name, int64_t lo,
                     int64_t hi, int64_t *out);
int ilr_json_get_number(const json_t *obj, const char *key, int required, const char *name, double *out);
int ilr_json_get_bool(const json_t *obj, const char *key, int required, const char *name, int *out);
/* *out points into obj (valid while obj lives). */
int ilr_json_get_string(const json_t *obj, const char *key, int required, const char *name,
                        const char **out);

/* "object", "array", "string", "integer", "real", "boolean" or "null": what messages call v's type. */
const char *ilr_json_type_name(const json_t *v);

/* An array of token ids at key: integers in [0, vocab).  *ids is malloc'ed (NULL for an empty array). */
int ilr_json_get_token_ids(const json_t *obj, const char *key, const char *name, int vocab, int **ids, int *count);

/* Reads a JSON-lines file: calls fn(line_object, line_number, name, user) for each non-blank line, where
 * name is "file:N" for messages.  Each line must be a JSON object.  Stops at the first non-zero return. */
typedef int (*ilr_jsonl_fn)(json_t *line, int line_number, const char *name, void *user);
int ilr_jsonl_read(const char *path, ilr_jsonl_fn fn, void *user);
/* The same over text in memory (fuzzing, tests). */
int ilr_jsonl_parse(const char *text, size_t len, const char *path, ilr_jsonl_fn fn, void *user);

#endif
