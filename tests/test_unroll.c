/* test_unroll.c: unrolling a model over batches.
 * 1. Carried state: two batches of 5 steps, the second starting from the first's final
 *    state, give the losses of one 10-step batch (cross-entropy on every step).
 * 2. Padding: in a batch of two sequences, one padded from 3 to 8 steps, the loss and
 *    the final state are those of the sequences run alone, and the padded positions'
 *    tokens change neither the loss nor any gradient. */
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "ops/ops.h"
#include "test.h"

static tg_model m;
static tg_tape *tape;

static double loss_of(const tg_batch *b, tg_tensor **carry_in, tg_tensor **carry_out)
{
    tg_error err = {0};
    tg_model_run run = {.carry_in = carry_in, .carry_out = carry_out};
    tg_tensor *l = tg_model_loss(&m, tape, b, &run, &err);
    if (!l) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(l != NULL);
        return NAN;
    }
    return tg_tensor_get(l, 0);
}

static void test_carry(void)
{
    int32_t tok[10], tgt[10];
    for (int s = 0; s < 10; s++) tok[s] = (s * 7 + 3) % 65, tgt[s] = (s * 5 + 1) % 65;
    tg_batch whole = {1, 10, tok, NULL, tgt, NULL, NULL};
    double L = loss_of(&whole, NULL, NULL);
    tg_tape_reset(tape);

    tg_tensor *carry[4] = {0}, *persist[4] = {0};
    tg_batch first = {1, 5, tok, NULL, tgt, NULL, NULL}, second = {1, 5, tok + 5, NULL, tgt + 5, NULL, NULL};
    double L1 = loss_of(&first, NULL, carry);
    tg_error err = {0};
    for (int k = 0; k < m.n_state; k++) { /* what a trainer does between batches */
        persist[k] = tg_tensor_new(TG_F64, carry[k]->ndim, carry[k]->shape, 0, &err);
        memcpy(persist[k]->data, carry[k]->data, sizeof(double) * (size_t)carry[k]->numel);
    }
    tg_tape_reset(tape);
    double L2 = loss_of(&second, persist, NULL);
    tg_tape_reset(tape);
    CHECK_NEAR((L1 + L2) / 2, L, 1e-12);
    for (int k = 0; k < m.n_state; k++) tg_tensor_free(persist[k]);
}

static void test_padding(void)
{
    enum { TT = 8 };
    int32_t tok[2 * TT], tgt[2 * TT];
    double mask[2 * TT];
    for (int s = 0; s < TT; s++) {
        tok[s] = (s * 11 + 2) % 65, tgt[s] = (s * 3 + 4) % 65, mask[s] = 1;
        tok[TT + s] = (s * 13 + 5) % 65, tgt[TT + s] = (s * 17 + 6) % 65, mask[TT + s] = s < 3;
    }
    tg_tensor *carry[4] = {0};
    tg_batch both = {2, TT, tok, NULL, tgt, NULL, mask};
    double L = loss_of(&both, NULL, carry);
    double hb = tg_tensor_get(carry[0], carry[0]->numel / 2); /* sequence 1's final h[0] */
    tg_tensor_zero_grad(m.params[1].t);
    CHECK(tg_tape_backward(tape, tg_model_loss(&m, tape, &both, &(tg_model_run){0}, &(tg_error){0})) == TG_OK);
    int64_t ng = m.params[1].t->numel;
    double *g1 = malloc(sizeof *g1 * (size_t)ng);
    for (int64_t i = 0; i < ng; i++) g1[i] = tg_tensor_grad_get(m.params[1].t, i);
    tg_tape_reset(tape);

    tg_batch a = {1, TT, tok, NULL, tgt, NULL, NULL}, b = {1, 3, tok + TT, NULL, tgt + TT, NULL, NULL};
    double La = loss_of(&a, NULL, NULL);
    tg_tape_reset(tape);
    double Lb = loss_of(&b, NULL, carry);
    CHECK_NEAR(tg_tensor_get(carry[0], 0), hb, 1e-12); /* padding left the state alone */
    tg_tape_reset(tape);
    CHECK_NEAR(L, (TT * La + 3 * Lb) / (TT + 3), 1e-12);

    for (int s = 3; s < TT; s++) tok[TT + s] = (tok[TT + s] + 31) % 65, tgt[TT + s] = 64 - tgt[TT + s];
    tg_tensor_zero_grad(m.params[1].t);
    CHECK_NEAR(loss_of(&both, NULL, NULL), L, 0);
    tg_tape_reset(tape);
    CHECK(tg_tape_backward(tape, tg_model_loss(&m, tape, &both, &(tg_model_run){0}, &(tg_error){0})) == TG_OK);
    double md = 0;
    for (int64_t i = 0; i < ng; i++) md = fmax(md, fabs(tg_tensor_grad_get(m.params[1].t, i) - g1[i]));
    CHECK(md == 0);
    tg_tape_reset(tape);
    free(g1);
}

int main(void)
{
    tg_error err = {0};
    const char *sets[] = {"model.input.dim=6", "model.layers.0.hidden=5", "model.input.vocab=65"};
    if (tg_model_load(&m, "../configs/lstm.yaml", sets, 3, TG_F64, 5, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    tape = tg_tape_new(TG_F64, &err);
    test_carry();
    test_padding();
    tg_tape_free(tape);
    tg_model_free(&m);
    return tg_test_end();
}
