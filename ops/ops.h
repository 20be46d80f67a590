/* ops.h: the elementary ops, as functions that compute on a tape and record a node.
 *
 * Every function takes the tape first and returns the output, a step tensor owned by
 * the tape. On bad input (mismatched shapes, wrong dtype, ids out of range) it returns
 * NULL and records an error in the tape that names the op and the shapes; once the
 * tape holds an error, every op returns NULL without a new one (see tape.h). Real-valued inputs of one op
 * must share a dtype (f32 or f64); ids and integer targets are i32.
 *
 * Broadcasting (add, sub, mul, div, masked_fill) follows NumPy: shapes are aligned on
 * the right and a dimension of 1 (or a missing one) stretches, e.g. [B,T,C] + [C]. */
#ifndef TG_OPS_H
#define TG_OPS_H

#include "graph/tape.h"

/* Every op, once: X(ENUM_SUFFIX, name). The name is the op's name in equations. */
#define TG_OP_LIST(X)                                                              \
    X(ADD, add) X(SUB, sub) X(MUL, mul) X(DIV, div)                                \
    X(NEG, neg) X(SCALE, scale) X(TANH, tanh) X(SIGMOID, sigmoid) X(RELU, relu)    \
    X(EXP, exp) X(LOG, log) X(SQRT, sqrt) X(GELU, gelu)                            \
    X(MATMUL, matmul) X(BMM, bmm)                                                  \
    TG_OP_LIST_A(X) TG_OP_LIST_B(X)

#define TG_OP_LIST_A(X)                                                            \
    X(SOFTMAX, softmax) X(LOG_SOFTMAX, log_softmax) X(SUM, sum) X(MEAN, mean)      \
    X(RESHAPE, reshape) X(PERMUTE, permute) X(SLICE, slice) X(CONCAT, concat)

#define TG_OP_LIST_B(X)                                                            \
    X(EMBEDDING, embedding) X(ONE_HOT, one_hot) X(MASKED_FILL, masked_fill)        \
    X(LAYERNORM, layernorm) X(CROSS_ENTROPY, cross_entropy) X(MSE, mse)            \
    X(DROPOUT, dropout) X(FUSED, fused) X(ATTENTION, attention)

typedef enum tg_op_id {
#define TG_X(U, l) TG_OP_##U,
    TG_OP_LIST(TG_X)
#undef TG_X
    TG_OP_COUNT
} tg_op_id;

#define TG_AXIS_ALL (-100) /* sum/mean over every element */

/* Runs op `op` on n_in inputs with attributes `a` (NULL: all zero) and records it. The
 * typed functions below are thin wrappers over this; the equation language calls it. */
tg_tensor *tg_op_apply(tg_tape *t, tg_op_id op, int n_in, tg_tensor *const *in,
                       const tg_attrs *a);
/* The op's name ("matmul"), and the op id for a name (-1 if none). */
const char *tg_op_name(tg_op_id op);
int tg_op_find(const char *name);

/* --- elementwise, with broadcasting --- */
tg_tensor *tg_add(tg_tape *t, tg_tensor *a, tg_tensor *b); /* a + b */
tg_tensor *tg_sub(tg_tape *t, tg_tensor *a, tg_tensor *b); /* a - b */
tg_tensor *tg_mul(tg_tape *t, tg_tensor *a, tg_tensor *b); /* a * b */
tg_tensor *tg_div(tg_tape *t, tg_tensor *a, tg_tensor *b); /* a / b */

/* --- elementwise, one input --- */
tg_tensor *tg_neg(tg_tape *t, tg_tensor *x);           /* -x */
tg_tensor *tg_scale(tg_tape *t, tg_tensor *x, double s); /* s * x */
tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x);
tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x);       /* 1 / (1 + exp(-x)) */
tg_tensor *tg_relu(tg_tape *t, tg_tensor *x);          /* max(x, 0); gradient 0 at 0 */
tg_tensor *tg_exp(tg_tape *t, tg_tensor *x);
tg_tensor *tg_log(tg_tape *t, tg_tensor *x);           /* natural log, x > 0 */
tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x);          /* x >= 0 */
tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x);          /* x * Phi(x), the exact (erf) form */

/* --- products --- */
/* op(a) @ op(b), op = transpose when ta/tb is 1. b is 2-D; a is 2-D, or [..., K]
 * with ta = 0, its leading dimensions folded into rows ([B,T,C] @ [C,D] -> [B,T,D]). */
tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b, int ta, int tb);
/* Batched: a [L..., M, K], b [L..., K, N] with equal leading dims (L... may be 1 or 2
 * dims, e.g. attention's [B,NH]); ta/tb transpose the last two dims. */
tg_tensor *tg_bmm(tg_tape *t, tg_tensor *a, tg_tensor *b, int ta, int tb);
/* nn.Linear: x [..., K] @ w^T (w [N,K]) + b [N] (b may be NULL), one node. (The matmul
 * op's attributes also carry a factor alpha; see ops/matmul.c.) */
tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b);

/* --- a chain of elementwise ops in one pass (ops/fused.h; built by models/program.c) --- */
struct tg_fused_code;
tg_tensor *tg_fused(tg_tape *t, const struct tg_fused_code *code, int n_in, tg_tensor *const *in);
/* -1 if the n inputs fit one fused op of program code (NULL: no column blocks): each
 * the largest one's shape, a row of its last dim, or a scalar, or a column block that
 * has the largest one's shape; else the index of the first that does not. */
int tg_fused_fits(const struct tg_fused_code *code, tg_tensor *const *x, int n);

/* --- attention --- */
/* Multi-head scaled dot-product attention, one node: q [B,T,C], k and v [B,S,C], heads
 * dividing C; y [B,T,C] = the heads (column blocks of width d = C / heads) of
 * softmax(scale q_h k_h^T, with -1e9 where mask != 0 or, if causal, where s > t) v_h,
 * concatenated. mask (NULL: none) broadcasts to [B,heads,T,S] and gets no gradient;
 * scale 0 means 1 / sqrt(d). The same values as the long-hand products, masked_fill and
 * softmax, without their copies; saves only the [B,heads,T,S] probabilities. */
tg_tensor *tg_attention(tg_tape *t, tg_tensor *q, tg_tensor *k, tg_tensor *v, tg_tensor *mask,
                        int heads, int causal, double scale);

/* --- last-axis normalisers; stable for inputs of 1e4 --- */
tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x);
tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x);

/* --- reductions: axis in [-ndim, ndim) removes that axis; TG_AXIS_ALL -> a scalar --- */
tg_tensor *tg_sum(tg_tape *t, tg_tensor *x, int axis);
tg_tensor *tg_mean(tg_tape *t, tg_tensor *x, int axis);

/* --- shape --- */
/* Same elements, new shape; one dim may be -1 (inferred). Shares x's data. */
tg_tensor *tg_reshape(tg_tape *t, tg_tensor *x, int ndim, const int *shape);
/* out.shape[i] = x.shape[perm[i]]. */
tg_tensor *tg_permute(tg_tape *t, tg_tensor *x, const int *perm);
/* Swaps two axes (a permute). */
tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x, int axis0, int axis1);
/* x[..., start:start+len, ...] along `axis`. When the slice is one contiguous run of x
 * (rows of a matrix, a leading-axis range), it shares x's data, like reshape: x must
 * not be changed or freed until the step is done. */
tg_tensor *tg_slice(tg_tape *t, tg_tensor *x, int axis, int start, int len);
/* Splits x into n equal parts along axis (n slices): writes n outputs to out. Returns
 * the tape's status. */
tg_status tg_split(tg_tape *t, tg_tensor *x, int axis, int n, tg_tensor **out);
/* Joins n tensors along axis; other dims must agree. */
tg_tensor *tg_concat(tg_tape *t, int n, tg_tensor *const *xs, int axis);

/* --- lookups and masks --- */
/* ids i32 [...] (ids in [0,V)), table [V,C] -> [..., C]. Backward scatter-adds. */
tg_tensor *tg_embedding(tg_tape *t, tg_tensor *ids, tg_tensor *table);
/* ids i32 [...] -> [..., V] of the tape's dtype; no gradient. */
tg_tensor *tg_one_hot(tg_tape *t, tg_tensor *ids, int V);
/* x where mask == 0, `value` where mask != 0; mask broadcasts to x's shape and gets no
 * gradient (causal attention: value = -inf or -1e9). */
tg_tensor *tg_masked_fill(tg_tape *t, tg_tensor *x, tg_tensor *mask, double value);

/* --- fused layers and losses --- */
/* x [..., C], gamma [C], beta [C]: (x - mean) * rstd * gamma + beta over the last axis,
 * rstd = 1/sqrt(var + eps), var biased. Saves mean and rstd for backward. */
tg_tensor *tg_layernorm(tg_tape *t, tg_tensor *x, tg_tensor *gamma, tg_tensor *beta,
                        double eps);
/* logits [..., V], targets i32 [...], weights [...] or NULL: scalar
 * sum_i w_i * -log softmax(logits_i)[target_i] / sum_i w_i (w = 1 without weights;
 * 0 when every weight is 0). Targets where w_i = 0 are not read (padding). */
tg_tensor *tg_cross_entropy(tg_tape *t, tg_tensor *logits, tg_tensor *targets,
                            tg_tensor *weights);
/* mean((pred - target)^2) over all elements; same shapes. */
tg_tensor *tg_mse(tg_tape *t, tg_tensor *pred, tg_tensor *target);
/* Inverted dropout: zero with probability p, scale the rest by 1/(1-p). The mask is a
 * pure function of (seed, element index), so a step can be replayed exactly. */
tg_tensor *tg_dropout(tg_tape *t, tg_tensor *x, double p, uint64_t seed);

/* --- threads --- */
/* Called inside a parallel region (a trainer's shard on its thread), large kernels
 * split their work into OpenMP tasks over fixed blocks that an idle thread of the team
 * can take (ops/op.h, TG_TASKED); results do not depend on which thread runs a block.
 * The tasks run since the process started (*all), and those of them that a thread
 * other than their maker ran (*taken): a measure of how much the threads helped each
 * other. For train --profile and tests. */
void tg_task_counts(int64_t *all, int64_t *taken);

#endif
