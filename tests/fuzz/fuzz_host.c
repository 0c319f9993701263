/* libFuzzer harness: Host header → tenant slug (gateway-module/lintel_host.c). */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lintel_host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *slug;
    size_t slug_len;
    char *host;
    lintel_host_scope_e scope;

    /* an exact-size copy, so that ASan sees any read past the end */
    host = malloc(size ? size : 1);
    memcpy(host, data, size);

    scope = lintel_host_classify(host, size, "example.test", 12, &slug,
                                 &slug_len);
    if (scope == LINTEL_HOST_TENANT) {
        if (slug != host || !lintel_host_slug_valid(slug, slug_len) ||
            slug_len + 1 + 12 > size)
            abort();
    } else if (slug != NULL) {
        abort();
    }

    free(host);
    return 0;
}
