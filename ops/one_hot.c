/* one_hot.c: integer ids to indicator rows. Dimension letters: N ids (the product of
 * the ids' dims), V classes (attribute i[0]).
 *
 *   y[i, v] = [ids[i] == v]                        ids (N) i32 -> y (N,V), the tape's dtype
 * No input is differentiable, so there is no backward. Ids are validated by the shape
 * rule, so the kernel never sees one outside [0,V). */
#include <string.h>

#include "ops/op.h"

/* ids (N) -> y (N,V) */
void TG_K(one_hot_forward)(tg_node *n)
{
    const int32_t *ids = n->in[0]->data;
    real *Y = n->out->data;
    int V = n->a.i[0];
    int64_t N = n->in[0]->numel;
    memset(Y, 0, (size_t)(N * V) * sizeof *Y);
    for (int64_t i = 0; i < N; i++) Y[i * V + ids[i]] = 1;
}

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *ids = n->in[0];
    int V = n->a.i[0];
    char si[64];
    if (V < 1)
        return tg_check_fail(err, TG_ERR_INVALID, n,
                             "ids %s: the number of classes is %d (at least 1)",
                             tg_shape_str(ids, si, sizeof si), V);
    if (ids->ndim + 1 > TG_MAX_DIMS)
        return tg_check_fail(err, TG_ERR_SHAPE, n,
                             "ids %s: the output [...,V] would have %d dims (at most %d)",
                             tg_shape_str(ids, si, sizeof si), ids->ndim + 1, TG_MAX_DIMS);
    const int32_t *id = ids->data;
    for (int64_t i = 0; i < ids->numel; i++)
        if (id[i] < 0 || id[i] >= V)
            return tg_check_fail(err, TG_ERR_RANGE, n,
                                 "id %d at position %lld is outside the classes [0,%d)", id[i],
                                 (long long)i, V);
    out->ndim = ids->ndim + 1;
    for (int i = 0; i < ids->ndim; i++) out->shape[i] = ids->shape[i];
    out->shape[ids->ndim] = V;
    return 0;
}

TG_KERNEL_DECL(one_hot_forward);

/* no gradient to check: the tests compare f32 with f64 outputs */
static const tg_op_test one_hot_tests[] = {
    {"[B,T] ids", 1, {{2, {2, 3}, 0, 4}}, {.i = {4}}},
    {"[B,T,K] ids, 3-D", 1, {{3, {2, 2, 3}, 0, 5}}, {.i = {5}}},
    {"scalar id", 1, {{0, {0}, 0, 3}}, {.i = {3}}},
};
const tg_op_desc tg_op_one_hot_desc = {
    .name = "one_hot", .math = "y[i,v] = [ids[i] == v]", .n_in_min = 1, .n_in_max = 1,
    .in_kind = {TG_ARG_IDS}, .check = check, .forward = TG_KERNELS(one_hot_forward),
    .tests = one_hot_tests, .n_tests = sizeof one_hot_tests / sizeof *one_hot_tests};

tg_tensor *tg_one_hot(tg_tape *t, tg_tensor *ids, int V)
{
    tg_attrs a = {.i = {V}};
    return tg_op_apply(t, TG_OP_ONE_HOT, 1, &ids, &a);
}
#endif
