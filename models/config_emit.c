/* config_emit.c: a tg_cfg tree written back out as YAML (tg_cfg_emit, tg_cfg_write).
 * libyaml's emitter does the quoting, so every key and value loads back unchanged; this
 * file only asks for styles: block maps and sequences, literal blocks (|) for text with
 * line breaks, quotes where the file had quotes, plain elsewhere (libyaml quotes anyway
 * where plain would read back differently). Comments, positions and the original
 * layout are not kept: the tree does not hold them. */
#include "models/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "graph/alloc.h"

/* The text being produced, grown by libyaml's write handler. */
typedef struct obuf {
    char *s;
    size_t n, cap;
} obuf;

static int on_write(void *data, unsigned char *bytes, size_t size)
{
    obuf *b = data;
    if (b->n + size + 1 > b->cap) {
        size_t cap = (b->n + size + 1) * 2;
        char *s = tg_malloc(cap);
        if (!s) return 0; /* libyaml reports a writer error */
        if (b->n) memcpy(s, b->s, b->n);
        tg_free(b->s);
        b->s = s, b->cap = cap;
    }
    memcpy(b->s + b->n, bytes, size);
    b->n += size;
    b->s[b->n] = '\0';
    return 1;
}

typedef struct emitter {
    yaml_emitter_t y;
    const tg_cfg *c;
    tg_error *err;
    char where[512]; /* key path of the node being written, for messages */
} emitter;

/* Why libyaml refused: out of memory (events are made only from valid UTF-8, the one
 * thing it checks, and the write handler fails only when out of memory), or otherwise
 * an emitter error, which no tree should cause. */
static tg_status refused(emitter *E)
{
    const char *path = E->c->path ? E->c->path : "";
    if (E->y.error == YAML_EMITTER_ERROR)
        return tg_error_set_at(E->err, TG_ERR_INVALID, path, 0, 0, "'%s': cannot write: %s", E->where,
                               E->y.problem ? E->y.problem : "emitter error");
    return tg_error_set_at(E->err, TG_ERR_NOMEM, path, 0, 0, "out of memory writing the config");
}

/* Emits an event that `made` says was initialised; yaml_emitter_emit takes the event
 * over, even when it fails. */
static tg_status emit(emitter *E, yaml_event_t *ev, int made)
{
    if (!made) return refused(E);
    return yaml_emitter_emit(&E->y, ev) ? TG_OK : refused(E);
}

/* 1 when s is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF),
 * as libyaml demands of every scalar. */
static int valid_utf8(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        unsigned c = *p, cp, min;
        int len;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        for (int k = 1; k < len; k++) {
            if ((p[k] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
            cp = cp << 6 | (p[k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        p += len;
    }
    return 1;
}

static tg_status emit_scalar(emitter *E, const char *v, tg_cfg_style style, int is_key)
{
    yaml_event_t ev;
    yaml_scalar_style_t ys = YAML_PLAIN_SCALAR_STYLE;
    if (!v) v = "";
    if (!valid_utf8(v)) /* keys are checked before they join E->where */
        return tg_error_set_at(E->err, TG_ERR_INVALID, E->c->path ? E->c->path : "", 0, 0,
                               "'%s': the value is not valid UTF-8", E->where);
    /* libyaml moves on from a style it finds unsafe for v: plain -> single-quoted ->
     * double-quoted (with escapes), literal -> double-quoted. Asking for single quotes
     * where the file had quotes therefore writes what a plain value needing quotes
     * gets, and writing a loaded copy again gives the same text. */
    if (strchr(v, '\n')) ys = is_key ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_LITERAL_SCALAR_STYLE; /* equations */
    else if (style == TG_CFG_QUOTED) ys = YAML_SINGLE_QUOTED_SCALAR_STYLE;
    int made = yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), 1, 1, ys);
    return emit(E, &ev, made);
}

static tg_status emit_node(emitter *E, const tg_cfg_node *n)
{
    yaml_event_t ev;
    tg_status st;
    if (n->kind == TG_CFG_SCALAR) return emit_scalar(E, n->value, n->style, 0);
    int map = n->kind == TG_CFG_MAP;
    if (map) st = emit(E, &ev, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
    else st = emit(E, &ev, yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE));
    size_t len = strlen(E->where);
    for (int i = 0; i < n->n && !st; i++) {
        if (map && !valid_utf8(n->keys[i]))
            return tg_error_set_at(E->err, TG_ERR_INVALID, E->c->path ? E->c->path : "", 0, 0,
                                   "%s%s%s: key %d is not valid UTF-8", len ? "'" : "",
                                   len ? E->where : "the top level", len ? "'" : "", i + 1);
        if (map)
            snprintf(E->where + len, sizeof E->where - len, "%s%s", len ? "." : "", n->keys[i]);
        else
            snprintf(E->where + len, sizeof E->where - len, "[%d]", i);
        if (map) st = emit_scalar(E, n->keys[i], TG_CFG_PLAIN, 1);
        if (!st) st = emit_node(E, n->items[i]);
        E->where[len] = '\0';
    }
    if (st) return st;
    if (map) return emit(E, &ev, yaml_mapping_end_event_initialize(&ev));
    return emit(E, &ev, yaml_sequence_end_event_initialize(&ev));
}

/* The YAML text of c into *out (tg_malloc'ed, NUL-terminated) and its length. */
static tg_status emit_text(const tg_cfg *c, char **out, size_t *len, tg_error *err)
{
    emitter E = {.c = c, .err = err};
    obuf b = {0};
    yaml_event_t ev;
    *out = NULL;
    if (!yaml_emitter_initialize(&E.y))
        return tg_error_set_at(err, TG_ERR_NOMEM, c->path ? c->path : "", 0, 0, "out of memory writing the config");
    yaml_emitter_set_output(&E.y, on_write, &b);
    yaml_emitter_set_unicode(&E.y, 1); /* é stays é, not "\xE9" */
    yaml_emitter_set_width(&E.y, -1);  /* no folding of long lines */
    yaml_emitter_set_indent(&E.y, 2);
    yaml_emitter_set_break(&E.y, YAML_LN_BREAK);
    tg_status st = emit(&E, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    if (c->root) { /* an empty config is an empty stream: "" */
        if (!st) st = emit(&E, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
        if (!st) st = emit_node(&E, c->root);
        if (!st) st = emit(&E, &ev, yaml_document_end_event_initialize(&ev, 1));
    }
    if (!st) st = emit(&E, &ev, yaml_stream_end_event_initialize(&ev));
    if (!st && !yaml_emitter_flush(&E.y)) st = refused(&E);
    yaml_emitter_delete(&E.y);
    if (!st && !b.s && !(b.s = tg_calloc(1, 1)))
        st = tg_error_set_at(err, TG_ERR_NOMEM, c->path ? c->path : "", 0, 0, "out of memory writing the config");
    if (st) {
        tg_free(b.s);
        return st;
    }
    *out = b.s;
    *len = b.n;
    return TG_OK;
}

char *tg_cfg_emit(const tg_cfg *c)
{
    char *s;
    size_t n;
    return emit_text(c, &s, &n, NULL) == TG_OK ? s : NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

tg_status tg_cfg_write(const tg_cfg *c, const char *path, tg_error *err)
{
    char *text, tmp[4096];
    size_t len;
    tg_status st = emit_text(c, &text, &len, err);
    if (st) return st;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        tg_free(text);
        return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "cannot write: %s", strerror(ENAMETOOLONG));
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        int e = errno;
        tg_free(text);
        return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "cannot write: %s", strerror(e));
    }
    int e = write_all(fd, text, len) ? (errno ? errno : EIO) : 0;
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    tg_free(text);
    if (e) {
        unlink(tmp);
        return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "write failed: %s", strerror(e));
    }
    return TG_OK;
}
