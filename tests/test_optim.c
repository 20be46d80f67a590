/* test_optim.c: each optimizer's update against a hand-computed one (p = [1, -2],
 * g = [0.5, -1], lr 0.1), clipping by value and by norm, weight decay, and the
 * learning-rate schedules. */
#include "models/optim.h"
#include "test.h"

static tg_tensor *p;

/* Runs `steps` updates with the same gradient; returns the parameter. */
static void run(tg_optim_config c, int steps, double e0, double e1, const char *what)
{
    tg_error err = {0};
    tg_tensor_set(p, 0, 1), tg_tensor_set(p, 1, -2);
    tg_optim o;
    CHECK(tg_optim_init(&o, &c, &p, 1, &err) == TG_OK);
    for (int s = 0; s < steps; s++) {
        ((double *)p->grad)[0] = 0.5, ((double *)p->grad)[1] = -1;
        tg_optim_step(&o, s);
        CHECK(tg_tensor_grad_get(p, 0) == 0); /* gradients zeroed */
    }
    if (fabs(tg_tensor_get(p, 0) - e0) > 1e-12 || fabs(tg_tensor_get(p, 1) - e1) > 1e-12)
        fprintf(stderr, "%s: got [%.12g, %.12g], expected [%.12g, %.12g]\n", what,
                tg_tensor_get(p, 0), tg_tensor_get(p, 1), e0, e1);
    CHECK_NEAR(tg_tensor_get(p, 0), e0, 1e-12);
    CHECK_NEAR(tg_tensor_get(p, 1), e1, 1e-12);
    tg_optim_free(&o);
}

int main(void)
{
    tg_error err = {0};
    p = tg_tensor_new(TG_F64, 1, (int[]){2}, 1, &err);
    tg_optim_config c;
    tg_optim_defaults(&c);
    c.lr = 0.1;
    c.kind = TG_OPT_SGD;
    run(c, 1, 0.95, -1.9, "sgd");
    c.momentum = 0.9; /* v1 = g, v2 = 0.9 g + g */
    run(c, 2, 1 - 0.05 - 0.095, -2 + 0.1 + 0.19, "momentum");
    c.nesterov = 1; /* p -= lr (g + 0.9 v), v = g */
    run(c, 1, 1 - 0.1 * 0.95, -2 + 0.1 * 1.9, "nesterov");
    c.momentum = 0, c.nesterov = 0, c.weight_decay = 0.1; /* g + 0.1 p */
    run(c, 1, 1 - 0.1 * 0.6, -2 + 0.1 * 1.2, "sgd weight decay");
    c.weight_decay = 0, c.clip_value = 0.6; /* g = [0.5, -0.6] */
    run(c, 1, 0.95, -1.94, "clip value");
    c.clip_value = 0, c.clip_norm = 0.5; /* g * 0.5 / (sqrt(1.25) + 1e-6) */
    double k = 0.5 / (sqrt(1.25) + 1e-6);
    run(c, 1, 1 - 0.1 * 0.5 * k, -2 + 0.1 * k, "clip norm");
    c.clip_norm = 0;
    c.kind = TG_OPT_ADAGRAD, c.eps = 1e-10; /* s = g^2 */
    run(c, 1, 1 - 0.1 * 0.5 / (0.5 + 1e-10), -2 + 0.1 / (1 + 1e-10), "adagrad");
    c.kind = TG_OPT_RMSPROP, c.eps = 1e-8; /* s = 0.01 g^2, sqrt(s) = 0.1 |g| */
    run(c, 1, 1 - 0.1 * 0.5 / (0.05 + 1e-8), -2 + 0.1 / (0.1 + 1e-8), "rmsprop");
    c.kind = TG_OPT_ADAM; /* bias-corrected m = g, v = g^2 */
    run(c, 1, 1 - 0.1 * 0.5 / (0.5 + 1e-8), -2 + 0.1 / (1 + 1e-8), "adam");
    /* two steps: m1 = .1g, m2 = .19g, v1 = .001g^2, v2 = .001999g^2; corrections 0.19, 0.001999 */
    run(c, 2, 1 - 0.1 * 0.5 / (0.5 + 1e-8) - 0.1 * 0.5 / (0.5 + 1e-8),
        -2 + 0.1 / (1 + 1e-8) + 0.1 / (1 + 1e-8), "adam 2 steps");
    c.kind = TG_OPT_ADAMW, c.weight_decay = 0.1; /* p (1 - lr wd) first */
    run(c, 1, 0.99 - 0.1 * 0.5 / (0.5 + 1e-8), -1.98 + 0.1 / (1 + 1e-8), "adamw");

    /* schedules */
    tg_optim_defaults(&c);
    c.lr = 1, c.schedule = TG_LR_STEP, c.step_size = 10, c.gamma = 0.5;
    CHECK_NEAR(tg_optim_lr(&c, 9), 1, 0);
    CHECK_NEAR(tg_optim_lr(&c, 10), 0.5, 0);
    CHECK_NEAR(tg_optim_lr(&c, 25), 0.25, 0);
    c.schedule = TG_LR_COSINE, c.warmup = 10, c.steps = 110, c.min_lr = 0.1;
    CHECK_NEAR(tg_optim_lr(&c, 0), 0.1, 1e-15);
    CHECK_NEAR(tg_optim_lr(&c, 9), 1, 1e-15);
    CHECK_NEAR(tg_optim_lr(&c, 10), 1, 1e-15);
    CHECK_NEAR(tg_optim_lr(&c, 60), 0.55, 1e-12);
    CHECK_NEAR(tg_optim_lr(&c, 110), 0.1, 1e-12);
    CHECK_NEAR(tg_optim_lr(&c, 500), 0.1, 1e-12);

    /* bad settings */
    tg_optim o;
    c.lr = 0;
    CHECK(tg_optim_init(&o, &c, &p, 1, &err) == TG_ERR_INVALID);
    tg_tensor_free(p);
    return tg_test_end();
}
