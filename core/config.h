/*
 * distconvd configuration: a libconfig file plus DISTCONV_* environment
 * overrides. Every error names the file and line (or the variable) and what
 * was expected. An empty or missing default file plus environment variables
 * is a complete configuration (containers).
 *
 * Precedence, lowest first: built-in defaults < config file < environment.
 * Plugin settings: `plugins.<name> { ... }` in the main file, or a file
 * <plugin_conf_dir>/<name>.conf whose top level is that subtree (what a
 * distro's per-GPU package drops in). The main file wins when both exist,
 * key by key: a drop-in's keys the main file does not set still apply.
 */
#ifndef DCV_CONFIG_H
#define DCV_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include "distconv/plugin.h"
#include "log.h"

#ifndef DCV_DEFAULT_CONFIG
#define DCV_DEFAULT_CONFIG "/etc/distconv/distconvd.conf"
#endif

enum dcv_role { DCV_ROLE_STANDALONE = 0, DCV_ROLE_COORDINATOR = 1, DCV_ROLE_WORKER = 2 };

struct dcv_settings {
    enum dcv_role role;
    char name[64];                  /* default: the host name */
    char state_dir[PATH_MAX];       /* default: /var/lib/distconv */
    char plugin_dir[PATH_MAX];      /* default: $(libdir)/distconv/plugins */
    char plugin_conf_dir[PATH_MAX]; /* default: /etc/distconv/plugins.d */
    int log_level;                  /* enum dcv_log_level */
    enum dcv_log_format log_format;
    enum dcv_log_target log_target;
};

struct dcv_conf; /* the loaded file(s) and the resolved settings */

/*
 * Load `path`. When `explicit_path` is 0 and the file does not exist, start
 * from defaults (the environment may say the rest). A file that exists but
 * cannot be read or parsed, an unknown key, a wrong type or an invalid value
 * is an error: -EINVAL (or -errno for I/O) with "FILE:LINE: ..." in err.
 * Environment values are validated the same way ("DISTCONV_ROLE: ...").
 */
int dcv_conf_load(struct dcv_conf **out, const char *path, int explicit_path,
                  char *err, size_t errlen);
void dcv_conf_free(struct dcv_conf **conf);

const struct dcv_settings *dcv_conf_settings(const struct dcv_conf *conf);
const char *dcv_conf_path(const struct dcv_conf *conf); /* "" when defaults only */

/* The handle passed to a plugin's init() for plugin `name` (never NULL; an
 * absent subtree gives a handle whose lookups return -ENOENT). Lives as long
 * as conf. `plugins.<name>.enabled = false` makes dcv_conf_plugin_enabled 0. */
const struct dcv_config *dcv_conf_plugin(struct dcv_conf *conf, const char *name);
int dcv_conf_plugin_enabled(struct dcv_conf *conf, const char *name);

/* Host-API lookups (their contract is in distconv/plugin.h). */
int dcv_config_get_int(const struct dcv_config *cfg, const char *path, int64_t *out);
int dcv_config_get_str(const struct dcv_config *cfg, const char *path, const char **out);
int dcv_config_get_bool(const struct dcv_config *cfg, const char *path, int *out);
int dcv_config_get_double(const struct dcv_config *cfg, const char *path, double *out);

const char *dcv_role_name(enum dcv_role role);

#endif
