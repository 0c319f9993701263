/*
 * proration.c: day arithmetic on the proleptic Gregorian calendar (the
 * civil-from-days algorithms of H. Hinnant, "chrono-Compatible Low-Level
 * Date Algorithms") and the rounding rule of proration.h.
 */
#include <stdio.h>

#include "proration.h"

bool
billing_leap_year(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int
billing_month_days(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30,
                                 31, 31, 30, 31, 30, 31};

    if (month == 2 && billing_leap_year(year)) {
        return 29;
    }
    return days[month - 1];
}

int
billing_date_parse(const char *s, billing_date *d)
{
    int i;

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }
    if (s[10] != '\0') {
        return -1;
    }
    d->year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
              (s[3] - '0');
    d->month = (s[5] - '0') * 10 + (s[6] - '0');
    d->day = (s[8] - '0') * 10 + (s[9] - '0');
    if (d->year < 1 || d->month < 1 || d->month > 12 || d->day < 1 ||
        d->day > billing_month_days(d->year, d->month)) {
        return -1;
    }
    return 0;
}

void
billing_date_format(billing_date d, char *out)
{
    /* unsigned and bounded, so that the compiler sees 10 characters */
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)d.year % 10000u,
             (unsigned)d.month % 100u, (unsigned)d.day % 100u);
}

int64_t
billing_date_days(billing_date d)
{
    int64_t y = d.year - (d.month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (d.month + (d.month > 2 ? -3 : 9)) + 2) / 5 + d.day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

billing_date
billing_date_from_days(int64_t z)
{
    int64_t era, doe, yoe, doy, mp;
    billing_date d;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d.day = (int)(doy - (153 * mp + 2) / 5 + 1);
    d.month = (int)(mp < 10 ? mp + 3 : mp - 9);
    d.year = (int)(yoe + era * 400 + (d.month <= 2));
    return d;
}

void
billing_month_of(billing_date d, billing_date *start, billing_date *end)
{
    *start = (billing_date){d.year, d.month, 1};
    *end = d.month == 12 ? (billing_date){d.year + 1, 1, 1}
                         : (billing_date){d.year, d.month + 1, 1};
}

int64_t
billing_prorate(int64_t price, int64_t n, int64_t a, int64_t b)
{
    /* price * b stays below 2^63: price < 2^53 and b <= n <= 366 < 2^9. */
    if (price < 0 || price > BILLING_PRICE_MAX || n < 1 || n > 366 || a < 0 ||
        a > b || b > n) {
        return -1;
    }
    return price * b / n - price * a / n;
}

int
billing_prorate_change(billing_date start, billing_date end,
                       billing_date today, int64_t old_price,
                       int64_t new_price, billing_proration *out)
{
    int64_t s = billing_date_days(start), e = billing_date_days(end);
    int64_t t = billing_date_days(today);

    if (t < s || t >= e) {
        return -1;
    }
    out->days = e - s;
    out->used = t - s;
    out->credit = billing_prorate(old_price, out->days, out->used, out->days);
    out->charge = billing_prorate(new_price, out->days, out->used, out->days);
    return out->credit < 0 || out->charge < 0 ? -1 : 0;
}
