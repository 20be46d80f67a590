/* test_bad_configs.c: the corpus of bad configs in tests/bad/. Each file's first line is
 *     # expect: <the exact error, as the tools print it>
 * (or "# warn: <the exact warning>" for a config that loads with a warning). Files whose
 * top level has 'cell:' or 'block:' are loaded as cells, the others as models. Every
 * error names file:line:col and says what was expected. Run with --print to show what
 * each file gives. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "test.h"

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_cell_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int cell = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "cell:", 5) || !strncmp(line, "block:", 6)) cell = 1;
    if (f) fclose(f);
    return cell;
}

int main(int argc, char **argv)
{
    int print = argc > 1 && !strcmp(argv[1], "--print");
    tg_set_memory_limit((uint64_t)1 << 30); /* the same messages on every machine */
    DIR *d = opendir("bad");
    if (!d) return fprintf(stderr, "run from tests/: no bad/ directory\n"), 1;
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".yaml")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp);
    for (int i = 0; i < n; i++) {
        char path[512], first[1024] = "", got[1200] = "";
        snprintf(path, sizeof path, "bad/%s", names[i]);
        FILE *f = fopen(path, "r");
        if (f && !fgets(first, sizeof first, f)) first[0] = 0;
        if (f) fclose(f);
        first[strcspn(first, "\n")] = 0;
        int warn = !strncmp(first, "# warn: ", 8);
        const char *expect = !strncmp(first, "# expect: ", 10) ? first + 10 : warn ? first + 8 : NULL;
        tg_error err = {0};
        if (is_cell_file(path)) {
            tg_cell c;
            if (tg_cell_load(&c, path, NULL, TG_F32, 1, &err) == TG_OK) {
                if (c.n_warnings) snprintf(got, sizeof got, "%s", c.warnings[0]);
                tg_cell_free(&c);
            }
        } else {
            tg_model m;
            if (tg_model_load(&m, path, NULL, 0, TG_F32, 1, &err) == TG_OK) {
                if (m.n_warnings) snprintf(got, sizeof got, "%s", m.warnings[0]);
                tg_model_free(&m);
            }
        }
        if (err.code) tg_error_format(&err, got, sizeof got);
        char *at = strstr(got, TG_CONFIG_DIR); /* the built-in configs, wherever the tree is */
        if (at) {
            size_t k = strlen(TG_CONFIG_DIR);
            memmove(at + 9, at + k, strlen(at + k) + 1);
            memcpy(at, "<configs>", 9);
        }
        if (print) printf("%s\n  %s\n", path, got[0] ? got : "(loads without error)");
        if (!expect) {
            fprintf(stderr, "%s: the first line must be '# expect: ...' or '# warn: ...'\n", path);
            CHECK(expect != NULL);
        } else if (strcmp(got, expect) != 0 || (warn && err.code) || (!warn && !err.code)) {
            fprintf(stderr, "%s:\n  expected: %s\n  got:      %s\n", path, expect, got);
            CHECK(!"message as expected");
        } else {
            CHECK(1);
        }
        free(names[i]);
    }
    printf("%d bad configs\n", n);
    CHECK(n >= 30);
    return tg_test_end();
}
