/* program.h: equations compiled into a flat list of op calls over numbered slots, the
 * one place where a cell's or block's math is turned into tape ops. Nothing here knows
 * any particular cell: names are declared by the caller as inputs, states, parameters
 * and numeric constants (hyper-parameters), plus the run-time dimensions B and T.
 *
 * Semantics: equations run in order. An input, parameter or state name on the right
 * means its current value; for a state that is the previous step's value until the
 * equation that assigns it, and the new value after it (so an LSTM's h can use the new
 * c). Each name is assigned at most once; every state must be assigned. Numbers and
 * hyper-parameters fold into the ops ("0.5 * x" is one scale op). Functions:
 *   tanh sigmoid relu exp log sqrt gelu neg softmax log_softmax     f(x)
 *   add sub mul div mse (a, b)     matmul bmm (a, b)     scale(x, s)
 *   sum(x[, axis]) mean(x[, axis])  reshape(x, d...)  permute(x, p...)
 *   transpose(x, a0, a1)  slice(x, axis, start, len)  split(x, n[, axis]) (n names)
 *   concat(x1, ..., xn, axis)  layernorm(x, gamma, beta[, eps])  masked_fill(x, m, v)
 *   dropout(x, p)  embedding(ids, table)  one_hot(ids, V)  cross_entropy(l, t[, w])
 * `a @ b` is matmul, or bmm when b has more than 2 dims; `a.T` transposes the last two
 * dims, and as an operand of @ it is a transposed product without a copy. */
#ifndef TG_PROGRAM_H
#define TG_PROGRAM_H

#include "graph/arena.h"
#include "graph/tape.h"
#include "models/expr.h"

typedef enum tg_sym_kind {
    TG_SYM_INPUT, TG_SYM_STATE, TG_SYM_PARAM, TG_SYM_CONST, TG_SYM_TEMP, TG_SYM_DIM
} tg_sym_kind;

typedef struct tg_symbol {
    char name[TG_NAME_MAX];
    tg_sym_kind kind;
    int slot;          /* tensors: the slot of the current value; -1 for constants */
    int in_slot;       /* inputs, states, params: the slot the caller fills */
    double value;      /* TG_SYM_CONST */
    int assigned_eq;   /* equation that assigned it, -1 if none */
    int uses;          /* references on right-hand sides */
} tg_symbol;

typedef struct tg_instr tg_instr;

typedef struct tg_program {
    tg_arena arena;      /* instructions, expressions, labels */
    tg_symbol *syms;
    int n_syms, cap_syms;
    tg_instr *ins;
    int n_ins, cap_ins;
    int n_slots;
    const char *src;     /* the equations' source (not owned), for labels and positions */
    tg_equation *eqs;    /* (arena) */
    int n_eqs;
    char **labels;       /* (arena) per equation: its text, NUL-terminated */
    double dim_B, dim_T; /* run-time dimensions, set before tg_program_run */
    int training;        /* 0: dropout is the identity */
    int mode;            /* TG_RUN_ALL, or the two halves of a hoisted run */
    int planned, n_hoist; /* tg_program_plan_hoist done; instructions it hoisted */
    int fused;           /* tg_program_fuse done */
    int no_fuse;         /* 1: run every op on its own (to name the op behind a NaN) */
    uint64_t seed;       /* dropout masks: set per step (and per time step) by the caller */
    /* Per instruction (arena, from tg_program_plan_hoist): for a per-step h @ W.T with W
     * a parameter, this sequence's copy of W.T, made at its first step and multiplied
     * as stored (see ops/matmul.c); NULL until then. The caller clears them (and sets
     * bt_on) at the start of each sequence, on its tape. */
    struct tg_tensor **bt;
    int bt_on;
} tg_program;

/* What tg_program_run runs: everything (the default), only the hoisted instructions
 * (once, on the whole sequence), or only the others (each step). */
enum { TG_RUN_ALL, TG_RUN_HOISTED, TG_RUN_STEP };

/* Where and what a compile or run error is: byte offset into src (-1: none). */
typedef struct tg_prog_error {
    int pos;
    char msg[512];
} tg_prog_error;

void tg_program_init(tg_program *p);
void tg_program_free(tg_program *p);

/* Declares a name before compiling (input, state, param: a slot the caller fills;
 * const: a number). Returns 0, or -1 if the name is declared twice or invalid. */
int tg_program_declare(tg_program *p, const char *name, tg_sym_kind kind, double value);

/* Parses and compiles src[0..len). Returns 0, or -1 with *e filled (syntax error,
 * unknown name with a suggestion, unknown function, wrong arguments, assignment to an
 * input or parameter, a name assigned twice, a state never assigned). */
int tg_program_compile(tg_program *p, const char *src, int len, tg_prog_error *e);

/* The symbol of a name, or NULL. */
tg_symbol *tg_program_find(tg_program *p, const char *name);

/* Runs the program on `tape`. slots has n_slots entries; the caller has set the
 * in_slot of every input, state and parameter. After the run, each symbol's `slot`
 * holds its final value (a state's next value). Returns 0, or -1 with the tape's error
 * and *e->pos at the failing equation (its message: "in 'eq': <op error>"). */
int tg_program_run(tg_program *p, tg_tape *tape, tg_tensor **slots, tg_prog_error *e);

/* Fusion: groups each chain of elementwise ops (+ - * /, neg, a known factor, tanh,
 * sigmoid, relu, exp, log, sqrt, gelu) whose inner values nothing else reads into one
 * fused op (ops/fused.h), also across equations (a named gate used once). The slots in
 * keep (the output; the states are kept anyway) stay materialised. At run time a group
 * whose inputs are not full, row or scalar tensors of one shape runs op by op, as does
 * every group with no_fuse set. 0, or -1 out of memory. Call before
 * tg_program_plan_hoist. */
int tg_program_fuse(tg_program *p, const int *keep, int n_keep);

/* Hoisting, for a cell run over T steps. Marks the instructions whose value depends on
 * the input only (not on the state) through ops that treat rows alike (x @ W, + bias,
 * elementwise functions): run with mode TG_RUN_HOISTED on the whole input sequence
 * [B,T,C] they give, in one large product, what T steps would compute on [B,C]; the
 * caller then gives each step its slice (see models/model.c). slots must hold the
 * parameters (their shapes decide whether a bias broadcasts alike). 0, or -1 out of
 * memory. */
int tg_program_plan_hoist(tg_program *p, tg_tensor *const *slots);
/* The dst slot of the k-th hoisted instruction, or -1 past the last. */
int tg_program_hoisted(const tg_program *p, int k);
/* 1 if slot is read by an instruction that runs each step, or is a state's next value
 * (so a step needs it), else 0. (The caller checks its output's slot itself.) */
int tg_program_per_step_use(const tg_program *p, int slot);

#endif
