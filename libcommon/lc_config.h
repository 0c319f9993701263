/*
 * lc_config: service configuration from environment variables.
 *
 * A service declares its variables once, as a table with defaults and
 * bounds, and loads them at start-up. A bad value is refused with a message
 * that names the variable; lc_config_load_or_exit() turns that into exit
 * status 2, the convention for "misconfigured" in every Lintel binary.
 * The same table prints the documentation (`lintel-<service> config`).
 */
#ifndef LC_CONFIG_H
#define LC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    LC_CFG_STRING, /* any non-empty string; target: const char ** */
    LC_CFG_INT,    /* decimal integer within [min, max]; target: long * */
    LC_CFG_BOOL,   /* 1/0, true/false, yes/no, on/off; target: bool * */
    LC_CFG_URL,    /* NNG/HTTP style "scheme://rest"; target: const char ** */
    LC_CFG_SECRET, /* a password: any string, "" meaning none; never quoted
                      in a message nor printed; target: const char ** */
    LC_CFG_OPTIONAL, /* any string; empty: not set, target NULL (const char
                        **) */
} lc_config_kind;

typedef struct {
    const char *name; /* environment variable, e.g. "LINTEL_RPC_URL" */
    const char *def;  /* default as text; NULL: the variable is required */
    lc_config_kind kind;
    long min, max;    /* LC_CFG_INT bounds (inclusive) */
    const char *help; /* one line for docs and error messages */
    void *target;     /* where the parsed value is stored */
} lc_config_var;

/*
 * Reads every variable of `vars` from the environment (or its default),
 * validates it and stores it in its target. Returns 0, or -1 with `err`
 * holding one line such as
 *   LINTEL_WORKERS: must be an integer from 1 to 256 (got "abc")
 * String targets point into the environment or the table's defaults and
 * stay valid for the life of the process.
 */
int lc_config_load(const lc_config_var *vars, size_t n, char *err,
                   size_t errlen);

/* lc_config_load(), or a message on stderr prefixed by `prog` and exit(2). */
void lc_config_load_or_exit(const char *prog, const lc_config_var *vars,
                            size_t n);

/* Writes a Markdown table (variable, default, meaning) of `vars` to `out`. */
void lc_config_print(FILE *out, const lc_config_var *vars, size_t n);

#endif
