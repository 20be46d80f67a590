/* dropout.c: inverted dropout; the mask is a pure function of (seed, element index),
 * regenerated in backward rather than saved, so a step replays exactly.
 *   keep_i = u(seed, i) >= p,  u = (hash64(seed ^ hash64(i)) >> 11) * 2^-53 in [0,1)
 *   y_i = keep_i ? x_i / (1 - p) : 0               x (N...) -> y (N...)
 *   dx_i += keep_i ? dy_i / (1 - p) : 0            p = 0 is the identity */
#include "graph/rng.h"
#include "ops/op.h"

static inline int keep(uint64_t seed, int64_t i, double p)
{
    return (tg_hash64(seed ^ tg_hash64((uint64_t)i)) >> 11) * 0x1.0p-53 >= p;
}

/* x (N) -> y (N) */
void TG_K(dropout_forward)(tg_node *n)
{
    const real *X = n->in[0]->data;
    real *Y = n->out->data;
    double p = n->a.f;
    uint64_t seed = n->a.seed;
    real scale = (real)(1 / (1 - p));
    int64_t N = n->out->numel;
    TG_FOR(i, N, Y[i] = keep(seed, i, p) ? X[i] * scale : 0);
}

/* dx += keep ? dy / (1 - p) : 0 */
void TG_K(dropout_backward)(tg_node *n)
{
    if (!n->in[0]->requires_grad) return;
    const real *G = n->out->grad;
    real *dX = n->in[0]->grad;
    double p = n->a.f;
    uint64_t seed = n->a.seed;
    real scale = (real)(1 / (1 - p));
    int64_t N = n->out->numel;
    TG_FOR(i, N, dX[i] += keep(seed, i, p) ? G[i] * scale : 0);
}

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0];
    if (!(n->a.f >= 0 && n->a.f < 1)) {
        char sx[64];
        return tg_check_fail(err, TG_ERR_INVALID, n, "x %s: p = %g must be in [0,1)",
                             tg_shape_str(x, sx, sizeof sx), n->a.f);
    }
    out->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) out->shape[i] = x->shape[i];
    return 0;
}

TG_KERNEL_DECL(dropout_forward);
TG_KERNEL_DECL(dropout_backward);

static const tg_op_test dropout_tests[] = {
    {"[R,C], p = 0.3", 1, {{2, {4, 5}, -2, 2}}, {.f = 0.3, .seed = 7}},
    {"[B,T,C], 3-D, p = 0.3", 1, {{3, {2, 3, 4}, -2, 2}}, {.f = 0.3, .seed = 12345}},
    {"p = 0, the identity", 1, {{2, {3, 3}, -2, 2}}, {.f = 0, .seed = 1}},
};
const tg_op_desc tg_op_dropout_desc = {
    .name = "dropout", .math = "y = keep(seed, i) ? x / (1 - p) : 0", .n_in_min = 1,
    .n_in_max = 1, .in_kind = {TG_ARG_REAL}, .check = check,
    .forward = TG_KERNELS(dropout_forward), .backward = TG_KERNELS(dropout_backward),
    .tests = dropout_tests, .n_tests = sizeof dropout_tests / sizeof *dropout_tests};

tg_tensor *tg_dropout(tg_tape *t, tg_tensor *x, double p, uint64_t seed)
{
    tg_attrs a = {.f = p, .seed = seed};
    return tg_op_apply(t, TG_OP_DROPOUT, 1, &x, &a);
}
#endif
