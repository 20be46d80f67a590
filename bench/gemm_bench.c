/* gemm_bench.c: GFLOP/s of tapegrad's matrix product (the active backend, the same
 * function the ops call) per size, on 1 and 2 threads, next to the single-core FMA
 * peak measured in the same run; "T MxKxN" is A^T @ B. Usage: gemm_bench [--portable]
 * Each figure is the median of 7 timed runs of at least 0.1 s each. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/gemm.h"
#include "peak.h"

typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int,
                        float, float *, int);

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* C = op(A) @ B, op(A) = A^T (A stored [K,M], lda M) when ta */
static double gflops(gemm_fn f, int ta, int M, int N, int K, int threads)
{
    omp_set_num_threads(threads);
    float *A = malloc(sizeof *A * M * K), *B = malloc(sizeof *B * K * N), *C = malloc(sizeof *C * M * N);
    for (long i = 0; i < (long)M * K; i++) A[i] = (float)((i % 17) - 8) / 8;
    for (long i = 0; i < (long)K * N; i++) B[i] = (float)((i % 13) - 6) / 6;
    memset(C, 0, sizeof *C * M * N);
    int lda = ta ? M : K;
    f(ta, 0, M, N, K, 1, A, lda, B, N, 0, C, N); /* warm-up */
    double runs[7], flop = 2.0 * M * N * K;
    for (int r = 0; r < 7; r++) {
        long reps = 0;
        double t0 = tg_bench_now(), dt;
        do {
            f(ta, 0, M, N, K, 1, A, lda, B, N, 0, C, N);
            reps++;
            dt = tg_bench_now() - t0;
        } while (dt < 0.1);
        runs[r] = flop * reps / dt / 1e9;
    }
    qsort(runs, 7, sizeof *runs, cmp);
    free(A), free(B), free(C);
    return runs[3];
}

int main(int argc, char **argv)
{
    int portable = argc > 1 && strcmp(argv[1], "--portable") == 0;
    gemm_fn f = portable ? tg_gemm_portable_f32 : tg_gemm_f32;
    const char *isa = "?";
    double peak = tg_bench_fma_peak(&isa);
    if (argc > 1 && strcmp(argv[1], "--peak") == 0) { /* for bench/compare.sh */
        printf("%.1f %s\n", peak, isa);
        return 0;
    }
    printf("backend: %s\n", portable ? "portable" : tg_gemm_backend());
    printf("single-core FMA peak (%s, measured): %.1f GFLOP/s\n\n", isa, peak);
    printf("%-22s %12s %8s %12s %8s %10s\n", "M x K x N", "1 thread", "%peak", "2 threads",
           "%peak2", "speedup");
    /* {M, K, N, ta}: the last two, A^T B with A's leading dimension 1024 (an LSTM's
     * weight gradient G^T X) and the same product with M = 960 (ops/gemm.c) */
    int sizes[][4] = {{1024, 1024, 1024, 0}, {32, 256, 1024, 0}, {32, 256, 768, 0}, {2048, 256, 1024, 0},
                      {64, 64, 64, 0},       {256, 256, 256, 0},  {2048, 128, 512, 0}, {1024, 1024, 256, 1},
                      {960, 1024, 256, 1}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int M = sizes[s][0], K = sizes[s][1], N = sizes[s][2], ta = sizes[s][3];
        double g1 = gflops(f, ta, M, N, K, 1), g2 = gflops(f, ta, M, N, K, 2);
        char name[32];
        snprintf(name, sizeof name, "%s%dx%dx%d", ta ? "T " : "", M, K, N);
        printf("%-22s %12.1f %7.0f%% %12.1f %7.0f%% %9.2fx\n", name, g1, 100 * g1 / peak, g2,
               100 * g2 / (2 * peak), g2 / g1);
    }
    return 0;
}
