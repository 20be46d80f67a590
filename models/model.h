/* model.h: a model config: an input (token ids through an embedding, one-hot, or dense
 * vectors; optional positions), a stack of cells and blocks from YAML files, a linear
 * head and a loss (cross-entropy, mean squared error, or half the sum of squared errors
 * as in the course notes, on every step or the last). model.init may give parameters'
 * initial values: {layers.0.W_hh: [[0.6, -0.2], [0.1, 0.5]]}.
 *
 * Unrolling: a cell runs once per time step on the tape, its parameters shared by all
 * steps, so backward through the unrolled tape is BPTT. The state carried in from the
 * previous batch has no gradient (truncated BPTT); with a window k the state is also
 * detached every k steps. Padded positions (mask 0) change neither the loss nor the
 * state. Dimension letters: B batch, T time steps, C width, V vocabulary / outputs. */
#ifndef TG_MODEL_H
#define TG_MODEL_H

#include "models/cell.h"

#define TG_MODEL_MAX_LAYERS 16
#define TG_MODEL_MAX_PARAMS 256

typedef enum { TG_IN_EMBEDDING, TG_IN_ONE_HOT, TG_IN_DENSE } tg_input_kind;
typedef enum { TG_POS_NONE, TG_POS_LEARNED, TG_POS_SINUSOIDAL } tg_pos_kind;
typedef enum { TG_LOSS_CROSS_ENTROPY, TG_LOSS_MSE, TG_LOSS_HALF_SSE } tg_loss_kind;

typedef struct tg_model_param {
    char name[96];     /* path in the model: "embedding.weight", "layers.0.weight_ih" */
    tg_tensor *t;      /* owned by the model or one of its cells */
} tg_model_param;

typedef struct tg_model {
    tg_cfg cfg;                 /* the model config (owned) */
    tg_dtype dtype;
    tg_input_kind input;
    int vocab;                  /* embedding / one_hot: symbols */
    int in_dim;                 /* width of the input to layer 0 */
    tg_pos_kind pos;
    int max_len;                /* learned positions: longest sequence */
    tg_tensor *embedding;       /* [vocab, in_dim] or NULL */
    tg_tensor *positions;       /* [max_len, in_dim] or NULL */
    int n_layers;
    tg_cell layers[TG_MODEL_MAX_LAYERS];
    int width;                  /* the last layer's output width */
    int out;                    /* head outputs */
    tg_tensor *head_w, *head_b; /* [out, width], [out] (PyTorch's nn.Linear layout); b NULL
                                   with head.bias: false */
    int head_bias;
    tg_loss_kind loss;
    int loss_last;              /* 1: only each sequence's last step counts */
    int n_params;
    tg_model_param params[TG_MODEL_MAX_PARAMS];
    int n_state;                /* states over all cell layers (for carrying) */
    int n_warnings;
    char warnings[8][320];
    tg_tensor *slots[1024];     /* scratch for running cells */
    int no_fuse;                /* 1: no fused ops (to name the op behind a NaN) */
} tg_model;

/* One batch. Sequences are rows of T steps; arrays are row-major. */
typedef struct tg_batch {
    int B, T;
    const int32_t *tokens;   /* [B,T] ids (embedding, one_hot inputs) */
    const double *x;         /* [B,T,in_dim] dense inputs */
    const int32_t *targets;  /* [B,T] class ids (cross_entropy) */
    const double *y;         /* mse targets: [B,T,out] (every step) or [B,out] (last) */
    const double *mask;      /* [B,T]: 1 real step, 0 padding; NULL: all real */
} tg_batch;

typedef struct tg_model_run {
    int bptt;                /* detach the state every bptt steps; 0: never inside a batch */
    tg_tensor **carry_in;    /* n_state tensors [B,size] (no gradient), or NULL: zeros */
    tg_tensor **carry_out;   /* n_state: receives the final states (step tensors), or NULL */
    int training;            /* dropout on */
    uint64_t seed;           /* dropout */
    tg_tensor **logits_out;  /* receives the head's output [B,T,out], or NULL */
} tg_model_run;

/* Loads a model config in `dtype`, with parameters initialised from `seed`. Cell names
 * resolve to cells/NAME.yaml (blocks/NAME.yaml) next to the config, then in the
 * project's configs/; a name with '/' or ending in .yaml is a path relative to the
 * config. `overrides` ("key.path=value", n of them) are applied before reading (the
 * --set of the tools). TG_OK, or err with file:line:col. Free with tg_model_free. */
tg_status tg_model_load(tg_model *m, const char *path, const char *const *overrides, int n,
                        tg_dtype dtype, uint64_t seed, tg_error *err);
void tg_model_free(tg_model *m);

/* The head's output for batch b, [B,T,out] (no targets needed), or NULL with err. */
tg_tensor *tg_model_logits(tg_model *m, tg_tape *t, const tg_batch *b, const tg_model_run *run,
                           tg_error *err);
/* Builds the loss of batch b on the tape (a scalar), or NULL with err. */
tg_tensor *tg_model_loss(tg_model *m, tg_tape *t, const tg_batch *b, const tg_model_run *run,
                         tg_error *err);

/* What the loss of batch b is normalised by (the sum of its weights: real positions, or
 * sequences for a loss on the last step), so that losses and gradients of parts of a
 * batch combine into the whole's as sum_k W_k L_k / sum_k W_k; -1 for half_sse, a sum
 * (parts add). */
double tg_model_loss_weight(const tg_model *m, const tg_batch *b);

/* Sizes of the carried states, in order (layer by layer, state by state). */
int tg_model_state_size(const tg_model *m, int k);

#endif
