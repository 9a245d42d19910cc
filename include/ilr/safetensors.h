/* safetensors files (https://github.com/huggingface/safetensors): parse and validate, read tensors as
 * fp32, write F32 or BF16.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header {name: {dtype, shape,
 * data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data section; offsets are relative
 * to the start of the data section.  ilr_st_parse validates everything a reader relies on: the header
 * length against the file, the JSON, every dtype, shape and offset pair, byte sizes against shapes, and
 * that the tensors tile the data section exactly (no overlap, no gap, nothing past the end). */
#ifndef ILR_SAFETENSORS_H
#define ILR_SAFETENSORS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ilr/bf16.h"
#include "ilr/io.h"

#define ILR_ST_MAX_DIMS 8
#define ILR_ST_MAX_HEADER (100u << 20) /* the reference implementation's limit */

typedef enum {
    ILR_DTYPE_BOOL, ILR_DTYPE_U8, ILR_DTYPE_I8, ILR_DTYPE_F8_E4M3, ILR_DTYPE_F8_E5M2,
    ILR_DTYPE_I16, ILR_DTYPE_U16, ILR_DTYPE_F16, ILR_DTYPE_BF16,
    ILR_DTYPE_I32, ILR_DTYPE_U32, ILR_DTYPE_F32,
    ILR_DTYPE_I64, ILR_DTYPE_U64, ILR_DTYPE_F64,
    ILR_DTYPE_COUNT
} ilr_dtype;

const char *ilr_dtype_name(ilr_dtype dtype);   /* "BF16" */
int ilr_dtype_size(ilr_dtype dtype);           /* bytes per element */
/* Parses a safetensors dtype name; returns -1 for an unknown one. */
int ilr_dtype_parse(const char *name);
/* The dtype ilr reads as weights: F32, F16, BF16. */
int ilr_dtype_is_float_weight(ilr_dtype dtype);

typedef struct {
    char *name;
    ilr_dtype dtype;
    int ndim;
    int64_t shape[ILR_ST_MAX_DIMS];
    int64_t numel;
    size_t begin, end; /* byte range within the data section */
} ilr_st_tensor;

typedef struct {
    char *name;            /* what messages call the file (its path) */
    const uint8_t *data;   /* the data section */
    size_t data_size;
    int num_tensors;
    ilr_st_tensor *tensors; /* in header order */
    json_t *metadata;       /* the __metadata__ object, or NULL */
    ilr_mapped_file map;    /* set by ilr_st_open */
} ilr_st_file;

/* Parses and validates buf[len] (not copied: it must outlive f).  name is used in messages. */
int ilr_st_parse(ilr_st_file *f, const uint8_t *buf, size_t len, const char *name);
/* Maps path and parses it. */
int ilr_st_open(ilr_st_file *f, const char *path);
void ilr_st_close(ilr_st_file *f);
const ilr_st_tensor *ilr_st_find(const ilr_st_file *f, const char *name);
/* Converts a F32/F16/BF16 tensor to fp32 into out[t->numel]; other dtypes are ILR_EUNSUPPORTED. */
int ilr_st_read_f32(const ilr_st_file *f, const ilr_st_tensor *t, float *out);
/* The same for the flat elements [lo, hi) of t only, into out[hi - lo] (lo <= hi <= t->numel, asserted). */
int ilr_st_read_f32_range(const ilr_st_file *f, const ilr_st_tensor *t, int64_t lo, int64_t hi, float *out);

/* One tensor to write: fp32 values, converted to the file's dtype on the way out. */
typedef struct {
    const char *name;
    const float *data;
    int ndim;
    int64_t shape[ILR_ST_MAX_DIMS];
} ilr_st_entry;

/* Bytes the data section of a file with these entries takes in dtype. */
size_t ilr_st_data_bytes(const ilr_st_entry *entries, int n, ilr_dtype dtype);
/* Writes entries to path atomically as dtype (F32 or BF16, round-to-nearest-even), with __metadata__
 * {"format": "pt"} plus the given key/value pairs (metadata: NULL or pairs ending with NULL). */
int ilr_st_write(const char *path, const ilr_st_entry *entries, int n, ilr_dtype dtype,
                 const char *const *metadata);
/* The same with each entry's values produced just before it is written: fetch(ctx, i, &values) gives entry i's
 * (its data is not read), valid until the next call, so that one buffer can carry every entry in turn. */
int ilr_st_write_fetched(const char *path, const ilr_st_entry *entries, int n, ilr_dtype dtype,
                         const char *const *metadata, int (*fetch)(void *ctx, int i, const float **values), void *ctx);

/* Number conversions. */
/* (bf16 <-> fp32: ilr/bf16.h) */
float ilr_f16_to_f32(uint16_t h);  /* IEEE half, subnormals, inf and NaN included */

#endif
