/* gradcheck.h: the numerical gradient checker. It compares the gradients the tape
 * computes with central differences, (L(x+h) - L(x-h)) / 2h, in float64, for chosen
 * tensors of a loss closure. Used by the tests, the gradcheck tool and by users who
 * write their own cells. An element passes when
 *     |analytic - numeric| <= atol + rtol * |numeric|      (PyTorch's gradcheck rule). */
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include <stdint.h>

#include "graph/tape.h"

/* Builds the scalar loss on `tape` from the checked tensors (and whatever else ctx
 * holds) and returns it; on error returns NULL with the error recorded in the tape. It
 * is called many times and must compute the same function each time. */
typedef tg_tensor *(*tg_loss_fn)(tg_tape *tape, void *ctx);

typedef struct tg_gradcheck_opts {
    double eps;        /* finite-difference step, default 1e-6 */
    double atol, rtol; /* default 1e-5 and 1e-3 */
    int64_t max_elems; /* elements checked per tensor (spread over it); 0 = all */
    uint64_t seed;     /* picks the sampled elements */
} tg_gradcheck_opts;

typedef struct tg_gradcheck_result {
    int64_t checked;   /* elements compared */
    int64_t failed;    /* elements outside the tolerance */
    int64_t worst;     /* flat index of the element nearest to failing (or most failed) */
    double analytic;   /* at `worst`: the tape's gradient */
    double numeric;    /* at `worst`: the central difference */
    double abs_err;    /* at `worst`: |analytic - numeric| */
    double rel_err;    /* at `worst`: abs_err / max(|numeric|, 1e-12) */
    int pass;          /* failed == 0 */
} tg_gradcheck_result;

/* The defaults above. */
void tg_gradcheck_defaults(tg_gradcheck_opts *o);

/* Checks d loss / d params[k] for k < n, writing one result per tensor into res[k].
 * `tape` must be TG_F64 and every params[k] a persistent f64 tensor with a gradient
 * buffer (tg_tensor_new with requires_grad); the tape is reset before each evaluation,
 * and params are restored exactly. On return params[k]->grad holds the tape's
 * gradient. Returns TG_OK when the check ran (pass or fail is in res), or the error
 * that stopped it, with details in err. */
tg_status tg_gradcheck(tg_tape *tape, tg_loss_fn fn, void *ctx, tg_tensor *const *params, int n,
                       const tg_gradcheck_opts *o, tg_gradcheck_result *res, tg_error *err);

#endif
