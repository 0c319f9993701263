/*
 * lc_log.c: one JSON object per log line, built on the stack and written
 * with a single write(2).
 *
 * A line is at most LC_LOG_LINE_MAX bytes, newline included. Anything that
 * does not fit is cut at a character boundary (never inside an escape or a
 * UTF-8 sequence) and the line gains "truncated":true, so that a log
 * shipper always receives valid JSON. Strings are escaped here rather than
 * with cJSON so that logging allocates nothing; bytes that are not valid
 * UTF-8 become U+FFFD.
 */
#include "lc_log.h"

#include "lc_utf8.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LC_LOG_LINE_MAX 8192

/* Escaped bytes kept of the service name, request id and tenant: they are
 * short by nature, and the bound keeps room for the message. */
#define LC_LOG_FIELD_MAX 128

/* The longest ending a line can have. */
#define LC_LOG_TAIL_TRUNCATED "\",\"truncated\":true}\n"
#define LC_LOG_TAIL "\"}\n"

static const char *const lc_log_level_names[] = {"debug", "info", "warn",
                                                 "error"};

static char lc_log_service[LC_LOG_FIELD_MAX];
static atomic_int lc_log_min_level = LC_LOG_INFO;
static atomic_int lc_log_fd = 2;

/* write(2) is atomic only up to PIPE_BUF (4 KiB) on a pipe (and, on
 * Linux, whole on a regular file); longer lines take turns. A line of a
 * request must not queue threads behind another's system call. */
static pthread_mutex_t lc_log_write_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    char buf[LC_LOG_LINE_MAX];
    size_t len;
    bool truncated;
} lc_log_line;

void
lc_log_init(const char *service, lc_log_level min_level)
{
    snprintf(lc_log_service, sizeof(lc_log_service), "%s",
             service != NULL ? service : "");
    atomic_store(&lc_log_min_level, (int)min_level);
}

int
lc_log_level_parse(const char *text, lc_log_level *out)
{
    size_t k;

    if (text == NULL)
        return -1;
    /* Case-insensitive: LINTEL_LOG_LEVEL=INFO is a common spelling. */
    for (k = 0; k < sizeof(lc_log_level_names) / sizeof(*lc_log_level_names);
         k++) {
        if (strcasecmp(text, lc_log_level_names[k]) == 0) {
            *out = (lc_log_level)k;
            return 0;
        }
    }
    return -1;
}

void
lc_log_set_fd(int fd)
{
    atomic_store(&lc_log_fd, fd);
}

/* Appends a constant piece of the line; callers size pieces to fit. */
static void
lc_log_put(lc_log_line *l, const char *text)
{
    size_t n = strlen(text);

    memcpy(l->buf + l->len, text, n);
    l->len += n;
}

/*
 * Appends `text` escaped as the inside of a JSON string, using at most
 * `budget` bytes. Returns false when it had to stop early.
 */
static bool
lc_log_escape(lc_log_line *l, const char *text, size_t budget)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t limit = l->len + budget;
    char esc[8];

    while (*p != '\0') {
        const char *out = esc;
        size_t n, used = 1;

        switch (*p) {
        case '"':
            out = "\\\"";
            break;
        case '\\':
            out = "\\\\";
            break;
        case '\n':
            out = "\\n";
            break;
        case '\r':
            out = "\\r";
            break;
        case '\t':
            out = "\\t";
            break;
        default:
            if (*p < 0x20 || *p == 0x7F) {
                snprintf(esc, sizeof(esc), "\\u%04x", *p);
            } else if (*p < 0x80) {
                esc[0] = (char)*p;
                esc[1] = '\0';
            } else if ((used = lc_utf8_len(p, strnlen((const char *)p, 4))) >
                       0) {
                memcpy(esc, p, used);
                esc[used] = '\0';
            } else {
                out = "\xEF\xBF\xBD";
                used = 1;
            }
        }
        n = strlen(out);
        if (l->len + n > limit)
            return false;
        memcpy(l->buf + l->len, out, n);
        l->len += n;
        p += used;
    }
    return true;
}

static void
lc_log_put_field(lc_log_line *l, const char *key, const char *value)
{
    lc_log_put(l, "\",\"");
    lc_log_put(l, key);
    lc_log_put(l, "\":\"");
    if (!lc_log_escape(l, value, LC_LOG_FIELD_MAX))
        l->truncated = true;
}

/* RFC 3339 in UTC with milliseconds: 2026-11-21T21:20:40.123Z. */
static void
lc_log_put_time(lc_log_line *l)
{
    struct timespec ts;
    struct tm tm;
    char text[32];
    size_t n;
    long ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
    ms = ts.tv_nsec / 1000000;
    text[n++] = '.';
    text[n++] = (char)('0' + ms / 100);
    text[n++] = (char)('0' + ms / 10 % 10);
    text[n++] = (char)('0' + ms % 10);
    text[n++] = 'Z';
    text[n] = '\0';
    lc_log_put(l, text);
}

static void
lc_log_write(const char *buf, size_t len)
{
    int fd = atomic_load(&lc_log_fd);
    ssize_t n;

    bool whole = len <= PIPE_BUF;

    if (!whole)
        pthread_mutex_lock(&lc_log_write_lock);
    while (len > 0) {
        n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break; /* Nowhere left to report a failing log. */
        }
        buf += n;
        len -= (size_t)n;
    }
    if (!whole)
        pthread_mutex_unlock(&lc_log_write_lock);
}

/* Builds and writes one line; `req` adds the per-request fields. */
static void
lc_log_emit(lc_log_level level, const char *request_id, const char *tenant,
            const lc_log_request_info *req, const char *message, bool truncated)
{
    lc_log_line line;
    char number[96];

    line.len = 0;
    line.truncated = truncated;
    lc_log_put(&line, "{\"level\":\"");
    lc_log_put(&line, lc_log_level_names[level]);
    lc_log_put(&line, "\",\"time\":\"");
    lc_log_put_time(&line);
    lc_log_put_field(&line, "service", lc_log_service);
    if (request_id != NULL)
        lc_log_put_field(&line, "request_id", request_id);
    if (tenant != NULL)
        lc_log_put_field(&line, "tenant", tenant);
    if (req != NULL) {
        if (req->user != NULL)
            lc_log_put_field(&line, "user", req->user);
        lc_log_put_field(&line, "method", req->method ? req->method : "");
        lc_log_put_field(&line, "path", req->path ? req->path : "");
        lc_log_put_field(&line, "route", req->route ? req->route : "");
        snprintf(number, sizeof(number),
                 "\",\"status\":%d,\"duration_ms\":%.3f,\"message\":\"",
                 req->status, req->duration_ms);
        lc_log_put(&line, number);
    } else {
        lc_log_put(&line, "\",\"message\":\"");
    }
    if (!lc_log_escape(&line, message,
                       sizeof(line.buf) - line.len -
                           strlen(LC_LOG_TAIL_TRUNCATED)))
        line.truncated = true;
    lc_log_put(&line, line.truncated ? LC_LOG_TAIL_TRUNCATED : LC_LOG_TAIL);
    lc_log_write(line.buf, line.len);
}

void
lc_logv(lc_log_level level, const char *request_id, const char *tenant,
        const char *fmt, va_list ap)
{
    char message[LC_LOG_LINE_MAX];
    int saved_errno = errno;
    int n;

    if ((int)level < atomic_load(&lc_log_min_level))
        return;
    if (level > LC_LOG_ERROR)
        level = LC_LOG_ERROR;

    /* First, so that %m still sees the caller's errno. */
    n = vsnprintf(message, sizeof(message), fmt != NULL ? fmt : "", ap);
    if (n < 0)
        message[0] = '\0';
    lc_log_emit(level, request_id, tenant, NULL, message,
                n >= (int)sizeof(message));
    errno = saved_errno;
}

void
lc_log_request(lc_log_level level, const lc_log_request_info *req)
{
    char message[512];
    int saved_errno = errno;

    if ((int)level < atomic_load(&lc_log_min_level))
        return;
    if (level > LC_LOG_ERROR)
        level = LC_LOG_ERROR;
    snprintf(message, sizeof(message), "%s %s -> %d",
             req->method ? req->method : "?", req->path ? req->path : "?",
             req->status);
    lc_log_emit(level, req->request_id, req->tenant, req, message, false);
    errno = saved_errno;
}

void
lc_log(lc_log_level level, const char *request_id, const char *tenant,
       const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    lc_logv(level, request_id, tenant, fmt, ap);
    va_end(ap);
}
