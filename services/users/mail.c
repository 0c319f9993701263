/*
 * mail.c: the outbox and its sender (DESIGN §8: jobs survive a crash).
 *
 * A handler queues a message in the same transaction as the change that
 * causes it (users.mail_outbox under RLS, plus an ids-only row in
 * users.mail_queue, see 0002_accounts.sql). One sender thread per process,
 * with its own database connection, claims due rows (moving their next
 * attempt a lease ahead, so that another replica skips them), reads each
 * message in a transaction of its tenant, delivers it over SMTP with
 * libcurl, and records the outcome: sent; or retried with exponential
 * back-off; or, after LINTEL_MAIL_MAX_ATTEMPTS, given up. A crash between
 * delivery and the record sends the message again: at least once.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lc_clock.h"
#include "lc_log.h"
#include "users.h"

#define MAIL_BATCH "10"
#define MAIL_LEASE_S "120"
#define MAIL_BACKOFF_CAP_S 600
#define MAIL_TX_BUDGET_MS 5000

struct users_mail {
    users_app *app;
    lc_db *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, wake, started;
};

static const lc_db_stmt mail_insert = {
    "INSERT INTO users.mail_outbox (tenant_id, to_addr, subject, body)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1, $2, $3)"
    " RETURNING id",
    3};

static const lc_db_stmt mail_queue_insert = {
    "INSERT INTO users.mail_queue (tenant_id, outbox_id)"
    " VALUES (current_setting('app.tenant_id')::uuid, $1)",
    1};

/* SKIP LOCKED and the lease: replicas never claim the same row at once. */
static const lc_db_stmt mail_claim = {
    "UPDATE users.mail_queue q"
    " SET next_attempt_at = now() + make_interval(secs => " MAIL_LEASE_S ")"
    " FROM (SELECT tenant_id, outbox_id FROM users.mail_queue"
    "       WHERE next_attempt_at <= now() ORDER BY next_attempt_at"
    "       LIMIT " MAIL_BATCH " FOR UPDATE SKIP LOCKED) due"
    " WHERE q.tenant_id = due.tenant_id AND q.outbox_id = due.outbox_id"
    " RETURNING q.tenant_id, q.outbox_id",
    0};

static const lc_db_stmt mail_read = {
    "SELECT to_addr, subject, body, attempts FROM users.mail_outbox"
    " WHERE id = $1 AND sent_at IS NULL AND failed_at IS NULL",
    1};

static const lc_db_stmt mail_sent = {
    "UPDATE users.mail_outbox SET sent_at = now(), attempts = attempts + 1,"
    " last_error = NULL WHERE id = $1",
    1};

static const lc_db_stmt mail_failed = {
    "UPDATE users.mail_outbox SET attempts = attempts + 1, last_error = $2,"
    " failed_at = CASE WHEN attempts + 1 >= $3::int THEN now() END"
    " WHERE id = $1 RETURNING failed_at IS NOT NULL, attempts",
    3};

static const lc_db_stmt mail_dequeue = {
    "DELETE FROM users.mail_queue WHERE tenant_id = $1 AND outbox_id = $2", 2};

static const lc_db_stmt mail_retry_later = {
    "UPDATE users.mail_queue"
    " SET next_attempt_at = now() + make_interval(secs => $3::int)"
    " WHERE tenant_id = $1 AND outbox_id = $2",
    3};

int
mail_enqueue(lc_db *db, const char *to, const char *subject, const char *body,
             lc_db_error *err)
{
    const char *params[3] = {to, subject, body};
    PGresult *res = lc_db_exec(db, &mail_insert, params, err);
    char id[37];

    if (res == NULL) {
        return -1;
    }
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    params[0] = id;
    res = lc_db_exec(db, &mail_queue_insert, params, err);
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

void
mail_wake(users_app *app)
{
    users_mail *m = app->mail;

    pthread_mutex_lock(&m->mu);
    m->wake = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
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

/* --- the sender thread -------------------------------------------------- */

typedef struct {
    lc_req_fail fail;
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

/* One statement in its own transaction; the result or NULL (logged). */
static PGresult *
mail_run(users_mail *m, const char *tenant_id, const lc_db_stmt *st,
         const char *const *params)
{
    mail_query_ctx c = {0};
    lc_db_error err;

    c.stmt = st;
    c.params = params;
    if (lc_db_tenant_tx(m->db, tenant_id,
                        lc_clock_mono_ms() + MAIL_TX_BUDGET_MS, mail_query_tx,
                        &c, &err) != 0) {
        lc_log(LC_LOG_WARN, NULL, tenant_id, "mail: database: %s", err.message);
        return NULL;
    }
    return c.res;
}

typedef struct {
    lc_req_fail fail;
    const char *tenant_id, *outbox_id;
    bool sent;
    const char *why;
    long max_attempts;
    bool gave_up;
    int attempts;
} mail_outcome_ctx;

static int
mail_outcome_tx(lc_db *db, void *arg, lc_db_error *err)
{
    mail_outcome_ctx *c = arg;
    char max[16], delay[16];
    const char *p1[3] = {c->outbox_id, c->why, max};
    const char *p2[3] = {c->tenant_id, c->outbox_id, delay};
    PGresult *res;
    long backoff;

    snprintf(max, sizeof(max), "%ld", c->max_attempts);
    res = lc_db_exec(db, c->sent ? &mail_sent : &mail_failed, p1, err);
    if (res == NULL) {
        return -1;
    }
    c->gave_up =
        !c->sent && PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    c->attempts =
        !c->sent && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 1)) : 0;
    PQclear(res);
    if (c->sent || c->gave_up) {
        res = lc_db_exec(db, &mail_dequeue, p2, err);
    } else {
        backoff = c->attempts >= 10 ? MAIL_BACKOFF_CAP_S : 1L << c->attempts;
        if (backoff > MAIL_BACKOFF_CAP_S) {
            backoff = MAIL_BACKOFF_CAP_S;
        }
        snprintf(delay, sizeof(delay), "%ld", backoff);
        res = lc_db_exec(db, &mail_retry_later, p2, err);
    }
    if (res == NULL) {
        return -1;
    }
    PQclear(res);
    return 0;
}

static void
mail_process(users_mail *m, const char *tenant_id, const char *outbox_id)
{
    const char *params[2] = {outbox_id, tenant_id};
    mail_outcome_ctx c = {0};
    char why[256] = "";
    lc_db_error err;
    PGresult *msg;

    msg = mail_run(m, tenant_id, &mail_read, params);
    if (msg == NULL) {
        return; /* the lease expires and it is tried again */
    }
    c.tenant_id = tenant_id;
    c.outbox_id = outbox_id;
    c.max_attempts = m->app->mail_max_attempts;
    if (PQntuples(msg) == 1) {
        c.sent =
            mail_deliver(m->app, PQgetvalue(msg, 0, 0), PQgetvalue(msg, 0, 1),
                         PQgetvalue(msg, 0, 2), why, sizeof(why)) == 0;
    } else {
        c.sent = true; /* already done: just drop the queue row */
    }
    PQclear(msg);
    c.why = why;
    if (lc_db_tenant_tx(m->db, tenant_id,
                        lc_clock_mono_ms() + MAIL_TX_BUDGET_MS, mail_outcome_tx,
                        &c, &err) != 0) {
        lc_log(LC_LOG_WARN, NULL, tenant_id, "mail %s: cannot record: %s",
               outbox_id, err.message);
        return;
    }
    if (c.gave_up) {
        lc_log(LC_LOG_ERROR, NULL, tenant_id,
               "mail %s: given up after %d attempts: %s", outbox_id, c.attempts,
               why);
    } else if (!c.sent) {
        lc_log(LC_LOG_WARN, NULL, tenant_id, "mail %s: attempt %d failed: %s",
               outbox_id, c.attempts, why);
    } else {
        lc_log(LC_LOG_INFO, NULL, tenant_id, "mail %s: delivered", outbox_id);
    }
}

static void *
mail_main(void *arg)
{
    users_mail *m = arg;
    struct timespec until;
    PGresult *due;
    int i, n;

    for (;;) {
        pthread_mutex_lock(&m->mu);
        if (m->stop) {
            pthread_mutex_unlock(&m->mu);
            break;
        }
        m->wake = false;
        pthread_mutex_unlock(&m->mu);

        due = mail_run(m, NULL, &mail_claim, NULL);
        n = due ? PQntuples(due) : 0;
        for (i = 0; i < n; i++) {
            mail_process(m, PQgetvalue(due, i, 0), PQgetvalue(due, i, 1));
        }
        PQclear(due);
        if (n > 0) {
            continue; /* there may be more */
        }

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += m->app->mail_poll_ms / 1000;
        until.tv_nsec += (m->app->mail_poll_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&m->mu);
        while (!m->stop && !m->wake &&
               pthread_cond_timedwait(&m->cv, &m->mu, &until) == 0) {
        }
        pthread_mutex_unlock(&m->mu);
    }
    return NULL;
}

int
mail_start(users_app *app, const lc_db_options *db)
{
    users_mail *m = calloc(1, sizeof(*m));
    lc_db_options opts = *db;

    if (m == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(m);
        return -1;
    }
    opts.application = "lintel-users-mail";
    m->app = app;
    m->db = lc_db_open(&opts);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    app->mail = m;
    if (m->db == NULL || pthread_create(&m->thread, NULL, mail_main, m) != 0) {
        mail_stop(app);
        return -1;
    }
    m->started = true;
    return 0;
}

void
mail_stop(users_app *app)
{
    users_mail *m = app->mail;

    if (m == NULL) {
        return;
    }
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stop = true;
        pthread_cond_signal(&m->cv);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    if (m->db != NULL) {
        lc_db_close(m->db);
    }
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m);
    app->mail = NULL;
    curl_global_cleanup();
}
