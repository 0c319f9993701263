/*
 * lc_row.c: JSON from binary result columns.
 */
#include "lc_row.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* PostgreSQL's epoch, 2000-01-01, in Unix seconds and in days. */
#define LC_ROW_PG_EPOCH_S 946684800LL
#define LC_ROW_PG_EPOCH_DAYS 10957

static uint32_t
lc_row_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static uint64_t
lc_row_be64(const unsigned char *p)
{
    return (uint64_t)lc_row_be32(p) << 32 | lc_row_be32(p + 4);
}

/* Days since 1970-01-01 as a civil date (H. Hinnant's algorithm). */
static void
lc_row_civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int64_t
lc_row_floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* A JSON string of `len` bytes of UTF-8 text. */
static size_t
lc_row_string(const char *s, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;
    unsigned char c;

    out[o++] = '"';
    for (i = 0; i < len; i++) {
        c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    return o;
}

static int
lc_row_uuid(const unsigned char *p, char *out)
{
    static const char hex[] = "0123456789abcdef";
    int i, o = 0;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[p[i] >> 4];
        out[o++] = hex[p[i] & 15];
    }
    out[o] = '\0';
    return o;
}

/* One value, not NULL; its length or -1. */
static long
lc_row_value(const unsigned char *v, int len, lc_row_type type, char *out)
{
    int64_t x, days, secs;
    unsigned m, d;
    int y, n;

    switch (type) {
    case LC_ROW_TEXT:
        return (long)lc_row_string((const char *)v, (size_t)len, out);
    case LC_ROW_NUMBER_TEXT:
        memcpy(out, v, (size_t)len);
        return len;
    case LC_ROW_UUID:
        if (len != 16) {
            return -1;
        }
        out[0] = '"';
        lc_row_uuid(v, out + 1);
        out[37] = '"';
        return 38;
    case LC_ROW_INT4:
        if (len != 4) {
            return -1;
        }
        return sprintf(out, "%d", (int32_t)lc_row_be32(v));
    case LC_ROW_INT8:
        if (len != 8) {
            return -1;
        }
        return sprintf(out, "%lld", (long long)(int64_t)lc_row_be64(v));
    case LC_ROW_DATE:
        if (len != 4) {
            return -1;
        }
        lc_row_civil((int32_t)lc_row_be32(v) + (int64_t)LC_ROW_PG_EPOCH_DAYS,
                     &y, &m, &d);
        return sprintf(out, "\"%04d-%02u-%02u\"", y, m, d);
    case LC_ROW_TIMESTAMPTZ:
        if (len != 8) {
            return -1;
        }
        x = (int64_t)lc_row_be64(v);
        secs = lc_row_floor_div(x, 1000000) + LC_ROW_PG_EPOCH_S;
        days = lc_row_floor_div(secs, 86400);
        secs -= days * 86400;
        lc_row_civil(days, &y, &m, &d);
        n = sprintf(out, "\"%04d-%02u-%02uT%02d:%02d:%02dZ\"", y, m, d,
                    (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
        return n;
    }
    return -1;
}

size_t
lc_row_json_size(const PGresult *res, int row, const lc_row_column *cols,
                 size_t n)
{
    size_t size = 3, i;

    for (i = 0; i < n; i++) {
        /* "name": plus the value: text escapes to at most 6 bytes a byte;
         * the other types fit in 48. */
        size += strlen(cols[i].name) + 4 + 48 +
                6 * (size_t)PQgetlength(res, row, cols[i].column);
    }
    return size;
}

long
lc_row_json(const PGresult *res, int row, const lc_row_column *cols, size_t n,
            char *out)
{
    size_t i, o = 0;
    long w;

    out[o++] = '{';
    for (i = 0; i < n; i++) {
        if (i > 0) {
            out[o++] = ',';
        }
        o += lc_row_string(cols[i].name, strlen(cols[i].name), out + o);
        out[o++] = ':';
        if (PQgetisnull(res, row, cols[i].column)) {
            memcpy(out + o, "null", 4);
            o += 4;
            continue;
        }
        w = lc_row_value(
            (const unsigned char *)PQgetvalue(res, row, cols[i].column),
            PQgetlength(res, row, cols[i].column), cols[i].type, out + o);
        if (w < 0) {
            return -1;
        }
        o += (size_t)w;
    }
    out[o++] = '}';
    out[o] = '\0';
    return (long)o;
}

int
lc_row_text(const PGresult *res, int row, int column, lc_row_type type,
            char *out)
{
    const unsigned char *v =
        (const unsigned char *)PQgetvalue(res, row, column);
    int len = PQgetlength(res, row, column);

    if (PQgetisnull(res, row, column)) {
        return -1;
    }
    if (type == LC_ROW_INT4 && len == 4) {
        return sprintf(out, "%d", (int32_t)lc_row_be32(v));
    }
    if (type == LC_ROW_INT8 && len == 8) {
        return sprintf(out, "%lld", (long long)(int64_t)lc_row_be64(v));
    }
    if (type == LC_ROW_UUID && len == 16) {
        return lc_row_uuid(v, out);
    }
    return -1;
}
