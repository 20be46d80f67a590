/* concat.c: joins n inputs (1..65535: every time step's output) along a.i[0] = axis
 * (negative counts from the end); every other dim must agree. Dimension letters: input i is viewed as
 * (A, D_i, B), A the product of the dims before the axis, B of those after it; y is
 * (A, D, B) with D = sum_i D_i, and input i starts at offset O_i = sum_{j<i} D_j.
 *
 *   y[a, O_i + d, b] = x_i[a, d, b]          dx_i[a, d, b] += g[a, O_i + d, b]
 */
#include <stdio.h>
#include <string.h>

#include "ops/op.h"

typedef struct cdims { int64_t A, B, D; } cdims;

static cdims get_dims(const tg_node *n)
{
    const tg_tensor *y = n->out;
    int ax = tg_axis(n->a.i[0], y->ndim);
    cdims d = {1, 1, y->shape[ax]};
    for (int i = 0; i < ax; i++) d.A *= y->shape[i];
    for (int i = ax + 1; i < y->ndim; i++) d.B *= y->shape[i];
    return d;
}

/* x_i (D_i*B) for every i -> y (D*B), one a */
static void forward_a(const tg_node *n, const cdims *d, int64_t a)
{
    real *y = (real *)n->out->data + a * d->D * d->B;
    for (int i = 0; i < n->n_in; i++) {
        int64_t run = n->in[i]->numel / d->A; /* D_i * B */
        memcpy(y, (const real *)n->in[i]->data + a * run, (size_t)run * sizeof *y);
        y += run;
    }
}

/* dx_i (D_i*B) += g[O_i*B ..] for every i that needs a gradient, one a */
static void backward_a(const tg_node *n, const cdims *d, int64_t a)
{
    const real *g = (const real *)n->out->grad + a * d->D * d->B;
    for (int i = 0; i < n->n_in; i++) {
        const tg_tensor *x = n->in[i];
        int64_t run = x->numel / d->A;
        if (x->requires_grad) {
            real *dx = (real *)x->grad + a * run;
            if (TG_FRESH(n, i)) memcpy(dx, g, (size_t)run * sizeof *dx);
            else _Pragma("omp simd") for (int64_t k = 0; k < run; k++) dx[k] += g[k];
        }
        g += run;
    }
}

/* x_i (A,D_i,B) -> y (A,D,B); each a is one task (an input used twice is still
 * written by one thread) */
void TG_K(concat_forward)(tg_node *n)
{
    cdims d = get_dims(n);
    TG_PARALLEL_FOR(a, d.A, n->out->numel, forward_a(n, &d, a));
}

void TG_K(concat_backward)(tg_node *n)
{
    cdims d = get_dims(n);
    TG_PARALLEL_FOR(a, d.A, n->out->numel, backward_a(n, &d, a));
}

#if TG_ONCE
/* "[2,3], [2,4]": every input's shape */
static char *shapes_str(const tg_node *n, char *buf, int size)
{
    int k = 0;
    buf[0] = 0;
    for (int i = 0; i < n->n_in && k < size; i++) {
        char s[64];
        k += snprintf(buf + k, size - k, i ? ", %s" : "%s", tg_shape_str(n->in[i], s, sizeof s));
    }
    return buf;
}

/* x_i [.., D_i, ..] -> y [.., sum D_i, ..]; same ndim and the other dims equal */
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x0 = n->in[0];
    int axis = n->a.i[0], nd = x0->ndim, ax = tg_axis(axis, nd);
    char ss[384];
    if (ax < 0)
        return tg_check_fail(err, TG_ERR_INVALID, n, "%s along axis %d: axis out of range [%d,%d)",
                             shapes_str(n, ss, sizeof ss), axis, -nd, nd);
    int64_t D = 0;
    for (int i = 0; i < n->n_in; i++) {
        const tg_tensor *x = n->in[i];
        int same = x->ndim == nd;
        for (int k = 0; same && k < nd; k++) same = k == ax || x->shape[k] == x0->shape[k];
        if (!same)
            return tg_check_fail(err, TG_ERR_SHAPE, n,
                                 "%s along axis %d: every dim but axis %d must agree",
                                 shapes_str(n, ss, sizeof ss), axis, axis);
        D += x->shape[ax];
    }
    if (D > INT32_MAX)
        return tg_check_fail(err, TG_ERR_SHAPE, n, "%s along axis %d: the result is too large",
                             shapes_str(n, ss, sizeof ss), axis);
    out->ndim = nd;
    memcpy(out->shape, x0->shape, sizeof out->shape);
    out->shape[ax] = (int)D;
    return 0;
}

TG_KERNEL_DECL(concat_forward);
TG_KERNEL_DECL(concat_backward);

static const tg_op_test tests[] = {
    {"one input", 1, {{2, {3, 4}, -2, 2}}, {.i = {0}}},
    {"two matrices, axis -1", 2, {{2, {2, 3}, -2, 2}, {2, {2, 4}, -2, 2}}, {.i = {-1}}},
    {"three 3-d, axis 0", 3, {{3, {1, 3, 2}, -2, 2}, {3, {2, 3, 2}, -2, 2}, {3, {3, 3, 2}, -2, 2}},
     {.i = {0}}},
    {"4-d, axis 1", 2, {{4, {2, 3, 2, 2}, -2, 2}, {4, {2, 1, 2, 2}, -2, 2}}, {.i = {1}}},
    {"four 3-d (more than the inline inputs), axis -2", 4,
     {{3, {2, 1, 3}, -2, 2}, {3, {2, 2, 3}, -2, 2}, {3, {2, 3, 3}, -2, 2}, {3, {2, 1, 3}, -2, 2}},
     {.i = {-2}}},
    {"eight 1-d", 8,
     {{1, {1}, -2, 2}, {1, {2}, -2, 2}, {1, {3}, -2, 2}, {1, {1}, -2, 2},
      {1, {2}, -2, 2}, {1, {1}, -2, 2}, {1, {4}, -2, 2}, {1, {1}, -2, 2}},
     {.i = {0}}},
};

const tg_op_desc tg_op_concat_desc = {
    .name = "concat", .math = "y = [x_1, ..., x_n] joined along axis",
    .n_in_min = 1, .n_in_max = 65535, .in_kind = {TG_ARG_REAL}, .check = check,
    .forward = TG_KERNELS(concat_forward), .backward = TG_KERNELS(concat_backward),
    .assigns = TG_ASSIGNS_ALL,
    .tests = tests, .n_tests = sizeof tests / sizeof *tests};

tg_tensor *tg_concat(tg_tape *t, int n, tg_tensor *const *xs, int axis)
{
    tg_attrs a = {.i = {axis}};
    return tg_op_apply(t, TG_OP_CONCAT, n, xs, &a);
}
#endif
