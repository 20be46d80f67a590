/* cell.c: loading a cell or block file, checking it, instantiating it, running it
 * (see cell.h). Nothing here is specific to one cell: the math is in the equations. */
#include "models/cell.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/rng.h"
#include "models/init.h"
#include "ops/ops.h"

#define MAX_SIZE (1 << 24) /* any one dimension */
#define MAX_PARAM_ELEMS ((int64_t)1 << 31)

static const char *const KEYS[] = {"cell", "block", "doc", "hyper", "inputs", "state",
                                   "params", "equations", "output", NULL};
static const char *const PARAM_KEYS[] = {"shape", "init", "doc", NULL};

/* The status of a parse or compile error: its message is "out of memory" when that was
 * the cause (expr.h, program.h), else the file is at fault. */
static tg_status code_of(const char *msg) { return strcmp(msg, "out of memory") ? TG_ERR_CONFIG : TG_ERR_NOMEM; }

/* tg_program_declare fails on a clash (a name declared twice, or not a valid name) and
 * when out of memory: tells them apart. */
static int clash(const tg_cell *c, const char *name)
{
    return !name[0] || strlen(name) >= TG_NAME_MAX || tg_program_find((tg_program *)&c->prog, name);
}

static tg_status nomem(const tg_cell *c, tg_error *err)
{
    return tg_error_set_at(err, TG_ERR_NOMEM, c->cfg.path, 0, 0, "out of memory loading the cell");
}

static int hyper_lookup(void *ctx, const char *name, double *v)
{
    tg_cell *c = ctx;
    for (int i = 0; i < c->n_hyper; i++)
        if (!strcmp(c->hyper_name[i], name)) return *v = c->hyper[i], 0;
    return -1;
}

/* Parses and evaluates the numeric expression in scalar node n (hyper-parameters
 * allowed). */
static tg_status eval_num(tg_cell *c, const tg_cfg_node *n, const char *where, double *v,
                          tg_error *err)
{
    const char *s;
    if (tg_cfg_string(&c->cfg, n, where, &s, err)) return err->code;
    tg_arena a;
    tg_arena_init(&a);
    tg_parse_error pe;
    tg_expr *e = tg_expr_parse(&a, s, (int)strlen(s), &pe);
    int r = e ? tg_expr_eval(e, hyper_lookup, c, v, &pe) : -1;
    tg_arena_free(&a);
    if (r) {
        int line, col;
        char name[TG_NAME_MAX + 16], hint[TG_NAME_MAX + 24] = "";
        const char *cand[TG_CELL_MAX + 1], *s2;
        for (int i = 0; i < c->n_hyper; i++) cand[i] = c->hyper_name[i];
        cand[c->n_hyper] = NULL;
        if (sscanf(pe.msg, "unknown name '%79[^']'", name) == 1 && (s2 = tg_suggest(name, cand)))
            snprintf(hint, sizeof hint, " (did you mean '%s'?)", s2);
        tg_cfg_pos(&c->cfg, n, pe.pos, &line, &col);
        return tg_error_set_at(err, code_of(pe.msg), c->cfg.path, line, col, "'%s': %s%s", where, pe.msg, hint);
    }
    return TG_OK;
}

static tg_status eval_size(tg_cell *c, const tg_cfg_node *n, const char *where, int *out,
                           tg_error *err)
{
    double v;
    if (eval_num(c, n, where, &v, err)) return err->code;
    if (v != floor(v) || v < 1 || v > MAX_SIZE)
        return tg_cfg_error(&c->cfg, n, err, "'%s': a size must be an integer in [1, %d], got %g",
                            where, MAX_SIZE, v);
    *out = (int)v;
    return TG_OK;
}

static tg_status need_map(tg_cell *c, const tg_cfg_node *n, const char *where, tg_error *err)
{
    if (n && n->kind != TG_CFG_MAP)
        return tg_cfg_error(&c->cfg, n, err, "'%s' must be a map of names", where);
    return TG_OK;
}

static tg_status read_hyper(tg_cell *c, const tg_hyper_set *hs, tg_error *err)
{
    const tg_cfg_node *h = tg_cfg_get(c->cfg.root, "hyper");
    if (need_map(c, h, "hyper", err)) return err->code;
    for (int i = 0; h && i < h->n; i++) {
        if (c->n_hyper == TG_CELL_MAX)
            return tg_cfg_error(&c->cfg, h->items[i], err, "more than %d hyper-parameters", TG_CELL_MAX);
        char where[128];
        snprintf(where, sizeof where, "hyper.%s", h->keys[i]);
        snprintf(c->hyper_name[c->n_hyper], TG_NAME_MAX, "%s", h->keys[i]);
        if (tg_cfg_double(&c->cfg, h->items[i], where, -1e12, 1e12, &c->hyper[c->n_hyper], err))
            return err->code;
        c->n_hyper++;
    }
    for (int k = 0; hs && k < hs->n; k++) {
        int i = 0;
        while (i < c->n_hyper && strcmp(c->hyper_name[i], hs->name[k])) i++;
        if (i == c->n_hyper) {
            const char *cand[TG_CELL_MAX + 1];
            for (int j = 0; j < c->n_hyper; j++) cand[j] = c->hyper_name[j];
            cand[c->n_hyper] = NULL;
            const char *s = tg_suggest(hs->name[k], cand);
            char hint[96] = "";
            if (s) snprintf(hint, sizeof hint, " (did you mean '%s'?)", s);
            if (hs->cfg && hs->node[k])
                return tg_cfg_error(hs->cfg, hs->node[k], err, "'%s' is not a hyper-parameter of %s '%s'%s",
                                    hs->name[k], c->is_block ? "block" : "cell", c->name, hint);
            return tg_error_set(err, TG_ERR_CONFIG, "'%s' is not a hyper-parameter of %s '%s'%s",
                                hs->name[k], c->is_block ? "block" : "cell", c->name, hint);
        }
        c->hyper[i] = hs->value[k];
    }
    for (int i = 0; i < c->n_hyper; i++) {
        if (clash(c, c->hyper_name[i]))
            return tg_cfg_error(&c->cfg, h, err, "hyper-parameter '%s': the name is taken (B, T, causal_mask "
                                "and pad_mask are built in)", c->hyper_name[i]);
        if (tg_program_declare(&c->prog, c->hyper_name[i], TG_SYM_CONST, c->hyper[i])) return nomem(c, err);
    }
    return TG_OK;
}

/* Declares a tensor name, refusing clashes with hyper-parameters and other names. */
static tg_status declare(tg_cell *c, const tg_cfg_node *at, const char *name, tg_sym_kind kind,
                         tg_error *err)
{
    if (clash(c, name))
        return tg_cfg_error(&c->cfg, at, err, "the name '%s' is declared twice or is built in (B, T, "
                            "causal_mask, pad_mask)", name);
    return tg_program_declare(&c->prog, name, kind, 0) ? nomem(c, err) : TG_OK;
}

static tg_status read_inputs_state(tg_cell *c, tg_error *err)
{
    const tg_cfg_node *in = tg_cfg_get(c->cfg.root, "inputs");
    if (!in) return tg_cfg_error(&c->cfg, c->cfg.root, err, "missing 'inputs' (e.g. 'inputs: {x: input}')");
    if (need_map(c, in, "inputs", err)) return err->code;
    if (in->n != 1)
        return tg_cfg_error(&c->cfg, in, err, "'inputs' must name exactly one input, with its size");
    snprintf(c->input_name, TG_NAME_MAX, "%s", in->keys[0]);
    char where[160];
    snprintf(where, sizeof where, "inputs.%s", in->keys[0]);
    if (eval_size(c, in->items[0], where, &c->input_size, err)) return err->code;
    if (declare(c, in->items[0], c->input_name, TG_SYM_INPUT, err)) return err->code;

    const tg_cfg_node *st = tg_cfg_get(c->cfg.root, "state");
    if (need_map(c, st, "state", err)) return err->code;
    if (c->is_block && st && st->n)
        return tg_cfg_error(&c->cfg, st, err, "a block has no state (a recurrent cell does: use 'cell:')");
    if (!c->is_block && (!st || !st->n))
        return tg_cfg_error(&c->cfg, st ? st : c->cfg.root, err,
                            "a cell needs a 'state' (e.g. 'state: {h: hidden}')");
    for (int i = 0; st && i < st->n; i++) {
        if (c->n_state == TG_CELL_MAX) return tg_cfg_error(&c->cfg, st, err, "too many states");
        snprintf(c->state_name[c->n_state], TG_NAME_MAX, "%s", st->keys[i]);
        snprintf(where, sizeof where, "state.%s", st->keys[i]);
        if (eval_size(c, st->items[i], where, &c->state_size[c->n_state], err)) return err->code;
        if (declare(c, st->items[i], st->keys[i], TG_SYM_STATE, err)) return err->code;
        c->n_state++;
    }
    return TG_OK;
}

static tg_status read_param(tg_cell *c, const char *name, const tg_cfg_node *n, tg_cell_param *ps,
                            tg_error *err)
{
    char where[160];
    snprintf(where, sizeof where, "params.%s", name);
    if (tg_cfg_check_keys(&c->cfg, n, where, PARAM_KEYS, err)) return err->code;
    const tg_cfg_node *sh = tg_cfg_get(n, "shape"), *in = tg_cfg_get(n, "init");
    if (!sh || sh->kind != TG_CFG_SEQ || sh->n < 1 || sh->n > TG_MAX_DIMS)
        return tg_cfg_error(&c->cfg, sh ? sh : n, err,
                            "'%s.shape': expected a list of 1 to %d sizes, e.g. [input, 4*hidden]",
                            where, TG_MAX_DIMS);
    ps->ndim = sh->n;
    int64_t numel = 1;
    for (int i = 0; i < sh->n; i++) {
        char w[192];
        snprintf(w, sizeof w, "%s.shape[%d]", where, i);
        if (eval_size(c, sh->items[i], w, &ps->shape[i], err)) return err->code;
        numel *= ps->shape[i];
        if (numel > MAX_PARAM_ELEMS)
            return tg_cfg_error(&c->cfg, sh, err, "'%s.shape': more than 2^31 elements", where);
    }
    ps->node = n;
    ps->init = TG_INIT_ZEROS;
    if (!in) return TG_OK;
    const char *s;
    snprintf(where + strlen(where), sizeof where - strlen(where), ".init");
    if (tg_cfg_string(&c->cfg, in, where, &s, err)) return err->code;
    tg_arena a;
    tg_arena_init(&a);
    tg_parse_error pe;
    tg_expr *e = tg_expr_parse(&a, s, (int)strlen(s), &pe);
    int min, max, line, col;
    tg_status st = TG_OK;
    if (!e) {
        tg_cfg_pos(&c->cfg, in, pe.pos, &line, &col);
        st = tg_error_set_at(err, code_of(pe.msg), c->cfg.path, line, col, "'%s': %s", where, pe.msg);
    } else if ((e->kind != TG_EX_NAME && e->kind != TG_EX_CALL) ||
               (ps->init = tg_init_find(e->name, &min, &max)) < 0) {
        st = tg_cfg_error(&c->cfg, in, err,
                          "'%s': unknown initializer '%s' (zeros, ones, constant(v), uniform(a), "
                          "normal(std), xavier or glorot, orthogonal, identity(scale))", where, s);
    } else if (e->n < min || e->n > max) {
        st = tg_cfg_error(&c->cfg, in, err, "'%s': %s takes %d%s argument%s", where, e->name, min,
                          max > min ? " or 1" : "", max == 1 ? "" : "s");
    } else if (e->n == 1) {
        ps->has_arg = 1;
        if (tg_expr_eval(e->args[0], hyper_lookup, c, &ps->arg, &pe)) {
            tg_cfg_pos(&c->cfg, in, pe.pos, &line, &col);
            st = tg_error_set_at(err, code_of(pe.msg), c->cfg.path, line, col, "'%s': %s", where, pe.msg);
        }
    }
    tg_arena_free(&a);
    return st;
}

tg_status tg_cell_error(const tg_cell *c, const tg_prog_error *pe, tg_error *err)
{
    int line = 0, col = 0;
    if (pe->pos >= 0) tg_cfg_pos(&c->cfg, c->eq_node, pe->pos, &line, &col);
    else line = c->eq_node->line, col = c->eq_node->col;
    return tg_error_set_at(err, code_of(pe->msg), c->cfg.path, line, col, "%s", pe->msg);
}

/* Runs the equations on shape-only tensors (B = 2, T = 3) and checks every state. */
static tg_status infer_shapes(tg_cell *c, const tg_cell_param *ps, tg_error *err)
{
    tg_tape *t = tg_tape_new(TG_F64, err);
    if (!t) return err->code;
    tg_tape_shape_only_begin(t);
    tg_tensor *slots_buf[1024], **slots = slots_buf;
    tg_status st = TG_OK;
    if (c->prog.n_slots > 1024) {
        st = tg_error_set(err, TG_ERR_CONFIG, "%s: too many equations", c->cfg.path);
        goto out;
    }
    tg_tensor *x = c->is_block ? tg_tape_tensor(t, TG_F64, 3, (int[]){2, 3, c->input_size})
                               : tg_tape_tensor(t, TG_F64, 2, (int[]){2, c->input_size});
    tg_tensor *state[TG_CELL_MAX], *next[TG_CELL_MAX];
    for (int i = 0; i < c->n_state; i++)
        state[i] = tg_tape_tensor(t, TG_F64, 2, (int[]){2, c->state_size[i]});
    for (int i = 0; i < c->n_params; i++) {
        tg_tensor *p = tg_tape_tensor(t, TG_F64, ps[i].ndim, ps[i].shape);
        if (p) p->requires_grad = 1;
        slots[tg_program_find(&c->prog, c->params[i].name)->in_slot] = p;
    }
    tg_tensor *cm = tg_tape_tensor(t, TG_F64, 2, (int[]){3, 3});
    tg_tensor *pm = tg_tape_tensor(t, TG_F64, 4, (int[]){2, 1, 1, 3});
    tg_tensor *y = tg_cell_run(c, t, slots, x, state, next, 2, c->is_block ? 3 : 1, cm, pm, err);
    if (!y) {
        st = err->code ? err->code : (tg_status)tg_error_set(err, TG_ERR_CONFIG, "%s: shape check failed", c->cfg.path);
        goto out;
    }
    for (int i = 0; i < c->n_state; i++) {
        const tg_symbol *s = tg_program_find(&c->prog, c->state_name[i]);
        const tg_tensor *v = next[i];
        if (v->ndim != 2 || v->shape[0] != 2 || v->shape[1] != c->state_size[i]) {
            char sh[64];
            tg_prog_error pe = {c->prog.eqs[s->assigned_eq].start, ""};
            snprintf(pe.msg, sizeof pe.msg,
                     "in '%s': state '%s' is declared with size %d ([B,%d]) but its equation gives %s "
                     "(with B = 2)", c->prog.labels[s->assigned_eq], c->state_name[i], c->state_size[i],
                     c->state_size[i], tg_shape_str(v, sh, sizeof sh));
            st = tg_cell_error(c, &pe, err);
            goto out;
        }
    }
    int want = c->is_block ? 3 : 2;
    if (y->ndim != want || y->shape[0] != 2 || (c->is_block && y->shape[1] != 3)) {
        char sh[64];
        const tg_cfg_node *o = tg_cfg_get(c->cfg.root, "output");
        st = tg_cfg_error(&c->cfg, o, err, "output '%s' has shape %s with B = 2%s; a %s's output must be %s",
                          c->output_name, tg_shape_str(y, sh, sizeof sh), c->is_block ? ", T = 3" : "",
                          c->is_block ? "block" : "cell", c->is_block ? "[B,T,size]" : "[B,size]");
        goto out;
    }
    c->output_size = y->shape[want - 1];
out:
    tg_tape_free(t);
    return st;
}

tg_status tg_cell_prepare(tg_cell *c, const char *path, const tg_hyper_set *hyper, tg_error *err)
{
    memset(c, 0, sizeof *c);
    tg_program_init(&c->prog);
    tg_cell_param *ps = c->params;
    if (tg_cfg_load_file(&c->cfg, path, err)) goto fail;
    const tg_cfg_node *root = c->cfg.root;
    if (!root) {
        tg_error_set_at(err, TG_ERR_CONFIG, path, 0, 0, "the file is empty");
        goto fail;
    }
    if (tg_cfg_check_keys(&c->cfg, root, "", KEYS, err)) goto fail;
    const tg_cfg_node *nm = tg_cfg_get(root, "cell"), *bl = tg_cfg_get(root, "block");
    if (!nm == !bl) {
        tg_cfg_error(&c->cfg, root, err, "the file must start with 'cell: NAME' or 'block: NAME'");
        goto fail;
    }
    c->is_block = bl != NULL;
    const char *s;
    if (tg_cfg_string(&c->cfg, nm ? nm : bl, nm ? "cell" : "block", &s, err)) goto fail;
    snprintf(c->name, sizeof c->name, "%s", s);
    /* the built-in names first, so that a hyper-parameter, input or state cannot take one */
    if (tg_program_declare(&c->prog, "B", TG_SYM_DIM, 0) || tg_program_declare(&c->prog, "T", TG_SYM_DIM, 0) ||
        (c->is_block && (tg_program_declare(&c->prog, "causal_mask", TG_SYM_INPUT, 0) ||
                         tg_program_declare(&c->prog, "pad_mask", TG_SYM_INPUT, 0)))) {
        nomem(c, err);
        goto fail;
    }
    if (read_hyper(c, hyper, err) || read_inputs_state(c, err)) goto fail;

    const tg_cfg_node *pn = tg_cfg_get(root, "params");
    if (need_map(c, pn, "params", err)) goto fail;
    for (int i = 0; pn && i < pn->n; i++) {
        if (c->n_params == TG_CELL_MAX) {
            tg_cfg_error(&c->cfg, pn, err, "more than %d parameters", TG_CELL_MAX);
            goto fail;
        }
        tg_cell_param *p = &c->params[c->n_params];
        snprintf(p->name, sizeof p->name, "%s", pn->keys[i]);
        if (read_param(c, p->name, pn->items[i], p, err)) goto fail;
        if (declare(c, pn->items[i], p->name, TG_SYM_PARAM, err)) goto fail;
        c->n_params++;
    }

    c->eq_node = tg_cfg_get(root, "equations");
    if (!c->eq_node || c->eq_node->kind != TG_CFG_SCALAR) {
        tg_cfg_error(&c->cfg, c->eq_node ? c->eq_node : root, err,
                     "missing 'equations: |' followed by one equation per line");
        goto fail;
    }
    tg_prog_error pe;
    if (tg_program_compile(&c->prog, c->eq_node->value, (int)strlen(c->eq_node->value), &pe)) {
        if (pe.pos < 0 && !strncmp(pe.msg, "state '", 7)) { /* point at the state's declaration */
            const tg_cfg_node *st = tg_cfg_get(root, "state");
            tg_cfg_error(&c->cfg, st, err, "%s", pe.msg);
        } else {
            tg_cell_error(c, &pe, err);
        }
        goto fail;
    }
    const tg_cfg_node *out = tg_cfg_get(root, "output");
    if (!out) {
        tg_cfg_error(&c->cfg, root, err, "missing 'output: NAME' (the value passed on, e.g. h)");
        goto fail;
    }
    if (tg_cfg_string(&c->cfg, out, "output", &s, err)) goto fail;
    tg_symbol *os = tg_program_find(&c->prog, s);
    if (!os || os->kind == TG_SYM_CONST || os->kind == TG_SYM_DIM || os->slot < 0) {
        tg_cfg_error(&c->cfg, out, err, "output '%s' is not defined by the equations", s);
        goto fail;
    }
    snprintf(c->output_name, sizeof c->output_name, "%s", s);
    for (int i = 0; i < c->n_params; i++) {
        c->params[i].sym = (int)(tg_program_find(&c->prog, c->params[i].name) - c->prog.syms);
        if (!c->prog.syms[c->params[i].sym].uses && c->n_warnings < 4) {
            const tg_cfg_node *n = ps[i].node;
            snprintf(c->warnings[c->n_warnings++], sizeof c->warnings[0],
                     "%s:%d:%d: warning: parameter '%s' is never used in the equations", path,
                     n->line, n->col, c->params[i].name);
        }
    }
    if (infer_shapes(c, ps, err)) goto fail;
    return TG_OK;
fail:
    tg_cell_free(c);
    return err->code ? err->code : (tg_status)TG_ERR_CONFIG;
}

tg_status tg_cell_alloc(tg_cell *c, tg_dtype dtype, uint64_t seed, tg_error *err)
{
    tg_rng rng = {seed};
    for (int i = 0; i < c->n_params; i++) {
        tg_cell_param *p = &c->params[i];
        if (!(p->t = tg_tensor_new(dtype, p->ndim, p->shape, 1, err))) return err->code;
        p->t->name = p->name;
        char msg[160];
        if (tg_init_fill(p->t, p->init, p->arg, p->has_arg, &rng, msg, sizeof msg))
            return tg_cfg_error(&c->cfg, tg_cfg_get(p->node, "init"), err, "'params.%s.init': %s", p->name, msg);
    }
    return TG_OK;
}

/* ---- the memory limit ---- */

static uint64_t memory_limit; /* 0: the default */

void tg_set_memory_limit(uint64_t bytes) { memory_limit = bytes; }

uint64_t tg_memory_limit(void)
{
    if (memory_limit) return memory_limit;
    const char *s = getenv("TG_MEMORY_LIMIT");
    if (s && *s) {
        char *end;
        double v = strtod(s, &end);
        const char *units = "KMGT", *u = *end ? strchr(units, *end) : NULL;
        if (u && *end) v *= pow(1024, (double)(u - units + 1)), end++;
        if (!*end && v >= 1 && v < 1.8e19) return (uint64_t)v;
    }
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0) return (uint64_t)1 << 32; /* unknown: 4 GiB */
    return (uint64_t)pages * (uint64_t)size / 2;
}

const char *tg_bytes_str(double bytes, char *buf, int n)
{
    static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    int k = 0;
    while (bytes >= 1024 && k < 6) bytes /= 1024, k++;
    if (k == 0) snprintf(buf, n, "%.0f bytes", bytes);
    else snprintf(buf, n, bytes < 10 ? "%.1f %s" : "%.0f %s", bytes, unit[k]);
    return buf;
}

/* The parameters of a cell loaded alone against the memory limit: the error names the
 * largest parameter, at its shape. */
static tg_status check_memory(tg_cell *c, tg_dtype dtype, tg_error *err)
{
    int64_t total = 0;
    int big = -1;
    for (int i = 0; i < c->n_params; i++) {
        int64_t n = tg_shape_numel(c->params[i].ndim, c->params[i].shape);
        total += n;
        if (big < 0 || n > tg_shape_numel(c->params[big].ndim, c->params[big].shape)) big = i;
    }
    double need = (double)total * (double)tg_dtype_size(dtype) * TG_MEMORY_COPIES;
    uint64_t limit = tg_memory_limit();
    if (big < 0 || need <= (double)limit) return TG_OK;
    char a[32], b[32];
    return tg_cfg_error(&c->cfg, tg_cfg_get(c->params[big].node, "shape"), err,
                        "the %lld parameters of %s '%s' need %s with their gradients and optimizer state, "
                        "more than the memory limit of %s (the largest is '%s'; TG_MEMORY_LIMIT sets the limit)",
                        (long long)total, c->is_block ? "block" : "cell", c->name,
                        tg_bytes_str(need, a, sizeof a), tg_bytes_str((double)limit, b, sizeof b),
                        c->params[big].name);
}

tg_status tg_cell_load(tg_cell *c, const char *path, const tg_hyper_set *hyper, tg_dtype dtype,
                       uint64_t seed, tg_error *err)
{
    if (tg_cell_prepare(c, path, hyper, err)) return err->code;
    if (check_memory(c, dtype, err) || tg_cell_alloc(c, dtype, seed, err)) {
        tg_cell_free(c);
        return err->code;
    }
    return TG_OK;
}

void tg_cell_free(tg_cell *c)
{
    for (int i = 0; i < c->n_params; i++) tg_tensor_free(c->params[i].t);
    tg_program_free(&c->prog);
    tg_cfg_free(&c->cfg);
    memset(c, 0, sizeof *c);
}

tg_tensor *tg_cell_run(tg_cell *c, tg_tape *tape, tg_tensor **slots, tg_tensor *x,
                       tg_tensor *const *state, tg_tensor **state_out, int B, int T,
                       tg_tensor *causal_mask, tg_tensor *pad_mask, tg_error *err)
{
    tg_program *p = &c->prog;
    p->dim_B = B;
    p->dim_T = T;
    slots[tg_program_find(p, c->input_name)->in_slot] = x;
    for (int i = 0; i < c->n_state; i++) {
        tg_tensor *s = state ? state[i] : NULL;
        if (!s) s = tg_tape_zeros(tape, x ? x->dtype : tape->dtype, 2, (int[]){B, c->state_size[i]});
        slots[tg_program_find(p, c->state_name[i])->in_slot] = s;
    }
    for (int i = 0; i < c->n_params; i++) {
        tg_symbol *s = &p->syms[c->params[i].sym];
        if (c->params[i].t) slots[s->in_slot] = c->params[i].t;
    }
    if (c->is_block) {
        slots[tg_program_find(p, "causal_mask")->in_slot] = causal_mask;
        slots[tg_program_find(p, "pad_mask")->in_slot] = pad_mask;
    }
    if (tg_tape_status(tape)) { /* an input could not be made (out of memory) */
        if (!err->code) *err = *tg_tape_error(tape);
        return NULL;
    }
    tg_prog_error pe;
    if (tg_program_run(p, tape, slots, &pe)) {
        int had = err->code != TG_OK;
        tg_cell_error(c, &pe, err);
        if (!had && tg_tape_status(tape) == TG_ERR_NOMEM) err->code = TG_ERR_NOMEM;
        return NULL;
    }
    for (int i = 0; state_out && i < c->n_state; i++)
        state_out[i] = slots[tg_program_find(p, c->state_name[i])->slot];
    return slots[tg_program_find(p, c->output_name)->slot];
}

tg_tensor *tg_causal_mask(tg_tape *t, int T)
{
    tg_tensor *cm = tg_tape_zeros(t, t->dtype, 2, (int[]){T, T});
    for (int i = 0; cm && cm->data && i < T; i++)
        for (int j = i + 1; j < T; j++) tg_tensor_set(cm, (int64_t)i * T + j, 1);
    return cm;
}
