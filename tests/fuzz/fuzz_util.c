/* fuzz_util.c: the scratch directory and file writing of fuzz.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

static char dir[64];
static char paths[4][128];
static const char *names[4];

static void cleanup(void)
{
    for (int i = 0; i < 4 && names[i]; i++) unlink(paths[i]);
    if (dir[0]) rmdir(dir);
}

const char *fuzz_dir(void)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/tg_fuzz_XXXXXX");
        if (!mkdtemp(dir)) fuzz_fail("cannot make a scratch directory under /tmp");
        atexit(cleanup);
    }
    return dir;
}

const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
    int i = 0;
    while (i < 4 && names[i] && strcmp(names[i], name)) i++;
    if (i == 4) fuzz_fail("fuzz_file: more than 4 file names");
    if (!names[i]) {
        names[i] = name;
        snprintf(paths[i], sizeof paths[i], "%s/%s", fuzz_dir(), name);
    }
    FILE *f = fopen(paths[i], "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) fuzz_fail("cannot write %s", paths[i]);
    return paths[i];
}

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    abort();
}
