/* Reading safetensors files: header parsing and validation, fp32 conversion (see ilr/safetensors.h). */
#include "ilr/safetensors.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/json.h"

static const struct {
    const char *name;
    int size;
} dtype_table[ILR_DTYPE_COUNT] = {
    [ILR_DTYPE_BOOL] = {"BOOL", 1},     [ILR_DTYPE_U8] = {"U8", 1},
    [ILR_DTYPE_I8] = {"I8", 1},         [ILR_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [ILR_DTYPE_F8_E5M2] = {"F8_E5M2", 1}, [ILR_DTYPE_I16] = {"I16", 2},
    [ILR_DTYPE_U16] = {"U16", 2},       [ILR_DTYPE_F16] = {"F16", 2},
    [ILR_DTYPE_BF16] = {"BF16", 2},     [ILR_DTYPE_I32] = {"I32", 4},
    [ILR_DTYPE_U32] = {"U32", 4},       [ILR_DTYPE_F32] = {"F32", 4},
    [ILR_DTYPE_I64] = {"I64", 8},       [ILR_DTYPE_U64] = {"U64", 8},
    [ILR_DTYPE_F64] = {"F64", 8},
};

const char *ilr_dtype_name(ilr_dtype dtype) {
    return (unsigned)dtype < ILR_DTYPE_COUNT ? dtype_table[dtype].name : "?";
}

int ilr_dtype_size(ilr_dtype dtype) { return (unsigned)dtype < ILR_DTYPE_COUNT ? dtype_table[dtype].size : 0; }

int ilr_dtype_parse(const char *name) {
    for (int i = 0; i < ILR_DTYPE_COUNT; i++)
        if (strcmp(dtype_table[i].name, name) == 0) return i;
    return -1;
}

int ilr_dtype_is_float_weight(ilr_dtype dtype) {
    return dtype == ILR_DTYPE_F32 || dtype == ILR_DTYPE_F16 || dtype == ILR_DTYPE_BF16;
}

float ilr_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int shift = 0;
        while (!(mantissa & 0x400u)) {
            mantissa <<= 1;
            shift++;
        }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ---- header parsing ---- */

static int fail_tensor(const char *file, const char *tensor, int code, const char *what) {
    return ILR_FAIL(code, "%s: tensor '%s': %s", file, tensor, what);
}

static int parse_shape(ilr_st_tensor *t, const json_t *shape, const char *file) {
    if (!json_is_array(shape)) return fail_tensor(file, t->name, ILR_EFORMAT, "\"shape\" is not an array");
    size_t ndim = json_array_size(shape);
    if (ndim > ILR_ST_MAX_DIMS)
        return ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': shape has %zu dimensions, at most %d are allowed", file,
                        t->name, ndim, ILR_ST_MAX_DIMS);
    t->ndim = (int)ndim;
    t->numel = 1;
    for (size_t i = 0; i < ndim; i++) {
        const json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", file,
                            t->name, i);
        t->shape[i] = json_integer_value(d);
        if (t->shape[i] && t->numel > INT64_MAX / 8 / t->shape[i])
            return fail_tensor(file, t->name, ILR_EFORMAT, "shape has too many elements");
        t->numel *= t->shape[i];
    }
    return 0;
}

static int parse_offsets(ilr_st_tensor *t, const json_t *offsets, const char *file) {
    const json_t *b = json_array_get(offsets, 0), *e = json_array_get(offsets, 1);
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 || !json_is_integer(b) || !json_is_integer(e) ||
        json_integer_value(b) < 0 || json_integer_value(e) < 0)
        return fail_tensor(file, t->name, ILR_EFORMAT, "\"data_offsets\" is not a pair of non-negative integers");
    t->begin = (size_t)json_integer_value(b);
    t->end = (size_t)json_integer_value(e);
    if (t->end < t->begin)
        return ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] end before they begin", file,
                        t->name, t->begin, t->end);
    size_t want = (size_t)t->numel * (size_t)ilr_dtype_size(t->dtype);
    if (t->end - t->begin != want)
        return ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] hold %zu bytes but %s of %lld "
                        "elements needs %zu", file, t->name, t->begin, t->end, t->end - t->begin,
                        ilr_dtype_name(t->dtype), (long long)t->numel, want);
    return 0;
}

static int parse_tensor(ilr_st_tensor *t, const char *key, const json_t *info, const char *file) {
    t->name = strdup(key);
    if (!t->name) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", file);
    if (!key[0]) return ILR_FAIL(ILR_EFORMAT, "%s: a tensor has an empty name", file);
    if (!json_is_object(info)) return fail_tensor(file, key, ILR_EFORMAT, "entry is not a JSON object");
    const json_t *dtype = json_object_get(info, "dtype"), *shape = json_object_get(info, "shape");
    const json_t *offsets = json_object_get(info, "data_offsets");
    if (!dtype || !shape || !offsets)
        return ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': missing \"%s\"", file, key,
                        !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dtype)) return fail_tensor(file, key, ILR_EFORMAT, "\"dtype\" is not a string");
    int d = ilr_dtype_parse(json_string_value(dtype));
    if (d < 0)
        return ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': unknown dtype \"%s\"", file, key, json_string_value(dtype));
    t->dtype = (ilr_dtype)d;
    int rc = parse_shape(t, shape, file);
    return rc ? rc : parse_offsets(t, offsets, file);
}

static int parse_metadata(ilr_st_file *f, json_t *meta) {
    if (!json_is_object(meta)) return ILR_FAIL(ILR_EFORMAT, "%s: \"__metadata__\" is not a JSON object", f->name);
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value))
            return ILR_FAIL(ILR_EFORMAT, "%s: \"__metadata__\" value of '%s' is not a string", f->name, key);
    }
    f->metadata = json_incref(meta);
    return 0;
}

static int compare_begin(const void *a, const void *b) {
    const ilr_st_tensor *x = *(const ilr_st_tensor *const *)a, *y = *(const ilr_st_tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* The tensors must tile the data section: sorted by offset, each begins where the previous ends. */
static int check_tiling(ilr_st_file *f) {
    ilr_st_tensor **order = malloc(sizeof(*order) * (size_t)(f->num_tensors ? f->num_tensors : 1));
    if (!order) return ILR_FAIL(ILR_ENOMEM, "%s: out of memory", f->name);
    for (int i = 0; i < f->num_tensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->num_tensors, sizeof(*order), compare_begin);
    size_t expect = 0;
    int rc = 0;
    for (int i = 0; i < f->num_tensors && !rc; i++) {
        const ilr_st_tensor *t = order[i];
        if (t->end > f->data_size)
            rc = ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] run past the data section of "
                          "%zu bytes", f->name, t->name, t->begin, t->end, f->data_size);
        else if (t->begin < expect)
            rc = ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' [%zu, %zu]",
                          f->name, t->name, t->begin, t->end, order[i - 1]->name, order[i - 1]->begin,
                          order[i - 1]->end);
        else if (t->begin > expect)
            rc = ILR_FAIL(ILR_EFORMAT, "%s: tensor '%s': data_offsets begin at %zu, leaving a gap of %zu unused "
                          "bytes after offset %zu", f->name, t->name, t->begin, t->begin - expect, expect);
        expect = t->end;
    }
    if (!rc && expect != f->data_size)
        rc = ILR_FAIL(ILR_EFORMAT, "%s: the tensors cover %zu bytes but the data section has %zu (%zu bytes "
                      "not covered)", f->name, expect, f->data_size, f->data_size - expect);
    free(order);
    return rc;
}

static int parse_header(ilr_st_file *f, const char *text, size_t len) {
    json_t *root = NULL;
    int rc = ilr_json_parse(text, len, f->name, &root);
    if (rc) return ilr_error_prefix("safetensors header");
    if (!json_is_object(root)) {
        json_decref(root);
        return ILR_FAIL(ILR_EFORMAT, "%s: the header is not a JSON object", f->name);
    }
    f->tensors = calloc(json_object_size(root) + 1, sizeof(*f->tensors));
    if (!f->tensors) rc = ILR_FAIL(ILR_ENOMEM, "%s: out of memory", f->name);
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (rc) break;
        if (strcmp(key, "__metadata__") == 0)
            rc = parse_metadata(f, value);
        else
            rc = parse_tensor(&f->tensors[f->num_tensors++], key, value, f->name);
    }
    json_decref(root);
    return rc;
}

int ilr_st_parse(ilr_st_file *f, const uint8_t *buf, size_t len, const char *name) {
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    if (!f->name) return ILR_FAIL(ILR_ENOMEM, "out of memory");
    int rc;
    uint64_t header_len = 0;
    if (len < 8) {
        rc = ILR_FAIL(ILR_EFORMAT, "%s: file is %zu bytes, too short for the 8-byte header length", name, len);
        goto fail;
    }
    for (int i = 7; i >= 0; i--) header_len = header_len << 8 | buf[i];
    if (header_len > len - 8) {
        rc = ILR_FAIL(ILR_EFORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)", name,
                      (unsigned long long)header_len, len);
        goto fail;
    }
    if (header_len > ILR_ST_MAX_HEADER) {
        rc = ILR_FAIL(ILR_EFORMAT, "%s: header length %llu is over the %u-byte limit", name,
                      (unsigned long long)header_len, ILR_ST_MAX_HEADER);
        goto fail;
    }
    if (header_len < 2 || buf[8] != '{') {
        rc = ILR_FAIL(ILR_EFORMAT, "%s: the header does not start with '{' (not a safetensors file?)", name);
        goto fail;
    }
    f->data = buf + 8 + header_len;
    f->data_size = len - 8 - (size_t)header_len;
    rc = parse_header(f, (const char *)buf + 8, (size_t)header_len);
    if (!rc) rc = check_tiling(f);
    if (!rc) return 0;
fail:
    ilr_st_close(f);
    return rc;
}

int ilr_st_open(ilr_st_file *f, const char *path) {
    ilr_mapped_file map;
    int rc = ilr_file_map(path, &map);
    if (rc) {
        memset(f, 0, sizeof *f);
        return rc;
    }
    rc = ilr_st_parse(f, map.data, map.size, path);
    if (rc) {
        ilr_file_unmap(&map);
        return rc;
    }
    f->map = map;
    return 0;
}

void ilr_st_close(ilr_st_file *f) {
    for (int i = 0; i < f->num_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->name);
    json_decref(f->metadata);
    ilr_file_unmap(&f->map);
    memset(f, 0, sizeof *f);
}

const ilr_st_tensor *ilr_st_find(const ilr_st_file *f, const char *name) {
    for (int i = 0; i < f->num_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

/* Elements are read with memcpy: offsets in the file need not be aligned. */
int ilr_st_read_f32(const ilr_st_file *f, const ilr_st_tensor *t, float *out) {
    return ilr_st_read_f32_range(f, t, 0, t->numel, out);
}

int ilr_st_read_f32_range(const ilr_st_file *f, const ilr_st_tensor *t, int64_t lo, int64_t hi, float *out) {
    assert(0 <= lo && lo <= hi && hi <= t->numel);
    int64_t n = hi - lo;
    const uint8_t *src = f->data + t->begin + (size_t)lo * (size_t)ilr_dtype_size(t->dtype);
    switch (t->dtype) {
    case ILR_DTYPE_F32:
        if (n) memcpy(out, src, (size_t)n * 4);
        return 0;
    case ILR_DTYPE_BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 20))
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = ilr_bf16_to_f32(h);
        }
        return 0;
    case ILR_DTYPE_F16:
#pragma omp parallel for schedule(static) if (n > (1 << 20))
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            out[i] = ilr_f16_to_f32(h);
        }
        return 0;
    default:
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: tensor '%s': dtype %s cannot be read as weights (F32, F16 or BF16)",
                        f->name, t->name, ilr_dtype_name(t->dtype));
    }
}
