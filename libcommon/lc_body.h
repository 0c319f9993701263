/*
 * lc_body: the one grammar of JSON request bodies (API.md, "Requests").
 *
 * A route declares its body as data, one lc_body_field per member:
 *
 *   static const lc_body_field fields[] = {
 *       {.name = "title", .kind = LC_BODY_TEXT, .required = true, .max = 200},
 *       {.name = "estimate_hours", .kind = LC_BODY_NUMBER, .nullable = true,
 *        .decimals = 2, .max = 100000},
 *   };
 *
 * and lc_body_read() checks the whole body against it: the body must be an
 * object, unknown members are refused (a typo never silently does
 * nothing), and every problem of every field is reported at once as 400
 * validation_failed with one `fields` entry each. The codes are the one set
 * of API.md, the same in every service:
 *
 *   required        missing, or a blank string for a text/name field that
 *                   is not nullable (a blank value is no value)
 *   invalid_type    a JSON type the kind does not take; null for a field
 *                   that is not nullable; a fraction for an integer
 *   invalid_format  a string that is not a uuid, date (YYYY-MM-DD naming a
 *                   real day, years 1900..2999), email, currency (ISO 4217,
 *                   three upper-case letters), code, token, or a name with
 *                   control characters; a number with more decimals than
 *                   the field allows (2.001 hours is a malformed amount,
 *                   not one out of range)
 *   invalid_choice  a string not among an enum's choices
 *   too_short       a password under the window of lc_password
 *   too_long        over `max` characters, an email over 254 bytes, a
 *                   password over the window of lc_password
 *   out_of_range    a number outside [min, max]
 *   unknown_field   a member the spec does not name
 *
 * and, set by the service's own checks with lc_body_field_error(),
 * not_found (a referenced id), taken (unique) or a rule's own code
 * (before_start, required_with_budget, …).
 */
#ifndef LC_BODY_H
#define LC_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lc_json.h"
#include "lc_rpc_server.h"

/* 2^53 - 1: the largest integer every JSON client reads exactly. */
#define LC_BODY_MAX_SAFE_INT 9007199254740991LL
/* A name's length when the spec leaves .max at 0 (users' and tenants'). */
#define LC_BODY_NAME_MAX 200
/* The longest address (RFC 5321's path limit), in bytes. */
#define LC_BODY_EMAIL_MAX 254

typedef enum {
    LC_BODY_TEXT,     /* a string of up to .max characters; not blank
                         unless nullable */
    LC_BODY_NAME,     /* one line of 1 to .max (LC_BODY_NAME_MAX)
                         characters, not blank, no control characters */
    LC_BODY_EMAIL,    /* an address we can deliver to */
    LC_BODY_PASSWORD, /* the length window of lc_password */
    LC_BODY_ENUM,     /* one of .choices */
    LC_BODY_DATE,     /* YYYY-MM-DD naming a real day, 1900..2999 */
    LC_BODY_UUID,     /* a canonical uuid */
    LC_BODY_INT,      /* an integer in [.min, .max] */
    LC_BODY_NUMBER,   /* a number in [.min, .max] with at most .decimals
                         digits after the point */
    LC_BODY_CURRENCY, /* ISO 4217: three upper-case letters */
    LC_BODY_CODE,     /* [A-Za-z0-9][A-Za-z0-9._-]{0,31} */
    LC_BODY_TOKEN,    /* the shape of an lc_token */
    LC_BODY_BOOL,     /* true or false */
} lc_body_kind;

typedef struct {
    const char *name;
    lc_body_kind kind;
    bool required; /* must be present (lc_body_read_patch ignores it) */
    bool nullable; /* null is allowed: it clears the field */
    int64_t min;   /* INT, NUMBER: the smallest value */
    int64_t max;   /* TEXT, NAME: characters (TEXT: 0 is no limit);
                      INT, NUMBER: the largest value */
    int decimals;  /* NUMBER: digits allowed after the point, 0..6 */
    const char *const *choices; /* ENUM: NULL-terminated */
} lc_body_field;

/* What one field of a read body holds. */
typedef struct {
    bool present;     /* the member was in the body */
    bool null;        /* ... with the value null */
    const char *text; /* the value as SQL text (a bool is "true"/"false");
                         NULL when absent or null */
    int64_t integer;  /* INT: the value */
    double number;    /* INT, NUMBER: the value */
    bool boolean;     /* BOOL: the value */
    char buf[40];     /* where numbers and booleans are written as text */
} lc_body_value;

typedef enum {
    LC_BODY_CREATE, /* .required applies */
    LC_BODY_PATCH,  /* a partial update: no field is required */
} lc_body_mode;

typedef enum {
    LC_BODY_OK = 0,
    LC_BODY_NOT_OBJECT, /* the body is not a JSON object */
    LC_BODY_INVALID,    /* `errs` says which fields and why */
} lc_body_status;

/*
 * Checks the parsed `body` against `spec` (n fields) into `vals` (one per
 * field, in spec order; strings point into `body`). Every problem is added
 * to `errs`, unknown members first. Pure: no request, no I/O.
 */
lc_body_status lc_body_parse(const cJSON *body, const lc_body_field *spec,
                             size_t n, lc_body_mode mode, lc_body_value *vals,
                             lc_json_field_errors *errs);

/*
 * The request's body by `spec` into `vals`. Returns 0, or -1 with the
 * response set: invalid_json / 413 / 415 from lc_req_json(), or 400
 * validation_failed, with `fields` when fields are at fault.
 */
int lc_body_read(lc_req *req, const lc_body_field *spec, size_t n,
                 lc_body_value *vals);

/* lc_body_read() for a PATCH: `spec` with nothing required. */
int lc_body_read_patch(lc_req *req, const lc_body_field *spec, size_t n,
                       lc_body_value *vals);

/* A 400 validation_failed naming one field, for a service's own checks
 * (a rule across fields, a referenced id, a filter in the query). */
void lc_body_field_error(lc_req *req, const char *field, const char *code,
                         const char *message);

/* Answers 400 validation_failed with `errs` (at least one). */
void lc_body_fail(lc_req *req, const lc_json_field_errors *errs);

/* true when `s` looks like an email address we can deliver to. */
bool lc_body_email_valid(const char *s);

/* true when `s` is YYYY-MM-DD naming a real day of the years 1900..2999. */
bool lc_body_date_valid(const char *s);

#endif
