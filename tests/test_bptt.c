/* test_bptt.c: backpropagation through time is generic backprop over the unrolled tape.
 * 1. A scalar linear cell h_t = w h_{t-1} + u x_t (tests/cells/linear.yaml), T steps,
 *    L = h_T: the tape's gradients equal the closed forms
 *      dL/du = sum_t x_t w^(T-t),  dL/dw = sum_t u x_t (T-t) w^(T-t-1).
 * 2. Detaching the state after step k: inputs before the boundary get exactly zero
 *    gradient, dL/du keeps only the last window's terms.
 * 3. The model's truncated-BPTT window (tg_model_run.bptt): with the loss on the last
 *    step, embedding rows used only before the window get no gradient. */
#include <string.h>

#include "models/model.h"
#include "ops/ops.h"
#include "test.h"

#define T 20

static tg_tensor *unroll(tg_cell *c, tg_tape *t, tg_tensor **x, int detach_after, tg_tensor **slots)
{
    tg_error err = {0};
    tg_tensor *h = NULL, *next;
    for (int s = 1; s <= T; s++) {
        if (s == detach_after + 1) h = tg_tape_detach(t, h);
        tg_cell_run(c, t, slots, x[s], &h, &next, 1, 1, NULL, NULL, &err);
        h = next;
    }
    CHECK(err.code == TG_OK);
    return h;
}

static void test_closed_form(void)
{
    tg_error err = {0};
    tg_cell c;
    CHECK(tg_cell_load(&c, "cells/linear.yaml", NULL, TG_F64, 1, &err) == TG_OK);
    double w = 0.9, u = 0.5, xs[T + 1];
    tg_tensor *x[T + 1];
    for (int s = 1; s <= T; s++) {
        xs[s] = 0.1 * s - 1;
        x[s] = tg_tensor_new(TG_F64, 2, (int[]){1, 1}, 1, &err);
        tg_tensor_set(x[s], 0, xs[s]);
    }
    static tg_tensor *slots[1024];
    tg_tape *t = tg_tape_new(TG_F64, &err);
    for (int cut = 0; cut <= 10; cut += 10) { /* cut 0: full BPTT; 10: detached after step 10 */
        tg_tensor *W = c.params[0].t, *U = c.params[1].t;
        tg_tensor_zero_grad(W), tg_tensor_zero_grad(U);
        for (int s = 1; s <= T; s++) tg_tensor_zero_grad(x[s]);
        tg_tensor *h = unroll(&c, t, x, cut ? cut : -1, slots);
        CHECK(tg_tape_backward(t, h) == TG_OK);
        double du = 0, dw = 0, h_cut = 0;
        for (int s = 1; s <= T; s++) {
            if (s <= cut) h_cut = w * h_cut + u * xs[s];
            if (s <= cut) continue;
            du += xs[s] * pow(w, T - s);
            dw += u * xs[s] * (T - s) * pow(w, T - s - 1);
        }
        if (cut) dw += (T - cut) * pow(w, T - cut - 1) * h_cut; /* w^(T-cut) h_cut */
        CHECK_NEAR(tg_tensor_grad_get(U, 0), du, 1e-12);
        CHECK_NEAR(tg_tensor_grad_get(W, 0), dw, 1e-12);
        for (int s = 1; s <= T; s++) {
            double expect = s <= cut ? 0 : u * pow(w, T - s);
            CHECK_NEAR(tg_tensor_grad_get(x[s], 0), expect, 1e-12);
            if (s <= cut) CHECK(tg_tensor_grad_get(x[s], 0) == 0); /* exactly zero */
        }
        tg_tape_reset(t);
    }
    tg_tape_free(t);
    for (int s = 1; s <= T; s++) tg_tensor_free(x[s]);
    tg_cell_free(&c);
}

/* tokens 0..4 only in the first half, 5..9 only in the second; loss on the last step */
static void test_model_window(void)
{
    tg_error err = {0};
    tg_model m;
    CHECK(tg_model_load(&m, "configs/linear_dense.yaml", NULL, 0, TG_F64, 3, &err) == TG_OK);
    if (err.code) fprintf(stderr, "%s\n", err.msg);
    int32_t tok[12], tgt[12] = {0};
    for (int s = 0; s < 12; s++) tok[s] = s < 6 ? s % 5 : 5 + s % 5;
    tg_batch b = {1, 12, tok, NULL, tgt, NULL, NULL};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    for (int window = 0; window <= 6; window += 6) {
        tg_tensor_zero_grad(m.embedding);
        tg_model_run run = {.bptt = window};
        tg_tensor *loss = tg_model_loss(&m, t, &b, &run, &err);
        CHECK(loss && tg_tape_backward(t, loss) == TG_OK);
        double early = 0, late = 0;
        for (int v = 0; v < 10; v++)
            for (int k = 0; k < 3; k++) {
                double g = fabs(tg_tensor_grad_get(m.embedding, v * 3 + k));
                if (v < 5) early += g; else late += g;
            }
        CHECK(late > 0);
        if (window) CHECK(early == 0); /* nothing flows through the boundary */
        else CHECK(early > 0);
        tg_tape_reset(t);
    }
    tg_tape_free(t);
    tg_model_free(&m);
}

int main(void)
{
    test_closed_form();
    test_model_window();
    return tg_test_end();
}
