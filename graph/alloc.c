/* alloc.c: heap wrappers with an injectable failure point (see alloc.h). */
#include "graph/alloc.h"

#include <stdlib.h>

static long fail_after = -1, n_ok;

void tg_alloc_fail_after(long n) { fail_after = n; }
long tg_alloc_count(void) { return n_ok; }

static int should_fail(void)
{
    if (fail_after < 0) return n_ok++, 0;
    if (fail_after == 0) return 1;
    fail_after--;
    n_ok++;
    return 0;
}

void *tg_malloc(size_t n) { return should_fail() ? NULL : malloc(n ? n : 1); }

void *tg_calloc(size_t count, size_t size)
{
    return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *tg_aligned_alloc(size_t align, size_t n)
{
    if (should_fail()) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, n ? n : align) != 0) return NULL;
    return p;
}

void tg_free(void *p) { free(p); }
