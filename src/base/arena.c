/* One aligned block handed out in 64-byte pieces (see include/ilr/arena.h). */
#include "ilr/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

#include "ilr/error.h"
#include "ilr/timer.h"

/* bytes rounded up to a multiple of ILR_ALIGN (at least one), or 0 when that overflows. */
static size_t round_up(size_t bytes) {
    if (bytes == 0) return ILR_ALIGN;
    if (bytes > SIZE_MAX - (ILR_ALIGN - 1)) return 0;
    return (bytes + ILR_ALIGN - 1) & ~(size_t)(ILR_ALIGN - 1);
}

int ilr_arena_init(ilr_arena *arena, size_t capacity) {
    memset(arena, 0, sizeof *arena);
    if (capacity == 0) return 0;
    size_t rounded = round_up(capacity);
    unsigned char *base = rounded ? aligned_alloc(ILR_ALIGN, rounded) : NULL;
    if (!base) {
        char human[32];
        ilr_format_bytes((double)capacity, human, sizeof human);
        return ILR_FAIL(ILR_ENOMEM, "arena: cannot reserve %s (%zu bytes)", human, capacity);
    }
    arena->base = base;
    arena->capacity = rounded;
    return 0;
}

void *ilr_arena_alloc(ilr_arena *arena, size_t bytes) {
    size_t need = round_up(bytes);
    size_t free_bytes = arena->capacity - arena->used;
    if (need == 0 || need > free_bytes) {
        ILR_FAIL(ILR_ENOMEM, "arena: need %zu more bytes, have %zu of %zu free", bytes, free_bytes,
                 arena->capacity);
        return NULL;
    }
    void *p = arena->base + arena->used;
    arena->used += need;
    if (arena->used > arena->peak) arena->peak = arena->used;
    return p;
}

void *ilr_arena_calloc(ilr_arena *arena, size_t bytes) {
    void *p = ilr_arena_alloc(arena, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void *ilr_arena_take(ilr_arena *arena, size_t *total, size_t bytes) {
    *total += (bytes + ILR_ALIGN - 1) / ILR_ALIGN * ILR_ALIGN;
    return arena ? ilr_arena_alloc(arena, bytes) : NULL;
}

void ilr_arena_reset(ilr_arena *arena) { arena->used = 0; }

void ilr_arena_free(ilr_arena *arena) {
    free(arena->base);
    memset(arena, 0, sizeof *arena);
}

/* Buffers of 2 MiB and more are 2 MiB aligned and advised to use transparent huge pages: first touch of
 * a fresh 200 MB parameter buffer otherwise costs ~50k page faults (measured: 0.5 s of a 0.7 s model
 * load in a VM); with huge pages, a few hundred. */
#define HUGE_PAGE (2u << 20)

void *ilr_aligned_alloc(size_t bytes, const char *what) {
    size_t rounded = round_up(bytes);
    int huge = rounded >= HUGE_PAGE;
    if (huge) rounded = (rounded + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = rounded ? aligned_alloc(huge ? HUGE_PAGE : ILR_ALIGN, rounded) : NULL;
    if (p && huge) madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure changes nothing */
    if (!p) {
        char human[32];
        ilr_format_bytes((double)bytes, human, sizeof human);
        ILR_FAIL(ILR_ENOMEM, "%s: cannot allocate %s (%zu bytes)", what ? what : "buffer", human, bytes);
    }
    return p;
}

void ilr_aligned_free(void *p) { free(p); }
