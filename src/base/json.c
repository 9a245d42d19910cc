/* JSON through jansson with errors that name the input, line and column, or the key (see json.h). */
#include "ilr/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"

int ilr_json_parse(const char *text, size_t len, const char *name, json_t **out) {
    return ilr_json_parse_flags(text, len, name, 0, out);
}

int ilr_json_parse_flags(const char *text, size_t len, const char *name, size_t flags, json_t **out) {
    json_error_t err;
    *out = json_loadb(text, len, JSON_REJECT_DUPLICATES | flags, &err);
    if (*out) return 0;
    if (err.line < 0) return ILR_FAIL(ILR_EFORMAT, "%s: %s", name, err.text);
    return ILR_FAIL(ILR_EFORMAT, "%s:%d:%d: %s", name, err.line, err.column, err.text);
}

int ilr_json_load_file(const char *path, json_t **out) { return ilr_json_load_file_flags(path, 0, out); }

int ilr_json_load_file_flags(const char *path, size_t flags, json_t **out) {
    *out = NULL;
    char *text;
    size_t len;
    int rc = ilr_file_read_all(path, &text, &len);
    if (rc) return rc;
    rc = ilr_json_parse_flags(text, len, path, flags, out);
    free(text);
    return rc;
}

int ilr_json_save_file(const char *path, const json_t *root) {
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(16));
    if (!text)
        return ILR_FAIL(ILR_EINVAL, "%s: cannot serialise JSON (the top level must be an object or array)",
                        path);
    ilr_atomic_file f;
    int rc = ilr_atomic_open(&f, path);
    if (!rc) rc = ilr_atomic_write(&f, text, strlen(text));
    if (!rc) rc = ilr_atomic_write(&f, "\n", 1);
    if (rc) ilr_atomic_abort(&f);
    else rc = ilr_atomic_commit(&f);
    free(text);
    return rc;
}

const char *ilr_json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

/* Finds key in obj.  Returns 0 with *v set, 1 when absent and optional, or a negative ILR_E*. */
static int lookup(const json_t *obj, const char *key, int required, const char *name, const json_t **v) {
    if (!json_is_object(obj))
        return ILR_FAIL(ILR_EFORMAT, "%s: cannot read key '%s': expected an object, got %s", name, key,
                        obj ? ilr_json_type_name(obj) : "nothing");
    *v = json_object_get(obj, key);
    if (*v) return 0;
    if (!required) return 1;
    return ILR_FAIL(ILR_ENOTFOUND, "%s: missing required key '%s'", name, key);
}

static int wrong_type(const char *name, const char *key, const char *want, const json_t *v) {
    return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected %s, got %s", name, key, want, ilr_json_type_name(v));
}

/* Reals are accepted when they hold an integer exactly (1e6, 2.0), as configs written by Python often do. */
int ilr_json_get_int(const json_t *obj, const char *key, int required, const char *name, int64_t lo,
                     int64_t hi, int64_t *out) {
    const json_t *v = NULL;
    int rc = lookup(obj, key, required, name, &v);
    if (rc) return rc;
    int64_t value;
    if (json_is_integer(v)) {
        value = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d))
            return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected an integer, got %g", name, key, d);
        if (!(d >= -0x1p63 && d < 0x1p63))
            return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': value %g is out of range [%lld, %lld]", name, key, d,
                            (long long)lo, (long long)hi);
        value = (int64_t)d;
    } else {
        return wrong_type(name, key, "an integer", v);
    }
    if (value < lo || value > hi)
        return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': value %lld is out of range [%lld, %lld]", name, key,
                        (long long)value, (long long)lo, (long long)hi);
    *out = value;
    return 0;
}

int ilr_json_get_number(const json_t *obj, const char *key, int required, const char *name, double *out) {
    const json_t *v = NULL;
    int rc = lookup(obj, key, required, name, &v);
    if (rc) return rc;
    if (!json_is_number(v)) return wrong_type(name, key, "a number", v);
    *out = json_number_value(v);
    return 0;
}

int ilr_json_get_bool(const json_t *obj, const char *key, int required, const char *name, int *out) {
    const json_t *v = NULL;
    int rc = lookup(obj, key, required, name, &v);
    if (rc) return rc;
    if (!json_is_boolean(v)) return wrong_type(name, key, "true or false", v);
    *out = json_is_true(v);
    return 0;
}

int ilr_json_get_string(const json_t *obj, const char *key, int required, const char *name,
                        const char **out) {
    const json_t *v = NULL;
    int rc = lookup(obj, key, required, name, &v);
    if (rc) return rc;
    if (!json_is_string(v)) return wrong_type(name, key, "a string", v);
    *out = json_string_value(v);
    return 0;
}
