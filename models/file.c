/* file.c: reading a whole file (see file.h). */
#include "models/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph/alloc.h"

const char *tg_file_strerror(int e) { return e == TG_FILE_NOT_REGULAR ? "not a regular file" : strerror(e); }

int tg_file_read(const char *path, char **out, size_t *len, const char **what)
{
    *out = NULL;
    *len = 0;
    *what = "open";
    int fd = open(path, O_RDONLY | O_NONBLOCK); /* (a FIFO would block an open without it) */
    if (fd < 0) return errno ? errno : EIO;
    *what = "read";
    struct stat sb;
    int e = fstat(fd, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? EISDIR : !S_ISREG(sb.st_mode) ? TG_FILE_NOT_REGULAR : 0;
    FILE *f = e ? NULL : fdopen(fd, "rb");
    if (!f) {
        if (!e) e = errno ? errno : EIO;
        close(fd);
        return e;
    }
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
    e = ferror(f) ? (errno ? errno : EIO) : 0;
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
