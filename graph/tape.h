/* tape.h: the tape records every op as it runs; backward walks it in reverse.
 *
 * Worked example: y = tanh(x @ W + b), loss = mean(y), gradients into W and b.
 *
 *     tg_error err = {0};
 *     tg_tape *tape = tg_tape_new(TG_F32, &err);               // step memory lives here
 *     tg_tensor *W = tg_tensor_new(TG_F32, 2, (int[]){3, 2}, 1, &err);  // parameters:
 *     tg_tensor *b = tg_tensor_new(TG_F32, 1, (int[]){2}, 1, &err);     // yours to free
 *     for (int step = 0; step < 100; step++) {
 *         tg_tensor *x = tg_tape_tensor(tape, TG_F32, 2, (int[]){4, 3}); // a step tensor
 *         ... fill x->data ...
 *         tg_tensor *y = tg_tanh(tape, tg_add(tape, tg_matmul(tape, x, W, 0, 0), b));
 *         tg_tensor *loss = tg_mean(tape, y, TG_AXIS_ALL);
 *         if (tg_tape_backward(tape, loss) != TG_OK)            // W->grad, b->grad += dloss
 *             return report(tg_tape_error(tape));               // "matmul: [4,3] @ ..."
 *         ... optimizer step on W, b; tg_tensor_zero_grad(W), (b) ...
 *         tg_tape_reset(tape);                                   // frees x, y, loss, nodes
 *     }
 *     tg_tape_free(tape); tg_tensor_free(W); tg_tensor_free(b);
 *
 * Errors: an op given bad input returns NULL and records the error in the tape (first
 * error wins). Once the tape holds an error every op returns NULL without a new one,
 * so a whole expression can be written and checked once, through tg_tape_status (a
 * NULL input on a tape without an error is itself an error: "tanh: input 1 is NULL").
 *
 * Gradients always accumulate (+=): a tensor used by many ops (a weight shared by
 * every time step) receives every contribution. Step tensors get their gradient
 * buffers from the arena during backward, zero-filled on first use. Backward is a loop
 * over the recorded nodes, newest first (recording order is a topological order), so
 * its depth is not limited by the C stack. */
#ifndef TG_TAPE_H
#define TG_TAPE_H

#include <stdint.h>

#include "graph/arena.h"
#include "graph/error.h"
#include "graph/tensor.h"

#define TG_MAX_INLINE_IN 3

/* Op attributes: the meaning of each field is set by the op (ops/ops.h). */
typedef struct tg_attrs {
    int i[8];
    double f;
    uint64_t seed;
    const void *ptr; /* an op's program (fused) or a matmul's transposed b (ops/matmul.c),
                        which must outlive the tape's nodes */
} tg_attrs;

typedef struct tg_node tg_node;
typedef void (*tg_kernel_fn)(tg_node *n);

/* A weight's deferred gradient (tg_tape.defer_wgrad): the small products x_t @ w of a
 * recurrence (one per time step, M = batch rows) add G_t^T x_t (or x_t^T G_t) into
 * w's gradient at every step, a read and a write of all of w's gradient per step that
 * pushes w out of cache. Deferred, each step's backward copies its rows of G and x
 * into two stacked buffers, and one product of K = all the rows adds them at the end
 * of backward (`finish`, set by the op). */
typedef struct tg_wgrad {
    struct tg_wgrad *next;
    tg_tensor *w;            /* the weight (a persistent tensor with a gradient) */
    int tb;                  /* 1: products x @ w^T, dw [N,K] += G^T X; 0: dw [K,N] += X^T G */
    int64_t rows, n, k;      /* rows of all the products; G's columns N, x's columns K */
    void *G, *X;             /* [rows, n], [rows, k] (tape arena, allocated by backward) */
    void (*finish)(struct tg_wgrad *wg);
} tg_wgrad;

struct tg_node {
    tg_node *prev;        /* the node recorded before this one */
    tg_tensor *out;
    tg_tensor **in;       /* n_in inputs; points at in_inline unless n_in > 3 */
    void *saved;          /* op-specific state kept for backward (arena), or NULL */
    tg_kernel_fn backward;
    const char *label;    /* what the model was evaluating (an equation), or NULL */
    tg_attrs a;
    uint16_t op;          /* tg_op_id */
    uint16_t n_in;
    /* Bit i of `assigns` (set by the op): backward can write input i's gradient outright
     * instead of adding to it. Bit i of `fresh` (set by tg_tape_backward just before
     * calling backward): input i's gradient buffer was just allocated and not zeroed,
     * so backward must write every element of it (=, not +=). Saves a zeroing pass and
     * a read per gradient. */
    uint64_t assigns, fresh;
    /* pass = i + 1 (set by the op): input i's gradient has the output's shape and the
     * kernel can compute it in the output gradient's buffer, each element after it has
     * read that element of g (an elementwise op, a layer norm row), or it is g itself (a
     * reshape; a product's residual). With recycle_grads, when that input has no
     * gradient buffer yet and is no other input of the node, backward hands it the
     * output's buffer and sets its fresh bit: the kernel writes it outright, in place,
     * or, seeing dx == g, skips it. No new buffer, no copy. */
    uint8_t pass;
    tg_wgrad *wg;         /* a deferred weight gradient whose rows [wg_row, wg_row + wg_m)
                             this node's backward fills, or NULL */
    int64_t wg_row, wg_m;
    tg_tensor *in_inline[TG_MAX_INLINE_IN];
};

typedef struct tg_tape {
    tg_arena arena;
    tg_node *last;     /* newest recorded node, NULL on an empty tape */
    int64_t n_nodes;   /* nodes recorded since the last reset */
    tg_dtype dtype;    /* the real type of this tape's step tensors (TG_F32 or TG_F64) */
    int no_grad;       /* > 0: ops run but record nothing */
    int shape_only;    /* > 0: ops check shapes and make outputs without data (data NULL),
                          compute and record nothing: load-time shape inference */
    const char *label; /* copied into each recorded node */
    tg_error err;
    int recycle_grads; /* 1: backward reuses a gradient buffer once its node is done (see
                          tg_tape_backward); off by default */
    int64_t n_handed;  /* gradient buffers the last backward handed on (tg_node.pass) */
    int poison_fresh;  /* tests: fill the gradient buffers that backward kernels are to
                          write outright (TG_FRESH) with NaN, so that one left unwritten shows */
    int defer_wgrad;   /* 1: small products by a weight defer its gradient (tg_wgrad); the
                          trainer sets it */
    tg_wgrad *wgrads;  /* this step's deferred weight gradients (arena) */
    size_t free_bytes[64]; /* recycled gradient buffers, one LIFO list per size */
    void *free_head[64];
    struct tg_profile *profile; /* non-NULL: each kernel's time is added to it (the
                                   caller's, zeroed by it); off by default */
} tg_tape;

/* Seconds spent in the kernels of each op (indexed by tg_op_id), forward and backward,
 * and the calls; slot TG_PROFILE_WGRAD: the deferred weight-gradient products that
 * backward runs at its end. Summed over every step the tape runs while set. */
#define TG_PROFILE_SLOTS 64
#define TG_PROFILE_WGRAD (TG_PROFILE_SLOTS - 1)
typedef struct tg_profile {
    double fwd_s[TG_PROFILE_SLOTS], bwd_s[TG_PROFILE_SLOTS];
    int64_t fwd_n[TG_PROFILE_SLOTS], bwd_n[TG_PROFILE_SLOTS];
} tg_profile;

/* A new, empty tape whose real-valued step tensors have `dtype` (TG_F32 to train,
 * TG_F64 to check gradients). NULL and err filled on failure. Free with tg_tape_free. */
tg_tape *tg_tape_new(tg_dtype dtype, tg_error *err);
void tg_tape_free(tg_tape *t);

/* Ends a step: forgets every node and releases every step tensor at once (pointers to
 * them become invalid), and clears the tape's error. Persistent tensors are untouched. */
void tg_tape_reset(tg_tape *t);

/* The tape's first error since the last reset (TG_OK if none), and its details. */
tg_status tg_tape_status(const tg_tape *t);
const tg_error *tg_tape_error(const tg_tape *t);

/* No-grad mode (nestable): between begin and end ops compute but record nothing, and
 * their outputs need no gradient. For evaluation and sampling. */
void tg_tape_no_grad_begin(tg_tape *t);
void tg_tape_no_grad_end(tg_tape *t);

/* Shape-only mode (nestable): step tensors and op outputs get shapes but no data, ops
 * run their shape rules only. Used to check a model's equations before allocating. */
void tg_tape_shape_only_begin(tg_tape *t);
void tg_tape_shape_only_end(tg_tape *t);

/* Sets the label stored in nodes recorded from now on (e.g. the equation being
 * evaluated, for error reports); the string must outlive the tape's nodes. */
void tg_tape_set_label(tg_tape *t, const char *label);

/* A step tensor from the arena, contents uninitialised (tg_tape_zeros: zero-filled).
 * It needs no gradient. NULL (and the tape's error) on a bad shape or no memory. */
tg_tensor *tg_tape_tensor(tg_tape *t, tg_dtype dtype, int ndim, const int *shape);
tg_tensor *tg_tape_zeros(tg_tape *t, tg_dtype dtype, int ndim, const int *shape);
/* A step tensor of the tape's dtype filled from doubles (numel values). */
tg_tensor *tg_tape_from(tg_tape *t, int ndim, const int *shape, const double *values);
/* A scalar constant (ndim 0) of the tape's dtype. */
tg_tensor *tg_tape_scalar(tg_tape *t, double v);

/* Stop-gradient: a step tensor sharing x's data that needs no gradient, so backward
 * stops there (truncated BPTT detaches the carried state). */
tg_tensor *tg_tape_detach(tg_tape *t, tg_tensor *x);

/* Accumulates d(loss)/d(x) into the grad of every tensor that needs a gradient and that
 * the scalar `loss` (numel 1) depends on. Call once per recorded graph: a second call
 * adds the gradients again. Returns the tape's status.
 * With t->recycle_grads set (the trainer sets it), the gradient of a node's output is
 * dead once that node's backward has run (every consumer is newer, so already done):
 * its buffer is handed to the next input gradient of the same size, and the output's
 * grad pointer is set to NULL. Peak memory then holds the live gradients only, not
 * every step tensor's; but only leaves (parameters, and step tensors no op made) keep
 * their gradients, and tg_tape_first_nonfinite_grad sees nothing. */
tg_status tg_tape_backward(tg_tape *t, tg_tensor *loss);

/* Where a NaN or Inf first appeared, for the training loop's numerical-failure report:
 * the first recorded node, in recording order, whose output holds a non-finite value
 * (forward), or, in backward order, the first node whose backward wrote a non-finite
 * value into an input's gradient while its own output gradient was finite. NULL if
 * none. The node's op and label (the equation) name the culprit. */
const tg_node *tg_tape_first_nonfinite(const tg_tape *t);
const tg_node *tg_tape_first_nonfinite_grad(const tg_tape *t);

/* Internal to ops: arena memory for the current step, NULL (and TG_ERR_NOMEM in the
 * tape) when exhausted. */
void *tg_tape_alloc(tg_tape *t, size_t bytes);

#endif
