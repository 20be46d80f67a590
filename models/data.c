/* data.c: the `data:` section of a config (its schema table drives validation) and the
 * loaders that cut a dataset into batches (see data.h). Reading text files is in
 * data_text.c; drawing synthetic sequences and parsing inline data in data_tasks.c.
 * Dimension letters: B sequences per batch, T steps. */
#include "models/data.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/alloc.h"
#include "models/data_impl.h"

static const char *const KINDS[] = {"chars", "words", "adding", "copy", "sine", "inline", NULL};

/* ---- the schema: one row per key of `data:` ---- */

#define KIND(k) (1u << TG_DATA_##k)
#define TEXT (KIND(CHARS) | KIND(WORDS))
#define TASK (KIND(ADDING) | KIND(COPY) | KIND(SINE))
#define ALL (TEXT | TASK | KIND(INLINE))

typedef enum { V_ENUM, V_STR, V_INT, V_NUM, V_BOOL, V_LIST } vtype;

enum { K_TYPE, K_PATH, K_VAL_FRACTION, K_VOCAB_SIZE, K_LOWERCASE, K_LENGTH, K_VAL_SIZE,
       K_NOISE, K_SEED, K_INPUTS, K_TARGETS, K_COUNT };

static const struct key {
    const char *name;
    unsigned kinds;    /* the types that take this key */
    vtype type;
    double lo, hi;     /* numbers: the accepted range */
    double def;        /* NAN: required */
} KEYS[K_COUNT] = {
    /* chars | words | adding | copy | sine | inline */
    [K_TYPE] = {"type", ALL, V_ENUM, 0, 0, NAN},
    /* text file, relative to the config's directory unless absolute */
    [K_PATH] = {"path", TEXT, V_STR, 0, 0, NAN},
    /* the last fraction of the text (in symbols) is the validation split */
    [K_VAL_FRACTION] = {"val_fraction", TEXT, V_NUM, 0, 0.5, 0.1},
    /* the most frequent words (ties: first appearance), "<unk>" (id 0) included */
    [K_VOCAB_SIZE] = {"vocab_size", KIND(WORDS), V_INT, 2, 1 << 24, 10000},
    /* fold ASCII letters to lower case */
    [K_LOWERCASE] = {"lowercase", KIND(WORDS), V_BOOL, 0, 1, 0},
    /* T: adding, sine: steps; copy: the blank span (sequences of T + 20); adding needs 2 */
    [K_LENGTH] = {"length", TASK, V_INT, 1, 1000000, NAN},
    /* sequences in the fixed validation set */
    [K_VAL_SIZE] = {"val_size", TASK, V_INT, 0, 10000000, 1000},
    /* sine: standard deviation of the Gaussian noise added to the inputs */
    [K_NOISE] = {"noise", KIND(SINE), V_NUM, 0, 10, 0.1},
    /* generator of the synthetic sequences */
    [K_SEED] = {"seed", TASK, V_INT, 0, 1e18, 1},
    /* inline: [sequence][step][channel] numbers; targets: the same with output widths */
    [K_INPUTS] = {"inputs", KIND(INLINE), V_LIST, 0, 0, NAN},
    [K_TARGETS] = {"targets", KIND(INLINE), V_LIST, 0, 0, NAN},
};

/* The keys of `kinds` (a mask) into names (NULL-terminated, K_COUNT + 1 entries). */
static void key_names(unsigned kinds, const char **names)
{
    int n = 0;
    for (int k = 0; k < K_COUNT; k++)
        if (KEYS[k].kinds & kinds) names[n++] = KEYS[k].name;
    names[n] = NULL;
}

static int is_text(tg_data_kind k) { return k == TG_DATA_CHARS || k == TG_DATA_WORDS; }
static int has_tokens(tg_data_kind k) { return is_text(k) || k == TG_DATA_COPY; }
int tg_data_is_text(const tg_dataset *d) { return is_text(d->kind); }
int tg_data_has_tokens(const tg_dataset *d) { return has_tokens(d->kind); }

/* ---- loading ---- */

void tg_data_free(tg_dataset *d)
{
    if (!d) return;
    tg_free(d->train);
    tg_free(d->val);
    for (int i = 0; d->symbols && i < d->vocab; i++) tg_free(d->symbols[i]);
    tg_free(d->symbols);
    tg_free(d->inline_x);
    tg_free(d->inline_y);
    memset(d, 0, sizeof *d);
}

/* Reads every key of d->kind from map into iv/dv/nodes, defaults for absent ones. */
static tg_status read_keys(const tg_cfg *c, const tg_cfg_node *map, tg_data_kind kind, long *iv,
                           double *dv, const tg_cfg_node **nodes, tg_error *err)
{
    for (int k = 1; k < K_COUNT; k++) { /* K_TYPE is read already */
        const struct key *s = &KEYS[k];
        if (!(s->kinds & (1u << kind))) continue;
        const tg_cfg_node *n = nodes[k] = tg_cfg_get(map, s->name);
        char where[64];
        snprintf(where, sizeof where, "data.%s", s->name);
        if (!n) {
            if (isnan(s->def)) return tg_cfg_error(c, map, err, "'%s' is missing", where);
            iv[k] = (long)s->def, dv[k] = s->def;
            continue;
        }
        double lo = s->lo;
        if (k == K_LENGTH && kind == TG_DATA_ADDING) lo = 2; /* two marked positions */
        int b;
        const char *str;
        tg_status st = TG_OK;
        switch (s->type) {
        case V_INT: st = tg_cfg_int(c, n, where, (long)lo, (long)s->hi, &iv[k], err); break;
        case V_NUM: st = tg_cfg_double(c, n, where, lo, s->hi, &dv[k], err); break;
        case V_BOOL: st = tg_cfg_bool(c, n, where, &b, err), iv[k] = b; break;
        case V_STR: st = tg_cfg_string(c, n, where, &str, err); break;
        case V_ENUM: case V_LIST: break; /* type: read first; lists: parsed by the loader */
        }
        if (st) return st;
    }
    return TG_OK;
}

static tg_status load(tg_dataset *d, const tg_cfg *c, const tg_cfg_node *node, tg_error *err)
{
    const char *names[K_COUNT + 1];
    if (!node) return tg_cfg_error(c, NULL, err, "'data' is missing");
    const tg_cfg_node *tn = tg_cfg_get(node, "type");
    if (!tn) { /* suggestions from every type's keys ('tpye') */
        key_names(ALL, names);
        if (tg_cfg_check_keys(c, node, "data", names, err)) return err->code;
        return tg_cfg_error(c, node, err, "'data.type' is missing (one of chars, words, adding, copy, sine, inline)");
    }
    int kind; /* (node has a key, so it is a map) */
    if (tg_cfg_enum(c, tn, "data.type", KINDS, &kind, err)) return err->code;
    key_names(1u << kind, names);
    for (int i = 0; i < node->n; i++) { /* the first key this type does not take */
        int k = 0;
        while (k < K_COUNT && strcmp(KEYS[k].name, node->keys[i]) != 0) k++;
        if (k == K_COUNT) break; /* no type's key: tg_cfg_check_keys says so, with a suggestion */
        if (KEYS[k].kinds >> kind & 1) continue;
        char list[200] = "";
        for (int j = 0; names[j]; j++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", names[j]);
        return tg_error_set_at(err, TG_ERR_CONFIG, c->path, node->key_line[i], node->key_col[i],
                               "'data.%s' does not apply to type %s (its keys: %s)", KEYS[k].name, KINDS[kind], list);
    }
    if (tg_cfg_check_keys(c, node, "data", names, err)) return err->code;
    d->kind = (tg_data_kind)kind;

    long iv[K_COUNT] = {0};
    double dv[K_COUNT] = {0};
    const tg_cfg_node *nodes[K_COUNT] = {0};
    if (read_keys(c, node, d->kind, iv, dv, nodes, err)) return err->code;
    d->seed = (uint64_t)iv[K_SEED];
    switch (d->kind) {
    case TG_DATA_CHARS:
    case TG_DATA_WORDS:
        d->lowercase = (int)iv[K_LOWERCASE];
        return tg_data_text_load(d, c, nodes[K_PATH], nodes[K_VAL_FRACTION], dv[K_VAL_FRACTION],
                                 iv[K_VOCAB_SIZE], err);
    case TG_DATA_ADDING:
        d->seq_len = (int)iv[K_LENGTH], d->in_dim = 2, d->out_dim = 1;
        break;
    case TG_DATA_COPY:
        d->seq_len = (int)iv[K_LENGTH] + 2 * COPY_SPAN;
        if (tg_data_copy_symbols(d, err)) return err->code;
        break;
    case TG_DATA_SINE:
        d->seq_len = (int)iv[K_LENGTH], d->in_dim = 1, d->out_dim = 1;
        d->noise = dv[K_NOISE];
        break;
    case TG_DATA_INLINE:
        return tg_data_inline_load(d, c, node, nodes[K_INPUTS], nodes[K_TARGETS], err);
    }
    d->n_val_seqs = (int)iv[K_VAL_SIZE];
    snprintf(d->source, sizeof d->source, "%s (length %ld)", KINDS[d->kind], iv[K_LENGTH]);
    return TG_OK;
}

tg_status tg_data_load(tg_dataset *d, const tg_cfg *c, const tg_cfg_node *node, tg_error *err)
{
    memset(d, 0, sizeof *d);
    tg_status st = load(d, c, node, err);
    if (st) tg_data_free(d);
    return st;
}

/* ---- loaders ---- */

/* Seeds of the synthetic generators: training batches continue one stream seeded by
 * (data.seed, the loader's seed); validation sequence j has its own, from data.seed. */
#define TRAIN_SALT 0x747261696e696e67ull /* "training" */
#define VAL_SALT 0x76616c6964617465ull   /* "validate" */

static uint64_t val_seed(const tg_dataset *d, int64_t j)
{
    return tg_hash64(tg_hash64(d->seed ^ VAL_SALT) + (uint64_t)j);
}

void tg_loader_free(tg_loader *l)
{
    if (!l) return;
    tg_free(l->tokens), tg_free(l->targets);
    tg_free(l->x), tg_free(l->y), tg_free(l->mask);
    memset(l, 0, sizeof *l);
}

static tg_status loader_init(tg_loader *l, const tg_dataset *d, int val, int B, int T,
                             uint64_t seed, tg_error *err)
{
    if (!d) return tg_error_set(err, TG_ERR_INVALID, "loader: no dataset");
    if (!is_text(d->kind)) T = d->seq_len; /* sequences have their own length */
    if (B < 1 || T < 1)
        return tg_error_set(err, TG_ERR_INVALID, "loader: batch %d x %d steps: both must be >= 1", B, T);
    if ((int64_t)B * T > INT_MAX)
        return tg_error_set(err, TG_ERR_INVALID, "loader: batch %d x %d steps is too large", B, T);
    l->d = d, l->val = val, l->B = B, l->T = T;
    if (is_text(d->kind)) {
        int64_t n = val ? d->n_val : d->n_train;
        if (n < (int64_t)B * T + 1)
            return tg_error_set(err, TG_ERR_CONFIG,
                                "data: the %s split of '%s' has %lld symbols, fewer than batch %d x %d "
                                "steps + 1 = %lld",
                                val ? "validation" : "training", d->source, (long long)n, B, T,
                                (long long)B * T + 1);
    } else if (d->kind != TG_DATA_INLINE) {
        if (val && d->n_val_seqs == 0)
            return tg_error_set(err, TG_ERR_CONFIG, "data: %s has no validation set (val_size: 0)",
                                d->source);
        if (!val) l->st.rng = tg_hash64(tg_hash64(d->seed ^ TRAIN_SALT) + seed);
    }
    size_t bt = (size_t)B * (size_t)T;
    int ok = 1;
    if (has_tokens(d->kind)) {
        ok &= (l->tokens = tg_malloc(bt * sizeof *l->tokens)) != NULL;
        ok &= (l->targets = tg_malloc(bt * sizeof *l->targets)) != NULL;
    } else {
        size_t ny = d->kind == TG_DATA_ADDING ? (size_t)B * d->out_dim : bt * d->out_dim; /* [B,out] */
        ok &= (l->x = tg_malloc(bt * d->in_dim * sizeof *l->x)) != NULL;
        ok &= (l->y = tg_malloc(ny * sizeof *l->y)) != NULL;
    }
    if (!ok) return tg_error_set(err, TG_ERR_NOMEM, "loader: out of memory for a batch of %d x %d", B, T);
    l->batch = (tg_batch){.B = B, .T = T, .tokens = l->tokens, .targets = l->targets, .x = l->x, .y = l->y};
    return TG_OK;
}

tg_status tg_loader_init(tg_loader *l, const tg_dataset *d, int val, int B, int T, uint64_t seed,
                         tg_error *err)
{
    memset(l, 0, sizeof *l);
    tg_status st = loader_init(l, d, val, B, T, seed, err);
    if (st) tg_loader_free(l);
    return st;
}

int64_t tg_loader_batches(const tg_loader *l)
{
    const tg_dataset *d = l->d;
    if (is_text(d->kind)) { /* each of the B streams has L inputs, the target one further */
        int64_t L = ((l->val ? d->n_val : d->n_train) - 1) / l->B;
        return L / l->T;
    }
    if (d->kind == TG_DATA_INLINE) return (d->n_inline + l->B - 1) / l->B;
    return l->val ? (d->n_val_seqs + l->B - 1) / l->B : 0;
}

/* Text batch k: row b holds steps [kT, kT + T) of stream b, which starts at b * L. */
static void fill_text(tg_loader *l, int64_t k)
{
    const tg_dataset *d = l->d;
    const int32_t *s = l->val ? d->val : d->train;
    int64_t L = ((l->val ? d->n_val : d->n_train) - 1) / l->B;
    for (int b = 0; b < l->B; b++) {
        const int32_t *p = s + b * L + k * l->T;
        memcpy(l->tokens + (size_t)b * l->T, p, (size_t)l->T * sizeof *p);
        memcpy(l->targets + (size_t)b * l->T, p + 1, (size_t)l->T * sizeof *p);
    }
}

/* Sequences [k*B, k*B + B) of a fixed set (inline data, synthetic validation); the last
 * batch of a pass may hold fewer. */
static void fill_fixed(tg_loader *l, int64_t k)
{
    const tg_dataset *d = l->d;
    int64_t n = d->kind == TG_DATA_INLINE ? d->n_inline : d->n_val_seqs, first = k * l->B;
    int B = (int)(n - first < l->B ? n - first : l->B), T = l->T;
    size_t nx = (size_t)T * d->in_dim, ny = (size_t)(d->kind == TG_DATA_ADDING ? 1 : T) * d->out_dim;
    l->batch.B = B;
    if (d->kind == TG_DATA_INLINE) {
        memcpy(l->x, d->inline_x + first * nx, B * nx * sizeof *l->x);
        memcpy(l->y, d->inline_y + first * ny, B * ny * sizeof *l->y);
        return;
    }
    for (int i = 0; i < B; i++) {
        tg_rng r = {val_seed(d, first + i)};
        tg_data_draw(d, &r, l->tokens ? l->tokens + (size_t)i * T : NULL,
                     l->targets ? l->targets + (size_t)i * T : NULL, l->x ? l->x + i * nx : NULL,
                     l->y ? l->y + i * ny : NULL);
    }
}

/* A fresh synthetic training batch, drawn from the loader's generator. */
static void fill_draw(tg_loader *l)
{
    const tg_dataset *d = l->d;
    int T = l->T;
    size_t nx = (size_t)T * d->in_dim, ny = (size_t)(d->kind == TG_DATA_ADDING ? 1 : T) * d->out_dim;
    tg_rng r = {l->st.rng};
    for (int i = 0; i < l->B; i++)
        tg_data_draw(d, &r, l->tokens ? l->tokens + (size_t)i * T : NULL,
                     l->targets ? l->targets + (size_t)i * T : NULL, l->x ? l->x + i * nx : NULL,
                     l->y ? l->y + i * ny : NULL);
    l->st.rng = r.s;
}

int tg_loader_next(tg_loader *l, const tg_batch **b)
{
    const tg_dataset *d = l->d;
    int64_t nb = tg_loader_batches(l); /* 0: endless */
    int fresh = l->st.batch == 0;
    if (nb && l->st.batch >= nb) { /* the next batch does not fit: a new epoch */
        l->st.batch = 0;
        l->st.epoch++;
        fresh = 1;
    }
    int64_t k = l->st.batch++;
    if (is_text(d->kind))
        fill_text(l, k);
    else {
        fresh = 1; /* every batch holds new sequences */
        if (nb) fill_fixed(l, k);
        else fill_draw(l);
    }
    *b = &l->batch;
    return fresh;
}
