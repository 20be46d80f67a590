/* fuzz_data.c: the input as a text data file, read as characters or as words. The
 * first byte chooses the options (bit 0: words; bit 1: lowercase; bits 2-3:
 * val_fraction 0, 0.1, 0.5 or 0.25; bits 4-7: vocab_size 2 + 4k); the rest is the file.
 * A dataset that loads must hold ids inside its vocabulary, encode its own text the
 * same way, and give batches that stay inside its splits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/alloc.h"
#include "models/data.h"
#include "tests/fuzz/fuzz.h"

static void check_ids(const tg_dataset *d, const int32_t *ids, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= d->vocab) fuzz_fail("%s[%lld] = %d, vocab %d", what, (long long)i, ids[i], d->vocab);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 200000) return 0;
    unsigned o = data[0];
    int words = o & 1, lower = o >> 1 & 1, vocab = 2 + 4 * (int)(o >> 4);
    static const char *const vf[] = {"0", "0.1", "0.5", "0.25"};
    const char *path = fuzz_file("text.txt", data + 1, size - 1);
    char yaml[600];
    int k = snprintf(yaml, sizeof yaml, "data: {type: %s, path: '%s', val_fraction: %s", words ? "words" : "chars",
                     path, vf[o >> 2 & 3]);
    if (words) k += snprintf(yaml + k, sizeof yaml - (size_t)k, ", lowercase: %s, vocab_size: %d", lower ? "true" : "false", vocab);
    snprintf(yaml + k, sizeof yaml - (size_t)k, "}\n");
    tg_cfg c;
    tg_error err = {0};
    if (tg_cfg_load_string(&c, "data.yaml", yaml, &err)) fuzz_fail("the harness's config: %s\n%s", err.msg, yaml);
    tg_dataset d;
    if (tg_data_load(&d, &c, tg_cfg_get(c.root, "data"), &err) == TG_OK) {
        if (d.vocab < 1 || d.n_train < 1) fuzz_fail("vocab %d, %lld training symbols", d.vocab, (long long)d.n_train);
        check_ids(&d, d.train, d.n_train, "train");
        check_ids(&d, d.val, d.n_val, "val");
        /* the text (it has no NUL: the loader refuses one) encodes to the dataset's ids */
        char *text = malloc(size);
        memcpy(text, data + 1, size - 1);
        text[size - 1] = 0;
        int32_t *ids;
        int64_t n;
        if (strlen(text) != size - 1) fuzz_fail("a text with a NUL byte loaded");
        if (tg_data_encode(&d, text, &ids, &n, &err)) fuzz_fail("the dataset's own text does not encode: %s", err.msg);
        if (n != d.n_train + d.n_val) fuzz_fail("the text encodes to %lld ids, the dataset has %lld", (long long)n,
                                                (long long)(d.n_train + d.n_val));
        if (memcmp(ids, d.train, sizeof *ids * (size_t)d.n_train) ||
            (d.n_val && memcmp(ids + d.n_train, d.val, sizeof *ids * (size_t)d.n_val)))
            fuzz_fail("the text encodes to other ids than the dataset's");
        tg_free(ids);
        free(text);
        for (int val = 0; val < 2; val++) {
            tg_loader l;
            tg_error e2 = {0};
            if (tg_loader_init(&l, &d, val, 2, 3, 1, &e2)) continue; /* too short: an error, fine */
            for (int j = 0; j < 5; j++) {
                const tg_batch *b;
                tg_loader_next(&l, &b);
                check_ids(&d, b->tokens, (int64_t)b->B * b->T, "tokens");
                check_ids(&d, b->targets, (int64_t)b->B * b->T, "targets");
            }
            tg_loader_free(&l);
        }
        tg_data_free(&d);
    } else if (!err.code || !err.msg[0]) {
        fuzz_fail("tg_data_load failed without a message");
    }
    tg_cfg_free(&c);
    return 0;
}
