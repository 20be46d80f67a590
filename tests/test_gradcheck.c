/* test_gradcheck.c: the checker itself. It passes a right gradient, fails a wrong one
 * (a detach hides half of d(x*x)/dx from the tape), samples at most max_elems per
 * tensor, restores the parameters bit for bit, and refuses an f32 tape. */
#include <stdlib.h>
#include <string.h>

#include "graph/gradcheck.h"
#include "graph/rng.h"
#include "ops/ops.h"
#include "test.h"

typedef struct { tg_tensor *x; int broken; } ctx;

static tg_tensor *loss(tg_tape *t, void *p)
{
    ctx *c = p;
    tg_tensor *other = c->broken ? tg_tape_detach(t, c->x) : c->x;
    return tg_sum(t, tg_mul(t, c->x, other), TG_AXIS_ALL);
}

int main(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    tg_tensor *x = tg_tensor_new(TG_F64, 2, (int[]){10, 30}, 1, &err);
    tg_rng r = {42};
    for (int i = 0; i < 300; i++) tg_tensor_set(x, i, tg_rng_uniform(&r) + 0.5);
    double *copy = malloc(300 * sizeof *copy);
    memcpy(copy, x->data, 300 * sizeof *copy);

    ctx c = {x, 0};
    tg_gradcheck_opts o;
    tg_gradcheck_defaults(&o);
    tg_gradcheck_result res;
    CHECK(tg_gradcheck(t, loss, &c, &x, 1, &o, &res, &err) == TG_OK);
    CHECK(res.pass && res.checked == 300 && res.failed == 0);
    CHECK(memcmp(copy, x->data, 300 * sizeof *copy) == 0);

    o.max_elems = 25;
    CHECK(tg_gradcheck(t, loss, &c, &x, 1, &o, &res, &err) == TG_OK);
    CHECK(res.pass && res.checked == 25);

    c.broken = 1; /* tape says x, the truth is 2x: every element fails */
    o.max_elems = 0;
    CHECK(tg_gradcheck(t, loss, &c, &x, 1, &o, &res, &err) == TG_OK);
    CHECK(!res.pass && res.failed == 300);
    CHECK_NEAR(res.numeric, 2 * res.analytic, 1e-6);
    CHECK_NEAR(res.rel_err, 0.5, 1e-6);
    CHECK(res.worst >= 0 && res.worst < 300);

    tg_tape *t32 = tg_tape_new(TG_F32, &err);
    CHECK(tg_gradcheck(t32, loss, &c, &x, 1, &o, &res, &err) == TG_ERR_DTYPE);
    tg_tape_free(t32);
    tg_tape_free(t);
    tg_tensor_free(x);
    free(copy);
    return tg_test_end();
}
