/* tape_overhead.c: the tape's own cost per node. A chain of 10^6 tiny ops (scale of a
 * one-element f32 tensor) is recorded and then back-propagated; the time per node of
 * recording and of backward is printed (median of 7 runs), with the arena's size.
 * The arithmetic is one multiply per node, so nearly all of it is bookkeeping. */
#include <stdio.h>
#include <stdlib.h>

#include "graph/tape.h"
#include "ops/ops.h"
#include "peak.h"

#define NODES 1000000

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F32, &err);
    tg_tensor *x = tg_tensor_new(TG_F32, 1, (int[]){1}, 1, &err);
    if (!t || !x) return fprintf(stderr, "%s\n", err.msg), 1;
    tg_tensor_set(x, 0, 1.0);
    double rec[7], bwd[7];
    for (int r = 0; r < 8; r++) { /* run 0 warms the arena */
        tg_tape_reset(t);
        tg_tensor_zero_grad(x);
        double t0 = tg_bench_now();
        tg_tensor *y = x;
        for (int i = 0; i < NODES; i++) y = tg_scale(t, y, 1.0000001);
        double t1 = tg_bench_now();
        if (tg_tape_backward(t, y) != TG_OK) return fprintf(stderr, "%s\n", t->err.msg), 1;
        double t2 = tg_bench_now();
        if (r) rec[r - 1] = (t1 - t0) * 1e9 / NODES, bwd[r - 1] = (t2 - t1) * 1e9 / NODES;
    }
    qsort(rec, 7, sizeof *rec, cmp);
    qsort(bwd, 7, sizeof *bwd, cmp);
    printf("chain of %d nodes: record %.1f ns/node, backward %.1f ns/node, total %.1f ns/node\n",
           NODES, rec[3], bwd[3], rec[3] + bwd[3]);
    printf("arena: %.1f MiB reserved, %.1f bytes/node\n", t->arena.reserved / 1048576.0,
           (double)t->arena.peak / NODES);
    tg_tape_free(t);
    tg_tensor_free(x);
    return 0;
}
