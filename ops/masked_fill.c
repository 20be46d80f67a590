/* masked_fill.c: replace the elements a mask selects by a constant (causal attention).
 * The mask broadcasts onto x (NumPy rules, ops/broadcast.h) and never stretches x.
 *
 *   y = mask != 0 ? value : x                      x (N...), mask (broadcasts) -> y (N...)
 *   dx += mask == 0 ? dy : 0                       the mask gets no gradient */
#include "ops/broadcast.h"
#include "ops/op.h"

/* x (N...), mask -> y (N...) */
void TG_K(masked_fill_forward)(tg_node *n)
{
    const real *X = n->in[0]->data, *M = n->in[1]->data;
    real *Y = n->out->data;
    real value = (real)n->a.f;
    int64_t N = n->out->numel;
    if (n->in[1]->numel == N) { /* same shape: one flat pass; x loaded always, so a select */
        TG_FOR(i, N, real x = X[i]; Y[i] = M[i] != 0 ? value : x);
        return;
    }
    tg_bcast bc;
    tg_bcast_init(&bc, n->in[0], n->in[1]);
#define BODY(o, ix, im) Y[o] = M[im] != 0 ? value : X[ix]
    TG_BCAST_LOOP(&bc, BODY);
#undef BODY
}

/* dx += dy where mask == 0 (x is never stretched, so its offset is the output's) */
void TG_K(masked_fill_backward)(tg_node *n)
{
    const real *M = n->in[1]->data, *G = n->out->grad;
    if (!n->in[0]->requires_grad) return;
    real *dX = n->in[0]->grad;
    int64_t N = n->out->numel;
    if (n->in[1]->numel == N) {
        TG_FOR(i, N, real g = G[i]; dX[i] += M[i] != 0 ? 0 : g);
        return;
    }
    tg_bcast bc;
    tg_bcast_init(&bc, n->in[0], n->in[1]);
#define BODY(o, ix, im) dX[ix] += M[im] != 0 ? 0 : G[o]
    TG_BCAST_LOOP(&bc, BODY);
#undef BODY
}

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0], *mask = n->in[1];
    tg_bcast bc;
    int fits = tg_bcast_init(&bc, x, mask) == 0 && bc.ndim == x->ndim;
    for (int i = 0; fits && i < x->ndim; i++)
        fits = bc.shape[TG_MAX_DIMS - x->ndim + i] == x->shape[i];
    if (!fits) {
        char sx[64], sm[64];
        return tg_check_fail(err, TG_ERR_SHAPE, n,
                             "x %s, mask %s: the mask does not broadcast to x's shape",
                             tg_shape_str(x, sx, sizeof sx), tg_shape_str(mask, sm, sizeof sm));
    }
    out->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) out->shape[i] = x->shape[i];
    return 0;
}

TG_KERNEL_DECL(masked_fill_forward);
TG_KERNEL_DECL(masked_fill_backward);

/* masks are random 0/1 (lo = hi = 0); a moderate fill value keeps the check's loss
 * well scaled (models use -1e9 or -inf) */
static const tg_op_test masked_fill_tests[] = {
    {"same shape", 2, {{2, {3, 4}, -2, 2}, {2, {3, 4}, 0, 0}}, {.f = -3}},
    {"[T,T] mask onto [B,T,T]", 2, {{3, {2, 3, 3}, -2, 2}, {2, {3, 3}, 0, 0}}, {.f = -3}},
    {"column mask [B,1] onto [B,T]", 2, {{2, {3, 4}, -2, 2}, {2, {3, 1}, 0, 0}}, {.f = 0.5}},
    {"attention [1,1,T,T] onto [B,NH,T,T]", 2, {{4, {2, 2, 3, 3}, -2, 2}, {4, {1, 1, 3, 3}, 0, 0}},
     {.f = -3}},
};
const tg_op_desc tg_op_masked_fill_desc = {
    .name = "masked_fill", .math = "y = mask != 0 ? value : x", .n_in_min = 2, .n_in_max = 2,
    .in_kind = {TG_ARG_REAL, TG_ARG_CONST}, .check = check,
    .forward = TG_KERNELS(masked_fill_forward), .backward = TG_KERNELS(masked_fill_backward),
    .tests = masked_fill_tests, .n_tests = sizeof masked_fill_tests / sizeof *masked_fill_tests};

tg_tensor *tg_masked_fill(tg_tape *t, tg_tensor *x, tg_tensor *mask, double value)
{
    tg_attrs a = {.f = value};
    tg_tensor *in[2] = {x, mask};
    return tg_op_apply(t, TG_OP_MASKED_FILL, 2, in, &a);
}
#endif
