/* test_attention.c: the attention op gives the values and gradients of the long-hand
 * form it replaces (heads split by reshape and permute, scaled bmm, masked_fill with
 * -1e9 for the causal and padding masks, softmax, bmm, heads joined): to 1e-12 in
 * float64 at small sizes, and to 1e-5 (relative to the largest value) in float32 at
 * the benchmark's sizes, where the products go to the fast backend and the (batch,
 * head) pairs across threads. Self- and cross-attention, with and without masks. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "graph/rng.h"
#include "ops/ops.h"
#include "test.h"

typedef struct cfg { int B, T, S, C, NH, causal, pad; double scale; } cfg;

/* [B,L,C] -> [B,NH,L,d] */
static tg_tensor *heads(tg_tape *t, tg_tensor *x, int NH)
{
    int B = x->shape[0], L = x->shape[1], C = x->shape[2];
    tg_tensor *r = tg_reshape(t, x, 4, (int[]){B, L, NH, C / NH});
    return tg_permute(t, r, (int[]){0, 2, 1, 3});
}

static tg_tensor *long_hand(tg_tape *t, const cfg *c, tg_tensor *q, tg_tensor *k, tg_tensor *v,
                            tg_tensor *causal, tg_tensor *pad)
{
    tg_tensor *in[2] = {heads(t, q, c->NH), heads(t, k, c->NH)};
    double scale = c->scale != 0 ? c->scale : 1 / sqrt((double)(c->C / c->NH));
    tg_attrs a = {.i = {0, 1}, .f = scale};
    tg_tensor *s = tg_op_apply(t, TG_OP_BMM, 2, in, &a);
    if (causal) s = tg_masked_fill(t, s, causal, -1e9);
    if (pad) s = tg_masked_fill(t, s, pad, -1e9);
    tg_tensor *o = tg_bmm(t, tg_softmax(t, s), heads(t, v, c->NH), 0, 0);
    return tg_reshape(t, tg_permute(t, o, (int[]){0, 2, 1, 3}), 3, (int[]){c->B, c->T, c->C});
}

/* y and the gradients of sum(y * w) for q, k, v, by one form; into out (numel of y +
 * 3 inputs). Returns the count written. */
static int64_t run(tg_dtype dt, const cfg *c, int fused, double *out)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(dt, &err);
    tg_rng r = {1234};
    int shq[3] = {c->B, c->T, c->C}, shk[3] = {c->B, c->S, c->C};
    tg_tensor *x[3];
    for (int i = 0; i < 3; i++) {
        x[i] = tg_tensor_new(dt, 3, i ? shk : shq, 1, &err);
        for (int64_t j = 0; j < x[i]->numel; j++) tg_tensor_set(x[i], j, tg_rng_uniform(&r) * 4 - 2);
    }
    tg_tensor *causal = NULL, *pad = NULL, *mask = NULL;
    if (c->causal) { /* the long-hand form's causal mask [T,S] */
        causal = tg_tape_zeros(t, dt, 2, (int[]){c->T, c->S});
        for (int i = 0; i < c->T; i++)
            for (int j = i + 1; j < c->S; j++) tg_tensor_set(causal, (int64_t)i * c->S + j, 1);
    }
    if (c->pad) { /* the last `pad` keys of every other sequence are padding */
        pad = tg_tape_zeros(t, dt, 4, (int[]){c->B, 1, 1, c->S});
        for (int b = 0; b < c->B; b += 2)
            for (int j = c->S - c->pad; j < c->S; j++) tg_tensor_set(pad, (int64_t)b * c->S + j, 1);
        mask = pad;
    }
    tg_tensor *y = fused ? tg_attention(t, x[0], x[1], x[2], mask, c->NH, c->causal, c->scale)
                         : long_hand(t, c, x[0], x[1], x[2], causal, pad);
    tg_tensor *w = tg_tape_tensor(t, dt, 3, shq);
    for (int64_t j = 0; w && j < w->numel; j++) tg_tensor_set(w, j, tg_rng_uniform(&r) - 0.5);
    tg_tensor *loss = tg_sum(t, tg_mul(t, y, w), TG_AXIS_ALL);
    int64_t k = 0;
    if (!loss || tg_tape_backward(t, loss) != TG_OK) {
        fprintf(stderr, "%s\n", tg_tape_error(t)->msg);
        CHECK(0);
    } else {
        for (int64_t j = 0; j < y->numel; j++) out[k++] = tg_tensor_get(y, j);
        for (int i = 0; i < 3; i++)
            for (int64_t j = 0; j < x[i]->numel; j++) out[k++] = tg_tensor_grad_get(x[i], j);
    }
    for (int i = 0; i < 3; i++) tg_tensor_free(x[i]);
    tg_tape_free(t);
    return k;
}

static void compare(tg_dtype dt, cfg c, double tol)
{
    int64_t n = 2 * (int64_t)c.B * c.C * (c.T + c.S); /* y and dq; dk and dv */
    double *a = malloc(sizeof *a * n), *b = malloc(sizeof *b * n);
    int64_t na = run(dt, &c, 0, a), nb = run(dt, &c, 1, b);
    CHECK(na == n && nb == n);
    double diff = 0, big = 1e-30;
    for (int64_t i = 0; i < n && na == nb; i++) {
        diff = fmax(diff, fabs(a[i] - b[i]));
        big = fmax(big, fabs(a[i]));
    }
    printf("%s B=%d T=%d S=%d C=%d heads=%d causal=%d pad=%d: max difference %.3g (largest %.3g)\n",
           dt == TG_F64 ? "f64" : "f32", c.B, c.T, c.S, c.C, c.NH, c.causal, c.pad, diff, big);
    CHECK(diff <= tol * big);
    free(a), free(b);
}

/* The op recorded inside another parallel region with more threads than the
 * thread count it sizes its scratch by (a trainer's shards are such a region): each
 * thread's result equals the one recorded alone (ASan, in CI, would see a write past
 * the scratch). */
static void nested(void)
{
    cfg c = {2, 64, 64, 128, 4, 1, 0, 0}; /* 2 x 4 pairs of 64 x 64: pairs run inline */
    int64_t n = 2 * (int64_t)c.B * c.C * (c.T + c.S);
    double *ref = malloc(sizeof *ref * n), *got[2] = {malloc(sizeof *ref * n), malloc(sizeof *ref * n)};
    int64_t nr = run(TG_F32, &c, 1, ref), ng[2] = {0, 0};
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
#pragma omp parallel num_threads(2)
    {
        int i = omp_get_thread_num();
        ng[i] = run(TG_F32, &c, 1, got[i]);
    }
    omp_set_num_threads(threads);
    double diff = 0;
    for (int i = 0; i < 2; i++)
        for (int64_t j = 0; j < n && ng[i] == nr; j++) diff = fmax(diff, fabs(got[i][j] - ref[j]));
    printf("inside a parallel region of 2 threads: max difference %.3g\n", diff);
    CHECK(nr == n && ng[0] == n && ng[1] == n && diff == 0);
    free(ref), free(got[0]), free(got[1]);
}

int main(void)
{
    compare(TG_F64, (cfg){2, 5, 5, 8, 2, 1, 2, 0}, 1e-12);  /* a Transformer block's */
    compare(TG_F64, (cfg){3, 4, 4, 6, 3, 0, 0, 0}, 1e-12);  /* bidirectional */
    compare(TG_F64, (cfg){2, 3, 6, 4, 1, 0, 3, 0.3}, 1e-12); /* cross-attention, a scale */
    compare(TG_F64, (cfg){2, 4, 4, 4, 2, 1, 4, 0}, 1e-12);  /* whole rows masked */
    compare(TG_F32, (cfg){16, 64, 64, 128, 4, 1, 0, 0}, 1e-5); /* the benchmark's */
    compare(TG_F32, (cfg){8, 64, 64, 128, 4, 1, 9, 0}, 1e-5);
    /* T = 37: the softmax's last group of rows is partial (37 = 2 x 16 + 5), and causal
     * rows past 16 and 32 columns end inside a vector */
    compare(TG_F32, (cfg){3, 37, 37, 16, 2, 1, 0, 0}, 1e-5);
    compare(TG_F64, (cfg){2, 37, 37, 8, 2, 1, 5, 0}, 1e-12);
    /* heads of 1 to 4 vectors (16 floats or 8 doubles each) take ops/headmm.h's
     * kernels: causal and not, S below and above T, padding, whole rows masked (pad =
     * S: their softmax is uniform over every key, also past the causal bound), T and S
     * not multiples of a vector */
    compare(TG_F64, (cfg){2, 5, 5, 16, 2, 1, 2, 0}, 1e-12);
    compare(TG_F64, (cfg){2, 6, 9, 48, 2, 0, 3, 0.3}, 1e-12);
    compare(TG_F64, (cfg){2, 4, 4, 64, 2, 1, 4, 0}, 1e-12);
    compare(TG_F64, (cfg){2, 11, 7, 24, 1, 1, 0, 0}, 1e-12);
    compare(TG_F32, (cfg){3, 37, 37, 32, 2, 1, 0, 0}, 1e-5);
    compare(TG_F32, (cfg){2, 21, 45, 96, 2, 0, 7, 0}, 1e-5);
    compare(TG_F32, (cfg){2, 19, 19, 128, 2, 1, 19, 0}, 1e-5);
    compare(TG_F32, (cfg){2, 40, 23, 32, 1, 1, 0, 0}, 1e-5);
    compare(TG_F32, (cfg){2, 9, 30, 64, 2, 1, 3, 0}, 1e-5);
    /* the softmax fused into the score kernel (no mask tensor, S <= 64 floats or 32
     * doubles): causal or not, T below and above S, heads of 1 to 4 vectors */
    compare(TG_F32, (cfg){2, 20, 37, 64, 4, 0, 0, 0}, 1e-5);
    compare(TG_F64, (cfg){2, 7, 13, 32, 2, 0, 0, 0}, 1e-12);
    compare(TG_F32, (cfg){2, 9, 30, 32, 2, 1, 0, 0}, 1e-5);
    compare(TG_F64, (cfg){2, 5, 13, 16, 2, 1, 0, 0}, 1e-12);
    compare(TG_F32, (cfg){2, 21, 45, 96, 2, 1, 0, 0}, 1e-5);
    compare(TG_F32, (cfg){2, 19, 50, 128, 2, 0, 0, 0}, 1e-5);
    compare(TG_F64, (cfg){2, 13, 13, 32, 2, 1, 0, 0}, 1e-12);
    compare(TG_F64, (cfg){2, 9, 30, 64, 2, 1, 0, 0}, 1e-12);
    /* more keys than one pass holds: scores in several passes of columns, then the
     * softmax apart; and whole rows masked with T > S > 64 */
    compare(TG_F32, (cfg){2, 70, 70, 64, 2, 1, 0, 0}, 1e-5);
    compare(TG_F32, (cfg){1, 3, 130, 64, 1, 0, 0, 0}, 1e-5);
    compare(TG_F32, (cfg){2, 65, 65, 32, 2, 1, 0, 0}, 1e-5);
    compare(TG_F64, (cfg){2, 33, 33, 16, 2, 1, 0, 0}, 1e-12);
    compare(TG_F64, (cfg){2, 20, 41, 48, 2, 0, 0, 0}, 1e-12);
    compare(TG_F32, (cfg){8, 70, 70, 128, 2, 1, 0, 0}, 1e-5);
    compare(TG_F32, (cfg){2, 80, 70, 64, 2, 1, 70, 0}, 1e-5);
    nested();
    return tg_test_end();
}
