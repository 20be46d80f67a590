/* data_text.c: text datasets (see data.h): reading the file, checking that it is UTF-8
 * text, the character and word vocabularies, the train/validation split, and
 * tg_data_encode. The vocabulary is built from the whole file, so the validation split
 * has no unknown characters. Case folding is ASCII only; there is no Unicode
 * normalisation, and carriage returns are symbols like any other character. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/alloc.h"
#include "models/data_impl.h"
#include "models/file.h"

#define MAX_CODE 0x110000u /* code points are below this */

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 character at s (n >= 1 bytes left) and its code point in
 * *cp, or 0 when invalid: a NUL byte, a stray continuation byte, an overlong form, a
 * surrogate, a code point past U+10FFFF or a truncated sequence. */
static int utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    int len;
    uint32_t v, min;
    if (c == 0) return 0;
    if (c < 0x80) return *cp = c, 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
    else return 0;
    if (n < (size_t)len) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    if (v < min || v >= MAX_CODE || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Offset of the first character of s[0, n) that is not valid UTF-8, or -1. */
static int64_t utf8_check(const char *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        int k = utf8_char((const unsigned char *)s + i, n - i, &cp);
        if (!k) return (int64_t)i;
        i += (size_t)k;
    }
    return -1;
}

/* The UTF-8 bytes of cp, NUL-terminated, into out (5 bytes). */
static void utf8_put(uint32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) *o++ = (unsigned char)cp;
    else if (cp < 0x800) *o++ = (unsigned char)(0xC0 | cp >> 6), *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    else if (cp < 0x10000)
        *o++ = (unsigned char)(0xE0 | cp >> 12), *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F)),
        *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    else
        *o++ = (unsigned char)(0xF0 | cp >> 18), *o++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F)),
        *o++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), *o++ = (unsigned char)(0x80 | (cp & 0x3F));
    *o = 0;
}

/* Index of cp in the ascending cps[0, V), or -1. */
static int32_t char_id(const uint32_t *cps, int V, uint32_t cp)
{
    int lo = 0, hi = V - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cps[mid] == cp) return mid;
        if (cps[mid] < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static char *dup_n(const char *s, size_t n)
{
    char *d = tg_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static tg_status nomem(tg_error *err) { return tg_error_set(err, TG_ERR_NOMEM, "data: out of memory"); }

/* ---- words: a hash table of distinct words (open addressing, linear probing) ---- */

typedef struct word { const char *s; size_t len; int64_t count; } word;
typedef struct wtab {
    word *w;         /* distinct words in order of first appearance */
    int32_t n, cap;
    int32_t *slot;   /* index into w, or -1; nslot is a power of two */
    size_t nslot;
} wtab;

static int is_space(char ch) { return ch == ' ' || (ch >= '\t' && ch <= '\r'); }

/* The next word in [*p, end): its start in *w and its length (0 at the end). */
static size_t next_word(const char **p, const char *end, const char **w)
{
    const char *s = *p, *e;
    while (s < end && is_space(*s)) s++;
    for (e = s; e < end && !is_space(*e);) e++;
    *w = s, *p = e;
    return (size_t)(e - s);
}

static uint64_t hash(const char *s, size_t n) /* FNV-1a */
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

/* The slot holding word s, or the empty slot where it goes. */
static size_t wtab_slot(const wtab *t, const char *s, size_t n)
{
    size_t i = hash(s, n) & (t->nslot - 1);
    for (;; i = (i + 1) & (t->nslot - 1)) {
        int32_t k = t->slot[i];
        if (k < 0 || (t->w[k].len == n && memcmp(t->w[k].s, s, n) == 0)) return i;
    }
}

static void wtab_free(wtab *t)
{
    tg_free(t->w), tg_free(t->slot);
    memset(t, 0, sizeof *t);
}

/* Id of word s (added with count 0 if new), or -1 when out of memory. s must outlive t. */
static int32_t wtab_add(wtab *t, const char *s, size_t n)
{
    if ((size_t)t->n * 2 + 2 > t->nslot) { /* keep the load under 1/2 */
        size_t ns = t->nslot ? t->nslot * 2 : 1024;
        int32_t *old = t->slot;
        if (!(t->slot = tg_malloc(ns * sizeof *t->slot))) return t->slot = old, -1;
        for (size_t i = 0; i < ns; i++) t->slot[i] = -1;
        t->nslot = ns;
        for (int32_t k = 0; k < t->n; k++) t->slot[wtab_slot(t, t->w[k].s, t->w[k].len)] = k;
        tg_free(old);
    }
    size_t i = wtab_slot(t, s, n);
    if (t->slot[i] >= 0) return t->slot[i];
    if (t->n == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 1024;
        word *w = tg_malloc((size_t)cap * sizeof *w);
        if (!w) return -1;
        if (t->n) memcpy(w, t->w, (size_t)t->n * sizeof *w);
        tg_free(t->w);
        t->w = w, t->cap = cap;
    }
    t->w[t->n] = (word){s, n, 0};
    return t->slot[i] = t->n++;
}

static int is_unk(const char *s, size_t n) { return n == 5 && memcmp(s, "<unk>", 5) == 0; }

typedef struct rank { int64_t count; int32_t id; } rank;

static int by_count(const void *a, const void *b) /* most frequent first, then first seen */
{
    const rank *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* ---- loading ---- */

/* Reads the file named by scalar pn into *out (NUL-terminated, tg_malloc'ed). */
static tg_status read_file(const tg_cfg *c, const tg_cfg_node *pn, const char *path, char **out,
                           size_t *len, tg_error *err)
{
    const char *what;
    int e = tg_file_read(path, out, len, &what);
    if (e == ENOMEM) return nomem(err);
    if (e)
        return tg_error_set_at(err, TG_ERR_IO, c->path, pn->line, pn->col, "%s: cannot %s: %s", path, what,
                               tg_file_strerror(e));
    return TG_OK;
}

/* Characters: the sorted set of code points is the vocabulary. *tok gets the ids. */
static tg_status load_chars(tg_dataset *d, const char *text, size_t len, int32_t **tok, int64_t *n,
                            tg_error *err)
{
    uint32_t *seen = tg_calloc(MAX_CODE / 32, sizeof *seen), cp;
    if (!seen) return nomem(err);
    int64_t count = 0;
    for (size_t i = 0; i < len; count++) {
        i += (size_t)utf8_char((const unsigned char *)text + i, len - i, &cp); /* checked valid */
        seen[cp >> 5] |= 1u << (cp & 31);
    }
    int V = 0;
    for (cp = 0; cp < MAX_CODE; cp++) V += seen[cp >> 5] >> (cp & 31) & 1;
    uint32_t *cps = tg_malloc((size_t)V * sizeof *cps);
    d->symbols = tg_calloc((size_t)V, sizeof *d->symbols);
    *tok = tg_malloc((size_t)count * sizeof **tok);
    if (d->symbols) d->vocab = V;
    int ok = cps && d->symbols && *tok;
    for (int v = 0; ok && v < V; v++) ok = (d->symbols[v] = tg_malloc(5)) != NULL;
    if (ok) {
        int v = 0;
        for (cp = 0; cp < MAX_CODE; cp++)
            if (seen[cp >> 5] >> (cp & 31) & 1) utf8_put(cp, d->symbols[v]), cps[v++] = cp;
        int64_t j = 0;
        for (size_t i = 0; i < len; j++) {
            i += (size_t)utf8_char((const unsigned char *)text + i, len - i, &cp);
            (*tok)[j] = char_id(cps, V, cp);
        }
        *n = count;
    }
    tg_free(seen), tg_free(cps);
    return ok ? TG_OK : nomem(err);
}

/* Words: the vocab_size - 1 most frequent (ties: first appearance) after "<unk>" (id 0),
 * which also stands for every other word. A literal "<unk>" in the text is id 0. */
static tg_status load_words(tg_dataset *d, const char *text, size_t len, long vocab_size,
                            int32_t **tok, int64_t *n, tg_error *err)
{
    const char *p = text, *end = text + len, *w;
    int64_t count = 0;
    while (next_word(&p, end, &w)) count++;
    wtab t = {0};
    rank *r = NULL;
    int32_t *newid = NULL;
    int ok = (*tok = tg_malloc((size_t)count * sizeof **tok)) != NULL;
    p = text;
    for (int64_t i = 0; ok && i < count; i++) {
        size_t k = next_word(&p, end, &w);
        int32_t id = is_unk(w, k) ? -1 : wtab_add(&t, w, k);
        if (!is_unk(w, k) && id < 0) ok = 0;
        else if (id >= 0) t.w[id].count++;
        (*tok)[i] = id;
    }
    int V = (int)(vocab_size < (long)t.n + 1 ? vocab_size : (long)t.n + 1);
    ok = ok && (r = tg_malloc((size_t)t.n * sizeof *r)) && (newid = tg_calloc((size_t)t.n, sizeof *newid)) &&
         (d->symbols = tg_calloc((size_t)V, sizeof *d->symbols));
    if (ok) {
        d->vocab = V;
        for (int32_t k = 0; k < t.n; k++) r[k] = (rank){t.w[k].count, k};
        qsort(r, (size_t)t.n, sizeof *r, by_count);
        ok = (d->symbols[0] = dup_n("<unk>", 5)) != NULL;
        for (int v = 1; ok && v < V; v++) {
            newid[r[v - 1].id] = v;
            ok = (d->symbols[v] = dup_n(t.w[r[v - 1].id].s, t.w[r[v - 1].id].len)) != NULL;
        }
        for (int64_t i = 0; ok && i < count; i++) (*tok)[i] = (*tok)[i] < 0 ? 0 : newid[(*tok)[i]];
        *n = count;
    }
    wtab_free(&t);
    tg_free(r), tg_free(newid);
    return ok ? TG_OK : nomem(err);
}

tg_status tg_data_text_load(tg_dataset *d, const tg_cfg *c, const tg_cfg_node *pn,
                            const tg_cfg_node *vf, double val_fraction, long vocab_size,
                            tg_error *err)
{
    const char *name = pn->value;
    int words = d->kind == TG_DATA_WORDS;
    if (!name[0]) return tg_cfg_error(c, pn, err, "data.path: the file name is empty");
    char dir[2048], path[4096];
    tg_cfg_dir(c, pn, dir, sizeof dir);
    if (snprintf(path, sizeof path, "%s%s", name[0] == '/' ? "" : dir, name) >= (int)sizeof path)
        return tg_cfg_error(c, pn, err, "data.path: '%.60s...' is too long", name);
    char *text = NULL;
    size_t len = 0;
    if (read_file(c, pn, path, &text, &len, err)) return err->code;
    int64_t bad = utf8_check(text, len), n = 0;
    int32_t *tok = NULL;
    tg_status st = TG_OK;
    if (len == 0) st = tg_cfg_error(c, pn, err, "data.path: '%s' is empty", name);
    else if (bad >= 0)
        st = tg_cfg_error(c, pn, err, "data.path: '%s' is not UTF-8 text (byte 0x%02X at offset %lld)",
                          name, (unsigned)(unsigned char)text[bad], (long long)bad);
    else if (words) {
        for (size_t i = 0; d->lowercase && i < len; i++)
            if (text[i] >= 'A' && text[i] <= 'Z') text[i] = (char)(text[i] - 'A' + 'a');
        st = load_words(d, text, len, vocab_size, &tok, &n, err);
        if (!st && n == 0) st = tg_cfg_error(c, pn, err, "data.path: '%s' has no words", name);
    } else
        st = load_chars(d, text, len, &tok, &n, err);
    tg_free(text);
    int64_t nv = (int64_t)floor((double)n * val_fraction);
    if (!st && val_fraction > 0 && nv < 2)
        st = tg_cfg_error(c, vf ? vf : pn, err,
                          "data.val_fraction: '%s' is too short for a validation split: %g of its "
                          "%lld %s leaves %lld, fewer than the 2 needed (use a longer text or "
                          "val_fraction: 0)",
                          name, val_fraction, (long long)n, words ? "words" : "characters", (long long)nv);
    if (!st && nv > 0) {
        if ((d->val = tg_malloc((size_t)nv * sizeof *d->val))) memcpy(d->val, tok + (n - nv), (size_t)nv * sizeof *tok);
        else st = nomem(err);
    }
    if (st) {
        tg_free(tok);
        return st;
    }
    d->train = tok, d->n_train = n - nv, d->n_val = nv;
    snprintf(d->source, sizeof d->source, "%.511s", path); /* cut if longer */
    return TG_OK;
}

/* ---- encoding ---- */

static tg_status encode_chars(const tg_dataset *d, const char *text, size_t len, int32_t *out,
                              tg_error *err)
{
    uint32_t *cps = tg_malloc((size_t)d->vocab * sizeof *cps), cp;
    if (!cps) return nomem(err);
    for (int v = 0; v < d->vocab; v++)
        utf8_char((const unsigned char *)d->symbols[v], strlen(d->symbols[v]), &cps[v]);
    int64_t j = 0;
    for (size_t i = 0; i < len; j++) {
        int k = utf8_char((const unsigned char *)text + i, len - i, &cp);
        if ((out[j] = char_id(cps, d->vocab, cp)) < 0) {
            char s[5];
            utf8_put(cp, s);
            int show = cp >= 0x20 && cp != 0x7F;
            tg_free(cps);
            return tg_error_set(err, TG_ERR_RANGE,
                                "data: character %s%s%sU+%04X%s at offset %zu is not in the vocabulary of '%s'",
                                show ? "'" : "", show ? s : "", show ? "' (" : "", (unsigned)cp,
                                show ? ")" : "", i, d->source);
        }
        i += (size_t)k;
    }
    tg_free(cps);
    return TG_OK;
}

static tg_status encode_words(const tg_dataset *d, char *text, size_t len, int32_t *out, tg_error *err)
{
    wtab t = {0};
    for (int v = 1; v < d->vocab; v++)
        if (wtab_add(&t, d->symbols[v], strlen(d->symbols[v])) < 0) {
            wtab_free(&t);
            return nomem(err);
        }
    for (size_t i = 0; d->lowercase && i < len; i++)
        if (text[i] >= 'A' && text[i] <= 'Z') text[i] = (char)(text[i] - 'A' + 'a');
    const char *p = text, *w;
    size_t k;
    for (int64_t j = 0; (k = next_word(&p, text + len, &w)); j++) {
        int32_t s = t.n ? t.slot[wtab_slot(&t, w, k)] : -1;
        out[j] = s < 0 ? 0 : s + 1;
    }
    wtab_free(&t);
    return TG_OK;
}

tg_status tg_data_encode(const tg_dataset *d, const char *text, int32_t **out, int64_t *n,
                         tg_error *err)
{
    *out = NULL, *n = 0;
    if (d->kind != TG_DATA_CHARS && d->kind != TG_DATA_WORDS)
        return tg_error_set(err, TG_ERR_INVALID, "data: only text (chars, words) can be encoded, not %s",
                            d->source);
    size_t len = strlen(text);
    int64_t bad = utf8_check(text, len), count = 0;
    if (bad >= 0)
        return tg_error_set(err, TG_ERR_INVALID, "data: the text to encode is not UTF-8 (byte 0x%02X at offset %lld)",
                            (unsigned)(unsigned char)text[bad], (long long)bad);
    uint32_t cp;
    const char *p = text, *w;
    if (d->kind == TG_DATA_WORDS)
        while (next_word(&p, text + len, &w)) count++;
    else
        for (size_t i = 0; i < len; count++) i += (size_t)utf8_char((const unsigned char *)text + i, len - i, &cp);
    char *copy = d->kind == TG_DATA_WORDS ? dup_n(text, len) : NULL; /* folded in place */
    int32_t *ids = tg_malloc((size_t)count * sizeof *ids);
    tg_status st = !ids || (d->kind == TG_DATA_WORDS && !copy) ? nomem(err)
                   : d->kind == TG_DATA_WORDS                  ? encode_words(d, copy, len, ids, err)
                                                               : encode_chars(d, text, len, ids, err);
    tg_free(copy);
    if (st) {
        tg_free(ids);
        return st;
    }
    *out = ids, *n = count;
    return TG_OK;
}
