/*
 * lc_migrate: applies a service's SQL migrations (DESIGN §6).
 *
 * Files are `<dir>/NNNN_name.sql`, applied in order of NNNN, each in its own
 * transaction, recorded with its SHA-256 in `<schema>.schema_migrations`.
 * A session advisory lock serialises concurrent runs (two replicas starting
 * at once). A file already applied whose content has changed is refused:
 * history is fixed once it ran anywhere; a change is a new migration.
 */
#ifndef LC_MIGRATE_H
#define LC_MIGRATE_H

#include <stddef.h>

/*
 * Connects with `conninfo` (the migration owner role), migrates `schema`
 * from the files in `dir`, and returns the number of migrations applied, or
 * -1 with a one-line reason in `err`.
 */
int lc_migrate_run(const char *conninfo, const char *schema, const char *dir,
                   char *err, size_t errlen);

#endif
