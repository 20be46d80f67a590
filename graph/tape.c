/* tape.c: step tensors, the node list and the reverse walk. What each op computes
 * lives in ops/; the tape only calls the backward kernel stored in each node. */
#include "graph/tape.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "graph/alloc.h"

tg_tape *tg_tape_new(tg_dtype dtype, tg_error *err)
{
    if (dtype != TG_F32 && dtype != TG_F64) {
        tg_error_set(err, TG_ERR_DTYPE, "tape: dtype must be f32 or f64, not %s",
                     tg_dtype_name(dtype));
        return NULL;
    }
    tg_tape *t = tg_calloc(1, sizeof *t);
    if (!t) {
        tg_error_set(err, TG_ERR_NOMEM, "tape: out of memory");
        return NULL;
    }
    tg_arena_init(&t->arena);
    t->dtype = dtype;
    return t;
}

void tg_tape_free(tg_tape *t)
{
    if (!t) return;
    tg_arena_free(&t->arena);
    tg_free(t);
}

void tg_tape_reset(tg_tape *t)
{
    tg_arena_reset(&t->arena);
    memset(t->free_bytes, 0, sizeof t->free_bytes);
    memset(t->free_head, 0, sizeof t->free_head);
    t->last = NULL;
    t->n_nodes = 0;
    t->wgrads = NULL;
    tg_error_clear(&t->err);
}

tg_status tg_tape_status(const tg_tape *t) { return t->err.code; }
const tg_error *tg_tape_error(const tg_tape *t) { return &t->err; }
void tg_tape_no_grad_begin(tg_tape *t) { t->no_grad++; }
void tg_tape_no_grad_end(tg_tape *t)
{
    if (t->no_grad > 0) t->no_grad--;
}
void tg_tape_shape_only_begin(tg_tape *t) { t->shape_only++; }
void tg_tape_shape_only_end(tg_tape *t)
{
    if (t->shape_only > 0) t->shape_only--;
}
void tg_tape_set_label(tg_tape *t, const char *label) { t->label = label; }

void *tg_tape_alloc(tg_tape *t, size_t bytes)
{
    void *p = tg_arena_alloc(&t->arena, bytes, bytes >= 64 ? 64 : 16);
    if (!p)
        tg_error_set(&t->err, TG_ERR_NOMEM, "out of memory allocating %zu bytes of step memory",
                     bytes);
    return p;
}

tg_tensor *tg_tape_tensor(tg_tape *t, tg_dtype dtype, int ndim, const int *shape)
{
    if (t->err.code) return NULL;
    if (dtype < 0 || dtype >= TG_DTYPE_COUNT) {
        tg_error_set(&t->err, TG_ERR_DTYPE, "tensor: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (ndim < 0 || ndim > TG_MAX_DIMS) {
        tg_error_set(&t->err, TG_ERR_SHAPE, "tensor: %d dimensions (at most %d)", ndim,
                     TG_MAX_DIMS);
        return NULL;
    }
    int64_t n = tg_shape_numel(ndim, shape);
    if (n < 0) {
        tg_error_set(&t->err, TG_ERR_SHAPE,
                     "tensor: dimensions must be >= 1 and at most 2^40 elements");
        return NULL;
    }
    tg_tensor *x = tg_arena_alloc(&t->arena, sizeof *x, 16);
    void *data = x && !t->shape_only ? tg_tape_alloc(t, (size_t)n * tg_dtype_size(dtype)) : x;
    if (!data) {
        tg_error_set(&t->err, TG_ERR_NOMEM, "out of memory allocating a step tensor");
        return NULL;
    }
    memset(x, 0, sizeof *x);
    x->data = t->shape_only ? NULL : data;
    x->numel = n;
    x->ndim = ndim;
    for (int i = 0; i < ndim; i++) x->shape[i] = shape[i];
    x->dtype = (uint8_t)dtype;
    return x;
}

tg_tensor *tg_tape_zeros(tg_tape *t, tg_dtype dtype, int ndim, const int *shape)
{
    tg_tensor *x = tg_tape_tensor(t, dtype, ndim, shape);
    if (x && x->data) memset(x->data, 0, (size_t)x->numel * tg_dtype_size(dtype));
    return x;
}

tg_tensor *tg_tape_from(tg_tape *t, int ndim, const int *shape, const double *values)
{
    tg_tensor *x = tg_tape_tensor(t, t->dtype, ndim, shape);
    if (x && x->data) tg_tensor_fill_from(x, values);
    return x;
}

tg_tensor *tg_tape_scalar(tg_tape *t, double v) { return tg_tape_from(t, 0, NULL, &v); }

tg_tensor *tg_tape_detach(tg_tape *t, tg_tensor *x)
{
    if (!x || t->err.code) return NULL;
    tg_tensor *d = tg_arena_alloc(&t->arena, sizeof *d, 16);
    if (!d) {
        tg_error_set(&t->err, TG_ERR_NOMEM, "out of memory in detach");
        return NULL;
    }
    *d = *x;
    d->grad = NULL;
    d->requires_grad = 0;
    d->owned = 0;
    return d;
}

static tg_status add_one(tg_tape *t, tg_tensor *loss)
{
    if (!loss->grad) {
        loss->grad = tg_arena_calloc(&t->arena, tg_dtype_size(loss->dtype), 64);
        if (!loss->grad)
            return tg_error_set(&t->err, TG_ERR_NOMEM, "out of memory in backward");
    }
    if (loss->dtype == TG_F32) ((float *)loss->grad)[0] += 1.0f;
    else ((double *)loss->grad)[0] += 1.0;
    return TG_OK;
}

/* Recycled gradient buffers: an open-addressed table of sizes, each with a LIFO list
 * threaded through the buffers' first bytes. Buffers under 64 bytes are not recycled. */
static int bucket(const tg_tape *t, size_t nb, int claim)
{
    size_t h = (nb / 16) * 0x9E3779B97F4A7C15u >> 58; /* 6 bits */
    for (int k = 0; k < 64; k++) {
        int i = (int)((h + (size_t)k) & 63);
        if (t->free_bytes[i] == nb) return i;
        if (t->free_bytes[i] == 0) return claim ? i : -1;
    }
    return -1;
}

/* A recycled buffer of nb bytes, zeroed unless `raw`; NULL if none */
static void *grad_take(tg_tape *t, size_t nb, int raw)
{
    int i = t->recycle_grads && nb >= 64 ? bucket(t, nb, 0) : -1;
    if (i < 0 || !t->free_head[i]) return NULL;
    void *p = t->free_head[i];
    memcpy(&t->free_head[i], p, sizeof p);
    return raw ? p : memset(p, 0, nb);
}

static void grad_give(tg_tape *t, tg_tensor *x)
{
    size_t nb = (size_t)x->numel * tg_dtype_size(x->dtype);
    int i = nb >= 64 ? bucket(t, nb, 1) : -1;
    if (i < 0) return;
    t->free_bytes[i] = nb;
    memcpy(x->grad, &t->free_head[i], sizeof(void *));
    t->free_head[i] = x->grad;
    x->grad = NULL;
}

/* tg_node.pass: the output's gradient buffer becomes input pass - 1's, fresh, when that
 * input has none yet, its size matches and it is no other input of n (whose gradient
 * the kernel would then write over g). Only with recycling: the output's buffer is
 * dead after this node, so nothing else reads it. 1 if handed over. */
static int hand_over(tg_tape *t, tg_node *n)
{
    if (!n->pass || !t->recycle_grads || n->pass > n->n_in) return 0;
    tg_tensor *x = n->in[n->pass - 1];
    if (!x->requires_grad || x->grad || x->numel != n->out->numel || x->dtype != n->out->dtype)
        return 0;
    for (int i = 0; i < n->n_in; i++)
        if (i != n->pass - 1 && n->in[i] == x) return 0;
    x->grad = n->out->grad;
    n->fresh |= (uint64_t)1 << (n->pass - 1);
    t->n_handed++;
    return 1;
}

tg_status tg_tape_backward(tg_tape *t, tg_tensor *loss)
{
    if (t->err.code) return t->err.code;
    if (!loss) return tg_error_set(&t->err, TG_ERR_INVALID, "backward: the loss is NULL");
    if (loss->numel != 1) {
        char s[64];
        return tg_error_set(&t->err, TG_ERR_SHAPE, "backward: the loss must be a scalar, not %s",
                            tg_shape_str(loss, s, sizeof s));
    }
    t->n_handed = 0;
    if (!loss->requires_grad) return TG_OK; /* depends on nothing that needs a gradient */
    if (add_one(t, loss)) return t->err.code;
    for (tg_wgrad *wg = t->wgrads; wg; wg = wg->next) { /* the stacked rows' buffers */
        size_t es = tg_dtype_size(wg->w->dtype);
        if (!(wg->G = tg_arena_alloc(&t->arena, (size_t)(wg->rows * wg->n) * es, 64)) ||
            !(wg->X = tg_arena_alloc(&t->arena, (size_t)(wg->rows * wg->k) * es, 64)))
            return tg_error_set(&t->err, TG_ERR_NOMEM, "out of memory in backward");
    }
    for (tg_node *n = t->last; n; n = n->prev) {
        if (!n->out->grad) { /* nothing flowed into this node: its deferred rows add 0 */
            if (n->wg) {
                size_t es = tg_dtype_size(n->wg->w->dtype);
                memset((char *)n->wg->G + (size_t)(n->wg_row * n->wg->n) * es, 0, (size_t)(n->wg_m * n->wg->n) * es);
                memset((char *)n->wg->X + (size_t)(n->wg_row * n->wg->k) * es, 0, (size_t)(n->wg_m * n->wg->k) * es);
            }
            continue;
        }
        n->fresh = 0;
        int handed = hand_over(t, n);
        for (int i = 0; i < n->n_in; i++) {
            tg_tensor *x = n->in[i];
            if (x->requires_grad && !x->grad) {
                size_t nb = (size_t)x->numel * tg_dtype_size(x->dtype);
                int raw = i < 64 && (n->assigns >> i & 1); /* backward writes it outright */
                if (!(x->grad = grad_take(t, nb, raw)))
                    x->grad = raw ? tg_arena_alloc(&t->arena, nb, nb >= 64 ? 64 : 16)
                                  : tg_arena_calloc(&t->arena, nb, nb >= 64 ? 64 : 16);
                if (!x->grad)
                    return tg_error_set(&t->err, TG_ERR_NOMEM, "out of memory in backward");
                if (raw && t->poison_fresh) memset(x->grad, 0xFF, nb); /* NaN in f32 and f64 */
                if (raw) n->fresh |= (uint64_t)1 << i; /* (raw only for i < 64) */
            }
        }
        double t0 = t->profile ? omp_get_wtime() : 0;
        n->backward(n);
        if (t->profile) t->profile->bwd_s[n->op] += omp_get_wtime() - t0, t->profile->bwd_n[n->op]++;
        if (handed) n->out->grad = NULL; /* the input owns it now */
        else if (t->recycle_grads) grad_give(t, n->out);
    }
    double t_wg = t->profile ? omp_get_wtime() : 0;
    int n_wg = 0;
    for (tg_wgrad *wg = t->wgrads; wg; wg = wg->next, n_wg++) wg->finish(wg);
    if (t->profile && n_wg) {
        t->profile->bwd_s[TG_PROFILE_WGRAD] += omp_get_wtime() - t_wg;
        t->profile->bwd_n[TG_PROFILE_WGRAD] += n_wg;
    }
    return TG_OK;
}

static int nonfinite(const tg_tensor *x, const void *p)
{
    if (!p || x->dtype == TG_I32) return 0;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = x->dtype == TG_F32 ? ((const float *)p)[i] : ((const double *)p)[i];
        if (!isfinite(v)) return 1;
    }
    return 0;
}

const tg_node *tg_tape_first_nonfinite(const tg_tape *t)
{
    const tg_node *first = NULL; /* the list runs newest first: keep the last match */
    for (const tg_node *n = t->last; n; n = n->prev)
        if (nonfinite(n->out, n->out->data)) first = n;
    return first;
}

const tg_node *tg_tape_first_nonfinite_grad(const tg_tape *t)
{
    for (const tg_node *n = t->last; n; n = n->prev) {
        if (!n->out->grad || nonfinite(n->out, n->out->grad)) continue;
        for (int i = 0; i < n->n_in; i++)
            if (n->in[i]->requires_grad && nonfinite(n->in[i], n->in[i]->grad)) return n;
    }
    return NULL;
}
