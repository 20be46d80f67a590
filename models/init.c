/* init.c: the parameter initialisers (see init.h). */
#include "models/init.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/alloc.h"

static const struct { const char *name; int min, max; } KINDS[TG_INIT_COUNT] = {
    [TG_INIT_ZEROS] = {"zeros", 0, 0},         [TG_INIT_ONES] = {"ones", 0, 0},
    [TG_INIT_CONSTANT] = {"constant", 1, 1},   [TG_INIT_UNIFORM] = {"uniform", 1, 1},
    [TG_INIT_NORMAL] = {"normal", 1, 1},       [TG_INIT_XAVIER] = {"xavier", 0, 1},
    [TG_INIT_ORTHOGONAL] = {"orthogonal", 0, 1}, [TG_INIT_IDENTITY] = {"identity", 0, 1},
};

const char *tg_init_name(tg_init_kind k) { return k < TG_INIT_COUNT ? KINDS[k].name : "?"; }

int tg_init_find(const char *name, int *min_args, int *max_args)
{
    if (!strcmp(name, "glorot")) name = "xavier";
    for (int k = 0; k < TG_INIT_COUNT; k++)
        if (!strcmp(KINDS[k].name, name)) {
            *min_args = KINDS[k].min;
            *max_args = KINDS[k].max;
            return k;
        }
    return -1;
}

/* rows x cols with orthonormal rows (or columns, whichever are fewer): modified
 * Gram-Schmidt on a Gaussian matrix, as PyTorch's orthogonal_ does with QR. */
static int orthogonal(double *m, int rows, int cols, tg_rng *rng)
{
    int tr = rows > cols; /* orthonormalise the shorter side */
    int n = tr ? cols : rows, len = tr ? rows : cols;
    double *v = tg_malloc(sizeof *v * (size_t)n * len);
    if (!v) return -1;
    for (long i = 0; i < (long)n * len; i++) v[i] = tg_rng_normal(rng);
    for (int i = 0; i < n; i++) {
        double *a = v + (long)i * len;
        for (int j = 0; j < i; j++) {
            double *b = v + (long)j * len, d = 0;
            for (int k = 0; k < len; k++) d += a[k] * b[k];
            for (int k = 0; k < len; k++) a[k] -= d * b[k];
        }
        double nrm = 0;
        for (int k = 0; k < len; k++) nrm += a[k] * a[k];
        nrm = sqrt(nrm);
        for (int k = 0; k < len; k++) a[k] /= nrm > 0 ? nrm : 1;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) m[(long)r * cols + c] = tr ? v[(long)c * len + r] : v[(long)r * len + c];
    tg_free(v);
    return 0;
}

int tg_init_fill(tg_tensor *t, tg_init_kind k, double arg, int has_arg, tg_rng *rng,
                 char *msg, int msg_len)
{
    int rows = t->ndim >= 2 ? t->shape[0] : (int)t->numel;
    int cols = t->ndim >= 2 ? (int)(t->numel / rows) : 1;
    double fan_in = t->ndim >= 2 ? cols : (double)t->numel, fan_out = t->ndim >= 2 ? rows : (double)t->numel;
    if ((k == TG_INIT_ORTHOGONAL || k == TG_INIT_IDENTITY) && t->ndim != 2) {
        snprintf(msg, msg_len, "%s needs a 2-D parameter", tg_init_name(k));
        return -1;
    }
    if (k == TG_INIT_ORTHOGONAL) {
        double *m = tg_malloc(sizeof *m * (size_t)t->numel);
        if (!m || orthogonal(m, rows, cols, rng)) {
            tg_free(m);
            snprintf(msg, msg_len, "out of memory");
            return -1;
        }
        double g = has_arg ? arg : 1;
        for (int64_t i = 0; i < t->numel; i++) tg_tensor_set(t, i, g * m[i]);
        tg_free(m);
        return 0;
    }
    double lim = (has_arg ? arg : 1) * sqrt(6.0 / (fan_in + fan_out));
    for (int64_t i = 0; i < t->numel; i++) {
        double v = 0;
        switch (k) {
        case TG_INIT_ZEROS: v = 0; break;
        case TG_INIT_ONES: v = 1; break;
        case TG_INIT_CONSTANT: v = arg; break;
        case TG_INIT_UNIFORM: v = arg * (2 * tg_rng_uniform(rng) - 1); break;
        case TG_INIT_NORMAL: v = arg * tg_rng_normal(rng); break;
        case TG_INIT_XAVIER: v = lim * (2 * tg_rng_uniform(rng) - 1); break;
        case TG_INIT_IDENTITY: v = (i / cols == i % cols) ? (has_arg ? arg : 1) : 0; break;
        default: break;
        }
        tg_tensor_set(t, i, v);
    }
    return 0;
}
