/* layernorm.c: layer normalisation over the last axis, fused. R rows (the leading dims
 * folded), C channels; mean and rstd are saved per row for backward (llm.c's).
 *   xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps), var biased;  y = xhat gamma + beta
 *   dx += rstd (dnorm - mean_c(dnorm) - xhat mean_c(dnorm xhat)),  dnorm = dy gamma
 *   dgamma += sum_rows dy xhat,  dbeta += sum_rows dy */
#include <string.h>

#include "ops/op.h"
#include "ops/rowsum.h"

/* The loops carry `omp simd`; the row sums go in lanes (ops/rowsum.h): without either,
 * strict IEEE order keeps a sum over c scalar. */

/* Column block of the dgamma/dbeta reduction: each thread owns whole columns. */
#define COL_BLOCK 64

typedef struct ln_dims { int64_t R; int C; } ln_dims;

static ln_dims get_dims(const tg_node *n)
{
    const tg_tensor *x = n->in[0];
    ln_dims d = {0, x->shape[x->ndim - 1]};
    d.R = x->numel / d.C;
    return d;
}

/* x (C), gamma (C), beta (C) -> y (C), mean, rstd */
static void forward_row(const real *x, const real *gamma, const real *beta, real *y, real *mean,
                        real *rstd, int C, real eps)
{
    real m, v;
    TG_ROW_SUM(m, C, c, x[c]);
    m /= C;
    TG_ROW_SUM(v, C, c, (x[c] - m) * (x[c] - m));
    v /= C;
    real s = 1 / sqrt(v + eps);
    _Pragma("omp simd") for (int c = 0; c < C; c++) y[c] = (x[c] - m) * s * gamma[c] + beta[c];
    *mean = m;
    *rstd = s;
}

/* x (R,C), gamma (C), beta (C) -> y (R,C); saved: mean (R), rstd (R) */
void TG_K(layernorm_forward)(tg_node *n)
{
    ln_dims d = get_dims(n);
    const real *X = n->in[0]->data, *gamma = n->in[1]->data, *beta = n->in[2]->data;
    real *Y = n->out->data, *mean = n->saved, *rstd = mean + d.R;
    real eps = (real)n->a.f;
    int C = d.C;
    TG_PARALLEL_FOR(r, d.R, d.R * C,
                    forward_row(X + r * C, gamma, beta, Y + r * C, mean + r, rstd + r, C, eps));
}

/* dx (C) += rstd * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat)), dnorm = dy * gamma */
static void backward_dx_row(const real *x, const real *gamma, const real *g, real m, real s,
                            real *dx, int C, int fresh)
{
    real dnorm_mean, dnorm_xhat_mean;
    TG_ROW_SUM(dnorm_mean, C, c, g[c] * gamma[c]);
    TG_ROW_SUM(dnorm_xhat_mean, C, c, g[c] * gamma[c] * (x[c] - m) * s);
    dnorm_mean /= C;
    dnorm_xhat_mean /= C;
    /* g is read before dx is written, element by element: dx may be g (tg_node.pass) */
#define DX_LOOP(OP)                                                                        \
    _Pragma("omp simd") for (int c = 0; c < C; c++)                                        \
        dx[c] OP s * (g[c] * gamma[c] - dnorm_mean - (x[c] - m) * s * dnorm_xhat_mean)
    if (fresh) DX_LOOP(=);
    else DX_LOOP(+=);
#undef DX_LOOP
}

/* dgamma[c] += dy[c] * xhat[c], dbeta[c] += dy[c] of one row, for c in [c0, c1) */
static void params_row(const real *x, const real *g, real m, real s, real *dgamma, real *dbeta,
                       int c0, int c1)
{
    if (dgamma) _Pragma("omp simd") for (int c = c0; c < c1; c++) dgamma[c] += g[c] * (x[c] - m) * s;
    if (dbeta) _Pragma("omp simd") for (int c = c0; c < c1; c++) dbeta[c] += g[c];
}

/* the same summed over all rows, for c in [c0, c1) */
static void backward_params_cols(const real *X, const real *G, const real *mean,
                                 const real *rstd, real *dgamma, real *dbeta, ln_dims d, int c0,
                                 int c1)
{
    for (int64_t r = 0; r < d.R; r++)
        params_row(X + r * d.C, G + r * d.C, mean[r], rstd[r], dgamma, dbeta, c0, c1);
}

/* One pass on one thread: each row's sums, dgamma and dbeta, then its dx (in place
 * over g when handed g's buffer: the row's g is read before its dx is written) */
static void backward_one_pass(const real *X, const real *gamma, const real *G, const real *mean,
                              const real *rstd, real *dX, real *dgamma, real *dbeta, ln_dims d,
                              int fresh)
{
    int C = d.C;
    for (int64_t r = 0; r < d.R; r++) {
        const real *x = X + r * C, *g = G + r * C;
        params_row(x, g, mean[r], rstd[r], dgamma, dbeta, 0, C);
        if (dX) backward_dx_row(x, gamma, g, mean[r], rstd[r], dX + r * C, C, fresh);
    }
}

static real *grad_of(tg_tensor *x) { return x->requires_grad ? x->grad : NULL; }

void TG_K(layernorm_backward)(tg_node *n)
{
    ln_dims d = get_dims(n);
    const real *X = n->in[0]->data, *gamma = n->in[1]->data, *G = n->out->grad;
    const real *mean = n->saved, *rstd = mean + d.R;
    real *dX = grad_of(n->in[0]), *dgamma = grad_of(n->in[1]), *dbeta = grad_of(n->in[2]);
    int C = d.C;
    int par = d.R * C > TG_PAR_MIN;
    if (TG_FRESH(n, 1)) memset(dgamma, 0, sizeof(real) * (size_t)C);
    if (TG_FRESH(n, 2)) memset(dbeta, 0, sizeof(real) * (size_t)C);
    if (!par || omp_in_parallel() || omp_get_max_threads() == 1) { /* (a shard's thread) */
        backward_one_pass(X, gamma, G, mean, rstd, dX, dgamma, dbeta, d, TG_FRESH(n, 0));
        return;
    }
    /* across threads, two passes: dgamma, dbeta first: dx may be written over g (tg_node.pass). They sum over rows:
     * split by columns so no two threads write one */
    int n_blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
    if ((dgamma || dbeta) && par && n_blocks > 1) {
#pragma omp parallel for
        for (int b = 0; b < n_blocks; b++) {
            int c1 = (b + 1) * COL_BLOCK < C ? (b + 1) * COL_BLOCK : C;
            backward_params_cols(X, G, mean, rstd, dgamma, dbeta, d, b * COL_BLOCK, c1);
        }
    } else if (dgamma || dbeta) {
        backward_params_cols(X, G, mean, rstd, dgamma, dbeta, d, 0, C);
    }
    if (dX) /* rows are independent */
        TG_PARALLEL_FOR(r, d.R, d.R * C,
                        backward_dx_row(X + r * C, gamma, G + r * C, mean[r], rstd[r],
                                        dX + r * C, C, TG_FRESH(n, 0)));
}

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    char sx[64], sg[64], sb[64];
    int C = x->ndim >= 1 ? x->shape[x->ndim - 1] : 0;
    if (C < 1 || gamma->ndim != 1 || beta->ndim != 1 || gamma->shape[0] != C ||
        beta->shape[0] != C)
        return tg_check_fail(err, TG_ERR_SHAPE, n,
                             "x %s, gamma %s, beta %s: needs x [...,C] with gamma and beta [C]",
                             tg_shape_str(x, sx, sizeof sx), tg_shape_str(gamma, sg, sizeof sg),
                             tg_shape_str(beta, sb, sizeof sb));
    if (!(n->a.f >= 0))
        return tg_check_fail(err, TG_ERR_INVALID, n, "x %s: eps = %g must be >= 0",
                             tg_shape_str(x, sx, sizeof sx), n->a.f);
    out->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) out->shape[i] = x->shape[i];
    return 0;
}

/* mean (R), then rstd (R) */
static int64_t saved(const tg_node *n)
{
    const tg_tensor *x = n->in[0];
    return 2 * (x->numel / x->shape[x->ndim - 1]);
}

TG_KERNEL_DECL(layernorm_forward);
TG_KERNEL_DECL(layernorm_backward);

static const tg_op_test layernorm_tests[] = {
    {"[R,C]", 3, {{2, {4, 6}, -2, 2}, {1, {6}, 0.5, 1.5}, {1, {6}, -1, 1}}, {.f = 1e-5}},
    {"[B,T,C], 3-D", 3, {{3, {2, 3, 5}, -2, 2}, {1, {5}, 0.5, 1.5}, {1, {5}, -1, 1}}, {.f = 1e-5}},
    {"one row, large eps", 3, {{1, {7}, -2, 2}, {1, {7}, -1.5, 1.5}, {1, {7}, -1, 1}}, {.f = 0.1}},
    {"[B,NH,T,C], 4-D, offset inputs", 3,
     {{4, {2, 2, 2, 4}, 3, 6}, {1, {4}, 0.5, 1.5}, {1, {4}, -1, 1}}, {.f = 1e-5}},
};
const tg_op_desc tg_op_layernorm_desc = {
    .name = "layernorm", .math = "y = (x - mean) / sqrt(var + eps) * gamma + beta",
    .n_in_min = 3, .n_in_max = 3, .in_kind = {TG_ARG_REAL, TG_ARG_REAL, TG_ARG_REAL},
    .check = check, .saved = saved, .forward = TG_KERNELS(layernorm_forward),
    .backward = TG_KERNELS(layernorm_backward), .assigns = 7, .pass = 1, .tests = layernorm_tests,
    .n_tests = sizeof layernorm_tests / sizeof *layernorm_tests};

tg_tensor *tg_layernorm(tg_tape *t, tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, double eps)
{
    tg_attrs a = {.f = eps};
    tg_tensor *in[3] = {x, gamma, beta};
    return tg_op_apply(t, TG_OP_LAYERNORM, 3, in, &a);
}
#endif
