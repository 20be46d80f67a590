/* data_tasks.c: the synthetic tasks (one sequence drawn per call from a generator the
 * caller owns, so a loader's state fixes every later batch) and inline data parsed from
 * the config. Batching is data.c's job. Dimension letters: T steps, C channels. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "graph/alloc.h"
#include "models/data_impl.h"

/* ---- synthetic tasks ---- */

/* Adding problem (Le et al. 2015): x [T,2]: channel 0 values U[0,1), channel 1 a marker
 * with one 1 in [0, T/2) and one in [T/2, T); y [1] = the sum of the two marked values.
 * Predicting the constant 1 scores E[(y - 1)^2] = Var(U1 + U2) = 1/6. */
static void draw_adding(int T, tg_rng *r, double *x, double *y)
{
    int h = T / 2;
    for (int t = 0; t < T; t++) x[2 * t] = tg_rng_uniform(r), x[2 * t + 1] = 0;
    int a = (int)tg_rng_below(r, (uint64_t)h), b = h + (int)tg_rng_below(r, (uint64_t)(T - h));
    x[2 * a + 1] = x[2 * b + 1] = 1;
    y[0] = x[2 * a] + x[2 * b];
}

/* Copy memory with a blank span S = T - 20: tokens = 10 symbols of 0..7, S - 1 blanks,
 * the delimiter, 10 blanks; targets = blank everywhere but the last 10 steps, which
 * repeat the 10 symbols. A memoryless model scores 10 ln 8 / T nats per step. */
static void draw_copy(int T, tg_rng *r, int32_t *tokens, int32_t *targets)
{
    for (int t = 0; t < T; t++) tokens[t] = targets[t] = COPY_BLANK;
    for (int t = 0; t < COPY_SPAN; t++)
        tokens[t] = targets[T - COPY_SPAN + t] = (int32_t)tg_rng_below(r, COPY_DATA);
    tokens[T - COPY_SPAN - 1] = COPY_DELIM;
}

/* Noisy sine: x_t = sin(w t + phase) + noise * N(0,1) with w in [0.1, 1) (periods of 6
 * to 63 steps) and phase in [0, 2 pi) per sequence; y_t = sin(w (t + 1) + phase), the
 * next clean value. x, y: [T,1]. */
static void draw_sine(int T, double noise, tg_rng *r, double *x, double *y)
{
    double w = 0.1 + 0.9 * tg_rng_uniform(r), phase = 6.283185307179586 * tg_rng_uniform(r);
    for (int t = 0; t < T; t++) {
        x[t] = sin(w * t + phase) + (noise > 0 ? noise * tg_rng_normal(r) : 0);
        y[t] = sin(w * (t + 1) + phase);
    }
}

void tg_data_draw(const tg_dataset *d, tg_rng *r, int32_t *tokens, int32_t *targets, double *x,
                  double *y)
{
    switch (d->kind) {
    case TG_DATA_ADDING: draw_adding(d->seq_len, r, x, y); break;
    case TG_DATA_COPY: draw_copy(d->seq_len, r, tokens, targets); break;
    case TG_DATA_SINE: draw_sine(d->seq_len, d->noise, r, x, y); break;
    default: break; /* text and inline data are not drawn */
    }
}

tg_status tg_data_copy_symbols(tg_dataset *d, tg_error *err)
{
    static const char *const names[COPY_VOCAB] = {"0", "1", "2", "3", "4", "5", "6", "7", "_", ":"};
    if (!(d->symbols = tg_calloc(COPY_VOCAB, sizeof *d->symbols)))
        return tg_error_set(err, TG_ERR_NOMEM, "data: out of memory");
    d->vocab = COPY_VOCAB;
    for (int v = 0; v < COPY_VOCAB; v++) {
        if (!(d->symbols[v] = tg_malloc(2))) return tg_error_set(err, TG_ERR_NOMEM, "data: out of memory");
        memcpy(d->symbols[v], names[v], 2);
    }
    return TG_OK;
}

/* ---- inline data: [sequence][step][channel] lists ---- */

/* What a node is, for "got ...". buf: 80 bytes. */
static const char *what(const tg_cfg_node *n, char *buf)
{
    if (!n) return "nothing";
    if (n->kind == TG_CFG_MAP) return "a map";
    if (n->kind == TG_CFG_SEQ) return "an empty list";
    snprintf(buf, 80, "'%.60s'", n->value);
    return buf;
}

/* n must be a non-empty list (of `of`s), of `want` items when want > 0 (as many as the
 * list at key path `like`). */
static tg_status expect_list(const tg_cfg *c, const tg_cfg_node *n, const char *where, const char *of,
                             int want, const char *like, tg_error *err)
{
    char b[80];
    if (!n || n->kind != TG_CFG_SEQ || n->n == 0)
        return tg_cfg_error(c, n, err, "'%s': expected a list of %ss, got %s", where, of, what(n, b));
    if (want > 0 && n->n != want)
        return tg_cfg_error(c, n, err, "'%s': expected %d %s%s, as many as '%s', got %d", where, want, of,
                            want == 1 ? "" : "s", like, n->n);
    return TG_OK;
}

/* Reads list (key path `name`) into *out [n, T, C] (tg_malloc'ed). Inputs pass want_n =
 * want_T = 0 and get n, T from their first items; targets pass the inputs' n and T. */
static tg_status read_side(const tg_cfg *c, const tg_cfg_node *list, const char *name, int want_n,
                           int want_T, int *n, int *T, int *C, double **out, tg_error *err)
{
    char w[80], like[80], wlike[80];
    if (expect_list(c, list, name, "sequence", want_n, "data.inputs", err)) return err->code;
    snprintf(w, sizeof w, "%s[0]", name);
    if (expect_list(c, list->items[0], w, "step", want_T, "data.inputs[0]", err)) return err->code;
    snprintf(wlike, sizeof wlike, "%s[0][0]", name);
    if (expect_list(c, list->items[0]->items[0], wlike, "number", 0, "", err)) return err->code;
    *n = list->n, *T = list->items[0]->n, *C = list->items[0]->items[0]->n;
    snprintf(like, sizeof like, "%s", want_T ? "data.inputs[0]" : w);
    if (!(*out = tg_malloc((size_t)*n * (size_t)*T * (size_t)*C * sizeof **out)))
        return tg_error_set(err, TG_ERR_NOMEM, "data: out of memory");
    double *o = *out;
    for (int i = 0; i < *n; i++) {
        const tg_cfg_node *seq = list->items[i];
        snprintf(w, sizeof w, "%s[%d]", name, i);
        if (expect_list(c, seq, w, "step", *T, like, err)) return err->code;
        for (int t = 0; t < *T; t++) {
            const tg_cfg_node *vec = seq->items[t];
            snprintf(w, sizeof w, "%s[%d][%d]", name, i, t);
            if (expect_list(c, vec, w, "number", *C, wlike, err)) return err->code;
            for (int k = 0; k < *C; k++) {
                snprintf(w, sizeof w, "%s[%d][%d][%d]", name, i, t, k);
                if (tg_cfg_double(c, vec->items[k], w, -1e12, 1e12, o++, err)) return err->code;
            }
        }
    }
    return TG_OK;
}

tg_status tg_data_inline_load(tg_dataset *d, const tg_cfg *c, const tg_cfg_node *data,
                              const tg_cfg_node *inputs, const tg_cfg_node *targets,
                              tg_error *err)
{
    int n, T;
    if (!inputs || !targets)
        return tg_cfg_error(c, data, err, "'data.%s' is missing", inputs ? "targets" : "inputs");
    if (read_side(c, inputs, "data.inputs", 0, 0, &d->n_inline, &d->seq_len, &d->in_dim, &d->inline_x, err) ||
        read_side(c, targets, "data.targets", d->n_inline, d->seq_len, &n, &T, &d->out_dim, &d->inline_y, err))
        return err->code;
    snprintf(d->source, sizeof d->source, "inline (%d sequence%s of %d steps)", d->n_inline,
             d->n_inline == 1 ? "" : "s", d->seq_len);
    return TG_OK;
}
