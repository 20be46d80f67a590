/* binary.c: add, sub, mul, div, one family: y = f(a, b) elementwise with NumPy
 * broadcasting (a row-vector bias [C] onto [B,T,C], a scalar onto anything).
 * Backward reduces each input's gradient over the dims it was stretched along.
 *
 *   add: y = a + b    da = g        db = g
 *   sub: y = a - b    da = g        db = -g
 *   mul: y = a * b    da = g * b    db = g * a
 *   div: y = a / b    da = g / b    db = -g * a / b^2
 */
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

/* a (B...) , b (B...) -> y (broadcast shape) */
static inline __attribute__((always_inline)) void forward(tg_node *n, int op)
{
    const real *A = n->in[0]->data, *B = n->in[1]->data;
    real *Y = n->out->data;
    int64_t N = n->out->numel;
    if (n->in[0]->numel == N && n->in[1]->numel == N) { /* same shape: one flat pass */
        TG_FOR(i, N, Y[i] = f(op, A[i], B[i]));
        return;
    }
    tg_bcast bc;
    tg_bcast_init(&bc, n->in[0], n->in[1]);
#define BODY(o, ia, ib) Y[o] = f(op, A[ia], B[ib])
    TG_BCAST_LOOP(&bc, BODY);
#undef BODY
}

/* da += dfa(g), db += dfb(g), summed over stretched dims */
static inline __attribute__((always_inline)) void backward(tg_node *n, int op)
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const real *A = a->data, *B = b->data, *G = n->out->grad;
    real *dA = a->requires_grad ? a->grad : NULL, *dB = b->requires_grad ? b->grad : NULL;
    int64_t N = n->out->numel;
    if (a->numel == N && b->numel == N && dA != dB) {
        if (dA) TG_FOR(i, N, dA[i] += dfa(op, G[i], A[i], B[i]));
        if (dB) TG_FOR(i, N, dB[i] += dfb(op, G[i], A[i], B[i]));
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

#define KERNELS(name, OP)                                               \
    void TG_K(name##_forward)(tg_node * n) { forward(n, OP); }          \
    void TG_K(name##_backward)(tg_node * n) { backward(n, OP); }
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
        .forward = TG_KERNELS(nm##_forward), .backward = TG_KERNELS(nm##_backward), \
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
