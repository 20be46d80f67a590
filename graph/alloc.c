/* alloc.c: heap wrappers with an injectable failure point (see alloc.h). */
#define _DEFAULT_SOURCE /* madvise */
#include "graph/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

#define HUGE_PAGE ((size_t)2 << 20)

void *tg_alloc_big(size_t n, int zero)
{
    int huge = n >= HUGE_PAGE;
    void *p = tg_aligned_alloc(huge ? HUGE_PAGE : 64, n);
    if (!p) return NULL;
#ifdef MADV_HUGEPAGE
    if (huge) madvise(p, n / HUGE_PAGE * HUGE_PAGE, MADV_HUGEPAGE); /* advice: failure is harmless */
#endif
    if (zero) memset(p, 0, n);
    return p;
}

void tg_free(void *p) { free(p); }
