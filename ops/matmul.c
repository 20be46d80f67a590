/* matmul.c: matrix products. Dimension letters: M rows of op(a), K inner, N columns
 * of op(b), L the batch (product of leading dims).
 *
 *   matmul: y (M,N) = op(a) (M,K) @ op(b) (K,N); a [..., K] folds its leading dims
 *           into M when ta = 0 ([B,T,C] @ [C,D]).
 *   bmm:    the same for each of L batch entries (attention's [B,NH,T,D]).
 *   Attributes: a.i[0] = ta, a.i[1] = tb, a.f = alpha, a factor on the product (0
 *   means 1: attention's 1/sqrt(d) costs no pass of its own), a.i[2] = 1 when the last
 *   input is a residual. matmul takes an optional third input, a bias [N] added to
 *   every row (nn.Linear), and then an optional residual r of the output's shape (a
 *   Transformer's x + (o @ W^T + b)): both are added in one pass after the product, so
 *   the product's output is the only tensor and neither costs a node or a gradient
 *   buffer of its own.
 *   y = r + (alpha op(A) op(B) + bias)
 *   backward:  d op(A) += alpha dC op(B)^T,   d op(B) += alpha op(A)^T dC,
 *              dbias += sum over rows of dC,  dr += dC
 *   a.ptr, when set on a matmul with tb = 1 and ta = 0, is a tensor [K,N] holding b's
 *   transpose (a hint, not an input: no gradient, and the caller keeps it equal to b^T
 *   while the node lives). Forward then multiplies by it as stored: oneDNN packs a
 *   transposed B on every call, a third of the time of a [16,256] @ [256,1024]^T step
 *   product. Backward, whose dA = dC B reads b as stored, is unchanged. A recurrent
 *   cell's h @ W.T uses it (models/program.c).
 *   written with transposed operands directly, never copying a transpose.
 */
#include <string.h>

#include "ops/gemm.h"
#include "ops/op.h"

typedef struct dims { int ta, tb, M, N, K, lda, ldb; int64_t L; real alpha; } dims;

static void get_dims(const tg_node *n, dims *d)
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    d->ta = n->a.i[0];
    d->tb = n->a.i[1];
    d->alpha = n->a.f != 0 ? (real)n->a.f : 1;
    int bn = b->ndim;
    d->N = d->tb ? b->shape[bn - 2] : b->shape[bn - 1];
    d->K = d->tb ? b->shape[bn - 1] : b->shape[bn - 2];
    d->L = 1;
    if (n->op == TG_OP_BMM) {
        int an = a->ndim;
        d->M = d->ta ? a->shape[an - 1] : a->shape[an - 2];
        for (int i = 0; i < an - 2; i++) d->L *= a->shape[i];
    } else {
        d->M = (int)(a->numel / d->K);
    }
    d->lda = d->ta ? d->M : d->K;
    d->ldb = d->tb ? d->K : d->N;
}

/* dA += dC op(B)^T (as stored), dB += op(A)^T dC (as stored); NULL skips. A fresh
 * gradient (fa, fb) is written (beta 0) instead; dA first, so that a @ a^T, whose dB
 * is dA, adds its second term to the first. */
static void mm_backward(const dims *d, const real *A, const real *B, const real *dC, real *dA,
                        real *dB, int fa, int fb, int split)
{
    int M = d->M, N = d->N, K = d->K;
    real al = d->alpha, ba = fa ? 0 : 1, bb = fb ? 0 : 1;
    /* split: in a trainer's shard, large products as tasks (tg_gemm_split) */
    void (*gemm)(int, int, int, int, int, real, const real *, int, const real *, int, real, real *, int) =
        split ? TG_K(tg_gemm_split) : TG_K(tg_gemm);
    if (dA) {
        if (!d->ta) gemm(0, !d->tb, M, K, N, al, dC, N, B, d->ldb, ba, dA, K);
        else gemm(d->tb, 1, K, M, N, al, B, d->ldb, dC, N, ba, dA, M);
    }
    if (dB) {
        if (!d->tb) gemm(!d->ta, 0, K, N, M, al, A, d->lda, dC, N, bb, dB, N);
        else gemm(1, d->ta, N, K, M, al, dC, N, A, d->lda, bb, dB, K);
    }
}

static real *grad_of(tg_tensor *x) { return x->requires_grad ? x->grad : NULL; }

/* The bias (or NULL) and the residual (or NULL) of a matmul node */
static void extras(const tg_node *n, const tg_tensor **bias, const tg_tensor **res)
{
    int has_res = n->op == TG_OP_MATMUL && n->a.i[2];
    *res = has_res ? n->in[n->n_in - 1] : NULL;
    *bias = n->n_in - has_res > 2 ? n->in[2] : NULL;
}

/* y (M,N) = r + (y + b), or y + b, or r + y: one pass after the product */
static void epilogue_rows(real *Y, const real *b, const real *R, int N, int64_t lo, int64_t hi)
{
    for (int64_t m = lo; m < hi; m++) {
        real *y = Y + m * N;
        const real *r = R ? R + m * N : NULL;
        if (b && r) _Pragma("omp simd") for (int j = 0; j < N; j++) y[j] = r[j] + (y[j] + b[j]);
        else if (b) _Pragma("omp simd") for (int j = 0; j < N; j++) y[j] += b[j];
        else _Pragma("omp simd") for (int j = 0; j < N; j++) y[j] = r[j] + y[j];
    }
}

/* Rows [m0, m0 + rows) (clipped to M) of y = op(A) @ op(B) (or A @ bt, B's transposed
 * copy), then + bias on each row and + the residual */
static void forward_rows(const dims *d, const real *A, const real *B, const real *bt, const real *b,
                         const real *R, real *Y, int m0, int rows)
{
    int N = d->N, m = d->M - m0 < rows ? d->M - m0 : rows;
    const real *a = A + (d->ta ? m0 : (int64_t)m0 * d->lda);
    real *y = Y + (int64_t)m0 * N;
    if (bt && d->tb && !d->ta) TG_K(tg_gemm)(0, 0, m, N, d->K, d->alpha, a, d->lda, bt, N, 0, y, N);
    else TG_K(tg_gemm)(d->ta, d->tb, m, N, d->K, d->alpha, a, d->lda, B, d->ldb, 0, y, N);
    if (b || R) {
        const real *r = R ? R + (int64_t)m0 * N : NULL;
        TG_RANGES(lo, hi, m, epilogue_rows(y, b, r, N, lo, hi));
    }
}

/* y = op(a) @ op(b), for each of L batch entries */
void TG_K(matmul_forward)(tg_node *n)
{
    dims d;
    get_dims(n, &d);
    const real *A = n->in[0]->data, *B = n->in[1]->data;
    real *Y = n->out->data;
    int64_t sa = (int64_t)d.M * d.K, sb = (int64_t)d.K * d.N, sy = (int64_t)d.M * d.N;
    if (d.L == 1) {
        const tg_tensor *bt = n->a.ptr, *bias, *res;
        extras(n, &bias, &res);
        const real *b = bias ? bias->data : NULL, *R = res ? res->data : NULL;
        const real *btd = bt ? bt->data : NULL;
        /* With a bias or residual, on one thread or in a trainer's shard, the rows go in
         * chunks of about 192 KB of output, each product followed by its epilogue while
         * the chunk is in L2: 1024 x 128 x 384 plus bias on cold buffers, 140 GFLOP/s
         * whole, 160 in 128-row chunks */
        int rows = d.M;
        if ((b || R) && d.M >= 256 && (omp_in_parallel() || omp_get_max_threads() == 1)) {
            rows = (48 * 1024 / d.N) / 16 * 16;
            rows = rows < 64 ? 64 : rows > d.M ? d.M : rows;
        }
        if (!b && !R && !(bt && d.tb && !d.ta)) { /* a plain product: tasks in a shard */
            TG_K(tg_gemm_split)(d.ta, d.tb, d.M, d.N, d.K, d.alpha, A, d.lda, B, d.ldb, 0, Y, d.N);
            return;
        }
        int nc = (d.M + rows - 1) / rows;
        /* inside a trainer's shard, large chunks are tasks that an idle thread of the
         * team can take (as in tg_gemm_split) */
        if (nc > 1 && (double)rows * d.N * d.K >= TG_GEMM_TASK_MIN && TG_IN_TEAM())
            TG_TASK_RANGES(c, c1, nc, nc, forward_rows(&d, A, B, btd, b, R, Y, (int)c * rows, rows));
        else
            for (int m0 = 0; m0 < d.M; m0 += rows) forward_rows(&d, A, B, btd, b, R, Y, m0, rows);
        return;
    }
#pragma omp parallel for
    for (int64_t l = 0; l < d.L; l++)
        TG_K(tg_gemm)(d.ta, d.tb, d.M, d.N, d.K, d.alpha, A + l * sa, d.lda, B + l * sb, d.ldb, 0,
                      Y + l * sy, d.N);
}

void TG_K(matmul_backward)(tg_node *n)
{
    dims d;
    get_dims(n, &d);
    const real *A = n->in[0]->data, *B = n->in[1]->data, *G = n->out->grad;
    real *dA = grad_of(n->in[0]), *dB = grad_of(n->in[1]);
    int64_t sa = (int64_t)d.M * d.K, sb = (int64_t)d.K * d.N, sy = (int64_t)d.M * d.N;
    if (d.L == 1) {
        if (n->wg) { /* dB deferred: this product's rows of G and A join the stacked ones */
            memcpy((real *)n->wg->G + n->wg_row * d.N, G, sizeof(real) * (size_t)sy);
            memcpy((real *)n->wg->X + n->wg_row * d.K, A, sizeof(real) * (size_t)sa);
            dB = NULL;
        }
        mm_backward(&d, A, B, G, dA, dB, TG_FRESH(n, 0), TG_FRESH(n, 1), 1);
        const tg_tensor *bias, *res;
        extras(n, &bias, &res);
        real *dr = res ? grad_of((tg_tensor *)res) : NULL, *db = bias ? grad_of((tg_tensor *)bias) : NULL;
        /* the bias before the residual: when they are one tensor, its fresh bit is the
         * bias's (the lower input), and the residual then adds to what the bias wrote */
        if (db && TG_FRESH(n, 2)) memset(db, 0, sizeof(real) * (size_t)d.N);
        for (int m = 0; db && m < d.M; m++) { /* dbias (N) += sum over rows of dC */
            const real *g = G + (int64_t)m * d.N;
            _Pragma("omp simd") for (int j = 0; j < d.N; j++) db[j] += g[j];
        }
        if (dr == G) dr = NULL; /* handed G's buffer (tg_node.pass): nothing to copy */
        if (dr && TG_FRESH(n, n->n_in - 1)) memcpy(dr, G, sizeof(real) * (size_t)sy);
        else if (dr) TG_FOR(i, sy, dr[i] += G[i]);
        return;
    }
#pragma omp parallel for
    for (int64_t l = 0; l < d.L; l++)
        mm_backward(&d, A + l * sa, B + l * sb, G + l * sy, dA ? dA + l * sa : NULL,
                    dB ? dB + l * sb : NULL, TG_FRESH(n, 0), TG_FRESH(n, 1), 0);
}

#if TG_ONCE
static int inner_mismatch(tg_error *err, const tg_node *n, int ka, int kb)
{
    char sa[64], sb[64];
    return tg_check_fail(err, TG_ERR_SHAPE, n, "%s%s @ %s%s: inner dimensions %d and %d differ",
                         tg_shape_str(n->in[0], sa, sizeof sa), n->a.i[0] ? "^T" : "",
                         tg_shape_str(n->in[1], sb, sizeof sb), n->a.i[1] ? "^T" : "", ka, kb);
}

static int check_matmul(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    int ta = n->a.i[0], tb = n->a.i[1];
    char sa[64], sb[64];
    if (b->ndim != 2 || a->ndim < 1 || (ta && a->ndim != 2))
        return tg_check_fail(err, TG_ERR_SHAPE, n,
                             "%s @ %s: needs a 2-D right operand and a left operand of at "
                             "least 1 dim (exactly 2 when transposed); bmm multiplies batches",
                             tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
    int ka = ta ? a->shape[0] : a->shape[a->ndim - 1];
    int kb = tb ? b->shape[1] : b->shape[0];
    if (ka != kb) return inner_mismatch(err, n, ka, kb);
    int N = tb ? b->shape[0] : b->shape[1];
    const tg_tensor *bias, *res;
    extras(n, &bias, &res);
    const tg_tensor *bt = n->a.ptr;
    if (bt && (!tb || ta || bt->ndim != 2 || bt->shape[0] != b->shape[1] || bt->shape[1] != b->shape[0] ||
               bt->dtype != b->dtype))
        return tg_check_fail(err, TG_ERR_SHAPE, n, "%s @ %s: a transposed copy of b is for a @ b^T and must be b^T",
                             tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
    if ((n->a.i[2] && n->n_in < 3) || (!n->a.i[2] && n->n_in > 3))
        return tg_check_fail(err, TG_ERR_SHAPE, n, "inputs a, b, [bias], [residual]: %d inputs with%s a residual",
                             n->n_in, n->a.i[2] ? "" : "out");
    if (bias && (bias->ndim != 1 || bias->shape[0] != N)) {
        char sc[64];
        return tg_check_fail(err, TG_ERR_SHAPE, n, "%s @ %s%s + bias %s: the bias must be [%d]",
                             tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb),
                             tb ? "^T" : "", tg_shape_str(bias, sc, sizeof sc), N);
    }
    if (ta) {
        out->ndim = 2;
        out->shape[0] = a->shape[1];
        out->shape[1] = N;
    } else {
        out->ndim = a->ndim;
        memcpy(out->shape, a->shape, sizeof out->shape);
        out->shape[a->ndim - 1] = N;
    }
    int same = res && res->ndim == out->ndim;
    for (int i = 0; same && i < out->ndim; i++) same = res->shape[i] == out->shape[i];
    if (res) n->pass = (uint8_t)n->n_in; /* the residual's gradient is the output's */
    if (res && !same) {
        char sc[64];
        return tg_check_fail(err, TG_ERR_SHAPE, n, "%s @ %s%s + residual %s: the residual must have the product's shape",
                             tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb), tb ? "^T" : "",
                             tg_shape_str(res, sc, sizeof sc));
    }
    return 0;
}

static int check_bmm(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    int ta = n->a.i[0], tb = n->a.i[1], nd = a->ndim;
    char sa[64], sb[64];
    int same_lead = a->ndim == b->ndim && nd >= 3;
    for (int i = 0; same_lead && i < nd - 2; i++) same_lead = a->shape[i] == b->shape[i];
    if (!same_lead)
        return tg_check_fail(err, TG_ERR_SHAPE, n,
                             "%s @ %s: needs 3-D or 4-D operands with equal leading dims",
                             tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
    int ka = ta ? a->shape[nd - 2] : a->shape[nd - 1];
    int kb = tb ? b->shape[nd - 1] : b->shape[nd - 2];
    if (ka != kb) return inner_mismatch(err, n, ka, kb);
    out->ndim = nd;
    memcpy(out->shape, a->shape, sizeof out->shape);
    out->shape[nd - 2] = ta ? a->shape[nd - 1] : a->shape[nd - 2];
    out->shape[nd - 1] = tb ? b->shape[nd - 2] : b->shape[nd - 1];
    return 0;
}

TG_KERNEL_DECL(matmul_forward);
TG_KERNEL_DECL(matmul_backward);

#define T2(ta, tb, a0, a1, b0, b1) \
    {"ta=" #ta " tb=" #tb, 2, {{2, {a0, a1}, -1, 1}, {2, {b0, b1}, -1, 1}}, {.i = {ta, tb}}}
static const tg_op_test matmul_tests[] = {
    T2(0, 0, 3, 4, 4, 5), T2(0, 1, 3, 4, 5, 4), T2(1, 0, 4, 3, 4, 5), T2(1, 1, 4, 3, 5, 4),
    {"leading dims folded", 2, {{3, {2, 3, 4}, -1, 1}, {2, {4, 5}, -1, 1}}},
    {"vector @ matrix", 2, {{1, {4}, -1, 1}, {2, {4, 3}, -1, 1}}},
    {"RNN-sized, fast path", 2, {{2, {16, 64}, -1, 1}, {2, {64, 48}, -1, 1}}},
    {"scaled by alpha", 2, {{2, {3, 4}, -1, 1}, {2, {5, 4}, -1, 1}}, {.i = {0, 1}, .f = -0.7}},
    {"with a bias (nn.Linear)", 3, {{3, {2, 3, 4}, -1, 1}, {2, {5, 4}, -1, 1}, {1, {5}, -1, 1}},
     {.i = {0, 1}}},
    {"scaled, bias, ta", 3, {{2, {4, 3}, -1, 1}, {2, {4, 5}, -1, 1}, {1, {5}, -1, 1}},
     {.i = {1, 0}, .f = 1.5}},
    {"bias and residual (x + Linear)", 4,
     {{3, {2, 3, 4}, -1, 1}, {2, {5, 4}, -1, 1}, {1, {5}, -1, 1}, {3, {2, 3, 5}, -1, 1}},
     {.i = {0, 1, 1}}},
    {"residual, no bias, scaled", 3, {{2, {3, 4}, -1, 1}, {2, {4, 5}, -1, 1}, {2, {3, 5}, -1, 1}},
     {.i = {0, 0, 1}, .f = 0.5}},
};
const tg_op_desc tg_op_matmul_desc = {
    .name = "matmul", .math = "y = [residual +] (alpha op(a) @ op(b) [+ bias])", .n_in_min = 2,
    .n_in_max = 4, .in_kind = {TG_ARG_REAL, TG_ARG_REAL, TG_ARG_REAL, TG_ARG_REAL}, .assigns = 15, .check = check_matmul,
    .forward = TG_KERNELS(matmul_forward), .backward = TG_KERNELS(matmul_backward),
    .tests = matmul_tests, .n_tests = sizeof matmul_tests / sizeof *matmul_tests};

#define T3(ta, tb, a1, a2, b1, b2) \
    {"ta=" #ta " tb=" #tb, 2, {{3, {2, a1, a2}, -1, 1}, {3, {2, b1, b2}, -1, 1}}, {.i = {ta, tb}}}
static const tg_op_test bmm_tests[] = {
    T3(0, 0, 3, 4, 4, 5), T3(0, 1, 3, 4, 5, 4), T3(1, 0, 4, 3, 4, 5), T3(1, 1, 4, 3, 5, 4),
    {"attention heads [B,NH,T,D]", 2, {{4, {2, 2, 3, 4}, -1, 1}, {4, {2, 2, 3, 4}, -1, 1}}, {.i = {0, 1}}},
    {"scores scaled by 1/sqrt(d)", 2, {{4, {2, 2, 3, 4}, -1, 1}, {4, {2, 2, 3, 4}, -1, 1}},
     {.i = {0, 1}, .f = 0.5}},
};
const tg_op_desc tg_op_bmm_desc = {
    .name = "bmm", .math = "y[l] = op(a[l]) @ op(b[l])", .n_in_min = 2, .n_in_max = 2,
    .in_kind = {TG_ARG_REAL, TG_ARG_REAL}, .check = check_bmm, .assigns = 3,
    .forward = TG_KERNELS(matmul_forward), .backward = TG_KERNELS(matmul_backward),
    .tests = bmm_tests, .n_tests = sizeof bmm_tests / sizeof *bmm_tests};

/* The deferred gradient's one product: dw += G^T X (tb) or X^T G, K = all the rows */
static void wgrad_finish(tg_wgrad *wg)
{
    int R = (int)wg->rows, N = (int)wg->n, K = (int)wg->k;
    if (wg->w->dtype == TG_F32) {
        if (wg->tb) tg_gemm_split_f32(1, 0, N, K, R, 1, wg->G, N, wg->X, K, 1, wg->w->grad, K);
        else tg_gemm_split_f32(1, 0, K, N, R, 1, wg->X, K, wg->G, N, 1, wg->w->grad, N);
    } else {
        if (wg->tb) tg_gemm_split_f64(1, 0, N, K, R, 1, wg->G, N, wg->X, K, 1, wg->w->grad, K);
        else tg_gemm_split_f64(1, 0, K, N, R, 1, wg->X, K, wg->G, N, 1, wg->w->grad, N);
    }
}

int tg_matmul_defer(tg_tape *t, tg_node *n)
{
    tg_tensor *a = n->in[0], *w = n->in[1];
    int ta = n->a.i[0], tb = n->a.i[1];
    if (n->op != TG_OP_MATMUL || ta || n->a.f != 0 || !w->owned || !w->requires_grad || !w->grad ||
        w->ndim != 2 || a == w)
        return 0;
    int K = tb ? w->shape[1] : w->shape[0], N = tb ? w->shape[0] : w->shape[1];
    int64_t M = a->numel / K;
    if (M > 128) return 0; /* a large product gains nothing */
    tg_wgrad *wg = t->wgrads;
    while (wg && (wg->w != w || wg->tb != tb)) wg = wg->next;
    if (!wg) {
        if (!(wg = tg_tape_alloc(t, sizeof *wg))) return -1;
        *wg = (tg_wgrad){.next = t->wgrads, .w = w, .tb = tb, .n = N, .k = K, .finish = wgrad_finish};
        t->wgrads = wg;
    }
    n->wg = wg;
    n->wg_row = wg->rows;
    n->wg_m = M;
    wg->rows += M;
    return 0;
}

static tg_tensor *mm(tg_tape *t, tg_op_id op, tg_tensor *a, tg_tensor *b, int ta, int tb)
{
    tg_attrs at = {.i = {ta != 0, tb != 0}};
    tg_tensor *in[2] = {a, b};
    return tg_op_apply(t, op, 2, in, &at);
}
tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b, int ta, int tb)
{
    return mm(t, TG_OP_MATMUL, a, b, ta, tb);
}
tg_tensor *tg_bmm(tg_tape *t, tg_tensor *a, tg_tensor *b, int ta, int tb)
{
    return mm(t, TG_OP_BMM, a, b, ta, tb);
}
tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b)
{
    tg_attrs at = {.i = {0, 1}};
    tg_tensor *in[3] = {x, w, b};
    return tg_op_apply(t, TG_OP_MATMUL, b ? 3 : 2, in, &at);
}
#endif
