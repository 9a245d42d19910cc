/* Open-addressing hash maps for the hot lookups of the tokenizer: byte strings to ints, and 64-bit keys
 * to 64-bit values.  Keys are copied into the map's own storage; maps grow by doubling.  Not thread-safe
 * for writers; any number of readers may share a map nobody writes. */
#ifndef ILR_HASHMAP_H
#define ILR_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

/* One slot: a probe reads one 24-byte entry (one cache line), not four arrays. */
typedef struct {
    uint64_t hash;   /* 0: empty slot */
    uint32_t offset; /* key start in keys */
    uint32_t length;
    int32_t value;
} ilr_strmap_entry;

typedef struct {
    ilr_strmap_entry *entries;
    size_t cap, count;  /* cap is a power of two */
    char *keys;         /* all keys, back to back */
    size_t keys_used, keys_cap;
} ilr_strmap;

int ilr_strmap_init(ilr_strmap *m, size_t expected);
void ilr_strmap_free(ilr_strmap *m);
/* Inserts or overwrites; returns ILR_ENOMEM on failure. */
int ilr_strmap_put(ilr_strmap *m, const char *key, size_t len, int32_t value);
/* The value of key, or -1 when absent (so store only non-negative values). */
int32_t ilr_strmap_get(const ilr_strmap *m, const char *key, size_t len);

typedef struct {
    uint64_t *keys;   /* UINT64_MAX: empty slot (so that key may not be stored) */
    uint64_t *values;
    size_t cap, count;
} ilr_u64map;

int ilr_u64map_init(ilr_u64map *m, size_t expected);
void ilr_u64map_free(ilr_u64map *m);
int ilr_u64map_put(ilr_u64map *m, uint64_t key, uint64_t value);
/* 1 and *value when present, else 0. */
int ilr_u64map_get(const ilr_u64map *m, uint64_t key, uint64_t *value);

uint64_t ilr_hash_bytes(const void *data, size_t len);

#endif
