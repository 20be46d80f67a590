/* test_data.c: the data module (data.h): character vocabularies (tinyshakespeare's 65,
 * multi-byte UTF-8, carriage returns), words with <unk>, contiguous streams, epochs and
 * the loader state saved and restored, the synthetic tasks' layout and the baselines a
 * model must beat, inline data, the exact text of every error, and out-of-memory at
 * every allocation (no crash, no leak). Runs in tests/; temporary files go to /tmp. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph/alloc.h"
#include "models/data.h"
#include "test.h"

static char dir[] = "/tmp/tg_data_XXXXXX";

static void write_file(const char *name, const char *bytes, size_t n)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}
#define WRITE(name, lit) write_file(name, lit, sizeof lit - 1)

/* Loads the `data` section of `yaml`, a config named DIR/t.yaml (so relative paths
 * resolve in DIR), and frees the config at once: the dataset must not point into it. */
static tg_status load_as(tg_dataset *d, const char *cfg_name, const char *yaml, tg_error *err)
{
    tg_cfg c;
    tg_error_clear(err);
    if (tg_cfg_load_string(&c, cfg_name, yaml, err)) return err->code;
    tg_status st = tg_data_load(d, &c, tg_cfg_get(c.root, "data"), err);
    tg_cfg_free(&c);
    return st;
}

static tg_status load(tg_dataset *d, const char *yaml, tg_error *err)
{
    char name[300];
    snprintf(name, sizeof name, "%s/t.yaml", dir);
    return load_as(d, name, yaml, err);
}

/* err holds code and formats exactly as want, where "@" stands for DIR. */
static void expect_err(const tg_error *err, tg_status code, const char *want, int line)
{
    char buf[1200], w[1200];
    size_t j = 0;
    for (const char *p = want; *p && j < sizeof w - 300; p++)
        if (*p == '@') j += (size_t)snprintf(w + j, sizeof w - j, "%s", dir);
        else w[j++] = *p;
    w[j] = 0;
    tg_error_format(err, buf, sizeof buf);
    if (err->code == code && strcmp(buf, w) == 0) {
        tg_test_passed++;
        return;
    }
    tg_test_failed++;
    fprintf(stderr, "test_data.c:%d: code %d (want %d)\n  got:      %s\n  expected: %s\n", line,
            (int)err->code, (int)code, buf, w);
}

/* Loading yaml fails with code and exactly want; the dataset is left empty. */
static void fails(const char *yaml, tg_status code, const char *want, int line)
{
    tg_dataset d;
    tg_error err;
    tg_status st = load(&d, yaml, &err);
    if (st != code) fprintf(stderr, "test_data.c:%d: status %d, want %d\n", line, (int)st, (int)code);
    CHECK(st == code);
    CHECK(d.train == NULL && d.val == NULL && d.symbols == NULL && d.vocab == 0 && d.inline_x == NULL);
    expect_err(&err, code, want, line);
    tg_data_free(&d);
}
#define FAILS(yaml, code, want) fails(yaml, code, want, __LINE__)

static int str_is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }

/* ---- characters ---- */

static void test_shakespeare(void)
{
    const char *path = "../../shared/data/tinyshakespeare.txt";
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("SKIP: %s not found (run from tests/); tinyshakespeare checks skipped\n", path);
        return;
    }
    tg_dataset d;
    tg_error err;
    /* a config named without a directory: the path is relative to the working dir */
    CHECK(load_as(&d, "t.yaml", "data: {type: chars, path: ../../shared/data/tinyshakespeare.txt}\n", &err) == TG_OK);
    CHECK(d.kind == TG_DATA_CHARS && d.vocab == 65);
    int64_t n = (int64_t)sb.st_size; /* all ASCII: one symbol per byte */
    CHECK(d.n_train + d.n_val == n && d.n_val == (int64_t)floor(0.1 * (double)n));
    CHECK(str_is(d.symbols[0], "\n") && str_is(d.symbols[1], " ") && str_is(d.symbols[64], "z"));
    CHECK(strstr(d.source, "tinyshakespeare.txt") != NULL);
    int32_t *ids = NULL;
    int64_t m = 0;
    CHECK(tg_data_encode(&d, "First Citizen", &ids, &m, &err) == TG_OK && m == 13);
    CHECK(ids && memcmp(ids, d.train, 13 * sizeof *ids) == 0);
    tg_free(ids);
    tg_loader l;
    CHECK(tg_loader_init(&l, &d, 0, 32, 64, 1, &err) == TG_OK);
    CHECK(tg_loader_batches(&l) == (d.n_train - 1) / 32 / 64);
    tg_loader_free(&l);
    tg_data_free(&d);
}

static void test_utf8(void)
{
    tg_dataset d;
    tg_error err;
    WRITE("u.txt", "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93"); /* "héllo wörld ✓" */
    CHECK(load(&d, "data: {type: chars, path: u.txt, val_fraction: 0.2}\n", &err) == TG_OK);
    const char *want[] = {" ", "d", "h", "l", "o", "r", "w", "\xC3\xA9", "\xC3\xB6", "\xE2\x9C\x93"};
    CHECK(d.vocab == 10);
    for (int v = 0; v < 10 && v < d.vocab; v++) CHECK(str_is(d.symbols[v], want[v]));
    CHECK(d.n_train == 11 && d.n_val == 2); /* 13 characters, not 17 bytes */
    const int32_t train[] = {2, 7, 3, 3, 4, 0, 6, 8, 5, 3, 1}, val[] = {0, 9};
    CHECK(d.n_train == 11 && memcmp(d.train, train, sizeof train) == 0);
    CHECK(d.n_val == 2 && memcmp(d.val, val, sizeof val) == 0);

    int32_t *ids = NULL;
    int64_t m = 0;
    CHECK(tg_data_encode(&d, "d\xC3\xA9\xE2\x9C\x93", &ids, &m, &err) == TG_OK && m == 3);
    CHECK(ids && ids[0] == 1 && ids[1] == 7 && ids[2] == 9);
    tg_free(ids);
    CHECK(tg_data_encode(&d, "", &ids, &m, &err) == TG_OK && m == 0);
    tg_free(ids);
    tg_error_clear(&err);
    CHECK(tg_data_encode(&d, "dx", &ids, &m, &err) == TG_ERR_RANGE && ids == NULL && m == 0);
    expect_err(&err, TG_ERR_RANGE, "error: data: character 'x' (U+0078) at offset 1 is not in the vocabulary of '@/u.txt'", __LINE__);
    tg_error_clear(&err);
    CHECK(tg_data_encode(&d, "\n", &ids, &m, &err) == TG_ERR_RANGE);
    expect_err(&err, TG_ERR_RANGE, "error: data: character U+000A at offset 0 is not in the vocabulary of '@/u.txt'", __LINE__);
    tg_error_clear(&err);
    CHECK(tg_data_encode(&d, "d\xFF", &ids, &m, &err) == TG_ERR_INVALID);
    expect_err(&err, TG_ERR_INVALID, "error: data: the text to encode is not UTF-8 (byte 0xFF at offset 1)", __LINE__);
    tg_data_free(&d);

    /* carriage returns are symbols; an absolute path is used as it is */
    WRITE("crlf.txt", "ab\r\nba\r\n");
    char yaml[400];
    snprintf(yaml, sizeof yaml, "data: {type: chars, path: %s/crlf.txt, val_fraction: 0}\n", dir);
    CHECK(load_as(&d, "elsewhere/t.yaml", yaml, &err) == TG_OK);
    CHECK(d.vocab == 4 && str_is(d.symbols[0], "\n") && str_is(d.symbols[1], "\r") && str_is(d.symbols[2], "a"));
    CHECK(d.n_train == 8 && d.n_val == 0 && d.val == NULL && d.train[2] == 1 && d.train[3] == 0);
    tg_data_free(&d);
}

/* ---- words ---- */

static void test_words(void)
{
    tg_dataset d;
    tg_error err;
    WRITE("w.txt", "the cat the\tdog\nthe cat a bird\n");
    CHECK(load(&d, "data: {type: words, path: w.txt, vocab_size: 3, val_fraction: 0}\n", &err) == TG_OK);
    CHECK(d.kind == TG_DATA_WORDS && d.vocab == 3 && d.n_train == 8);
    CHECK(str_is(d.symbols[0], "<unk>") && str_is(d.symbols[1], "the") && str_is(d.symbols[2], "cat"));
    const int32_t t3[] = {1, 2, 1, 0, 1, 2, 0, 0};
    CHECK(memcmp(d.train, t3, sizeof t3) == 0);
    tg_data_free(&d);
    /* ties (dog, a, bird once each) go to the first seen */
    CHECK(load(&d, "data: {type: words, path: w.txt, vocab_size: 4, val_fraction: 0}\n", &err) == TG_OK);
    CHECK(d.vocab == 4 && str_is(d.symbols[3], "dog") && d.train[3] == 3 && d.train[6] == 0);
    tg_data_free(&d);
    /* a vocabulary larger than the words is clamped: <unk> + 5 distinct words */
    CHECK(load(&d, "data: {type: words, path: w.txt, val_fraction: 0}\n", &err) == TG_OK);
    CHECK(d.vocab == 6 && str_is(d.symbols[4], "a") && str_is(d.symbols[5], "bird"));
    tg_data_free(&d);

    /* a literal <unk> is id 0 and not a second symbol; lowercase folds ASCII */
    WRITE("wl.txt", "The THE the <unk> Cat <UNK>\n");
    CHECK(load(&d, "data: {type: words, path: wl.txt, lowercase: true, val_fraction: 0}\n", &err) == TG_OK);
    CHECK(d.lowercase == 1 && d.vocab == 3 && str_is(d.symbols[1], "the") && str_is(d.symbols[2], "cat"));
    const int32_t tl[] = {1, 1, 1, 0, 2, 0};
    CHECK(d.n_train == 6 && memcmp(d.train, tl, sizeof tl) == 0);
    int32_t *ids = NULL;
    int64_t m = 0;
    CHECK(tg_data_encode(&d, "  THE zebra\ncat ", &ids, &m, &err) == TG_OK && m == 3);
    CHECK(ids && ids[0] == 1 && ids[1] == 0 && ids[2] == 2);
    tg_free(ids);
    tg_data_free(&d);
    CHECK(load(&d, "data: {type: words, path: wl.txt, val_fraction: 0}\n", &err) == TG_OK);
    CHECK(d.lowercase == 0 && d.vocab == 6); /* The, THE, the, Cat, <UNK> */
    CHECK(tg_data_encode(&d, "the THE thE", &ids, &m, &err) == TG_OK && m == 3);
    CHECK(ids && ids[0] == 3 && ids[1] == 2 && ids[2] == 0);
    tg_free(ids);
    tg_data_free(&d);

    /* the split is in words */
    WRITE("w20.txt", "a b c d e f g h i j k l m n o p q r s t");
    CHECK(load(&d, "data: {type: words, path: w20.txt}\n", &err) == TG_OK);
    CHECK(d.n_train == 18 && d.n_val == 2 && d.val[0] == 19 && d.val[1] == 20);
    tg_data_free(&d);
}

/* ---- text loaders ---- */

static void test_streams(void)
{
    tg_dataset d;
    tg_error err;
    char text[1001];
    uint64_t s = 7;
    for (int i = 0; i < 1000; i++) s = s * 6364136223846793005ull + 1, text[i] = (char)('a' + (s >> 33) % 26);
    write_file("s.txt", text, 1000);
    CHECK(load(&d, "data: {type: chars, path: s.txt}\n", &err) == TG_OK);
    CHECK(d.n_train == 900 && d.n_val == 100);
    enum { B = 4, T = 5 };
    const int64_t L = (900 - 1) / B; /* 224 inputs per stream; 44 batches */
    tg_loader l;
    CHECK(tg_loader_init(&l, &d, 0, B, 99, 0, &err) == TG_OK);
    tg_loader_free(&l);
    CHECK(tg_loader_init(&l, &d, 0, B, T, 0, &err) == TG_OK);
    CHECK(tg_loader_batches(&l) == 44);
    int32_t prev_tg[B * T], first[B * T];
    int bad = 0, bad_ret = 0;
    for (int k = 0; k < 44; k++) {
        const tg_batch *b;
        int fresh = tg_loader_next(&l, &b);
        bad_ret += fresh != (k == 0);
        bad += b->B != B || b->T != T || !b->tokens || !b->targets || b->x || b->y || b->mask;
        for (int i = 0; i < B; i++)
            for (int t = 0; t < T; t++) {
                bad += b->tokens[i * T + t] != d.train[i * L + k * T + t];
                bad += b->targets[i * T + t] != d.train[i * L + k * T + t + 1];
                if (t + 1 < T) bad += b->targets[i * T + t] != b->tokens[i * T + t + 1];
                /* the batch after batch k continues every stream */
                if (k > 0 && t == 0) bad += b->tokens[i * T] != prev_tg[i * T + T - 1];
            }
        memcpy(prev_tg, b->targets, sizeof prev_tg);
        if (k == 0) memcpy(first, b->tokens, sizeof first);
    }
    CHECK(bad == 0 && bad_ret == 0);
    CHECK(l.st.batch == 44 && l.st.epoch == 0);
    const tg_batch *b;
    CHECK(tg_loader_next(&l, &b) == 1); /* the next batch does not fit: a new epoch */
    CHECK(l.st.epoch == 1 && l.st.batch == 1 && memcmp(b->tokens, first, sizeof first) == 0);
    CHECK(tg_loader_next(&l, &b) == 0);
    tg_loader_free(&l);

    /* validation: the last 100 symbols, the same way */
    CHECK(tg_loader_init(&l, &d, 1, 2, 5, 0, &err) == TG_OK);
    CHECK(tg_loader_batches(&l) == 9); /* (100 - 1) / 2 = 49 inputs per stream */
    CHECK(tg_loader_next(&l, &b) == 1 && b->tokens[5] == d.val[49] && b->targets[9] == d.val[54]);
    tg_loader_free(&l);

    /* too short for B x T + 1; bad sizes */
    tg_error_clear(&err);
    CHECK(tg_loader_init(&l, &d, 0, 100, 9, 0, &err) == TG_ERR_CONFIG && l.tokens == NULL);
    expect_err(&err, TG_ERR_CONFIG, "error: data: the training split of '@/s.txt' has 900 symbols, fewer than batch 100 x 9 steps + 1 = 901", __LINE__);
    tg_error_clear(&err);
    CHECK(tg_loader_init(&l, &d, 1, 10, 10, 0, &err) == TG_ERR_CONFIG);
    expect_err(&err, TG_ERR_CONFIG, "error: data: the validation split of '@/s.txt' has 100 symbols, fewer than batch 10 x 10 steps + 1 = 101", __LINE__);
    tg_error_clear(&err);
    CHECK(tg_loader_init(&l, &d, 0, 0, 5, 0, &err) == TG_ERR_INVALID);
    expect_err(&err, TG_ERR_INVALID, "error: loader: batch 0 x 5 steps: both must be >= 1", __LINE__);
    tg_data_free(&d);

    /* exactly B * T + 1 symbols: one batch whose last target is the last symbol */
    WRITE("s11.txt", "abcdefghijk");
    CHECK(load(&d, "data: {type: chars, path: s11.txt, val_fraction: 0}\n", &err) == TG_OK);
    CHECK(tg_loader_init(&l, &d, 0, 2, 5, 0, &err) == TG_OK && tg_loader_batches(&l) == 1);
    CHECK(tg_loader_next(&l, &b) == 1 && b->tokens[5] == 5 && b->targets[9] == 10);
    CHECK(tg_loader_next(&l, &b) == 1 && l.st.epoch == 1 && b->tokens[0] == 0);
    tg_loader_free(&l);
    tg_data_free(&d);
}

/* The next n batches of l, flattened, and their return values. */
static void take(tg_loader *l, int n, double *out, int *ret)
{
    for (int k = 0; k < n; k++) {
        const tg_batch *b;
        ret[k] = tg_loader_next(l, &b);
        size_t bt = (size_t)b->B * b->T, w = bt * 4;
        for (size_t i = 0; i < bt; i++) {
            out[k * w + 4 * i] = b->tokens ? b->tokens[i] : 0;
            out[k * w + 4 * i + 1] = b->targets ? b->targets[i] : 0;
            out[k * w + 4 * i + 2] = b->x ? b->x[i * l->d->in_dim] : 0;
            out[k * w + 4 * i + 3] = b->y && i < (size_t)b->B * (l->d->kind == TG_DATA_ADDING ? 1 : b->T) ? b->y[i] : 0;
        }
    }
}

static void test_state_restore(void)
{
    const char *yamls[] = {"data: {type: chars, path: s.txt}\n", "data: {type: adding, length: 6}\n",
                           "data: {type: copy, length: 3}\n", "data: {type: sine, length: 7}\n"};
    static double a[30 * 3 * 30 * 4], b[30 * 3 * 30 * 4], c[3 * 30 * 4], first[3 * 30 * 4];
    int ra[30], rb[30];
    for (int y = 0; y < 4; y++) {
        tg_dataset d;
        tg_error err;
        tg_loader l;
        CHECK(load(&d, yamls[y], &err) == TG_OK);
        CHECK(tg_loader_init(&l, &d, 0, 3, 10, 5, &err) == TG_OK); /* text: 29 batches an epoch */
        size_t per = 3 * (size_t)l.T * 4;
        int n1 = y == 0 ? 27 : 15;
        take(&l, n1, a, ra);
        tg_loader_state saved = l.st; /* e.g. in a checkpoint */
        take(&l, 5, a, ra);           /* text: crosses the end of the epoch */
        l.st = saved;
        take(&l, 5, b, rb);
        CHECK(memcmp(a, b, sizeof(double) * 5 * per) == 0 && memcmp(ra, rb, sizeof(int) * 5) == 0);
        if (y == 0) CHECK(rb[0] == 0 && rb[1] == 0 && rb[2] == 1 && rb[3] == 0 && l.st.epoch == 1 && l.st.batch == 3);
        else CHECK(rb[0] == 1 && rb[4] == 1 && l.st.batch == 20 && l.st.epoch == 0);
        tg_loader_free(&l);
        if (y == 0) {
            tg_data_free(&d);
            continue;
        }
        /* the loader's seed: the same seed, the same batches; another, others */
        CHECK(tg_loader_init(&l, &d, 0, 3, 0, 5, &err) == TG_OK);
        take(&l, 1, first, rb);
        tg_loader_free(&l);
        CHECK(tg_loader_init(&l, &d, 0, 3, 0, 5, &err) == TG_OK);
        take(&l, 1, c, rb);
        CHECK(memcmp(first, c, sizeof(double) * per) == 0);
        tg_loader_free(&l);
        CHECK(tg_loader_init(&l, &d, 0, 3, 0, 6, &err) == TG_OK);
        take(&l, 1, c, rb);
        CHECK(memcmp(first, c, sizeof(double) * per) != 0);
        tg_loader_free(&l);
        tg_data_free(&d);
    }
}

/* ---- synthetic tasks ---- */

static void test_adding(void)
{
    tg_dataset d;
    tg_error err;
    tg_loader l;
    enum { T = 50, B = 100 };
    CHECK(load(&d, "data: {type: adding, length: 50, seed: 3}\n", &err) == TG_OK);
    CHECK(d.seq_len == T && d.in_dim == 2 && d.out_dim == 1 && d.vocab == 0 && d.n_val_seqs == 1000 && d.seed == 3);
    CHECK(tg_loader_init(&l, &d, 0, B, 7, 1, &err) == TG_OK && l.T == T); /* T is the task's */
    CHECK(tg_loader_batches(&l) == 0);                                       /* endless */
    double se = 0, sy = 0;
    int bad = 0, bad_ret = 0;
    for (int k = 0; k < 100; k++) { /* 10000 sequences */
        const tg_batch *b;
        bad_ret += tg_loader_next(&l, &b) != 1;
        bad += b->B != B || b->T != T || b->tokens || b->targets || !b->x || !b->y || b->mask;
        for (int i = 0; i < B; i++) {
            const double *x = b->x + i * T * 2;
            int marks = 0, first = -1, second = -1;
            double sum = 0;
            for (int t = 0; t < T; t++) {
                bad += x[2 * t] < 0 || x[2 * t] >= 1 || (x[2 * t + 1] != 0 && x[2 * t + 1] != 1);
                if (x[2 * t + 1] == 1) {
                    marks++, sum += x[2 * t];
                    if (first < 0) first = t;
                    else second = t;
                }
            }
            bad += marks != 2 || first >= T / 2 || second < T / 2 || b->y[i] != sum;
            se += (b->y[i] - 1) * (b->y[i] - 1), sy += b->y[i];
        }
    }
    CHECK(bad == 0 && bad_ret == 0);
    CHECK_NEAR(se / 10000, 1.0 / 6.0, 0.01); /* the constant guess 1 */
    CHECK_NEAR(sy / 10000, 1.0, 0.02);
    tg_loader_free(&l);

    /* the fixed validation set: the same from any loader, in order, the last batch short */
    tg_data_free(&d);
    CHECK(load(&d, "data: {type: adding, length: 2, val_size: 10}\n", &err) == TG_OK);
    tg_loader v1, v2;
    CHECK(tg_loader_init(&v1, &d, 1, 4, 0, 1, &err) == TG_OK && tg_loader_init(&v2, &d, 1, 4, 0, 99, &err) == TG_OK);
    CHECK(tg_loader_batches(&v1) == 3);
    const tg_batch *b1, *b2;
    double firstx[16];
    for (int k = 0; k < 3; k++) {
        CHECK(tg_loader_next(&v1, &b1) == 1 && tg_loader_next(&v2, &b2) == 1);
        CHECK(b1->B == (k < 2 ? 4 : 2) && b2->B == b1->B);
        CHECK(memcmp(b1->x, b2->x, sizeof(double) * 4 * (size_t)b1->B) == 0 && memcmp(b1->y, b2->y, sizeof(double) * (size_t)b1->B) == 0);
        CHECK(b1->x[1] == 1 && b1->x[3] == 1); /* T = 2: marks at steps 0 and 1 */
        if (k == 0) memcpy(firstx, b1->x, sizeof firstx);
    }
    CHECK(tg_loader_next(&v1, &b1) == 1 && v1.st.epoch == 1 && b1->B == 4 && memcmp(b1->x, firstx, sizeof firstx) == 0);
    CHECK(tg_loader_init(&l, &d, 0, 4, 0, 1, &err) == TG_OK);
    CHECK(tg_loader_next(&l, &b2) == 1 && memcmp(b2->x, firstx, sizeof firstx) != 0); /* train differs */
    tg_loader_free(&l), tg_loader_free(&v1), tg_loader_free(&v2);
    tg_data_free(&d);
}

static void test_copy(void)
{
    tg_dataset d;
    tg_error err;
    tg_loader l;
    for (int S = 1; S <= 30; S += 29) { /* the blank span */
        char yaml[100];
        snprintf(yaml, sizeof yaml, "data: {type: copy, length: %d}\n", S);
        CHECK(load(&d, yaml, &err) == TG_OK);
        const int T = S + 20, B = 50;
        CHECK(d.seq_len == T && d.vocab == 10 && d.in_dim == 0 && d.out_dim == 0);
        CHECK(str_is(d.symbols[0], "0") && str_is(d.symbols[7], "7") && str_is(d.symbols[8], "_") && str_is(d.symbols[9], ":"));
        CHECK(tg_loader_init(&l, &d, 0, B, 0, 1, &err) == TG_OK);
        int bad = 0;
        double nll = 0, freq[8] = {0};
        int64_t steps = 0, last = 0;
        for (int k = 0; k < 200; k++) { /* 10000 sequences */
            const tg_batch *b;
            tg_loader_next(&l, &b);
            bad += b->B != B || b->T != T || !b->tokens || !b->targets || b->x || b->y;
            for (int i = 0; i < B; i++) {
                const int32_t *tok = b->tokens + i * T, *tg = b->targets + i * T;
                for (int t = 0; t < T; t++) {
                    int want_tok = t < 10 ? -1 : t == T - 11 ? 9 : 8, want_tg = t < T - 10 ? 8 : tok[t - (T - 10)];
                    bad += (want_tok < 0 ? tok[t] < 0 || tok[t] > 7 : tok[t] != want_tok) || tg[t] != want_tg;
                    /* the best memoryless predictor: blank for sure, then uniform over 0..7 */
                    double p = t < T - 10 ? (tg[t] == 8) : (tg[t] >= 0 && tg[t] < 8) / 8.0;
                    nll -= log(p), steps++;
                    if (t >= T - 10 && tg[t] >= 0 && tg[t] < 8) freq[tg[t]]++, last++;
                }
            }
        }
        CHECK(bad == 0);
        CHECK_NEAR(nll / (double)steps, 10 * log(8.0) / T, 1e-9);
        for (int v = 0; v < 8; v++) CHECK_NEAR(freq[v] / (double)last, 1.0 / 8, 0.01); /* uniform: no better memoryless guess */
        tg_loader_free(&l);
        tg_data_free(&d);
    }
}

static void test_sine(void)
{
    tg_dataset d;
    tg_error err;
    tg_loader l;
    const tg_batch *b;
    CHECK(load(&d, "data: {type: sine, length: 20, noise: 0}\n", &err) == TG_OK);
    CHECK(d.seq_len == 20 && d.in_dim == 1 && d.out_dim == 1 && d.noise == 0);
    CHECK(tg_loader_init(&l, &d, 0, 8, 0, 1, &err) == TG_OK);
    tg_loader_next(&l, &b);
    int bad = 0;
    for (int i = 0; i < 8; i++)
        for (int t = 0; t < 20; t++) {
            bad += fabs(b->x[i * 20 + t]) > 1 || fabs(b->y[i * 20 + t]) > 1;
            if (t < 19) bad += fabs(b->y[i * 20 + t] - b->x[i * 20 + t + 1]) > 1e-12; /* the next clean value */
        }
    CHECK(bad == 0 && b->x[0] != b->x[20]); /* frequency and phase per sequence */
    tg_loader_free(&l);
    tg_data_free(&d);
    CHECK(load(&d, "data: {type: sine, length: 20}\n", &err) == TG_OK && d.noise == 0.1);
    CHECK(tg_loader_init(&l, &d, 0, 100, 0, 1, &err) == TG_OK);
    double s2 = 0;
    for (int k = 0; k < 10; k++) {
        tg_loader_next(&l, &b);
        for (int i = 0; i < 100; i++)
            for (int t = 0; t < 19; t++) {
                double e = b->x[i * 20 + t + 1] - b->y[i * 20 + t];
                s2 += e * e;
            }
    }
    CHECK_NEAR(sqrt(s2 / (10 * 100 * 19)), 0.1, 0.005);
    tg_loader_free(&l);
    tg_data_free(&d);
}

/* ---- inline data ---- */

static void test_inline(void)
{
    tg_dataset d;
    tg_error err;
    tg_loader l;
    const tg_batch *b;
    CHECK(load(&d, "data:\n  type: inline\n"
                   "  inputs: [[[0.5, 0.1, -0.3], [-0.2, 0.4, 0.3], [0.1, -0.5, 0.2], [0.4, 0.2, -0.1]]]\n"
                   "  targets: [[[1, 0], [0, 1], [1, 0], [0, 1]]]\n", &err) == TG_OK);
    CHECK(d.kind == TG_DATA_INLINE && d.n_inline == 1 && d.seq_len == 4 && d.in_dim == 3 && d.out_dim == 2);
    CHECK(d.inline_x[0] == 0.5 && d.inline_x[5] == 0.3 && d.inline_x[11] == -0.1 && d.inline_y[3] == 1 && d.inline_y[6] == 0);
    for (int val = 0; val < 2; val++) { /* no held-out split: validation is the same sequences */
        CHECK(tg_loader_init(&l, &d, val, 8, 99, 0, &err) == TG_OK && tg_loader_batches(&l) == 1);
        CHECK(tg_loader_next(&l, &b) == 1 && b->B == 1 && b->T == 4 && !b->tokens && !b->mask);
        CHECK(memcmp(b->x, d.inline_x, 12 * sizeof(double)) == 0 && memcmp(b->y, d.inline_y, 8 * sizeof(double)) == 0);
        CHECK(tg_loader_next(&l, &b) == 1 && l.st.epoch == 1);
        tg_loader_free(&l);
    }
    tg_data_free(&d);
    CHECK(load(&d, "data: {type: inline, inputs: [[[1], [2]], [[3], [4]], [[5], [6]]], targets: [[[1]], [[2]], [[3]]]}\n", &err) == TG_ERR_CONFIG);
    CHECK(load(&d, "data: {type: inline, inputs: [[[1], [2]], [[3], [4]], [[5], [6]]], targets: [[[1], [0]], [[2], [0]], [[3], [0]]]}\n", &err) == TG_OK);
    CHECK(tg_loader_init(&l, &d, 0, 2, 0, 0, &err) == TG_OK && tg_loader_batches(&l) == 2);
    CHECK(tg_loader_next(&l, &b) == 1 && b->B == 2 && b->x[3] == 4);
    CHECK(tg_loader_next(&l, &b) == 1 && b->B == 1 && b->x[0] == 5 && b->y[0] == 3 && l.st.epoch == 0);
    tg_loader_free(&l);
    tg_data_free(&d);

    FAILS("data:\n  type: inline\n  inputs: [[[1], [2]], [[3]]]\n  targets: [[[1], [2]], [[3], [4]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:3:24: error: 'data.inputs[1]': expected 2 steps, as many as 'data.inputs[0]', got 1");
    FAILS("data:\n  type: inline\n  inputs: [[[1, 2], [3]]]\n  targets: [[[1], [2]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:3:21: error: 'data.inputs[0][1]': expected 2 numbers, as many as 'data.inputs[0][0]', got 1");
    FAILS("data:\n  type: inline\n  inputs: [[[1], [2]]]\n  targets: [[[1], [2]], [[3], [4]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:4:12: error: 'data.targets': expected 1 sequence, as many as 'data.inputs', got 2");
    FAILS("data:\n  type: inline\n  inputs: [[[1], [2]]]\n  targets: [[[1]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:4:13: error: 'data.targets[0]': expected 2 steps, as many as 'data.inputs[0]', got 1");
    FAILS("data:\n  type: inline\n  inputs: [[[1], [2]]]\n  targets: [[[1, 2], [3]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:4:22: error: 'data.targets[0][1]': expected 2 numbers, as many as 'data.targets[0][0]', got 1");
    FAILS("data:\n  type: inline\n  inputs: [[[1, x]]]\n  targets: [[[1]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:3:17: error: 'data.inputs[0][0][1]': expected a number in [-1e+12, 1e+12], got 'x'");
    FAILS("data:\n  type: inline\n  inputs: 5\n  targets: [[[1]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:3:11: error: 'data.inputs': expected a list of sequences, got '5'");
    FAILS("data:\n  type: inline\n  inputs: [[]]\n  targets: [[[1]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:3:12: error: 'data.inputs[0]': expected a list of steps, got an empty list");
    FAILS("data:\n  type: inline\n  inputs: [[0.5, 0.1]]\n  targets: [[[1]]]\n", TG_ERR_CONFIG,
          "@/t.yaml:3:13: error: 'data.inputs[0][0]': expected a list of numbers, got '0.5'");
    FAILS("data:\n  type: inline\n  inputs: [[[1]]]\n", TG_ERR_CONFIG, "@/t.yaml:2:3: error: 'data.targets' is missing");
}

/* ---- errors ---- */

static void test_errors(void)
{
    WRITE("empty.txt", "");
    WRITE("x.bin", "\x89PNG\r\n\x1a\n");
    write_file("nul.txt", "ab\0cd", 5);
    WRITE("cut.txt", "ab\xC3(");
    WRITE("over.txt", "\xC0\xAF");
    WRITE("surr.txt", "a\xED\xA0\x80");
    WRITE("ws.txt", "  \n\t \r\n");
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    mkdir(sub, 0700);

    FAILS("model: {}\n", TG_ERR_CONFIG, "@/t.yaml: error: 'data' is missing");
    FAILS("data: chars\n", TG_ERR_CONFIG, "@/t.yaml:1:7: error: 'data': expected a map of keys, got 'chars'");
    FAILS("data:\n  tpye: chars\n", TG_ERR_CONFIG, "@/t.yaml:2:3: error: unknown key 'tpye' in 'data' (did you mean 'type'?)");
    FAILS("data:\n  path: x.txt\n", TG_ERR_CONFIG,
          "@/t.yaml:2:3: error: 'data.type' is missing (one of chars, words, adding, copy, sine, inline)");
    FAILS("data:\n  type: char\n", TG_ERR_CONFIG,
          "@/t.yaml:2:9: error: 'data.type': expected one of chars, words, adding, copy, sine, inline, got 'char' (did you mean 'chars'?)");
    FAILS("data:\n  type: chars\n  pth: x.txt\n", TG_ERR_CONFIG, "@/t.yaml:3:3: error: unknown key 'pth' in 'data' (did you mean 'path'?)");
    FAILS("data:\n  type: chars\n  path: u.txt\n  vocab_siz: 5\n", TG_ERR_CONFIG, "@/t.yaml:4:3: error: unknown key 'vocab_siz' in 'data'");
    FAILS("data:\n  type: words\n  path: u.txt\n  vocab_siz: 5\n", TG_ERR_CONFIG,
          "@/t.yaml:4:3: error: unknown key 'vocab_siz' in 'data' (did you mean 'vocab_size'?)");
    FAILS("data:\n  type: chars\n  path: u.txt\n  seed: 5\n", TG_ERR_CONFIG,
          "@/t.yaml:4:3: error: 'data.seed' does not apply to type chars (its keys: type, path, val_fraction)");
    FAILS("data:\n  length: 5\n  noise: 0.5\n  type: adding\n", TG_ERR_CONFIG,
          "@/t.yaml:3:3: error: 'data.noise' does not apply to type adding (its keys: type, length, val_size, seed)");
    FAILS("data:\n  type: chars\n  path: u.txt\n  vocab_size: 5\n", TG_ERR_CONFIG,
          "@/t.yaml:4:3: error: 'data.vocab_size' does not apply to type chars (its keys: type, path, val_fraction)");
    FAILS("data:\n  type: copy\n  lenght: 5\n  path: x\n", TG_ERR_CONFIG, "@/t.yaml:3:3: error: unknown key 'lenght' in 'data' (did you mean 'length'?)");
    FAILS("data:\n  type: chars\n", TG_ERR_CONFIG, "@/t.yaml:2:3: error: 'data.path' is missing");
    FAILS("data:\n  type: chars\n  path: [a]\n", TG_ERR_CONFIG, "@/t.yaml:3:9: error: 'data.path': expected a string, got a sequence");
    FAILS("data:\n  type: chars\n  path: ''\n", TG_ERR_CONFIG, "@/t.yaml:3:9: error: data.path: the file name is empty");
    FAILS("data:\n  type: chars\n  path: nope.txt\n", TG_ERR_IO,
          "@/t.yaml:3:9: error: @/nope.txt: cannot open: No such file or directory");
    FAILS("data:\n  type: chars\n  path: sub\n", TG_ERR_IO, "@/t.yaml:3:9: error: @/sub: cannot read: Is a directory");
    /* a device or a FIFO is refused before it is read: /dev/zero would fill the memory */
    FAILS("data:\n  type: chars\n  path: /dev/zero\n", TG_ERR_IO,
          "@/t.yaml:3:9: error: /dev/zero: cannot read: not a regular file");
    FAILS("data:\n  type: chars\n  path: empty.txt\n", TG_ERR_CONFIG, "@/t.yaml:3:9: error: data.path: 'empty.txt' is empty");
    FAILS("data:\n  type: chars\n  path: x.bin\n", TG_ERR_CONFIG,
          "@/t.yaml:3:9: error: data.path: 'x.bin' is not UTF-8 text (byte 0x89 at offset 0)");
    FAILS("data:\n  type: words\n  path: nul.txt\n", TG_ERR_CONFIG,
          "@/t.yaml:3:9: error: data.path: 'nul.txt' is not UTF-8 text (byte 0x00 at offset 2)");
    FAILS("data:\n  type: chars\n  path: cut.txt\n", TG_ERR_CONFIG,
          "@/t.yaml:3:9: error: data.path: 'cut.txt' is not UTF-8 text (byte 0xC3 at offset 2)");
    FAILS("data:\n  type: chars\n  path: over.txt\n", TG_ERR_CONFIG,
          "@/t.yaml:3:9: error: data.path: 'over.txt' is not UTF-8 text (byte 0xC0 at offset 0)");
    FAILS("data:\n  type: chars\n  path: surr.txt\n", TG_ERR_CONFIG,
          "@/t.yaml:3:9: error: data.path: 'surr.txt' is not UTF-8 text (byte 0xED at offset 1)");
    FAILS("data:\n  type: words\n  path: ws.txt\n", TG_ERR_CONFIG, "@/t.yaml:3:9: error: data.path: 'ws.txt' has no words");
    FAILS("data:\n  type: chars\n  path: u.txt\n", TG_ERR_CONFIG, /* 13 characters: 0.1 leaves 1 */
          "@/t.yaml:3:9: error: data.val_fraction: 'u.txt' is too short for a validation split: 0.1 of its 13 characters "
          "leaves 1, fewer than the 2 needed (use a longer text or val_fraction: 0)");
    FAILS("data:\n  type: words\n  path: w.txt\n  val_fraction: 0.2\n", TG_ERR_CONFIG,
          "@/t.yaml:4:17: error: data.val_fraction: 'w.txt' is too short for a validation split: 0.2 of its 8 words "
          "leaves 1, fewer than the 2 needed (use a longer text or val_fraction: 0)");
    FAILS("data:\n  type: chars\n  path: u.txt\n  val_fraction: 0.7\n", TG_ERR_CONFIG,
          "@/t.yaml:4:17: error: 'data.val_fraction': expected a number in [0, 0.5], got '0.7'");
    FAILS("data:\n  type: words\n  path: w.txt\n  vocab_size: 1\n", TG_ERR_CONFIG,
          "@/t.yaml:4:15: error: 'data.vocab_size': expected an integer in [2, 16777216], got '1'");
    FAILS("data:\n  type: words\n  path: w.txt\n  lowercase: maybe\n", TG_ERR_CONFIG,
          "@/t.yaml:4:14: error: 'data.lowercase': expected true or false, got 'maybe'");
    FAILS("data:\n  type: adding\n", TG_ERR_CONFIG, "@/t.yaml:2:3: error: 'data.length' is missing");
    FAILS("data:\n  type: adding\n  length: 1\n", TG_ERR_CONFIG,
          "@/t.yaml:3:11: error: 'data.length': expected an integer in [2, 1000000], got '1'");
    FAILS("data:\n  type: copy\n  length: 0\n", TG_ERR_CONFIG,
          "@/t.yaml:3:11: error: 'data.length': expected an integer in [1, 1000000], got '0'");
    FAILS("data:\n  type: sine\n  length: 10\n  noise: -1\n", TG_ERR_CONFIG,
          "@/t.yaml:4:10: error: 'data.noise': expected a number in [0, 10], got '-1'");
    FAILS("data:\n  type: sine\n  length: 10\n  seed: -1\n", TG_ERR_CONFIG,
          "@/t.yaml:4:9: error: 'data.seed': expected an integer in [0, 1000000000000000000], got '-1'");

    tg_dataset d;
    tg_error err;
    tg_loader l;
    int32_t dummy, *ids = &dummy;
    int64_t n = 5;
    CHECK(load(&d, "data: {type: adding, length: 5, val_size: 0}\n", &err) == TG_OK);
    CHECK(strcmp(d.source, "adding (length 5)") == 0);
    tg_error_clear(&err);
    CHECK(tg_loader_init(&l, &d, 1, 4, 0, 0, &err) == TG_ERR_CONFIG && l.x == NULL);
    expect_err(&err, TG_ERR_CONFIG, "error: data: adding (length 5) has no validation set (val_size: 0)", __LINE__);
    tg_error_clear(&err);
    CHECK(tg_data_encode(&d, "abc", &ids, &n, &err) == TG_ERR_INVALID && ids == NULL && n == 0);
    expect_err(&err, TG_ERR_INVALID, "error: data: only text (chars, words) can be encoded, not adding (length 5)", __LINE__);
    tg_data_free(&d);
    tg_data_free(&d); /* harmless twice */
}

/* ---- out of memory ---- */

/* Loads yaml, makes a loader, takes two batches and encodes, failing the k-th allocation
 * for k = 0, 1, ... until everything succeeds: every failure is TG_ERR_NOMEM, and
 * nothing leaks (LeakSanitizer). */
static void test_alloc(void)
{
    const char *yamls[] = {"data: {type: chars, path: s.txt}\n", "data: {type: words, path: w20.txt}\n",
                           "data: {type: copy, length: 4}\n", "data: {type: sine, length: 4, val_size: 3}\n",
                           "data: {type: inline, inputs: [[[1], [2]]], targets: [[[1], [2]]]}\n"};
    char name[300];
    snprintf(name, sizeof name, "%s/t.yaml", dir);
    for (int y = 0; y < 5; y++) {
        tg_cfg c;
        tg_error err = {0};
        CHECK(tg_cfg_load_string(&c, name, yamls[y], &err) == TG_OK);
        int failures = 0, bad = 0, done = 0;
        for (long k = 0; k < 100000 && !done; k++) {
            tg_dataset d;
            tg_loader l, v;
            tg_error_clear(&err);
            tg_alloc_fail_after(k);
            tg_status st = tg_data_load(&d, &c, tg_cfg_get(c.root, "data"), &err);
            if (!st) st = tg_loader_init(&l, &d, 0, 2, 3, 1, &err);
            if (!st) {
                const tg_batch *b;
                tg_loader_next(&l, &b), tg_loader_next(&l, &b);
                if (!(st = tg_loader_init(&v, &d, 1, 1, 1, 1, &err))) tg_loader_free(&v);
                tg_loader_free(&l);
            }
            if (!st && (d.kind == TG_DATA_CHARS || d.kind == TG_DATA_WORDS)) {
                int32_t *ids;
                int64_t n;
                if (!(st = tg_data_encode(&d, d.kind == TG_DATA_WORDS ? "a b" : "ab", &ids, &n, &err))) tg_free(ids);
            }
            tg_alloc_fail_after(-1);
            tg_data_free(&d);
            if (st == TG_OK) done = 1;
            else failures++, bad += st != TG_ERR_NOMEM || err.code != TG_ERR_NOMEM;
        }
        if (bad) fprintf(stderr, "test_data.c: config %d: a failure other than TG_ERR_NOMEM\n", y);
        CHECK(done && failures > 0 && bad == 0);
        tg_cfg_free(&c);
    }
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_shakespeare();
    test_utf8();
    test_words();
    test_streams();
    test_state_restore();
    test_adding();
    test_copy();
    test_sine();
    test_inline();
    test_errors();
    test_alloc();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tg_test_end();
}
