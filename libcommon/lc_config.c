/*
 * lc_config.c: loading, validating and documenting a service's environment
 * variables from one declarative table.
 *
 * Every value, whether it comes from the environment or from the table's
 * default, goes through the same strict parser, so a bad default is caught
 * at start-up like a bad setting. An empty variable is a bad value, never a
 * request for the default: `LINTEL_WORKERS= lintel-users` is a mistake the
 * operator should hear about.
 */
#include "lc_config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Values quoted in error messages are cut here: one line, not a dump. */
#define LC_CONFIG_QUOTE_MAX 64

static const char *const lc_config_true_words[] = {"1", "true", "yes", "on",
                                                   NULL};
static const char *const lc_config_false_words[] = {"0", "false", "no", "off",
                                                    NULL};

static void lc_config_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
lc_config_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * Copies `value` for quoting in a message: non-printable bytes and quotes
 * become \xNN so that the error stays on one readable line.
 */
static void
lc_config_quote(char *dst, size_t size, const char *value)
{
    size_t o = 0, i;

    for (i = 0; value[i] != '\0'; i++) {
        unsigned char c = (unsigned char)value[i];

        if (i >= LC_CONFIG_QUOTE_MAX) {
            if (o + 3 < size) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            if (o + 1 >= size)
                break;
            dst[o++] = (char)c;
        } else {
            if (o + 4 >= size)
                break;
            snprintf(dst + o, 5, "\\x%02x", c);
            o += 4;
        }
    }
    dst[o] = '\0';
}

static int
lc_config_parse_int(const char *text, long min, long max, long *out)
{
    char *end;
    long v;

    /* strtol would skip leading blanks; a config value has none. */
    if (text[0] == '\0' || isspace((unsigned char)text[0]))
        return -1;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int
lc_config_word_in(const char *text, const char *const *words)
{
    for (; *words != NULL; words++)
        if (strcasecmp(text, *words) == 0)
            return 1;
    return 0;
}

static int
lc_config_parse_bool(const char *text, bool *out)
{
    if (lc_config_word_in(text, lc_config_true_words)) {
        *out = true;
        return 0;
    }
    if (lc_config_word_in(text, lc_config_false_words)) {
        *out = false;
        return 0;
    }
    return -1;
}

/* "scheme://rest", the scheme as in RFC 3986: a letter, then letters,
 * digits, '+', '-' or '.'; the rest non-empty. */
static int
lc_config_check_url(const char *text)
{
    const char *sep = strstr(text, "://");
    const char *p;

    if (sep == NULL || sep == text || sep[3] == '\0' ||
        !isalpha((unsigned char)text[0]))
        return -1;
    for (p = text + 1; p < sep; p++)
        if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
            return -1;
    return 0;
}

static int
lc_config_load_one(const lc_config_var *v, char *err, size_t errlen)
{
    const char *text = getenv(v->name);
    char quoted[LC_CONFIG_QUOTE_MAX * 4 + 8];

    if (text == NULL)
        text = v->def;
    if (text == NULL) {
        if (v->help != NULL)
            lc_config_error(err, errlen, "%s: must be set (%s)", v->name,
                            v->help);
        else
            lc_config_error(err, errlen, "%s: must be set", v->name);
        return -1;
    }
    /* a secret has nothing to check, and nothing of it may reach a log */
    if (v->kind != LC_CFG_SECRET)
        lc_config_quote(quoted, sizeof(quoted), text);

    switch (v->kind) {
    case LC_CFG_OPTIONAL:
        *(const char **)v->target = text[0] != '\0' ? text : NULL;
        return 0;
    case LC_CFG_STRING:
        if (text[0] == '\0') {
            lc_config_error(err, errlen, "%s: must not be empty (got \"\")",
                            v->name);
            return -1;
        }
        *(const char **)v->target = text;
        return 0;
    case LC_CFG_INT:
        if (lc_config_parse_int(text, v->min, v->max, (long *)v->target) != 0) {
            lc_config_error(err, errlen,
                            "%s: must be an integer from %ld to %ld "
                            "(got \"%s\")",
                            v->name, v->min, v->max, quoted);
            return -1;
        }
        return 0;
    case LC_CFG_BOOL:
        if (lc_config_parse_bool(text, (bool *)v->target) != 0) {
            lc_config_error(err, errlen,
                            "%s: must be 1/0, true/false, yes/no or on/off "
                            "(got \"%s\")",
                            v->name, quoted);
            return -1;
        }
        return 0;
    case LC_CFG_URL:
        if (lc_config_check_url(text) != 0) {
            lc_config_error(err, errlen,
                            "%s: must be a URL such as tcp://host:port "
                            "(got \"%s\")",
                            v->name, quoted);
            return -1;
        }
        *(const char **)v->target = text;
        return 0;
    case LC_CFG_SECRET:
        *(const char **)v->target = text;
        return 0;
    }
    lc_config_error(err, errlen, "%s: unknown variable kind %d", v->name,
                    (int)v->kind);
    return -1;
}

int
lc_config_load(const lc_config_var *vars, size_t n, char *err, size_t errlen)
{
    size_t k;

    for (k = 0; k < n; k++)
        if (lc_config_load_one(&vars[k], err, errlen) != 0)
            return -1;
    return 0;
}

void
lc_config_load_or_exit(const char *prog, const lc_config_var *vars, size_t n)
{
    char err[512];

    if (lc_config_load(vars, n, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        exit(2);
    }
}

/* A table cell: '|' would end the cell and a newline the row. */
static void
lc_config_print_cell(FILE *out, const char *text)
{
    for (; *text != '\0'; text++) {
        if (*text == '|')
            fputs("\\|", out);
        else if (*text == '\n' || *text == '\r')
            fputc(' ', out);
        else
            fputc(*text, out);
    }
}

void
lc_config_print(FILE *out, const lc_config_var *vars, size_t n)
{
    size_t k;

    fputs("| variable | default | meaning |\n", out);
    fputs("|---|---|---|\n", out);
    for (k = 0; k < n; k++) {
        const lc_config_var *v = &vars[k];

        fprintf(out, "| `%s` | ", v->name);
        if (v->def == NULL) {
            fputs("*required*", out);
        } else if (v->kind == LC_CFG_SECRET) {
            fputs(v->def[0] == '\0' ? "*none*" : "*secret*", out);
        } else {
            fputc('`', out);
            lc_config_print_cell(out, v->def);
            fputc('`', out);
        }
        fputs(" | ", out);
        lc_config_print_cell(out, v->help != NULL ? v->help : "");
        if (v->kind == LC_CFG_INT)
            fprintf(out, " (%ld to %ld)", v->min, v->max);
        else if (v->kind == LC_CFG_BOOL)
            fputs(" (true/false)", out);
        fputs(" |\n", out);
    }
}
