/* test_tape.c: the tape's contract on tiny exact cases: gradients of a*b+c, a value
 * used twice, a weight shared by 1,000 steps, a 10^6-node tape, no-grad mode, detach,
 * arena reuse across steps, gradient buffers handed on instead of copied, and errors
 * that leave the tape poisoned, not crashed. */
#include <string.h>

#include "graph/tape.h"
#include "ops/fused.h"
#include "ops/ops.h"
#include "test.h"

static tg_tensor *param(double v)
{
    tg_error err = {0};
    tg_tensor *p = tg_tensor_new(TG_F64, 0, NULL, 1, &err);
    tg_tensor_set(p, 0, v);
    return p;
}

static void test_abc(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    tg_tensor *a = param(2), *b = param(-3), *c = param(5);
    tg_tensor *y = tg_add(t, tg_mul(t, a, b), c); /* y = a*b + c = -1 */
    CHECK_NEAR(tg_tensor_get(y, 0), -1, 0);
    CHECK(tg_tape_backward(t, y) == TG_OK);
    CHECK_NEAR(tg_tensor_grad_get(a, 0), -3, 0); /* dy/da = b */
    CHECK_NEAR(tg_tensor_grad_get(b, 0), 2, 0);  /* dy/db = a */
    CHECK_NEAR(tg_tensor_grad_get(c, 0), 1, 0);
    CHECK(t->n_nodes == 2);
    tg_tape_free(t);
    tg_tensor_free(a), tg_tensor_free(b), tg_tensor_free(c);
}

static void test_used_twice(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    tg_tensor *x = param(3);
    tg_tensor *h = tg_tanh(t, x);             /* an activation feeding two ops */
    tg_tensor *y = tg_add(t, tg_mul(t, h, h), tg_mul(t, x, x)); /* h^2 + x^2 */
    CHECK(tg_tape_backward(t, y) == TG_OK);
    double th = tanh(3.0);
    CHECK_NEAR(tg_tensor_grad_get(x, 0), 2 * th * (1 - th * th) + 2 * 3, 1e-12);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* h_t = w * h_{t-1} + 1, h_0 = 0: dh_T/dw = sum_t t-th term; checked against the
 * closed form d/dw sum_{k<T} w^k = sum_{k<T} k w^(k-1). */
static void test_shared_weight(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    tg_tensor *w = param(0.999);
    tg_tensor *h = tg_tape_scalar(t, 0), *one = tg_tape_scalar(t, 1);
    const int T = 1000;
    for (int s = 0; s < T; s++) h = tg_add(t, tg_mul(t, w, h), one);
    CHECK(tg_tape_backward(t, h) == TG_OK);
    double expect = 0;
    for (int k = 1; k < T; k++) expect += k * pow(0.999, k - 1);
    CHECK_NEAR(tg_tensor_grad_get(w, 0), expect, 1e-9 * expect);
    tg_tape_free(t);
    tg_tensor_free(w);
}

/* A chain of 10^6 nodes: backward is a loop, not a recursion. */
static void test_long_tape(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F32, &err);
    tg_tensor *x = tg_tensor_new(TG_F32, 1, (int[]){1}, 1, &err);
    tg_tensor_set(x, 0, 0.5);
    tg_tensor *y = x;
    for (int i = 0; i < 1000000; i++) y = tg_scale(t, y, 1.0);
    CHECK(t->n_nodes == 1000000);
    CHECK(tg_tape_backward(t, y) == TG_OK);
    CHECK_NEAR(tg_tensor_grad_get(x, 0), 1.0, 0);
    tg_tape_free(t);
    tg_tensor_free(x);
}

static void test_no_grad_and_detach(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    tg_tensor *x = param(2);
    tg_tape_no_grad_begin(t);
    tg_tensor *y = tg_mul(t, x, x);
    tg_tape_no_grad_end(t);
    CHECK(t->n_nodes == 0 && !y->requires_grad);
    CHECK_NEAR(tg_tensor_get(y, 0), 4, 0);
    /* z = x * detach(x): the gradient flows through one factor only */
    tg_tensor *z = tg_mul(t, x, tg_tape_detach(t, x));
    CHECK(tg_tape_backward(t, z) == TG_OK);
    CHECK_NEAR(tg_tensor_grad_get(x, 0), 2, 0);
    tg_tape_free(t);
    tg_tensor_free(x);
}

static void test_arena_reuse(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F32, &err);
    tg_tensor *w = tg_tensor_new(TG_F32, 2, (int[]){64, 64}, 1, &err);
    size_t reserved = 0;
    for (int step = 0; step < 5; step++) {
        tg_tensor *x = tg_tape_zeros(t, TG_F32, 2, (int[]){32, 64});
        tg_tensor *y = x;
        for (int i = 0; i < 20; i++) y = tg_tanh(t, tg_matmul(t, y, w, 0, 0));
        CHECK(tg_tape_backward(t, tg_sum(t, y, TG_AXIS_ALL)) == TG_OK);
        if (step == 1) reserved = t->arena.reserved;
        if (step > 1) CHECK(t->arena.reserved == reserved); /* no new chunk after step 1 */
        tg_tape_reset(t);
    }
    tg_tape_free(t);
    tg_tensor_free(w);
}

static void test_errors_poison(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F32, &err);
    tg_tensor *a = tg_tape_zeros(t, TG_F32, 2, (int[]){32, 256});
    tg_tensor *b = tg_tape_zeros(t, TG_F32, 2, (int[]){128, 1024});
    tg_tensor *y = tg_tanh(t, tg_matmul(t, a, b, 0, 0));
    CHECK(y == NULL);
    CHECK(tg_tape_status(t) == TG_ERR_SHAPE);
    CHECK(strcmp(tg_tape_error(t)->msg,
                 "matmul: [32,256] @ [128,1024]: inner dimensions 256 and 128 differ") == 0);
    CHECK(tg_tape_backward(t, y) == TG_ERR_SHAPE); /* first error wins */
    tg_tape_reset(t);
    CHECK(tg_tape_status(t) == TG_OK);
    tg_tape_free(t);
}

/* A product's residual and a reshape hand their output's gradient buffer on (with
 * recycling) instead of copying it: the same gradients as without, and not when the
 * residual is also the product's left input (h + h @ W^T) */
static double handed_case(int recycle, int same, double *grads, int64_t *handed)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    t->recycle_grads = recycle;
    tg_tensor *x = tg_tensor_new(TG_F64, 2, (int[]){4, 5}, 1, &err);
    tg_tensor *w = tg_tensor_new(TG_F64, 2, (int[]){5, 5}, 1, &err);
    tg_tensor *b = tg_tensor_new(TG_F64, 1, (int[]){5}, 1, &err);
    for (int i = 0; i < 20; i++) tg_tensor_set(x, i, 0.1 * (i % 7) - 0.3);
    for (int i = 0; i < 25; i++) tg_tensor_set(w, i, 0.05 * (i % 9) - 0.2);
    for (int i = 0; i < 5; i++) tg_tensor_set(b, i, 0.1 * i);
    tg_tensor *h = tg_tanh(t, x);
    tg_tensor *r = tg_reshape(t, tg_reshape(t, tg_sigmoid(t, x), 1, (int[]){20}), 2, (int[]){4, 5});
    tg_tensor *res = same ? h : r, *sr = tg_sum(t, r, TG_AXIS_ALL); /* r's other use */
    tg_tensor *y = tg_op_apply(t, TG_OP_MATMUL, 4, (tg_tensor *[]){h, w, b, res},
                               &(tg_attrs){.i = {0, 1, 1}});
    tg_tensor *loss = tg_add(t, tg_sum(t, tg_mul(t, y, y), TG_AXIS_ALL), sr);
    CHECK(tg_tape_backward(t, loss) == TG_OK);
    for (int i = 0; i < 20; i++) grads[i] = tg_tensor_grad_get(x, i);
    for (int i = 0; i < 25; i++) grads[20 + i] = tg_tensor_grad_get(w, i);
    for (int i = 0; i < 5; i++) grads[45 + i] = tg_tensor_grad_get(b, i);
    *handed = t->n_handed;
    double l = tg_tensor_get(loss, 0);
    tg_tape_free(t);
    tg_tensor_free(x), tg_tensor_free(w), tg_tensor_free(b);
    return l;
}

static void test_hand_over(void)
{
    for (int same = 0; same < 2; same++) {
        double g0[50], g1[50];
        int64_t n0, n1;
        double l0 = handed_case(0, same, g0, &n0), l1 = handed_case(1, same, g1, &n1);
        CHECK_NEAR(l1, l0, 0);
        for (int i = 0; i < 50; i++) CHECK_NEAR(g1[i], g0[i], 1e-14);
        CHECK(n0 == 0);
        /* the residual r (its other use, recorded earlier, adds later), then both
         * reshapes; not the residual of h + h @ W^T */
        CHECK(n1 == (same ? 2 : 3));
    }
}

/* In place: a fused chain, a layer norm and gelu compute their input's gradient in
 * their output gradient's buffer (with recycling), with the same results */
static double in_place_case(int recycle, double *grads, int64_t *handed)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    t->recycle_grads = recycle;
    tg_tensor *x = tg_tensor_new(TG_F64, 2, (int[]){3, 8}, 1, &err);
    tg_tensor *gm = tg_tensor_new(TG_F64, 1, (int[]){8}, 1, &err);
    tg_tensor *bt = tg_tensor_new(TG_F64, 1, (int[]){8}, 1, &err);
    for (int i = 0; i < 24; i++) tg_tensor_set(x, i, 0.13 * (i % 11) - 0.6);
    for (int i = 0; i < 8; i++) tg_tensor_set(gm, i, 1 + 0.1 * i), tg_tensor_set(bt, i, 0.05 * i);
    /* fused: y = tanh(a) * b + a, on a = 2x and b = x * x (two full inputs) */
    tg_fused_code code = {.n_in = 2, .n_ins = 3, .ins = {{TG_FU_TANH, 0, 0, 0}, {TG_FU_MUL, 2, 1, 0}, {TG_FU_ADD, 3, 0, 0}}};
    tg_tensor *a = tg_scale(t, x, 2), *b = tg_mul(t, x, x);
    tg_tensor *f = tg_fused(t, &code, 2, (tg_tensor *[]){a, b});
    tg_tensor *z = tg_gelu(t, tg_layernorm(t, f, gm, bt, 1e-5));
    tg_tensor *loss = tg_sum(t, tg_mul(t, z, z), TG_AXIS_ALL);
    CHECK(tg_tape_backward(t, loss) == TG_OK);
    for (int i = 0; i < 24; i++) grads[i] = tg_tensor_grad_get(x, i);
    for (int i = 0; i < 8; i++) grads[24 + i] = tg_tensor_grad_get(gm, i), grads[32 + i] = tg_tensor_grad_get(bt, i);
    *handed = t->n_handed;
    double l = tg_tensor_get(loss, 0);
    tg_tape_free(t);
    tg_tensor_free(x), tg_tensor_free(gm), tg_tensor_free(bt);
    return l;
}

static void test_in_place(void)
{
    double g0[40], g1[40];
    int64_t n0, n1;
    double l0 = in_place_case(0, g0, &n0), l1 = in_place_case(1, g1, &n1);
    CHECK_NEAR(l1, l0, 0);
    for (int i = 0; i < 40; i++) CHECK_NEAR(g1[i], g0[i], 1e-13);
    CHECK(n0 == 0 && n1 == 3); /* gelu's, the layer norm's and the fused op's input a */
}

/* tg_tape.profile counts each kernel once per call, forward and backward, by op; a
 * step run without it adds nothing */
static void test_profile(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    tg_profile prof = {0};
    tg_tensor *a = param(2), *b = param(-3), *c = param(5);
    t->profile = &prof;
    for (int step = 0; step < 3; step++) {
        if (step == 2) t->profile = NULL;
        tg_tensor *y = tg_tanh(t, tg_add(t, tg_mul(t, a, b), c)); /* two steps: profiled */
        CHECK(tg_tape_backward(t, y) == TG_OK);
        tg_tape_reset(t);
    }
    CHECK(prof.fwd_n[TG_OP_MUL] == 2 && prof.fwd_n[TG_OP_ADD] == 2 && prof.fwd_n[TG_OP_TANH] == 2);
    CHECK(prof.bwd_n[TG_OP_MUL] == 2 && prof.bwd_n[TG_OP_ADD] == 2 && prof.bwd_n[TG_OP_TANH] == 2);
    int64_t others = 0;
    for (int i = 0; i < TG_PROFILE_SLOTS; i++) {
        CHECK(prof.fwd_s[i] >= 0 && prof.bwd_s[i] >= 0);
        if (i != TG_OP_MUL && i != TG_OP_ADD && i != TG_OP_TANH) others += prof.fwd_n[i] + prof.bwd_n[i];
    }
    CHECK(others == 0);
    tg_tape_free(t);
    tg_tensor_free(a), tg_tensor_free(b), tg_tensor_free(c);
}

int main(void)
{
    test_profile();
    test_hand_over();
    test_in_place();
    test_abc();
    test_used_twice();
    test_shared_weight();
    test_long_tape();
    test_no_grad_and_detach();
    test_arena_reuse();
    test_errors_poison();
    return tg_test_end();
}
