/* config.h: a YAML file loaded into a small tree that keeps every node's position, and
 * the typed accessors the model loader uses. Every accessor that fails reports
 * "file:line:col" and the key path in a tg_error, e.g.
 *     configs/lstm.yaml:12:11: error: 'model.layers[0].hidden': expected an integer in
 *     [1, 1048576], got 'abc'
 * Nothing in the tree points into libyaml's buffers: all strings are copied.
 * Positions are 1-based (libyaml's marks are 0-based; the loader adds 1). */
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include "graph/error.h"

typedef enum tg_cfg_kind { TG_CFG_SCALAR, TG_CFG_MAP, TG_CFG_SEQ } tg_cfg_kind;

typedef enum tg_cfg_style {
    TG_CFG_PLAIN = 0, /* unquoted scalar */
    TG_CFG_QUOTED,    /* 'single' or "double" quoted */
    TG_CFG_BLOCK,     /* literal | or folded > block */
} tg_cfg_style;

typedef struct tg_cfg_node tg_cfg_node;
struct tg_cfg_node {
    tg_cfg_kind kind;
    int line, col;         /* 1-based start of the node in the file */
    tg_cfg_style style;    /* scalars only */
    char *value;           /* scalars: the text (owned); NULL for maps and sequences */
    int n;                 /* maps: number of keys; sequences: number of items */
    char **keys;           /* maps: n keys (owned) */
    int *key_line, *key_col; /* maps: each key's position */
    tg_cfg_node **items;   /* maps: the value of keys[i]; sequences: item i */
};

typedef struct tg_cfg {
    char *path;            /* the file name used in messages (owned) */
    char *text;            /* the whole file, NUL-terminated (owned), for positions */
    tg_cfg_node *root;     /* NULL for an empty document */
} tg_cfg;

/* Loads a YAML file (one document; anchors/aliases are refused with a message). Returns
 * TG_OK, TG_ERR_IO (missing or unreadable file: "path: cannot open: No such file or
 * directory") or TG_ERR_CONFIG (a YAML syntax error, at its position). On error `c` is
 * left empty and needs no free. Free a loaded config with tg_cfg_free. */
tg_status tg_cfg_load_file(tg_cfg *c, const char *path, tg_error *err);
/* The same from a string; `name` stands for the file name in messages. */
tg_status tg_cfg_load_string(tg_cfg *c, const char *name, const char *text, tg_error *err);
void tg_cfg_free(tg_cfg *c);

/* The value of `key` in a map node, or NULL when absent (or when map is not a map). */
tg_cfg_node *tg_cfg_get(const tg_cfg_node *map, const char *key);
/* Index of `key` in the map, or -1. */
int tg_cfg_key_index(const tg_cfg_node *map, const char *key);

/* (A NULL map, an absent section, has no unknown keys: TG_OK.) Fails with TG_ERR_CONFIG
 * at the first key of `map` not in the NULL-terminated list
 * `allowed`: "file:L:C: error: unknown key 'hiden' in 'model' (did you mean 'hidden'?)"
 * (the suggestion when an allowed key is within edit distance 2, or 1/3 of its length).
 * `where` is the key path of the map ("model", "model.layers[0]"; "" for the root,
 * printed as 'the top level'). Also fails when `map` is not a map. */
tg_status tg_cfg_check_keys(const tg_cfg *c, const tg_cfg_node *map, const char *where,
                            const char *const *allowed, tg_error *err);

/* Typed reads of a scalar node `n` whose key path is `where` (quoted scalars such as
 * '5' are read too; booleans ignore case; inf and nan are refused; NULL: "got nothing"). Each returns TG_OK or
 * TG_ERR_CONFIG with "file:L:C: error: 'where': expected ..., got '...'". */
tg_status tg_cfg_int(const tg_cfg *c, const tg_cfg_node *n, const char *where, long lo, long hi,
                     long *out, tg_error *err);
tg_status tg_cfg_double(const tg_cfg *c, const tg_cfg_node *n, const char *where, double lo,
                        double hi, double *out, tg_error *err);
/* true/false, yes/no, on/off, 1/0 */
tg_status tg_cfg_bool(const tg_cfg *c, const tg_cfg_node *n, const char *where, int *out,
                      tg_error *err);
/* A scalar's text (not copied; valid while c is loaded). */
tg_status tg_cfg_string(const tg_cfg *c, const tg_cfg_node *n, const char *where,
                        const char **out, tg_error *err);
/* One of the NULL-terminated `choices`; *out is its index. Message lists the choices and
 * suggests the nearest. */
tg_status tg_cfg_enum(const tg_cfg *c, const tg_cfg_node *n, const char *where,
                      const char *const *choices, int *out, tg_error *err);

/* Records a TG_ERR_CONFIG error at node n's position: "file:L:C: error: <message>". */
tg_status tg_cfg_error(const tg_cfg *c, const tg_cfg_node *n, tg_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* File position of byte `offset` inside scalar n's value: for plain scalars the column
 * advances from n's column; for quoted ones from one past the quote; for block scalars
 * (|, >) line k of the value maps to the k-th content line below the indicator, at
 * its indentation. Used to point into equations. */
void tg_cfg_pos(const tg_cfg *c, const tg_cfg_node *n, int offset, int *line, int *col);

/* Overrides a value by dotted key path ("train.steps", "model.layers.0.hidden"), creating
 * missing map keys; `value` becomes a plain scalar. Returns TG_OK or TG_ERR_CONFIG
 * ("--set train.steps=x: 'train' is not a map"). Positions of created nodes are 0. */
tg_status tg_cfg_set(tg_cfg *c, const char *path, const char *value, tg_error *err);

/* The directory that a relative file name in node n is relative to, with a trailing '/'
 * (or "" for the current directory): the config file's directory, or the current
 * directory for a value given on the command line with --set (n->line == 0). Returns
 * dir. */
char *tg_cfg_dir(const tg_cfg *c, const tg_cfg_node *n, char *dir, int len);

/* tg_cfg_load_file, then tg_cfg_set for each "key.path=value" of sets (the tools'
 * --set). On error `c` is left empty. */
tg_status tg_cfg_load_with(tg_cfg *c, const char *path, const char *const *sets, int n,
                           tg_error *err);

/* Edit distance (Levenshtein) between two strings, for suggestions. */
int tg_edit_distance(const char *a, const char *b);
/* The entry of `candidates` (NULL-terminated) nearest to `word` when close enough to
 * suggest (distance <= 2 or <= strlen/3, and less than the longer length), else NULL. */
const char *tg_suggest(const char *word, const char *const *candidates);

/* Writes the tree of c as YAML to path (config_emit.c), atomically: a temporary file
 * "path.tmp", fsync, rename, so a reader sees the old file or the new one. The text
 * loads back (tg_cfg_load_string) to an equal tree: the same keys in the same order,
 * values and structure. Maps and sequences are written in block style (empty ones as
 * {} and []), values with line breaks as literal blocks (|; double-quoted with escapes
 * where a block cannot hold them, e.g. a space before a line break), values that were
 * quoted in quotes ('...', or "..." where escapes are needed), the others plain where
 * that reads back the same (libyaml quotes the rest); comments and layout are not
 * kept. Writing a loaded copy of the output gives the same text again. An empty
 * config (root NULL) writes an empty file. Returns TG_OK, TG_ERR_IO ("path: error: cannot write: ...", with an
 * existing file at path untouched), TG_ERR_INVALID for a key or value that is not
 * valid UTF-8 ("'train.name': the value is not valid UTF-8", "'train': key 2 is not
 * valid UTF-8"; only possible after tg_cfg_set), or TG_ERR_NOMEM. */
tg_status tg_cfg_write(const tg_cfg *c, const char *path, tg_error *err);
/* The same YAML text, tg_malloc'ed and NUL-terminated (the caller frees it with
 * tg_free); NULL when out of memory or when a string is not valid UTF-8. */
char *tg_cfg_emit(const tg_cfg *c);

#endif
