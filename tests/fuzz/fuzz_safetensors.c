/* fuzz_safetensors.c: the input as a safetensors file (tg_st_read: the length field,
 * the strict JSON of the header, the format's checks). A file that is accepted must
 * keep the reader's promises (offsets inside the data and matching dtype and shape,
 * unique names, metadata found by key), and written back with tg_st_write it must read
 * back the same: names, dtypes, shapes, bytes and metadata. */
#include <stdlib.h>
#include <string.h>

#include "models/safetensors.h"
#include "tests/fuzz/fuzz.h"

static void check(const tg_st_file *f)
{
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | f->data[i];
    uint64_t data_size = f->size - 8 - hlen;
    unsigned sum = 0;
    for (int i = 0; i < f->n; i++) {
        const tg_st_tensor *t = &f->t[i];
        uint64_t numel = 1;
        for (int k = 0; k < t->ndim; k++) numel *= (uint64_t)t->shape[k];
        if (t->end < t->begin || t->end > data_size || t->end - t->begin != numel * tg_dtype_size(t->dtype))
            fuzz_fail("tensor %d: offsets [%llu, %llu] for %llu elements, data %llu bytes", i,
                      (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)numel,
                      (unsigned long long)data_size);
        if (tg_st_find(f, t->name) != t) fuzz_fail("tensor '%s' is not found by its name", t->name);
        const unsigned char *p = tg_st_data(f, t);
        for (uint64_t k = 0; k < t->end - t->begin; k++) sum += p[k]; /* ASan: inside the file */
    }
    for (int i = 0; i < f->n_meta; i++)
        if (tg_st_meta(f, f->meta_keys[i]) != f->meta_values[i]) fuzz_fail("metadata '%s' not found", f->meta_keys[i]);
    (void)sum;
}

/* Writes f's tensors and metadata to a new file and reads it back. Tensors with a
 * dimension 0 are left out (tapegrad tensors have none, and the writer takes tensors). */
static void round_trip(const tg_st_file *f)
{
    tg_st_entry *e = calloc((size_t)f->n + 1, sizeof *e);
    int n = 0;
    for (int i = 0; i < f->n; i++) {
        const tg_st_tensor *t = &f->t[i];
        int empty = 0;
        for (int k = 0; k < t->ndim; k++) empty |= t->shape[k] == 0;
        if (empty) continue;
        e[n] = (tg_st_entry){t->name, t->dtype, t->ndim, {0}, tg_st_data(f, t)};
        memcpy(e[n].shape, t->shape, sizeof e[n].shape);
        n++;
    }
    const char *path = fuzz_file("back.safetensors", NULL, 0);
    tg_error err = {0};
    if (tg_st_write(path, e, n, (const char *const *)f->meta_keys, (const char *const *)f->meta_values, f->n_meta,
                    &err))
        fuzz_fail("tg_st_write: %s", err.msg);
    tg_st_file g;
    if (tg_st_read(&g, path, &err)) fuzz_fail("the written file does not read back: %s", err.msg);
    if (g.n != n || g.n_meta != f->n_meta) fuzz_fail("read back %d tensors and %d metadata", g.n, g.n_meta);
    for (int i = 0; i < n; i++) {
        const tg_st_tensor *t = &g.t[i];
        size_t bytes = (size_t)(t->end - t->begin);
        if (strcmp(t->name, e[i].name) || t->dtype != e[i].dtype || t->ndim != e[i].ndim ||
            memcmp(t->shape, e[i].shape, sizeof(int) * (size_t)t->ndim) || memcmp(tg_st_data(&g, t), e[i].data, bytes))
            fuzz_fail("tensor '%s' reads back different", e[i].name);
    }
    for (int i = 0; i < g.n_meta; i++)
        if (strcmp(g.meta_keys[i], f->meta_keys[i]) || strcmp(g.meta_values[i], f->meta_values[i]))
            fuzz_fail("metadata '%s' reads back different", f->meta_keys[i]);
    tg_st_close(&g);
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file("in.safetensors", data, size);
    tg_st_file f;
    tg_error err = {0};
    if (tg_st_read(&f, path, &err) == TG_OK) {
        check(&f);
        round_trip(&f);
        tg_st_close(&f);
    } else {
        if (!err.code || !err.msg[0]) fuzz_fail("tg_st_read failed without a message");
        if (f.data || f.t || f.n || f.path) fuzz_fail("tg_st_read failed but left the file struct filled");
    }
    return 0;
}
