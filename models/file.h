/* file.h: reading a whole file into memory (configs, text data). */
#ifndef TG_FILE_H
#define TG_FILE_H

#include <stddef.h>

#define TG_FILE_NOT_REGULAR (-1) /* tg_file_read: a device, a FIFO, a socket */

/* Reads the regular file at path into *out, NUL-terminated, and its length (without the
 * NUL) into *len. *out is tg_malloc'ed: the caller frees it with tg_free. Returns 0, or
 * an errno value (ENOMEM when memory runs out, EISDIR for a directory) or
 * TG_FILE_NOT_REGULAR (refused without reading, so that a name such as /dev/zero or a
 * FIFO can neither fill the memory nor block), with *what set to "open" or "read" to
 * say which step failed. */
int tg_file_read(const char *path, char **out, size_t *len, const char **what);
/* The text of a tg_file_read failure: strerror(e), or "not a regular file". */
const char *tg_file_strerror(int e);

#endif
