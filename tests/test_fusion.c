/* test_fusion.c: the equation compiler's rewrites change nothing but speed. For the
 * shipped LSTM, GRU and Transformer models (float64, small sizes), the loss and every
 * parameter's gradient are the same (to 1e-12) with the fused ops and the hoisted
 * input products as without them, also with the trainer's recycled, handed-on and
 * deferred gradients at batch shapes 3 x 5, 1 x 5 and 3 x 1; and the rewrites did
 * happen: the fused run records fused nodes and fewer nodes in all. */
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "ops/ops.h"
#include "test.h"

enum { B0 = 3, T0 = 5 };
static int B = B0, T = T0; /* the batch the runs use (recycled() varies it) */

static int64_t n_residual; /* the last run's products that added a residual (x + (a @ W.T + b)) */
static int64_t n_deferred; /* the last run's products whose weight gradient was deferred */
static int64_t n_bt;       /* the last run's products that multiplied by a stored W.T */
static int defer_on;       /* the runs defer small products' weight gradients (tape.defer_wgrad) */
static int recycle_on;     /* the runs recycle and hand on gradient buffers (tape.recycle_grads) */
static int64_t n_handed;   /* the last run's gradient buffers handed on (tg_node.pass) */

/* Loss and gradients of model `cfg` (its parameters' gradients summed into g, nparams
 * of them) with fusion (fuse) and hoisting (hoist) on or off; the node counts. */
static double run(const char *cfg, const char *const *sets, int n_sets, int fuse, int hoist,
                  double *g, int64_t *nodes, int64_t *fused)
{
    tg_model m;
    tg_error err = {0};
    if (tg_model_load(&m, cfg, sets, n_sets, TG_F64, 7, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return NAN;
    }
    m.no_fuse = !fuse;
    for (int i = 0; !hoist && i < m.n_layers; i++) m.layers[i].prog.planned = 1; /* no plan: no hoisting */
    int32_t tok[B0 * T0], tgt[B0 * T0];
    for (int i = 0; i < B * T; i++) tok[i] = (i * 7 + 3) % m.vocab, tgt[i] = (i * 5 + 1) % m.vocab;
    tg_batch b = {B, T, tok, NULL, tgt, NULL, NULL};
    tg_tape *tape = tg_tape_new(TG_F64, &err);
    tape->defer_wgrad = defer_on;
    tape->recycle_grads = recycle_on;
    tg_model_run r = {0};
    tg_tensor *l = tg_model_loss(&m, tape, &b, &r, &err);
    double v = NAN;
    if (l && tg_tape_backward(tape, l) == TG_OK) {
        v = tg_tensor_get(l, 0);
        int k = 0;
        for (int i = 0; i < m.n_params; i++)
            for (int64_t j = 0; j < m.params[i].t->numel; j++) g[k++] = ((double *)m.params[i].t->grad)[j];
        *nodes = tape->n_nodes;
        n_handed = tape->n_handed;
        *fused = 0;
        n_residual = n_deferred = n_bt = 0;
        for (const tg_node *n = tape->last; n; n = n->prev) {
            *fused += n->op == TG_OP_FUSED;
            n_residual += n->op == TG_OP_MATMUL && n->a.i[2];
            n_deferred += n->wg != NULL;
            n_bt += n->op == TG_OP_MATMUL && n->a.ptr;
        }
    } else {
        fprintf(stderr, "%s\n", err.code ? err.msg : tg_tape_error(tape)->msg);
        CHECK(0);
    }
    tg_tape_free(tape);
    tg_model_free(&m);
    return v;
}

/* max |a - b| over two runs' gradients (1 << 20 of them, zero past the parameters) */
static double max_diff(const double *a, const double *b)
{
    double worst = 0;
    for (int i = 0; i < (1 << 20); i++) worst = fmax(worst, fabs(a[i] - b[i]));
    return worst;
}

static void compare(const char *cfg, const char *const *sets, int n_sets, int expect_fused)
{
    static double g0[1 << 20], g1[1 << 20], g2[1 << 20];
    int64_t n0, f0, n1, f1, n2, f2;
    double l0 = run(cfg, sets, n_sets, 0, 0, g0, &n0, &f0);
    double l1 = run(cfg, sets, n_sets, 1, 1, g1, &n1, &f1);
    double l2 = run(cfg, sets, n_sets, 0, 1, g2, &n2, &f2);
    printf("%s: %lld nodes plain, %lld hoisted, %lld hoisted and fused (%lld fused ops); loss %.15g\n", cfg,
           (long long)n0, (long long)n2, (long long)n1, (long long)f1, l0);
    CHECK_NEAR(l1, l0, 1e-12);
    CHECK_NEAR(l2, l0, 1e-12);
    double worst = fmax(max_diff(g1, g0), max_diff(g2, g0));
    CHECK_NEAR(worst, 0, 1e-12);
    CHECK(f0 == 0 && n2 <= n0);
    if (expect_fused) CHECK(f1 > 0 && n1 < n2 && n2 < n0);
}

/* Two spellings of one model (sets a and b): the same loss and gradients */
static void same(const char *cfg, const char *const *a, int na, const char *const *b, int nb)
{
    static double g0[1 << 20], g1[1 << 20];
    int64_t n0, f0, n1, f1;
    double l0 = run(cfg, a, na, 1, 1, g0, &n0, &f0), l1 = run(cfg, b, nb, 1, 1, g1, &n1, &f1);
    double worst = max_diff(g1, g0);
    printf("%s: %lld nodes against %lld; loss %.15g against %.15g, gradients differ by %.3g\n", cfg,
           (long long)n0, (long long)n1, l0, l1, worst);
    CHECK_NEAR(l1, l0, 1e-12);
    CHECK_NEAR(worst, 0, 1e-12);
}

/* The same with each step's small product deferring its weight gradient */
static void deferred(const char *cfg, const char *const *sets, int n_sets)
{
    static double g0[1 << 20], g1[1 << 20];
    int64_t n0, f0, n1, f1;
    double l0 = run(cfg, sets, n_sets, 1, 1, g0, &n0, &f0);
    defer_on = 1;
    double l1 = run(cfg, sets, n_sets, 1, 1, g1, &n1, &f1);
    defer_on = 0;
    double worst = max_diff(g1, g0);
    printf("%s: %lld products deferred their weight gradient; loss %.15g against %.15g, gradients differ by %.3g\n",
           cfg, (long long)n_deferred, l1, l0, worst);
    CHECK(n_deferred >= T); /* each step's h @ W_hh.T, and at these sizes (M = 15) the others */
    CHECK_NEAR(l1, l0, 1e-12);
    CHECK_NEAR(worst, 0, 1e-12);
}

/* As the trainer runs it (gradient buffers recycled and handed on, weight gradients
 * deferred, fused and hoisted) against plain, at batch B x T: B or T of 1 takes the
 * hoisting's reshape path (no transpose) */
static void recycled(const char *cfg, const char *const *sets, int n_sets, int b, int t)
{
    static double g0[1 << 20], g1[1 << 20];
    int64_t n0, f0, n1, f1;
    B = b, T = t;
    double l0 = run(cfg, sets, n_sets, 0, 0, g0, &n0, &f0);
    recycle_on = defer_on = 1;
    double l1 = run(cfg, sets, n_sets, 1, 1, g1, &n1, &f1);
    recycle_on = defer_on = 0;
    B = B0, T = T0;
    double worst = max_diff(g1, g0);
    printf("%s, batch %d x %d, recycled: %lld buffers handed on; loss %.15g against %.15g, gradients differ by %.3g\n",
           cfg, b, t, (long long)n_handed, l1, l0, worst);
    CHECK(n_handed > 0);
    CHECK_NEAR(l1, l0, 1e-12);
    CHECK_NEAR(worst, 0, 1e-12);
}

int main(void)
{
    const char *lstm[] = {"model.input.dim=6", "model.layers.0.hidden=7", "model.input.vocab=11"};
    compare("../configs/lstm.yaml", lstm, 3, 1);
    CHECK(n_bt == T); /* each step's h @ W_hh.T multiplied by the sequence's copy of W_hh.T */
    const char *gru[] = {"model.input.dim=6", "model.layers.0.hidden=7", "model.input.vocab=11"};
    compare("../configs/gru.yaml", gru, 3, 1);
    const char *tr[] = {"model.input.dim=8", "model.input.max_len=8", "model.input.vocab=11"};
    compare("../configs/transformer.yaml", tr, 3, 0); /* nothing to fuse: its chains end in products */
    CHECK(n_residual == 8); /* both residual sums of each of 4 blocks ride on their products */
    /* the built-in block's attention op against the block written out long-hand */
    const char *lh[] = {"model.input.dim=8", "model.input.max_len=8", "model.input.vocab=11",
                        "model.layers.0.block=../tests/blocks/transformer_longhand.yaml",
                        "model.layers.1.block=../tests/blocks/transformer_longhand.yaml",
                        "model.layers.2.block=../tests/blocks/transformer_longhand.yaml",
                        "model.layers.3.block=../tests/blocks/transformer_longhand.yaml"};
    same("../configs/transformer.yaml", tr, 3, lh, 7);
    /* the benchmark's user-written LSTM, its gates named one by one */
    const char *user[] = {"model.input.dim=6", "model.layers.0.hidden=7", "model.input.vocab=11",
                          "model.layers.0.cell=../bench/cells/my_lstm.yaml"};
    compare("../configs/lstm.yaml", user, 4, 1);
    /* two splits of one source, parts read in place and parts read by products */
    const char *two[] = {"model.input.dim=6", "model.layers.0.hidden=7", "model.input.vocab=11",
                         "model.layers.0.cell=../tests/cells/two_splits.yaml"};
    compare("../configs/lstm.yaml", two, 4, 0);
    /* small products' weight gradients deferred to one product per weight: the same */
    deferred("../configs/lstm.yaml", lstm, 3);
    deferred("../configs/gru.yaml", gru, 3);
    deferred("../configs/lstm.yaml", user, 4);
    /* the trainer's settings: hand-over, in-place gradients, views of the time-major
     * hoisted product */
    const int shapes[][2] = {{B0, T0}, {1, T0}, {B0, 1}};
    for (int k = 0; k < 3; k++) {
        recycled("../configs/lstm.yaml", lstm, 3, shapes[k][0], shapes[k][1]);
        recycled("../configs/gru.yaml", gru, 3, shapes[k][0], shapes[k][1]);
        recycled("../configs/lstm.yaml", user, 4, shapes[k][0], shapes[k][1]);
        recycled("../configs/transformer.yaml", tr, 3, shapes[k][0], shapes[k][1]);
    }
    return tg_test_end();
}
