/* gemm.c: matrix products behind one function (see gemm.h): oneDNN when present,
 * and a portable kernel that is correct everywhere and fast enough for tests. */
#include "ops/gemm.h"

#include <stdio.h>
#include <stdlib.h>

#include "ops/op.h"

#include <omp.h>
#if TG_HAVE_DNNL && !TG_REAL_DOUBLE
#include <oneapi/dnnl/dnnl.h>
#endif

/* C (M,N) = alpha * op(A) (M,K) @ op(B) (K,N) + beta * C */
static void rows(int i0, int i1, int ta, int tb, int N, int K, real alpha, const real *A,
                 int lda, const real *B, int ldb, real beta, real *C, int ldc)
{
    for (int i = i0; i < i1; i++) {
        real *c = C + (int64_t)i * ldc;
        if (beta == 0) for (int j = 0; j < N; j++) c[j] = 0;
        else if (beta != 1) for (int j = 0; j < N; j++) c[j] *= beta;
        if (!tb) { /* rows of B are contiguous: c += a_ik * B[k,:] */
            for (int k = 0; k < K; k++) {
                real aik = alpha * (ta ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k]);
                const real *b = B + (int64_t)k * ldb;
#pragma omp simd
                for (int j = 0; j < N; j++) c[j] += aik * b[j];
            }
        } else { /* B stored [N,K]: c[j] += dot(a_i, B[j,:]) */
            for (int j = 0; j < N; j++) {
                const real *b = B + (int64_t)j * ldb;
                real s = 0;
                if (!ta) {
                    const real *a = A + (int64_t)i * lda;
#pragma omp simd reduction(+ : s)
                    for (int k = 0; k < K; k++) s += a[k] * b[k];
                } else {
                    for (int k = 0; k < K; k++) s += A[(int64_t)k * lda + i] * b[k];
                }
                c[j] += alpha * s;
            }
        }
    }
}

void TG_K(tg_gemm_portable)(int ta, int tb, int M, int N, int K, real alpha, const real *A,
                            int lda, const real *B, int ldb, real beta, real *C, int ldc)
{
    if ((double)M * N * K < 1e6 || M < 2) {
        rows(0, M, ta, tb, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#pragma omp parallel for
    for (int i = 0; i < M; i++) rows(i, i + 1, ta, tb, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#if TG_HAVE_DNNL && !TG_REAL_DOUBLE
/* dnnl_sgemm reads a transposed A whose leading dimension is a multiple of 4 KB (1024
 * floats) through aliasing cache sets: A^T B with M = 1024, K = 1024, N = 256 (an
 * LSTM's weight gradient, G^T X with G [rows, 4H]) ran at 134 GFLOP/s against 180 for
 * the same product transposed, C^T = op(B)^T A (bench/gemm_bench). Such products run
 * transposed into a scratch, then C = C^T^T + beta C, in tiles. (The scratch comes
 * from malloc each time: after the first, glibc serves it from the heap, not mmap.) */
enum { ALIAS_LD = 1024, TILE = 32 };

static int aliased(int ta, int tb, int M, int N, int K, int lda, int ldb)
{
    /* the new call's left operand is op(B)^T: B itself transposed unless tb, which
     * must not alias in turn */
    return ta && lda % ALIAS_LD == 0 && M >= ALIAS_LD / 2 && (double)M * N * K >= (double)(1 << 24) &&
           (tb || ldb % ALIAS_LD != 0);
}

static int transposed_route(int tb, int M, int N, int K, float alpha, const float *A, int lda,
                            const float *B, int ldb, float beta, float *C, int ldc)
{
    float *T = malloc(sizeof *T * (size_t)N * M);
    if (!T) return -1; /* the caller takes the direct route */
    /* T (N,M) = alpha op(B)^T A^T^T = alpha op(B)^T A, A stored [K,M] */
    dnnl_sgemm(tb ? 'N' : 'T', 'N', N, M, K, alpha, B, ldb, A, lda, 0, T, M);
    for (int i0 = 0; i0 < M; i0 += TILE)
        for (int j0 = 0; j0 < N; j0 += TILE) {
            int i1 = i0 + TILE < M ? i0 + TILE : M, j1 = j0 + TILE < N ? j0 + TILE : N;
            for (int i = i0; i < i1; i++) {
                float *c = C + (int64_t)i * ldc;
                if (beta == 0)
                    for (int j = j0; j < j1; j++) c[j] = T[(int64_t)j * M + i];
                else
                    for (int j = j0; j < j1; j++) c[j] = T[(int64_t)j * M + i] + beta * c[j];
            }
        }
    free(T);
    return 0;
}
#endif

void TG_K(tg_gemm)(int ta, int tb, int M, int N, int K, real alpha, const real *A, int lda,
                   const real *B, int ldb, real beta, real *C, int ldc)
{
#if TG_HAVE_DNNL && !TG_REAL_DOUBLE
    if (aliased(ta, tb, M, N, K, lda, ldb) &&
        transposed_route(tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0)
        return;
    /* dnnl_sgemm is row-major, like tapegrad; it fails only on invalid sizes, which
     * the ops' shape rules exclude. Small products run on one thread: below about 2
     * MFLOP the threads cost more than they bring (64x64x64: 141 GFLOP/s on one
     * thread, 72 on two; bench/gemm_bench). oneDNN reads the calling thread's OpenMP
     * thread count, so setting it around the call is enough. */
    int small = (double)M * N * K < (double)(1 << 21) && !omp_in_parallel();
    int threads = small ? omp_get_max_threads() : 1;
    if (small && threads > 1) omp_set_num_threads(1);
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (small && threads > 1) omp_set_num_threads(threads);
#else
    TG_K(tg_gemm_portable)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

/* Blocks of C of 128 rows (or, with fewer than 256 rows, of 128 columns), each one
 * task, when a block is at least TG_GEMM_TASK_MIN multiply-adds. The blocks are fixed
 * by the sizes alone, so the result does not depend on which thread runs which. */
#define SPLIT_BLOCK 128

void TG_K(tg_gemm_split)(int ta, int tb, int M, int N, int K, real alpha, const real *A, int lda,
                         const real *B, int ldb, real beta, real *C, int ldc)
{
    int by_rows = M >= 2 * SPLIT_BLOCK, by_cols = !by_rows && N >= 2 * SPLIT_BLOCK;
#if TG_HAVE_DNNL && !TG_REAL_DOUBLE
    /* a product that takes the transposed route keeps it in column blocks (its rows
     * must stay many) */
    if (by_rows && N >= 2 * SPLIT_BLOCK && aliased(ta, tb, M, N, K, lda, ldb)) by_rows = 0, by_cols = 1;
#endif
    double block = (double)SPLIT_BLOCK * K * (by_rows ? N : M);
    if (!(by_rows || by_cols) || block < TG_GEMM_TASK_MIN || !TG_IN_TEAM()) {
        TG_K(tg_gemm)(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int n = by_rows ? M : N, nb = (n + SPLIT_BLOCK - 1) / SPLIT_BLOCK;
    TG_TASK_RANGES(i, i1, nb, nb, { /* one block a task: i1 = i + 1 */
        int o = (int)i * SPLIT_BLOCK, e = n - o < SPLIT_BLOCK ? n - o : SPLIT_BLOCK;
        if (by_rows)
            TG_K(tg_gemm)(ta, tb, e, N, K, alpha, A + (ta ? o : (int64_t)o * lda), lda, B, ldb, beta,
                          C + (int64_t)o * ldc, ldc);
        else
            TG_K(tg_gemm)(ta, tb, M, e, K, alpha, A, lda, B + (tb ? (int64_t)o * ldb : o), ldb, beta,
                          C + o, ldc);
    });
}

#if TG_ONCE
const char *tg_gemm_backend(void)
{
#if TG_HAVE_DNNL
    static char name[64];
    if (!name[0]) {
        const dnnl_version_t *v = dnnl_version();
        snprintf(name, sizeof name, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    }
    return name;
#else
    return "portable";
#endif
}
#endif
