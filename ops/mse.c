/* mse.c: the mean squared error of two tensors of one shape, N elements.
 *
 *   loss = sum_i (p_i - t_i)^2 / N                 pred (N...), target (N...) -> loss ()
 *   dp_i += dloss * 2 (p_i - t_i) / N,   dt_i -= the same
 * Both inputs are differentiable (a target may itself be a model output). */
#include "ops/op.h"

/* pred (N), target (N) -> loss () */
void TG_K(mse_forward)(tg_node *n)
{
    const real *P = n->in[0]->data, *T = n->in[1]->data;
    int64_t N = n->in[0]->numel;
    /* in order and in double: the same loss on every run, exact enough for f32 */
    double sum = 0;
    for (int64_t i = 0; i < N; i++) {
        double e = (double)P[i] - (double)T[i];
        sum += e * e;
    }
    *(real *)n->out->data = (real)(sum / (double)N);
}

/* dp += dloss * 2 (p - t) / N,  dt -= dloss * 2 (p - t) / N */
void TG_K(mse_backward)(tg_node *n)
{
    const real *P = n->in[0]->data, *T = n->in[1]->data;
    real *dP = n->in[0]->requires_grad ? n->in[0]->grad : NULL;
    real *dT = n->in[1]->requires_grad ? n->in[1]->grad : NULL;
    int64_t N = n->in[0]->numel;
    real c = (real)(2.0 * *(const real *)n->out->grad / (double)N);
    if (dP) TG_FOR(i, N, dP[i] += c * (P[i] - T[i]));
    if (dT) TG_FOR(i, N, dT[i] -= c * (P[i] - T[i]));
}

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    if (!tg_shape_equal(n->in[0], n->in[1])) {
        char sp[64], st[64];
        return tg_check_fail(err, TG_ERR_SHAPE, n, "pred %s, target %s: shapes differ",
                             tg_shape_str(n->in[0], sp, sizeof sp),
                             tg_shape_str(n->in[1], st, sizeof st));
    }
    out->ndim = 0;
    return 0;
}

TG_KERNEL_DECL(mse_forward);
TG_KERNEL_DECL(mse_backward);

static const tg_op_test mse_tests[] = {
    {"[R,C]", 2, {{2, {3, 4}, -2, 2}, {2, {3, 4}, -2, 2}}},
    {"[B,T,C], 3-D", 2, {{3, {2, 3, 4}, -2, 2}, {3, {2, 3, 4}, -2, 2}}},
    {"vector", 2, {{1, {5}, -1, 1}, {1, {5}, 0, 3}}},
    {"scalars", 2, {{0, {0}, -1, 1}, {0, {0}, -1, 1}}},
};
const tg_op_desc tg_op_mse_desc = {
    .name = "mse", .math = "loss = mean((pred - target)^2)", .n_in_min = 2, .n_in_max = 2,
    .in_kind = {TG_ARG_REAL, TG_ARG_REAL}, .check = check, .forward = TG_KERNELS(mse_forward),
    .backward = TG_KERNELS(mse_backward), .tests = mse_tests,
    .n_tests = sizeof mse_tests / sizeof *mse_tests};

tg_tensor *tg_mse(tg_tape *t, tg_tensor *pred, tg_tensor *target)
{
    tg_tensor *in[2] = {pred, target};
    return tg_op_apply(t, TG_OP_MSE, 2, in, NULL);
}
#endif
