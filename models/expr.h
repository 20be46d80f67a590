/* expr.h: the equation language's syntax: a lexer and recursive-descent parser for
 *
 *     equation := name {',' name} '=' expr
 *     expr     := term {('+' | '-') term}
 *     term     := unary {('*' | '/' | '@') unary}          (@ binds like *, as in NumPy)
 *     unary    := '-' unary | postfix
 *     postfix  := primary {'.T'}                          (transpose of the last two dims)
 *     primary  := number | name | name '(' [expr {',' expr}] ')' | '(' expr ')'
 *
 * '#' starts a comment to the end of the line. Names are [A-Za-z_][A-Za-z0-9_]*.
 * What the names and functions mean is decided by the compiler (models/program.c), not
 * here. Every node keeps its byte offset in the source so errors point at a column.
 * Nodes are allocated from a caller-owned arena and freed with it. */
#ifndef TG_EXPR_H
#define TG_EXPR_H

#include "graph/arena.h"

#define TG_NAME_MAX 64
#define TG_EQ_MAX_LHS 16

typedef enum tg_expr_kind {
    TG_EX_NUM,   /* num */
    TG_EX_NAME,  /* name */
    TG_EX_NEG,   /* -a */
    TG_EX_BIN,   /* a op b, op in + - * / @ */
    TG_EX_CALL,  /* name(args[0..n)) */
    TG_EX_T,     /* a.T */
} tg_expr_kind;

typedef struct tg_expr tg_expr;
struct tg_expr {
    tg_expr_kind kind;
    int pos;                 /* byte offset of the node's first character in the source */
    char op;                 /* TG_EX_BIN */
    double num;              /* TG_EX_NUM */
    char name[TG_NAME_MAX];  /* TG_EX_NAME, TG_EX_CALL */
    tg_expr *a, *b;          /* operands */
    int n;                   /* TG_EX_CALL: number of arguments */
    tg_expr **args;
};

typedef struct tg_equation {
    int n_lhs;
    char lhs[TG_EQ_MAX_LHS][TG_NAME_MAX];
    int lhs_pos[TG_EQ_MAX_LHS]; /* byte offsets of the names */
    tg_expr *rhs;
    int start, len;             /* the equation's bytes in the source (no comment) */
} tg_equation;

/* A parse error: byte offset in the source and a message (no position in it). */
typedef struct tg_parse_error {
    int pos;
    char msg[256];
} tg_parse_error;

/* Parses one expression spanning src[0..len) (the whole of it). Returns the tree, or
 * NULL with *pe filled (a syntax error, or pe->msg "out of memory"). */
tg_expr *tg_expr_parse(tg_arena *a, const char *src, int len, tg_parse_error *pe);

/* Parses the equations of src[0..len), one per non-blank, non-comment line, into
 * eqs (capacity max). Returns the number parsed, or -1 with *pe filled. Offsets are
 * relative to src. */
int tg_equations_parse(tg_arena *a, const char *src, int len, tg_equation *eqs, int max,
                       tg_parse_error *pe);

/* Evaluates a numeric expression: numbers, names through lookup (returns 0 and sets
 * *v, or -1 if the name is unknown), + - * /, unary minus, and the functions sqrt, exp,
 * log, min, max. Returns 0, or -1 with pe set (unknown name, division by zero, a
 * tensor-only construct such as @ or .T, an unknown function). */
typedef int (*tg_name_lookup)(void *ctx, const char *name, double *v);
int tg_expr_eval(const tg_expr *e, tg_name_lookup lookup, void *ctx, double *v,
                 tg_parse_error *pe);

/* 1 when the expression refers to no name for which is_tensor(ctx, name) is true. */
int tg_expr_is_static(const tg_expr *e, int (*is_tensor)(void *ctx, const char *name), void *ctx);

#endif
