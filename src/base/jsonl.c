/* JSON lines and token-id arrays (see ilr/json.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/json.h"

int ilr_json_get_token_ids(const json_t *obj, const char *key, const char *name, int vocab, int **ids, int *count) {
    const json_t *arr = json_object_get(obj, key);
    *ids = NULL;
    *count = 0;
    if (!arr) return ILR_FAIL(ILR_ENOTFOUND, "%s: no key '%s'", name, key);
    if (!json_is_array(arr)) return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': expected an array of token ids", name, key);
    size_t n = json_array_size(arr);
    if (n == 0) return 0;
    if (n > (1u << 24)) return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': %zu ids is too many", name, key, n);
    int *out = malloc(sizeof(int) * n);
    if (!out) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= vocab) {
            free(out);
            return ILR_FAIL(ILR_EFORMAT, "%s: key '%s': item %zu is not a token id in [0, %d)", name, key, i, vocab);
        }
        out[i] = (int)json_integer_value(v);
    }
    *ids = out;
    *count = (int)n;
    return 0;
}

int ilr_jsonl_parse(const char *text, size_t len, const char *path, ilr_jsonl_fn fn, void *user) {
    int line_number = 0, rc = 0;
    for (size_t at = 0; at < len && !rc;) {
        const char *start = text + at, *nl = memchr(start, '\n', len - at);
        size_t line_len = nl ? (size_t)(nl - start) : len - at;
        at += line_len + 1;
        line_number++;
        size_t blank = 0;
        while (blank < line_len && strchr(" \t\r", start[blank])) blank++;
        if (blank == line_len) continue;
        char name[512];
        snprintf(name, sizeof name, "%s:%d", path, line_number);
        json_t *obj = NULL;
        rc = ilr_json_parse_flags(start, line_len, name, JSON_ALLOW_NUL, &obj);
        if (!rc && !json_is_object(obj)) rc = ILR_FAIL(ILR_EFORMAT, "%s: expected a JSON object", name);
        if (!rc) rc = fn(obj, line_number, name, user);
        json_decref(obj);
    }
    return rc;
}

int ilr_jsonl_read(const char *path, ilr_jsonl_fn fn, void *user) {
    char *text;
    size_t len;
    int rc = ilr_file_read_all(path, &text, &len);
    if (rc) return rc;
    rc = ilr_jsonl_parse(text, len, path, fn, user);
    free(text);
    return rc;
}
