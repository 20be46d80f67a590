/* tensor.h: the one tensor struct of tapegrad: dense, row-major, up to 4 dimensions.
 * A tensor is either persistent (parameters, their gradients and optimizer state:
 * created with tg_tensor_new, freed with tg_tensor_free, living as long as the model)
 * or a step tensor (activations and their gradients: created by ops from a tape's
 * arena, released all at once by tg_tape_reset; never freed one by one). */
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "graph/error.h"

#define TG_MAX_DIMS 4

typedef enum tg_dtype {
    TG_F32 = 0, /* training */
    TG_F64 = 1, /* the gradient checker: the same kernels compiled for double */
    TG_I32 = 2, /* token ids and integer targets; never differentiable */
    TG_DTYPE_COUNT
} tg_dtype;

typedef struct tg_tensor {
    void *data;         /* numel elements of dtype, row-major */
    void *grad;         /* same size and dtype as data, or NULL while no gradient */
    int64_t numel;      /* product of shape[0..ndim) (1 for ndim 0, a scalar) */
    int ndim;           /* 0..TG_MAX_DIMS */
    int shape[TG_MAX_DIMS];
    uint8_t dtype;      /* tg_dtype */
    uint8_t requires_grad; /* 1: backward accumulates into grad */
    uint8_t owned;      /* 1: data and grad were malloc'ed by tg_tensor_new */
    const char *name;   /* optional, for messages and reports; not owned */
} tg_tensor;

/* Size in bytes of one element of `dtype`. */
size_t tg_dtype_size(tg_dtype dtype);
const char *tg_dtype_name(tg_dtype dtype);

/* Allocates a persistent, zero-filled tensor of the given shape (ndim <= 4, every
 * dimension >= 1). With requires_grad, a zero-filled gradient buffer is allocated too.
 * Returns NULL and fills err on a bad shape or out of memory. The caller owns the
 * result and frees it with tg_tensor_free. */
tg_tensor *tg_tensor_new(tg_dtype dtype, int ndim, const int *shape, int requires_grad,
                         tg_error *err);
/* Frees a tensor from tg_tensor_new (NULL is allowed). */
void tg_tensor_free(tg_tensor *t);

/* Sets every gradient element to zero (no-op without a gradient). */
void tg_tensor_zero_grad(tg_tensor *t);

/* Element i of data (or of grad) as a double, whatever the dtype. */
double tg_tensor_get(const tg_tensor *t, int64_t i);
double tg_tensor_grad_get(const tg_tensor *t, int64_t i);
/* Sets element i of data from a double (rounded to the dtype). */
void tg_tensor_set(tg_tensor *t, int64_t i, double v);
/* Copies n doubles into data (converting), n must equal numel. */
void tg_tensor_fill_from(tg_tensor *t, const double *v);

/* Writes "[32,256]" into buf of size n; returns buf. */
char *tg_shape_str(const tg_tensor *t, char *buf, int n);
/* Product of dims; returns -1 if any dim < 1 or the product overflows 2^40. */
int64_t tg_shape_numel(int ndim, const int *shape);
/* 1 when both tensors have the same ndim and dims. */
int tg_shape_equal(const tg_tensor *a, const tg_tensor *b);

#endif
