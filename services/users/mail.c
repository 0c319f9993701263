/*
 * mail.c: the outbox and its sender, a job of lc_jobs (DESIGN §8: jobs
 * survive a crash).
 *
 * A handler queues a message in the same transaction as the change that
 * causes it: the message in users.mail_outbox under RLS, and a "mail.send"
 * job naming it (0003_jobs.sql). The job runner leases the job, and the
 * handler below reads the message in a transaction of its tenant, delivers
 * it over SMTP with libcurl and marks it sent; a failed delivery is retried
 * by the runner with back-off, and after LINTEL_JOBS_MAX_ATTEMPTS the job
 * is dead (`lintel-users jobs list --status dead`, `jobs retry <id>`). A
 * crash between delivery and the record sends the message again: at least
 * once.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "users.h"

#define MAIL_JOB_KIND "mail.send"
#define MAIL_TX_BUDGET_MS 5000

static const lc_db_stmt mail_insert = {
    "INSERT INTO users.mail_outbox (tenant_id, to_addr, subject, body)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3)"
    " RETURNING tenant_id, json_build_object('outbox_id', id)::text",
    3};

static const lc_db_stmt mail_read = {
    "SELECT to_addr, subject, body FROM users.mail_outbox"
    " WHERE id = $1::uuid AND sent_at IS NULL",
    1};

static const lc_db_stmt mail_sent = {
    "UPDATE users.mail_outbox SET sent_at = now() WHERE id = $1::uuid", 1};

int
mail_enqueue(const users_app *app, lc_db *db, const char *to,
             const char *subject, const char *body, lc_db_error *err)
{
    const char *params[3] = {to, subject, body};
    PGresult *res = lc_db_exec(db, &mail_insert, params, err);
    lc_job_new job = {.kind = MAIL_JOB_KIND};
    int rc;

    if (res == NULL) {
        return -1;
    }
    job.tenant_id = PQgetvalue(res, 0, 0);
    job.payload = PQgetvalue(res, 0, 1);
    rc = lc_jobs_enqueue(app->jobs, db, &job, NULL, err);
    PQclear(res);
    return rc;
}

void
mail_wake(users_app *app)
{
    lc_jobs_wake(app->jobs);
}

int
mail_link(const users_app *app, const char *slug, const char *path,
          const char *token, char *out, size_t outlen)
{
    const char *mark = strstr(app->public_url, "{tenant}");
    int n;

    if (mark == NULL) {
        n = snprintf(out, outlen, "%s%s?token=%s", app->public_url, path,
                     token);
    } else {
        n = snprintf(out, outlen, "%.*s%s%s%s?token=%s",
                     (int)(mark - app->public_url), app->public_url, slug,
                     mark + strlen("{tenant}"), path, token);
    }
    return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* --- delivery ----------------------------------------------------------- */

typedef struct {
    const char *data;
    size_t len, off;
} mail_payload;

static size_t
mail_read_payload(char *buf, size_t size, size_t nmemb, void *arg)
{
    mail_payload *p = arg;
    size_t n = size * nmemb;

    if (n > p->len - p->off) {
        n = p->len - p->off;
    }
    memcpy(buf, p->data + p->off, n);
    p->off += n;
    return n;
}

/* Builds the RFC 5322 message with CRLF line ends; malloc'd. */
static char *
mail_message(const users_app *app, const char *to, const char *subject,
             const char *body, size_t *len)
{
    size_t cap = strlen(body) * 2 + strlen(subject) + 1024, o = 0, i;
    char *msg = malloc(cap), date[64], id[64];
    time_t now = time(NULL);
    struct tm tm;
    int n;

    if (msg == NULL) {
        return NULL;
    }
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    snprintf(id, sizeof(id), "%ld.%ld", (long)now, random());
    n = snprintf(msg, cap,
                 "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
                 "Message-ID: <%s@lintel>\r\nMIME-Version: 1.0\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\n",
                 date, app->mail_from, to, subject, id);
    o = (size_t)n;
    for (i = 0; body[i] != '\0' && o + 3 < cap; i++) {
        if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r')) {
            msg[o++] = '\r';
        }
        msg[o++] = body[i];
    }
    msg[o] = '\0';
    *len = o;
    return msg;
}

/* 0 when the relay accepted the message; else -1 with `why`. */
static int
mail_deliver(const users_app *app, const char *to, const char *subject,
             const char *body, char *why, size_t whylen)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *rcpt = NULL;
    mail_payload p = {0};
    char from[300], rcpt_to[300];
    char *msg;
    CURLcode rc;

    msg = mail_message(app, to, subject, body, &p.len);
    if (curl == NULL || msg == NULL) {
        snprintf(why, whylen, "out of memory");
        curl_easy_cleanup(curl);
        free(msg);
        return -1;
    }
    p.data = msg;
    snprintf(from, sizeof(from), "<%s>", app->mail_from);
    snprintf(rcpt_to, sizeof(rcpt_to), "<%s>", to);
    rcpt = curl_slist_append(rcpt, rcpt_to);
    curl_easy_setopt(curl, CURLOPT_URL, app->smtp_url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, mail_read_payload);
    curl_easy_setopt(curl, CURLOPT_READDATA, &p);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        snprintf(why, whylen, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    free(msg);
    return rc == CURLE_OK ? 0 : -1;
}

/* --- the job handler ---------------------------------------------------- */

typedef struct {
    const lc_db_stmt *stmt;
    const char *const *params;
    PGresult *res;
} mail_query_ctx;

static int
mail_query_tx(lc_db *db, void *arg, lc_db_error *err)
{
    mail_query_ctx *c = arg;

    PQclear(c->res);
    c->res = lc_db_exec(db, c->stmt, c->params, err);
    return c->res ? 0 : -1;
}

/* One statement in a transaction of the tenant; the result or NULL. */
static PGresult *
mail_run(lc_db *db, const char *tenant_id, const lc_db_stmt *st,
         const char *const *params, lc_db_error *err)
{
    mail_query_ctx c = {st, params, NULL};

    if (lc_db_tenant_tx(db, tenant_id, lc_clock_mono_ms() + MAIL_TX_BUDGET_MS,
                        mail_query_tx, &c, err) != 0) {
        PQclear(c.res);
        return NULL;
    }
    return c.res;
}

/* The outbox id of a job's payload, copied into `id`; -1 when absent. */
static int
mail_outbox_id(const char *payload, char *id, size_t idlen)
{
    cJSON *json = cJSON_Parse(payload);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(json, "outbox_id");
    int rc = -1;

    if (cJSON_IsString(v) && lc_db_is_uuid(v->valuestring)) {
        snprintf(id, idlen, "%s", v->valuestring);
        rc = 0;
    }
    cJSON_Delete(json);
    return rc;
}

static lc_job_outcome
mail_send_job(lc_db *db, const lc_job *job, void *arg, char *why, size_t whylen)
{
    const users_app *app = arg;
    char id[37];
    const char *params[1] = {id};
    lc_db_error err;
    PGresult *msg;
    int rc;

    if (job->tenant_id == NULL ||
        mail_outbox_id(job->payload, id, sizeof(id)) != 0) {
        snprintf(why, whylen, "payload names no outbox message of a tenant");
        return LC_JOB_DEAD;
    }
    msg = mail_run(db, job->tenant_id, &mail_read, params, &err);
    if (msg == NULL) {
        snprintf(why, whylen, "database: %s", err.message);
        return LC_JOB_RETRY;
    }
    if (PQntuples(msg) == 0) {
        PQclear(msg); /* already sent by an earlier attempt */
        return LC_JOB_DONE;
    }
    rc = mail_deliver(app, PQgetvalue(msg, 0, 0), PQgetvalue(msg, 0, 1),
                      PQgetvalue(msg, 0, 2), why, whylen);
    PQclear(msg);
    if (rc != 0) {
        return LC_JOB_RETRY;
    }
    msg = mail_run(db, job->tenant_id, &mail_sent, params, &err);
    if (msg == NULL) {
        /* Delivered, not recorded: the retry sends it again (at least
         * once), which beats a message never sent. */
        snprintf(why, whylen, "delivered, but not recorded: %s", err.message);
        return LC_JOB_RETRY;
    }
    PQclear(msg);
    return LC_JOB_DONE;
}

int
mail_start(users_app *app, const lc_db_options *db)
{
    app->jobs_options.schema = "users";
    app->jobs_options.db = *db;
    app->jobs_options.db.application = "lintel-users-jobs";
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return -1;
    }
    app->jobs = lc_jobs_new(&app->jobs_options);
    if (app->jobs == NULL ||
        lc_jobs_handle(app->jobs, MAIL_JOB_KIND, mail_send_job, app) != 0 ||
        lc_jobs_handle(app->jobs, "password_reset.request", password_reset_job,
                       app) != 0 ||
        lc_jobs_start(app->jobs) != 0) {
        lc_jobs_free(app->jobs);
        app->jobs = NULL;
        curl_global_cleanup();
        return -1;
    }
    return 0;
}

void
mail_stop(users_app *app)
{
    if (app->jobs == NULL) {
        return;
    }
    if (lc_jobs_stop(app->jobs) != 0) {
        return; /* a delivery still runs: libcurl stays up until exit */
    }
    lc_jobs_free(app->jobs);
    app->jobs = NULL;
    curl_global_cleanup();
}
