/*
 * audit.c: the tenant's audit log (admin and up; platform admins read any
 * tenant's from the apex): every users and projects event the feed
 * applied, newest first by default, keyset-paged, filtered by actor, type,
 * entity and time. The log is append-only: the service's
 * role has no UPDATE or DELETE on reporting.audit (its migration).
 */
#include <stdio.h>
#include <string.h>

#include "reporting.h"

#define AUDIT_AT                                                               \
    "to_char(occurred_at AT TIME ZONE 'UTC', "                                 \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

#define AUDIT_JSON                                                             \
    "json_build_object('id', id, 'source', source, 'seq', seq, 'type', type,"  \
    " 'actor_id', actor_id, 'entity_type', entity_type,"                       \
    " 'entity_id', entity_id, 'occurred_at', " AUDIT_AT                        \
    ", 'data', data)::text"

/* $1 limit + 1, $2 actor, $3 type, $4 entity, $5 from, $6 to (NULL: any),
 * after a cursor $7 occurred_at, $8 id. The key carries microseconds, so
 * that it compares exactly. */
#define AUDIT_LIST(after)                                                      \
    "SELECT " AUDIT_AT " AS sort_key, id, " AUDIT_JSON " FROM reporting.audit" \
    " WHERE ($2::uuid IS NULL OR actor_id = $2::uuid)"                         \
    "   AND ($3::text IS NULL OR type = $3)"                                   \
    "   AND ($4::uuid IS NULL OR entity_id = $4::uuid)"                        \
    "   AND ($5::timestamptz IS NULL OR occurred_at >= $5::timestamptz)"       \
    "   AND ($6::timestamptz IS NULL OR occurred_at < $6::timestamptz)" after
/* clang-format off */
#define AUDIT_SORT(name, cmp, dir)                                             \
    {name,                                                                     \
     {AUDIT_LIST(" ORDER BY occurred_at " dir ", id " dir " LIMIT $1"), 6},    \
     {AUDIT_LIST(" AND (occurred_at, id) " cmp " ($7::timestamptz, $8::uuid)"  \
                 " ORDER BY occurred_at " dir ", id " dir " LIMIT $1"),        \
      8}}
/* clang-format on */

static const lc_page_order audit_sorts[] = {
    AUDIT_SORT("-occurred_at", "<", "DESC"),
    AUDIT_SORT("occurred_at", ">", "ASC"),
};

/* A time bound: an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SS[.ffffff]Z) or a
 * date (its midnight UTC). */
static bool
audit_time_valid(const char *s)
{
    size_t n = strlen(s), i;

    if (n == 10) {
        return lc_body_date_valid(s);
    }
    if (n < 20 || n > 27 || s[10] != 'T' || s[n - 1] != 'Z' || s[13] != ':' ||
        s[16] != ':') {
        return false;
    }
    {
        char date[11];

        memcpy(date, s, 10);
        date[10] = '\0';
        if (!lc_body_date_valid(date)) {
            return false;
        }
    }
    for (i = 11; i < 19; i++) {
        if (i != 13 && i != 16 && (s[i] < '0' || s[i] > '9')) {
            return false;
        }
    }
    if ((s[11] - '0') * 10 + (s[12] - '0') > 23 ||
        (s[14] - '0') * 10 + (s[15] - '0') > 59 ||
        (s[17] - '0') * 10 + (s[18] - '0') > 59) {
        return false;
    }
    if (n > 20 && s[19] != '.') {
        return false;
    }
    for (i = 20; i + 1 < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return n == 20 || n > 21;
}

typedef enum { AUDIT_UUID, AUDIT_TEXT, AUDIT_TIME } audit_filter_kind;

/* One filter into `out` (*value NULL when absent); 0, or -1 with the 400
 * naming it. */
static int
audit_filter(lc_req *req, const char *name, audit_filter_kind kind, char *out,
             size_t len, const char **value)
{
    bool ok = true;

    if (lc_page_filter(req, name, out, len, value) != 0) {
        return -1;
    }
    if (*value == NULL) {
        return 0;
    }
    switch (kind) {
    case AUDIT_UUID:
        ok = lc_db_is_uuid(*value);
        break;
    case AUDIT_TIME:
        ok = audit_time_valid(*value);
        break;
    case AUDIT_TEXT:
        ok = (*value)[0] != '\0';
        break;
    }
    if (!ok) {
        lc_body_field_error(req, name, "invalid_format",
                            kind == AUDIT_TIME
                                ? "a time is RFC 3339 UTC, or a date"
                                : "not a valid value");
        return -1;
    }
    return 0;
}

/* Whose log: the caller's tenant (admin and up) on a tenant's host; on the
 * apex, a platform admin's choice (`tenant_id`). 0 with *tenant_id set, or
 * -1 with the response set. */
static int
audit_tenant(lc_req *req, char *buf, size_t len, const char **tenant_id)
{
    lc_caller caller;

    if (lc_req_tenant_id(req) != NULL) {
        if (lc_caller_get(req, "admin", &caller) != 0) {
            return -1;
        }
        snprintf(buf, len, "%s", caller.tenant_id);
        *tenant_id = buf;
        return 0;
    }
    if (lc_caller_platform_admin(req) != 0 ||
        audit_filter(req, "tenant_id", AUDIT_UUID, buf, len, tenant_id) != 0) {
        return -1;
    }
    if (*tenant_id == NULL) {
        lc_body_field_error(req, "tenant_id", "required",
                            "on the apex, tenant_id names whose log");
        return -1;
    }
    return 0;
}

static void
audit_list(lc_req *req)
{
    static const char *const allowed[] = {"limit", "cursor", "sort",
                                          "actor", "type",   "entity",
                                          "from",  "to",     NULL};
    static const char *const allowed_apex[] = {
        "limit",  "cursor", "sort", "actor",     "type",
        "entity", "from",   "to",   "tenant_id", NULL};
    lc_page page;
    PGresult *res;
    char tenant[40], actor[40], type[101], entity[40], from[40], to[40],
        limit[16];
    const char *params[8], *tenant_id;

    if (audit_tenant(req, tenant, sizeof(tenant), &tenant_id) != 0 ||
        lc_page_parse_orders(
            req, lc_req_tenant_id(req) != NULL ? allowed : allowed_apex,
            audit_sorts, sizeof(audit_sorts) / sizeof(audit_sorts[0]),
            &page) != 0 ||
        audit_filter(req, "actor", AUDIT_UUID, actor, sizeof(actor),
                     &params[1]) != 0 ||
        audit_filter(req, "type", AUDIT_TEXT, type, sizeof(type), &params[2]) !=
            0 ||
        audit_filter(req, "entity", AUDIT_UUID, entity, sizeof(entity),
                     &params[3]) != 0 ||
        audit_filter(req, "from", AUDIT_TIME, from, sizeof(from), &params[4]) !=
            0 ||
        audit_filter(req, "to", AUDIT_TIME, to, sizeof(to), &params[5]) != 0) {
        return;
    }
    if (page.has_cursor && !audit_time_valid(page.after_key)) {
        lc_body_field_error(req, "cursor", "invalid_format",
                            "not a cursor of this list");
        return;
    }
    snprintf(limit, sizeof(limit), "%d", page.limit + 1);
    params[0] = limit;
    params[6] = page.after_key;
    params[7] = page.after_id;
    res = lc_req_read(req, tenant_id, lc_page_stmt(&page), params);
    if (res != NULL) {
        lc_page_respond_rows(req, &page, res, 2);
        PQclear(res);
    }
}

int
audit_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route(s, "GET", "/api/audit", audit_list);
}
