/*
 * lc_pbjson: protobuf-c messages to and from cJSON, by walking the message
 * and field descriptors that protoc-c generates (see lc_pbjson.h for the
 * mapping).
 *
 * Ownership. A message built here must be freed by
 * protobuf_c_message_free_unpacked(msg, NULL) exactly like one that
 * protobuf_c_message_unpack() returned, so every member follows the rules
 * that function applies with the default (malloc) allocator:
 *  - a singular string is freed unless it is the field's default_value
 *    pointer (&protobuf_c_empty_string for proto3): unset strings keep the
 *    value protobuf_c_message_init() gave them, set ones are malloc'd;
 *  - each element of a repeated string, bytes or message array is freed
 *    unconditionally, so even "" elements are malloc'd;
 *  - bytes data is freed unless it is the default's data (proto3 has none);
 *  - only the selected member of a oneof is freed.
 * A slot is written only with a complete value that it then owns, so a
 * message is freeable at every step and an error anywhere is undone by one
 * free_unpacked() of the top message.
 *
 * Output mirrors what protobuf_c_message_pack() would write: a field is
 * rendered exactly when it would be on the wire. Floating-point values are
 * exact in the tree, but cJSON 1.7.15 prints 15 digits whenever they come
 * within a relative epsilon (0.1 + 0.2 prints as 0.3, DBL_MAX as a number
 * that reads back as infinity); Lintel's protos carry no floats.
 *
 * Beyond the header's mapping, as in the proto3 JSON mapping: null stands
 * for a field's default, and float and double also take "NaN", "Infinity"
 * and "-Infinity". Duplicate keys, which cJSON keeps, are refused.
 *
 * proto2 `required` fields are not checked on input (Lintel's protos are
 * proto3); protobuf_c_message_check() finds a missing one.
 */
#include "lc_pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest field path kept for error messages; deeper ones are cut short. */
#define PBJSON_PATH_MAX 256

/*
 * 2^53 - 1. cJSON holds numbers as doubles, so a larger literal may already
 * have been rounded to a neighbour: 64-bit values past this come as strings.
 */
#define PBJSON_MAX_SAFE_INTEGER 9007199254740991.0

typedef struct {
    char path[PBJSON_PATH_MAX]; /* "keys[2].kid" */
    size_t path_len;
    char *err;
    size_t errlen;
} pbjson_parse;

static bool parse_object(pbjson_parse *p,
                         const ProtobufCMessageDescriptor *desc,
                         const cJSON *obj, ProtobufCMessage *msg);
static cJSON *message_to_json(const ProtobufCMessageDescriptor *desc,
                              const ProtobufCMessage *msg);
static void report(pbjson_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Records the error and yields false. A comma expression rather than a
 * function, so that the compiler sees the constant and knows a failed
 * parse's out-parameters are never read.
 */
#define FAIL(p, ...) (report((p), __VA_ARGS__), false)

static void *
member_at(const ProtobufCMessage *msg, unsigned offset)
{
    return (char *)msg + offset;
}

/* ---- errors and field paths ---- */

static void
report(pbjson_parse *p, const char *fmt, ...)
{
    char reason[160];
    va_list ap;

    if (p->err == NULL || p->errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (p->path_len > 0)
        snprintf(p->err, p->errlen, "field \"%s\": %s", p->path, reason);
    else
        snprintf(p->err, p->errlen, "%s", reason);
}

/*
 * Appends ".name" (or "name" at the top). JSON keys are untrusted: control
 * characters and quotes become '?' so that the error stays one quoted line.
 */
static size_t
path_push_field(pbjson_parse *p, const char *name)
{
    size_t saved = p->path_len;
    size_t n = p->path_len;

    if (n > 0 && n + 1 < sizeof(p->path))
        p->path[n++] = '.';
    for (; *name != '\0' && n + 1 < sizeof(p->path); name++) {
        unsigned char c = (unsigned char)*name;
        p->path[n++] = (c < 0x20 || c == 0x7f || c == '"') ? '?' : (char)c;
    }
    p->path[n] = '\0';
    p->path_len = n;
    return saved;
}

static size_t
path_push_index(pbjson_parse *p, size_t index)
{
    size_t saved = p->path_len;
    int n = snprintf(p->path + p->path_len, sizeof(p->path) - p->path_len,
                     "[%zu]", index);

    if (n > 0)
        p->path_len += (size_t)n;
    if (p->path_len >= sizeof(p->path))
        p->path_len = sizeof(p->path) - 1;
    return saved;
}

static void
path_pop(pbjson_parse *p, size_t saved)
{
    p->path_len = saved;
    p->path[saved] = '\0';
}

/* ---- base64 (RFC 4648 §4, padded) ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
b64_encode(const uint8_t *data, size_t len)
{
    char *out;
    size_t i, o = 0;

    if (len > (SIZE_MAX - 1) / 4 * 3 - 2)
        return NULL;
    out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v =
            (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)data[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)data[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int
b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

typedef enum { B64_OK, B64_INVALID, B64_NOMEM } b64_status;

/*
 * Strict: length a multiple of 4, '=' only as the last one or two
 * characters, no whitespace, no URL-safe alphabet, and the bits below the
 * last full byte zero, so every byte string has exactly one accepted text.
 * Empty input decodes to data NULL, len 0 (proto3's empty bytes).
 */
static b64_status
b64_decode(const char *s, ProtobufCBinaryData *out)
{
    size_t n = strlen(s), pad = 0, i, o = 0;
    uint8_t *buf;

    out->data = NULL;
    out->len = 0;
    if (n % 4 != 0)
        return B64_INVALID;
    if (n == 0)
        return B64_OK;
    if (s[n - 1] == '=')
        pad = s[n - 2] == '=' ? 2 : 1;
    buf = malloc(n / 4 * 3 - pad);
    if (buf == NULL)
        return B64_NOMEM;
    for (i = 0; i < n; i += 4) {
        size_t sig = i + 4 == n ? 4 - pad : 4, k;
        uint32_t v = 0;

        for (k = 0; k < 4; k++) {
            int d = k < sig ? b64_value(s[i + k]) : 0;
            if (d < 0) {
                free(buf);
                return B64_INVALID;
            }
            v = v << 6 | (uint32_t)d;
        }
        if ((sig == 2 && (v & 0xffff) != 0) || (sig == 3 && (v & 0xff) != 0)) {
            free(buf);
            return B64_INVALID;
        }
        buf[o++] = (uint8_t)(v >> 16);
        if (sig > 2)
            buf[o++] = (uint8_t)(v >> 8);
        if (sig > 3)
            buf[o++] = (uint8_t)v;
    }
    out->data = buf;
    out->len = o;
    return B64_OK;
}

/* ---- JSON to message ---- */

/*
 * The range is checked before the cast: converting an out-of-range double
 * to an integer type is undefined behaviour. NaN fails both comparisons.
 */
static bool
integral_in(double d, double lo, double hi)
{
    return d >= lo && d <= hi && (double)(int64_t)d == d;
}

static bool
parse_integer(pbjson_parse *p, const cJSON *item, double lo, double hi,
              const char *type, int64_t *out)
{
    double d;

    if (!cJSON_IsNumber(item))
        return FAIL(p, "expected an integer");
    d = item->valuedouble;
    if (d < lo || d > hi)
        return FAIL(p, "out of range for %s", type);
    if (!integral_in(d, lo, hi))
        return FAIL(p, "expected an integer");
    *out = (int64_t)d;
    return true;
}

/* Only [-]digits: strtoll/strtoull alone skip spaces and accept "+1". */
static bool
is_decimal(const char *s, bool allow_minus)
{
    if (*s == '-' && allow_minus)
        s++;
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

static bool
parse_int64(pbjson_parse *p, const cJSON *item, int64_t *out)
{
    long long v;

    if (cJSON_IsNumber(item))
        return parse_integer(p, item, -PBJSON_MAX_SAFE_INTEGER,
                             PBJSON_MAX_SAFE_INTEGER,
                             "a JSON number (use a string)", out);
    if (!cJSON_IsString(item) || !is_decimal(item->valuestring, true))
        return FAIL(p, "expected an integer or a decimal string");
    errno = 0;
    v = strtoll(item->valuestring, NULL, 10);
    if (errno == ERANGE)
        return FAIL(p, "out of range for int64");
    *out = v;
    return true;
}

static bool
parse_uint64(pbjson_parse *p, const cJSON *item, uint64_t *out)
{
    unsigned long long v;
    int64_t small;

    if (cJSON_IsNumber(item)) {
        if (item->valuedouble < 0)
            return FAIL(p, "out of range for uint64");
        if (!parse_integer(p, item, 0, PBJSON_MAX_SAFE_INTEGER,
                           "a JSON number (use a string)", &small))
            return false;
        *out = (uint64_t)small;
        return true;
    }
    /* No '-': strtoull would turn "-1" into UINT64_MAX. */
    if (!cJSON_IsString(item) || !is_decimal(item->valuestring, false))
        return FAIL(p, "expected an integer or a decimal string");
    errno = 0;
    v = strtoull(item->valuestring, NULL, 10);
    if (errno == ERANGE)
        return FAIL(p, "out of range for uint64");
    *out = v;
    return true;
}

/*
 * Numbers, plus the proto3 mapping's "NaN", "Infinity" and "-Infinity",
 * which JSON numbers cannot express.
 */
static bool
parse_double(pbjson_parse *p, const cJSON *item, double *out)
{
    if (cJSON_IsNumber(item)) {
        *out = item->valuedouble;
        return true;
    }
    if (cJSON_IsString(item)) {
        if (strcmp(item->valuestring, "NaN") == 0) {
            *out = NAN;
            return true;
        }
        if (strcmp(item->valuestring, "Infinity") == 0) {
            *out = INFINITY;
            return true;
        }
        if (strcmp(item->valuestring, "-Infinity") == 0) {
            *out = -INFINITY;
            return true;
        }
    }
    return FAIL(p, "expected a number");
}

static bool
parse_enum(pbjson_parse *p, const ProtobufCEnumDescriptor *ed,
           const cJSON *item, int32_t *out)
{
    if (cJSON_IsString(item)) {
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value_by_name(ed, item->valuestring);
        if (ev == NULL)
            return FAIL(p, "not a value name of enum %s", ed->name);
        *out = ev->value;
        return true;
    }
    /* proto3 enums are open: any int32 is kept, named or not. */
    if (cJSON_IsNumber(item) &&
        integral_in(item->valuedouble, INT32_MIN, INT32_MAX)) {
        *out = (int32_t)item->valuedouble;
        return true;
    }
    return FAIL(p, "expected an enum name or number");
}

static ProtobufCMessage *
new_message(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *msg = malloc(desc->sizeof_message);

    if (msg != NULL)
        protobuf_c_message_init(desc, msg);
    return msg;
}

/* Parses one value of field `f` into `slot`, written only on success. */
static bool
parse_value(pbjson_parse *p, const ProtobufCFieldDescriptor *f,
            const cJSON *item, void *slot)
{
    int64_t i;
    uint64_t u;
    double d;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (!parse_integer(p, item, INT32_MIN, INT32_MAX, "int32", &i))
            return false;
        *(int32_t *)slot = (int32_t)i;
        return true;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (!parse_integer(p, item, 0, UINT32_MAX, "uint32", &i))
            return false;
        *(uint32_t *)slot = (uint32_t)i;
        return true;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (!parse_int64(p, item, &i))
            return false;
        *(int64_t *)slot = i;
        return true;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (!parse_uint64(p, item, &u))
            return false;
        *(uint64_t *)slot = u;
        return true;
    case PROTOBUF_C_TYPE_FLOAT:
        if (!parse_double(p, item, &d))
            return false;
        if (isfinite(d) && (d > FLT_MAX || d < -FLT_MAX))
            return FAIL(p, "out of range for float");
        *(float *)slot = (float)d;
        return true;
    case PROTOBUF_C_TYPE_DOUBLE:
        if (!parse_double(p, item, &d))
            return false;
        *(double *)slot = d;
        return true;
    case PROTOBUF_C_TYPE_BOOL:
        if (!cJSON_IsBool(item))
            return FAIL(p, "expected true or false");
        *(protobuf_c_boolean *)slot = cJSON_IsTrue(item) ? 1 : 0;
        return true;
    case PROTOBUF_C_TYPE_ENUM:
        return parse_enum(p, f->descriptor, item, (int32_t *)slot);
    case PROTOBUF_C_TYPE_STRING: {
        char *s;
        if (!cJSON_IsString(item))
            return FAIL(p, "expected a string");
        s = strdup(item->valuestring);
        if (s == NULL)
            return FAIL(p, "out of memory");
        *(char **)slot = s;
        return true;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData bd;
        if (!cJSON_IsString(item))
            return FAIL(p, "expected a base64 string");
        switch (b64_decode(item->valuestring, &bd)) {
        case B64_OK:
            *(ProtobufCBinaryData *)slot = bd;
            return true;
        case B64_NOMEM:
            return FAIL(p, "out of memory");
        case B64_INVALID:
            break;
        }
        return FAIL(p, "expected standard base64 with padding");
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessageDescriptor *sub = f->descriptor;
        ProtobufCMessage *m;
        if (!cJSON_IsObject(item))
            return FAIL(p, "expected an object");
        m = new_message(sub);
        if (m == NULL)
            return FAIL(p, "out of memory");
        if (!parse_object(p, sub, item, m)) {
            protobuf_c_message_free_unpacked(m, NULL);
            return false;
        }
        *(ProtobufCMessage **)slot = m;
        return true;
    }
    }
    return FAIL(p, "unsupported field type");
}

/* Size of one element of a repeated field's array, as protobuf-c lays it. */
static size_t
element_size(ProtobufCType type)
{
    switch (type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 8;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 4;
    }
}

static bool
parse_repeated(pbjson_parse *p, const ProtobufCFieldDescriptor *f,
               const cJSON *arr, ProtobufCMessage *msg)
{
    size_t *count = member_at(msg, f->quantifier_offset);
    void **elements = member_at(msg, f->offset);
    size_t n = 0, size = element_size(f->type);
    const cJSON *item;
    char *a;

    if (!cJSON_IsArray(arr))
        return FAIL(p, "expected an array");
    for (item = arr->child; item != NULL; item = item->next)
        n++;
    if (n == 0)
        return true;
    a = calloc(n, size);
    if (a == NULL)
        return FAIL(p, "out of memory");
    /* The count grows with each parsed element: free_unpacked frees those. */
    *elements = a;
    *count = 0;
    for (item = arr->child; item != NULL; item = item->next) {
        size_t saved = path_push_index(p, *count);
        if (!parse_value(p, f, item, a + *count * size))
            return false;
        path_pop(p, saved);
        (*count)++;
    }
    return true;
}

static const ProtobufCFieldDescriptor *
oneof_member(const ProtobufCMessageDescriptor *desc, unsigned quantifier_offset,
             uint32_t id)
{
    unsigned i;

    for (i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            f->quantifier_offset == quantifier_offset && f->id == id)
            return f;
    }
    return NULL;
}

static bool
parse_field(pbjson_parse *p, const ProtobufCMessageDescriptor *desc,
            const ProtobufCFieldDescriptor *f, const cJSON *item,
            ProtobufCMessage *msg)
{
    void *slot = member_at(msg, f->offset);

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return parse_repeated(p, f, item, msg);
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        uint32_t *which = member_at(msg, f->quantifier_offset);
        if (*which != 0) {
            const ProtobufCFieldDescriptor *other =
                oneof_member(desc, f->quantifier_offset, *which);
            return FAIL(p, "\"%s\" of the same oneof is already set",
                        other != NULL ? other->name : "another member");
        }
        if (!parse_value(p, f, item, slot))
            return false;
        *which = f->id;
        return true;
    }
    if (!parse_value(p, f, item, slot))
        return false;
    /* proto2 optional scalars and bytes carry a has_ flag; pack reads it. */
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL &&
        f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)member_at(msg, f->quantifier_offset) = 1;
    return true;
}

/*
 * cJSON keeps duplicate keys; a later one must not silently win or leak the
 * earlier value. Only earlier siblings that were accepted fields are
 * compared, and those are distinct, so the scan is bounded by n_fields.
 */
static bool
is_duplicate(const cJSON *obj, const cJSON *item)
{
    const cJSON *prev;

    for (prev = obj->child; prev != item; prev = prev->next) {
        if (strcmp(prev->string, item->string) == 0)
            return true;
    }
    return false;
}

static bool
parse_object(pbjson_parse *p, const ProtobufCMessageDescriptor *desc,
             const cJSON *obj, ProtobufCMessage *msg)
{
    const cJSON *item;

    for (item = obj->child; item != NULL; item = item->next) {
        size_t saved = path_push_field(p, item->string);
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(desc, item->string);
        if (f == NULL) {
            /* Reported without the usual prefix: the key is the subject. */
            if (p->err != NULL && p->errlen > 0)
                snprintf(p->err, p->errlen, "unknown field \"%s\"", p->path);
            return false;
        }
        if (is_duplicate(obj, item))
            return FAIL(p, "duplicate key");
        /* null stands for the default, as in the proto3 JSON mapping. */
        if (!cJSON_IsNull(item) && !parse_field(p, desc, f, item, msg))
            return false;
        path_pop(p, saved);
    }
    return true;
}

ProtobufCMessage *
lc_pbjson_from_json(const ProtobufCMessageDescriptor *desc, const cJSON *json,
                    char *err, size_t errlen)
{
    pbjson_parse p = {.err = err, .errlen = errlen};
    ProtobufCMessage *msg;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (!cJSON_IsObject(json)) {
        report(&p, "expected a JSON object");
        return NULL;
    }
    msg = new_message(desc);
    if (msg == NULL) {
        report(&p, "out of memory");
        return NULL;
    }
    if (!parse_object(&p, desc, json, msg)) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return NULL;
    }
    return msg;
}

/* ---- message to JSON ---- */

/* Non-finite values have no JSON number: the proto3 mapping's strings. */
static cJSON *
double_to_json(double d)
{
    if (isnan(d))
        return cJSON_CreateString("NaN");
    if (isinf(d))
        return cJSON_CreateString(d > 0 ? "Infinity" : "-Infinity");
    return cJSON_CreateNumber(d);
}

static cJSON *
value_to_json(const ProtobufCFieldDescriptor *f, const void *slot)
{
    char num[24];

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return cJSON_CreateNumber(*(const int32_t *)slot);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return cJSON_CreateNumber(*(const uint32_t *)slot);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)slot);
        return cJSON_CreateString(num);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof(num), "%" PRIu64, *(const uint64_t *)slot);
        return cJSON_CreateString(num);
    case PROTOBUF_C_TYPE_FLOAT:
        return double_to_json(*(const float *)slot);
    case PROTOBUF_C_TYPE_DOUBLE:
        return double_to_json(*(const double *)slot);
    case PROTOBUF_C_TYPE_BOOL:
        return cJSON_CreateBool(*(const protobuf_c_boolean *)slot);
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)slot;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev != NULL ? cJSON_CreateString(ev->name)
                          : cJSON_CreateNumber(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        return cJSON_CreateString(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = slot;
        char *text = b64_encode(bd->data, bd->len);
        cJSON *item;
        if (text == NULL)
            return NULL;
        item = cJSON_CreateString(text);
        free(text);
        return item;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        return message_to_json(f->descriptor, *(ProtobufCMessage *const *)slot);
    }
    return NULL;
}

/* proto3 fields without presence: pack skips them when zero or empty. */
static bool
is_zero(const ProtobufCFieldDescriptor *f, const void *slot)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return *(const uint64_t *)slot == 0;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)slot == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)slot == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return *(const protobuf_c_boolean *)slot == 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)slot;
        return s == NULL || s[0] == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)slot)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)slot == NULL;
    default:
        return *(const uint32_t *)slot == 0;
    }
}

/*
 * Whether pack would write this singular field. A selected oneof string or
 * message still counts as absent when it is NULL or its default pointer.
 */
static bool
is_present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
    const void *slot = member_at(msg, f->offset);
    bool pointer =
        f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE;

    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
        if (*(const uint32_t *)member_at(msg, f->quantifier_offset) != f->id)
            return false;
        return !pointer || (*(void *const *)slot != NULL &&
                            *(void *const *)slot != f->default_value);
    }
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return true;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (pointer)
            return *(void *const *)slot != NULL &&
                   *(void *const *)slot != f->default_value;
        return *(const protobuf_c_boolean *)member_at(msg,
                                                      f->quantifier_offset);
    default:
        return !is_zero(f, slot);
    }
}

static cJSON *
repeated_to_json(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *msg)
{
    size_t n = *(const size_t *)member_at(msg, f->quantifier_offset);
    const char *a = *(void *const *)member_at(msg, f->offset);
    size_t size = element_size(f->type), i;
    cJSON *arr = cJSON_CreateArray();

    if (arr == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        cJSON *item = value_to_json(f, a + i * size);
        if (item == NULL || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* A NULL message (only possible inside a malformed repeated field) is {}. */
static cJSON *
message_to_json(const ProtobufCMessageDescriptor *desc,
                const ProtobufCMessage *msg)
{
    cJSON *obj = cJSON_CreateObject();
    unsigned i;

    if (obj == NULL || msg == NULL)
        return obj;
    for (i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        cJSON *item;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (*(const size_t *)member_at(msg, f->quantifier_offset) == 0)
                continue;
            item = repeated_to_json(f, msg);
        } else {
            if (!is_present(f, msg))
                continue;
            item = value_to_json(f, member_at(msg, f->offset));
        }
        if (item == NULL || !cJSON_AddItemToObject(obj, f->name, item)) {
            cJSON_Delete(item);
            cJSON_Delete(obj);
            return NULL;
        }
    }
    return obj;
}

cJSON *
lc_pbjson_to_json(const ProtobufCMessage *msg)
{
    return message_to_json(msg->descriptor, msg);
}
