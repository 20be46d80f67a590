/* safetensors.c: the safetensors writer, and the reader with the small strict JSON parser
 * its header needs (see safetensors.h). The reader parses the header into a tree of JSON
 * values, then checks the tree against the format; nothing is used before both pass. */
#include "models/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* ---- reading: the header's JSON ---- */

#define MAX_HEADER 100000000ull /* the format's own limit on the header length */
#define MAX_JSON_DEPTH 8        /* the format needs 3 levels of objects */

/* A JSON value of the header: only what the format uses can exist. A zeroed jval is an
 * integer and owns nothing, so a tree stopped half-way by an error frees cleanly. */
typedef enum jtype { J_INT, J_STR, J_ARR, J_OBJ } jtype;
typedef struct jmember jmember;
typedef struct jval {
    jtype type;
    uint64_t num;   /* J_INT */
    char *s;        /* J_STR: the decoded bytes, NUL-terminated (owned) */
    size_t len;     /* J_STR: bytes in s (s may hold a NUL written as \u0000) */
    int n, cap;     /* J_ARR: numbers; J_OBJ: members */
    uint64_t *nums; /* J_ARR */
    jmember *m;     /* J_OBJ */
} jval;
struct jmember { jval key, val; };

typedef struct jparser {
    const unsigned char *p; /* the header: file bytes [8, 8 + n) */
    size_t n, i;            /* its length; the position */
    const char *path;
    tg_error *err;
} jparser;

static void jfree(jval *v)
{
    for (int i = 0; v->type == J_OBJ && i < v->n; i++) jfree(&v->m[i].key), jfree(&v->m[i].val);
    tg_free(v->s), tg_free(v->nums), tg_free(v->m);
}

/* "invalid JSON in the header at byte B: <msg>", B counted from the start of the file. */
static tg_status jfail(const jparser *J, size_t at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static tg_status jfail(const jparser *J, size_t at, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error_set_at(J->err, TG_ERR_INVALID, J->path, 0, 0, "invalid JSON in the header at byte %llu: %s",
                           (unsigned long long)at + 8, msg);
}

static tg_status jnomem(const jparser *J)
{
    return tg_error_set_at(J->err, TG_ERR_NOMEM, J->path, 0, 0, "out of memory reading the header");
}

static int jpeek(const jparser *J) { return J->i < J->n ? J->p[J->i] : -1; }

static void jskip(jparser *J)
{
    while (J->i < J->n && (J->p[J->i] == ' ' || J->p[J->i] == '\t' || J->p[J->i] == '\n' || J->p[J->i] == '\r'))
        J->i++;
}

/* What is at the position, for "found ...". buf: 40 bytes. */
static const char *found(const jparser *J, char *buf)
{
    int c = jpeek(J);
    if (c < 0) return "the end of the header";
    if (c >= 0x20 && c < 0x7F) snprintf(buf, 40, "'%c'", c);
    else snprintf(buf, 40, "byte 0x%02X", (unsigned)c);
    return buf;
}

/* p reallocated to twice *cap elements (at least 4); NULL when out of memory, p kept. */
static void *grow(void *p, int *cap, size_t elem)
{
    if (*cap > INT_MAX / 2) return NULL;
    int ncap = *cap ? *cap * 2 : 4;
    void *q = tg_malloc((size_t)ncap * elem);
    if (!q) return NULL;
    if (*cap) memcpy(q, p, (size_t)*cap * elem);
    tg_free(p);
    *cap = ncap;
    return q;
}

/* A non-negative integer without leading zeros, fraction or exponent. */
static tg_status jnumber(jparser *J, uint64_t *out)
{
    size_t start = J->i;
    uint64_t v = 0;
    while (J->i < J->n && J->p[J->i] >= '0' && J->p[J->i] <= '9') {
        unsigned d = J->p[J->i] - '0';
        if (v > (UINT64_MAX - d) / 10) return jfail(J, start, "number too large (more than 2^64 - 1)");
        v = v * 10 + d;
        J->i++;
    }
    if (J->i - start > 1 && J->p[start] == '0') return jfail(J, start, "a number may not start with 0");
    int c = jpeek(J);
    if (c == '.' || c == 'e' || c == 'E') return jfail(J, J->i, "only integers are allowed");
    *out = v;
    return TG_OK;
}

static int hex4(const jparser *J, size_t at, unsigned *out)
{
    unsigned v = 0;
    if (at + 4 > J->n) return 0;
    for (size_t k = at; k < at + 4; k++) {
        unsigned c = J->p[k];
        unsigned d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                   : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 16;
        if (d == 16) return 0;
        v = v * 16 + d;
    }
    *out = v;
    return 1;
}

/* Length of the valid UTF-8 sequence (2 to 4 bytes) at s, or 0: overlong forms,
 * surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0], cp, min;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
    else return 0;
    if (avail < len) return 0;
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[k] & 0x3F);
    }
    return (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) ? 0 : len;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A string at '"'. Decoding never lengthens it, so the raw span sizes the buffer. */
static tg_status jstring(jparser *J, jval *v)
{
    size_t start = J->i++, end = J->i;
    while (end < J->n && J->p[end] != '"') end += J->p[end] == '\\' ? 2 : 1;
    if (end >= J->n) return jfail(J, start, "unterminated string");
    v->type = J_STR;
    if (!(v->s = tg_malloc(end - start))) return jnomem(J);
    size_t k = 0;
    while (J->i < end) {
        size_t at = J->i;
        unsigned c = J->p[at];
        if (c < 0x20) return jfail(J, at, "control character 0x%02X in a string (write it as \\u%04X)", c, c);
        if (c >= 0x80) {
            size_t l = utf8_len(J->p + at, end - at);
            if (!l) return jfail(J, at, "not valid UTF-8");
            memcpy(v->s + k, J->p + at, l);
            k += l, J->i += l;
            continue;
        }
        J->i++;
        if (c != '\\') {
            v->s[k++] = (char)c;
            continue;
        }
        unsigned e = J->p[J->i++], cp; /* the scan above ensures at + 1 < end */
        switch (e) {
        case '"': case '\\': case '/': v->s[k++] = (char)e; break;
        case 'b': v->s[k++] = '\b'; break;
        case 'f': v->s[k++] = '\f'; break;
        case 'n': v->s[k++] = '\n'; break;
        case 'r': v->s[k++] = '\r'; break;
        case 't': v->s[k++] = '\t'; break;
        case 'u':
            if (!hex4(J, J->i, &cp)) return jfail(J, at, "\\u needs 4 hex digits");
            J->i += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return jfail(J, at, "\\u%04X: a low surrogate without its high half", cp);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (J->i + 1 >= end || J->p[J->i] != '\\' || J->p[J->i + 1] != 'u' || !hex4(J, J->i + 2, &lo) ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return jfail(J, at, "\\u%04X: a high surrogate without its low half", cp);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                J->i += 6;
            }
            k += put_utf8(v->s + k, cp);
            break;
        default:
            if (e >= 0x20 && e < 0x7F) return jfail(J, at, "unknown escape '\\%c'", (char)e);
            return jfail(J, at, "unknown escape: '\\' followed by byte 0x%02X", e);
        }
    }
    J->i++; /* the closing quote */
    v->s[k] = '\0';
    v->len = k;
    return TG_OK;
}

/* An array at '[': non-negative integers only. */
static tg_status jarray(jparser *J, jval *v)
{
    char b[40];
    v->type = J_ARR;
    J->i++;
    jskip(J);
    if (jpeek(J) == ']') return J->i++, TG_OK;
    for (;;) {
        jskip(J);
        int c = jpeek(J);
        if (c == '-') return jfail(J, J->i, "negative numbers are not allowed");
        if (c < '0' || c > '9')
            return jfail(J, J->i, "expected a non-negative integer (arrays hold nothing else), found %s", found(J, b));
        if (v->n == v->cap) {
            uint64_t *q = grow(v->nums, &v->cap, sizeof *q);
            if (!q) return jnomem(J);
            v->nums = q;
        }
        tg_status st = jnumber(J, &v->nums[v->n]);
        if (st) return st;
        v->n++;
        jskip(J);
        c = jpeek(J);
        if (c == ']') return J->i++, TG_OK;
        if (c != ',') return jfail(J, J->i, "expected ',' or ']', found %s", found(J, b));
        J->i++;
    }
}

static tg_status jvalue(jparser *J, jval *v, int depth);

/* An object at '{'. Duplicate keys are left for the format checks to name. */
static tg_status jobject(jparser *J, jval *v, int depth)
{
    char b[40];
    if (depth >= MAX_JSON_DEPTH) return jfail(J, J->i, "objects nested more than %d deep", MAX_JSON_DEPTH);
    v->type = J_OBJ;
    J->i++;
    jskip(J);
    if (jpeek(J) == '}') return J->i++, TG_OK;
    for (;;) {
        jskip(J);
        if (jpeek(J) != '"') return jfail(J, J->i, "expected a string key, found %s", found(J, b));
        if (v->n == v->cap) {
            jmember *q = grow(v->m, &v->cap, sizeof *q);
            if (!q) return jnomem(J);
            v->m = q;
        }
        jmember *m = &v->m[v->n++];
        memset(m, 0, sizeof *m);
        tg_status st = jstring(J, &m->key);
        if (st) return st;
        jskip(J);
        if (jpeek(J) != ':') return jfail(J, J->i, "expected ':' after a key, found %s", found(J, b));
        J->i++;
        if ((st = jvalue(J, &m->val, depth + 1))) return st;
        jskip(J);
        int c = jpeek(J);
        if (c == '}') return J->i++, TG_OK;
        if (c != ',') return jfail(J, J->i, "expected ',' or '}', found %s", found(J, b));
        J->i++;
    }
}

static tg_status jvalue(jparser *J, jval *v, int depth)
{
    char b[40];
    jskip(J);
    int c = jpeek(J);
    if (c == '{') return jobject(J, v, depth);
    if (c == '[') return jarray(J, v);
    if (c == '"') return jstring(J, v);
    if (c >= '0' && c <= '9') return v->type = J_INT, jnumber(J, &v->num);
    if (c == '-') return jfail(J, J->i, "negative numbers are not allowed");
    static const char *const words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++)
        if (J->n - J->i >= strlen(words[k]) && !memcmp(J->p + J->i, words[k], strlen(words[k])))
            return jfail(J, J->i, "%s is not allowed in a safetensors header", words[k]);
    return jfail(J, J->i, "expected a value (an object, a string, an array or an integer), found %s", found(J, b));
}

/* The whole header: one object, then only whitespace (the writer pads with spaces). */
static tg_status jparse(jparser *J, jval *root)
{
    char b[40];
    jskip(J);
    if (jpeek(J) != '{') return jfail(J, J->i, "the header must be a JSON object, found %s", found(J, b));
    tg_status st = jvalue(J, root, 0);
    if (st) return st;
    jskip(J);
    if (J->i < J->n) return jfail(J, J->i, "%s after the end of the header's object", found(J, b));
    return TG_OK;
}

/* ---- reading: the format's checks ---- */

/* Records TG_ERR_INVALID "path: error: <msg>". */
static tg_status bad(const char *path, tg_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static tg_status bad(const char *path, tg_error *err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error_set_at(err, TG_ERR_INVALID, path, 0, 0, "%s", msg);
}

/* A JSON string fit for a one-line message: at most ~60 bytes (cut at a character
 * boundary), control bytes and NULs as \xNN. buf: 300 bytes. */
static const char *show(const jval *v, char *buf)
{
    size_t j = 0;
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->s[i];
        if (j >= 60 && (c & 0xC0) != 0x80) {
            memcpy(buf + j, "...", 4);
            return buf;
        }
        if (c < 0x20 || c == 0x7F) j += (size_t)snprintf(buf + j, 5, "\\x%02X", c);
        else buf[j++] = (char)c;
    }
    buf[j] = '\0';
    return buf;
}

static int jeq(const jval *v, const char *s) { return v->len == strlen(s) && !memcmp(v->s, s, v->len); }

/* "[65,128]" from n numbers (the first 8, then "..."). buf: 200 bytes. */
static const char *dims_str(const uint64_t *d, int n, char *buf)
{
    size_t j = 0;
    buf[j++] = '[';
    for (int k = 0; k < n && k < 8; k++) j += (size_t)snprintf(buf + j, 24, "%s%llu", k ? "," : "", (unsigned long long)d[k]);
    if (n > 8) memcpy(buf + j, ",...", 4), j += 4;
    memcpy(buf + j, "]", 2);
    return buf;
}

static int cmp_key(const void *a, const void *b)
{
    const jval *x = &(*(const jmember *const *)a)->key, *y = &(*(const jmember *const *)b)->key;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The first key of object o that appears twice (in sorted order), or NULL. */
static const jval *duplicate_key(const jval *o, tg_status *st)
{
    const jval *dup = NULL;
    *st = TG_OK;
    if (o->n < 2) return NULL;
    const jmember **s = tg_malloc((size_t)o->n * sizeof *s);
    if (!s) return *st = TG_ERR_NOMEM, NULL;
    for (int i = 0; i < o->n; i++) s[i] = &o->m[i];
    qsort(s, (size_t)o->n, sizeof *s, cmp_key);
    for (int i = 1; i < o->n && !dup; i++)
        if (!cmp_key(&s[i - 1], &s[i])) dup = &s[i]->key;
    tg_free(s);
    return dup;
}

static tg_status read_tensor(const char *path, const jmember *m, uint64_t data_size, tg_st_tensor *t,
                             tg_error *err)
{
    char nm[300], b[300], sh[200];
    const char *name = show(&m->key, nm);
    const jval *v = &m->val, *dt = NULL, *shape = NULL, *off = NULL;
    if (memchr(m->key.s, '\0', m->key.len)) return bad(path, err, "tensor name '%s' contains a NUL character", name);
    if (v->type != J_OBJ)
        return bad(path, err, "tensor '%s': expected an object with dtype, shape and data_offsets", name);
    for (int i = 0; i < v->n; i++) {
        const jval *k = &v->m[i].key;
        const jval **slot = jeq(k, "dtype") ? &dt : jeq(k, "shape") ? &shape : jeq(k, "data_offsets") ? &off : NULL;
        if (!slot)
            return bad(path, err, "tensor '%s': unknown key '%s' (dtype, shape, data_offsets)", name, show(k, b));
        if (*slot) return bad(path, err, "tensor '%s': key '%s' appears twice", name, show(k, b));
        *slot = &v->m[i].val;
    }
    const char *missing = !dt ? "dtype" : !shape ? "shape" : !off ? "data_offsets" : NULL;
    if (missing) return bad(path, err, "tensor '%s': missing '%s'", name, missing);
    if (dt->type != J_STR) return bad(path, err, "tensor '%s': dtype must be a string", name);
    int d = -1;
    for (int k = 0; k < TG_DTYPE_COUNT; k++)
        if (jeq(dt, st_dtype((tg_dtype)k))) d = k;
    if (d < 0) return bad(path, err, "tensor '%s': dtype %s is not supported (F32, F64, I32)", name, show(dt, b));
    if (shape->type != J_ARR) return bad(path, err, "tensor '%s': shape must be an array of integers", name);
    dims_str(shape->nums, shape->n, sh);
    if (shape->n > TG_MAX_DIMS)
        return bad(path, err, "tensor '%s': shape %s has %d dimensions, more than %d", name, sh, shape->n, TG_MAX_DIMS);
    uint64_t bytes = tg_dtype_size((tg_dtype)d);
    int big = 0;
    for (int k = 0; k < shape->n; k++) {
        uint64_t x = shape->nums[k];
        big |= x > INT_MAX || (x && bytes > UINT64_MAX / x);
        if (!big) bytes *= x;
    }
    if (big) return bad(path, err, "tensor '%s': shape %s is too large", name, sh);
    if (off->type != J_ARR || off->n != 2) return bad(path, err, "tensor '%s': data_offsets must be [begin, end]", name);
    unsigned long long b0 = off->nums[0], e0 = off->nums[1];
    if (e0 < b0) return bad(path, err, "tensor '%s': data_offsets [%llu, %llu] end before they begin", name, b0, e0);
    if (e0 - b0 != bytes)
        return bad(path, err, "tensor '%s': data_offsets [%llu, %llu] do not match dtype %s and shape %s (%llu bytes)",
                   name, b0, e0, st_dtype((tg_dtype)d), sh, (unsigned long long)bytes);
    if (e0 > data_size)
        return bad(path, err, "tensor '%s': data_offsets beyond the end of the data ([%llu, %llu], the data has %llu bytes)",
                   name, b0, e0, (unsigned long long)data_size);
    t->dtype = (tg_dtype)d;
    t->ndim = shape->n;
    for (int k = 0; k < shape->n; k++) t->shape[k] = (int)shape->nums[k];
    t->begin = b0, t->end = e0;
    return TG_OK;
}

static tg_status check_meta(const char *path, const jval *v, tg_error *err)
{
    char b[300];
    tg_status st;
    if (v->type != J_OBJ) return bad(path, err, "__metadata__ must be an object of strings");
    for (int i = 0; i < v->n; i++) {
        const jmember *m = &v->m[i];
        if (m->val.type != J_STR) return bad(path, err, "__metadata__ '%s': expected a string value", show(&m->key, b));
        if (memchr(m->key.s, '\0', m->key.len) || memchr(m->val.s, '\0', m->val.len))
            return bad(path, err, "__metadata__ '%s' contains a NUL character", show(&m->key, b));
    }
    const jval *dup = duplicate_key(v, &st);
    if (st) return tg_error_set_at(err, st, path, 0, 0, "out of memory reading the header");
    if (dup) return bad(path, err, "__metadata__: key '%s' appears twice", show(dup, b));
    return TG_OK;
}

/* Checks the parsed header against the format and fills f's tensors and metadata,
 * taking the strings over from the tree; f is changed only on success. */
static tg_status build(tg_st_file *f, jval *root, uint64_t data_size, tg_error *err)
{
    char b[300];
    tg_status st;
    int n = 0, meta = -1;
    const jval *dup = duplicate_key(root, &st);
    if (st) return tg_error_set_at(err, st, f->path, 0, 0, "out of memory reading the header");
    if (dup && jeq(dup, "__metadata__")) return bad(f->path, err, "'__metadata__' appears twice");
    if (dup) return bad(f->path, err, "duplicate tensor name '%s'", show(dup, b));
    for (int i = 0; i < root->n; i++) {
        if (jeq(&root->m[i].key, "__metadata__")) meta = i;
        else n++;
    }
    jval *mv = meta >= 0 ? &root->m[meta].val : NULL;
    if (mv && (st = check_meta(f->path, mv, err))) return st;
    int n_meta = mv ? mv->n : 0;
    tg_st_tensor *t = tg_calloc((size_t)n, sizeof *t);
    char **keys = tg_calloc((size_t)n_meta, sizeof *keys), **values = tg_calloc((size_t)n_meta, sizeof *values);
    if (!t || !keys || !values) st = tg_error_set_at(err, TG_ERR_NOMEM, f->path, 0, 0, "out of memory reading the header");
    for (int i = 0, k = 0; i < root->n && !st; i++)
        if (i != meta) st = read_tensor(f->path, &root->m[i], data_size, &t[k++], err);
    if (st) {
        tg_free(t), tg_free(keys), tg_free(values);
        return st;
    }
    for (int i = 0, k = 0; i < root->n; i++)
        if (i != meta) t[k++].name = root->m[i].key.s, root->m[i].key.s = NULL;
    for (int i = 0; i < n_meta; i++) {
        keys[i] = mv->m[i].key.s, mv->m[i].key.s = NULL;
        values[i] = mv->m[i].val.s, mv->m[i].val.s = NULL;
    }
    f->n = n, f->t = t;
    f->n_meta = n_meta, f->meta_keys = keys, f->meta_values = values;
    return TG_OK;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The whole file at path into a tg_malloc'ed *out of *size bytes. */
static tg_status read_whole(const char *path, unsigned char **out, uint64_t *size, tg_error *err)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK); /* (a FIFO would block an open without it) */
    if (fd < 0) return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "cannot open: %s", strerror(errno));
    struct stat sb;
    int e = fstat(fd, &sb) != 0 ? errno : S_ISDIR(sb.st_mode) ? EISDIR : 0;
    if (!e && !S_ISREG(sb.st_mode)) {
        close(fd);
        return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "cannot read: not a regular file");
    }
    unsigned char *buf = e || (uint64_t)sb.st_size >= SIZE_MAX ? NULL : tg_malloc((size_t)sb.st_size + 1);
    size_t got = 0, want = buf ? (size_t)sb.st_size : 0;
    while (buf && got < want) {
        ssize_t k = read(fd, buf + got, want - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) e = errno;
        if (k <= 0) break; /* an error, or the file shrank */
        got += (size_t)k;
    }
    close(fd);
    if (e) {
        tg_free(buf);
        return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "cannot read: %s", strerror(e));
    }
    if (!buf) return tg_error_set_at(err, TG_ERR_NOMEM, path, 0, 0, "out of memory reading the file");
    *out = buf;
    *size = got;
    return TG_OK;
}

/* The length field, then the header, then the tensors against the data's size. */
static tg_status parse_file(tg_st_file *f, tg_error *err)
{
    uint64_t size = f->size;
    if (size == 0) return bad(f->path, err, "empty file (not a safetensors file)");
    if (size < 8)
        return bad(f->path, err, "truncated: the file has %llu bytes, fewer than the 8 of the header length",
                   (unsigned long long)size);
    uint64_t hlen = le64(f->data);
    if (hlen > size - 8) {
        if (hlen <= MAX_HEADER && (size == 8 || f->data[8] == '{'))
            return bad(f->path, err, "truncated: the header says %llu bytes but the file has %llu",
                       (unsigned long long)hlen, (unsigned long long)size);
        return bad(f->path, err, "not a safetensors file (header length %llu exceeds the file size %llu)",
                   (unsigned long long)hlen, (unsigned long long)size);
    }
    if (hlen < 2)
        return bad(f->path, err, "not a safetensors file (header length %llu is too short for a JSON object)",
                   (unsigned long long)hlen);
    jparser J = {f->data + 8, (size_t)hlen, 0, f->path, err};
    jval root = {0};
    tg_status st = jparse(&J, &root);
    if (!st) st = build(f, &root, size - 8 - hlen, err);
    jfree(&root);
    return st;
}

tg_status tg_st_read(tg_st_file *f, const char *path, tg_error *err)
{
    tg_st_file r = {0};
    memset(f, 0, sizeof *f);
    tg_status st = read_whole(path, &r.data, &r.size, err);
    if (!st && !(r.path = tg_malloc(strlen(path) + 1)))
        st = tg_error_set_at(err, TG_ERR_NOMEM, path, 0, 0, "out of memory reading the file");
    if (!st) memcpy(r.path, path, strlen(path) + 1), st = parse_file(&r, err);
    if (st) {
        tg_st_close(&r);
        return st;
    }
    *f = r;
    return TG_OK;
}

void tg_st_close(tg_st_file *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) tg_free(f->t[i].name);
    for (int i = 0; i < f->n_meta; i++) tg_free(f->meta_keys[i]), tg_free(f->meta_values[i]);
    tg_free(f->t), tg_free(f->meta_keys), tg_free(f->meta_values);
    tg_free(f->data), tg_free(f->path);
    memset(f, 0, sizeof *f);
}

const tg_st_tensor *tg_st_find(const tg_st_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const void *tg_st_data(const tg_st_file *f, const tg_st_tensor *t)
{
    return f->data + 8 + le64(f->data) + t->begin;
}

const char *tg_st_meta(const tg_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}
