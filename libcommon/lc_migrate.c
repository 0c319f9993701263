/*
 * lc_migrate.c: reading migration files, checksums, and the apply loop.
 */
#include "lc_migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lc_log.h"

#define LC_MIGRATE_MAX_FILE (16 * 1024 * 1024)

typedef struct {
    int version;
    char name[256];
} lc_migration;

/* NNNN_name.sql with a lower-case name: anything else in the folder is
 * ignored, so an editor's backup file never runs. */
static bool
lc_migrate_parse_name(const char *file, int *version)
{
    size_t len = strlen(file), i;

    if (len < 10 || len >= 256 || strcmp(file + len - 4, ".sql") != 0 ||
        file[4] != '_') {
        return false;
    }
    for (i = 0; i < 4; i++) {
        if (!isdigit((unsigned char)file[i])) {
            return false;
        }
    }
    for (i = 5; i < len - 4; i++) {
        if (!islower((unsigned char)file[i]) &&
            !isdigit((unsigned char)file[i]) && file[i] != '_') {
            return false;
        }
    }
    *version = atoi(file);
    return *version > 0;
}

static int
lc_migrate_cmp(const void *a, const void *b)
{
    return ((const lc_migration *)a)->version -
           ((const lc_migration *)b)->version;
}

static int
lc_migrate_list(const char *dir, lc_migration **out, size_t *n, char *err,
                size_t errlen)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    lc_migration *list = NULL;
    size_t count = 0, cap = 0, i;
    int version;

    if (d == NULL) {
        snprintf(err, errlen, "cannot open migrations folder %s: %s", dir,
                 strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (!lc_migrate_parse_name(e->d_name, &version)) {
            continue;
        }
        if (count == cap) {
            lc_migration *grown;

            cap = cap ? cap * 2 : 16;
            grown = realloc(list, cap * sizeof(*list));
            if (grown == NULL) {
                free(list);
                closedir(d);
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            list = grown;
        }
        list[count].version = version;
        snprintf(list[count].name, sizeof(list[count].name), "%s", e->d_name);
        count++;
    }
    closedir(d);
    if (count > 0) {
        qsort(list, count, sizeof(*list), lc_migrate_cmp);
    }
    for (i = 1; i < count; i++) {
        if (list[i].version == list[i - 1].version) {
            snprintf(err, errlen, "%s and %s have the same number",
                     list[i - 1].name, list[i].name);
            free(list);
            return -1;
        }
    }
    *out = list;
    *n = count;
    return 0;
}

/* Reads a whole file as a NUL-terminated string and hashes it. */
static char *
lc_migrate_read(const char *path, char hex[65], char *err, size_t errlen)
{
    unsigned char digest[32];
    unsigned int dlen = 0;
    struct stat st;
    FILE *f;
    char *buf;
    int i;

    f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0 ||
        st.st_size > LC_MIGRATE_MAX_FILE) {
        snprintf(err, errlen, "cannot read %s: %s", path,
                 f ? "too large" : strerror(errno));
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL ||
        fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        snprintf(err, errlen, "cannot read %s", path);
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[st.st_size] = '\0';
    EVP_Digest(buf, (size_t)st.st_size, digest, &dlen, EVP_sha256(), NULL);
    for (i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }
    return buf;
}

static int
lc_migrate_exec(PGconn *conn, const char *sql, const char *what, char *err,
                size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);

    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s: %s", what, PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* Applies one file and records it, in one transaction. */
static int
lc_migrate_apply(PGconn *conn, const char *table, const lc_migration *m,
                 const char *sql, const char *sha, char *err, size_t errlen)
{
    char insert[512], version[16];
    const char *params[3] = {version, m->name, sha};
    PGresult *res;

    if (lc_migrate_exec(conn, "BEGIN", "BEGIN", err, errlen) != 0) {
        return -1;
    }
    if (lc_migrate_exec(conn, sql, m->name, err, errlen) != 0) {
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    snprintf(version, sizeof(version), "%d", m->version);
    snprintf(insert, sizeof(insert),
             "INSERT INTO %s (version, name, sha256) VALUES ($1, $2, $3)",
             table);
    res = PQexecParams(conn, insert, 3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "recording %s: %s", m->name,
                 PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    PQclear(res);
    return lc_migrate_exec(conn, "COMMIT", "COMMIT", err, errlen);
}

static int
lc_migrate_all(PGconn *conn, const char *schema, const char *dir, char *err,
               size_t errlen)
{
    char table[128], sql[512], path[4096], sha[65];
    lc_migration *files = NULL;
    PGresult *applied;
    size_t nfiles = 0, i;
    int done = 0, row, nrows;

    snprintf(table, sizeof(table), "%s.schema_migrations", schema);
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s ("
             " version integer PRIMARY KEY,"
             " name text NOT NULL,"
             " sha256 text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT now())",
             table);
    if (lc_migrate_exec(conn, "SET client_min_messages = warning", "settings",
                        err, errlen) != 0 ||
        lc_migrate_exec(conn, sql, table, err, errlen) != 0 ||
        lc_migrate_list(dir, &files, &nfiles, err, errlen) != 0) {
        return -1;
    }
    snprintf(sql, sizeof(sql), "SELECT version, name, sha256 FROM %s", table);
    applied = PQexec(conn, sql);
    if (PQresultStatus(applied) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "reading %s: %s", table, PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQclear(applied);
        free(files);
        return -1;
    }
    nrows = PQntuples(applied);
    for (i = 0; i < nfiles && done >= 0; i++) {
        const lc_migration *m = &files[i];
        const char *recorded = NULL;
        char *text;

        snprintf(path, sizeof(path), "%s/%s", dir, m->name);
        text = lc_migrate_read(path, sha, err, errlen);
        if (text == NULL) {
            done = -1;
            break;
        }
        for (row = 0; row < nrows; row++) {
            if (atoi(PQgetvalue(applied, row, 0)) == m->version) {
                recorded = PQgetvalue(applied, row, 2);
                break;
            }
        }
        if (recorded != NULL && strcmp(recorded, sha) != 0) {
            snprintf(err, errlen,
                     "%s was changed after it was applied (applied sha256 "
                     "%.12s…, file now %.12s…): never edit an applied "
                     "migration, add a new one",
                     path, recorded, sha);
            done = -1;
        } else if (recorded == NULL) {
            if (lc_migrate_apply(conn, table, m, text, sha, err, errlen) == 0) {
                lc_log(LC_LOG_INFO, NULL, NULL, "migrate: applied %s", path);
                done++;
            } else {
                done = -1;
            }
        }
        free(text);
    }
    PQclear(applied);
    free(files);
    return done;
}

static bool
lc_migrate_identifier(const char *s)
{
    size_t i;

    if (!islower((unsigned char)s[0]) || strlen(s) > 48) {
        return false;
    }
    for (i = 0; s[i]; i++) {
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) &&
            s[i] != '_') {
            return false;
        }
    }
    return true;
}

int
lc_migrate_run(const char *conninfo, const char *schema, const char *dir,
               char *err, size_t errlen)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name",
                          NULL};
    const char *vals[] = {conninfo, "5", "lintel-migrate", NULL};
    const char *params[1];
    char lockkey[96];
    PGconn *conn;
    PGresult *res;
    int done;

    if (!lc_migrate_identifier(schema)) {
        snprintf(err, errlen, "invalid schema name \"%s\"", schema);
        return -1;
    }
    conn = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(err, errlen, "connect: %s", PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQfinish(conn);
        return -1;
    }
    /* Released with the session, also when this process dies. */
    snprintf(lockkey, sizeof(lockkey), "lintel.migrate.%s", schema);
    params[0] = lockkey;
    res = PQexecParams(conn, "SELECT pg_advisory_lock(hashtextextended($1, 0))",
                       1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "advisory lock: %s", PQerrorMessage(conn));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        PQfinish(conn);
        return -1;
    }
    PQclear(res);
    done = lc_migrate_all(conn, schema, dir, err, errlen);
    PQfinish(conn);
    return done;
}
