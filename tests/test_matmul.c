/* test_matmul.c: the fast matmul path against the portable kernel and against a plain
 * float64 triple loop, every transpose combination, at sizes from 1 to RNN-sized
 * ([32,256] @ [256,1024]) and an LSTM's weight gradient's shape (A^T with a leading
 * dimension of 1024, which the oneDNN path runs transposed), including odd sizes and
 * leading dims that exceed the row length (sub-matrices): relative error <= 1e-4. */
#include <stdlib.h>

#include "graph/rng.h"
#include "ops/gemm.h"
#include "test.h"

static double ref_at(int ta, int tb, int K, const float *A, int lda, const float *B, int ldb,
                     int i, int j)
{
    double s = 0;
    for (int k = 0; k < K; k++)
        s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
    return s;
}

static void check_size(int M, int N, int K, int pad)
{
    tg_rng r = {(uint64_t)(M * 131 + N * 7 + K)};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            int ra = ta ? K : M, rb = tb ? N : K;
            float *A = malloc(sizeof *A * ra * lda), *B = malloc(sizeof *B * rb * ldb);
            float *C = malloc(sizeof *C * M * ldc), *P = malloc(sizeof *P * M * ldc);
            for (int i = 0; i < ra * lda; i++) A[i] = (float)(tg_rng_uniform(&r) * 2 - 1);
            for (int i = 0; i < rb * ldb; i++) B[i] = (float)(tg_rng_uniform(&r) * 2 - 1);
            for (int i = 0; i < M * ldc; i++) C[i] = P[i] = (float)(tg_rng_uniform(&r) - 0.5);
            /* C = 0.5 op(A) op(B) + 2 C */
            double *C0 = malloc(sizeof *C0 * M * ldc);
            for (int i = 0; i < M * ldc; i++) C0[i] = C[i];
            tg_gemm_f32(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C, ldc);
            tg_gemm_portable_f32(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, P, ldc);
            double md = 0, mp = 0, mref = 1e-6;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double ref = 0.5 * ref_at(ta, tb, K, A, lda, B, ldb, i, j) + 2 * C0[i * ldc + j];
                    md = fmax(md, fabs(C[i * ldc + j] - ref));
                    mp = fmax(mp, fabs(P[i * ldc + j] - ref));
                    mref = fmax(mref, fabs(ref));
                }
            if (md / mref > 1e-4 || mp / mref > 1e-4)
                fprintf(stderr, "M=%d N=%d K=%d ta=%d tb=%d pad=%d: fast %.2e portable %.2e\n", M,
                        N, K, ta, tb, pad, md / mref, mp / mref);
            CHECK(md / mref <= 1e-4);
            CHECK(mp / mref <= 1e-4);
            free(A), free(B), free(C), free(P), free(C0);
        }
}

/* The oneDNN path's transposed route (ops/gemm.c: A^T with a leading dimension of
 * 1024) with beta 0 over a NaN-filled C whose leading dimension exceeds N, both tb */
static void check_transposed_route(void)
{
    enum { M = 1024, K = 64, N = 256, LDC = N + 5 };
    tg_rng r = {77};
    for (int tb = 0; tb < 2; tb++) {
        int ldb = tb ? K : N;
        float *A = malloc(sizeof *A * K * M), *B = malloc(sizeof *B * K * N), *C = malloc(sizeof *C * M * LDC);
        for (int i = 0; i < K * M; i++) A[i] = (float)(tg_rng_uniform(&r) * 2 - 1);
        for (int i = 0; i < K * N; i++) B[i] = (float)(tg_rng_uniform(&r) * 2 - 1);
        for (int i = 0; i < M * LDC; i++) C[i] = NAN;
        tg_gemm_f32(1, tb, M, N, K, 1.5f, A, M, B, ldb, 0, C, LDC);
        double md = 0, mref = 1e-6;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double ref = 1.5 * ref_at(1, tb, K, A, M, B, ldb, i, j);
                md = fmax(md, isnan(C[i * LDC + j]) ? INFINITY : fabs(C[i * LDC + j] - ref));
                mref = fmax(mref, fabs(ref));
            }
        for (int i = 0; i < M; i++) /* the padding past N is not written */
            for (int j = N; j < LDC; j++) CHECK(isnan(C[i * LDC + j]));
        CHECK(md / mref <= 1e-4);
        free(A), free(B), free(C);
    }
}

int main(void)
{
    check_transposed_route();
    printf("backend: %s\n", tg_gemm_backend());
    /* {1024, 256, 64}: with ta, A's leading dimension is 1024 (4 KB), and oneDNN's
     * product runs transposed (ops/gemm.c) */
    int sizes[][3] = {{1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {17, 33, 65}, {64, 64, 64},
                      {32, 1024, 256}, {100, 37, 200}, {1024, 256, 64}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        check_size(sizes[s][0], sizes[s][1], sizes[s][2], 0);
        check_size(sizes[s][0], sizes[s][1], sizes[s][2], 3);
    }
    return tg_test_end();
}
