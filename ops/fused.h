/* fused.h: the program of a fused elementwise op: a chain of the elementwise ops (add,
 * sub, mul, div, neg, scale, tanh, sigmoid, relu, exp, log, sqrt, gelu) run in one
 * pass over memory, as the equation compiler builds it from a cell's equations
 * (models/program.c), e.g. an LSTM's c = sigmoid(f) * c + sigmoid(i) * tanh(g).
 *
 * Registers 0..n_in-1 are the inputs; instruction k writes register n_in + k; the last
 * instruction's register is the output. An input is either the output's full shape, a
 * row [C] (or [1,..,C]) broadcast over the leading dims, or a scalar; or, when part[k]
 * is j + 1, column block j of an input [..., parts[k] C], read and written in place
 * (the parts of a split along the last axis: an LSTM's i, f, g, o of its gates). */
#ifndef TG_FUSED_H
#define TG_FUSED_H

#include <stdint.h>

#define TG_FUSED_MAX_IN 8
#define TG_FUSED_MAX_INS 32

/* what an instruction computes (a, b: registers; imm: scale's factor) */
enum {
    TG_FU_ADD, TG_FU_SUB, TG_FU_MUL, TG_FU_DIV, TG_FU_NEG, TG_FU_SCALE, TG_FU_TANH,
    TG_FU_SIGMOID, TG_FU_RELU, TG_FU_EXP, TG_FU_LOG, TG_FU_SQRT, TG_FU_GELU, TG_FU_COUNT
};

typedef struct tg_fused_ins {
    uint8_t op, a, b;
    double imm;
} tg_fused_ins;

typedef struct tg_fused_code {
    int n_in, n_ins;
    tg_fused_ins ins[TG_FUSED_MAX_INS];
    uint8_t part[TG_FUSED_MAX_IN], parts[TG_FUSED_MAX_IN]; /* column blocks (see above) */
} tg_fused_code;

#endif
