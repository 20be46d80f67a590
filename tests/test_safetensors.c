/* test_safetensors.c: the safetensors reader against the writer (f32, f64, i32, scalars,
 * metadata with quotes, backslashes, control characters and non-ASCII), the exact
 * message of every kind of bad file (truncated at every length, bytes flipped anywhere
 * in the header, bad JSON at its byte, bad offsets, dtypes, shapes, names, metadata),
 * out of memory at every allocation, and the writer's atomic replace. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "graph/alloc.h"
#include "models/safetensors.h"
#include "test.h"

static char dir[] = "/tmp/tg_st_XXXXXX";
static char path[600]; /* dir/t.safetensors */

/* Checks that err holds code and formats exactly as want. */
static void expect_err(const tg_error *err, tg_status code, const char *want, int line)
{
    char buf[900];
    tg_error_format(err, buf, sizeof buf);
    if (err->code == code && strcmp(buf, want) == 0) {
        tg_test_passed++;
        return;
    }
    tg_test_failed++;
    fprintf(stderr, "test_safetensors.c:%d: code %d (want %d)\n  got:      %s\n  expected: %s\n", line,
            (int)err->code, (int)code, buf, want);
}

static void write_bytes(const char *p, const void *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(b, 1, n, f) != n) fprintf(stderr, "cannot write %s\n", p), exit(2);
    fclose(f);
}

/* The whole of file p into a malloc'ed buffer. */
static unsigned char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    if (!f) return *n = 0, NULL;
    unsigned char *b = malloc(1 << 16);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

/* A file of the 8-byte length of `header`, the header, and `data_len` bytes 0..255. */
static void make_file(const char *header, size_t data_len)
{
    size_t h = strlen(header);
    unsigned char *b = malloc(8 + h + data_len + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (unsigned char)i;
    write_bytes(path, b, 8 + h + data_len);
    free(b);
}

/* Reading the file at `path` fails with code and exactly "<path>: error: <want>", and
 * leaves the file struct empty. */
static void read_fails(tg_status code, const char *want, int line)
{
    tg_st_file f;
    tg_error err = {0};
    char full[1200];
    memset(&f, 0x5A, sizeof f);
    tg_status st = tg_st_read(&f, path, &err);
    CHECK(st == code);
    CHECK(f.data == NULL && f.t == NULL && f.n == 0 && f.path == NULL && f.n_meta == 0 && f.meta_keys == NULL);
    snprintf(full, sizeof full, "%s: error: %s", path, want);
    expect_err(&err, code, full, line);
    tg_st_close(&f);
}
#define READ_FAILS(code, want) read_fails(code, want, __LINE__)
/* A header with `data_len` data bytes after it is refused with `want`. */
#define HEADER_FAILS(header, data_len, want) (make_file(header, data_len), read_fails(TG_ERR_INVALID, want, __LINE__))

static void test_round_trip(void)
{
    float a[6] = {1.5f, -2.25f, 3e-8f, 1e30f, 0.0f, -0.0f};
    double b[4] = {3.141592653589793, -1e-300, 2.5, 1e300};
    int32_t c[24];
    for (int i = 0; i < 24; i++) c[i] = i * 1000003 - 7;
    float s = 42.0f;
    int32_t si = -5;
    tg_st_entry e[] = {
        {"layers.0.weight", TG_F32, 2, {2, 3}, a},
        {"b", TG_F64, 1, {4}, b},
        {"ids \"quoted\" \\ back", TG_I32, 4, {2, 2, 2, 3}, c},
        {"scalar", TG_F32, 0, {0}, &s},
        {"int scalar", TG_I32, 0, {0}, &si},
    };
    const char *keys[] = {"format", "q\"uo\\te", "unicode é ✓ 😀", "ctl\n\t\x01", "empty"};
    const char *vals[] = {"pt", "a \"b\" \\c\\", "ünï ✓ 😀", "line1\nline2\r\x1f", ""};
    tg_error err = {0};
    CHECK(tg_st_write(path, e, 5, keys, vals, 5, &err) == TG_OK);
    tg_st_file f;
    CHECK(tg_st_read(&f, path, &err) == TG_OK);
    CHECK(err.code == TG_OK);
    CHECK(f.n == 5 && f.n_meta == 5);
    CHECK(f.path && strcmp(f.path, path) == 0);
    for (int i = 0; i < 5 && f.n == 5; i++) {
        const tg_st_tensor *t = tg_st_find(&f, e[i].name);
        CHECK(t == &f.t[i]); /* header order */
        if (!t) continue;
        CHECK(t->dtype == e[i].dtype && t->ndim == e[i].ndim);
        for (int k = 0; k < e[i].ndim; k++) CHECK(t->shape[k] == e[i].shape[k]);
        size_t bytes = (size_t)tg_shape_numel(e[i].ndim, e[i].shape) * tg_dtype_size(e[i].dtype);
        CHECK(t->end - t->begin == bytes);
        CHECK(memcmp(tg_st_data(&f, t), e[i].data, bytes) == 0);
        CHECK((uintptr_t)tg_st_data(&f, t) % tg_dtype_size(t->dtype) == 0); /* the writer aligns */
    }
    for (int i = 0; i < 5; i++) {
        const char *v = tg_st_meta(&f, keys[i]);
        CHECK(v && strcmp(v, vals[i]) == 0);
    }
    CHECK(tg_st_find(&f, "nope") == NULL && tg_st_find(&f, "") == NULL);
    CHECK(tg_st_meta(&f, "nope") == NULL);
    tg_st_close(&f);
    CHECK(f.data == NULL && f.n == 0 && f.t == NULL);
    tg_st_close(&f); /* twice is fine */
    tg_st_close(NULL);

    /* nothing at all, metadata only, tensors only */
    CHECK(tg_st_write(path, NULL, 0, NULL, NULL, 0, &err) == TG_OK);
    CHECK(tg_st_read(&f, path, &err) == TG_OK && f.n == 0 && f.n_meta == 0 && f.size == 16);
    tg_st_close(&f);
    CHECK(tg_st_write(path, NULL, 0, keys, vals, 1, &err) == TG_OK);
    CHECK(tg_st_read(&f, path, &err) == TG_OK && f.n == 0 && f.n_meta == 1);
    CHECK(tg_st_meta(&f, "format") && strcmp(tg_st_meta(&f, "format"), "pt") == 0);
    tg_st_close(&f);
    CHECK(tg_st_write(path, e, 2, NULL, NULL, 0, &err) == TG_OK);
    CHECK(tg_st_read(&f, path, &err) == TG_OK && f.n == 2 && f.n_meta == 0);
    CHECK(tg_st_meta(&f, "format") == NULL);
    tg_st_close(&f);
    CHECK(err.code == TG_OK);
}

/* Files made by hand: what the writer never writes but the format allows. */
static void test_accepted(void)
{
    tg_st_file f;
    tg_error err = {0};
    /* escapes of every kind, whitespace everywhere, unsorted and overlapping offsets,
     * bytes that no tensor covers, an empty tensor, no padding */
    make_file(" \t\r\n{ \"caf\\u00e9 \\ud83d\\ude00 \\/\\b\\f\\n\\r\\t\\\"\\\\\" : {\"shape\" : [ 2 ] ,"
              "\"data_offsets\":[8,16],\"dtype\":\"F32\"},\n"
              "\"a\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]},"
              "\"overlap\":{\"dtype\":\"F64\",\"shape\":[1,1,1,1],\"data_offsets\":[2,10]},"
              "\"empty\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[20,20]},"
              "\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]},"
              "\"__metadata__\":{\"k\\u0041\":\"v\\u00e9\",\"\\ud83d\\ude00\":\"\"}}",
              30);
    CHECK(tg_st_read(&f, path, &err) == TG_OK);
    CHECK(err.code == TG_OK);
    CHECK(f.n == 5 && f.n_meta == 2);
    if (f.n == 5) {
        CHECK(strcmp(f.t[0].name, "caf\xc3\xa9 \xf0\x9f\x98\x80 /\b\f\n\r\t\"\\") == 0);
        CHECK(f.t[0].ndim == 1 && f.t[0].shape[0] == 2 && f.t[0].dtype == TG_F32);
        CHECK(f.t[0].begin == 8 && f.t[0].end == 16);
        const tg_st_tensor *t = tg_st_find(&f, "a");
        CHECK(t && t->ndim == 0 && t->dtype == TG_I32);
        const unsigned char *d = tg_st_data(&f, t);
        CHECK(d && d[0] == 0 && d[3] == 3);
        t = tg_st_find(&f, "overlap");
        CHECK(t && t->ndim == 4 && t->dtype == TG_F64 && ((const unsigned char *)tg_st_data(&f, t))[0] == 2);
        t = tg_st_find(&f, "empty");
        CHECK(t && t->ndim == 2 && t->shape[1] == 0 && t->begin == t->end);
        CHECK(tg_st_find(&f, "") == &f.t[4]);
        CHECK(tg_st_meta(&f, "kA") && strcmp(tg_st_meta(&f, "kA"), "v\xc3\xa9") == 0);
        CHECK(tg_st_meta(&f, "\xf0\x9f\x98\x80") && tg_st_meta(&f, "\xf0\x9f\x98\x80")[0] == '\0');
    }
    tg_st_close(&f);
    /* __metadata__ anywhere, and empty */
    make_file("{\"__metadata__\":{}, \"x\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
    CHECK(tg_st_read(&f, path, &err) == TG_OK && f.n == 1 && f.n_meta == 0);
    tg_st_close(&f);
    make_file("{}", 0);
    CHECK(tg_st_read(&f, path, &err) == TG_OK && f.n == 0);
    tg_st_close(&f);
}

static void test_files(void)
{
    char msg[800];
    /* missing, a directory */
    tg_st_file f;
    tg_error err = {0};
    snprintf(msg, sizeof msg, "%s/nope.safetensors", dir);
    CHECK(tg_st_read(&f, msg, &err) == TG_ERR_IO);
    CHECK(f.data == NULL && f.path == NULL);
    char want[900];
    snprintf(want, sizeof want, "%s: error: cannot open: No such file or directory", msg);
    expect_err(&err, TG_ERR_IO, want, __LINE__);
    tg_error_clear(&err);
    CHECK(tg_st_read(&f, dir, &err) == TG_ERR_IO);
    snprintf(want, sizeof want, "%s: error: cannot read: Is a directory", dir);
    expect_err(&err, TG_ERR_IO, want, __LINE__);

    /* the length field */
    write_bytes(path, "", 0);
    READ_FAILS(TG_ERR_INVALID, "empty file (not a safetensors file)");
    write_bytes(path, "\x08\0\0", 3);
    READ_FAILS(TG_ERR_INVALID, "truncated: the file has 3 bytes, fewer than the 8 of the header length");
    unsigned char hdr[100] = {0xe8, 0x20, 0, 0, 0, 0, 0, 0, '{', '"'}; /* 8424 */
    write_bytes(path, hdr, 100);
    READ_FAILS(TG_ERR_INVALID, "truncated: the header says 8424 bytes but the file has 100");
    write_bytes(path, hdr, 8);
    READ_FAILS(TG_ERR_INVALID, "truncated: the header says 8424 bytes but the file has 8");
    hdr[8] = 'x';
    write_bytes(path, hdr, 100);
    READ_FAILS(TG_ERR_INVALID, "not a safetensors file (header length 8424 exceeds the file size 100)");
    char text[512];
    memset(text, 'a', sizeof text);
    memcpy(text, "\x9d\x1c\x62\xba\x01\0\0\0", 8); /* 7421959325 */
    write_bytes(path, text, 512);
    READ_FAILS(TG_ERR_INVALID, "not a safetensors file (header length 7421959325 exceeds the file size 512)");
    memcpy(text, "model:\n {", 9); /* a YAML file: the length is its first 8 bytes */
    write_bytes(path, text, 512);
    READ_FAILS(TG_ERR_INVALID, "not a safetensors file (header length 2308721996212760429 exceeds the file size 512)");
    memcpy(text, "\xff\xff\xff\xff\xff\xff\xff\xff{", 9); /* 2^64 - 1: no overflow in 8 + N */
    write_bytes(path, text, 512);
    READ_FAILS(TG_ERR_INVALID, "not a safetensors file (header length 18446744073709551615 exceeds the file size 512)");
    memcpy(text, "\x01\0\0\0\0\0\0\0{", 9);
    write_bytes(path, text, 9);
    READ_FAILS(TG_ERR_INVALID, "not a safetensors file (header length 1 is too short for a JSON object)");
    memcpy(text, "\0\0\0\0\0\0\0\0", 8);
    write_bytes(path, text, 8);
    READ_FAILS(TG_ERR_INVALID, "not a safetensors file (header length 0 is too short for a JSON object)");
}

static void test_bad_json(void)
{
    HEADER_FAILS("[]", 0, "invalid JSON in the header at byte 8: the header must be a JSON object, found '['");
    HEADER_FAILS("  ", 0, "invalid JSON in the header at byte 10: the header must be a JSON object, found the end of the header");
    HEADER_FAILS("{\"a\":1,}", 0, "invalid JSON in the header at byte 15: expected a string key, found '}'");
    HEADER_FAILS("{\"a\" 1}", 0, "invalid JSON in the header at byte 13: expected ':' after a key, found '1'");
    HEADER_FAILS("{\"a\":1 \"b\":2}", 0, "invalid JSON in the header at byte 15: expected ',' or '}', found '\"'");
    HEADER_FAILS("{\"a\":1", 0, "invalid JSON in the header at byte 14: expected ',' or '}', found the end of the header");
    HEADER_FAILS("{a:1}", 0, "invalid JSON in the header at byte 9: expected a string key, found 'a'");
    HEADER_FAILS("{'a':1}", 0, "invalid JSON in the header at byte 9: expected a string key, found '''");
    HEADER_FAILS("{\"a\":1}}", 0, "invalid JSON in the header at byte 15: '}' after the end of the header's object");
    HEADER_FAILS("{\"a", 0, "invalid JSON in the header at byte 9: unterminated string");
    HEADER_FAILS("{\"a\\\"}", 0, "invalid JSON in the header at byte 9: unterminated string");
    HEADER_FAILS("{\"a\tb\":1}", 0, "invalid JSON in the header at byte 11: control character 0x09 in a string (write it as \\u0009)");
    HEADER_FAILS("{\"\\x\":1}", 0, "invalid JSON in the header at byte 10: unknown escape '\\x'");
    HEADER_FAILS("{\"\\u12\":1}", 0, "invalid JSON in the header at byte 10: \\u needs 4 hex digits");
    HEADER_FAILS("{\"\\u12g4\":1}", 0, "invalid JSON in the header at byte 10: \\u needs 4 hex digits");
    HEADER_FAILS("{\"\\udc00\":1}", 0, "invalid JSON in the header at byte 10: \\uDC00: a low surrogate without its high half");
    HEADER_FAILS("{\"\\ud800\":1}", 0, "invalid JSON in the header at byte 10: \\uD800: a high surrogate without its low half");
    HEADER_FAILS("{\"\\ud800\\u0041\":1}", 0, "invalid JSON in the header at byte 10: \\uD800: a high surrogate without its low half");
    HEADER_FAILS("{\"\xc3\":1}", 0, "invalid JSON in the header at byte 10: not valid UTF-8");
    HEADER_FAILS("{\"\xc0\xaf\":1}", 0, "invalid JSON in the header at byte 10: not valid UTF-8"); /* overlong '/' */
    HEADER_FAILS("{\"\xed\xa0\x80\":1}", 0, "invalid JSON in the header at byte 10: not valid UTF-8"); /* a surrogate */
    HEADER_FAILS("{\"\xf4\x90\x80\x80\":1}", 0, "invalid JSON in the header at byte 10: not valid UTF-8"); /* > U+10FFFF */
    HEADER_FAILS("{\"\xff\":1}", 0, "invalid JSON in the header at byte 10: not valid UTF-8");
    HEADER_FAILS("{\"a\":-1}", 0, "invalid JSON in the header at byte 13: negative numbers are not allowed");
    HEADER_FAILS("{\"a\":[1,-1]}", 0, "invalid JSON in the header at byte 16: negative numbers are not allowed");
    HEADER_FAILS("{\"a\":1.5}", 0, "invalid JSON in the header at byte 14: only integers are allowed");
    HEADER_FAILS("{\"a\":1e3}", 0, "invalid JSON in the header at byte 14: only integers are allowed");
    HEADER_FAILS("{\"a\":012}", 0, "invalid JSON in the header at byte 13: a number may not start with 0");
    HEADER_FAILS("{\"a\":18446744073709551616}", 0, "invalid JSON in the header at byte 13: number too large (more than 2^64 - 1)");
    HEADER_FAILS("{\"a\":true}", 0, "invalid JSON in the header at byte 13: true is not allowed in a safetensors header");
    HEADER_FAILS("{\"a\":null}", 0, "invalid JSON in the header at byte 13: null is not allowed in a safetensors header");
    HEADER_FAILS("{\"a\":nul}", 0, "invalid JSON in the header at byte 13: expected a value (an object, a string, an array or an integer), found 'n'");
    HEADER_FAILS("{\"a\":}", 0, "invalid JSON in the header at byte 13: expected a value (an object, a string, an array or an integer), found '}'");
    HEADER_FAILS("{\"a\":[1,]}", 0, "invalid JSON in the header at byte 16: expected a non-negative integer (arrays hold nothing else), found ']'");
    HEADER_FAILS("{\"a\":[\"x\"]}", 0, "invalid JSON in the header at byte 14: expected a non-negative integer (arrays hold nothing else), found '\"'");
    HEADER_FAILS("{\"a\":[1 2]}", 0, "invalid JSON in the header at byte 16: expected ',' or ']', found '2'");
    HEADER_FAILS("{\"a\":[1", 0, "invalid JSON in the header at byte 15: expected ',' or ']', found the end of the header");
    HEADER_FAILS("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}", 0,
                 "invalid JSON in the header at byte 48: objects nested more than 8 deep");
    /* spaces are the padding; a NUL is not */
    unsigned char padded[] = {4, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', 0};
    write_bytes(path, padded, sizeof padded);
    READ_FAILS(TG_ERR_INVALID, "invalid JSON in the header at byte 11: byte 0x00 after the end of the header's object");
}

#define T(name, body) "\"" name "\":{" body "}"
static void test_bad_format(void)
{
    HEADER_FAILS("{\"x\":1}", 0, "tensor 'x': expected an object with dtype, shape and data_offsets");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":[1]") "}", 4, "tensor 'x': missing 'data_offsets'");
    HEADER_FAILS("{" T("x", "\"shape\":[1],\"data_offsets\":[0,4]") "}", 4, "tensor 'x': missing 'dtype'");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"data_offsets\":[0,4]") "}", 4, "tensor 'x': missing 'shape'");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"extra\":1") "}", 4,
                 "tensor 'x': unknown key 'extra' (dtype, shape, data_offsets)");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'x': key 'dtype' appears twice");
    HEADER_FAILS("{" T("x", "\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]") "}", 4, "tensor 'x': dtype must be a string");
    HEADER_FAILS("{" T("x", "\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]") "}", 4,
                 "tensor 'x': dtype BF16 is not supported (F32, F64, I32)");
    HEADER_FAILS("{" T("x", "\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'x': dtype f32 is not supported (F32, F64, I32)");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\\u0000\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'x': dtype F32\\x00 is not supported (F32, F64, I32)");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]") "}", 8,
                 "tensor 'x': shape must be an array of integers");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'x': shape [1,1,1,1,1] has 5 dimensions, more than 4");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":[1,2,3,4,5,6,7,8,9,10],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'x': shape [1,2,3,4,5,6,7,8,...] has 10 dimensions, more than 4");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":[2147483648],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'x': shape [2147483648] is too large");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647,2],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'x': shape [2147483647,2147483647,2147483647,2] is too large");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]") "}", 4,
                 "tensor 'x': data_offsets must be [begin, end]");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":\"0,4\"") "}", 4,
                 "tensor 'x': data_offsets must be [begin, end]");
    HEADER_FAILS("{" T("x", "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]") "}", 8,
                 "tensor 'x': data_offsets [8, 4] end before they begin");
    HEADER_FAILS("{" T("head.weight", "\"dtype\":\"F32\",\"shape\":[65,128],\"data_offsets\":[0,100]") "}", 100,
                 "tensor 'head.weight': data_offsets [0, 100] do not match dtype F32 and shape [65,128] (33280 bytes)");
    HEADER_FAILS("{" T("s", "\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]") "}", 8,
                 "tensor 's': data_offsets [0, 4] do not match dtype F64 and shape [] (8 bytes)");
    HEADER_FAILS("{" T("x", "\"dtype\":\"I32\",\"shape\":[100],\"data_offsets\":[0,400]") "}", 300,
                 "tensor 'x': data_offsets beyond the end of the data ([0, 400], the data has 300 bytes)");
    HEADER_FAILS("{" T("x", "\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,18446744073709551616]") "}", 4,
                 "invalid JSON in the header at byte 77: number too large (more than 2^64 - 1)");
    HEADER_FAILS("{" T("x", "\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[18446744073709551611,18446744073709551615]") "}", 4,
                 "tensor 'x': data_offsets beyond the end of the data ([18446744073709551611, 18446744073709551615], the data has 4 bytes)");
    HEADER_FAILS("{" T("x", "\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]") ","
                 T("x", "\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "duplicate tensor name 'x'");
    HEADER_FAILS("{" T("x\\u0000y", "\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor name 'x\\x00y' contains a NUL character");
    HEADER_FAILS("{" T("a\\nb", "\"dtype\":\"Q\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'a\\x0Ab': dtype Q is not supported (F32, F64, I32)");
    HEADER_FAILS("{" T("a-very-long-name-of-a-tensor-that-goes-on-and-on-and-on-and-on-and-on",
                       "\"dtype\":\"Q\",\"shape\":[1],\"data_offsets\":[0,4]") "}", 4,
                 "tensor 'a-very-long-name-of-a-tensor-that-goes-on-and-on-and-on-and-...': dtype Q is not supported (F32, F64, I32)");
    /* metadata */
    HEADER_FAILS("{\"__metadata__\":[1]}", 0, "__metadata__ must be an object of strings");
    HEADER_FAILS("{\"__metadata__\":{\"a\":1}}", 0, "__metadata__ 'a': expected a string value");
    HEADER_FAILS("{\"__metadata__\":{\"a\":{}}}", 0, "__metadata__ 'a': expected a string value");
    HEADER_FAILS("{\"__metadata__\":{\"a\":\"\\u0000\"}}", 0, "__metadata__ 'a' contains a NUL character");
    HEADER_FAILS("{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"a\":\"3\"}}", 0, "__metadata__: key 'a' appears twice");
    HEADER_FAILS("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "'__metadata__' appears twice");
}

/* Every prefix of a small file is refused, with a message about truncation (inside the
 * header) or about data_offsets (inside the data), never a crash. */
static void test_truncation(void)
{
    float a[3] = {1, 2, 3};
    int32_t s = 7;
    tg_st_entry e[] = {{"a", TG_F32, 1, {3}, a}, {"s", TG_I32, 0, {0}, &s}};
    const char *k[] = {"m"}, *v[] = {"x"};
    tg_error err = {0};
    char whole[600];
    snprintf(whole, sizeof whole, "%s/whole.safetensors", dir);
    CHECK(tg_st_write(whole, e, 2, k, v, 1, &err) == TG_OK);
    size_t n;
    unsigned char *b = slurp(whole, &n);
    CHECK(b && n > 100 && n < 400);
    uint64_t hlen = b ? b[0] | (uint64_t)b[1] << 8 : 0;
    int bad_msg = 0, not_refused = 0;
    for (size_t len = 0; b && len < n; len++) {
        write_bytes(path, b, len);
        tg_st_file f;
        tg_error e2 = {0};
        if (tg_st_read(&f, path, &e2) != TG_ERR_INVALID) not_refused++;
        const char *want = len == 0 ? "empty file" : len < 8 + hlen ? "truncated: " : "data_offsets beyond the end";
        if (!strstr(e2.msg, want)) {
            if (!bad_msg++) fprintf(stderr, "prefix %zu: %s\n", len, e2.msg);
        }
        CHECK(f.data == NULL);
        tg_st_close(&f);
    }
    CHECK(not_refused == 0);
    CHECK(bad_msg == 0);
    free(b);
}

/* Every byte of a header changed in several ways: a clean refusal or, when the change
 * still makes a valid file (a name's letter), a file whose tensors lie in its data. */
static void test_flipped(void)
{
    float a[6] = {1, 2, 3, 4, 5, 6};
    int32_t s = 7;
    tg_st_entry e[] = {{"w", TG_F32, 2, {2, 3}, a}, {"s", TG_I32, 0, {0}, &s}};
    const char *k[] = {"m\\"}, *v[] = {"\xc3\xa9\n"};
    tg_error err = {0};
    char whole[600];
    snprintf(whole, sizeof whole, "%s/whole.safetensors", dir);
    CHECK(tg_st_write(whole, e, 2, k, v, 1, &err) == TG_OK);
    size_t n;
    unsigned char *b = slurp(whole, &n);
    static const unsigned char masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF};
    int refused = 0, accepted = 0, wrong = 0;
    for (size_t i = 0; b && i < n - 28; i++) /* the length field and the header */
        for (size_t m = 0; m < sizeof masks; m++) {
            b[i] ^= masks[m];
            write_bytes(path, b, n);
            b[i] ^= masks[m];
            tg_st_file f;
            tg_error e2 = {0};
            tg_status st = tg_st_read(&f, path, &e2);
            if (st == TG_ERR_INVALID && e2.msg[0] && strcmp(e2.file, path) == 0) refused++;
            else if (st == TG_OK) {
                accepted++;
                for (int t = 0; t < f.n; t++)
                    if (f.t[t].end > f.size || (const unsigned char *)tg_st_data(&f, &f.t[t]) + (f.t[t].end - f.t[t].begin) > f.data + f.size)
                        wrong++;
            } else
                wrong++, fprintf(stderr, "flip %zu/%02X: status %d: %s\n", i, masks[m], (int)st, e2.msg);
            tg_st_close(&f);
        }
    printf("flipped header bytes: %d files refused, %d still valid\n", refused, accepted);
    CHECK(wrong == 0);
    CHECK(refused > 10 * accepted); /* nearly every change is caught */
    CHECK(accepted > 0);            /* and some are harmless: "w" -> "v" */
    free(b);
}

/* Out of memory at every allocation: TG_ERR_NOMEM, an empty struct, no leak. */
static void test_nomem(void)
{
    float a[3] = {1, 2, 3};
    tg_st_entry e[] = {{"a", TG_F32, 1, {3}, a}, {"b", TG_F32, 1, {3}, a}, {"c", TG_F32, 1, {3}, a},
                       {"d", TG_F32, 1, {3}, a}, {"e", TG_F32, 1, {3}, a}};
    const char *k[] = {"m1", "m2", "m3", "m4", "m5"}, *v[] = {"x", "y", "z", "w", "v"};
    tg_error err = {0};
    CHECK(tg_st_write(path, e, 5, k, v, 5, &err) == TG_OK);
    int ok = 0, nomem = 0, other = 0;
    for (long fail = 0; fail < 500 && !ok; fail++) {
        tg_st_file f;
        tg_error e2 = {0};
        tg_alloc_fail_after(fail);
        tg_status st = tg_st_read(&f, path, &e2);
        tg_alloc_fail_after(-1);
        if (st == TG_OK) {
            ok = 1;
            CHECK(f.n == 5 && f.n_meta == 5);
        } else if (st == TG_ERR_NOMEM && f.data == NULL)
            nomem++;
        else other++;
        tg_st_close(&f);
    }
    CHECK(ok && other == 0 && nomem > 20);
}

/* The writer replaces a file atomically: when it cannot write, the old file stays. */
static void test_writer_atomic(void)
{
    float a[2] = {1, 2}, b2[2] = {3, 4};
    tg_st_entry e = {"a", TG_F32, 1, {2}, a}, e2 = {"a", TG_F32, 1, {2}, b2};
    tg_error err = {0};
    char p[700], want[900];
    snprintf(p, sizeof p, "%s/no/such/dir/x.safetensors", dir);
    CHECK(tg_st_write(p, &e, 1, NULL, NULL, 0, &err) == TG_ERR_IO);
    snprintf(want, sizeof want, "%s: error: cannot write: No such file or directory", p);
    expect_err(&err, TG_ERR_IO, want, __LINE__);

    /* an existing file, and a write that fails: its temporary name is taken by a directory */
    tg_error_clear(&err);
    CHECK(tg_st_write(path, &e, 1, NULL, NULL, 0, &err) == TG_OK);
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);
    snprintf(p, sizeof p, "%s.tmp", path);
    CHECK(mkdir(p, 0755) == 0);
    CHECK(tg_st_write(path, &e2, 1, NULL, NULL, 0, &err) == TG_ERR_IO);
    snprintf(want, sizeof want, "%s: error: cannot write: Is a directory", path);
    expect_err(&err, TG_ERR_IO, want, __LINE__);
    unsigned char *after = slurp(path, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
    rmdir(p);
    free(before), free(after);

    /* a directory that is not writable (permissions mean nothing to root) */
    if (geteuid() != 0) {
        char d[600];
        snprintf(d, sizeof d, "%s/ro", dir);
        snprintf(p, sizeof p, "%s/x.safetensors", d);
        CHECK(mkdir(d, 0755) == 0);
        tg_error_clear(&err);
        CHECK(tg_st_write(p, &e, 1, NULL, NULL, 0, &err) == TG_OK);
        before = slurp(p, &n0);
        chmod(d, 0555);
        CHECK(tg_st_write(p, &e2, 1, NULL, NULL, 0, &err) == TG_ERR_IO);
        after = slurp(p, &n1);
        CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0);
        chmod(d, 0755);
        unlink(p);
        rmdir(d);
        free(before), free(after);
    }

    /* a successful replace leaves no temporary file */
    tg_error_clear(&err);
    CHECK(tg_st_write(path, &e2, 1, NULL, NULL, 0, &err) == TG_OK);
    snprintf(p, sizeof p, "%s.tmp", path);
    CHECK(access(p, F_OK) != 0);
    tg_st_file f;
    CHECK(tg_st_read(&f, path, &err) == TG_OK && f.n == 1 && ((const float *)tg_st_data(&f, &f.t[0]))[0] == 3.0f);
    tg_st_close(&f);
}

int main(void)
{
    if (!mkdtemp(dir)) return fprintf(stderr, "mkdtemp failed\n"), 2;
    snprintf(path, sizeof path, "%s/t.safetensors", dir);
    test_round_trip();
    test_accepted();
    test_files();
    test_bad_json();
    test_bad_format();
    test_truncation();
    test_flipped();
    test_nomem();
    test_writer_atomic();
    char p[700];
    unlink(path);
    snprintf(p, sizeof p, "%s/whole.safetensors", dir);
    unlink(p);
    rmdir(dir);
    return tg_test_end();
}
