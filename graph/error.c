/* error.c: filling and formatting tg_error. Nothing here prints. */
#include "graph/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tg_error_clear(tg_error *e)
{
    if (!e) return;
    e->code = TG_OK;
    e->line = e->col = 0;
    e->file[0] = '\0';
    e->msg[0] = '\0';
}

static int set_v(tg_error *e, tg_status code, const char *file, int line, int col,
                 const char *fmt, va_list ap)
{
    if (!e || e->code != TG_OK) return code;
    e->code = code;
    e->line = line;
    e->col = col;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return code;
}

int tg_error_set(tg_error *e, tg_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_v(e, code, NULL, 0, 0, fmt, ap);
    va_end(ap);
    return code;
}

int tg_error_set_at(tg_error *e, tg_status code, const char *file, int line, int col,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_v(e, code, file, line, col, fmt, ap);
    va_end(ap);
    return code;
}

const char *tg_status_name(tg_status code)
{
    static const char *names[TG_ERR_COUNT] = {
        [TG_OK] = "ok",
        [TG_ERR_SHAPE] = "shape error",
        [TG_ERR_DTYPE] = "dtype error",
        [TG_ERR_RANGE] = "value out of range",
        [TG_ERR_INVALID] = "invalid argument",
        [TG_ERR_NOMEM] = "out of memory",
        [TG_ERR_IO] = "i/o error",
        [TG_ERR_CONFIG] = "config error",
        [TG_ERR_NUMERIC] = "numerical error",
    };
    return (code >= 0 && code < TG_ERR_COUNT) ? names[code] : "unknown error";
}

char *tg_error_format(const tg_error *e, char *buf, int n)
{
    if (!e->file[0])
        snprintf(buf, n, "error: %s", e->msg);
    else if (e->line > 0)
        snprintf(buf, n, "%s:%d:%d: error: %s", e->file, e->line, e->col, e->msg);
    else
        snprintf(buf, n, "%s: error: %s", e->file, e->msg);
    return buf;
}
