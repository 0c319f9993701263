/*
 * lc_router: method + path-pattern routing for a service's envelope handler.
 *
 * Patterns are absolute paths whose segments are literals or `:name`
 * parameters: "/api/projects/:id/tasks". A path matches a pattern when it
 * has the same number of segments and every literal is equal; literals win
 * over parameters when two patterns match. A path that matches some pattern
 * but not with this method is a 405, and the caller gets the Allow list.
 */
#ifndef LC_ROUTER_H
#define LC_ROUTER_H

#include <stddef.h>

#define LC_ROUTER_MAX_PARAMS 8
#define LC_ROUTER_MAX_PATH 2048

typedef struct lc_router lc_router;

typedef struct {
    const char *method;  /* "GET", "POST", ..., or "RPC" */
    const char *pattern; /* "/api/projects/:id" */
    const void *data;    /* the caller's handler */
    const char *name;    /* "GET /api/projects/:id": a metrics label */
} lc_route;

typedef struct {
    const lc_route *route;
    int nparams;
    const char *names[LC_ROUTER_MAX_PARAMS];
    const char *values[LC_ROUTER_MAX_PARAMS]; /* point into `buf` */
    char buf[LC_ROUTER_MAX_PATH + 1];
} lc_route_match;

lc_router *lc_router_new(void);
void lc_router_free(lc_router *r);

/* 0, or -1 for an invalid pattern, a duplicate, or out of memory. */
int lc_router_add(lc_router *r, const char *method, const char *pattern,
                  const void *data);

/*
 * Finds the route for `method` and `path` (no query string). Returns 200
 * with `m` filled, 404 when no pattern matches the path, or 405 with the
 * allowed methods, comma-separated, in `allow`.
 */
int lc_router_match(const lc_router *r, const char *method, const char *path,
                    lc_route_match *m, char *allow, size_t allowlen);

/* Calls `fn` for every route, in the order they were added. */
void lc_router_each(const lc_router *r,
                    void (*fn)(const lc_route *route, void *arg), void *arg);

/* The value of parameter `name` in a match, or NULL. */
const char *lc_route_param(const lc_route_match *m, const char *name);

#endif
