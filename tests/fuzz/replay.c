/* replay.c: a harness without libFuzzer: runs LLVMFuzzerTestOneInput on every file
 * named on the command line, or inside a directory named there (not recursively).
 * Used by the CTest regression tests (tests/fuzz/regress/<harness>/ and the seeds), in
 * any build; a crash or abort fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

static int n_run;

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0, k;
    uint8_t *buf = malloc(cap);
    while (buf && (k = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += k) == cap) buf = realloc(buf, cap *= 2);
    fclose(f);
    if (!buf) exit(2);
    /* an exact-size copy, so that ASan sees a read past the input */
    uint8_t *in = malloc(n ? n : 1);
    memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    n_run++;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
            return 2;
        }
        if (!S_ISDIR(st.st_mode)) {
            run_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        char **names = NULL;
        int n = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            if (e->d_name[0] == '.' || stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            names = realloc(names, sizeof *names * (size_t)(n + 1));
            names[n++] = strdup(p);
        }
        if (d) closedir(d);
        if (n) qsort(names, (size_t)n, sizeof *names, cmp); /* the same order every time */
        for (int k = 0; k < n; k++) {
            run_file(names[k]);
            free(names[k]);
        }
        free(names);
    }
    printf("replayed %d inputs\n", n_run);
    return 0;
}
