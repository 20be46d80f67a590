/* safetensors.h: writing and reading tensors in the safetensors format: an 8-byte
 * little-endian header length N, N bytes of JSON ({"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "value"}}), padded with
 * spaces to a multiple of 8, then the raw little-endian data; data_offsets count from the
 * first byte after the header. Files are written to a temporary name, flushed with fsync
 * and renamed, so a reader sees the old file or the new one, never half of one. The reader
 * loads a whole file into memory and checks every byte of the header before anything is
 * used. Only F32, F64 and I32 are known (what tapegrad tensors hold). */
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

/* ---- reading ---- */

typedef struct tg_st_tensor {
    char *name;           /* owned by the file; may be "" */
    tg_dtype dtype;       /* F32, F64, I32 */
    int ndim;             /* 0..TG_MAX_DIMS (0: a scalar, one element) */
    int shape[TG_MAX_DIMS]; /* each >= 0; a 0 makes an empty tensor (begin == end) */
    uint64_t begin, end;  /* data_offsets: end - begin == numel * dtype size, end <= data size */
} tg_st_tensor;

typedef struct tg_st_file {
    char *path;           /* as given to tg_st_read (owned) */
    unsigned char *data;  /* the whole file (owned) */
    uint64_t size;        /* bytes in data */
    int n;                /* tensors, in header order */
    tg_st_tensor *t;
    int n_meta;           /* "__metadata__" pairs, in header order; strings owned */
    char **meta_keys, **meta_values;
} tg_st_file;

/* Reads the whole file at path into f and validates its header: the length field, the
 * JSON (strict: objects, strings with all escapes incl. \uXXXX and surrogate pairs, arrays
 * of non-negative integers, non-negative integers; nothing else), the keys of every
 * tensor (dtype, shape, data_offsets, no other), dtypes, at most TG_MAX_DIMS dimensions
 * each <= INT_MAX, offsets that match dtype and shape and lie inside the data, unique
 * names, and "__metadata__" as an object of strings (no string may contain \u0000).
 * Offsets may overlap or come in any order, and bytes no tensor covers are allowed.
 * Returns TG_OK, or leaves f empty (no close needed) and returns
 *   TG_ERR_IO       "path: error: cannot open: No such file or directory", "cannot read: ..."
 *   TG_ERR_INVALID  "path: error: <what>", e.g.
 *       "truncated: the header says 8424 bytes but the file has 100"
 *       "not a safetensors file (header length 7421959325 exceeds the file size 512)"
 *       "invalid JSON in the header at byte 57: expected ',' or '}'"   (bytes count
 *           from the start of the file, so `xxd -s 57 path` shows the spot)
 *       "tensor 'head.weight': data_offsets [0, 100] do not match dtype F32 and shape
 *        [65,128] (33280 bytes)"
 *       "tensor 'x': data_offsets beyond the end of the data ([0, 400], the data has 300 bytes)"
 *       "tensor 'x': dtype BF16 is not supported (F32, F64, I32)"
 *   TG_ERR_NOMEM.
 * A header length larger than the file is called truncation when the header plausibly
 * starts there ('{' after the length field, N <= 100 MB: the format's own limit), and
 * "not a safetensors file" otherwise. */
tg_status tg_st_read(tg_st_file *f, const char *path, tg_error *err);
/* Frees everything f holds and empties it (an empty or NULL f is fine). */
void tg_st_close(tg_st_file *f);
/* The tensor called name, or NULL (a linear search). */
const tg_st_tensor *tg_st_find(const tg_st_file *f, const char *name);
/* t's bytes: f->data + 8 + N + t->begin, valid until tg_st_close. Aligned to the element
 * size only when 8 + N + begin is a multiple of it (always so for files tg_st_write
 * makes); copy with memcpy when unsure. */
const void *tg_st_data(const tg_st_file *f, const tg_st_tensor *t);
/* The metadata value of key, or NULL when absent. Valid until tg_st_close. */
const char *tg_st_meta(const tg_st_file *f, const char *key);

#endif
