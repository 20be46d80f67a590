/* gradcheck.c: the `gradcheck` tool. Builds a model (or one cell) from YAML in float64,
 * runs one random batch, and checks the gradient of every parameter of the whole
 * unrolled model against central differences, printing one row per parameter.
 * Exit status: 0 all pass, 2 a check failed, 1 usage or config error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/gradcheck.h"
#include "graph/rng.h"
#include "models/model.h"
#include "models/safetensors.h"
#include "models/trainer.h"
#include "ops/ops.h"

#define MAX_SETS 64

static const char *USAGE =
    "usage: gradcheck --config FILE.yaml [options]\n"
    "       gradcheck --cell FILE.yaml [options]\n"
    "Checks the tape's gradient of every parameter against central differences in float64.\n"
    "  --config FILE     a model config (model: input, layers, head, loss)\n"
    "  --cell FILE       one cell or block alone, on random inputs and state\n"
    "  --steps T         unroll length (default 5)\n"
    "  --batch B         batch size (default 2)\n"
    "  --all             check every element (default: a sample of --samples per tensor)\n"
    "  --samples N       elements sampled per tensor (default 64)\n"
    "  --param NAME      only parameters whose name contains NAME (repeatable)\n"
    "  --ragged          give the sequences random lengths (padding exercised)\n"
    "  --bptt K          detach the state every K steps\n"
    "  --set KEY=VALUE   override a config value (cells: a hyper-parameter, e.g. hidden=8)\n"
    "  --seed S          random seed (default 1)\n"
    "  --dump FILE       write batch, parameters, gradients and loss as safetensors (--cell:\n"
    "                    also the loss weights, the output and the next state)\n"
    "Exit status: 0 all pass, 2 a gradient check failed, 1 usage or config error.\n";

typedef struct opts {
    const char *config, *cell, *dump;
    int steps, batch, all, samples, ragged, bptt;
    uint64_t seed;
    const char *params[16];
    int n_params;
    const char *sets[MAX_SETS];
    int n_sets;
} opts;

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "gradcheck: %s%s%s\n%s", msg, arg ? " " : "", arg ? arg : "", USAGE);
    return 1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    *o = (opts){.steps = 5, .batch = 2, .samples = 64, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int tmp;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            exit(0);
        } else if (!strcmp(a, "--all")) o->all = 1;
        else if (!strcmp(a, "--ragged")) o->ragged = 1;
        else if (!v) return usage_error("missing value after", a);
        else if (!strcmp(a, "--config")) o->config = v, i++;
        else if (!strcmp(a, "--cell")) o->cell = v, i++;
        else if (!strcmp(a, "--dump")) o->dump = v, i++;
        else if (!strcmp(a, "--steps")) {
            if (parse_int(v, 1, 100000, &o->steps)) return usage_error("--steps needs an integer in [1, 100000], got", v);
            i++;
        } else if (!strcmp(a, "--batch")) {
            if (parse_int(v, 1, 4096, &o->batch)) return usage_error("--batch needs an integer in [1, 4096], got", v);
            i++;
        } else if (!strcmp(a, "--samples")) {
            if (parse_int(v, 1, 1 << 30, &o->samples)) return usage_error("--samples needs a positive integer, got", v);
            i++;
        } else if (!strcmp(a, "--bptt")) {
            if (parse_int(v, 0, 1 << 30, &o->bptt)) return usage_error("--bptt needs an integer >= 0, got", v);
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (parse_int(v, 0, 1 << 30, &tmp)) return usage_error("--seed needs an integer >= 0, got", v);
            o->seed = (uint64_t)tmp;
            i++;
        } else if (!strcmp(a, "--param")) {
            if (o->n_params == 16) return usage_error("too many --param", NULL);
            o->params[o->n_params++] = v, i++;
        } else if (!strcmp(a, "--set")) {
            if (o->n_sets == MAX_SETS) return usage_error("too many --set", NULL);
            if (!strchr(v, '=')) return usage_error("--set needs KEY=VALUE, got", v);
            o->sets[o->n_sets++] = v, i++;
        } else return usage_error("unknown option", a);
    }
    if (!o->config == !o->cell) return usage_error("give exactly one of --config or --cell", NULL);
    return 0;
}

/* ---- what is checked: a closure over a model or a lone cell ---- */

typedef struct problem {
    tg_model *model;
    tg_batch batch;
    tg_model_run run;
    tg_cell *cell;                   /* --cell */
    tg_tensor *x, *state[TG_CELL_MAX], *w_out, *w_state[TG_CELL_MAX];
    tg_tensor *y, *next[TG_CELL_MAX]; /* --cell: the last run's output and next state */
    int B, T;
    tg_error err;
    tg_tensor *slots[1024];
} problem;

static tg_tensor *model_closure(tg_tape *t, void *ctx)
{
    problem *p = ctx;
    tg_tensor *l = tg_model_loss(p->model, t, &p->batch, &p->run, &p->err);
    if (!l && !t->err.code) tg_error_set(&t->err, p->err.code, "%s", p->err.msg);
    return l;
}

/* loss = sum(w_out * y) + sum_s sum(w_s * next_s): random weights see every output */
static tg_tensor *cell_closure(tg_tape *t, void *ctx)
{
    problem *p = ctx;
    tg_cell *c = p->cell;
    tg_tensor *cm = NULL, *pm = NULL;
    if (c->is_block) {
        cm = tg_causal_mask(t, p->T);
        pm = tg_tape_zeros(t, TG_F64, 4, (int[]){p->B, 1, 1, p->T});
    }
    tg_tensor *y = tg_cell_run(c, t, p->slots, p->x, p->state, p->next, p->B, c->is_block ? p->T : 1, cm, pm, &p->err);
    p->y = y;
    if (!y) {
        if (!t->err.code) tg_error_set(&t->err, p->err.code, "%s", p->err.msg);
        return NULL;
    }
    tg_tensor *l = tg_sum(t, tg_mul(t, y, p->w_out), TG_AXIS_ALL);
    for (int s = 0; s < c->n_state; s++) l = tg_add(t, l, tg_sum(t, tg_mul(t, p->next[s], p->w_state[s]), TG_AXIS_ALL));
    return l;
}

static tg_tensor *random_tensor(int ndim, const int *shape, tg_rng *r, int grad)
{
    tg_error err = {0};
    tg_tensor *x = tg_tensor_new(TG_F64, ndim, shape, grad, &err);
    for (int64_t i = 0; x && i < x->numel; i++) tg_tensor_set(x, i, 2 * tg_rng_uniform(r) - 1);
    return x;
}

static int selected(const opts *o, const char *name)
{
    if (!o->n_params) return 1;
    for (int i = 0; i < o->n_params; i++)
        if (strstr(name, o->params[i])) return 1;
    return 0;
}

static void print_error(const tg_error *e)
{
    char buf[1024];
    fprintf(stderr, "%s\n", tg_error_format(e, buf, sizeof buf));
}

static tg_st_entry st_entry(const char *name, const tg_tensor *t, const void *data)
{
    tg_st_entry e = {name, TG_F64, t->ndim, {0}, data};
    memcpy(e.shape, t->shape, sizeof e.shape);
    return e;
}

/* Writes the batch (or the cell's random input and state), every checked tensor and its
 * tape gradient ("grad.<name>") and the loss. For a cell, also the loss's random weights
 * ("weights.out", "weights.<state>"), and the output ("output") and next state
 * ("next.<state>") from one more forward, in no-grad mode on `tape`. */
static int dump(const char *path, problem *p, tg_tape *tape, tg_tensor **ps, int n, double loss,
                tg_error *err)
{
    tg_st_entry e[TG_MODEL_MAX_PARAMS * 2 + 8];
    char names[TG_MODEL_MAX_PARAMS][112], state_names[TG_CELL_MAX][2][80];
    int k = 0;
    if (p->model) {
        if (p->batch.tokens)
            e[k++] = (tg_st_entry){"batch.tokens", TG_I32, 2, {p->B, p->T}, p->batch.tokens};
        if (p->batch.x)
            e[k++] = (tg_st_entry){"batch.x", TG_F64, 3, {p->B, p->T, p->model->in_dim}, p->batch.x};
        if (p->batch.targets)
            e[k++] = (tg_st_entry){"batch.targets", TG_I32, 2, {p->B, p->T}, p->batch.targets};
        if (p->batch.y)
            e[k++] = p->model->loss_last
                         ? (tg_st_entry){"batch.y", TG_F64, 2, {p->B, p->model->out}, p->batch.y}
                         : (tg_st_entry){"batch.y", TG_F64, 3, {p->B, p->T, p->model->out}, p->batch.y};
        if (p->batch.mask) e[k++] = (tg_st_entry){"batch.mask", TG_F64, 2, {p->B, p->T}, p->batch.mask};
    }
    if (p->cell) {
        tg_tape_no_grad_begin(tape);
        tg_tensor *l = cell_closure(tape, p);
        tg_tape_no_grad_end(tape);
        if (!l) {
            *err = *tg_tape_error(tape);
            tg_tape_reset(tape);
            return err->code;
        }
        e[k++] = st_entry("weights.out", p->w_out, p->w_out->data);
        e[k++] = st_entry("output", p->y, p->y->data);
        for (int s = 0; s < p->cell->n_state; s++) {
            snprintf(state_names[s][0], sizeof state_names[s][0], "weights.%s", p->cell->state_name[s]);
            snprintf(state_names[s][1], sizeof state_names[s][1], "next.%s", p->cell->state_name[s]);
            e[k++] = st_entry(state_names[s][0], p->w_state[s], p->w_state[s]->data);
            e[k++] = st_entry(state_names[s][1], p->next[s], p->next[s]->data);
        }
    }
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "grad.%s", ps[i]->name);
        e[k++] = st_entry(ps[i]->name, ps[i], ps[i]->data);
        e[k++] = st_entry(names[i], ps[i], ps[i]->grad);
    }
    e[k++] = (tg_st_entry){"loss", TG_F64, 0, {0}, &loss};
    const char *keys[] = {"format", "producer"}, *vals[] = {"pt", "tapegrad gradcheck"};
    tg_status st = tg_st_write(path, e, k, keys, vals, 2, err);
    tg_tape_reset(tape); /* p->y and p->next were step tensors of that forward */
    return st;
}

/* A model that leaves model.input.vocab out takes its data's: load the data section. */
static tg_status vocab_from_data(opts *o, char *buf, int n, tg_error *err)
{
    tg_cfg c;
    if (tg_cfg_load_with(&c, o->config, o->sets, o->n_sets, err)) return err->code;
    const tg_cfg_node *dn = c.root ? tg_cfg_get(c.root, "data") : NULL;
    tg_dataset d;
    if (!err->code && dn && !tg_data_load(&d, &c, dn, err)) {
        if (tg_vocab_override(&c, &d, buf, n)) o->sets[o->n_sets++] = buf;
        tg_data_free(&d);
    }
    tg_cfg_free(&c);
    return err->code;
}

int main(int argc, char **argv)
{
    opts o;
    if (parse_args(argc, argv, &o)) return 1;
    tg_error err = {0};
    tg_rng r = {o.seed * 7919 + 17};
    problem p = {.B = o.batch, .T = o.steps};
    tg_model model;
    tg_cell cell;
    tg_tensor *ps[TG_MODEL_MAX_PARAMS + 2 * TG_CELL_MAX];
    int n = 0, status = 1;
    void *buffers[6] = {0};

    if (o.config) {
        char vset[64];
        if (o.n_sets < MAX_SETS && vocab_from_data(&o, vset, sizeof vset, &err)) {
            print_error(&err);
            return 1;
        }
        if (tg_model_load(&model, o.config, o.sets, o.n_sets, TG_F64, o.seed, &err)) {
            print_error(&err);
            return 1;
        }
        p.model = &model;
        for (int i = 0; i < model.n_warnings; i++) fprintf(stderr, "%s\n", model.warnings[i]);
        int B = p.B, T = p.T;
        int32_t *tok = malloc(sizeof *tok * B * T), *tgt = malloc(sizeof *tgt * B * T);
        double *x = malloc(sizeof *x * (size_t)B * T * model.in_dim);
        double *y = malloc(sizeof *y * (size_t)B * T * model.out), *mask = malloc(sizeof *mask * B * T);
        buffers[0] = tok, buffers[1] = tgt, buffers[2] = x, buffers[3] = y, buffers[4] = mask;
        for (int i = 0; i < B * T; i++) {
            tok[i] = model.vocab ? (int32_t)tg_rng_below(&r, (uint64_t)model.vocab) : 0;
            tgt[i] = (int32_t)tg_rng_below(&r, (uint64_t)model.out);
        }
        for (long i = 0; i < (long)B * T * model.in_dim; i++) x[i] = 2 * tg_rng_uniform(&r) - 1;
        for (long i = 0; i < (long)B * T * model.out; i++) y[i] = 2 * tg_rng_uniform(&r) - 1;
        for (int b = 0; b < B; b++) { /* ragged: sequence b has length in [1, T] */
            int len = o.ragged ? 1 + (int)tg_rng_below(&r, (uint64_t)T) : T;
            if (o.ragged && b == 0) len = T;
            for (int t = 0; t < T; t++) mask[b * T + t] = t < len;
        }
        p.batch = (tg_batch){B, T, model.input != TG_IN_DENSE ? tok : NULL,
                             model.input == TG_IN_DENSE ? x : NULL,
                             model.loss == TG_LOSS_CROSS_ENTROPY ? tgt : NULL,
                             model.loss != TG_LOSS_CROSS_ENTROPY ? y : NULL, o.ragged ? mask : NULL};
        p.run.bptt = o.bptt;
        for (int i = 0; i < model.n_params; i++)
            if (selected(&o, model.params[i].name)) ps[n++] = model.params[i].t;
    } else {
        tg_hyper_set hs = {0};
        char names[MAX_SETS][TG_NAME_MAX];
        for (int i = 0; i < o.n_sets; i++) {
            const char *eq = strchr(o.sets[i], '=');
            snprintf(names[i], sizeof names[i], "%.*s", (int)(eq - o.sets[i]), o.sets[i]);
            char *end;
            hs.value[hs.n] = strtod(eq + 1, &end);
            if (*end || end == eq + 1) return usage_error("--set on a cell needs a number:", o.sets[i]);
            hs.name[hs.n++] = names[i];
        }
        if (tg_cell_load(&cell, o.cell, &hs, TG_F64, o.seed, &err)) {
            print_error(&err);
            return 1;
        }
        p.cell = &cell;
        for (int i = 0; i < cell.n_warnings; i++) fprintf(stderr, "%s\n", cell.warnings[i]);
        int xs[3] = {p.B, cell.is_block ? p.T : cell.input_size, cell.input_size};
        p.x = random_tensor(cell.is_block ? 3 : 2, xs, &r, 1);
        if (!p.x) {
            fprintf(stderr, "gradcheck: out of memory for the random input (--batch %d)\n", p.B);
            goto out;
        }
        p.x->name = cell.input_name;
        int ys[3] = {p.B, cell.is_block ? p.T : cell.output_size, cell.output_size};
        p.w_out = random_tensor(cell.is_block ? 3 : 2, ys, &r, 0);
        for (int s = 0; s < cell.n_state; s++) {
            p.state[s] = random_tensor(2, (int[]){p.B, cell.state_size[s]}, &r, 1);
            p.state[s]->name = cell.state_name[s];
            p.w_state[s] = random_tensor(2, (int[]){p.B, cell.state_size[s]}, &r, 0);
        }
        for (int i = 0; i < cell.n_params; i++)
            if (selected(&o, cell.params[i].name)) ps[n++] = cell.params[i].t;
        if (selected(&o, cell.input_name)) ps[n++] = p.x; /* inputs and state are checked too */
        for (int s = 0; s < cell.n_state; s++)
            if (selected(&o, cell.state_name[s])) ps[n++] = p.state[s];
    }
    if (!n) {
        fprintf(stderr, "gradcheck: no parameter matches --param\n");
        goto out;
    }

    tg_tape *tape = tg_tape_new(TG_F64, &err);
    tg_gradcheck_opts go;
    tg_gradcheck_defaults(&go);
    go.max_elems = o.all ? 0 : o.samples;
    go.seed = o.seed;
    tg_gradcheck_result *res = calloc((size_t)n, sizeof *res);
    tg_loss_fn fn = o.config ? model_closure : cell_closure;
    if (tg_gradcheck(tape, fn, &p, ps, n, &go, res, &err)) {
        print_error(&err);
        tg_tape_free(tape);
        free(res);
        goto out;
    }
    double loss = 0;
    tg_tape_no_grad_begin(tape);
    tg_tensor *l = fn(tape, &p);
    if (l) loss = tg_tensor_get(l, 0);
    tg_tape_no_grad_end(tape);
    tg_tape_reset(tape);

    printf("%s: loss %.6f, B=%d, T=%d, float64, eps %g, pass if |a-n| <= %g + %g|n|\n",
           o.config ? o.config : o.cell, loss, p.B, p.T, go.eps, go.atol, go.rtol);
    printf("%-28s %-16s %8s %11s %11s %12s  %s\n", "parameter", "shape", "checked", "max abs err",
           "rel err", "worst index", "result");
    int failed = 0;
    for (int i = 0; i < n; i++) {
        char sh[64];
        const tg_gradcheck_result *rr = &res[i];
        printf("%-28s %-16s %8lld %11.2e %11.2e %12lld  %s\n", ps[i]->name ? ps[i]->name : "?",
               tg_shape_str(ps[i], sh, sizeof sh), (long long)rr->checked, rr->abs_err, rr->rel_err,
               (long long)rr->worst, rr->pass ? "pass" : "FAIL");
        if (!rr->pass) {
            failed++;
            printf("    worst element: analytic %.10g, numeric %.10g\n", rr->analytic, rr->numeric);
        }
    }
    printf("%d of %d tensors pass\n", n - failed, n);
    status = failed ? 2 : 0;
    if (o.dump && dump(o.dump, &p, tape, ps, n, loss, &err)) {
        print_error(&err);
        status = 1;
    }
    tg_tape_free(tape);
    free(res);
out:
    if (o.config) tg_model_free(&model);
    else {
        tg_cell_free(&cell);
        tg_tensor_free(p.x);
        tg_tensor_free(p.w_out);
        for (int s = 0; s < TG_CELL_MAX; s++) tg_tensor_free(p.state[s]), tg_tensor_free(p.w_state[s]);
    }
    for (int i = 0; i < 6; i++) free(buffers[i]);
    return status;
}
