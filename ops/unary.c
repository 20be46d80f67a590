/* unary.c: the elementwise one-input family, one table of {f, f'} rows and one loop.
 * f' is written in terms of x, y = f(x) and the attribute s (scale's factor), so a
 * row can use whichever is cheaper. Backward: dx += g * f'(x, y); dx may be g's own
 * buffer (tg_node.pass), each element read before it is written.
 *
 *   neg      y = -x                         f' = -1
 *   scale    y = s x                        f' = s
 *   tanh     y = tanh x                     f' = 1 - y^2
 *   sigmoid  y = 1 / (1 + e^-x)             f' = y (1 - y)
 *   relu     y = max(x, 0)                  f' = [x > 0]
 *   exp      y = e^x                        f' = y
 *   log      y = ln x                       f' = 1 / x
 *   sqrt     y = sqrt x                     f' = 1 / (2 y)
 *   gelu     y = x Phi(x) = x/2 (1 + erf(x/sqrt2))   f' = Phi(x) + x phi(x), Phi(x) = y / x
 */
#include "ops/op.h"
#include "ops/vmath.h"

enum { NEG, SCALE, TANH, SIGMOID, RELU, EXP, LOG, SQRT, GELU };

#define INV_SQRT_2PI ((real)0.39894228040143267794)

static inline __attribute__((always_inline)) real f(int op, real x, real s)
{
    switch (op) {
    case NEG: return -x;
    case SCALE: return s * x;
    case TANH: return TG_TANH(x);
    case SIGMOID: return TG_SIGMOID(x);
    case RELU: return x > 0 ? x : 0;
    case EXP: return TG_EXP(x);
    case LOG: return log(x);
    case SQRT: return sqrt(x);
    default: return x * TG_PHI(x);
    }
}

static inline __attribute__((always_inline)) real df(int op, real x, real y, real s)
{
    switch (op) {
    case NEG: return -1;
    case SCALE: return s;
    case TANH: return 1 - y * y;
    case SIGMOID: return y * (1 - y);
    case RELU: return x > 0 ? 1 : 0;
    case EXP: return y;
    case LOG: return 1 / x;
    case SQRT: return (real)0.5 / y;
    default: { /* Phi(x) = y / x: one division instead of a second erfc (exact to a few
                * ulp, since y = x Phi(x) was rounded once); near 0, Phi = 1/2 + x phi(0) */
        real phi_x = INV_SQRT_2PI * TG_EXP_NEG(-(real)0.5 * x * x);
        real Phi = fabs(x) < (real)1e-6 ? (real)0.5 + x * INV_SQRT_2PI : y / x;
        return Phi + x * phi_x;
    }
    }
}

/* x (N) -> y (N), and dx += g * f'(x, y), over [lo, hi); inlined with a constant op */
static inline __attribute__((always_inline)) void fwd_range(int op, const real *X, real *Y,
                                                            real s, int64_t lo, int64_t hi)
{
    _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) Y[i] = f(op, X[i], s);
}

static inline __attribute__((always_inline)) void bwd_range(int op, const real *X, const real *Y,
                                                            const real *G, real *dX, real s,
                                                            int fresh, int64_t lo, int64_t hi)
{
    if (fresh) _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) dX[i] = G[i] * df(op, X[i], Y[i], s);
    else _Pragma("omp simd") for (int64_t i = lo; i < hi; i++) dX[i] += G[i] * df(op, X[i], Y[i], s);
}

/* One function per op and direction, so each range loop is compiled for its op. */
#define KERNELS(name, OP)                                                                  \
    static void name##_fwd(const real *X, real *Y, real s, int64_t lo, int64_t hi)          \
    {                                                                                      \
        fwd_range(OP, X, Y, s, lo, hi);                                                    \
    }                                                                                      \
    static void name##_bwd(const real *X, const real *Y, const real *G, real *dX, real s,  \
                           int fresh, int64_t lo, int64_t hi)                              \
    {                                                                                      \
        bwd_range(OP, X, Y, G, dX, s, fresh, lo, hi);                                      \
    }                                                                                      \
    void TG_K(name##_forward)(tg_node * n)                                                 \
    {                                                                                      \
        const real *X = n->in[0]->data;                                                    \
        real *Y = n->out->data, s = (real)n->a.f;                                          \
        TG_RANGES(lo, hi, n->out->numel, name##_fwd(X, Y, s, lo, hi));                     \
    }                                                                                      \
    void TG_K(name##_backward)(tg_node * n)                                                \
    {                                                                                      \
        const real *X = n->in[0]->data, *Y = n->out->data, *G = n->out->grad;              \
        real *dX = n->in[0]->grad, s = (real)n->a.f;                                       \
        int fresh = TG_FRESH(n, 0);                                                        \
        TG_RANGES(lo, hi, n->out->numel, name##_bwd(X, Y, G, dX, s, fresh, lo, hi));       \
    }
KERNELS(neg, NEG)
KERNELS(scale, SCALE)
KERNELS(tanh, TANH)
KERNELS(sigmoid, SIGMOID)
KERNELS(relu, RELU)
KERNELS(exp, EXP)
KERNELS(log, LOG)
KERNELS(sqrt, SQRT)
KERNELS(gelu, GELU)

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    (void)err;
    out->ndim = n->in[0]->ndim;
    for (int i = 0; i < out->ndim; i++) out->shape[i] = n->in[0]->shape[i];
    return 0;
}

#define DESC(nm, MATH, lo, hi, nk, k0, attr_f)                                       \
    TG_KERNEL_DECL(nm##_forward);                                                    \
    TG_KERNEL_DECL(nm##_backward);                                                   \
    static const tg_op_test nm##_tests[] = {                                         \
        {"matrix", 1, {{2, {3, 5}, lo, hi}}, {.f = attr_f}, nk, {k0}},                 \
        {"4-d", 1, {{4, {2, 1, 3, 2}, lo, hi}}, {.f = attr_f}, nk, {k0}}};             \
    const tg_op_desc tg_op_##nm##_desc = {                                           \
        .name = #nm, .math = MATH, .n_in_min = 1, .n_in_max = 1,                     \
        .in_kind = {TG_ARG_REAL}, .check = check,                                      \
        .forward = TG_KERNELS(nm##_forward), .backward = TG_KERNELS(nm##_backward), \
        .assigns = 1, .pass = 1, .tests = nm##_tests, .n_tests = 2};

DESC(neg, "y = -x", -2, 2, 0, 0, 0)
DESC(scale, "y = s * x", -2, 2, 0, 0, -1.5)
DESC(tanh, "y = tanh(x)", -3, 3, 0, 0, 0)
DESC(sigmoid, "y = 1 / (1 + exp(-x))", -4, 4, 0, 0, 0)
DESC(relu, "y = max(x, 0)", -2, 2, 1, 0, 0)
DESC(exp, "y = exp(x)", -2, 2, 0, 0, 0)
DESC(log, "y = ln(x)", 0.1, 3, 0, 0, 0)
DESC(sqrt, "y = sqrt(x)", 0.1, 3, 0, 0, 0)
DESC(gelu, "y = x * Phi(x)", -3, 3, 0, 0, 0)

static tg_tensor *apply1(tg_tape *t, tg_op_id op, tg_tensor *x, double s)
{
    tg_attrs a = {.f = s};
    return tg_op_apply(t, op, 1, &x, &a);
}
tg_tensor *tg_neg(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_NEG, x, 0); }
tg_tensor *tg_scale(tg_tape *t, tg_tensor *x, double s) { return apply1(t, TG_OP_SCALE, x, s); }
tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_TANH, x, 0); }
tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_SIGMOID, x, 0); }
tg_tensor *tg_relu(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_RELU, x, 0); }
tg_tensor *tg_exp(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_EXP, x, 0); }
tg_tensor *tg_log(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_LOG, x, 0); }
tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_SQRT, x, 0); }
tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x) { return apply1(t, TG_OP_GELU, x, 0); }
#endif
