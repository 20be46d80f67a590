/* embedding.c: table lookup by integer ids. Dimension letters: N ids (the product of
 * the ids' dims), V vocabulary, C channels.
 *
 *   y[i, :] = table[ids[i], :]                     ids (N) i32, table (V,C) -> y (N,C)
 *   dtable[ids[i], :] += dy[i, :]                  repeated ids accumulate
 * Ids are validated by the shape rule, so the kernels never see one outside [0,V). */
#include <string.h>

#include "ops/op.h"

/* Column block of the backward scatter-add: each thread owns whole columns, so rows
 * with the same id never race. */
#define COL_BLOCK 64

static void forward_row(const int32_t *ids, const real *table, real *Y, int C, int64_t i)
{
    memcpy(Y + i * C, table + (int64_t)ids[i] * C, (size_t)C * sizeof *Y);
}

/* ids (N), table (V,C) -> y (N,C) */
void TG_K(embedding_forward)(tg_node *n)
{
    const int32_t *ids = n->in[0]->data;
    const real *table = n->in[1]->data;
    real *Y = n->out->data;
    int C = n->in[1]->shape[1];
    int64_t N = n->in[0]->numel;
    TG_PARALLEL_FOR(i, N, N * C, forward_row(ids, table, Y, C, i));
}

/* dtable[ids[i], c] += dy[i, c] for the columns c in [c0, c1) */
static void backward_cols(const int32_t *ids, const real *G, real *dtable, int C, int64_t N,
                          int c0, int c1)
{
    for (int64_t i = 0; i < N; i++) {
        const real *g = G + i * C;
        real *dt = dtable + (int64_t)ids[i] * C;
        for (int c = c0; c < c1; c++) dt[c] += g[c];
    }
}

void TG_K(embedding_backward)(tg_node *n)
{
    const int32_t *ids = n->in[0]->data;
    const real *G = n->out->grad;
    tg_tensor *table = n->in[1];
    if (!table->requires_grad) return;
    real *dtable = table->grad;
    int C = table->shape[1];
    int64_t N = n->in[0]->numel;
    int n_blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
    /* parallel over column blocks, never over ids: two positions may share an id */
    if (N * C > TG_PAR_MIN && n_blocks > 1) {
#pragma omp parallel for
        for (int b = 0; b < n_blocks; b++) {
            int c1 = (b + 1) * COL_BLOCK < C ? (b + 1) * COL_BLOCK : C;
            backward_cols(ids, G, dtable, C, N, b * COL_BLOCK, c1);
        }
    } else {
        backward_cols(ids, G, dtable, C, N, 0, C);
    }
}

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *ids = n->in[0], *table = n->in[1];
    char si[64], st[64];
    if (table->ndim != 2)
        return tg_check_fail(err, TG_ERR_SHAPE, n, "ids %s, table %s: the table must be 2-D [V,C]",
                             tg_shape_str(ids, si, sizeof si), tg_shape_str(table, st, sizeof st));
    if (ids->ndim + 1 > TG_MAX_DIMS)
        return tg_check_fail(err, TG_ERR_SHAPE, n,
                             "ids %s: the output [...,C] would have %d dims (at most %d)",
                             tg_shape_str(ids, si, sizeof si), ids->ndim + 1, TG_MAX_DIMS);
    int V = table->shape[0];
    const int32_t *id = ids->data;
    for (int64_t i = 0; id && i < ids->numel; i++) /* no data: shape-only mode */
        if (id[i] < 0 || id[i] >= V)
            return tg_check_fail(err, TG_ERR_RANGE, n,
                                 "id %d at position %lld is outside the vocabulary [0,%d)", id[i],
                                 (long long)i, V);
    out->ndim = ids->ndim + 1;
    for (int i = 0; i < ids->ndim; i++) out->shape[i] = ids->shape[i];
    out->shape[ids->ndim] = table->shape[1];
    return 0;
}

TG_KERNEL_DECL(embedding_forward);
TG_KERNEL_DECL(embedding_backward);

/* small vocabularies, so ids repeat and the scatter-add must accumulate */
static const tg_op_test embedding_tests[] = {
    {"[B,T] ids, repeated", 2, {{2, {2, 3}, 0, 4}, {2, {4, 5}, -1, 1}}},
    {"[B,T,K] ids, 3-D", 2, {{3, {2, 2, 3}, 0, 3}, {2, {3, 4}, -1, 1}}},
    {"vector of ids, two rows", 2, {{1, {7}, 0, 2}, {2, {2, 3}, -1, 1}}},
    {"wide rows", 2, {{1, {5}, 0, 3}, {2, {3, 70}, -1, 1}}},
};
const tg_op_desc tg_op_embedding_desc = {
    .name = "embedding", .math = "y[i,:] = table[ids[i],:]", .n_in_min = 2, .n_in_max = 2,
    .in_kind = {TG_ARG_IDS, TG_ARG_REAL}, .check = check,
    .forward = TG_KERNELS(embedding_forward), .backward = TG_KERNELS(embedding_backward),
    .tests = embedding_tests, .n_tests = sizeof embedding_tests / sizeof *embedding_tests};

tg_tensor *tg_embedding(tg_tape *t, tg_tensor *ids, tg_tensor *table)
{
    tg_tensor *in[2] = {ids, table};
    return tg_op_apply(t, TG_OP_EMBEDDING, 2, in, NULL);
}
#endif
