/* program_opt.c: the compiler's speed rewrites of a compiled program (program.h):
 * fusing elementwise chains into one op, attention reading q, k, v packed from the
 * projection they were split from, and hoisting a cell's state-independent part
 * out of the time loop. None changes a value (tests/test_fusion.c). */
#include <string.h>

#include "graph/alloc.h"
#include "models/program_impl.h"
#include "ops/ops.h"

/* ---- fusion: chains of elementwise ops as one op; attention reading its split ---- */

/* The number e gives whatever B and T are (it uses hyper-parameters only); -1 if
 * none: evaluated with two sets of dimensions. */
static int static_num(const tg_program *p, const tg_expr *e, double *v)
{
    tg_parse_error pe;
    double prev_b = p->dim_B, prev_t = p->dim_T, k2;
    tg_program *q = (tg_program *)p;
    q->dim_B = 1, q->dim_T = 1;
    int r1 = tg_expr_eval(e, tg_program_lookup, q, v, &pe);
    q->dim_B = 2, q->dim_T = 3;
    int r2 = tg_expr_eval(e, tg_program_lookup, q, &k2, &pe);
    q->dim_B = prev_b, q->dim_T = prev_t;
    return r1 || r2 || *v != k2 ? -1 : 0;
}

/* The same for a whole number */
static int static_int(const tg_program *p, const tg_expr *e, int *v)
{
    double k;
    if (static_num(p, e, &k) || k != (int)k) return -1;
    *v = (int)k;
    return 0;
}

/* The fused opcode of an instruction, or -1 if it is not elementwise. */
static int fu_op(const tg_program *p, const tg_instr *in, double *imm)
{
    *imm = 0;
    if (in->fn == F_SCALE) { /* a factor known now: no B or T in it */
        double k;
        if (static_num(p, in->sarg[0], &k) || (in->inv && k == 0)) return -1;
        *imm = in->inv ? 1 / k : k;
        return TG_FU_SCALE;
    }
    if (in->fn != F_OP) return -1;
    switch (in->op) {
    case TG_OP_ADD: return TG_FU_ADD;
    case TG_OP_SUB: return TG_FU_SUB;
    case TG_OP_MUL: return TG_FU_MUL;
    case TG_OP_DIV: return TG_FU_DIV;
    case TG_OP_NEG: return TG_FU_NEG;
    case TG_OP_TANH: return TG_FU_TANH;
    case TG_OP_SIGMOID: return TG_FU_SIGMOID;
    case TG_OP_RELU: return TG_FU_RELU;
    case TG_OP_EXP: return TG_FU_EXP;
    case TG_OP_LOG: return TG_FU_LOG;
    case TG_OP_SQRT: return TG_FU_SQRT;
    case TG_OP_GELU: return TG_FU_GELU;
    default: return -1;
    }
}

int tg_program_root(const tg_program *p, int i)
{
    while (p->ins[i].root >= 0 && p->ins[i].root != i) i = p->ins[i].root;
    return i;
}

/* Collects group r's members (instruction order) and external inputs; -1 if too big. */
static int group_of(tg_program *p, int r, int *mem, int *n_mem, int *fin, int *n_fin)
{
    *n_mem = *n_fin = 0;
    for (int j = 0; j <= r; j++)
        if (p->ins[j].root >= 0 && tg_program_root(p, j) == r) {
            if (*n_mem == TG_FUSED_MAX_INS) return -1;
            mem[(*n_mem)++] = j;
        }
    for (int k = 0; k < *n_mem; k++) {
        const tg_instr *in = &p->ins[mem[k]];
        for (int q = 0; q < in->n_src; q++) {
            int sl = in->src[q], inner = 0, seen = 0;
            for (int m = 0; m < *n_mem && !inner; m++) inner = p->ins[mem[m]].dst[0] == sl;
            for (int m = 0; m < *n_fin && !seen; m++) seen = fin[m] == sl;
            if (inner || seen) continue;
            if (*n_fin == TG_FUSED_MAX_IN) return -1;
            fin[(*n_fin)++] = sl;
        }
    }
    return 0;
}

/* The parts of split sp along the last axis (its count and axis numbers known now,
 * the count that of its names; axis -1, or last_axis), or -1 */
static int split_parts(const tg_program *p, const tg_instr *sp, int last_axis)
{
    int n = 0, axis = -1;
    if (sp->fn != F_SPLIT || sp->absorbed || static_int(p, sp->sarg[0], &n) || n != sp->n_dst ||
        (sp->n_sarg > 1 && (static_int(p, sp->sarg[1], &axis) || (axis != -1 && axis != last_axis))))
        return -1;
    return n;
}

/* q, k, v = split(x, 3) whose parts only attention(q, k, v, ...) reads: the attention
 * reads x packed and the split does not run (no copies). At run time a split that
 * would fail (x not 3 C wide) runs after all, for its message. */
static void pack_attention(tg_program *p, const int *uses, const int *prod)
{
    for (int i = 0; i < p->n_ins; i++) {
        tg_instr *in = &p->ins[i];
        in->packed = 0;
        if (in->fn == F_SPLIT) in->absorbed = 0;
    }
    for (int i = 0; i < p->n_ins; i++) {
        tg_instr *in = &p->ins[i];
        if (in->fn != F_OP || in->op != TG_OP_ATTENTION || in->n_src < 3) continue;
        int j = prod[in->src[0]];
        if (j < 0) continue;
        tg_instr *sp = &p->ins[j];
        if (split_parts(p, sp, 2) != 3) continue; /* q, k, v are [B,T,C]: axis 2 is the last */
        int ok = 1;
        for (int k = 0; k < 3 && ok; k++) ok = in->src[k] == sp->dst[k] && uses[sp->dst[k]] == 1;
        if (!ok || sp->hoist != in->hoist) continue;
        in->packed = sp->src[0] + 1;
        in->packed_from = j;
        sp->absorbed = 1;
    }
}

/* Group r reads a part of `a, b, ... = split(x, n)` (last axis) that nothing else
 * reads as a column block of x. When every part is read so, the split does not run
 * (no copies, no slice gradients): an LSTM's i, f, g, o. */
static void split_columns(tg_program *p, int r, const int *uses, const int *prod)
{
    tg_instr *root = &p->ins[r];
    tg_fused_code *code = root->code;
    for (int m = 0; m < root->n_fin; m++) {
        int j = prod[root->fin[m]], n, q = 0;
        if (j < 0 || uses[root->fin[m]] != 1) continue;
        tg_instr *sp = &p->ins[j];
        if ((n = split_parts(p, sp, -1)) < 0) continue;
        while (sp->dst[q] != root->fin[m]) q++;
        sp->absorbed_parts |= (uint32_t)1 << q;
        code->part[m] = (uint8_t)(q + 1);
        code->parts[m] = (uint8_t)n;
        root->fin[m] = sp->src[0];
        int known = 0;
        for (int a = 0; a < sp->n_absorbers; a++) known |= sp->absorbers[a] == r;
        if (!known) sp->absorbers[sp->n_absorbers++] = r;
    }
}

/* Splits all of whose read parts fused groups read in place */
static void mark_absorbed_splits(tg_program *p, const int *uses)
{
    for (int j = 0; j < p->n_ins; j++) {
        tg_instr *sp = &p->ins[j];
        if (sp->fn != F_SPLIT || !sp->n_absorbers) continue;
        int all = 1;
        for (int q = 0; q < sp->n_dst && all; q++) /* (two splits of one source are told apart) */
            all = uses[sp->dst[q]] == 0 || (sp->absorbed_parts >> q & 1);
        sp->all_absorbed = all;
    }
}

int tg_program_fuse(tg_program *p, const int *keep, int n_keep)
{
    int *uses = tg_calloc((size_t)(p->n_slots ? p->n_slots : 1), sizeof *uses);
    if (!uses) return -1;
    for (int i = 0; i < p->n_ins; i++)
        for (int k = 0; k < p->ins[i].n_src; k++) uses[p->ins[i].src[k]]++;
    for (int i = 0; i < n_keep; i++)
        if (keep[i] >= 0) uses[keep[i]] += 2; /* must exist: never inside a group */
    for (int i = 0; i < p->n_syms; i++)
        if (p->syms[i].kind == TG_SYM_STATE && p->syms[i].slot >= 0) uses[p->syms[i].slot] += 2;
    int *prod = tg_malloc(sizeof *prod * (size_t)(p->n_slots ? p->n_slots : 1));
    if (!prod) return tg_free(uses), -1;
    int *prod_all = tg_malloc(sizeof *prod_all * (size_t)(p->n_slots ? p->n_slots : 1));
    if (!prod_all) return tg_free(uses), tg_free(prod), -1;
    for (int i = 0; i < p->n_slots; i++) prod[i] = prod_all[i] = -1;
    for (int i = 0; i < p->n_ins; i++)
        for (int k = 0; k < p->ins[i].n_dst; k++) prod_all[p->ins[i].dst[k]] = i;
    pack_attention(p, uses, prod_all);
    double imm;
    /* each elementwise instruction absorbs the groups of its elementwise sources whose
     * value nothing else reads */
    for (int i = 0; i < p->n_ins; i++) {
        tg_instr *in = &p->ins[i];
        in->root = -1;
        in->code = NULL;
        in->fuse_off = 0;
        in->n_absorbers = in->all_absorbed = 0;
        in->absorbed_parts = 0;
        if (in->n_dst == 1) prod[in->dst[0]] = i;
        if (fu_op(p, in, &imm) < 0) continue;
        in->root = i;
        for (int k = 0; k < in->n_src; k++) {
            int j = prod[in->src[k]];
            if (j < 0 || p->ins[j].root < 0 || uses[in->src[k]] != 1) continue;
            int rj = tg_program_root(p, j);
            p->ins[rj].root = i;
            int mem[TG_FUSED_MAX_INS + 1], n_mem, fin[TG_FUSED_MAX_IN], n_fin;
            if (group_of(p, i, mem, &n_mem, fin, &n_fin)) p->ins[rj].root = rj; /* too big: keep apart */
        }
    }
    /* the programs of groups of two or more */
    int rc = 0;
    for (int r = 0; r < p->n_ins && !rc; r++) {
        tg_instr *root = &p->ins[r];
        if (root->root != r) continue;
        int mem[TG_FUSED_MAX_INS], n_mem;
        if (group_of(p, r, mem, &n_mem, root->fin, &root->n_fin) || n_mem < 2) continue;
        tg_fused_code *code = tg_arena_alloc(&p->arena, sizeof *code, 16);
        if (!code) {
            rc = -1;
            break;
        }
        memset(code, 0, sizeof *code);
        code->n_in = root->n_fin;
        code->n_ins = n_mem;
        for (int k = 0; k < n_mem; k++) {
            const tg_instr *in = &p->ins[mem[k]];
            tg_fused_ins *fi = &code->ins[k];
            fi->op = (uint8_t)fu_op(p, in, &fi->imm);
            for (int q = 0; q < in->n_src && q < 2; q++) {
                int sl = in->src[q], reg = -1;
                for (int m = 0; m < k && reg < 0; m++)
                    if (p->ins[mem[m]].dst[0] == sl) reg = code->n_in + m;
                for (int m = 0; m < root->n_fin && reg < 0; m++)
                    if (root->fin[m] == sl) reg = m;
                if (q == 0) fi->a = fi->b = (uint8_t)reg;
                else fi->b = (uint8_t)reg;
            }
        }
        root->code = code;
        split_columns(p, r, uses, prod_all);
    }
    mark_absorbed_splits(p, uses);
    /* a lone elementwise instruction is not a group */
    for (int i = 0; i < p->n_ins; i++)
        if (p->ins[i].root >= 0 && !p->ins[tg_program_root(p, i)].code) p->ins[i].root = -1;
    p->fused = 1;
    tg_free(uses);
    tg_free(prod);
    tg_free(prod_all);
    return rc;
}

/* A fused group: one op, or, when its inputs' shapes do not fit one (a column
 * broadcast, say), its members one by one. */
void tg_program_run_group(tg_program *p, tg_tape *t, int r, tg_tensor **slots, tg_prog_error *e)
{
    tg_instr *root = &p->ins[r];
    tg_tensor *x[TG_FUSED_MAX_IN];
    int have = root->n_fin > 0; /* every input there (else the members report it) */
    for (int k = 0; k < root->n_fin; k++) have &= (x[k] = slots[root->fin[k]]) != NULL;
    if (have && tg_fused_fits(root->code, x, root->n_fin) < 0) {
        slots[root->dst[0]] = tg_fused(t, root->code, root->n_fin, x);
        return;
    }
    for (int j = 0; j < r && !t->err.code; j++) /* one by one: the splits it read in place run */
        for (int a = 0; a < p->ins[j].n_absorbers; a++)
            if (p->ins[j].absorbers[a] == r && p->ins[j].all_absorbed) {
                tg_tape_set_label(t, p->labels[p->ins[j].eq]);
                if (tg_program_run_split(p, t, &p->ins[j], slots, e)) return;
            }
    for (int j = 0; j <= r && !t->err.code; j++)
        if (p->ins[j].root >= 0 && tg_program_root(p, j) == r) {
            tg_tape_set_label(t, p->labels[p->ins[j].eq]);
            slots[p->ins[j].dst[0]] = tg_program_run_one(p, t, &p->ins[j], slots, e);
        }
}

/* ---- hoisting: the per-step part that does not depend on the state ---- */

/* Ops that treat each row (each sequence position) alike, so that running them once
 * on [B,T,C] equals running them on every step's [B,C]. */
static int rowwise(const tg_instr *in)
{
    if (in->fn == F_SCALE) return 1;
    if (in->fn == F_AUTO_MM) return !in->ta; /* x @ W: rows of x map to rows of the result */
    if (in->fn != F_OP) return 0;
    switch (in->op) {
    case TG_OP_ADD: case TG_OP_SUB: case TG_OP_MUL: case TG_OP_DIV: case TG_OP_NEG:
    case TG_OP_TANH: case TG_OP_SIGMOID: case TG_OP_RELU: case TG_OP_EXP: case TG_OP_LOG:
    case TG_OP_SQRT: case TG_OP_GELU:
        return 1;
    default: return 0;
    }
}

int tg_program_plan_hoist(tg_program *p, tg_tensor *const *slots)
{
    /* per slot: 0 unknown / per step, 1 invariant (a parameter or a number), 2 varies
     * with the step's input only */
    uint8_t *kind = tg_calloc((size_t)(p->n_slots ? p->n_slots : 1), 1);
    if (!kind) return -1;
    for (int i = 0; i < p->n_syms; i++) {
        const tg_symbol *s = &p->syms[i];
        if (s->in_slot < 0) continue;
        if (s->kind == TG_SYM_INPUT) kind[s->in_slot] = 2;
        if (s->kind == TG_SYM_PARAM) kind[s->in_slot] = 1;
    }
    p->n_hoist = 0;
    if (!p->bt && p->n_ins && !(p->bt = tg_arena_calloc(&p->arena, sizeof *p->bt * (size_t)p->n_ins, sizeof(void *)))) {
        tg_free(kind);
        return -1;
    }
    for (int i = 0; i < p->n_ins; i++) {
        tg_instr *in = &p->ins[i];
        in->hoist = 0;
        in->bt_ok = in->fn == F_AUTO_MM && in->tb && !in->ta && kind[in->src[1]] == 1 && slots[in->src[1]] &&
                    slots[in->src[1]]->ndim == 2;
        if (in->fn == F_CONST) {
            kind[in->dst[0]] = 1;
            continue;
        }
        if (!rowwise(in)) continue;
        int vary = 0, ok = 1;
        for (int k = 0; k < in->n_src && ok; k++) {
            int sl = in->src[k];
            if (kind[sl] == 2) {
                vary = 1;
                /* matmul: only the left operand may vary (x @ W, not W @ x) */
                if (in->fn == F_AUTO_MM && k == 1) ok = 0;
            } else if (kind[sl] == 1) {
                /* an invariant operand of a varying one must broadcast alike onto [B,C]
                 * and [B,T,C]: a number, a vector [C], or [1,C] */
                const tg_tensor *t = slots[sl];
                if (in->fn == F_AUTO_MM) ok = t && t->ndim == (k == 1 ? 2 : 1) && !(in->res && k == in->n_src - 1);
                else ok = !t || t->ndim <= 1 || (t->ndim == 2 && t->shape[0] == 1);
            } else {
                ok = 0;
            }
        }
        if (!ok || !vary) continue;
        in->hoist = 1;
        in->bt_ok = 0;
        kind[in->dst[0]] = 2;
        p->n_hoist++;
    }
    for (int i = 0; i < p->n_ins; i++) { /* a group half hoisted runs unfused */
        tg_instr *in = &p->ins[i];
        if (in->root >= 0 && in->hoist != p->ins[tg_program_root(p, i)].hoist) p->ins[tg_program_root(p, i)].fuse_off = 1;
    }
    tg_free(kind);
    p->planned = 1;
    return 0;
}

int tg_program_per_step_use(const tg_program *p, int slot)
{
    for (int i = 0; i < p->n_ins; i++) {
        const tg_instr *in = &p->ins[i];
        if (in->hoist) continue;
        for (int k = 0; k < in->n_src; k++)
            if (in->src[k] == slot) return 1;
    }
    for (int i = 0; i < p->n_syms; i++) /* a state's next value */
        if (p->syms[i].slot == slot && p->syms[i].kind == TG_SYM_STATE) return 1;
    return 0;
}

int tg_program_hoisted(const tg_program *p, int k)
{
    for (int i = 0; i < p->n_ins; i++)
        if (p->ins[i].hoist && k-- == 0) return p->ins[i].dst[0];
    return -1;
}

