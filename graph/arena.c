/* arena.c: chunked bump allocation (see arena.h). */
#include "graph/arena.h"

#include <stdint.h>
#include <string.h>

#include "graph/alloc.h"

#define CHUNK_MIN ((size_t)1 << 20) /* 1 MiB */
#define HEADER 64                   /* chunk header rounded to a cache line */

/* Under AddressSanitizer the free part of every chunk is poisoned and each allocation
 * is followed by a poisoned redzone, so a kernel that writes past its buffer into arena
 * memory is reported as it would be past a malloc'ed block. */
#if defined(__SANITIZE_ADDRESS__)
#define TG_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_ARENA_ASAN 1
#endif
#endif
#ifdef TG_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define REDZONE 64
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define REDZONE 0
#endif

struct tg_arena_chunk {
    tg_arena_chunk *next;
    size_t size; /* usable bytes after the header */
    size_t used;
};

static unsigned char *chunk_base(tg_arena_chunk *c) { return (unsigned char *)c + HEADER; }

void tg_arena_init(tg_arena *a) { memset(a, 0, sizeof *a); }

/* Offset in c at which `bytes` aligned to `align` fit, or SIZE_MAX. */
static size_t fit(tg_arena_chunk *c, size_t bytes, size_t align)
{
    uintptr_t base = (uintptr_t)chunk_base(c);
    uintptr_t p = (base + c->used + (align - 1)) & ~(uintptr_t)(align - 1);
    size_t off = (size_t)(p - base);
    if (off > c->size || c->size - off < bytes + REDZONE) return SIZE_MAX;
    return off;
}

void *tg_arena_alloc(tg_arena *a, size_t bytes, size_t align)
{
    if (align < 16) align = 16;
    for (;;) {
        if (a->cur) {
            size_t off = fit(a->cur, bytes, align);
            if (off != SIZE_MAX) {
                a->in_use += off + bytes + REDZONE - a->cur->used;
                if (a->in_use > a->peak) a->peak = a->in_use;
                a->cur->used = off + bytes + REDZONE;
                ASAN_UNPOISON_MEMORY_REGION(chunk_base(a->cur) + off, bytes);
                return chunk_base(a->cur) + off;
            }
            if (a->cur->next) { /* a chunk kept from an earlier step */
                a->cur = a->cur->next;
                a->cur->used = 0;
                ASAN_POISON_MEMORY_REGION(chunk_base(a->cur), a->cur->size);
                continue;
            }
        }
        size_t size = a->cur ? a->cur->size * 2 : CHUNK_MIN;
        if (size < bytes + align + REDZONE) size = bytes + align + REDZONE;
        tg_arena_chunk *c = tg_alloc_big(HEADER + size, 0);
        if (!c) return NULL;
        c->next = NULL;
        c->size = size;
        c->used = 0;
        ASAN_POISON_MEMORY_REGION(chunk_base(c), size);
        a->reserved += size;
        if (a->cur) a->cur->next = c; else a->head = c;
        a->cur = c;
    }
}

void *tg_arena_calloc(tg_arena *a, size_t bytes, size_t align)
{
    void *p = tg_arena_alloc(a, bytes, align);
    if (p) memset(p, 0, bytes);
    return p;
}

void tg_arena_reset(tg_arena *a)
{
    a->cur = a->head;
    if (a->cur) {
        a->cur->used = 0;
        ASAN_POISON_MEMORY_REGION(chunk_base(a->cur), a->cur->size);
    }
    a->in_use = 0;
}

void tg_arena_free(tg_arena *a)
{
    tg_arena_chunk *c = a->head;
    while (c) {
        tg_arena_chunk *n = c->next;
        ASAN_UNPOISON_MEMORY_REGION(chunk_base(c), c->size);
        tg_free(c);
        c = n;
    }
    tg_arena_init(a);
}
