/* error.h: the status codes and the error object every fallible tapegrad call fills.
 * The library never prints and never exits on user input: it returns a status and
 * writes the details (code, where, message) into a caller-owned tg_error. The first
 * error wins: later tg_error_set calls on an error that is already set change nothing. */
#ifndef TG_ERROR_H
#define TG_ERROR_H

typedef enum tg_status {
    TG_OK = 0,
    TG_ERR_SHAPE,   /* shapes of operands do not fit the op */
    TG_ERR_DTYPE,   /* wrong element type (e.g. float ids, int logits, f32 mixed with f64) */
    TG_ERR_RANGE,   /* a value out of its range (an embedding id >= vocabulary) */
    TG_ERR_INVALID, /* a bad argument (NULL tensor, unknown op, axis out of bounds) */
    TG_ERR_NOMEM,   /* an allocation failed */
    TG_ERR_IO,      /* a file could not be read or written */
    TG_ERR_CONFIG,  /* a config file is malformed */
    TG_ERR_NUMERIC, /* NaN or Inf where a finite value is required */
    TG_ERR_COUNT
} tg_status;

typedef struct tg_error {
    tg_status code; /* TG_OK while no error is recorded */
    int line, col;  /* 1-based position in `file`, 0 when the error has no position */
    char file[256]; /* "" when the error is not about a file */
    char msg[512];  /* one line, no trailing newline, e.g. "matmul: [32,256] @ [128,1024]: ..." */
} tg_error;

/* Clears `e` to TG_OK. */
void tg_error_clear(tg_error *e);

/* Records `code` and the printf-formatted message in `e` unless `e` already holds an
 * error (first wins). Returns `code` either way, so call sites can write
 * `return tg_error_set(err, TG_ERR_SHAPE, "...")`. `e` may be NULL. */
int tg_error_set(tg_error *e, tg_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* As tg_error_set, with a file position (line and col 1-based). */
int tg_error_set_at(tg_error *e, tg_status code, const char *file, int line, int col,
                    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* A short name for a status ("shape error", "out of memory", ...). Static storage. */
const char *tg_status_name(tg_status code);

/* Formats `e` as "file:line:col: error: msg" (or "error: msg" without a file) into
 * buf of size n; returns buf. */
char *tg_error_format(const tg_error *e, char *buf, int n);

#endif
