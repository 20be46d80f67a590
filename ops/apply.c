/* apply.c: runs one op through its descriptor: input and dtype checks, the shape rule,
 * output and saved-state allocation from the tape's arena, the forward kernel, and
 * the node that backward will visit. The one path every op takes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/arena.h"
#include "ops/op.h"

_Static_assert(TG_OP_COUNT < TG_PROFILE_WGRAD, "tg_profile needs a slot per op and one more");

const char *tg_op_name(tg_op_id op)
{
    return (op >= 0 && op < TG_OP_COUNT) ? tg_op_registry[op]->name : "?";
}

static int64_t tasks_all, tasks_taken; /* see tg_task_counts */

void tg_task_ran(int creator)
{
#pragma omp atomic
    tasks_all++;
    if (omp_get_thread_num() != creator) {
#pragma omp atomic
        tasks_taken++;
    }
}

void tg_task_counts(int64_t *all, int64_t *taken)
{
#pragma omp atomic read
    *all = tasks_all;
#pragma omp atomic read
    *taken = tasks_taken;
}

int tg_op_find(const char *name)
{
    for (int i = 0; i < TG_OP_COUNT; i++)
        if (strcmp(tg_op_registry[i]->name, name) == 0) return i;
    return -1;
}

int tg_check_fail(tg_error *err, tg_status code, const tg_node *n, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error_set(err, code, "%s: %s", tg_op_registry[n->op]->name, msg);
}

int tg_axis(int axis, int ndim)
{
    if (axis < 0) axis += ndim;
    return (axis >= 0 && axis < ndim) ? axis : -1;
}

static int arg_kind(const tg_op_desc *d, int i)
{
    int last = d->n_in_max < TG_OP_MAX_IN ? d->n_in_max - 1 : TG_OP_MAX_IN - 1;
    return d->in_kind[i < last ? i : last];
}

static tg_tensor *fail(tg_tape *t, tg_status code, const char *fmt, const char *name, int x)
{
    tg_error_set(&t->err, code, fmt, name, x);
    return NULL;
}

tg_tensor *tg_op_apply(tg_tape *t, tg_op_id op, int n_in, tg_tensor *const *in,
                       const tg_attrs *a)
{
    if (t->err.code) return NULL;
    if (op < 0 || op >= TG_OP_COUNT) return fail(t, TG_ERR_INVALID, "%s: unknown op %d", "op", op);
    const tg_op_desc *d = tg_op_registry[op];
    if (n_in < d->n_in_min || n_in > d->n_in_max)
        return fail(t, TG_ERR_INVALID, "%s: wrong number of inputs (%d)", d->name, n_in);

    /* dtypes: every real input shares one, ids are i32 */
    int dtype = -1, needs_grad = 0;
    for (int i = 0; i < n_in; i++) {
        const tg_tensor *x = in[i];
        if (!x) return fail(t, TG_ERR_INVALID, "%s: input %d is NULL", d->name, i + 1);
        int kind = arg_kind(d, i);
        if (kind == TG_ARG_IDS) {
            if (x->dtype != TG_I32) {
                tg_error_set(&t->err, TG_ERR_DTYPE, "%s: input %d must be i32 ids, not %s",
                             d->name, i + 1, tg_dtype_name(x->dtype));
                return NULL;
            }
            continue;
        }
        if (x->dtype == TG_I32) {
            tg_error_set(&t->err, TG_ERR_DTYPE, "%s: input %d must be real-valued, not i32",
                         d->name, i + 1);
            return NULL;
        }
        if (dtype >= 0 && x->dtype != dtype) {
            tg_error_set(&t->err, TG_ERR_DTYPE, "%s: inputs mix %s and %s", d->name,
                         tg_dtype_name(dtype), tg_dtype_name(x->dtype));
            return NULL;
        }
        dtype = x->dtype;
        if (kind == TG_ARG_REAL && x->requires_grad) needs_grad = 1;
    }
    if (dtype < 0) dtype = t->dtype;

    tg_node *n = tg_arena_alloc(&t->arena, sizeof *n, 16);
    tg_tensor *out = tg_arena_alloc(&t->arena, sizeof *out, 16);
    if (!n || !out) return fail(t, TG_ERR_NOMEM, "%s: out of memory%.0d", d->name, 0);
    memset(n, 0, sizeof *n);
    memset(out, 0, sizeof *out);
    n->in = n->in_inline;
    if (n_in > TG_MAX_INLINE_IN) {
        n->in = tg_arena_alloc(&t->arena, (size_t)n_in * sizeof *n->in, 16);
        if (!n->in) return fail(t, TG_ERR_NOMEM, "%s: out of memory%.0d", d->name, 0);
    }
    memcpy(n->in, in, (size_t)n_in * sizeof *in);
    n->n_in = (uint16_t)n_in;
    n->op = (uint16_t)op;
    n->out = out;
    n->label = t->label;
    if (a) n->a = *a;
    n->assigns = d->assigns;
    n->pass = (uint8_t)d->pass;
    n->fresh = 0;
    n->wg = NULL;
    out->dtype = (uint8_t)dtype;

    if (d->check(n, out, &t->err)) return NULL;
    if (out->ndim < 0 || out->ndim > TG_MAX_DIMS) {
        tg_error_set(&t->err, TG_ERR_SHAPE, "%s: the output would have %d dimensions (at most %d)",
                     d->name, out->ndim, TG_MAX_DIMS);
        return NULL;
    }
    out->numel = tg_shape_numel(out->ndim, out->shape);
    if (out->numel < 0) {
        tg_error_set(&t->err, TG_ERR_SHAPE, "%s: output shape out of range", d->name);
        return NULL;
    }
    if (t->shape_only) return out; /* data NULL: nothing computed, nothing recorded */
    size_t esize = tg_dtype_size(dtype);
    int64_t at = d->view ? 0 : d->view_at ? d->view_at(n) : -1;
    if (at >= 0) out->data = (char *)in[0]->data + (size_t)at * esize;
    else if (!(out->data = tg_tape_alloc(t, (size_t)out->numel * esize))) return NULL;
    if (d->saved) {
        int64_t ns = d->saved(n);
        if (ns > 0 && !(n->saved = tg_tape_alloc(t, (size_t)ns * esize))) return NULL;
    }
    int k = dtype == TG_F64;
    double t0 = t->profile ? omp_get_wtime() : 0;
    if (d->forward[k]) d->forward[k](n);
    if (t->profile) t->profile->fwd_s[op] += omp_get_wtime() - t0, t->profile->fwd_n[op]++;

    if (needs_grad && !t->no_grad && d->backward[k]) {
        out->requires_grad = 1;
        n->backward = d->backward[k];
        n->prev = t->last;
        t->last = n;
        t->n_nodes++;
        if (t->defer_wgrad && op == TG_OP_MATMUL && tg_matmul_defer(t, n))
            return fail(t, TG_ERR_NOMEM, "%s: out of memory%.0d", d->name, 0);
    }
    return out;
}
