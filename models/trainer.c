/* trainer.c: setting up a run (config, data, model, optimizer, run directory) and the
 * training loop (see trainer.h). Checkpoints are in checkpoint.c, the log files in
 * runlog.c. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "models/trainer.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "graph/alloc.h"
#include "graph/rng.h"
#include "ops/ops.h"

static const char *const TRAIN_KEYS[] = {"steps", "epochs", "batch", "seq_len", "bptt",
                                         "carry_state", "eval_every", "eval_batches",
                                         "checkpoint_every", "log_every", "seed", "threads",
                                         "optimizer", "clip", "schedule", NULL};
static const char *const OPT_KEYS[] = {"type", "lr", "momentum", "nesterov", "alpha", "beta1",
                                       "beta2", "eps", "weight_decay", NULL};
static const char *const CLIP_KEYS[] = {"norm", "value", NULL};
static const char *const SCHED_KEYS[] = {"type", "warmup", "step_size", "gamma", "min_lr", NULL};
static const char *const RUN_KEYS[] = {"dir", NULL};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- reading the train: and run: sections ---- */

typedef struct reader {
    const tg_cfg *c;
    tg_error *err;
} reader;

static int rd_long(reader *r, const tg_cfg_node *map, const char *where, const char *key, long lo,
                   long hi, int64_t *out)
{
    const tg_cfg_node *n = tg_cfg_get(map, key);
    char w[128];
    long v;
    if (!n) return 0;
    snprintf(w, sizeof w, "%s.%s", where, key);
    if (tg_cfg_int(r->c, n, w, lo, hi, &v, r->err)) return -1;
    *out = v;
    return 0;
}

static int rd_int(reader *r, const tg_cfg_node *map, const char *where, const char *key, long lo,
                  long hi, int *out)
{
    int64_t v = *out;
    if (rd_long(r, map, where, key, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

static int rd_dbl(reader *r, const tg_cfg_node *map, const char *where, const char *key, double lo,
                  double hi, double *out)
{
    const tg_cfg_node *n = tg_cfg_get(map, key);
    char w[128];
    if (!n) return 0;
    snprintf(w, sizeof w, "%s.%s", where, key);
    return tg_cfg_double(r->c, n, w, lo, hi, out, r->err) ? -1 : 0;
}

static int rd_bool(reader *r, const tg_cfg_node *map, const char *where, const char *key, int *out)
{
    const tg_cfg_node *n = tg_cfg_get(map, key);
    char w[128];
    if (!n) return 0;
    snprintf(w, sizeof w, "%s.%s", where, key);
    return tg_cfg_bool(r->c, n, w, out, r->err) ? -1 : 0;
}

static int rd_enum(reader *r, const tg_cfg_node *map, const char *where, const char *key,
                   const char *const *choices, int *out)
{
    const tg_cfg_node *n = tg_cfg_get(map, key);
    char w[128];
    if (!n) return 0;
    snprintf(w, sizeof w, "%s.%s", where, key);
    return tg_cfg_enum(r->c, n, w, choices, out, r->err) ? -1 : 0;
}

static tg_status read_train(tg_train_config *tc, const tg_cfg *c, const char *config_path, tg_error *err)
{
    reader r = {c, err};
    memset(tc, 0, sizeof *tc);
    tc->steps = 1000, tc->batch = 32, tc->seq_len = 64, tc->carry_state = 1;
    tc->eval_every = 100, tc->eval_batches = 20, tc->checkpoint_every = 500, tc->log_every = 10;
    tc->seed = 1;
    tg_optim_defaults(&tc->opt);
    const tg_cfg_node *tr = tg_cfg_get(c->root, "train");
    if (tg_cfg_check_keys(c, tr, "train", TRAIN_KEYS, err)) return err->code;
    int64_t seed = 1;
    int kind = tc->opt.kind, sched = tc->opt.schedule;
    if (rd_long(&r, tr, "train", "steps", 0, 1000000000L, &tc->steps) ||
        rd_long(&r, tr, "train", "epochs", 0, 1000000L, &tc->epochs) ||
        rd_int(&r, tr, "train", "batch", 1, 65536, &tc->batch) ||
        rd_int(&r, tr, "train", "seq_len", 1, 1000000, &tc->seq_len) ||
        rd_int(&r, tr, "train", "bptt", 0, 1000000, &tc->bptt) ||
        rd_bool(&r, tr, "train", "carry_state", &tc->carry_state) ||
        rd_long(&r, tr, "train", "eval_every", 0, 1000000000L, &tc->eval_every) ||
        rd_long(&r, tr, "train", "eval_batches", 0, 1000000000L, &tc->eval_batches) ||
        rd_long(&r, tr, "train", "checkpoint_every", 0, 1000000000L, &tc->checkpoint_every) ||
        rd_long(&r, tr, "train", "log_every", 1, 1000000000L, &tc->log_every) ||
        rd_long(&r, tr, "train", "seed", 0, 2147483647L, &seed) ||
        rd_int(&r, tr, "train", "threads", 0, 1024, &tc->threads))
        return err->code;
    tc->seed = (uint64_t)seed;
    const tg_cfg_node *o = tg_cfg_get(tr, "optimizer"), *cl = tg_cfg_get(tr, "clip"),
                      *sc = tg_cfg_get(tr, "schedule");
    tg_optim_config *oc = &tc->opt;
    if (tg_cfg_check_keys(c, o, "train.optimizer", OPT_KEYS, err) ||
        tg_cfg_check_keys(c, cl, "train.clip", CLIP_KEYS, err) ||
        tg_cfg_check_keys(c, sc, "train.schedule", SCHED_KEYS, err))
        return err->code;
    if (rd_enum(&r, o, "train.optimizer", "type", tg_opt_names, &kind) ||
        rd_dbl(&r, o, "train.optimizer", "lr", 1e-12, 1e6, &oc->lr) ||
        rd_dbl(&r, o, "train.optimizer", "momentum", 0, 0.999999, &oc->momentum) ||
        rd_bool(&r, o, "train.optimizer", "nesterov", &oc->nesterov) ||
        rd_dbl(&r, o, "train.optimizer", "alpha", 0, 0.999999, &oc->alpha) ||
        rd_dbl(&r, o, "train.optimizer", "beta1", 0, 0.999999, &oc->beta1) ||
        rd_dbl(&r, o, "train.optimizer", "beta2", 0, 0.999999, &oc->beta2) ||
        rd_dbl(&r, o, "train.optimizer", "eps", 0, 1, &oc->eps) ||
        rd_dbl(&r, o, "train.optimizer", "weight_decay", 0, 1e3, &oc->weight_decay) ||
        rd_dbl(&r, cl, "train.clip", "norm", 0, 1e12, &oc->clip_norm) ||
        rd_dbl(&r, cl, "train.clip", "value", 0, 1e12, &oc->clip_value) ||
        rd_enum(&r, sc, "train.schedule", "type", tg_lr_names, &sched) ||
        rd_long(&r, sc, "train.schedule", "warmup", 0, 1000000000L, &oc->warmup) ||
        rd_long(&r, sc, "train.schedule", "step_size", 1, 1000000000L, &oc->step_size) ||
        rd_dbl(&r, sc, "train.schedule", "gamma", 0, 1e6, &oc->gamma) ||
        rd_dbl(&r, sc, "train.schedule", "min_lr", 0, 1e6, &oc->min_lr))
        return err->code;
    oc->kind = kind;
    oc->schedule = sched;
    if (oc->kind == TG_OPT_ADAGRAD && !tg_cfg_get(o, "eps")) oc->eps = 1e-10;
    if (oc->nesterov && !(oc->momentum > 0))
        return tg_cfg_error(c, tg_cfg_get(o, "nesterov"), err, "'train.optimizer.nesterov' needs a momentum > 0");

    const tg_cfg_node *rn = tg_cfg_get(c->root, "run"), *dir = tg_cfg_get(rn, "dir");
    if (tg_cfg_check_keys(c, rn, "run", RUN_KEYS, err)) return err->code;
    if (dir) {
        const char *s;
        if (tg_cfg_string(c, dir, "run.dir", &s, err)) return err->code;
        snprintf(tc->run_dir, sizeof tc->run_dir, "%s", s);
    } else { /* runs/<config file name without .yaml> */
        const char *base = strrchr(config_path, '/');
        base = base ? base + 1 : config_path;
        int len = (int)strcspn(base, ".");
        snprintf(tc->run_dir, sizeof tc->run_dir, "runs/%.*s", len, base);
    }
    return TG_OK;
}

/* ---- setting up ---- */

/* the data and the model must agree */
static tg_status check_fit(tg_trainer *t, tg_error *err)
{
    const tg_model *m = &t->model;
    const tg_dataset *d = &t->data;
    const tg_cfg_node *mn = tg_cfg_get(t->cfg.root, "model");
    if (tg_data_has_tokens(d)) {
        if (m->input == TG_IN_DENSE || m->loss != TG_LOSS_CROSS_ENTROPY)
            return tg_cfg_error(&t->cfg, mn, err, "the data is symbols (%s): the model needs an embedding or one_hot "
                                "input and a cross_entropy loss", d->source);
        if (m->vocab != d->vocab || m->out != d->vocab)
            return tg_cfg_error(&t->cfg, mn, err, "the data has %d symbols but the model's input has %d and its head %d "
                                "(leave model.input.vocab and model.head.out out to take the data's)",
                                d->vocab, m->vocab, m->out);
    } else {
        if (m->input != TG_IN_DENSE || m->loss == TG_LOSS_CROSS_ENTROPY)
            return tg_cfg_error(&t->cfg, mn, err, "the data is vectors (%s): the model needs a dense input and an mse or half_sse loss",
                                d->source);
        if (m->in_dim != d->in_dim || m->out != d->out_dim)
            return tg_cfg_error(&t->cfg, mn, err, "the data has inputs of width %d and targets of width %d, the model "
                                "model.input.dim %d and model.head.out %d", d->in_dim, d->out_dim, m->in_dim, m->out);
    }
    return TG_OK;
}

/* What makes a checkpoint belong to this config: parameter names and shapes, the
 * cells' equations and hyper-parameters, the data's kind and vocabulary. */
static uint64_t model_hash(const tg_trainer *t)
{
    uint64_t h = TG_FNV0;
    const tg_model *m = &t->model;
    for (int i = 0; i < m->n_params; i++) {
        h = tg_fnv64(h, m->params[i].name, strlen(m->params[i].name));
        h = tg_fnv64(h, m->params[i].t->shape, sizeof(int) * (size_t)m->params[i].t->ndim);
    }
    for (int i = 0; i < m->n_layers; i++) {
        const tg_cell *c = &m->layers[i];
        h = tg_fnv64(h, c->eq_node->value, strlen(c->eq_node->value));
        h = tg_fnv64(h, c->hyper, sizeof(double) * (size_t)c->n_hyper);
    }
    h = tg_fnv64(h, &t->data.kind, sizeof t->data.kind);
    for (int i = 0; i < t->data.vocab && t->data.symbols; i++)
        h = tg_fnv64(h, t->data.symbols[i], strlen(t->data.symbols[i]) + 1);
    return h;
}

static tg_status make_dirs(const char *path, tg_error *err)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0755) && errno != EEXIST)
                return tg_error_set_at(err, TG_ERR_IO, p, 0, 0, "cannot create directory: %s", strerror(errno));
            *s = '/';
        }
    if (mkdir(p, 0755) && errno != EEXIST)
        return tg_error_set_at(err, TG_ERR_IO, p, 0, 0, "cannot create the run directory: %s", strerror(errno));
    return TG_OK;
}

/* A vocabulary written in the config must be the data's: said at the value, before the
 * model (whose embedding and head it sizes) is allocated. A value that is not a valid
 * vocabulary is left for the model loader to name. */
static tg_status check_vocab(tg_trainer *t, tg_error *err)
{
    const tg_cfg_node *in = tg_cfg_get(tg_cfg_get(t->cfg.root, "model"), "input"), *v = tg_cfg_get(in, "vocab");
    tg_error ignored = {0};
    long n;
    if (!tg_data_has_tokens(&t->data) || !v || tg_cfg_int(&t->cfg, v, "model.input.vocab", 1, 1 << 24, &n, &ignored) ||
        n == t->data.vocab)
        return TG_OK;
    return tg_cfg_error(&t->cfg, v, err, "'model.input.vocab' is %ld but the data has %d symbols (%s): leave "
                        "model.input.vocab out to take the data's", n, t->data.vocab, t->data.source);
}

const char *tg_vocab_override(const tg_cfg *c, const tg_dataset *d, char *buf, int n)
{
    const tg_cfg_node *in = tg_cfg_get(tg_cfg_get(c->root, "model"), "input");
    if (!tg_data_has_tokens(d) || !in || in->kind != TG_CFG_MAP || tg_cfg_get(in, "vocab")) return NULL;
    snprintf(buf, n, "model.input.vocab=%d", d->vocab);
    return buf;
}

/* Relative file names in the config (data.path, cell files) are relative to the config
 * file (to the current directory when given with --set); the run directory's copy of
 * the config holds them absolute, so that a resumed run finds them from anywhere. A
 * bare cell name found next to the config (cells/NAME.yaml) becomes that file. */
static tg_status absolutize(tg_trainer *t, const tg_cfg_node *n, const char *key, const char *kind,
                            tg_error *err)
{
    if (!n || n->kind != TG_CFG_SCALAR || !n->value || n->value[0] == '/') return TG_OK;
    size_t l = strlen(n->value);
    int bare = kind && !strchr(n->value, '/') && !(l > 5 && !strcmp(n->value + l - 5, ".yaml"));
    char dir[2048], joined[4096], real[PATH_MAX];
    tg_cfg_dir(&t->cfg, n, dir, sizeof dir);
    if (bare) snprintf(joined, sizeof joined, "%s%ss/%s.yaml", dir, kind, n->value);
    else snprintf(joined, sizeof joined, "%s%s", dir, n->value);
    if (!realpath(joined, real)) return TG_OK; /* built in, or missing: the loaders say which */
    return tg_cfg_set(&t->cfg, key, real, err);
}

static tg_status absolute_paths(tg_trainer *t, tg_error *err)
{
    const tg_cfg_node *root = t->cfg.root;
    if (absolutize(t, tg_cfg_get(tg_cfg_get(root, "data"), "path"), "data.path", NULL, err)) return err->code;
    const tg_cfg_node *ls = tg_cfg_get(tg_cfg_get(root, "model"), "layers");
    for (int i = 0; ls && ls->kind == TG_CFG_SEQ && i < ls->n; i++)
        for (int k = 0; k < 2; k++) {
            const char *what = k ? "block" : "cell";
            char key[64];
            snprintf(key, sizeof key, "model.layers.%d.%s", i, what);
            if (absolutize(t, tg_cfg_get(ls->items[i], what), key, what, err)) return err->code;
        }
    return TG_OK;
}

/* One thread per shard, at most one per row of the batch; replicas of the model for
 * shards 1.., their parameters pointing at the model's data. */
static tg_status init_shards(tg_trainer *t, const char *path, const char *const *over, int n_over,
                             tg_error *err)
{
    omp_set_max_active_levels(1); /* inside a shard, ops run on the shard's thread */
    int ns = omp_get_max_threads();
    if (ns > t->tc.batch) ns = t->tc.batch;
    if (ns > TG_MAX_SHARDS) ns = TG_MAX_SHARDS;
    t->n_shards = ns < 1 ? 1 : ns;
    for (int s = 1; s < t->n_shards; s++) {
        tg_model *r = tg_calloc(1, sizeof *r);
        if (!r) return tg_error_set(err, TG_ERR_NOMEM, "out of memory for the model of thread %d", s);
        if (tg_model_load(r, path, over, n_over, TG_F32, t->tc.seed, err)) {
            tg_free(r);
            return err->code;
        }
        t->rep[s] = r;
        for (int i = 0; i < r->n_params; i++) {
            tg_free(r->params[i].t->data);
            r->params[i].t->data = t->model.params[i].t->data;
        }
    }
    return TG_OK;
}

static tg_model *shard_model(tg_trainer *t, int s) { return s ? t->rep[s] : &t->model; }

/* Rows [lo, hi) of batch b (pointers into its arrays). */
static tg_batch batch_rows(const tg_model *m, const tg_batch *b, int lo, int hi)
{
    tg_batch r = *b;
    int64_t T = b->T;
    r.B = hi - lo;
    if (b->tokens) r.tokens = b->tokens + lo * T;
    if (b->x) r.x = b->x + lo * T * m->in_dim;
    if (b->targets) r.targets = b->targets + lo * T;
    if (b->y) r.y = b->y + lo * (m->loss_last ? 1 : T) * m->out;
    if (b->mask) r.mask = b->mask + lo * T;
    return r;
}

tg_status tg_trainer_init(tg_trainer *t, const char *config_path, const char *resume_dir,
                          const char *const *sets, int n_sets, tg_error *err)
{
    memset(t, 0, sizeof *t);
    char path[1200];
    if (resume_dir) snprintf(path, sizeof path, "%s/config.yaml", resume_dir);
    else snprintf(path, sizeof path, "%s", config_path);
    if (tg_cfg_load_with(&t->cfg, path, sets, n_sets, err)) return err->code;
    if (!t->cfg.root) {
        tg_error_set_at(err, TG_ERR_CONFIG, path, 0, 0, "the file is empty");
        goto fail;
    }
    if (!resume_dir && absolute_paths(t, err)) goto fail;
    if (read_train(&t->tc, &t->cfg, path, err)) goto fail;
    if (resume_dir) snprintf(t->tc.run_dir, sizeof t->tc.run_dir, "%s", resume_dir);
    if (t->tc.threads > 0) omp_set_num_threads(t->tc.threads);
    if (tg_data_load(&t->data, &t->cfg, tg_cfg_get(t->cfg.root, "data"), err)) goto fail;

    /* the model takes the data's vocabulary unless the config gives one; the model is
     * read from the file itself with the same overrides, so that positions in messages
     * point into the file the user wrote */
    const char *over[130];
    int n_over = 0;
    char vset[64];
    for (int i = 0; i < n_sets && n_over < 128; i++) over[n_over++] = sets[i];
    if (tg_vocab_override(&t->cfg, &t->data, vset, sizeof vset)) {
        over[n_over++] = vset;
        if (tg_cfg_set(&t->cfg, "model.input.vocab", strchr(vset, '=') + 1, err)) goto fail;
    } else if (check_vocab(t, err)) {
        goto fail;
    }
    if (tg_model_load(&t->model, path, over, n_over, TG_F32, t->tc.seed, err)) goto fail;
    if (check_fit(t, err)) goto fail;
    t->hash = model_hash(t);
    if (init_shards(t, path, over, n_over, err)) goto fail;

    int B = t->tc.batch;
    if (tg_loader_init(&t->train, &t->data, 0, B, t->tc.seq_len, t->tc.seed, err)) goto fail;
    /* a validation split too short for one batch is an error now, not at the first
     * evaluation; no validation split at all (val_fraction 0, val_size 0) means no
     * evaluation */
    const tg_dataset *d = &t->data;
    t->has_val = d->kind == TG_DATA_INLINE || (tg_data_is_text(d) ? d->n_val > 0 : d->n_val_seqs > 0);
    if (t->has_val) {
        tg_loader v;
        if (tg_loader_init(&v, d, 1, B, t->tc.seq_len, t->tc.seed, err)) goto fail;
        tg_loader_free(&v);
    }
    if (t->tc.epochs > 0) {
        int64_t per = tg_loader_batches(&t->train);
        if (per > 0) t->tc.steps = t->tc.epochs * per;
    }
    if (t->tc.opt.steps <= 0) t->tc.opt.steps = t->tc.steps; /* the cosine schedule's end */
    t->n_state = t->model.n_state;
    if (t->n_state > TG_MAX_STATE) {
        tg_error_set(err, TG_ERR_CONFIG, "%s: more than %d state tensors", path, TG_MAX_STATE);
        goto fail;
    }
    for (int k = 0; k < t->n_state; k++)
        if (!(t->carry[k] = tg_tensor_new(TG_F32, 2, (int[]){B, tg_model_state_size(&t->model, k)}, 0, err)))
            goto fail;
    tg_tensor *ps[TG_MODEL_MAX_PARAMS];
    for (int i = 0; i < t->model.n_params; i++) ps[i] = t->model.params[i].t;
    if (tg_optim_init(&t->opt, &t->tc.opt, ps, t->model.n_params, err)) goto fail;
    for (int s = 0; s < t->n_shards; s++) {
        if (!(t->tapes[s] = tg_tape_new(TG_F32, err))) goto fail;
        t->tapes[s]->recycle_grads = 1; /* peak memory: only live gradients (see tape.h) */
        t->tapes[s]->defer_wgrad = 1;   /* a recurrence's weight gradient in one product */
    }
    t->tape = t->tapes[0];
    /* the run directory only once everything has been checked */
    if (make_dirs(t->tc.run_dir, err)) goto fail;
    char cpath[1100];
    snprintf(cpath, sizeof cpath, "%s/config.yaml", t->tc.run_dir);
    if (!resume_dir && tg_cfg_write(&t->cfg, cpath, err)) goto fail; /* the resolved config */
    if (resume_dir) {
        char ck[1100];
        snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", resume_dir);
        if (tg_checkpoint_load(t, ck, err)) goto fail;
    }
    return TG_OK;
fail:
    tg_trainer_free(t);
    return err->code ? err->code : (tg_status)TG_ERR_CONFIG;
}

tg_status tg_trainer_profile(tg_trainer *t, tg_error *err)
{
    if (!t->prof && !(t->prof = tg_calloc((size_t)t->n_shards, sizeof *t->prof)))
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory for the profile");
    for (int s = 0; s < t->n_shards; s++) t->tapes[s]->profile = &t->prof[s];
    tg_task_counts(&t->prof_tasks0[0], &t->prof_tasks0[1]);
    return TG_OK;
}

void tg_trainer_free(tg_trainer *t)
{
    tg_free(t->prof);
    for (int s = 0; s < TG_MAX_SHARDS; s++) {
        if (t->tapes[s] == t->tape) t->tape = NULL;
        tg_tape_free(t->tapes[s]);
        if (!t->rep[s]) continue;
        for (int i = 0; i < t->rep[s]->n_params; i++) t->rep[s]->params[i].t->data = NULL; /* model's */
        tg_model_free(t->rep[s]);
        tg_free(t->rep[s]);
    }
    tg_tape_free(t->tape);
    tg_optim_free(&t->opt);
    for (int k = 0; k < TG_MAX_STATE; k++) tg_tensor_free(t->carry[k]);
    tg_loader_free(&t->train);
    tg_model_free(&t->model);
    tg_data_free(&t->data);
    tg_cfg_free(&t->cfg);
    tg_free(t->log);
    memset(t, 0, sizeof *t);
}

/* ---- the loop ---- */

static int carries(const tg_trainer *t) { return t->tc.carry_state && tg_data_is_text(&t->data); }

static void zero_carry(tg_trainer *t)
{
    for (int k = 0; k < t->n_state; k++) memset(t->carry[k]->data, 0, sizeof(float) * (size_t)t->carry[k]->numel);
}

/* "; the first non-finite value came from op ..." from the tape's recorded nodes, or "" */
static void nonfinite_where(const tg_trainer *t, char *where, size_t size)
{
    const tg_node *n = tg_tape_first_nonfinite(t->tape);
    const char *dir = "forward";
    if (!n) n = tg_tape_first_nonfinite_grad(t->tape), dir = "backward";
    where[0] = 0;
    if (n)
        snprintf(where, size, "; the first non-finite value came from op '%s'%s%s%s (%s)",
                 tg_op_name((tg_op_id)n->op), n->label ? " in '" : "", n->label ? n->label : "",
                 n->label ? "'" : "", dir);
}

/* "step 12: the loss is nan; the first non-finite value came from ..." */
static tg_status numeric_failure(tg_trainer *t, const char *what, double v, tg_error *err)
{
    char where[400];
    nonfinite_where(t, where, sizeof where);
    return tg_error_set(err, TG_ERR_NUMERIC, "step %lld: the %s is %g%s; stopped, the last checkpoint is kept",
                        (long long)t->step + 1, what, v, where);
}

tg_status tg_trainer_log(tg_trainer *t, const double *row)
{
    if (t->n_log == t->cap_log) {
        int64_t cap = t->cap_log ? 2 * t->cap_log : 256;
        double *n = tg_malloc(sizeof *n * 7 * (size_t)cap);
        if (!n) return TG_ERR_NOMEM;
        if (t->n_log) memcpy(n, t->log, sizeof *n * 7 * (size_t)t->n_log);
        tg_free(t->log);
        t->log = n;
        t->cap_log = cap;
    }
    memcpy(t->log + 7 * t->n_log++, row, sizeof *row * 7);
    return TG_OK;
}

/* The loss of batch b (and with `backward`, its gradient in the model's parameters),
 * each shard on its rows in its own thread; the shards' losses and gradients are
 * combined as the whole batch's would be (weighted by their share of the loss's
 * normaliser). carry: the [B,size] states to start from (NULL: zeros). *lv: the loss.
 * The final states land in t->shard_out (see store_carry); the tapes need a reset. */
static tg_status shard_pass(tg_trainer *t, const tg_batch *b, tg_tensor *const *carry, int backward,
                            uint64_t seed, double *lv, tg_error *err)
{
    const tg_train_config *tc = &t->tc;
    int ns = t->n_shards < b->B ? t->n_shards : b->B;
    double L[TG_MAX_SHARDS], W[TG_MAX_SHARDS];
    tg_error errs[TG_MAX_SHARDS];
    memset(errs, 0, sizeof errs);
#pragma omp parallel num_threads(ns)
    {
        int s = omp_get_thread_num(), lo = b->B * s / ns, hi = b->B * (s + 1) / ns;
        tg_model *m = shard_model(t, s);
        tg_tape *tape = t->tapes[s];
        tg_batch bs = batch_rows(m, b, lo, hi);
        tg_tensor cv[TG_MAX_STATE], *cin[TG_MAX_STATE];
        for (int k = 0; carry && k < t->n_state; k++) { /* this shard's rows of the state */
            int size = carry[k]->shape[1];
            cv[k] = *carry[k];
            cv[k].owned = 0;
            cv[k].shape[0] = hi - lo;
            cv[k].numel = (int64_t)(hi - lo) * size;
            cv[k].data = (float *)carry[k]->data + (int64_t)lo * size;
            cin[k] = &cv[k];
        }
        tg_model_run run = {.bptt = tc->bptt, .carry_in = carry ? cin : NULL, .carry_out = t->shard_out[s],
                            .training = backward, .seed = s ? tg_hash64(seed + (uint64_t)s) : seed};
        t->shard_lo[s] = lo;
        if (!backward) tg_tape_no_grad_begin(tape);
        tg_tensor *loss = tg_model_loss(m, tape, &bs, &run, &errs[s]);
        if (!backward) tg_tape_no_grad_end(tape);
        L[s] = loss ? tg_tensor_get(loss, 0) : NAN;
        W[s] = tg_model_loss_weight(m, &bs);
        if (backward && loss && isfinite(L[s]) && tg_tape_backward(tape, loss))
            errs[s] = *tg_tape_error(tape);
    }
    for (int s = 0; s < ns; s++)
        if (errs[s].code) return *err = errs[s], err->code;
    /* mean losses: weights W_s / sum W; a sum (half_sse, W < 0): weights 1 */
    double Wt = 0, a[TG_MAX_SHARDS];
    for (int s = 0; s < ns; s++) Wt += W[s];
    *lv = 0;
    for (int s = 0; s < ns; s++) {
        a[s] = W[0] < 0 ? 1 : Wt > 0 ? W[s] / Wt : 1.0 / ns;
        if (a[s] != 0) *lv += a[s] * L[s];
    }
    double t0 = t->prof ? omp_get_wtime() : 0;
    for (int i = 0; backward && ns > 1 && i < t->model.n_params; i++) {
        tg_tensor *p = t->model.params[i].t;
        float *g0 = p->grad;
        if (!g0) continue;
        for (int s = 1; s < ns; s++) {
            tg_tensor *q = shard_model(t, s)->params[i].t;
            float *gs = q->grad;
            float a0 = s == 1 ? (float)a[0] : 1, as = (float)a[s];
            int64_t n = p->numel;
#pragma omp parallel for simd if (n > TG_OPT_PAR_MIN)
            for (int64_t j = 0; j < n; j++) { /* and the shard's gradient zeroed for its next step */
                g0[j] = a0 * g0[j] + as * gs[j];
                gs[j] = 0;
            }
        }
    }
    if (t->prof && backward) t->prof_sum_s += omp_get_wtime() - t0;
    return TG_OK;
}

/* The shards' final states into carry ([B,size] tensors), row by row. */
static void store_carry(tg_trainer *t, tg_tensor *const *carry, int B)
{
    int ns = t->n_shards < B ? t->n_shards : B;
    for (int s = 0; carries(t) && s < ns; s++)
        for (int k = 0; k < t->n_state; k++) {
            int64_t size = carry[k]->shape[1];
            memcpy((float *)carry[k]->data + t->shard_lo[s] * size, t->shard_out[s][k]->data,
                   sizeof(float) * (size_t)t->shard_out[s][k]->numel);
        }
}

static void reset_tapes(tg_trainer *t)
{
    for (int s = 0; s < t->n_shards; s++) tg_tape_reset(t->tapes[s]);
}

double tg_trainer_eval(tg_trainer *t, tg_error *err)
{
    if (!t->has_val) return NAN;
    tg_loader val;
    if (tg_loader_init(&val, &t->data, 1, t->tc.batch, t->tc.seq_len, t->tc.seed, err)) return NAN;
    int64_t n = tg_loader_batches(&val);
    if (t->tc.eval_batches > 0 && (n == 0 || n > t->tc.eval_batches)) n = t->tc.eval_batches;
    tg_tensor *carry[TG_MAX_STATE] = {0};
    double sum = 0;
    int64_t done = 0;
    for (int k = 0; k < t->n_state; k++)
        if (!(carry[k] = tg_tensor_new(TG_F32, t->carry[k]->ndim, t->carry[k]->shape, 0, err))) goto out;
    for (; done < n; done++) { /* split over the threads like training */
        const tg_batch *b;
        if (tg_loader_next(&val, &b))
            for (int k = 0; k < t->n_state; k++) memset(carry[k]->data, 0, sizeof(float) * (size_t)carry[k]->numel);
        double l;
        tg_status st = shard_pass(t, b, carries(t) ? carry : NULL, 0, 0, &l, err);
        if (!st) store_carry(t, carry, b->B);
        reset_tapes(t);
        if (st) break;
        sum += l;
    }
out:
    for (int k = 0; k < t->n_state; k++) tg_tensor_free(carry[k]);
    tg_loader_free(&val);
    return done ? sum / (double)done : NAN;
}

/* The loss on the next training batch, without taking it or updating anything. When it
 * is not finite, `where` names the op that made it (see nonfinite_where). */
static double peek_loss(tg_trainer *t, char *where, size_t size, tg_error *err)
{
    tg_loader_state saved = t->train.st;
    const tg_batch *b;
    int fresh = tg_loader_next(&t->train, &b);
    double v;
    tg_status st = shard_pass(t, b, carries(t) && !fresh ? t->carry : NULL, 0, 0, &v, err);
    reset_tapes(t);
    where[0] = 0;
    if (st) v = NAN;
    tg_model_run run;
    if (!st && !isfinite(v)) { /* once more, recording, op by op, to find the first non-finite node */
        run = (tg_model_run){.carry_in = carries(t) && !fresh ? t->carry : NULL};
        t->model.no_fuse = 1;
        if (tg_model_loss(&t->model, t->tape, b, &run, err)) nonfinite_where(t, where, size);
        t->model.no_fuse = 0;
        tg_tape_reset(t->tape);
    }
    t->train.st = saved;
    return v;
}

static tg_status checkpoint(tg_trainer *t, tg_event_fn fn, void *ctx, tg_error *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", t->tc.run_dir);
    if (tg_checkpoint_save(t, path, err)) { /* (tg_st_write leaves an existing file as it was) */
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l, "; stopped at step %lld, the previous checkpoint is kept",
                 (long long)t->step);
        return err->code;
    }
    tg_event e = {.kind = TG_EV_CHECKPOINT, .step = t->step, .steps = t->tc.steps, .path = path,
                  .val_loss = NAN};
    if (fn) fn(ctx, &e);
    return TG_OK;
}

tg_status tg_trainer_run(tg_trainer *t, volatile sig_atomic_t *stop, tg_event_fn fn, void *ctx,
                         tg_error *err)
{
    const tg_train_config *tc = &t->tc;
    tg_event e = {.kind = TG_EV_START, .step = t->step, .steps = tc->steps};
    char where[400];
    e.loss = peek_loss(t, where, sizeof where, err);
    if (err->code) return err->code;
    e.val_loss = tc->eval_every > 0 || tc->steps == 0 ? tg_trainer_eval(t, err) : NAN;
    if (err->code) return err->code;
    e.lr = tg_optim_lr(&tc->opt, t->step);
    if (fn) fn(ctx, &e);
    if (!isfinite(e.loss)) return tg_error_set(err, TG_ERR_NUMERIC, "step %lld: the loss is %g before any update%s",
                                               (long long)t->step, e.loss, where);
    double t0 = now() - t->elapsed0, t_log = now(), norm = 0;
    int64_t start = t->step, tokens = 0;
    while (t->step < tc->steps) {
        if (stop && *stop) {
            t->interrupted = 1;
            break;
        }
        const tg_batch *b;
        if (tg_loader_next(&t->train, &b)) zero_carry(t);
        uint64_t seed = tg_hash64(tc->seed * 1000003u + (uint64_t)t->step);
        double lv;
        if (shard_pass(t, b, carries(t) ? t->carry : NULL, 1, seed, &lv, err)) return err->code;
        /* to find where a NaN came from: the whole batch again on one thread, op by op */
        tg_tensor *out[TG_MAX_STATE];
        tg_model_run run = {.bptt = tc->bptt, .carry_in = carries(t) ? t->carry : NULL, .carry_out = out,
                            .training = 1, .seed = seed};
        if (!isfinite(lv)) {
            reset_tapes(t);
            t->model.no_fuse = 1;
            tg_model_loss(&t->model, t->tape, b, &run, err);
            return numeric_failure(t, "loss", lv, err);
        }
        double t_opt = t->prof ? omp_get_wtime() : 0;
        norm = tg_optim_grad_norm(&t->opt);
        if (!isfinite(norm)) { /* again, keeping every gradient, to find where it broke */
            reset_tapes(t);
            t->tape->recycle_grads = 0;
            t->tape->defer_wgrad = 0; /* each step's product adds its own share: a NaN there is named */
            t->model.no_fuse = 1;
            for (int i = 0; i < t->model.n_params; i++) tg_tensor_zero_grad(t->model.params[i].t);
            tg_tensor *loss = tg_model_loss(&t->model, t->tape, b, &run, err);
            if (loss) tg_tape_backward(t->tape, loss);
            return numeric_failure(t, "gradient norm", norm, err);
        }
        double lr = tg_optim_lr(&tc->opt, t->step);
        tg_optim_step(&t->opt, t->step);
        if (t->prof) t->prof_opt_s += omp_get_wtime() - t_opt;
        store_carry(t, t->carry, b->B);
        reset_tapes(t);
        t->step++;
        t->log_sum += lv, t->log_n++;
        tokens += (int64_t)b->B * b->T;

        int do_eval = tc->eval_every > 0 && (t->step % tc->eval_every == 0 || t->step == tc->steps);
        if (t->step % tc->log_every == 0 || do_eval || t->step == tc->steps) {
            double tn = now();
            e = (tg_event){.kind = TG_EV_LOG, .step = t->step, .steps = tc->steps, .loss = t->log_sum / (double)t->log_n,
                           .val_loss = NAN, .lr = lr, .grad_norm = norm,
                           .tokens_per_s = (double)tokens / fmax(tn - t_log, 1e-9), .elapsed = tn - t0};
            if (do_eval) {
                e.val_loss = tg_trainer_eval(t, err);
                if (err->code) return err->code;
                e.kind = TG_EV_EVAL;
            }
            double row[7] = {(double)e.step, e.loss, e.val_loss, e.lr, e.grad_norm, e.tokens_per_s, e.elapsed};
            if (tg_trainer_log(t, row)) return tg_error_set(err, TG_ERR_NOMEM, "out of memory for the log");
            if (fn) fn(ctx, &e);
            if (do_eval && tg_runlog_write(t, err)) return err->code;
            t->log_sum = 0, t->log_n = 0, tokens = 0;
            t_log = now();
        }
        t->elapsed0 = now() - t0;
        if (tc->checkpoint_every > 0 && t->step % tc->checkpoint_every == 0 && t->step < tc->steps &&
            checkpoint(t, fn, ctx, err))
            return err->code;
    }
    t->elapsed0 = now() - t0;
    /* interrupted before its first step, a fresh run still leaves a checkpoint to resume */
    if (tg_runlog_write(t, err) || ((t->step > start || t->interrupted) && checkpoint(t, fn, ctx, err)))
        return err->code;
    e = (tg_event){.kind = TG_EV_DONE, .step = t->step, .steps = tc->steps, .val_loss = NAN, .elapsed = t->elapsed0};
    if (fn) fn(ctx, &e);
    return TG_OK;
}
