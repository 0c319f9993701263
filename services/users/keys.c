/*
 * keys.c: the RS256 signing keys. Every <kid>.pem of LINTEL_JWT_KEYS_DIR is
 * parsed once at start (DESIGN §13) and published by GetJwks and by
 * /.well-known/jwks.json; the newest (modification time, then name) signs.
 * Rotation is adding a newer file and restarting: tokens signed with the
 * older keys keep verifying as long as their files stay, so nobody is
 * logged out. A missing folder, no key, or a key that cannot be read stops
 * the service at start with a message naming the file.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lc_jwt.h"
#include "lc_log.h"
#include "lintel/v1/users.pb-c.h"
#include "users.h"

#define KEYS_MAX 32
#define KEYS_KID_MAX 64

typedef struct {
    char kid[KEYS_KID_MAX + 1];
    lc_jwt_key key;
    char *n, *e, *pem;
    struct timespec mtime;
} keys_entry;

struct users_keys {
    keys_entry k[KEYS_MAX];
    int count;
    int signer;       /* index of the newest key */
    char *jwks_json;  /* the RFC 7517 document, built once */
    uint8_t *jwks_pb; /* the GetJwks reply, packed once */
    size_t jwks_pb_len;
};

/* A kid goes into JSON and file names: keep it to a safe alphabet. */
static int
keys_kid_valid(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > KEYS_KID_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
              s[i] == '.')) {
            return 0;
        }
    }
    return 1;
}

static int
keys_newer(const keys_entry *a, const keys_entry *b)
{
    if (a->mtime.tv_sec != b->mtime.tv_sec) {
        return a->mtime.tv_sec > b->mtime.tv_sec;
    }
    if (a->mtime.tv_nsec != b->mtime.tv_nsec) {
        return a->mtime.tv_nsec > b->mtime.tv_nsec;
    }
    return strcmp(a->kid, b->kid) > 0;
}

static int
keys_publish(users_keys *ks)
{
    Lintel__V1__Users__GetJwksResponse res =
        LINTEL__V1__USERS__GET_JWKS_RESPONSE__INIT;
    Lintel__V1__Users__Jwk jwks[KEYS_MAX], *ptrs[KEYS_MAX];
    cJSON *doc = cJSON_CreateObject(), *arr, *o;
    int i;

    arr = cJSON_AddArrayToObject(doc, "keys");
    for (i = 0; i < ks->count; i++) {
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "kty", "RSA");
        cJSON_AddStringToObject(o, "alg", "RS256");
        cJSON_AddStringToObject(o, "use", "sig");
        cJSON_AddStringToObject(o, "kid", ks->k[i].kid);
        cJSON_AddStringToObject(o, "n", ks->k[i].n);
        cJSON_AddStringToObject(o, "e", ks->k[i].e);
        cJSON_AddItemToArray(arr, o);
        lintel__v1__users__jwk__init(&jwks[i]);
        jwks[i].kid = ks->k[i].kid;
        jwks[i].kty = "RSA";
        jwks[i].alg = "RS256";
        jwks[i].use = "sig";
        jwks[i].n = ks->k[i].n;
        jwks[i].e = ks->k[i].e;
        jwks[i].pem = ks->k[i].pem;
        ptrs[i] = &jwks[i];
    }
    ks->jwks_json = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    res.n_keys = (size_t)ks->count;
    res.keys = ptrs;
    ks->jwks_pb_len = protobuf_c_message_get_packed_size(&res.base);
    ks->jwks_pb = malloc(ks->jwks_pb_len);
    if (ks->jwks_json == NULL || ks->jwks_pb == NULL) {
        return -1;
    }
    protobuf_c_message_pack(&res.base, ks->jwks_pb);
    return 0;
}

int
keys_load(users_app *app)
{
    users_keys *ks = calloc(1, sizeof(*ks));
    const char *dir = app->jwt_keys_dir;
    char path[4096], err[512];
    struct dirent *de;
    struct stat st;
    size_t len;
    DIR *d;
    int i;

    if (ks == NULL) {
        return -1;
    }
    app->keys = ks;
    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr,
                "lintel-users: LINTEL_JWT_KEYS_DIR: cannot open %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        len = strlen(de->d_name);
        if (len < 5 || strcmp(de->d_name + len - 4, ".pem") != 0) {
            continue;
        }
        if (!keys_kid_valid(de->d_name, len - 4) || ks->count == KEYS_MAX) {
            fprintf(stderr,
                    "lintel-users: LINTEL_JWT_KEYS_DIR: %s: a key file is "
                    "<kid>.pem, kid of [A-Za-z0-9._-]{1,64}, at most %d\n",
                    de->d_name, KEYS_MAX);
            closedir(d);
            return -1;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        keys_entry *k = &ks->k[ks->count];
        if (lc_jwt_key_load(&k->key, path, err, sizeof(err)) != 0) {
            fprintf(stderr, "lintel-users: LINTEL_JWT_KEYS_DIR: %s\n", err);
            closedir(d);
            return -1;
        }
        if (stat(path, &st) != 0) {
            fprintf(stderr, "lintel-users: LINTEL_JWT_KEYS_DIR: %s: %s\n",
                    path, strerror(errno));
            lc_jwt_key_free(&k->key);
            closedir(d);
            return -1;
        }
        memcpy(k->kid, de->d_name, len - 4);
        k->kid[len - 4] = '\0';
        k->mtime = st.st_mtim;
        ks->count++;
        if (lc_jwt_public_parts(k->key.pkey, &k->n, &k->e, &k->pem) != 0) {
            fprintf(stderr, "lintel-users: %s: cannot export the public key\n",
                    path);
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    if (ks->count == 0) {
        fprintf(stderr,
                "lintel-users: LINTEL_JWT_KEYS_DIR: no <kid>.pem key in %s\n",
                dir);
        return -1;
    }
    for (i = 1; i < ks->count; i++) {
        if (keys_newer(&ks->k[i], &ks->k[ks->signer])) {
            ks->signer = i;
        }
    }
    if (keys_publish(ks) != 0) {
        fprintf(stderr, "lintel-users: out of memory\n");
        return -1;
    }
    lc_log_info("%d signing key(s) loaded; kid %s signs", ks->count,
                ks->k[ks->signer].kid);
    return 0;
}

void
keys_free(users_app *app)
{
    users_keys *ks = app->keys;
    int i;

    if (ks == NULL) {
        return;
    }
    for (i = 0; i < ks->count; i++) {
        lc_jwt_key_free(&ks->k[i].key);
        free(ks->k[i].n);
        free(ks->k[i].e);
        free(ks->k[i].pem);
    }
    free(ks->jwks_json);
    free(ks->jwks_pb);
    free(ks);
    app->keys = NULL;
}

char *
keys_sign_access(const users_app *app, const char *tenant_id,
                 const char *user_id, const char *role, const char *session_id,
                 const char *jti, long iat)
{
    const keys_entry *k = &app->keys->k[app->keys->signer];
    cJSON *c = cJSON_CreateObject();
    char *claims, *token;

    /* The claims of DESIGN §9, nothing the edge would not check. A
     * platform admin's token has no tid at all: the edge accepts a token
     * without tid only as a platform_admin's, and only on the apex host
     * (gateway-module/README.md), so no tenant can be named by mistake. */
    cJSON_AddStringToObject(c, "iss", app->jwt_issuer);
    cJSON_AddStringToObject(c, "aud", app->jwt_audience);
    cJSON_AddStringToObject(c, "sub", user_id);
    if (tenant_id[0] != '\0') {
        cJSON_AddStringToObject(c, "tid", tenant_id);
    }
    cJSON_AddStringToObject(c, "role", role);
    cJSON_AddStringToObject(c, "sid", session_id);
    cJSON_AddStringToObject(c, "jti", jti);
    cJSON_AddNumberToObject(c, "iat", (double)iat);
    cJSON_AddNumberToObject(c, "exp", (double)(iat + USERS_ACCESS_TTL_S));
    cJSON_AddStringToObject(c, "typ", "access");
    claims = cJSON_PrintUnformatted(c);
    cJSON_Delete(c);
    if (claims == NULL) {
        return NULL;
    }
    token = lc_jwt_sign_rs256(&k->key, k->kid, claims);
    free(claims);
    return token;
}

static void
keys_get_jwks(lc_req *req)
{
    users_app *app = lc_req_app(req);

    if (lc_req_pb(req, &lintel__v1__users__get_jwks_request__descriptor) ==
        NULL) {
        return;
    }
    lc_req_respond(req, 200, "application/x-protobuf", app->keys->jwks_pb,
                   app->keys->jwks_pb_len);
}

static void
keys_jwks_document(lc_req *req)
{
    users_app *app = lc_req_app(req);

    lc_req_respond(req, 200, "application/json", app->keys->jwks_json,
                   strlen(app->keys->jwks_json));
    lc_req_header(req, "cache-control", "public, max-age=300");
}

int
keys_routes(lc_rpc_server *s)
{
    static const lc_rpc_route routes[] = {
        {"RPC", "/rpc/users.GetJwks", keys_get_jwks},
        {"GET", "/.well-known/jwks.json", keys_jwks_document},
    };

    return lc_rpc_server_routes(s, routes, sizeof(routes) / sizeof(routes[0]));
}
