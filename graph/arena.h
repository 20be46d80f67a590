/* arena.h: a bump allocator for everything one training step creates (nodes, step
 * tensors, activations, their gradients). Memory is released all at once by
 * tg_arena_reset, which keeps the chunks, so a steady training loop stops calling
 * malloc after its first step. Not thread-safe: one arena per tape. */
#ifndef TG_ARENA_H
#define TG_ARENA_H

#include <stddef.h>

typedef struct tg_arena_chunk tg_arena_chunk;

typedef struct tg_arena {
    tg_arena_chunk *head; /* first chunk; chunks are reused in order after a reset */
    tg_arena_chunk *cur;  /* chunk allocations currently come from */
    size_t in_use;        /* bytes handed out since the last reset */
    size_t peak;          /* largest in_use ever seen */
    size_t reserved;      /* bytes held from the heap, in all chunks */
} tg_arena;

/* An empty arena; allocates nothing until the first tg_arena_alloc. */
void tg_arena_init(tg_arena *a);
/* Returns `bytes` of uninitialised memory aligned to `align` (a power of two <= 4096),
 * or NULL when the heap is exhausted. Valid until the next reset or free. */
void *tg_arena_alloc(tg_arena *a, size_t bytes, size_t align);
/* As tg_arena_alloc, zero-filled. */
void *tg_arena_calloc(tg_arena *a, size_t bytes, size_t align);
/* Releases every allocation at once; keeps the chunks for reuse. */
void tg_arena_reset(tg_arena *a);
/* Returns the chunks to the heap. The arena may be used again afterwards. */
void tg_arena_free(tg_arena *a);

#endif
