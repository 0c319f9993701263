/*
 * libFuzzer harness: what the gateway does with bytes from a service
 * (gateway-module/lintel_envelope.c): bounded unpacking of a Response, a
 * ResolveTenant and a GetJwks answer, and the reply header filter.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lintel_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Lintel__V1__Response *res;
    Lintel__V1__Users__ResolveTenantResponse *t;
    Lintel__V1__Users__GetJwksResponse *j;
    uint8_t *buf;
    char body[512];
    size_t i;

    buf = malloc(size ? size : 1);
    memcpy(buf, data, size);

    res = lintel_envelope_unpack_response(buf, size);
    if (res) {
        for (i = 0; i < res->n_headers; i++)
            (void)lintel_envelope_response_header_allowed(
                res->headers[i]->name, strlen(res->headers[i]->name),
                res->headers[i]->value, strlen(res->headers[i]->value));
        lintel_envelope_free_response(res);
    }

    t = lintel_envelope_unpack_tenant(buf, size);
    lintel_envelope_free_tenant(t);
    j = lintel_envelope_unpack_jwks(buf, size);
    lintel_envelope_free_jwks(j);

    (void)lintel_envelope_path_is_internal((const char *)buf, size);
    (void)lintel_envelope_traceparent_valid((const char *)buf, size);
    (void)lintel_envelope_request_header_allowed((const char *)buf, size);
    /* 6 bytes per escaped byte at worst: 60 always fits in 512 */
    if (size < 60 &&
        lintel_envelope_error_body(body, sizeof(body), "bad_gateway",
                                   "message", (const char *)buf, size) == 0)
        abort();

    free(buf);
    return 0;
}
