/* expr.c: lexer, parser and numeric evaluator of the equation language (see expr.h). */
#include "models/expr.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_END, T_NUM, T_NAME, T_OP, T_DOT_T } tok_kind;

typedef struct parser {
    tg_arena *arena;
    const char *s;
    int len, i;      /* source and cursor */
    tok_kind tok;    /* current token */
    int tpos;        /* its offset */
    char tch;        /* T_OP: the character */
    double tnum;
    char tname[TG_NAME_MAX];
    tg_parse_error *pe;
    int failed;
    int depth;       /* nesting of parentheses, calls and unary minus */
} parser;

static int fail(parser *p, int pos, const char *fmt, ...)
{
    if (p->failed) return -1;
    p->failed = 1;
    p->pe->pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->pe->msg, sizeof p->pe->msg, fmt, ap);
    va_end(ap);
    return -1;
}

static int next(parser *p)
{
    const char *s = p->s;
    while (p->i < p->len && (s[p->i] == ' ' || s[p->i] == '\t' || s[p->i] == '\r')) p->i++;
    if (p->i < p->len && s[p->i] == '#') p->i = p->len; /* comment to the end */
    p->tpos = p->i;
    if (p->i >= p->len) return p->tok = T_END, 0;
    char c = s[p->i];
    if (isdigit((unsigned char)c) || (c == '.' && p->i + 1 < p->len && isdigit((unsigned char)s[p->i + 1]))) {
        char buf[96];
        int n = 0;
        while (p->i < p->len && n < 63 &&
               (isalnum((unsigned char)s[p->i]) || s[p->i] == '.' ||
                ((s[p->i] == '+' || s[p->i] == '-') && (s[p->i - 1] == 'e' || s[p->i - 1] == 'E'))))
            buf[n++] = s[p->i++];
        buf[n] = 0;
        char *end;
        p->tnum = strtod(buf, &end);
        if (*end || !isfinite(p->tnum)) return fail(p, p->tpos, "malformed number '%s'", buf);
        return p->tok = T_NUM, 0;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        int n = 0;
        while (p->i < p->len && (isalnum((unsigned char)s[p->i]) || s[p->i] == '_')) {
            if (n >= TG_NAME_MAX - 1) return fail(p, p->tpos, "name longer than %d characters", TG_NAME_MAX - 1);
            p->tname[n++] = s[p->i++];
        }
        p->tname[n] = 0;
        return p->tok = T_NAME, 0;
    }
    if (c == '.' && p->i + 1 < p->len && s[p->i + 1] == 'T' &&
        !(p->i + 2 < p->len && (isalnum((unsigned char)s[p->i + 2]) || s[p->i + 2] == '_'))) {
        p->i += 2;
        return p->tok = T_DOT_T, 0;
    }
    if (strchr("+-*/@(),=", c)) {
        p->i++;
        p->tch = c;
        return p->tok = T_OP, 0;
    }
    if (c == '\n') return fail(p, p->tpos, "unexpected end of line");
    if ((unsigned char)c < 32 || (unsigned char)c >= 127)
        return fail(p, p->tpos, "unexpected character (code %d)", (unsigned char)c);
    return fail(p, p->tpos, "unexpected character '%c'", c);
}

static int is_op(const parser *p, char c) { return p->tok == T_OP && p->tch == c; }

static const char *describe(const parser *p, char *buf, int n)
{
    switch (p->tok) {
    case T_END: return "the end of the equation";
    case T_NUM: snprintf(buf, n, "number %g", p->tnum); return buf;
    case T_NAME: snprintf(buf, n, "'%s'", p->tname); return buf;
    case T_DOT_T: return "'.T'";
    default: snprintf(buf, n, "'%c'", p->tch); return buf;
    }
}

static tg_expr *node(parser *p, tg_expr_kind k, int pos)
{
    tg_expr *e = tg_arena_calloc(p->arena, sizeof *e, 16);
    if (!e) {
        fail(p, pos, "out of memory");
        return NULL;
    }
    e->kind = k;
    e->pos = pos;
    return e;
}

static tg_expr *parse_expr(parser *p);
static tg_expr *parse_unary(parser *p);
static tg_expr *parse_unary_at(parser *p);

static tg_expr *parse_primary(parser *p)
{
    char buf[96];
    int pos = p->tpos;
    if (p->tok == T_NUM) {
        tg_expr *e = node(p, TG_EX_NUM, pos);
        if (!e) return NULL;
        e->num = p->tnum;
        return next(p) ? NULL : e;
    }
    if (p->tok == T_NAME) {
        tg_expr *e = node(p, TG_EX_NAME, pos);
        if (!e) return NULL;
        memcpy(e->name, p->tname, sizeof e->name);
        if (next(p)) return NULL;
        if (!is_op(p, '(')) return e;
        e->kind = TG_EX_CALL;
        if (next(p)) return NULL;
        tg_expr *args[64];
        while (!is_op(p, ')')) {
            if (e->n == 64) return fail(p, p->tpos, "more than 64 arguments"), NULL;
            if (!(args[e->n++] = parse_expr(p))) return NULL;
            if (is_op(p, ',')) {
                if (next(p)) return NULL;
            } else if (!is_op(p, ')')) {
                fail(p, p->tpos, "expected ',' or ')' in the arguments of '%s', found %s",
                     e->name, describe(p, buf, sizeof buf));
                return NULL;
            }
        }
        if (e->n) {
            e->args = tg_arena_alloc(p->arena, sizeof *e->args * e->n, 16);
            if (!e->args) return fail(p, pos, "out of memory"), NULL;
            memcpy(e->args, args, sizeof *args * e->n);
        }
        return next(p) ? NULL : e;
    }
    if (is_op(p, '(')) {
        if (next(p)) return NULL;
        tg_expr *e = parse_expr(p);
        if (!e) return NULL;
        if (!is_op(p, ')'))
            return fail(p, p->tpos, "expected ')' to close '(', found %s",
                        describe(p, buf, sizeof buf)), NULL;
        return next(p) ? NULL : e;
    }
    fail(p, pos, "expected a name, a number or '(', found %s", describe(p, buf, sizeof buf));
    return NULL;
}

static tg_expr *parse_postfix(parser *p)
{
    tg_expr *e = parse_primary(p);
    while (e && p->tok == T_DOT_T) {
        tg_expr *t = node(p, TG_EX_T, p->tpos);
        if (!t) return NULL;
        t->a = e;
        e = next(p) ? NULL : t;
    }
    return e;
}

#define MAX_NESTING 100

static tg_expr *parse_unary(parser *p)
{
    if (++p->depth > MAX_NESTING) {
        fail(p, p->tpos, "the expression is nested more than %d deep", MAX_NESTING);
        return NULL;
    }
    tg_expr *e = parse_unary_at(p);
    p->depth--;
    return e;
}

static tg_expr *parse_unary_at(parser *p)
{
    if (is_op(p, '-')) {
        tg_expr *e = node(p, TG_EX_NEG, p->tpos);
        if (!e || next(p)) return NULL;
        return (e->a = parse_unary(p)) ? e : NULL;
    }
    return parse_postfix(p);
}

static tg_expr *parse_binary(parser *p, const char *ops, tg_expr *(*operand)(parser *))
{
    tg_expr *e = operand(p);
    while (e && p->tok == T_OP && strchr(ops, p->tch)) {
        tg_expr *b = node(p, TG_EX_BIN, p->tpos);
        if (!b) return NULL;
        b->op = p->tch;
        b->a = e;
        if (next(p)) return NULL;
        if (!(b->b = operand(p))) return NULL;
        e = b;
    }
    return e;
}

static tg_expr *parse_term(parser *p) { return parse_binary(p, "*/@", parse_unary); }
static tg_expr *parse_expr(parser *p) { return parse_binary(p, "+-", parse_term); }

static void init(parser *p, tg_arena *a, const char *s, int len, tg_parse_error *pe)
{
    memset(p, 0, sizeof *p);
    p->arena = a;
    p->s = s;
    p->len = len;
    p->pe = pe;
    pe->pos = 0;
    pe->msg[0] = 0;
}

tg_expr *tg_expr_parse(tg_arena *a, const char *src, int len, tg_parse_error *pe)
{
    parser p;
    init(&p, a, src, len, pe);
    if (next(&p)) return NULL;
    tg_expr *e = parse_expr(&p);
    if (e && p.tok != T_END) {
        char buf[96];
        fail(&p, p.tpos, "unexpected %s after the expression", describe(&p, buf, sizeof buf));
        return NULL;
    }
    return e;
}

/* One equation on src[0..len) (a line); returns 1 if parsed, 0 if blank, -1 on error. */
static int parse_equation(tg_arena *a, const char *src, int len, int base, tg_equation *eq,
                          tg_parse_error *pe)
{
    parser p;
    char buf[96];
    init(&p, a, src, len, pe);
    if (next(&p)) goto err;
    if (p.tok == T_END) return 0;
    memset(eq, 0, sizeof *eq);
    eq->start = base + p.tpos;
    for (;;) {
        if (p.tok != T_NAME) {
            fail(&p, p.tpos, "expected the name being defined, found %s", describe(&p, buf, sizeof buf));
            goto err;
        }
        if (eq->n_lhs == TG_EQ_MAX_LHS) {
            fail(&p, p.tpos, "more than %d names on the left", TG_EQ_MAX_LHS);
            goto err;
        }
        memcpy(eq->lhs[eq->n_lhs], p.tname, TG_NAME_MAX);
        eq->lhs_pos[eq->n_lhs++] = base + p.tpos;
        if (next(&p)) goto err;
        if (is_op(&p, '=')) break;
        if (!is_op(&p, ',')) {
            fail(&p, p.tpos, "expected '=' or ',' after '%s', found %s", eq->lhs[eq->n_lhs - 1],
                 describe(&p, buf, sizeof buf));
            goto err;
        }
        if (next(&p)) goto err;
    }
    if (next(&p)) goto err;
    if (!(eq->rhs = parse_expr(&p))) goto err;
    if (p.tok != T_END) {
        fail(&p, p.tpos, "unexpected %s after the expression", describe(&p, buf, sizeof buf));
        goto err;
    }
    {   /* the equation's text, without a trailing comment or blanks */
        int end = 0;
        for (int i = 0; i < len && src[i] != '#'; i++)
            if (src[i] != ' ' && src[i] != '\t' && src[i] != '\r') end = i + 1;
        eq->len = base + end - eq->start;
    }
    return 1;
err:
    pe->pos += base;
    return -1;
}

/* shifts every node's offset by base (nodes were parsed relative to their line) */
static void shift(tg_expr *e, int base)
{
    if (!e) return;
    e->pos += base;
    shift(e->a, base);
    shift(e->b, base);
    for (int i = 0; i < e->n; i++) shift(e->args[i], base);
}

int tg_equations_parse(tg_arena *a, const char *src, int len, tg_equation *eqs, int max,
                       tg_parse_error *pe)
{
    int n = 0;
    for (int i = 0; i < len;) {
        int j = i;
        while (j < len && src[j] != '\n') j++;
        tg_equation eq;
        int r = parse_equation(a, src + i, j - i, i, &eq, pe);
        if (r < 0) return -1;
        if (r > 0) {
            if (n == max) {
                pe->pos = eq.start;
                snprintf(pe->msg, sizeof pe->msg, "more than %d equations", max);
                return -1;
            }
            shift(eq.rhs, i);
            eqs[n++] = eq;
        }
        i = j + 1;
    }
    return n;
}

static int eval_fail(tg_parse_error *pe, int pos, const char *fmt, const char *s)
{
    pe->pos = pos;
    snprintf(pe->msg, sizeof pe->msg, fmt, s);
    return -1;
}

int tg_expr_eval(const tg_expr *e, tg_name_lookup lookup, void *ctx, double *v,
                 tg_parse_error *pe)
{
    double x, y;
    switch (e->kind) {
    case TG_EX_NUM: *v = e->num; return 0;
    case TG_EX_NAME:
        if (lookup(ctx, e->name, v) == 0) return 0;
        return eval_fail(pe, e->pos, "unknown name '%s'", e->name);
    case TG_EX_NEG:
        if (tg_expr_eval(e->a, lookup, ctx, &x, pe)) return -1;
        *v = -x;
        return 0;
    case TG_EX_T: return eval_fail(pe, e->pos, "'.T' needs a tensor%s", "");
    case TG_EX_BIN:
        if (e->op == '@') return eval_fail(pe, e->pos, "'@' needs tensors%s", "");
        if (tg_expr_eval(e->a, lookup, ctx, &x, pe) || tg_expr_eval(e->b, lookup, ctx, &y, pe))
            return -1;
        switch (e->op) {
        case '+': *v = x + y; return 0;
        case '-': *v = x - y; return 0;
        case '*': *v = x * y; return 0;
        default:
            if (y == 0) return eval_fail(pe, e->pos, "division by zero%s", "");
            *v = x / y;
            return 0;
        }
    case TG_EX_CALL: {
        double a[2];
        int n1 = !strcmp(e->name, "sqrt") || !strcmp(e->name, "exp") || !strcmp(e->name, "log");
        int n2 = !strcmp(e->name, "min") || !strcmp(e->name, "max");
        if (!n1 && !n2) return eval_fail(pe, e->pos, "'%s' is not a function of numbers (sqrt, exp, log, min, max)", e->name);
        if (e->n != (n1 ? 1 : 2))
            return eval_fail(pe, e->pos, n1 ? "'%s' takes 1 argument" : "'%s' takes 2 arguments", e->name);
        for (int i = 0; i < e->n; i++)
            if (tg_expr_eval(e->args[i], lookup, ctx, &a[i], pe)) return -1;
        if (!strcmp(e->name, "sqrt")) {
            if (a[0] < 0) return eval_fail(pe, e->pos, "sqrt of a negative number%s", "");
            *v = sqrt(a[0]);
        } else if (!strcmp(e->name, "log")) {
            if (a[0] <= 0) return eval_fail(pe, e->pos, "log of a number <= 0%s", "");
            *v = log(a[0]);
        } else if (!strcmp(e->name, "exp")) *v = exp(a[0]);
        else if (!strcmp(e->name, "min")) *v = fmin(a[0], a[1]);
        else *v = fmax(a[0], a[1]);
        return isfinite(*v) ? 0 : eval_fail(pe, e->pos, "the value is not finite%s", "");
    }
    }
    return eval_fail(pe, e->pos, "bad expression%s", "");
}

int tg_expr_is_static(const tg_expr *e, int (*is_tensor)(void *ctx, const char *name), void *ctx)
{
    if (!e) return 1;
    switch (e->kind) {
    case TG_EX_NUM: return 1;
    case TG_EX_NAME: return !is_tensor(ctx, e->name);
    case TG_EX_T: return 0;
    case TG_EX_BIN:
        if (e->op == '@') return 0;
        return tg_expr_is_static(e->a, is_tensor, ctx) && tg_expr_is_static(e->b, is_tensor, ctx);
    case TG_EX_NEG: return tg_expr_is_static(e->a, is_tensor, ctx);
    case TG_EX_CALL:
        for (int i = 0; i < e->n; i++)
            if (!tg_expr_is_static(e->args[i], is_tensor, ctx)) return 0;
        return !strcmp(e->name, "sqrt") || !strcmp(e->name, "exp") || !strcmp(e->name, "log") ||
               !strcmp(e->name, "min") || !strcmp(e->name, "max");
    }
    return 0;
}
