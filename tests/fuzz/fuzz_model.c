/* fuzz_model.c: the input as a model config. First as a YAML tree: it must write out
 * (tg_cfg_emit) and load back to the same tree. Then as a model (tg_model_load, with
 * the equations of any cell or block it names); a model that loads runs a forward and
 * backward pass on a batch of 2 x 3 when it is small. Parameters are capped at 64 MiB
 * (tg_set_memory_limit), as a user's machine caps them at its memory. Last, its `data:`
 * section (synthetic tasks, inline sequences; text files by name) gives a few batches. */
#include <stdlib.h>
#include <string.h>

#include "graph/alloc.h"
#include "models/data.h"
#include "models/model.h"
#include "tests/fuzz/fuzz.h"

static int same(const tg_cfg_node *a, const tg_cfg_node *b)
{
    if (!a || !b) return a == b;
    if (a->kind != b->kind || a->n != b->n) return 0;
    if (a->kind == TG_CFG_SCALAR) return !strcmp(a->value, b->value);
    for (int i = 0; i < a->n; i++)
        if ((a->kind == TG_CFG_MAP && strcmp(a->keys[i], b->keys[i])) || !same(a->items[i], b->items[i])) return 0;
    return 1;
}

static void round_trip(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    tg_cfg c, back;
    tg_error err = {0};
    if (tg_cfg_load_string(&c, "in.yaml", text, &err) == TG_OK) {
        char *out = tg_cfg_emit(&c);
        if (!out) fuzz_fail("tg_cfg_emit failed on a loaded config");
        tg_error e2 = {0};
        if (tg_cfg_load_string(&back, "out.yaml", out, &e2)) fuzz_fail("the emitted config does not load: %s", e2.msg);
        if (!same(c.root, back.root)) fuzz_fail("the emitted config loads to another tree:\n%s", out);
        tg_cfg_free(&back);
        tg_free(out);
        tg_cfg_free(&c);
    } else if (!err.code || !err.msg[0]) {
        fuzz_fail("tg_cfg_load_string failed without a message");
    }
    free(text);
}

/* Small enough to run: no width over 256 and few parameters. */
static int small(const tg_model *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += m->params[i].t->numel;
    if (n > 100000 || m->vocab > 256 || m->in_dim > 256 || m->out > 256) return 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].output_size > 256) return 0;
        for (int s = 0; s < m->layers[i].n_state; s++)
            if (m->layers[i].state_size[s] > 256) return 0;
    }
    return 1;
}

static void run(tg_model *m)
{
    enum { B = 2, T = 3 };
    int32_t tok[B * T], tgt[B * T];
    double x[B * T * 256], y[B * T * 256], mask[B * T] = {1, 1, 1, 1, 1, 0};
    for (int i = 0; i < B * T; i++) {
        tok[i] = m->vocab ? i % m->vocab : 0;
        tgt[i] = i % m->out;
    }
    for (int i = 0; i < B * T * 256; i++) x[i] = (i % 7) * 0.25 - 0.75, y[i] = (i % 5) * 0.1;
    int t_len = m->pos == TG_POS_LEARNED && m->max_len < T ? m->max_len : T;
    tg_batch b = {B, t_len, tok, x, tgt, y, mask};
    tg_error err = {0};
    tg_tape *tape = tg_tape_new(m->dtype, &err);
    if (!tape) fuzz_fail("tg_tape_new: %s", err.msg);
    tg_model_run r = {.training = 1, .seed = 5};
    tg_tensor *loss = tg_model_loss(m, tape, &b, &r, &err);
    if (loss) tg_tape_backward(tape, loss);
    else if (!err.code) fuzz_fail("tg_model_loss failed without an error");
    tg_tape_free(tape);
}

static void load_data(const char *path)
{
    tg_cfg c;
    tg_error err = {0};
    if (tg_cfg_load_file(&c, path, &err)) return;
    tg_dataset d;
    const tg_cfg_node *dn = c.root ? tg_cfg_get(c.root, "data") : NULL;
    if (dn && tg_data_load(&d, &c, dn, &err) == TG_OK) {
        for (int val = 0; val < 2; val++) {
            tg_loader l;
            tg_error e2 = {0};
            if (tg_loader_init(&l, &d, val, 2, 3, 1, &e2)) continue;
            for (int k = 0; k < 3; k++) {
                const tg_batch *b;
                tg_loader_next(&l, &b);
                if (b->B < 1 || b->B > 2 || b->T < 1) fuzz_fail("a batch of %d x %d", b->B, b->T);
                for (int i = 0; b->tokens && i < b->B * b->T; i++)
                    if (b->tokens[i] < 0 || b->tokens[i] >= d.vocab || b->targets[i] < 0 || b->targets[i] >= d.vocab)
                        fuzz_fail("token %d / target %d of a vocabulary of %d", b->tokens[i], b->targets[i], d.vocab);
            }
            tg_loader_free(&l);
        }
        tg_data_free(&d);
    } else if (dn && (!err.code || !err.msg[0])) {
        fuzz_fail("tg_data_load failed without a message");
    }
    tg_cfg_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_set_memory_limit(64 << 20);
    if (size > 100000) return 0;
    round_trip(data, size);
    const char *path = fuzz_file("model.yaml", data, size);
    tg_model m;
    tg_error err = {0};
    if (tg_model_load(&m, path, NULL, 0, TG_F32, 1, &err) == TG_OK) {
        if (small(&m)) run(&m);
        tg_model_free(&m);
    } else if (!err.code || !err.msg[0]) {
        fuzz_fail("tg_model_load failed without a message");
    }
    load_data(path);
    return 0;
}
