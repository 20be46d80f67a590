/* test_ops_grad.c: walks the op registry. Every op must have forward kernels, a
 * backward when any input is differentiable, and at least one test spec. For each spec:
 * random inputs from its domain, the output reduced to a scalar with random weights
 * (a plain sum hides softmax bugs), every differentiable input's tape gradient
 * compared in float64 with central differences (tg_gradcheck: step 1e-6,
 * |a - n| <= 1e-5 + 1e-3 |n|); then the same op in float32 against float64, values
 * and gradients, relative error <= 1e-4; then the gradients again through fresh buffers
 * (the op's inputs made by another op, the buffers poisoned with NaN), which a backward
 * that declares `assigns` must write outright: the same to 1e-12. Usage:
 * test_ops_grad [op-name]. */
#include <stdio.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "graph/gradcheck.h"
#include "graph/rng.h"
#include "ops/op.h"
#include "test.h"

#define MAX_SAMPLE 120 /* elements checked per tensor (all when smaller) */

typedef struct ctx {
    tg_op_id op;
    const tg_op_test *spec;
    tg_tensor *in[TG_OP_MAX_IN];
    double *w; /* weights for the output, out->numel of them */
    int64_t w_n;
} ctx;

static int kind_of(const tg_op_desc *d, int i)
{
    int last = d->n_in_max < TG_OP_MAX_IN ? d->n_in_max - 1 : TG_OP_MAX_IN - 1;
    return d->in_kind[i < last ? i : last];
}

/* loss = sum(op(inputs) * w) */
static tg_tensor *loss_fn(tg_tape *t, void *p)
{
    ctx *c = p;
    tg_tensor *y = tg_op_apply(t, c->op, c->spec->n_in, c->in, &c->spec->a);
    if (!y) return NULL;
    if (!c->w) {
        tg_rng r = {y->numel * 7919u + c->op};
        c->w = malloc(sizeof *c->w * (size_t)y->numel);
        for (int64_t i = 0; i < y->numel; i++) c->w[i] = tg_rng_uniform(&r) * 2 - 1;
        c->w_n = y->numel;
    }
    tg_tensor *w = tg_tape_from(t, y->ndim, y->shape, c->w);
    return tg_sum(t, tg_mul(t, y, w), TG_AXIS_ALL);
}

static double draw(tg_rng *r, const tg_op_test *s, const tg_test_arg *a)
{
    for (;;) {
        double v = a->lo + (a->hi - a->lo) * tg_rng_uniform(r);
        int near = 0;
        for (int k = 0; k < s->n_kinks; k++) near |= fabs(v - s->kinks[k]) < 1e-2;
        if (!near) return v;
    }
}

/* Inputs of spec in dtype (f64 and f32 get identical values from the same seed). */
static int make_inputs(ctx *c, const tg_op_desc *d, tg_dtype dt, uint64_t seed)
{
    tg_rng r = {seed};
    const tg_op_test *s = c->spec;
    for (int i = 0; i < s->n_in; i++) {
        const tg_test_arg *a = &s->in[i];
        int kind = kind_of(d, i);
        tg_error err = {0};
        tg_tensor *x = tg_tensor_new(kind == TG_ARG_IDS ? TG_I32 : dt, a->ndim, a->shape,
                                     kind == TG_ARG_REAL, &err);
        if (!x) {
            fprintf(stderr, "%s [%s]: bad test spec: %s\n", d->name, s->what, err.msg);
            return -1;
        }
        for (int64_t j = 0; j < x->numel; j++) {
            double v;
            if (kind == TG_ARG_IDS && a->hi <= a->lo) v = a->lo;
            else if (kind == TG_ARG_IDS) v = (double)((int64_t)a->lo + (int64_t)tg_rng_below(&r, (uint64_t)(a->hi - a->lo)));
            else if (kind == TG_ARG_CONST && a->lo == 0 && a->hi == 0) v = tg_rng_below(&r, 2);
            else v = draw(&r, s, a);
            tg_tensor_set(x, j, v);
        }
        c->in[i] = x;
    }
    return 0;
}

static void free_inputs(ctx *c)
{
    for (int i = 0; i < c->spec->n_in; i++) tg_tensor_free(c->in[i]);
    memset(c->in, 0, sizeof c->in);
}

/* max |a - b| / max(max |b|, 1e-6) over n elements */
static double rel_diff(const tg_tensor *a, const void *adata, const tg_tensor *b,
                       const void *bdata)
{
    tg_tensor ta = *a, tb = *b;
    ta.data = (void *)adata;
    tb.data = (void *)bdata;
    double md = 0, mb = 1e-6;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = tg_tensor_get(&ta, i), y = tg_tensor_get(&tb, i);
        md = fmax(md, fabs(x - y));
        mb = fmax(mb, fabs(y));
    }
    return md / mb;
}

/* loss = sum(op(scale(inputs, 1)) * w): the op's input gradients are new tape buffers,
 * which a backward that declares `assigns` writes outright (poisoned with NaN first) */
static tg_tensor *loss_fresh(tg_tape *t, void *p)
{
    ctx *c = p, c2 = *c;
    for (int i = 0; i < c->spec->n_in; i++)
        if (c->in[i]->requires_grad) c2.in[i] = tg_scale(t, c->in[i], 1);
    tg_tensor *l = loss_fn(t, &c2);
    c->w = c2.w, c->w_n = c2.w_n;
    return l;
}

/* The gradients through fresh buffers equal the accumulated ones (to 1e-12, f64). */
static void check_fresh(const tg_op_desc *d, tg_op_id op, const tg_op_test *s, uint64_t seed)
{
    ctx c = {op, s};
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    if (!t || make_inputs(&c, d, TG_F64, seed)) {
        tg_tape_free(t);
        return;
    }
    double *g[TG_OP_MAX_IN] = {0}, worst = 0;
    tg_tensor *l = loss_fn(t, &c);
    int ok = l && tg_tape_backward(t, l) == TG_OK;
    for (int i = 0; ok && i < s->n_in; i++) {
        if (!c.in[i]->requires_grad) continue;
        g[i] = malloc(sizeof(double) * (size_t)c.in[i]->numel);
        memcpy(g[i], c.in[i]->grad, sizeof(double) * (size_t)c.in[i]->numel);
        tg_tensor_zero_grad(c.in[i]);
    }
    tg_tape_reset(t);
    t->poison_fresh = 1;
    l = loss_fresh(t, &c);
    ok = ok && l && tg_tape_backward(t, l) == TG_OK;
    for (int i = 0; ok && i < s->n_in; i++)
        for (int64_t j = 0; g[i] && j < c.in[i]->numel; j++) {
            double v = ((double *)c.in[i]->grad)[j];
            worst = v == v ? fmax(worst, fabs(v - g[i][j])) : INFINITY;
        }
    if (!ok || worst > 1e-12)
        fprintf(stderr, "%s [%s]: gradients through fresh buffers differ by %g%s\n", d->name, s->what,
                worst, ok ? "" : " (failed)");
    CHECK(ok && worst <= 1e-12);
    for (int i = 0; i < s->n_in; i++) free(g[i]);
    free(c.w);
    free_inputs(&c);
    tg_tape_free(t);
}

/* Runs spec in f32 and f64 from the same inputs; compares outputs and gradients. */
static void check_f32(const tg_op_desc *d, tg_op_id op, const tg_op_test *s, uint64_t seed)
{
    ctx c[2] = {{op, s}, {op, s}};
    tg_tensor *y[2] = {0};
    tg_tape *tape[2] = {0};
    int ok = 1;
    for (int k = 0; k < 2; k++) {
        tg_error err = {0};
        tape[k] = tg_tape_new(k ? TG_F64 : TG_F32, &err);
        if (make_inputs(&c[k], d, k ? TG_F64 : TG_F32, seed)) ok = 0;
        if (!ok) break;
        tg_tensor *loss = loss_fn(tape[k], &c[k]);
        /* the op's output: recompute without grad, cheaper than digging in the tape */
        tg_tape_no_grad_begin(tape[k]);
        y[k] = tg_op_apply(tape[k], op, s->n_in, c[k].in, &s->a);
        tg_tape_no_grad_end(tape[k]);
        if (!loss || !y[k] || tg_tape_backward(tape[k], loss)) {
            fprintf(stderr, "%s [%s] %s: %s\n", d->name, s->what, k ? "f64" : "f32",
                    tape[k]->err.msg);
            ok = 0;
        }
    }
    if (ok) {
        double worst = rel_diff(y[0], y[0]->data, y[1], y[1]->data);
        for (int i = 0; i < s->n_in; i++)
            if (c[1].in[i]->grad)
                worst = fmax(worst, rel_diff(c[0].in[i], c[0].in[i]->grad, c[1].in[i],
                                             c[1].in[i]->grad));
        ok = worst <= 1e-4;
        printf("  f32 vs f64: max relative difference %.2e %s\n", worst, ok ? "ok" : "FAIL");
    }
    CHECK(ok);
    for (int k = 0; k < 2; k++) {
        if (c[k].spec) free_inputs(&c[k]);
        free(c[k].w);
        tg_tape_free(tape[k]);
    }
}

static void check_op(tg_op_id op)
{
    const tg_op_desc *d = tg_op_registry[op];
    int differentiable = 0;
    for (int i = 0; i < d->n_in_max && i < TG_OP_MAX_IN; i++)
        differentiable |= kind_of(d, i) == TG_ARG_REAL;
    CHECK(d->name && d->check && d->math);
    if (!d->view) CHECK(d->forward[0] && d->forward[1]);
    if (differentiable && !(d->backward[0] && d->backward[1])) {
        printf("FAIL %s: differentiable inputs but no backward kernel\n", d->name);
        CHECK(!"every op with differentiable inputs has a backward");
    }
    if (d->n_tests < 1 || !d->tests) {
        printf("FAIL %s: no gradient test spec\n", d->name);
        CHECK(!"every op has a test spec");
        return;
    }
    for (int k = 0; k < d->n_tests; k++) {
        const tg_op_test *s = &d->tests[k];
        uint64_t seed = 1000u * op + k;
        ctx c = {op, s};
        tg_error err = {0};
        tg_tape *tape = tg_tape_new(TG_F64, &err);
        if (make_inputs(&c, d, TG_F64, seed)) {
            CHECK(!"valid test spec");
            tg_tape_free(tape);
            continue;
        }
        tg_tensor *params[TG_OP_MAX_IN];
        int np = 0;
        for (int i = 0; i < s->n_in; i++)
            if (c.in[i]->requires_grad) params[np++] = c.in[i];
        tg_gradcheck_result res[TG_OP_MAX_IN];
        tg_gradcheck_opts o;
        tg_gradcheck_defaults(&o);
        o.max_elems = MAX_SAMPLE;
        printf("%s [%s]\n", d->name, s->what);
        tg_status st = np ? tg_gradcheck(tape, loss_fn, &c, params, np, &o, res, &err) : TG_OK;
        if (st) {
            printf("FAIL %s [%s]: %s\n", d->name, s->what, err.msg);
            CHECK(st == TG_OK);
        }
        for (int i = 0; !st && i < np; i++) {
            const tg_gradcheck_result *r = &res[i];
            printf("  input %d: %lld checked, worst at %lld: analytic %.8g numeric %.8g abs "
                   "%.2e rel %.2e %s\n", i + 1, (long long)r->checked, (long long)r->worst,
                   r->analytic, r->numeric, r->abs_err, r->rel_err, r->pass ? "ok" : "FAIL");
            CHECK(r->pass && r->checked > 0);
        }
        free_inputs(&c);
        free(c.w);
        tg_tape_free(tape);
        check_f32(d, op, s, seed);
        check_fresh(d, op, s, seed);
    }
}

/* Fresh buffers where one tensor is several inputs of a node, or a node has more
 * inputs than the fresh bits: (a) y = r + (v @ W + r), bias and residual one tensor,
 * so d(sum y)/dr = 2; (b) a concat of 70 step tensors (a 70-step recurrence's outputs),
 * each gradient 1 (under UBSan, also no shift past 63); (c) packed attention; (d)
 * layer norm's one-pass and two-pass backward; (e) a product's row chunks. */
static void shared_inputs(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F64, &err);
    t->poison_fresh = 1;
    tg_tensor *P = tg_tensor_new(TG_F64, 1, (int[]){3}, 1, &err);
    tg_tensor *W = tg_tensor_new(TG_F64, 2, (int[]){3, 3}, 1, &err);
    tg_tensor *V = tg_tensor_new(TG_F64, 1, (int[]){3}, 1, &err);
    for (int i = 0; i < 3; i++) tg_tensor_set(P, i, i + 1), tg_tensor_set(V, i, 1);
    for (int i = 0; i < 9; i++) tg_tensor_set(W, i, 0.1 * i);
    tg_tensor *r = tg_scale(t, P, 1), *in[4] = {tg_scale(t, V, 1), W, r, r};
    tg_attrs a = {.i = {0, 0, 1}};
    tg_tensor *l = tg_sum(t, tg_op_apply(t, TG_OP_MATMUL, 4, in, &a), TG_AXIS_ALL);
    CHECK(l && tg_tape_backward(t, l) == TG_OK);
    for (int i = 0; i < 3; i++) CHECK_NEAR(tg_tensor_grad_get(P, i), 2, 1e-12);
    tg_tape_reset(t);
    enum { N = 70 };
    tg_tensor *parts[N];
    for (int i = 0; i < N; i++) parts[i] = tg_scale(t, P, 1);
    l = tg_sum(t, tg_concat(t, N, parts, 0), TG_AXIS_ALL);
    tg_tensor_zero_grad(P);
    CHECK(l && tg_tape_backward(t, l) == TG_OK);
    for (int i = 0; i < 3; i++) CHECK_NEAR(tg_tensor_grad_get(P, i), N, 1e-12);
    /* (c) packed attention on one [B,T,3C] tensor passed as q, k and v: its fresh
     * gradient is written block by block, each element once (no NaN left), and equals
     * the sum of the three gradients of separate copies. Heads of 2 (the library's
     * gemm), of 8 (ops/headmm.h's kernels, whose vectors hold 8 doubles; causal) and
     * of 32 (4 vectors; not causal, 40 keys: the softmax apart). */
    for (int size = 0; size < 3; size++) {
        int T = (int[]){3, 5, 40}[size], width = (int[]){12, 48, 192}[size], n = 2 * T * width;
        tg_tensor *X = tg_tensor_new(TG_F64, 3, (int[]){2, T, width}, 1, &err);
        for (int i = 0; i < n; i++) tg_tensor_set(X, i, 0.05 * ((i * 7) % 13) - 0.3);
        double *gx[2] = {malloc(sizeof(double) * n), malloc(sizeof(double) * n)};
        for (int shared = 0; shared < 2; shared++) {
            tg_tape_reset(t);
            tg_tensor_zero_grad(X);
            tg_tensor *q = tg_scale(t, X, 1), *k = shared ? q : tg_scale(t, X, 1), *v = shared ? q : tg_scale(t, X, 1);
            tg_attrs aa = {.i = {2, size < 2, 1}};
            tg_tensor *y = tg_op_apply(t, TG_OP_ATTENTION, 3, (tg_tensor *[]){q, k, v}, &aa);
            l = tg_sum(t, tg_mul(t, y, y), TG_AXIS_ALL);
            CHECK(l && tg_tape_backward(t, l) == TG_OK);
            for (int i = 0; i < n; i++) gx[shared][i] = tg_tensor_grad_get(X, i);
        }
        for (int i = 0; i < n; i++) CHECK_NEAR(gx[1][i], gx[0][i], 1e-12);
        free(gx[0]), free(gx[1]);
        tg_tensor_free(X);
    }
    /* (d) layer norm's backward in one pass (one thread) and in two across threads (a
     * tensor over TG_PAR_MIN), both writing dx in place over a handed-on g */
    double *lg[2] = {malloc(sizeof(double) * 128 * 520), malloc(sizeof(double) * 128 * 520)};
    tg_tensor *LX = tg_tensor_new(TG_F64, 2, (int[]){128, 512}, 1, &err);
    tg_tensor *LG = tg_tensor_new(TG_F64, 1, (int[]){512}, 1, &err), *LB = tg_tensor_new(TG_F64, 1, (int[]){512}, 1, &err);
    for (int i = 0; i < 128 * 512; i++) tg_tensor_set(LX, i, 0.01 * ((i * 37) % 101) - 0.5);
    for (int i = 0; i < 512; i++) tg_tensor_set(LG, i, 1 + 0.001 * i), tg_tensor_set(LB, i, 0.002 * i);
    int threads = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k ? 2 : 1);
        tg_tape_reset(t);
        t->recycle_grads = 1;
        tg_tensor_zero_grad(LX), tg_tensor_zero_grad(LG), tg_tensor_zero_grad(LB);
        tg_tensor *y = tg_layernorm(t, tg_scale(t, LX, 1), LG, LB, 1e-5);
        tg_tensor *w = tg_tape_tensor(t, TG_F64, 2, (int[]){128, 512});
        for (int i = 0; i < 128 * 512; i++) tg_tensor_set(w, i, 0.001 * ((i * 13) % 97) - 0.05);
        l = tg_sum(t, tg_mul(t, y, w), TG_AXIS_ALL);
        CHECK(l && tg_tape_backward(t, l) == TG_OK);
        for (int i = 0; i < 128 * 512; i++) lg[k][i] = tg_tensor_grad_get(LX, i);
        for (int i = 0; i < 512; i++) lg[k][128 * 512 + i] = tg_tensor_grad_get(LG, i), lg[k][128 * 513 + i] = tg_tensor_grad_get(LB, i);
    }
    omp_set_num_threads(threads);
    t->recycle_grads = 0;
    double ld = 0;
    for (int i = 0; i < 128 * 514; i++) ld = fmax(ld, fabs(lg[1][i] - lg[0][i]));
    CHECK_NEAR(ld, 0, 1e-12);
    CHECK(lg[0][0] != 0);
    free(lg[0]), free(lg[1]);
    tg_tensor_free(LX), tg_tensor_free(LG), tg_tensor_free(LB);
    /* (e) a product with bias and residual in row chunks (one thread: 80-row chunks of
     * 300, the last partial) against whole (two threads), ta 0 and 1 */
    for (int ta = 0; ta < 2; ta++) {
        tg_tensor *MA = tg_tensor_new(TG_F64, 2, ta ? (int[]){6, 300} : (int[]){300, 6}, 0, &err);
        tg_tensor *MW = tg_tensor_new(TG_F64, 2, (int[]){600, 6}, 0, &err);
        tg_tensor *MB = tg_tensor_new(TG_F64, 1, (int[]){600}, 0, &err);
        tg_tensor *MR = tg_tensor_new(TG_F64, 2, (int[]){300, 600}, 0, &err);
        for (int i = 0; i < 1800; i++) tg_tensor_set(MA, i, 0.01 * ((i * 7) % 31) - 0.15);
        for (int i = 0; i < 3600; i++) tg_tensor_set(MW, i, 0.02 * ((i * 5) % 17) - 0.16);
        for (int i = 0; i < 600; i++) tg_tensor_set(MB, i, 0.001 * i);
        for (int i = 0; i < 180000; i++) tg_tensor_set(MR, i, 0.0001 * (i % 1009));
        double worst = 0, *y0 = malloc(sizeof(double) * 180000);
        for (int k = 0; k < 2; k++) {
            omp_set_num_threads(k ? 2 : 1);
            tg_tape_reset(t);
            tg_attrs am = {.i = {ta, 1, 1}};
            tg_tensor *y = tg_op_apply(t, TG_OP_MATMUL, 4, (tg_tensor *[]){MA, MW, MB, MR}, &am);
            CHECK(y != NULL);
            for (int i = 0; y && i < 180000; i++) {
                if (!k) y0[i] = tg_tensor_get(y, i);
                else worst = fmax(worst, fabs(tg_tensor_get(y, i) - y0[i]));
            }
            if (y && !k) { /* and row 299 (the partial chunk's last) by hand */
                double ref = tg_tensor_get(MR, 299 * 600 + 599) + tg_tensor_get(MB, 599);
                for (int c = 0; c < 6; c++)
                    ref += tg_tensor_get(MA, ta ? c * 300 + 299 : 299 * 6 + c) * tg_tensor_get(MW, 599 * 6 + c);
                CHECK_NEAR(y0[299 * 600 + 599], ref, 1e-12);
            }
        }
        omp_set_num_threads(threads);
        CHECK_NEAR(worst, 0, 1e-12);
        free(y0);
        tg_tensor_free(MA), tg_tensor_free(MW), tg_tensor_free(MB), tg_tensor_free(MR);
    }
    tg_tensor_free(P), tg_tensor_free(W), tg_tensor_free(V);
    tg_tape_free(t);
}

int main(int argc, char **argv)
{
    int ran = 0;
    if (argc < 2) shared_inputs();
    for (int op = 0; op < TG_OP_COUNT; op++) {
        CHECK(tg_op_registry[op] != NULL);
        if (!tg_op_registry[op]) continue;
        if (argc > 1 && strcmp(argv[1], tg_op_registry[op]->name) != 0) continue;
        check_op((tg_op_id)op);
        ran++;
    }
    if (argc > 1 && !ran) {
        fprintf(stderr, "no op named '%s'\n", argv[1]);
        return 2;
    }
    printf("%d ops checked\n", ran);
    return tg_test_end();
}
