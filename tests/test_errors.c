/* test_errors.c: bad input to ops gives a status and a message naming the op and the
 * shapes or dtypes; nothing aborts, nothing prints, and the tape stays usable after a
 * reset. Also the out-of-memory path, through the allocation-failure hook. */
#include <string.h>

#include "graph/alloc.h"
#include "graph/tape.h"
#include "ops/ops.h"
#include "test.h"

static tg_tape *tape;

/* Runs one failing expression; checks status and exact message; resets. */
static void expect(tg_tensor *y, tg_status code, const char *msg)
{
    CHECK(y == NULL);
    CHECK(tg_tape_status(tape) == code);
    if (strcmp(tg_tape_error(tape)->msg, msg) != 0) {
        fprintf(stderr, "got:      %s\nexpected: %s\n", tg_tape_error(tape)->msg, msg);
        CHECK(!"message");
    }
    tg_tape_reset(tape);
}

static tg_tensor *z(int ndim, const int *shape) { return tg_tape_zeros(tape, TG_F32, ndim, shape); }

int main(void)
{
    tg_error err = {0};
    tape = tg_tape_new(TG_F32, &err);
    expect(tg_matmul(tape, z(2, (int[]){32, 256}), z(2, (int[]){128, 1024}), 0, 0), TG_ERR_SHAPE,
           "matmul: [32,256] @ [128,1024]: inner dimensions 256 and 128 differ");
    expect(tg_matmul(tape, z(2, (int[]){4, 3}), z(2, (int[]){3, 4}), 0, 1), TG_ERR_SHAPE,
           "matmul: [4,3] @ [3,4]^T: inner dimensions 3 and 4 differ");
    expect(tg_bmm(tape, z(3, (int[]){2, 3, 4}), z(3, (int[]){3, 4, 5}), 0, 0), TG_ERR_SHAPE,
           "bmm: [2,3,4] @ [3,4,5]: needs 3-D or 4-D operands with equal leading dims");
    expect(tg_add(tape, z(2, (int[]){3, 4}), z(1, (int[]){3})), TG_ERR_SHAPE,
           "add: [3,4] + [3]: shapes do not broadcast");
    expect(tg_mul(tape, z(2, (int[]){3, 4}), tg_tape_zeros(tape, TG_F64, 1, (int[]){4})),
           TG_ERR_DTYPE, "mul: inputs mix f32 and f64");
    expect(tg_tanh(tape, tg_tape_zeros(tape, TG_I32, 1, (int[]){4})), TG_ERR_DTYPE,
           "tanh: input 1 must be real-valued, not i32");
    expect(tg_tanh(tape, NULL), TG_ERR_INVALID, "tanh: input 1 is NULL");

    /* an error poisons the rest of the expression: later ops add nothing */
    tg_tensor *bad = tg_div(tape, z(1, (int[]){3}), z(1, (int[]){4}));
    expect(tg_exp(tape, tg_sigmoid(tape, bad)), TG_ERR_SHAPE,
           "div: [3] / [4]: shapes do not broadcast");

    /* out of memory: a status, no crash */
    tg_tape_reset(tape);
    tg_tape_free(tape);
    tape = tg_tape_new(TG_F32, &err);
    tg_alloc_fail_after(0);
    tg_tensor *x = z(2, (int[]){1000, 1000});
    tg_alloc_fail_after(-1);
    CHECK(x == NULL && tg_tape_status(tape) == TG_ERR_NOMEM);
    tg_tape_reset(tape);
    tg_alloc_fail_after(0);
    tg_tensor *p = tg_tensor_new(TG_F32, 1, (int[]){10}, 1, &err);
    tg_alloc_fail_after(-1);
    CHECK(p == NULL && err.code == TG_ERR_NOMEM);
    tg_error_clear(&err);
    CHECK(tg_tensor_new(TG_F32, 2, (int[]){3, 0}, 0, &err) == NULL && err.code == TG_ERR_SHAPE);
    tg_tape_free(tape);
    return tg_test_end();
}
