/* reshape.c: the same elements under a new shape. Attributes: a.i[0] = ndim (0..4),
 * a.i[1..ndim] = the dims, one of which may be -1 (inferred from the element count).
 * A view: y shares x's data (row-major order is unchanged), so there is no forward
 * kernel and no copy; only the gradient flows back.
 *
 *   y = x (as [new shape])        dx += g   (elementwise, same order)
 */
#include <stdio.h>

#include "ops/op.h"

/* dx (N) += g (N) */
void TG_K(reshape_backward)(tg_node *n)
{
    const real *G = n->out->grad;
    real *dX = n->in[0]->grad;
    if (dX == G) return; /* handed the output's buffer (tg_node.pass) */
    if (TG_FRESH(n, 0)) TG_FOR(i, n->out->numel, dX[i] = G[i]);
    else TG_FOR(i, n->out->numel, dX[i] += G[i]);
}

#if TG_ONCE
/* Writes the requested shape ("[4,-1]") into buf. */
static char *want_str(const tg_attrs *a, char *buf, int size)
{
    int k = snprintf(buf, size, "[");
    for (int i = 0; i < a->i[0] && i < TG_MAX_DIMS && k < size; i++)
        k += snprintf(buf + k, size - k, i ? ",%d" : "%d", a->i[1 + i]);
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

/* x (numel N) -> y [a.i[1..ndim]] with numel N */
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0];
    int nd = n->a.i[0], infer = -1;
    char sx[64], sw[64];
    if (nd < 0 || nd > TG_MAX_DIMS)
        return tg_check_fail(err, TG_ERR_INVALID, n, "%s -> %d dims: at most %d dims",
                             tg_shape_str(x, sx, sizeof sx), nd, TG_MAX_DIMS);
    int64_t known = 1;
    for (int i = 0; i < nd; i++) {
        int d = n->a.i[1 + i];
        if (d == -1 && infer < 0) {
            infer = i;
            continue;
        }
        if (d < 1)
            return tg_check_fail(err, TG_ERR_INVALID, n,
                                 "%s -> %s: dims must be >= 1, with at most one -1",
                                 tg_shape_str(x, sx, sizeof sx), want_str(&n->a, sw, sizeof sw));
        if (d > x->numel / known) { /* more than numel (and no int64 overflow) */
            known = x->numel + 1;
            break;
        }
        known *= d;
    }
    if (infer >= 0 ? x->numel % known != 0 : known != x->numel)
        return tg_check_fail(err, TG_ERR_SHAPE, n, "%s -> %s: %lld elements do not fit",
                             tg_shape_str(x, sx, sizeof sx), want_str(&n->a, sw, sizeof sw),
                             (long long)x->numel);
    out->ndim = nd;
    for (int i = 0; i < nd; i++)
        out->shape[i] = i == infer ? (int)(x->numel / known) : n->a.i[1 + i];
    return 0;
}

TG_KERNEL_DECL(reshape_backward);

static const tg_op_test tests[] = {
    {"fold leading dims", 1, {{3, {2, 3, 4}, -2, 2}}, {.i = {2, 6, 4}}},
    {"inferred dim", 1, {{3, {2, 3, 4}, -2, 2}}, {.i = {2, 4, -1}}},
    {"split into heads [B,T,NH,D]", 1, {{3, {2, 3, 4}, -2, 2}}, {.i = {4, 2, 3, 2, 2}}},
    {"4-d to 1-d, inferred", 1, {{4, {2, 2, 3, 2}, -2, 2}}, {.i = {1, -1}}},
    {"1-d with unit dims", 1, {{1, {6}, -2, 2}}, {.i = {4, 2, 1, 3, 1}}},
    {"one element to scalar", 1, {{1, {1}, -2, 2}}, {.i = {0}}},
};

const tg_op_desc tg_op_reshape_desc = {
    .name = "reshape", .math = "y = x under a new shape (shares x's data)",
    .n_in_min = 1, .n_in_max = 1, .in_kind = {TG_ARG_REAL}, .view = 1, .check = check,
    .forward = {NULL, NULL}, .backward = TG_KERNELS(reshape_backward), .assigns = 1, .pass = 1,
    .tests = tests, .n_tests = sizeof tests / sizeof *tests};

tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int *shape)
{
    tg_attrs a = {.i = {ndim}};
    for (int i = 0; i < ndim && i < TG_MAX_DIMS; i++) a.i[1 + i] = shape[i];
    return tg_op_apply(t, TG_OP_RESHAPE, 1, &x, &a);
}
#endif
