/* fused.c: a chain of elementwise ops in one pass over memory (the program in a.ptr, a
 * tg_fused_code: see ops/fused.h). Only the output is stored: backward recomputes the
 * chain block by block (in L1), then sweeps it in reverse.
 *
 *   forward:   r[n_in + k] = op_k(r[a_k], r[b_k]),  y = r[last]
 *   backward:  dr[last] = g; for k from last to first, the derivative of op_k:
 *     add: da += d, db += d      sub: da += d, db -= d      mul: da += d b, db += d a
 *     div: da += d / b, db -= d a / b^2     neg: da -= d     scale: da += s d
 *     tanh: da += d (1 - y^2)    sigmoid: da += d y (1 - y)    relu: da += d [a > 0]
 *     exp: da += d y    log: da += d / a    sqrt: da += d / (2 y)
 *     gelu: da += d (Phi(a) + a phi(a))
 *   then each input's gradient += its dr: a full input elementwise, a row summed over
 *   rows, a scalar summed over everything (per-thread partial sums in n->saved).
 * Work is split in tasks of at most BLK elements of one row, spread over threads. */
#include <string.h>

#include "ops/fused.h"
#include "ops/op.h"
#include "ops/vmath.h"

#define BLK 128
#define MAXR (TG_FUSED_MAX_IN + TG_FUSED_MAX_INS)
#define INV_SQRT_2PI ((real)0.39894228040143267794)

enum { FULL, ROW, SCALAR, COLS };

typedef struct layout {
    int64_t R, C, bpr; /* rows, columns per row, blocks per row */
    int mode[TG_FUSED_MAX_IN];
    int64_t ld[TG_FUSED_MAX_IN], off[TG_FUSED_MAX_IN]; /* FULL, COLS: row stride, column */
    int64_t part;      /* partial-sum elements per thread (rows and scalars) */
} layout;

/* Input k's elements as the op sees them: a column block counts 1 / parts of x */
static int64_t eff_numel(const tg_fused_code *code, int k, const tg_tensor *x)
{
    return code->part[k] ? x->numel / code->parts[k] : x->numel;
}

static void get_layout(const tg_node *n, layout *L)
{
    const tg_fused_code *code = n->a.ptr;
    int64_t N = n->out->numel, C = n->out->ndim ? n->out->shape[n->out->ndim - 1] : 1;
    int has_row = 0;
    L->part = 0;
    for (int k = 0; k < n->n_in; k++) {
        int64_t m = eff_numel(code, k, n->in[k]);
        L->mode[k] = code->part[k] ? COLS : m == N ? FULL : m == 1 ? SCALAR : ROW;
        has_row |= L->mode[k] == ROW || L->mode[k] == COLS;
        L->part += L->mode[k] == ROW ? C : L->mode[k] == SCALAR;
    }
    L->C = has_row ? C : N; /* without rows: one long row, in blocks */
    L->R = N / L->C;
    L->bpr = (L->C + BLK - 1) / BLK;
    for (int k = 0; k < n->n_in; k++) {
        L->ld[k] = L->mode[k] == COLS ? C * code->parts[k] : L->C;
        L->off[k] = L->mode[k] == COLS ? C * (code->part[k] - 1) : 0;
    }
}

/* Runs the program on task t (row r, columns [c0, c0+m)): R[k] points at register k. */
static void run_block(const tg_fused_code *code, const layout *L, const real *const *in,
                      int64_t t, real (*S)[BLK], const real **R, int64_t *off, int *len)
{
    int64_t r = t / L->bpr, c0 = (t % L->bpr) * BLK;
    int m = (int)(L->C - c0 < BLK ? L->C - c0 : BLK);
    *off = r * L->C + c0;
    *len = m;
    for (int k = 0; k < code->n_in; k++) {
        if (L->mode[k] == FULL || L->mode[k] == COLS) R[k] = in[k] + r * L->ld[k] + L->off[k] + c0;
        else if (L->mode[k] == ROW) R[k] = in[k] + c0;
        else {
            for (int i = 0; i < m; i++) S[k][i] = in[k][0];
            R[k] = S[k];
        }
    }
    for (int j = 0; j < code->n_ins; j++) {
        const tg_fused_ins *in_ = &code->ins[j];
        real *y = S[code->n_in + j];
        const real *a = R[in_->a], *b = R[in_->b];
        real s = (real)in_->imm;
        switch (in_->op) {
#define LOOP(expr) _Pragma("omp simd") for (int i = 0; i < m; i++) y[i] = (expr); break
        case TG_FU_ADD: LOOP(a[i] + b[i]);
        case TG_FU_SUB: LOOP(a[i] - b[i]);
        case TG_FU_MUL: LOOP(a[i] * b[i]);
        case TG_FU_DIV: LOOP(a[i] / b[i]);
        case TG_FU_NEG: LOOP(-a[i]);
        case TG_FU_SCALE: LOOP(s * a[i]);
        case TG_FU_TANH: LOOP(TG_TANH(a[i]));
        case TG_FU_SIGMOID: LOOP(TG_SIGMOID(a[i]));
        case TG_FU_RELU: LOOP(a[i] > 0 ? a[i] : 0);
        case TG_FU_EXP: LOOP(TG_EXP(a[i]));
        case TG_FU_LOG: LOOP(log(a[i]));
        case TG_FU_SQRT: LOOP(sqrt(a[i]));
        default: LOOP(a[i] * TG_PHI(a[i]));
#undef LOOP
        }
        R[code->n_in + j] = y;
    }
}

/* in... -> y (the shape of the full inputs) */
void TG_K(fused_forward)(tg_node *n)
{
    const tg_fused_code *code = n->a.ptr;
    layout L;
    get_layout(n, &L);
    const real *in[TG_FUSED_MAX_IN];
    for (int k = 0; k < n->n_in; k++) in[k] = n->in[k]->data;
    real *Y = n->out->data;
    int last = code->n_in + code->n_ins - 1;
    ((real *)n->saved)[0] = (real)omp_get_max_threads(); /* what saved() sized the partials for */
    TG_PARALLEL_FOR(t, L.R * L.bpr, n->out->numel * code->n_ins, {
        real S[MAXR][BLK];
        const real *R[MAXR];
        int64_t off;
        int m;
        run_block(code, &L, in, t, S, R, &off, &m);
        memcpy(Y + off, R[last], sizeof(real) * (size_t)m);
    });
}

/* One task of backward: recompute, sweep in reverse, scatter into the inputs'
 * gradients (full) or this thread's partial sums (rows, scalars). */
static void backward_block(const tg_fused_code *code, const layout *L, const real *const *in,
                           const real *G, real *const *dIn, real *part, uint64_t fresh, int64_t t)
{
    real S[MAXR][BLK], D[MAXR][BLK];
    const real *R[MAXR];
    int64_t off;
    int m, last = code->n_in + code->n_ins - 1;
    run_block(code, L, in, t, S, R, &off, &m);
    for (int k = 0; k < last; k++) memset(D[k], 0, sizeof(real) * (size_t)m);
    memcpy(D[last], G + off, sizeof(real) * (size_t)m);
    for (int j = code->n_ins - 1; j >= 0; j--) {
        const tg_fused_ins *in_ = &code->ins[j];
        int o = code->n_in + j;
        const real *d = D[o], *y = R[o], *a = R[in_->a], *b = R[in_->b];
        real *da = D[in_->a], *db = D[in_->b], s = (real)in_->imm;
        switch (in_->op) {
#define LOOP(...) _Pragma("omp simd") for (int i = 0; i < m; i++) { __VA_ARGS__; } break
        case TG_FU_ADD: LOOP(da[i] += d[i]; db[i] += d[i]);
        case TG_FU_SUB: LOOP(da[i] += d[i]; db[i] -= d[i]);
        case TG_FU_MUL: LOOP(real av = a[i], bv = b[i]; da[i] += d[i] * bv; db[i] += d[i] * av);
        case TG_FU_DIV: LOOP(real av = a[i], bv = b[i]; da[i] += d[i] / bv; db[i] -= d[i] * av / (bv * bv));
        case TG_FU_NEG: LOOP(da[i] -= d[i]);
        case TG_FU_SCALE: LOOP(da[i] += s * d[i]);
        case TG_FU_TANH: LOOP(da[i] += d[i] * (1 - y[i] * y[i]));
        case TG_FU_SIGMOID: LOOP(da[i] += d[i] * y[i] * (1 - y[i]));
        case TG_FU_RELU: LOOP(da[i] += a[i] > 0 ? d[i] : 0);
        case TG_FU_EXP: LOOP(da[i] += d[i] * y[i]);
        case TG_FU_LOG: LOOP(da[i] += d[i] / a[i]);
        case TG_FU_SQRT: LOOP(da[i] += d[i] * (real)0.5 / y[i]);
        default: LOOP(real x = a[i]; da[i] += d[i] * (TG_PHI(x) + x * INV_SQRT_2PI * TG_EXP_NEG(-(real)0.5 * x * x)));
#undef LOOP
        }
    }
    int64_t c0 = (t % L->bpr) * BLK;
    for (int k = 0; k < code->n_in; k++) {
        int mode = L->mode[k];
        real *p = part;
        if (mode == ROW || mode == SCALAR) part += mode == ROW ? L->C : 1;
        if (!dIn[k]) continue;
        const real *dk = D[k];
        if (mode == FULL || mode == COLS) { /* (a fresh column block's tensor was zeroed) */
            real *dx = dIn[k] + (off / L->C) * L->ld[k] + L->off[k] + off % L->C;
            if (mode == FULL && (fresh >> k & 1)) memcpy(dx, dk, sizeof(real) * (size_t)m);
            else _Pragma("omp simd") for (int i = 0; i < m; i++) dx[i] += dk[i];
        } else if (mode == ROW) {
            _Pragma("omp simd") for (int i = 0; i < m; i++) p[c0 + i] += dk[i];
        } else {
            real sum = 0;
            _Pragma("omp simd reduction(+:sum)") for (int i = 0; i < m; i++) sum += dk[i];
            p[0] += sum;
        }
    }
}

void TG_K(fused_backward)(tg_node *n)
{
    const tg_fused_code *code = n->a.ptr;
    layout L;
    get_layout(n, &L);
    const real *in[TG_FUSED_MAX_IN];
    real *dIn[TG_FUSED_MAX_IN];
    for (int k = 0; k < n->n_in; k++) {
        in[k] = n->in[k]->data;
        dIn[k] = n->in[k]->requires_grad ? n->in[k]->grad : NULL;
    }
    const real *G = n->out->grad;
    uint64_t fresh = n->fresh;
    for (int k = 0; k < n->n_in; k++) /* a column block writes only its part of a fresh gradient */
        if (L.mode[k] == COLS && dIn[k] && TG_FRESH(n, k)) memset(dIn[k], 0, sizeof(real) * (size_t)n->in[k]->numel);
    real *saved = n->saved; /* [0]: threads at record time, then per-thread partials */
    int nt = (int)saved[0];
    int64_t tasks = L.R * L.bpr;
    if (tasks < 2 || n->out->numel * code->n_ins <= TG_PAR_MIN) nt = 1;
    real *parts = saved + 1;
    memset(parts, 0, sizeof(real) * (size_t)(L.part * nt));
    if (nt == 1) {
        for (int64_t t = 0; t < tasks; t++) backward_block(code, &L, in, G, dIn, parts, fresh, t);
    } else {
#pragma omp parallel num_threads(nt)
        {
            int id = omp_get_thread_num(), n_th = omp_get_num_threads();
            int64_t lo = tasks * id / n_th, hi = tasks * (id + 1) / n_th;
            for (int64_t t = lo; t < hi; t++) backward_block(code, &L, in, G, dIn, parts + L.part * id, fresh, t);
        }
    }
    /* partial sums into the row and scalar inputs' gradients */
    real *p = parts;
    for (int k = 0; k < n->n_in; k++) {
        if (L.mode[k] == FULL || L.mode[k] == COLS) continue;
        int64_t w = L.mode[k] == ROW ? L.C : 1;
        if (dIn[k] && TG_FRESH(n, k)) memset(dIn[k], 0, sizeof(real) * (size_t)w);
        for (int th = 0; dIn[k] && th < nt; th++)
            for (int64_t i = 0; i < w; i++) dIn[k][i] += p[L.part * th + i];
        p += w;
    }
}

#if TG_ONCE
/* Input k as the op sees it (a column block: the last dim / parts) into e; 0, or -1 if
 * a column block's tensor does not hold that many blocks */
static int eff(const tg_fused_code *code, int k, const tg_tensor *x, tg_tensor *e)
{
    *e = *x;
    if (!code || !code->part[k]) return 0;
    int nb = code->parts[k], W = x->ndim ? x->shape[x->ndim - 1] : 0;
    if (nb < 1 || x->ndim < 1 || code->part[k] > nb || W % nb) return -1;
    e->shape[x->ndim - 1] = W / nb;
    e->numel = x->numel / nb;
    return 0;
}

/* The largest input, as the op sees it: the output's shape */
static void full_of(const tg_fused_code *code, tg_tensor *const *x, int n, tg_tensor *full)
{
    tg_tensor e;
    full->numel = -1;
    for (int k = 0; k < n; k++)
        if (!eff(code, k, x[k], &e) && e.numel > full->numel) *full = e;
}

int tg_fused_fits(const tg_fused_code *code, tg_tensor *const *x, int n)
{
    tg_tensor full, a;
    full_of(code, x, n, &full);
    int C = full.ndim ? full.shape[full.ndim - 1] : 1;
    for (int k = 0; k < n; k++) {
        if (eff(code, k, x[k], &a)) return k;
        int same = a.ndim == full.ndim && !memcmp(a.shape, full.shape, sizeof(int) * (size_t)a.ndim);
        if (code && code->part[k] && !same) return k; /* a column block must be full */
        if (same || (a.numel == 1 && !(code && code->part[k]))) continue;
        if (a.numel == C && a.ndim >= 1 && a.ndim <= full.ndim && a.shape[a.ndim - 1] == C) continue;
        return k;
    }
    return -1;
}

/* the output has the full inputs' shape; the others are rows [C] or [1..,C], or scalars */
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_fused_code *code = n->a.ptr;
    if (!code || code->n_in != n->n_in || code->n_ins < 1 || code->n_ins > TG_FUSED_MAX_INS)
        return tg_check_fail(err, TG_ERR_INVALID, n, "a program for %d inputs is needed", n->n_in);
    for (int j = 0; j < code->n_ins; j++) {
        const tg_fused_ins *in_ = &code->ins[j];
        if (in_->op >= TG_FU_COUNT || in_->a >= code->n_in + j || in_->b >= code->n_in + j)
            return tg_check_fail(err, TG_ERR_INVALID, n, "instruction %d is invalid", j);
    }
    int bad = tg_fused_fits(code, n->in, n->n_in);
    tg_tensor full;
    full_of(code, n->in, n->n_in, &full);
    if (bad >= 0) {
        char sa[64], sb[64];
        int C = full.ndim ? full.shape[full.ndim - 1] : 1;
        if (code->part[bad])
            return tg_check_fail(err, TG_ERR_SHAPE, n, "input %d %s does not hold column block %d of %d of shape %s",
                                 bad + 1, tg_shape_str(n->in[bad], sa, sizeof sa), code->part[bad], code->parts[bad],
                                 tg_shape_str(&full, sb, sizeof sb));
        return tg_check_fail(err, TG_ERR_SHAPE, n, "input %d %s is neither %s, a row [%d] nor a scalar", bad + 1,
                             tg_shape_str(n->in[bad], sa, sizeof sa), tg_shape_str(&full, sb, sizeof sb), C);
    }
    out->ndim = full.ndim;
    memcpy(out->shape, full.shape, sizeof out->shape);
    /* a block reads its rows of g before it writes its rows of a full input's gradient:
     * the first full input may take g's buffer (tg_node.pass) */
    n->pass = 0;
    for (int k = 0; k < n->n_in && !n->pass; k++)
        if (!code->part[k] && n->in[k]->numel == tg_shape_numel(full.ndim, full.shape)) n->pass = (uint8_t)(k + 1);
    return 0;
}

/* element 0: the thread count (written by forward); then per thread, a partial sum for
 * each row and scalar input */
static int64_t saved(const tg_node *n)
{
    const tg_fused_code *code = n->a.ptr;
    int64_t N = n->out->numel, C = n->out->ndim ? n->out->shape[n->out->ndim - 1] : 1, part = 0;
    for (int k = 0; k < n->n_in; k++) {
        int64_t m = eff_numel(code, k, n->in[k]);
        part += code->part[k] || m == N ? 0 : m == 1 ? 1 : C;
    }
    return 1 + part * omp_get_max_threads();
}
#endif

#if TG_ONCE
TG_KERNEL_DECL(fused_forward);
TG_KERNEL_DECL(fused_backward);

/* c' = sigmoid(f) * c + sigmoid(i) * tanh(g): an LSTM's cell update, inputs f, i, g, c */
static const tg_fused_code lstm_c = {4, 6, {
    {TG_FU_SIGMOID, 0, 0, 0}, {TG_FU_MUL, 4, 3, 0}, {TG_FU_SIGMOID, 1, 1, 0},
    {TG_FU_TANH, 2, 2, 0}, {TG_FU_MUL, 6, 7, 0}, {TG_FU_ADD, 5, 8, 0}}};
/* every op once, inputs x (full), b (row), s (scalar):
 * u = x + b; y = ((gelu(u) s - log(exp(x) + s)) / sqrt(exp(x) + s)) * -0.7
 *     + relu(exp(x)) + relu(-exp(x)), times sigmoid(tanh(u)) */
static const tg_fused_code every_op = {3, 19, {
    {TG_FU_ADD, 0, 1, 0},      /* 3: u */
    {TG_FU_GELU, 3, 3, 0},     /* 4 */
    {TG_FU_MUL, 4, 2, 0},      /* 5 */
    {TG_FU_EXP, 0, 0, 0},      /* 6: e */
    {TG_FU_ADD, 6, 2, 0},      /* 7: e + s */
    {TG_FU_LOG, 7, 7, 0},      /* 8 */
    {TG_FU_SUB, 5, 8, 0},      /* 9 */
    {TG_FU_SQRT, 7, 7, 0},     /* 10 */
    {TG_FU_DIV, 9, 10, 0},     /* 11 */
    {TG_FU_NEG, 11, 11, 0},    /* 12 */
    {TG_FU_SCALE, 12, 12, 0.7}, /* 13 */
    {TG_FU_RELU, 6, 6, 0},     /* 14: e > 0 */
    {TG_FU_ADD, 13, 14, 0},    /* 15 */
    {TG_FU_NEG, 6, 6, 0},      /* 16 */
    {TG_FU_RELU, 16, 16, 0},   /* 17: 0 */
    {TG_FU_ADD, 15, 17, 0},    /* 18 */
    {TG_FU_TANH, 3, 3, 0},     /* 19 */
    {TG_FU_SIGMOID, 19, 19, 0}, /* 20 */
    {TG_FU_MUL, 18, 20, 0}}};  /* 21 */
/* the same, f, i and g read as column blocks 2, 1, 3 of 4 of wider inputs (an LSTM's
 * gates, split in place) */
static const tg_fused_code lstm_c_cols = {4, 6, {
    {TG_FU_SIGMOID, 0, 0, 0}, {TG_FU_MUL, 4, 3, 0}, {TG_FU_SIGMOID, 1, 1, 0},
    {TG_FU_TANH, 2, 2, 0}, {TG_FU_MUL, 6, 7, 0}, {TG_FU_ADD, 5, 8, 0}},
    .part = {2, 1, 3, 0}, .parts = {4, 4, 4, 0}};
/* x * x + x: one input read twice by one instruction */
static const tg_fused_code square = {1, 2, {{TG_FU_MUL, 0, 0, 0}, {TG_FU_ADD, 1, 0, 0}}};

static const tg_op_test tests[] = {
    {"LSTM cell update", 4, {{2, {3, 5}, -2, 2}, {2, {3, 5}, -2, 2}, {2, {3, 5}, -2, 2}, {2, {3, 5}, -2, 2}},
     {.ptr = &lstm_c}},
    {"every op; a row and a scalar", 3, {{3, {2, 3, 4}, -2, 2}, {1, {4}, -1, 1}, {0, {0}, 0.5, 1.5}},
     {.ptr = &every_op}},
    {"a row of more than one block", 3, {{2, {3, 300}, -2, 2}, {2, {1, 300}, -1, 1}, {0, {0}, 0.5, 1.5}},
     {.ptr = &every_op}},
    {"one long row, x * x + x", 1, {{1, {700}, -2, 2}}, {.ptr = &square}},
    {"column blocks of [3,20] and a full [3,5]", 4,
     {{2, {3, 20}, -2, 2}, {2, {3, 20}, -2, 2}, {2, {3, 20}, -2, 2}, {2, {3, 5}, -2, 2}}, {.ptr = &lstm_c_cols}},
    {"rows across threads, partial sums", 3, {{2, {64, 300}, -2, 2}, {1, {300}, -1, 1}, {0, {0}, 0.5, 1.5}},
     {.ptr = &every_op}},
};

const tg_op_desc tg_op_fused_desc = {
    .name = "fused", .math = "y = a chain of elementwise ops (ops/fused.h), in one pass",
    .n_in_min = 1, .n_in_max = TG_FUSED_MAX_IN, .in_kind = {TG_ARG_REAL}, .check = check,
    .saved = saved, .forward = TG_KERNELS(fused_forward), .backward = TG_KERNELS(fused_backward),
    .assigns = TG_ASSIGNS_ALL,
    .tests = tests, .n_tests = sizeof tests / sizeof *tests};

tg_tensor *tg_fused(tg_tape *t, const tg_fused_code *code, int n_in, tg_tensor *const *in)
{
    tg_attrs a = {.ptr = code};
    return tg_op_apply(t, TG_OP_FUSED, n_in, in, &a);
}
#endif
