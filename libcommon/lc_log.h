/*
 * lc_log: structured logs, one JSON object per line on stderr.
 *
 *   {"level":"info","time":"2026-11-21T21:20:40.123Z","service":"users",
 *    "request_id":"…","tenant":"…","message":"…"}
 *
 * request_id and tenant are omitted when NULL. Each line is written with a
 * single write(2), so lines from concurrent threads never interleave.
 */
#ifndef LC_LOG_H
#define LC_LOG_H

#include <stdarg.h>

typedef enum {
    LC_LOG_DEBUG,
    LC_LOG_INFO,
    LC_LOG_WARN,
    LC_LOG_ERROR,
} lc_log_level;

/* Sets the service name and the minimum level; call once at start-up. */
void lc_log_init(const char *service, lc_log_level min_level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int lc_log_level_parse(const char *text, lc_log_level *out);

/* Redirects output to `fd` (default 2); for tests. */
void lc_log_set_fd(int fd);

void lc_log(lc_log_level level, const char *request_id, const char *tenant,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

void lc_logv(lc_log_level level, const char *request_id, const char *tenant,
             const char *fmt, va_list ap);

/* The one line per request and hop (DESIGN §10). */
typedef struct {
    const char *request_id; /* NULL: omitted */
    const char *tenant;     /* NULL: omitted */
    const char *user;       /* NULL: omitted */
    const char *method;
    const char *path;
    const char *route; /* the route pattern, or "unmatched" */
    int status;
    double duration_ms;
} lc_log_request_info;

/*
 *   {…,"request_id","tenant","user","method","path","route",
 *    "status":200,"duration_ms":1.234,"message":"GET /x -> 200"}
 */
void lc_log_request(lc_log_level level, const lc_log_request_info *req);

#define lc_log_info(...) lc_log(LC_LOG_INFO, NULL, NULL, __VA_ARGS__)
#define lc_log_warn(...) lc_log(LC_LOG_WARN, NULL, NULL, __VA_ARGS__)
#define lc_log_error(...) lc_log(LC_LOG_ERROR, NULL, NULL, __VA_ARGS__)

#endif
