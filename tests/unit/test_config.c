/*
 * test_config.c: lc_config's parsing of environment variables, its error
 * lines, its exit status and its Markdown documentation.
 *
 * The variables are named LCT_* so that nothing in the real environment
 * interferes; each test starts with all of them unset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lc_config.h"

static const char *const test_names[] = {"LCT_NAME", "LCT_WORKERS", "LCT_DEBUG",
                                         "LCT_URL", "LCT_DB", "LCT_PASSWORD"};

static const char *name;
static long workers;
static bool debug;
static const char *url;
static const char *db;

static const lc_config_var test_vars[] = {
    {"LCT_NAME", "users", LC_CFG_STRING, 0, 0, "service name", &name},
    {"LCT_WORKERS", "8", LC_CFG_INT, 1, 256, "worker threads", &workers},
    {"LCT_DEBUG", "off", LC_CFG_BOOL, 0, 0, "verbose logs", &debug},
    {"LCT_URL", "tcp://127.0.0.1:7001", LC_CFG_URL, 0, 0, "RPC listen URL",
     &url},
};
#define TEST_NVARS (sizeof(test_vars) / sizeof(test_vars[0]))

static const lc_config_var required_var[] = {
    {"LCT_DB", NULL, LC_CFG_URL, 0, 0, "PostgreSQL URL", &db},
};

static int
unset_all(void **state)
{
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(test_names) / sizeof(test_names[0]); k++)
        unsetenv(test_names[k]);
    name = url = db = NULL;
    workers = -1;
    debug = false;
    return 0;
}

/* Loads test_vars with one variable set; returns the status. */
static int
load_with(const char *var, const char *value, char *err, size_t errlen)
{
    setenv(var, value, 1);
    return lc_config_load(test_vars, TEST_NVARS, err, errlen);
}

/* An optional string: unset or empty is NULL, anything else itself. */
static void
test_an_optional_string_may_be_empty(void **state)
{
    const char *replica = "stale";
    const lc_config_var var[] = {
        {"LCT_DB", "", LC_CFG_OPTIONAL, 0, 0, "replica URL", &replica},
    };
    char err[256] = "";

    (void)state;
    assert_int_equal(lc_config_load(var, 1, err, sizeof(err)), 0);
    assert_null(replica);
    setenv("LCT_DB", "", 1);
    assert_int_equal(lc_config_load(var, 1, err, sizeof(err)), 0);
    assert_null(replica);
    setenv("LCT_DB", "postgresql://replica/lintel", 1);
    assert_int_equal(lc_config_load(var, 1, err, sizeof(err)), 0);
    assert_string_equal(replica, "postgresql://replica/lintel");
}

static void
test_defaults_apply_when_unset(void **state)
{
    char err[256] = "";

    (void)state;
    assert_int_equal(lc_config_load(test_vars, TEST_NVARS, err, sizeof(err)),
                     0);
    assert_string_equal(name, "users");
    assert_int_equal(workers, 8);
    assert_false(debug);
    assert_string_equal(url, "tcp://127.0.0.1:7001");
    assert_string_equal(err, "");
}

static void
test_environment_overrides_default(void **state)
{
    char err[256];

    (void)state;
    setenv("LCT_NAME", "billing", 1);
    setenv("LCT_WORKERS", "256", 1);
    setenv("LCT_DEBUG", "yes", 1);
    setenv("LCT_URL", "ipc:///tmp/lintel.sock", 1);
    assert_int_equal(lc_config_load(test_vars, TEST_NVARS, err, sizeof(err)),
                     0);
    assert_string_equal(name, "billing");
    assert_int_equal(workers, 256);
    assert_true(debug);
    assert_string_equal(url, "ipc:///tmp/lintel.sock");
}

static void
test_bad_int_names_the_variable(void **state)
{
    char err[256];

    (void)state;
    assert_int_equal(load_with("LCT_WORKERS", "abc", err, sizeof(err)), -1);
    assert_string_equal(
        err, "LCT_WORKERS: must be an integer from 1 to 256 (got \"abc\")");
}

static void
test_int_rejects_trailing_junk(void **state)
{
    static const char *const bad[] = {"12x",  "12 ", " 12", "1.5",
                                      "0x10", "1e2", "--1", "+"};
    char err[256];
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        workers = -1;
        assert_int_equal(load_with("LCT_WORKERS", bad[k], err, sizeof(err)),
                         -1);
        assert_int_equal(workers, -1);
        assert_non_null(strstr(err, "LCT_WORKERS: must be an integer"));
    }
}

static void
test_int_out_of_range(void **state)
{
    char err[256];

    (void)state;
    assert_int_equal(load_with("LCT_WORKERS", "0", err, sizeof(err)), -1);
    assert_string_equal(
        err, "LCT_WORKERS: must be an integer from 1 to 256 (got \"0\")");
    assert_int_equal(load_with("LCT_WORKERS", "257", err, sizeof(err)), -1);
    assert_int_equal(load_with("LCT_WORKERS", "-3", err, sizeof(err)), -1);
    /* Overflows a long: strtol's ERANGE, not a clamped value. */
    assert_int_equal(
        load_with("LCT_WORKERS", "99999999999999999999999", err, sizeof(err)),
        -1);
    assert_int_equal(load_with("LCT_WORKERS", "1", err, sizeof(err)), 0);
    assert_int_equal(workers, 1);
    assert_int_equal(load_with("LCT_WORKERS", "+256", err, sizeof(err)), 0);
    assert_int_equal(workers, 256);
}

static void
test_bool_words_case_insensitive(void **state)
{
    static const char *const yes[] = {"1", "true", "TRUE", "Yes", "oN"};
    static const char *const no[] = {"0", "false", "False", "NO", "off"};
    char err[256];
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
        debug = false;
        assert_int_equal(load_with("LCT_DEBUG", yes[k], err, sizeof(err)), 0);
        assert_true(debug);
    }
    for (k = 0; k < sizeof(no) / sizeof(no[0]); k++) {
        debug = true;
        assert_int_equal(load_with("LCT_DEBUG", no[k], err, sizeof(err)), 0);
        assert_false(debug);
    }
}

static void
test_bad_bool(void **state)
{
    char err[256];

    (void)state;
    assert_int_equal(load_with("LCT_DEBUG", "maybe", err, sizeof(err)), -1);
    assert_string_equal(err, "LCT_DEBUG: must be 1/0, true/false, yes/no or "
                             "on/off (got \"maybe\")");
    assert_int_equal(load_with("LCT_DEBUG", "2", err, sizeof(err)), -1);
    assert_int_equal(load_with("LCT_DEBUG", "truee", err, sizeof(err)), -1);
}

static void
test_required_missing_names_variable(void **state)
{
    char err[256];

    (void)state;
    assert_int_equal(lc_config_load(required_var, 1, err, sizeof(err)), -1);
    assert_string_equal(err, "LCT_DB: must be set (PostgreSQL URL)");
    assert_null(db);
}

static void
test_required_present(void **state)
{
    char err[256];

    (void)state;
    setenv("LCT_DB", "postgresql://lintel@localhost/lintel", 1);
    assert_int_equal(lc_config_load(required_var, 1, err, sizeof(err)), 0);
    assert_string_equal(db, "postgresql://lintel@localhost/lintel");
}

static void
test_empty_value_is_rejected(void **state)
{
    char err[256];

    (void)state;
    assert_int_equal(load_with("LCT_NAME", "", err, sizeof(err)), -1);
    assert_string_equal(err, "LCT_NAME: must not be empty (got \"\")");
    unsetenv("LCT_NAME");
    /* Empty is not "use the default" for any kind. */
    assert_int_equal(load_with("LCT_WORKERS", "", err, sizeof(err)), -1);
    assert_string_equal(
        err, "LCT_WORKERS: must be an integer from 1 to 256 (got \"\")");
    unsetenv("LCT_WORKERS");
    assert_int_equal(load_with("LCT_DEBUG", "", err, sizeof(err)), -1);
    unsetenv("LCT_DEBUG");
    assert_int_equal(load_with("LCT_URL", "", err, sizeof(err)), -1);
    setenv("LCT_DB", "", 1);
    assert_int_equal(lc_config_load(required_var, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "LCT_DB: must be a URL"));
}

static void
test_url(void **state)
{
    static const char *const good[] = {
        "tcp://127.0.0.1:7001", "ipc:///run/lintel/users.sock",
        "inproc://users", "postgresql://u:p@db:5432/lintel",
        "svc+tls.v2-x://h"};
    static const char *const bad[] = {
        "127.0.0.1:7001", "://host",     "tcp://",  "tcp:/host",
        "1tcp://host",    "tc p://host", "tcp:host"};
    char err[256];
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
        assert_int_equal(load_with("LCT_URL", good[k], err, sizeof(err)), 0);
        assert_string_equal(url, good[k]);
    }
    for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
        assert_int_equal(load_with("LCT_URL", bad[k], err, sizeof(err)), -1);
    assert_string_equal(err, "LCT_URL: must be a URL such as tcp://host:port "
                             "(got \"tcp:host\")");
}

static void
test_error_quotes_unprintable_bytes(void **state)
{
    char err[256];
    char longval[200];

    (void)state;
    assert_int_equal(load_with("LCT_WORKERS", "1\n\"2", err, sizeof(err)), -1);
    assert_string_equal(err, "LCT_WORKERS: must be an integer from 1 to 256 "
                             "(got \"1\\x0a\\x222\")");
    memset(longval, 'x', sizeof(longval) - 1);
    longval[sizeof(longval) - 1] = '\0';
    assert_int_equal(load_with("LCT_WORKERS", longval, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "xxx...\")"));
    assert_true(strlen(err) < 160);
}

static void
test_error_fits_small_buffer(void **state)
{
    char err[16];

    (void)state;
    assert_int_equal(load_with("LCT_WORKERS", "abc", err, sizeof(err)), -1);
    assert_string_equal(err, "LCT_WORKERS: mu");
    assert_int_equal(load_with("LCT_WORKERS", "abc", NULL, 0), -1);
}

static void
test_bad_default_is_an_error(void **state)
{
    static long n;
    static const lc_config_var bad_default[] = {
        {"LCT_WORKERS", "zero", LC_CFG_INT, 1, 4, "threads", &n},
    };
    char err[256];

    (void)state;
    assert_int_equal(lc_config_load(bad_default, 1, err, sizeof(err)), -1);
    assert_string_equal(
        err, "LCT_WORKERS: must be an integer from 1 to 4 (got \"zero\")");
}

static void
test_load_or_exit_exits_2(void **state)
{
    int fds[2], status;
    char buf[256];
    ssize_t n;
    pid_t pid;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        setenv("LCT_WORKERS", "many", 1);
        lc_config_load_or_exit("lintel-test", test_vars, TEST_NVARS);
        _exit(0);
    }
    close(fds[1]);
    n = read(fds[0], buf, sizeof(buf) - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_string_equal(buf, "lintel-test: LCT_WORKERS: must be an integer "
                             "from 1 to 256 (got \"many\")\n");
}

static void
test_load_or_exit_returns_when_valid(void **state)
{
    (void)state;
    lc_config_load_or_exit("lintel-test", test_vars, TEST_NVARS);
    assert_int_equal(workers, 8);
}

static void
test_print_markdown_table(void **state)
{
    static const lc_config_var doc_vars[] = {
        {"LCT_WORKERS", "8", LC_CFG_INT, 1, 256, "worker threads", NULL},
        {"LCT_DB", NULL, LC_CFG_URL, 0, 0, "PostgreSQL URL", NULL},
        {"LCT_DEBUG", "off", LC_CFG_BOOL, 0, 0, "a|b", NULL},
    };
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    (void)state;
    assert_non_null(out);
    lc_config_print(out, doc_vars, 3);
    fclose(out);
    assert_string_equal(text,
                        "| variable | default | meaning |\n"
                        "|---|---|---|\n"
                        "| `LCT_WORKERS` | `8` | worker threads (1 to 256) |\n"
                        "| `LCT_DB` | *required* | PostgreSQL URL |\n"
                        "| `LCT_DEBUG` | `off` | a\\|b (true/false) |\n");
    free(text);
}

/* A secret may be empty (none), and no message or table shows it. */
static void
test_secret_is_optional_and_never_shown(void **state)
{
    static const char *password;
    static const lc_config_var vars[] = {
        {"LCT_PASSWORD", "", LC_CFG_SECRET, 0, 0, "Redis password",
         &password},
        {"LCT_WORKERS", "8", LC_CFG_INT, 1, 256, "worker threads", &workers},
    };
    char err[256] = "";
    char *text = NULL;
    size_t len = 0;
    FILE *out;

    (void)state;
    assert_int_equal(lc_config_load(vars, 2, err, sizeof(err)), 0);
    assert_string_equal(password, "");

    setenv("LCT_PASSWORD", "hunter2 \"x\"", 1);
    setenv("LCT_WORKERS", "lots", 1);
    assert_int_equal(lc_config_load(vars, 2, err, sizeof(err)), -1);
    assert_string_equal(password, "hunter2 \"x\"");
    assert_non_null(strstr(err, "LCT_WORKERS"));
    assert_null(strstr(err, "hunter2"));

    out = open_memstream(&text, &len);
    assert_non_null(out);
    lc_config_print(out, vars, 1);
    fclose(out);
    assert_string_equal(text, "| variable | default | meaning |\n"
                              "|---|---|---|\n"
                              "| `LCT_PASSWORD` | *none* | Redis password |\n");
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults_apply_when_unset, unset_all),
        cmocka_unit_test_setup(test_environment_overrides_default, unset_all),
        cmocka_unit_test_setup(test_bad_int_names_the_variable, unset_all),
        cmocka_unit_test_setup(test_int_rejects_trailing_junk, unset_all),
        cmocka_unit_test_setup(test_int_out_of_range, unset_all),
        cmocka_unit_test_setup(test_bool_words_case_insensitive, unset_all),
        cmocka_unit_test_setup(test_bad_bool, unset_all),
        cmocka_unit_test_setup(test_required_missing_names_variable, unset_all),
        cmocka_unit_test_setup(test_required_present, unset_all),
        cmocka_unit_test_setup(test_empty_value_is_rejected, unset_all),
        cmocka_unit_test_setup(test_url, unset_all),
        cmocka_unit_test_setup(test_error_quotes_unprintable_bytes, unset_all),
        cmocka_unit_test_setup(test_error_fits_small_buffer, unset_all),
        cmocka_unit_test_setup(test_bad_default_is_an_error, unset_all),
        cmocka_unit_test_setup(test_load_or_exit_exits_2, unset_all),
        cmocka_unit_test_setup(test_load_or_exit_returns_when_valid, unset_all),
        cmocka_unit_test_setup(test_print_markdown_table, unset_all),
        cmocka_unit_test_setup(test_secret_is_optional_and_never_shown,
                               unset_all),
        cmocka_unit_test_setup(test_an_optional_string_may_be_empty, unset_all),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
