/* test_alloc_fail.c: out of memory everywhere in a run. Every allocation of the library
 * fails in turn (tg_alloc_fail_after(k), k = 0, 1, 2, ... until the run succeeds) over
 * (a) a whole fresh run: the config, the text data, a model with an LSTM layer, two
 * training steps with evaluation, the run log and a checkpoint after each step; and
 * (b) a resumed run: reading that checkpoint back and one more step with its checkpoint.
 * Each failure must be a TG_ERR_NOMEM status whose message says "out of memory", never
 * a crash; leaks are caught by the sanitizer builds (ASan in CI, valgrind by hand). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/alloc.h"
#include "models/trainer.h"
#include "test.h"

static char dir[] = "/tmp/tg_oom_XXXXXX";

static void write_file(const char *name, const char *text, size_t n)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(text, 1, n, f) != n || fclose(f)) fprintf(stderr, "cannot write %s\n", p), exit(2);
}

static char *read_all(const char *name, size_t *n)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    char *b = malloc(1 << 22);
    *n = f ? fread(b, 1, 1 << 22, f) : 0;
    if (f) fclose(f);
    return b;
}

/* Init (fresh when resume is 0) and run; TG_OK or the first failure. */
static tg_status one_run(const char *config, const char *run_dir, int resume, const char *steps, tg_error *err)
{
    const char *sets[] = {steps};
    tg_trainer t;
    tg_status st = tg_trainer_init(&t, resume ? NULL : config, resume ? run_dir : NULL, sets, 1, err);
    if (st) return st;
    st = tg_trainer_run(&t, NULL, NULL, NULL, err);
    tg_trainer_free(&t);
    return st;
}

/* Runs with allocation k failing for k = 0, 1, ...; before each, reset() restores the
 * files. Every one of the run's allocations must have failed once, with a status. */
static void walk(const char *what, const char *config, const char *run_dir, int resume, const char *steps,
                 void (*reset)(void))
{
    long failures = 0, bad = 0, n_alloc = 0;
    int done = 0;
    tg_error e0 = {0};
    reset();
    long before = tg_alloc_count();
    CHECK(one_run(config, run_dir, resume, steps, &e0) == TG_OK); /* how many allocations a run makes */
    n_alloc = tg_alloc_count() - before;
    for (long k = 0; k < 200000 && !done; k++) {
        tg_error err = {0};
        reset();
        tg_alloc_fail_after(k);
        tg_status st = one_run(config, run_dir, resume, steps, &err);
        tg_alloc_fail_after(-1);
        if (st == TG_OK) {
            done = 1;
        } else {
            failures++;
            if ((st != TG_ERR_NOMEM || !strstr(err.msg, "out of memory")) && bad++ < 5)
                fprintf(stderr, "%s: allocation %ld failing gives status %d: %s\n", what, k, (int)st, err.msg);
        }
    }
    printf("%s: each of its %ld allocations failed in turn, each an out-of-memory status\n", what, n_alloc);
    CHECK(done);
    CHECK(failures == n_alloc); /* no failure was ignored */
    CHECK(bad == 0);
}

static char *good_ck;
static size_t good_n;
static char run_dir[600];

static void fresh(void)
{
    char p[700];
    snprintf(p, sizeof p, "%s/checkpoint.safetensors", run_dir);
    unlink(p);
}

static void restore(void) { write_file("run/checkpoint.safetensors", good_ck, good_n); }

int main(void)
{
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    char text[2000];
    for (int i = 0; i < (int)sizeof text - 1; i++) text[i] = "abcdefgh \n"[(i * 7 + i / 3) % 10];
    write_file("text.txt", text, sizeof text - 1);
    const char *yaml = "model:\n"
                       "  input: {type: embedding, dim: 4}\n"
                       "  layers: [{cell: lstm, hidden: 5}]\n"
                       "data: {type: chars, path: text.txt, val_fraction: 0.1}\n"
                       "train: {batch: 2, seq_len: 4, eval_every: 1, eval_batches: 2, checkpoint_every: 1,\n"
                       "        log_every: 1, optimizer: {type: adam, lr: 0.01}}\n"
                       "run: {dir: run}\n";
    write_file("model.yaml", yaml, strlen(yaml));
    char config[700];
    snprintf(config, sizeof config, "%s/model.yaml", dir);
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    if (chdir(dir)) return perror("chdir"), 1; /* run.dir is relative to the current directory */

    walk("a fresh run of 2 steps", config, run_dir, 0, "train.steps=2", fresh);
    good_ck = read_all("run/checkpoint.safetensors", &good_n);
    CHECK(good_n > 1000);
    walk("a resumed run of 1 step", config, run_dir, 1, "train.steps=3", restore);
    free(good_ck);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return tg_test_end();
}
