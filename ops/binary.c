/* binary.c: add, sub, mul, div, one family: y = f(a, b) elementwise with NumPy
 * broadcasting (a row-vector bias [C] onto [B,T,C], a scalar onto anything).
 * Backward reduces each input's gradient over the dims it was stretched along.
 *
 *   add: y = a + b    da = g        db = g
 *   sub: y = a - b    da = g        db = -g
 *   mul: y = a * b    da = g * b    db = g * a
 *   div: y = a / b    da = g / b    db = -g * a / b^2
 */
#include <string.h>

#include "ops/broadcast.h"
#include "ops/op.h"

enum { ADD, SUB, MUL, DIV };

static inline __attribute__((always_inline)) real f(int op, real a, real b)
{
    switch (op) {
    case ADD: return a + b;
    case SUB: return a - b;
    case MUL: return a * b;
    default: return a / b;
    }
}

static inline __attribute__((always_inline)) real dfa(int op, real g, real a, real b)
{
    (void)a;
    switch (op) {
    case ADD: case SUB: return g;
    case MUL: return g * b;
    default: return g / b;
    }
}

static inline __attribute__((always_inline)) real dfb(int op, real g, real a, real b)
{
    switch (op) {
    case ADD: return g;
    case SUB: return -g;
    case MUL: return g * a;
    default: return -g * a / (b * b);
    }
}

/* 1 if t is a row vector for an output of numel N and last dim C: shape [..1.., C] */
static int is_row(const tg_tensor *t, int64_t N, int C)
{
    return t->numel == C && C > 1 && N % C == 0 && t->ndim >= 1 && t->shape[t->ndim - 1] == C;
}

/* The loops, over rows [lo, hi) of C columns (C = 1, rows = elements, for the flat
 * case); a_row / b_row: that operand is one row, repeated. Inlined with a constant op
 * into one function per op, so that every inner loop vectorises. */
static inline __attribute__((always_inline)) void fwd_rows(int op, const real *A, const real *B,
                                                           real *Y, int64_t C, int a_row,
                                                           int b_row, int64_t lo, int64_t hi)
{
    for (int64_t r = lo; r < hi; r++) {
        const real *a = a_row ? A : A + r * C, *b = b_row ? B : B + r * C;
        real *y = Y + r * C;
        _Pragma("omp simd") for (int64_t c = 0; c < C; c++) y[c] = f(op, a[c], b[c]);
    }
}

/* dA (rows) += dfa; dB (rows, or one row summed over rows) += dfb */
/* fa, fb: write dA, dB (=) instead of adding to them (fresh buffers, flat path only) */
static inline __attribute__((always_inline)) void bwd_rows(int op, const real *A, const real *B,
                                                           const real *G, real *dA, real *dB,
                                                           int64_t C, int a_row, int b_row, int fa,
                                                           int fb, int64_t lo, int64_t hi)
{
    for (int64_t r = lo; r < hi; r++) {
        const real *a = a_row ? A : A + r * C, *b = b_row ? B : B + r * C, *g = G + r * C;
        if (dA) {
            real *da = a_row ? dA : dA + r * C;
            if (fa) _Pragma("omp simd") for (int64_t c = 0; c < C; c++) da[c] = dfa(op, g[c], a[c], b[c]);
            else _Pragma("omp simd") for (int64_t c = 0; c < C; c++) da[c] += dfa(op, g[c], a[c], b[c]);
        }
        if (dB) {
            real *db = b_row ? dB : dB + r * C;
            if (fb) _Pragma("omp simd") for (int64_t c = 0; c < C; c++) db[c] = dfb(op, g[c], a[c], b[c]);
            else _Pragma("omp simd") for (int64_t c = 0; c < C; c++) db[c] += dfb(op, g[c], a[c], b[c]);
        }
    }
}

/* a (B...) , b (B...) -> y (broadcast shape) */
static inline __attribute__((always_inline)) void forward(tg_node *n, int op,
    void (*rows)(const real *, const real *, real *, int64_t, int, int, int64_t, int64_t))
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const real *A = a->data, *B = b->data;
    real *Y = n->out->data;
    int64_t N = n->out->numel;
    int C = n->out->ndim ? n->out->shape[n->out->ndim - 1] : 1;
    if (a->numel == N && b->numel == N) { /* same shape: one flat pass */
        TG_RANGES(lo, hi, N, rows(A, B, Y, 1, 0, 0, lo, hi));
        return;
    }
    if ((a->numel == N && is_row(b, N, C)) || (b->numel == N && is_row(a, N, C))) { /* + bias */
        int a_row = a->numel != N, b_row = b->numel != N;
        TG_PARALLEL_FOR(r, N / C, N, rows(A, B, Y, C, a_row, b_row, r, r + 1));
        return;
    }
    tg_bcast bc;
    tg_bcast_init(&bc, a, b);
#define BODY(o, ia, ib) Y[o] = f(op, A[ia], B[ib])
    TG_BCAST_LOOP(&bc, BODY);
#undef BODY
}

/* da += dfa(g), db += dfb(g), summed over stretched dims */
static inline __attribute__((always_inline)) void backward(tg_node *n, int op,
    void (*rows)(const real *, const real *, const real *, real *, real *, int64_t, int, int,
                 int, int, int64_t, int64_t))
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const real *A = a->data, *B = b->data, *G = n->out->grad;
    real *dA = a->requires_grad ? a->grad : NULL, *dB = b->requires_grad ? b->grad : NULL;
    int64_t N = n->out->numel;
    int C = n->out->ndim ? n->out->shape[n->out->ndim - 1] : 1;
    int fa = TG_FRESH(n, 0), fb = TG_FRESH(n, 1);
    if (a->numel == N && b->numel == N && dA != dB) {
        TG_RANGES(lo, hi, N, rows(A, B, G, dA, dB, 1, 0, 0, fa, fb, lo, hi));
        return;
    }
    /* the other paths add: a fresh gradient starts at zero */
    if (fa) memset(dA, 0, sizeof(real) * (size_t)a->numel);
    if (fb) memset(dB, 0, sizeof(real) * (size_t)b->numel);
    if (dA != dB && ((a->numel == N && is_row(b, N, C)) || (b->numel == N && is_row(a, N, C)))) {
        /* the full operand across threads; the row operand's sum over rows serially */
        int a_row = a->numel != N, b_row = b->numel != N;
        real *dfull = a_row ? dB : dA;
        if (dfull)
            TG_PARALLEL_FOR(r, N / C, N, rows(A, B, G, a_row ? NULL : dA, a_row ? dB : NULL, C,
                                               a_row, b_row, 0, 0, r, r + 1));
        if (a_row ? dA : dB)
            rows(A, B, G, a_row ? dA : NULL, a_row ? NULL : dB, C, a_row, b_row, 0, 0, 0, N / C);
        return;
    }
    tg_bcast bc;
    tg_bcast_init(&bc, a, b);
#define BODY(o, ia, ib)                                   \
    do {                                                  \
        if (dA) dA[ia] += dfa(op, G[o], A[ia], B[ib]);    \
        if (dB) dB[ib] += dfb(op, G[o], A[ia], B[ib]);    \
    } while (0)
    TG_BCAST_LOOP(&bc, BODY);
#undef BODY
}

#define KERNELS(name, OP)                                                                    \
    static void name##_fwd_rows(const real *A, const real *B, real *Y, int64_t C, int ar,    \
                                int br, int64_t lo, int64_t hi)                              \
    {                                                                                        \
        fwd_rows(OP, A, B, Y, C, ar, br, lo, hi);                                            \
    }                                                                                        \
    static void name##_bwd_rows(const real *A, const real *B, const real *G, real *dA,       \
                                real *dB, int64_t C, int ar, int br, int fa, int fb,         \
                                int64_t lo, int64_t hi)                                      \
    {                                                                                        \
        bwd_rows(OP, A, B, G, dA, dB, C, ar, br, fa, fb, lo, hi);                            \
    }                                                                                        \
    void TG_K(name##_forward)(tg_node * n) { forward(n, OP, name##_fwd_rows); }              \
    void TG_K(name##_backward)(tg_node * n) { backward(n, OP, name##_bwd_rows); }
KERNELS(add, ADD)
KERNELS(sub, SUB)
KERNELS(mul, MUL)
KERNELS(div, DIV)

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    static const char sym[] = "+-*/";
    tg_bcast bc;
    if (tg_bcast_init(&bc, n->in[0], n->in[1])) {
        char sa[64], sb[64];
        return tg_check_fail(err, TG_ERR_SHAPE, n, "%s %c %s: shapes do not broadcast",
                             tg_shape_str(n->in[0], sa, sizeof sa), sym[n->op - TG_OP_ADD],
                             tg_shape_str(n->in[1], sb, sizeof sb));
    }
    out->ndim = bc.ndim;
    for (int i = 0; i < bc.ndim; i++) out->shape[i] = bc.shape[TG_MAX_DIMS - bc.ndim + i];
    return 0;
}

/* test cases: same shape, a row-vector bias, a scalar, both operands stretched */
#define CASES(lo, hi)                                                                  \
    {{"same shape", 2, {{2, {3, 4}, -2, 2}, {2, {3, 4}, lo, hi}}},                     \
     {"row-vector bias", 2, {{3, {2, 3, 4}, -2, 2}, {1, {4}, lo, hi}}},                \
     {"scalar", 2, {{2, {3, 4}, -2, 2}, {0, {0}, lo, hi}}},                            \
     {"both stretched", 2, {{2, {1, 4}, -2, 2}, {2, {3, 1}, lo, hi}}},                 \
     {"left operand broadcast", 2, {{1, {4}, -2, 2}, {2, {3, 4}, lo, hi}}}}

#define DESC(nm, OP, MATH, lo, hi)                                                  \
    TG_KERNEL_DECL(nm##_forward);                                                   \
    TG_KERNEL_DECL(nm##_backward);                                                  \
    static const tg_op_test nm##_tests[] = CASES(lo, hi);                           \
    const tg_op_desc tg_op_##nm##_desc = {                                          \
        .name = #nm, .math = MATH, .n_in_min = 2, .n_in_max = 2,                    \
        .in_kind = {TG_ARG_REAL, TG_ARG_REAL}, .check = check,                        \
        .forward = TG_KERNELS(nm##_forward), .backward = TG_KERNELS(nm##_backward), .assigns = 3, \
        .tests = nm##_tests, .n_tests = sizeof nm##_tests / sizeof *nm##_tests}; \
    tg_tensor *tg_##nm(tg_tape *t, tg_tensor *a, tg_tensor *b)                      \
    {                                                                                 \
        tg_tensor *in[2] = {a, b};                                                    \
        return tg_op_apply(t, OP, 2, in, NULL);                                        \
    }
DESC(add, TG_OP_ADD, "y = a + b", -2, 2)
DESC(sub, TG_OP_SUB, "y = a - b", -2, 2)
DESC(mul, TG_OP_MUL, "y = a * b", -2, 2)
DESC(div, TG_OP_DIV, "y = a / b", 0.5, 2)
#endif
