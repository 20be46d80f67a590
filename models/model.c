/* model.c: loading a model config and unrolling it over a batch on the tape (see
 * model.h). The cells' math is in their YAML; this file only wires inputs, layers, the
 * head and the loss, and steps cells through time. */
#include "models/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "graph/alloc.h"
#include "graph/rng.h"
#include "models/init.h"
#include "ops/ops.h"

#ifndef TG_CONFIG_DIR
#define TG_CONFIG_DIR "configs"
#endif

static const char *const TOP_KEYS[] = {"model", "data", "train", "run", NULL};
static const char *const MODEL_KEYS[] = {"input", "layers", "head", "loss", "init", NULL};
static const char *const INPUT_KEYS[] = {"type", "vocab", "dim", "positions", "max_len", NULL};
static const char *const INPUT_TYPES[] = {"embedding", "one_hot", "dense", NULL};
static const char *const POS_TYPES[] = {"none", "learned", "sinusoidal", NULL};
static const char *const HEAD_KEYS[] = {"out", "bias", NULL};
static const char *const LOSS_KEYS[] = {"type", "on", NULL};
static const char *const LOSS_TYPES[] = {"cross_entropy", "mse", "half_sse", NULL};
static const char *const LOSS_ON[] = {"every", "last", NULL};

static tg_status add_param(tg_model *m, const char *name, tg_tensor *t, tg_error *err)
{
    if (m->n_params == TG_MODEL_MAX_PARAMS)
        return tg_error_set(err, TG_ERR_CONFIG, "%s: more than %d parameter tensors", m->cfg.path,
                            TG_MODEL_MAX_PARAMS);
    tg_model_param *p = &m->params[m->n_params++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->t = t;
    t->name = p->name;
    return TG_OK;
}

static tg_tensor *new_param(tg_model *m, const char *name, int ndim, const int *shape,
                            tg_init_kind init, double arg, tg_rng *rng, tg_error *err)
{
    tg_tensor *t = tg_tensor_new(m->dtype, ndim, shape, 1, err);
    if (!t) return NULL;
    char msg[64];
    tg_init_fill(t, init, arg, 1, rng, msg, sizeof msg);
    if (add_param(m, name, t, err)) {
        tg_tensor_free(t);
        return NULL;
    }
    return t;
}

/* An int field of a map: absent -> def (or an error when def < 0). */
static tg_status get_int(tg_model *m, const tg_cfg_node *map, const char *key, const char *where,
                         long lo, long hi, long def, long *out, tg_error *err)
{
    const tg_cfg_node *n = tg_cfg_get(map, key);
    char w[128];
    snprintf(w, sizeof w, "%s.%s", where, key);
    if (!n) {
        if (def < 0) return tg_cfg_error(&m->cfg, map, err, "'%s' is missing", w);
        *out = def;
        return TG_OK;
    }
    return tg_cfg_int(&m->cfg, n, w, lo, hi, out, err);
}

static tg_status get_enum(tg_model *m, const tg_cfg_node *map, const char *key, const char *where,
                          const char *const *choices, int def, int *out, tg_error *err)
{
    const tg_cfg_node *n = tg_cfg_get(map, key);
    char w[128];
    snprintf(w, sizeof w, "%s.%s", where, key);
    if (!n) {
        *out = def;
        return TG_OK;
    }
    return tg_cfg_enum(&m->cfg, n, w, choices, out, err);
}

/* The file of a cell/block named in a layer. */
static tg_status resolve(tg_model *m, const tg_cfg_node *n, const char *kind, const char *where,
                         char *path, int len, tg_error *err)
{
    const char *name;
    if (tg_cfg_string(&m->cfg, n, where, &name, err)) return err->code;
    char dir[1024];
    tg_cfg_dir(&m->cfg, n, dir, sizeof dir);
    size_t nl = strlen(name);
    if (strchr(name, '/') || (nl > 5 && !strcmp(name + nl - 5, ".yaml"))) {
        snprintf(path, len, "%s%s", name[0] == '/' ? "" : dir, name);
        if (access(path, R_OK) == 0) return TG_OK;
        return tg_cfg_error(&m->cfg, n, err, "'%s': cannot read %s file '%s'", where, kind, path);
    }
    char tried[2][1100];
    snprintf(tried[0], sizeof tried[0], "%s%ss/%s.yaml", dir, kind, name);
    snprintf(tried[1], sizeof tried[1], "%s/%ss/%s.yaml", TG_CONFIG_DIR, kind, name);
    for (int i = 0; i < 2; i++)
        if (access(tried[i], R_OK) == 0) {
            snprintf(path, len, "%.1099s", tried[i]);
            return TG_OK;
        }
    return tg_cfg_error(&m->cfg, n, err, "'%s': no %s named '%s' (looked for %.400s and %.400s)", where,
                        kind, name, tried[0], tried[1]);
}

/* An error inside a layer's cell file: say which layer of the model uses it. */
static tg_status layer_note(tg_model *m, const tg_cfg_node *ln, const char *where, tg_error *err)
{
    if (strcmp(err->file, m->cfg.path)) {
        char note[200];
        snprintf(note, sizeof note, " (for %s:%d:%d, %s)", m->cfg.path, ln->line, ln->col, where);
        size_t l = strlen(err->msg);
        if (l + strlen(note) < sizeof err->msg) memcpy(err->msg + l, note, strlen(note) + 1);
    }
    return err->code;
}

/* Loads layer i's cell or block file and checks its shapes; its parameters are
 * allocated later (alloc_layers), once the sizes of the whole model are known. */
static tg_status load_layer(tg_model *m, const tg_cfg_node *ln, int i, tg_error *err)
{
    char where[64];
    snprintf(where, sizeof where, "model.layers[%d]", i);
    if (ln->kind != TG_CFG_MAP)
        return tg_cfg_error(&m->cfg, ln, err, "'%s' must be a map such as {cell: lstm, hidden: 256}", where);
    int ci = tg_cfg_key_index(ln, "cell"), bi = tg_cfg_key_index(ln, "block");
    if ((ci < 0) == (bi < 0))
        return tg_cfg_error(&m->cfg, ln, err, "'%s' needs exactly one of 'cell: NAME' or 'block: NAME'", where);
    int ki = ci >= 0 ? ci : bi;
    char path[1200], w[96];
    snprintf(w, sizeof w, "%s.%s", where, ci >= 0 ? "cell" : "block");
    if (resolve(m, ln->items[ki], ci >= 0 ? "cell" : "block", w, path, sizeof path, err)) return err->code;
    tg_hyper_set hs = {.cfg = &m->cfg};
    hs.name[hs.n] = "input";
    hs.value[hs.n++] = i ? m->layers[i - 1].output_size : m->in_dim;
    for (int k = 0; k < ln->n; k++) {
        if (k == ki) continue;
        if (hs.n == TG_CELL_MAX) return tg_cfg_error(&m->cfg, ln, err, "too many hyper-parameters");
        if (!strcmp(ln->keys[k], "input"))
            return tg_cfg_error(&m->cfg, ln->items[k], err,
                                "'%s.input' is set by the model (the previous layer's width)", where);
        snprintf(w, sizeof w, "%s.%s", where, ln->keys[k]);
        if (tg_cfg_double(&m->cfg, ln->items[k], w, -1e12, 1e12, &hs.value[hs.n], err)) return err->code;
        hs.name[hs.n] = ln->keys[k];
        hs.node[hs.n++] = ln->items[k];
    }
    tg_cell *c = &m->layers[i];
    if (tg_cell_prepare(c, path, &hs, err)) return layer_note(m, ln, where, err);
    m->n_layers = i + 1;
    m->n_state += c->n_state;
    for (int k = 0; k < c->n_warnings && m->n_warnings < 8; k++)
        memcpy(m->warnings[m->n_warnings++], c->warnings[k], sizeof c->warnings[k]);
    return TG_OK;
}

/* ---- sizes before allocation ---- */

#define MAX_PARAM_ELEMS ((int64_t)1 << 31) /* as for cell parameters */

/* Every parameter the model will allocate, with the config node it comes from. */
typedef struct plan_item {
    char name[96];
    int ndim, shape[TG_MAX_DIMS];
    const tg_cfg_node *at;  /* in the model config */
    const char *where;      /* its key path there ("model.input", "model.layers[0]") */
} plan_item;

static int64_t plan_numel(const plan_item *p)
{
    int64_t n = 1;
    for (int k = 0; k < p->ndim; k++) n *= p->shape[k];
    return n;
}

/* Each parameter at most 2^31 elements; all of them, TG_MEMORY_COPIES copies each,
 * within the memory limit. Nothing is allocated yet. */
static tg_status check_sizes(tg_model *m, const plan_item *p, int n, tg_error *err)
{
    int64_t total = 0;
    int big = 0;
    char sh[128], a[32], b[32];
    for (int i = 0; i < n; i++) {
        int64_t k = plan_numel(&p[i]);
        tg_tensor view = {.ndim = p[i].ndim};
        memcpy(view.shape, p[i].shape, sizeof view.shape);
        tg_shape_str(&view, sh, sizeof sh);
        if (k > MAX_PARAM_ELEMS)
            return tg_cfg_error(&m->cfg, p[i].at, err, "'%s': parameter '%s' %s has %lld elements, more than 2^31",
                                p[i].where, p[i].name, sh, (long long)k);
        total += k;
        if (k > plan_numel(&p[big])) big = i;
    }
    double need = (double)total * (double)tg_dtype_size(m->dtype) * TG_MEMORY_COPIES;
    uint64_t limit = tg_memory_limit();
    if (n == 0 || need <= (double)limit) return TG_OK;
    tg_tensor view = {.ndim = p[big].ndim};
    memcpy(view.shape, p[big].shape, sizeof view.shape);
    return tg_cfg_error(&m->cfg, p[big].at, err,
                        "the model's %lld parameters need %s with their gradients and optimizer state, more than "
                        "the memory limit of %s; the largest is '%s' %s, of '%s' (TG_MEMORY_LIMIT sets the limit)",
                        (long long)total, tg_bytes_str(need, a, sizeof a), tg_bytes_str((double)limit, b, sizeof b),
                        p[big].name, tg_shape_str(&view, sh, sizeof sh), p[big].where);
}

/* Flattens a nested list of numbers of exactly `shape` into v; returns the count. */
static tg_status flatten(tg_model *m, const tg_cfg_node *n, const char *where, const tg_tensor *p, int dim,
                         double *v, int64_t *k, tg_error *err)
{
    char s[64];
    if (dim == p->ndim) return tg_cfg_double(&m->cfg, n, where, -1e30, 1e30, &v[(*k)++], err);
    if (n->kind != TG_CFG_SEQ || n->n != p->shape[dim])
        return tg_cfg_error(&m->cfg, n, err, "'%s': expected a list of %d %s for shape %s", where, p->shape[dim],
                            dim + 1 == p->ndim ? "numbers" : "lists", tg_shape_str(p, s, sizeof s));
    for (int i = 0; i < n->n; i++)
        if (flatten(m, n->items[i], where, p, dim + 1, v, k, err)) return err->code;
    return TG_OK;
}

/* model.init: {param.path: nested list} sets parameters' initial values. */
static tg_status init_values(tg_model *m, const tg_cfg_node *init, tg_error *err)
{
    if (!init) return TG_OK;
    if (init->kind != TG_CFG_MAP)
        return tg_cfg_error(&m->cfg, init, err, "'model.init' must map parameter names to values");
    for (int i = 0; i < init->n; i++) {
        tg_tensor *p = NULL;
        const char *cand[TG_MODEL_MAX_PARAMS + 1];
        for (int k = 0; k < m->n_params; k++) {
            cand[k] = m->params[k].name;
            if (!strcmp(m->params[k].name, init->keys[i])) p = m->params[k].t;
        }
        cand[m->n_params] = NULL;
        char where[160];
        snprintf(where, sizeof where, "model.init.%s", init->keys[i]);
        if (!p) {
            const char *s = tg_suggest(init->keys[i], cand);
            tg_cfg_node key = {.line = init->key_line[i], .col = init->key_col[i]};
            return tg_cfg_error(&m->cfg, &key, err, "'%s': the model has no parameter '%s'%s%s%s", where,
                                init->keys[i], s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        }
        double *v = tg_malloc(sizeof *v * (size_t)p->numel);
        int64_t k = 0;
        if (!v) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        if (!flatten(m, init->items[i], where, p, 0, v, &k, err)) tg_tensor_fill_from(p, v);
        tg_free(v);
        if (err->code) return err->code;
    }
    return TG_OK;
}

tg_status tg_model_load(tg_model *m, const char *path, const char *const *overrides, int n_over,
                        tg_dtype dtype, uint64_t seed, tg_error *err)
{
    memset(m, 0, sizeof *m);
    m->dtype = dtype;
    tg_rng rng = {seed};
    if (tg_cfg_load_with(&m->cfg, path, overrides, n_over, err)) return err->code;
    const tg_cfg_node *root = m->cfg.root;
    if (!root) {
        tg_error_set_at(err, TG_ERR_CONFIG, path, 0, 0, "the file is empty");
        goto fail;
    }
    if (tg_cfg_check_keys(&m->cfg, root, "", TOP_KEYS, err)) goto fail;
    const tg_cfg_node *mn = tg_cfg_get(root, "model");
    if (!mn) {
        tg_cfg_error(&m->cfg, root, err, "missing 'model:' (input, layers, head, loss)");
        goto fail;
    }
    if (tg_cfg_check_keys(&m->cfg, mn, "model", MODEL_KEYS, err)) goto fail;

    /* input */
    const tg_cfg_node *in = tg_cfg_get(mn, "input");
    if (!in) {
        tg_cfg_error(&m->cfg, mn, err, "'model.input' is missing (e.g. {type: embedding, vocab: 65, dim: 128})");
        goto fail;
    }
    if (tg_cfg_check_keys(&m->cfg, in, "model.input", INPUT_KEYS, err)) goto fail;
    int kind, pos;
    long v;
    if (get_enum(m, in, "type", "model.input", INPUT_TYPES, 0, &kind, err)) goto fail;
    m->input = kind;
    if (m->input != TG_IN_DENSE) {
        if (get_int(m, in, "vocab", "model.input", 1, 1 << 24, -1, &v, err)) goto fail;
        m->vocab = (int)v;
    }
    if (m->input == TG_IN_ONE_HOT) m->in_dim = m->vocab;
    else {
        if (get_int(m, in, "dim", "model.input", 1, 1 << 20, -1, &v, err)) goto fail;
        m->in_dim = (int)v;
    }
    if (get_enum(m, in, "positions", "model.input", POS_TYPES, 0, &pos, err)) goto fail;
    m->pos = pos;
    if (m->pos == TG_POS_LEARNED) {
        if (get_int(m, in, "max_len", "model.input", 1, 1 << 20, -1, &v, err)) goto fail;
        m->max_len = (int)v;
    }
    /* layers */
    const tg_cfg_node *ls = tg_cfg_get(mn, "layers");
    if (ls && ls->kind != TG_CFG_SEQ) {
        tg_cfg_error(&m->cfg, ls, err, "'model.layers' must be a list of layers");
        goto fail;
    }
    if (ls && ls->n > TG_MODEL_MAX_LAYERS) {
        tg_cfg_error(&m->cfg, ls, err, "'model.layers': at most %d layers", TG_MODEL_MAX_LAYERS);
        goto fail;
    }
    for (int i = 0; ls && i < ls->n; i++)
        if (load_layer(m, ls->items[i], i, err)) goto fail;
    m->width = m->n_layers ? m->layers[m->n_layers - 1].output_size : m->in_dim;

    /* loss and head */
    const tg_cfg_node *lo = tg_cfg_get(mn, "loss");
    int lk = 0, on = 0;
    if (lo && tg_cfg_check_keys(&m->cfg, lo, "model.loss", LOSS_KEYS, err)) goto fail;
    if (lo && (get_enum(m, lo, "type", "model.loss", LOSS_TYPES, 0, &lk, err) ||
               get_enum(m, lo, "on", "model.loss", LOSS_ON, 0, &on, err)))
        goto fail;
    m->loss = lk;
    m->loss_last = on;
    const tg_cfg_node *hd = tg_cfg_get(mn, "head");
    if (hd && tg_cfg_check_keys(&m->cfg, hd, "model.head", HEAD_KEYS, err)) goto fail;
    long def_out = m->input != TG_IN_DENSE && m->loss == TG_LOSS_CROSS_ENTROPY ? m->vocab : -1;
    if (def_out < 0 && !tg_cfg_get(hd, "out")) {
        tg_cfg_error(&m->cfg, hd ? hd : mn, err,
                     "'model.head.out' is missing: with %s, give the number of outputs "
                     "(e.g. head: {out: 1})", m->input == TG_IN_DENSE ? "a dense input" : "an mse loss");
        goto fail;
    }
    if (get_int(m, hd ? hd : mn, "out", "model.head", 1, 1 << 24, def_out, &v, err)) goto fail;
    m->out = (int)v;
    m->head_bias = 1;
    const tg_cfg_node *hb = tg_cfg_get(hd, "bias");
    if (hb && tg_cfg_bool(&m->cfg, hb, "model.head.bias", &m->head_bias, err)) goto fail;

    /* every size is known: check them all, then allocate in the order of m->params */
    plan_item plan[TG_MODEL_MAX_PARAMS + 4];
    char layer_where[TG_MODEL_MAX_LAYERS][32];
    int np = 0, n_total = (m->input == TG_IN_EMBEDDING) + (m->pos == TG_POS_LEARNED) + 1 + m->head_bias;
    for (int i = 0; i < m->n_layers; i++) {
        snprintf(layer_where[i], sizeof layer_where[i], "model.layers[%d]", i);
        n_total += m->layers[i].n_params;
    }
    if (n_total > TG_MODEL_MAX_PARAMS) {
        tg_error_set(err, TG_ERR_CONFIG, "%s: more than %d parameter tensors", m->cfg.path, TG_MODEL_MAX_PARAMS);
        goto fail;
    }
    if (m->input == TG_IN_EMBEDDING)
        plan[np++] = (plan_item){"embedding.weight", 2, {m->vocab, m->in_dim}, in, "model.input"};
    if (m->pos == TG_POS_LEARNED)
        plan[np++] = (plan_item){"positions.weight", 2, {m->max_len, m->in_dim}, in, "model.input"};
    for (int i = 0; i < m->n_layers; i++) {
        const tg_cell *c = &m->layers[i];
        for (int k = 0; k < c->n_params; k++) {
            plan_item *p = &plan[np++];
            snprintf(p->name, sizeof p->name, "layers.%d.%s", i, c->params[k].name);
            p->ndim = c->params[k].ndim;
            memcpy(p->shape, c->params[k].shape, sizeof p->shape);
            p->at = ls->items[i];
            p->where = layer_where[i];
        }
    }
    const tg_cfg_node *out_at = tg_cfg_get(hd, "out") ? tg_cfg_get(hd, "out") : hd ? hd : mn;
    plan[np++] = (plan_item){"head.weight", 2, {m->out, m->width}, out_at, "model.head"};
    if (m->head_bias) plan[np++] = (plan_item){"head.bias", 1, {m->out}, out_at, "model.head"};
    if (check_sizes(m, plan, np, err)) goto fail;

    if (m->input == TG_IN_EMBEDDING) {
        double a = 1.0; /* nn.Embedding: N(0, 1) */
        if (!(m->embedding = new_param(m, "embedding.weight", 2, (int[]){m->vocab, m->in_dim},
                                       TG_INIT_NORMAL, a, &rng, err)))
            goto fail;
    }
    if (m->pos == TG_POS_LEARNED &&
        !(m->positions = new_param(m, "positions.weight", 2, (int[]){m->max_len, m->in_dim},
                                   TG_INIT_NORMAL, 0.02, &rng, err)))
        goto fail;
    for (int i = 0; i < m->n_layers; i++) {
        tg_cell *c = &m->layers[i];
        if (tg_cell_alloc(c, m->dtype, tg_hash64(seed + 1000003u * (i + 1)), err)) {
            layer_note(m, ls->items[i], layer_where[i], err);
            goto fail;
        }
        for (int k = 0; k < c->n_params; k++) {
            char name[96];
            snprintf(name, sizeof name, "layers.%d.%s", i, c->params[k].name);
            if (add_param(m, name, c->params[k].t, err)) goto fail;
        }
    }
    double a = 1 / sqrt((double)m->width); /* nn.Linear */
    if (!(m->head_w = new_param(m, "head.weight", 2, (int[]){m->out, m->width}, TG_INIT_UNIFORM, a, &rng, err)) ||
        (m->head_bias && !(m->head_b = new_param(m, "head.bias", 1, (int[]){m->out}, TG_INIT_UNIFORM, a, &rng, err))))
        goto fail;
    if (init_values(m, tg_cfg_get(mn, "init"), err)) goto fail;
    return TG_OK;
fail:
    tg_model_free(m);
    return err->code ? err->code : (tg_status)TG_ERR_CONFIG;
}

void tg_model_free(tg_model *m)
{
    for (int i = 0; i < m->n_layers; i++) tg_cell_free(&m->layers[i]);
    tg_tensor_free(m->embedding);
    tg_tensor_free(m->positions);
    tg_tensor_free(m->head_w);
    tg_tensor_free(m->head_b);
    tg_cfg_free(&m->cfg);
    memset(m, 0, sizeof *m);
}

int tg_model_state_size(const tg_model *m, int k)
{
    for (int i = 0; i < m->n_layers; i++) {
        if (k < m->layers[i].n_state) return m->layers[i].state_size[k];
        k -= m->layers[i].n_state;
    }
    return 0;
}

/* x [B,T,C] -> the input to layer 0: ids through the embedding or one-hot, plus
 * positions. */
static tg_tensor *model_input(tg_model *m, tg_tape *t, const tg_batch *b, tg_error *err)
{
    int B = b->B, T = b->T, C = m->in_dim;
    tg_tensor *x;
    if (m->input == TG_IN_DENSE) {
        if (!b->x) return tg_error_set(err, TG_ERR_INVALID, "model: a dense input needs batch.x"), NULL;
        x = tg_tape_from(t, 3, (int[]){B, T, C}, b->x);
    } else {
        if (!b->tokens) return tg_error_set(err, TG_ERR_INVALID, "model: token input needs batch.tokens"), NULL;
        tg_tensor *ids = tg_tape_tensor(t, TG_I32, 2, (int[]){B, T});
        if (ids) memcpy(ids->data, b->tokens, sizeof(int32_t) * (size_t)B * T);
        x = m->input == TG_IN_EMBEDDING ? tg_embedding(t, ids, m->embedding) : tg_one_hot(t, ids, m->vocab);
    }
    if (m->pos == TG_POS_LEARNED) {
        if (T > m->max_len)
            return tg_error_set(err, TG_ERR_SHAPE, "model: sequence length %d exceeds model.input.max_len %d",
                                T, m->max_len), NULL;
        x = tg_add(t, x, tg_slice(t, m->positions, 0, 0, T));
    } else if (m->pos == TG_POS_SINUSOIDAL) {
        tg_tensor *pe = tg_tape_tensor(t, t->dtype, 2, (int[]){T, C});
        for (int p = 0; pe && p < T; p++)
            for (int i = 0; i < C; i++) {
                double f = pow(10000.0, -(double)(i - i % 2) / C);
                tg_tensor_set(pe, (int64_t)p * C + i, i % 2 ? cos(p * f) : sin(p * f));
            }
        x = tg_add(t, x, pe);
    }
    return x;
}

/* A [B,T] double array as a step tensor of the tape's dtype with shape (ndim, shape). */
static tg_tensor *from_bt(tg_tape *t, const double *v, int ndim, const int *shape)
{
    return tg_tape_from(t, ndim, shape, v);
}

/* Groups the cell's elementwise chains into fused ops, once (see program.h). */
static int fuse(tg_cell *c)
{
    if (c->prog.fused) return 0;
    int keep = tg_program_find(&c->prog, c->output_name)->slot;
    return tg_program_fuse(&c->prog, &keep, 1);
}

/* The state-independent part of cell c (x @ W_ih + b, found by the program's planner),
 * run once on the whole X [B,T,C], taken time-major: full[k] receives the k-th hoisted
 * value as [T,B,.], so that a step's rows are one contiguous run (a view, no copy; the
 * hoisted ops treat rows alike, so the order of the rows does not matter to them).
 * Returns the number of hoisted values (0: none), or -1 with err. */
static int run_hoisted(tg_model *m, tg_cell *c, tg_tape *t, tg_tensor *X, int B, int T,
                       tg_tensor **full, int *slot, tg_error *err)
{
    tg_program *p = &c->prog;
    tg_tensor **slots = m->slots;
    for (int i = 0; i < c->n_params; i++)
        slots[p->syms[c->params[i].sym].in_slot] = c->params[i].t;
    if (fuse(c) || (!p->planned && tg_program_plan_hoist(p, slots)))
        return tg_error_set(err, TG_ERR_NOMEM, "model: out of memory"), -1;
    p->no_fuse = m->no_fuse;
    if (!p->n_hoist) return 0;
    int out_slot = tg_program_find(p, c->output_name)->slot, n = 0;
    for (int i = 0; i < c->n_state; i++) slots[tg_program_find(p, c->state_name[i])->in_slot] = NULL;
    tg_tensor *Xt = B > 1 && T > 1 ? tg_transpose(t, X, 0, 1) : tg_reshape(t, X, 3, (int[]){T, B, X->shape[2]});
    if (!Xt) return *err = *tg_tape_error(t), -1;
    slots[tg_program_find(p, c->input_name)->in_slot] = Xt;
    p->dim_B = B;
    p->dim_T = T;
    p->mode = TG_RUN_HOISTED;
    tg_prog_error pe;
    int rc = tg_program_run(p, t, slots, &pe);
    p->mode = TG_RUN_ALL;
    if (rc) return tg_cell_error(c, &pe, err), -1;
    for (int k = 0, sl; (sl = tg_program_hoisted(p, k)) >= 0; k++)
        if (tg_program_per_step_use(p, sl) || sl == out_slot) {
            slot[n] = sl;
            full[n++] = slots[sl];
        }
    return n;
}

/* Runs cell layer c over X [B,T,C]; returns [B,T,H]. */
static tg_tensor *run_cell(tg_model *m, tg_cell *c, tg_tape *t, tg_tensor *X, const tg_batch *b,
                           const tg_model_run *run, int state0, tg_error *err)
{
    int B = b->B, T = b->T, C = X->shape[2];
    tg_tensor *state[TG_CELL_MAX], *next[TG_CELL_MAX], *full[64];
    int full_slot[64];
    tg_tensor **outs = tg_tape_alloc(t, sizeof *outs * (size_t)T);
    if (!outs) return NULL;
    int n_full = run_hoisted(m, c, t, X, B, T, full, full_slot, err);
    if (n_full < 0) return NULL;
    /* with hoisting, the steps read x only if something per step still does */
    int x_step = !n_full || tg_program_per_step_use(&c->prog, tg_program_find(&c->prog, c->input_name)->in_slot);
    for (int s = 0; s < c->n_state; s++)
        state[s] = run && run->carry_in ? run->carry_in[state0 + s] : NULL;
    for (int s = 0; s < c->n_state; s++)
        if (!state[s]) state[s] = tg_tape_zeros(t, X->dtype, 2, (int[]){B, c->state_size[s]});
    /* the steps' h @ W.T multiply by a copy of W.T made once per sequence, when there
     * are enough steps to pay for it */
    if (c->prog.bt) memset(c->prog.bt, 0, sizeof *c->prog.bt * (size_t)c->prog.n_ins);
    c->prog.bt_on = n_full && T >= 4;
    for (int step = 0; step < T; step++) {
        if (run && run->bptt > 0 && step > 0 && step % run->bptt == 0)
            for (int s = 0; s < c->n_state; s++) state[s] = tg_tape_detach(t, state[s]);
        tg_tensor *x = x_step ? tg_reshape(t, tg_slice(t, X, 1, step, 1), 2, (int[]){B, C}) : NULL;
        for (int k = 0; k < n_full; k++) /* this step's rows of each hoisted value */
            m->slots[full_slot[k]] = tg_reshape(t, tg_slice(t, full[k], 0, step, 1), 2,
                                                (int[]){B, full[k]->shape[2]});
        c->prog.seed = tg_hash64((run ? run->seed : 0) + (uint64_t)step);
        c->prog.training = run ? run->training : 0;
        c->prog.mode = n_full ? TG_RUN_STEP : TG_RUN_ALL;
        tg_tensor *h = tg_cell_run(c, t, m->slots, x, state, next, B, 1, NULL, NULL, err);
        c->prog.mode = TG_RUN_ALL;
        if (!h) return NULL;
        if (b->mask) { /* padded steps keep the old state: s + m * (s' - s) */
            double *mv = tg_tape_alloc(t, sizeof *mv * (size_t)B);
            if (!mv) return NULL;
            for (int i = 0; i < B; i++) mv[i] = b->mask[(int64_t)i * T + step];
            tg_tensor *mk = from_bt(t, mv, 2, (int[]){B, 1});
            for (int s = 0; s < c->n_state; s++)
                next[s] = tg_add(t, state[s], tg_mul(t, mk, tg_sub(t, next[s], state[s])));
            h = tg_mul(t, mk, h);
        }
        for (int s = 0; s < c->n_state; s++) state[s] = next[s];
        outs[step] = tg_reshape(t, h, 3, (int[]){B, 1, h->shape[1]});
        if (tg_tape_status(t)) return NULL;
    }
    for (int s = 0; run && run->carry_out && s < c->n_state; s++) run->carry_out[state0 + s] = state[s];
    return T == 1 ? outs[0] : tg_concat(t, T, outs, 1);
}

static tg_tensor *masks(tg_tape *t, const tg_batch *b, tg_tensor **pad)
{
    int B = b->B, T = b->T;
    tg_tensor *cm = tg_causal_mask(t, T);
    *pad = tg_tape_zeros(t, t->dtype, 4, (int[]){B, 1, 1, T});
    for (int i = 0; *pad && b->mask && i < B * T; i++) tg_tensor_set(*pad, i, b->mask[i] == 0);
    return cm;
}

tg_tensor *tg_model_logits(tg_model *m, tg_tape *t, const tg_batch *b, const tg_model_run *run,
                           tg_error *err)
{
    int B = b->B, T = b->T;
    if (B < 1 || T < 1) return tg_error_set(err, TG_ERR_SHAPE, "model: empty batch (B=%d, T=%d)", B, T), NULL;
    tg_tensor *X = model_input(m, t, b, err), *pad = NULL, *cm = NULL;
    int state0 = 0;
    for (int i = 0; X && i < m->n_layers; i++) {
        tg_cell *c = &m->layers[i];
        if (c->is_block) {
            if (!cm) cm = masks(t, b, &pad);
            c->prog.seed = run ? run->seed : 0;
            c->prog.training = run ? run->training : 0;
            if (fuse(c)) return tg_error_set(err, TG_ERR_NOMEM, "model: out of memory"), NULL;
            c->prog.no_fuse = m->no_fuse;
            X = tg_cell_run(c, t, m->slots, X, NULL, NULL, B, T, cm, pad, err);
        } else {
            X = run_cell(m, c, t, X, b, run, state0, err);
        }
        state0 += c->n_state;
    }
    tg_tensor *logits = X ? tg_linear(t, X, m->head_w, m->head_b) : NULL; /* [B,T,out] */
    if (!logits && !err->code && tg_tape_status(t)) *err = *tg_tape_error(t);
    return logits;
}

double tg_model_loss_weight(const tg_model *m, const tg_batch *b)
{
    if (m->loss == TG_LOSS_HALF_SSE) return -1;
    if (m->loss == TG_LOSS_MSE && m->loss_last) return b->B;
    if (m->loss == TG_LOSS_MSE && !b->mask) return (double)b->B * b->T;
    double W = 0; /* as tg_model_loss's weights */
    for (int i = 0; i < b->B; i++) {
        int last = -1;
        for (int s = 0; s < b->T; s++) {
            double mk = b->mask ? b->mask[(int64_t)i * b->T + s] : 1;
            if (!m->loss_last) W += m->loss == TG_LOSS_MSE ? mk != 0 : mk;
            if (mk != 0) last = s;
        }
        if (m->loss_last && last >= 0) W += 1;
    }
    return W;
}

tg_tensor *tg_model_loss(tg_model *m, tg_tape *t, const tg_batch *b, const tg_model_run *run,
                         tg_error *err)
{
    int B = b->B, T = b->T;
    tg_tensor *logits = tg_model_logits(m, t, b, run, err);
    if (!logits) goto fail;
    if (run && run->logits_out) *run->logits_out = logits;
    /* weights [B,T]: the mask, or for loss on the last step a one-hot of each sequence's
     * last real step */
    double *w = tg_tape_alloc(t, sizeof *w * (size_t)B * T);
    if (!w) goto fail;
    for (int i = 0; i < B; i++) {
        int last = -1;
        for (int s = 0; s < T; s++) {
            double mk = b->mask ? b->mask[(int64_t)i * T + s] : 1;
            w[(int64_t)i * T + s] = m->loss_last ? 0 : mk;
            if (mk != 0) last = s;
        }
        if (m->loss_last && last >= 0) w[(int64_t)i * T + last] = 1;
    }
    tg_tensor *loss;
    if (m->loss == TG_LOSS_CROSS_ENTROPY) {
        if (!b->targets) return tg_error_set(err, TG_ERR_INVALID, "model: cross_entropy needs batch.targets"), NULL;
        tg_tensor *tg = tg_tape_tensor(t, TG_I32, 2, (int[]){B, T});
        if (tg) memcpy(tg->data, b->targets, sizeof(int32_t) * (size_t)B * T);
        loss = tg_cross_entropy(t, logits, tg, from_bt(t, w, 2, (int[]){B, T}));
    } else {
        if (!b->y) return tg_error_set(err, TG_ERR_INVALID, "model: mse needs batch.y"), NULL;
        if (m->loss_last) { /* pred [B,out] = sum_t w[b,t] logits[b,t,:] */
            tg_tensor *wt = from_bt(t, w, 3, (int[]){B, T, 1});
            tg_tensor *pred = tg_sum(t, tg_mul(t, logits, wt), 1);
            tg_tensor *y = tg_tape_from(t, 2, (int[]){B, m->out}, b->y);
            if (m->loss == TG_LOSS_HALF_SSE) {
                tg_tensor *d = tg_sub(t, pred, y);
                loss = tg_scale(t, tg_sum(t, tg_mul(t, d, d), TG_AXIS_ALL), 0.5);
            } else {
                loss = tg_mse(t, pred, y);
            }
        } else if (b->mask || m->loss == TG_LOSS_HALF_SSE) { /* masked squared errors */
            tg_tensor *d = tg_sub(t, logits, tg_tape_from(t, 3, (int[]){B, T, m->out}, b->y));
            tg_tensor *wt = from_bt(t, w, 3, (int[]){B, T, 1});
            double n = 0;
            for (int i = 0; i < B * T; i++) n += w[i] != 0;
            double k = m->loss == TG_LOSS_HALF_SSE ? 0.5 : 1.0 / (n > 0 ? n * m->out : 1);
            loss = tg_scale(t, tg_sum(t, tg_mul(t, tg_mul(t, d, d), wt), TG_AXIS_ALL), k);
        } else {
            loss = tg_mse(t, logits, tg_tape_from(t, 3, (int[]){B, T, m->out}, b->y));
        }
    }
    if (loss) return loss;
fail:
    if (!err->code && tg_tape_status(t)) *err = *tg_tape_error(t);
    return NULL;
}
