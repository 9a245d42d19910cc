/* Writing safetensors files from fp32 values, as F32 or BF16 (see ilr/safetensors.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/io.h"
#include "ilr/progress.h"
#include "ilr/safetensors.h"

#define PROGRESS_MIN_BYTES (64u << 20) /* files smaller than this are written without a progress line */

static size_t entry_numel(const ilr_st_entry *e) {
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n;
}

size_t ilr_st_data_bytes(const ilr_st_entry *entries, int n, ilr_dtype dtype) {
    size_t bytes = 0;
    for (int i = 0; i < n; i++) bytes += entry_numel(&entries[i]) * (size_t)ilr_dtype_size(dtype);
    return bytes;
}

/* The header JSON, padded with spaces so the data section starts 8-byte aligned (as the reference
 * writer does). */
static char *build_header(const ilr_st_entry *entries, int n, ilr_dtype dtype, const char *const *metadata,
                          size_t *header_len) {
    json_t *root = json_object(), *meta = json_object();
    json_object_set_new(meta, "format", json_string("pt"));
    for (int i = 0; metadata && metadata[i] && metadata[i + 1]; i += 2)
        json_object_set_new(meta, metadata[i], json_string(metadata[i + 1]));
    json_object_set_new(root, "__metadata__", meta);
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        json_t *info = json_object(), *shape = json_array(), *offsets = json_array();
        for (int d = 0; d < entries[i].ndim; d++) json_array_append_new(shape, json_integer(entries[i].shape[d]));
        size_t bytes = entry_numel(&entries[i]) * (size_t)ilr_dtype_size(dtype);
        json_array_append_new(offsets, json_integer((json_int_t)offset));
        json_array_append_new(offsets, json_integer((json_int_t)(offset + bytes)));
        offset += bytes;
        json_object_set_new(info, "dtype", json_string(ilr_dtype_name(dtype)));
        json_object_set_new(info, "shape", shape);
        json_object_set_new(info, "data_offsets", offsets);
        json_object_set_new(root, entries[i].name, info);
    }
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) return NULL;
    size_t len = strlen(text), padded = (len + 8 + 7) / 8 * 8 - 8;
    char *out = realloc(text, padded + 1);
    if (!out) {
        free(text);
        return NULL;
    }
    memset(out + len, ' ', padded - len);
    out[padded] = 0;
    *header_len = padded;
    return out;
}

static int write_entry(ilr_atomic_file *f, const ilr_st_entry *e, const float *data, ilr_dtype dtype, uint16_t *chunk,
                       size_t cap) {
    size_t n = entry_numel(e);
    if (dtype == ILR_DTYPE_F32) return ilr_atomic_write(f, data, n * 4);
    for (size_t start = 0; start < n; start += cap) {
        size_t len = n - start < cap ? n - start : cap;
        for (size_t i = 0; i < len; i++) chunk[i] = ilr_f32_to_bf16(data[start + i]);
        int rc = ilr_atomic_write(f, chunk, len * 2);
        if (rc) return rc;
    }
    return 0;
}

int ilr_st_write(const char *path, const ilr_st_entry *entries, int n, ilr_dtype dtype,
                 const char *const *metadata) {
    return ilr_st_write_fetched(path, entries, n, dtype, metadata, NULL, NULL);
}

int ilr_st_write_fetched(const char *path, const ilr_st_entry *entries, int n, ilr_dtype dtype,
                         const char *const *metadata, int (*fetch)(void *ctx, int i, const float **values), void *ctx) {
    if (dtype != ILR_DTYPE_F32 && dtype != ILR_DTYPE_BF16)
        return ILR_FAIL(ILR_EUNSUPPORTED, "%s: ilr writes F32 or BF16, not %s", path, ilr_dtype_name(dtype));
    size_t header_len = 0;
    char *header = build_header(entries, n, dtype, metadata, &header_len);
    enum { CHUNK = 1 << 16 };
    uint16_t *chunk = malloc(CHUNK * sizeof(uint16_t));
    if (!header || !chunk) {
        free(header);
        free(chunk);
        return ILR_FAIL(ILR_ENOMEM, "%s: out of memory building the header", path);
    }
    ilr_atomic_file f;
    int rc = ilr_atomic_open(&f, path);
    uint8_t len_bytes[8];
    for (int i = 0; i < 8; i++) len_bytes[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    if (!rc) rc = ilr_atomic_write(&f, len_bytes, 8);
    if (!rc) rc = ilr_atomic_write(&f, header, header_len);
    size_t total = ilr_st_data_bytes(entries, n, dtype), written = 0;
    ilr_progress progress;
    if (total >= PROGRESS_MIN_BYTES) {
        const char *base = strrchr(path, '/');
        char label[64];
        snprintf(label, sizeof label, "writing %s", base ? base + 1 : path);
        ilr_progress_begin(&progress, label, (int64_t)(total >> 20), "MiB");
    }
    for (int i = 0; i < n && !rc; i++) {
        const float *data = entries[i].data;
        if (fetch) rc = fetch(ctx, i, &data);
        if (!rc) rc = write_entry(&f, &entries[i], data, dtype, chunk, CHUNK);
        written += ilr_st_data_bytes(&entries[i], 1, dtype);
        if (total >= PROGRESS_MIN_BYTES) ilr_progress_update(&progress, (int64_t)(written >> 20));
    }
    if (!rc) rc = ilr_atomic_commit(&f);
    if (!rc && total >= PROGRESS_MIN_BYTES) ilr_progress_end(&progress);
    else ilr_atomic_abort(&f);
    free(header);
    free(chunk);
    return rc;
}
