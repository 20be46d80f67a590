/* optim.h: optimizers, gradient clipping and learning-rate schedules. tg_optim_step is
 * the one place where gradients become updates: data-parallel training will all-reduce
 * the gradients at its start.
 *
 *   sgd       p -= lr * g                          (momentum: v = mu v + g; p -= lr v;
 *                                                   nesterov: p -= lr (g + mu v))
 *   adagrad   s += g^2; p -= lr g / (sqrt(s) + eps)
 *   rmsprop   s = alpha s + (1-alpha) g^2; p -= lr g / (sqrt(s) + eps)
 *   adam      m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *             p -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *   adamw     adam, with decoupled weight decay p -= lr wd p
 * weight_decay (not adamw) adds wd p to g, as PyTorch does. Clipping happens first:
 * by value (each g in [-c, c]), then by global norm (all g scaled by c / ||g|| when
 * ||g|| > c). Schedules give lr at step s (0-based): constant; step (lr gamma^floor(s /
 * step_size)); cosine (linear warm-up for `warmup` steps, then cosine from lr to min_lr
 * at `steps`). These match torch.optim's formulas. */
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include <stdint.h>

#include "graph/error.h"
#include "graph/tensor.h"

typedef enum { TG_OPT_SGD, TG_OPT_ADAGRAD, TG_OPT_RMSPROP, TG_OPT_ADAM, TG_OPT_ADAMW } tg_opt_kind;
typedef enum { TG_LR_CONSTANT, TG_LR_STEP, TG_LR_COSINE } tg_lr_kind;

typedef struct tg_optim_config {
    tg_opt_kind kind;
    double lr;
    double momentum;      /* sgd */
    int nesterov;         /* sgd, needs momentum > 0 */
    double alpha;         /* rmsprop smoothing, default 0.99 */
    double beta1, beta2;  /* adam, default 0.9, 0.999 */
    double eps;           /* default 1e-8 (adagrad 1e-10) */
    double weight_decay;
    double clip_norm;     /* 0: off */
    double clip_value;    /* 0: off */
    tg_lr_kind schedule;
    int64_t warmup, step_size, steps;
    double gamma, min_lr;
} tg_optim_config;

typedef struct tg_optim {
    tg_optim_config c;
    int n;
    tg_tensor **params;   /* not owned */
    tg_tensor **s1, **s2; /* per parameter state (owned; NULL where the kind has none) */
    int64_t t;            /* updates applied so far */
} tg_optim;

/* Sets every field to its default (adam, lr 1e-3, constant schedule, no clipping). */
void tg_optim_defaults(tg_optim_config *c);
/* Names of the kinds and schedules, for configs ("sgd", "adagrad", ..., "cosine"). */
extern const char *const tg_opt_names[];
extern const char *const tg_lr_names[];

/* An optimizer over n persistent f32 or f64 parameters with gradients; allocates its
 * state (zero). TG_OK, TG_ERR_INVALID (a bad setting, named), TG_ERR_NOMEM. */
tg_status tg_optim_init(tg_optim *o, const tg_optim_config *c, tg_tensor *const *params, int n,
                        tg_error *err);
void tg_optim_free(tg_optim *o);

/* The learning rate at step s. */
double tg_optim_lr(const tg_optim_config *c, int64_t s);

/* The global gradient norm ||g|| over every parameter (before clipping). */
double tg_optim_grad_norm(const tg_optim *o);

/* Tensors above this many elements are updated (and the shards' gradients combined)
 * across threads: a parallel region costs a few µs, 16K elements of Adam about 10 (a
 * Transformer's weights are 16K to 64K). */
#define TG_OPT_PAR_MIN 16384

/* Clips, updates every parameter with lr = tg_optim_lr(step), zeroes the gradients,
 * and returns the gradient norm before clipping. */
double tg_optim_step(tg_optim *o, int64_t step);

/* The state tensors, for checkpoints: k-th of 2n slots, with a name suffix ("m", "v",
 * "momentum", "sum", "square_avg"), or NULL where the kind keeps none. */
tg_tensor *tg_optim_state(const tg_optim *o, int k, const char **suffix);

#endif
