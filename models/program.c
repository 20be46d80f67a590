/* program.c: compiling equations (expr.h trees) into op calls, and running them on a
 * tape (see program.h). The function table below is the whole vocabulary of the
 * equation language; each row maps a name to a registry op and its static arguments. */
#include "models/program.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graph/alloc.h"
#include "graph/rng.h"
#include "models/config.h"
#include "ops/ops.h"

#include "models/program_impl.h"

/* The functions: name, how it runs, the op, tensor args [min,max], static args [min,max]. */
typedef struct fn_row {
    const char *name;
    int fn, op, tmin, tmax, smin, smax;
} fn_row;

static const fn_row FUNCS[] = {
    {"tanh", F_OP, TG_OP_TANH, 1, 1, 0, 0},       {"sigmoid", F_OP, TG_OP_SIGMOID, 1, 1, 0, 0},
    {"relu", F_OP, TG_OP_RELU, 1, 1, 0, 0},       {"exp", F_OP, TG_OP_EXP, 1, 1, 0, 0},
    {"log", F_OP, TG_OP_LOG, 1, 1, 0, 0},         {"sqrt", F_OP, TG_OP_SQRT, 1, 1, 0, 0},
    {"gelu", F_OP, TG_OP_GELU, 1, 1, 0, 0},       {"neg", F_OP, TG_OP_NEG, 1, 1, 0, 0},
    {"softmax", F_OP, TG_OP_SOFTMAX, 1, 1, 0, 0}, {"log_softmax", F_OP, TG_OP_LOG_SOFTMAX, 1, 1, 0, 0},
    {"add", F_OP, TG_OP_ADD, 2, 2, 0, 0},         {"sub", F_OP, TG_OP_SUB, 2, 2, 0, 0},
    {"mul", F_OP, TG_OP_MUL, 2, 2, 0, 0},         {"div", F_OP, TG_OP_DIV, 2, 2, 0, 0},
    {"mse", F_OP, TG_OP_MSE, 2, 2, 0, 0},         {"matmul", F_OP, TG_OP_MATMUL, 2, 2, 0, 0},
    {"bmm", F_OP, TG_OP_BMM, 2, 2, 0, 0},         {"scale", F_SCALE, TG_OP_SCALE, 1, 1, 1, 1},
    {"sum", F_OP, TG_OP_SUM, 1, 1, 0, 1},         {"mean", F_OP, TG_OP_MEAN, 1, 1, 0, 1},
    {"reshape", F_OP, TG_OP_RESHAPE, 1, 1, 1, 4}, {"permute", F_OP, TG_OP_PERMUTE, 1, 1, 1, 4},
    {"transpose", F_T, TG_OP_PERMUTE, 1, 1, 2, 2}, {"slice", F_OP, TG_OP_SLICE, 1, 1, 3, 3},
    {"split", F_SPLIT, TG_OP_SLICE, 1, 1, 1, 2},  {"concat", F_OP, TG_OP_CONCAT, 1, 64, 1, 1},
    {"layernorm", F_OP, TG_OP_LAYERNORM, 3, 3, 0, 1},
    {"masked_fill", F_OP, TG_OP_MASKED_FILL, 2, 2, 1, 1},
    {"dropout", F_OP, TG_OP_DROPOUT, 1, 1, 1, 1}, {"embedding", F_OP, TG_OP_EMBEDDING, 2, 2, 0, 0},
    {"one_hot", F_OP, TG_OP_ONE_HOT, 1, 1, 1, 1},
    {"cross_entropy", F_OP, TG_OP_CROSS_ENTROPY, 2, 3, 0, 0},
    {"attention", F_OP, TG_OP_ATTENTION, 3, 4, 1, 3},
};
#define N_FUNCS ((int)(sizeof FUNCS / sizeof *FUNCS))

/* ---- compile-time state ---- */

typedef struct val {
    int is_static;      /* a number: e is the expression to evaluate */
    const tg_expr *e;
    int slot;           /* a tensor: its slot */
    int t;              /* a pending transpose of the slot's last two dims */
} val;

typedef struct cc {
    tg_program *p;
    tg_prog_error *err;
    int eq;             /* equation being compiled */
} cc;

static int cfail(cc *c, int pos, const char *fmt, ...)
{
    c->err->pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void tg_program_init(tg_program *p)
{
    memset(p, 0, sizeof *p);
    tg_arena_init(&p->arena);
}

void tg_program_free(tg_program *p)
{
    tg_arena_free(&p->arena);
    tg_free(p->syms);
    tg_free(p->ins);
    memset(p, 0, sizeof *p);
}

tg_symbol *tg_program_find(tg_program *p, const char *name)
{
    for (int i = 0; i < p->n_syms; i++)
        if (strcmp(p->syms[i].name, name) == 0) return &p->syms[i];
    return NULL;
}

static tg_symbol *add_sym(tg_program *p, const char *name, tg_sym_kind kind)
{
    if (p->n_syms == p->cap_syms) {
        int cap = p->cap_syms ? 2 * p->cap_syms : 32;
        tg_symbol *s = tg_malloc(sizeof *s * cap);
        if (!s) return NULL;
        if (p->n_syms) memcpy(s, p->syms, sizeof *s * p->n_syms);
        tg_free(p->syms);
        p->syms = s;
        p->cap_syms = cap;
    }
    tg_symbol *s = &p->syms[p->n_syms++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->slot = s->in_slot = -1;
    s->assigned_eq = -1;
    return s;
}

int tg_program_declare(tg_program *p, const char *name, tg_sym_kind kind, double value)
{
    if (!name[0] || strlen(name) >= TG_NAME_MAX || tg_program_find(p, name)) return -1;
    tg_symbol *s = add_sym(p, name, kind);
    if (!s) return -1;
    s->value = value;
    if (kind == TG_SYM_INPUT || kind == TG_SYM_STATE || kind == TG_SYM_PARAM)
        s->slot = s->in_slot = p->n_slots++;
    return 0;
}

static tg_instr *emit(cc *c, int fn, int op, int pos)
{
    tg_program *p = c->p;
    if (p->n_ins == p->cap_ins) {
        int cap = p->cap_ins ? 2 * p->cap_ins : 64;
        tg_instr *n = tg_malloc(sizeof *n * cap);
        if (!n) return cfail(c, pos, "out of memory"), NULL;
        if (p->n_ins) memcpy(n, p->ins, sizeof *n * p->n_ins);
        tg_free(p->ins);
        p->ins = n;
        p->cap_ins = cap;
    }
    tg_instr *in = &p->ins[p->n_ins++];
    memset(in, 0, sizeof *in);
    in->fn = fn;
    in->op = op;
    in->eq = c->eq;
    in->pos = pos;
    in->n_dst = 1;
    in->dst[0] = p->n_slots++;
    in->root = -1;
    return in;
}

static int set_src(cc *c, tg_instr *in, int n, const int *slots)
{
    in->src = tg_arena_alloc(&c->p->arena, sizeof *in->src * (n ? n : 1), 16);
    if (!in->src) return cfail(c, in->pos, "out of memory");
    if (n) memcpy(in->src, slots, sizeof *slots * n);
    in->n_src = n;
    return 0;
}

static int is_tensor_name(void *ctx, const char *name)
{
    tg_symbol *s = tg_program_find(ctx, name);
    return s && s->kind != TG_SYM_CONST && s->kind != TG_SYM_DIM;
}

/* Names that can be suggested for a misspelt one. */
static const char *suggest_name(tg_program *p, const char *word, int functions)
{
    const char *cand[512];
    int n = 0;
    if (functions)
        for (int i = 0; i < N_FUNCS && n < 511; i++) cand[n++] = FUNCS[i].name;
    else
        for (int i = 0; i < p->n_syms && n < 511; i++) cand[n++] = p->syms[i].name;
    cand[n] = NULL;
    return tg_suggest(word, cand);
}

static int unknown_name(cc *c, const tg_expr *e, const char *what, int functions)
{
    for (int k = c->eq + 1; !functions && k < c->p->n_eqs; k++)
        for (int j = 0; j < c->p->eqs[k].n_lhs; j++)
            if (!strcmp(c->p->eqs[k].lhs[j], e->name))
                return cfail(c, e->pos, "'%s' is used before it is defined (by a later equation)", e->name);
    const char *s = suggest_name(c->p, e->name, functions);
    if (s) return cfail(c, e->pos, "unknown %s '%s' (did you mean '%s'?)", what, e->name, s);
    return cfail(c, e->pos, "unknown %s '%s'", what, e->name);
}

/* Checks that every name in a static expression is known. */
static int check_static(cc *c, const tg_expr *e)
{
    if (!e) return 0;
    if (e->kind == TG_EX_NAME) {
        tg_symbol *s = tg_program_find(c->p, e->name);
        if (!s) return unknown_name(c, e, "name", 0);
        s->uses++;
        return 0;
    }
    if (e->kind == TG_EX_CALL) {
        for (int i = 0; i < e->n; i++)
            if (check_static(c, e->args[i])) return -1;
        return 0;
    }
    return check_static(c, e->a) || check_static(c, e->b) ? -1 : 0;
}

static int compile(cc *c, const tg_expr *e, val *v);

/* A tensor value as a slot, applying a pending transpose. */
static int materialize(cc *c, val *v, int pos)
{
    if (v->is_static) {
        tg_instr *in = emit(c, F_CONST, -1, pos);
        if (!in) return -1;
        in->sarg[0] = v->e;
        in->n_sarg = 1;
        if (set_src(c, in, 0, NULL)) return -1;
        *v = (val){.slot = in->dst[0]};
    }
    if (v->t) {
        tg_instr *in = emit(c, F_T, TG_OP_PERMUTE, pos);
        if (!in || set_src(c, in, 1, &v->slot)) return -1;
        *v = (val){.slot = in->dst[0]};
    }
    return 0;
}

/* The product instruction that e can absorb, or NULL: e is `P + bias` with bias a
 * parameter, or `P * number`, `number * P`, `P / number`, where P is an `@` written in
 * e itself (not a named value, which others may read), just emitted, not yet scaled or
 * biased. At run time a bias that is not a vector [N] falls back to an add. */
static tg_instr *fresh_product(cc *c, const tg_expr *e, const val *a, const val *b)
{
    tg_program *p = c->p;
    if (!p->n_ins) return NULL;
    tg_instr *mm = &p->ins[p->n_ins - 1];
    if (mm->fn != F_AUTO_MM || mm->n_src != 2) return NULL;
    const tg_expr *pe;
    const val *pv;
    if (e->op == '+' && !b->is_static && e->b->kind == TG_EX_NAME) {
        tg_symbol *s = tg_program_find(p, e->b->name);
        if (!s || s->kind != TG_SYM_PARAM) return NULL;
        pe = e->a, pv = a;
    } else if ((e->op == '*' || e->op == '/') && b->is_static && !a->is_static) {
        pe = e->a, pv = a;
    } else if (e->op == '*' && a->is_static && !b->is_static) {
        pe = e->b, pv = b;
    } else {
        return NULL;
    }
    if (pe->kind != TG_EX_BIN || pe->op != '@' || pv->t || pv->slot != mm->dst[0] || mm->n_sarg)
        return NULL;
    return mm;
}

static int compile_binary(cc *c, const tg_expr *e, val *v)
{
    val a, b;
    if (compile(c, e->a, &a) || compile(c, e->b, &b)) return -1;
    if (a.is_static && b.is_static) { /* a number: keep the expression */
        *v = (val){.is_static = 1, .e = e};
        return 0;
    }
    if (e->op == '@') {
        if (a.is_static || b.is_static) return cfail(c, e->pos, "'@' needs two tensors, not a number");
        tg_instr *in = emit(c, F_AUTO_MM, TG_OP_MATMUL, e->pos);
        if (!in || set_src(c, in, 2, (int[]){a.slot, b.slot})) return -1;
        in->ta = a.t;
        in->tb = b.t;
        *v = (val){.slot = in->dst[0]};
        return 0;
    }
    /* x + (o @ W.T + b), x + h @ W.T: the product just emitted adds x in its bias pass */
    tg_instr *last = c->p->n_ins ? &c->p->ins[c->p->n_ins - 1] : NULL;
    if (e->op == '+' && last && last->fn == F_AUTO_MM && last->n_src <= 3 && !last->res &&
        !a.is_static && !a.t && !b.is_static && !b.t && b.slot == last->dst[0] &&
        e->b->kind != TG_EX_NAME && a.slot != last->dst[0]) {
        int src[4], ns = last->n_src + 1; /* the product's 2 or 3 sources, then x */
        for (int i = 0; i < last->n_src; i++) src[i] = last->src[i];
        src[ns - 1] = a.slot;
        if (set_src(c, last, ns, src)) return -1;
        last->res = 1;
        *v = (val){.slot = last->dst[0]};
        return 0;
    }
    /* a product's factor and bias join the product: (x @ W.T) / s, x @ W.T + b */
    tg_instr *mm = fresh_product(c, e, &a, &b);
    if (mm && e->op != '+') {
        mm->sarg[0] = (a.is_static ? &a : &b)->e;
        mm->n_sarg = 1;
        mm->inv = e->op == '/';
        *v = (val){.slot = mm->dst[0]};
        return 0;
    }
    if (mm) {
        int src[3] = {mm->src[0], mm->src[1], b.slot};
        if (set_src(c, mm, 3, src)) return -1;
        *v = (val){.slot = mm->dst[0]};
        return 0;
    }
    /* number * x, x * number, x / number: one scale op */
    if ((e->op == '*' && (a.is_static || b.is_static)) || (e->op == '/' && b.is_static)) {
        val *x = a.is_static ? &b : &a, *k = a.is_static ? &a : &b;
        if (materialize(c, x, e->pos)) return -1;
        tg_instr *in = emit(c, F_SCALE, TG_OP_SCALE, e->pos);
        if (!in || set_src(c, in, 1, &x->slot)) return -1;
        in->sarg[0] = k->e;
        in->n_sarg = 1;
        in->inv = e->op == '/';
        *v = (val){.slot = in->dst[0]};
        return 0;
    }
    if (materialize(c, &a, e->pos) || materialize(c, &b, e->pos)) return -1;
    int op = e->op == '+' ? TG_OP_ADD : e->op == '-' ? TG_OP_SUB : e->op == '*' ? TG_OP_MUL : TG_OP_DIV;
    tg_instr *in = emit(c, F_OP, op, e->pos);
    if (!in || set_src(c, in, 2, (int[]){a.slot, b.slot})) return -1;
    *v = (val){.slot = in->dst[0]};
    return 0;
}

static const fn_row *find_fn(const char *name)
{
    for (int i = 0; i < N_FUNCS; i++)
        if (strcmp(FUNCS[i].name, name) == 0) return &FUNCS[i];
    return NULL;
}

/* f(args): tensor arguments first, then static ones. n_dst > 1 only for split. */
static int compile_call(cc *c, const tg_expr *e, val *v, int n_dst, tg_instr **out)
{
    const fn_row *f = find_fn(e->name);
    if (!f) {
        if (tg_program_find(c->p, e->name)) return cfail(c, e->pos, "'%s' is not a function", e->name);
        return unknown_name(c, e, "function", 1);
    }
    int slots[64], nt = 0, ns = 0;
    const tg_expr *sargs[8];
    for (int i = 0; i < e->n; i++) {
        const tg_expr *a = e->args[i];
        if (tg_expr_is_static(a, is_tensor_name, c->p)) {
            if (check_static(c, a)) return -1;
            if (ns == 8) return cfail(c, a->pos, "too many arguments to '%s'", f->name);
            sargs[ns++] = a;
            continue;
        }
        if (ns) return cfail(c, a->pos, "'%s': tensor arguments come before numeric ones", f->name);
        val t;
        if (compile(c, a, &t) || materialize(c, &t, a->pos)) return -1;
        slots[nt++] = t.slot;
    }
    if (nt < f->tmin || nt > f->tmax) {
        if (f->tmin == f->tmax)
            return cfail(c, e->pos, "'%s' takes %d tensor argument%s, got %d", f->name, f->tmin,
                         f->tmin > 1 ? "s" : "", nt);
        return cfail(c, e->pos, "'%s' takes %d to %d tensor arguments, got %d", f->name, f->tmin,
                     f->tmax, nt);
    }
    if (ns < f->smin || ns > f->smax) {
        if (f->smin == f->smax)
            return cfail(c, e->pos, "'%s' takes %d numeric argument%s after the tensors, got %d",
                         f->name, f->smin, f->smin == 1 ? "" : "s", ns);
        return cfail(c, e->pos, "'%s' takes %d to %d numeric arguments after the tensors, got %d",
                     f->name, f->smin, f->smax, ns);
    }
    if (f->fn == F_SPLIT && n_dst < 2)
        return cfail(c, e->pos, "'split' defines several names: write 'a, b = split(x, 2)'");
    if (f->fn != F_SPLIT && n_dst > 1)
        return cfail(c, e->pos, "'%s' gives one value, but %d names are assigned", f->name, n_dst);
    tg_instr *in = emit(c, f->fn, f->op, e->pos);
    if (!in || set_src(c, in, nt, slots)) return -1;
    memcpy(in->sarg, sargs, sizeof *sargs * ns);
    in->n_sarg = ns;
    if (f->fn == F_SPLIT) { /* the split count must be a number known now */
        in->n_dst = n_dst;
        for (int i = 1; i < n_dst; i++) in->dst[i] = c->p->n_slots++;
    }
    *v = (val){.slot = in->dst[0]};
    if (out) *out = in;
    return 0;
}

static int compile(cc *c, const tg_expr *e, val *v)
{
    if ((e->kind == TG_EX_CALL || e->kind == TG_EX_BIN) && tg_expr_is_static(e, is_tensor_name, c->p)) {
        if (check_static(c, e)) return -1; /* a number, such as sqrt(input / heads) */
        *v = (val){.is_static = 1, .e = e};
        return 0;
    }
    switch (e->kind) {
    case TG_EX_NUM: *v = (val){.is_static = 1, .e = e}; return 0;
    case TG_EX_NAME: {
        tg_symbol *s = tg_program_find(c->p, e->name);
        if (!s) return unknown_name(c, e, "name", 0);
        s->uses++;
        if (s->kind == TG_SYM_CONST || s->kind == TG_SYM_DIM) *v = (val){.is_static = 1, .e = e};
        else if (s->slot < 0) return cfail(c, e->pos, "'%s' is used before it is defined", e->name);
        else *v = (val){.slot = s->slot};
        return 0;
    }
    case TG_EX_NEG: {
        val a;
        if (compile(c, e->a, &a)) return -1;
        if (a.is_static) return *v = (val){.is_static = 1, .e = e}, 0;
        if (materialize(c, &a, e->pos)) return -1;
        tg_instr *in = emit(c, F_OP, TG_OP_NEG, e->pos);
        if (!in || set_src(c, in, 1, &a.slot)) return -1;
        *v = (val){.slot = in->dst[0]};
        return 0;
    }
    case TG_EX_T:
        if (compile(c, e->a, v)) return -1;
        if (v->is_static) return cfail(c, e->pos, "'.T' needs a tensor, not a number");
        if (v->t && materialize(c, v, e->pos)) return -1;
        v->t = 1;
        return 0;
    case TG_EX_BIN: return compile_binary(c, e, v);
    case TG_EX_CALL: return compile_call(c, e, v, 1, NULL);
    }
    return cfail(c, e->pos, "bad expression");
}

static int assign(cc *c, const tg_equation *eq, int k, int slot)
{
    const char *name = eq->lhs[k];
    tg_symbol *s = tg_program_find(c->p, name);
    if (s && (s->kind == TG_SYM_INPUT || s->kind == TG_SYM_PARAM || s->kind == TG_SYM_CONST ||
              s->kind == TG_SYM_DIM)) {
        static const char *kinds[] = {"an input", "", "a parameter", "a hyper-parameter", "",
                                      "a dimension"};
        return cfail(c, eq->lhs_pos[k], "cannot assign to '%s': it is %s", name, kinds[s->kind]);
    }
    if (s && s->assigned_eq >= 0)
        return cfail(c, eq->lhs_pos[k], "'%s' is assigned twice (each name once)", name);
    if (!s && !(s = add_sym(c->p, name, TG_SYM_TEMP))) return cfail(c, eq->lhs_pos[k], "out of memory");
    s->assigned_eq = c->eq;
    s->slot = slot;
    return 0;
}

int tg_program_compile(tg_program *p, const char *src, int len, tg_prog_error *e)
{
    tg_parse_error pe;
    e->pos = -1;
    e->msg[0] = 0;
    p->src = src;
    p->eqs = tg_arena_alloc(&p->arena, sizeof *p->eqs * 256, 16);
    if (!p->eqs) return snprintf(e->msg, sizeof e->msg, "out of memory"), -1;
    p->n_eqs = tg_equations_parse(&p->arena, src, len, p->eqs, 256, &pe);
    if (p->n_eqs < 0) {
        e->pos = pe.pos;
        snprintf(e->msg, sizeof e->msg, "%s", pe.msg);
        return -1;
    }
    cc c = {p, e, 0};
    p->labels = tg_arena_alloc(&p->arena, sizeof *p->labels * (p->n_eqs ? p->n_eqs : 1), 16);
    if (!p->labels) return cfail(&c, 0, "out of memory");
    for (int i = 0; i < p->n_eqs; i++) {
        const tg_equation *eq = &p->eqs[i];
        c.eq = i;
        char *l = tg_arena_alloc(&p->arena, (size_t)eq->len + 1, 16);
        if (!l) return cfail(&c, eq->start, "out of memory");
        memcpy(l, src + eq->start, (size_t)eq->len);
        l[eq->len] = 0;
        p->labels[i] = l;
        val v;
        tg_instr *in = NULL;
        if (eq->rhs->kind == TG_EX_CALL) {
            if (compile_call(&c, eq->rhs, &v, eq->n_lhs, &in)) return -1;
        } else {
            if (eq->n_lhs > 1)
                return cfail(&c, eq->lhs_pos[1], "only 'split' defines several names at once");
            if (compile(&c, eq->rhs, &v)) return -1;
        }
        if (!in && materialize(&c, &v, eq->rhs->pos)) return -1;
        if (in && in->fn == F_SPLIT) {
            for (int k = 0; k < eq->n_lhs; k++)
                if (assign(&c, eq, k, in->dst[k])) return -1;
        } else if (assign(&c, eq, 0, v.slot)) {
            return -1;
        }
    }
    for (int i = 0; i < p->n_syms; i++)
        if (p->syms[i].kind == TG_SYM_STATE && p->syms[i].assigned_eq < 0)
            return cfail(&c, -1, "state '%s' is never assigned: add an equation '%s = ...'",
                         p->syms[i].name, p->syms[i].name);
    return 0;
}

/* ---- running ---- */

typedef struct run_ctx { tg_program *p; } run_ctx;

int tg_program_lookup(void *ctx, const char *name, double *v)
{
    tg_program *p = ctx;
    tg_symbol *s = tg_program_find(p, name);
    if (!s) return -1;
    if (s->kind == TG_SYM_CONST) return *v = s->value, 0;
    if (s->kind == TG_SYM_DIM) return *v = name[0] == 'B' ? p->dim_B : p->dim_T, 0;
    return -1;
}

static int rfail(tg_program *p, tg_tape *tape, const tg_instr *in, tg_prog_error *e,
                 const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tg_error_set(&tape->err, TG_ERR_INVALID, "%s", msg);
    e->pos = in->pos;
    snprintf(e->msg, sizeof e->msg, "in '%.160s': %.340s", p->labels[in->eq], msg);
    return -1;
}

/* Integer value of static argument k. */
static int sint(tg_program *p, tg_tape *t, const tg_instr *in, int k, int *out, tg_prog_error *e)
{
    double v;
    tg_parse_error pe;
    if (tg_expr_eval(in->sarg[k], tg_program_lookup, p, &v, &pe)) return rfail(p, t, in, e, "%s", pe.msg);
    if (v != floor(v) || fabs(v) > 1e9) return rfail(p, t, in, e, "a size, axis or count must be a whole number, got %g", v);
    *out = (int)v;
    return 0;
}

static int sreal(tg_program *p, tg_tape *t, const tg_instr *in, int k, double *out, tg_prog_error *e)
{
    tg_parse_error pe;
    if (tg_expr_eval(in->sarg[k], tg_program_lookup, p, out, &pe)) return rfail(p, t, in, e, "%s", pe.msg);
    return 0;
}

/* Attributes of a registry op from the instruction's static arguments. */
static int attrs_for(tg_program *p, tg_tape *t, const tg_instr *in, tg_attrs *a, tg_prog_error *e)
{
    memset(a, 0, sizeof *a);
    a->i[0] = in->ta;
    a->i[1] = in->tb;
    switch (in->op) {
    case TG_OP_SUM: case TG_OP_MEAN:
        a->i[0] = TG_AXIS_ALL;
        return in->n_sarg ? sint(p, t, in, 0, &a->i[0], e) : 0;
    case TG_OP_RESHAPE:
        a->i[0] = in->n_sarg;
        for (int k = 0; k < in->n_sarg; k++)
            if (sint(p, t, in, k, &a->i[1 + k], e)) return -1;
        return 0;
    case TG_OP_PERMUTE:
        for (int k = 0; k < in->n_sarg; k++)
            if (sint(p, t, in, k, &a->i[k], e)) return -1;
        return 0;
    case TG_OP_SLICE:
        for (int k = 0; k < 3; k++)
            if (sint(p, t, in, k, &a->i[k], e)) return -1;
        return 0;
    case TG_OP_CONCAT: case TG_OP_ONE_HOT: return sint(p, t, in, 0, &a->i[0], e);
    case TG_OP_LAYERNORM:
        a->f = 1e-5;
        return in->n_sarg ? sreal(p, t, in, 0, &a->f, e) : 0;
    case TG_OP_MASKED_FILL: case TG_OP_SCALE: return sreal(p, t, in, 0, &a->f, e);
    case TG_OP_ATTENTION: /* heads [, causal [, scale]] */
        if (sint(p, t, in, 0, &a->i[0], e) || (in->n_sarg > 1 && sint(p, t, in, 1, &a->i[1], e)))
            return -1;
        return in->n_sarg > 2 ? sreal(p, t, in, 2, &a->f, e) : 0;
    case TG_OP_DROPOUT:
        if (sreal(p, t, in, 0, &a->f, e)) return -1;
        if (!p->training) a->f = 0;
        a->seed = tg_hash64(p->seed ^ tg_hash64((uint64_t)(in - p->ins)));
        return 0;
    default: return 0;
    }
}

/* 1 if mask, broadcast onto x, is all zero (a batch without padding): masked_fill is
 * then x itself, and costs neither a pass nor a tensor. Only for a mask smaller than
 * x, whose check costs little; not in shape-only mode (no data). */
static int all_zero_mask(const tg_tensor *x, const tg_tensor *mask)
{
    if (!x || !mask || !mask->data || mask->dtype == TG_I32 || mask->numel * 4 > x->numel) return 0;
    for (int64_t i = 0; i < mask->numel; i++)
        if (tg_tensor_get(mask, i) != 0) return 0;
    return 1;
}

int tg_program_run_split(tg_program *p, tg_tape *t, const tg_instr *in, tg_tensor **slots, tg_prog_error *e)
{
    int n = in->n_dst, axis = -1;
    if (sint(p, t, in, 0, &n, e) || (in->n_sarg > 1 && sint(p, t, in, 1, &axis, e))) return -1;
    if (n != in->n_dst) {
        rfail(p, t, in, e, "split into %d parts, but %d names are assigned", n, in->n_dst);
        return -1;
    }
    tg_tensor *parts[TG_EQ_MAX_LHS];
    if (tg_split(t, slots[in->src[0]], axis, n, parts) == TG_OK)
        for (int k = 0; k < n; k++) slots[in->dst[k]] = parts[k];
    return 0;
}

tg_tensor *tg_program_run_one(tg_program *p, tg_tape *t, const tg_instr *in, tg_tensor **slots,
                              tg_prog_error *e)
{
    tg_tensor *src[64];
    for (int k = 0; k < in->n_src; k++) src[k] = slots[in->src[k]];
    tg_attrs a;
    switch (in->fn) {
    case F_CONST: {
        double v;
        if (sreal(p, t, in, 0, &v, e)) return NULL;
        return tg_tape_scalar(t, v);
    }
    case F_T: {
        int nd = src[0]->ndim, a0 = nd - 2, a1 = nd - 1;
        if (in->n_sarg && (sint(p, t, in, 0, &a0, e) || sint(p, t, in, 1, &a1, e))) return NULL;
        if (!in->n_sarg && nd < 2) {
            char s[64];
            rfail(p, t, in, e, "'.T' needs at least 2 dims, got %s", tg_shape_str(src[0], s, sizeof s));
            return NULL;
        }
        return tg_transpose(t, src[0], a0, a1);
    }
    case F_AUTO_MM: { /* alpha op(a) @ op(b) [+ bias] */
        double k = 1;
        if (in->n_sarg && sreal(p, t, in, 0, &k, e)) return NULL;
        if (in->inv) {
            if (k == 0) return rfail(p, t, in, e, "division by zero"), NULL;
            k = 1 / k;
        }
        for (int i = 0; i < 2; i++) /* a .T folded into the product: as the '.T' op says */
            if ((i ? in->tb : in->ta) && src[i]->ndim < 2) {
                char s[64];
                rfail(p, t, in, e, "'.T' needs at least 2 dims, got %s", tg_shape_str(src[i], s, sizeof s));
                return NULL;
            }
        int bmm = src[1]->ndim > 2, N = src[1]->ndim < 1 ? 0 : src[1]->shape[src[1]->ndim - 1 - in->tb];
        tg_tensor *res = in->res ? src[in->n_src - 1] : NULL;
        tg_tensor *bias = in->n_src - in->res > 2 ? src[2] : NULL;
        int fold = bias && !bmm && bias->ndim == 1 && bias->shape[0] == N;
        /* the residual joins a product whose bias folded (or that has none), and only
         * with the product's shape: else x + (...) is an add, as written */
        int fold_res = res && (fold || !bias) && !bmm && k != 0 && src[0]->ndim >= 1 &&
                       res->ndim == (in->ta ? 2 : src[0]->ndim);
        for (int q = 0; fold_res && q < res->ndim; q++)
            fold_res = res->shape[q] == (q == res->ndim - 1 ? N : in->ta ? src[0]->shape[1] : src[0]->shape[q]);
        tg_attrs at = {.i = {in->ta, in->tb, fold_res}, .f = k == 1 ? 0 : k};
        if (in->bt_ok && p->bt_on && p->mode == TG_RUN_STEP && p->bt && !t->shape_only) {
            tg_tensor **bt = &p->bt[in - p->ins];
            if (!*bt) { /* this sequence's W.T: a constant copy, no node */
                tg_tape_no_grad_begin(t);
                *bt = tg_transpose(t, src[1], 0, 1);
                tg_tape_no_grad_end(t);
            }
            at.ptr = *bt;
        }
        tg_tensor *mm_in[4] = {src[0], src[1], fold ? bias : res, res};
        /* (alpha 0 in the attributes means 1: a factor of exactly 0 is applied after) */
        tg_tensor *y = tg_op_apply(t, bmm ? TG_OP_BMM : TG_OP_MATMUL, 2 + fold + fold_res, mm_in, &at);
        if (k == 0) y = tg_scale(t, y, 0);
        if (bias && !fold) y = tg_add(t, y, bias);
        return res && !fold_res ? tg_add(t, res, y) : y;
    }
    case F_SCALE: {
        double k;
        if (sreal(p, t, in, 0, &k, e)) return NULL;
        if (in->inv) {
            if (k == 0) return rfail(p, t, in, e, "division by zero"), NULL;
            k = 1 / k;
        }
        return tg_scale(t, src[0], k);
    }
    default:
        if (attrs_for(p, t, in, &a, e)) return NULL;
        if (in->op == TG_OP_MASKED_FILL && all_zero_mask(src[0], src[1])) return src[0];
        if (in->op == TG_OP_ATTENTION && in->packed) { /* q, k, v: the split's source, packed */
            tg_tensor *x = slots[in->packed - 1];
            if (x && x->ndim == 3 && x->shape[2] % 3 == 0) {
                src[0] = src[1] = src[2] = x;
                a.i[2] = 1;
            } else { /* not 3 C wide: the split runs after all, and fails with its message */
                const tg_instr *sp = &p->ins[in->packed_from];
                tg_tape_set_label(t, p->labels[sp->eq]);
                if (tg_program_run_split(p, t, sp, slots, e) || t->err.code) {
                    if (e->pos < 0) {
                        e->pos = sp->pos;
                        snprintf(e->msg, sizeof e->msg, "in '%.160s': %.340s", p->labels[sp->eq], t->err.msg);
                    }
                    return NULL;
                }
                for (int k = 0; k < 3; k++) src[k] = slots[in->src[k]];
                tg_tape_set_label(t, p->labels[in->eq]);
            }
        }
        if (in->op == TG_OP_ATTENTION && in->n_src == 4 && all_zero_mask(src[0], src[3]))
            return tg_op_apply(t, TG_OP_ATTENTION, 3, src, &a); /* no padding: no mask to read */
        return tg_op_apply(t, (tg_op_id)in->op, in->n_src, src, &a);
    }
}

/* 1 if `in` is a split whose every part fused groups read in place, and they run as
 * fused ops */
static int split_skipped(const tg_program *p, const tg_instr *in)
{
    if (!in->all_absorbed || p->no_fuse) return 0;
    for (int a = 0; a < in->n_absorbers; a++)
        if (p->ins[in->absorbers[a]].fuse_off) return 0;
    return 1;
}

int tg_program_run(tg_program *p, tg_tape *tape, tg_tensor **slots, tg_prog_error *e)
{
    e->pos = -1;
    e->msg[0] = 0;
    const char *saved_label = tape->label;
    for (int i = 0; i < p->n_ins; i++) {
        const tg_instr *in = &p->ins[i];
        /* numbers (F_CONST) run in both halves: a hoisted op may use one */
        if (in->fn != F_CONST && (p->mode == TG_RUN_HOISTED ? !in->hoist : p->mode == TG_RUN_STEP && in->hoist))
            continue;
        if (in->absorbed) continue; /* a split that an attention reads packed */
        if (split_skipped(p, in)) continue; /* fused groups read its parts in place */
        int fused = !p->no_fuse && in->root >= 0 && !p->ins[tg_program_root(p, i)].fuse_off;
        if (fused && !in->code) continue; /* a member: its group runs at the root */
        tg_tape_set_label(tape, p->labels[in->eq]);
        if (fused) {
            tg_program_run_group(p, tape, i, slots, e);
        } else if (in->fn == F_SPLIT) {
            if (tg_program_run_split(p, tape, in, slots, e)) return -1;
        } else {
            slots[in->dst[0]] = tg_program_run_one(p, tape, in, slots, e);
        }
        if (tape->err.code) {
            if (e->pos < 0) {
                e->pos = in->pos;
                snprintf(e->msg, sizeof e->msg, "in '%.160s': %.340s", p->labels[in->eq], tape->err.msg);
            }
            tg_tape_set_label(tape, saved_label);
            return -1;
        }
    }
    tg_tape_set_label(tape, saved_label);
    return 0;
}
