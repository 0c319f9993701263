/*
 * events.c: the users service's domain events on the kit's outbox
 * (lc_outbox, DESIGN §8): tenant.created, tenant.updated, member.invited,
 * member.joined, member.role_changed, member.removed and session.revoked,
 * for billing and the audit log. Each is appended in the transaction of
 * its change and announced after COMMIT; users.EventsSince serves them
 * with the shared lintel.v1 messages, the subject being the outbox's key.
 */
#include <stdio.h>
#include <stdlib.h>

#include "users.h"

/* Opened by lc_service before any worker runs (main.c's definition), and
 * read-only after: the transactions that append have only their
 * connection at hand. */
lc_outbox *users_outbox;

int
users_event_add(lc_db *db, const users_event *ev, cJSON *data, int64_t *seq,
                lc_db_error *err)
{
    char *json = data ? cJSON_PrintUnformatted(data) : NULL;
    const lc_outbox_event oe = {
        .tenant_id = ev->tenant_id,
        .type = ev->type,
        .keys = {ev->subject_id},
        .actor_id = ev->actor_id,
        .data_json = json,
    };
    int rv;

    cJSON_Delete(data);
    if (json == NULL) {
        lc_db_error_set(err, LC_DB_BUG, "out of memory");
        return -1;
    }
    rv = lc_outbox_append(db, users_outbox, &oe, seq, err);
    free(json);
    return rv;
}

void
users_events_announce(int64_t seq)
{
    lc_outbox_announce(users_outbox, seq);
}

static void
events_since_rpc(lc_req *req)
{
    lc_outbox_serve(req, users_outbox);
}

int
events_routes(lc_rpc_server *s)
{
    return lc_rpc_server_route(s, "RPC", "/rpc/users.EventsSince",
                               events_since_rpc);
}
