/* test_config.c: the YAML config loader: positions of nodes and keys, positions inside
 * block scalars, the exact text and file:line:col of every error (syntax, bad bytes,
 * duplicate keys, aliases, unknown keys, typed reads), suggestions, --set overrides,
 * and out-of-memory at every allocation (no crash, no leak, TG_ERR_NOMEM). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/alloc.h"
#include "models/config.h"
#include "test.h"

static char dir[] = "/tmp/tg_cfg_XXXXXX";

/* Checks that `err` holds `code` and formats exactly as `want`. */
static void expect_err(const tg_error *err, tg_status code, const char *want, int line)
{
    char buf[800];
    tg_error_format(err, buf, sizeof buf);
    if (err->code == code && strcmp(buf, want) == 0) {
        tg_test_passed++;
        return;
    }
    tg_test_failed++;
    fprintf(stderr, "test_config.c:%d: code %d (want %d)\n  got:      %s\n  expected: %s\n", line,
            (int)err->code, (int)code, buf, want);
}
#define EXPECT_ERR(err, code, want) expect_err(err, code, want, __LINE__)

/* Loading `text` fails with TG_ERR_CONFIG and exactly `want`; c stays empty. */
static void load_fails(const char *text, const char *want, int line)
{
    tg_cfg c;
    tg_error err = {0};
    tg_status st = tg_cfg_load_string(&c, "t.yaml", text, &err);
    CHECK(st == TG_ERR_CONFIG);
    CHECK(c.root == NULL && c.text == NULL && c.path == NULL);
    expect_err(&err, TG_ERR_CONFIG, want, line);
    tg_cfg_free(&c);
}
#define LOAD_FAILS(text, want) load_fails(text, want, __LINE__)

static char *write_file(const char *name, const char *data, size_t n)
{
    static char path[4][64];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 64, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

static const char *doc =
    "# a model\n"                 /* 1 */
    "model:\n"                    /* 2 */
    "  type: lstm\n"              /* 3 */
    "  layers:\n"                 /* 4 */
    "    - hidden: 128\n"         /* 5 */
    "      dropout: 0.1\n"        /* 6 */
    "    - {hidden: abc}\n"       /* 7 */
    "  name: \"quoted x\"\n"      /* 8 */
    "  eq: |\n"                   /* 9 */
    "    y = a*x\n"               /* 10 */
    "\n"                          /* 11: a blank line inside the block */
    "      + b*z\n"               /* 12 */
    "  fold: >\n"                 /* 13 */
    "    one two\n"               /* 14 */
    "    three\n"                 /* 15 */
    "\n"                          /* 16 */
    "    four\n"                  /* 17 */
    "train:\n"                    /* 18 */
    "  steps: 100\n"              /* 19 */
    "  lr: 1e-3\n"                /* 20 */
    "  shuffle: yes\n"            /* 21 */
    "  input: {type: embeding}\n" /* 22 */
    "  list:\n"                   /* 23 */
    "  - a\n";                    /* 24 */

static void test_positions(void)
{
    tg_cfg c;
    tg_error err = {0};
    CHECK(tg_cfg_load_string(&c, "t.yaml", doc, &err) == TG_OK);
    CHECK(strcmp(c.path, "t.yaml") == 0 && strcmp(c.text, doc) == 0);
    tg_cfg_node *r = c.root, *model = tg_cfg_get(r, "model");
    CHECK(r->kind == TG_CFG_MAP && r->n == 2 && r->line == 2 && r->col == 1);
    CHECK(r->key_line[0] == 2 && r->key_col[0] == 1 && r->key_line[1] == 18);
    CHECK(model && model->kind == TG_CFG_MAP && model->line == 3 && model->col == 3);
    CHECK(tg_cfg_key_index(model, "layers") == 1 && tg_cfg_key_index(model, "nope") == -1);
    CHECK(tg_cfg_get(model, "nope") == NULL && tg_cfg_get(model->items[0], "x") == NULL);
    CHECK(model->key_line[1] == 4 && model->key_col[1] == 3);
    tg_cfg_node *type = tg_cfg_get(model, "type");
    CHECK(type->kind == TG_CFG_SCALAR && type->style == TG_CFG_PLAIN && type->line == 3 && type->col == 9);
    CHECK(strcmp(type->value, "lstm") == 0);
    tg_cfg_node *layers = tg_cfg_get(model, "layers");
    CHECK(layers->kind == TG_CFG_SEQ && layers->n == 2 && layers->line == 5 && layers->col == 5);
    tg_cfg_node *l0 = layers->items[0], *l1 = layers->items[1];
    CHECK(l0->kind == TG_CFG_MAP && l0->line == 5 && l0->col == 7 && l0->key_line[1] == 6 && l0->key_col[1] == 7);
    CHECK(l1->line == 7 && l1->col == 7 && l1->key_line[0] == 7 && l1->key_col[0] == 8);
    CHECK(l1->items[0]->line == 7 && l1->items[0]->col == 16);
    tg_cfg_node *list = tg_cfg_get(tg_cfg_get(r, "train"), "list"); /* an indentless sequence */
    CHECK(list->kind == TG_CFG_SEQ && list->line == 24 && list->col == 3 && list->items[0]->col == 5);

    int line, col;
    tg_cfg_node *name = tg_cfg_get(model, "name");
    CHECK(name->style == TG_CFG_QUOTED && strcmp(name->value, "quoted x") == 0);
    tg_cfg_pos(&c, name, 7, &line, &col); /* the 'x', one past the quote */
    CHECK(line == 8 && col == 17);
    tg_cfg_pos(&c, type, 2, &line, &col);
    CHECK(line == 3 && col == 11);
    tg_cfg_pos(&c, type, 99, &line, &col); /* clamped to the end */
    CHECK(line == 3 && col == 13);

    tg_cfg_node *eq = tg_cfg_get(model, "eq");
    CHECK(eq->style == TG_CFG_BLOCK && eq->line == 9 && eq->col == 7);
    CHECK(strcmp(eq->value, "y = a*x\n\n  + b*z\n") == 0);
    tg_cfg_pos(&c, eq, 0, &line, &col); /* 'y' */
    CHECK(line == 10 && col == 5);
    tg_cfg_pos(&c, eq, 4, &line, &col); /* 'a' */
    CHECK(line == 10 && col == 9);
    tg_cfg_pos(&c, eq, 8, &line, &col); /* the blank line */
    CHECK(line == 11 && col == 1);
    tg_cfg_pos(&c, eq, 11, &line, &col); /* '+', past the blank line, more indented */
    CHECK(line == 12 && col == 7);
    tg_cfg_pos(&c, eq, 13, &line, &col); /* 'b' */
    CHECK(line == 12 && col == 9);

    tg_cfg_node *fold = tg_cfg_get(model, "fold");
    CHECK(strcmp(fold->value, "one two three\nfour\n") == 0);
    tg_cfg_pos(&c, fold, 4, &line, &col); /* 'two' */
    CHECK(line == 14 && col == 9);
    tg_cfg_pos(&c, fold, 8, &line, &col); /* 'three', after a folded line break */
    CHECK(line == 15 && col == 5);
    tg_cfg_pos(&c, fold, 14, &line, &col); /* 'four', after the blank line */
    CHECK(line == 17 && col == 5);
    tg_cfg_free(&c);

    /* A literal block starting with a blank line, with an indentation indicator. */
    CHECK(tg_cfg_load_string(&c, "t.yaml", "e: |2\n\n    x\n  y\n", &err) == TG_OK);
    tg_cfg_node *e = tg_cfg_get(c.root, "e");
    CHECK(strcmp(e->value, "\n  x\ny\n") == 0);
    tg_cfg_pos(&c, e, 3, &line, &col); /* 'x' */
    CHECK(line == 3 && col == 5);
    tg_cfg_pos(&c, e, 5, &line, &col); /* 'y' */
    CHECK(line == 4 && col == 3);
    tg_cfg_free(&c);

    /* Columns count characters, as libyaml's do: 'é' is two bytes, one column. */
    CHECK(tg_cfg_load_string(&c, "t.yaml", "k: \xc3\xa9t\xc3\xa9 x\n", &err) == TG_OK);
    tg_cfg_pos(&c, tg_cfg_get(c.root, "k"), 6, &line, &col);
    CHECK(line == 1 && col == 8);
    tg_cfg_free(&c);
}

static void test_empty(void)
{
    const char *empties[] = {"", "# only a comment\n", "---\n", "\n\n"};
    for (int i = 0; i < 4; i++) {
        tg_cfg c;
        tg_error err = {0};
        CHECK(tg_cfg_load_string(&c, "t.yaml", empties[i], &err) == TG_OK);
        CHECK(c.root == NULL && err.code == TG_OK);
        tg_cfg_free(&c);
    }
    tg_cfg z = {0};
    tg_cfg_free(&z); /* a zeroed config is safe to free */
    tg_cfg_free(&z);
}

static void test_load_errors(void)
{
    LOAD_FAILS("a: [1, 2\n",
               "t.yaml:2:1: error: did not find expected ',' or ']' (while parsing a flow sequence at "
               "line 1, column 4)");
    LOAD_FAILS("a: b: c\n", "t.yaml:1:5: error: mapping values are not allowed in this context");
    LOAD_FAILS("\ta: 1\n", "t.yaml:1:1: error: found character that cannot start any token (while "
                           "scanning for the next token)");
    LOAD_FAILS("a: 1\nb: 2\n  a: 3\n", "t.yaml:3:4: error: mapping values are not allowed in this context");
    LOAD_FAILS("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: error: duplicate key 'a' (first at line 1)");
    LOAD_FAILS("m: {x: 1, y: 2, x: 3}\n", "t.yaml:1:17: error: duplicate key 'x' (first at line 1)");
    LOAD_FAILS("base: &b {x: 1}\nother: *b\n",
               "t.yaml:2:8: error: alias '*b' is not supported: write the value out in full");
    LOAD_FAILS("a: *nowhere\n",
               "t.yaml:1:4: error: alias '*nowhere' is not supported: write the value out in full");
    LOAD_FAILS("- 1\n- 2\n", "t.yaml:1:1: error: the top level must be a map of keys");
    LOAD_FAILS("\n  hello\n", "t.yaml:2:3: error: the top level must be a map of keys");
    LOAD_FAILS("? [a, b]\n: 1\n", "t.yaml:1:3: error: a key must be a single value, not a sequence");
    LOAD_FAILS("x:\n  {a: 1}: 2\n", "t.yaml:2:3: error: a key must be a single value, not a map");
    LOAD_FAILS("a: 1\n---\nb: 2\n",
               "t.yaml:2:1: error: only one document per file: a second one starts here");
    LOAD_FAILS("a: \"x\\0y\"\n", "t.yaml:1:4: error: a value may not contain a NUL character");
    LOAD_FAILS("a: \x01\n", "t.yaml:1:4: error: control characters are not allowed (0x01)");
    char deep[300] = "a: ";
    for (int i = 0; i < 70; i++) strcat(deep, "[");
    for (int i = 0; i < 70; i++) strcat(deep, "]");
    LOAD_FAILS(deep, "t.yaml:1:67: error: nested more than 64 levels deep");
    /* Invalid UTF-8, from a string: a stray byte and a cut sequence. */
    LOAD_FAILS("a: 1\nb: x\xff\n", "t.yaml:2:5: error: not valid UTF-8: invalid leading UTF-8 octet (0xFF)");
    LOAD_FAILS("a: \xc3", "t.yaml:1:4: error: not valid UTF-8: incomplete UTF-8 octet sequence");
    LOAD_FAILS("a: \xc3(\n", "t.yaml:1:5: error: not valid UTF-8: invalid trailing UTF-8 octet (0x28)");
}

static void test_files(void)
{
    tg_cfg c;
    tg_error err = {0};
    char want[400], *p;

    snprintf(want, sizeof want, "%s/missing.yaml", dir);
    CHECK(tg_cfg_load_file(&c, want, &err) == TG_ERR_IO);
    CHECK(c.root == NULL && c.text == NULL);
    CHECK(err.line == 0 && strcmp(err.file, want) == 0);
    strcat(want, ": error: cannot open: No such file or directory");
    EXPECT_ERR(&err, TG_ERR_IO, want);

    tg_error_clear(&err);
    CHECK(tg_cfg_load_file(&c, dir, &err) == TG_ERR_IO); /* a directory opens but cannot be read */
    snprintf(want, sizeof want, "%s: error: cannot read: Is a directory", dir);
    EXPECT_ERR(&err, TG_ERR_IO, want);

    tg_error_clear(&err);
    p = write_file("ok.yaml", doc, strlen(doc));
    CHECK(tg_cfg_load_file(&c, p, &err) == TG_OK);
    CHECK(strcmp(c.path, p) == 0 && strcmp(c.text, doc) == 0);
    long v = 0;
    tg_cfg_node *hidden = tg_cfg_get(tg_cfg_get(tg_cfg_get(c.root, "model"), "layers")->items[1], "hidden");
    CHECK(tg_cfg_int(&c, hidden, "model.layers[1].hidden", 1, 1048576, &v, &err) == TG_ERR_CONFIG);
    snprintf(want, sizeof want,
             "%s:7:16: error: 'model.layers[1].hidden': expected an integer in [1, 1048576], got 'abc'", p);
    EXPECT_ERR(&err, TG_ERR_CONFIG, want);
    tg_cfg_free(&c);

    /* A file larger than the first read buffer. */
    static char big[20000];
    size_t n = 0;
    for (int i = 0; n + 20 < sizeof big; i++) n += (size_t)snprintf(big + n, sizeof big - n, "k%d: %d\n", i, i);
    p = write_file("big.yaml", big, n);
    tg_error_clear(&err);
    CHECK(tg_cfg_load_file(&c, p, &err) == TG_OK);
    CHECK(c.root && c.root->n > 1000 && strlen(c.text) == n);
    CHECK(c.root->key_line[1000] == 1001 && strcmp(c.root->keys[1000], "k1000") == 0);
    tg_cfg_free(&c);

    tg_error_clear(&err);
    p = write_file("nul.yaml", "a: 1\nb: x\0y\n", 12);
    CHECK(tg_cfg_load_file(&c, p, &err) == TG_ERR_CONFIG);
    CHECK(c.root == NULL && c.text == NULL);
    snprintf(want, sizeof want, "%s:2:5: error: the file contains a NUL byte (is it a text file?)", p);
    EXPECT_ERR(&err, TG_ERR_CONFIG, want);

    tg_error_clear(&err);
    p = write_file("latin1.yaml", "name: caf\xe9 au lait\n", 19);
    CHECK(tg_cfg_load_file(&c, p, &err) == TG_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:1:11: error: not valid UTF-8: invalid trailing UTF-8 octet (0x20)", p);
    EXPECT_ERR(&err, TG_ERR_CONFIG, want);

    tg_error_clear(&err);
    p = write_file("utf16.yaml", "\xff\xfe" "a: 1\n", 7); /* a UTF-16 BOM is not UTF-8 either */
    CHECK(tg_cfg_load_file(&c, p, &err) == TG_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:1:1: error: not valid UTF-8: invalid leading UTF-8 octet (0xFF)", p);
    EXPECT_ERR(&err, TG_ERR_CONFIG, want);

    tg_error_clear(&err);
    p = write_file("bom.yaml", "\xef\xbb\xbf" "a: 1\n", 8); /* a UTF-8 BOM is fine */
    CHECK(tg_cfg_load_file(&c, p, &err) == TG_OK && tg_cfg_get(c.root, "a"));
    tg_cfg_free(&c);
}

static void test_keys_and_reads(void)
{
    tg_cfg c;
    tg_error err = {0};
    CHECK(tg_cfg_load_string(&c, "t.yaml", doc, &err) == TG_OK);
    tg_cfg_node *model = tg_cfg_get(c.root, "model"), *train = tg_cfg_get(c.root, "train");

    const char *const top[] = {"model", "train", NULL};
    CHECK(tg_cfg_check_keys(&c, c.root, "", top, &err) == TG_OK);
    const char *const mkeys[] = {"type", "hidden", "layers", "name", "eq", NULL};
    CHECK(tg_cfg_check_keys(&c, model, "model", mkeys, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:13:3: error: unknown key 'fold' in 'model'");
    tg_error_clear(&err);
    const char *const top2[] = {"model", "trains", NULL};
    CHECK(tg_cfg_check_keys(&c, c.root, "", top2, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG,
               "t.yaml:18:1: error: unknown key 'train' in the top level (did you mean 'trains'?)");
    tg_error_clear(&err);
    CHECK(tg_cfg_check_keys(&c, tg_cfg_get(model, "layers"), "model.layers", top, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:5:5: error: 'model.layers': expected a map of keys, got a sequence");
    tg_error_clear(&err);
    CHECK(tg_cfg_check_keys(&c, NULL, "absent", top, &err) == TG_OK);
    tg_cfg_free(&c);

    CHECK(tg_cfg_load_string(&c, "t.yaml", "model:\n  hiden: 3\n  lyers: 2\n", &err) == TG_OK);
    const char *const known[] = {"hidden", "layers", NULL};
    CHECK(tg_cfg_check_keys(&c, tg_cfg_get(c.root, "model"), "model", known, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:2:3: error: unknown key 'hiden' in 'model' (did you mean 'hidden'?)");
    tg_error_clear(&err);
    const char *const top3[] = {"modle", NULL};
    CHECK(tg_cfg_check_keys(&c, c.root, "", top3, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:1:1: error: unknown key 'model' in the top level (did you mean 'modle'?)");
    tg_cfg_free(&c);

    CHECK(tg_cfg_load_string(&c, "t.yaml", doc, &err) == TG_OK);
    model = tg_cfg_get(c.root, "model");
    train = tg_cfg_get(c.root, "train");
    long v = 0;
    double d = 0;
    int b = -1, k = -1;
    const char *s = NULL;
    tg_error_clear(&err);
    CHECK(tg_cfg_int(&c, tg_cfg_get(train, "steps"), "train.steps", 1, 1000, &v, &err) == TG_OK && v == 100);
    CHECK(tg_cfg_int(&c, tg_cfg_get(train, "steps"), "train.steps", 1, 99, &v, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:19:10: error: 'train.steps': expected an integer in [1, 99], got '100'");
    tg_error_clear(&err);
    CHECK(tg_cfg_int(&c, model, "model", 1, 9, &v, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:3:3: error: 'model': expected an integer, got a map");
    tg_error_clear(&err);
    CHECK(tg_cfg_int(&c, tg_cfg_get(train, "lr"), "train.lr", 0, 10, &v, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:20:7: error: 'train.lr': expected an integer in [0, 10], got '1e-3'");
    tg_error_clear(&err);
    CHECK(tg_cfg_string(&c, tg_cfg_get(train, "list"), "train.list", &s, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:24:3: error: 'train.list': expected a string, got a sequence");
    tg_error_clear(&err);
    CHECK(tg_cfg_int(&c, NULL, "train.missing", 0, 1, &v, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml: error: 'train.missing': expected an integer, got nothing");
    tg_error_clear(&err);
    CHECK(tg_cfg_double(&c, tg_cfg_get(train, "lr"), "train.lr", 0, 1, &d, &err) == TG_OK);
    CHECK_NEAR(d, 1e-3, 0);
    CHECK(tg_cfg_double(&c, tg_cfg_get(train, "steps"), "train.steps", 0, 1, &d, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:19:10: error: 'train.steps': expected a number in [0, 1], got '100'");
    tg_error_clear(&err);
    CHECK(tg_cfg_bool(&c, tg_cfg_get(train, "shuffle"), "train.shuffle", &b, &err) == TG_OK && b == 1);
    CHECK(tg_cfg_bool(&c, tg_cfg_get(model, "type"), "model.type", &b, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:3:9: error: 'model.type': expected true or false, got 'lstm'");
    tg_error_clear(&err);
    CHECK(tg_cfg_string(&c, tg_cfg_get(model, "name"), "model.name", &s, &err) == TG_OK);
    CHECK(s && strcmp(s, "quoted x") == 0);
    const char *const in_types[] = {"embedding", "one_hot", "dense", NULL};
    tg_cfg_node *itype = tg_cfg_get(tg_cfg_get(train, "input"), "type");
    CHECK(tg_cfg_enum(&c, itype, "model.input.type", in_types, &k, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG,
               "t.yaml:22:17: error: 'model.input.type': expected one of embedding, one_hot, dense, got "
               "'embeding' (did you mean 'embedding'?)");
    tg_error_clear(&err);
    CHECK(tg_cfg_enum(&c, tg_cfg_get(model, "type"), "model.type", in_types, &k, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG,
               "t.yaml:3:9: error: 'model.type': expected one of embedding, one_hot, dense, got 'lstm'");
    tg_error_clear(&err);
    CHECK(tg_cfg_enum(&c, model, "model", in_types, &k, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG,
               "t.yaml:3:3: error: 'model': expected one of embedding, one_hot, dense, got a map");
    tg_error_clear(&err);
    const char *const cells[] = {"rnn", "gru", "lstm", NULL};
    CHECK(tg_cfg_enum(&c, tg_cfg_get(model, "type"), "model.type", cells, &k, &err) == TG_OK && k == 2);
    /* A block scalar in a message stays on one line. */
    CHECK(tg_cfg_int(&c, tg_cfg_get(model, "eq"), "model.eq", 0, 1, &v, &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG,
               "t.yaml:9:7: error: 'model.eq': expected an integer in [0, 1], got 'y = a*x\\n\\n  + b*z\\n'");
    tg_error_clear(&err);
    CHECK(tg_cfg_error(&c, model, &err, "'%s': needs %d layers", "model", 3) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml:3:3: error: 'model': needs 3 layers");
    tg_cfg_free(&c);

    /* Number parsing, one value at a time. */
    static const struct { const char *text; int ok; long v; } ints[] = {
        {"0", 1, 0}, {"-7", 1, -7}, {"+12", 1, 12}, {"007", 1, 7}, {"1e3", 0, 0}, {"1.0", 0, 0},
        {"0x10", 0, 0}, {"", 0, 0}, {"'5'", 1, 5}, {"12a", 0, 0}, {"- 1", 0, 0},
        {"99999999999999999999", 0, 0}, {"-", 0, 0},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "x: %s\n", ints[i].text);
        tg_error_clear(&err);
        if (tg_cfg_load_string(&c, "t.yaml", text, &err) != TG_OK) {
            CHECK(!ints[i].ok); /* "- 1" is a sequence, not a scalar */
            continue;
        }
        v = 424242;
        tg_status st = tg_cfg_int(&c, tg_cfg_get(c.root, "x"), "x", -100, LONG_MAX, &v, &err);
        CHECK((st == TG_OK) == ints[i].ok && (!ints[i].ok || v == ints[i].v));
        if (!ints[i].ok) CHECK(v == 424242);
        tg_cfg_free(&c);
    }
    static const struct { const char *text; const char *msg; } dbls[] = {
        {"0.5", NULL}, {"-1", NULL}, {"1e-2", NULL}, {"5", "expected a number in [-1, 2], got '5'"},
        {"abc", "expected a number in [-1, 2], got 'abc'"},
        {"inf", "expected a finite number in [-1, 2], got 'inf'"},
        {"-.inf", "expected a finite number in [-1, 2], got '-.inf'"},
        {".NaN", "expected a finite number in [-1, 2], got '.NaN'"},
        {"nan", "expected a finite number in [-1, 2], got 'nan'"},
        {"1e999", "expected a finite number in [-1, 2], got '1e999'"},
        {"0x1p-2", "expected a number in [-1, 2], got '0x1p-2'"},
        {"' 1'", "expected a number in [-1, 2], got ' 1'"}, {"1.5.", "expected a number in [-1, 2], got '1.5.'"},
    };
    for (size_t i = 0; i < sizeof dbls / sizeof dbls[0]; i++) {
        char text[64], want[200];
        snprintf(text, sizeof text, "x: %s\n", dbls[i].text);
        tg_error_clear(&err);
        CHECK(tg_cfg_load_string(&c, "t.yaml", text, &err) == TG_OK);
        tg_status st = tg_cfg_double(&c, tg_cfg_get(c.root, "x"), "x", -1, 2, &d, &err);
        CHECK((st == TG_OK) == (dbls[i].msg == NULL));
        if (dbls[i].msg) {
            snprintf(want, sizeof want, "t.yaml:1:4: error: 'x': %s", dbls[i].msg);
            EXPECT_ERR(&err, TG_ERR_CONFIG, want);
        }
        tg_cfg_free(&c);
    }
    static const struct { const char *text; int v; } bools[] = {
        {"true", 1}, {"false", 0}, {"yes", 1}, {"no", 0}, {"on", 1}, {"off", 0}, {"1", 1}, {"0", 0},
        {"True", 1}, {"NO", 0}, {"maybe", -1}, {"2", -1},
    };
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        char text[64];
        snprintf(text, sizeof text, "x: %s\n", bools[i].text);
        tg_error_clear(&err);
        CHECK(tg_cfg_load_string(&c, "t.yaml", text, &err) == TG_OK);
        b = -1;
        tg_status st = tg_cfg_bool(&c, tg_cfg_get(c.root, "x"), "x", &b, &err);
        CHECK(st == (bools[i].v < 0 ? TG_ERR_CONFIG : TG_OK) && b == bools[i].v);
        tg_cfg_free(&c);
    }
}

static void test_suggest(void)
{
    CHECK(tg_edit_distance("kitten", "sitting") == 3);
    CHECK(tg_edit_distance("", "abc") == 3 && tg_edit_distance("abc", "") == 3);
    CHECK(tg_edit_distance("same", "same") == 0);
    CHECK(tg_edit_distance("hiden", "hidden") == 1);
    char a[300], b[300]; /* past the stack row */
    memset(a, 'a', 299), a[299] = '\0';
    memcpy(b, a, 300), b[5] = 'b', b[298] = '\0';
    CHECK(tg_edit_distance(a, b) == 2);
    const char *const keys[] = {"hidden", "layers", "dropout", "learning_rate", NULL};
    CHECK(tg_suggest("hiden", keys) == keys[0]);
    CHECK(tg_suggest("layer", keys) == keys[1]);
    CHECK(tg_suggest("learnin_rat", keys) == keys[3]);   /* distance 2 */
    CHECK(tg_suggest("lerningrate", keys) == keys[3]);   /* distance 2 */
    CHECK(tg_suggest("earning_r", keys) == keys[3]);     /* distance 4 <= 13/3 */
    CHECK(tg_suggest("earnin_r", keys) == NULL);         /* distance 5 */
    CHECK(tg_suggest("batch", keys) == NULL);
    const char *const short_keys[] = {"lr", "id", NULL};
    CHECK(tg_suggest("x", short_keys) == NULL);          /* nothing in common */
    CHECK(tg_suggest("l", short_keys) == short_keys[0]);
    CHECK(tg_suggest("x", NULL) == NULL);
}

static void test_set(void)
{
    tg_cfg c;
    tg_error err = {0};
    long v = 0;
    CHECK(tg_cfg_load_string(&c, "t.yaml", doc, &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "train.steps", "500", &err) == TG_OK);
    tg_cfg_node *steps = tg_cfg_get(tg_cfg_get(c.root, "train"), "steps");
    CHECK(steps->kind == TG_CFG_SCALAR && strcmp(steps->value, "500") == 0 && steps->line == 0 && steps->col == 0);
    CHECK(tg_cfg_int(&c, steps, "train.steps", 1, 1000, &v, &err) == TG_OK && v == 500);
    CHECK(tg_cfg_set(&c, "model.name", "plain now", &err) == TG_OK);
    CHECK(tg_cfg_get(tg_cfg_get(c.root, "model"), "name")->style == TG_CFG_PLAIN);
    CHECK(tg_cfg_set(&c, "train.steps", "x", &err) == TG_OK);
    CHECK(tg_cfg_int(&c, tg_cfg_get(tg_cfg_get(c.root, "train"), "steps"), "train.steps", 1, 1000, &v, &err) ==
          TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "t.yaml: error: 'train.steps': expected an integer in [1, 1000], got 'x'");
    tg_error_clear(&err);

    CHECK(tg_cfg_set(&c, "model.layers.0.hidden", "64", &err) == TG_OK);
    tg_cfg_node *layers = tg_cfg_get(tg_cfg_get(c.root, "model"), "layers");
    CHECK(strcmp(tg_cfg_get(layers->items[0], "hidden")->value, "64") == 0);
    CHECK(tg_cfg_set(&c, "model.layers.1.cell", "gru", &err) == TG_OK); /* a new key in an item */
    CHECK(layers->items[1]->n == 2 && strcmp(tg_cfg_get(layers->items[1], "cell")->value, "gru") == 0);
    CHECK(layers->items[1]->key_line[1] == 0 && layers->items[1]->key_line[0] == 7);
    CHECK(tg_cfg_set(&c, "optim.adam.beta1", "0.9", &err) == TG_OK); /* creates two maps */
    tg_cfg_node *adam = tg_cfg_get(tg_cfg_get(c.root, "optim"), "adam");
    CHECK(adam && adam->kind == TG_CFG_MAP && adam->line == 0 && strcmp(tg_cfg_get(adam, "beta1")->value, "0.9") == 0);
    CHECK(c.root->n == 3 && strcmp(c.root->keys[2], "optim") == 0);
    CHECK(tg_cfg_set(&c, "train.list.0", "b", &err) == TG_OK);
    CHECK(strcmp(tg_cfg_get(tg_cfg_get(c.root, "train"), "list")->items[0]->value, "b") == 0);

    CHECK(tg_cfg_set(&c, "train.steps.x", "1", &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "error: --set train.steps.x=1: 'train.steps' is not a map");
    tg_error_clear(&err);
    CHECK(tg_cfg_set(&c, "model", "3", &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "error: --set model=3: 'model' is a map, not a value");
    tg_error_clear(&err);
    CHECK(tg_cfg_set(&c, "model.layers", "3", &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "error: --set model.layers=3: 'model.layers' is a sequence, not a value");
    tg_error_clear(&err);
    CHECK(tg_cfg_set(&c, "model.layers.5.hidden", "1", &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "error: --set model.layers.5.hidden=1: 'model.layers' has no item 5 (it has 2)");
    tg_error_clear(&err);
    CHECK(tg_cfg_set(&c, "model.layers.hidden", "1", &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG,
               "error: --set model.layers.hidden=1: 'model.layers' is a sequence: 'hidden' is not an item number");
    tg_error_clear(&err);
    CHECK(tg_cfg_set(&c, "train..steps", "1", &err) == TG_ERR_CONFIG);
    EXPECT_ERR(&err, TG_ERR_CONFIG, "error: --set train..steps=1: empty key in the path");
    tg_error_clear(&err);
    CHECK(tg_cfg_set(&c, "train.", "1", &err) == TG_ERR_CONFIG);
    tg_cfg_free(&c);

    /* On an empty config the root is created. */
    CHECK(tg_cfg_load_string(&c, "t.yaml", "", &err) == TG_OK && c.root == NULL);
    CHECK(tg_cfg_set(&c, "a.b", "1", &err) == TG_OK);
    CHECK(c.root && strcmp(tg_cfg_get(tg_cfg_get(c.root, "a"), "b")->value, "1") == 0);
    tg_cfg_free(&c);
}

/* Every allocation of a load, and of a --set, fails in turn. */
static void test_oom(void)
{
    const char *p = write_file("oom.yaml", doc, strlen(doc));
    for (int file = 0; file < 2; file++) {
        int loaded = 0, nomem = 0;
        for (long k = 0; k < 100000 && !loaded; k++) {
            tg_cfg c;
            tg_error err = {0};
            tg_alloc_fail_after(k);
            tg_status st = file ? tg_cfg_load_file(&c, p, &err) : tg_cfg_load_string(&c, "t.yaml", doc, &err);
            tg_alloc_fail_after(-1);
            if (st == TG_OK) {
                loaded = 1;
                CHECK(tg_cfg_get(tg_cfg_get(c.root, "train"), "steps") != NULL);
            } else {
                nomem++;
                if (st != TG_ERR_NOMEM || c.root || c.text || c.path) CHECK(!"load under OOM");
                if (!strstr(err.msg, "out of memory")) CHECK(!"OOM message");
            }
            tg_cfg_free(&c);
        }
        CHECK(loaded && nomem > 50);
    }

    const char *paths[] = {"train.steps", "model.layers.1.cell", "new.a.b.c", "train.more"};
    for (int i = 0; i < 4; i++) {
        int done = 0;
        for (long k = 0; k < 1000 && !done; k++) {
            tg_cfg c;
            tg_error err = {0};
            CHECK(tg_cfg_load_string(&c, "t.yaml", doc, &err) == TG_OK);
            tg_alloc_fail_after(k);
            tg_status st = tg_cfg_set(&c, paths[i], "7", &err);
            tg_alloc_fail_after(-1);
            if (st == TG_OK) done = 1;
            else if (st != TG_ERR_NOMEM) CHECK(!"set under OOM");
            tg_cfg_free(&c);
        }
        CHECK(done);
    }
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_positions();
    test_empty();
    test_load_errors();
    test_files();
    test_keys_and_reads();
    test_suggest();
    test_set();
    test_oom();
    const char *names[] = {"ok.yaml", "big.yaml", "nul.yaml", "latin1.yaml", "utf16.yaml", "bom.yaml", "oom.yaml"};
    for (int i = 0; i < 7; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        remove(p);
    }
    rmdir(dir);
    return tg_test_end();
}
