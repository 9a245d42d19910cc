/* Arena allocation: one block reserved up front, handed out in 64-byte aligned pieces, freed at once.
 * Activations live in an arena sized once per shape, so hot loops never call malloc. */
#ifndef ILR_ARENA_H
#define ILR_ARENA_H

#include <stddef.h>

#define ILR_ALIGN 64

typedef struct {
    unsigned char *base;
    size_t capacity;
    size_t used;
    size_t peak;
} ilr_arena;

/* Reserves capacity bytes; returns ILR_ENOMEM (with the size in the message) when that fails. */
int ilr_arena_init(ilr_arena *arena, size_t capacity);
/* A 64-byte aligned piece of bytes bytes, or NULL with ILR_ENOMEM recorded when the arena is full. */
void *ilr_arena_alloc(ilr_arena *arena, size_t bytes);
/* Like ilr_arena_alloc, and zeroes the piece. */
void *ilr_arena_calloc(ilr_arena *arena, size_t bytes);
/* Two-pass layout of buffers in one arena: with arena NULL, only adds the padded size of bytes to *total
 * (the sizing pass) and returns NULL; otherwise allocates the piece.  Run the same layout code twice:
 * once to size ilr_arena_init, once to place the pointers. */
void *ilr_arena_take(ilr_arena *arena, size_t *total, size_t bytes);
/* Gives everything back (keeps the block). */
void ilr_arena_reset(ilr_arena *arena);
void ilr_arena_free(ilr_arena *arena);

/* 64-byte aligned malloc/free for the big contiguous buffers (parameters, gradients, optimizer state).
 * Returns NULL with ILR_ENOMEM recorded (naming what and how many bytes) on failure. */
void *ilr_aligned_alloc(size_t bytes, const char *what);
void ilr_aligned_free(void *p);

#endif
