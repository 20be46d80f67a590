/* train.c: the `train` tool. Parses the command line, installs the SIGINT/SIGTERM
 * handler, runs the trainer and shows what it is doing: a progress line updated in
 * place on a terminal, plain log lines otherwise.
 * Exit status: 0 done, 1 usage or config error, 3 numerical failure, 130 interrupted. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "models/trainer.h"
#include "ops/gemm.h"
#include "ops/ops.h"

#define MAX_SETS 128

static const char *USAGE =
    "usage: train --config FILE.yaml [--set key.path=value ...]\n"
    "       train --resume RUN_DIR [--set key.path=value ...]\n"
    "Trains the model of a config on its data (docs/training.md).\n"
    "  --config FILE    the config: model, data, train, run sections\n"
    "  --resume DIR     continue the run in DIR from its last checkpoint\n"
    "  --set K=V        override a config value, e.g. --set train.steps=0 (evaluate only)\n"
    "  --quiet          no progress, only errors and the final line\n"
    "  --profile        at the end, the time spent in each op's kernels (forward and\n"
    "                   backward, summed over the threads) and in the optimizer\n"
    "  --version        print the version\n"
    "Writes RUN_DIR (run.dir, default runs/<config name>): config.yaml, log.csv, loss.svg,\n"
    "checkpoint.safetensors. Ctrl-C finishes the step, writes a checkpoint and exits 130.\n"
    "Exit status: 0 done, 1 usage or config error, 3 NaN or Inf, 130 interrupted.\n";

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { stop_flag = sig; }

typedef struct ui {
    int tty, quiet;
    double last_val;
} ui;

static void fmt_time(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0) snprintf(buf, n, "?");
    else if (s < 10) snprintf(buf, n, "%.1fs", s);
    else if (s < 60) snprintf(buf, n, "%.0fs", s);
    else if (s < 3600) snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

static void on_event(void *ctx, const tg_event *e)
{
    ui *u = ctx;
    if (u->quiet && e->kind != TG_EV_DONE) return;
    char val[64] = "", eta[16], el[16]; /* val: room for a diverging loss in %.4f */
    if (isfinite(e->val_loss)) u->last_val = e->val_loss;
    switch (e->kind) {
    case TG_EV_START:
        if (isfinite(e->val_loss)) snprintf(val, sizeof val, ", val loss %.6g", e->val_loss);
        printf("step %lld: loss %.6g%s (before any update), %lld steps to go\n", (long long)e->step, e->loss, val,
               (long long)(e->steps - e->step));
        break;
    case TG_EV_LOG:
    case TG_EV_EVAL: {
        double rate = e->tokens_per_s;
        double eta_s = e->step > 0 ? e->elapsed / (double)e->step * (double)(e->steps - e->step) : NAN;
        fmt_time(eta_s, eta, sizeof eta);
        if (isfinite(u->last_val)) snprintf(val, sizeof val, "val %.4f  ", u->last_val);
        char line[256];
        snprintf(line, sizeof line, "step %lld/%lld  loss %.4f  %slr %.2e  %.1fk tok/s  ETA %s", (long long)e->step,
                 (long long)e->steps, e->loss, val, e->lr, rate / 1000, eta);
        if (u->tty) {
            fprintf(stderr, "\r%s\033[K", line);
            if (e->kind == TG_EV_EVAL) fprintf(stderr, "\n");
        } else {
            printf("%s\n", line);
        }
        break;
    }
    case TG_EV_CHECKPOINT:
        if (u->tty) fprintf(stderr, "\r\033[K");
        printf("step %lld: checkpoint %s\n", (long long)e->step, e->path);
        break;
    case TG_EV_DONE:
        fmt_time(e->elapsed, el, sizeof el);
        if (u->tty) fprintf(stderr, "\r\033[K");
        if (isfinite(u->last_val)) snprintf(val, sizeof val, ", val loss %.6g", u->last_val);
        printf("done: %lld steps in %s%s\n", (long long)e->step, el, val);
        break;
    }
    fflush(stdout);
}

/* The time in each op's kernels, summed over the shards' threads, largest first; then
 * the gradient sum across threads and the optimizer. */
static void print_profile(const tg_trainer *t, int64_t steps, double wall)
{
    typedef struct { const char *name; int64_t calls; double f, b; int step; } row; /* step: once a step */
    row r[TG_PROFILE_SLOTS + 2];
    int n = 0;
    double total = 0;
    for (int op = 0; op < TG_PROFILE_SLOTS; op++) {
        if (op >= TG_OP_COUNT && op != TG_PROFILE_WGRAD) continue;
        row x = {op == TG_PROFILE_WGRAD ? "matmul (deferred weight gradients)" : tg_op_name((tg_op_id)op), 0, 0, 0, 0};
        for (int s = 0; s < t->n_shards; s++) {
            const tg_profile *p = &t->prof[s];
            x.calls += p->fwd_n[op] + p->bwd_n[op];
            x.f += p->fwd_s[op], x.b += p->bwd_s[op];
        }
        if (x.calls) r[n++] = x, total += x.f + x.b;
    }
    r[n++] = (row){"gradients summed across threads", steps, 0, t->prof_sum_s, 1};
    r[n++] = (row){"optimizer (gradient norm, update)", steps, 0, t->prof_opt_s, 1};
    total += t->prof_sum_s + t->prof_opt_s;
    for (int i = 1; i < n; i++) /* largest first */
        for (int j = i; j > 0 && r[j].f + r[j].b > r[j - 1].f + r[j - 1].b; j--) {
            row x = r[j];
            r[j] = r[j - 1], r[j - 1] = x;
        }
    printf("profile: %lld steps on %d thread%s in %.1f s; kernel time summed over the threads\n", (long long)steps,
           t->n_shards, t->n_shards == 1 ? "" : "s", wall);
    printf("  %-36s %9s %12s %12s %12s %7s\n", "op", "calls", "forward ms", "backward ms", "total ms", "share");
    for (int i = 0; i < n; i++) {
        double all = r[i].f + r[i].b, share = total > 0 ? 100 * all / total : 0.0;
        if (r[i].step)
            printf("  %-36s %9lld %12s %12s %12.1f %6.1f%%\n", r[i].name, (long long)r[i].calls, "-", "-", 1e3 * all,
                   share);
        else if (r[i].f == 0 && r[i].b > 0) /* (the deferred weight gradients: backward only) */
            printf("  %-36s %9lld %12s %12.1f %12.1f %6.1f%%\n", r[i].name, (long long)r[i].calls, "-", 1e3 * r[i].b,
                   1e3 * all, share);
        else
            printf("  %-36s %9lld %12.1f %12.1f %12.1f %6.1f%%\n", r[i].name, (long long)r[i].calls, 1e3 * r[i].f,
                   1e3 * r[i].b, 1e3 * all, share);
    }
    printf("  %-36s %9s %12s %12s %12.1f\n", "total", "", "", "", 1e3 * total);
    int64_t all, taken;
    tg_task_counts(&all, &taken);
    all -= t->prof_tasks0[0], taken -= t->prof_tasks0[1];
    if (all > 0)
        printf("tasks: %lld blocks of large kernels, %lld (%.1f%%) run by another slice's thread\n",
               (long long)all, (long long)taken, 100.0 * (double)taken / (double)all);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *resume = NULL, *sets[MAX_SETS];
    int n_sets = 0, quiet = 0, profile = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return fputs(USAGE, stdout), 0;
        if (!strcmp(a, "--version")) return printf("tapegrad train %s (matmul: %s)\n", TG_VERSION, tg_gemm_backend()), 0;
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(a, "--profile")) { profile = 1; continue; }
        if (!v) return fprintf(stderr, "train: missing value after %s\n%s", a, USAGE), 1;
        if (!strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "--resume")) resume = v;
        else if (!strcmp(a, "--set")) {
            if (n_sets == MAX_SETS) return fprintf(stderr, "train: too many --set\n"), 1;
            if (!strchr(v, '=')) return fprintf(stderr, "train: --set needs key.path=value, got '%s'\n", v), 1;
            sets[n_sets++] = v;
        } else return fprintf(stderr, "train: unknown option %s\n%s", a, USAGE), 1;
        i++;
    }
    if (!config == !resume) return fprintf(stderr, "train: give exactly one of --config or --resume\n%s", USAGE), 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN); /* past a file size limit, a write fails (EFBIG) and says so */

    tg_error err = {0};
    char msg[1200];
    tg_trainer t;
    if (tg_trainer_init(&t, config, resume, sets, n_sets, &err)) {
        fprintf(stderr, "%s\n", tg_error_format(&err, msg, sizeof msg));
        return err.code == TG_ERR_NUMERIC ? 3 : 1;
    }
    for (int i = 0; i < t.model.n_warnings; i++) fprintf(stderr, "%s\n", t.model.warnings[i]);
    int64_t n_par = 0;
    for (int i = 0; i < t.model.n_params; i++) n_par += t.model.params[i].t->numel;
    if (!quiet)
        printf("%s: %lld parameters, data %s%s, run dir %s\n", resume ? resume : config, (long long)n_par,
               t.data.source, t.data.vocab ? "" : " (vectors)", t.tc.run_dir);
    ui u = {isatty(2) && !quiet, quiet, NAN};
    if (profile && tg_trainer_profile(&t, &err)) {
        fprintf(stderr, "%s\n", tg_error_format(&err, msg, sizeof msg));
        tg_trainer_free(&t);
        return 1;
    }
    int64_t step0 = t.step;
    struct timespec w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    tg_status st = tg_trainer_run(&t, &stop_flag, on_event, &u, &err);
    clock_gettime(CLOCK_MONOTONIC, &w1);
    if (profile)
        print_profile(&t, t.step - step0, (double)(w1.tv_sec - w0.tv_sec) + 1e-9 * (double)(w1.tv_nsec - w0.tv_nsec));
    int code = 0;
    if (st) {
        if (u.tty) fprintf(stderr, "\n");
        fprintf(stderr, "%s\n", tg_error_format(&err, msg, sizeof msg));
        code = st == TG_ERR_NUMERIC ? 3 : 1;
    } else if (t.interrupted) {
        fprintf(stderr, "interrupted at step %lld: checkpoint written, resume with: train --resume %s\n",
                (long long)t.step, t.tc.run_dir);
        code = 130;
    }
    tg_trainer_free(&t);
    return code;
}
