/* config.c: a YAML file loaded into a tg_cfg_node tree that keeps positions, and the
 * typed accessors of config.h. libyaml parses twice: an event pass refuses what the tree
 * cannot hold (aliases, a second document, deep nesting) at its exact position, then the
 * document API builds the nodes, which are copied out before the document is deleted.
 * This file knows no schema: the model loader says which keys and types it wants. */
#include "models/config.h"
#include "models/file.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "graph/alloc.h"

#define MAX_DEPTH 64 /* nesting of maps and sequences; configs need a handful */

/* ---- small helpers ---- */

static char *dup_n(const char *s, size_t n)
{
    char *d = tg_malloc(n + 1);
    if (!d) return NULL;
    if (n) memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Columns taken by bytes [s, s+n): characters, as libyaml counts them, not bytes. */
static int chars(const char *s, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

/* 1-based line and column of byte `off` in text. */
static void text_pos(const char *text, size_t off, int *line, int *col)
{
    size_t start = 0;
    int l = 1;
    for (size_t i = 0; i < off; i++)
        if (text[i] == '\n') l++, start = i + 1;
    *line = l;
    *col = 1 + chars(text + start, off - start);
}

/* `v` fit for a one-line message: at most ~60 bytes (cut at a character boundary),
 * control characters escaped. buf needs 80 bytes. */
static const char *show(const char *v, char *buf)
{
    size_t j = 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (j >= 60 && (*p & 0xC0) != 0x80) {
            memcpy(buf + j, "...", 4);
            return buf;
        }
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            buf[j++] = '\\';
            buf[j++] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
        } else
            buf[j++] = (*p < 0x20 || *p == 0x7F) ? '?' : (char)*p;
    }
    buf[j] = '\0';
    return buf;
}

/* What a node is, for "got ...": 'text', a map, a sequence, nothing. buf: 96 bytes. */
static const char *desc(const tg_cfg_node *n, char *buf)
{
    char s[80];
    if (!n) return "nothing";
    if (n->kind == TG_CFG_MAP) return "a map";
    if (n->kind == TG_CFG_SEQ) return "a sequence";
    snprintf(buf, 96, "'%s'", show(n->value, s));
    return buf;
}

static const char *kind_name(tg_cfg_kind k) { return k == TG_CFG_MAP ? "map" : "sequence"; }

static void free_node(tg_cfg_node *n)
{
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        if (n->keys) tg_free(n->keys[i]);
        if (n->items) free_node(n->items[i]);
    }
    tg_free(n->keys), tg_free(n->key_line), tg_free(n->key_col);
    tg_free(n->items), tg_free(n->value), tg_free(n);
}

void tg_cfg_free(tg_cfg *c)
{
    if (!c) return;
    free_node(c->root);
    tg_free(c->path);
    tg_free(c->text);
    memset(c, 0, sizeof *c);
}

/* ---- loading ---- */

typedef struct loader {
    const char *name; /* the file name for messages */
    const char *text; /* the whole input, NUL-terminated */
    size_t len;
    tg_error *err;
    yaml_document_t *doc;
} loader;

static tg_status nomem(const loader *L)
{
    return tg_error_set_at(L->err, TG_ERR_NOMEM, L->name, 0, 0, "out of memory loading the config");
}

/* Records a TG_ERR_CONFIG error at libyaml mark m (0-based, hence the + 1). */
#define FAIL_AT(L, m, ...)                                                                   \
    tg_error_set_at((L)->err, TG_ERR_CONFIG, (L)->name, (int)(m).line + 1, (int)(m).column + 1, \
                    __VA_ARGS__)

/* Turns a failed libyaml parser into a status. Reader errors (bad UTF-8, control
 * characters) carry a byte offset instead of a mark. */
static tg_status yaml_fail(const loader *L, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "syntax error";
    char extra[160] = "";
    if (p->error == YAML_MEMORY_ERROR) return nomem(L);
    if (p->error == YAML_READER_ERROR) {
        int line, col;
        text_pos(L->text, p->problem_offset < L->len ? p->problem_offset : L->len, &line, &col);
        if (p->problem_value >= 0) snprintf(extra, sizeof extra, " (0x%02X)", (unsigned)p->problem_value);
        return tg_error_set_at(L->err, TG_ERR_CONFIG, L->name, line, col, "%s%s%s",
                               strstr(problem, "UTF-8") ? "not valid UTF-8: " : "", problem, extra);
    }
    yaml_mark_t pm = p->problem_mark, cm = p->context_mark;
    if (p->context && (cm.line != pm.line || cm.column != pm.column))
        snprintf(extra, sizeof extra, " (%.100s at line %d, column %d)", p->context, (int)cm.line + 1,
                 (int)cm.column + 1);
    else if (p->context)
        snprintf(extra, sizeof extra, " (%.100s)", p->context);
    return FAIL_AT(L, pm, "%s%s", problem, extra);
}

static int parser_init(const loader *L, yaml_parser_t *p)
{
    if (!yaml_parser_initialize(p)) return 0;
    yaml_parser_set_input_string(p, (const unsigned char *)L->text, L->len);
    yaml_parser_set_encoding(p, YAML_UTF8_ENCODING); /* no guessing from a BOM: configs are UTF-8 */
    return 1;
}

/* The event pass: syntax errors, and what the document API would accept but the tree
 * cannot express: aliases (the document shares the node and forgets where the alias
 * was), a second document, nesting deeper than MAX_DEPTH (the tree code recurses). */
static tg_status check_events(const loader *L)
{
    yaml_parser_t p;
    yaml_event_t ev;
    if (!parser_init(L, &p)) return nomem(L);
    tg_status st = TG_OK;
    int depth = 0, docs = 0, done = 0;
    while (!done && st == TG_OK) {
        if (!yaml_parser_parse(&p, &ev)) {
            st = yaml_fail(L, &p);
            break;
        }
        switch (ev.type) {
        case YAML_ALIAS_EVENT:
            st = FAIL_AT(L, ev.start_mark, "alias '*%.100s' is not supported: write the value out in full",
                         (const char *)ev.data.alias.anchor);
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                st = FAIL_AT(L, ev.start_mark, "only one document per file: a second one starts here");
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > MAX_DEPTH)
                st = FAIL_AT(L, ev.start_mark, "nested more than %d levels deep", MAX_DEPTH);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return st;
}

static tg_status copy_scalar(const loader *L, const yaml_node_t *y, char **out)
{
    const char *v = (const char *)y->data.scalar.value;
    size_t n = y->data.scalar.length;
    if (memchr(v, '\0', n)) return FAIL_AT(L, y->start_mark, "a value may not contain a NUL character");
    *out = dup_n(v, n);
    return *out ? TG_OK : nomem(L);
}

static tg_cfg_style style_of(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return TG_CFG_QUOTED;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE: return TG_CFG_BLOCK;
    default: return TG_CFG_PLAIN;
    }
}

/* Copies libyaml node y into a new *out. *out is stored before anything else can fail,
 * and counts (n) grow only as entries are filled, so on error the caller frees the
 * partial tree with free_node. */
static tg_status copy_node(const loader *L, const yaml_node_t *y, tg_cfg_node **out)
{
    tg_cfg_node *n = tg_calloc(1, sizeof *n);
    if (!n) return nomem(L);
    *out = n;
    n->line = (int)y->start_mark.line + 1;
    n->col = (int)y->start_mark.column + 1;
    if (y->type == YAML_SCALAR_NODE) {
        n->kind = TG_CFG_SCALAR;
        n->style = style_of(y->data.scalar.style);
        return copy_scalar(L, y, &n->value);
    }
    if (y->type == YAML_SEQUENCE_NODE) {
        n->kind = TG_CFG_SEQ;
        const yaml_node_item_t *it = y->data.sequence.items.start;
        int count = (int)(y->data.sequence.items.top - it);
        if (!(n->items = tg_calloc((size_t)count, sizeof *n->items))) return nomem(L);
        for (int i = 0; i < count; i++) {
            n->n = i + 1;
            tg_status st = copy_node(L, yaml_document_get_node(L->doc, it[i]), &n->items[i]);
            if (st) return st;
        }
        return TG_OK;
    }
    n->kind = TG_CFG_MAP;
    const yaml_node_pair_t *pr = y->data.mapping.pairs.start;
    int count = (int)(y->data.mapping.pairs.top - pr);
    n->keys = tg_calloc((size_t)count, sizeof *n->keys);
    n->key_line = tg_calloc((size_t)count, sizeof *n->key_line);
    n->key_col = tg_calloc((size_t)count, sizeof *n->key_col);
    n->items = tg_calloc((size_t)count, sizeof *n->items);
    if (!n->keys || !n->key_line || !n->key_col || !n->items) return nomem(L);
    for (int i = 0; i < count; i++) {
        const yaml_node_t *k = yaml_document_get_node(L->doc, pr[i].key);
        if (k->type != YAML_SCALAR_NODE)
            return FAIL_AT(L, k->start_mark, "a key must be a single value, not a %s",
                           k->type == YAML_MAPPING_NODE ? "map" : "sequence");
        n->n = i + 1;
        n->key_line[i] = (int)k->start_mark.line + 1;
        n->key_col[i] = (int)k->start_mark.column + 1;
        tg_status st = copy_scalar(L, k, &n->keys[i]);
        if (st) return st;
        for (int j = 0; j < i; j++)
            if (strcmp(n->keys[j], n->keys[i]) == 0) {
                char s[80];
                return FAIL_AT(L, k->start_mark, "duplicate key '%s' (first at line %d)",
                               show(n->keys[i], s), n->key_line[j]);
            }
        st = copy_node(L, yaml_document_get_node(L->doc, pr[i].value), &n->items[i]);
        if (st) return st;
    }
    return TG_OK;
}

/* The document pass: builds *root (NULL for an empty document). */
static tg_status load_tree(loader *L, tg_cfg_node **root)
{
    yaml_parser_t p;
    yaml_document_t doc;
    if (!parser_init(L, &p)) return nomem(L);
    if (!yaml_parser_load(&p, &doc)) {
        tg_status st = yaml_fail(L, &p);
        yaml_parser_delete(&p);
        return st;
    }
    L->doc = &doc;
    tg_status st = TG_OK;
    const yaml_node_t *r = yaml_document_get_root_node(&doc);
    /* A bare "---" gives an empty plain scalar: as empty as an empty file. */
    int empty = !r || (r->type == YAML_SCALAR_NODE && r->data.scalar.length == 0 &&
                       r->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
    if (!empty) st = copy_node(L, r, root);
    if (st == TG_OK && *root && (*root)->kind != TG_CFG_MAP)
        st = FAIL_AT(L, r->start_mark, "the top level must be a map of keys");
    L->doc = NULL;
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    return st;
}

/* Loads from `text` (len bytes + NUL, tg_malloc'ed), which c takes over, or which is
 * freed on error. */
static tg_status load_owned(tg_cfg *c, const char *name, char *text, size_t len, tg_error *err)
{
    tg_cfg t = {0};
    loader L = {name, text, len, err, NULL};
    memset(c, 0, sizeof *c);
    t.text = text;
    tg_status st = TG_OK;
    if (!(t.path = dup_n(name, strlen(name)))) st = nomem(&L);
    const char *nul = st ? NULL : memchr(text, '\0', len);
    if (nul) {
        int line, col;
        text_pos(text, (size_t)(nul - text), &line, &col);
        st = tg_error_set_at(err, TG_ERR_CONFIG, name, line, col,
                             "the file contains a NUL byte (is it a text file?)");
    }
    if (!st) st = check_events(&L);
    if (!st) st = load_tree(&L, &t.root);
    if (st) {
        tg_cfg_free(&t);
        return st;
    }
    *c = t;
    return TG_OK;
}

tg_status tg_cfg_load_string(tg_cfg *c, const char *name, const char *text, tg_error *err)
{
    if (!name) name = "<string>";
    size_t len = strlen(text);
    char *copy = dup_n(text, len);
    if (!copy) {
        memset(c, 0, sizeof *c);
        return tg_error_set_at(err, TG_ERR_NOMEM, name, 0, 0, "out of memory loading the config");
    }
    return load_owned(c, name, copy, len, err);
}

tg_status tg_cfg_load_file(tg_cfg *c, const char *path, tg_error *err)
{
    memset(c, 0, sizeof *c);
    char *buf;
    size_t len;
    const char *what;
    int e = tg_file_read(path, &buf, &len, &what);
    if (e == ENOMEM) return tg_error_set_at(err, TG_ERR_NOMEM, path, 0, 0, "out of memory loading the config");
    if (e) return tg_error_set_at(err, TG_ERR_IO, path, 0, 0, "cannot %s: %s", what, tg_file_strerror(e));
    return load_owned(c, path, buf, len, err);
}

/* ---- lookup and checks ---- */

static int key_index_n(const tg_cfg_node *map, const char *key, size_t n)
{
    if (!map || map->kind != TG_CFG_MAP) return -1;
    for (int i = 0; i < map->n; i++)
        if (strncmp(map->keys[i], key, n) == 0 && map->keys[i][n] == '\0') return i;
    return -1;
}

int tg_cfg_key_index(const tg_cfg_node *map, const char *key)
{
    return key_index_n(map, key, strlen(key));
}

tg_cfg_node *tg_cfg_get(const tg_cfg_node *map, const char *key)
{
    int i = tg_cfg_key_index(map, key);
    return i < 0 ? NULL : map->items[i];
}

tg_status tg_cfg_error(const tg_cfg *c, const tg_cfg_node *n, tg_error *err, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error_set_at(err, TG_ERR_CONFIG, c ? c->path : NULL, n ? n->line : 0, n ? n->col : 0,
                           "%s", msg);
}

int tg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int stack[128], *row = lb < 128 ? stack : tg_malloc((lb + 1) * sizeof *row);
    if (!row) return (int)(la > lb ? la : lb); /* an upper bound: too far to suggest */
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0]; /* row[i-1][j-1] */
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j], d = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < d) d = up + 1;
            if (row[j - 1] + 1 < d) d = row[j - 1] + 1;
            row[j] = d;
            diag = up;
        }
    }
    int d = row[lb];
    if (row != stack) tg_free(row);
    return d;
}

const char *tg_suggest(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    int bd = INT_MAX;
    for (int i = 0; candidates && candidates[i]; i++) {
        int d = tg_edit_distance(word, candidates[i]);
        if (d < bd) bd = d, best = candidates[i];
    }
    if (!best) return NULL;
    int lw = (int)strlen(word), lc = (int)strlen(best);
    /* Also refuse a candidate that shares nothing with the word ("x" for "y"). */
    if (bd >= (lw > lc ? lw : lc)) return NULL;
    return (bd <= 2 || bd <= lc / 3) ? best : NULL;
}

/* "'model.layers[0]'" for a key path, "the top level" for "". buf: 300 bytes. */
static const char *where_name(const char *where, char *buf)
{
    if (!where || !where[0]) return "the top level";
    snprintf(buf, 300, "'%.290s'", where);
    return buf;
}

tg_status tg_cfg_check_keys(const tg_cfg *c, const tg_cfg_node *map, const char *where,
                            const char *const *allowed, tg_error *err)
{
    char nm[300], d[96], s[80];
    if (!map) return TG_OK; /* an absent section has no unknown keys */
    if (map->kind != TG_CFG_MAP)
        return tg_cfg_error(c, map, err, "%s: expected a map of keys, got %s", where_name(where, nm),
                            desc(map, d));
    for (int i = 0; i < map->n; i++) {
        int known = 0;
        for (int j = 0; allowed && allowed[j] && !known; j++) known = strcmp(map->keys[i], allowed[j]) == 0;
        if (known) continue;
        const char *sug = tg_suggest(map->keys[i], allowed);
        return tg_error_set_at(err, TG_ERR_CONFIG, c ? c->path : NULL, map->key_line[i],
                               map->key_col[i], "unknown key '%s' in %s%s%s%s", show(map->keys[i], s),
                               where_name(where, nm), sug ? " (did you mean '" : "", sug ? sug : "",
                               sug ? "'?)" : "");
    }
    return TG_OK;
}

/* ---- typed reads ---- */

/* "'where': expected <what>, got <n> (did you mean '<sug>'?)" at n. */
static tg_status expected(const tg_cfg *c, const tg_cfg_node *n, const char *where, const char *what,
                          const char *sug, tg_error *err)
{
    char d[96];
    return tg_cfg_error(c, n, err, "'%s': expected %s, got %s%s%s%s", where ? where : "", what,
                        desc(n, d), sug ? " (did you mean '" : "", sug ? sug : "", sug ? "'?)" : "");
}

static int is_scalar(const tg_cfg_node *n) { return n && n->kind == TG_CFG_SCALAR; }

/* Plain decimal digits with an optional sign, within long. */
static int parse_long(const char *s, long *out)
{
    const char *q = s + (*s == '+' || *s == '-');
    if (!isdigit((unsigned char)*q)) return 0;
    while (isdigit((unsigned char)*q)) q++;
    if (*q) return 0;
    errno = 0;
    *out = strtol(s, NULL, 10);
    return errno != ERANGE;
}

tg_status tg_cfg_int(const tg_cfg *c, const tg_cfg_node *n, const char *where, long lo, long hi,
                     long *out, tg_error *err)
{
    char what[96] = "an integer";
    long v;
    if (!is_scalar(n)) return expected(c, n, where, what, NULL, err);
    if (parse_long(n->value, &v) && v >= lo && v <= hi) return *out = v, TG_OK;
    if (lo != LONG_MIN || hi != LONG_MAX) snprintf(what, sizeof what, "an integer in [%ld, %ld]", lo, hi);
    return expected(c, n, where, what, NULL, err);
}

tg_status tg_cfg_double(const tg_cfg *c, const tg_cfg_node *n, const char *where, double lo,
                        double hi, double *out, tg_error *err)
{
    char what[96];
    if (!is_scalar(n)) return expected(c, n, where, "a number", NULL, err);
    const char *s = n->value, *u = s + (*s == '+' || *s == '-');
    char *end = NULL;
    double v = 0;
    int ok = *s && !isspace((unsigned char)*s) && !strpbrk(s, "xX"); /* no hex floats */
    if (ok) v = strtod(s, &end), ok = *end == '\0';
    /* Overflow ("1e999") parses as inf; YAML's own spellings .inf and .nan are refused too. */
    int nonfinite = (ok && !isfinite(v)) || strcasecmp(u, ".inf") == 0 || strcasecmp(s, ".nan") == 0;
    if (ok && !nonfinite && v >= lo && v <= hi) return *out = v, TG_OK;
    snprintf(what, sizeof what, "a %snumber in [%g, %g]", nonfinite ? "finite " : "", lo, hi);
    return expected(c, n, where, what, NULL, err);
}

tg_status tg_cfg_bool(const tg_cfg *c, const tg_cfg_node *n, const char *where, int *out,
                      tg_error *err)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
    if (!is_scalar(n)) return expected(c, n, where, "true or false", NULL, err);
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(n->value, yes[i]) == 0) return *out = 1, TG_OK;
        if (strcasecmp(n->value, no[i]) == 0) return *out = 0, TG_OK;
    }
    return expected(c, n, where, "true or false", NULL, err);
}

tg_status tg_cfg_string(const tg_cfg *c, const tg_cfg_node *n, const char *where,
                        const char **out, tg_error *err)
{
    if (!is_scalar(n)) return expected(c, n, where, "a string", NULL, err);
    *out = n->value;
    return TG_OK;
}

tg_status tg_cfg_enum(const tg_cfg *c, const tg_cfg_node *n, const char *where,
                      const char *const *choices, int *out, tg_error *err)
{
    char what[300] = "one of ";
    size_t len = strlen(what);
    for (int i = 0; choices[i] && len < sizeof what - 1; i++)
        len += (size_t)snprintf(what + len, sizeof what - len, "%s%s", i ? ", " : "", choices[i]);
    if (!is_scalar(n)) return expected(c, n, where, what, NULL, err);
    for (int i = 0; choices[i]; i++)
        if (strcmp(n->value, choices[i]) == 0) return *out = i, TG_OK;
    return expected(c, n, where, what, tg_suggest(n->value, choices), err);
}

/* ---- positions inside values ---- */

static int at_eol(const char *p) { return *p == '\n' || *p == '\r' || *p == '\0'; }

static const char *next_line(const char *p)
{
    while (*p && *p != '\n') p++;
    return *p ? p + 1 : p;
}

/* Skips up to `ind` spaces; *col becomes the column after them. */
static const char *skip_indent(const char *p, int ind, int *col)
{
    int k = 0;
    while (k < ind && p[k] == ' ') k++;
    *col = 1 + k;
    return p + k;
}

/* Walks a block scalar's content lines (below the line of its indicator) alongside its
 * value. Literal (|) values match the lines char for char, blank lines included; in
 * folded (>) values a line break may have become a space or vanished, so where the
 * file line ends and the value does not continue with '\n' or that space, the value
 * goes on at the next file line. */
static void block_pos(const char *text, const tg_cfg_node *n, size_t off, int *line, int *col)
{
    const char *v = n->value, *p = text;
    size_t len = strlen(v), i = 0;
    for (int l = 1; l <= n->line && *p; l++) p = next_line(p);
    /* Indentation: the first non-blank content line's spaces, less the spaces that
     * start the value's first non-empty line (its own, with an indentation indicator). */
    int fs = 0, vs = 0;
    for (const char *q = p; *q; q = next_line(q)) {
        const char *s = q;
        while (*s == ' ') s++;
        if (!at_eol(s)) {
            fs = (int)(s - q);
            break;
        }
    }
    const char *w = v + strspn(v, "\n");
    while (w[vs] == ' ') vs++;
    int ind = fs > vs ? fs - vs : 0;
    *line = n->line + 1;
    p = skip_indent(p, ind, col);
    while (*p) {
        unsigned char ch = i < len ? (unsigned char)v[i] : 0;
        if (at_eol(p) && ch && ch != '\n' && ch != ' ') { /* the value goes on below */
            p = skip_indent(next_line(p), ind, col);
            (*line)++;
            continue;
        }
        if (i >= off) break;
        if (at_eol(p)) { /* ch is the line break, or the space folded from it */
            p = skip_indent(next_line(p), ind, col);
            (*line)++;
        } else if ((unsigned char)*p == ch) {
            *col += ((unsigned char)*p & 0xC0) != 0x80;
            p++;
        }
        i++;
    }
}

void tg_cfg_pos(const tg_cfg *c, const tg_cfg_node *n, int offset, int *line, int *col)
{
    *line = n ? n->line : 0;
    *col = n ? n->col : 0;
    if (!n || n->line <= 0 || n->kind != TG_CFG_SCALAR || !n->value) return;
    size_t len = strlen(n->value), off = offset < 0 ? 0 : (size_t)offset;
    if (off > len) off = len;
    if (n->style == TG_CFG_BLOCK && c && c->text)
        block_pos(c->text, n, off, line, col);
    else
        *col = n->col + (n->style == TG_CFG_QUOTED) + chars(n->value, off);
}

/* ---- overrides ---- */

static tg_cfg_node *new_node(tg_cfg_kind kind, const char *value)
{
    tg_cfg_node *n = tg_calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    if (value && !(n->value = dup_n(value, strlen(value)))) {
        tg_free(n);
        return NULL;
    }
    return n;
}

/* Appends key -> child to map m (position 0); m takes child only when this succeeds. */
static int map_add(tg_cfg_node *m, const char *key, size_t klen, tg_cfg_node *child)
{
    size_t n = (size_t)m->n;
    char *k = dup_n(key, klen);
    char **keys = tg_malloc((n + 1) * sizeof *keys);
    int *kl = tg_malloc((n + 1) * sizeof *kl), *kc = tg_malloc((n + 1) * sizeof *kc);
    tg_cfg_node **items = tg_malloc((n + 1) * sizeof *items);
    if (!k || !keys || !kl || !kc || !items) {
        tg_free(k), tg_free(keys), tg_free(kl), tg_free(kc), tg_free(items);
        return 0;
    }
    if (n) {
        memcpy(keys, m->keys, n * sizeof *keys);
        memcpy(kl, m->key_line, n * sizeof *kl);
        memcpy(kc, m->key_col, n * sizeof *kc);
        memcpy(items, m->items, n * sizeof *items);
    }
    keys[n] = k, kl[n] = kc[n] = 0, items[n] = child;
    tg_free(m->keys), tg_free(m->key_line), tg_free(m->key_col), tg_free(m->items);
    m->keys = keys, m->key_line = kl, m->key_col = kc, m->items = items;
    m->n = (int)n + 1;
    return 1;
}

tg_status tg_cfg_set(tg_cfg *c, const char *path, const char *value, tg_error *err)
{
    char vs[80];
#define SET_FAIL(...)                                                                           \
    do {                                                                                        \
        char m_[400];                                                                           \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                   \
        return tg_error_set(err, TG_ERR_CONFIG, "--set %.300s=%s: %s", path, show(value, vs), m_); \
    } while (0)
#define SET_NOMEM() return tg_error_set(err, TG_ERR_NOMEM, "--set %.300s: out of memory", path)
    if (!c->root && !(c->root = new_node(TG_CFG_MAP, NULL))) SET_NOMEM();
    tg_cfg_node *cur = c->root;
    for (const char *s = path;;) {
        const char *dot = strchr(s, '.');
        size_t klen = dot ? (size_t)(dot - s) : strlen(s);
        int plen = (int)(s - path) - 1; /* path[0, plen) names cur */
        if (klen == 0) SET_FAIL("empty key in the path");
        tg_cfg_node **slot = NULL;
        if (cur->kind == TG_CFG_SEQ) {
            long idx = -1;
            if (strspn(s, "0123456789") >= klen && klen < 10) idx = strtol(s, NULL, 10);
            if (idx < 0) SET_FAIL("'%.*s' is a sequence: '%.*s' is not an item number", plen, path, (int)klen, s);
            if (idx >= cur->n) SET_FAIL("'%.*s' has no item %ld (it has %d)", plen, path, idx, cur->n);
            slot = &cur->items[idx];
        } else if (cur->kind == TG_CFG_MAP) {
            int i = key_index_n(cur, s, klen);
            if (i >= 0) slot = &cur->items[i];
        } else
            SET_FAIL("'%.*s' is not a map", plen, path);
        if (!slot) { /* a missing key: a new map on the way, the new scalar at the end */
            tg_cfg_node *m = new_node(dot ? TG_CFG_MAP : TG_CFG_SCALAR, dot ? NULL : value);
            if (!m || !map_add(cur, s, klen, m)) {
                free_node(m);
                SET_NOMEM();
            }
            if (!dot) return TG_OK;
            cur = m;
        } else if (dot)
            cur = *slot;
        else { /* the last component exists: replace its value */
            tg_cfg_node *t = *slot;
            if (t->kind != TG_CFG_SCALAR) SET_FAIL("'%s' is a %s, not a value", path, kind_name(t->kind));
            char *v = dup_n(value, strlen(value));
            if (!v) SET_NOMEM();
            tg_free(t->value);
            t->value = v, t->style = TG_CFG_PLAIN, t->line = t->col = 0;
            return TG_OK;
        }
        s = dot + 1;
    }
#undef SET_FAIL
#undef SET_NOMEM
}

tg_status tg_cfg_load_with(tg_cfg *c, const char *path, const char *const *sets, int n, tg_error *err)
{
    if (tg_cfg_load_file(c, path, err)) return err->code;
    for (int i = 0; i < n; i++) {
        char key[256];
        const char *eq = strchr(sets[i], '=');
        if (!eq || eq == sets[i] || eq - sets[i] >= (long)sizeof key) {
            tg_error_set(err, TG_ERR_CONFIG, "--set %s: expected key.path=value", sets[i]);
            break;
        }
        memcpy(key, sets[i], (size_t)(eq - sets[i]));
        key[eq - sets[i]] = 0;
        if (tg_cfg_set(c, key, eq + 1, err)) break;
    }
    if (err->code) tg_cfg_free(c);
    return err->code;
}

char *tg_cfg_dir(const tg_cfg *c, const tg_cfg_node *n, char *dir, int len)
{
    const char *slash = c->path ? strrchr(c->path, '/') : NULL;
    int k = n && n->line == 0 ? 0 : slash ? (int)(slash - c->path + 1) : 0;
    snprintf(dir, (size_t)len, "%.*s", k < len ? k : len - 1, k ? c->path : "");
    return dir;
}
