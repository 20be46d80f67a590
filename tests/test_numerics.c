/* test_numerics.c: extreme values stay finite, forward and backward, in float32 (the
 * training type) and float64 (the checker's): logits of +-1e4 through softmax,
 * log_softmax and cross_entropy; probabilities of e^-20000 in cross_entropy; sigmoid,
 * tanh, gelu and exp at +-1e4 (exp only where the result is representable: e^1e4 is
 * inf by definition); a 2000-step chain of sigmoids and exps, as an RNN unrolled over a
 * long sequence; layernorm of a constant row. */
#include <math.h>
#include <string.h>

#include "graph/tape.h"
#include "ops/ops.h"
#include "test.h"

static tg_dtype dt;

/* A parameter [n] holding v. */
static tg_tensor *param(int n, const double *v)
{
    tg_error err = {0};
    tg_tensor *p = tg_tensor_new(dt, 1, (int[]){n}, 1, &err);
    for (int i = 0; p && i < n; i++) tg_tensor_set(p, i, v[i]);
    return p;
}

static int finite_all(const tg_tensor *t, int grad)
{
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(grad ? tg_tensor_grad_get(t, i) : tg_tensor_get(t, i))) return 0;
    return 1;
}

/* loss(x) finite, backward OK, and x's gradient finite. */
static void finite(tg_tape *t, tg_tensor *x, tg_tensor *loss, const char *what)
{
    int ok = loss && finite_all(loss, 0) && tg_tape_backward(t, loss) == TG_OK && finite_all(x, 1);
    if (!ok) fprintf(stderr, "%s (%s): not finite: loss %g\n", what, tg_dtype_name(dt), loss ? tg_tensor_get(loss, 0) : NAN);
    CHECK(ok);
    tg_tensor_zero_grad(x);
    tg_tape_reset(t);
}

/* sum(w * f(x)) with fixed weights w, so that every output's gradient is used. */
static tg_tensor *weighted(tg_tape *t, tg_tensor *y)
{
    double w[64];
    for (int i = 0; i < y->numel && i < 64; i++) w[i] = 0.5 + 0.25 * (i % 5) - (i % 2);
    return tg_sum(t, tg_mul(t, y, tg_tape_from(t, y->ndim, y->shape, w)), TG_AXIS_ALL);
}

static void logits_tests(tg_tape *t)
{
    const double v[6] = {1e4, -1e4, 0, -1e4, 1e4, 1e4}; /* two rows of 3 */
    tg_tensor *x = param(6, v);
    tg_tensor *x2 = tg_reshape(t, x, 2, (int[]){2, 3});
    tg_tensor *s = tg_softmax(t, x2);
    CHECK(s && fabs(tg_tensor_get(s, 0) - 1) < 1e-6 && tg_tensor_get(s, 1) == 0 && fabs(tg_tensor_get(s, 4) - 0.5) < 1e-6);
    finite(t, x, weighted(t, s), "softmax of +-1e4");
    tg_tensor *ls = tg_log_softmax(t, tg_reshape(t, x, 2, (int[]){2, 3}));
    CHECK(ls && fabs(tg_tensor_get(ls, 1) + 2e4) < 1 && fabs(tg_tensor_get(ls, 4) + log(2)) < 1e-3);
    finite(t, x, weighted(t, ls), "log_softmax of +-1e4");
    /* the target with probability e^-20000 (row 0, class 1) and e^-20000 / 2 (row 1, class 0) */
    tg_tensor *ids = tg_tape_tensor(t, TG_I32, 1, (int[]){2});
    ((int32_t *)ids->data)[0] = 1, ((int32_t *)ids->data)[1] = 0;
    tg_tensor *ce = tg_cross_entropy(t, tg_reshape(t, x, 2, (int[]){2, 3}), ids, NULL);
    CHECK(ce && fabs(tg_tensor_get(ce, 0) - (2e4 + 2e4 + log(2)) / 2) < 2);
    finite(t, x, ce, "cross_entropy of a probability of e^-20000");
    /* a tiny probability that is not zero in float: e^-80 */
    const double u[3] = {40, -40, 0};
    tg_tensor *y = param(3, u);
    ids = tg_tape_tensor(t, TG_I32, 1, (int[]){1});
    ((int32_t *)ids->data)[0] = 1;
    ce = tg_cross_entropy(t, tg_reshape(t, y, 2, (int[]){1, 3}), ids, NULL);
    CHECK(ce && fabs(tg_tensor_get(ce, 0) - 80) < 1e-3);
    finite(t, y, ce, "cross_entropy of a probability of e^-80");
    tg_tensor_free(x), tg_tensor_free(y);
}

static void unary_tests(tg_tape *t)
{
    const double v[4] = {1e4, -1e4, 88, -745};
    tg_tensor *x = param(4, v);
    tg_tensor *s = tg_sigmoid(t, x);
    CHECK(s && tg_tensor_get(s, 0) == 1 && tg_tensor_get(s, 1) == 0);
    finite(t, x, weighted(t, s), "sigmoid(+-1e4)");
    tg_tensor *h = tg_tanh(t, x);
    CHECK(h && tg_tensor_get(h, 0) == 1 && tg_tensor_get(h, 1) == -1);
    finite(t, x, weighted(t, h), "tanh(+-1e4)");
    finite(t, x, weighted(t, tg_gelu(t, x)), "gelu(+-1e4)");
    finite(t, x, weighted(t, tg_relu(t, x)), "relu(+-1e4)");
    /* exp where the result is representable: of -1e4 (0) and of 88 (< FLT_MAX) */
    const double e[3] = {-1e4, -745, 88};
    tg_tensor *z = param(3, e);
    tg_tensor *ez = tg_exp(t, z);
    CHECK(ez && tg_tensor_get(ez, 0) == 0);
    finite(t, z, weighted(t, ez), "exp(-1e4), exp(88)");
    tg_tensor_free(x), tg_tensor_free(z);
}

/* h_{k+1} = sigmoid(3 h_k - 1) * exp(-h_k), 2000 times: a long unrolled sequence. */
static void long_chain(tg_tape *t)
{
    const double v[2] = {0.5, -2};
    tg_tensor *x = param(2, v), *h = x;
    for (int k = 0; k < 2000 && h; k++)
        h = tg_mul(t, tg_sigmoid(t, tg_sub(t, tg_scale(t, h, 3), tg_tape_scalar(t, 1))), tg_exp(t, tg_neg(t, h)));
    finite(t, x, h ? tg_sum(t, h, TG_AXIS_ALL) : NULL, "a chain of 2000 sigmoid * exp steps");
    tg_tensor_free(x);
}

static void layernorm_tests(tg_tape *t)
{
    const double v[4] = {1e4, 1e4, 1e4, 1e4}, g[4] = {1, 1, 1, 1}, b[4] = {0};
    tg_tensor *x = param(4, v), *gm = param(4, g), *bt = param(4, b);
    tg_tensor *y = tg_layernorm(t, tg_reshape(t, x, 2, (int[]){1, 4}), gm, bt, 1e-5);
    finite(t, x, weighted(t, y), "layernorm of a constant row of 1e4");
    tg_tensor_free(x), tg_tensor_free(gm), tg_tensor_free(bt);
}

int main(void)
{
    for (int k = 0; k < 2; k++) {
        dt = k ? TG_F64 : TG_F32;
        tg_error err = {0};
        tg_tape *t = tg_tape_new(dt, &err);
        logits_tests(t);
        unary_tests(t);
        long_chain(t);
        layernorm_tests(t);
        tg_tape_free(t);
    }
    return tg_test_end();
}
