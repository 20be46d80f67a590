/* safetensors.c: the safetensors writer (see safetensors.h). */
#include "models/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "graph/alloc.h"

static const char *st_dtype(tg_dtype d) { return d == TG_F64 ? "F64" : d == TG_I32 ? "I32" : "F32"; }

/* Appends printf output to a growing buffer; returns -1 on out of memory. */
typedef struct sbuf { char *s; size_t n, cap; } sbuf;

static int put(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return -1;
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return 0;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *s = tg_malloc(cap);
        if (!s) return -1;
        if (b->s) memcpy(s, b->s, b->n);
        tg_free(b->s);
        b->s = s;
        b->cap = cap;
    }
}

/* JSON string body with quotes and backslashes escaped (names are plain ASCII). */
static int put_str(sbuf *b, const char *s)
{
    if (put(b, "\"")) return -1;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            if (put(b, "\\%c", *s)) return -1;
        } else if ((unsigned char)*s < 32) {
            if (put(b, "\\u%04x", (unsigned char)*s)) return -1;
        } else if (put(b, "%c", *s)) {
            return -1;
        }
    }
    return put(b, "\"");
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

tg_status tg_st_write(const char *path, const tg_st_entry *e, int n, const char *const *keys,
                      const char *const *values, int n_meta, tg_error *err)
{
    sbuf h = {0};
    uint64_t off = 0;
    int bad = put(&h, "{");
    for (int i = 0; i < n && !bad; i++) {
        int64_t numel = tg_shape_numel(e[i].ndim, e[i].shape);
        uint64_t bytes = (uint64_t)numel * tg_dtype_size(e[i].dtype);
        bad |= put(&h, i ? "," : "") || put_str(&h, e[i].name) ||
               put(&h, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype(e[i].dtype));
        for (int k = 0; k < e[i].ndim && !bad; k++) bad |= put(&h, k ? ",%d" : "%d", e[i].shape[k]);
        bad |= put(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                   (unsigned long long)(off + bytes));
        off += bytes;
    }
    if (n_meta && !bad) {
        bad |= put(&h, n ? ",\"__metadata__\":{" : "\"__metadata__\":{");
        for (int i = 0; i < n_meta && !bad; i++)
            bad |= put(&h, i ? "," : "") || put_str(&h, keys[i]) || put(&h, ":") || put_str(&h, values[i]);
        bad |= put(&h, "}");
    }
    bad |= put(&h, "}");
    while (!bad && h.n % 8) bad |= put(&h, " ");
    if (bad) {
        tg_free(h.s);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory writing the header", path);
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        tg_free(h.s);
        return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "cannot write: %s", strerror(errno));
    }
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    int saved = 0;
    if (write_all(fd, len, 8) || write_all(fd, h.s, h.n)) saved = errno ? errno : EIO;
    for (int i = 0; i < n && !saved; i++) /* x86-64 and aarch64 are little-endian */
        if (write_all(fd, e[i].data, (size_t)tg_shape_numel(e[i].ndim, e[i].shape) * tg_dtype_size(e[i].dtype)))
            saved = errno ? errno : EIO;
    if (!saved && fsync(fd) != 0) saved = errno;
    if (close(fd) != 0 && !saved) saved = errno;
    if (!saved && rename(tmp, path) != 0) saved = errno;
    tg_free(h.s);
    if (saved) {
        unlink(tmp);
        return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "write failed: %s", strerror(saved));
    }
    return TG_OK;
}
