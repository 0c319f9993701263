/*
 * lc_page: the list grammar of API.md, shared by every service's lists.
 *
 *   ?limit=25&sort=-created_at&cursor=…&status=active
 *
 * `limit` is 1 to 100 (default 25); `sort` names one of the route's orders
 * (the first is the default; ties are broken by id); `cursor` is opaque to
 * clients: base64url of "<sort>|<key>|<id>" of the last row seen, so that a
 * cursor made in one order is never read as a key of another. Everything is
 * validated before any query runs; a bad value is a 400 validation_failed
 * naming the parameter.
 */
#ifndef LC_PAGE_H
#define LC_PAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "lc_rpc_server.h"

#define LC_PAGE_KEY_MAX 1024
#define LC_PAGE_MAX_ORDERS 32

/* One order of a list whose rows are built by SQL: its name and its two
 * keyset statements. Each returns up to limit + 1 rows whose column 0 is
 * the sort key (as text), column 1 the id, and some column the row's JSON
 * text; `after` takes the cursor's key and id as parameters. */
typedef struct {
    const char *name; /* "created_at", "-name", … */
    lc_db_stmt first; /* the first page in that order */
    lc_db_stmt after; /* the page after a cursor */
} lc_page_order;

typedef struct {
    int limit;             /* 1..100 */
    int sort;              /* index in the route's sort names; 0: default */
    const char *sort_name; /* that name ("" for a route without `sort`) */
    bool has_cursor;
    char after_key[LC_PAGE_KEY_MAX]; /* the sort key of the last row seen */
    char after_id[37];               /* its id */
    const lc_page_order *order;      /* lc_page_parse_orders: the chosen */
} lc_page;

/*
 * Reads limit, sort and cursor from the request's query. `allowed` lists
 * every parameter the route takes (NULL-terminated, "limit" and "cursor"
 * included); any other is a 400. `sorts` are the route's orders
 * (NULL-terminated), or NULL for a route with one implicit order and no
 * `sort` parameter. 0, or -1 with the 400 already set.
 */
int lc_page_parse(lc_req *req, const char *const *allowed,
                  const char *const *sorts, lc_page *p);

/* lc_page_parse with the route's orders (the first is the default), which
 * also picks the order's statements into p->order. */
int lc_page_parse_orders(lc_req *req, const char *const *allowed,
                         const lc_page_order *orders, size_t n, lc_page *p);

/* The statement of the page p names: its order's `after` when a cursor was
 * sent, else its `first`. */
const lc_db_stmt *lc_page_stmt(const lc_page *p);

/* Answers {"data":[…],"next_cursor":…} from the rows of lc_page_stmt (the
 * JSON text of column `json_col`, joined without parsing it again). */
void lc_page_respond_rows(lc_req *req, const lc_page *p, const PGresult *res,
                          int json_col);

/* A filter's decoded value into `out` (*value NULL when absent); 0, or -1
 * with a 400 set when it is malformed, repeated or too long. */
int lc_page_filter(lc_req *req, const char *name, char *out, size_t outlen,
                   const char **value);

/* The cursor that continues after the row (`key`, `id`) in the page's
 * order, into `out`; 0, or -1 when it does not fit. */
int lc_page_cursor(const lc_page *p, const char *key, const char *id, char *out,
                   size_t outlen);

/* {"data": data, "next_cursor": …}, taking ownership of `data`; the cursor
 * continues after (`last_key`, `last_id`) when `more`, else it is null. */
cJSON *lc_page_json(const lc_page *p, cJSON *data, const char *last_key,
                    const char *last_id, bool more);

#endif
