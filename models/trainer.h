/* trainer.h: the training loop behind `train --config`: data, model, optimizer, the
 * truncated-BPTT carried state, evaluation, checkpoints with exact resume, the NaN stop,
 * and the run directory (resolved config, CSV log, loss plot). Nothing here prints: the
 * caller gets each event through a callback.
 *
 * Config sections read here (each key overridable with --set key.path=value):
 *   train: steps, epochs, batch, seq_len, bptt, carry_state, eval_every, eval_batches,
 *          checkpoint_every, log_every, seed, threads,
 *          optimizer: {type, lr, momentum, nesterov, alpha, beta1, beta2, eps, weight_decay},
 *          clip: {norm, value}, schedule: {type, warmup, step_size, gamma, min_lr}
 *   run:   dir
 * See docs/training.md for each key's meaning and default. */
#ifndef TG_TRAINER_H
#define TG_TRAINER_H

#include <signal.h>

#include "models/data.h"
#include "models/model.h"
#include "models/optim.h"

#define TG_MAX_STATE 64
#define TG_MAX_SHARDS 8 /* threads that each train on a slice of the batch */

typedef struct tg_train_config {
    int64_t steps;          /* optimizer steps in all (epochs * batches when epochs > 0) */
    int64_t epochs;
    int batch, seq_len;     /* B, T (T: text only; sequences have their own length) */
    int bptt;               /* detach the state every bptt steps inside a batch; 0: never */
    int carry_state;        /* 1: the state flows from one text batch to the next */
    int64_t eval_every, eval_batches, checkpoint_every, log_every;
    uint64_t seed;
    int threads;            /* 0: OpenMP's default */
    tg_optim_config opt;
    char run_dir[1024];
} tg_train_config;

/* One event for the caller. */
typedef enum { TG_EV_START, TG_EV_LOG, TG_EV_EVAL, TG_EV_CHECKPOINT, TG_EV_DONE } tg_event_kind;
typedef struct tg_event {
    tg_event_kind kind;
    int64_t step, steps;    /* updates done, and the total */
    double loss;            /* TG_EV_START: before any update; LOG: mean since the last log */
    double val_loss;        /* NAN when not evaluated */
    double lr, grad_norm, tokens_per_s, elapsed;
    const char *path;       /* TG_EV_CHECKPOINT: the file */
} tg_event;
typedef void (*tg_event_fn)(void *ctx, const tg_event *e);

typedef struct tg_trainer {
    tg_cfg cfg;             /* the resolved config (file + overrides) */
    tg_train_config tc;
    tg_dataset data;
    tg_model model;
    tg_loader train;
    tg_optim opt;
    tg_tape *tape;
    int n_state;
    tg_tensor *carry[TG_MAX_STATE]; /* [B, size] persistent, no gradient */
    /* Data parallel across threads: shard s trains rows [B s/n, B (s+1)/n) of each batch
     * on its own tape, with its own model replica whose parameters share model's data
     * (only their gradients are separate); the gradients are combined before the
     * optimizer step, where an all-reduce across processes will go. Shard 0 is model
     * and tape themselves. */
    int n_shards;
    tg_model *rep[TG_MAX_SHARDS];
    tg_tape *tapes[TG_MAX_SHARDS];
    tg_tensor *shard_out[TG_MAX_SHARDS][TG_MAX_STATE]; /* each shard's final states */
    int shard_lo[TG_MAX_SHARDS];
    int64_t step;           /* updates done */
    uint64_t hash;          /* of the model and data definition, stored in checkpoints */
    int interrupted;        /* set when the stop flag ended the run */
    int has_val;            /* the data has a validation split (else no evaluation) */
    double elapsed0;        /* seconds trained before a resume */
    /* the log, for the CSV and the plot */
    int64_t n_log, cap_log;
    double *log;            /* rows of 7: step, loss, val, lr, grad norm, tokens/s, elapsed */
    double log_sum;         /* training losses since the last row, and their count: kept in */
    int64_t log_n;          /* checkpoints, so the first row after a resume is the same mean */
    /* tg_trainer_profile: each shard's kernel times (its tape's tg_profile), and the
     * seconds spent summing the shards' gradients and in the optimizer (norm, step) */
    tg_profile *prof;
    double prof_sum_s, prof_opt_s;
    int64_t prof_tasks0[2]; /* tg_task_counts (all, taken) when profiling began */
} tg_trainer;

/* When the config's model takes tokens and leaves model.input.vocab out, writes
 * "model.input.vocab=N" (N the data's symbols) into buf and returns it, so the model
 * takes the data's vocabulary; else NULL. */
const char *tg_vocab_override(const tg_cfg *c, const tg_dataset *d, char *buf, int n);

/* Loads config_path (with `sets` "key.path=value" overrides), the data, the model, and
 * creates the run directory (run.dir, default runs/<config name>) with config.yaml.
 * With resume_dir instead of config_path: reads resume_dir/config.yaml and the last
 * checkpoint. TG_OK or err (file:line:col for config errors). */
tg_status tg_trainer_init(tg_trainer *t, const char *config_path, const char *resume_dir,
                          const char *const *sets, int n_sets, tg_error *err);
void tg_trainer_free(tg_trainer *t);

/* From now on, times every kernel of every shard's tape (t->prof[0 .. n_shards)) and
 * the steps' gradient sum and optimizer, and notes the task counts (tg_task_counts):
 * for `train --profile`. TG_OK or TG_ERR_NOMEM. */
tg_status tg_trainer_profile(tg_trainer *t, tg_error *err);

/* Trains until tc.steps, or until *stop becomes non-zero (then a checkpoint is written
 * and t->interrupted set). Reports the loss before any update first (TG_EV_START).
 * TG_OK, TG_ERR_NUMERIC (NaN or Inf: err names the step and the first op and equation
 * that produced it; no checkpoint is written, the last good one stays), TG_ERR_IO. */
tg_status tg_trainer_run(tg_trainer *t, volatile sig_atomic_t *stop, tg_event_fn fn, void *ctx,
                         tg_error *err);

/* Appends one row of 7 to the run log (step, loss, val loss, lr, grad norm, tokens/s,
 * elapsed). TG_OK or TG_ERR_NOMEM. */
tg_status tg_trainer_log(tg_trainer *t, const double *row);

/* The mean validation loss over tc.eval_batches batches (no gradient; resets the tape),
 * NAN when the data has no validation split, or NAN with err set on failure. */
double tg_trainer_eval(tg_trainer *t, tg_error *err);

/* Checkpoints (models/checkpoint.c): parameters (named by their path in the model),
 * optimizer state, carried state, and metadata (step, data position, config hash, the
 * log), in safetensors, written atomically, with a checksum of it all. Load refuses a
 * corrupt (any byte changed) or truncated file, one for another config, or one whose
 * shapes differ, saying which. */
tg_status tg_checkpoint_save(const tg_trainer *t, const char *path, tg_error *err);
tg_status tg_checkpoint_load(tg_trainer *t, const char *path, tg_error *err);

/* The run log (models/runlog.c): rewrites run_dir/log.csv and run_dir/loss.svg. */
tg_status tg_runlog_write(const tg_trainer *t, tg_error *err);

#endif
