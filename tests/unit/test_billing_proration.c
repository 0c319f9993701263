/* The billing service's proration (services/billing/proration.c): day
 * arithmetic over month lengths and leap years, and the rounding rule
 * whose parts always add up to the full price. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* A unit of the service, not of libcommon: compiled in. */
#include "../../services/billing/proration.c"

static billing_date
date(const char *s)
{
    billing_date d;

    assert_int_equal(billing_date_parse(s, &d), 0);
    return d;
}

static void
test_month_lengths_and_leap_years(void **state)
{
    static const struct {
        int year, month, days;
    } table[] = {
        {2023, 1, 31}, {2023, 2, 28}, {2023, 4, 30},  {2023, 12, 31},
        {2024, 2, 29}, {2000, 2, 29}, {1900, 2, 28},  {2100, 2, 28},
        {2400, 2, 29}, {2026, 11, 30}, {2026, 6, 30}, {2027, 7, 31},
    };
    billing_date start, end;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        billing_month_of((billing_date){table[i].year, table[i].month, 17},
                         &start, &end);
        assert_int_equal(billing_month_days(table[i].year, table[i].month),
                         table[i].days);
        assert_int_equal(billing_date_days(end) - billing_date_days(start),
                         table[i].days);
    }
    assert_int_equal(billing_date_days(date("1970-01-01")), 0);
    assert_int_equal(billing_date_days(date("2024-03-01")) -
                         billing_date_days(date("2024-02-28")),
                     2);
    assert_int_equal(billing_date_days(date("2023-03-01")) -
                         billing_date_days(date("2023-02-28")),
                     1);
    billing_month_of(date("2026-12-31"), &start, &end);
    assert_true(memcmp(&end, &(billing_date){2027, 1, 1}, sizeof(end)) == 0);
}

static void
test_dates_round_trip(void **state)
{
    char s[11];
    int64_t d;

    (void)state;
    for (d = billing_date_days(date("1999-12-01"));
         d < billing_date_days(date("2101-03-01")); d++) {
        billing_date_format(billing_date_from_days(d), s);
        assert_int_equal(billing_date_days(date(s)), d);
    }
}

static void
test_bad_dates_are_refused(void **state)
{
    billing_date d;
    static const char *const bad[] = {
        "2023-02-29", "2100-02-29", "2024-13-01", "2024-00-10", "2024-04-31",
        "2024-4-01",  "2024-04-01x", "", "0000-01-01", "2024/04/01",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(billing_date_parse(bad[i], &d), -1);
    }
    assert_int_equal(billing_date_parse("2024-02-29", &d), 0);
}

/* However a period is cut into consecutive parts, they add up to the
 * price: every month length, prices that divide evenly and that do not. */
static void
test_parts_of_a_period_add_up_to_its_price(void **state)
{
    static const int64_t prices[] = {0, 1, 7, 1200, 2500, 3600, 99999,
                                     BILLING_PRICE_MAX};
    static const int64_t lengths[] = {28, 29, 30, 31, 14, 1, 365, 366};
    size_t i, j;
    int64_t cut, a, sum;

    (void)state;
    for (i = 0; i < sizeof(prices) / sizeof(prices[0]); i++) {
        for (j = 0; j < sizeof(lengths) / sizeof(lengths[0]); j++) {
            int64_t n = lengths[j];

            /* day by day */
            for (sum = 0, a = 0; a < n; a++) {
                int64_t day = billing_prorate(prices[i], n, a, a + 1);

                assert_true(day >= 0);
                /* no day costs more than one unit over the exact share */
                assert_true(day <= prices[i] / n + 1);
                sum += day;
            }
            assert_int_equal(sum, prices[i]);
            /* in two parts, at every day boundary */
            for (cut = 0; cut <= n; cut++) {
                assert_int_equal(billing_prorate(prices[i], n, 0, cut) +
                                     billing_prorate(prices[i], n, cut, n),
                                 prices[i]);
            }
        }
    }
}

static void
test_a_change_credits_and_charges_the_rest_of_the_period(void **state)
{
    static const struct {
        const char *start, *end, *today;
        int64_t old_price, new_price;
        int64_t days, used, credit, charge;
    } table[] = {
        /* the first day: the whole period */
        {"2026-11-01", "2026-12-01", "2026-11-01", 3600, 7500, 30, 0, 3600,
         7500},
        /* the last day: one day of 30 (3600 * 30/30 - 3600 * 29/30) */
        {"2026-11-01", "2026-12-01", "2026-11-30", 3600, 7500, 30, 29, 120,
         250},
        /* half of November: 1800 and 3750 exactly */
        {"2026-11-01", "2026-12-01", "2026-11-16", 3600, 7500, 30, 15, 1800,
         3750},
        /* February of a leap year, from the 29th: one day of 29 */
        {"2024-02-01", "2024-03-01", "2024-02-29", 1200, 2500, 29, 28, 42,
         87},
        /* February of a common year, 10 days left of 28 */
        {"2023-02-01", "2023-03-01", "2023-02-19", 1200, 2500, 28, 18, 429,
         893},
        /* 31 days, 1 unit does not divide: the remainder is not lost */
        {"2027-01-01", "2027-02-01", "2027-01-31", 1, 1, 31, 30, 1, 1},
        {"2027-01-01", "2027-02-01", "2027-01-02", 100, 0, 31, 1, 97, 0},
        /* December into January */
        {"2026-12-01", "2027-01-01", "2026-12-25", 2500, 1200, 31, 24, 565,
         271},
    };
    billing_proration p;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        assert_int_equal(
            billing_prorate_change(date(table[i].start), date(table[i].end),
                                   date(table[i].today), table[i].old_price,
                                   table[i].new_price, &p),
            0);
        assert_int_equal(p.days, table[i].days);
        assert_int_equal(p.used, table[i].used);
        assert_int_equal(p.credit, table[i].credit);
        assert_int_equal(p.charge, table[i].charge);
        /* what was used plus what is credited is the old plan's price */
        assert_int_equal(billing_prorate(table[i].old_price, p.days, 0,
                                         p.used) +
                             p.credit,
                         table[i].old_price);
    }
}

static void
test_out_of_range_is_refused(void **state)
{
    billing_proration p;

    (void)state;
    assert_int_equal(billing_prorate(-1, 30, 0, 1), -1);
    assert_int_equal(billing_prorate(BILLING_PRICE_MAX + 1, 30, 0, 1), -1);
    assert_int_equal(billing_prorate(100, 0, 0, 0), -1);
    assert_int_equal(billing_prorate(100, 30, 5, 4), -1);
    assert_int_equal(billing_prorate(100, 30, 0, 31), -1);
    /* today outside the period */
    assert_int_equal(billing_prorate_change(date("2026-11-01"),
                                            date("2026-12-01"),
                                            date("2026-12-01"), 1, 1, &p),
                     -1);
    assert_int_equal(billing_prorate_change(date("2026-11-01"),
                                            date("2026-12-01"),
                                            date("2026-10-31"), 1, 1, &p),
                     -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_month_lengths_and_leap_years),
        cmocka_unit_test(test_dates_round_trip),
        cmocka_unit_test(test_bad_dates_are_refused),
        cmocka_unit_test(test_parts_of_a_period_add_up_to_its_price),
        cmocka_unit_test(test_a_change_credits_and_charges_the_rest_of_the_period),
        cmocka_unit_test(test_out_of_range_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
