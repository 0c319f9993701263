/*
 * fields.c: what the routes' bodies and answers share: the roles a body
 * may name (bodies themselves are read with lc_body) and the one JSON shape
 * of a user the routes return.
 */
#include "users.h"

const char *const users_roles[] = {"owner",  "admin",  "manager",
                                   "member", "viewer", NULL};

cJSON *
users_user_json(const PGresult *res, int row, int col)
{
    static const char *const names[] = {
        "id", "email", "name", "role", "status", "created_at", "updated_at"};
    cJSON *o = cJSON_CreateObject();
    int i;

    for (i = 0; o != NULL && i < 7; i++) {
        cJSON_AddStringToObject(o, names[i], PQgetvalue(res, row, col + i));
    }
    return o;
}
