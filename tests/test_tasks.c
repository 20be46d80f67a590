/* test_tasks.c: inside a parallel region (a trainer's shard on its thread), large
 * kernels run as OpenMP tasks that an idle thread of the team takes (ops/op.h,
 * TG_TASKED). A Transformer-like graph (linear + bias, GELU, linear + bias, causal
 * self-attention; forward and backward) is run three ways:
 *   alone    outside any parallel region: no tasks;
 *   helped   on thread 0 of a team of 2 whose thread 1 waits at the barrier and takes
 *            tasks;
 *   unhelped on thread 0 while thread 1 spins outside OpenMP until it is done, so that
 *            thread 0 runs every task itself.
 * helped and unhelped must agree bit for bit (which thread runs a block must not
 * matter), and both with alone to 1e-5 (products cut into blocks round differently).
 * The task counts (tg_task_counts) must show tasks in both, none taken by another
 * thread when unhelped, and some taken when helped. In float32 (oneDNN's products when
 * built with it) and float64 (the portable ones). */
#include <omp.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "graph/rng.h"
#include "ops/ops.h"
#include "test.h"

enum { B = 8, T = 64, C = 128, F = 512, NH = 4 };

static tg_tensor *param(tg_dtype dt, int ndim, const int *shape, tg_rng *r, double scale)
{
    tg_error err = {0};
    tg_tensor *p = tg_tensor_new(dt, ndim, shape, 1, &err);
    for (int64_t i = 0; p && i < p->numel; i++) tg_tensor_set(p, i, scale * (tg_rng_uniform(r) - 0.5));
    return p;
}

/* The graph's output and every parameter's gradient, into out; the count written */
static int64_t run(tg_dtype dt, double *out)
{
    tg_rng r = {7};
    tg_tensor *x = param(dt, 3, (int[]){B, T, C}, &r, 2), *w1 = param(dt, 2, (int[]){F, C}, &r, 0.2),
              *b1 = param(dt, 1, (int[]){F}, &r, 0.2), *w2 = param(dt, 2, (int[]){C, F}, &r, 0.1),
              *b2 = param(dt, 1, (int[]){C}, &r, 0.2);
    tg_tensor *ps[] = {x, w1, b1, w2, b2};
    tg_error err = {0};
    tg_tape *t = tg_tape_new(dt, &err);
    int64_t k = 0;
    CHECK(t != NULL);
    if (t) {
        tg_tensor *h = tg_gelu(t, tg_linear(t, x, w1, b1));                  /* [B,T,F] */
        tg_tensor *o = tg_linear(t, h, w2, b2);                              /* [B,T,C] */
        tg_tensor *y = tg_attention(t, o, o, o, NULL, NH, 1, 0);            /* B x NH pairs */
        tg_tensor *w = tg_tape_tensor(t, dt, 3, (int[]){B, T, C});
        for (int64_t i = 0; w && i < w->numel; i++) tg_tensor_set(w, i, tg_rng_uniform(&r) - 0.5);
        tg_tensor *loss = tg_sum(t, tg_mul(t, y, w), TG_AXIS_ALL);
        if (!loss || tg_tape_backward(t, loss) != TG_OK) {
            fprintf(stderr, "%s\n", tg_tape_error(t)->msg);
            CHECK(0);
        } else {
            for (int64_t i = 0; i < y->numel; i++) out[k++] = tg_tensor_get(y, i);
            for (int j = 0; j < 5; j++)
                for (int64_t i = 0; i < ps[j]->numel; i++) out[k++] = tg_tensor_grad_get(ps[j], i);
        }
        tg_tape_free(t);
    }
    for (int j = 0; j < 5; j++) tg_tensor_free(ps[j]);
    return k;
}

/* helped (1) or not (0), on thread 0 of a team of 2; *taken: tasks another thread ran */
static int64_t run_in_team(tg_dtype dt, int helped, double *out, int64_t *all, int64_t *taken)
{
    int64_t a0, t0, a1, t1, n = 0;
    atomic_int done = 0;
    tg_task_counts(&a0, &t0);
#pragma omp parallel num_threads(2)
    {
        if (omp_get_thread_num() == 0) {
            n = run(dt, out);
            atomic_store(&done, 1);
        } else if (!helped) {
            while (!atomic_load(&done)) { /* no OpenMP call: never a task scheduling point */
            }
        }
    }
    tg_task_counts(&a1, &t1);
    *all = a1 - a0, *taken = t1 - t0;
    return n;
}

static void check_dtype(tg_dtype dt)
{
    const char *name = dt == TG_F64 ? "f64" : "f32";
    int64_t n = (int64_t)B * T * C * 2 + 2 * (int64_t)F * C + F + C;
    double *alone = malloc(sizeof *alone * n), *helped = malloc(sizeof *alone * n),
           *unhelped = malloc(sizeof *alone * n);
    int64_t all, taken, na = run(dt, alone);
    int64_t nu = run_in_team(dt, 0, unhelped, &all, &taken);
    printf("%s unhelped: %lld tasks, %lld taken by the other thread\n", name, (long long)all, (long long)taken);
    CHECK(all >= 5 * 8); /* products, GELU and attention, forward and backward */
    /* the other thread takes tasks only when it wakes in time: a few tries */
    int64_t nh = 0;
    for (int i = 0; i < 20; i++) {
        nh = run_in_team(dt, 1, helped, &all, &taken);
        if (taken > 0) break;
    }
    printf("%s helped: %lld tasks, %lld taken by the other thread\n", name, (long long)all, (long long)taken);
    CHECK(taken > 0);
    CHECK(na == n && nu == n && nh == n);
    int64_t differ = 0;
    double diff = 0, big = 1e-30;
    for (int64_t i = 0; i < n && na == nu && nu == nh; i++) {
        differ += helped[i] != unhelped[i];
        diff = fmax(diff, fabs(helped[i] - alone[i]));
        big = fmax(big, fabs(alone[i]));
    }
    printf("%s: helped and unhelped differ in %lld of %lld values; helped vs alone: max difference %.3g "
           "(largest %.3g)\n", name, (long long)differ, (long long)n, diff, big);
    CHECK(differ == 0);
    CHECK(diff <= 1e-5 * big);
    free(alone), free(helped), free(unhelped);
}

int main(void)
{
    if (omp_get_thread_limit() < 2) {
        printf("skipped: OMP_THREAD_LIMIT allows one thread\n");
        return 77;
    }
    omp_set_dynamic(0);           /* a team of 2 when asked for 2 */
    omp_set_max_active_levels(1); /* as the trainer: kernels inside a shard do not fork */
    omp_set_num_threads(2);       /* attention sizes its scratch by this: room for a team of 2 */
    check_dtype(TG_F32);
    check_dtype(TG_F64);
    return tg_test_end();
}
