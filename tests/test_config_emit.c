/* test_config_emit.c: the YAML emitter. Every config shipped under configs/ and used by
 * the tests (tests/configs, tests/cells, and the files of tests/bad that load) is
 * written out and loaded back to an equal tree with the same scalar styles; trees
 * changed with tg_cfg_set, holding values that need quotes, escapes or block style,
 * come back equal too; the exact text of a small config; writing to a file atomically;
 * invalid UTF-8; out of memory. */
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph/alloc.h"
#include "models/config.h"
#include "test.h"

#ifndef TG_SOURCE_DIR
#define TG_SOURCE_DIR "."
#endif

static char dir[] = "/tmp/tg_cfg_emit_XXXXXX";

/* 1 when the trees hold the same keys (in order), values and structure; otherwise
 * prints the first difference under `where`. */
static int same(const tg_cfg_node *a, const tg_cfg_node *b, const char *name, const char *where)
{
    char w[600];
    if (!a || !b) {
        if (a == b) return 1;
        fprintf(stderr, "%s: '%s': %s on one side only\n", name, where, a ? "a node" : "nothing");
        return 0;
    }
    if (a->kind != b->kind || a->n != b->n) {
        fprintf(stderr, "%s: '%s': kind %d/%d, %d/%d items\n", name, where, a->kind, b->kind, a->n, b->n);
        return 0;
    }
    if (a->kind == TG_CFG_SCALAR) {
        if (strcmp(a->value, b->value) == 0) return 1;
        fprintf(stderr, "%s: '%s': value \"%s\" came back as \"%s\"\n", name, where, a->value, b->value);
        return 0;
    }
    for (int i = 0; i < a->n; i++) {
        if (a->kind == TG_CFG_MAP && strcmp(a->keys[i], b->keys[i]) != 0) {
            fprintf(stderr, "%s: '%s': key %d \"%s\" came back as \"%s\"\n", name, where, i, a->keys[i], b->keys[i]);
            return 0;
        }
        if (a->kind == TG_CFG_MAP) snprintf(w, sizeof w, "%s%s%.300s", where, where[0] ? "." : "", a->keys[i]);
        else snprintf(w, sizeof w, "%s[%d]", where, i);
        if (!same(a->items[i], b->items[i], name, w)) return 0;
    }
    return 1;
}

/* Scalars whose style changed from a to b (trees known to be the same): a file's
 * plain, quoted and multi-line values keep their look. */
static int styles_changed(const tg_cfg_node *a, const tg_cfg_node *b, const char *name)
{
    if (!a) return 0;
    if (a->kind != TG_CFG_SCALAR) {
        int k = 0;
        for (int i = 0; i < a->n; i++) k += styles_changed(a->items[i], b->items[i], name);
        return k;
    }
    tg_cfg_style want = strchr(a->value, '\n') ? TG_CFG_BLOCK : a->style == TG_CFG_BLOCK ? TG_CFG_PLAIN : a->style;
    if (b->style == want) return 0;
    fprintf(stderr, "%s:%d:%d: style %d came back as %d\n", name, a->line, a->col, a->style, b->style);
    return 1;
}

/* c written out and loaded back: equal, and written the same way again. Returns the
 * loaded copy in *back (free it) when back is not NULL. */
static void round_trip(const tg_cfg *c, const char *name, tg_cfg *back, int line)
{
    char *text = tg_cfg_emit(c);
    tg_cfg b;
    tg_error err = {0};
    CHECK(text != NULL);
    if (!text) return;
    tg_status st = tg_cfg_load_string(&b, name, text, &err);
    if (st != TG_OK) {
        char msg[900];
        fprintf(stderr, "test_config_emit.c:%d: %s does not load back: %s\n%s", line, name,
                tg_error_format(&err, msg, sizeof msg), text);
    }
    CHECK(st == TG_OK);
    int eq = st == TG_OK && same(c->root, b.root, name, "");
    if (!eq && st == TG_OK) fprintf(stderr, "test_config_emit.c:%d: %s written as:\n%s", line, name, text);
    CHECK(eq);
    char *again = st == TG_OK ? tg_cfg_emit(&b) : NULL;
    CHECK(again && strcmp(again, text) == 0);
    if (again && strcmp(again, text) != 0)
        fprintf(stderr, "test_config_emit.c:%d: %s written as:\n%s\nand then as:\n%s", line, name, text, again);
    tg_free(again);
    tg_free(text);
    if (back) *back = b;
    else tg_cfg_free(&b);
}

/* Every YAML file matching each pattern (under the source tree) that loads. */
static void test_files(void)
{
    static const char *const patterns[] = {"configs/*.yaml", "configs/cells/*.yaml", "configs/blocks/*.yaml",
                                           "tests/configs/*.yaml", "tests/cells/*.yaml", "tests/bad/*.yaml"};
    int loaded = 0, refused = 0, blocks = 0;
    for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
        char pat[600];
        glob_t g;
        snprintf(pat, sizeof pat, "%s/%s", TG_SOURCE_DIR, patterns[p]);
        if (glob(pat, 0, NULL, &g) != 0) {
            fprintf(stderr, "no files match %s\n", pat);
            CHECK(0);
            continue;
        }
        for (size_t i = 0; i < g.gl_pathc; i++) {
            tg_cfg c, b;
            tg_error err = {0};
            if (tg_cfg_load_file(&c, g.gl_pathv[i], &err) != TG_OK) {
                refused++; /* a bad file of tests/bad whose YAML itself is broken */
                continue;
            }
            loaded++;
            memset(&b, 0, sizeof b);
            round_trip(&c, g.gl_pathv[i], &b, __LINE__);
            if (b.root) CHECK(styles_changed(c.root, b.root, g.gl_pathv[i]) == 0);
            char *text = tg_cfg_emit(&c);
            blocks += text && strstr(text, "equations: |\n") != NULL;
            tg_free(text);
            tg_cfg_free(&b);
            tg_cfg_free(&c);
        }
        globfree(&g);
    }
    printf("%d files written and read back (%d with equations as blocks), %d that do not load skipped\n", loaded,
           blocks, refused);
    CHECK(loaded >= 50);
    CHECK(blocks >= 10);
    CHECK(refused >= 1 && refused <= 5); /* the YAML syntax errors among tests/bad */
}

/* The exact text for a small config: block style, literal blocks, quotes kept. */
static void test_exact(void)
{
    const char *in =
        "# a comment is not kept\n"
        "model: {input: {type: embedding, vocab: 65}, layers: [{cell: lstm, hidden: 256}, {cell: gru}]}\n"
        "name: 'quoted'\n"
        "n: \"5\"\n"
        "empty_map: {}\n"
        "empty_seq: []\n"
        "nothing:\n"
        "equations: |\n"
        "  h = tanh(x @ W)\n"
        "  y = h\n"
        "folded: >\n"
        "  one\n"
        "  two\n"
        "stripped: |-\n"
        "  a\n"
        "  b\n"
        "text: a long plain value with spaces that goes past eighty columns without being folded by the emitter\n";
    const char *want =
        "model:\n"
        "  input:\n"
        "    type: embedding\n"
        "    vocab: 65\n"
        "  layers:\n"
        "  - cell: lstm\n"
        "    hidden: 256\n"
        "  - cell: gru\n"
        "name: 'quoted'\n"
        "n: '5'\n"
        "empty_map: {}\n"
        "empty_seq: []\n"
        "nothing:\n"
        "equations: |\n"
        "  h = tanh(x @ W)\n"
        "  y = h\n"
        "folded: |\n"
        "  one two\n"
        "stripped: |-\n"
        "  a\n"
        "  b\n"
        "text: a long plain value with spaces that goes past eighty columns without being folded by the emitter\n";
    tg_cfg c;
    tg_error err = {0};
    CHECK(tg_cfg_load_string(&c, "t.yaml", in, &err) == TG_OK);
    char *text = tg_cfg_emit(&c);
    CHECK(text && strcmp(text, want) == 0);
    if (text && strcmp(text, want) != 0) fprintf(stderr, "got:\n%s\nwanted:\n%s", text, want);
    tg_free(text);
    round_trip(&c, "t.yaml", NULL, __LINE__);
    tg_cfg_free(&c);

    /* an empty config is an empty file; an empty top-level map is {} */
    memset(&c, 0, sizeof c);
    text = tg_cfg_emit(&c);
    CHECK(text && text[0] == '\0');
    tg_free(text);
    round_trip(&c, "empty.yaml", NULL, __LINE__);
    CHECK(tg_cfg_load_string(&c, "t.yaml", "{}", &err) == TG_OK);
    text = tg_cfg_emit(&c);
    CHECK(text && strcmp(text, "{}\n") == 0);
    tg_free(text);
    round_trip(&c, "t.yaml", NULL, __LINE__);
    tg_cfg_free(&c);
}

/* Values and keys set by hand, which no YAML file gave, so nothing says they are safe
 * as plain scalars: each needs libyaml's quoting to come back unchanged. */
static void test_set(void)
{
    static const char *const values[] = {
        "", " ", " lead", "trail ", "a: b", "a #b", "#c", "- x", "-", "? x", "?", ":", ": x", "[1, 2]", "{a: 1}",
        "a, b", "*alias", "&anchor", "!tag", "!!str", "%dir", "@at", "`bt", "|", ">", "'", "\"", "'q'", "\"q\"",
        "it's", "say \"hi\"", "back\\slash", "---", "...", "--- x", "null", "~", "true", "No", "0x1F", "1e3",
        "-5", ".inf", "tab\there", "ctl\x01\x7f", "bell\a", "cr\rx", "nbsp\xc2\xa0x", "bom\xef\xbb\xbfx",
        "line\xe2\x80\xa8sep", "next\xc2\x85line", "unicode \xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80",
        "multi\nline\n", "no final newline\nx", "keep\n\n\n", "\nleading newline", "  indented\nx\n",
        "trailing space \nx\n", "tab\tin a\nblock\n", "\n", "\n\n", "a\n\nb", "x\r\ny\n", " \n",
        ("a very long value with many words that would be folded at eighty columns by default "
         "if the emitter were left to its own devices, which it is not here"),
    };
    tg_cfg c;
    tg_error err = {0};
    CHECK(tg_cfg_load_string(&c, "t.yaml", "train: {steps: 10}\nlist: [1, 2, {k: v}]\neq: |\n  a = b\n", &err) == TG_OK);
    int n = (int)(sizeof values / sizeof *values);
    for (int i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "v.k%d", i);
        CHECK(tg_cfg_set(&c, key, values[i], &err) == TG_OK);
    }
    /* the same strings as keys (a key cannot hold '.': the path splits there) */
    for (int i = 0; i < n; i++) {
        char key[300];
        if (!values[i][0] || strchr(values[i], '.')) continue;
        snprintf(key, sizeof key, "keys.%s", values[i]);
        CHECK(tg_cfg_set(&c, key, "x", &err) == TG_OK);
    }
    char longkey[400];
    memset(longkey, 'k', 300), longkey[300] = '\0'; /* past libyaml's 128 for a simple key */
    CHECK(tg_cfg_set(&c, longkey, "long key", &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "train.steps", "a: b", &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "list.1", "- x\n", &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "list.2.k", "", &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "eq", "x = y\nz = w\n", &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "new.deep.path.here", "v", &err) == TG_OK);
    CHECK(err.code == TG_OK);
    round_trip(&c, "set.yaml", NULL, __LINE__);
    tg_cfg_free(&c);

    /* a tree set up from nothing */
    memset(&c, 0, sizeof c);
    CHECK(tg_cfg_set(&c, "a.b", "1", &err) == TG_OK);
    char *text = tg_cfg_emit(&c);
    CHECK(text && strcmp(text, "a:\n  b: 1\n") == 0);
    tg_free(text);
    round_trip(&c, "new.yaml", NULL, __LINE__);
    tg_cfg_free(&c);
}

static void test_errors(void)
{
    tg_cfg c;
    tg_error err = {0};
    char buf[900];
    CHECK(tg_cfg_load_string(&c, "t.yaml", "train: {steps: 10}\n", &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "train.name", "bad \xff byte", &err) == TG_OK);
    CHECK(tg_cfg_emit(&c) == NULL);
    char p[700];
    snprintf(p, sizeof p, "%s/u.yaml", dir);
    CHECK(tg_cfg_write(&c, p, &err) == TG_ERR_INVALID);
    CHECK(strcmp(tg_error_format(&err, buf, sizeof buf), "t.yaml: error: 'train.name': the value is not valid UTF-8") == 0);
    CHECK(access(p, F_OK) != 0);
    tg_cfg_free(&c);
    tg_error_clear(&err);
    CHECK(tg_cfg_load_string(&c, "t.yaml", "train: {steps: 10}\n", &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "train.\xe2\x9c", "1", &err) == TG_OK); /* a cut-off character */
    CHECK(tg_cfg_write(&c, p, &err) == TG_ERR_INVALID);
    CHECK(strcmp(tg_error_format(&err, buf, sizeof buf), "t.yaml: error: 'train': key 2 is not valid UTF-8") == 0);
    tg_cfg_free(&c);
    tg_error_clear(&err);
    CHECK(tg_cfg_load_string(&c, "t.yaml", "a: 1\n", &err) == TG_OK);
    CHECK(tg_cfg_set(&c, "\xc0\xaf", "1", &err) == TG_OK); /* an overlong '/' */
    CHECK(tg_cfg_write(&c, p, &err) == TG_ERR_INVALID);
    CHECK(strcmp(tg_error_format(&err, buf, sizeof buf), "t.yaml: error: the top level: key 2 is not valid UTF-8") == 0);
    tg_cfg_free(&c);

    /* out of memory at each of the emitter's own allocations (libyaml's are its own) */
    CHECK(tg_cfg_load_file(&c, TG_SOURCE_DIR "/configs/cells/lstm.yaml", &err) == TG_OK);
    int got = 0, nulls = 0;
    for (long fail = 0; fail < 100 && !got; fail++) {
        tg_alloc_fail_after(fail);
        char *text = tg_cfg_emit(&c);
        tg_alloc_fail_after(-1);
        if (text) got = 1;
        else nulls++;
        tg_free(text);
    }
    CHECK(got && nulls >= 1);
    tg_error_clear(&err);
    tg_alloc_fail_after(0);
    tg_status st = tg_cfg_write(&c, p, &err);
    tg_alloc_fail_after(-1);
    CHECK(st == TG_ERR_NOMEM);
    CHECK(access(p, F_OK) != 0);
    tg_cfg_free(&c);
}

/* tg_cfg_write: the file loads back equal; a failed write leaves the old file. */
static void test_write(void)
{
    tg_cfg c, b;
    tg_error err = {0};
    char p[700], tmp[720], want[900], buf[900];
    snprintf(p, sizeof p, "%s/out.yaml", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    CHECK(tg_cfg_load_file(&c, TG_SOURCE_DIR "/configs/cells/lstm.yaml", &err) == TG_OK);
    CHECK(tg_cfg_write(&c, p, &err) == TG_OK);
    CHECK(access(tmp, F_OK) != 0);
    CHECK(tg_cfg_load_file(&b, p, &err) == TG_OK);
    CHECK(same(c.root, b.root, p, ""));
    tg_cfg_free(&b);

    /* an existing file stays as it was when the write fails */
    CHECK(tg_cfg_set(&c, "cell", "changed", &err) == TG_OK);
    CHECK(mkdir(tmp, 0755) == 0);
    CHECK(tg_cfg_write(&c, p, &err) == TG_ERR_IO);
    snprintf(want, sizeof want, "%s: error: cannot write: Is a directory", p);
    CHECK(strcmp(tg_error_format(&err, buf, sizeof buf), want) == 0);
    rmdir(tmp);
    tg_error_clear(&err);
    CHECK(tg_cfg_load_file(&b, p, &err) == TG_OK);
    CHECK(strcmp(tg_cfg_get(b.root, "cell")->value, "lstm") == 0);
    tg_cfg_free(&b);
    CHECK(tg_cfg_write(&c, p, &err) == TG_OK);
    CHECK(tg_cfg_load_file(&b, p, &err) == TG_OK);
    CHECK(strcmp(tg_cfg_get(b.root, "cell")->value, "changed") == 0);
    tg_cfg_free(&b);

    /* a directory that does not exist */
    tg_error_clear(&err);
    snprintf(p, sizeof p, "%s/no/such/dir/out.yaml", dir);
    CHECK(tg_cfg_write(&c, p, &err) == TG_ERR_IO);
    snprintf(want, sizeof want, "%s: error: cannot write: No such file or directory", p);
    CHECK(strcmp(tg_error_format(&err, buf, sizeof buf), want) == 0);
    tg_cfg_free(&c);
    snprintf(p, sizeof p, "%s/out.yaml", dir);
    unlink(p);
}

int main(void)
{
    if (!mkdtemp(dir)) return fprintf(stderr, "mkdtemp failed\n"), 2;
    test_files();
    test_exact();
    test_set();
    test_errors();
    test_write();
    rmdir(dir);
    return tg_test_end();
}
