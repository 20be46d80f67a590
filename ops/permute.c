/* permute.c: reorders axes, out.shape[j] = x.shape[perm[j]], with a.i[0..ndim) = perm
 * (negative entries count from the end); transpose is the permute that swaps two axes.
 * Both directions are one strided gather into a contiguous destination: forward
 * gathers x into y, backward gathers g back through the inverse permutation into dx.
 *
 *   y[i_0..i_n) = x[j] with j[perm[k]] = i_k          dx[j] += g[i]   (same pairing)
 *
 * Shapes are padded on the left to 4 dims (S0,S1,S2,S3). When the destination's last
 * dim is strided in the source but its second-to-last is contiguous (a swap of the last
 * two axes, attention's k^T), the copy runs in TILE x TILE blocks so that both sides
 * stay in cache. */
#include <stdio.h>

#include "ops/op.h"

#define TILE 32

typedef struct plan {
    int sh[TG_MAX_DIMS];     /* destination shape (S0,S1,S2,S3), left-padded with 1s */
    int64_t st[TG_MAX_DIMS]; /* source stride for each destination dim (0 on padding) */
} plan;

static void row_major_strides(const tg_tensor *x, int64_t *s)
{
    int64_t acc = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        s[d] = acc;
        acc *= x->shape[d];
    }
}

/* backward = 0: destination y, source x (y's dim j reads x's dim perm[j]);
 * backward = 1: destination dx, source g (dx's dim perm[j] reads g's dim j). */
static plan make_plan(const tg_node *n, int backward)
{
    const tg_tensor *x = n->in[0], *y = n->out;
    int nd = x->ndim, pad = TG_MAX_DIMS - nd;
    plan p;
    for (int j = 0; j < TG_MAX_DIMS; j++) {
        p.sh[j] = 1;
        p.st[j] = 0;
    }
    int64_t xs[TG_MAX_DIMS], ys[TG_MAX_DIMS];
    row_major_strides(x, xs);
    row_major_strides(y, ys);
    for (int j = 0; j < nd; j++) {
        int d = tg_axis(n->a.i[j], nd); /* valid: check ran */
        if (backward) {
            p.sh[pad + d] = x->shape[d];
            p.st[pad + d] = ys[j];
        } else {
            p.sh[pad + j] = x->shape[d];
            p.st[pad + j] = xs[d];
        }
    }
    return p;
}

/* One destination row r of S3 elements: dst[r, :] (+)= src[base(r) + i3 * st3]. */
static void gather_row(real *dst, const real *src, const plan *p, int64_t r, int add)
{
    int S1 = p->sh[1], S2 = p->sh[2], S3 = p->sh[3];
    int64_t i2 = r % S2, i1 = r / S2 % S1, i0 = r / S2 / S1;
    const real *s = src + i0 * p->st[0] + i1 * p->st[1] + i2 * p->st[2];
    real *d = dst + r * S3;
    int64_t s3 = p->st[3];
    if (s3 == 1 && add) {
#pragma omp simd
        for (int i = 0; i < S3; i++) d[i] += s[i];
    } else if (s3 == 1) {
#pragma omp simd
        for (int i = 0; i < S3; i++) d[i] = s[i];
    } else if (add) {
        for (int i = 0; i < S3; i++) d[i] += s[i * s3];
    } else {
        for (int i = 0; i < S3; i++) d[i] = s[i * s3];
    }
}

/* Task t = (matrix r01 of S0*S1, block of TILE rows i2): all of its S3 columns, in
 * TILE x TILE tiles. Source (S2 contiguous, S3 strided), destination row-major. */
static void gather_tiles(real *dst, const real *src, const plan *p, int64_t t, int add)
{
    int S1 = p->sh[1], S2 = p->sh[2], S3 = p->sh[3];
    int64_t nb = (S2 + TILE - 1) / TILE, r01 = t / nb, s3 = p->st[3];
    int lo2 = (int)(t % nb) * TILE, hi2 = lo2 + TILE < S2 ? lo2 + TILE : S2;
    const real *s = src + r01 / S1 * p->st[0] + r01 % S1 * p->st[1];
    real *d = dst + r01 * S2 * S3;
    for (int lo3 = 0; lo3 < S3; lo3 += TILE) {
        int hi3 = lo3 + TILE < S3 ? lo3 + TILE : S3;
        for (int i2 = lo2; i2 < hi2; i2++) {
            real *di = d + (int64_t)i2 * S3;
            const real *si = s + i2;
            if (add)
                for (int i3 = lo3; i3 < hi3; i3++) di[i3] += si[i3 * s3];
            else
                for (int i3 = lo3; i3 < hi3; i3++) di[i3] = si[i3 * s3];
        }
    }
}

/* dst (S0,S1,S2,S3) (+)= src through the plan's strides; no two tasks share a row */
static void gather(real *dst, const real *src, const plan *p, int add)
{
    int64_t rows = (int64_t)p->sh[0] * p->sh[1] * p->sh[2], N = rows * p->sh[3];
    if (p->st[3] != 1 && p->st[2] == 1 && p->sh[2] > 1) {
        int64_t tasks = (int64_t)p->sh[0] * p->sh[1] * ((p->sh[2] + TILE - 1) / TILE);
        TG_PARALLEL_FOR(t, tasks, N, gather_tiles(dst, src, p, t, add));
    } else {
        TG_PARALLEL_FOR(r, rows, N, gather_row(dst, src, p, r, add));
    }
}

/* x [d0..dn) -> y [d_perm[0]..d_perm[n-1]] */
void TG_K(permute_forward)(tg_node *n)
{
    plan p = make_plan(n, 0);
    gather(n->out->data, n->in[0]->data, &p, 0);
}

/* dx[j] += g[i], the same pairing read from g's side */
void TG_K(permute_backward)(tg_node *n)
{
    plan p = make_plan(n, 1);
    gather(n->in[0]->grad, n->out->grad, &p, 1);
}

#if TG_ONCE
/* a.i[0..ndim) must name every axis of x once */
static int check(tg_node *n, tg_tensor *out, tg_error *err)
{
    const tg_tensor *x = n->in[0];
    int nd = x->ndim, seen[TG_MAX_DIMS] = {0}, ok = 1;
    for (int j = 0; j < nd; j++) {
        int d = tg_axis(n->a.i[j], nd);
        if (d < 0 || seen[d]++) ok = 0;
        else out->shape[j] = x->shape[d];
    }
    if (!ok) {
        char sx[64], sp[64];
        int k = snprintf(sp, sizeof sp, "[");
        for (int j = 0; j < nd; j++)
            k += snprintf(sp + k, sizeof sp - k, j ? ",%d" : "%d", n->a.i[j]);
        snprintf(sp + k, sizeof sp - k, "]");
        return tg_check_fail(err, TG_ERR_INVALID, n, "%s by %s: not a permutation of %d axes",
                             tg_shape_str(x, sx, sizeof sx), sp, nd);
    }
    out->ndim = nd;
    return 0;
}

TG_KERNEL_DECL(permute_forward);
TG_KERNEL_DECL(permute_backward);

static const tg_op_test tests[] = {
    {"matrix transpose", 1, {{2, {3, 5}, -2, 2}}, {.i = {1, 0}}},
    {"3-d rotate", 1, {{3, {2, 3, 4}, -2, 2}}, {.i = {2, 0, 1}}},
    {"heads [B,T,NH,D] -> [B,NH,T,D]", 1, {{4, {2, 3, 2, 4}, -2, 2}}, {.i = {0, 2, 1, 3}}},
    {"last two swapped (tiled), 4-d", 1, {{4, {2, 1, 3, 5}, -2, 2}}, {.i = {0, 1, 3, 2}}},
    {"last two swapped, tile edges", 1, {{3, {2, 37, 34}, -2, 2}}, {.i = {0, -1, -2}}},
    {"negative entries, 4-d reverse", 1, {{4, {2, 3, 1, 4}, -2, 2}}, {.i = {-1, -2, -3, -4}}},
    {"identity", 1, {{2, {3, 4}, -2, 2}}, {.i = {0, 1}}},
};

const tg_op_desc tg_op_permute_desc = {
    .name = "permute", .math = "y = x with its axes reordered, y.shape[j] = x.shape[perm[j]]",
    .n_in_min = 1, .n_in_max = 1, .in_kind = {TG_ARG_REAL}, .check = check,
    .forward = TG_KERNELS(permute_forward), .backward = TG_KERNELS(permute_backward),
    .tests = tests, .n_tests = sizeof tests / sizeof *tests};

/* perm holds x->ndim entries (none are read when x is NULL: tg_op_apply reports it) */
tg_tensor *tg_permute(tg_tape *t, tg_tensor *x, const int *perm)
{
    tg_attrs a = {{0}};
    for (int j = 0; x && j < x->ndim; j++) a.i[j] = perm[j];
    return tg_op_apply(t, TG_OP_PERMUTE, 1, &x, &a);
}

tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int axis0, int axis1)
{
    tg_attrs a = {{0}};
    int nd = x ? x->ndim : 0, a0 = tg_axis(axis0, nd), a1 = tg_axis(axis1, nd);
    if (x && (a0 < 0 || a1 < 0)) {
        char sx[64];
        tg_error_set(&t->err, TG_ERR_INVALID, "transpose: %s: axes %d and %d, not both in [%d,%d)",
                     tg_shape_str(x, sx, sizeof sx), axis0, axis1, -nd, nd);
        return NULL;
    }
    for (int j = 0; j < nd; j++) a.i[j] = j == a0 ? a1 : j == a1 ? a0 : j;
    return tg_op_apply(t, TG_OP_PERMUTE, 1, &x, &a);
}
#endif
