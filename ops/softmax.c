/* softmax.c: softmax and log_softmax over the last axis, max-subtracted so that inputs
 * of 1e4 stay finite. Dimension letters: R rows (the product of the leading dims), C the
 * last axis. Backward reads the output y, so nothing is saved.
 *
 *   softmax:      y = exp(x - m) / sum_c exp(x - m)       dx += y * (g - sum_c g y)
 *   log_softmax:  y = (x - m) - log(sum_c exp(x - m))     dx += g - exp(y) * sum_c g
 */
#include <string.h>

#include "ops/op.h"
#include "ops/rowsum.h"
#include "ops/vmath.h"

static void dims(const tg_node *n, int64_t *R, int *C)
{
    const tg_tensor *x = n->in[0];
    *C = x->shape[x->ndim - 1];
    *R = x->numel / *C;
}

/* x (C) -> y (C); log: y = log_softmax(x), else softmax(x) */
static void forward_row(const real *x, real *y, int C, int log_out)
{
    real m = tg_row_max(x, C), s;
    if (log_out) {
        TG_ROW_SUM(s, C, c, TG_EXP(x[c] - m));
        real ls = log(s); /* (x - m) - ls, not x - (m + ls): exact for large x */
        _Pragma("omp simd") for (int c = 0; c < C; c++) y[c] = (x[c] - m) - ls;
    } else {
        TG_ROW_SUM(s, C, c, (y[c] = TG_EXP(x[c] - m)));
        real inv = 1 / s;
        _Pragma("omp simd") for (int c = 0; c < C; c++) y[c] *= inv;
    }
}

/* dx (C) += y * (g - sum_c g y)          (softmax)
 * dx (C) += g - exp(y) * sum_c g         (log_softmax) */
static void backward_row(const real *y, const real *g, real *dx, int C, int log_out)
{
    real s;
    if (log_out) {
        TG_ROW_SUM(s, C, c, g[c]);
        _Pragma("omp simd") for (int c = 0; c < C; c++) dx[c] += g[c] - TG_EXP(y[c]) * s;
    } else {
        TG_ROW_SUM(s, C, c, g[c] * y[c]);
        _Pragma("omp simd") for (int c = 0; c < C; c++) dx[c] += y[c] * (g[c] - s);
    }
}

/* x (R,C) -> y (R,C), rows across threads when large */
static void forward(tg_node *n, int log_out)
{
    int64_t R;
    int C;
    dims(n, &R, &C);
    const real *X = n->in[0]->data;
    real *Y = n->out->data;
    TG_PARALLEL_FOR(r, R, R * C, forward_row(X + r * C, Y + r * C, C, log_out));
}

static void backward(tg_node *n, int log_out)
{
    int64_t R;
    int C;
    dims(n, &R, &C);
    const real *Y = n->out->data, *G = n->out->grad;
    real *dX = n->in[0]->grad;
    TG_PARALLEL_FOR(r, R, R * C, backward_row(Y + r * C, G + r * C, dX + r * C, C, log_out));
}

void TG_K(softmax_forward)(tg_node *n) { forward(n, 0); }
void TG_K(softmax_backward)(tg_node *n) { backward(n, 0); }
void TG_K(log_softmax_forward)(tg_node *n) { forward(n, 1); }
void TG_K(log_softmax_backward)(tg_node *n) { backward(n, 1); }

#if TG_ONCE
/* y has x's shape; x needs a last axis */
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0];
    if (x->ndim < 1)
        return tg_check_fail(err, TG_ERR_SHAPE, n, "[]: a scalar has no last axis");
    out->ndim = x->ndim;
    memcpy(out->shape, x->shape, sizeof out->shape);
    return 0;
}

/* equal inputs of 1e4 are exact in f32 and overflow exp() without the max subtraction */
static const tg_op_test tests[] = {
    {"rows", 1, {{2, {3, 5}, -3, 3}}},
    {"1-d", 1, {{1, {7}, -3, 3}}},
    {"4-d [B,NH,T,T]", 1, {{4, {2, 2, 3, 4}, -3, 3}}},
    {"one column", 1, {{3, {2, 3, 1}, -3, 3}}},
    {"all inputs 1e4 (stability)", 1, {{2, {2, 5}, 1e4, 1e4}}},
};

#define DESC(nm, MATH)                                                                 \
    TG_KERNEL_DECL(nm##_forward);                                                      \
    TG_KERNEL_DECL(nm##_backward);                                                     \
    const tg_op_desc tg_op_##nm##_desc = {                                             \
        .name = #nm, .math = MATH, .n_in_min = 1, .n_in_max = 1,                       \
        .in_kind = {TG_ARG_REAL}, .check = check,                                        \
        .forward = TG_KERNELS(nm##_forward), .backward = TG_KERNELS(nm##_backward),     \
        .tests = tests, .n_tests = sizeof tests / sizeof *tests};
DESC(softmax, "y = exp(x - max) / sum(exp(x - max)) over the last axis")
DESC(log_softmax, "y = x - max - log(sum(exp(x - max))) over the last axis")

tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x)
{
    return tg_op_apply(t, TG_OP_SOFTMAX, 1, &x, NULL);
}
tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x)
{
    return tg_op_apply(t, TG_OP_LOG_SOFTMAX, 1, &x, NULL);
}
#endif
