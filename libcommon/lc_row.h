/*
 * lc_row: a result row as a JSON object, built in C from binary columns.
 *
 * A read whose answer is one row asks PostgreSQL for its columns in binary
 * (lc_db_stmt.binary) and writes the JSON here: PostgreSQL then neither
 * formats dates and times as text (to_char) nor builds JSON, which was
 * most of its work on GET /api/projects/:id beyond the index lookup. The
 * object's members come in the order of the column list; a SQL NULL is
 * null. Times are RFC 3339 UTC to the second ("2027-01-10T08:30:00Z"),
 * dates YYYY-MM-DD, as everywhere in the API.
 */
#ifndef LC_ROW_H
#define LC_ROW_H

#include <libpq-fe.h>
#include <stddef.h>

typedef enum {
    LC_ROW_TEXT,        /* text, varchar: a JSON string */
    LC_ROW_UUID,        /* uuid: a JSON string */
    LC_ROW_INT4,        /* integer: a JSON number */
    LC_ROW_INT8,        /* bigint: a JSON number */
    LC_ROW_NUMBER_TEXT, /* a number cast to text in SQL (numeric::text) */
    LC_ROW_DATE,        /* date: "YYYY-MM-DD" */
    LC_ROW_TIMESTAMPTZ, /* timestamptz: RFC 3339 UTC, whole seconds */
} lc_row_type;

typedef struct {
    const char *name; /* the member's name */
    int column;       /* the result column it comes from */
    lc_row_type type;
} lc_row_column;

/* The most bytes lc_row_json() may write for row `row` (NUL included). */
size_t lc_row_json_size(const PGresult *res, int row, const lc_row_column *cols,
                        size_t n);

/* Writes the object into `out` (room for lc_row_json_size bytes); returns
 * its length, or -1 for a column whose binary value is not of its type. */
long lc_row_json(const PGresult *res, int row, const lc_row_column *cols,
                 size_t n, char *out);

/* One binary column as text (a version for an ETag, an id): INT4, INT8 or
 * UUID into `out` (at least 40 bytes); -1 for anything else. */
int lc_row_text(const PGresult *res, int row, int column, lc_row_type type,
                char *out);

#endif
