/* test.h: the few assertion macros the C tests use. A failed check prints
 * file:line and the values, counts, and the test continues; tg_test_end() prints the
 * summary and returns the process exit code. */
#ifndef TG_TEST_H
#define TG_TEST_H

#include <math.h>
#include <stdio.h>

static int tg_test_failed, tg_test_passed;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (cond) tg_test_passed++;                                                 \
        else {                                                                      \
            tg_test_failed++;                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                           \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double a_ = (a), b_ = (b);                                                   \
        if (fabs(a_ - b_) <= (tol)) tg_test_passed++;                                \
        else {                                                                       \
            tg_test_failed++;                                                        \
            fprintf(stderr, "%s:%d: %s = %.10g, expected %s = %.10g (tol %g)\n",     \
                    __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol));              \
        }                                                                            \
    } while (0)

#define CHECK_STR_CONTAINS(s, sub)                                                   \
    do {                                                                             \
        const char *s_ = (s);                                                        \
        if (s_ && strstr(s_, (sub))) tg_test_passed++;                               \
        else {                                                                       \
            tg_test_failed++;                                                        \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,     \
                    __LINE__, s_ ? s_ : "(null)", (sub));                            \
        }                                                                            \
    } while (0)

static inline int tg_test_end(void)
{
    printf("%d passed, %d failed\n", tg_test_passed, tg_test_failed);
    return tg_test_failed ? 1 : 0;
}

#endif
