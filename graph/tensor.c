/* tensor.c: persistent tensors (malloc'ed, owned by the caller) and shape helpers.
 * Step tensors are made by the tape (tape.c), not here. */
#include "graph/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/alloc.h"

size_t tg_dtype_size(tg_dtype dtype)
{
    switch (dtype) {
    case TG_F32: return 4;
    case TG_F64: return 8;
    case TG_I32: return 4;
    default: return 0;
    }
}

const char *tg_dtype_name(tg_dtype dtype)
{
    switch (dtype) {
    case TG_F32: return "f32";
    case TG_F64: return "f64";
    case TG_I32: return "i32";
    default: return "?";
    }
}

int64_t tg_shape_numel(int ndim, const int *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) return -1;
        n *= shape[i];
        if (n > ((int64_t)1 << 40)) return -1;
    }
    return n;
}

int tg_shape_equal(const tg_tensor *a, const tg_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

char *tg_shape_str(const tg_tensor *t, char *buf, int n)
{
    int k = snprintf(buf, n, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += snprintf(buf + k, n - k, i ? ",%d" : "%d", t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

tg_tensor *tg_tensor_new(tg_dtype dtype, int ndim, const int *shape, int requires_grad,
                         tg_error *err)
{
    if (dtype < 0 || dtype >= TG_DTYPE_COUNT) {
        tg_error_set(err, TG_ERR_DTYPE, "tensor: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (ndim < 0 || ndim > TG_MAX_DIMS) {
        tg_error_set(err, TG_ERR_SHAPE, "tensor: %d dimensions (at most %d)", ndim, TG_MAX_DIMS);
        return NULL;
    }
    int64_t n = tg_shape_numel(ndim, shape);
    if (n < 0) {
        tg_error_set(err, TG_ERR_SHAPE, "tensor: dimensions must be >= 1 and at most 2^40 elements");
        return NULL;
    }
    if (requires_grad && dtype == TG_I32) {
        tg_error_set(err, TG_ERR_DTYPE, "tensor: an i32 tensor cannot require a gradient");
        return NULL;
    }
    tg_tensor *t = tg_calloc(1, sizeof *t);
    if (!t) goto oom;
    size_t bytes = (size_t)n * tg_dtype_size(dtype);
    t->data = tg_alloc_big(bytes, 1);
    if (!t->data) goto oom;
    if (requires_grad) {
        t->grad = tg_alloc_big(bytes, 1);
        if (!t->grad) goto oom;
    }
    t->numel = n;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->dtype = (uint8_t)dtype;
    t->requires_grad = (uint8_t)(requires_grad != 0);
    t->owned = 1;
    return t;
oom:
    if (t) {
        tg_free(t->data);
        tg_free(t->grad);
        tg_free(t);
    }
    tg_error_set(err, TG_ERR_NOMEM, "tensor: out of memory allocating %lld elements", (long long)n);
    return NULL;
}

void tg_tensor_free(tg_tensor *t)
{
    if (!t) return;
    if (t->owned) {
        tg_free(t->data);
        tg_free(t->grad);
        tg_free(t);
    }
}

void tg_tensor_zero_grad(tg_tensor *t)
{
    if (t && t->grad) memset(t->grad, 0, (size_t)t->numel * tg_dtype_size(t->dtype));
}

static double get_at(const void *p, tg_dtype dt, int64_t i)
{
    switch (dt) {
    case TG_F32: return ((const float *)p)[i];
    case TG_F64: return ((const double *)p)[i];
    case TG_I32: return ((const int32_t *)p)[i];
    default: return 0;
    }
}

double tg_tensor_get(const tg_tensor *t, int64_t i) { return get_at(t->data, t->dtype, i); }

double tg_tensor_grad_get(const tg_tensor *t, int64_t i)
{
    return t->grad ? get_at(t->grad, t->dtype, i) : 0.0;
}

void tg_tensor_set(tg_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case TG_F32: ((float *)t->data)[i] = (float)v; break;
    case TG_F64: ((double *)t->data)[i] = v; break;
    case TG_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    default: break;
    }
}

void tg_tensor_fill_from(tg_tensor *t, const double *v)
{
    for (int64_t i = 0; i < t->numel; i++) tg_tensor_set(t, i, v[i]);
}
