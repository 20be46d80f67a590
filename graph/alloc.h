/* alloc.h: the library's only entry to the heap, so that allocation failure can be
 * injected in tests (tg_alloc_fail_after). Same contracts as malloc/calloc/free. */
#ifndef TG_ALLOC_H
#define TG_ALLOC_H

#include <stddef.h>

void *tg_malloc(size_t n);
void *tg_calloc(size_t count, size_t size);
void *tg_aligned_alloc(size_t align, size_t n); /* freed with tg_free */
void tg_free(void *p);

/* Test hook: after `n` more successful allocations every allocation fails, until
 * called again with n < 0 (the default: never fail). */
void tg_alloc_fail_after(long n);
/* Test hook: the number of successful allocations so far (to check that a test that
 * fails allocation k = 0, 1, 2, ... in turn reached every one). */
long tg_alloc_count(void);

#endif
