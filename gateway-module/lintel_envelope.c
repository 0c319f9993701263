/*
 * lintel_envelope: header allow-lists, internal paths, bounded unpacking
 * and JSON error bodies for the edge (see lintel_envelope.h).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lintel_envelope.h"


#define LINTEL_ENVELOPE_BUDGET(len)  ((len) * 8 + 16384)


typedef struct {
    size_t  used;
    size_t  budget;
} lintel_envelope_budget_t;


static void *lintel_envelope_alloc(void *data, size_t size);
static void lintel_envelope_free(void *data, void *p);
static int lintel_envelope_name_in(const char *name, size_t len,
    const char *const *list);
static size_t lintel_envelope_json_string(char *p, char *end,
    const char *s, size_t len);


static const char *const  lintel_envelope_request_headers[] = {
    "accept",
    "accept-language",
    "content-type",
    "idempotency-key",
    "if-match",
    "if-none-match",
    "if-modified-since",
    "user-agent",
    "webhook-signature",   /* a payment provider's, over the raw body */
    "x-lintel-csrf",       /* a browser's mark on the cookie routes */
    NULL
};


static const char *const  lintel_envelope_response_headers_denied[] = {
    "connection",
    "content-length",
    "content-type",
    "date",
    "keep-alive",
    "proxy-authenticate",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-request-id",
    NULL
};


static int
lintel_envelope_name_in(const char *name, size_t len,
    const char *const *list)
{
    const char *const  *p;

    for (p = list; *p; p++) {
        if (strlen(*p) == len && strncasecmp(*p, name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


int
lintel_envelope_request_header_allowed(const char *name, size_t len)
{
    return lintel_envelope_name_in(name, len,
                                   lintel_envelope_request_headers);
}


int
lintel_envelope_response_header_allowed(const char *name, size_t name_len,
    const char *value, size_t value_len)
{
    size_t         i;
    unsigned char  c;

    if (name_len == 0 || name_len > 256 || value_len > 8192) {
        return 0;
    }

    for (i = 0; i < name_len; i++) {
        c = (unsigned char) name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    /* a CR or LF from a service would let it split the response */

    for (i = 0; i < value_len; i++) {
        c = (unsigned char) value[i];

        if (c == '\r' || c == '\n' || c == '\0') {
            return 0;
        }
    }

    return !lintel_envelope_name_in(name, name_len,
                                    lintel_envelope_response_headers_denied);
}


int
lintel_envelope_path_is_internal(const char *path, size_t len)
{
    if (len < 4 || path[0] != '/' || strncasecmp(path + 1, "rpc", 3) != 0) {
        return 0;
    }

    return len == 4 || path[4] == '/';
}


int
lintel_envelope_traceparent_valid(const char *s, size_t len)
{
    size_t  i;
    char    c;

    /* 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 */

    if (len != 55) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if (i == 2 || i == 35 || i == 52) {
            if (c != '-') {
                return 0;
            }

            continue;
        }

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }

    return strncmp(s, "ff", 2) != 0;
}


void
lintel_envelope_request_id(const unsigned char random[16],
    char out[LINTEL_REQUEST_ID_LEN])
{
    int  i;

    static const char  hex[] = "0123456789abcdef";

    for (i = 0; i < 16; i++) {
        out[2 * i] = hex[random[i] >> 4];
        out[2 * i + 1] = hex[random[i] & 0xf];
    }
}


static size_t
lintel_envelope_json_string(char *p, char *end, const char *s, size_t len)
{
    size_t         i, n;
    unsigned char  c;

    static const char  hex[] = "0123456789abcdef";

    n = 0;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            if (p + n + 2 > end) {
                return (size_t) -1;
            }

            p[n++] = '\\';
            p[n++] = (char) c;

        } else if (c < 0x20) {
            if (p + n + 6 > end) {
                return (size_t) -1;
            }

            p[n++] = '\\';
            p[n++] = 'u';
            p[n++] = '0';
            p[n++] = '0';
            p[n++] = hex[c >> 4];
            p[n++] = hex[c & 0xf];

        } else {
            if (p + n + 1 > end) {
                return (size_t) -1;
            }

            p[n++] = (char) c;
        }
    }

    return n;
}


size_t
lintel_envelope_error_body(char *buf, size_t size, const char *code,
    const char *message, const char *request_id, size_t request_id_len)
{
    char        *p, *end;
    size_t       n, i;
    const char  *part[7];
    size_t       len[7];

    part[0] = "{\"error\":{\"code\":\"";
    part[1] = code;
    part[2] = "\",\"message\":\"";
    part[3] = message;
    part[4] = "\",\"request_id\":\"";
    part[5] = request_id;
    part[6] = "\"}}";

    for (i = 0; i < 7; i++) {
        len[i] = (i == 5) ? request_id_len : strlen(part[i]);
    }

    p = buf;
    end = buf + size;

    for (i = 0; i < 7; i++) {
        if (i % 2 == 0) {
            if ((size_t) (end - p) < len[i]) {
                return 0;
            }

            memcpy(p, part[i], len[i]);
            p += len[i];
            continue;
        }

        n = lintel_envelope_json_string(p, end, part[i], len[i]);

        if (n == (size_t) -1) {
            return 0;
        }

        p += n;
    }

    return (size_t) (p - buf);
}


/* each block carries its size in front, so that free() can count it back */

static void *
lintel_envelope_alloc(void *data, size_t size)
{
    size_t                    *p;
    lintel_envelope_budget_t  *b;

    b = data;

    if (size > b->budget - b->used) {
        return NULL;
    }

    p = malloc(size + sizeof(max_align_t));
    if (p == NULL) {
        return NULL;
    }

    b->used += size;
    *p = size;

    return (char *) p + sizeof(max_align_t);
}


static void
lintel_envelope_free(void *data, void *p)
{
    size_t                    *s;
    lintel_envelope_budget_t  *b;

    if (p == NULL) {
        return;
    }

    b = data;
    s = (size_t *) ((char *) p - sizeof(max_align_t));

    if (b != NULL) {
        b->used -= *s;
    }

    free(s);
}


/*
 * The budget lives only during unpack: the messages are later freed with an
 * allocator whose data is NULL, which frees the same blocks without counting.
 */

#define LINTEL_ENVELOPE_UNPACK(type, fn, buf, len)                            \
    lintel_envelope_budget_t  b;                                              \
    ProtobufCAllocator        a;                                              \
                                                                              \
    b.used = 0;                                                               \
    b.budget = LINTEL_ENVELOPE_BUDGET(len);                                   \
    a.alloc = lintel_envelope_alloc;                                          \
    a.free = lintel_envelope_free;                                            \
    a.allocator_data = &b;                                                    \
                                                                              \
    return (type *) fn(&a, len, buf)

#define LINTEL_ENVELOPE_FREE(fn, m)                                           \
    ProtobufCAllocator  a;                                                    \
                                                                              \
    if (m == NULL) {                                                          \
        return;                                                               \
    }                                                                         \
                                                                              \
    a.alloc = lintel_envelope_alloc;                                          \
    a.free = lintel_envelope_free;                                            \
    a.allocator_data = NULL;                                                  \
                                                                              \
    fn(m, &a)


Lintel__V1__Response *
lintel_envelope_unpack_response(const void *buf, size_t len)
{
    LINTEL_ENVELOPE_UNPACK(Lintel__V1__Response,
                           lintel__v1__response__unpack, buf, len);
}


void
lintel_envelope_free_response(Lintel__V1__Response *res)
{
    LINTEL_ENVELOPE_FREE(lintel__v1__response__free_unpacked, res);
}


Lintel__V1__Users__ResolveTenantResponse *
lintel_envelope_unpack_tenant(const void *buf, size_t len)
{
    LINTEL_ENVELOPE_UNPACK(Lintel__V1__Users__ResolveTenantResponse,
        lintel__v1__users__resolve_tenant_response__unpack, buf, len);
}


void
lintel_envelope_free_tenant(Lintel__V1__Users__ResolveTenantResponse *m)
{
    LINTEL_ENVELOPE_FREE(
        lintel__v1__users__resolve_tenant_response__free_unpacked, m);
}


Lintel__V1__Users__GetJwksResponse *
lintel_envelope_unpack_jwks(const void *buf, size_t len)
{
    LINTEL_ENVELOPE_UNPACK(Lintel__V1__Users__GetJwksResponse,
        lintel__v1__users__get_jwks_response__unpack, buf, len);
}


void
lintel_envelope_free_jwks(Lintel__V1__Users__GetJwksResponse *m)
{
    LINTEL_ENVELOPE_FREE(lintel__v1__users__get_jwks_response__free_unpacked,
                         m);
}
