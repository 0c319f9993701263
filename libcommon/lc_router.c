/*
 * lc_router.c: a linear table of routes. Services have tens of routes, and
 * a scan of short strings costs less than the hash of one path.
 */
#include "lc_router.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LC_ROUTER_MAX_SEGMENTS 32

typedef struct {
    lc_route route;
    int nsegments;
    char *segments[LC_ROUTER_MAX_SEGMENTS];
    char *storage;
} lc_router_entry;

struct lc_router {
    lc_router_entry *entries;
    size_t n, cap;
};

lc_router *
lc_router_new(void)
{
    return calloc(1, sizeof(lc_router));
}

void
lc_router_free(lc_router *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->n; i++) {
        free(r->entries[i].storage);
        free((char *)r->entries[i].route.name);
    }
    free(r->entries);
    free(r);
}

/* Splits `path` in place at '/' into at most `max` segments; -1 when the
 * path is not absolute, has an empty segment or too many segments. The root
 * "/" has zero segments. */
static int
lc_router_split(char *path, char **segments, int max)
{
    int n = 0;
    char *p;

    if (path[0] != '/') {
        return -1;
    }
    p = path + 1;
    if (*p == '\0') {
        return 0;
    }
    for (;;) {
        char *slash = strchr(p, '/');

        if (n == max || p == slash || *p == '\0') {
            return -1;
        }
        segments[n++] = p;
        if (slash == NULL) {
            return n;
        }
        *slash = '\0';
        p = slash + 1;
    }
}

int
lc_router_add(lc_router *r, const char *method, const char *pattern,
              const void *data)
{
    lc_router_entry e = {0};
    size_t i, namelen;
    char *name;
    int k;

    e.storage = strdup(pattern);
    if (e.storage == NULL) {
        return -1;
    }
    e.nsegments =
        lc_router_split(e.storage, e.segments, LC_ROUTER_MAX_SEGMENTS);
    if (e.nsegments < 0) {
        free(e.storage);
        return -1;
    }
    for (k = 0; k < e.nsegments; k++) {
        if (e.segments[k][0] == ':' && e.segments[k][1] == '\0') {
            free(e.storage);
            return -1;
        }
    }
    for (i = 0; i < r->n; i++) {
        if (strcmp(r->entries[i].route.method, method) == 0 &&
            strcmp(r->entries[i].route.pattern, pattern) == 0) {
            free(e.storage);
            return -1;
        }
    }
    namelen = strlen(method) + 1 + strlen(pattern) + 1;
    name = malloc(namelen);
    if (name == NULL) {
        free(e.storage);
        return -1;
    }
    snprintf(name, namelen, "%s %s", method, pattern);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        lc_router_entry *grown = realloc(r->entries, cap * sizeof(*grown));

        if (grown == NULL) {
            free(name);
            free(e.storage);
            return -1;
        }
        r->entries = grown;
        r->cap = cap;
    }
    e.route.method = method;
    e.route.pattern = pattern;
    e.route.data = data;
    e.route.name = name;
    r->entries[r->n++] = e;
    return 0;
}

/* How specific a match of `e` against `segs` is: the number of literal
 * segments, or -1 for no match. */
static int
lc_router_score(const lc_router_entry *e, char **segs, int nsegs)
{
    int k, literals = 0;

    if (e->nsegments != nsegs) {
        return -1;
    }
    for (k = 0; k < nsegs; k++) {
        if (e->segments[k][0] == ':') {
            continue;
        }
        if (strcmp(e->segments[k], segs[k]) != 0) {
            return -1;
        }
        literals++;
    }
    return literals;
}

static void
lc_router_allow(char *allow, size_t allowlen, const char *method)
{
    size_t used = strlen(allow);

    if (strstr(allow, method) != NULL) {
        return;
    }
    snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", method);
}

int
lc_router_match(const lc_router *r, const char *method, const char *path,
                lc_route_match *m, char *allow, size_t allowlen)
{
    char *segs[LC_ROUTER_MAX_SEGMENTS];
    const lc_router_entry *best = NULL;
    bool path_known = false;
    int nsegs, best_score = -1, k;
    size_t i;

    if (allowlen > 0) {
        allow[0] = '\0';
    }
    memset(m, 0, offsetof(lc_route_match, buf));
    if (strlen(path) > LC_ROUTER_MAX_PATH) {
        return 404;
    }
    strcpy(m->buf, path);
    nsegs = lc_router_split(m->buf, segs, LC_ROUTER_MAX_SEGMENTS);
    if (nsegs < 0) {
        return 404;
    }
    for (i = 0; i < r->n; i++) {
        const lc_router_entry *e = &r->entries[i];
        int score = lc_router_score(e, segs, nsegs);

        if (score < 0) {
            continue;
        }
        path_known = true;
        if (allowlen > 0) {
            lc_router_allow(allow, allowlen, e->route.method);
        }
        if (strcmp(e->route.method, method) == 0 && score > best_score) {
            best = e;
            best_score = score;
        }
    }
    if (best == NULL) {
        return path_known ? 405 : 404;
    }
    m->route = &best->route;
    for (k = 0; k < nsegs; k++) {
        if (best->segments[k][0] == ':' && m->nparams < LC_ROUTER_MAX_PARAMS) {
            m->names[m->nparams] = best->segments[k] + 1;
            m->values[m->nparams] = segs[k];
            m->nparams++;
        }
    }
    return 200;
}

const char *
lc_route_param(const lc_route_match *m, const char *name)
{
    int i;

    for (i = 0; i < m->nparams; i++) {
        if (strcmp(m->names[i], name) == 0) {
            return m->values[i];
        }
    }
    return NULL;
}

void
lc_router_each(const lc_router *r, void (*fn)(const lc_route *route, void *arg),
               void *arg)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        fn(&r->entries[i].route, arg);
    }
}
