/* file.c: reading a whole file (see file.h). */
#include "models/file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "graph/alloc.h"

int tg_file_read(const char *path, char **out, size_t *len, const char **what)
{
    *out = NULL;
    *len = 0;
    *what = "open";
    FILE *f = fopen(path, "rb");
    if (!f) return errno ? errno : EIO;
    *what = "read";
    size_t cap = 1 << 16, n = 0;
    char *buf = tg_malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break; /* end of file or an error, told apart below */
        char *bigger = tg_malloc(cap * 2);
        if (bigger) memcpy(bigger, buf, n);
        tg_free(buf);
        buf = bigger, cap *= 2;
    }
    int e = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (!buf) return ENOMEM;
    if (e) {
        tg_free(buf);
        return e;
    }
    buf[n] = 0;
    *out = buf, *len = n;
    return 0;
}
