/*
 * proration.h: what a plan change in the middle of a period costs, by the
 * day, in integer minor units. Pure functions over dates; no I/O.
 *
 * The rounding rule. A period of N days costs P. The first d days of it
 * cost C(d) = floor(P * d / N), and the days [a, b) cost C(b) - C(a). So
 * the parts of a period always add up to exactly P, however it is cut (the
 * sum telescopes to C(N) - C(0) = P), a day never costs less than any later
 * day by more than one minor unit, and the remainder of the division lands
 * on the day that completes a whole unit, never lost and never charged
 * twice. A change on day d (0 = the period's first day) credits the old
 * plan's C_old(N) - C_old(d) and charges the new plan's C_new(N) - C_new(d).
 */
#ifndef BILLING_PRORATION_H
#define BILLING_PRORATION_H

#include <stdbool.h>
#include <stdint.h>

/* The largest price of a period these functions take: P * 366 must fit. */
#define BILLING_PRICE_MAX 9007199254740991LL /* 2^53 - 1 */

typedef struct {
    int year, month, day;
} billing_date;

/* "YYYY-MM-DD" naming a real day (years 1..9999) into `d`; 0 or -1. */
int billing_date_parse(const char *s, billing_date *d);
/* `d` as "YYYY-MM-DD" into `out` (11 bytes). */
void billing_date_format(billing_date d, char *out);
/* Days since 1970-01-01 (negative before), proleptic Gregorian. */
int64_t billing_date_days(billing_date d);
billing_date billing_date_from_days(int64_t days);
bool billing_leap_year(int year);
int billing_month_days(int year, int month);
/* The calendar month that holds `d`: its first day and the first day of
 * the next month (the period is [start, end)). */
void billing_month_of(billing_date d, billing_date *start, billing_date *end);

/* C(b) - C(a) of the rounding rule above, for 0 <= a <= b <= n, n >= 1 and
 * 0 <= price <= BILLING_PRICE_MAX; -1 for arguments outside those. */
int64_t billing_prorate(int64_t price, int64_t n, int64_t a, int64_t b);

/* A change on `today` of a period [start, end) from a plan costing
 * `old_price` to one costing `new_price` for the whole period. */
typedef struct {
    int64_t days;       /* N, the period's length */
    int64_t used;       /* d, the days before today */
    int64_t credit;     /* what the old plan's unused days are worth (>= 0) */
    int64_t charge;     /* what the new plan costs for those days (>= 0) */
} billing_proration;

/* 0, or -1 when today is outside [start, end) or a price is out of range. */
int billing_prorate_change(billing_date start, billing_date end,
                           billing_date today, int64_t old_price,
                           int64_t new_price, billing_proration *out);

#endif
