/* slice.c: a range along one axis, y = x[..., start:start+len, ...] with a.i[0] = axis
 * (negative counts from the end), a.i[1] = start, a.i[2] = len; and tg_split, n equal
 * slices (not an op of its own). Dimension letters: x is viewed as (A,D,B), A the
 * product of the dims before the axis, D the axis, B the product of the dims after it;
 * y is (A,L,B) with L = len. Each a copies one contiguous run of L*B elements; with
 * A = 1 (rows of a matrix, a time step of [T,B,C]) y is that run of x itself, a view.
 *
 *   y[a,l,b] = x[a,start+l,b]          dx[a,start+l,b] += g[a,l,b]
 */
#include <string.h>

#include "ops/op.h"

typedef struct sdims { int64_t A, D, B, start, L; } sdims;

static sdims get_dims(const tg_node *n)
{
    const tg_tensor *x = n->in[0];
    int ax = tg_axis(n->a.i[0], x->ndim);
    sdims d = {1, x->shape[ax], 1, n->a.i[1], n->a.i[2]};
    for (int i = 0; i < ax; i++) d.A *= x->shape[i];
    for (int i = ax + 1; i < x->ndim; i++) d.B *= x->shape[i];
    return d;
}

/* x (A,D,B) -> y (A,L,B) */
void TG_K(slice_forward)(tg_node *n)
{
    sdims d = get_dims(n);
    const real *X = (const real *)n->in[0]->data + d.start * d.B;
    real *Y = n->out->data;
    int64_t run = d.L * d.B, xs = d.D * d.B;
    if (Y == X) return; /* a view (view_at) */
    TG_PARALLEL_FOR(a, d.A, d.A * run, memcpy(Y + a * run, X + a * xs, (size_t)run * sizeof *Y));
}

/* dx[a,start+l,b] += g[a,l,b] */
void TG_K(slice_backward)(tg_node *n)
{
    sdims d = get_dims(n);
    const real *G = n->out->grad;
    real *dX = (real *)n->in[0]->grad + d.start * d.B;
    int64_t run = d.L * d.B, xs = d.D * d.B;
    TG_PARALLEL_FOR(a, d.A, d.A * run, {
        real *dx = dX + a * xs;
        const real *g = G + a * run;
        _Pragma("omp simd") for (int64_t i = 0; i < run; i++) dx[i] += g[i];
    });
}

#if TG_ONCE
/* x [.., D, ..] -> y [.., len, ..]; needs 0 <= start, len >= 1, start + len <= D */
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0];
    int axis = n->a.i[0], start = n->a.i[1], len = n->a.i[2], ax = tg_axis(axis, x->ndim);
    char sx[64];
    if (ax < 0)
        return tg_check_fail(err, TG_ERR_INVALID, n, "%s: axis %d is out of range [%d,%d)",
                             tg_shape_str(x, sx, sizeof sx), axis, -x->ndim, x->ndim);
    int D = x->shape[ax];
    if (start < 0 || len < 1 || start > D - len)
        return tg_check_fail(err, TG_ERR_RANGE, n,
                             "%s: range start %d, length %d along axis %d does not fit in [0,%d)",
                             tg_shape_str(x, sx, sizeof sx), start, len, axis, D);
    out->ndim = x->ndim;
    memcpy(out->shape, x->shape, sizeof out->shape);
    out->shape[ax] = len;
    return 0;
}

/* one contiguous run (A = 1): the output is x's data from start * B on */
static int64_t view_at(const tg_node *n)
{
    sdims d = get_dims(n);
    return d.A == 1 ? d.start * d.B : -1;
}

TG_KERNEL_DECL(slice_forward);
TG_KERNEL_DECL(slice_backward);

static const tg_op_test tests[] = {
    {"rows of a matrix", 1, {{2, {5, 3}, -2, 2}}, {.i = {0, 1, 3}}},
    {"3-d, axis -2", 1, {{3, {2, 6, 3}, -2, 2}}, {.i = {-2, 2, 3}}},
    {"4-d, last axis from 0", 1, {{4, {2, 3, 2, 5}, -2, 2}}, {.i = {3, 0, 2}}},
    {"4-d, last element of axis -1", 1, {{4, {2, 3, 2, 5}, -2, 2}}, {.i = {-1, 4, 1}}},
    {"4-d, axis 1, one row", 1, {{4, {2, 3, 2, 2}, -2, 2}}, {.i = {1, 1, 1}}},
    {"whole axis", 1, {{2, {3, 4}, -2, 2}}, {.i = {1, 0, 4}}},
};

const tg_op_desc tg_op_slice_desc = {
    .name = "slice", .math = "y = x[..., start:start+len, ...] along axis",
    .n_in_min = 1, .n_in_max = 1, .in_kind = {TG_ARG_REAL}, .check = check, .view_at = view_at,
    .forward = TG_KERNELS(slice_forward), .backward = TG_KERNELS(slice_backward),
    .tests = tests, .n_tests = sizeof tests / sizeof *tests};

tg_tensor *tg_slice(tg_tape *t, tg_tensor *x, int axis, int start, int len)
{
    tg_attrs a = {.i = {axis, start, len}};
    return tg_op_apply(t, TG_OP_SLICE, 1, &x, &a);
}

/* n slices of D/n along axis; out[0..n) are all NULL on any error */
tg_status tg_split(tg_tape *t, tg_tensor *x, int axis, int n, tg_tensor **out)
{
    for (int i = 0; i < n; i++) out[i] = NULL;
    if (t->err.code) return t->err.code;
    if (n < 1) return tg_error_set(&t->err, TG_ERR_INVALID, "split: %d parts (needs >= 1)", n);
    int len = 1; /* x NULL: the first slice reports it */
    if (x) {
        int ax = tg_axis(axis, x->ndim);
        char sx[64];
        if (ax < 0)
            return tg_error_set(&t->err, TG_ERR_INVALID,
                                "split: %s: axis %d is out of range [%d,%d)",
                                tg_shape_str(x, sx, sizeof sx), axis, -x->ndim, x->ndim);
        if (x->shape[ax] % n != 0)
            return tg_error_set(&t->err, TG_ERR_SHAPE,
                                "split: %s: axis %d of size %d does not divide into %d equal parts",
                                tg_shape_str(x, sx, sizeof sx), axis, x->shape[ax], n);
        len = x->shape[ax] / n;
    }
    for (int i = 0; i < n && !t->err.code; i++) out[i] = tg_slice(t, x, axis, i * len, len);
    if (t->err.code)
        for (int i = 0; i < n; i++) out[i] = NULL;
    return t->err.code;
}
#endif
