/* optim.c: the optimizers, clipping and schedules (see optim.h). The update loops are
 * written once over double-precision reads and writes of either dtype. */
#include "models/optim.h"

#include <math.h>
#include <string.h>

#include "graph/alloc.h"


const char *const tg_opt_names[] = {"sgd", "adagrad", "rmsprop", "adam", "adamw", NULL};
const char *const tg_lr_names[] = {"constant", "step", "cosine", NULL};

void tg_optim_defaults(tg_optim_config *c)
{
    memset(c, 0, sizeof *c);
    c->kind = TG_OPT_ADAM;
    c->lr = 1e-3;
    c->alpha = 0.99;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->gamma = 0.1;
    c->step_size = 1000;
}

static int has_s1(const tg_optim_config *c) { return c->kind != TG_OPT_SGD || c->momentum > 0; }
static int has_s2(const tg_optim_config *c) { return c->kind == TG_OPT_ADAM || c->kind == TG_OPT_ADAMW; }

tg_status tg_optim_init(tg_optim *o, const tg_optim_config *c, tg_tensor *const *params, int n,
                        tg_error *err)
{
    memset(o, 0, sizeof *o);
    if (!(c->lr > 0) || !isfinite(c->lr))
        return tg_error_set(err, TG_ERR_INVALID, "optimizer: lr must be > 0, got %g", c->lr);
    if (c->momentum < 0 || c->momentum >= 1 || c->beta1 < 0 || c->beta1 >= 1 || c->beta2 < 0 ||
        c->beta2 >= 1 || c->alpha < 0 || c->alpha >= 1)
        return tg_error_set(err, TG_ERR_INVALID, "optimizer: momentum, beta1, beta2 and alpha must be in [0, 1)");
    if (c->nesterov && !(c->momentum > 0))
        return tg_error_set(err, TG_ERR_INVALID, "optimizer: nesterov needs momentum > 0");
    if (c->weight_decay < 0 || c->clip_norm < 0 || c->clip_value < 0 || c->eps < 0)
        return tg_error_set(err, TG_ERR_INVALID, "optimizer: weight_decay, clip_norm, clip_value and eps must be >= 0");
    o->c = *c;
    o->n = n;
    o->params = tg_calloc((size_t)n, sizeof *o->params);
    o->s1 = tg_calloc((size_t)n, sizeof *o->s1);
    o->s2 = tg_calloc((size_t)n, sizeof *o->s2);
    if (!o->params || !o->s1 || !o->s2) goto oom;
    for (int i = 0; i < n; i++) {
        const tg_tensor *p = params[i];
        o->params[i] = params[i];
        if (has_s1(c) && !(o->s1[i] = tg_tensor_new(p->dtype, p->ndim, p->shape, 0, err))) goto oom;
        if (has_s2(c) && !(o->s2[i] = tg_tensor_new(p->dtype, p->ndim, p->shape, 0, err))) goto oom;
    }
    return TG_OK;
oom:
    tg_optim_free(o);
    return tg_error_set(err, TG_ERR_NOMEM, "optimizer: out of memory for its state");
}

void tg_optim_free(tg_optim *o)
{
    for (int i = 0; i < o->n && o->s1 && o->s2; i++) {
        tg_tensor_free(o->s1[i]);
        tg_tensor_free(o->s2[i]);
    }
    tg_free(o->params);
    tg_free(o->s1);
    tg_free(o->s2);
    memset(o, 0, sizeof *o);
}

double tg_optim_lr(const tg_optim_config *c, int64_t s)
{
    switch (c->schedule) {
    case TG_LR_STEP: return c->lr * pow(c->gamma, (double)(s / (c->step_size > 0 ? c->step_size : 1)));
    case TG_LR_COSINE:
        if (s < c->warmup) return c->lr * (double)(s + 1) / (double)c->warmup;
        if (c->steps <= c->warmup) return c->lr;
        {
            double q = (double)(s - c->warmup) / (double)(c->steps - c->warmup);
            if (q > 1) q = 1;
            return c->min_lr + 0.5 * (c->lr - c->min_lr) * (1 + cos(3.14159265358979323846 * q));
        }
    default: return c->lr;
    }
}

/* element i of a real tensor's data / grad as double, and back */
static inline double rd(const tg_tensor *t, const void *p, int64_t i)
{
    return t->dtype == TG_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}
static inline void wr(const tg_tensor *t, void *p, int64_t i, double v)
{
    if (t->dtype == TG_F64) ((double *)p)[i] = v;
    else ((float *)p)[i] = (float)v;
}

double tg_optim_grad_norm(const tg_optim *o)
{
    double s = 0;
    for (int k = 0; k < o->n; k++) {
        const tg_tensor *p = o->params[k];
        double sk = 0;
        if (p->dtype == TG_F32) { /* 16 running sums in double: two 8-lane vectors */
            const float *G = p->grad;
            int64_t n16 = p->numel / 16 * 16;
#pragma omp parallel for reduction(+ : sk) if (p->numel > TG_OPT_PAR_MIN)
            for (int64_t c0 = 0; c0 < n16; c0 += 4096) {
                int64_t c1 = c0 + 4096 < n16 ? c0 + 4096 : n16;
                double acc[16] = {0};
                for (int64_t i = c0; i < c1; i += 16)
                    for (int j = 0; j < 16; j++) acc[j] += (double)G[i + j] * G[i + j];
                for (int j = 0; j < 16; j++) sk += acc[j];
            }
            for (int64_t i = n16; i < p->numel; i++) sk += (double)G[i] * G[i];
        } else {
#pragma omp parallel for reduction(+ : sk) if (p->numel > TG_OPT_PAR_MIN)
            for (int64_t i = 0; i < p->numel; i++) {
                double g = rd(p, p->grad, i);
                sk += g * g;
            }
        }
        s += sk;
    }
    return sqrt(s);
}

double tg_optim_step(tg_optim *o, int64_t step)
{
    const tg_optim_config *c = &o->c;
    /* all-reduce of the gradients goes here, before anything reads them */
    if (c->clip_value > 0)
        for (int k = 0; k < o->n; k++) {
            tg_tensor *p = o->params[k];
            for (int64_t i = 0; i < p->numel; i++)
                wr(p, p->grad, i, fmax(-c->clip_value, fmin(c->clip_value, rd(p, p->grad, i))));
        }
    double norm = tg_optim_grad_norm(o), scale = 1;
    if (c->clip_norm > 0 && norm > c->clip_norm) scale = c->clip_norm / (norm + 1e-6); /* as torch */
    double lr = tg_optim_lr(c, step);
    o->t++;
    double b1t = 1 - pow(c->beta1, (double)o->t), b2t = 1 - pow(c->beta2, (double)o->t);
    for (int k = 0; k < o->n; k++) {
        tg_tensor *p = o->params[k], *s1 = o->s1[k], *s2 = o->s2[k];
        if ((c->kind == TG_OPT_ADAM || c->kind == TG_OPT_ADAMW) && p->dtype == TG_F32 && s1 &&
            s1->dtype == TG_F32 && s2 && s2->dtype == TG_F32) {
            /* Adam on float32, the common case: float arithmetic in PyTorch's order,
             * w -= (lr / b1t) m / (sqrt(v) / sqrt(b2t) + eps), so that it vectorises
             * (double division and square root cost 4x more), and the gradient zeroed in
             * the same pass */
            float *W = p->data, *M1 = s1->data, *V2 = s2->data, *G = p->grad;
            float wd = (float)c->weight_decay, b1 = (float)c->beta1, b2 = (float)c->beta2;
            float eps = (float)c->eps, sc = (float)scale, step_size = (float)(lr / b1t);
            float decay = (float)(lr * c->weight_decay), isb2 = (float)(1 / sqrt(b2t));
            int adamw = c->kind == TG_OPT_ADAMW;
            int64_t n = p->numel;
#pragma omp parallel for if (n > TG_OPT_PAR_MIN)
            for (int64_t c0 = 0; c0 < n; c0 += 4096) { /* threads over chunks, SIMD within */
                int64_t c1 = c0 + 4096 < n ? c0 + 4096 : n;
#pragma omp simd
                for (int64_t i = c0; i < c1; i++) {
                    float w = W[i], g = G[i] * sc;
                    if (wd > 0 && !adamw) g += wd * w;
                    if (adamw) w -= decay * w;
                    float m = b1 * M1[i] + (1 - b1) * g, v = b2 * V2[i] + (1 - b2) * g * g;
                    M1[i] = m;
                    V2[i] = v;
                    W[i] = w - step_size * m / (sqrtf(v) * isb2 + eps);
                    G[i] = 0;
                }
            }
            continue;
        }
        /* elements are independent: across threads for large tensors (same result) */
#pragma omp parallel for if (p->numel > TG_OPT_PAR_MIN)
        for (int64_t i = 0; i < p->numel; i++) {
            double w = rd(p, p->data, i), g = rd(p, p->grad, i) * scale;
            if (c->weight_decay > 0 && c->kind != TG_OPT_ADAMW) g += c->weight_decay * w;
            switch (c->kind) {
            case TG_OPT_SGD:
                if (s1) {
                    double v = o->t == 1 ? g : c->momentum * rd(s1, s1->data, i) + g;
                    wr(s1, s1->data, i, v);
                    g = c->nesterov ? g + c->momentum * v : v;
                }
                w -= lr * g;
                break;
            case TG_OPT_ADAGRAD: {
                double s = rd(s1, s1->data, i) + g * g;
                wr(s1, s1->data, i, s);
                w -= lr * g / (sqrt(s) + c->eps);
                break;
            }
            case TG_OPT_RMSPROP: {
                double s = c->alpha * rd(s1, s1->data, i) + (1 - c->alpha) * g * g;
                wr(s1, s1->data, i, s);
                w -= lr * g / (sqrt(s) + c->eps);
                break;
            }
            default: { /* adam, adamw */
                if (c->kind == TG_OPT_ADAMW) w -= lr * c->weight_decay * w;
                double m = c->beta1 * rd(s1, s1->data, i) + (1 - c->beta1) * g;
                double v = c->beta2 * rd(s2, s2->data, i) + (1 - c->beta2) * g * g;
                wr(s1, s1->data, i, m);
                wr(s2, s2->data, i, v);
                w -= lr * (m / b1t) / (sqrt(v / b2t) + c->eps);
                break;
            }
            }
            wr(p, p->data, i, w);
        }
        tg_tensor_zero_grad(p);
    }
    return norm;
}

tg_tensor *tg_optim_state(const tg_optim *o, int k, const char **suffix)
{
    static const char *s1_names[] = {"momentum", "sum", "square_avg", "m", "m"};
    int i = k / 2;
    if (i >= o->n) return NULL;
    if (k % 2 == 0) {
        *suffix = s1_names[o->c.kind];
        return o->s1[i];
    }
    *suffix = "v";
    return o->s2[i];
}
