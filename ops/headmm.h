/* headmm.h: the small matrix products of one attention head, register-blocked.
 *
 * An attention head's products are tiny (64 x 64 x 32 in the benchmark's Transformer)
 * and, when causal, triangular. A library gemm call per product spends much of its
 * time in the call, packing and edge handling (such products ran at about 100 GFLOP/s
 * against a 170 peak), and computes the masked half too. The two product kernels
 * keep a block of the output in registers, as vectors of 64 bytes (HV = 16 floats or
 * 8 doubles), and take a range of the reduction per block of rows, so a causal product
 * skips what the mask zeroes:
 *
 *   hmm_rows:  Y[i, :d] = alpha sum_j A(i, j) B[j, :d]  (+ Y[i, :d] when accumulating)
 *              A(i, j) = A[i ar + j aj], so A or A^T; d = HD vectors, HD = 1 to 4
 *   hmm_outer: P[i, c] = alpha sum_k A[i, k] BT[k, c]   for c below a row block's bound
 *              BT: the transpose of a head's rows, padded to whole vectors (hmm_transpose)
 *
 * Included by ops/attention.c after ops/op.h, so `real` is float or double. The vector
 * type is GCC's vector extension (also Clang's). Only a build for AVX-512 has the 32
 * vector registers of 64 bytes that the blocks need: elsewhere (TG_NATIVE=OFF, an
 * AVX2 machine) they would spill, up to 30 times slower than the library's gemm, so
 * HMM_MAX_HD is 0 there and attention.c takes tg_gemm. */
#ifndef TG_HEADMM_H
#define TG_HEADMM_H

#include <assert.h>
#include <string.h>

#include "ops/vmath.h"

#define HV ((int)(64 / sizeof(real)))  /* lanes of one vector */
#define HMM_HD_CAP 4 /* the kernels' head widths: up to 4 vectors (16..64 floats, 8..32 doubles) */
#if defined(__AVX512F__)
#define HMM_MAX_HD HMM_HD_CAP /* the widths attention.c gives them */
#else
#define HMM_MAX_HD 0 /* no 64-byte registers: the kernels are never chosen */
#endif
#define HMM_ROW_VECS 4 /* hmm_outer's columns per pass, in vectors */
#define HMM_INLINE static inline __attribute__((always_inline))

typedef real hv __attribute__((vector_size(64)));

/* unaligned vector load and store (through pointers: a vector passed by value would
 * change the ABI where the build has no 64-byte registers) */
HMM_INLINE void hv_load(hv *v, const real *p) { memcpy(v, p, sizeof *v); }
HMM_INLINE void hv_store(real *p, const hv *v) { memcpy(p, v, sizeof *v); }

/* Which part of the reduction a block of rows [i0, i1) takes. */
enum { HMM_ALL, /* j in [0, J) */
       HMM_LOWER, /* j <= i: j in [0, min(i1, J)) (A(i, j) is 0 for j > i) */
       HMM_UPPER  /* j >= i: j in [min(i0, J), J) (A(i, j) is 0 for j < i) */ };

/* Rows [0, R) of the block: R x D vectors of Y, j over [j0, j1). R and D are constants
 * after inlining, so acc lives in registers. */
HMM_INLINE void rows_block(int R, int D, const real *A, int64_t ar, int64_t aj, const real *B,
                           int64_t ldb, real *Y, int64_t ldy, int j0, int j1, real alpha, int acc_y)
{
    hv acc[8][HMM_HD_CAP];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < D; v++) acc[r][v] = (hv){0};
    /* row r's coefficients from one of three pointers, at 0, ar or 2 ar past it: x86
     * addresses those with one index register, so the loop needs few registers */
    const real *a0 = A + j0 * aj, *a3 = R > 3 ? a0 + 3 * ar : a0, *a6 = R > 6 ? a0 + 6 * ar : a0;
    const real *b = B + j0 * ldb;
    for (int j = j0; j < j1; j++, a0 += aj, a3 += aj, a6 += aj, b += ldb) {
        hv bv[HMM_HD_CAP];
        for (int v = 0; v < D; v++) hv_load(&bv[v], b + v * HV);
        for (int r = 0; r < R; r++) {
            real a = (r < 3 ? a0 : r < 6 ? a3 : a6)[(r % 3) * ar];
            for (int v = 0; v < D; v++) acc[r][v] += a * bv[v];
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < D; v++) {
            real *y = Y + r * ldy + v * HV;
            hv o = alpha * acc[r][v], old;
            if (acc_y) {
                hv_load(&old, y);
                o += old;
            }
            hv_store(y, &o);
        }
}

/* block(R, n, ...) with R and n as constants (n: 1 to 4, a run-time value), for
 * rows_block (n: head vectors) and outer_block (n: column vectors) */
#define HMM_SWITCH4(block, R, n, ...)           \
    switch (n) {                                \
    case 1: block(R, 1, __VA_ARGS__); break;    \
    case 2: block(R, 2, __VA_ARGS__); break;    \
    case 3: block(R, 3, __VA_ARGS__); break;    \
    default: block(R, 4, __VA_ARGS__); break;   \
    }

/* Y (rows x D vectors, row stride ldy) = alpha A B, or += when acc_y; A(i, j) at
 * A[i ar + j aj] for i < rows, j < J; B (J rows, stride ldb). `part` says which j each
 * row takes (HMM_ALL, HMM_LOWER, HMM_UPPER). */
static void hmm_rows(int D, int rows, int J, int part, const real *A, int64_t ar, int64_t aj,
                     const real *B, int64_t ldb, real *Y, int64_t ldy, real alpha, int acc_y)
{
    const int R = D <= 2 ? 8 : 4; /* 8 to 16 accumulators */
    int i = 0;
    for (; i < rows; i += i + R <= rows ? R : 1) {
        int n = i + R <= rows ? R : 1;
        int j0 = part == HMM_UPPER ? (i < J ? i : J) : 0;
        int j1 = part == HMM_LOWER ? (i + n < J ? i + n : J) : J;
        const real *a = A + i * ar;
        real *y = Y + i * ldy;
        if (n == R) {
            if (R == 8) {
                HMM_SWITCH4(rows_block, 8, D, a, ar, aj, B, ldb, y, ldy, j0, j1, alpha, acc_y)
            } else {
                HMM_SWITCH4(rows_block, 4, D, a, ar, aj, B, ldb, y, ldy, j0, j1, alpha, acc_y)
            }
        } else {
            HMM_SWITCH4(rows_block, 1, D, a, ar, aj, B, ldb, y, ldy, j0, j1, alpha, acc_y)
        }
    }
}

/* What hmm_outer does with a finished row of its product X (alpha A BT):
 *   HMM_STORE     P = X
 *   HMM_SOFTMAX   P = softmax(X) over the row's columns (s <= t only, when causal; P is
 *                 0 past them): the attention's scores to probabilities, in registers
 *   HMM_DSOFTMAX  P = Pr * (X - sum_s X Pr), 0 past a causal row's column: X = dP, the
 *                 gradient of the probabilities Pr, to dS, that of the scores
 * The last two need the whole row in one pass (at most HMM_ROW_VECS vectors). */
enum { HMM_STORE, HMM_SOFTMAX, HMM_DSOFTMAX };

typedef struct hmm_epi {
    int kind, causal;
    const real *Pr; /* HMM_DSOFTMAX: the probabilities, rows ldp apart like P's */
} hmm_epi;

#if TG_REAL_DOUBLE
typedef int64_t hvi __attribute__((vector_size(64)));
#else
typedef int32_t hvi __attribute__((vector_size(64)));
#endif

/* Lane lists for two-source shuffles, constant as GCC and Clang need them:
 * __builtin_shufflevector (GCC 12, Clang), or GCC's older __builtin_shuffle. */
#if defined(__clang__) || __GNUC__ >= 12
#define HMM_SHUFFLE(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define HMM_SHUFFLE(a, b, ...) __builtin_shuffle(a, b, (hvi){__VA_ARGS__})
#endif
#define HMM_L8(F, k, o) F(o + 0, k), F(o + 1, k), F(o + 2, k), F(o + 3, k), F(o + 4, k), \
                        F(o + 5, k), F(o + 6, k), F(o + 7, k)
#if TG_REAL_DOUBLE
#define HMM_LANES(F, k) HMM_L8(F, k, 0)
#else
#define HMM_LANES(F, k) HMM_L8(F, k, 0), HMM_L8(F, k, 8)
#endif
#define HMM_ID(l, k) (l)
#define HMM_XOR(l, k) ((l) ^ (k))

/* lane-wise maximum (a macro: a vector passed by value would change the ABI where
 * the build has no 64-byte registers) */
#define HMM_MAX(a, b) ((hv)((((hvi)((a) > (b))) & (hvi)(a)) | (~((hvi)((a) > (b))) & (hvi)(b))))

/* every lane the maximum, or the sum, of x's lanes: a tree of lane swaps */
#if TG_REAL_DOUBLE
#define HMM_FOLD(x, op)                                                  \
    x = op(x, HMM_SHUFFLE(x, x, HMM_LANES(HMM_XOR, 4)));     \
    x = op(x, HMM_SHUFFLE(x, x, HMM_LANES(HMM_XOR, 2)));     \
    x = op(x, HMM_SHUFFLE(x, x, HMM_LANES(HMM_XOR, 1)))
#else
#define HMM_FOLD(x, op)                                                  \
    x = op(x, HMM_SHUFFLE(x, x, HMM_LANES(HMM_XOR, 8)));     \
    x = op(x, HMM_SHUFFLE(x, x, HMM_LANES(HMM_XOR, 4)));     \
    x = op(x, HMM_SHUFFLE(x, x, HMM_LANES(HMM_XOR, 2)));     \
    x = op(x, HMM_SHUFFLE(x, x, HMM_LANES(HMM_XOR, 1)))
#endif
#define HMM_ADD(a, b) ((a) + (b))

HMM_INLINE void hv_exp(hv *x)
{
    real l[64 / sizeof(real)];
    memcpy(l, x, sizeof l);
    _Pragma("omp simd") for (int i = 0; i < HV; i++) l[i] = TG_EXP(l[i]);
    memcpy(x, l, sizeof l);
}

/* p[0, min(n, HV)) = o's first lanes: a whole vector, or the part before a row's end */
HMM_INLINE void hv_store_part(real *p, const hv *o, int n)
{
    if (n >= HV) {
        hv_store(p, o);
    } else {
        real l[64 / sizeof(real)];
        memcpy(l, o, sizeof l);
        for (int i = 0; i < n; i++) p[i] = l[i];
    }
}

/* Row t's NV vectors x of the product (columns from 0), through the epilogue, into p
 * (width long; past NV vectors: 0) */
HMM_INLINE void row_epilogue(int NV, hv *x, const hmm_epi *e, int t, real *p, const real *pr,
                             int width)
{
    const hvi lane = {HMM_LANES(HMM_ID, 0)};
    int lim = e->causal && t + 1 < width ? t + 1 : width; /* the row's columns */
    hvi ok[HMM_ROW_VECS];
    for (int v = 0; v < NV; v++) ok[v] = lane + v * HV < lim;
    if (e->kind == HMM_SOFTMAX) {
        /* masked lanes: a finite "minus infinity", whose exp is exactly 0 (also with
         * -ffinite-math-only) */
        const hv low = (hv){0} - (real)1e30;
        hv m = low, sum = {0};
        for (int v = 0; v < NV; v++) {
            x[v] = (hv)((ok[v] & (hvi)x[v]) | (~ok[v] & (hvi)low));
            m = HMM_MAX(m, x[v]);
        }
        HMM_FOLD(m, HMM_MAX);
        for (int v = 0; v < NV; v++) {
            x[v] -= m;
            hv_exp(&x[v]);
            sum += x[v];
        }
        HMM_FOLD(sum, HMM_ADD);
        hv inv = 1 / sum;
        for (int v = 0; v < NV; v++) x[v] *= inv;
    } else if (e->kind == HMM_DSOFTMAX) {
        hv pv[HMM_ROW_VECS], dot = {0};
        for (int v = 0; v < NV; v++) {
            pv[v] = (hv){0};
            if ((v + 1) * HV <= width) hv_load(&pv[v], pr + v * HV);
            else memcpy(&pv[v], pr + v * HV, sizeof(real) * (size_t)(width - v * HV));
            dot += x[v] * pv[v];
        }
        HMM_FOLD(dot, HMM_ADD);
        for (int v = 0; v < NV; v++) /* no gradient through a masked score */
            x[v] = (hv)(ok[v] & (hvi)(pv[v] * (x[v] - dot)));
    }
    for (int v = 0; v < NV; v++) hv_store_part(p + v * HV, &x[v], width - v * HV);
    for (int c = NV * HV; c < width; c++) p[c] = 0;
}

/* Rows [0, R) of P (row0 is the first one's index), columns [c0, c0 + NV HV) but
 * stored only below `width`; with an epilogue other than HMM_STORE, c0 is 0 and the
 * row is whole */
HMM_INLINE void outer_block(int R, int NV, const real *A, int64_t lda, const real *BT,
                            int64_t ldbt, int K, real *P, int64_t ldp, int c0, int width,
                            real alpha, const hmm_epi *e, int row0)
{
    hv acc[4][HMM_ROW_VECS];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = (hv){0};
    for (int k = 0; k < K; k++) {
        hv b[HMM_ROW_VECS];
        for (int v = 0; v < NV; v++) hv_load(&b[v], BT + k * ldbt + c0 + v * HV);
        for (int r = 0; r < R; r++) {
            real a = A[r * lda + k];
            for (int v = 0; v < NV; v++) acc[r][v] += a * b[v];
        }
    }
    for (int r = 0; r < R; r++) {
        for (int v = 0; v < NV; v++) acc[r][v] *= alpha;
        if (e->kind == HMM_STORE)
            for (int v = 0; v < NV; v++)
                hv_store_part(P + r * ldp + c0 + v * HV, &acc[r][v], width - c0 - v * HV);
        else
            row_epilogue(NV, acc[r], e, row0 + r, P + r * ldp, e->Pr ? e->Pr + (row0 + r) * ldp : NULL, width);
    }
}

/* P[i, c] = alpha sum_k A[i lda + k] BT[k ldbt + c] for i < rows, k < K, and c below
 * cols(i1 - 1) for the row block [i0, i1): cols is S for every row, or a causal row's
 * bound (attention.c's causal_cols), rounded up to whole vectors; with HMM_STORE (e
 * NULL) the rest of a row is left as it was; the other epilogues need the row whole
 * (width <= HMM_ROW_VECS HV) and write the rest 0. P's rows are `width` long (width
 * <= ldbt, BT padded with zeros to whole vectors). */
static void hmm_outer(int rows, int K, const real *A, int64_t lda, const real *BT, int64_t ldbt,
                      real *P, int64_t ldp, int width, int (*cols)(const void *, int),
                      const void *ctx, real alpha, const hmm_epi *e)
{
    static const hmm_epi store = {HMM_STORE, 0, NULL};
    if (!e) e = &store;
    assert(e->kind == HMM_STORE || width <= HMM_ROW_VECS * HV);
    int i = 0;
    for (; i < rows; i += i + 4 <= rows ? 4 : 1) {
        int n = i + 4 <= rows ? 4 : 1, end = cols ? cols(ctx, i + n - 1) : width;
        const real *a = A + i * lda;
        real *p = P + i * ldp;
        for (int c0 = 0; c0 < end; c0 += HMM_ROW_VECS * HV) {
            int nv = (end - c0 + HV - 1) / HV;
            if (n == 4) {
                HMM_SWITCH4(outer_block, 4, nv, a, lda, BT, ldbt, K, p, ldp, c0, width, alpha, e, i)
            } else {
                HMM_SWITCH4(outer_block, 1, nv, a, lda, BT, ldbt, K, p, ldp, c0, width, alpha, e, i)
            }
        }
    }
}

/* In-register transpose of an HV x HV block, log2(HV) rounds: round k swaps the
 * k-wide blocks off the diagonal of each 2k x 2k block, rows i and i + k exchanging
 * halves through two-source shuffles. */
#define HMM_LO(l, k) ((l) % (2 * (k)) < (k) ? (l) / (2 * (k)) * 2 * (k) + (l) % (2 * (k)) \
                                             : HV + (l) / (2 * (k)) * 2 * (k) + (l) % (2 * (k)) - (k))
#define HMM_HI(l, k) ((l) % (2 * (k)) < (k) ? (l) / (2 * (k)) * 2 * (k) + (k) + (l) % (2 * (k)) \
                                             : HV + (l) / (2 * (k)) * 2 * (k) + (l) % (2 * (k)))
#define HMM_ROUND(x, k)                                                              \
    _Pragma("GCC unroll 16") for (int i = 0; i < HV; i++)                            \
        if (!(i & (k))) {                                                            \
            hv a_ = x[i], b_ = x[i + (k)];                                           \
            x[i] = HMM_SHUFFLE(a_, b_, HMM_LANES(HMM_LO, k));                        \
            x[i + (k)] = HMM_SHUFFLE(a_, b_, HMM_LANES(HMM_HI, k));                  \
        }

HMM_INLINE void hv_transpose(hv *x)
{
#if !TG_REAL_DOUBLE
    HMM_ROUND(x, 8)
#endif
    HMM_ROUND(x, 4)
    HMM_ROUND(x, 2)
    HMM_ROUND(x, 1)
}

/* BT[k, s] = B[s, k] for k < d, s < S (B's rows `ldb` apart; d a multiple of HV);
 * BT's rows ldbt long (a multiple of HV, >= S), zero past S */
static void hmm_transpose(const real *B, int64_t ldb, int S, int d, real *BT, int ldbt)
{
    for (int s0 = 0; s0 < ldbt; s0 += HV)
        for (int k0 = 0; k0 < d; k0 += HV) {
            hv x[HV];
            if (s0 + HV <= S) {
#pragma GCC unroll 16
                for (int i = 0; i < HV; i++) hv_load(&x[i], B + (s0 + i) * ldb + k0);
            } else { /* the last rows, then zeros */
                for (int i = 0; i < HV; i++) x[i] = (hv){0};
                for (int i = 0; s0 + i < S; i++) hv_load(&x[i], B + (s0 + i) * ldb + k0);
            }
            hv_transpose(x);
#pragma GCC unroll 16
            for (int i = 0; i < HV; i++) hv_store(BT + (int64_t)(k0 + i) * ldbt + s0, &x[i]);
        }
}

#endif
