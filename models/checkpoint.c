/* checkpoint.c: saving and restoring a training run in safetensors (see trainer.h).
 * Tensors: every parameter under its model path ("layers.0.weight_ih", the PyTorch
 * layout for the built-in cells), "optim.<param>.<m|v|momentum|sum|square_avg>", the
 * carried state "state.<k>", the data's vocabulary ("data.vocab_lengths" and
 * "data.vocab_bytes", for sampling). Metadata: step, optimizer steps, data position,
 * config hash, elapsed time, the run log (and the losses not yet in a row of it), and a
 * checksum of everything else, so that a changed byte anywhere in the file is refused. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/alloc.h"
#include "graph/rng.h"
#include "models/safetensors.h"
#include "models/trainer.h"

#define MAX_ENTRIES (3 * TG_MODEL_MAX_PARAMS + TG_MAX_STATE + 4)

static tg_st_entry entry(const char *name, const tg_tensor *t)
{
    tg_st_entry e = {name, (tg_dtype)t->dtype, t->ndim, {0}, t->data};
    memcpy(e.shape, t->shape, sizeof e.shape);
    return e;
}

/* The metadata keys, the checksum last: FNV-1a over every tensor's name and bytes, then
 * every other key and value (the reader checks the header's syntax, the checksum the
 * rest: data, tensor names, metadata values). */
static const char *const META[] = {"step", "optimizer_steps", "data_position", "config_hash", "elapsed",
                                   "optimizer", "log", "log_partial", "format", "checksum"};
#define N_META 10
static uint64_t fnv_item(uint64_t h, const char *name, const void *p, size_t n)
{
    return tg_fnv64(tg_fnv64(h, name, strlen(name) + 1), p, n);
}

/* "step loss val lr norm tok/s elapsed;..." */
static char *log_text(const tg_trainer *t)
{
    size_t cap = 64 + (size_t)t->n_log * 7 * 26;
    char *s = tg_malloc(cap);
    if (!s) return NULL;
    size_t k = 0;
    s[0] = 0;
    for (int64_t r = 0; r < t->n_log; r++)
        for (int c = 0; c < 7; c++)
            k += (size_t)snprintf(s + k, cap - k, "%.17g%s", t->log[7 * r + c], c == 6 ? ";" : " ");
    return s;
}

tg_status tg_checkpoint_save(const tg_trainer *t, const char *path, tg_error *err)
{
    static char names[MAX_ENTRIES][160];
    tg_st_entry e[MAX_ENTRIES];
    int n = 0;
    const tg_model *m = &t->model;
    for (int i = 0; i < m->n_params; i++) e[n++] = entry(m->params[i].name, m->params[i].t);
    for (int k = 0; k < 2 * t->opt.n; k++) {
        const char *suffix;
        const tg_tensor *s = tg_optim_state(&t->opt, k, &suffix);
        if (!s) continue;
        snprintf(names[n], sizeof names[n], "optim.%s.%s", m->params[k / 2].name, suffix);
        e[n] = entry(names[n], s);
        n++;
    }
    for (int k = 0; k < t->n_state; k++) {
        snprintf(names[n], sizeof names[n], "state.%d", k);
        e[n] = entry(names[n], t->carry[k]);
        n++;
    }
    int32_t *lens = NULL, *bytes = NULL;
    if (t->data.vocab && t->data.symbols) {
        int64_t total = 0;
        for (int i = 0; i < t->data.vocab; i++) total += (int64_t)strlen(t->data.symbols[i]);
        lens = tg_malloc(sizeof *lens * (size_t)t->data.vocab);
        bytes = tg_malloc(sizeof *bytes * (size_t)(total ? total : 1));
        if (!lens || !bytes) goto oom;
        int64_t k = 0;
        for (int i = 0; i < t->data.vocab; i++) {
            const unsigned char *s = (const unsigned char *)t->data.symbols[i];
            lens[i] = (int32_t)strlen(t->data.symbols[i]);
            while (*s) bytes[k++] = *s++;
        }
        e[n++] = (tg_st_entry){"data.vocab_lengths", TG_I32, 1, {t->data.vocab}, lens};
        if (total) e[n++] = (tg_st_entry){"data.vocab_bytes", TG_I32, 1, {(int)total}, bytes};
    }
    char v[8][64];
    snprintf(v[0], sizeof v[0], "%" PRId64, t->step);
    snprintf(v[1], sizeof v[1], "%" PRId64, t->opt.t);
    snprintf(v[2], sizeof v[2], "%" PRId64 " %" PRId64 " %" PRIu64, t->train.st.batch, t->train.st.epoch,
             t->train.st.rng);
    snprintf(v[3], sizeof v[3], "%016" PRIx64, t->hash);
    snprintf(v[4], sizeof v[4], "%.17g", t->elapsed0);
    snprintf(v[5], sizeof v[5], "%s", tg_opt_names[t->opt.c.kind]);
    snprintf(v[6], sizeof v[6], "%.17g %" PRId64, t->log_sum, t->log_n);
    char *log = log_text(t);
    if (!log) goto oom;
    const char *vals[N_META] = {v[0], v[1], v[2], v[3], v[4], v[5], log, v[6], "pt", v[7]};
    uint64_t sum = TG_FNV0;
    for (int i = 0; i < n; i++)
        sum = fnv_item(sum, e[i].name, e[i].data,
                       (size_t)tg_shape_numel(e[i].ndim, e[i].shape) * tg_dtype_size(e[i].dtype));
    for (int k = 0; k < N_META - 1; k++) sum = fnv_item(sum, META[k], vals[k], strlen(vals[k]) + 1);
    snprintf(v[7], sizeof v[7], "%016" PRIx64, sum);
    tg_status st = tg_st_write(path, e, n, META, vals, N_META, err);
    tg_free(log);
    tg_free(lens);
    tg_free(bytes);
    return st;
oom:
    tg_free(lens);
    tg_free(bytes);
    return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory writing the checkpoint", path);
}

static tg_status bad(const char *path, tg_error *err, const char *fmt, const char *a, const char *b)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, a, b);
    return tg_error_set_at(err, TG_ERR_INVALID, path, 0, 0, "checkpoint refused: %s", msg);
}

/* Copies tensor `name` of the file into t, which must have the same shape. */
static tg_status restore(const tg_st_file *f, const char *name, tg_tensor *t, tg_error *err)
{
    const tg_st_tensor *s = tg_st_find(f, name);
    char want[64], got[64];
    if (!s) return bad(f->path, err, "it has no tensor '%s'%s (another model?)", name, "");
    tg_tensor view = {.ndim = s->ndim, .dtype = (uint8_t)s->dtype};
    memcpy(view.shape, s->shape, sizeof view.shape);
    if (s->dtype != t->dtype || !tg_shape_equal(&view, t)) {
        char msg[200];
        snprintf(msg, sizeof msg, "'%s' is %s %s in the checkpoint but %s %s in this model", name,
                 tg_dtype_name(s->dtype), tg_shape_str(&view, got, sizeof got), tg_dtype_name((tg_dtype)t->dtype),
                 tg_shape_str(t, want, sizeof want));
        return bad(f->path, err, "%s%s", msg, "");
    }
    memcpy(t->data, tg_st_data(f, s), (size_t)t->numel * tg_dtype_size((tg_dtype)t->dtype));
    return TG_OK;
}

static int meta_i64(const tg_st_file *f, const char *key, int64_t *v)
{
    const char *s = tg_st_meta(f, key);
    char *end;
    if (!s) return -1;
    *v = strtoll(s, &end, 10);
    return *end ? -1 : 0;
}

static tg_status read_log(tg_trainer *t, const char *s)
{
    t->n_log = 0;
    while (s && *s) {
        double row[7];
        int used = 0;
        if (sscanf(s, "%lf %lf %lf %lf %lf %lf %lf;%n", &row[0], &row[1], &row[2], &row[3], &row[4], &row[5],
                   &row[6], &used) != 7 || !used)
            break;
        if (tg_trainer_log(t, row)) return TG_ERR_NOMEM;
        s += used;
    }
    return TG_OK;
}

tg_status tg_checkpoint_load(tg_trainer *t, const char *path, tg_error *err)
{
    tg_st_file f;
    if (tg_st_read(&f, path, err)) return err->code;
    tg_status st = TG_OK;
    char hash[32];
    snprintf(hash, sizeof hash, "%016" PRIx64, t->hash);
    const char *mv[N_META];
    for (int k = 0; k < N_META; k++)
        if (!(mv[k] = tg_st_meta(&f, META[k]))) {
            st = bad(path, err, "it has no metadata '%s' (not a tapegrad training checkpoint, or an older one)%s",
                     META[k], "");
            goto out;
        }
    uint64_t sum = TG_FNV0;
    for (int i = 0; i < f.n; i++)
        sum = fnv_item(sum, f.t[i].name, tg_st_data(&f, &f.t[i]), (size_t)(f.t[i].end - f.t[i].begin));
    for (int k = 0; k < N_META - 1; k++) sum = fnv_item(sum, META[k], mv[k], strlen(mv[k]) + 1);
    char want[32];
    snprintf(want, sizeof want, "%016" PRIx64, sum);
    if (strcmp(mv[N_META - 1], want)) {
        st = bad(path, err, "it is corrupt (checksum %s in the file, %s over its contents)", mv[N_META - 1], want);
        goto out;
    }
    const char *h = mv[3], *opt = mv[5], *pos = mv[2], *el = mv[4];
    int64_t step, ot;
    if (meta_i64(&f, "step", &step) || meta_i64(&f, "optimizer_steps", &ot) ||
        sscanf(mv[7], "%lf %" SCNd64, &t->log_sum, &t->log_n) != 2) {
        st = bad(path, err, "its metadata step, optimizer_steps or log_partial is malformed%s%s", "", "");
        goto out;
    }
    if (strcmp(h, hash)) {
        char msg[160];
        snprintf(msg, sizeof msg, "it was written for another model or data (config hash %s, this config %s)", h, hash);
        st = bad(path, err, "%s%s", msg, "");
        goto out;
    }
    if (strcmp(opt, tg_opt_names[t->opt.c.kind])) {
        st = bad(path, err, "it holds the state of optimizer '%s', this run uses '%s'", opt, tg_opt_names[t->opt.c.kind]);
        goto out;
    }
    for (int i = 0; !st && i < t->model.n_params; i++) st = restore(&f, t->model.params[i].name, t->model.params[i].t, err);
    for (int k = 0; !st && k < 2 * t->opt.n; k++) {
        const char *suffix;
        tg_tensor *s = tg_optim_state(&t->opt, k, &suffix);
        char name[200];
        if (!s) continue;
        snprintf(name, sizeof name, "optim.%s.%s", t->model.params[k / 2].name, suffix);
        st = restore(&f, name, s, err);
    }
    for (int k = 0; !st && k < t->n_state; k++) {
        char name[32];
        snprintf(name, sizeof name, "state.%d", k);
        st = restore(&f, name, t->carry[k], err);
    }
    if (st) goto out;
    tg_loader_state ls;
    if (sscanf(pos, "%" SCNd64 " %" SCNd64 " %" SCNu64, &ls.batch, &ls.epoch, &ls.rng) != 3) {
        st = bad(path, err, "its data_position '%s' is malformed%s", pos, "");
        goto out;
    }
    t->train.st = ls;
    t->step = step;
    t->opt.t = ot;
    t->elapsed0 = strtod(el, NULL);
    if (read_log(t, tg_st_meta(&f, "log"))) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    while (!st && t->n_log > 0 && t->log[7 * (t->n_log - 1)] > (double)step) t->n_log--;
out:
    tg_st_close(&f);
    return st;
}
