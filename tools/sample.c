/* sample.c: the `sample` tool. Loads a run directory's config and last checkpoint and
 * generates text from a character- or word-level model, recording no gradients. Cells
 * step one symbol at a time from their carried state; models with blocks re-read the
 * context (up to model.input.max_len symbols) for each new symbol.
 * Exit status: 0 done, 1 usage, config or checkpoint error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/rng.h"
#include "models/trainer.h"

static const char *USAGE =
    "usage: sample --checkpoint RUN_DIR [--prompt TEXT] [--length N] [--temperature X]\n"
    "              [--top-k K] [--seed S]\n"
    "Generates text from the model trained in RUN_DIR (its config.yaml and checkpoint).\n"
    "  --prompt TEXT      text to start from (default: the first symbol of the data)\n"
    "  --length N         symbols to generate (default 500)\n"
    "  --temperature X    > 0; below 1 is more conservative (default 1)\n"
    "  --top-k K          sample among the K most likely symbols only (default: all)\n"
    "  --seed S           random seed (default 1)\n"
    "  --warmup N         for recurrent models: first run N symbols of the validation\n"
    "                     text, unprinted, so the state is like the one seen in training\n"
    "                     (trained with carried state, a model rarely saw a zero state;\n"
    "                     default 256, 0 to start from zeros)\n";

/* Draws a symbol from logits [V] at temperature temp among the top k. */
static int draw(const float *logits, int V, double temp, int k, tg_rng *r)
{
    double *p = malloc(sizeof *p * V), mx = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++) mx = fmax(mx, logits[i]);
    double cut = -INFINITY;
    if (k > 0 && k < V) { /* the k-th largest logit */
        float *s = malloc(sizeof *s * V);
        memcpy(s, logits, sizeof *s * V);
        for (int i = 0; i < k; i++)
            for (int j = i + 1; j < V; j++)
                if (s[j] > s[i]) { float x = s[i]; s[i] = s[j]; s[j] = x; }
        cut = s[k - 1];
        free(s);
    }
    for (int i = 0; i < V; i++) sum += p[i] = logits[i] >= cut ? exp((logits[i] - mx) / temp) : 0;
    double u = tg_rng_uniform(r) * sum;
    int pick = V - 1;
    for (int i = 0; i < V; i++) {
        if (u < p[i]) { pick = i; break; }
        u -= p[i];
    }
    free(p);
    return pick;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *prompt = NULL;
    int length = 500, topk = 0, warmup = 256;
    double temp = 1;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i += 2) { /* options and their values */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return fputs(USAGE, stdout), 0;
        if (!v) return fprintf(stderr, "sample: missing value after %s\n%s", a, USAGE), 1;
        if (!strcmp(a, "--checkpoint")) dir = v;
        else if (!strcmp(a, "--prompt")) prompt = v;
        else if (!strcmp(a, "--length")) length = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--top-k")) topk = (int)strtol(v, &end, 10);
        else if (!strcmp(a, "--temperature")) temp = strtod(v, &end);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, &end, 10);
        else if (!strcmp(a, "--warmup")) warmup = (int)strtol(v, &end, 10);
        else return fprintf(stderr, "sample: unknown option %s\n%s", a, USAGE), 1;
        if (end && (*end || end == v)) return fprintf(stderr, "sample: %s needs a number, got '%s'\n", a, v), 1;
    }
    if (!dir) return fprintf(stderr, "sample: --checkpoint RUN_DIR is required\n%s", USAGE), 1;
    if (length < 0 || length > 10000000 || !(temp > 0) || topk < 0 || warmup < 0)
        return fprintf(stderr, "sample: --length in [0, 10^7], --temperature > 0, --top-k and --warmup >= 0\n"), 1;

    tg_error err = {0};
    char msg[1200];
    tg_trainer t;
    if (tg_trainer_init(&t, NULL, dir, NULL, 0, &err)) {
        fprintf(stderr, "%s\n", tg_error_format(&err, msg, sizeof msg));
        return 1;
    }
    tg_model *m = &t.model;
    if (!t.data.symbols || m->input == TG_IN_DENSE) {
        fprintf(stderr, "sample: %s is not a model of symbols (text): nothing to sample\n", dir);
        tg_trainer_free(&t);
        return 1;
    }
    int32_t *ids = NULL;
    int64_t n = 0;
    if (prompt && *prompt) {
        if (tg_data_encode(&t.data, prompt, &ids, &n, &err)) {
            fprintf(stderr, "sample: --prompt: %s\n", err.msg);
            tg_trainer_free(&t);
            return 1;
        }
    } else if (t.data.train && t.data.n_train) {
        ids = malloc(sizeof *ids);
        ids[0] = t.data.train[0], n = 1;
    } else {
        fprintf(stderr, "sample: %s has no text to start from: give --prompt\n", dir);
        tg_trainer_free(&t);
        return 1;
    }
    int has_block = 0, words = t.data.kind == TG_DATA_WORDS;
    for (int i = 0; i < m->n_layers; i++) has_block |= m->layers[i].is_block;
    int ctx_max = m->pos == TG_POS_LEARNED ? m->max_len : 1 << 20;
    const int32_t *warm = t.data.n_val ? t.data.val : t.data.train;
    int64_t avail = warm ? (t.data.n_val ? t.data.n_val : t.data.n_train) : 0;
    int64_t n_warm = has_block ? 0 : warmup < avail ? warmup : avail;
    int32_t *seq = malloc(sizeof *seq * (size_t)(n_warm + n + length + 1));
    if (n_warm) memcpy(seq, warm, sizeof *seq * (size_t)n_warm);
    memcpy(seq + n_warm, ids, sizeof *seq * (size_t)n);
    for (int64_t i = 0; i < n; i++) printf(words && i ? " %s" : "%s", t.data.symbols[ids[i]]);
    n += n_warm;

    tg_rng rng = {seed};
    tg_tensor *carry[TG_MAX_STATE], *out[TG_MAX_STATE];
    for (int k = 0; k < t.n_state; k++)
        carry[k] = tg_tensor_new(TG_F32, 2, (int[]){1, tg_model_state_size(m, k)}, 0, &err);
    int64_t len = n, fed = 0; /* fed: symbols already folded into the carried state */
    int status = 0;
    tg_tape_no_grad_begin(t.tape);
    for (int g = 0; g < length; g++) {
        int64_t from = has_block ? (len > ctx_max ? len - ctx_max : 0) : fed;
        tg_batch b = {1, (int)(len - from), seq + from, NULL, NULL, NULL, NULL};
        tg_model_run run = {.carry_in = has_block ? NULL : carry, .carry_out = out};
        tg_tensor *logits = tg_model_logits(m, t.tape, &b, &run, &err);
        if (!logits) {
            fprintf(stderr, "\n%s\n", tg_error_format(&err, msg, sizeof msg));
            status = 1;
            break;
        }
        for (int k = 0; !has_block && k < t.n_state; k++)
            memcpy(carry[k]->data, out[k]->data, sizeof(float) * (size_t)carry[k]->numel);
        fed = len;
        const float *last = (const float *)logits->data + (int64_t)(b.T - 1) * m->out;
        int next = draw(last, m->out, temp, topk, &rng);
        seq[len++] = next;
        printf(words ? " %s" : "%s", t.data.symbols[next]);
        fflush(stdout);
        tg_tape_reset(t.tape);
    }
    tg_tape_no_grad_end(t.tape);
    printf("\n");
    for (int k = 0; k < t.n_state; k++) tg_tensor_free(carry[k]);
    free(seq);
    free(ids);
    tg_trainer_free(&t);
    return status;
}
