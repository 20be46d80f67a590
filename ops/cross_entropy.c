/* cross_entropy.c: softmax cross-entropy, fused (max subtracted: logits of 1e4 are fine).
 * R rows (the leading dims folded), V vocabulary; weights optional (w = 1 without).
 *   p_r = softmax(logits_r),  W = sum_r w_r,  loss = sum_r w_r (-log p_r[t_r]) / W  (0 if W = 0)
 *   dlogits_r += dloss w_r / W (p_r - onehot(t_r))
 * Rows with w_r = 0 (padding) are skipped: their targets are never read. */
#include "ops/op.h"
#include "ops/rowsum.h"
#include "ops/vmath.h"

typedef struct ce_dims { int64_t R; int V; } ce_dims;

static ce_dims get_dims(const tg_node *n)
{
    const tg_tensor *x = n->in[0];
    ce_dims d = {0, x->shape[x->ndim - 1]};
    d.R = x->numel / d.V;
    return d;
}

/* w_r (1 without weights) */
static inline real weight(const tg_node *n, int64_t r)
{
    return n->n_in > 2 ? ((const real *)n->in[2]->data)[r] : 1;
}

/* logits (V), target -> p (V), returns -log p[t] */
static real forward_row(const real *x, int32_t t, real *p, int V)
{
    real mx = tg_row_max(x, V), sum;
    TG_ROW_SUM(sum, V, v, (p[v] = TG_EXP(x[v] - mx)));
    real inv = 1 / sum;
    _Pragma("omp simd") for (int v = 0; v < V; v++) p[v] *= inv;
    return log(sum) - (x[t] - mx);
}

/* logits (R,V), targets (R), weights (R) -> loss (); saved: p (R,V), then -log p[t] (R) */
void TG_K(cross_entropy_forward)(tg_node *n)
{
    ce_dims d = get_dims(n);
    const real *X = n->in[0]->data;
    const int32_t *T = n->in[1]->data;
    real *P = n->saved, *nll = P + d.R * d.V;
    int V = d.V;
    TG_PARALLEL_FOR(r, d.R, d.R * V,
                    nll[r] = weight(n, r) != 0 ? forward_row(X + r * V, T[r], P + r * V, V) : 0);
    /* summed in order, in double: the same loss on every run and thread count */
    double loss = 0, W = 0;
    for (int64_t r = 0; r < d.R; r++) {
        real w = weight(n, r);
        if (w != 0) loss += (double)w * nll[r];
        W += w;
    }
    *(real *)n->out->data = (real)(W > 0 ? loss / W : 0);
}

/* dlogits_r += dloss * w_r / W * (p_r - onehot(t_r)), rows with w_r = 0 skipped */
void TG_K(cross_entropy_backward)(tg_node *n)
{
    if (!n->in[0]->requires_grad) return;
    ce_dims d = get_dims(n);
    const int32_t *T = n->in[1]->data;
    const real *P = n->saved;
    real *dX = n->in[0]->grad;
    int V = d.V;
    double W = 0;
    for (int64_t r = 0; r < d.R; r++) W += weight(n, r);
    if (W <= 0) return;
    real gs = (real)(*(const real *)n->out->grad / W);
    TG_PARALLEL_FOR(r, d.R, d.R * V, {
        real c = gs * weight(n, r);
        if (c == 0) continue;
        const real *p = P + r * V;
        real *dx = dX + r * V;
        for (int v = 0; v < V; v++) dx[v] += c * p[v];
        dx[T[r]] -= c;
    });
}

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0], *t = n->in[1], *w = n->n_in > 2 ? n->in[2] : NULL;
    char sx[64], st[64], sw[64];
    int fits = x->ndim >= 1 && t->ndim == x->ndim - 1 && (!w || tg_shape_equal(t, w));
    for (int i = 0; fits && i < t->ndim; i++) fits = t->shape[i] == x->shape[i];
    if (!fits)
        return tg_check_fail(err, TG_ERR_SHAPE, n,
                             "logits %s, targets %s%s%s: needs logits [...,V] with targets "
                             "[...]%s",
                             tg_shape_str(x, sx, sizeof sx), tg_shape_str(t, st, sizeof st),
                             w ? ", weights " : "", w ? tg_shape_str(w, sw, sizeof sw) : "",
                             w ? " and weights of the targets' shape" : "");
    int V = x->shape[x->ndim - 1];
    const int32_t *T = t->data;
    for (int64_t r = 0; T && (!w || w->data) && r < t->numel; r++) { /* no data: shape-only */
        double wr = w ? tg_tensor_get(w, r) : 1;
        if (!(wr >= 0) || isinf(wr))
            return tg_check_fail(err, TG_ERR_RANGE, n,
                                 "weight %g at position %lld is not a finite value >= 0", wr,
                                 (long long)r);
        if (wr != 0 && (T[r] < 0 || T[r] >= V))
            return tg_check_fail(err, TG_ERR_RANGE, n,
                                 "target %d at position %lld is outside the vocabulary [0,%d)",
                                 T[r], (long long)r, V);
    }
    out->ndim = 0;
    return 0;
}

/* p (R,V), then -log p[t] (R) */
static int64_t saved(const tg_node *n) { return n->in[0]->numel + n->in[1]->numel; }

TG_KERNEL_DECL(cross_entropy_forward);
TG_KERNEL_DECL(cross_entropy_backward);

/* logits of 1e4: all equal, so f32 holds them exactly and the check compares like
 * with like; a naive exp would overflow */
static const tg_op_test cross_entropy_tests[] = {
    {"[R,V]", 2, {{2, {4, 5}, -3, 3}, {1, {4}, 0, 5}}},
    {"[B,T,V], 3-D", 2, {{3, {2, 3, 6}, -3, 3}, {2, {2, 3}, 0, 6}}},
    {"[R,V] weighted", 3, {{2, {4, 5}, -3, 3}, {1, {4}, 0, 5}, {1, {4}, 0, 1}}},
    {"[B,T,V] weighted, 3-D", 3, {{3, {2, 3, 4}, -3, 3}, {2, {2, 3}, 0, 4}, {2, {2, 3}, 0, 1}}},
    {"[B,T,V] 0/1 padding mask", 3, {{3, {2, 4, 3}, -3, 3}, {2, {2, 4}, 0, 3}, {2, {2, 4}, 0, 0}}},
    {"single row", 2, {{1, {7}, -3, 3}, {0, {0}, 0, 7}}},
    {"logits of 1e4", 2, {{2, {3, 4}, 1e4, 1e4}, {1, {3}, 0, 4}}},
};
const tg_op_desc tg_op_cross_entropy_desc = {
    .name = "cross_entropy", .math = "loss = sum_i w_i * -log softmax(logits_i)[t_i] / sum_i w_i",
    .n_in_min = 2, .n_in_max = 3, .in_kind = {TG_ARG_REAL, TG_ARG_IDS, TG_ARG_CONST},
    .check = check, .saved = saved, .forward = TG_KERNELS(cross_entropy_forward),
    .backward = TG_KERNELS(cross_entropy_backward), .tests = cross_entropy_tests,
    .n_tests = sizeof cross_entropy_tests / sizeof *cross_entropy_tests};

/* weights NULL: unweighted (two inputs), the one optional input of an op */
tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, tg_tensor *targets, tg_tensor *weights)
{
    tg_tensor *in[3] = {logits, targets, weights};
    return tg_op_apply(t, TG_OP_CROSS_ENTROPY, weights ? 3 : 2, in, NULL);
}
#endif
