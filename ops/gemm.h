/* gemm.h: the one internal matrix-product function. Row-major
 * C = alpha * op(A) @ op(B) + beta * C with op(A) [M,K], op(B) [K,N], C [M,N];
 * ta/tb = 1 transposes A/B as stored; lda/ldb/ldc are row strides as stored.
 * The f32 form goes to oneDNN's dnnl_sgemm when the build found it (TG_HAVE_DNNL),
 * otherwise to the portable kernel; the f64 form (the gradient checker) is always the
 * portable kernel. Internal: not part of the installed API. */
#ifndef TG_GEMM_H
#define TG_GEMM_H

void tg_gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
void tg_gemm_f64(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda,
                 const double *B, int ldb, double beta, double *C, int ldc);
/* The same, but inside a parallel region a large product runs as tasks over fixed
 * blocks of C, which the team's idle threads can take (a trainer's shard that finished
 * early helps the other; ops/op.h, TG_TASKED). The same result whichever thread runs a
 * block. A block is at least TG_GEMM_TASK_MIN multiply-adds (40 µs or more): a task
 * costs about 1 µs. */
#define TG_GEMM_TASK_MIN (1 << 21)
void tg_gemm_split_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc);
void tg_gemm_split_f64(int ta, int tb, int M, int N, int K, double alpha, const double *A, int lda,
                       const double *B, int ldb, double beta, double *C, int ldc);
/* The portable kernel, f32, whatever the build: for tests and benchmarks. */
void tg_gemm_portable_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                          int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* "oneDNN 2.6.3" or "portable". Static storage. */
const char *tg_gemm_backend(void);

#endif
