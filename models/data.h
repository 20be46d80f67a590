/* data.h: training data, from the `data:` section of a config, cut into batches.
 *
 *   type: chars       a text file, one symbol per UTF-8 character
 *   type: words       a text file, one symbol per whitespace-separated word; the
 *                     `vocab_size` most frequent words, the rest mapped to "<unk>"
 *   type: adding      the adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015)
 *   type: copy        the copy-memory task
 *   type: sine        noisy sine-wave regression (predict the next value)
 *   type: inline      sequences written in the config
 *
 * Text is split into train and validation (the last `val_fraction`), and each split
 * into B contiguous streams; batch k holds steps [k*T, k*T + T) of every stream, so the
 * state carried across batches (truncated BPTT) continues the same text. Synthetic
 * tasks draw a fresh batch from the loader's generator each time, and a fixed
 * validation set from a fixed seed.
 *
 * Memory: a dataset owns its token arrays and vocabulary (tg_data_free); a loader owns
 * its batch buffers (tg_loader_free). A loader's whole position is tg_loader_state, so
 * a checkpoint can store it and a resumed run reads the same batches. */
#ifndef TG_DATA_H
#define TG_DATA_H

#include <stdint.h>

#include "models/config.h"
#include "models/model.h"

typedef enum tg_data_kind {
    TG_DATA_CHARS, TG_DATA_WORDS, TG_DATA_ADDING, TG_DATA_COPY, TG_DATA_SINE, TG_DATA_INLINE
} tg_data_kind;

typedef struct tg_dataset {
    tg_data_kind kind;
    /* text */
    int32_t *train, *val;   /* token ids (owned) */
    int64_t n_train, n_val;
    int vocab;              /* symbols, "<unk>" included for words */
    char **symbols;         /* vocab NUL-terminated UTF-8 strings (owned) */
    /* sequences: synthetic tasks and inline data */
    int seq_len;            /* T of every sequence (adding: length; copy: T + 20) */
    int in_dim, out_dim;    /* dense input width, regression output width (0 for tokens) */
    int n_val_seqs;         /* synthetic validation set size */
    uint64_t seed;
    double noise;           /* sine: standard deviation of the Gaussian input noise */
    int lowercase;          /* words: ASCII letters folded to lower case (load and encode) */
    int n_inline;           /* inline: sequences */
    double *inline_x, *inline_y; /* inline: [n_inline, seq_len, in_dim], [.., out_dim] */
    char source[512];       /* what was loaded, for logs: path or task name */
} tg_dataset;

/* Loads the `data` map of config c (node may be NULL: an error naming what is missing).
 * Text paths are relative to the config file. Rejects an empty file, a binary file (a
 * NUL byte or invalid UTF-8: "data.path: 'x.bin' is not UTF-8 text (byte 0x89 at
 * offset 0)"), a text too short for a non-empty validation split. A word vocabulary
 * larger than the data's distinct words is clamped. TG_OK or err with file:line:col;
 * on error d is left empty (tg_data_free on it is harmless). */
tg_status tg_data_load(tg_dataset *d, const tg_cfg *c, const tg_cfg_node *node, tg_error *err);
void tg_data_free(tg_dataset *d);

/* Text (chars, words): a stream to carry state along; tokens (text and copy): symbols
 * for an embedding and cross-entropy, rather than vectors. */
int tg_data_is_text(const tg_dataset *d);
int tg_data_has_tokens(const tg_dataset *d);

/* Encodes UTF-8 text with d's vocabulary (chars or words); unknown symbols map to
 * "<unk>" for words and are an error for chars. *out (tg_malloc'ed, caller frees). */
tg_status tg_data_encode(const tg_dataset *d, const char *text, int32_t **out, int64_t *n,
                         tg_error *err);

typedef struct tg_loader_state {
    int64_t batch;      /* batches taken in the current epoch (text), or in all (synthetic) */
    int64_t epoch;
    uint64_t rng;       /* synthetic tasks' generator */
} tg_loader_state;

typedef struct tg_loader {
    const tg_dataset *d;
    int val;            /* 1: the validation split */
    int B, T;
    tg_loader_state st;
    int32_t *tokens, *targets; /* [B,T] */
    double *x, *y, *mask;      /* [B,T,in_dim], [B,T,out_dim] or [B,out_dim], [B,T] */
    tg_batch batch;            /* points at the buffers above */
} tg_loader;

/* A loader of batches of B sequences of T steps (T is ignored for synthetic and inline
 * data, whose sequences have their own length). Fails when a text split is shorter
 * than B * T + 1 symbols. */
tg_status tg_loader_init(tg_loader *l, const tg_dataset *d, int val, int B, int T, uint64_t seed,
                         tg_error *err);
void tg_loader_free(tg_loader *l);

/* The next batch (valid until the next call). Returns 1 when it starts a new epoch or a
 * new set of sequences (the carried state must be reset), else 0. */
int tg_loader_next(tg_loader *l, const tg_batch **b);

/* Batches in one pass over the split (text, validation, inline); 0 for endless synthetic
 * training data. */
int64_t tg_loader_batches(const tg_loader *l);

#endif
