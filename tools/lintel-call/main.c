/*
 * lintel-call: send one envelope to a Lintel service and print the reply,
 * what grpcurl is to gRPC. Operators poke a service without the edge;
 * tests use it where Python has no NNG binding.
 *
 *   lintel-call tcp://127.0.0.1:7101 GET /api/users --tenant <uuid> ...
 *   lintel-call tcp://127.0.0.1:7101 --rpc users.ResolveTenant \
 *       --json '{"slug":"acme"}'
 *
 * The reply is printed as one JSON object: status, content_type, headers
 * and body (JSON bodies inline, protobuf replies of --rpc decoded to JSON,
 * anything else as a string). A tls+tcp:// URL is called with mutual TLS
 * (--cert/--key/--ca, or LINTEL_CALL_CERT, LINTEL_CALL_KEY, LINTEL_CALL_CA):
 * a service answers the operator's certificate on its operator listener
 * (README, "Internal calls"). Exit status: 0 a reply came, 2 usage,
 * 3 timeout, 4 no peer, 5 undecodable reply, 1 anything else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_json.h"
#include "lc_pbjson.h"
#include "lc_rpc_client.h"
#include "lintel/v1/projects.pb-c.h"
#include "lintel/v1/reporting.pb-c.h"
#include "lintel/v1/users.pb-c.h"

#define CALL_MAX_HEADERS 32

/* Every service whose RPCs --rpc can name, as "<service>.<Method>". */
static const ProtobufCServiceDescriptor *const call_services[] = {
    &lintel__v1__users__users__descriptor,
    &lintel__v1__projects__projects__descriptor,
    &lintel__v1__reporting__reporting__descriptor,
};

typedef struct {
    const char *url, *method, *path, *rpc, *json, *body_file, *raw_file;
    const char *tenant, *user, *role, *session, *request_id, *query;
    const char *origin, *client_ip, *cert, *key, *ca;
    long timeout_ms, budget_ms, raw_size;
    const char *headers[CALL_MAX_HEADERS];
    int nheaders;
} call_args;

static void
call_usage(void)
{
    fprintf(stderr,
            "usage: lintel-call URL METHOD PATH [options]\n"
            "       lintel-call URL --rpc SERVICE.METHOD [--json BODY]\n"
            "options:\n"
            "  --json BODY          request body (JSON; for --rpc, the "
            "request message as JSON)\n"
            "  --body-file FILE     request body from a file\n"
            "  --query STRING       query string, without '?'\n"
            "  --header 'NAME: VALUE'  (repeatable)\n"
            "  --tenant UUID[:SLUG] tenant of the request\n"
            "  --user UUID --role ROLE [--session UUID]  the principal\n"
            "  --origin edge|internal  (default: edge, internal with --rpc)\n"
            "  --client-ip IP       --request-id ID\n"
            "  --timeout MS         how long to wait for the reply (default "
            "5000)\n"
            "  --budget MS          the deadline sent in the envelope "
            "(default: --timeout)\n"
            "  --cert FILE --key FILE  the client certificate and key of a "
            "tls+tcp:// call\n"
            "                       (env LINTEL_CALL_CERT, LINTEL_CALL_KEY; "
            "none: no certificate)\n"
            "  --ca FILE            the CAs of the service's certificate (env "
            "LINTEL_CALL_CA)\n"
            "  --raw-file FILE      send FILE's bytes instead of an envelope\n"
            "  --raw-size N         send N bytes of junk instead of an "
            "envelope\n");
}

static int
call_parse(int argc, char **argv, call_args *a)
{
    int i, positional = 0;

    memset(a, 0, sizeof(*a));
    a->timeout_ms = 5000;
    a->cert = getenv("LINTEL_CALL_CERT");
    a->key = getenv("LINTEL_CALL_KEY");
    a->ca = getenv("LINTEL_CALL_CA");
    a->raw_size = -1;
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strncmp(arg, "--", 2) != 0) {
            const char **slots[] = {&a->url, &a->method, &a->path};

            if (positional == 3) {
                return -1;
            }
            *slots[positional++] = arg;
            continue;
        }
        if (val == NULL) {
            return -1;
        }
        i++;
        if (strcmp(arg, "--rpc") == 0) {
            a->rpc = val;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = val;
        } else if (strcmp(arg, "--body-file") == 0) {
            a->body_file = val;
        } else if (strcmp(arg, "--raw-file") == 0) {
            a->raw_file = val;
        } else if (strcmp(arg, "--raw-size") == 0) {
            a->raw_size = strtol(val, NULL, 10);
        } else if (strcmp(arg, "--query") == 0) {
            a->query = val;
        } else if (strcmp(arg, "--header") == 0) {
            if (a->nheaders == CALL_MAX_HEADERS) {
                return -1;
            }
            a->headers[a->nheaders++] = val;
        } else if (strcmp(arg, "--tenant") == 0) {
            a->tenant = val;
        } else if (strcmp(arg, "--user") == 0) {
            a->user = val;
        } else if (strcmp(arg, "--role") == 0) {
            a->role = val;
        } else if (strcmp(arg, "--session") == 0) {
            a->session = val;
        } else if (strcmp(arg, "--origin") == 0) {
            a->origin = val;
        } else if (strcmp(arg, "--client-ip") == 0) {
            a->client_ip = val;
        } else if (strcmp(arg, "--request-id") == 0) {
            a->request_id = val;
        } else if (strcmp(arg, "--timeout") == 0) {
            a->timeout_ms = strtol(val, NULL, 10);
        } else if (strcmp(arg, "--budget") == 0) {
            a->budget_ms = strtol(val, NULL, 10);
        } else if (strcmp(arg, "--cert") == 0) {
            a->cert = val;
        } else if (strcmp(arg, "--key") == 0) {
            a->key = val;
        } else if (strcmp(arg, "--ca") == 0) {
            a->ca = val;
        } else {
            return -1;
        }
    }
    if (a->url == NULL || a->timeout_ms <= 0) {
        return -1;
    }
    if (a->rpc == NULL && a->raw_file == NULL && a->raw_size < 0 &&
        (a->method == NULL || a->path == NULL)) {
        return -1;
    }
    return 0;
}

static char *
call_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;

    if (f == NULL) {
        return NULL;
    }
    do {
        if (n == cap) {
            char *grown = realloc(buf, cap ? cap * 2 : 65536);

            if (grown == NULL) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
            cap = cap ? cap * 2 : 65536;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return buf;
}

static const ProtobufCMethodDescriptor *
call_find_rpc(const char *name)
{
    const char *dot = strchr(name, '.');
    size_t i, m, svclen;

    if (dot == NULL) {
        return NULL;
    }
    svclen = (size_t)(dot - name);
    for (i = 0; i < sizeof(call_services) / sizeof(call_services[0]); i++) {
        const ProtobufCServiceDescriptor *s = call_services[i];

        if (strlen(s->short_name) != svclen ||
            strncasecmp(s->short_name, name, svclen) != 0) {
            continue;
        }
        for (m = 0; m < s->n_methods; m++) {
            if (strcmp(s->methods[m].name, dot + 1) == 0) {
                return &s->methods[m];
            }
        }
    }
    return NULL;
}

/* The body of the reply as JSON: decoded protobuf, parsed JSON, or text. */
static cJSON *
call_body_json(const lc_response *res, const ProtobufCMethodDescriptor *rpc)
{
    cJSON *body = NULL;

    if (rpc != NULL && res->status == 200) {
        ProtobufCMessage *msg = lc_envelope_unpack_message(
            rpc->output, res->body.data, res->body.len);

        if (msg != NULL) {
            body = lc_pbjson_to_json(msg);
            lc_envelope_free_message(msg);
            return body;
        }
    }
    if (res->body.len == 0) {
        return cJSON_CreateNull();
    }
    if (lc_json_parse((const char *)res->body.data, res->body.len, NULL, &body,
                      NULL) == LC_JSON_OK) {
        return body;
    }
    {
        char *text = strndup((const char *)res->body.data, res->body.len);

        body = cJSON_CreateString(text ? text : "");
        free(text);
    }
    return body;
}

static void
call_print(const lc_response *res, const ProtobufCMethodDescriptor *rpc)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *headers = cJSON_CreateObject();
    char *text;
    size_t i;

    cJSON_AddNumberToObject(out, "status", res->status);
    cJSON_AddStringToObject(out, "content_type", res->content_type);
    for (i = 0; i < res->n_headers; i++) {
        cJSON_AddStringToObject(headers, res->headers[i]->name,
                                res->headers[i]->value);
    }
    cJSON_AddItemToObject(out, "headers", headers);
    cJSON_AddItemToObject(out, "body", call_body_json(res, rpc));
    text = cJSON_PrintUnformatted(out);
    printf("%s\n", text ? text : "{}");
    free(text);
    cJSON_Delete(out);
}

/* Packs the RPC's request message from --json into the envelope body. */
static int
call_rpc_body(const call_args *a, const ProtobufCMethodDescriptor *rpc,
              ProtobufCBinaryData *body)
{
    ProtobufCMessage *msg;
    cJSON *json = NULL;
    char err[256];

    if (lc_json_parse(a->json ? a->json : "{}",
                      strlen(a->json ? a->json : "{}"), NULL, &json,
                      NULL) != LC_JSON_OK) {
        fprintf(stderr, "lintel-call: --json is not valid JSON\n");
        return -1;
    }
    msg = lc_pbjson_from_json(rpc->input, json, err, sizeof(err));
    cJSON_Delete(json);
    if (msg == NULL) {
        fprintf(stderr, "lintel-call: %s: %s\n", rpc->input->name, err);
        return -1;
    }
    body->len = protobuf_c_message_get_packed_size(msg);
    body->data = malloc(body->len ? body->len : 1);
    if (body->data != NULL) {
        protobuf_c_message_pack(msg, body->data);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    return body->data ? 0 : -1;
}

static int
call_exit_code(lc_rpc_status st)
{
    switch (st) {
    case LC_RPC_OK:
    case LC_RPC_ERROR:
        return 0;
    case LC_RPC_TIMEOUT:
        return 3;
    case LC_RPC_NO_PEER:
        return 4;
    case LC_RPC_BAD_REPLY:
        return 5;
    case LC_RPC_INTERNAL:
        break;
    }
    return 1;
}

int
main(int argc, char **argv)
{
    lc_request req = LINTEL__V1__REQUEST__INIT;
    Lintel__V1__Tenant tenant = LINTEL__V1__TENANT__INIT;
    Lintel__V1__Principal principal = LINTEL__V1__PRINCIPAL__INIT;
    Lintel__V1__Header hdrs[CALL_MAX_HEADERS + 1];
    Lintel__V1__Header *hptrs[CALL_MAX_HEADERS + 1];
    char hstore[CALL_MAX_HEADERS][512], tenant_id[64], path[160];
    const ProtobufCMethodDescriptor *rpc = NULL;
    lc_response *res = NULL;
    lc_rpc_client *client;
    lc_rpc_status st;
    call_args a;
    char err[256];
    char *raw = NULL;
    size_t raw_len = 0;
    int64_t deadline;
    int i;

    if (call_parse(argc, argv, &a) != 0) {
        call_usage();
        return 2;
    }
    if (strncmp(a.url, "tls+", 4) == 0 &&
        (a.ca == NULL ||
         lc_rpc_client_tls(a.cert != NULL && a.cert[0] ? a.cert : NULL,
                           a.key != NULL && a.key[0] ? a.key : NULL, a.ca, err,
                           sizeof(err)) != 0)) {
        fprintf(stderr, "lintel-call: %s\n",
                a.ca == NULL ? "a tls+tcp:// URL needs --ca" : err);
        return 2;
    }
    client = lc_rpc_client_open(a.url, 64 * 1024 * 1024, err, sizeof(err));
    if (client == NULL) {
        fprintf(stderr, "lintel-call: %s\n", err);
        return 2;
    }
    deadline = lc_clock_mono_ms() + a.timeout_ms;

    if (a.raw_file != NULL || a.raw_size >= 0) {
        if (a.raw_file != NULL) {
            raw = call_read_file(a.raw_file, &raw_len);
        } else {
            raw_len = (size_t)a.raw_size;
            raw = malloc(raw_len ? raw_len : 1);
            if (raw != NULL) {
                memset(raw, 0xA5, raw_len);
            }
        }
        if (raw == NULL) {
            fprintf(stderr, "lintel-call: cannot read the raw message\n");
            return 2;
        }
        st = lc_rpc_call_raw(client, raw, raw_len, deadline, &res);
        free(raw);
    } else {
        if (a.rpc != NULL) {
            rpc = call_find_rpc(a.rpc);
            if (rpc == NULL) {
                fprintf(stderr, "lintel-call: unknown RPC %s\n", a.rpc);
                return 2;
            }
            snprintf(path, sizeof(path), "/rpc/%s", a.rpc);
            req.method = "RPC";
            req.path = path;
            req.origin = LINTEL__V1__ORIGIN__ORIGIN_INTERNAL;
            if (call_rpc_body(&a, rpc, &req.body) != 0) {
                return 2;
            }
        } else {
            req.method = (char *)a.method;
            req.path = (char *)a.path;
            req.origin = LINTEL__V1__ORIGIN__ORIGIN_EDGE;
            if (a.body_file != NULL) {
                req.body.data =
                    (uint8_t *)call_read_file(a.body_file, &req.body.len);
                if (req.body.data == NULL) {
                    fprintf(stderr, "lintel-call: %s: %s\n", a.body_file,
                            strerror(errno));
                    return 2;
                }
            } else if (a.json != NULL) {
                req.body.data = (uint8_t *)strdup(a.json);
                req.body.len = strlen(a.json);
            }
        }
        if (a.origin != NULL) {
            req.origin = strcmp(a.origin, "internal") == 0
                             ? LINTEL__V1__ORIGIN__ORIGIN_INTERNAL
                             : LINTEL__V1__ORIGIN__ORIGIN_EDGE;
        }
        req.request_id = (char *)(a.request_id ? a.request_id : "lintel-call");
        req.query = (char *)(a.query ? a.query : "");
        req.client_ip = (char *)(a.client_ip ? a.client_ip : "");
        if (a.tenant != NULL) {
            const char *colon = strchr(a.tenant, ':');

            snprintf(tenant_id, sizeof(tenant_id), "%.*s",
                     colon ? (int)(colon - a.tenant) : (int)strlen(a.tenant),
                     a.tenant);
            tenant.id = tenant_id;
            tenant.slug = (char *)(colon ? colon + 1 : "");
            req.tenant = &tenant;
        }
        if (a.user != NULL) {
            principal.user_id = (char *)a.user;
            principal.role = (char *)(a.role ? a.role : "");
            principal.session_id = (char *)(a.session ? a.session : "");
            req.principal = &principal;
        }
        for (i = 0; i < a.nheaders; i++) {
            char *colon;

            snprintf(hstore[i], sizeof(hstore[i]), "%s", a.headers[i]);
            colon = strchr(hstore[i], ':');
            lintel__v1__header__init(&hdrs[i]);
            hdrs[i].name = hstore[i];
            hdrs[i].value = (char *)"";
            if (colon != NULL) {
                *colon = '\0';
                hdrs[i].value = colon + 1 + strspn(colon + 1, " ");
            }
            hptrs[i] = &hdrs[i];
        }
        req.n_headers = (size_t)a.nheaders;
        if (a.json != NULL && a.rpc == NULL && a.nheaders < CALL_MAX_HEADERS) {
            lintel__v1__header__init(&hdrs[a.nheaders]);
            hdrs[a.nheaders].name = "content-type";
            hdrs[a.nheaders].value = "application/json";
            hptrs[a.nheaders] = &hdrs[a.nheaders];
            req.n_headers++;
        }
        req.headers = hptrs;
        if (a.budget_ms > 0) {
            /* A budget of its own: sent as is, waited for up to --timeout. */
            size_t len;
            uint8_t *buf;

            req.timeout_ms = (uint32_t)a.budget_ms;
            req.sent_at_unix_ms = lc_clock_wall_ms();
            len = protobuf_c_message_get_packed_size(&req.base);
            buf = malloc(len ? len : 1);
            if (buf == NULL) {
                return 1;
            }
            protobuf_c_message_pack(&req.base, buf);
            st = lc_rpc_call_raw(client, buf, len, deadline, &res);
            free(buf);
        } else {
            st = lc_rpc_call(client, &req, deadline, &res);
        }
        free(req.body.data);
    }

    if (res != NULL) {
        call_print(res, rpc);
        lc_envelope_free_response(res);
    } else {
        fprintf(stderr, "lintel-call: %s: %s\n", a.url, lc_rpc_status_text(st));
    }
    lc_rpc_client_close(client);
    return call_exit_code(st);
}
