/* init.h: parameter initialisers, named in YAML as `init: uniform(0.1)`:
 *   zeros | ones | constant(v) | uniform(a) (U[-a,a]) | normal(std) |
 *   xavier[(gain)] = glorot[(gain)] (U[-g*sqrt(6/(fan_in+fan_out)), ...]) |
 *   orthogonal[(gain)] | identity[(scale)] (scale * I; rectangular: ones on the diagonal)
 * For a 2-D shape [r, c], fan_out = r and fan_in = c (PyTorch's [out, in] layout); a
 * 1-D shape [n] has fan_in = fan_out = n. */
#ifndef TG_INIT_H
#define TG_INIT_H

#include "graph/rng.h"
#include "graph/tensor.h"

typedef enum tg_init_kind {
    TG_INIT_ZEROS, TG_INIT_ONES, TG_INIT_CONSTANT, TG_INIT_UNIFORM, TG_INIT_NORMAL,
    TG_INIT_XAVIER, TG_INIT_ORTHOGONAL, TG_INIT_IDENTITY, TG_INIT_COUNT
} tg_init_kind;

/* The name of each kind ("zeros", ...) and the number of arguments it takes [min,max]. */
const char *tg_init_name(tg_init_kind k);
int tg_init_find(const char *name, int *min_args, int *max_args); /* -1 if unknown */

/* Fills t (f32 or f64) by kind with argument arg (ignored where none) from rng.
 * Returns 0, or -1 with msg (e.g. identity of a 3-D tensor) when the kind does not fit
 * the shape. */
int tg_init_fill(tg_tensor *t, tg_init_kind k, double arg, int has_arg, tg_rng *rng,
                 char *msg, int msg_len);

#endif
