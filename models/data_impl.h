/* data_impl.h: what the three files of the data module share (not part of the API).
 * data.c reads the `data:` section and runs the loaders; data_text.c loads and encodes
 * text files; data_tasks.c draws the synthetic sequences and parses inline data. */
#ifndef TG_DATA_IMPL_H
#define TG_DATA_IMPL_H

#include "graph/rng.h"
#include "models/data.h"

/* The copy task's symbols: 0..7 data, then these two. */
enum { COPY_DATA = 8, COPY_BLANK = 8, COPY_DELIM = 9, COPY_VOCAB = 10, COPY_SPAN = 10 };

/* Loads d->kind (chars or words; d->lowercase set) from the file named by scalar
 * `path` (relative to c's directory), keeping the last `val_fraction` as validation.
 * `vf` is the val_fraction node (may be NULL), for the position of a split error. */
tg_status tg_data_text_load(tg_dataset *d, const tg_cfg *c, const tg_cfg_node *path,
                            const tg_cfg_node *vf, double val_fraction, long vocab_size,
                            tg_error *err);

/* Parses inline `inputs` and `targets` (either may be NULL: "is missing" at `data`). */
tg_status tg_data_inline_load(tg_dataset *d, const tg_cfg *c, const tg_cfg_node *data,
                              const tg_cfg_node *inputs, const tg_cfg_node *targets,
                              tg_error *err);

/* The copy task's symbol names ("0".."7", "_", ":") into d->symbols. */
tg_status tg_data_copy_symbols(tg_dataset *d, tg_error *err);

/* Draws one sequence of a synthetic task from r into row pointers (NULL when the task
 * has no such array): tokens/targets [T], x [T,in_dim], y [T,out_dim] or [out_dim]. */
void tg_data_draw(const tg_dataset *d, tg_rng *r, int32_t *tokens, int32_t *targets, double *x,
                  double *y);

#endif
