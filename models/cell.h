/* cell.h: a recurrent cell or a sequence block defined in YAML by its hyper-parameters,
 * inputs, state, parameters and equations (docs/cells.md), instantiated with concrete
 * hyper-parameters: the parameters are allocated and initialised, the equations
 * compiled, and every shape checked before any training computation.
 *
 * A cell runs once per time step on x [B, input] and its state [B, size]; a block runs
 * once on the whole sequence x [B, T, input] and has no state. Both see the numbers B
 * (batch) and T (sequence length); a block also sees causal_mask [T,T] (1 above the
 * diagonal) and pad_mask [B,1,1,T] (1 at padded key positions). */
#ifndef TG_CELL_H
#define TG_CELL_H

#include "graph/tape.h"
#include "models/config.h"
#include "models/program.h"

#define TG_CELL_MAX 32 /* hyper-parameters, inputs, states or parameters per cell */

typedef struct tg_cell_param {
    char name[TG_NAME_MAX];
    tg_tensor *t;      /* persistent, with a gradient buffer (owned by the cell); NULL
                          between tg_cell_prepare and tg_cell_alloc */
    int sym;           /* its symbol in the program */
    int ndim, shape[TG_MAX_DIMS]; /* from the file, known before allocation */
    int init, has_arg; /* its initializer (tg_init_kind) and argument */
    double arg;
    const tg_cfg_node *node; /* its entry under 'params:', for messages */
} tg_cell_param;

typedef struct tg_cell {
    int is_block;
    char name[TG_NAME_MAX];     /* "lstm" */
    tg_cfg cfg;                  /* the cell file, kept for positions in run-time errors */
    const tg_cfg_node *eq_node;  /* its equations */
    tg_program prog;
    int n_hyper;
    char hyper_name[TG_CELL_MAX][TG_NAME_MAX];
    double hyper[TG_CELL_MAX];
    char input_name[TG_NAME_MAX];
    int input_size;
    int n_state;
    char state_name[TG_CELL_MAX][TG_NAME_MAX];
    int state_size[TG_CELL_MAX];
    int n_params;
    tg_cell_param params[TG_CELL_MAX];
    char output_name[TG_NAME_MAX];
    int output_size;             /* found by shape inference */
    int n_warnings;
    char warnings[4][320];       /* "file:L:C: warning: parameter 'V' is never used" */
} tg_cell;

/* Hyper-parameter values given by the model (overrides of the file's defaults). */
typedef struct tg_hyper_set {
    int n;
    const char *name[TG_CELL_MAX];
    double value[TG_CELL_MAX];
    const tg_cfg *cfg;               /* where each override was written, for messages */
    const tg_cfg_node *node[TG_CELL_MAX];
} tg_hyper_set;

/* Loads the cell or block file `path`, applies `hyper` (NULL: none; an unknown name is
 * an error at the override), compiles it, checks shapes with batch 2 and T = 3, and
 * allocates its parameters in `dtype`, initialised from `seed`. Returns TG_OK, or an
 * error with file:line:col in err (TG_ERR_IO, TG_ERR_CONFIG). Free with tg_cell_free. */
tg_status tg_cell_load(tg_cell *c, const char *path, const tg_hyper_set *hyper, tg_dtype dtype,
                       uint64_t seed, tg_error *err);
void tg_cell_free(tg_cell *c);

/* tg_cell_load in two steps, so that a model checks the sizes of all its layers before
 * it allocates any parameter: tg_cell_prepare loads, compiles and checks the shapes,
 * leaving every params[i].t NULL (the shapes are in params[i].ndim and .shape);
 * tg_cell_alloc allocates and initialises them (TG_OK, TG_ERR_NOMEM, or TG_ERR_CONFIG
 * for an initializer that does not fit its shape). tg_cell_free frees a cell at either
 * stage. Unlike tg_cell_load, these two do not check the memory limit. */
tg_status tg_cell_prepare(tg_cell *c, const char *path, const tg_hyper_set *hyper, tg_error *err);
tg_status tg_cell_alloc(tg_cell *c, tg_dtype dtype, uint64_t seed, tg_error *err);

/* ---- the memory limit ----
 * A model (or a cell loaded alone) is refused, before any parameter is allocated, when
 * its parameters need more than tg_memory_limit() bytes counting TG_MEMORY_COPIES copies
 * of each: the values, their gradients, and an optimizer's state (Adam's two moments).
 * The default limit is the environment variable TG_MEMORY_LIMIT (bytes, or a number
 * with a suffix K, M, G or T, powers of 1024) when set, else half the physical memory;
 * tg_set_memory_limit(n) sets it for the process (0: back to the default). */
#define TG_MEMORY_COPIES 4
void tg_set_memory_limit(uint64_t bytes);
uint64_t tg_memory_limit(void);
/* "1.5 GiB", "512 MiB", "100 bytes" into buf; returns buf. */
const char *tg_bytes_str(double bytes, char *buf, int n);

/* Runs the equations once. slots: c->prog.n_slots entries, filled by this function from
 * x, state (n_state tensors, the previous values; may be NULL for zeros) and the
 * parameters; returns the output, and writes the next state into state_out (for a
 * cell). B and T set the dims (T = 1 for a cell step). The masks are for blocks (NULL:
 * none). NULL and err (file:line:col of the failing equation) on error. */
tg_tensor *tg_cell_run(tg_cell *c, tg_tape *tape, tg_tensor **slots, tg_tensor *x,
                       tg_tensor *const *state, tg_tensor **state_out, int B, int T,
                       tg_tensor *causal_mask, tg_tensor *pad_mask, tg_error *err);

/* A block's causal mask [T,T] of the tape's dtype: 1 above the diagonal (position t
 * may not attend to later ones), 0 elsewhere. A step tensor; NULL on tape error. */
tg_tensor *tg_causal_mask(tg_tape *t, int T);

/* Translates a program error to file:line:col inside the equations. */
tg_status tg_cell_error(const tg_cell *c, const tg_prog_error *pe, tg_error *err);

#endif
