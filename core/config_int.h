/*
 * Internal to the configuration (config.c, config_keys.c): the key table's
 * row types and the table, and what the loader calls to apply values. The
 * public API is config.h.
 */
#ifndef DCV_CONFIG_INT_H
#define DCV_CONFIG_INT_H

#include <libconfig.h>
#include <stddef.h>

#include "config.h"

enum key_type {
    KEY_STRING, /* char[] field; optional validator */
    KEY_PATH,   /* char[] field, absolute path */
    KEY_ENUM,   /* int-sized field; one of `choices` */
    KEY_INT,    /* int32_t or int64_t field in [min, max] */
    KEY_BOOL,   /* int field */
    KEY_LIST,   /* struct dcv_strlist; libconfig array of strings, env: "a;b" */
    KEY_DOUBLE, /* double field in [min, max]; the file may write 60 or 60.0 */
    KEY_DURATION, /* int64_t seconds, 0 = forever; "30s" "15m" "12h" "7d" "forever", or an
                     integer of seconds in the file (dcv_duration_parse) */
};

struct key_choice {
    const char *name;
    int value;
    int alias; /* accepted, but not listed in "expected one of ..." */
};

struct key_def {
    const char *path; /* libconfig path from the top: "log.level" */
    const char *env;  /* DISTCONV_* override, or NULL */
    enum key_type type;
    size_t offset, size;
    const struct key_choice *choices; /* KEY_ENUM, ends with a NULL name */
    long long min, max;               /* KEY_INT, KEY_DOUBLE */
    /* KEY_STRING: 0 or -EINVAL with the expectation (without "; got") in why. */
    int (*validate)(const char *v, char *why, size_t whylen);
};

/* Every setting, one row each; config_keys.c. */
extern const struct key_def cfg_keys[];
extern const size_t cfg_n_keys;

/* Built-in defaults, before the file and the environment. */
void cfg_set_defaults(struct dcv_settings *s);
/* A value from the file for key k. On error, why says what was expected. */
int cfg_apply_setting(const struct key_def *k, const config_setting_t *st,
                      struct dcv_settings *s, char *why, size_t whylen);
/* The DISTCONV_* overrides; an empty variable counts as unset. */
int cfg_apply_env(struct dcv_settings *s, char *err, size_t errlen);
/* Endpoints and directories left "" get their role's defaults. */
int cfg_resolve_defaults(struct dcv_settings *s, char *err, size_t errlen);

#endif
