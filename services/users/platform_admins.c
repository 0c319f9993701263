/*
 * platform_admins.c: `lintel-users create-platform-admin`, how the first
 * platform admin comes to exist (there is no route to create one: a
 * platform admin is made by whoever runs the service, not over the API).
 * Idempotent: an existing address is left as it is.
 *
 *   LINTEL_ADMIN_EMAIL=… LINTEL_ADMIN_PASSWORD=… lintel-users
 * create-platform-admin
 */
#include <stdio.h>
#include <string.h>

#include "lc_clock.h"
#include "lc_config.h"
#include "users.h"

static const lc_db_stmt platform_admin_insert = {
    "INSERT INTO users.platform_admins (email, name, password_hash)"
    " VALUES ($1, $2, $3) ON CONFLICT (lower(email)) DO NOTHING RETURNING id",
    3};

typedef struct {
    lc_req_fail fail;
    const char *email, *name, *hash;
    int created;
} platform_admin_ctx;

static int
platform_admin_tx(lc_db *db, void *arg, lc_db_error *err)
{
    platform_admin_ctx *c = arg;
    const char *params[3] = {c->email, c->name, c->hash};

    c->created =
        lc_db_value(db, &platform_admin_insert, params, NULL, 0, err);
    return c->created < 0 ? -1 : 0;
}

int
platform_admin_command(void)
{
    static const char *db_url, *email, *password, *name;
    static const lc_config_var vars[] = {
        {"LINTEL_DB_URL", "postgresql://lintel_users@127.0.0.1:55432/lintel",
         LC_CFG_STRING, 0, 0, "PostgreSQL connection string", &db_url},
        {"LINTEL_ADMIN_EMAIL", NULL, LC_CFG_STRING, 0, 0,
         "the platform admin's email", &email},
        {"LINTEL_ADMIN_PASSWORD", NULL, LC_CFG_STRING, 0, 0,
         "the platform admin's password", &password},
        {"LINTEL_ADMIN_NAME", "Platform admin", LC_CFG_STRING, 0, 0,
         "the platform admin's name", &name},
    };
    lc_db_options opts = {0};
    platform_admin_ctx c = {0};
    char hash[LC_PASSWORD_HASH_MAX];
    lc_db_error err;
    lc_db *db;
    int rc;

    lc_config_load_or_exit("lintel-users create-platform-admin", vars,
                           sizeof(vars) / sizeof(vars[0]));
    if (!lc_body_email_valid(email)) {
        fprintf(stderr, "lintel-users: LINTEL_ADMIN_EMAIL: not an email\n");
        return 2;
    }
    if (lc_password_check(password, strlen(password)) != LC_PASSWORD_OK) {
        fprintf(stderr,
                "lintel-users: LINTEL_ADMIN_PASSWORD: must be %d to "
                "%d characters\n",
                LC_PASSWORD_MIN_CHARS, LC_PASSWORD_MAX_CHARS);
        return 2;
    }
    if (lc_password_hash(NULL, password, hash, sizeof(hash)) != 0) {
        fprintf(stderr, "lintel-users: cannot hash the password\n");
        return 1;
    }
    opts.conninfo = db_url;
    opts.application = "lintel-users-admin";
    db = lc_db_open(&opts);
    c.email = email;
    c.name = name;
    c.hash = hash;
    rc = db ? lc_db_tenant_tx(db, NULL, lc_clock_mono_ms() + 10000,
                              platform_admin_tx, &c, &err)
            : -1;
    lc_db_close(db);
    if (rc != 0) {
        fprintf(stderr, "lintel-users: create-platform-admin: %s\n",
                db ? err.message : "out of memory");
        return 1;
    }
    printf("platform admin %s %s\n", email,
           c.created ? "created" : "already exists");
    return 0;
}
