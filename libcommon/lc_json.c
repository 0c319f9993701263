/*
 * lc_json.c: strict JSON parsing and the API error envelope.
 *
 * Parsing runs in three steps. A lexical scan of the raw bytes refuses what
 * cJSON 1.7.15 lets through: invalid UTF-8, \u0000 and unpaired surrogate
 * escapes, raw control characters in strings, control characters other than
 * the four JSON whitespace bytes between tokens, a UTF-8 BOM, numbers outside
 * the RFC 8259 grammar ("01", "1.", "-.5") and nesting over the depth limit.
 * cJSON then builds the tree. A walk over the tree refuses duplicate keys and
 * numbers that overflow a double ("1e999" becomes infinity in cJSON).
 *
 * The depth is counted in the scan rather than on the tree so that input
 * nested deeper than cJSON's own limit (CJSON_NESTING_LIMIT, 1000) is still
 * reported as too deep rather than as a syntax error, and before any
 * allocation. A max_depth above that limit still stops at it: cJSON refuses
 * the input, as a syntax error.
 */
#include "lc_json.h"

#include "lc_utf8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LC_JSON_MAX_SAFE_INT 9007199254740992.0 /* 2^53 */

/* Objects with at most this many keys sort their key pointers on the stack. */
#define LC_JSON_STACK_KEYS 32

static void
lc_json_set_why(const char **why, const char *text)
{
    if (why != NULL)
        *why = text;
}

static int
lc_json_hex4(const unsigned char *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    size_t k;

    if (n < 4)
        return -1;
    for (k = 0; k < 4; k++) {
        unsigned char c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Checks the string whose opening quote is at p[*i]; leaves *i past it. */
static lc_json_status
lc_json_scan_string(const unsigned char *p, size_t len, size_t *i,
                    const char **why)
{
    size_t k = *i + 1;
    unsigned cp, low;

    while (k < len) {
        unsigned char c = p[k];

        if (c == '"') {
            *i = k + 1;
            return LC_JSON_OK;
        }
        if (c == '\\') {
            if (k + 1 >= len)
                break;
            switch (p[k + 1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                k += 2;
                continue;
            case 'u':
                break;
            default:
                lc_json_set_why(why, "invalid escape in a string");
                return LC_JSON_SYNTAX;
            }
            if (lc_json_hex4(p + k + 2, len - k - 2, &cp) != 0) {
                lc_json_set_why(why, "invalid \\u escape in a string");
                return LC_JSON_SYNTAX;
            }
            k += 6;
            /* cJSON would store U+0000 as a NUL and cut the string there. */
            if (cp == 0) {
                lc_json_set_why(why, "\\u0000 in a string");
                return LC_JSON_BAD_UTF8;
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                lc_json_set_why(why, "unpaired surrogate escape in a string");
                return LC_JSON_BAD_UTF8;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (k + 1 >= len || p[k] != '\\' || p[k + 1] != 'u' ||
                    lc_json_hex4(p + k + 2, len - k - 2, &low) != 0 ||
                    low < 0xDC00 || low > 0xDFFF) {
                    lc_json_set_why(why,
                                    "unpaired surrogate escape in a string");
                    return LC_JSON_BAD_UTF8;
                }
                k += 6;
            }
            continue;
        }
        if (c == 0) {
            lc_json_set_why(why, "NUL character in a string");
            return LC_JSON_BAD_UTF8;
        }
        if (c < 0x20) {
            lc_json_set_why(why, "unescaped control character in a string");
            return LC_JSON_SYNTAX;
        }
        if (c >= 0x80) {
            size_t n = lc_utf8_len(p + k, len - k);
            if (n == 0) {
                lc_json_set_why(why, "invalid UTF-8 in a string");
                return LC_JSON_BAD_UTF8;
            }
            k += n;
            continue;
        }
        k++;
    }
    lc_json_set_why(why, "unterminated string");
    return LC_JSON_SYNTAX;
}

static int
lc_json_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* cJSON hands every byte of this set to strtod as part of a number. */
static int
lc_json_is_number_byte(unsigned char c)
{
    return lc_json_is_digit(c) || c == '+' || c == '-' || c == '.' ||
           c == 'e' || c == 'E';
}

/* Checks the number starting at p[*i] against RFC 8259's grammar. */
static lc_json_status
lc_json_scan_number(const unsigned char *p, size_t len, size_t *i,
                    const char **why)
{
    size_t k = *i;

    if (p[k] == '-')
        k++;
    if (k < len && p[k] == '0') {
        k++;
    } else if (k < len && lc_json_is_digit(p[k])) {
        while (k < len && lc_json_is_digit(p[k]))
            k++;
    } else {
        goto bad;
    }
    if (k < len && p[k] == '.') {
        k++;
        if (k >= len || !lc_json_is_digit(p[k]))
            goto bad;
        while (k < len && lc_json_is_digit(p[k]))
            k++;
    }
    if (k < len && (p[k] == 'e' || p[k] == 'E')) {
        k++;
        if (k < len && (p[k] == '+' || p[k] == '-'))
            k++;
        if (k >= len || !lc_json_is_digit(p[k]))
            goto bad;
        while (k < len && lc_json_is_digit(p[k]))
            k++;
    }
    /* "01" or "1.2.3": cJSON would read the longer run as one number. */
    if (k < len && lc_json_is_number_byte(p[k]))
        goto bad;
    *i = k;
    return LC_JSON_OK;
bad:
    lc_json_set_why(why, "malformed number");
    return LC_JSON_SYNTAX;
}

static lc_json_status
lc_json_scan(const unsigned char *p, size_t len, int max_depth,
             const char **why)
{
    size_t i = 0;
    int depth = 0;
    lc_json_status st;

    while (i < len) {
        unsigned char c = p[i];

        if (c == '"') {
            st = lc_json_scan_string(p, len, &i, why);
            if (st != LC_JSON_OK)
                return st;
        } else if (c == '-' || lc_json_is_digit(c)) {
            st = lc_json_scan_number(p, len, &i, why);
            if (st != LC_JSON_OK)
                return st;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth) {
                lc_json_set_why(why, "body is nested too deeply");
                return LC_JSON_TOO_DEEP;
            }
            i++;
        } else if (c == '}' || c == ']') {
            /* Unbalanced brackets are left for cJSON to refuse. */
            depth--;
            i++;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
        } else if (c < 0x20) {
            /* cJSON skips every byte <= 0x20 as whitespace. */
            lc_json_set_why(why, "control character outside a string");
            return LC_JSON_SYNTAX;
        } else if (c >= 0x80) {
            if (lc_utf8_len(p + i, len - i) == 0) {
                lc_json_set_why(why, "invalid UTF-8");
                return LC_JSON_BAD_UTF8;
            }
            /* Includes the BOM, which cJSON would skip. */
            lc_json_set_why(why, "non-ASCII character outside a string");
            return LC_JSON_SYNTAX;
        } else {
            /* Letters of true/false/null and punctuation: cJSON judges. */
            i++;
        }
    }
    return LC_JSON_OK;
}

static int
lc_json_key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorting the key pointers makes duplicates neighbours: O(n log n). */
static lc_json_status
lc_json_check_keys(const cJSON *obj, const char **why)
{
    const char *stack_keys[LC_JSON_STACK_KEYS];
    const char **keys = stack_keys;
    const cJSON *c;
    size_t n = 0, k;
    lc_json_status st = LC_JSON_OK;

    for (c = obj->child; c != NULL; c = c->next)
        n++;
    if (n < 2)
        return LC_JSON_OK;
    if (n > LC_JSON_STACK_KEYS) {
        keys = malloc(n * sizeof(*keys));
        if (keys == NULL) {
            lc_json_set_why(why, "out of memory");
            return LC_JSON_TOO_LARGE;
        }
    }
    n = 0;
    for (c = obj->child; c != NULL; c = c->next)
        keys[n++] = c->string;
    qsort(keys, n, sizeof(*keys), lc_json_key_cmp);
    for (k = 1; k < n; k++) {
        if (strcmp(keys[k - 1], keys[k]) == 0) {
            lc_json_set_why(why, "duplicate key in object");
            st = LC_JSON_DUPLICATE_KEY;
            break;
        }
    }
    if (keys != stack_keys)
        free(keys);
    return st;
}

/* Recursion is bounded by the depth limit the scan enforced. */
static lc_json_status
lc_json_check_tree(const cJSON *node, const char **why)
{
    const cJSON *c;
    lc_json_status st;

    if (cJSON_IsNumber(node) && !isfinite(node->valuedouble)) {
        lc_json_set_why(why, "number too large");
        return LC_JSON_SYNTAX;
    }
    if (cJSON_IsObject(node)) {
        st = lc_json_check_keys(node, why);
        if (st != LC_JSON_OK)
            return st;
    }
    for (c = node->child; c != NULL; c = c->next) {
        st = lc_json_check_tree(c, why);
        if (st != LC_JSON_OK)
            return st;
    }
    return LC_JSON_OK;
}

lc_json_status
lc_json_parse(const char *text, size_t len, const lc_json_limits *limits,
              cJSON **out, const char **why)
{
    size_t max_bytes = LC_JSON_DEFAULT_MAX_BYTES;
    int max_depth = LC_JSON_DEFAULT_MAX_DEPTH;
    const char *end = NULL;
    const char *p;
    cJSON *root;
    lc_json_status st;

    *out = NULL;
    lc_json_set_why(why, NULL);
    if (limits != NULL && limits->max_bytes > 0)
        max_bytes = limits->max_bytes;
    if (limits != NULL && limits->max_depth > 0)
        max_depth = limits->max_depth;

    if (len > max_bytes) {
        lc_json_set_why(why, "body is too large");
        return LC_JSON_TOO_LARGE;
    }
    if (text == NULL || len == 0) {
        lc_json_set_why(why, "body is empty");
        return LC_JSON_SYNTAX;
    }
    st = lc_json_scan((const unsigned char *)text, len, max_depth, why);
    if (st != LC_JSON_OK)
        return st;

    root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (root == NULL) {
        lc_json_set_why(why, "body is not valid JSON");
        return LC_JSON_SYNTAX;
    }
    /* Without require_null_terminated cJSON stops after the first value. */
    for (p = end; p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            lc_json_set_why(why, "trailing characters after the JSON value");
            return LC_JSON_SYNTAX;
        }
    }
    st = lc_json_check_tree(root, why);
    if (st != LC_JSON_OK) {
        cJSON_Delete(root);
        return st;
    }
    *out = root;
    return LC_JSON_OK;
}

const char *
lc_json_status_message(lc_json_status st)
{
    switch (st) {
    case LC_JSON_OK:
        return "ok";
    case LC_JSON_TOO_LARGE:
        return "body is too large";
    case LC_JSON_TOO_DEEP:
        return "body is nested too deeply";
    case LC_JSON_DUPLICATE_KEY:
        return "body has a duplicate key";
    case LC_JSON_BAD_UTF8:
        return "body is not valid UTF-8";
    case LC_JSON_SYNTAX:
        return "body is not valid JSON";
    }
    return "unknown JSON status";
}

static void
lc_json_copy_truncated(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void
lc_json_field_error_add(lc_json_field_errors *errs, const char *field,
                        const char *code)
{
    lc_json_field_error *e;

    if (errs == NULL || errs->count < 0 ||
        errs->count >= LC_JSON_MAX_FIELD_ERRORS)
        return;
    e = &errs->items[errs->count++];
    lc_json_copy_truncated(e->field, sizeof(e->field),
                           field != NULL ? field : "");
    lc_json_copy_truncated(e->code, sizeof(e->code), code != NULL ? code : "");
}

/*
 * Adds name: text (its first n bytes) to obj. cJSON prints string bytes
 * as they are, so invalid UTF-8 (a request id from a header, say) is
 * replaced by U+FFFD here to keep the envelope valid JSON.
 */
static int
lc_json_add_text(cJSON *obj, const char *name, const char *text, size_t n)
{
    const unsigned char *p = (const unsigned char *)text;
    char *clean = malloc(n * 3 + 1);
    size_t i = 0, o = 0, seq;
    cJSON *item;

    if (clean == NULL)
        return -1;
    while (i < n) {
        seq = lc_utf8_len(p + i, n - i);
        if (seq == 0) {
            memcpy(clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(clean + o, p + i, seq);
            o += seq;
            i += seq;
        }
    }
    clean[o] = '\0';
    item = cJSON_CreateString(clean);
    free(clean);
    if (item == NULL)
        return -1;
    if (!cJSON_AddItemToObject(obj, name, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

static int
lc_json_add_cstr(cJSON *obj, const char *name, const char *text)
{
    if (text == NULL)
        text = "";
    return lc_json_add_text(obj, name, text, strlen(text));
}

static int
lc_json_add_fields(cJSON *error, const lc_json_field_errors *fields)
{
    cJSON *arr, *item;
    int k, count = fields->count;

    if (count > LC_JSON_MAX_FIELD_ERRORS)
        count = LC_JSON_MAX_FIELD_ERRORS;
    arr = cJSON_AddArrayToObject(error, "fields");
    if (arr == NULL)
        return -1;
    for (k = 0; k < count; k++) {
        const lc_json_field_error *e = &fields->items[k];

        item = cJSON_CreateObject();
        if (item == NULL)
            return -1;
        if (!cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            return -1;
        }
        /* strnlen: the items are fixed arrays a caller may have filled. */
        if (lc_json_add_text(item, "field", e->field,
                             strnlen(e->field, sizeof(e->field))) != 0 ||
            lc_json_add_text(item, "code", e->code,
                             strnlen(e->code, sizeof(e->code))) != 0)
            return -1;
    }
    return 0;
}

char *
lc_json_error_body(const char *code, const char *message,
                   const char *request_id, const lc_json_field_errors *fields)
{
    cJSON *root, *error;
    char *body = NULL;

    root = cJSON_CreateObject();
    if (root == NULL)
        return NULL;
    error = cJSON_AddObjectToObject(root, "error");
    if (error == NULL || lc_json_add_cstr(error, "code", code) != 0 ||
        lc_json_add_cstr(error, "message", message) != 0 ||
        lc_json_add_cstr(error, "request_id", request_id) != 0)
        goto done;
    if (fields != NULL && fields->count > 0 &&
        lc_json_add_fields(error, fields) != 0)
        goto done;
    body = cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return body;
}
