/*
 * lc_json: strict JSON on top of cJSON 1.7.15.
 *
 * cJSON alone is too lenient for untrusted input: its object lookup is
 * case-insensitive, the first of duplicate keys wins, numbers are doubles
 * (integers above 2^53 round, valueint saturates), strings may hold invalid
 * UTF-8 and \u0000 silently truncates them. lc_json_parse() refuses all of
 * that, plus bodies over a byte limit, nesting over a depth limit and
 * trailing garbage. Reading a body field by field is lc_body's (typed specs,
 * case-sensitive, range-checked).
 *
 * The error envelope of API.md is built here too:
 *   {"error":{"code":"…","message":"…","request_id":"…","fields":[…]}}
 */
#ifndef LC_JSON_H
#define LC_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LC_JSON_DEFAULT_MAX_BYTES (1024 * 1024)
#define LC_JSON_DEFAULT_MAX_DEPTH 32

typedef struct {
    size_t max_bytes; /* 0: LC_JSON_DEFAULT_MAX_BYTES */
    int max_depth;    /* 0: LC_JSON_DEFAULT_MAX_DEPTH; a scalar is depth 0 */
} lc_json_limits;

typedef enum {
    LC_JSON_OK = 0,
    LC_JSON_TOO_LARGE,    /* parse: over max_bytes */
    LC_JSON_TOO_DEEP,     /* parse: over max_depth */
    LC_JSON_DUPLICATE_KEY,
    LC_JSON_BAD_UTF8, /* invalid UTF-8 or a NUL character in a string */
    LC_JSON_SYNTAX,   /* not JSON, or trailing garbage */
} lc_json_status;

/*
 * Parses `len` bytes (no NUL terminator needed). On success stores a tree
 * the caller frees with cJSON_Delete(). On failure *out is NULL and, when
 * `why` is not NULL, it receives a short static English reason suitable for
 * an error message. `limits` may be NULL.
 */
lc_json_status lc_json_parse(const char *text, size_t len,
                             const lc_json_limits *limits, cJSON **out,
                             const char **why);

/* A static message for a status ("body is not valid JSON", ...). */
const char *lc_json_status_message(lc_json_status st);

/* Field-level validation problems, collected for the error envelope. */
#define LC_JSON_MAX_FIELD_ERRORS 16

typedef struct {
    char field[64];
    char code[32];
} lc_json_field_error;

typedef struct {
    lc_json_field_error items[LC_JSON_MAX_FIELD_ERRORS];
    int count;
} lc_json_field_errors;

/* Records a problem; silently keeps only the first 16. */
void lc_json_field_error_add(lc_json_field_errors *errs, const char *field,
                             const char *code);

/*
 * Builds the error envelope as a NUL-terminated malloc'd string.
 * `fields` may be NULL or empty (then no "fields" member); `request_id`
 * may be NULL (then ""). Returns NULL only when out of memory.
 */
char *lc_json_error_body(const char *code, const char *message,
                         const char *request_id,
                         const lc_json_field_errors *fields);

#endif
