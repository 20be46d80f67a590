/* attention.c: multi-head scaled dot-product attention as one op, the long-hand
 *
 *   qh, kh, vh = the heads of q, k, v          ([B,T,C] -> [B,NH,T,d], d = C / NH)
 *   scores = scale * qh @ kh^T                 [B,NH,T,S]
 *   masked = scores, with -1e9 where the mask is non-zero (and where s > t if causal)
 *   P = softmax(masked)                        over s
 *   y = (P @ vh) with the heads concatenated   [B,T,C]
 *
 * without its copies: the heads are read and written in place as column blocks of q,
 * k, v and y (leading dimension C), and the mask, the softmax and the two products of
 * one (batch entry, head) run while its T x S scores are in cache. A head of 1 to 4
 * 64-byte vectors (d = 16, 32, 48, 64 floats) takes ops/headmm.h's register-blocked
 * kernels, which skip the causally masked half; other widths the library's gemm. Same
 * values as the long-hand form (tests/test_attention.c); it saves only P.
 *
 * Dimension letters: B batch, T query positions, S key positions, C width, NH heads,
 * d = C / NH, L = B * NH (batch entry, head) pairs.
 *   inputs: q [B,T,C], k [B,S,C], v [B,S,C], optional mask (no gradient) broadcasting
 *           to [B,NH,T,S] (padding: [B,1,1,S]; a causal mask: [T,S])
 *   attributes: i[0] = NH, i[1] = causal (1: s > t is masked), f = scale (0 means
 *           1 / sqrt(d)), i[2] = packed: q, k and v are [.., 3C] and the op reads
 *           column blocks 0, 1 and 2 of them (one [B,T,3C] projection passed three
 *           times: no split copies; models/program_opt.c finds split-then-attention)
 *   backward, per pair, with dP = dy vh^T:
 *     dvh += P^T dy,   dS = P * (dP - sum_s dP P), 0 where masked,
 *     dqh += scale dS kh,   dkh += scale dS^T qh
 *   saved: P [L,T,S]; then the thread count at record time and, per thread, a T x S
 *   scratch for dS and room for one head transposed (d x S rounded up to 16).
 */
#include <string.h>

#include "ops/gemm.h"
#include "ops/op.h"
#include "ops/headmm.h"
#include "ops/rowsum.h"
#include "ops/vmath.h"

#define MASKED ((real)-1e9) /* what masked_fill(scores, mask, -1e9) writes */

typedef struct geo {
    int B, T, S, C, NH, d, causal;
    int ld, kc, vc; /* row stride of q, k, v; column of k's and v's block (packed) */
    int hd;         /* d in vectors for ops/headmm.h's kernels; 0: the library's gemm */
    int fuse;       /* softmax and its gradient in those kernels' registers (no mask
                       tensor, S at most 4 vectors) */
    int sp;         /* S rounded up to 16: a transposed head's row length */
    real scale;
    const real *M;  /* the mask or NULL */
    int64_t ms[4];  /* its strides over (b, h, t, s); 0 where it broadcasts */
} geo;

/* S rounded up to 16, a multiple of a vector's lanes in float and in double (saved()
 * is compiled once, so it cannot use HV) */
static int key_pad(int S) { return (S + 15) / 16 * 16; }

static void get_geo(const tg_node *n, geo *g)
{
    const tg_tensor *q = n->in[0], *k = n->in[1];
    int packed = n->a.i[2];
    g->B = q->shape[0];
    g->T = q->shape[1];
    g->ld = q->shape[2];
    g->C = packed ? g->ld / 3 : g->ld;
    g->kc = packed ? g->C : 0;
    g->vc = packed ? 2 * g->C : 0;
    g->S = k->shape[1];
    g->NH = n->a.i[0];
    g->d = g->C / g->NH;
    g->causal = n->a.i[1];
    g->hd = g->d % HV == 0 && g->d / HV <= HMM_MAX_HD ? g->d / HV : 0;
    g->sp = key_pad(g->S);
    g->fuse = g->hd && n->n_in <= 3 && g->S <= HMM_ROW_VECS * HV;
    g->scale = n->a.f != 0 ? (real)n->a.f : 1 / sqrt((real)g->d);
    g->M = NULL;
    memset(g->ms, 0, sizeof g->ms);
    if (n->n_in > 3) {
        const tg_tensor *m = n->in[3];
        const int full[4] = {g->B, g->NH, g->T, g->S};
        int64_t st = 1;
        for (int i = m->ndim - 1, j = 3; i >= 0; i--, j--) {
            g->ms[j] = m->shape[i] == 1 && full[j] != 1 ? 0 : st;
            st *= m->shape[i];
        }
        g->M = m->data;
    }
}

/* The row of the mask for (b, h, t), read with stride ms[3]; NULL without a mask */
static const real *mask_row(const geo *g, int b, int h, int t)
{
    return g->M ? g->M + b * g->ms[0] + h * g->ms[1] + t * g->ms[2] : NULL;
}

/* The columns a causal row t computes: t + 1 rounded up to whole vectors (at most S);
 * the causally masked ones among them hold -1e9 in mask_softmax (0 in the fused
 * softmax of ops/headmm.h), whose exp is exactly 0. */
static inline int causal_cols(const geo *g, int t)
{
    if (!g->causal || t + 1 >= g->S) return g->S;
    int n = (t + 1 + TG_VL - 1) / TG_VL * TG_VL;
    return n < g->S ? n : g->S;
}

/* P (T,S) holds scale q k^T; masks it and takes the softmax of each row in place. A
 * causal row t keeps only s <= t: the masked scores' exp(-1e9 - max) is exactly 0,
 * so they are set to 0 and skipped, unless the row is masked throughout (its softmax
 * is then uniform over all S, as in the long-hand form). Rows go in groups of RG, one
 * pass at a time (mask and max, exp and sum, scale), so the reductions of neighbouring
 * rows overlap instead of each row waiting on its own. */
#define RG 16
static void mask_softmax(const geo *g, int b, int h, real *P)
{
    int S = g->S;
    for (int t0 = 0; t0 < g->T; t0 += RG) {
        int t1 = t0 + RG < g->T ? t0 + RG : g->T, cols[RG];
        real m[RG], inv[RG];
        for (int t = t0; t < t1; t++) {
            real *p = P + (int64_t)t * S;
            const real *mr = mask_row(g, b, h, t);
            int64_t st = g->ms[3];
            int n = g->causal && t + 1 < S ? t + 1 : S, n16 = causal_cols(g, t);
            if (mr)
                for (int s = 0; s < n; s++)
                    if (mr[s * st] != 0) p[s] = MASKED;
            for (int s = n; s < n16; s++) p[s] = MASKED;
            real mx = tg_row_max(p, n16);
            if (mx == MASKED) { /* all masked: uniform over every column */
                n16 = S;
                for (int s = n; s < S; s++) p[s] = MASKED;
            }
            m[t - t0] = mx;
            cols[t - t0] = n16;
        }
        for (int t = t0; t < t1; t++) {
            real *p = P + (int64_t)t * S, mx = m[t - t0], sum;
            TG_ROW_SUM(sum, cols[t - t0], s, (p[s] = TG_EXP(p[s] - mx)));
            inv[t - t0] = 1 / sum;
        }
        for (int t = t0; t < t1; t++) {
            real *p = P + (int64_t)t * S, r = inv[t - t0];
            int n16 = cols[t - t0];
            _Pragma("omp simd") for (int s = 0; s < n16; s++) p[s] *= r;
            _Pragma("omp simd") for (int s = n16; s < S; s++) p[s] = 0;
        }
    }
}

/* causal_cols for hmm_outer: the columns a row block ending at row t needs */
static int block_cols(const void *g, int t) { return causal_cols((const geo *)g, t); }

/* One thread's scratch, after P and the thread count: dS (T,S) for backward, then a
 * head transposed (d rows of sp) for ops/headmm.h's kernels. */
static int64_t scratch_per_thread(int64_t TS, int64_t d, int64_t sp) { return TS + d * sp; }

/* The threads the L pairs of T x S scores run on: nt, or 1 when they are few or small,
 * or inside another parallel region (the pairs then run on the caller's thread, in the
 * first scratch slot: its thread number may be past the slots saved() sized) */
static int pair_threads(int nt, int64_t L, int64_t TS)
{
    return L < 2 || L * TS <= TG_PAR_MIN || omp_in_parallel() ? 1 : nt;
}

/* Inside another parallel region (a trainer's shard), many pairs run as up to TG_TASKS tasks
 * that the team's idle threads can take (see TG_TASKED), each task in its executing
 * thread's slot; only when the team has no more threads than there are slots. A pair's
 * result does not depend on the thread that runs it. */
static int pair_tasks(int nt, int64_t L, int64_t TS)
{
    return L >= 2 && TG_TASKED(L * TS) && omp_get_num_threads() <= nt;
}

/* pair l = (b, h): P_l = softmax(mask(scale q_bh k_bh^T)), y_bh = P_l v_bh; X: this
 * thread's scratch */
static void pair_forward(const geo *g, const real *Q, const real *K, const real *V, real *Y,
                         real *P, real *X, int64_t l)
{
    int b = (int)(l / g->NH), h = (int)(l % g->NH), T = g->T, S = g->S, C = g->C, d = g->d, ld = g->ld;
    int64_t yo = (int64_t)b * T * C + (int64_t)h * d; /* y's block; q's, k's, v's: */
    int64_t qo = (int64_t)b * T * ld + (int64_t)h * d, ko = (int64_t)b * S * ld + (int64_t)h * d;
    real *p = P + l * T * S;
    if (!g->hd) {
        TG_K(tg_gemm)(0, 1, T, S, d, g->scale, Q + qo, ld, K + ko + g->kc, ld, 0, p, S);
        mask_softmax(g, b, h, p);
        TG_K(tg_gemm)(0, 0, T, d, S, 1, p, S, V + ko + g->vc, ld, 0, Y + yo, C);
        return;
    }
    real *KT = X + (int64_t)T * S;
    hmm_transpose(K + ko + g->kc, ld, S, d, KT, g->sp);
    if (g->fuse) { /* the softmax on the scores while they are in registers */
        hmm_epi e = {HMM_SOFTMAX, g->causal, NULL};
        hmm_outer(T, d, Q + qo, ld, KT, g->sp, p, S, S, g->causal ? block_cols : NULL, g, g->scale, &e);
    } else {
        hmm_outer(T, d, Q + qo, ld, KT, g->sp, p, S, S, g->causal ? block_cols : NULL, g, g->scale, NULL);
        mask_softmax(g, b, h, p);
    }
    /* a causal row's P is 0 past its own column, unless a padding mask masked the row
     * throughout (its softmax is then uniform over every column) */
    hmm_rows(g->hd, T, S, g->causal && !g->M ? HMM_LOWER : HMM_ALL, p, S, 1, V + ko + g->vc, ld,
             Y + yo, C, 1, 0);
}

/* pair l's gradients into dQ, dK, dV (each may be NULL); X: this thread's scratch */
static void pair_backward(const geo *g, const real *Q, const real *K, const real *V,
                          const real *P, const real *G, real *dQ, real *dK, real *dV, real *X,
                          int fresh, int64_t l)
{
    real bq = fresh & 1 ? 0 : 1, bk = fresh & 2 ? 0 : 1, bv = fresh & 4 ? 0 : 1; /* = or += */
    int b = (int)(l / g->NH), h = (int)(l % g->NH), T = g->T, S = g->S, C = g->C, d = g->d, ld = g->ld;
    int64_t yo = (int64_t)b * T * C + (int64_t)h * d;
    int64_t qo = (int64_t)b * T * ld + (int64_t)h * d, ko = (int64_t)b * S * ld + (int64_t)h * d;
    int64_t kc = g->kc, vc = g->vc;
    const real *p = P + l * T * S;
    real *dS = X, *VT = X + (int64_t)T * S;
    /* Without a padding mask a causal P is lower triangular: dV's row s takes t >= s.
     * dS is, with or without a mask (zeroed past t below, or in the fused epilogue), so
     * dQ's row t takes s <= t and dK's row s takes t >= s. */
    int lower = g->causal ? HMM_LOWER : HMM_ALL, upper = g->causal ? HMM_UPPER : HMM_ALL;
    if (dV) {
        if (g->hd)
            hmm_rows(g->hd, S, T, g->M ? HMM_ALL : upper, p, 1, S, G + yo, C, dV + ko + vc, ld, 1, bv != 0);
        else
            TG_K(tg_gemm)(1, 0, S, d, T, 1, p, S, G + yo, C, bv, dV + ko + vc, ld);
    }
    if (!dQ && !dK) return;
    if (g->hd) { /* dP; and dS from it in registers, when fused */
        hmm_epi e = {HMM_DSOFTMAX, g->causal, p};
        hmm_transpose(V + ko + vc, ld, S, d, VT, g->sp);
        hmm_outer(T, d, G + yo, C, VT, g->sp, dS, S, S, g->causal ? block_cols : NULL, g, 1,
                  g->fuse ? &e : NULL);
    } else {
        TG_K(tg_gemm)(0, 1, T, S, d, 1, G + yo, C, V + ko + vc, ld, 0, dS, S);
    }
    for (int t = 0; t < T && !g->fuse; t++) { /* a causal row's P is 0 past causal_cols: so is its dS */
        const real *pr = p + (int64_t)t * S;
        real *ds = dS + (int64_t)t * S;
        int n16 = causal_cols(g, t);
        real sum;
        TG_ROW_SUM(sum, n16, s, ds[s] * pr[s]);
        _Pragma("omp simd") for (int s = 0; s < n16; s++) ds[s] = pr[s] * (ds[s] - sum);
        /* a masked score is a constant: no gradient flows through it */
        const real *mr = mask_row(g, b, h, t);
        if (mr)
            for (int s = 0; s < S; s++)
                if (mr[s * g->ms[3]] != 0) ds[s] = 0;
        if (g->causal) _Pragma("omp simd") for (int s = t + 1; s < S; s++) ds[s] = 0;
    }
    /* dS is 0 where s > t (causal), with or without a padding mask */
    if (g->hd) {
        if (dQ) hmm_rows(g->hd, T, S, lower, dS, S, 1, K + ko + kc, ld, dQ + qo, ld, g->scale, bq != 0);
        if (dK) hmm_rows(g->hd, S, T, upper, dS, 1, S, Q + qo, ld, dK + ko + kc, ld, g->scale, bk != 0);
        return;
    }
    if (dQ) TG_K(tg_gemm)(0, 0, T, d, S, g->scale, dS, S, K + ko + kc, ld, bq, dQ + qo, ld);
    if (dK) TG_K(tg_gemm)(1, 0, S, d, T, g->scale, dS, S, Q + qo, ld, bk, dK + ko + kc, ld);
}

void TG_K(attention_forward)(tg_node *n)
{
    geo g;
    get_geo(n, &g);
    const real *Q = n->in[0]->data, *K = n->in[1]->data, *V = n->in[2]->data;
    real *Y = n->out->data, *P = n->saved;
    int64_t L = (int64_t)g.B * g.NH, TS = (int64_t)g.T * g.S;
    int64_t xs = scratch_per_thread(TS, g.d, g.sp);
    /* saved() ran just before this (ops/apply.c), for this many threads' scratch; kept
     * for backward */
    int nt = omp_get_max_threads();
    P[L * TS] = (real)nt;
    real *X = P + L * TS + 1;
    if (pair_tasks(nt, L, TS)) {
        TG_TASK_RANGES(lo, hi, L, L < TG_TASKS ? L : TG_TASKS, for (int64_t l = lo; l < hi; l++)
                           pair_forward(&g, Q, K, V, Y, P, X + xs * omp_get_thread_num(), l));
        return;
    }
    if (pair_threads(nt, L, TS) == 1) {
        for (int64_t l = 0; l < L; l++) pair_forward(&g, Q, K, V, Y, P, X, l);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t l = 0; l < L; l++) pair_forward(&g, Q, K, V, Y, P, X + xs * omp_get_thread_num(), l);
}

static real *grad_of(tg_tensor *x) { return x->requires_grad ? x->grad : NULL; }

void TG_K(attention_backward)(tg_node *n)
{
    geo g;
    get_geo(n, &g);
    const real *Q = n->in[0]->data, *K = n->in[1]->data, *V = n->in[2]->data;
    const real *P = n->saved, *G = n->out->grad;
    real *dQ = grad_of(n->in[0]), *dK = grad_of(n->in[1]), *dV = grad_of(n->in[2]);
    int64_t L = (int64_t)g.B * g.NH, TS = (int64_t)g.T * g.S;
    int64_t xs = scratch_per_thread(TS, g.d, g.sp);
    real *scratch = (real *)P + L * TS + 1;
    int nt = (int)P[L * TS], fresh = (int)(n->fresh & 7);
    /* q, k, v the column blocks of one packed tensor: its fresh gradient is written
     * outright, each element by exactly one pair. Otherwise q, k, v one tensor
     * (self-attention on x itself): one gradient, added to; and a packed input's other
     * column blocks are not this op's to write. */
    if (n->a.i[2] && n->in[1] == n->in[0] && n->in[2] == n->in[0]) {
        fresh = TG_FRESH(n, 0) ? 7 : 0;
    } else if (n->a.i[2] || n->in[1] == n->in[0] || n->in[2] == n->in[0] || n->in[2] == n->in[1]) {
        for (int i = 0; i < 3; i++)
            if (TG_FRESH(n, i)) memset(n->in[i]->grad, 0, sizeof(real) * (size_t)n->in[i]->numel);
        fresh = 0;
    }
    if (pair_tasks(nt, L, TS)) {
        TG_TASK_RANGES(lo, hi, L, L < TG_TASKS ? L : TG_TASKS, for (int64_t l = lo; l < hi; l++)
                           pair_backward(&g, Q, K, V, P, G, dQ, dK, dV, scratch + xs * omp_get_thread_num(), fresh, l));
        return;
    }
    nt = pair_threads(nt, L, TS);
    if (nt == 1) {
        for (int64_t l = 0; l < L; l++) pair_backward(&g, Q, K, V, P, G, dQ, dK, dV, scratch, fresh, l);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t l = 0; l < L; l++)
        pair_backward(&g, Q, K, V, P, G, dQ, dK, dV, scratch + xs * omp_get_thread_num(), fresh, l);
}

#if TG_ONCE
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    char sq[64], sk[64], sv[64];
    int NH = n->a.i[0];
    if (q->ndim != 3 || k->ndim != 3 || v->ndim != 3 || k->shape[0] != q->shape[0] ||
        v->shape[0] != q->shape[0] || k->shape[2] != q->shape[2] || v->shape[2] != q->shape[2] ||
        v->shape[1] != k->shape[1])
        return tg_check_fail(err, TG_ERR_SHAPE, n,
                             "q %s, k %s, v %s: needs q [B,T,C] and k, v [B,S,C]",
                             tg_shape_str(q, sq, sizeof sq), tg_shape_str(k, sk, sizeof sk),
                             tg_shape_str(v, sv, sizeof sv));
    int packed = n->a.i[2], C = packed ? q->shape[2] / 3 : q->shape[2];
    if (packed && (packed != 1 || q->shape[2] % 3))
        return tg_check_fail(err, TG_ERR_SHAPE, n, "q %s: packed q, k, v need a width of 3 C",
                             tg_shape_str(q, sq, sizeof sq));
    if (NH < 1 || C % NH)
        return tg_check_fail(err, TG_ERR_SHAPE, n, "%d heads do not divide the width %d", NH, C);
    if (n->a.i[1] != 0 && n->a.i[1] != 1)
        return tg_check_fail(err, TG_ERR_SHAPE, n, "causal must be 0 or 1, got %d", n->a.i[1]);
    if (n->n_in > 3) {
        const tg_tensor *m = n->in[3];
        const int full[4] = {q->shape[0], NH, q->shape[1], k->shape[1]};
        int fits = m->ndim <= 4;
        for (int i = m->ndim - 1, j = 3; fits && i >= 0; i--, j--)
            fits = m->shape[i] == 1 || m->shape[i] == full[j];
        if (!fits)
            return tg_check_fail(err, TG_ERR_SHAPE, n,
                                 "mask %s does not broadcast to [B,heads,T,S] = [%d,%d,%d,%d]",
                                 tg_shape_str(m, sq, sizeof sq), full[0], full[1], full[2], full[3]);
    }
    out->ndim = 3;
    memcpy(out->shape, q->shape, sizeof out->shape);
    out->shape[2] = C;
    return 0;
}

static int64_t saved(const tg_node *n)
{
    const tg_tensor *q = n->in[0], *k = n->in[1];
    int64_t TS = (int64_t)q->shape[1] * k->shape[1];
    int64_t d = (n->a.i[2] ? q->shape[2] / 3 : q->shape[2]) / n->a.i[0], sp = key_pad(k->shape[1]);
    return (int64_t)q->shape[0] * n->a.i[0] * TS + 1 + scratch_per_thread(TS, d, sp) * omp_get_max_threads();
}

TG_KERNEL_DECL(attention_forward);
TG_KERNEL_DECL(attention_backward);

/* A random 0/1 mask (lo = hi = 0) masks whole rows at times: their softmax is uniform
 * and no gradient reaches q or k through them, as in the long-hand form. */
static const tg_op_test tests[] = {
    {"self-attention, 2 heads", 3, {{3, {2, 3, 4}, -1, 1}, {3, {2, 3, 4}, -1, 1}, {3, {2, 3, 4}, -1, 1}},
     {.i = {2, 0}}},
    {"causal, 1 head", 3, {{3, {2, 4, 3}, -1, 1}, {3, {2, 4, 3}, -1, 1}, {3, {2, 4, 3}, -1, 1}},
     {.i = {1, 1}}},
    {"causal with a padding mask [B,1,1,S]", 4,
     {{3, {2, 3, 4}, -1, 1}, {3, {2, 3, 4}, -1, 1}, {3, {2, 3, 4}, -1, 1}, {4, {2, 1, 1, 3}, 0, 0}},
     {.i = {2, 1}}},
    {"cross-attention S != T, mask [T,S], scale", 4,
     {{3, {2, 3, 4}, -1, 1}, {3, {2, 5, 4}, -1, 1}, {3, {2, 5, 4}, -1, 1}, {2, {3, 5}, 0, 0}},
     {.i = {2, 0}, .f = 0.7}},
    {"packed: q, k, v column blocks of [B,T,3C]", 4,
     {{3, {2, 3, 12}, -1, 1}, {3, {2, 3, 12}, -1, 1}, {3, {2, 3, 12}, -1, 1}, {4, {2, 1, 1, 3}, 0, 0}},
     {.i = {2, 1, 1}}},
    {"causal, heads of 8: headmm.h's kernels, softmax fused (8 doubles a vector)", 3,
     {{3, {1, 5, 16}, -1, 1}, {3, {1, 5, 16}, -1, 1}, {3, {1, 5, 16}, -1, 1}}, {.i = {2, 1}}},
    {"heads of 8, padding mask, S != T: headmm.h's kernels, softmax apart", 4,
     {{3, {2, 3, 16}, -1, 1}, {3, {2, 5, 16}, -1, 1}, {3, {2, 5, 16}, -1, 1}, {4, {2, 1, 1, 5}, 0, 0}},
     {.i = {2, 0}}},
    {"heads of 16 (one vector of floats, two of doubles), causal, softmax fused", 3,
     {{3, {1, 5, 32}, -1, 1}, {3, {1, 5, 32}, -1, 1}, {3, {1, 5, 32}, -1, 1}}, {.i = {2, 1}}},
    {"heads of 16, not causal, T < S, softmax fused", 3,
     {{3, {2, 3, 32}, -1, 1}, {3, {2, 7, 32}, -1, 1}, {3, {2, 7, 32}, -1, 1}}, {.i = {2, 0}}},
    {"heads of 8, causal, S = 33 (past one pass of doubles): softmax apart", 3,
     {{3, {1, 3, 8}, -1, 1}, {3, {1, 33, 8}, -1, 1}, {3, {1, 33, 8}, -1, 1}}, {.i = {1, 1}}},
    {"a mask per head [B,NH,T,S]", 4,
     {{3, {1, 3, 6}, -1, 1}, {3, {1, 3, 6}, -1, 1}, {3, {1, 3, 6}, -1, 1}, {4, {1, 3, 3, 3}, 0, 0}},
     {.i = {3, 0}}},
};

const tg_op_desc tg_op_attention_desc = {
    .name = "attention",
    .math = "y = concat over heads of softmax(mask(scale q_h k_h^T)) v_h",
    .n_in_min = 3, .n_in_max = 4,
    .in_kind = {TG_ARG_REAL, TG_ARG_REAL, TG_ARG_REAL, TG_ARG_CONST}, .check = check,
    .saved = saved, .forward = TG_KERNELS(attention_forward),
    .backward = TG_KERNELS(attention_backward), .assigns = 7, .tests = tests,
    .n_tests = sizeof tests / sizeof *tests};

tg_tensor *tg_attention(tg_tape *t, tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *mask,
                        int heads, int causal, double scale)
{
    tg_attrs a = {.i = {heads, causal != 0}, .f = scale};
    tg_tensor *in[4] = {q, k, v, mask};
    return tg_op_apply(t, TG_OP_ATTENTION, mask ? 4 : 3, in, &a);
}
#endif
