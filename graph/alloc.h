/* alloc.h: the library's only entry to the heap, so that allocation failure can be
 * injected in tests (tg_alloc_fail_after). Same contracts as malloc/calloc/free. */
#ifndef TG_ALLOC_H
#define TG_ALLOC_H

#include <stddef.h>

void *tg_malloc(size_t n);
void *tg_calloc(size_t count, size_t size);
void *tg_aligned_alloc(size_t align, size_t n); /* freed with tg_free */
/* n bytes (zeroed if `zero`), 64-byte aligned; from 2 MiB on, aligned to 2 MiB and
 * marked for transparent huge pages (Linux madvise), so that the tape's arena and large
 * tensors cost a TLB entry per 2 MiB instead of per 4 KiB. Freed with tg_free. */
void *tg_alloc_big(size_t n, int zero);
void tg_free(void *p);

/* Test hook: after `n` more successful allocations every allocation fails, until
 * called again with n < 0 (the default: never fail). */
void tg_alloc_fail_after(long n);
/* Test hook: the number of successful allocations so far (to check that a test that
 * fails allocation k = 0, 1, 2, ... in turn reached every one). */
long tg_alloc_count(void);

#endif
