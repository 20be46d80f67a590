/* file.h: reading a whole file into memory (configs, text data). */
#ifndef TG_FILE_H
#define TG_FILE_H

#include <stddef.h>

/* Reads the file at path into *out, NUL-terminated, and its length (without the NUL)
 * into *len. *out is tg_malloc'ed: the caller frees it with tg_free. Returns 0, or an
 * errno value (ENOMEM when memory runs out), with *what set to "open" or "read" to say
 * which step failed. */
int tg_file_read(const char *path, char **out, size_t *len, const char **what);

#endif
