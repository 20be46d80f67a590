/* fuzz_cell.c: the input as a cell or block file (tg_cell_load: hyper-parameters,
 * sizes, parameters, initializers, the equation language, shape inference). A cell
 * that loads and is small runs once on a tape, forward and backward. Parameters are
 * capped at 64 MiB (tg_set_memory_limit). */
#include <string.h>

#include "models/cell.h"
#include "ops/ops.h"
#include "tests/fuzz/fuzz.h"

static void run(tg_cell *c)
{
    enum { B = 2, T = 3 };
    if (c->input_size > 256 || c->output_size > 256) return;
    for (int s = 0; s < c->n_state; s++)
        if (c->state_size[s] > 256) return;
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F32, &err);
    if (!t) fuzz_fail("tg_tape_new: %s", err.msg);
    tg_tensor *slots[1024], *next[TG_CELL_MAX];
    if (c->prog.n_slots > 1024) fuzz_fail("%d slots", c->prog.n_slots);
    tg_tensor *x = c->is_block ? tg_tape_zeros(t, TG_F32, 3, (int[]){B, T, c->input_size})
                               : tg_tape_zeros(t, TG_F32, 2, (int[]){B, c->input_size});
    for (int64_t i = 0; x && i < x->numel; i++) tg_tensor_set(x, i, (i % 7) * 0.25 - 0.75);
    tg_tensor *cm = tg_causal_mask(t, T);
    tg_tensor *pm = tg_tape_zeros(t, TG_F32, 4, (int[]){B, 1, 1, T});
    c->prog.training = 1;
    tg_tensor *y = tg_cell_run(c, t, slots, x, NULL, next, B, c->is_block ? T : 1, cm, pm, &err);
    if (y) {
        tg_tensor *l = tg_mean(t, y, TG_AXIS_ALL);
        if (l) tg_tape_backward(t, l);
    } else if (!err.code) {
        fuzz_fail("tg_cell_run failed without an error");
    }
    tg_tape_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_set_memory_limit(64 << 20);
    if (size > 100000) return 0;
    const char *path = fuzz_file("cell.yaml", data, size);
    tg_cell c;
    tg_error err = {0};
    if (tg_cell_load(&c, path, NULL, TG_F32, 1, &err) == TG_OK) {
        if (c.output_size < 1) fuzz_fail("a loaded cell with output size %d", c.output_size);
        run(&c);
        tg_cell_free(&c);
    } else if (!err.code || !err.msg[0]) {
        fuzz_fail("tg_cell_load failed without a message");
    }
    return 0;
}
