/*
 * lc_etag.c: If-Match and ETag.
 */
#include "lc_etag.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int
lc_etag_if_match(lc_req *req, char *version, size_t len)
{
    const char *h = lc_envelope_header(lc_req_envelope(req), "if-match");
    size_t n, i;

    if (h == NULL) {
        return 1;
    }
    while (*h == ' ') {
        h++;
    }
    n = strlen(h);
    while (n > 0 && h[n - 1] == ' ') {
        n--;
    }
    if (n == 1 && h[0] == '*') { /* any current version */
        version[0] = '\0';
        return 0;
    }
    /* Exactly the tag this service issues: digits without a leading zero
     * ("01" is not "1": a strong comparison compares the text). */
    if (n >= 3 && n - 2 < len && n - 2 <= LC_ETAG_VERSION_MAX &&
        h[0] == '"' && h[n - 1] == '"' && (h[1] != '0' || n == 3)) {
        for (i = 1; i < n - 1 && isdigit((unsigned char)h[i]); i++) {
        }
        if (i == n - 1) {
            memcpy(version, h + 1, n - 2);
            version[n - 2] = '\0';
            return 0;
        }
    }
    /* Not an ETag this service issued, or a weak one (W/"2"): If-Match uses
     * the strong comparison, so it cannot match. */
    lc_req_error(req, 412, "precondition_failed",
                 "the resource has changed since you read it");
    return -1;
}

int
lc_etag_require(lc_req *req, char *version, size_t len)
{
    int m = lc_etag_if_match(req, version, len);

    /* `*` would change whatever version is there now: no protection
     * against a lost update, which is what a required If-Match is for. */
    if (m > 0 || (m == 0 && version[0] == '\0')) {
        lc_req_error(req, 428, "precondition_required",
                     m > 0 ? "send If-Match with the ETag you read"
                           : "If-Match: * protects nothing here; send the "
                             "ETag you read");
        return -1;
    }
    return m;
}

void
lc_etag_respond(lc_req *req, int status, const char *version,
                const char *json)
{
    char etag[LC_ETAG_VERSION_MAX + 32];

    snprintf(etag, sizeof(etag), "\"%s\"", version);
    lc_req_header(req, "etag", etag);
    lc_req_respond(req, status, "application/json", json, strlen(json));
}
