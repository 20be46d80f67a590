/* gradcheck.c: central differences against the tape, in float64 (see gradcheck.h). */
#include "graph/gradcheck.h"

#include <math.h>
#include <string.h>

#include "graph/alloc.h"
#include "graph/rng.h"

void tg_gradcheck_defaults(tg_gradcheck_opts *o)
{
    o->eps = 1e-6;
    o->atol = 1e-5;
    o->rtol = 1e-3;
    o->max_elems = 0;
    o->seed = 1;
}

/* Runs the closure once; returns 0 and the loss value, or the tape's status. */
static tg_status eval(tg_tape *tape, tg_loss_fn fn, void *ctx, int grad, double *value,
                      tg_error *err)
{
    tg_tape_reset(tape);
    if (!grad) tg_tape_no_grad_begin(tape);
    tg_tensor *loss = fn(tape, ctx);
    if (!grad) tg_tape_no_grad_end(tape);
    if (!loss && !tape->err.code)
        tg_error_set(&tape->err, TG_ERR_INVALID, "gradcheck: the loss closure returned NULL");
    if (loss && loss->numel != 1) {
        char s[64];
        tg_error_set(&tape->err, TG_ERR_SHAPE, "gradcheck: the loss must be a scalar, not %s",
                     tg_shape_str(loss, s, sizeof s));
    }
    if (!tape->err.code) {
        *value = tg_tensor_get(loss, 0);
        if (grad) tg_tape_backward(tape, loss);
    }
    if (tape->err.code) {
        if (err) *err = tape->err;
        return tape->err.code;
    }
    return TG_OK;
}

/* Index of the j-th of m elements spread over numel (one random pick per stride). */
static int64_t pick(int64_t j, int64_t m, int64_t numel, tg_rng *r)
{
    if (m >= numel) return j;
    int64_t lo = j * numel / m, hi = (j + 1) * numel / m;
    return lo + (int64_t)tg_rng_below(r, (uint64_t)(hi - lo));
}

tg_status tg_gradcheck(tg_tape *tape, tg_loss_fn fn, void *ctx, tg_tensor *const *params, int n,
                       const tg_gradcheck_opts *o, tg_gradcheck_result *res, tg_error *err)
{
    tg_gradcheck_opts def;
    if (!o) {
        tg_gradcheck_defaults(&def);
        o = &def;
    }
    if (tape->dtype != TG_F64)
        return tg_error_set(err, TG_ERR_DTYPE, "gradcheck: the tape must be f64");
    for (int k = 0; k < n; k++) {
        const tg_tensor *p = params[k];
        if (!p || p->dtype != TG_F64 || !p->grad || !p->requires_grad)
            return tg_error_set(err, TG_ERR_INVALID,
                                "gradcheck: tensor %d (%s) must be f64 with a gradient buffer",
                                k, p && p->name ? p->name : "?");
    }
    for (int k = 0; k < n; k++) tg_tensor_zero_grad(params[k]);
    double l0;
    tg_status st = eval(tape, fn, ctx, 1, &l0, err);
    if (st) return st;

    tg_rng rng = {o->seed};
    for (int k = 0; k < n; k++) {
        tg_tensor *p = params[k];
        double *x = p->data;
        const double *g = p->grad;
        int64_t m = o->max_elems > 0 && o->max_elems < p->numel ? o->max_elems : p->numel;
        tg_gradcheck_result *r = &res[k];
        memset(r, 0, sizeof *r);
        r->worst = -1;
        double worst_score = -1;
        for (int64_t j = 0; j < m; j++) {
            int64_t i = pick(j, m, p->numel, &rng);
            double x0 = x[i], lp, lm;
            x[i] = x0 + o->eps;
            st = eval(tape, fn, ctx, 0, &lp, err);
            x[i] = x0 - o->eps;
            if (!st) st = eval(tape, fn, ctx, 0, &lm, err);
            x[i] = x0;
            if (st) return st;
            double num = (lp - lm) / (2 * o->eps), ana = g[i], d = fabs(ana - num);
            double score = d / (o->atol + o->rtol * fabs(num));
            if (!(score <= 1)) r->failed++; /* NaN counts as failed */
            if (!(score <= worst_score)) {
                worst_score = isnan(score) ? INFINITY : score;
                r->worst = i;
                r->analytic = ana;
                r->numeric = num;
                r->abs_err = d;
                r->rel_err = d / fmax(fabs(num), 1e-12);
            }
            r->checked++;
        }
        r->pass = r->failed == 0;
    }
    tg_tape_reset(tape);
    return TG_OK;
}
