/* fuzz.h: what the harnesses share. Each harness is one libFuzzer entry point,
 * LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer it is a fuzzer, built with
 * replay.c it replays files (the CTest regression tests, with gcc). The loaders read
 * files by name, so the input is written to a scratch directory made once per process
 * and removed at exit. Anything the harness finds wrong but no sanitizer would see is
 * an abort() with a message (fuzz_fail). */
#ifndef TG_FUZZ_H
#define TG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data to <scratch dir>/name and returns that path (a static buffer per name
 * slot: the same name gives the same path). Aborts when the file cannot be written. */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
/* The scratch directory, made on first use. */
const char *fuzz_dir(void);
/* Prints the message and aborts: a property the harness checks does not hold. */
void fuzz_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

#endif
