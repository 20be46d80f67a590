/* attention_bench.c: the attention op alone, forward and backward, on one thread at
 * the benchmark Transformer's shape per training thread: batch 16, 64 positions,
 * width 128, 4 causal heads, q, k and v read packed from one [B,T,3C] tensor (as the
 * trained model runs it). Usage: attention_bench [BATCH [SETS]]; SETS inputs are cycled
 * (default 12: about 18 MB, so that they come from memory rather than the cache, as
 * in training). Prints the median over 15 blocks of 20 steps, in microseconds per call,
 * and the multiply-adds of the per-head products as GFLOP/s (the causal products skip
 * about 40% of them; counted in full). Run it alone, on an idle machine. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "graph/tape.h"
#include "ops/ops.h"
#include "peak.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 16, sets = argc > 2 ? atoi(argv[2]) : 12;
    const int T = 64, C = 128, NH = 4, BLOCKS = 15, STEPS = 20;
    if (B < 1 || sets < 1 || sets > 64) return fprintf(stderr, "usage: attention_bench [BATCH [SETS <= 64]]\n"), 2;
    omp_set_num_threads(1);
    tg_error err = {0};
    tg_tape *t = tg_tape_new(TG_F32, &err);
    tg_tensor *x[64];
    for (int s = 0; s < sets; s++) {
        x[s] = tg_tensor_new(TG_F32, 3, (int[]){B, T, 3 * C}, 1, &err);
        if (!x[s]) return fprintf(stderr, "%s\n", err.msg), 1;
        float *d = x[s]->data;
        for (int64_t i = 0; i < x[s]->numel; i++) d[i] = (float)((i * 7919 + s) % 1000) / 500 - 1;
    }
    if (!t) return fprintf(stderr, "%s\n", err.msg), 1;
    double fwd[BLOCKS], bwd[BLOCKS];
    for (int blk = -1; blk < BLOCKS; blk++) { /* block -1 warms up */
        double f = 0, b = 0;
        for (int i = 0; i < STEPS; i++) {
            tg_tensor *q = x[(i + STEPS * (blk + 1)) % sets];
            tg_attrs a = {.i = {NH, 1, 1}}; /* heads, causal, packed */
            double t0 = tg_bench_now();
            tg_tensor *y = tg_op_apply(t, tg_op_find("attention"), 3, (tg_tensor *[]){q, q, q}, &a);
            double t1 = tg_bench_now();
            tg_tensor *l = tg_sum(t, y, TG_AXIS_ALL);
            double t2 = tg_bench_now();
            if (!l || tg_tape_backward(t, l) != TG_OK) return fprintf(stderr, "%s\n", tg_tape_error(t)->msg), 1;
            double t3 = tg_bench_now();
            f += t1 - t0, b += t3 - t2; /* backward: sum's (a fill) and attention's */
            tg_tensor_zero_grad(q);
            tg_tape_reset(t);
        }
        if (blk >= 0) fwd[blk] = f / STEPS, bwd[blk] = b / STEPS;
    }
    qsort(fwd, BLOCKS, sizeof *fwd, cmp);
    qsort(bwd, BLOCKS, sizeof *bwd, cmp);
    double f = fwd[BLOCKS / 2], b = bwd[BLOCKS / 2], mac = 2.0 * B * NH * T * T * (C / NH); /* one product */
    printf("attention, batch %d x %d, width %d, %d causal heads, packed, 1 thread, %d input sets\n", B, T, C,
           NH, sets);
    printf("forward  %8.1f us  (2 products, %.1f GFLOP/s counted in full)\n", f * 1e6, 2 * mac / f * 1e-9);
    printf("backward %8.1f us  (4 products, %.1f GFLOP/s counted in full)\n", b * 1e6, 4 * mac / b * 1e-9);
    for (int s = 0; s < sets; s++) tg_tensor_free(x[s]);
    tg_tape_free(t);
    return 0;
}
