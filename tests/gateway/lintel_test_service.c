/*
 * lintel-test-service: a small NNG REP service that the gateway tests
 * control, standing in for the users service and a business service.
 *
 *   lintel-test-service --listen tcp://127.0.0.1:7101 --config svc.json
 *                       [--workers 32] [--max-recv BYTES] [--call-log FILE]
 *                       [--cpu N]
 *
 * svc.json (re-read whenever its mtime changes):
 *   {"tenants": [{"slug": "acme", "id": "<uuid>", "status": "active"}],
 *    "keys": [{"kid": "k1", "pem": "-----BEGIN PUBLIC KEY-----..."}],
 *    "resolve_delay_ms": 0, "jwks_fail": false}
 * A tenant may carry its own "delay_ms" for ResolveTenant.
 *
 * Internal RPCs (origin INTERNAL, method RPC): /rpc/users.ResolveTenant,
 * /rpc/users.GetJwks.  Edge routes:
 *   /echo...        200, the received envelope as JSON
 *   /delay/<ms>     200 after <ms> milliseconds
 *   /garbage        a reply that is not a lintel.v1.Response
 *   /status/<code>  that status, with a few headers to filter
 *   /stats          call counters (ResolveTenant per slug, GetJwks, edge),
 *                   connections (pipes) accepted and open, and this pid
 *   .../big/<n>     200 with a body of n bytes: bytes 0..255 over and over
 *   /parts/<n>/<k>  the same n bytes as a continued reply, k bytes a part
 *                   (the cursor is the offset); ?fail=<i> answers part i
 *                   (from 1) with a 500, ?short=1 promises one byte more
 *                   than it sends, ?first_total=<n> promises n bytes,
 *                   ?delay_ms=<ms> delays every part after the first
 *   /raw/<case>     a reply that is an SP message but a broken Response:
 *                   body-not-last, bad-status, huge-head
 *   .../bench       200 {"ok":true} (any path ending in /bench)
 * --max-recv sets NNG_OPT_RECVMAXSZ (a larger request closes the pipe);
 * --cpu pins every thread (NNG's too) to CPU N, as LINTEL_CPU does for the
 * services;
 * --call-log appends "<pid> <method> <request id>" for every edge call to
 * a file as it arrives (that survives a kill -9: the tests count how often
 * a request reached a service).
 * The same routes answer under /open/ and /limited/.  An edge request for /rpc/... is
 * refused with 404, as real services do.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "lintel/v1/envelope.pb-c.h"
#include "lintel/v1/users.pb-c.h"

#define MAX_MSG (16 * 1024 * 1024)

enum { ST_RECV, ST_WAIT, ST_SEND };

typedef struct {
    nng_aio *aio;
    nng_ctx ctx;
    int state;
    nng_msg *reply;
} worker;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *config_path;
static struct timespec config_mtime;
static cJSON *config;
static cJSON *resolve_by_slug;
static long resolve_calls, jwks_calls, edge_calls;
static long pipes_opened, pipes_open;
static int call_log = -1;

static void fatal(const char *what, int rv)
{
    fprintf(stderr, "lintel-test-service: %s: %s\n", what, nng_strerror(rv));
    exit(1);
}

/* Called with the lock held. */
static void reload_config(void)
{
    struct stat st;
    FILE *f;
    long n;
    char *buf;
    cJSON *c;

    if (stat(config_path, &st) != 0)
        return;
    if (config && st.st_mtim.tv_sec == config_mtime.tv_sec &&
        st.st_mtim.tv_nsec == config_mtime.tv_nsec)
        return;
    f = fopen(config_path, "rb");
    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n + 1);
    if (buf == NULL || fread(buf, 1, n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return;
    }
    fclose(f);
    buf[n] = '\0';
    c = cJSON_Parse(buf);
    free(buf);
    if (c == NULL) {
        fprintf(stderr, "lintel-test-service: bad JSON in %s\n", config_path);
        return;
    }
    cJSON_Delete(config);
    config = c;
    config_mtime = st.st_mtim;
}

static int config_int(const char *name)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(config, name);

    if (cJSON_IsNumber(v))
        return v->valueint;
    return cJSON_IsTrue(v) ? 1 : 0;
}

/* The body goes last, after the continuation (5), as services pack it. */
static nng_msg *pack_part(unsigned status, const char *content_type,
                          Lintel__V1__Header **headers, size_t n_headers,
                          Lintel__V1__Continuation *cont, const void *body,
                          size_t len)
{
    Lintel__V1__Response res = LINTEL__V1__RESPONSE__INIT;
    uint8_t key[11];
    size_t nkey = 0, v;
    nng_msg *msg;

    res.status = status;
    res.content_type = (char *)content_type;
    res.headers = headers;
    res.n_headers = n_headers;
    res.continuation = cont;
    if (len > 0) {
        key[nkey++] = 0x22;
        for (v = len; v >= 0x80; v >>= 7)
            key[nkey++] = (uint8_t)(v | 0x80);
        key[nkey++] = (uint8_t)v;
    }
    if (nng_msg_alloc(&msg, lintel__v1__response__get_packed_size(&res)) != 0)
        return NULL;
    lintel__v1__response__pack(&res, nng_msg_body(msg));
    if (nng_msg_append(msg, key, nkey) != 0 ||
        nng_msg_append(msg, body, len) != 0) {
        nng_msg_free(msg);
        return NULL;
    }
    return msg;
}

static nng_msg *pack_response(unsigned status, const char *content_type,
                              Lintel__V1__Header **headers, size_t n_headers,
                              const void *body, size_t len)
{
    return pack_part(status, content_type, headers, n_headers, NULL, body,
                     len);
}

static nng_msg *json_response(unsigned status, cJSON *body)
{
    char *s = cJSON_PrintUnformatted(body);
    nng_msg *msg = pack_response(status, "application/json", NULL, 0, s,
                                 strlen(s));

    free(s);
    cJSON_Delete(body);
    return msg;
}

static nng_msg *error_response(unsigned status, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");

    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", code);
    return json_response(status, o);
}

static nng_msg *rpc_resolve(const Lintel__V1__Request *req, int *delay)
{
    Lintel__V1__Users__ResolveTenantRequest *in;
    Lintel__V1__Users__ResolveTenantResponse out =
        LINTEL__V1__USERS__RESOLVE_TENANT_RESPONSE__INIT;
    cJSON *t, *cnt;
    uint8_t *buf;
    size_t len;
    nng_msg *msg;

    in = lintel__v1__users__resolve_tenant_request__unpack(
        NULL, req->body.len, req->body.data);
    if (in == NULL)
        return error_response(400, "bad_request");

    pthread_mutex_lock(&lock);
    resolve_calls++;
    cnt = cJSON_GetObjectItemCaseSensitive(resolve_by_slug, in->slug);
    if (cnt)
        cJSON_SetNumberValue(cnt, cnt->valuedouble + 1);
    else
        cJSON_AddNumberToObject(resolve_by_slug, in->slug, 1);
    *delay = config_int("resolve_delay_ms");
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(config, "tenants"))
    {
        cJSON *slug = cJSON_GetObjectItemCaseSensitive(t, "slug");
        cJSON *status = cJSON_GetObjectItemCaseSensitive(t, "status");

        if (cJSON_IsString(slug) && strcmp(slug->valuestring, in->slug) == 0) {
            cJSON *d = cJSON_GetObjectItemCaseSensitive(t, "delay_ms");

            if (cJSON_IsNumber(d))
                *delay = d->valueint;
            out.found = 1;
            out.tenant_id = strdup(
                cJSON_GetObjectItemCaseSensitive(t, "id")->valuestring);
            out.slug = strdup(in->slug);
            out.name = strdup(in->slug);
            out.status =
                (cJSON_IsString(status) &&
                 strcmp(status->valuestring, "suspended") == 0)
                    ? LINTEL__V1__USERS__TENANT_STATUS__TENANT_STATUS_SUSPENDED
                    : LINTEL__V1__USERS__TENANT_STATUS__TENANT_STATUS_ACTIVE;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    lintel__v1__users__resolve_tenant_request__free_unpacked(in, NULL);

    len = lintel__v1__users__resolve_tenant_response__get_packed_size(&out);
    buf = malloc(len + 1);
    lintel__v1__users__resolve_tenant_response__pack(&out, buf);
    msg = pack_response(200, "application/x-protobuf", NULL, 0, buf, len);
    free(buf);
    if (out.found) {
        free(out.tenant_id);
        free(out.slug);
        free(out.name);
    }
    return msg;
}

static nng_msg *rpc_jwks(void)
{
    Lintel__V1__Users__GetJwksResponse out =
        LINTEL__V1__USERS__GET_JWKS_RESPONSE__INIT;
    Lintel__V1__Users__Jwk jwks[16], *ptrs[16];
    cJSON *k;
    size_t n = 0, len, i;
    uint8_t *buf;
    nng_msg *msg;

    pthread_mutex_lock(&lock);
    jwks_calls++;
    if (config_int("jwks_fail")) {
        pthread_mutex_unlock(&lock);
        return error_response(500, "internal");
    }
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(config, "keys"))
    {
        if (n == 16)
            break;
        lintel__v1__users__jwk__init(&jwks[n]);
        jwks[n].kid = strdup(
            cJSON_GetObjectItemCaseSensitive(k, "kid")->valuestring);
        jwks[n].pem = strdup(
            cJSON_GetObjectItemCaseSensitive(k, "pem")->valuestring);
        jwks[n].kty = "RSA";
        jwks[n].alg = "RS256";
        jwks[n].use = "sig";
        ptrs[n] = &jwks[n];
        n++;
    }
    pthread_mutex_unlock(&lock);

    out.keys = ptrs;
    out.n_keys = n;
    len = lintel__v1__users__get_jwks_response__get_packed_size(&out);
    buf = malloc(len + 1);
    lintel__v1__users__get_jwks_response__pack(&out, buf);
    msg = pack_response(200, "application/x-protobuf", NULL, 0, buf, len);
    free(buf);
    for (i = 0; i < n; i++) {
        free(jwks[i].kid);
        free(jwks[i].pem);
    }
    return msg;
}

static nng_msg *edge_echo(const Lintel__V1__Request *req)
{
    cJSON *o = cJSON_CreateObject(), *h;
    size_t i;
    char *body;

    cJSON_AddStringToObject(o, "request_id", req->request_id);
    cJSON_AddStringToObject(o, "traceparent", req->traceparent);
    cJSON_AddNumberToObject(o, "timeout_ms", req->timeout_ms);
    cJSON_AddStringToObject(o, "origin",
                            req->origin == LINTEL__V1__ORIGIN__ORIGIN_EDGE
                                ? "EDGE"
                                : "OTHER");
    if (req->tenant) {
        cJSON *t = cJSON_AddObjectToObject(o, "tenant");
        cJSON_AddStringToObject(t, "id", req->tenant->id);
        cJSON_AddStringToObject(t, "slug", req->tenant->slug);
    } else {
        cJSON_AddNullToObject(o, "tenant");
    }
    if (req->principal) {
        cJSON *p = cJSON_AddObjectToObject(o, "principal");
        cJSON_AddStringToObject(p, "user_id", req->principal->user_id);
        cJSON_AddStringToObject(p, "role", req->principal->role);
        cJSON_AddStringToObject(p, "session_id", req->principal->session_id);
        cJSON_AddStringToObject(p, "token_id", req->principal->token_id);
    } else {
        cJSON_AddNullToObject(o, "principal");
    }
    cJSON_AddStringToObject(o, "method", req->method);
    cJSON_AddStringToObject(o, "path", req->path);
    cJSON_AddStringToObject(o, "query", req->query);
    h = cJSON_AddObjectToObject(o, "headers");
    for (i = 0; i < req->n_headers; i++)
        cJSON_AddStringToObject(h, req->headers[i]->name,
                                req->headers[i]->value);
    cJSON_AddStringToObject(o, "client_ip", req->client_ip);
    body = malloc(req->body.len + 1);
    memcpy(body, req->body.data, req->body.len);
    body[req->body.len] = '\0';
    cJSON_AddStringToObject(o, "body", body);
    cJSON_AddNumberToObject(o, "body_len", (double)req->body.len);
    {
        /* FNV-1a: the tests check a large body arrived whole and in order */
        uint32_t h = 2166136261u;
        for (i = 0; i < req->body.len; i++)
            h = (h ^ req->body.data[i]) * 16777619u;
        cJSON_AddNumberToObject(o, "body_fnv", (double)h);
    }
    free(body);
    return json_response(200, o);
}

static nng_msg *edge_status(unsigned code)
{
    Lintel__V1__Header h[4], *hp[4];
    static const char *pairs[4][2] = {
        {"x-test", "1"},
        {"etag", "\"7\""},
        {"x-injected", "a\r\nSet-Cookie: evil=1"},
        {"x-request-id", "forged"},
    };
    const char *body = "{\"status\":\"set\"}";
    int i;

    for (i = 0; i < 4; i++) {
        lintel__v1__header__init(&h[i]);
        h[i].name = (char *)pairs[i][0];
        h[i].value = (char *)pairs[i][1];
        hp[i] = &h[i];
    }
    return pack_response(code, "application/json", hp, 4, body, strlen(body));
}

static nng_msg *edge_big(size_t n)
{
    nng_msg *msg;
    uint8_t *body = malloc(n ? n : 1);
    size_t i;

    for (i = 0; i < n; i++)
        body[i] = (uint8_t)i;
    msg = pack_response(200, "application/octet-stream", NULL, 0, body, n);
    free(body);
    return msg;
}

static long query_long(const char *query, const char *name)
{
    size_t n = strlen(name);
    const char *q;

    for (q = query; q && *q; q = strchr(q, '&') ? strchr(q, '&') + 1 : NULL)
        if (strncmp(q, name, n) == 0 && q[n] == '=')
            return atol(q + n + 1);
    return 0;
}

/* One part of /parts/<n>/<k>: the cursor is the offset of the part. */
static nng_msg *edge_parts(const Lintel__V1__Request *req, const char *args,
                           int *delay)
{
    Lintel__V1__Continuation cont = LINTEL__V1__CONTINUATION__INIT;
    Lintel__V1__Header h, *hp = &h;
    size_t total, size, off, len, i, part;
    char *end, cursor[32];
    uint8_t *body;
    nng_msg *msg;

    total = strtoul(args, &end, 10);
    size = *end == '/' ? strtoul(end + 1, NULL, 10) : 0;
    off = req->continuation[0] ? strtoul(req->continuation, NULL, 10) : 0;
    if (size == 0 || off >= total)
        return error_response(400, "bad_parts");
    part = off / size + 1;
    if (query_long(req->query, "fail") == (long)part)
        return error_response(500, "part_failed");
    if (off > 0)
        *delay = (int)query_long(req->query, "delay_ms");
    len = total - off < size ? total - off : size;
    body = malloc(len);
    if (body == NULL)
        return NULL;
    for (i = 0; i < len; i++)
        body[i] = (uint8_t)(off + i);
    snprintf(cursor, sizeof(cursor), "%zu", off + len);
    cont.cursor = cursor;
    cont.total_length = off == 0 ? total + (query_long(req->query, "short")
                                            ? 1 : 0)
                                 : 0;
    if (off == 0 && query_long(req->query, "first_total") > 0)
        cont.total_length = (uint64_t)query_long(req->query, "first_total");
    lintel__v1__header__init(&h);
    h.name = "content-disposition";
    h.value = "attachment; filename=\"parts.bin\"";
    msg = pack_part(200, "application/octet-stream", &hp, 1,
                    off + len < total ? &cont : NULL, body, len);
    free(body);
    return msg;
}

/* hand-made Responses: valid SP framing, broken protobuf layout */
static nng_msg *edge_raw(const char *which)
{
    nng_msg *msg;
    size_t i;

    if (nng_msg_alloc(&msg, 0) != 0)
        return NULL;
    if (strcmp(which, "body-not-last") == 0) {
        /* body (4) = "hi", then status (1) = 200 */
        nng_msg_append(msg, "\x22\x02hi\x08\xc8\x01", 7);
    } else if (strcmp(which, "bad-status") == 0) {
        /* status 99 */
        nng_msg_append(msg, "\x08\x63\x22\x02hi", 6);
    } else if (strcmp(which, "huge-head") == 0) {
        /* 64 KiB of headers (3) before the body */
        nng_msg_append(msg, "\x08\xc8\x01", 3);
        for (i = 0; i < 1024; i++) {
            uint8_t h[64];
            h[0] = 0x1a;
            h[1] = 62;
            h[2] = 0x0a;
            h[3] = 2;
            h[4] = 'x';
            h[5] = 'h';
            h[6] = 0x12;
            h[7] = 56;
            memset(h + 8, 'v', 56);
            nng_msg_append(msg, h, 64 + 2);
        }
        nng_msg_append(msg, "\x22\x02hi", 4);
    } else {
        nng_msg_free(msg);
        return error_response(404, "not_found");
    }
    return msg;
}

static void pipe_event(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void)p;
    (void)arg;
    pthread_mutex_lock(&lock);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        pipes_opened++;
        pipes_open++;
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        pipes_open--;
    }
    pthread_mutex_unlock(&lock);
}

static nng_msg *edge_stats(void)
{
    cJSON *o = cJSON_CreateObject();

    pthread_mutex_lock(&lock);
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    cJSON_AddNumberToObject(o, "pipes_opened", pipes_opened);
    cJSON_AddNumberToObject(o, "pipes_open", pipes_open);
    cJSON_AddNumberToObject(o, "resolve_calls", resolve_calls);
    cJSON_AddItemToObject(o, "resolve_by_slug",
                          cJSON_Duplicate(resolve_by_slug, 1));
    cJSON_AddNumberToObject(o, "jwks_calls", jwks_calls);
    cJSON_AddNumberToObject(o, "edge_calls", edge_calls);
    pthread_mutex_unlock(&lock);
    return json_response(200, o);
}

static nng_msg *handle(nng_msg *in, int *delay)
{
    Lintel__V1__Request *req;
    nng_msg *out;
    const char *p;

    *delay = 0;
    req = lintel__v1__request__unpack(NULL, nng_msg_len(in), nng_msg_body(in));
    if (req == NULL)
        return error_response(400, "bad_envelope");

    p = req->path;
    /* make bench's route: the least a service can do, no lock, no syscall */
    if (strlen(p) >= 6 && strcmp(p + strlen(p) - 6, "/bench") == 0 &&
        req->origin == LINTEL__V1__ORIGIN__ORIGIN_EDGE) {
        lintel__v1__request__free_unpacked(req, NULL);
        return pack_response(200, "application/json", NULL, 0, "{\"ok\":true}",
                             11);
    }

    pthread_mutex_lock(&lock);
    reload_config();
    if (req->origin != LINTEL__V1__ORIGIN__ORIGIN_INTERNAL)
        edge_calls++;
    if (call_log >= 0 && req->origin == LINTEL__V1__ORIGIN__ORIGIN_EDGE) {
        char line[160];
        int n = snprintf(line, sizeof(line), "%ld %.16s %.64s\n",
                         (long)getpid(), req->method, req->request_id);
        if (write(call_log, line, (size_t)n) != n)
            fprintf(stderr, "lintel-test-service: call log write failed\n");
    }
    pthread_mutex_unlock(&lock);

    /* the gateway tests mount the same routes under /open/ (lintel_auth off) */
    if (strncmp(p, "/open/", 6) == 0)
        p += 5;
    else if (strncmp(p, "/limited/", 9) == 0)
        p += 8;
    if (strncmp(p, "/rpc/", 5) == 0) {
        if (req->origin != LINTEL__V1__ORIGIN__ORIGIN_INTERNAL ||
            strcmp(req->method, "RPC") != 0)
            out = error_response(404, "not_found");
        else if (strcmp(p, "/rpc/users.ResolveTenant") == 0)
            out = rpc_resolve(req, delay);
        else if (strcmp(p, "/rpc/users.GetJwks") == 0)
            out = rpc_jwks();
        else
            out = error_response(404, "not_found");
    } else if (strncmp(p, "/echo", 5) == 0) {
        out = edge_echo(req);
    } else if (strncmp(p, "/delay/", 7) == 0) {
        *delay = atoi(p + 7);
        out = json_response(200, cJSON_CreateObject());
    } else if (strcmp(p, "/garbage") == 0) {
        nng_msg_alloc(&out, 0);
        nng_msg_append(out, "\xff\xff\xff\xff\x0f", 5);
    } else if (strncmp(p, "/status/", 8) == 0) {
        out = edge_status((unsigned)atoi(p + 8));
    } else if (strcmp(p, "/stats") == 0) {
        out = edge_stats();
    } else if (strstr(p, "/big/") != NULL) {
        /* also under the bench's /api/projects/ */
        out = edge_big(strtoul(strstr(p, "/big/") + 5, NULL, 10));
    } else if (strncmp(p, "/parts/", 7) == 0) {
        out = edge_parts(req, p + 7, delay);
    } else if (strncmp(p, "/raw/", 5) == 0) {
        out = edge_raw(p + 5);
    } else {
        out = error_response(404, "not_found");
    }
    lintel__v1__request__free_unpacked(req, NULL);
    return out;
}

static void worker_cb(void *arg)
{
    worker *w = arg;
    int rv, delay;
    nng_msg *in;

    switch (w->state) {
    case ST_RECV:
        if ((rv = nng_aio_result(w->aio)) != 0) {
            if (rv == NNG_ECLOSED)
                return;
            nng_ctx_recv(w->ctx, w->aio);
            return;
        }
        in = nng_aio_get_msg(w->aio);
        w->reply = handle(in, &delay);
        nng_msg_free(in);
        if (w->reply == NULL) {
            nng_ctx_recv(w->ctx, w->aio);
            return;
        }
        if (delay > 0) {
            /* never sleep in a callback: let NNG's timer call back instead
             * (and only when needed: each timed aio wakes NNG's expire
             * thread, which then dominates a benchmark) */
            w->state = ST_WAIT;
            nng_sleep_aio(delay, w->aio);
            return;
        }
        /* fall through */
    case ST_WAIT:
        nng_aio_set_msg(w->aio, w->reply);
        w->reply = NULL;
        w->state = ST_SEND;
        nng_ctx_send(w->ctx, w->aio);
        return;
    case ST_SEND:
        if (nng_aio_result(w->aio) != 0)
            nng_msg_free(nng_aio_get_msg(w->aio));
        w->state = ST_RECV;
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    int workers = 32, i, rv, sig;
    size_t max_recv = MAX_MSG;
    nng_socket sock;
    worker *ws;
    sigset_t set;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            url = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[++i];
        else if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc)
            workers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--max-recv") == 0 && i + 1 < argc)
            max_recv = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(atoi(argv[++i]), &set);
            /* before NNG starts its threads: they inherit it */
            if (sched_setaffinity(0, sizeof(set), &set) != 0) {
                perror("lintel-test-service: --cpu");
                return 2;
            }
        }
        else if (strcmp(argv[i], "--call-log") == 0 && i + 1 < argc) {
            call_log = open(argv[++i], O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (call_log < 0) {
                perror("lintel-test-service: --call-log");
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: %s --listen URL --config FILE [--workers N] "
                    "[--max-recv BYTES] [--call-log FILE] [--cpu N]\n",
                    argv[0]);
            return 2;
        }
    }
    if (url == NULL || config_path == NULL || workers < 1) {
        fprintf(stderr, "usage: %s --listen URL --config FILE [--workers N]\n",
                argv[0]);
        return 2;
    }

    resolve_by_slug = cJSON_CreateObject();
    reload_config();
    if (config == NULL) {
        fprintf(stderr, "lintel-test-service: cannot read %s\n", config_path);
        return 1;
    }

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if ((rv = nng_rep0_open(&sock)) != 0)
        fatal("nng_rep0_open", rv);
    nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, max_recv);
    nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, pipe_event, NULL);
    nng_pipe_notify(sock, NNG_PIPE_EV_REM_POST, pipe_event, NULL);
    ws = calloc(workers, sizeof(worker));
    for (i = 0; i < workers; i++) {
        if ((rv = nng_aio_alloc(&ws[i].aio, worker_cb, &ws[i])) != 0)
            fatal("nng_aio_alloc", rv);
        if ((rv = nng_ctx_open(&ws[i].ctx, sock)) != 0)
            fatal("nng_ctx_open", rv);
    }
    if ((rv = nng_listen(sock, url, NULL, 0)) != 0)
        fatal("nng_listen", rv);
    for (i = 0; i < workers; i++) {
        ws[i].state = ST_RECV;
        nng_ctx_recv(ws[i].ctx, ws[i].aio);
    }
    fprintf(stderr, "lintel-test-service: listening on %s\n", url);

    sigwait(&set, &sig);
    nng_close(sock);
    for (i = 0; i < workers; i++)
        nng_aio_free(ws[i].aio);
    free(ws);
    cJSON_Delete(config);
    cJSON_Delete(resolve_by_slug);
    return 0;
}
