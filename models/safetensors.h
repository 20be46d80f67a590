/* safetensors.h: writing tensors in the safetensors format: an 8-byte little-endian
 * header length N, N bytes of JSON ({"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "value"}}), padded with
 * spaces to a multiple of 8, then the raw little-endian data. Files are written to a
 * temporary name, flushed with fsync and renamed, so a reader sees the old file or the
 * new one, never half of one. */
#ifndef TG_SAFETENSORS_H
#define TG_SAFETENSORS_H

#include <stdint.h>

#include "graph/error.h"
#include "graph/tensor.h"

typedef struct tg_st_entry {
    const char *name;
    tg_dtype dtype;       /* F32, F64, I32 */
    int ndim;
    int shape[TG_MAX_DIMS];
    const void *data;     /* numel elements of dtype */
} tg_st_entry;

/* Writes n entries and n_meta metadata pairs (keys[i] = values[i], strings) to path,
 * atomically. Returns TG_OK or TG_ERR_IO ("path: write failed: No space left on
 * device"), in which case an existing file at path is untouched. */
tg_status tg_st_write(const char *path, const tg_st_entry *e, int n, const char *const *keys,
                      const char *const *values, int n_meta, tg_error *err);

#endif
