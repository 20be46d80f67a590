/* reduce.c: sum and mean, over one axis (a.i[0], negative counts from the end) or over
 * every element (TG_AXIS_ALL -> a scalar). Dimension letters: x is viewed as (A,K,B),
 * A the product of the dims before the axis, K the reduced axis, B the product of the
 * dims after it (all elements: A = B = 1, K = numel).
 *
 *   sum:  y[a,b] = sum_k x[a,k,b]          dx[a,k,b] += g[a,b]
 *   mean: y[a,b] = sum_k x[a,k,b] / K      dx[a,k,b] += g[a,b] / K
 * Contiguous sums (B = 1) accumulate in double; the all-elements sum adds fixed chunks
 * in parallel and then the chunk sums in order, so it does not depend on the threads. */
#include "ops/op.h"

#define CHUNKS 64   /* the all-elements sum: fixed chunks, whatever the thread count */
#define COL_BLOCK 256 /* B > 1: columns per task, so that A = 1 still runs in parallel */

typedef struct rdims { int64_t A, K, B; } rdims;

static rdims get_dims(const tg_node *n)
{
    const tg_tensor *x = n->in[0];
    rdims d = {1, x->numel, 1};
    if (n->a.i[0] == TG_AXIS_ALL) return d;
    int ax = tg_axis(n->a.i[0], x->ndim);
    d.K = x->shape[ax];
    for (int i = 0; i < ax; i++) d.A *= x->shape[i];
    for (int i = ax + 1; i < x->ndim; i++) d.B *= x->shape[i];
    return d;
}

/* sum of x (K), in double */
static double sum_run(const real *x, int64_t K)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < K; k++) s += x[k];
    return s;
}

/* sum of x (N): CHUNKS partial sums across threads when large */
static double sum_all(const real *x, int64_t N)
{
    if (N <= TG_PAR_MIN) return sum_run(x, N);
    double part[CHUNKS];
#pragma omp parallel for
    for (int c = 0; c < CHUNKS; c++) {
        int64_t lo = N * c / CHUNKS, hi = N * (c + 1) / CHUNKS;
        part[c] = sum_run(x + lo, hi - lo);
    }
    double s = 0;
    for (int c = 0; c < CHUNKS; c++) s += part[c];
    return s;
}

/* y (B) = s * sum_k x (K,B), for the columns [b0, b1) */
static void sum_cols(const real *x, real *y, int64_t K, int64_t B, int64_t b0, int64_t b1, real s)
{
    for (int64_t b = b0; b < b1; b++) y[b] = 0;
    for (int64_t k = 0; k < K; k++) {
        const real *xk = x + k * B;
#pragma omp simd
        for (int64_t b = b0; b < b1; b++) y[b] += xk[b];
    }
    for (int64_t b = b0; b < b1; b++) y[b] *= s;
}

/* x (A,K,B) -> y (A,B) = s * sum_k x */
static void forward(tg_node *n, int mean)
{
    rdims d = get_dims(n);
    const real *X = n->in[0]->data;
    real *Y = n->out->data;
    int64_t A = d.A, K = d.K, B = d.B, N = A * K * B;
    double s = mean ? 1.0 / (double)K : 1.0;
    if (A == 1 && B == 1) {
        Y[0] = (real)(sum_all(X, K) * s);
    } else if (B == 1) {
        TG_PARALLEL_FOR(a, A, N, Y[a] = (real)(sum_run(X + a * K, K) * s));
    } else {
        /* tasks: (a, column block); each owns its y columns */
        int64_t nb = (B + COL_BLOCK - 1) / COL_BLOCK;
        if (N > TG_PAR_MIN) {
#pragma omp parallel for
            for (int64_t t = 0; t < A * nb; t++) {
                int64_t a = t / nb, b0 = t % nb * COL_BLOCK;
                int64_t b1 = b0 + COL_BLOCK < B ? b0 + COL_BLOCK : B;
                sum_cols(X + a * K * B, Y + a * B, K, B, b0, b1, (real)s);
            }
        } else {
            for (int64_t a = 0; a < A; a++) sum_cols(X + a * K * B, Y + a * B, K, B, 0, B, (real)s);
        }
    }
}

/* dx[a,k,b] += s * g[a,b]   (s = 1 for sum, 1/K for mean) */
static void backward(tg_node *n, int mean)
{
    rdims d = get_dims(n);
    const real *G = n->out->grad;
    real *dX = n->in[0]->grad;
    int64_t A = d.A, K = d.K, B = d.B, N = A * K * B;
    real s = (real)(mean ? 1.0 / (double)K : 1.0);
    if (A == 1 && B == 1) {
        real gs = G[0] * s;
        TG_FOR(i, N, dX[i] += gs);
    } else if (B == 1) {
        /* rows (a): dx[a,:] += s g[a] */
        TG_PARALLEL_FOR(a, A, N, for (int64_t k = 0; k < K; k++) dX[a * K + k] += s * G[a]);
    } else {
        /* rows (a,k) of B: dx[a,k,:] += s g[a,:] */
        TG_PARALLEL_FOR(r, A * K, N, {
            const real *g = G + r / K * B;
            real *dx = dX + r * B;
            _Pragma("omp simd") for (int64_t b = 0; b < B; b++) dx[b] += s * g[b];
        });
    }
}

void TG_K(sum_forward)(tg_node *n) { forward(n, 0); }
void TG_K(sum_backward)(tg_node *n) { backward(n, 0); }
void TG_K(mean_forward)(tg_node *n) { forward(n, 1); }
void TG_K(mean_backward)(tg_node *n) { backward(n, 1); }

#if TG_ONCE
/* x [d0..dn) -> y without dim `axis`, or a scalar (ndim 0) for TG_AXIS_ALL */
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0];
    int axis = n->a.i[0];
    if (axis == TG_AXIS_ALL) {
        out->ndim = 0;
        return 0;
    }
    int ax = tg_axis(axis, x->ndim);
    if (ax < 0) {
        char sx[64];
        return tg_check_fail(err, TG_ERR_INVALID, n,
                             "%s: axis %d is out of range (an axis in [%d,%d) or all elements)",
                             tg_shape_str(x, sx, sizeof sx), axis, -x->ndim, x->ndim);
    }
    out->ndim = x->ndim - 1;
    for (int i = 0, j = 0; i < x->ndim; i++)
        if (i != ax) out->shape[j++] = x->shape[i];
    return 0;
}

static const tg_op_test tests[] = {
    {"all elements, 3-d", 1, {{3, {2, 3, 4}, -2, 2}}, {.i = {TG_AXIS_ALL}}},
    {"1-d over axis 0 -> scalar", 1, {{1, {5}, -2, 2}}, {.i = {0}}},
    {"matrix, axis 0", 1, {{2, {3, 4}, -2, 2}}, {.i = {0}}},
    {"matrix, axis -1", 1, {{2, {3, 4}, -2, 2}}, {.i = {-1}}},
    {"3-d, middle axis", 1, {{3, {2, 3, 4}, -2, 2}}, {.i = {1}}},
    {"4-d, axis -3", 1, {{4, {2, 3, 2, 2}, -2, 2}}, {.i = {-3}}},
    {"4-d, last axis", 1, {{4, {2, 1, 3, 4}, -2, 2}}, {.i = {3}}},
};

#define DESC(nm, MATH)                                                                 \
    TG_KERNEL_DECL(nm##_forward);                                                      \
    TG_KERNEL_DECL(nm##_backward);                                                     \
    const tg_op_desc tg_op_##nm##_desc = {                                             \
        .name = #nm, .math = MATH, .n_in_min = 1, .n_in_max = 1,                       \
        .in_kind = {TG_ARG_REAL}, .check = check,                                        \
        .forward = TG_KERNELS(nm##_forward), .backward = TG_KERNELS(nm##_backward),     \
        .tests = tests, .n_tests = sizeof tests / sizeof *tests};
DESC(sum, "y = sum of x over an axis or all elements")
DESC(mean, "y = mean of x over an axis or all elements")

tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, int axis)
{
    tg_attrs a = {.i = {axis}};
    return tg_op_apply(t, TG_OP_SUM, 1, &x, &a);
}
tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, int axis)
{
    tg_attrs a = {.i = {axis}};
    return tg_op_apply(t, TG_OP_MEAN, 1, &x, &a);
}
#endif
